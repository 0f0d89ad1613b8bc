// Builds a store in-process exactly as the server does (engine → log → shard actors → store), in a
// temp dir, so store behaviour can be tested on every engine, shard layout and placement.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { EtcdError } from '../../src/core/errors.js';
import type { Placement } from '../../src/actors/actor.js';
import type { ShardReply, ShardRequest } from '../../src/actors/shard-actor.js';
import { spawnActor } from '../../src/actors/spawn.js';
import type { EngineName } from '../../src/engines/engine.js';
import { openEngine, type OpenEngineOptions } from '../../src/engines/open-engine.js';
import { LocalLog, defaultLocalLogOptions, type LocalLogOptions } from '../../src/log/local-log.js';
import { MvccStore, defaultSyncedPersistEveryEntries, type LeaseLedger, type StoreHooks, type StoreTuning } from '../../src/store/mvcc-store.js';
import type { RevisionLog } from '../../src/log/revision-log.js';
import { ShardSet } from '../../src/store/shard-set.js';
import { defaultSplitPoints } from '../../src/store/split-points.js';
import type { Engine } from '../../src/engines/engine.js';

export interface StoreLayout {
  readonly engine: EngineName;
  readonly shards: number;
  readonly placement: Placement;
}

export const layoutName = (l: StoreLayout): string => `${l.engine}, ${l.shards} shard(s) on ${l.placement}`;

/** Every layout the store suite runs on: both engines, one shard and several, both placements. */
export const storeLayouts: readonly StoreLayout[] = [
  { engine: 'memory', shards: 1, placement: 'main' },
  { engine: 'rocksdb', shards: 1, placement: 'main' },
  { engine: 'memory', shards: 3, placement: 'main' },
  { engine: 'rocksdb', shards: 3, placement: 'worker' },
];

export interface OpenStore {
  readonly store: MvccStore;
  readonly dir: string;
  close(): Promise<void>;
}

export interface OpenStoreOptions extends Partial<LocalLogOptions> {
  /** Lets a test interpose on the engine (e.g. make its writes fail). */
  readonly wrapEngine?: (engine: Engine) => Engine;
  readonly onFatal?: (e: unknown) => void;
  /** Memory engine bounds (small ones make it rotate and snapshot often). */
  readonly memory?: OpenEngineOptions['memory'];
  /** The lease table the store applies lease entries to (default: the store's own). */
  readonly leases?: LeaseLedger;
  /** A log of the test's own instead of a LocalLog in dir. */
  readonly revisionLog?: RevisionLog;
  /** Store hooks beyond header, onFatal and leases (request ids, timers, onConfChange). */
  readonly hooks?: Pick<StoreHooks, 'onConfChange' | 'requestIds' | 'timers' | 'alarms' | 'auth'>;
  readonly tuning?: Partial<StoreTuning>;
}

export async function openStore(layout: StoreLayout, dir: string, options: OpenStoreOptions = {}): Promise<OpenStore> {
  const { wrapEngine = (e: Engine) => e, onFatal, memory, leases, revisionLog, hooks, tuning, ...logOptions } = options;
  const real = await openEngine(layout.engine, path.join(dir, layout.engine), {
    ...(logOptions.fs === undefined ? {} : { fs: logOptions.fs }),
    ...(memory === undefined ? {} : { memory }),
  });
  const engine: Engine = wrapEngine(real);
  const log = revisionLog ?? (await LocalLog.open(path.join(dir, 'wal'), { ...defaultLocalLogOptions, fsync: false, ...logOptions }));
  const shards = new ShardSet(
    Array.from({ length: layout.shards }, () => spawnActor<ShardRequest, ShardReply>('shard', layout.placement)),
    defaultSplitPoints(layout.shards),
  );
  const store = await MvccStore.open(
    engine,
    log,
    shards,
    {
      header: (revision) => ({ clusterId: 1n, memberId: 2n, revision: BigInt(revision), raftTerm: 1n }),
      onFatal: onFatal ?? ((e) => {
        throw e;
      }),
      ...(leases === undefined ? {} : { leases }),
      ...hooks,
    },
    undefined,
    { syncedPersistEveryEntries: defaultSyncedPersistEveryEntries, ...tuning },
  ).catch(async (e: unknown) => {
    if (revisionLog === undefined) await log.close().catch(() => undefined);
    await shards.stop();
    await real.close();
    throw e;
  });
  return {
    store,
    dir,
    close: async () => {
      await store.close();
      await real.close();
    },
  };
}

export const tempDir = (): Promise<string> => mkdtemp(path.join(os.tmpdir(), 'lattice-store-'));
export const removeDir = (dir: string): Promise<void> => rm(dir, { recursive: true, force: true });

/** Asserts that p rejects with an EtcdError of the given kind. */
export async function rejectsWith(p: Promise<unknown>, kind: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, EtcdError);
    assert.is((e as EtcdError).kind, kind);
    return;
  }
  assert.unreachable(`expected ${kind}`);
}
