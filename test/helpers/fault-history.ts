// Checks on what the fault-load clients (test/interop/go/faultload) saw and what the members hold
// afterwards. Each key has one writer writing 1, 2, 3, ...; a write that failed is ambiguous and is
// always the last write of its key (the writer moves on to a fresh key). Each check returns a list
// of violations (empty: fine), at most maxReportedViolations of them, each a self-contained line.

/** One client operation, times in Unix µs (one clock: the load runs in one process). */
export interface LoadOp {
  readonly c: number;
  readonly t: 'w' | 'r';
  readonly k: string;
  readonly v: number;
  readonly ok: boolean;
  readonly s: number;
  readonly e: number;
  readonly rev?: number;
  readonly err?: string;
}

export interface WatchEvent {
  readonly rev: number;
  readonly k: string;
  readonly v: string;
  readonly del?: boolean;
}

export interface WatchLog {
  readonly from: number;
  readonly events: readonly WatchEvent[];
  readonly rewatches: number;
  readonly errors: readonly string[];
  readonly caught_up: boolean;
  readonly target: number;
}

export interface LoadResult {
  readonly ops: readonly LoadOp[];
  /** The watcher on every endpoint (clientv3 fails over between them). */
  readonly watch: WatchLog;
  /** The watcher on the one endpoint of LoadOptions.pinWatch, when given. */
  readonly pinned?: WatchLog;
}

export interface MemberDump {
  readonly endpoint: string;
  readonly revision: number;
  readonly events: readonly WatchEvent[];
  readonly values: Readonly<Record<string, string>>;
  readonly err?: string;
}

const maxReportedViolations = 10;

class Violations {
  readonly lines: string[] = [];
  private count = 0;
  add(line: string): void {
    this.count++;
    if (this.lines.length < maxReportedViolations) this.lines.push(line);
  }
  result(): string[] {
    return this.count > this.lines.length ? [...this.lines, `... ${this.count - this.lines.length} more`] : this.lines;
  }
}

const byKey = <T extends { k: string }>(items: readonly T[]): Map<string, T[]> => {
  const m = new Map<string, T[]>();
  for (const item of items) {
    const list = m.get(item.k);
    if (list === undefined) m.set(item.k, [item]);
    else list.push(item);
  }
  return m;
};

const describe = (op: LoadOp): string => `client ${op.c} ${op.t === 'w' ? 'put' : 'got'} ${op.k}=${op.v} [${op.s}..${op.e}]${op.rev === undefined ? '' : ` rev ${op.rev}`}`;

/**
 * Per key, with reads that succeeded: (1) a read sees at least every value acknowledged before it
 * started; (2) it sees nothing not yet written when it ended; (3) a read that starts after another
 * ended sees the same value or a later one (so no read goes back in time, and one client's reads of
 * a key never decrease).
 */
export function checkLinearizable(ops: readonly LoadOp[]): string[] {
  const out = new Violations();
  const writes = byKey(ops.filter((o) => o.t === 'w'));
  const reads = byKey(ops.filter((o) => o.t === 'r' && o.ok));
  for (const [key, keyReads] of reads) {
    const keyWrites = writes.get(key) ?? [];
    const acked = keyWrites.filter((w) => w.ok).sort((a, b) => a.e - b.e);
    const invoked = [...keyWrites].sort((a, b) => a.s - b.s);
    for (const r of keyReads) {
      let mustSee = 0;
      for (const w of acked) if (w.e < r.s) mustSee = Math.max(mustSee, w.v);
      if (r.v < mustSee) out.add(`stale read: ${describe(r)}, but ${key}=${mustSee} was acknowledged before the read started`);
      let mayHave = 0;
      for (const w of invoked) if (w.s < r.e) mayHave = Math.max(mayHave, w.v);
      if (r.v > mayHave) out.add(`read from the future: ${describe(r)}, but only values up to ${mayHave} had been written`);
    }
    // (3): sweep reads by start time, knowing the highest value among reads already ended
    const byStart = [...keyReads].sort((a, b) => a.s - b.s);
    const byEnd = [...keyReads].sort((a, b) => a.e - b.e);
    let ended = 0;
    let highest: LoadOp | undefined;
    for (const r of byStart) {
      while (ended < byEnd.length && byEnd[ended]!.e < r.s) {
        const done = byEnd[ended]!;
        if (highest === undefined || done.v > highest.v) highest = done;
        ended++;
      }
      if (highest !== undefined && r.v < highest.v) out.add(`read went back in time: ${describe(r)} after ${describe(highest)}`);
    }
  }
  return out.result();
}

/** Revisions from..to each exactly once and in order, one event per revision (the load makes single puts). */
export function checkRevisionSequence(events: readonly WatchEvent[], from: number, what: string): string[] {
  const out = new Violations();
  let expected = from;
  for (const e of events) {
    if (e.rev !== expected) out.add(`${what}: revision ${e.rev} (${e.k}=${e.v}) where ${expected} was expected (${e.rev < expected ? 'duplicate or out of order' : 'gap'})`);
    expected = e.rev + 1;
  }
  return out.result();
}

/**
 * Every member's history from revision 1 is gap-free and the same as the others'; every
 * acknowledged write is in it at its revision with its value; every member's current value of a
 * key is the last one its history wrote.
 */
export function checkMembers(dumps: readonly MemberDump[], ops: readonly LoadOp[]): string[] {
  const out = new Violations();
  for (const d of dumps) if (d.err !== undefined) out.add(`${d.endpoint}: ${d.err}`);
  const reference = dumps[0];
  if (reference === undefined) return ['no member dumps'];
  for (const d of dumps) {
    for (const line of checkRevisionSequence(d.events, 2, `${d.endpoint} history`)) out.add(line);
    const last = d.events.at(-1);
    if (last !== undefined && last.rev !== d.revision) out.add(`${d.endpoint}: history ends at ${last.rev}, the member is at revision ${d.revision}`);
    if (d.revision !== reference.revision) out.add(`${d.endpoint} is at revision ${d.revision}, ${reference.endpoint} at ${reference.revision}`);
    const n = Math.min(d.events.length, reference.events.length);
    for (let i = 0; i < n; i++) {
      const a = d.events[i]!;
      const b = reference.events[i]!;
      if (a.rev !== b.rev || a.k !== b.k || a.v !== b.v || a.del !== b.del) {
        out.add(`${d.endpoint} and ${reference.endpoint} differ at revision ${b.rev}: ${a.k}=${a.v} vs ${b.k}=${b.v}`);
        break;
      }
    }
    const lastWrite = new Map<string, string>();
    for (const e of d.events) if (e.del === true) lastWrite.delete(e.k); else lastWrite.set(e.k, e.v);
    for (const [k, v] of lastWrite) if (d.values[k] !== v) out.add(`${d.endpoint}: ${k}=${d.values[k]} but its history last wrote ${v}`);
    const atRevision = new Map(d.events.map((e) => [e.rev, e]));
    for (const w of ops) {
      if (w.t !== 'w' || !w.ok) continue;
      const e = atRevision.get(w.rev ?? -1);
      if (e === undefined || e.k !== w.k || e.v !== String(w.v)) {
        out.add(`${d.endpoint} lost an acknowledged write: ${describe(w)}; at that revision it holds ${e === undefined ? 'nothing' : `${e.k}=${e.v}`}`);
      }
    }
  }
  return out.result();
}

/** The long-lived watcher saw every revision from its start to the end, once and in order, as the history has them. */
export function checkWatcher(watch: WatchLog, history: readonly WatchEvent[]): string[] {
  const out = new Violations();
  if (!watch.caught_up) out.add(`the watcher did not reach revision ${watch.target} (last seen ${watch.events.at(-1)?.rev ?? 'none'}); errors: ${watch.errors.join('; ')}`);
  for (const line of checkRevisionSequence(watch.events, watch.from, 'watcher')) out.add(line);
  const atRevision = new Map(history.map((e) => [e.rev, e]));
  for (const e of watch.events) {
    const h = atRevision.get(e.rev);
    if (h === undefined || h.k !== e.k || h.v !== e.v) {
      out.add(`the watcher saw ${e.k}=${e.v} at revision ${e.rev}, the history has ${h === undefined ? 'nothing' : `${h.k}=${h.v}`}`);
    }
  }
  const end = watch.events.at(-1)?.rev ?? watch.from - 1;
  if (watch.caught_up && end < watch.target) out.add(`the watcher ended at ${end}, before ${watch.target}`);
  return out.result();
}
