// The payloads of the Raft WAL's records (src/log/raft-wal.ts), each a u8 kind then its fields:
//   1 metadata   u64 member id | u64 cluster id
//   2 entry      u64 term | u64 index | u8 type | data
//   3 hard state u64 term | u64 vote | u64 commit
//   4 snapshot   u64 index | u64 term | u32 voter count | u64 voter* | u32 learner count | u64 learner*
// Integers are little-endian. Terms and indices are numbers below 2^53; IDs are uint64 bigints.
// The record framing around them (length, CRC, synced-through mark) is src/storage/record-file.ts.

import type { ConfState, Entry, EntryType, HardState, NodeId } from '../raft/types.js';
import { recordHeaderBytes } from '../storage/record-file.js';

export interface RaftWalMetadata {
  readonly memberId: bigint;
  readonly clusterId: bigint;
}

export interface SnapshotMarker {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export type RaftWalRecord =
  | { readonly kind: 'metadata'; readonly metadata: RaftWalMetadata }
  | { readonly kind: 'entry'; readonly entry: Entry }
  | { readonly kind: 'hardState'; readonly hardState: HardState }
  | { readonly kind: 'snapshot'; readonly snapshot: SnapshotMarker };

const kindMetadata = 1;
const kindEntry = 2;
const kindHardState = 3;
const kindSnapshot = 4;

/** Largest entry data; the record length field is a u32. */
export const maxEntryDataBytes = 512 * 1024 * 1024;
const entryFixedBytes = 1 + 8 + 8 + 1;
/** Members a snapshot's ConfState may list; more is damage, not a cluster. */
const maxConfStateMembers = 1 << 16;

/** Bytes a record of this entry takes, header included. */
export function entryRecordBytes(entry: Entry): number {
  return recordHeaderBytes + entryFixedBytes + entry.data.length;
}

/**
 * Encodes a record into `out` at `at` (leaving the 16-byte record header for sealing) and returns
 * the offset past it. `out` must have room: see recordBytes.
 */
export function encodeRecord(record: RaftWalRecord, out: Buffer, at: number): number {
  let p = at + recordHeaderBytes;
  switch (record.kind) {
    case 'metadata':
      p = out.writeUInt8(kindMetadata, p);
      p = out.writeBigUInt64LE(record.metadata.memberId, p);
      return out.writeBigUInt64LE(record.metadata.clusterId, p);
    case 'entry': {
      const { entry } = record;
      p = out.writeUInt8(kindEntry, p);
      p = writeU64(out, p, entry.term);
      p = writeU64(out, p, entry.index);
      p = out.writeUInt8(entry.type, p);
      out.set(entry.data, p);
      return p + entry.data.length;
    }
    case 'hardState':
      p = out.writeUInt8(kindHardState, p);
      p = writeU64(out, p, record.hardState.term);
      p = out.writeBigUInt64LE(record.hardState.vote, p);
      return writeU64(out, p, record.hardState.commit);
    case 'snapshot': {
      const { index, term, confState } = record.snapshot;
      p = out.writeUInt8(kindSnapshot, p);
      p = writeU64(out, p, index);
      p = writeU64(out, p, term);
      for (const ids of [confState.voters, confState.learners]) {
        p = out.writeUInt32LE(ids.length, p);
        for (const id of ids) p = out.writeBigUInt64LE(id, p);
      }
      return p;
    }
  }
}

/** Bytes the record takes, header included. */
export function recordBytes(record: RaftWalRecord): number {
  switch (record.kind) {
    case 'metadata':
      return recordHeaderBytes + 1 + 16;
    case 'entry':
      return entryRecordBytes(record.entry);
    case 'hardState':
      return recordHeaderBytes + 1 + 24;
    case 'snapshot':
      return recordHeaderBytes + 1 + 16 + 8 + 8 * (record.snapshot.confState.voters.length + record.snapshot.confState.learners.length);
  }
}

/** Decodes a payload; a malformed one is an Error (the caller names the file and offset). */
export function decodeRecord(payload: Buffer): RaftWalRecord {
  const need = (bytes: number): void => {
    if (payload.length < bytes) throw new Error(`a record of ${payload.length} bytes is too short for its kind`);
  };
  need(1);
  const kind = payload.readUInt8(0);
  switch (kind) {
    case kindMetadata:
      need(17);
      return { kind: 'metadata', metadata: { memberId: payload.readBigUInt64LE(1), clusterId: payload.readBigUInt64LE(9) } };
    case kindEntry:
      need(entryFixedBytes);
      return {
        kind: 'entry',
        entry: {
          term: readU64(payload, 1),
          index: readU64(payload, 9),
          type: payload.readUInt8(17) as EntryType,
          // A copy, so a kept entry does not pin the whole read chunk.
          data: Buffer.from(payload.subarray(entryFixedBytes)),
        },
      };
    case kindHardState:
      need(25);
      return { kind: 'hardState', hardState: { term: readU64(payload, 1), vote: payload.readBigUInt64LE(9), commit: readU64(payload, 17) } };
    case kindSnapshot: {
      need(21);
      let p = 17;
      const lists: NodeId[][] = [];
      for (let l = 0; l < 2; l++) {
        need(p + 4);
        const count = payload.readUInt32LE(p);
        p += 4;
        if (count > maxConfStateMembers) throw new Error(`a snapshot record lists ${count} members`);
        need(p + 8 * count);
        const ids: NodeId[] = [];
        for (let i = 0; i < count; i++, p += 8) ids.push(payload.readBigUInt64LE(p));
        lists.push(ids);
      }
      if (p !== payload.length) throw new Error('a snapshot record has trailing bytes');
      return { kind: 'snapshot', snapshot: { index: readU64(payload, 1), term: readU64(payload, 9), confState: { voters: lists[0] ?? [], learners: lists[1] ?? [] } } };
    }
    default:
      throw new Error(`unknown record kind ${kind}`);
  }
}

function writeU64(buffer: Buffer, at: number, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${value} is not a term or index`);
  buffer.writeUInt32LE(value % 0x1_0000_0000, at);
  buffer.writeUInt32LE(Math.floor(value / 0x1_0000_0000), at + 4);
  return at + 8;
}

function readU64(buffer: Buffer, at: number): number {
  return buffer.readUInt32LE(at) + buffer.readUInt32LE(at + 4) * 0x1_0000_0000;
}
