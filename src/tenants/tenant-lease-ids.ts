// Lease ownership without a table: a tenant's leases live in an ID range of their own. The stored ID
// is bit 62 (a tenant lease), a 22-bit tag derived from the tenant's name, and the 40-bit ID the
// client sees. Every member computes the same mapping from the name alone, so ownership needs no
// replicated state, survives restarts, and a tenant can only ever name its own leases: an ID it
// sends is always mapped into its own range. A lease granted without a tenant never lands in a
// tenant's range: server-chosen IDs keep bit 62 clear, and while tenants are defined a client without
// a tenant may not choose such an ID (UntenantedLease).

/** IDs a tenant's client sees: 1 .. 2^40-1. */
export const tenantLeaseIdBits = 40;
const tagBits = 22;
const clientIdMask = (1n << BigInt(tenantLeaseIdBits)) - 1n;
const tagMask = (1n << BigInt(tagBits)) - 1n;
const tenantMarker = 1n << 62n;
const ownerMask = tenantMarker | (tagMask << BigInt(tenantLeaseIdBits));

/** FNV-1a over the name, folded to 22 bits. */
export function leaseTagOf(tenantName: string): bigint {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(tenantName, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return BigInt(((h >>> tagBits) ^ h) & Number(tagMask));
}

/** True for an ID in the tenants' range (bit 62 set). */
export const isTenantLeaseId = (id: bigint): boolean => id > 0n && (id & tenantMarker) !== 0n;

export class TenantLeaseIds {
  private readonly owner: bigint;

  constructor(readonly tag: bigint) {
    this.owner = tenantMarker | (tag << BigInt(tenantLeaseIdBits));
  }

  /** 0 (no lease) stays 0; an ID past the client range is refused by the caller (`fits`). */
  toStored(clientId: bigint): bigint {
    return clientId === 0n ? 0n : this.owner | (clientId & clientIdMask);
  }

  fits(clientId: bigint): boolean {
    return clientId >= 0n && clientId <= clientIdMask;
  }

  owns(storedId: bigint): boolean {
    return storedId !== 0n && (storedId & ownerMask) === this.owner;
  }

  /** A stored ID as the tenant sees it; a lease it does not own (an admin's, on its key) shows as 0. */
  toClient(storedId: bigint): bigint {
    return this.owns(storedId) ? storedId & clientIdMask : 0n;
  }
}
