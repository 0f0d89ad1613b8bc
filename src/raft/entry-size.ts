// How big entries count as for every byte limit in Raft (MsgApp size, committed entries per Ready,
// storage reads), so that the leader, the follower and the storage agree on where a batch ends.
import type { Entry } from './types.js';

/** Per-entry framing counted beside the payload (term, index, type), so empty entries are not free. */
export const entryOverheadBytes = 16;

export function entrySizeBytes(entry: Entry): number {
  return entry.data.byteLength + entryOverheadBytes;
}

/** The payload alone: what counts against maxUncommittedEntriesSize (an empty no-op costs nothing). */
export function payloadSizeBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const entry of entries) total += entry.data.byteLength;
  return total;
}

/** The longest prefix whose size stays within maxBytes; always at least one entry. */
export function limitSize(entries: readonly Entry[], maxBytes: number): readonly Entry[] {
  if (entries.length === 0) return entries;
  let size = entrySizeBytes(entries[0]!);
  let count = 1;
  while (count < entries.length) {
    size += entrySizeBytes(entries[count]!);
    if (size > maxBytes) break;
    count++;
  }
  return count === entries.length ? entries : entries.slice(0, count);
}
