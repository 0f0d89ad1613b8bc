// The gateway's direct codecs against the reflective ones. Answers: the direct protobuf → JSON writer against the reflective one (fromBinary, then
// encodeJsonpb, which the codec and differential tests pin to etcd's gateway): every message of the
// protos, seeded random contents, and wire forms our encoders never make (fields repeated, out of
// order, unknown, unpacked, zero on the wire, truncated, invalid UTF-8). The direct writer must give
// the same text or stand aside (undefined), never different text. Requests: what jsonpb read, written
// straight to protobuf bytes, against toBinary of the reflective message (the same bytes, the same errors).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ScalarType, create, createFileRegistry, fromBinary, toBinary, type DescField, type DescMessage, type Message } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { Edition, FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { gatewayRegistry, gatewayRoutes } from '../../src/adapters/gateway/gateway-schema.js';
import { decodeNextValue } from '../../src/adapters/gateway/go-json.js';
import { assignedOf, decodeJsonpb } from '../../src/adapters/gateway/jsonpb-decode.js';
import { encodeJsonpb } from '../../src/adapters/gateway/jsonpb-encode.js';
import { jsonpbWire } from '../../src/adapters/gateway/jsonpb-wire.js';
import { wireJson } from '../../src/adapters/gateway/wire-json.js';
import { seededRandom } from '../helpers/seeded-random.js';

const test = suite('gateway: direct wire → JSON');

const reg = gatewayRegistry();
const messages: DescMessage[] = [];
for (const t of reg) if (t.kind === 'message') messages.push(t);
const proto3 = messages.filter((d) => d.file.edition === Edition.EDITION_PROTO3 && !d.fields.some((f) => f.fieldKind === 'map'));

type Rnd = () => number;
const pick = <T>(rnd: Rnd, items: readonly T[]): T => items[Math.floor(rnd() * items.length)] as T;
const texts = ['', 'a', 'key', '<tag>&"quote"\\', 'line\nbreak\t', '\u2028\u2029', 'héllo', '😀', '\u0001\u001f', '\ufeffbom'];
const int64s = [0n, 1n, -1n, 127n, 128n, 2n ** 31n, -(2n ** 31n), 2n ** 53n - 1n, 2n ** 53n, 2n ** 62n, 2n ** 63n - 1n, -(2n ** 63n)];
const uint64s = [0n, 1n, 300n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n + 1n, 2n ** 64n - 1n];
const int32s = [0, 1, -1, 150, 2 ** 31 - 1, -(2 ** 31)];
const uint32s = [0, 1, 150, 2 ** 32 - 1];

function scalarValue(rnd: Rnd, scalar: ScalarType): unknown {
  switch (scalar) {
    case ScalarType.STRING:
      return pick(rnd, texts);
    case ScalarType.BYTES:
      return Uint8Array.from({ length: pick(rnd, [0, 1, 2, 3, 17, 300]) }, () => Math.floor(rnd() * 256));
    case ScalarType.BOOL:
      return rnd() < 0.5;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return pick(rnd, int64s);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return pick(rnd, uint64s);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return pick(rnd, int32s);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return pick(rnd, uint32s);
    case ScalarType.DOUBLE:
      return pick(rnd, [0, 1.5, -2.25, 1e300, 123456789.125]);
    case ScalarType.FLOAT:
      return Math.fround(pick(rnd, [0, 1.5, -2.25, 3.4e38, 0.1]));
  }
}

function fieldValue(rnd: Rnd, field: DescField, depth: number): unknown {
  switch (field.fieldKind) {
    case 'scalar':
      return scalarValue(rnd, field.scalar);
    case 'enum':
      return rnd() < 0.9 ? pick(rnd, field.enum.values).number : 77;
    case 'message':
      return randomMessage(rnd, field.message, depth + 1);
    case 'list': {
      const n = pick(rnd, [0, 1, 2, 3]);
      return Array.from({ length: n }, () => {
        if (field.listKind === 'scalar') return scalarValue(rnd, field.scalar);
        if (field.listKind === 'enum') return pick(rnd, field.enum.values).number;
        return randomMessage(rnd, field.message, depth + 1);
      });
    }
    case 'map':
      return undefined;
  }
}

function randomMessage(rnd: Rnd, desc: DescMessage, depth = 0): Message {
  const m = create(desc) as Message & Record<string, unknown>;
  if (depth > 3) return m;
  for (const member of desc.members) {
    if (rnd() < 0.35) continue;
    if (member.kind === 'oneof') {
      const field = pick(rnd, member.fields);
      m[member.localName] = { case: field.localName, value: fieldValue(rnd, field, depth) };
      continue;
    }
    const v = fieldValue(rnd, member, depth);
    if (v !== undefined) m[member.localName] = v;
  }
  return m;
}

/** A field the reader may not expect: known or unknown number, any wire type, odd values. */
function strayField(rnd: Rnd, desc: DescMessage): Uint8Array {
  const w = new BinaryWriter();
  const known = desc.fields.length > 0 && rnd() < 0.8 ? pick(rnd, desc.fields) : undefined;
  const no = known?.number ?? pick(rnd, [99, 1000, 15]);
  switch (pick(rnd, [0, 1, 2, 3, 4, 5])) {
    case 0:
      w.tag(no, WireType.Varint).int64(pick(rnd, int64s));
      break;
    case 1:
      w.tag(no, WireType.Varint).int32(0);
      break;
    case 2:
      w.tag(no, WireType.LengthDelimited).bytes(Uint8Array.from({ length: pick(rnd, [0, 2, 5]) }, () => Math.floor(rnd() * 128)));
      break;
    case 3:
      w.tag(no, WireType.Bit64).fixed64(pick(rnd, uint64s));
      break;
    case 4:
      w.tag(no, WireType.Bit32).fixed32(pick(rnd, uint32s));
      break;
    case 5:
      // invalid UTF-8, or a packed run of varints
      w.tag(no, WireType.LengthDelimited).bytes(rnd() < 0.5 ? Uint8Array.of(0xc3, 0x28) : Uint8Array.of(1, 0x80, 1, 0));
      break;
  }
  return w.finish();
}

function reflective(desc: DescMessage, bytes: Uint8Array): string {
  try {
    return encodeJsonpb(desc, fromBinary(desc, bytes));
  } catch {
    return '(refused)';
  }
}

test('every proto3 message of the protos, seeded random contents: the same text as the reflective writer', () => {
  const rnd = seededRandom(0x9e3779b9);
  let direct = 0;
  let cases = 0;
  for (const desc of proto3) {
    for (let i = 0; i < 40; i++) {
      const bytes = toBinary(desc, randomMessage(rnd, desc));
      const got = wireJson(desc, bytes);
      cases++;
      if (got === undefined) continue;
      direct++;
      assert.is(got, reflective(desc, bytes), `${desc.typeName} #${i}`);
    }
  }
  // what our own encoders send is read directly (only invalid UTF-8 in a string field stands aside)
  assert.ok(direct === cases, `${direct} of ${cases} read directly`);
});

test('wire forms our encoders never make: the same text, or left to the reflective writer', () => {
  const rnd = seededRandom(7);
  let direct = 0;
  let cases = 0;
  for (const desc of proto3) {
    for (let i = 0; i < 40; i++) {
      const parts: Uint8Array[] = [toBinary(desc, randomMessage(rnd, desc))];
      for (let k = pick(rnd, [1, 2, 3]); k > 0; k--) parts.push(rnd() < 0.5 ? strayField(rnd, desc) : toBinary(desc, randomMessage(rnd, desc)));
      let bytes = Buffer.concat(parts);
      if (rnd() < 0.15) bytes = bytes.subarray(0, Math.floor(rnd() * bytes.length));
      const got = wireJson(desc, bytes);
      cases++;
      if (got === undefined) continue;
      direct++;
      assert.is(got, reflective(desc, bytes), `${desc.typeName} #${i}`);
    }
  }
  // most of the rest repeat a singular message (merged by the reflective reader) or are cut short
  assert.ok(direct > cases / 4, `${direct} of ${cases} read directly`);
});

test('an unpacked list, a zero sent explicitly, and a later value replacing an earlier one', () => {
  const desc = reg.getMessage('etcdserverpb.RangeResponse') as DescMessage;
  const w = new BinaryWriter();
  w.tag(3, WireType.Varint).bool(true); // more
  w.tag(4, WireType.Varint).int64(5n); // count
  w.tag(4, WireType.Varint).int64(0n); // count again, zero: left out
  w.tag(3, WireType.Varint).bool(false);
  assert.is(wireJson(desc, w.finish()), '{}');
  const watch = reg.getMessage('etcdserverpb.WatchCreateRequest') as DescMessage;
  const u = new BinaryWriter();
  u.tag(5, WireType.Varint).int32(1); // filters, one item unpacked
  u.tag(5, WireType.LengthDelimited).bytes(Uint8Array.of(0, 1)); // and a packed run
  const bytes = u.finish();
  assert.is(wireJson(watch, bytes), reflective(watch, bytes));
  assert.is(wireJson(watch, bytes), '{"filters":["NODELETE","NOPUT","NODELETE"]}');
});

test('what the reflective reader reads its own way is left to it', () => {
  const desc = reg.getMessage('etcdserverpb.RangeResponse') as DescMessage;
  const header = toBinary(reg.getMessage('etcdserverpb.ResponseHeader') as DescMessage, create(reg.getMessage('etcdserverpb.ResponseHeader') as DescMessage, { revision: 3n }));
  const twice = new BinaryWriter();
  twice.tag(1, WireType.LengthDelimited).bytes(header);
  twice.tag(1, WireType.LengthDelimited).bytes(header);
  assert.is(wireJson(desc, twice.finish()), undefined, 'a singular message given twice is merged there');
  const wrongWire = new BinaryWriter().tag(4, WireType.LengthDelimited).bytes(Uint8Array.of(1)).finish();
  assert.is(wireJson(desc, wrongWire), undefined);
  const member = reg.getMessage('etcdserverpb.Member') as DescMessage;
  const badText = new BinaryWriter().tag(2, WireType.LengthDelimited).bytes(Uint8Array.of(0xff)).finish();
  assert.is(wireJson(member, badText), undefined);
  assert.is(reflective(member, badText), '(refused)');
  const proto2 = messages.find((d) => d.file.edition === Edition.EDITION_PROTO2) as DescMessage;
  assert.is(wireJson(proto2, new Uint8Array(0)), undefined);
});


const req = suite('gateway: JSON request → protobuf bytes, direct');

/**
 * A route's request message from JSON, both ways: jsonpb-wire's bytes and toBinary's. Both read the
 * JSON through assignedOf, so an error is the same on both sides by construction: error texts are
 * checked against Go's words below, and the traversal itself by gateway-codec.test.ts.
 */
function bothWays(desc: DescMessage, body: string): { direct: string; reflective: string } {
  const r = decodeNextValue(body, 0, true);
  if (r.kind !== 'value') throw new Error(`not JSON: ${body}`);
  let direct: string;
  let reflectiveBytes: string;
  try {
    direct = (jsonpbWire(desc, assignedOf(desc, r.value)) as Buffer).toString('hex');
  } catch (err) {
    direct = `error: ${(err as Error).message}`;
  }
  try {
    reflectiveBytes = Buffer.from(toBinary(desc, decodeJsonpb(desc, r.value))).toString('hex');
  } catch (err) {
    reflectiveBytes = `error: ${(err as Error).message}`;
  }
  return { direct, reflective: reflectiveBytes };
}

req('every route\'s request type, seeded random contents written as JSON: the bytes toBinary writes', () => {
  const rnd = seededRandom(1234);
  const inputs = [...new Set(gatewayRoutes().map((r) => r.method.input)), synthetic.writable];
  for (const desc of inputs) {
    assert.ok(jsonpbWire(desc, []) !== undefined, `${desc.typeName} is written directly`);
    for (let i = 0; i < 60; i++) {
      const body = encodeJsonpb(desc, randomMessage(rnd, desc));
      const { direct, reflective: want } = bothWays(desc, body);
      assert.is(direct, want, `${desc.typeName}: ${body}`);
    }
  }
});

req('zeros, nulls, camel names, a oneof named twice, negative and quoted numbers, enums by name and number', () => {
  const cases: [string, string][] = [
    ['etcdserverpb.RangeRequest', '{"key":"YQ==","limit":0,"revision":"-5","keys_only":false,"serializable":true,"sort_order":"DESCEND","sortTarget":2}'],
    ['etcdserverpb.RangeRequest', '{"key":null,"range_end":"","limit":"9007199254740993","min_mod_revision":-9223372036854775808}'],
    ['etcdserverpb.PutRequest', '{"key":"a2V5","value":"","lease":"0","prev_kv":true,"ignore_value":false}'],
    ['etcdserverpb.TxnRequest', '{"compare":[{"key":"YQ==","target":"VALUE","value":""},{"target":"VERSION","version":0},{"result":"GREATER","create_revision":"-1","mod_revision":3}],"success":[{"request_put":null},{"request_range":{},"request_delete_range":{"key":"YQ=="}}],"failure":[{"request_txn":{"success":[{"requestPut":{"key":"Yg=="}}]}}]}'],
    ['etcdserverpb.WatchRequest', '{"create_request":{"key":"YQ==","filters":["NOPUT",1,0],"prev_kv":true,"watch_id":-1}}'],
    ['etcdserverpb.WatchRequest', '{"cancel_request":{"watch_id":0}}'],
    ['etcdserverpb.WatchRequest', '{"create_request":{"filters":[]}}'],
    ['etcdserverpb.TxnRequest', '{"compare":[],"success":[{}],"failure":[]}'],
    ['etcdserverpb.MemberAddRequest', '{"peerURLs":["http://a:1","","http://b:2"],"isLearner":true}'],
    ['etcdserverpb.AuthRoleGrantPermissionRequest', '{"name":"r","perm":{"permType":"READWRITE","key":"YQ==","range_end":"AA=="}}'],
    ['etcdserverpb.LeaseGrantRequest', '{"TTL":"-1","ID":9223372036854775807}'],
  ];
  for (const [type, body] of cases) {
    const desc = reg.getMessage(type) as DescMessage;
    const { direct, reflective: want } = bothWays(desc, body);
    assert.ok(!want.startsWith('error'), `${type}: ${body} is a valid request (${want})`);
    assert.is(direct, want, `${type}: ${body}`);
  }
});

req('bad values are refused with Go\'s words before any byte is written (etcd 3.4.23 texts, as in gateway-codec)', () => {
  const desc = reg.getMessage('etcdserverpb.RangeRequest') as DescMessage;
  const cases: [string, string][] = [
    ['{"limit":1.5}', 'json: cannot unmarshal number 1.5 into Go value of type int64'],
    ['{"sort_order":"SIDEWAYS"}', 'unknown value "SIDEWAYS" for enum etcdserverpb.RangeRequest_SortOrder'],
    ['{"key":1}', 'json: cannot unmarshal number into Go value of type []uint8'],
    ['{"keys_only":"true"}', 'json: cannot unmarshal string into Go value of type bool'],
  ];
  for (const [body, want] of cases) assert.is(bothWays(desc, body).direct, `error: ${want}`, body);
});

// The etcd protos use only some scalar kinds (bytes, string, int64, uint64, uint32, bool, enums,
// messages): a message of every kind, singular, repeated and in a oneof, so the other branches of
// both writers are exercised too. `Color` has an alias (the first name declared is the one written).
const synthetic = (() => {
  const scalarTypes: [string, FieldDescriptorProto_Type][] = [
    ['f_double', FieldDescriptorProto_Type.DOUBLE], ['f_float', FieldDescriptorProto_Type.FLOAT], ['f_int64', FieldDescriptorProto_Type.INT64],
    ['f_uint64', FieldDescriptorProto_Type.UINT64], ['f_int32', FieldDescriptorProto_Type.INT32], ['f_fixed64', FieldDescriptorProto_Type.FIXED64],
    ['f_fixed32', FieldDescriptorProto_Type.FIXED32], ['f_bool', FieldDescriptorProto_Type.BOOL], ['f_string', FieldDescriptorProto_Type.STRING],
    ['f_bytes', FieldDescriptorProto_Type.BYTES], ['f_uint32', FieldDescriptorProto_Type.UINT32], ['f_sfixed32', FieldDescriptorProto_Type.SFIXED32],
    ['f_sfixed64', FieldDescriptorProto_Type.SFIXED64], ['f_sint32', FieldDescriptorProto_Type.SINT32], ['f_sint64', FieldDescriptorProto_Type.SINT64],
  ];
  const field = (name: string, number: number, type: FieldDescriptorProto_Type, repeated: boolean, extra: Record<string, unknown> = {}) => ({
    name,
    number,
    type,
    label: repeated ? FieldDescriptorProto_Label.REPEATED : FieldDescriptorProto_Label.OPTIONAL,
    ...extra,
  });
  const all = [
    ...scalarTypes.map(([name, type], i) => field(name, i + 1, type, false)),
    ...scalarTypes.map(([name, type], i) => field(`r${name}`, i + 21, type, true)),
    field('color', 40, FieldDescriptorProto_Type.ENUM, false, { typeName: '.synthetic.Color' }),
    field('colors', 41, FieldDescriptorProto_Type.ENUM, true, { typeName: '.synthetic.Color' }),
    field('child', 42, FieldDescriptorProto_Type.MESSAGE, false, { typeName: '.synthetic.AllKinds' }),
    field('children', 43, FieldDescriptorProto_Type.MESSAGE, true, { typeName: '.synthetic.AllKinds' }),
    field('o_sint64', 50, FieldDescriptorProto_Type.SINT64, false, { oneofIndex: 0 }),
    field('o_double', 51, FieldDescriptorProto_Type.DOUBLE, false, { oneofIndex: 0 }),
    field('o_child', 52, FieldDescriptorProto_Type.MESSAGE, false, { oneofIndex: 0, typeName: '.synthetic.AllKinds' }),
    field('o_color', 53, FieldDescriptorProto_Type.ENUM, false, { oneofIndex: 0, typeName: '.synthetic.Color' }),
  ];
  // what jsonpb-wire writes itself: int32, uint32 and enums, which the etcd requests do not have
  const writable = [
    field('w_int32', 1, FieldDescriptorProto_Type.INT32, false),
    field('w_uint32', 2, FieldDescriptorProto_Type.UINT32, false),
    field('w_int32s', 3, FieldDescriptorProto_Type.INT32, true),
    field('w_uint32s', 4, FieldDescriptorProto_Type.UINT32, true),
    field('w_bools', 5, FieldDescriptorProto_Type.BOOL, true),
    field('w_int64s', 6, FieldDescriptorProto_Type.INT64, true),
    field('w_colors', 7, FieldDescriptorProto_Type.ENUM, true, { typeName: '.synthetic.Color' }),
    field('w_strings', 8, FieldDescriptorProto_Type.STRING, true),
    field('w_color', 9, FieldDescriptorProto_Type.ENUM, false, { typeName: '.synthetic.Color' }),
    field('w_child', 10, FieldDescriptorProto_Type.MESSAGE, false, { typeName: '.synthetic.Writable' }),
    field('w_o_int32', 11, FieldDescriptorProto_Type.INT32, false, { oneofIndex: 0 }),
    field('w_o_bytes', 12, FieldDescriptorProto_Type.BYTES, false, { oneofIndex: 0 }),
  ];
  const file = create(FileDescriptorProtoSchema, {
    name: 'synthetic.proto',
    package: 'synthetic',
    syntax: 'proto3',
    enumType: [{ name: 'Color', value: [{ name: 'RED', number: 0 }, { name: 'GREEN', number: 1 }, { name: 'VERDE', number: 1 }, { name: 'NEG', number: -2 }], options: { allowAlias: true } }],
    messageType: [
      { name: 'AllKinds', field: all, oneofDecl: [{ name: 'choice' }] },
      { name: 'Writable', field: writable, oneofDecl: [{ name: 'pick' }] },
    ],
  });
  const registry = createFileRegistry(file, () => undefined);
  return { all: registry.getMessage('synthetic.AllKinds') as DescMessage, writable: registry.getMessage('synthetic.Writable') as DescMessage };
})();

test('every scalar kind, lists packed and not, oneofs, an enum alias, nesting: the reflective writer\'s text', () => {
  const rnd = seededRandom(99);
  let direct = 0;
  for (let i = 0; i < 3000; i++) {
    const parts: Uint8Array[] = [toBinary(synthetic.all, randomMessage(rnd, synthetic.all))];
    if (i % 3 === 0) parts.push(rnd() < 0.5 ? strayField(rnd, synthetic.all) : toBinary(synthetic.all, randomMessage(rnd, synthetic.all)));
    const bytes = Buffer.concat(parts);
    const got = wireJson(synthetic.all, bytes);
    if (i % 3 !== 0) assert.ok(got !== undefined, `#${i} read directly`);
    if (got === undefined) continue;
    direct++;
    assert.is(got, reflective(synthetic.all, bytes), `#${i}`);
  }
  assert.ok(direct > 2000, `${direct} read directly`);
  const alias = new BinaryWriter().tag(40, WireType.Varint).int32(1).finish();
  assert.is(wireJson(synthetic.all, alias), '{"color":"GREEN"}');
  assert.is(reflective(synthetic.all, alias), '{"color":"GREEN"}');
});

test('a padded tag, nesting past 100 levels, a oneof message given twice, groups: left to the reflective reader', () => {
  const desc = reg.getMessage('etcdserverpb.RangeResponse') as DescMessage;
  const padded = Uint8Array.of(0xa0, 0x80, 0x80, 0x80, 0x80, 0x00, 0x05); // count (4), varint 5, tag in 6 bytes
  assert.is(wireJson(desc, padded), undefined);
  assert.is(reflective(desc, padded), '(refused)');
  // around the reflective reader's limit, level by level: the same text, or stand aside where it refuses
  let nested: Uint8Array = new Uint8Array(0);
  let refusedAt = 0;
  for (let levels = 2; levels <= 105; levels++) {
    nested = new BinaryWriter().tag(42, WireType.LengthDelimited).bytes(nested).finish();
    const want = reflective(synthetic.all, nested);
    if (want === '(refused)') {
      refusedAt ||= levels;
      assert.is(wireJson(synthetic.all, nested), undefined, `${levels} levels`);
    } else {
      assert.is(wireJson(synthetic.all, nested), want, `${levels} levels`);
    }
  }
  assert.is(refusedAt, 101, 'the reflective reader refuses from 101 levels on');
  const child = new BinaryWriter().tag(5, WireType.Varint).int32(-7).finish();
  const twice = new BinaryWriter().tag(52, WireType.LengthDelimited).bytes(child).tag(52, WireType.LengthDelimited).bytes(child).finish();
  assert.is(wireJson(synthetic.all, twice), undefined);
  const group = Uint8Array.of(0x0b, 0x0c); // field 1 start group, end group
  assert.is(wireJson(desc, group), undefined);
  const negInt32 = new BinaryWriter().tag(5, WireType.Varint).int32(-1).finish(); // ten bytes
  assert.is(wireJson(synthetic.all, negInt32), '{"f_int32":-1}');
  assert.is(reflective(synthetic.all, negInt32), '{"f_int32":-1}');
});


test.run();
req.run();
