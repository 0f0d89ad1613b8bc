// When a member tells Raft its log is persisted, and so when a write can be acknowledged: the
// durability modes of lattice.toml's [durability] table (and --durability / --fsync-policy).
//
// - sync (default, what etcd does): every Ready whose Raft state must be durable is fdatasynced
//   before the member acts on it, so an acknowledged write is on stable storage on a quorum.
//   The WAL is used as is: this module adds nothing to that path.
// - quorum: a Ready is written to the WAL file (the OS page cache) and the member goes on at once;
//   followers answer appends and the leader applies and acknowledges before any fsync. An fdatasync
//   follows in the background within fsyncIntervalMs. A killed process loses no entry (the page cache
//   belongs to the kernel; only a commit index the WAL held back for a moment, which the member
//   learns again: see raft-wal.ts); a power loss or kernel crash loses what was written since the last
//   background fsync on that machine.
// - async: the same disk behaviour for a single member (the quorum is the member itself); refused
//   for a cluster of more than one so that a development setting copied to a cluster fails loudly.
//
// With fsyncPolicy 'always' a changed term or vote is synced before the member acts on it (see
// save). 'never' (also --unsafe-no-fsync) drops every WAL fsync, the background ones too.

import type { Timers } from '../core/timers.js';
import { GroupCommitFullError } from '../storage/group-commit.js';
import type { NodeDisk } from '../raft/node-loop.js';
import type { DurabilityMode, FsyncPolicy } from '../server/config.js';

export interface DurabilitySettings {
  readonly durabilityMode: DurabilityMode;
  readonly fsyncPolicy: FsyncPolicy;
  /** quorum / async: the longest a written save waits for its background fdatasync. */
  readonly fsyncIntervalMs: number;
}

/** fsync-interval bounds: shorter costs a sync per write again; longer widens what a power loss takes. */
export const minFsyncIntervalMs = 1;
export const maxFsyncIntervalMs = 10_000;

export type DurabilityFromFlags = { readonly ok: true; readonly settings: DurabilitySettings } | { readonly ok: false; readonly error: string };

/** Validates the durability flags against the initial cluster's size. */
export function durabilityFromFlags(mode: string, policy: string, unsafeNoFsync: boolean, intervalMs: number, initialMembers: number): DurabilityFromFlags {
  if (mode !== 'sync' && mode !== 'quorum' && mode !== 'async') return { ok: false, error: `unknown durability mode ${JSON.stringify(mode)} (sync|quorum|async)` };
  if (policy !== 'always' && policy !== 'never') return { ok: false, error: `unknown fsync policy ${JSON.stringify(policy)} (always|never)` };
  if (mode === 'async' && initialMembers > 1) return { ok: false, error: asyncClusterRefusal(initialMembers) };
  if (!(intervalMs >= minFsyncIntervalMs && intervalMs <= maxFsyncIntervalMs)) {
    return { ok: false, error: `--fsync-interval must be between ${minFsyncIntervalMs}ms and ${maxFsyncIntervalMs}ms (set to ${intervalMs}ms)` };
  }
  return { ok: true, settings: { durabilityMode: mode, fsyncPolicy: unsafeNoFsync ? 'never' : policy, fsyncIntervalMs: intervalMs } };
}

export const asyncClusterRefusal = (members: number): string =>
  `--durability async ([durability] mode = "async") is for a single-member (development) cluster, but this cluster has ${members} members; use "quorum" (acknowledged once a quorum has written it, fsynced in the background) or "sync"`;

/** What the WAL offers the node loop; RaftWal implements it. */
export interface WalDisk extends NodeDisk {
  releaseTo(index: number): Promise<void>;
  readonly failure: Error | undefined;
  onFailure(listener: (failure: Error) => void): void;
  close(): Promise<void>;
}

/** A WAL disk under a durability mode, with a barrier the applied state's writes wait behind. */
export interface DurabilityDisk extends WalDisk {
  /**
   * Settles once every save made so far is on stable storage (as far as the fsync policy makes
   * anything so). The engine writes the applied state only behind it: state on disk ahead of the
   * log would leave a member, after a power loss, with entries applied that its log no longer has.
   */
  synced(): Promise<void>;
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A waiter may not be there yet; the failure itself reaches the WAL's listeners.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/**
 * The disk the node loop persists through under the given settings. sync with fsyncs is the WAL
 * itself. Otherwise saves are written without a sync and, unless the policy is 'never', one
 * background sync (an empty synced save, so it is ordered after every write before it) is due
 * fsyncIntervalMs after the first unsynced write. A failed background sync stops the WAL, and the
 * node loop with it (fail-stop), through the WAL's own failure listeners.
 */
export function diskForDurability(wal: WalDisk, settings: DurabilitySettings, timers: Timers): DurabilityDisk {
  // sync: a save is durable when it resolves, so whatever was applied is already behind an fsync.
  if (settings.durabilityMode === 'sync' && settings.fsyncPolicy === 'always') {
    return {
      save: (hardState, entries, sync, waitHere) => wal.save(hardState, entries, sync, waitHere),
      saveSnapshot: (meta) => wal.saveSnapshot(meta),
      releaseTo: (index) => wal.releaseTo(index),
      get failure() {
        return wal.failure;
      },
      onFailure: (listener) => wal.onFailure(listener),
      close: () => wal.close(),
      synced: () => Promise.resolve(),
    };
  }
  const background = settings.fsyncPolicy === 'always';
  let cancelSync: (() => void) | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;
  /** A save was made after the last background sync was issued: a barrier must wait for the next one. */
  let writtenSinceSync = false;
  /** The last background sync issued (it covers every save made before it). */
  let lastSync: Promise<void> = Promise.resolve();
  /** Barriers waiting for the next background sync. */
  let nextSync: Deferred | undefined;
  const syncNow = (): void => {
    cancelSync = undefined;
    if (closed) return;
    writtenSinceSync = false;
    const waiting = nextSync;
    nextSync = undefined;
    lastSync = wal.save(undefined, [], true, false);
    lastSync.then(
      () => waiting?.resolve(),
      (e: unknown) => {
        // A full queue is no failure of the disk: the sync is tried again in a moment.
        if (e instanceof GroupCommitFullError && !closed) {
          writtenSinceSync = true;
          if (waiting !== undefined) {
            if (nextSync === undefined) nextSync = waiting;
            else nextSync.promise.then(() => waiting.resolve(), (err: unknown) => waiting.reject(err));
          }
          cancelSync ??= timers.after(settings.fsyncIntervalMs, syncNow);
          return;
        }
        // Other rejections are the WAL's failure, which its onFailure listeners already report.
        waiting?.reject(e);
      },
    );
    lastSync.catch(() => undefined);
  };
  // The term and vote last made durable: a member that forgot a vote after a power loss could vote
  // twice in one term and help elect two leaders, so a new term or vote is always synced (elections
  // are rare, this costs nothing in steady state). Only entries and commit indexes wait.
  let votedTerm = -1;
  let votedFor: bigint | undefined;
  return {
    async save(hardState, entries, sync, waitHere) {
      if (background && hardState !== undefined && (hardState.term !== votedTerm || hardState.vote !== votedFor)) {
        await wal.save(hardState, entries, true, waitHere);
        votedTerm = hardState.term;
        votedFor = hardState.vote;
        return;
      }
      const written = wal.save(hardState, entries, false, waitHere);
      writtenSinceSync = true;
      await written;
      if (sync && background && cancelSync === undefined && !closed) cancelSync = timers.after(settings.fsyncIntervalMs, syncNow);
    },
    synced() {
      // 'never' makes nothing durable: there is nothing to wait for (and a power loss may lose it all).
      if (!background) return Promise.resolve();
      // The WAL syncs everything as it closes.
      if (closing !== undefined) return closing;
      if (!writtenSinceSync) return lastSync;
      nextSync ??= deferred();
      if (cancelSync === undefined && !closed) cancelSync = timers.after(settings.fsyncIntervalMs, syncNow);
      return nextSync.promise;
    },
    saveSnapshot: (meta) => wal.saveSnapshot(meta),
    releaseTo: (index) => wal.releaseTo(index),
    get failure() {
      return wal.failure;
    },
    onFailure: (listener) => wal.onFailure(listener),
    close() {
      // The WAL syncs what was written as it closes.
      closed = true;
      cancelSync?.();
      cancelSync = undefined;
      const waiting = nextSync;
      nextSync = undefined;
      closing ??= wal.close();
      closing.then(() => waiting?.resolve(), (e: unknown) => waiting?.reject(e));
      return closing;
    },
  };
}
