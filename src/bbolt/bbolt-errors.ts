// The ways a bbolt file can be unusable, and the ways a writer's input can be wrong, as typed errors.

/** Why a file was refused; each names something an operator can act on. */
export type BboltFormatErrorKind =
  | 'not-bbolt' // too small, or neither meta page carries bbolt's magic
  | 'version-mismatch' // a bbolt file of another format version
  | 'bad-checksum' // both meta pages fail their FNV-64a checksum
  | 'page-out-of-range' // a page id at or past the high-water mark
  | 'truncated' // the file ends before a page the meta says it holds
  | 'bad-page' // a page whose header or elements do not fit what points to it
  | 'cycle' // a page reached again below itself, or a tree deeper than any real one
  | 'page-shared' // one page reached from two places
  | 'unsorted-keys'; // keys of a bucket out of order

export class BboltFormatError extends Error {
  constructor(
    readonly kind: BboltFormatErrorKind,
    readonly detail: string,
    /** The page the problem was found on, when there is one. */
    readonly pgid?: number,
  ) {
    super(`not a usable bbolt file: ${detail}`);
    this.name = 'BboltFormatError';
  }
}

/** Input a bbolt file cannot hold, refused before anything is written for it. */
export type BboltWriteErrorKind =
  | 'keys-not-sorted' // keys of one bucket must come in strictly increasing byte order
  | 'empty-key'
  | 'key-too-large'
  | 'value-too-large'
  | 'value-at-root' // bbolt's root holds buckets only
  | 'bad-page-size';

export class BboltWriteError extends Error {
  constructor(
    readonly kind: BboltWriteErrorKind,
    readonly detail: string,
  ) {
    super(`cannot write bbolt file: ${detail}`);
    this.name = 'BboltWriteError';
  }
}
