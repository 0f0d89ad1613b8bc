// Why a snapshot file cannot be restored, or a data dir cannot be made from it.

export type SnapshotRestoreErrorKind =
  | 'data-dir-not-empty' // the target already holds something: a restore never overwrites
  | 'hash-missing' // no sha256 trailer (etcd's file copied out of a data dir, or cut short)
  | 'hash-mismatch' // the trailer does not match the bytes before it
  | 'not-bbolt' // the file is not a usable bbolt file (BboltFormatError says why)
  | 'not-etcd' // a bbolt file without etcd's buckets
  | 'bad-entry' // an entry of etcd's buckets that etcd could not have written
  | 'bad-flags'; // --name / --initial-cluster / --initial-advertise-peer-urls disagree

export class SnapshotRestoreError extends Error {
  constructor(
    readonly kind: SnapshotRestoreErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'SnapshotRestoreError';
  }
}

/** Why Maintenance.Snapshot did not make an image. */
export type SnapshotExportErrorKind =
  | 'busy' // maxConcurrentImages images are being made or sent already
  | 'no-disk-space' // the temp dir's disk has less room than the image needs
  | 'not-persisted' // the engine did not reach the applied revision in time
  | 'aborted'; // the client went away

export class SnapshotExportError extends Error {
  constructor(
    readonly kind: SnapshotExportErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'SnapshotExportError';
  }
}
