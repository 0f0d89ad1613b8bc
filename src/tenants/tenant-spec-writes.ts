// The apply-time rules for writes to the tenant specs' keys (tenantSpecKeyPrefix), whoever sends
// them (the admin API, or root writing the reserved keys directly). A tenant's usage is counted from
// its creation on, starting at zero, on every member; that is exact only if its prefix holds no key
// at that log position. So a spec that brings a new prefix must come in a txn that compares the
// prefix range empty (create_revision == 0 over the range), and be that txn's only kind of op; an
// existing tenant keeps its prefix; a spec that does not parse or clashes with the tenants in effect
// is refused. The checks read only the tenants in effect, which change only by applying such writes,
// and a spec write is applied alone (see TenantDirectory.wrapApplier), so every member decides alike.
import { Compare_CompareResult, Compare_CompareTarget, type Compare, type RequestOp, type TxnRequest } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { toKey, type Key } from '../core/keys.js';
import type { WriteCommand } from '../mvcc/apply-command.js';
import { TenantKeys } from './tenant-keys.js';
import type { TenantSpec } from './tenant-spec.js';
import { parseStoredSpec } from './tenant-spec-record.js';
import { tenantSpecKeyPrefix, tenantsProblem } from './tenant-validation.js';

const specPrefixEnd: Key = toKey(new TenantKeys(tenantSpecKeyPrefix).prefixEnd);

const isSpecKey = (key: Key): boolean => key.startsWith(tenantSpecKeyPrefix);
/** On every write's path: most keys fail at the first byte, before any conversion. */
const isSpecKeyBytes = (key: Uint8Array): boolean => key[0] === 0 && isSpecKey(toKey(key));

/** [key, end) meets the spec keys; an empty end is the one key, "\0" every key from it on. */
function rangeMeetsSpecs(key: Uint8Array, rangeEnd: Uint8Array): boolean {
  const start = toKey(key);
  if (rangeEnd.length === 0) return isSpecKey(start);
  const end = toKey(rangeEnd);
  return start < specPrefixEnd && (end === '\0' || end > tenantSpecKeyPrefix);
}

function opsMeetSpecs(ops: readonly RequestOp[]): boolean {
  return ops.some(
    (op) =>
      (op.requestPut !== undefined && isSpecKeyBytes(op.requestPut.key)) ||
      (op.requestDeleteRange !== undefined && rangeMeetsSpecs(op.requestDeleteRange.key, op.requestDeleteRange.rangeEnd)) ||
      (op.requestTxn !== undefined && txnMeetsSpecs(op.requestTxn)),
  );
}

const txnMeetsSpecs = (req: TxnRequest): boolean => opsMeetSpecs(req.success) || opsMeetSpecs(req.failure);

/** True when the write may change a tenant spec: the tenants in effect may differ after it. */
export function writesTenantSpecs(command: WriteCommand): boolean {
  switch (command.type) {
    case 'put':
      return isSpecKeyBytes(command.req.key);
    case 'deleteRange':
      return rangeMeetsSpecs(command.req.key, command.req.rangeEnd);
    case 'txn':
      return txnMeetsSpecs(command.req);
  }
}

/** A spec put found in a write, and whether it sits where the txn's compares guard it (see above). */
interface SpecPut {
  readonly key: Key;
  readonly value: Uint8Array;
  readonly guarded: readonly Compare[] | undefined;
}

function specPutsOf(ops: readonly RequestOp[], guarded: readonly Compare[] | undefined, out: SpecPut[]): void {
  for (const op of ops) {
    if (op.requestPut !== undefined && isSpecKeyBytes(op.requestPut.key)) out.push({ key: toKey(op.requestPut.key), value: op.requestPut.value, guarded });
    if (op.requestTxn !== undefined) {
      specPutsOf(op.requestTxn.success, undefined, out);
      specPutsOf(op.requestTxn.failure, undefined, out);
    }
  }
}

/** A creation's shape: a txn whose success ops are all spec puts and whose failure branch is empty. */
const isCreationShape = (req: TxnRequest): boolean =>
  req.failure.length === 0 && req.success.every((op) => op.requestPut !== undefined && isSpecKeyBytes(op.requestPut.key));

function comparesEmpty(compares: readonly Compare[], prefix: string): boolean {
  const keys = new TenantKeys(prefix);
  return compares.some(
    (c) =>
      c.target === Compare_CompareTarget.CREATE &&
      c.result === Compare_CompareResult.EQUAL &&
      (c.createRevision ?? 0n) === 0n &&
      keys.prefix.equals(Buffer.from(c.key)) &&
      keys.prefixEnd.equals(Buffer.from(c.rangeEnd)),
  );
}

/** Why the write may not change the specs as it asks; undefined when it may (or touches none). */
export function specWriteProblem(command: WriteCommand, inEffect: readonly TenantSpec[]): string | undefined {
  const puts: SpecPut[] = [];
  if (command.type === 'put') {
    if (isSpecKeyBytes(command.req.key)) puts.push({ key: toKey(command.req.key), value: command.req.value, guarded: undefined });
  } else if (command.type === 'txn') {
    specPutsOf(command.req.success, isCreationShape(command.req) ? command.req.compare : undefined, puts);
    specPutsOf(command.req.failure, undefined, puts);
  }
  if (puts.length === 0) return undefined;
  const after = new Map(inEffect.map((s) => [s.name, s]));
  for (const put of puts) {
    const name = put.key.slice(tenantSpecKeyPrefix.length);
    const spec = parseStoredSpec(put.value);
    if (spec === undefined || spec.name !== name) return `the record of tenant ${JSON.stringify(name)} is not a tenant spec named so`;
    const before = after.get(name);
    if (before !== undefined && before.prefix !== spec.prefix) return `tenant ${name} keeps its prefix: delete it and create another`;
    if (before === undefined && (put.guarded === undefined || !comparesEmpty(put.guarded, spec.prefix))) {
      return `tenant ${name} may only be created by a txn that compares its prefix empty`;
    }
    after.set(name, spec);
  }
  return tenantsProblem([...after.values()]);
}
