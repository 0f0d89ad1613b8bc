// etcd's URL flags as its types.NewURLs and types.NewURLsMap parse them (Go's net/url rules): one
// module apart from the flag table so that commands needing only these (`lattice snapshot restore`)
// do not load the whole configuration layer at start-up.

/** Parses one URL as etcd's types.NewURLs does and returns Go's url.String() form. Throws Error with etcd's text. */
export function normalizeUrl(input: string): string {
  const s = input.trim();
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(s);
  if (!m) {
    if (s === '') throw new Error('URL scheme must be http, https, unix, or unixs: ');
    throw new Error(`parse ${JSON.stringify(s)}: missing protocol scheme`);
  }
  const scheme = (m[1] ?? '').toLowerCase();
  const rest = m[2] ?? '';
  if (scheme !== 'http' && scheme !== 'https' && scheme !== 'unix' && scheme !== 'unixs') {
    throw new Error(`URL scheme must be http, https, unix, or unixs: ${s}`);
  }
  if (!rest.startsWith('//')) throw new Error(`URL address does not have the form "host:port": ${s}`);
  const afterSlashes = rest.slice(2);
  const end = afterSlashes.search(/[/?#]/);
  const authority = end < 0 ? afterSlashes : afterSlashes.slice(0, end);
  const tail = end < 0 ? '' : afterSlashes.slice(end);
  const host = authority.includes('@') ? authority.slice(authority.lastIndexOf('@') + 1) : authority;
  if (splitHostPort(host) === undefined) throw new Error(`URL address does not have the form "host:port": ${s}`);
  const path = tail.replace(/[?#].*$/s, '');
  if (path !== '') throw new Error(`URL must not contain a path: ${s}`);
  return `${scheme}://${authority}${tail}`;
}

/** Go's net.SplitHostPort, enough for URL hosts: `host:port` or `[v6]:port`; undefined when malformed. */
export function splitHostPort(hostport: string): { host: string; port: string } | undefined {
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0 || hostport[close + 1] !== ':') return undefined;
    return { host: hostport.slice(1, close), port: hostport.slice(close + 2) };
  }
  const i = hostport.lastIndexOf(':');
  if (i < 0) return undefined;
  const host = hostport.slice(0, i);
  if (host.includes(':')) return undefined; // too many colons
  return { host, port: hostport.slice(i + 1) };
}

/** A comma-separated URL list as etcd's flag parses it: each normalised, deduplicated, sorted. */
export function parseUrlList(csv: string): string[] {
  const parts = csv.split(',');
  if (parts.length === 0) throw new Error('no valid URLs given');
  const urls = [...new Set(parts.map(normalizeUrl))];
  return urls.sort(byteOrder);
}

export const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** etcd's initial-cluster syntax (types.NewURLsMap): `name=url,name=url2,other=url`. */
export function parseInitialCluster(s: string): Map<string, string[]> {
  const raw = new Map<string, string[]>();
  for (const entry of s.split(',')) {
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const name = eq < 0 ? entry : entry.slice(0, eq);
    const value = eq < 0 ? '' : entry.slice(eq + 1);
    raw.set(name, [...(raw.get(name) ?? []), value]);
  }
  const out = new Map<string, string[]>();
  for (const [name, urls] of raw) out.set(name, [...new Set(urls.map(normalizeUrl))].sort(byteOrder));
  return out;
}

/** etcd's URLsMap.String(): `name=url` pairs sorted. */
export function formatInitialCluster(m: ReadonlyMap<string, readonly string[]>): string {
  const pairs: string[] = [];
  for (const [name, urls] of m) for (const u of urls) pairs.push(`${name}=${u}`);
  return pairs.sort(byteOrder).join(',');
}
