// Names of HPACK's static table (RFC 7541 Appendix A), index 1..61. Only the names matter here: a
// dynamic table entry's size counts its name's length, and index 1 is `:authority`.

// prettier-ignore
const staticNames: readonly string[] = [
  ':authority', ':method', ':method', ':path', ':path', ':scheme', ':scheme', ':status', ':status',
  ':status', ':status', ':status', ':status', ':status', 'accept-charset', 'accept-encoding',
  'accept-language', 'accept-ranges', 'accept', 'access-control-allow-origin', 'age', 'allow',
  'authorization', 'cache-control', 'content-disposition', 'content-encoding', 'content-language',
  'content-length', 'content-location', 'content-range', 'content-type', 'cookie', 'date', 'etag',
  'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range',
  'if-unmodified-since', 'last-modified', 'link', 'location', 'max-forwards', 'proxy-authenticate',
  'proxy-authorization', 'range', 'referer', 'refresh', 'retry-after', 'server', 'set-cookie',
  'strict-transport-security', 'transfer-encoding', 'user-agent', 'vary', 'via', 'www-authenticate',
];

export const staticTableLength = staticNames.length;
export const authorityStaticIndex = 1;

/** Octet length of the name at static index 1..61 (index 0 unused). */
export const staticNameBytes: Uint8Array = Uint8Array.from([0, ...staticNames.map((n) => n.length)]);
