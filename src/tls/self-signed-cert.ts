// A self-signed server certificate for --auto-tls / --peer-auto-tls, as etcd's transport.SelfCert
// makes one: a random 128-bit serial, O=<organization>, valid for a year from now, key usage
// digitalSignature+keyEncipherment, the listen URLs' hosts as IP or DNS subject alternative names.
// Differences: an ECDSA P-256 key signed with SHA-256 (etcd: P-521/SHA-512; P-256 handshakes cost
// less and every TLS client supports it), and clientAuth next to serverAuth so a member can present
// the same certificate when it dials its peers. node:crypto makes the key and the signature; der.ts
// writes the certificate (why not a library: docs/design.md, "TLS").
import crypto from 'node:crypto';
import net from 'node:net';
import {
  derBitString,
  derBoolean,
  derExplicit,
  derImplicit,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derTime,
  derUnsignedInteger,
  derUtf8String,
  derElement,
} from './der.js';

export interface SelfSignedOptions {
  /** Host names or IP addresses the certificate is for (subject alternative names). */
  readonly hosts: readonly string[];
  readonly now: Date;
  readonly validityDays: number;
  /** 16 random bytes for the serial; injected so tests are deterministic. */
  readonly serial: Uint8Array;
  readonly organization?: string;
}

export interface PemPair {
  readonly certPem: string;
  readonly keyPem: string;
}

const oid = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  organization: '2.5.4.10',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

const dayMs = 24 * 60 * 60 * 1000;

function extension(id: string, critical: boolean, value: Uint8Array): Buffer {
  return critical ? derSequence(derOid(id), derBoolean(true), derOctetString(value)) : derSequence(derOid(id), derOctetString(value));
}

function ipBytes(ip: string): Buffer {
  if (net.isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  // expand '::' then write eight 16-bit groups
  const [head = '', tail = ''] = ip.includes('::') ? ip.split('::') : [ip, ''];
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function subjectAltNames(hosts: readonly string[]): Buffer {
  const names = [...new Set(hosts)].map((h) => (net.isIP(h) !== 0 ? derImplicit(7, ipBytes(h)) : derImplicit(2, Buffer.from(h, 'ascii'))));
  return derSequence(...names);
}

export function selfSignedCertificate(options: SelfSignedOptions): PemPair {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signatureAlgorithm = derSequence(derOid(oid.ecdsaWithSha256));
  const name = derSequence(derSet(derSequence(derOid(oid.organization), derUtf8String(options.organization ?? 'lattice'))));
  const notAfter = new Date(options.now.getTime() + options.validityDays * dayMs);
  const extensions = [
    // digitalSignature (bit 0) and keyEncipherment (bit 2): 1010 0000, 5 unused bits
    extension(oid.keyUsage, true, derBitString(Buffer.from([0xa0]), 5)),
    extension(oid.extKeyUsage, false, derSequence(derOid(oid.serverAuth), derOid(oid.clientAuth))),
    extension(oid.basicConstraints, true, derSequence()),
  ];
  if (options.hosts.length > 0) extensions.push(extension(oid.subjectAltName, false, subjectAltNames(options.hosts)));
  const tbs = derSequence(
    derExplicit(0, derElement(0x02, Buffer.from([2]))), // v3
    derUnsignedInteger(options.serial),
    signatureAlgorithm,
    name,
    derSequence(derTime(options.now), derTime(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    derExplicit(3, derSequence(...extensions)),
  );
  const signature = crypto.sign('sha256', tbs, privateKey);
  const der = derSequence(tbs, signatureAlgorithm, derBitString(signature));
  const base64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return {
    certPem: `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`,
    keyPem: String(privateKey.export({ type: 'pkcs8', format: 'pem' })),
  };
}
