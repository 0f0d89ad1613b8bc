// The member's two TLS sides from its config, with etcd's warnings for settings that do not apply.
import type { ServerConfig } from '../server/config.js';
import type { Logger } from '../server/logger.js';
import { TlsSide } from './tls-side.js';
import { hasCertFiles, tlsEnabled, type TransportSecurity } from './transport-security.js';

export interface TlsSides {
  readonly clientTls: TlsSide | undefined;
  readonly peerTls: TlsSide | undefined;
}

async function openSide(kind: 'client' | 'peer', security: TransportSecurity, urls: readonly string[], dataDir: string, log: Logger): Promise<TlsSide | undefined> {
  const flagPrefix = kind === 'client' ? '--' : '--peer-';
  if (security.autoTls && hasCertFiles(security)) log.warn(`ignoring ${kind} auto TLS since certs given`);
  // A member dials https peer URLs of others even when it listens on http: the peer side opens
  // whenever it is configured; the client side only when a client URL is https.
  const secureUrls = urls.filter((u) => u.startsWith('https:'));
  if (kind === 'client' && secureUrls.length === 0) {
    if (tlsEnabled(security)) log.warn(`scheme is HTTP while key and cert files are present; ignoring key and cert files (${flagPrefix}cert-file)`);
    return undefined;
  }
  const side = await TlsSide.open(security, {
    kind,
    dataDir,
    listenUrls: secureUrls.length > 0 ? secureUrls : urls,
    log: (message, err, level) => {
      if (err === undefined) return log.info(message);
      const fields = { error: err instanceof Error ? err.message : String(err) };
      if (level === 'error') log.error(message, fields);
      else log.warn(message, fields);
    },
  });
  if (side !== undefined) log.info(`starting with ${kind} TLS`, { cert: side.context.paths.certFile, 'client-cert-auth': security.clientCertAuth, 'trusted-ca': security.files.trustedCaFile, 'crl-file': security.files.crlFile });
  return side;
}

export async function openTlsSides(config: ServerConfig, log: Logger): Promise<TlsSides> {
  const tlsLog = log.named('tls');
  const clientTls = await openSide('client', config.clientTls, config.listenClientUrls, config.dataDir, tlsLog);
  try {
    const peerTls = await openSide('peer', config.peerTls, config.listenPeerUrls, config.dataDir, tlsLog);
    return { clientTls, peerTls };
  } catch (err) {
    clientTls?.close();
    throw err;
  }
}
