// A file layer over node:fs that fails chosen operations with a chosen errno, to test fail-stop.
import { nodeFileSystem, type DurableFile, type FileSystem } from '../../src/storage/file-system.js';

export type FaultyOp = 'write' | 'datasync';

export interface FaultPlan {
  /** Which operation fails. */
  op: FaultyOp;
  /** errno code of the failure, e.g. EIO or ENOSPC. */
  code: string;
  /** Only files whose path contains this fail (e.g. "/wal/" for the revision log). */
  pathContains: string;
  /** Armed: the next matching operation fails, and so does every one after it. */
  armed: boolean;
}

export function errnoError(code: string, syscall: string): NodeJS.ErrnoException {
  const text = code === 'ENOSPC' ? 'no space left on device' : code === 'EIO' ? 'i/o error' : code.toLowerCase();
  return Object.assign(new Error(`${code}: ${text}, ${syscall}`), { code, syscall });
}

/** node:fs with the plan's operation failing on matching files once armed. */
export function faultyFileSystem(plan: FaultPlan): FileSystem {
  const fails = (op: FaultyOp, path: string): boolean => plan.armed && plan.op === op && path.includes(plan.pathContains);
  const wrap = (file: DurableFile, path: string, syncedWrites: boolean): DurableFile => {
    // With O_DSYNC the sync happens inside write(2), so a failing sync is a failing write.
    const writeFails = (): boolean => fails('write', path) || (syncedWrites && fails('datasync', path));
    return {
      read: (buffer, offset, length, position) => file.read(buffer, offset, length, position),
      write: (buffer, offset, length, position) => (writeFails() ? Promise.reject(errnoError(plan.code, 'write')) : file.write(buffer, offset, length, position)),
      writev: (buffers, position) => (writeFails() ? Promise.reject(errnoError(plan.code, 'write')) : file.writev(buffers, position)),
      writeNow: (buffer, position) => {
        if (writeFails()) throw errnoError(plan.code, 'write');
        file.writeNow(buffer, position);
      },
      datasync: () => (fails('datasync', path) ? Promise.reject(errnoError(plan.code, 'fdatasync')) : file.datasync()),
      truncate: (length) => file.truncate(length),
      stat: () => file.stat(),
      close: () => file.close(),
    };
  };
  return { ...nodeFileSystem, open: async (path, flags) => wrap(await nodeFileSystem.open(path, flags), path, flags === 'r+sync') };
}
