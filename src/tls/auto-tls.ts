// --auto-tls / --peer-auto-tls: as etcd, the certificate lives in <data-dir>/fixtures/client (or
// peer) and is reused when both files exist, so restarts keep it; otherwise a new one is made for
// the hosts of the listen URLs.
import crypto from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { selfSignedCertificate } from './self-signed-cert.js';
import type { TlsFilePaths } from './transport-security.js';

/** etcd's SelfCert: one year. */
export const autoTlsValidityDays = 365;

const exists = (p: string): Promise<boolean> => stat(p).then(
  () => true,
  () => false,
);

/** Host part of each listen URL, brackets of IPv6 literals removed. */
export function listenUrlHosts(urls: readonly string[]): string[] {
  return urls.map((u) => new URL(u).hostname.replace(/^\[(.*)\]$/, '$1'));
}

export async function ensureSelfSignedFiles(
  dir: string,
  hosts: readonly string[],
  deps: { readonly now: Date; readonly randomBytes: (n: number) => Uint8Array } = { now: new Date(), randomBytes: (n) => crypto.randomBytes(n) },
): Promise<TlsFilePaths> {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  const paths = { certFile, keyFile, trustedCaFile: '', crlFile: '' };
  if ((await exists(certFile)) && (await exists(keyFile))) return paths;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pair = selfSignedCertificate({ hosts, now: deps.now, validityDays: autoTlsValidityDays, serial: deps.randomBytes(16) });
  await writeFile(keyFile, pair.keyPem, { mode: 0o600 });
  await writeFile(certFile, pair.certPem, { mode: 0o644 });
  return paths;
}
