// HPACK's static Huffman code (RFC 7541 Appendix B) and a decoder for it. The decoder walks the code
// tree four bits at a time through a table built once at load: no symbol is shorter than 5 bits, so
// one nibble completes at most one symbol.

/** RFC 7541 Appendix B: for symbols 0..255 and EOS (256), the code (right-aligned) and its bit length. */
// prettier-ignore
const huffmanCodeTable: readonly number[] = [
  0x1ff8, 13, 0x7fffd8, 23, 0xfffffe2, 28, 0xfffffe3, 28,
  0xfffffe4, 28, 0xfffffe5, 28, 0xfffffe6, 28, 0xfffffe7, 28,
  0xfffffe8, 28, 0xffffea, 24, 0x3ffffffc, 30, 0xfffffe9, 28,
  0xfffffea, 28, 0x3ffffffd, 30, 0xfffffeb, 28, 0xfffffec, 28,
  0xfffffed, 28, 0xfffffee, 28, 0xfffffef, 28, 0xffffff0, 28,
  0xffffff1, 28, 0xffffff2, 28, 0x3ffffffe, 30, 0xffffff3, 28,
  0xffffff4, 28, 0xffffff5, 28, 0xffffff6, 28, 0xffffff7, 28,
  0xffffff8, 28, 0xffffff9, 28, 0xffffffa, 28, 0xffffffb, 28,
  0x14, 6, 0x3f8, 10, 0x3f9, 10, 0xffa, 12,
  0x1ff9, 13, 0x15, 6, 0xf8, 8, 0x7fa, 11,
  0x3fa, 10, 0x3fb, 10, 0xf9, 8, 0x7fb, 11,
  0xfa, 8, 0x16, 6, 0x17, 6, 0x18, 6,
  0x0, 5, 0x1, 5, 0x2, 5, 0x19, 6,
  0x1a, 6, 0x1b, 6, 0x1c, 6, 0x1d, 6,
  0x1e, 6, 0x1f, 6, 0x5c, 7, 0xfb, 8,
  0x7ffc, 15, 0x20, 6, 0xffb, 12, 0x3fc, 10,
  0x1ffa, 13, 0x21, 6, 0x5d, 7, 0x5e, 7,
  0x5f, 7, 0x60, 7, 0x61, 7, 0x62, 7,
  0x63, 7, 0x64, 7, 0x65, 7, 0x66, 7,
  0x67, 7, 0x68, 7, 0x69, 7, 0x6a, 7,
  0x6b, 7, 0x6c, 7, 0x6d, 7, 0x6e, 7,
  0x6f, 7, 0x70, 7, 0x71, 7, 0x72, 7,
  0xfc, 8, 0x73, 7, 0xfd, 8, 0x1ffb, 13,
  0x7fff0, 19, 0x1ffc, 13, 0x3ffc, 14, 0x22, 6,
  0x7ffd, 15, 0x3, 5, 0x23, 6, 0x4, 5,
  0x24, 6, 0x5, 5, 0x25, 6, 0x26, 6,
  0x27, 6, 0x6, 5, 0x74, 7, 0x75, 7,
  0x28, 6, 0x29, 6, 0x2a, 6, 0x7, 5,
  0x2b, 6, 0x76, 7, 0x2c, 6, 0x8, 5,
  0x9, 5, 0x2d, 6, 0x77, 7, 0x78, 7,
  0x79, 7, 0x7a, 7, 0x7b, 7, 0x7ffe, 15,
  0x7fc, 11, 0x3ffd, 14, 0x1ffd, 13, 0xffffffc, 28,
  0xfffe6, 20, 0x3fffd2, 22, 0xfffe7, 20, 0xfffe8, 20,
  0x3fffd3, 22, 0x3fffd4, 22, 0x3fffd5, 22, 0x7fffd9, 23,
  0x3fffd6, 22, 0x7fffda, 23, 0x7fffdb, 23, 0x7fffdc, 23,
  0x7fffdd, 23, 0x7fffde, 23, 0xffffeb, 24, 0x7fffdf, 23,
  0xffffec, 24, 0xffffed, 24, 0x3fffd7, 22, 0x7fffe0, 23,
  0xffffee, 24, 0x7fffe1, 23, 0x7fffe2, 23, 0x7fffe3, 23,
  0x7fffe4, 23, 0x1fffdc, 21, 0x3fffd8, 22, 0x7fffe5, 23,
  0x3fffd9, 22, 0x7fffe6, 23, 0x7fffe7, 23, 0xffffef, 24,
  0x3fffda, 22, 0x1fffdd, 21, 0xfffe9, 20, 0x3fffdb, 22,
  0x3fffdc, 22, 0x7fffe8, 23, 0x7fffe9, 23, 0x1fffde, 21,
  0x7fffea, 23, 0x3fffdd, 22, 0x3fffde, 22, 0xfffff0, 24,
  0x1fffdf, 21, 0x3fffdf, 22, 0x7fffeb, 23, 0x7fffec, 23,
  0x1fffe0, 21, 0x1fffe1, 21, 0x3fffe0, 22, 0x1fffe2, 21,
  0x7fffed, 23, 0x3fffe1, 22, 0x7fffee, 23, 0x7fffef, 23,
  0xfffea, 20, 0x3fffe2, 22, 0x3fffe3, 22, 0x3fffe4, 22,
  0x7ffff0, 23, 0x3fffe5, 22, 0x3fffe6, 22, 0x7ffff1, 23,
  0x3ffffe0, 26, 0x3ffffe1, 26, 0xfffeb, 20, 0x7fff1, 19,
  0x3fffe7, 22, 0x7ffff2, 23, 0x3fffe8, 22, 0x1ffffec, 25,
  0x3ffffe2, 26, 0x3ffffe3, 26, 0x3ffffe4, 26, 0x7ffffde, 27,
  0x7ffffdf, 27, 0x3ffffe5, 26, 0xfffff1, 24, 0x1ffffed, 25,
  0x7fff2, 19, 0x1fffe3, 21, 0x3ffffe6, 26, 0x7ffffe0, 27,
  0x7ffffe1, 27, 0x3ffffe7, 26, 0x7ffffe2, 27, 0xfffff2, 24,
  0x1fffe4, 21, 0x1fffe5, 21, 0x3ffffe8, 26, 0x3ffffe9, 26,
  0xffffffd, 28, 0x7ffffe3, 27, 0x7ffffe4, 27, 0x7ffffe5, 27,
  0xfffec, 20, 0xfffff3, 24, 0xfffed, 20, 0x1fffe6, 21,
  0x3fffe9, 22, 0x1fffe7, 21, 0x1fffe8, 21, 0x7ffff3, 23,
  0x3fffea, 22, 0x3fffeb, 22, 0x1ffffee, 25, 0x1ffffef, 25,
  0xfffff4, 24, 0xfffff5, 24, 0x3ffffea, 26, 0x7ffff4, 23,
  0x3ffffeb, 26, 0x7ffffe6, 27, 0x3ffffec, 26, 0x3ffffed, 26,
  0x7ffffe7, 27, 0x7ffffe8, 27, 0x7ffffe9, 27, 0x7ffffea, 27,
  0x7ffffeb, 27, 0xffffffe, 28, 0x7ffffec, 27, 0x7ffffed, 27,
  0x7ffffee, 27, 0x7ffffef, 27, 0x7fffff0, 27, 0x3ffffee, 26,
  0x3fffffff, 30,
];

const symbolCount = 257;
const eosSymbol = 256;

/** The code of a symbol, right-aligned, and its length in bits. */
export function huffmanCode(symbol: number): { code: number; bits: number } {
  const code = huffmanCodeTable[symbol * 2];
  const bits = huffmanCodeTable[symbol * 2 + 1];
  if (code === undefined || bits === undefined) throw new RangeError(`no Huffman code for symbol ${symbol}`);
  return { code, bits };
}

// Decode table, one Int32 per (tree node, nibble): bits 0-7 the node reached, bit 8 "a symbol was
// completed", bits 9-16 that symbol, bit 17 "EOS or an invalid path was hit". Node 0 is the root.
const emitFlag = 1 << 8;
const symbolShift = 9;
const failFlag = 1 << 17;
const nodeMask = 0xff;

function buildDecodeTables(): { transitions: Int32Array; acceptsEnd: Uint8Array } {
  // binary tree of the code: internal nodes 0..255; a child >= 0 is a node, < 0 is ~symbol
  const children = new Int32Array(256 * 2).fill(0x7fffffff);
  const depth = new Uint8Array(256);
  const allOnes = new Uint8Array(256);
  allOnes[0] = 1;
  let nodes = 1;
  for (let symbol = 0; symbol < symbolCount; symbol++) {
    const { code, bits } = huffmanCode(symbol);
    let node = 0;
    for (let i = bits - 1; i >= 0; i--) {
      const bit = (code >>> i) & 1;
      const slot = node * 2 + bit;
      if (i === 0) {
        children[slot] = ~symbol;
        break;
      }
      let next = children[slot]!;
      if (next === 0x7fffffff) {
        next = nodes++;
        children[slot] = next;
        depth[next] = depth[node]! + 1;
        allOnes[next] = allOnes[node]! & bit;
      }
      node = next;
    }
  }
  if (nodes !== 256) throw new Error(`Huffman tree has ${nodes} internal nodes, expected 256`);

  const transitions = new Int32Array(256 * 16);
  for (let node = 0; node < 256; node++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let at = node;
      let entry = 0;
      for (let i = 3; i >= 0; i--) {
        const child = children[at * 2 + ((nibble >>> i) & 1)]!;
        if (child >= 0) {
          at = child;
          continue;
        }
        const symbol = ~child;
        if (symbol === eosSymbol) {
          entry |= failFlag;
          break;
        }
        entry |= emitFlag | (symbol << symbolShift);
        at = 0;
      }
      transitions[node * 16 + nibble] = entry | at;
    }
  }
  // a string may end inside a code only on a prefix of EOS (all ones) of at most 7 bits (§5.2)
  const acceptsEnd = new Uint8Array(256);
  for (let node = 0; node < 256; node++) acceptsEnd[node] = allOnes[node]! && depth[node]! <= 7 ? 1 : 0;
  return { transitions, acceptsEnd };
}

const { transitions, acceptsEnd } = buildDecodeTables();

/**
 * Decodes src[start, end) as an HPACK Huffman string. Returns the decoded length, or -1 when the input
 * is not a valid encoding (EOS inside, padding longer than 7 bits or not all ones). With `out`, the
 * decoded bytes are written at out[0..]; `out` must hold at least floor((end - start) * 8 / 5) bytes.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number, out?: Uint8Array): number {
  let node = 0;
  let length = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    let entry = transitions[node * 16 + (byte >>> 4)]!;
    if (entry & failFlag) return -1;
    if (entry & emitFlag) {
      if (out !== undefined) out[length] = (entry >>> symbolShift) & 0xff;
      length++;
    }
    node = entry & nodeMask;
    entry = transitions[node * 16 + (byte & 0x0f)]!;
    if (entry & failFlag) return -1;
    if (entry & emitFlag) {
      if (out !== undefined) out[length] = (entry >>> symbolShift) & 0xff;
      length++;
    }
    node = entry & nodeMask;
  }
  return acceptsEnd[node] === 1 ? length : -1;
}

/** An upper bound on the decoded length of `encodedBytes` bytes of Huffman code (5 bits per symbol at best). */
export const huffmanMaxDecodedBytes = (encodedBytes: number): number => Math.floor((encodedBytes * 8) / 5);
