// Lattice's own binary encoding of Raft messages between members. Lattice talks only to Lattice, so
// the format is ours: unsigned LEB128 varints for every integer (a heartbeat is ~10 bytes), a byte
// for enums and flags, length-prefixed byte strings. Decoding trusts nothing: every length is checked
// against the bytes actually present before anything is allocated, enums against their ranges,
// integers against their types (ids up to 2^64-1 as bigint, terms and indexes up to 2^53-1), and a
// malformed input comes back as a PeerCodecError value, never as a throw.
import {
  EntryType,
  MessageType,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type Snapshot,
} from '../raft/types.js';

/**
 * Largest encoded batch (one frame) a member sends or accepts. A single MsgApp carries up to
 * maxSizePerMsg (etcd: 1 MiB) of entries plus the one entry that crosses it, and one entry is at most
 * --max-request-bytes (etcd: 1.5 MiB; etcd warns above 10 MiB); 16 MiB covers that with room for
 * the envelope while bounding what one inbound stream can make us buffer. Raise it together with
 * --max-request-bytes.
 */
export const defaultMaxPeerMessageBytes = 16 * 1024 * 1024;

const maxMessageType = MessageType.PreVoteResp;
const maxEntryType = EntryType.ConfChange;
const flagReject = 1;
const flagSnapshot = 2;
const knownFlags = flagReject | flagSnapshot;
const maxUint64 = (1n << 64n) - 1n;
/** The fewest bytes an encoded entry takes (term, index, type, data length): bounds the entry count. */
const minEntryBytes = 4;
/** The fewest bytes an encoded message takes (see encodeMessage): bounds a batch's message count. */
const minMessageBytes = 11;

export type PeerCodecErrorKind =
  /** The input ends inside a field. */
  | 'truncated'
  /** A length or count exceeds the bytes present or the configured limit. */
  | 'tooLarge'
  /** An enum byte outside its range, or unknown flag bits. */
  | 'badEnum'
  /** A varint longer than 64 bits, or a value too large for its field. */
  | 'outOfRange'
  /** Bytes left over after the last message. */
  | 'trailingBytes';

export interface PeerCodecError {
  readonly kind: PeerCodecErrorKind;
  /** Which field, for the log. */
  readonly field: string;
  /** Byte offset in the input where decoding stopped. */
  readonly offset: number;
}

export type DecodeResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: PeerCodecError };

// --- sizes ----------------------------------------------------------------------------------------

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Bits in the low part of a 64-bit id handled as a plain number: 7 varint groups. */
const lowBits = 49n;
const lowMask = (1n << lowBits) - 1n;
const maxSafe = BigInt(Number.MAX_SAFE_INTEGER);

// Member ids are random 64-bit values, sent twice per message: bigint arithmetic per 7-bit group cost
// more than the rest of a heartbeat's encoding, so the low 49 bits go as a number.
function bigVarintSize(n: bigint): number {
  return n <= maxSafe ? varintSize(Number(n)) : 7 + varintSize(Number(n >> lowBits));
}

const bytesSize = (b: Uint8Array): number => varintSize(b.length) + b.length;

function entrySize(e: Entry): number {
  return varintSize(e.term) + varintSize(e.index) + 1 + bytesSize(e.data);
}

function idsSize(ids: readonly NodeId[]): number {
  let size = varintSize(ids.length);
  for (const id of ids) size += bigVarintSize(id);
  return size;
}

function snapshotSize(s: Snapshot): number {
  const m = s.metadata;
  return varintSize(m.index) + varintSize(m.term) + idsSize(m.confState.voters) + idsSize(m.confState.learners) + bytesSize(s.data);
}

/** Exact length of encodeMessage(m): what the send queue accounts per message. */
export function encodedMessageSize(m: Message): number {
  let size = 1 + bigVarintSize(m.to) + bigVarintSize(m.from);
  size += varintSize(m.term) + varintSize(m.logTerm) + varintSize(m.index) + varintSize(m.commit) + varintSize(m.rejectHint);
  size += 1 + bytesSize(m.context) + varintSize(m.entries.length);
  for (const e of m.entries) size += entrySize(e);
  if (m.snapshot !== undefined) size += snapshotSize(m.snapshot);
  return size;
}

export function encodedBatchSize(messages: readonly Message[]): number {
  let size = varintSize(messages.length);
  for (const m of messages) size += encodedMessageSize(m);
  return size;
}

// --- encoding -------------------------------------------------------------------------------------

class Writer {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  byte(b: number): void {
    this.bytes[this.offset++] = b;
  }

  /** Non-negative safe integer; callers pass Raft's numbers, which are never negative. */
  varint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`cannot encode ${n} as an unsigned integer`);
    while (n >= 0x80) {
      this.bytes[this.offset++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.bytes[this.offset++] = n;
  }

  bigVarint(n: bigint): void {
    if (n < 0n || n > maxUint64) throw new RangeError(`cannot encode ${n} as a uint64`);
    if (n <= maxSafe) return this.varint(Number(n));
    // Above 2^53 the high part is not zero, so all 7 low groups carry a continuation bit.
    let low = Number(n & lowMask);
    for (let i = 0; i < 7; i++) {
      this.bytes[this.offset++] = (low % 128) | 0x80;
      low = Math.floor(low / 128);
    }
    this.varint(Number(n >> lowBits));
  }

  data(b: Uint8Array): void {
    this.varint(b.length);
    this.bytes.set(b, this.offset);
    this.offset += b.length;
  }

  ids(ids: readonly NodeId[]): void {
    this.varint(ids.length);
    for (const id of ids) this.bigVarint(id);
  }
}

function writeMessage(w: Writer, m: Message): void {
  w.byte(m.type);
  w.bigVarint(m.to);
  w.bigVarint(m.from);
  w.varint(m.term);
  w.varint(m.logTerm);
  w.varint(m.index);
  w.varint(m.commit);
  w.varint(m.rejectHint);
  w.byte((m.reject ? flagReject : 0) | (m.snapshot !== undefined ? flagSnapshot : 0));
  w.data(m.context);
  w.varint(m.entries.length);
  for (const e of m.entries) {
    w.varint(e.term);
    w.varint(e.index);
    w.byte(e.type);
    w.data(e.data);
  }
  if (m.snapshot !== undefined) {
    const meta = m.snapshot.metadata;
    w.varint(meta.index);
    w.varint(meta.term);
    w.ids(meta.confState.voters);
    w.ids(meta.confState.learners);
    w.data(m.snapshot.data);
  }
}

/**
 * Encodes one message. Throws RangeError only for a message our own Raft could not have produced
 * (a negative or fractional number): that is a programming error on the sending side.
 */
export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer(new Uint8Array(encodedMessageSize(m)));
  writeMessage(w, m);
  return w.bytes;
}

/** Encodes a batch: a count, then the messages in order. `prefixBytes` are left free at the front for a frame header. */
export function encodeBatch(messages: readonly Message[], prefixBytes = 0): Uint8Array {
  const w = new Writer(new Uint8Array(prefixBytes + encodedBatchSize(messages)));
  w.offset = prefixBytes;
  w.varint(messages.length);
  for (const m of messages) writeMessage(w, m);
  return w.bytes;
}

// --- decoding -------------------------------------------------------------------------------------

/** Thrown only inside this module and always caught by decode*; never escapes. */
class Malformed {
  constructor(readonly error: PeerCodecError) {}
}

class Reader {
  offset = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly end: number,
  ) {}

  get remaining(): number {
    return this.end - this.offset;
  }

  fail(kind: PeerCodecErrorKind, field: string): never {
    throw new Malformed({ kind, field, offset: this.offset });
  }

  byte(field: string): number {
    if (this.offset >= this.end) this.fail('truncated', field);
    return this.bytes[this.offset++] as number;
  }

  /** A varint that must fit a safe integer (terms, indexes, lengths). */
  varint(field: string): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte(field);
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) this.fail('outOfRange', field);
        return result;
      }
      scale *= 128;
    }
    // 8 groups of 7 bits already exceed 2^53
    return this.fail('outOfRange', field);
  }

  bigVarint(field: string): bigint {
    // The first 7 groups (49 bits) as a number, up to 3 more (21 bits) as another: see bigVarintSize.
    let low = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      const b = this.byte(field);
      low += (b & 0x7f) * scale;
      if (b < 0x80) return BigInt(low);
      scale *= 128;
    }
    let high = 0;
    scale = 1;
    for (let i = 0; i < 3; i++) {
      const b = this.byte(field);
      high += (b & 0x7f) * scale;
      if (b < 0x80) {
        const result = BigInt(low) | (BigInt(high) << lowBits);
        if (result > maxUint64) this.fail('outOfRange', field);
        return result;
      }
      scale *= 128;
    }
    return this.fail('outOfRange', field);
  }

  /** A length-prefixed byte string, copied: a view would pin the whole frame for as long as Raft keeps the entry. */
  data(field: string): Uint8Array {
    const length = this.varint(field);
    if (length > this.remaining) this.fail(length > this.end ? 'tooLarge' : 'truncated', field);
    const out = this.bytes.slice(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  /** A count of items each at least minItemBytes long, checked against the bytes left before any allocation. */
  count(field: string, minItemBytes: number): number {
    const n = this.varint(field);
    if (n * minItemBytes > this.remaining) this.fail('tooLarge', field);
    return n;
  }

  ids(field: string): NodeId[] {
    const n = this.count(field, 1);
    const ids: NodeId[] = [];
    for (let i = 0; i < n; i++) ids.push(this.bigVarint(field));
    return ids;
  }
}

const emptyBytes = new Uint8Array(0);

function readMessage(r: Reader): Message {
  const type = r.byte('type');
  if (type > maxMessageType) r.fail('badEnum', 'type');
  const to = r.bigVarint('to');
  const from = r.bigVarint('from');
  const term = r.varint('term');
  const logTerm = r.varint('logTerm');
  const index = r.varint('index');
  const commit = r.varint('commit');
  const rejectHint = r.varint('rejectHint');
  const flags = r.byte('flags');
  if ((flags & ~knownFlags) !== 0) r.fail('badEnum', 'flags');
  const context = r.data('context');
  const entryCount = r.count('entries', minEntryBytes);
  const entries: Entry[] = [];
  for (let i = 0; i < entryCount; i++) {
    const eTerm = r.varint('entry.term');
    const eIndex = r.varint('entry.index');
    const eType = r.byte('entry.type');
    if (eType > maxEntryType) r.fail('badEnum', 'entry.type');
    const data = r.data('entry.data');
    entries.push({ term: eTerm, index: eIndex, type: eType as EntryType, data: data.length === 0 ? emptyBytes : data });
  }
  let snapshot: Snapshot | undefined;
  if ((flags & flagSnapshot) !== 0) {
    const sIndex = r.varint('snapshot.index');
    const sTerm = r.varint('snapshot.term');
    const confState: ConfState = { voters: r.ids('snapshot.voters'), learners: r.ids('snapshot.learners') };
    snapshot = { metadata: { index: sIndex, term: sTerm, confState }, data: r.data('snapshot.data') };
  }
  const base = {
    type: type as MessageType,
    to,
    from,
    term,
    logTerm,
    index,
    entries,
    commit,
    reject: (flags & flagReject) !== 0,
    rejectHint,
    context: context.length === 0 ? emptyBytes : context,
  };
  return snapshot === undefined ? base : { ...base, snapshot };
}

function decodeWith<T>(bytes: Uint8Array, read: (r: Reader) => T): DecodeResult<T> {
  const r = new Reader(bytes, bytes.length);
  try {
    const value = read(r);
    if (r.remaining !== 0) return { ok: false, error: { kind: 'trailingBytes', field: 'end', offset: r.offset } };
    return { ok: true, value };
  } catch (e) {
    if (e instanceof Malformed) return { ok: false, error: e.error };
    // Nothing else can throw on a Uint8Array input; should it, it is still reported, never rethrown.
    return { ok: false, error: { kind: 'outOfRange', field: `internal: ${String(e)}`, offset: r.offset } };
  }
}

export function decodeMessage(bytes: Uint8Array): DecodeResult<Message> {
  return decodeWith(bytes, readMessage);
}

/** Decodes a batch; `maxMessages` bounds the count beyond what the byte length already bounds. */
export function decodeBatch(bytes: Uint8Array, maxMessages = Number.MAX_SAFE_INTEGER): DecodeResult<Message[]> {
  return decodeWith(bytes, (r) => {
    const n = r.count('count', minMessageBytes);
    if (n > maxMessages) r.fail('tooLarge', 'count');
    const messages: Message[] = [];
    for (let i = 0; i < n; i++) messages.push(readMessage(r));
    return messages;
  });
}

export const describeCodecError = (e: PeerCodecError): string => `${e.kind} ${e.field} at byte ${e.offset}`;
