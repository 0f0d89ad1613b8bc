// Data dirs written before Lattice ran Raft kept a single member's log under <data-dir>/wal (LocalLog)
// and no Raft WAL. At the first start with Raft, that log becomes the start of the Raft log: a
// snapshot marker at the engine's applied index (term 1, this member alone), then every entry the
// engine had not applied yet, committed. The old directory is then renamed, not deleted, so a
// downgrade by hand stays possible.
import { rename, stat } from 'node:fs/promises';
import path from 'node:path';
import { LocalLog, defaultLocalLogOptions } from '../log/local-log.js';
import { proposalData } from '../log/raft-entries.js';
import type { RaftWal, RaftWalState } from '../log/raft-wal.js';
import { EntryType, type ConfState, type Entry } from '../raft/types.js';
import { nodeFileSystem } from '../storage/file-system.js';

const legacyDirName = 'wal';
const migratedDirName = 'wal.before-raft';

/** Moves the legacy log into the fresh Raft WAL; undefined when there is no legacy log. */
export async function migrateLegacyLog(
  dataDir: string,
  wal: RaftWal,
  state: RaftWalState,
  confState: ConfState,
  engineApplied: number,
): Promise<RaftWalState | undefined> {
  const legacyDir = path.join(dataDir, legacyDirName);
  if ((await stat(legacyDir).catch(() => undefined)) === undefined) return undefined;
  const legacy = await LocalLog.open(legacyDir, { ...defaultLocalLogOptions, fsync: true });
  const entries: Entry[] = [];
  try {
    for await (const e of legacy.readCommitted(engineApplied + 1, legacy.committedIndex)) {
      entries.push({ term: 1, index: e.index, type: EntryType.Normal, data: proposalData(e.requestId, e.command) });
    }
  } finally {
    await legacy.close();
  }
  if (engineApplied === 0) {
    // Possible only after a power failure right after the first writes: nothing to anchor the log to.
    throw new Error(`${legacyDir} holds a log but the engine has applied none of it; start the earlier Lattice on this data dir once, or remove the data dir`);
  }
  const snapshot = { index: engineApplied, term: 1, confState };
  const hardState = { term: 1, vote: 0n, commit: engineApplied + entries.length };
  await wal.saveSnapshot(snapshot);
  await wal.save(hardState, entries, true);
  await rename(legacyDir, path.join(dataDir, migratedDirName));
  await nodeFileSystem.fsyncDir(dataDir);
  return { ...state, snapshot, hardState, entries };
}
