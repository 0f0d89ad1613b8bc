// The bytes of one side's certificate, key, CA bundle and CRL, read together, and node's TLS options
// made from them: the server side (tls.createServer / setSecureContext) and the client side (a
// member dialing its peers presents the same certificate). The CRL is not among those options:
// OpenSSL would check it against the whole chain and refuse every handshake once the CRL's
// nextUpdate has passed; etcd only refuses a certificate whose serial it lists (crl.ts).
import { readFile } from 'node:fs/promises';
import tls from 'node:tls';
import { parseCrl, type SerialHex } from './crl.js';
import type { TlsFilePaths, TransportSecurity } from './transport-security.js';

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
  readonly crl: Buffer | undefined;
}

export async function readTlsMaterial(paths: TlsFilePaths): Promise<TlsMaterial> {
  const optional = (p: string): Promise<Buffer | undefined> => (p === '' ? Promise.resolve(undefined) : readFile(p));
  const [cert, key, ca, crl] = await Promise.all([readFile(paths.certFile), readFile(paths.keyFile), optional(paths.trustedCaFile), optional(paths.crlFile)]);
  return { cert, key, ca, crl };
}

/** etcd's minimum (pkg/transport/listener.go baseConfig). */
export const minTlsVersion: tls.SecureVersion = 'TLSv1.2';

/** The options a secure context is made of; throws (as createSecureContext does) on a bad key or a key that does not match. */
export function secureContextOptions(material: TlsMaterial, security: TransportSecurity): tls.SecureContextOptions {
  const options: tls.SecureContextOptions = {
    cert: material.cert,
    key: material.key,
    minVersion: security.minVersion ?? minTlsVersion,
    ...(material.ca !== undefined ? { ca: material.ca } : {}),
    ...(security.ciphers !== undefined ? { ciphers: security.ciphers } : {}),
  };
  tls.createSecureContext(options);
  return options;
}

/**
 * etcd asks for and verifies a client certificate when --client-cert-auth is on or a trusted CA
 * file is given (TLSInfo.ServerConfig: RequireAndVerifyClientCert).
 */
export const requiresClientCert = (security: TransportSecurity): boolean => security.clientCertAuth || security.files.trustedCaFile !== '';

const noneRevoked: ReadonlySet<SerialHex> = new Set();

/** The serials the CRL revokes (none without a CRL); throws on a CRL that cannot be parsed, as on a bad key. */
export function revokedSerials(material: TlsMaterial, crlFile: string): ReadonlySet<SerialHex> {
  if (material.crl === undefined) return noneRevoked;
  const parsed = parseCrl(material.crl);
  if (!parsed.ok) throw new Error(`CRL file ${crlFile}: ${parsed.error}`);
  return parsed.revoked;
}
