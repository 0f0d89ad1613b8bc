// The few DER encodings a self-signed certificate needs (X.690). Writing, never parsing: node's
// X509Certificate and OpenSSL read what this writes.

export function derElement(tag: number, content: Uint8Array): Buffer {
  const n = content.length;
  let header: number[];
  if (n < 0x80) header = [tag, n];
  else {
    const lengthBytes: number[] = [];
    for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest % 256);
    header = [tag, 0x80 | lengthBytes.length, ...lengthBytes];
  }
  return Buffer.concat([Buffer.from(header), content]);
}

export const derSequence = (...items: Uint8Array[]): Buffer => derElement(0x30, Buffer.concat(items));
export const derSet = (...items: Uint8Array[]): Buffer => derElement(0x31, Buffer.concat(items));
export const derOctetString = (bytes: Uint8Array): Buffer => derElement(0x04, bytes);
export const derUtf8String = (s: string): Buffer => derElement(0x0c, Buffer.from(s, 'utf8'));
export const derBoolean = (v: boolean): Buffer => derElement(0x01, Buffer.from([v ? 0xff : 0]));
/** A bit string whose last byte has `unusedBits` padding bits. */
export const derBitString = (bytes: Uint8Array, unusedBits = 0): Buffer => derElement(0x03, Buffer.concat([Buffer.from([unusedBits]), bytes]));
/** [n] EXPLICIT: a constructed context tag around one element. */
export const derExplicit = (n: number, inner: Uint8Array): Buffer => derElement(0xa0 | n, inner);
/** [n] IMPLICIT primitive: the content with a context tag. */
export const derImplicit = (n: number, content: Uint8Array): Buffer => derElement(0x80 | n, content);

/** A non-negative INTEGER from big-endian magnitude bytes (a leading 0 keeps it positive). */
export function derUnsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const needsZero = (trimmed[0] ?? 0) >= 0x80;
  return derElement(0x02, needsZero ? Buffer.concat([Buffer.from([0]), trimmed]) : Buffer.from(trimmed));
}

export function derOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const [a = 0, b = 0, ...rest] = arcs;
  const bytes: number[] = [40 * a + b];
  for (const arc of rest) {
    const groups: number[] = [];
    for (let v = arc; ; v = Math.floor(v / 128)) {
      groups.unshift(v % 128);
      if (v < 128) break;
    }
    for (let i = 0; i < groups.length; i++) bytes.push((groups[i] ?? 0) | (i < groups.length - 1 ? 0x80 : 0));
  }
  return derElement(0x06, Buffer.from(bytes));
}

/** UTCTime before 2050, GeneralizedTime from then on (RFC 5280 4.1.2.5). */
export function derTime(date: Date): Buffer {
  const iso = date.toISOString(); // 2026-12-06T08:22:05.123Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, ''); // 20261206082205
  return date.getUTCFullYear() < 2050 ? derElement(0x17, Buffer.from(digits.slice(2) + 'Z')) : derElement(0x18, Buffer.from(digits + 'Z'));
}
