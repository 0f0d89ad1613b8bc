// One side's TLS at run time (the client port or the peer transport): the reloading context, node's
// server and client options made from it, the checks etcd makes once a handshake is done (allowed
// CN / hostname, then the CRL's revoked serials), and a log for refused handshakes that cannot be
// flooded.
import path from 'node:path';
import type net from 'node:net';
import tls from 'node:tls';
import { ensureSelfSignedFiles, listenUrlHosts } from './auto-tls.js';
import { canonicalSerial, type SerialHex } from './crl.js';
import { ReloadingTlsContext, type TlsLog, type TlsReloadTimers } from './reloading-tls-context.js';
import { requiresClientCert } from './tls-material.js';
import { commonNameOf } from './verified-common-name.js';
import { hasCertFiles, type TransportSecurity } from './transport-security.js';

/** A connection that has not finished its TLS handshake by then is dropped (a stalled client holds a socket, nothing more). */
export const tlsHandshakeTimeoutMs = 10_000;
/** Refused handshakes: at most this many lines per window, then one line with the count. */
const refusalLogBurst = 1;
const refusalLogWindowMs = 60_000;

export interface TlsSideOptions {
  readonly kind: 'client' | 'peer';
  readonly dataDir: string;
  /** The listen URLs (auto-TLS makes its certificate for their hosts). */
  readonly listenUrls: readonly string[];
  readonly log: TlsLog;
  readonly pollIntervalMs?: number;
  readonly timers?: TlsReloadTimers;
  readonly handshakeTimeoutMs?: number;
}

export interface VerifiedPeer {
  /** CN of the certificate the other end presented and that verified, if any. */
  readonly verifiedCommonName: string | undefined;
}

/** A chain longer than this is not walked further (OpenSSL's default verify depth is 100). */
const maxChainLength = 100;

/**
 * The first serial the CRL lists among the certificates the other end presented: the leaf, then up
 * the issuer links node gives (what the client sent, completed from our trusted CAs) to a
 * self-issued certificate. etcd's checkCRL looks up each certificate the client sent; an
 * intermediate that only our trust store holds is looked up here too.
 */
function revokedSerialInChain(socket: tls.TLSSocket, revoked: ReadonlySet<SerialHex>): SerialHex | undefined {
  let cert: tls.DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<tls.DetailedPeerCertificate>();
  for (let depth = 0; cert !== undefined && Object.keys(cert).length > 0 && !seen.has(cert) && depth < maxChainLength; depth++) {
    seen.add(cert);
    if (typeof cert.serialNumber === 'string') {
      const serial = canonicalSerial(cert.serialNumber);
      if (revoked.has(serial)) return serial;
    }
    // node links a self-issued certificate to itself
    const issuer: tls.DetailedPeerCertificate | undefined = cert.issuerCertificate;
    if (issuer === cert || (issuer !== undefined && issuer.fingerprint256 === cert.fingerprint256)) break;
    cert = issuer;
  }
  return undefined;
}

function pinHandshake(socket: tls.TLSSocket): void {
  socket.disableRenegotiation();
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ERR_TLS_RENEGOTIATION_DISABLED') socket.destroy();
  });
}

export class TlsSide {
  private readonly refusals = { windowStartMs: 0, logged: 0, suppressed: 0 };

  private constructor(
    readonly security: TransportSecurity,
    readonly context: ReloadingTlsContext,
    private readonly log: TlsLog,
    private readonly handshakeTimeoutMs: number,
    /** Self-signed: peers cannot verify each other's certificate (etcd skips verification then). */
    readonly selfSigned: boolean,
  ) {}

  /** undefined when this side has no TLS (no cert/key files and no auto-TLS). */
  static async open(security: TransportSecurity, options: TlsSideOptions): Promise<TlsSide | undefined> {
    let paths = security.files;
    let selfSigned = false;
    if (!hasCertFiles(security)) {
      if (!security.autoTls) return undefined;
      const made = await ensureSelfSignedFiles(path.join(options.dataDir, 'fixtures', options.kind), listenUrlHosts(options.listenUrls));
      paths = { ...made, trustedCaFile: security.files.trustedCaFile, crlFile: security.files.crlFile };
      selfSigned = true;
    }
    const context = await ReloadingTlsContext.start(paths, security, {
      log: options.log,
      ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
      ...(options.timers !== undefined ? { timers: options.timers } : {}),
    });
    return new TlsSide(security, context, options.log, options.handshakeTimeoutMs ?? tlsHandshakeTimeoutMs, selfSigned);
  }

  /**
   * For tls.createServer; `alpn` lists the protocols served, in order of preference: the first one
   * the client offers is chosen. A client offering none of them gets none (it may still speak).
   */
  serverOptions(alpn: readonly string[]): tls.TlsOptions {
    const verify = requiresClientCert(this.security);
    return {
      ...this.context.options,
      requestCert: verify,
      rejectUnauthorized: verify,
      handshakeTimeout: this.handshakeTimeoutMs,
      ALPNCallback: ({ protocols }) => alpn.find((p) => protocols.includes(p)),
    };
  }

  /**
   * For dialing (a member toward its peers): the same certificate and the trusted CA. No CRL check
   * on the certificate the dialed peer serves: etcd's dialer (TLSInfo.ClientConfig) makes none.
   */
  clientOptions(): tls.ConnectionOptions {
    return {
      ...this.context.options,
      // etcd: a self-signed peer certificate cannot be verified, so peers skip verification
      rejectUnauthorized: !this.selfSigned,
    };
  }

  /** New files reach the server's new connections; returns the unsubscribe. */
  follow(server: tls.Server): () => void {
    return this.context.onReload((options) => server.setSecureContext(options));
  }

  /** Logs a failed handshake (plaintext, stalled, bad or missing certificate), rate-limited, and drops the socket. */
  refuse(what: string, err: unknown, socket?: net.Socket): void {
    socket?.destroy();
    const now = Date.now();
    const r = this.refusals;
    if (now - r.windowStartMs >= refusalLogWindowMs) {
      r.windowStartMs = now;
      r.logged = 0;
    }
    if (r.logged >= refusalLogBurst) {
      r.suppressed++;
      return;
    }
    r.logged++;
    const more = r.suppressed > 0 ? ` (${r.suppressed} more refused since the last line)` : '';
    r.suppressed = 0;
    this.log(`${what}${more}`, err);
  }

  /**
   * After the handshake: etcd's --peer-cert-allowed-cn / --peer-cert-allowed-hostname (and
   * --client-cert-allowed-hostname) on the verified certificate, then the CRL (etcd's checkCRL,
   * whatever the CRL's dates): a connection whose leaf or any issuer up its chain is listed is refused.
   * Returns the refusal, or the peer. Either way the socket is pinned to this handshake: a TLS 1.2
   * client asking to renegotiate (which could present another certificate after these checks) is
   * dropped (node allows 3 renegotiations per 10 minutes by default and only emits an error when
   * disabled, hence the destroy).
   */
  check(socket: tls.TLSSocket): { ok: true; peer: VerifiedPeer } | { ok: false; reason: string } {
    pinHandshake(socket);
    const cert = socket.authorized ? socket.getPeerCertificate() : undefined;
    const present = cert !== undefined && Object.keys(cert).length > 0;
    const cn = present ? commonNameOf(cert) : undefined;
    const { allowedCn, allowedHostname } = this.security;
    if (allowedCn !== '' && cn !== allowedCn) return { ok: false, reason: `certificate CN ${JSON.stringify(cn ?? '')} is not the allowed CN ${JSON.stringify(allowedCn)}` };
    if (allowedHostname !== '' && (!present || tls.checkServerIdentity(allowedHostname, cert) !== undefined)) {
      return { ok: false, reason: `certificate is not valid for the allowed hostname ${JSON.stringify(allowedHostname)}` };
    }
    const revoked = this.context.revokedSerials;
    if (revoked.size > 0) {
      const serial = revokedSerialInChain(socket, revoked);
      // etcd's wording: the serial's bytes in hex
      if (serial !== undefined) return { ok: false, reason: `transport: certificate serial ${(serial.length % 2 === 0 ? serial : `0${serial}`).toLowerCase()} revoked` };
    }
    return { ok: true, peer: { verifiedCommonName: cn } };
  }

  close(): void {
    this.context.close();
  }
}
