// etcd's security flags → the two sides' TransportSecurity. config.ts calls this once.
import { opensslCipherList } from './cipher-suites.js';
import type { TransportSecurity } from './transport-security.js';

export interface SecurityFlagReader {
  str(name: string): string;
  bool(name: string): boolean;
  list(name: string): readonly string[];
}

export type SecurityFlagsResult =
  | { readonly ok: true; readonly client: TransportSecurity; readonly peer: TransportSecurity }
  | { readonly ok: false; readonly error: string };

export function transportSecurityFromFlags(flags: SecurityFlagReader): SecurityFlagsResult {
  let ciphers: string | undefined;
  const suites = flags.list('cipher-suites').filter((s) => s !== '');
  if (suites.length > 0) {
    const mapped = opensslCipherList(suites);
    if (!mapped.ok) return mapped;
    ciphers = mapped.ciphers;
  }
  const peerCn = flags.str('peer-cert-allowed-cn');
  const peerHost = flags.str('peer-cert-allowed-hostname');
  if (peerCn !== '' && peerHost !== '') {
    // etcd's TLSInfo.baseConfig
    return { ok: false, error: `AllowedCN and AllowedHostname are mutually exclusive (cn=${JSON.stringify(peerCn)}, hostname=${JSON.stringify(peerHost)})` };
  }
  // etcd 3.5's --tls-min-version, for both sides as there; absent (older callers): TLS 1.2.
  const minVersion = flags.str('tls-min-version') === 'TLS1.3' ? ('TLSv1.3' as const) : ('TLSv1.2' as const);
  // etcd 3.5 (embed.Config.Validate): Go cannot restrict TLS 1.3 suites, so a list would do nothing
  if (minVersion === 'TLSv1.3' && suites.length > 0) return { ok: false, error: 'cipher suites cannot be configured when only TLS1.3 is enabled' };
  return {
    ok: true,
    client: {
      files: { certFile: flags.str('cert-file'), keyFile: flags.str('key-file'), trustedCaFile: flags.str('trusted-ca-file'), crlFile: flags.str('client-crl-file') },
      clientCertAuth: flags.bool('client-cert-auth'),
      autoTls: flags.bool('auto-tls'),
      allowedCn: '',
      allowedHostname: flags.str('client-cert-allowed-hostname'),
      ciphers,
      minVersion,
    },
    peer: {
      files: { certFile: flags.str('peer-cert-file'), keyFile: flags.str('peer-key-file'), trustedCaFile: flags.str('peer-trusted-ca-file'), crlFile: flags.str('peer-crl-file') },
      clientCertAuth: flags.bool('peer-client-cert-auth'),
      autoTls: flags.bool('peer-auto-tls'),
      allowedCn: peerCn,
      allowedHostname: peerHost,
      ciphers,
      minVersion,
    },
  };
}
