// A CRL read the way etcd reads --client-crl-file / --peer-crl-file (pkg/transport checkCRL): only
// the serial numbers it lists as revoked matter. Its signature, issuer and validity dates
// (thisUpdate, nextUpdate) are not checked, so an expired CRL keeps revoking what it lists and
// refuses nobody else. Serials are compared by magnitude alone, as Go's big.Int.Bytes() does.

/** Canonical form of a serial: upper-case hex of its magnitude, no leading zeros ('0' for zero). */
export type SerialHex = string;

export type CrlResult = { readonly ok: true; readonly revoked: ReadonlySet<SerialHex> } | { readonly ok: false; readonly error: string };

interface Tlv {
  readonly tag: number;
  /** Where the content starts and ends in the buffer. */
  readonly start: number;
  readonly end: number;
}

class DerError extends Error {}

/** One DER element at `at` (definite lengths only, as DER requires). */
function readTlv(buf: Buffer, at: number, limit: number): Tlv {
  if (at + 2 > limit) throw new DerError(`truncated element at byte ${at}`);
  const tag = buf[at] ?? 0;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at byte ${at}`);
  const first = buf[at + 1] ?? 0;
  let start = at + 2;
  let length = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new DerError(`unsupported length encoding at byte ${at}`);
    if (start + n > limit) throw new DerError(`truncated length at byte ${at}`);
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (buf[start + i] ?? 0);
    start += n;
  }
  const end = start + length;
  if (end > limit) throw new DerError(`element at byte ${at} runs past its parent`);
  return { tag, start, end };
}

/** The elements inside a constructed element, in order. */
function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const t = readTlv(buf, at, parent.end);
    out.push(t);
    at = t.end;
  }
  return out;
}

const tagInteger = 0x02;
const tagSequence = 0x30;
const tagUtcTime = 0x17;
const tagGeneralizedTime = 0x18;

/** INTEGER content (two's complement) → magnitude hex; a negative serial counts by its absolute value as in Go. */
function serialOfInteger(content: Buffer): SerialHex {
  if (content.length === 0) throw new DerError('empty INTEGER');
  let value = BigInt(`0x${content.toString('hex')}`);
  if ((content[0] ?? 0) & 0x80) value = (1n << BigInt(content.length * 8)) - value;
  return value.toString(16).toUpperCase();
}

/** A serial as node prints it (X509Certificate.serialNumber: hex, maybe with a sign or leading zeros). */
export function canonicalSerial(hex: string): SerialHex {
  const digits = hex.replace(/^-/, '').replace(/:/g, '');
  return BigInt(`0x${digits === '' ? '0' : digits}`).toString(16).toUpperCase();
}

const pemCrlBlock = /-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/g;

/** The DER bodies in a CRL file: every X509 CRL block of a PEM file, or the file itself when it is DER. */
function derBodies(file: Buffer): Buffer[] | undefined {
  const text = file.toString('latin1');
  if (!text.includes('-----BEGIN')) return [file];
  const blocks = [...text.matchAll(pemCrlBlock)].map((m) => Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64'));
  return blocks.length > 0 ? blocks : undefined;
}

function revokedInOne(der: Buffer, into: Set<SerialHex>): void {
  const list = readTlv(der, 0, der.length);
  if (list.tag !== tagSequence) throw new DerError('CertificateList is not a SEQUENCE');
  const [tbs] = children(der, list);
  if (tbs === undefined || tbs.tag !== tagSequence) throw new DerError('TBSCertList is not a SEQUENCE');
  const fields = children(der, tbs);
  // version? signature issuer thisUpdate nextUpdate? revokedCertificates? [0] extensions?
  let i = 0;
  if (fields[i]?.tag === tagInteger) i++;
  for (const what of ['signature algorithm', 'issuer']) {
    if (fields[i]?.tag !== tagSequence) throw new DerError(`TBSCertList has no ${what}`);
    i++;
  }
  const isTime = (t: Tlv | undefined): boolean => t?.tag === tagUtcTime || t?.tag === tagGeneralizedTime;
  if (!isTime(fields[i])) throw new DerError('TBSCertList has no thisUpdate');
  i++;
  if (isTime(fields[i])) i++;
  const revoked = fields[i];
  if (revoked === undefined || revoked.tag !== tagSequence) return; // nobody revoked
  for (const entry of children(der, revoked)) {
    if (entry.tag !== tagSequence) throw new DerError('revoked entry is not a SEQUENCE');
    const [serial] = children(der, entry);
    if (serial === undefined || serial.tag !== tagInteger) throw new DerError('revoked entry has no serial number');
    into.add(serialOfInteger(der.subarray(serial.start, serial.end)));
  }
}

/** The revoked serials of a CRL file (PEM or DER); an error names what is wrong, as Go's ParseCRL fails on it. */
export function parseCrl(file: Buffer): CrlResult {
  const bodies = derBodies(file);
  if (bodies === undefined) return { ok: false, error: 'no X509 CRL block (PEM) in it' };
  const revoked = new Set<SerialHex>();
  try {
    for (const der of bodies) revokedInOne(der, revoked);
  } catch (err) {
    if (err instanceof DerError) return { ok: false, error: `malformed CRL: ${err.message}` };
    throw err;
  }
  return { ok: true, revoked };
}
