// The durable Raft log of one member (etcd's wal package, in Lattice's record files): entries, hard
// states, snapshot markers (the engine holds the state itself) and the member's metadata.
//
// Files in dir: <seq, 16 hex digits>-<first index hint, 16 hex digits>.wal, seq counting up from 0.
// Each is a record file (src/storage/record-file.ts: salted CRCs, synced-through marks) whose
// records are src/log/raft-wal-records.ts payloads. A segment opens with a header of records that
// copy what older segments would otherwise be needed for: the metadata, the last hard state and the
// last snapshot marker. So whole segments can be deleted from the front once a snapshot covers their
// entries, and the rest still replays to the same state.
//
// Why a record stream of its own rather than SegmentedWal: Raft overwrites an uncommitted tail when
// a new leader disagrees with it, and SegmentedWal requires strictly consecutive indices. As in etcd,
// an overwrite is simply appended: an entry at an index <= the last one replaces the tail from that
// index on when the log is replayed (src/log/raft-log-image.ts holds these rules, shared by the
// reader and the writer's checks). Nothing already written is ever modified, so a crash can only
// tear the unsynced end of the last segment.
//
// Durability: a save writes its entries, then its hard state, in one write; with sync it ends in one
// fdatasync, which also covers every earlier save (a segment is fdatasynced before the next one is
// started), or, when every earlier save is already synced, the write itself is synced (O_DSYNC).
// A torn tail loses a suffix of records, never a record before one that survives, so a hard state
// is never read without the entries written before it. A new segment is written as
// <name>.tmp, synced, then renamed: a segment under its real name always has its whole header.
// Damage where a segment was synced is a CorruptFileError naming the file and offset.

import { join } from 'node:path';
import { EtcdError } from '../core/errors.js';
import type { ConfState, Entry, HardState } from '../raft/types.js';
import { makeDirDurable } from '../storage/durable-dir.js';
import { nodeFileSystem, writeFully, type DurableFile, type FileSystem } from '../storage/file-system.js';
import { GroupCommit, GroupCommitFullError } from '../storage/group-commit.js';
import { CorruptFileError, fileHeaderBytes, newFileHeader, readFileHeader, readRecords, seal } from '../storage/record-file.js';
import { RaftLogImage } from './raft-log-image.js';
import { decodeRecord, encodeRecord, maxEntryDataBytes, recordBytes, type RaftWalMetadata, type RaftWalRecord, type SnapshotMarker } from './raft-wal-records.js';

export type { RaftWalMetadata, SnapshotMarker } from './raft-wal-records.js';

/** Segment size past which the next save starts a new segment. */
export const defaultMaxRaftSegmentBytes = 64 * 1024 * 1024;
/**
 * The active segment's file is grown this far past its records at a time (at most a segment's
 * size), as etcd preallocates its WAL files (with fallocate; ftruncate here makes a sparse tail,
 * which reserves no space): a synced write that does not grow the file has no size to commit,
 * which here took a durable append from 155 to 115 µs and from 79 to 58 µs of CPU. Zeros past the
 * records read as a torn tail, cut at open; a segment is cut to its records before the next starts.
 */
const preallocateBytes = 4 * 1024 * 1024;
/**
 * A held hard state (see save) is written on its own after this long without a save to carry it,
 * so an idle member's file is never more than this behind what it has applied.
 */
const defaultHeldHardStateMs = 10;
/**
 * A write at most this large is made on the JS thread (writeNow), a larger one through the thread
 * pool. On the thread, a durable append costs about half the CPU (34 against 63 µs here) and 30 µs
 * less latency, but the thread waits for the disk: a lone save's caller waits for it anyway, while
 * a large group means a busy member whose thread has other requests to serve meanwhile (3-member
 * clusters at 1,000 clients lost 7 % of their throughput when every synced write was made on the
 * thread). A save whose caller has other work in flight (a leader whose appends are on their way
 * to the followers) goes through the pool whatever its size.
 */
export const defaultMaxWriteNowBytes = 4096;
/** Bytes of queued saves written (and synced) together. */
const maxSaveGroupBytes = 16 * 1024 * 1024;
/** Saves waiting for a write; the node loop persists one Ready at a time, so this is generous. */
const maxQueuedSaves = 1024;

const segmentMagic = Buffer.from('LATRAFT1', 'latin1');
const segmentNamePattern = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
const tmpSuffix = '.tmp';

export interface RaftWalOptions {
  /** Written into a new WAL. For an existing one, if given, it must equal what is stored. */
  readonly metadata?: RaftWalMetadata;
  readonly maxSegmentBytes?: number;
  readonly fs?: FileSystem;
  /** How long a held hard state waits for a save to carry it (Infinity: until the next save or close). */
  readonly heldHardStateMs?: number;
  /** Writes up to this many bytes are made on the JS thread (defaultMaxWriteNowBytes; tests vary it). */
  readonly maxWriteNowBytes?: number;
}

interface WalTuning {
  readonly heldHardStateMs: number;
  readonly maxWriteNowBytes: number;
}

const tuningOf = (options: RaftWalOptions): WalTuning => ({
  heldHardStateMs: options.heldHardStateMs ?? defaultHeldHardStateMs,
  maxWriteNowBytes: options.maxWriteNowBytes ?? defaultMaxWriteNowBytes,
});

export interface RaftWalState {
  readonly hardState: HardState;
  readonly snapshot?: SnapshotMarker;
  /** The entries after the snapshot, consecutive. */
  readonly entries: Entry[];
  readonly metadata: RaftWalMetadata;
}

/** The WAL belongs to another member or cluster than the caller says. */
export class RaftWalMetadataMismatchError extends Error {
  constructor(
    readonly dir: string,
    readonly stored: RaftWalMetadata,
    readonly expected: RaftWalMetadata,
  ) {
    super(
      `raft WAL in ${dir} belongs to member ${hex(stored.memberId)} of cluster ${hex(stored.clusterId)}, ` +
        `not member ${hex(expected.memberId)} of cluster ${hex(expected.clusterId)}`,
    );
    this.name = 'RaftWalMetadataMismatchError';
  }
}

interface Segment {
  readonly seq: number;
  readonly path: string;
  /** Highest entry index written into it (0 when none): it may go once a snapshot covers this. */
  maxIndex: number;
  bytes: number;
  /** The file's size: bytes and the zeros preallocated after them. */
  allocated: number;
  /** Bytes known to be on stable storage; records carry it so a reader can tell torn from corrupt. */
  synced: number;
  readonly salt: Buffer;
  /** Where the records after its header records begin (an upper bound for a replayed segment). */
  readonly headerEnd: number;
}

/** An encoded save: records with their headers left for sealing at write time. */
interface Save {
  readonly batch: Buffer;
  /** Offset in batch of each record's start, then the batch's length. */
  readonly bounds: readonly number[];
  readonly sync: boolean;
  readonly maxIndex: number;
  readonly hardState?: HardState;
  readonly snapshot?: SnapshotMarker;
  /** Its caller has work to overlap with it: never written on the JS thread. */
  readonly viaPool?: true;
}

const zeroHardState: HardState = { term: 0, vote: 0n, commit: 0 };

export class RaftWal {
  private committer: GroupCommit<Save>;
  /** The log as the reader will rebuild it once every queued save is written: checks saves. */
  private readonly model: RaftLogImage<number>;
  /** Last hard state and snapshot marker written (not only queued): copied into a new segment's header. */
  private writtenHardState: HardState;
  private writtenSnapshot: SnapshotMarker | undefined;
  /** Index of the newest snapshot marker known durable: releaseTo never goes past it. */
  private durableSnapshotIndex: number;
  private releasing: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;
  /**
   * The active segment opened a second time for synced writes, once a save has used it; null when
   * that open failed (no O_DSYNC, no file descriptor left): its saves then write and fdatasync.
   */
  private activeSynced: DurableFile | null | undefined;
  /** The newest hard state given to save, written or held. */
  private lastHardState: HardState;
  /** A hard state that only moved the commit index, not written yet: it goes with the next write. */
  private heldHardState: HardState | undefined;
  private heldTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly dir: string,
    private readonly fs: FileSystem,
    private segments: Segment[],
    private active: DurableFile | undefined,
    private readonly maxSegmentBytes: number,
    private readonly metadata: RaftWalMetadata,
    state: RaftWalState,
    private readonly tuning: WalTuning,
  ) {
    this.writtenHardState = state.hardState;
    this.lastHardState = state.hardState;
    this.writtenSnapshot = state.snapshot;
    this.durableSnapshotIndex = state.snapshot?.index ?? 0;
    this.model = new RaftLogImage<number>({ termOf: (term) => term, anchored: true });
    if (state.snapshot !== undefined) this.model.snapshot(state.snapshot.index, state.snapshot.term);
    for (const entry of state.entries) this.model.put(entry.index, entry.term);
    this.committer = new GroupCommit<Save>({
      flush: (group) => this.write(group),
      weight: (s) => s.batch.length,
      maxGroupWeight: maxSaveGroupBytes,
      maxQueuedItems: maxQueuedSaves,
    });
  }

  /** Opens (creating if missing, with options.metadata) the WAL in dir and replays it. */
  static async open(dir: string, options: RaftWalOptions): Promise<{ wal: RaftWal; state: RaftWalState }> {
    const fs = options.fs ?? nodeFileSystem;
    const maxSegmentBytes = options.maxSegmentBytes ?? defaultMaxRaftSegmentBytes;
    if (!(maxSegmentBytes > 0)) throw new RangeError('maxSegmentBytes must be positive');
    await makeDirDurable(dir, undefined, fs);
    const names = await fs.readdir(dir);
    const leftovers = names.filter((n) => n.endsWith(`.wal${tmpSuffix}`));
    // A segment that was never renamed into place was never written to: nothing in it counts.
    for (const name of leftovers) await fs.remove(join(dir, name));
    if (leftovers.length > 0) await fs.fsyncDir(dir);
    const segmentNames = names.filter((n) => segmentNamePattern.test(n)).sort();

    if (segmentNames.length === 0) {
      if (options.metadata === undefined) throw new Error(`raft WAL: ${dir} holds no WAL, and no metadata was given to create one`);
      const state: RaftWalState = { hardState: zeroHardState, entries: [], metadata: options.metadata };
      const { segment, handle } = await createSegment(fs, dir, 0, 1, headerRecords(options.metadata, zeroHardState, undefined));
      return { wal: new RaftWal(dir, fs, [segment], handle, maxSegmentBytes, options.metadata, state, tuningOf(options)), state };
    }

    const { segments, active, state } = await replay(fs, dir, segmentNames);
    if (options.metadata !== undefined && !sameMetadata(options.metadata, state.metadata)) {
      await active.close();
      throw new RaftWalMetadataMismatchError(dir, state.metadata, options.metadata);
    }
    return { wal: new RaftWal(dir, fs, segments, active, maxSegmentBytes, state.metadata, state, tuningOf(options)), state };
  }

  /** The failure that stopped the WAL, if any: every later call rejects with it (fail-stop). */
  get failure(): Error | undefined {
    return this.committer.failure;
  }

  /** Calls listener once when the WAL stops on a failed write, sync or removal (at once if it has). */
  onFailure(listener: (failure: Error) => void): void {
    this.committer.onStop(listener);
  }

  /**
   * Persists a Ready: entries (an entry at an index <= last overwrites that index and everything
   * after), then the hard state; one write, made durable iff sync. Calls are written in call order
   * and share fsyncs. A hard state that only moves the commit index, unsynced and without entries,
   * is held and written with the next save, at close, or alone after heldHardStateMs (a crash may
   * lose it: see below). Refused (RangeError, nothing written) when the entries are not
   * consecutive, leave a gap, reach into the snapshot, or the hard state commits past the last entry.
   */
  save(hardState: HardState | undefined, entries: readonly Entry[], sync: boolean, waitHere = true): Promise<void> {
    const unusable = this.unusable();
    if (unusable !== undefined) return Promise.reject(unusable);
    const records: RaftWalRecord[] = [];
    let save: Save;
    try {
      const first = entries[0];
      if (first !== undefined) {
        if (first.index <= this.model.snapshotIndex) throw new RangeError(`raft WAL: entry ${first.index} is covered by the snapshot at ${this.model.snapshotIndex}`);
        const refusal = this.model.refusal(first.index);
        if (refusal !== undefined) throw new RangeError(`raft WAL: ${refusal}`);
      }
      for (const [i, entry] of entries.entries()) {
        if (i > 0 && entry.index !== first!.index + i) throw new RangeError(`raft WAL: entry ${entry.index} where ${first!.index + i} was expected`);
        if (entry.data.length > maxEntryDataBytes) throw new RangeError(`raft WAL: entry of ${entry.data.length} bytes exceeds maxEntryDataBytes (${maxEntryDataBytes})`);
        records.push({ kind: 'entry', entry });
      }
      const lastIndex = entries.at(-1)?.index ?? this.model.lastIndex;
      // Raft never commits what this member has not got; a hard state that did would survive a
      // crash pointing at entries that are not there.
      if (hardState !== undefined && hardState.commit > lastIndex) throw new RangeError(`raft WAL: hard state commits ${hardState.commit}, past the last entry ${lastIndex}`);
      if (hardState !== undefined && entries.length === 0 && !sync && hardState.term === this.lastHardState.term && hardState.vote === this.lastHardState.vote) {
        // Only the commit index moved (a follower learning of a commit, a leader committing): held
        // for the next write instead of written alone, which would leave the file unsynced behind
        // it and cost the next synced save its single synced write. Losing it in a crash is safe,
        // as etcd's raft says of Commit: a restarted member learns the commit index again (and the
        // store starts from its engine's applied index when that is further).
        this.heldHardState = hardState;
        this.lastHardState = hardState;
        if (Number.isFinite(this.tuning.heldHardStateMs)) this.heldTimer ??= setTimeout(() => this.writeHeld(), this.tuning.heldHardStateMs).unref();
        return Promise.resolve();
      }
      const written = hardState ?? this.heldHardState;
      if (written !== undefined) records.push({ kind: 'hardState', hardState: written });
      if (records.length === 0 && !sync) return Promise.resolve();
      // Encoded now (a bad term throws here, before the model changes), copying the caller's bytes.
      save = encodeSave(records, sync, written, undefined);
      if (!waitHere) save = { ...save, viaPool: true };
      this.heldHardState = undefined;
      // A later hold gets its own full wait, not what is left of this one's.
      clearTimeout(this.heldTimer);
      this.heldTimer = undefined;
      if (hardState !== undefined) this.lastHardState = hardState;
    } catch (err) {
      return Promise.reject(err);
    }
    for (const entry of entries) this.model.put(entry.index, entry.term);
    return this.committer.submit(save);
  }

  /** Records (durably) that a snapshot at (index, term) is durable in the engine. */
  saveSnapshot(meta: { readonly index: number; readonly term: number; readonly confState: ConfState }): Promise<void> {
    const unusable = this.unusable();
    if (unusable !== undefined) return Promise.reject(unusable);
    const snapshot: SnapshotMarker = { index: meta.index, term: meta.term, confState: { voters: [...meta.confState.voters], learners: [...meta.confState.learners] } };
    let save: Save;
    try {
      save = encodeSave([{ kind: 'snapshot', snapshot }], true, undefined, snapshot);
    } catch (err) {
      return Promise.reject(err);
    }
    this.model.snapshot(snapshot.index, snapshot.term);
    return this.committer.submit(save);
  }

  /**
   * Entries up to index (inclusive) are covered by a durable snapshot and may be deleted: removes
   * whole segments, oldest first, never past the newest durable snapshot marker (so the log that is
   * left always replays as that snapshot followed by consecutive entries) nor the active segment.
   * A snapshot marker saved before this call counts even if its save has not resolved yet.
   */
  releaseTo(index: number): Promise<void> {
    const unusable = this.unusable();
    if (unusable !== undefined) return Promise.reject(unusable);
    // Waits for the saves queued before it: snapshot markers are synced, so once they are written
    // they are durable, and their index bounds what may go.
    const written = this.committer.submit(encodeSave([], false, undefined, undefined));
    written.catch(() => undefined); // observed through `done`; never an unhandled rejection meanwhile
    const done = this.releasing.then(() => written).then(() => this.deleteSegmentsTo(Math.min(index, this.durableSnapshotIndex)));
    this.releasing = done.catch(() => undefined);
    return done;
  }

  /** Waits for queued saves, makes them durable and releases the files. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** Why no call can be taken now; checked before a call changes the model, so a refusal changes nothing. */
  private unusable(): Error | undefined {
    if (this.closing !== undefined) return closedError();
    if (this.committer.failure !== undefined) return this.committer.failure;
    return this.committer.queued >= maxQueuedSaves ? new GroupCommitFullError() : undefined;
  }

  /** Writes a held hard state no save took meanwhile (unsynced, as it was given). */
  private writeHeld(): void {
    this.heldTimer = undefined;
    if (this.unusable() === undefined) void this.submitHeld();
  }

  /**
   * Submits the held hard state, if any, as a save of its own. A failure stops the WAL and reaches
   * its failure listeners; nobody waits for this write.
   */
  private submitHeld(): Promise<void> {
    const held = this.heldHardState;
    this.heldHardState = undefined;
    if (held === undefined || this.committer.failure !== undefined) return Promise.resolve();
    return this.committer.submit(encodeSave([{ kind: 'hardState', hardState: held }], false, held, undefined)).catch(() => undefined);
  }

  private async shutdown(): Promise<void> {
    clearTimeout(this.heldTimer);
    this.heldTimer = undefined;
    await this.submitHeld();
    await this.committer.drain();
    await this.releasing;
    if (this.active === undefined) return;
    try {
      const segment = this.segments.at(-1);
      if (segment !== undefined && this.committer.failure === undefined) await this.endAtRecords(segment);
    } finally {
      await this.closeActive();
    }
  }

  /** Cuts the active segment's preallocated tail and syncs it whole: a file read as wholly synced ends at its last record. */
  private async endAtRecords(segment: Segment): Promise<void> {
    if (this.active === undefined) return;
    const cut = segment.allocated > segment.bytes;
    if (cut) await this.active.truncate(segment.bytes);
    segment.allocated = segment.bytes;
    if (cut || segment.synced < segment.bytes) await this.active.datasync();
    segment.synced = segment.bytes;
  }

  private async syncedHandle(segment: Segment): Promise<DurableFile | null> {
    if (this.activeSynced === undefined) this.activeSynced = await this.fs.open(segment.path, 'r+sync').catch(() => null);
    return this.activeSynced;
  }

  private async closeActive(): Promise<void> {
    const synced = this.activeSynced;
    this.activeSynced = undefined;
    try {
      await synced?.close();
    } finally {
      await this.active?.close();
      this.active = undefined;
    }
  }

  /** Writes a group of saves with one write (and one fdatasync if any asked for it). */
  private async write(group: readonly Save[]): Promise<void> {
    const bytes = group.reduce((sum, s) => sum + s.batch.length, 0);
    let segment = this.segments.at(-1);
    if (segment === undefined || this.active === undefined) throw new Error('raft WAL: no active segment');
    // A save larger than a segment still goes whole into one, after the header.
    if (bytes > 0 && segment.bytes > segment.headerEnd && segment.bytes + bytes > this.maxSegmentBytes) segment = await this.startSegment(segment);
    for (const save of group) {
      for (let r = 0; r + 1 < save.bounds.length; r++) seal(save.batch.subarray(save.bounds[r], save.bounds[r + 1]), segment.salt, segment.synced);
    }
    const sync = group.some((s) => s.sync);
    // With everything before it already synced, a synced save is one synced write (O_DSYNC) rather
    // than a write and an fdatasync: one trip through the thread pool instead of two.
    const syncedHandle = sync && bytes > 0 && segment.synced === segment.bytes ? await this.syncedHandle(segment) : null;
    const syncedWrite = syncedHandle !== null;
    if (bytes > 0 && segment.bytes + bytes > segment.allocated) {
      segment.allocated = segment.bytes + bytes + Math.min(preallocateBytes, this.maxSegmentBytes);
      await this.active.truncate(segment.allocated);
    }
    if (bytes > 0) {
      const file = syncedHandle ?? this.active;
      const data = group.length === 1 ? group[0]!.batch : Buffer.concat(group.map((s) => s.batch), bytes);
      if (bytes <= this.tuning.maxWriteNowBytes && !group.some((s) => s.viaPool === true)) file.writeNow(data, segment.bytes);
      else await writeFully(file, data, segment.bytes);
    }
    segment.bytes += bytes;
    let snapshotIndex: number | undefined;
    for (const save of group) {
      segment.maxIndex = Math.max(segment.maxIndex, save.maxIndex);
      if (save.hardState !== undefined) this.writtenHardState = save.hardState;
      if (save.snapshot !== undefined) {
        this.writtenSnapshot = newer(this.writtenSnapshot, save.snapshot);
        snapshotIndex = Math.max(snapshotIndex ?? 0, save.snapshot.index);
      }
    }
    if (sync) {
      if (!syncedWrite && segment.synced < segment.bytes) await this.active.datasync();
      segment.synced = segment.bytes;
      if (snapshotIndex !== undefined) this.durableSnapshotIndex = Math.max(this.durableSnapshotIndex, snapshotIndex);
    }
  }

  /** Ends the active segment durably and starts the next, whose header carries what was written. */
  private async startSegment(current: Segment): Promise<Segment> {
    if (this.active !== undefined) {
      // A segment before the last is read as wholly synced.
      await this.endAtRecords(current);
      await this.closeActive();
    }
    const header = headerRecords(this.metadata, this.writtenHardState, this.writtenSnapshot);
    const { segment, handle } = await createSegment(this.fs, this.dir, current.seq + 1, current.maxIndex + 1, header);
    this.active = handle;
    this.segments = [...this.segments, segment];
    return segment;
  }

  private async deleteSegmentsTo(index: number): Promise<void> {
    // Oldest first, each removal made durable before the next, so a crash never leaves a gap in the
    // sequence. A failed removal or directory fsync stops the WAL (fail-stop).
    for (;;) {
      if (this.committer.failure !== undefined) throw this.committer.failure;
      const [oldest, next] = this.segments;
      if (oldest === undefined || next === undefined || oldest.maxIndex > index) return;
      try {
        await this.fs.remove(oldest.path);
        await this.fs.fsyncDir(this.dir);
      } catch (err) {
        throw this.committer.fail(err);
      }
      this.segments = this.segments.filter((s) => s !== oldest);
    }
  }
}

/**
 * What a corruption error offers: no cut. A member that forgets synced Raft state (a vote, entries
 * it acknowledged) can break Raft's safety, so the way out is to replace the member from the others.
 */
const remedy = 'restore';

/** Reads every segment in order into the state, cutting a torn tail off the last one. */
async function replay(fs: FileSystem, dir: string, names: readonly string[]): Promise<{ segments: Segment[]; active: DurableFile; state: RaftWalState }> {
  const firstSeq = parseInt(names[0]!.slice(0, 16), 16);
  const image = new RaftLogImage<Entry>({ termOf: (e) => e.term, anchored: firstSeq === 0 });
  let hardState = zeroHardState;
  let snapshot: SnapshotMarker | undefined;
  let metadata: RaftWalMetadata | undefined;
  const segments: Segment[] = [];
  let active: DurableFile | undefined;
  try {
    for (const [i, name] of names.entries()) {
      const seq = parseInt(name.slice(0, 16), 16);
      const path = join(dir, name);
      if (seq !== firstSeq + i) throw new CorruptFileError(path, 0, `segment ${seq} follows segment ${firstSeq + i - 1}: one is missing`, remedy);
      const isLast = i === names.length - 1;
      const handle = await fs.open(path, isLast ? 'r+' : 'r');
      if (isLast) active = handle;
      try {
        const size = (await handle.stat()).size;
        // Segments are renamed into place only once their header is synced: a missing one is damage.
        const salt = await readFileHeader(handle, segmentMagic);
        if (salt === undefined) throw new CorruptFileError(path, 0, `it does not start with ${segmentMagic.toString('latin1')}`, remedy);
        let at = fileHeaderBytes;
        let headerEnd = fileHeaderBytes;
        let maxIndex = 0;
        for await (const { payload, end } of readRecords(handle, size, { path, salt, mayBeTorn: isLast, remedy })) {
          let record: RaftWalRecord;
          try {
            record = decodeRecord(payload);
          } catch (err) {
            throw new CorruptFileError(path, at, err instanceof Error ? err.message : String(err), remedy);
          }
          if (at === fileHeaderBytes && record.kind !== 'metadata') throw new CorruptFileError(path, at, 'the segment does not start with a metadata record', remedy);
          switch (record.kind) {
            case 'metadata':
              if (metadata !== undefined && !sameMetadata(metadata, record.metadata)) throw new CorruptFileError(path, at, 'its metadata differs from the first segment’s', remedy);
              metadata ??= record.metadata;
              break;
            case 'entry': {
              const refusal = image.refusal(record.entry.index);
              if (refusal !== undefined) throw new CorruptFileError(path, at, refusal, remedy);
              image.put(record.entry.index, record.entry);
              maxIndex = Math.max(maxIndex, record.entry.index);
              break;
            }
            case 'hardState':
              hardState = record.hardState;
              break;
            case 'snapshot':
              if (image.snapshot(record.snapshot.index, record.snapshot.term)) snapshot = record.snapshot;
              break;
          }
          // The leading records that are not entries are the header a rotation wrote (or as good).
          if (headerEnd === at && record.kind !== 'entry') headerEnd = end;
          at = end;
        }
        if (metadata === undefined) throw new CorruptFileError(path, fileHeaderBytes, 'the segment has no metadata record', remedy);
        if (isLast) {
          if (at < size) await handle.truncate(at);
          // What was read may still be only in the page cache (a process crash keeps it): new
          // records may claim it synced only once it is.
          await handle.datasync();
        }
        segments.push({ seq, path, maxIndex, bytes: at, allocated: at, synced: at, salt, headerEnd });
      } finally {
        if (!isLast) await handle.close();
      }
    }
    const gap = image.gap();
    if (gap !== undefined) throw new Error(`raft WAL in ${dir}: ${gap}`);
    if (hardState.commit > image.lastIndex) throw new Error(`raft WAL in ${dir}: the hard state commits ${hardState.commit}, but the log ends at ${image.lastIndex}`);
  } catch (err) {
    await active?.close();
    throw err;
  }
  if (active === undefined || metadata === undefined) throw new Error(`raft WAL in ${dir}: no segment`);
  return { segments, active, state: { hardState, ...(snapshot !== undefined && { snapshot }), entries: [...image.entries], metadata } };
}

/** Writes a new segment as <name>.tmp with its header records, syncs it and renames it into place. */
async function createSegment(fs: FileSystem, dir: string, seq: number, firstIndexHint: number, records: readonly RaftWalRecord[]): Promise<{ segment: Segment; handle: DurableFile }> {
  const path = join(dir, segmentName(seq, firstIndexHint));
  const tmp = `${path}${tmpSuffix}`;
  const header = newFileHeader(segmentMagic);
  const save = encodeSave(records, true, undefined, undefined);
  for (let r = 0; r + 1 < save.bounds.length; r++) seal(save.batch.subarray(save.bounds[r], save.bounds[r + 1]), header.salt, 0);
  const handle = await fs.open(tmp, 'w+');
  try {
    await writeFully(handle, Buffer.concat([header.bytes, save.batch]), 0);
    await handle.datasync();
    await fs.rename(tmp, path);
    await fs.fsyncDir(dir);
  } catch (err) {
    await handle.close();
    throw err;
  }
  const bytes = fileHeaderBytes + save.batch.length;
  return { segment: { seq, path, maxIndex: 0, bytes, allocated: bytes, synced: bytes, salt: header.salt, headerEnd: bytes }, handle };
}

function headerRecords(metadata: RaftWalMetadata, hardState: HardState, snapshot: SnapshotMarker | undefined): RaftWalRecord[] {
  const records: RaftWalRecord[] = [{ kind: 'metadata', metadata }, { kind: 'hardState', hardState }];
  if (snapshot !== undefined) records.push({ kind: 'snapshot', snapshot });
  return records;
}

function encodeSave(records: readonly RaftWalRecord[], sync: boolean, hardState: HardState | undefined, snapshot: SnapshotMarker | undefined): Save {
  const size = records.reduce((sum, r) => sum + recordBytes(r), 0);
  const batch = Buffer.allocUnsafe(size);
  const bounds: number[] = [];
  let at = 0;
  let maxIndex = 0;
  for (const record of records) {
    bounds.push(at);
    at = encodeRecord(record, batch, at);
    if (record.kind === 'entry') maxIndex = Math.max(maxIndex, record.entry.index);
  }
  bounds.push(at);
  return { batch, bounds, sync, maxIndex, ...(hardState !== undefined && { hardState }), ...(snapshot !== undefined && { snapshot }) };
}

function newer(a: SnapshotMarker | undefined, b: SnapshotMarker): SnapshotMarker {
  return a !== undefined && a.index >= b.index ? a : b;
}

function sameMetadata(a: RaftWalMetadata, b: RaftWalMetadata): boolean {
  return a.memberId === b.memberId && a.clusterId === b.clusterId;
}

function segmentName(seq: number, firstIndexHint: number): string {
  return `${seq.toString(16).padStart(16, '0')}-${firstIndexHint.toString(16).padStart(16, '0')}.wal`;
}

function hex(id: bigint): string {
  return id.toString(16);
}

function closedError(): EtcdError {
  return new EtcdError('stopped', 'raft WAL is closed');
}
