// etcd's --listen-metrics-urls: a plain HTTP server (HTTPS with the client TLS settings, as etcd's
// embed does) serving /metrics, /health, /livez and /readyz, apart from the client port so that
// scrapers and probes need no client access.
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { listen, parseListenUrl, type ListenAddress } from '../adapters/client-port.js';
import type { HttpRequestListener } from '../adapters/http/http-router.js';
import type { TlsSide } from '../tls/tls-side.js';

export interface MetricsListener {
  readonly addresses: readonly ListenAddress[];
  close(): Promise<void>;
}

const closeServer = (server: http.Server): Promise<void> =>
  new Promise((resolve) => {
    server.closeAllConnections();
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });

export async function startMetricsListener(urls: readonly string[], handler: HttpRequestListener, tls: TlsSide | undefined, onError: (err: Error) => void): Promise<MetricsListener> {
  const servers: http.Server[] = [];
  const unfollow: (() => void)[] = [];
  const addresses: ListenAddress[] = [];
  const close = async (): Promise<void> => {
    for (const u of unfollow) u();
    await Promise.all(servers.map(closeServer));
  };
  try {
    for (const raw of urls) {
      const u = parseListenUrl(raw);
      let server: http.Server;
      if (u.secure) {
        if (tls === undefined) throw new Error(`TLS key/cert (--cert-file, --key-file) must be provided for metrics url ${u.url} with HTTPS scheme`);
        const secure = https.createServer(tls.serverOptions(['http/1.1']), handler);
        unfollow.push(tls.follow(secure));
        // etcd's metrics listener makes the same checks after the handshake (CRL, allowed hostname)
        const side = tls;
        secure.prependListener('secureConnection', (socket: TLSSocket) => {
          const verdict = side.check(socket);
          if (!verdict.ok) side.refuse(`metrics TLS connection from ${socket.remoteAddress ?? '?'} refused: ${verdict.reason}`, undefined, socket);
        });
        server = secure;
      } else {
        server = http.createServer(handler);
      }
      server.on('clientError', (_err, socket) => socket.destroy());
      servers.push(server);
      addresses.push({ url: u.url, host: u.host, port: await listen(server, u.host, u.port) });
      // An accept failure (EMFILE) is an 'error' event: without a listener it would end the process.
      server.on('error', onError);
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { addresses, close };
}
