// Go's base64.StdEncoding.Decode, which encoding/json uses for []byte fields: padding required,
// CR and LF skipped, and the same "illegal base64 data at input byte N" positions etcd's gateway
// reports (Node's decoder forgives what Go refuses, so it cannot be used here).

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const decodeMap = new Int16Array(256).fill(-1);
for (let i = 0; i < alphabet.length; i++) decodeMap[alphabet.charCodeAt(i)] = i;

const pad = 0x3d; // '='
const isNewline = (b: number | undefined): boolean => b === 0x0a || b === 0x0d;

export type Base64Result = { readonly bytes: Buffer } | { readonly error: string };

const corrupt = (at: number): Base64Result => ({ error: `illegal base64 data at input byte ${at}` });

/**
 * Whole quanta of the alphabet with at most two pads at the end: what every encoder writes. Go and
 * Node decode these alike (both ignore the unused low bits of the last quantum), so Node does it.
 */
const wellFormed = /^[A-Za-z0-9+/]*={0,2}$/;

export function goBase64Decode(text: string): Base64Result {
  if (text.length % 4 === 0 && wellFormed.test(text)) return { bytes: Buffer.from(text, 'base64') };
  const src = Buffer.from(text, 'utf8');
  const dst = Buffer.allocUnsafe(Math.floor(src.length / 4) * 3 + 3);
  let n = 0;
  let si = 0;
  while (si < src.length) {
    const dbuf = [0, 0, 0, 0];
    let dlen = 4;
    let trailing: number | undefined;
    let j = 0;
    for (; j < 4; j++) {
      if (si === src.length) {
        if (j === 0) return { bytes: dst.subarray(0, n) };
        // an unfinished quantum: Go requires padding
        return corrupt(si - j);
      }
      const c = src[si] ?? 0;
      si++;
      const v = decodeMap[c] ?? -1;
      if (v >= 0) {
        dbuf[j] = v;
        continue;
      }
      if (isNewline(c)) {
        j--;
        continue;
      }
      if (c !== pad) return corrupt(si - 1);
      // padding: the end of the data
      if (j === 0 || j === 1) return corrupt(si - 1);
      if (j === 2) {
        while (si < src.length && isNewline(src[si])) si++;
        if (si === src.length) return corrupt(src.length);
        if (src[si] !== pad) return corrupt(si - 1);
        si++;
      }
      while (si < src.length && isNewline(src[si])) si++;
      if (si < src.length) trailing = si;
      dlen = j;
      break;
    }
    const val = ((dbuf[0] ?? 0) << 18) | ((dbuf[1] ?? 0) << 12) | ((dbuf[2] ?? 0) << 6) | (dbuf[3] ?? 0);
    const out = [(val >> 16) & 0xff, (val >> 8) & 0xff, val & 0xff];
    for (let k = 0; k < dlen - 1; k++) dst[n++] = out[k] ?? 0;
    if (trailing !== undefined) return corrupt(trailing);
    if (dlen < 4) break;
  }
  return { bytes: dst.subarray(0, n) };
}
