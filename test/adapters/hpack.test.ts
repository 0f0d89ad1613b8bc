// The HPACK pieces of the HTTP/2 :authority shim: integers, Huffman decoding and the shadow of a
// client's dynamic table, checked against RFC 7541 Appendix C.
// Run: npx tsc -p tsconfig.json; node dist/test/adapters/hpack.test.js
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { huffmanDecode } from '../../src/adapters/http2/hpack-huffman.js';
import { decodeInteger, encodeInteger } from '../../src/adapters/http2/hpack-primitives.js';
import { applyRewrites, HpackAuthorityTracker } from '../../src/adapters/http2/hpack-authority-tracker.js';
import { block, hex, hpack, huffmanEncode, throwsKind } from './hpack-test-encoder.js';

const decodeInt = (bytes: number[], prefixBits: number): { value: number; next: number } => {
  const cursor = { pos: 0 };
  const value = decodeInteger(Uint8Array.from(bytes), cursor, bytes.length, prefixBits);
  return { value, next: cursor.pos };
};

const huffman = (encoded: Buffer): string | null => {
  const out = Buffer.alloc(encoded.length * 2);
  const n = huffmanDecode(encoded, 0, encoded.length, out);
  return n < 0 ? null : out.subarray(0, n).toString('latin1');
};


const integers = suite('HPACK integers (RFC 7541 §5.1)');

integers('C.1.1: 10 with a 5-bit prefix is one octet', () => {
  assert.equal(encodeInteger(10, 5), [0x0a]);
  assert.equal(decodeInt([0x0a], 5), { value: 10, next: 1 });
});

integers('C.1.2: 1337 with a 5-bit prefix is 1f 9a 0a', () => {
  assert.equal(encodeInteger(1337, 5), [0x1f, 0x9a, 0x0a]);
  assert.equal(decodeInt([0x1f, 0x9a, 0x0a], 5), { value: 1337, next: 3 });
});

integers('C.1.3: 42 on an octet boundary', () => {
  assert.equal(encodeInteger(42, 8), [0x2a]);
  assert.equal(decodeInt([0x2a], 8), { value: 42, next: 1 });
});

integers('bits above the prefix are ignored, and values at the prefix maximum take a zero continuation', () => {
  assert.equal(decodeInt([0xea], 5), { value: 10, next: 1 });
  assert.equal(encodeInteger(31, 5, 0x20), [0x3f, 0x00]);
  assert.equal(decodeInt([0x3f, 0x00], 5), { value: 31, next: 2 });
});

integers('encode and decode agree from 0 to 2^21 across prefixes', () => {
  for (const prefix of [4, 5, 6, 7, 8]) {
    for (let v = 0; v < 1 << 21; v = v * 3 + 1) assert.is(decodeInt(encodeInteger(v, prefix), prefix).value, v);
  }
});

integers('a truncated integer and one with endless continuation octets are hpack errors', () => {
  throwsKind(() => decodeInt([0x1f, 0x9a], 5), 'hpack', /truncated/);
  throwsKind(() => decodeInt([], 5), 'hpack', /truncated/);
  throwsKind(() => decodeInt([0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 5), 'hpack', /too large/);
});

integers.run();

const huff = suite('HPACK Huffman decoding (RFC 7541 §5.2, Appendix B)');

const appendixCStrings: [string, string][] = [
  ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
  ['a8eb 1064 9cbf', 'no-cache'],
  ['25a8 49e9 5ba9 7d7f', 'custom-key'],
  ['25a8 49e9 5bb8 e8b4 bf', 'custom-value'],
  ['6402', '302'],
  ['aec3 771a 4b', 'private'],
  ['d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff', 'Mon, 21 Oct 2013 20:13:21 GMT'],
  ['9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3', 'https://www.example.com'],
  ['9bd9 ab', 'gzip'],
  [
    '94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1',
  ],
];

huff('decodes the strings of Appendix C.4 and C.6', () => {
  for (const [encoded, text] of appendixCStrings) assert.is(huffman(hex(encoded)), text, text);
});

huff('without an output buffer it returns the decoded length only', () => {
  const encoded = hex('9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3');
  assert.is(huffmanDecode(encoded, 0, encoded.length), 'https://www.example.com'.length);
});

huff('every octet value round-trips, including the 30-bit codes', () => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const encoded = huffmanEncode(all);
  const out = Buffer.alloc(all.length);
  assert.is(huffmanDecode(encoded, 0, encoded.length, out), 256);
  assert.equal([...out], [...all]);
  for (let octet = 0; octet < 256; octet++) assert.is(huffman(huffmanEncode(Buffer.from([octet]))), String.fromCharCode(octet));
});

huff('the empty string decodes to nothing', () => {
  assert.is(huffmanDecode(Buffer.alloc(0), 0, 0), 0);
});

huff('padding of more than 7 bits is rejected', () => {
  // '0' is 00000 (5 bits); a whole octet of ones after it is 11 bits of padding
  assert.is(huffman(Buffer.from([0x07, 0xff])), null);
  assert.is(huffman(Buffer.from([0xff])), null);
});

huff('padding that is not a prefix of EOS (all ones) is rejected', () => {
  // '0' then 000: padding of zeros
  assert.is(huffman(Buffer.from([0x00])), null);
  assert.is(huffman(Buffer.from([0x07])), '0');
});

huff('an EOS symbol inside the string is rejected', () => {
  assert.is(huffman(Buffer.from([0xff, 0xff, 0xff, 0xfc])), null);
});

huff.run();

const table = suite('HPACK dynamic table shadow (RFC 7541 §4, Appendix C.3 to C.6)');

const series = (initialTableBytes: number, blocks: string[], sizes: number[], entries: number[][]): void => {
  const tracker = new HpackAuthorityTracker({ initialTableBytes });
  blocks.forEach((b, i) => {
    assert.is(tracker.scanBlock(hex(b)), undefined, `block ${i + 1} needs no rewrite`);
    assert.is(tracker.tableBytes, sizes[i], `table size after block ${i + 1}`);
    const want = entries[i]!;
    assert.equal(Array.from({ length: tracker.entryCount }, (_, age) => tracker.entryBytesAt(age)), want, `entry sizes after block ${i + 1}`);
  });
};

table('C.3: requests without Huffman grow the table to 57, 110, 164 octets', () => {
  series(
    4096,
    [
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    ],
    [57, 110, 164],
    [[57], [53, 57], [54, 53, 57]],
  );
});

table('C.4: the same requests with Huffman-coded literals give the same table', () => {
  series(
    4096,
    [
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ],
    [57, 110, 164],
    [[57], [53, 57], [54, 53, 57]],
  );
});

const c5 = [
  `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
   2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
  '4803 3330 37c1 c0bf',
  `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
   54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
   5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
];
const c6 = [
  `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
   2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
  '4883 640e ffc1 c0bf',
  `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
   77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
   9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
];
const c5Sizes = [222, 222, 215];
const c5Entries = [
  [63, 65, 52, 42],
  [42, 63, 65, 52],
  [98, 52, 65],
];

table('C.5: a 256-octet table evicts its oldest entries (222, 222, 215 octets)', () => {
  series(256, c5, c5Sizes, c5Entries);
});

table('C.6: the same responses with Huffman coding evict the same entries', () => {
  series(256, c6, c5Sizes, c5Entries);
});

table('a size update evicts down to the new size; an entry larger than the table empties it', () => {
  const tracker = new HpackAuthorityTracker();
  tracker.scanBlock(block(hpack.literal('incremental', 'a', 'x'.repeat(100)), hpack.literal('incremental', 'b', 'y'.repeat(100))));
  assert.equal([tracker.entryBytesAt(0), tracker.entryBytesAt(1)], [133, 133]);
  tracker.scanBlock(block(hpack.sizeUpdate(200), hpack.indexed(62)));
  assert.is(tracker.entryCount, 1);
  assert.is(tracker.tableBytes, 133);
  assert.is(tracker.tableLimitBytes, 200);
  tracker.scanBlock(block(hpack.literal('incremental', 'c', 'z'.repeat(200))));
  assert.is(tracker.entryCount, 0);
  assert.is(tracker.tableBytes, 0);
  tracker.scanBlock(block(hpack.sizeUpdate(0), hpack.sizeUpdate(4096)));
  assert.is(tracker.tableLimitBytes, 4096);
});

table('literals without indexing and never indexed leave the table alone', () => {
  const tracker = new HpackAuthorityTracker();
  tracker.scanBlock(block(hpack.literal('without', 4, '/sample/path'), hpack.literal('never', 'password', 'secret', { huffmanValue: true })));
  assert.is(tracker.entryCount, 0);
});

table('an index past the dynamic table, index 0, a late size update or a truncated block is an hpack error', () => {
  throwsKind(() => new HpackAuthorityTracker().scanBlock(block(hpack.indexed(62))), 'hpack', /out of range/);
  throwsKind(() => new HpackAuthorityTracker().scanBlock(block(hpack.indexed(0))), 'hpack', /out of range/);
  throwsKind(() => new HpackAuthorityTracker().scanBlock(block(hpack.literal('incremental', 62, 'v'))), 'hpack', /out of range/);
  throwsKind(() => new HpackAuthorityTracker().scanBlock(block(hpack.indexed(2), hpack.sizeUpdate(100))), 'hpack', /size update/);
  throwsKind(() => new HpackAuthorityTracker().scanBlock(block(hpack.sizeUpdate(1 << 20))), 'hpack', /too large/);
  throwsKind(() => new HpackAuthorityTracker().scanBlock(block(hpack.literal('incremental', 'name', 'value')).subarray(0, 8)), 'hpack', /past the header block/);
  throwsKind(() => new HpackAuthorityTracker().scanBlock(Buffer.from([0x41, 0x82, 0x00, 0x00])), 'hpack', /Huffman/);
});

table.run();

const authority = suite(':authority rewriting');

const badAuthority = 'http://127.0.0.1:2379';
const fixedAuthority = 'http:__127.0.0.1:2379';

function rewrite(tracker: HpackAuthorityTracker, headerBlock: Buffer): Buffer | undefined {
  const rewrites = tracker.scanBlock(headerBlock);
  return rewrites === undefined ? undefined : applyRewrites(headerBlock, rewrites);
}

authority('a valid :authority, in any representation, is left alone', () => {
  const tracker = new HpackAuthorityTracker();
  assert.is(rewrite(tracker, block(hpack.indexed(3), hpack.literal('incremental', 1, '127.0.0.1:2379', { huffmanValue: true }))), undefined);
  assert.is(rewrite(tracker, block(hpack.literal('without', ':authority', 'user@[::1]:2379'))), undefined);
  assert.is(rewrite(tracker, block(hpack.indexed(62))), undefined);
});

authority('a Huffman-coded http:// authority with incremental indexing becomes a raw literal with / replaced by _', () => {
  const tracker = new HpackAuthorityTracker();
  const original = block(hpack.indexed(3), hpack.literal('incremental', 1, badAuthority, { huffmanValue: true }), hpack.indexed(6));
  const rewritten = rewrite(tracker, original);
  assert.equal(rewritten, block(hpack.indexed(3), hpack.literal('incremental', 1, fixedAuthority), hpack.indexed(6)));
  // the entry has the decoded size either way: 10 + 21 + 32
  assert.is(tracker.entryBytesAt(0), 63);
  // a later reference by index needs nothing: the server's entry came from the rewritten literal
  assert.is(rewrite(tracker, block(hpack.indexed(3), hpack.indexed(62))), undefined);
});

authority('every literal form is rewritten: without indexing, never indexed, literal name, name from the dynamic table', () => {
  const tracker = new HpackAuthorityTracker();
  const forms: [number[], number[]][] = [
    [hpack.literal('without', 1, badAuthority), hpack.literal('without', 1, fixedAuthority)],
    [hpack.literal('never', 1, badAuthority, { huffmanValue: true }), hpack.literal('never', 1, fixedAuthority)],
    [
      hpack.literal('incremental', ':authority', 'https://h:1', { huffmanName: true, huffmanValue: true }),
      hpack.literal('incremental', ':authority', 'https:__h:1', { huffmanName: true }),
    ],
    // index 62 is now the entry just added, named :authority
    [hpack.literal('without', 62, badAuthority), hpack.literal('without', 62, fixedAuthority)],
  ];
  for (const [input, output] of forms) assert.equal(rewrite(tracker, block(input)), block(output));
});

authority('two bad :authority fields in one block are both rewritten, other fields kept byte for byte', () => {
  const tracker = new HpackAuthorityTracker();
  const custom = hpack.literal('incremental', 'x-custom', 'a/b', { huffmanName: true, huffmanValue: true });
  const original = block(hpack.literal('without', 1, 'a/b'), custom, hpack.literal('without', 1, 'c d', { huffmanValue: true }));
  assert.equal(rewrite(tracker, original), block(hpack.literal('without', 1, 'a_b'), custom, hpack.literal('without', 1, 'c_d')));
});

authority('every octet nghttp2 refuses is replaced, the ones it accepts are kept', () => {
  const tracker = new HpackAuthorityTracker();
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1');
  const rewritten = rewrite(tracker, block(hpack.literal('without', 1, all)))!;
  const accepted = "!$%&'()*+,-.0123456789:;=@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]_abcdefghijklmnopqrstuvwxyz~";
  const expected = Array.from(all, (ch) => (accepted.includes(ch) ? ch : '_')).join('');
  assert.equal(rewritten, block(hpack.literal('without', 1, expected)));
});

authority.run();
