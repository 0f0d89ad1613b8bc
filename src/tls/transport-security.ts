// One side's TLS settings (client or peer), as etcd's transport.TLSInfo holds them, built from the
// flags by config.ts and turned into node's TLS options by tls-options.ts.

export interface TlsFilePaths {
  readonly certFile: string;
  readonly keyFile: string;
  /** '' : none. */
  readonly trustedCaFile: string;
  /** '' : none. */
  readonly crlFile: string;
}

export interface TransportSecurity {
  /** cert/key/CA/CRL files; all '' when none were given (auto-TLS may then make cert and key). */
  readonly files: TlsFilePaths;
  /** --client-cert-auth / --peer-client-cert-auth. */
  readonly clientCertAuth: boolean;
  /** --auto-tls / --peer-auto-tls: a self-signed certificate when no cert/key files are given. */
  readonly autoTls: boolean;
  /** --peer-cert-allowed-cn ('' : any). */
  readonly allowedCn: string;
  /** --peer-cert-allowed-hostname / --client-cert-allowed-hostname ('' : any). */
  readonly allowedHostname: string;
  /** OpenSSL cipher list from --cipher-suites; undefined: node's default. */
  readonly ciphers: string | undefined;
  /** --tls-min-version; undefined: TLS 1.2 (etcd's minimum). */
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

export const noTransportSecurity: TransportSecurity = {
  files: { certFile: '', keyFile: '', trustedCaFile: '', crlFile: '' },
  clientCertAuth: false,
  autoTls: false,
  allowedCn: '',
  allowedHostname: '',
  ciphers: undefined,
};

/** etcd's TLSInfo.Empty(): neither cert nor key given. */
export const hasCertFiles = (s: TransportSecurity): boolean => s.files.certFile !== '' && s.files.keyFile !== '';

/** Whether this side serves TLS at all (files or auto). */
export const tlsEnabled = (s: TransportSecurity): boolean => hasCertFiles(s) || s.autoTls;
