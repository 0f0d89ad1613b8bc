// etcd's --host-whitelist (CVE-2018-5702, DNS rebinding): a browser tricked into resolving an
// attacker's name to this server sends that name as Host, so the Host header tells a rebinding
// request apart. Two policies share one flag:
// - etcd's HTTP handlers (/v3 gateway, /health, /version, …): as embed/serve.go, only plain-HTTP
//   requests are checked and only when the list is explicit (`*` or empty allows every host); a
//   refused request gets 421 with etcd's text.
// - Lattice's /api (and the console's /ui): checked even with the default `*`, where a Host must be
//   an IP literal, `localhost`, or a host of the listen/advertised client URLs; an explicit list
//   allows only its hosts. TLS requests are exempt in both: a rebinding name fails the certificate.
import { isIP } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface HostWhitelist {
  /** --host-whitelist as given (comma-split); `*` or empty: etcd allows every host. */
  readonly listed: readonly string[];
  /** Hosts of --listen-client-urls and --advertise-client-urls: what /api accepts by default. */
  readonly clientUrlHosts: readonly string[];
}

export const allowAllHosts: HostWhitelist = { listed: ['*'], clientUrlHosts: [] };

/** The host name of a Host header, lower-cased, without port or IPv6 brackets (Go's GetHostname). */
export function hostnameOf(hostHeader: string | undefined): string {
  const h = (hostHeader ?? '').trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? h : h.slice(1, end);
  }
  const colon = h.lastIndexOf(':');
  // a bare IPv6 literal has several colons and no port
  return colon !== -1 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

/** The host of a URL such as http://10.0.0.1:2379, in hostnameOf's form; undefined when unparsable. */
export function urlHost(url: string): string | undefined {
  try {
    return hostnameOf(new URL(url).host);
  } catch {
    return undefined;
  }
}

const allowsEverything = (w: HostWhitelist): boolean => w.listed.length === 0 || w.listed.includes('*');

const isEncrypted = (req: IncomingMessage): boolean => (req.socket as { encrypted?: boolean }).encrypted === true;

/** etcd's IsHostWhitelisted: true for every host unless an explicit list is set. */
export function etcdAllowsHost(w: HostWhitelist, req: IncomingMessage): boolean {
  if (isEncrypted(req) || allowsEverything(w)) return true;
  const host = hostnameOf(req.headers.host);
  return w.listed.some((l) => hostnameOf(l) === host);
}

/** The stricter rule for /api and /ui (see the file comment). */
export function apiAllowsHost(w: HostWhitelist, req: IncomingMessage): boolean {
  if (isEncrypted(req)) return true;
  const host = hostnameOf(req.headers.host);
  if (!allowsEverything(w)) return w.listed.some((l) => hostnameOf(l) === host);
  if (host === 'localhost' || isIP(host) !== 0) return true;
  return w.clientUrlHosts.some((h) => h === host);
}

/** etcd's refusal text (embed/serve.go errCVE20185702). */
export function hostRefusalText(host: string): string {
  return `
etcd received your request, but the Host header was unrecognized.

To fix this, choose one of the following options:
- Enable TLS, then any HTTPS request will be allowed.
- Add the hostname you want to use to the whitelist in settings.
  - e.g. etcd --host-whitelist ${JSON.stringify(host)}

This requirement has been added to help prevent "DNS Rebinding" attacks (CVE-2018-5702).
`;
}

/** An HttpHandler in front of etcd's handlers: answers 421 for a Host outside an explicit list. */
export function etcdHostCheck(w: HostWhitelist): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if (etcdAllowsHost(w, req)) return false;
    res.statusCode = 421;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.end(`${hostRefusalText(hostnameOf(req.headers.host))}\n`);
    return true;
  };
}

/** The whitelist from --host-whitelist and the client URLs (listen and advertised). */
export function hostWhitelistFrom(listed: readonly string[], clientUrls: readonly string[]): HostWhitelist {
  const hosts = clientUrls.map(urlHost).filter((h): h is string => h !== undefined && h !== '');
  return { listed, clientUrlHosts: [...new Set(hosts)] };
}
