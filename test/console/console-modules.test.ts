// The console's pure modules (console/src), in node: how keys are shown and put in URLs, the line
// diff between revisions, the JSON/YAML conversions, and the tenants view's rows and form.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { bytesToBase64, base64ToBytes, displayKey, hexDump, keyPath, utf8Bytes, utf8Text, wireBytes } from '../../console/src/bytes.js';
import { lineDiff } from '../../console/src/diff.js';
import { detectKind, prettyJson, toYaml, yamlToJson } from '../../console/src/format.js';
import { emptyForm, formOf, specBody, tenantRows } from '../../console/src/tenant-rows.js';
import { decodePathBytes } from '../../src/adapters/api/api-bytes.js';

const s = suite('console modules');

s('a key is shown as UTF-8 text with control bytes, backslashes and invalid bytes as escapes', () => {
  assert.is(displayKey(utf8Bytes('app/config')), 'app/config');
  assert.is(displayKey(utf8Bytes('héllo/ключ')), 'héllo/ключ');
  assert.is(displayKey(utf8Bytes('a\nb\u0000c\\d')), 'a\\x0ab\\x00c\\\\d');
  assert.is(displayKey(new Uint8Array([0x62, 0x69, 0x6e, 0x2f, 0xff, 0xfe])), 'bin/\\xff\\xfe');
  // different bytes never look alike: a literal "\xff" typed as text is not the byte 0xff
  assert.is.not(displayKey(utf8Bytes('\\xff')), displayKey(new Uint8Array([0xff])));
  // zero-width, bidi and C1 characters would make a key look like another one
  assert.is(displayKey(utf8Bytes('app/con\u200bfig')), 'app/con\\u{200b}fig');
  assert.is(displayKey(utf8Bytes('\u202eabc\ufeff')), '\\u{202e}abc\\u{feff}');
  assert.is(displayKey(utf8Bytes('a\u0085b\u2028')), 'a\\u{85}b\\u{2028}');
  assert.is.not(displayKey(utf8Bytes('a\u00ad')), displayKey(new Uint8Array([0x61, 0xad])));
});

s("a key's URL path decodes on the server to the same bytes, with no '.' or '/' segments left for the browser", () => {
  for (const key of [utf8Bytes('app/config'), utf8Bytes('a/../b'), utf8Bytes('/lead/slash'), utf8Bytes('sp ace?#%'), new Uint8Array([0, 0xff, 0x2e, 0x2f])]) {
    const path = keyPath(key);
    assert.not.match(path, /[./]/);
    assert.equal([...decodePathBytes(path)], [...key]);
  }
});

s('bytes fields of /api answers decode by their encoding; base64 round-trips', () => {
  assert.equal([...wireBytes('/w==', 'base64')], [0xff]);
  assert.equal([...wireBytes('é', undefined)], [0xc3, 0xa9]);
  assert.equal([...wireBytes(undefined, undefined)], []);
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.equal([...base64ToBytes(bytesToBase64(all))], [...all]);
  assert.is(utf8Text(new Uint8Array([0xff])), undefined);
});

s('a hex dump shows offsets, bytes and printable ASCII, and is bounded', () => {
  assert.is(hexDump(utf8Bytes('AB')), `000000  ${'41 42'.padEnd(47)}  AB`);
  const big = hexDump(new Uint8Array(10_000));
  assert.match(big, /… 5904 more bytes$/);
});

s('the diff keeps common lines and marks removed and added ones in order', () => {
  assert.equal(lineDiff('a\nb\nc', 'a\nx\nc'), [
    { op: 'same', text: 'a' },
    { op: 'del', text: 'b' },
    { op: 'add', text: 'x' },
    { op: 'same', text: 'c' },
  ]);
  assert.equal(lineDiff('', 'new'), [
    { op: 'del', text: '' },
    { op: 'add', text: 'new' },
  ]);
  assert.equal(lineDiff('same', 'same'), [{ op: 'same', text: 'same' }]);
});

s('JSON and YAML are recognised and converted both ways; plain text is left alone', () => {
  assert.is(detectKind('{"a":1}'), 'json');
  assert.is(detectKind('a: 1\nb: [x, y]'), 'yaml');
  assert.is(detectKind('just words'), 'text');
  assert.equal(prettyJson('{"a":[1,2]}'), { ok: true, text: '{\n  "a": [\n    1,\n    2\n  ]\n}' });
  assert.equal(toYaml('{"a":1,"b":["x"]}'), { ok: true, text: 'a: 1\nb:\n  - x\n' });
  assert.equal(yamlToJson('a: 1'), { ok: true, text: '{\n  "a": 1\n}' });
  assert.is(prettyJson('{bad').ok, false);
  // formatting must not change the data: big integers, 1.0, repeated keys are refused
  assert.is(prettyJson('{"id":12345678901234567890}').ok, false);
  assert.is(prettyJson('[1.0]').ok, false);
  assert.is(prettyJson('{"a":1,"a":2}').ok, false);
  assert.is(toYaml('{"id":12345678901234567890}').ok, false);
  assert.equal(prettyJson('{"s":"\\u0041\\"","n":-1.5}'), { ok: true, text: '{\n  "s": "A\\"",\n  "n": -1.5\n}' });
});

s('a tenant row reads /api/tenants (a pending one with its reason) and its form gives back the same spec; empty limits are none, bad ones are refused', () => {
  const rows = tenantRows({
    tenants: [
      { name: 'b', prefix: '/b/', users: ['u'], certCommonNames: [], limits: { maxKeys: 5, requestsPerSecond: 2.5 }, source: 'admin', usage: { keys: 1, bytes: 9, requests: 3, rejections: 0, watchers: 0 } },
      { name: 'a', prefix: '/a/', users: [], certCommonNames: ['cn'], limits: {}, source: 'config', usage: {}, pending: 'prefix "/a/" already holds 3 keys' },
    ],
  });
  assert.equal(rows.map((r) => r.name), ['a', 'b']);
  assert.is(rows[0]!.pending, 'prefix "/a/" already holds 3 keys', 'a pending tenant says why');
  assert.is(rows[1]!.pending, undefined);
  assert.equal(rows[0]!.usage, { keys: 0, bytes: 0, requests: 0, rejections: 0, watchers: 0 });
  assert.equal(specBody(formOf(rows[1]!)), { ok: true, body: { prefix: '/b/', users: ['u'], certCommonNames: [], limits: { requestsPerSecond: 2.5, maxKeys: 5 } } });
  assert.is(specBody({ ...emptyForm, name: 'Bad', prefix: '/x/' }).ok, false);
  assert.is(specBody({ ...emptyForm, name: 'x', prefix: '/x/', limits: { ...emptyForm.limits, maxKeys: '-1' } }).ok, false);
});

s.run();
