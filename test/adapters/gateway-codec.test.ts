// The JSON gateway's codec: Go's JSON and base64 readers with Go's error texts, and jsonpb's reading
// and writing of etcd's messages. Cases marked "etcd 3.4.23:" were checked with curl against a real
// etcd 3.4.23 (test/differential/gateway.test.ts repeats most of them against both servers).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { create, toBinary, fromBinary, type DescMessage, type Message } from '@bufbuild/protobuf';
import { goBase64Decode } from '../../src/adapters/gateway/go-base64.js';
import { decodeNextValue, goJsonString, goQuote, unmarshalValue } from '../../src/adapters/gateway/go-json.js';
import { JsonpbError, decodeJsonpb } from '../../src/adapters/gateway/jsonpb-decode.js';
import { encodeJsonpb } from '../../src/adapters/gateway/jsonpb-encode.js';
import { errorBody, httpStatusFromCode, streamErrorChunk } from '../../src/adapters/gateway/gateway-errors.js';
import { gatewayRegistry } from '../../src/adapters/gateway/gateway-schema.js';
import { Status } from '../../src/adapters/grpc/grpc-codes.js';
import { RangeResponse, TxnRequest, WatchResponse } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { Event_EventType } from '../../src/gen/etcd/mvcc/mvccpb/kv.js';

const reg = gatewayRegistry();
const msg = (name: string): DescMessage => {
  const d = reg.getMessage(name);
  if (d === undefined) throw new Error(`no message ${name}`);
  return d;
};

/** JSON body → the message's protobuf bytes, or the Go error text. */
function decode(type: string, body: string): Buffer | string {
  const r = decodeNextValue(body, 0, true);
  if (r.kind === 'error') return r.message;
  if (r.kind !== 'value') return r.kind;
  try {
    return Buffer.from(toBinary(msg(type), decodeJsonpb(msg(type), r.value)));
  } catch (err) {
    if (err instanceof JsonpbError) return err.message;
    throw err;
  }
}

const json = suite('gateway: Go JSON reading');

json('syntax errors read as encoding/json words them (etcd 3.4.23)', () => {
  const cases: [string, string][] = [
    ['{"key":"Zm9v', 'unexpected EOF'],
    ['{"key":"Zm9v" "x":1}', `invalid character '"' after object key:value pair`],
    ['{"key":"Zm9v",}', `invalid character '}' looking for beginning of object key string`],
    ['{"key":"\\u00zz"}', `invalid character 'z' in \\u hexadecimal character escape`],
    ['{"a":-}', `invalid character '}' in numeric literal`],
    ['{"a":1.}', `invalid character '}' after decimal point in numeric literal`],
    ['{"a":1e}', `invalid character '}' in exponent of numeric literal`],
    ['{"a":tru}', `invalid character '}' in literal true (expecting 'e')`],
    ['{"a":nul}', `invalid character '}' in literal null (expecting 'l')`],
    ['{"a" 1}', `invalid character '1' after object key`],
    ['[1 2]', `invalid character '2' after array element`],
    ['x', `invalid character 'x' looking for beginning of value`],
    ['{"a":"\x01"}', `invalid character '\\x01' in string literal`],
    ['{"a":"\\q"}', `invalid character 'q' in string escape code`],
    ["{'a':1}", `invalid character '\\'' looking for beginning of object key string`],
  ];
  for (const [body, want] of cases) {
    const r = decodeNextValue(body, 0, true);
    assert.equal(r.kind === 'error' ? r.message : r.kind, want, body);
  }
});

json('the decoder reads one value: what follows an object is ignored, whitespace alone is EOF', () => {
  const r = decodeNextValue('{"a":1} trailing', 0, true);
  assert.equal(r.kind, 'value');
  assert.equal(decodeNextValue('   \n', 0, true).kind, 'eof');
  assert.equal(decodeNextValue('{"a":', 0, false).kind, 'incomplete');
  assert.equal(decodeNextValue('12', 0, false).kind, 'incomplete');
  assert.equal(decodeNextValue('12', 0, true).kind, 'value');
  const two = '{"a":1} {"b":2}';
  const first = decodeNextValue(two, 0, true);
  assert.ok(first.kind === 'value');
  if (first.kind === 'value') assert.equal(decodeNextValue(two, first.end, true).kind, 'value');
});

json('10,000 levels of nesting are read (without recursion); one more is Go\'s max depth error (etcd 3.4.23)', () => {
  const nested = (n: number): string => `{"x":${'['.repeat(n)}${']'.repeat(n)}}`;
  assert.is(decodeNextValue(nested(9999), 0, true).kind, 'value');
  const r = decodeNextValue(nested(10_000), 0, true);
  assert.equal(r.kind === 'error' ? r.message : r.kind, `invalid character '[' exceeded max depth`);
});

json('json.Unmarshal of a quoted number: one value and nothing else', () => {
  assert.equal(unmarshalValue(''), { error: 'unexpected end of JSON input' });
  assert.equal(unmarshalValue('1x'), { error: `invalid character 'x' after top-level value` });
  assert.ok('value' in unmarshalValue('1 '));
});

json('strings are written as Go escapes them: HTML characters, U+2028/9, control characters', () => {
  assert.is(goJsonString('a<b>&c\u2028\u2029"\\\n\t\u0001'), '"a\\u003cb\\u003e\\u0026c\\u2028\\u2029\\"\\\\\\n\\t\\u0001"');
  assert.is(goJsonString('é😀'), '"é😀"');
  assert.is(goQuote('x\\"y'), '"x\\\\\\"y"');
});

const b64 = suite('gateway: Go base64');

b64('padded standard base64 decodes; CR and LF are skipped', () => {
  for (const s of ['', 'Zg==', 'Zm8=', 'Zm9v', 'Zm9v\nYQ==', 'Zm9v\r\nYmFy']) {
    const r = goBase64Decode(s);
    assert.ok('bytes' in r, s);
    if ('bytes' in r) assert.equal(r.bytes, Buffer.from(s.replace(/[\r\n]/g, ''), 'base64'), s);
  }
});

b64('unused low bits of the last quantum are ignored, as Go 1.x StdEncoding ignores them', () => {
  const cases: [string, string][] = [['Zm9=', '666f'], ['Zh==', '66'], ['Zm9vYR==', '666f6f61'], ['////', 'ffffff'], ['+/+/', 'fbffbf'], ['', '']];
  for (const [s, hex] of cases) assert.equal(goBase64Decode(s), { bytes: Buffer.from(hex, 'hex') }, s);
});

b64('errors name the byte Go names (etcd 3.4.23)', () => {
  const cases: [string, number][] = [
    ['Zm9', 0],
    ['Zg=x', 2],
    ['Z===', 1],
    ['Zm9vYQ==YQ==', 8],
    ['Zm9v_-', 4],
    ['Zg=', 3],
    ['Zm8', 0],
    ['Zm9vZ', 4],
  ];
  for (const [s, at] of cases) assert.equal(goBase64Decode(s), { error: `illegal base64 data at input byte ${at}` }, s);
});

const dec = suite('gateway: jsonpb reading');

dec('.proto and camel names both work; the camel one wins when both are given (etcd 3.4.23)', () => {
  const bytes = decode('etcdserverpb.RangeRequest', '{"key":"Zm9v","keysOnly":true,"keys_only":false,"range_end":"Zm9w","limit":"2"}');
  assert.instance(bytes, Buffer);
  const r = fromBinary(msg('etcdserverpb.RangeRequest'), bytes as Buffer) as Message & Record<string, unknown>;
  assert.is(r.keysOnly, true);
  assert.is(r.limit, 2n);
  assert.equal(Buffer.from(r.rangeEnd as Uint8Array).toString(), 'fop');
});

dec('unknown fields are ignored; null and an empty body leave fields unset', () => {
  assert.equal(decode('etcdserverpb.RangeRequest', '{"key":"Zm9v","bogus":[1,{"x":2}]}'), decode('etcdserverpb.RangeRequest', '{"key":"Zm9v"}'));
  assert.equal(decode('etcdserverpb.RangeRequest', '{"key":null,"limit":null}'), Buffer.alloc(0));
  assert.equal(decode('etcdserverpb.RangeRequest', 'null'), Buffer.alloc(0));
});

dec('scalar type errors are encoding/json errors about Go types (etcd 3.4.23)', () => {
  const cases: [string, string][] = [
    ['{"limit":1.5}', 'json: cannot unmarshal number 1.5 into Go value of type int64'],
    ['{"limit":1e2}', 'json: cannot unmarshal number 1e2 into Go value of type int64'],
    ['{"limit":99999999999999999999}', 'json: cannot unmarshal number 99999999999999999999 into Go value of type int64'],
    ['{"limit":true}', 'json: cannot unmarshal bool into Go value of type int64'],
    ['{"limit":{}}', 'json: cannot unmarshal object into Go value of type int64'],
    ['{"limit":"x"}', `invalid character 'x' looking for beginning of value`],
    ['{"limit":""}', 'unexpected end of JSON input'],
    ['{"keys_only":"true"}', 'json: cannot unmarshal string into Go value of type bool'],
    ['{"keys_only":1}', 'json: cannot unmarshal number into Go value of type bool'],
    ['{"key":1}', 'json: cannot unmarshal number into Go value of type []uint8'],
    ['{"key":"Zm9"}', 'illegal base64 data at input byte 0'],
    ['{"sort_order":"NOPE"}', 'unknown value "NOPE" for enum etcdserverpb.RangeRequest_SortOrder'],
    ['{"sort_order":"1"}', 'unknown value "1" for enum etcdserverpb.RangeRequest_SortOrder'],
    ['{"sort_order":true}', 'json: cannot unmarshal bool into Go value of type etcdserverpb.RangeRequest_SortOrder'],
    ['{"sort_order":1.5}', 'json: cannot unmarshal number 1.5 into Go value of type etcdserverpb.RangeRequest_SortOrder'],
    ['[1]', 'json: cannot unmarshal array into Go value of type map[string]json.RawMessage'],
    ['"s"', 'json: cannot unmarshal string into Go value of type map[string]json.RawMessage'],
  ];
  for (const [body, want] of cases) assert.is(decode('etcdserverpb.RangeRequest', body), want, body);
  assert.is(decode('etcdserverpb.TxnRequest', '{"compare":{}}'), 'json: cannot unmarshal object into Go value of type []json.RawMessage');
  assert.is(decode('etcdserverpb.TxnRequest', '{"compare":[1]}'), 'json: cannot unmarshal number into Go value of type map[string]json.RawMessage');
});

dec('a txn with oneof members, enums by name and int64 as strings decodes to what ts-proto reads back', () => {
  const body = JSON.stringify({
    compare: [{ key: 'Zm9v', target: 'MOD', result: 'GREATER', mod_revision: '7' }],
    success: [{ request_put: { key: 'YQ==', value: 'Yg==', lease: '9223372036854775807' } }, { requestRange: { key: 'YQ==' } }],
    failure: [{ request_delete_range: { key: 'YQ==', prev_kv: true } }],
  });
  const bytes = decode('etcdserverpb.TxnRequest', body);
  assert.instance(bytes, Buffer);
  const txn = TxnRequest.decode(bytes as Buffer);
  assert.is(txn.compare[0]?.modRevision, 7n);
  assert.is(txn.compare[0]?.target, 2);
  assert.is(txn.compare[0]?.result, 1);
  assert.is(txn.success[0]?.requestPut?.lease, 9223372036854775807n);
  assert.equal(Buffer.from(txn.success[1]?.requestRange?.key ?? []).toString(), 'a');
  assert.is(txn.failure[0]?.requestDeleteRange?.prevKv, true);
});

const enc = suite('gateway: jsonpb writing');

const encode = (type: string, bytes: Uint8Array): string => encodeJsonpb(msg(type), fromBinary(msg(type), bytes));

enc('fields in .proto order under .proto names, zero values left out, int64 quoted, bytes in base64 (etcd 3.4.23)', () => {
  const res = RangeResponse.encode({
    header: { clusterId: 15118495548433857066n, memberId: 1n, revision: 2n, raftTerm: 2n },
    kvs: [{ key: Buffer.from('foo'), createRevision: 2n, modRevision: 2n, version: 1n, value: Buffer.from('bar'), lease: 0n }],
    more: false,
    count: 1n,
  }).finish();
  assert.is(
    encode('etcdserverpb.RangeResponse', res),
    '{"header":{"cluster_id":"15118495548433857066","member_id":"1","revision":"2","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}',
  );
  assert.is(encode('etcdserverpb.RangeResponse', new Uint8Array(0)), '{}');
});

enc('enums by name, PUT (zero) left out, an unknown number written bare; watch_id -1 as a string', () => {
  const res = WatchResponse.encode({
    header: undefined,
    watchId: -1n,
    created: false,
    canceled: false,
    compactRevision: 0n,
    cancelReason: '',
    fragment: false,
    events: [
      { type: Event_EventType.PUT, kv: { key: Buffer.from('a'), createRevision: 0n, modRevision: 3n, version: 0n, value: Buffer.alloc(0), lease: 0n }, prevKv: undefined },
      { type: Event_EventType.DELETE, kv: undefined, prevKv: undefined },
      { type: 7 as Event_EventType, kv: undefined, prevKv: undefined },
    ],
  }).finish();
  assert.is(encode('etcdserverpb.WatchResponse', res), '{"watch_id":"-1","events":[{"kv":{"key":"YQ==","mod_revision":"3"}},{"type":"DELETE"},{"type":7}]}');
});

enc('a oneof member is written even when its message is empty', () => {
  const d = msg('etcdserverpb.ResponseOp');
  const m = create(d) as Message & Record<string, unknown>;
  m.response = { case: 'responsePut', value: create(msg('etcdserverpb.PutResponse')) };
  assert.is(encode('etcdserverpb.ResponseOp', toBinary(d, m)), '{"response_put":{}}');
});

const errs = suite('gateway: error answers');

errs('the error body has error, message and code; HTTP status per grpc-gateway', () => {
  assert.is(errorBody({ code: Status.INVALID_ARGUMENT, details: 'etcdserver: key is not provided' }), '{"error":"etcdserver: key is not provided","message":"etcdserver: key is not provided","code":3}');
  assert.is(errorBody({ code: Status.UNKNOWN, details: '' }), '{"code":2}');
  const expected: [Status, number][] = [
    [Status.CANCELLED, 408],
    [Status.INVALID_ARGUMENT, 400],
    [Status.NOT_FOUND, 404],
    [Status.FAILED_PRECONDITION, 412],
    [Status.RESOURCE_EXHAUSTED, 429],
    [Status.OUT_OF_RANGE, 400],
    [Status.UNIMPLEMENTED, 501],
    [Status.UNAVAILABLE, 503],
    [Status.UNAUTHENTICATED, 401],
  ];
  for (const [code, http] of expected) assert.is(httpStatusFromCode(code), http, Status[code]);
});

errs('a failed stream ends with grpc-gateway stream error chunk', () => {
  assert.is(
    streamErrorChunk({ code: Status.RESOURCE_EXHAUSTED, details: 'x' }),
    '{"error":{"grpc_code":8,"http_code":429,"message":"rpc error: code = ResourceExhausted desc = x","http_status":"Too Many Requests"}}',
  );
});

json.run();
b64.run();
dec.run();
enc.run();
errs.run();
