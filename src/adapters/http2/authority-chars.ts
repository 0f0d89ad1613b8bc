// Which octets nghttp2 accepts in `:authority` (and `host`): RFC 3986 authority characters, as in its
// VALID_AUTHORITY_CHARS table. Anything else fails the stream with PROTOCOL_ERROR.

const validAuthorityOctets: Uint8Array = (() => {
  const table = new Uint8Array(256);
  const allowed = "!$%&'()*+,-.:;=@[]_~";
  for (let c = 0x30; c <= 0x39; c++) table[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) table[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) table[c] = 1;
  for (const ch of allowed) table[ch.charCodeAt(0)] = 1;
  return table;
})();

/** What replaces a rejected octet: one octet for one, so HPACK table entry sizes do not change. */
export const authorityReplacementOctet = 0x5f; // '_'

/** Whether nghttp2 would accept buf[start, end) as an `:authority` value. */
export function isValidAuthority(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (validAuthorityOctets[buf[i]!] !== 1) return false;
  return true;
}

/** A copy of buf[start, end) with every rejected octet replaced by `_`. */
export function sanitizeAuthority(buf: Uint8Array, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  for (let i = start; i < end; i++) {
    const octet = buf[i]!;
    out[i - start] = validAuthorityOctets[octet] === 1 ? octet : authorityReplacementOctet;
  }
  return out;
}
