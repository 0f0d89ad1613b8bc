// The pure parts of /api: key bytes in paths and JSON, prefix ends, query and body parsing, and the
// origin rules.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prefixEnd } from '../../src/core/keys.js';
import { bytesOf, decodePathBytes, encodePathBytes, putBytes } from '../../src/adapters/api/api-bytes.js';
import { ApiError } from '../../src/adapters/api/api-errors.js';
import { checkOrigin } from '../../src/adapters/api/api-origin.js';
import { parseId, parseJsonObject, Query } from '../../src/adapters/api/api-request.js';

const test = suite('api units');

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return e instanceof ApiError ? `${e.status} ${e.code}` : String(e);
  }
};

test('path keys decode every percent-encoded byte and round-trip through encodePathBytes', () => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  assert.equal(decodePathBytes(encodePathBytes(all)), all);
  assert.equal(decodePathBytes('a/b%2Fc%00%ff'), Buffer.from([0x61, 0x2f, 0x62, 0x2f, 0x63, 0x00, 0xff]));
  assert.is(codeOf(() => decodePathBytes('a%g0')), '400 badPercentEncoding');
  assert.is(codeOf(() => decodePathBytes('a%2')), '400 badPercentEncoding');
});

test('UTF-8 bytes go into JSON as text, anything else as base64 with an encoding flag, and come back the same', () => {
  const o: Record<string, unknown> = {};
  putBytes(o, 'key', Buffer.from('häh'));
  putBytes(o, 'value', Buffer.from([0xff, 0xfe]));
  assert.equal(o, { key: 'häh', value: '//4=', value_encoding: 'base64' });
  assert.equal(bytesOf(o.value as string, o.value_encoding, 'value'), Buffer.from([0xff, 0xfe]));
  assert.equal(bytesOf('häh', undefined, 'key'), Buffer.from('häh'));
  assert.is(codeOf(() => bytesOf('!!', 'base64', 'value')), '400 invalidArgument');
  assert.is(codeOf(() => bytesOf('x', 'hex', 'value')), '400 invalidArgument');
});

test('a prefix ends after its last byte below 0xff, and an all-0xff prefix runs to the end of the keyspace', () => {
  assert.equal(prefixEnd(Buffer.from('ab')), Buffer.from('ac'));
  assert.equal(prefixEnd(Buffer.from([0x61, 0xff])), Buffer.from([0x62]));
  assert.equal(prefixEnd(Buffer.from([0xff, 0xff])), Buffer.from([0]));
});

test('query flags, counts and IDs are strict; bad escapes in the query are refused', () => {
  const q = Query.parse('prefix&limit=10&keys_only=false&lease=0x10');
  assert.equal([q.flag('prefix'), q.flag('keys_only'), q.count('limit'), q.id('lease')], [true, false, 10, 16n]);
  assert.equal(q.unknown(new Set(['prefix', 'limit'])), ['keys_only', 'lease']);
  assert.is(codeOf(() => Query.parse('limit=%zz')), '400 badPercentEncoding');
  assert.is(codeOf(() => Query.parse('limit=1e3').count('limit')), '400 invalidArgument');
  assert.is(codeOf(() => Query.parse('prefix=maybe').flag('prefix')), '400 invalidArgument');
  assert.is(parseId('9223372036854775807', 'id'), 9223372036854775807n);
  assert.is(codeOf(() => parseId('9223372036854775808', 'id')), '400 invalidArgument');
});

test('JSON bodies must be objects with known fields only', () => {
  assert.equal(parseJsonObject(Buffer.alloc(0), ['ttl']), {});
  assert.equal(parseJsonObject(Buffer.from('{"ttl":5}'), ['ttl']), { ttl: 5 });
  assert.is(codeOf(() => parseJsonObject(Buffer.from('{"ttl":5,"x":1}'), ['ttl'])), '400 unknownField');
  assert.is(codeOf(() => parseJsonObject(Buffer.from('"s"'), ['ttl'])), '400 invalidJson');
  assert.is(codeOf(() => parseJsonObject(Buffer.from('{'), ['ttl'])), '400 invalidJson');
});

const fakeReq = (method: string, headers: Record<string, string>): IncomingMessage => ({ method, headers: { host: 'db:2379', ...headers } }) as unknown as IncomingMessage;
const fakeRes = (): ServerResponse & { set: Record<string, string> } => {
  const set: Record<string, string> = {};
  return { set, setHeader: (k: string, v: string) => (set[k] = v) } as unknown as ServerResponse & { set: Record<string, string> };
};

test('writes from another origin or site are refused; reads, same-origin writes and listed origins pass', () => {
  const none = { allowedOrigins: [] };
  const listed = { allowedOrigins: ['http://ui:8080'] };
  assert.is(codeOf(() => checkOrigin(none, fakeReq('PUT', { origin: 'http://evil' }), fakeRes())), '403 crossOriginRefused');
  assert.is(codeOf(() => checkOrigin(none, fakeReq('POST', { 'sec-fetch-site': 'cross-site' }), fakeRes())), '403 crossOriginRefused');
  assert.is(codeOf(() => checkOrigin(none, fakeReq('DELETE', { origin: 'null' }), fakeRes())), '403 crossOriginRefused');
  assert.is(codeOf(() => checkOrigin(none, fakeReq('GET', { origin: 'http://evil' }), fakeRes(), true)), '403 crossOriginRefused');
  assert.is(codeOf(() => checkOrigin(none, fakeReq('GET', { origin: 'http://evil' }), fakeRes())), undefined);
  assert.is(codeOf(() => checkOrigin(none, fakeReq('PUT', { origin: 'http://db:2379', 'sec-fetch-site': 'same-origin' }), fakeRes())), undefined);
  assert.is(codeOf(() => checkOrigin(none, fakeReq('PUT', {}), fakeRes())), undefined);
  const res = fakeRes();
  assert.is(codeOf(() => checkOrigin(listed, fakeReq('PUT', { origin: 'http://ui:8080' }), res)), undefined);
  assert.is(res.set['Access-Control-Allow-Origin'], 'http://ui:8080');
  const other = fakeRes();
  checkOrigin(listed, fakeReq('GET', { origin: 'http://evil' }), other);
  assert.equal(other.set, {});
});

test.run();
