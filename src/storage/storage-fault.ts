// What a storage failure means for clients and operators. A failed write or fsync stops the member
// (fail-stop); a full disk is also raised as etcd's NOSPACE alarm. etcd answers writes under NOSPACE
// with "etcdserver: mvcc: database space exceeded", the closest etcd text for a real disk-full,
// which etcd itself never reports (it panics on a failed WAL write).
import { EtcdError } from '../core/errors.js';
import { errorCode } from './file-system.js';

/** etcd's alarm types (etcdserverpb.AlarmType) that a storage failure raises. */
export type StorageAlarm = 'NOSPACE';

export interface StorageFault {
  readonly alarm: StorageAlarm | undefined;
  /** One line for Status `errors` and the log. */
  readonly description: string;
  readonly cause: Error;
}

/** errno codes that mean the file system has no room left for the write. */
const noSpaceCodes: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT']);

export function describeStorageFault(cause: unknown): StorageFault {
  const error = cause instanceof Error ? cause : new Error(String(cause));
  const code = errorCode(error);
  const alarm = code !== undefined && noSpaceCodes.has(code) ? 'NOSPACE' : undefined;
  // An error without an errno came from applying, not from the disk.
  const what = alarm === 'NOSPACE' ? 'the disk is full' : code !== undefined ? 'storage failed' : 'the store stopped';
  return {
    alarm,
    description: `etcdserver: ${what} (${error.message}); this member takes no more writes until it is restarted`,
    cause: error,
  };
}

/** The error a write gets once the member has stopped on a storage fault. */
export function refusalFor(fault: StorageFault): EtcdError {
  return fault.alarm === 'NOSPACE' ? new EtcdError('noSpace', fault.description) : new EtcdError('stopped', fault.description);
}
