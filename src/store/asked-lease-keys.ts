// The keys attached to leases as an auth check at apply time reads them: asked of the lease table
// by the store at that log position, before the check, which cannot wait. A check that reads a
// lease it was not given keys for is a bug; it fails the apply instead of deciding silently.
import type { Key } from '../core/keys.js';
import type { LeaseKeys } from '../auth/request-permissions.js';
import type { LeaseLedger } from '../actors/lease-table-ports.js';

/** Keys for a check that should read none. */
export const notAsked: LeaseKeys = (id) => {
  throw new Error(`the keys of lease ${id} were read by a check the store did not ask them for`);
};

/** Asks the keys of each lease in `ids` (in order, one at a time) and answers them to the check. */
export async function askLeaseKeys(ledger: Pick<LeaseLedger, 'keysOf'>, ids: readonly bigint[]): Promise<LeaseKeys> {
  if (ids.length === 0) return notAsked;
  const keys = new Map<bigint, readonly Key[] | undefined>();
  for (const id of ids) if (!keys.has(id)) keys.set(id, await ledger.keysOf(id));
  return (id) => (keys.has(id) ? keys.get(id) : notAsked(id));
}

/** The keys of one lease, asked already. */
export const keysOfOnly =
  (id: bigint, keys: readonly Key[] | undefined): LeaseKeys =>
  (asked) =>
    asked === id ? keys : notAsked(asked);
