// What a member's state machine holds: one record per applied index, from index 1 on. The simulation
// compares these across members (the state machine safety check) and reads client values from them.
import { EntryType, type Entry } from '../../../src/raft/types.js';

export type AppliedKind = 'noop' | 'value' | 'conf';

export interface AppliedRecord {
  readonly index: number;
  readonly term: number;
  readonly kind: AppliedKind;
  /** The client's value, or the hex of a conf change's bytes. */
  readonly value: string;
}

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

export const encodeValue = (value: string): Uint8Array => encoder.encode(value);

/** A fingerprint of an entry's content, equal for equal type and data. */
export function entryFingerprint(entry: Entry): string {
  if (entry.type === EntryType.ConfChange) return `conf:${Buffer.from(entry.data).toString('hex')}`;
  return entry.data.length === 0 ? 'noop' : `value:${utf8.decode(entry.data)}`;
}

export function recordOf(entry: Entry): AppliedRecord {
  if (entry.type === EntryType.ConfChange) {
    return { index: entry.index, term: entry.term, kind: 'conf', value: Buffer.from(entry.data).toString('hex') };
  }
  if (entry.data.length === 0) return { index: entry.index, term: entry.term, kind: 'noop', value: '' };
  return { index: entry.index, term: entry.term, kind: 'value', value: utf8.decode(entry.data) };
}

export const sameRecord = (a: AppliedRecord, b: AppliedRecord): boolean =>
  a.index === b.index && a.term === b.term && a.kind === b.kind && a.value === b.value;

export const describeRecord = (r: AppliedRecord): string =>
  `${r.index}@${r.term} ${r.kind}${r.value === '' ? '' : ` ${r.value.length > 24 ? `${r.value.slice(0, 24)}..` : r.value}`}`;
