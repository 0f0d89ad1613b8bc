// The HTTP/2 engine's HPACK decoder and encoder, checked against RFC 7541 Appendix C, malformed
// blocks, a round trip and blocks written by grpc-go's encoder.
// Run: npx tsc -p tsconfig.json; node test/run.js h2-hpack
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HpackDecoder, HpackError, type HeaderSink } from '../../src/adapters/h2/hpack-decoder.js';
import { encodeHeaderBlock } from '../../src/adapters/h2/hpack-encoder.js';
import { block, hex, hpack, huffmanEncode } from './hpack-test-encoder.js';

type Field = [string, string];

class ListSink implements HeaderSink {
  readonly fields: Field[] = [];
  header(name: string, value: string): void {
    this.fields.push([name, value]);
  }
}

const decode = (decoder: HpackDecoder, bytes: Uint8Array, maxHeaderListBytes?: number): Field[] => {
  const sink = new ListSink();
  decoder.decode(bytes, 0, bytes.length, sink, maxHeaderListBytes);
  return sink.fields;
};

/** The dynamic table, newest first, read by decoding indexed fields 62.. (which leave the table as it is). */
const dynamicTable = (decoder: HpackDecoder): Field[] => {
  const indexes: number[][] = [];
  for (let i = 0; i < decoder.dynamicTableLength; i++) indexes.push(hpack.indexed(62 + i));
  return decode(decoder, block(...indexes));
};

const throwsHpack = (fn: () => unknown, message: RegExp): void => {
  try {
    fn();
  } catch (err) {
    assert.instance(err, HpackError);
    assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable(`expected an HpackError matching ${message}`);
};

const rfc = suite('HPACK decoder: RFC 7541 Appendix C');

rfc('C.2.1: a literal with indexing adds custom-key: custom-header (55 octets)', () => {
  const decoder = new HpackDecoder();
  const bytes = hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572');
  const sink = new ListSink();
  assert.is(decoder.decode(bytes, 0, bytes.length, sink), 55);
  assert.equal(sink.fields, [['custom-key', 'custom-header']]);
  assert.is(decoder.dynamicTableBytes, 55);
  assert.equal(dynamicTable(decoder), [['custom-key', 'custom-header']]);
});

rfc('C.2.2: a literal without indexing leaves the table empty', () => {
  const decoder = new HpackDecoder();
  assert.equal(decode(decoder, hex('040c 2f73 616d 706c 652f 7061 7468')), [[':path', '/sample/path']]);
  assert.is(decoder.dynamicTableLength, 0);
});

rfc('C.2.3: a never-indexed literal leaves the table empty', () => {
  const decoder = new HpackDecoder();
  assert.equal(decode(decoder, hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [['password', 'secret']]);
  assert.is(decoder.dynamicTableLength, 0);
});

rfc('C.2.4: an indexed field from the static table', () => {
  const decoder = new HpackDecoder();
  assert.equal(decode(decoder, hex('82')), [[':method', 'GET']]);
  assert.is(decoder.dynamicTableLength, 0);
});

const c3Fields: Field[][] = [
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
  [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
];
const c3Tables: Field[][] = [
  [[':authority', 'www.example.com']],
  [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
  [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
];
const c3TableBytes = [57, 110, 164];

const requests = (blocks: string[]): void => {
  const decoder = new HpackDecoder();
  blocks.forEach((b, i) => {
    assert.equal(decode(decoder, hex(b)), c3Fields[i], `request ${i + 1}`);
    assert.is(decoder.dynamicTableBytes, c3TableBytes[i], `table size after request ${i + 1}`);
    assert.equal(dynamicTable(decoder), c3Tables[i], `table after request ${i + 1}`);
  });
};

rfc('C.3: three requests without Huffman on one decoder', () => {
  requests([
    '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    '8286 84be 5808 6e6f 2d63 6163 6865',
    '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
  ]);
});

rfc('C.4: the same requests with Huffman-coded literals', () => {
  requests([
    '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
    '8286 84be 5886 a8eb 1064 9cbf',
    '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
  ]);
});

const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const location = 'https://www.example.com';
const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const c5Fields: Field[][] = [
  [[':status', '302'], ['cache-control', 'private'], ['date', date1], ['location', location]],
  [[':status', '307'], ['cache-control', 'private'], ['date', date1], ['location', location]],
  [[':status', '200'], ['cache-control', 'private'], ['date', date2], ['location', location], ['content-encoding', 'gzip'], ['set-cookie', cookie]],
];
const c5Tables: Field[][] = [
  [['location', location], ['date', date1], ['cache-control', 'private'], [':status', '302']],
  [[':status', '307'], ['location', location], ['date', date1], ['cache-control', 'private']],
  [['set-cookie', cookie], ['content-encoding', 'gzip'], ['date', date2]],
];
const c5TableBytes = [222, 222, 215];

const responses = (blocks: string[]): void => {
  const decoder = new HpackDecoder(256);
  assert.is(decoder.dynamicTableLimitBytes, 256);
  blocks.forEach((b, i) => {
    assert.equal(decode(decoder, hex(b)), c5Fields[i], `response ${i + 1}`);
    assert.is(decoder.dynamicTableBytes, c5TableBytes[i], `table size after response ${i + 1}`);
    assert.equal(dynamicTable(decoder), c5Tables[i], `table after response ${i + 1}`);
  });
};

rfc('C.5: three responses with a 256-octet table evict the oldest entries', () => {
  responses([
    `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
     2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
    '4803 3330 37c1 c0bf',
    `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
     54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
     5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
  ]);
});

rfc('C.6: the same responses with Huffman coding', () => {
  responses([
    `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
     2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
    '4883 640e ffc1 c0bf',
    `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
     77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
     9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
  ]);
});

rfc('decodes a block in the middle of a larger buffer, from a plain Uint8Array too', () => {
  const inner = hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d');
  const outer = new Uint8Array(inner.length + 7);
  outer.set(inner, 3);
  const sink = new ListSink();
  assert.is(new HpackDecoder().decode(outer.subarray(1), 2, 2 + inner.length, sink), 42 + 43 + 38 + 57);
  assert.equal(sink.fields, c3Fields[0]);
});

rfc.run();

const table = suite('HPACK decoder: dynamic table');

table('size updates at the start of a block evict down to the new size, then the table refills up to it', () => {
  const decoder = new HpackDecoder();
  decode(decoder, block(hpack.literal('incremental', 'a', 'x'.repeat(100)), hpack.literal('incremental', 'b', 'y'.repeat(100))));
  assert.is(decoder.dynamicTableBytes, 266);
  assert.equal(decode(decoder, block(hpack.sizeUpdate(200), hpack.indexed(62))), [['b', 'y'.repeat(100)]]);
  assert.is(decoder.dynamicTableLength, 1);
  assert.is(decoder.dynamicTableLimitBytes, 200);
  // two updates in a row (a lower one, then the final one) are allowed at the start (§4.2)
  decode(decoder, block(hpack.sizeUpdate(0), hpack.sizeUpdate(4096)));
  assert.is(decoder.dynamicTableLength, 0);
  assert.is(decoder.dynamicTableLimitBytes, 4096);
});

table('an entry larger than the table empties it and is not added, but is still emitted', () => {
  const decoder = new HpackDecoder(200);
  decode(decoder, block(hpack.literal('incremental', 'a', 'x')));
  assert.is(decoder.dynamicTableLength, 1);
  assert.equal(decode(decoder, block(hpack.literal('incremental', 'c', 'z'.repeat(200)))), [['c', 'z'.repeat(200)]]);
  assert.is(decoder.dynamicTableLength, 0);
  assert.is(decoder.dynamicTableBytes, 0);
});

table('a literal with incremental indexing may name the entry it evicts', () => {
  const decoder = new HpackDecoder(100);
  decode(decoder, block(hpack.literal('incremental', 'name', 'v'.repeat(60))));
  // index 62 is the only entry; adding this one evicts it, after its name was read
  assert.equal(decode(decoder, block(hpack.literal('incremental', 62, 'w'.repeat(60)))), [['name', 'w'.repeat(60)]]);
  assert.equal(dynamicTable(decoder), [['name', 'w'.repeat(60)]]);
});

table('many entries wrap the ring and grow it, keeping age order', () => {
  const decoder = new HpackDecoder(4096);
  for (let round = 0; round < 5; round++) {
    const fields: number[][] = [];
    for (let i = 0; i < 70; i++) fields.push(hpack.literal('incremental', `k${round}-${i}`, `v${i}`));
    decode(decoder, block(...fields));
  }
  // the last 4096 / (name + value + 32) entries remain, newest first
  const table = dynamicTable(decoder);
  let bytes = 0;
  for (const [name, value] of table) bytes += name.length + value.length + 32;
  assert.is(bytes, decoder.dynamicTableBytes);
  assert.ok(bytes <= 4096 && bytes > 4096 - 40);
  assert.equal(table[0], ['k4-69', 'v69']);
  assert.equal(table[69], ['k4-0', 'v0']);
  assert.equal(table[70], ['k3-69', 'v69']);
});

table.run();

const errors = suite('HPACK decoder: malformed blocks are HpackErrors');

errors('index 0', () => {
  throwsHpack(() => decode(new HpackDecoder(), hex('80')), /index 0/);
});

errors('an index past the static and dynamic tables', () => {
  throwsHpack(() => decode(new HpackDecoder(), hex('be')), /past the table/);
  const decoder = new HpackDecoder();
  decode(decoder, hex('4001 6101 62'));
  assert.equal(decode(decoder, hex('be')), [['a', 'b']]);
  throwsHpack(() => decode(decoder, hex('bf')), /past the table/);
  // a literal's indexed name past the table too
  throwsHpack(() => decode(new HpackDecoder(), block(hpack.literal('without', 62, 'x'))), /past the table/);
});

errors('truncated integers and strings', () => {
  throwsHpack(() => decode(new HpackDecoder(), hex('ff')), /truncated integer/);
  throwsHpack(() => decode(new HpackDecoder(), hex('ff 80')), /truncated integer/);
  throwsHpack(() => decode(new HpackDecoder(), hex('400a 6375')), /truncated string/);
  throwsHpack(() => decode(new HpackDecoder(), hex('4001 61')), /truncated string/);
  throwsHpack(() => decode(new HpackDecoder(), hex('04')), /truncated string/);
  // the block's end, not the buffer's, is what counts
  const bytes = hex('0401 61 82');
  throwsHpack(() => new HpackDecoder().decode(bytes, 0, 2, new ListSink()), /truncated string/);
});

errors('an integer with too many continuation octets', () => {
  throwsHpack(() => decode(new HpackDecoder(), hex('ff ff ff ff ff 01')), /too large/);
  throwsHpack(() => decode(new HpackDecoder(), hex('3f ff ff ff ff 01')), /too large/);
});

errors('a size update above our SETTINGS_HEADER_TABLE_SIZE', () => {
  throwsHpack(() => decode(new HpackDecoder(), block(hpack.sizeUpdate(4097))), /above the limit 4096/);
  throwsHpack(() => decode(new HpackDecoder(256), block(hpack.sizeUpdate(257))), /above the limit 256/);
  const decoder = new HpackDecoder(256);
  decode(decoder, block(hpack.sizeUpdate(256)));
  assert.is(decoder.dynamicTableLimitBytes, 256);
});

errors('a size update after a field', () => {
  throwsHpack(() => decode(new HpackDecoder(), block(hpack.indexed(2), hpack.sizeUpdate(0))), /after a header field/);
});

errors('bad Huffman: padding not all ones, padding longer than 7 bits, EOS', () => {
  // 'a' is 00011 (5 bits): padded with zeros, then with 11 one bits, then a whole EOS
  const literal = (huffman: number[]): Buffer => block([0x00, 0x01, 0x61, 0x80 | huffman.length, ...huffman]);
  assert.equal(decode(new HpackDecoder(), literal([0x1f])), [['a', 'a']]);
  throwsHpack(() => decode(new HpackDecoder(), literal([0x18])), /Huffman/);
  throwsHpack(() => decode(new HpackDecoder(), literal([0x1f, 0xff])), /Huffman/);
  throwsHpack(() => decode(new HpackDecoder(), literal([0xff, 0xff, 0xff, 0xff])), /Huffman/);
});

errors('a header list above maxHeaderListBytes stops the block, and the decoder refuses later blocks', () => {
  const fields = block(hpack.literal('incremental', 'a', 'b'), hpack.literal('without', 'c', 'd'));
  assert.is(new HpackDecoder().decode(fields, 0, fields.length, new ListSink(), 68), 68);
  const decoder = new HpackDecoder();
  const sink = new ListSink();
  throwsHpack(() => decoder.decode(fields, 0, fields.length, sink, 67), /larger than 67/);
  assert.equal(sink.fields, [['a', 'b']], 'fields up to the limit were emitted');
  throwsHpack(() => decode(decoder, hex('82')), /earlier block/);
});

errors.run();

const encoder = suite('HPACK encoder: static table only');

encoder('exact matches are indexed, name matches literal with an indexed name, others literal with a new name', () => {
  const bytes = encodeHeaderBlock([
    [':status', '200'],
    ['content-type', 'application/grpc'],
    ['grpc-status', '0'],
    [':method', 'POST'],
    ['accept-encoding', 'gzip, deflate'],
    [':status', '418'],
  ]);
  assert.equal(
    bytes,
    block(
      [0x88],
      hpack.literal('without', 31, 'application/grpc'),
      hpack.literal('without', 'grpc-status', '0'),
      [0x83],
      [0x90],
      hpack.literal('without', 8, '418'),
    ),
  );
});

encoder('round trip through the decoder, even with a zero-size table; nothing is added to the table', () => {
  const fields: Field[] = [
    [':status', '200'],
    ['content-type', 'application/grpc'],
    ['grpc-encoding', 'identity'],
    ['grpc-accept-encoding', 'identity,deflate,gzip'],
    ['x-long', 'v'.repeat(33)],
    ['x-longer', 'w'.repeat(300)],
    ['x-' + 'n'.repeat(200), ''],
    ['grpc-message', 'caf\u00e9 %20 \u00ff'],
    ['', ''],
    ['www-authenticate', 'x'],
  ];
  const bytes = encodeHeaderBlock(fields);
  for (const tableBytes of [0, 4096]) {
    const decoder = new HpackDecoder(tableBytes);
    assert.equal(decode(decoder, bytes), fields);
    assert.is(decoder.dynamicTableLength, 0);
  }
  assert.equal(encodeHeaderBlock([]), Buffer.alloc(0));
});

encoder.run();

const grpc = suite('HPACK decoder: grpc-go request blocks');

// Written by golang.org/x/net/http2/hpack's Encoder (as grpc-go uses it) for two unary calls on one
// connection: the first adds each field to the table with Huffman coding, the second is mostly indexed.
const grpcGoBlocks = [
  `8386459060a924882d9dcb6571af9b8b1b4754c5418a089d5c0b8170dc132ebf5f8b1d75d0620d263d4c4d65647a8a9acac8b4
   c7602bb6fae040027465864d833505b11f40899acac8b24d494f6a7f8669f7df79d72d`,
  '8386c3c2c1c0bf7e8669f7df7c22b7',
];
const grpcGoFields = (timeout: string): Field[] => [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/etcdserverpb.KV/Range'],
  [':authority', '127.0.0.1:2379'],
  ['content-type', 'application/grpc'],
  ['user-agent', 'grpc-go/1.59.0'],
  ['te', 'trailers'],
  ['grpc-timeout', timeout],
];

grpc('the second, mostly indexed block gives the same fields as the first', () => {
  const decoder = new HpackDecoder();
  const first = decode(decoder, hex(grpcGoBlocks[0]!));
  assert.equal(first, grpcGoFields('4999876u'));
  assert.equal(decode(decoder, hex(grpcGoBlocks[1]!)), grpcGoFields('4999912u'));
  assert.is(decoder.dynamicTableLength, 7);
});

grpc('Huffman strings of every octet, at lengths that grow the scratch buffer', () => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const long = Buffer.concat([all, all, all, all, all]);
  const text = long.toString('latin1');
  // a Huffman string literal (H bit, 7-bit-prefix length) as value, name 'x'
  const huffLiteral = (value: Buffer): number[] => {
    const coded = huffmanEncode(value);
    const length: number[] = [];
    if (coded.length < 127) length.push(0x80 | coded.length);
    else {
      length.push(0xff);
      let rest = coded.length - 127;
      while (rest >= 0x80) {
        length.push((rest & 0x7f) | 0x80);
        rest >>>= 7;
      }
      length.push(rest);
    }
    return [0x00, 0x01, 0x78, ...length, ...coded];
  };
  const decoder = new HpackDecoder();
  assert.equal(decode(decoder, block(huffLiteral(all.subarray(0, 10)), huffLiteral(long))), [
    ['x', all.subarray(0, 10).toString('latin1')],
    ['x', text],
  ]);
});

grpc.run();
