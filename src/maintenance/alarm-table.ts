// etcd's alarm store (etcdserver/api/v3alarm): which member raised which alarm. Changed only by
// applying Alarm entries of the replicated log, so every member holds the same list, and persisted in
// the engine beside the applied state (key _alarm/<member u64><type u8>), so it survives a restart.
// The prefix sorts before every other engine key (auth's a/, records' k, leases' l, meta's m/), as
// etcd's alarm bucket comes first in its file: a snapshot's one pass over the engine meets it first.
import {
  AlarmRequest_AlarmAction,
  AlarmType,
  type AlarmMember,
  type AlarmRequest,
  type AlarmResponse,
} from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { Engine, WriteOp } from '../engines/engine.js';
import type { Command } from '../log/command.js';

export const ALARM_PREFIX = Buffer.from('_alarm/');
export const ALARM_END = Buffer.from('_alarm0');

export function alarmKey(memberId: bigint, alarm: AlarmType): Buffer {
  const b = Buffer.alloc(ALARM_PREFIX.length + 9);
  b.set(ALARM_PREFIX, 0);
  b.writeBigUInt64BE(memberId, ALARM_PREFIX.length);
  b.writeUInt8(alarm, ALARM_PREFIX.length + 8);
  return b;
}

/** The member and alarm of an alarm key. */
export function alarmOfKey(key: Buffer): AlarmMember {
  return { memberID: key.readBigUInt64BE(ALARM_PREFIX.length), alarm: key.readUInt8(ALARM_PREFIX.length + 8) as AlarmType };
}

/** What applying one Alarm entry produced: the answer and the engine writes that record it. */
export interface AlarmApplied {
  readonly response: AlarmResponse;
  readonly ops: readonly WriteOp[];
  /** The first alarm of its type was raised, or the last one of its type disarmed (etcd logs both). */
  readonly change?: { readonly kind: 'raised' | 'disarmed'; readonly member: AlarmMember };
}

/** The part of the alarm table the store needs while applying the log. */
export interface AlarmLedger {
  apply(req: AlarmRequest): AlarmApplied;
  /** NOSPACE is raised: puts, txns with puts and lease grants are refused (etcd's applierV3Capped). */
  readonly capped: boolean;
  /** CORRUPT is raised: every write is refused (etcd's applierV3Corrupt), before the NOSPACE check. */
  readonly corrupt: boolean;
}

const entryKey = (memberId: bigint, alarm: AlarmType): string => `${alarm}:${memberId}`;

export type AlarmChangeListener = (change: NonNullable<AlarmApplied['change']>) => void;

export class AlarmTable implements AlarmLedger {
  private readonly members = new Map<string, AlarmMember>();

  constructor(private readonly onChange: AlarmChangeListener = () => undefined) {}

  /** Reads the alarms an earlier run persisted. */
  static async load(engine: Engine, onChange?: AlarmChangeListener): Promise<AlarmTable> {
    const table = new AlarmTable(onChange);
    for await (const pairs of engine.iterateBatches({ gte: ALARM_PREFIX, lt: ALARM_END })) {
      for (const [key] of pairs) {
        if (key.length !== ALARM_PREFIX.length + 9) continue;
        const member = alarmOfKey(key);
        table.members.set(entryKey(member.memberID, member.alarm), member);
      }
    }
    return table;
  }

  // Read for every applied write: answered without building get()'s sorted list.
  get capped(): boolean {
    return this.has(AlarmType.NOSPACE);
  }

  get corrupt(): boolean {
    return this.has(AlarmType.CORRUPT);
  }

  private has(alarm: AlarmType): boolean {
    if (this.members.size === 0) return false;
    for (const m of this.members.values()) if (m.alarm === alarm) return true;
    return false;
  }

  /** etcd's AlarmStore.Get: NONE means every alarm. Ordered by type, then member, for stable output. */
  get(alarm: AlarmType): AlarmMember[] {
    const all = [...this.members.values()].filter((m) => alarm === AlarmType.NONE || m.alarm === alarm);
    return all.sort((a, b) => a.alarm - b.alarm || (a.memberID < b.memberID ? -1 : a.memberID > b.memberID ? 1 : 0));
  }

  /** etcd's applierV3backend.Alarm, including its answers for an alarm already raised or never raised. */
  apply(req: AlarmRequest): AlarmApplied {
    switch (req.action) {
      case AlarmRequest_AlarmAction.GET:
        return { response: { header: undefined, alarms: this.get(req.alarm) }, ops: [] };
      case AlarmRequest_AlarmAction.ACTIVATE: {
        // etcd keeps NONE out of the store: activating it answers nothing.
        if (req.alarm === AlarmType.NONE || req.alarm === AlarmType.UNRECOGNIZED) return { response: { header: undefined, alarms: [] }, ops: [] };
        const key = entryKey(req.memberID, req.alarm);
        const existing = this.members.get(key);
        if (existing !== undefined) return { response: { header: undefined, alarms: [existing] }, ops: [] };
        const member: AlarmMember = { memberID: req.memberID, alarm: req.alarm };
        const raised = !this.has(req.alarm);
        this.members.set(key, member);
        const ops: WriteOp[] = [{ type: 'put', key: alarmKey(member.memberID, member.alarm), value: Buffer.alloc(0) }];
        if (raised) this.onChange({ kind: 'raised', member });
        return { response: { header: undefined, alarms: [member] }, ops, ...(raised && { change: { kind: 'raised' as const, member } }) };
      }
      case AlarmRequest_AlarmAction.DEACTIVATE: {
        const key = entryKey(req.memberID, req.alarm);
        const existing = this.members.get(key);
        if (existing === undefined) return { response: { header: undefined, alarms: [] }, ops: [] };
        this.members.delete(key);
        const ops: WriteOp[] = [{ type: 'del', key: alarmKey(existing.memberID, existing.alarm) }];
        const disarmed = !this.has(req.alarm);
        if (disarmed) this.onChange({ kind: 'disarmed', member: existing });
        return { response: { header: undefined, alarms: [existing] }, ops, ...(disarmed && { change: { kind: 'disarmed' as const, member: existing } }) };
      }
      default:
        return { response: { header: undefined, alarms: [] }, ops: [] };
    }
  }
}

/** The writes etcd's applierV3Capped refuses: a put, a txn with a put in either branch, a lease grant. */
export function refusesUnderNoSpace(command: Command): boolean {
  switch (command.type) {
    case 'put':
    case 'leaseGrant':
      return true;
    case 'txn':
      return [...command.req.success, ...command.req.failure].some((op) => op.requestPut !== undefined);
    default:
      return false;
  }
}

/**
 * The entries etcd's applierV3Corrupt refuses: every KV write (a read-only Txn is served without an
 * entry, so it still works, as in etcd), compaction, lease grant and revoke.
 */
export function refusesWhenCorrupt(command: Command): boolean {
  switch (command.type) {
    case 'put':
    case 'deleteRange':
    case 'txn':
    case 'compact':
    case 'leaseGrant':
    case 'leaseRevoke':
      return true;
    default:
      return false;
  }
}
