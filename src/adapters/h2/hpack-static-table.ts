// HPACK's static table with values (RFC 7541 Appendix A), shared by the decoder and the encoder.

/** Entries 1..61 as name, value pairs flattened; index 0 is unused so that index i is at [2i, 2i+1]. */
// prettier-ignore
const entries: readonly string[] = [
  '', '',
  ':authority', '',
  ':method', 'GET',
  ':method', 'POST',
  ':path', '/',
  ':path', '/index.html',
  ':scheme', 'http',
  ':scheme', 'https',
  ':status', '200',
  ':status', '204',
  ':status', '206',
  ':status', '304',
  ':status', '400',
  ':status', '404',
  ':status', '500',
  'accept-charset', '',
  'accept-encoding', 'gzip, deflate',
  'accept-language', '',
  'accept-ranges', '',
  'accept', '',
  'access-control-allow-origin', '',
  'age', '',
  'allow', '',
  'authorization', '',
  'cache-control', '',
  'content-disposition', '',
  'content-encoding', '',
  'content-language', '',
  'content-length', '',
  'content-location', '',
  'content-range', '',
  'content-type', '',
  'cookie', '',
  'date', '',
  'etag', '',
  'expect', '',
  'expires', '',
  'from', '',
  'host', '',
  'if-match', '',
  'if-modified-since', '',
  'if-none-match', '',
  'if-range', '',
  'if-unmodified-since', '',
  'last-modified', '',
  'link', '',
  'location', '',
  'max-forwards', '',
  'proxy-authenticate', '',
  'proxy-authorization', '',
  'range', '',
  'referer', '',
  'refresh', '',
  'retry-after', '',
  'server', '',
  'set-cookie', '',
  'strict-transport-security', '',
  'transfer-encoding', '',
  'user-agent', '',
  'vary', '',
  'via', '',
  'www-authenticate', '',
];

/** The number of static entries (61); dynamic entries start at index staticTableLength + 1. */
export const staticTableLength = entries.length / 2 - 1;

/** Names by index, 1..61 (index 0 is ''). */
export const staticNames: readonly string[] = entries.filter((_, i) => i % 2 === 0);
/** Values by index, 1..61 (index 0 is ''). */
export const staticValues: readonly string[] = entries.filter((_, i) => i % 2 === 1);

/** The lowest static index with this name; entries sharing a name are contiguous. */
export const staticNameIndex: ReadonlyMap<string, number> = (() => {
  const map = new Map<string, number>();
  for (let i = staticTableLength; i >= 1; i--) map.set(staticNames[i]!, i);
  return map;
})();
