// Seeded random KV sequences for the randomized differential test: steps in kvscript's JSON form
// (hex mode), over a small key space with shared prefixes and binary keys, so that ranges, compares
// and duplicate-key checks keep hitting the same keys. The same seed always gives the same steps.

/** One kvscript step; keys, range ends and values are hex (kvscript --hex). */
export interface FuzzStep {
  name: string;
  op: 'put' | 'get' | 'delete' | 'txn' | 'compact' | 'lease_grant' | 'lease_revoke' | 'watch_open' | 'watch_sync' | 'watch_collect';
  key?: string;
  range_end?: string;
  prefix?: boolean;
  from_key?: boolean;
  value?: string;
  value_size?: number;
  prev_kv?: boolean;
  ignore_value?: boolean;
  ignore_lease?: boolean;
  lease?: number;
  limit?: number;
  rev?: number;
  sort_target?: SortTarget;
  sort_order?: 'NONE' | 'ASCEND' | 'DESCEND';
  serializable?: boolean;
  keys_only?: boolean;
  count_only?: boolean;
  min_mod_rev?: number;
  max_mod_rev?: number;
  min_create_rev?: number;
  max_create_rev?: number;
  compare?: FuzzCompare[];
  success?: FuzzStep[];
  failure?: FuzzStep[];
  physical?: boolean;
  watch?: string;
  /** watch_open: start this many revisions before the current one. */
  rev_back?: number;
  /** lease_grant and lease_revoke: the lease. */
  id?: number;
  ttl?: number;
}

export type SortTarget = 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';

export interface FuzzCompare {
  key: string;
  range_end?: string;
  prefix?: boolean;
  target: 'VALUE' | 'VERSION' | 'CREATE' | 'MOD' | 'LEASE';
  result: '=' | '!=' | '>' | '<';
  value?: string;
  number?: number;
}

export const defaultStepsPerSeed = 300;

/** A lease id that never exists: puts naming it get etcd's lease-not-found answers. */
const missingLease = 12345;
/** Leases the sequences grant, revoke, attach and compare. */
const leasePool = [101, 102, 103];
/** Long enough that no lease expires while a sequence runs, so expiry timing never enters the answers. */
const leaseTtlSeconds = 3600;
/** Past etcd's MaxLeaseTTL (9,000,000,000 s): refused with `etcdserver: too large lease TTL`. */
const tooLargeLeaseTtlSeconds = 9_000_000_001;
/** etcd's default --max-request-bytes is 1.5 MiB: one value just under it, one just over. */
const valueNearLimitBytes = 1_400_000;
const valueOverLimitBytes = 1_700_000;
/** The late watcher starts at most this many revisions back. */
const maxLateWatchRevisionsBack = 40;
/** Nested Txns go this deep at most. */
const maxTxnDepth = 2;

const hex = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

/** Keys with shared prefixes, a NUL byte and 0xff bytes (sorting and prefix-end edge cases). */
const keyPool = ['a', 'ab', 'abc', 'a\x00', 'b', 'b/1', 'b/2', 'b/10', 'c', '\x00', '\xff', '\xff\xff'].map(hex);
/** Keys outside the pool, for reads and compares of keys that never exist. */
const strayKeys = ['zz', 'a\x01', 'b/'].map(hex);
const prefixes = ['', 'a', 'b/', 'b', '\xff'].map(hex);

/** mulberry32: small, fast and deterministic for a 32-bit seed. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Picks one of several weighted choices. */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    const total = choices.reduce((sum, [w]) => sum + w, 0);
    let r = this.next() * total;
    for (const [w, item] of choices) {
      r -= w;
      if (r < 0) return item;
    }
    return choices[choices.length - 1]![1];
  }
}

type RangeSpec = Pick<FuzzStep, 'key' | 'range_end' | 'prefix' | 'from_key'>;

class SequenceBuilder {
  private readonly steps: FuzzStep[] = [];
  /** No step adds more than one revision, so the store's revision is at most this. */
  private revisionBound = 1;

  constructor(private readonly rnd: SeededRandom) {}

  build(count: number): FuzzStep[] {
    const rnd = this.rnd;
    // One watcher sees the whole sequence; a second one opens later at an old (maybe compacted)
    // revision. No compaction follows it: whether etcd's catch-up loop or a compaction comes first
    // is timing, not behaviour.
    this.add({ name: 'watch every key with prev_kv', op: 'watch_open', watch: 'all', key: '', from_key: true, prev_kv: true });
    const lateWatchAt = rnd.int(Math.floor(count / 3), Math.floor((2 * count) / 3));
    let lateSentinel = '';
    for (let i = 0; i < count; i++) {
      if (i === lateWatchAt) lateSentinel = this.openLateWatch();
      const compactAllowed = i < lateWatchAt;
      const op = rnd.weighted<FuzzStep['op']>([
        [35, 'put'],
        [25, 'get'],
        [12, 'delete'],
        [22, 'txn'],
        [compactAllowed ? 4 : 0, 'compact'],
        [3, 'lease_grant'],
        [2, 'lease_revoke'],
      ]);
      switch (op) {
        case 'put':
          this.add(this.put());
          break;
        case 'get':
          this.add(this.get());
          break;
        case 'delete':
          this.add(this.delete());
          break;
        case 'txn':
          this.add(withoutEtcdPanic(this.txn(0)));
          break;
        case 'lease_grant':
          this.add({ name: 'grant a lease', op: 'lease_grant', id: rnd.pick(leasePool), ttl: rnd.chance(0.05) ? tooLargeLeaseTtlSeconds : leaseTtlSeconds });
          break;
        case 'lease_revoke':
          this.add({ name: 'revoke a lease', op: 'lease_revoke', id: rnd.pick(leasePool) });
          break;
        default:
          this.syncAllWatcher();
          this.add(this.compact());
      }
    }
    for (const [watch, sentinel] of [['all', hex('a')], ['late', lateSentinel]] as const) {
      const value = hex(`sentinel-${watch}`);
      this.add({ name: `put the sentinel for watcher ${watch}`, op: 'put', key: sentinel, value });
      this.add({ name: `events of watcher ${watch}`, op: 'watch_collect', watch, key: sentinel, value });
    }
    return this.steps;
  }

  /**
   * Waits until the every-key watcher has received everything written so far: etcd reads prev_kv when
   * it sends an event, so a compaction must not overtake an event still on its way.
   */
  private syncAllWatcher(): void {
    const value = hex(`sync-${this.steps.length}`);
    this.add({ name: 'put a marker for the every-key watcher', op: 'put', key: hex('a'), value });
    this.add({ name: 'the every-key watcher has seen everything so far', op: 'watch_sync', watch: 'all', key: hex('a'), value });
  }

  private add(step: FuzzStep): void {
    step.name = `#${this.steps.length} ${step.name}`;
    this.steps.push(step);
    if (step.op === 'put' || step.op === 'delete' || step.op === 'txn' || step.op === 'lease_revoke') this.revisionBound++;
  }

  /** A revision that may be compacted, current or in the future. */
  private revision(): number {
    return this.rnd.int(1, this.revisionBound + 2);
  }

  private key(): string {
    const rnd = this.rnd;
    if (rnd.chance(0.02)) return '';
    return rnd.chance(0.06) ? rnd.pick(strayKeys) : rnd.pick(keyPool);
  }

  private range(): RangeSpec {
    const rnd = this.rnd;
    return rnd.weighted<() => RangeSpec>([
      [35, () => ({ key: this.key() })],
      [20, () => ({ key: rnd.pick(prefixes), prefix: true })],
      [15, () => ({ key: rnd.chance(0.3) ? '' : rnd.pick(keyPool), from_key: true })],
      // Either order: an inverted range is empty.
      [27, () => ({ key: rnd.pick(keyPool), range_end: rnd.pick(keyPool) })],
      // A range end of "\0" means "from key".
      [3, () => ({ key: rnd.pick(keyPool), range_end: '00' })],
    ])();
  }

  /**
   * A value; large ones only outside Txns, so that a Txn's request stays well under gRPC's receive
   * limit (past it, the refusal's text is the transport's, not etcd's).
   */
  private value(inTxn: boolean): Pick<FuzzStep, 'value' | 'value_size'> {
    const rnd = this.rnd;
    const large = inTxn ? 0 : 1;
    return rnd.weighted<() => Pick<FuzzStep, 'value' | 'value_size'>>([
      [15, () => ({ value: '' })],
      [45, () => ({ value: hex(`v${rnd.int(0, 99)}`) })],
      [25, () => ({ value: Buffer.from(Array.from({ length: rnd.int(1, 16) }, () => rnd.int(0, 255))).toString('hex') })],
      [10, () => ({ value_size: rnd.int(100, 10_000) })],
      [3 * large, () => ({ value_size: rnd.int(65_536, 262_144) })],
      [large, () => ({ value_size: valueNearLimitBytes })],
      [large, () => ({ value_size: valueOverLimitBytes })],
    ])();
  }

  private put(inTxn = false): FuzzStep {
    const rnd = this.rnd;
    const step: FuzzStep = { name: 'put', op: 'put', key: this.key(), ...this.value(inTxn) };
    if (rnd.chance(0.3)) step.prev_kv = true;
    if (rnd.chance(0.07)) {
      // Valid only without a value.
      step.ignore_value = true;
      if (rnd.chance(0.7)) {
        step.value = '';
        delete step.value_size;
      }
    }
    if (rnd.chance(0.04)) step.ignore_lease = true;
    if (rnd.chance(0.04)) step.lease = missingLease;
    else if (rnd.chance(0.15)) step.lease = rnd.pick(leasePool);
    return step;
  }

  private get(): FuzzStep {
    const rnd = this.rnd;
    const step: FuzzStep = { name: 'get', op: 'get', ...this.range() };
    if (rnd.chance(0.25)) step.limit = rnd.int(1, 4);
    else if (rnd.chance(0.02)) step.limit = -1;
    if (rnd.chance(0.3)) step.rev = this.revision();
    else if (rnd.chance(0.02)) step.rev = -1;
    if (rnd.chance(0.3)) {
      step.sort_target = rnd.pick(['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'] as const);
      step.sort_order = rnd.pick(['NONE', 'ASCEND', 'DESCEND'] as const);
    }
    if (rnd.chance(0.2)) step.serializable = true;
    if (rnd.chance(0.15)) step.keys_only = true;
    if (rnd.chance(0.1)) step.count_only = true;
    if (rnd.chance(0.08)) step.min_mod_rev = this.revision();
    if (rnd.chance(0.08)) step.max_mod_rev = this.revision();
    if (rnd.chance(0.08)) step.min_create_rev = this.revision();
    if (rnd.chance(0.08)) step.max_create_rev = this.revision();
    return step;
  }

  private delete(): FuzzStep {
    const step: FuzzStep = { name: 'delete', op: 'delete', ...this.range() };
    if (this.rnd.chance(0.4)) step.prev_kv = true;
    return step;
  }

  private compare(): FuzzCompare {
    const rnd = this.rnd;
    const where = rnd.weighted<() => Pick<FuzzCompare, 'key' | 'range_end' | 'prefix'>>([
      [70, () => ({ key: this.key() })],
      [15, () => ({ key: rnd.pick(prefixes), prefix: true })],
      [15, () => ({ key: rnd.pick(keyPool), range_end: rnd.pick(keyPool) })],
    ])();
    const target = rnd.pick(['VALUE', 'VERSION', 'CREATE', 'MOD', 'LEASE'] as const);
    const result = rnd.pick(['=', '!=', '>', '<'] as const);
    if (target === 'VALUE') return { ...where, target, result, value: rnd.chance(0.2) ? '' : hex(`v${rnd.int(0, 99)}`) };
    const number = target === 'LEASE' ? rnd.pick([0, missingLease, ...leasePool]) : target === 'VERSION' ? rnd.int(0, 4) : rnd.int(0, this.revisionBound);
    return { ...where, target, result, number };
  }

  private txn(depth: number): FuzzStep {
    const rnd = this.rnd;
    const branch = (): FuzzStep[] =>
      Array.from({ length: rnd.weighted([[3, 0], [5, 1], [4, 2], [2, 3]] as const) }, () =>
        rnd.weighted<() => FuzzStep>([
          [40, () => this.put(true)],
          [30, () => this.get()],
          [20, () => this.delete()],
          [depth < maxTxnDepth ? 10 : 0, () => this.txn(depth + 1)],
        ])(),
      );
    const compare = Array.from({ length: rnd.weighted([[2, 0], [5, 1], [3, 2], [1, 3]] as const) }, () => this.compare());
    return { name: depth === 0 ? 'txn' : 'nested txn', op: 'txn', compare, success: branch(), failure: branch() };
  }

  private compact(): FuzzStep {
    const step: FuzzStep = { name: 'compact', op: 'compact', rev: this.revision() };
    if (this.rnd.chance(0.5)) step.physical = true;
    return step;
  }

  /** Opens the second watcher; returns a key inside its range for its sentinel put. */
  private openLateWatch(): string {
    const rnd = this.rnd;
    const prevKv = rnd.chance(0.5);
    // Mostly recent enough to replay history; sometimes from before a compaction.
    const revBack = rnd.int(0, maxLateWatchRevisionsBack);
    const kind = rnd.pick(['key', 'prefix', 'from_key', 'range'] as const);
    const key = rnd.pick(keyPool);
    const where: RangeSpec =
      kind === 'key' ? { key } : kind === 'prefix' ? { key, prefix: true } : kind === 'from_key' ? { key, from_key: true } : { key, range_end: 'ffffff' };
    this.add({ name: `watch ${kind} from ${revBack} revisions back`, op: 'watch_open', watch: 'late', rev_back: revBack, prev_kv: prevKv, ...where });
    return key;
  }
}

const branchesOf = (step: FuzzStep): FuzzStep[] => [...(step.success ?? []), ...(step.failure ?? [])];

const hasDelete = (step: FuzzStep): boolean => branchesOf(step).some((op) => op.op === 'delete' || (op.op === 'txn' && hasDelete(op)));

/**
 * etcd 3.4 panics (and stops) on a Txn whose from-key delete removes a key that a later put with
 * ignore_value or ignore_lease needs: its duplicate-key check misses from-key ranges. Lattice refuses
 * such a Txn cleanly instead; the sequences leave the ignore flags out of Txns that delete anything.
 */
function withoutEtcdPanic(txn: FuzzStep): FuzzStep {
  if (!hasDelete(txn)) return txn;
  const strip = (step: FuzzStep): void => {
    for (const op of branchesOf(step)) {
      delete op.ignore_value;
      delete op.ignore_lease;
      strip(op);
    }
  };
  strip(txn);
  return txn;
}

/** The steps of one seed. */
export function generateSequence(seed: number, count = defaultStepsPerSeed): FuzzStep[] {
  return new SequenceBuilder(new SeededRandom(seed)).build(count);
}
