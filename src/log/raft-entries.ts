// How a Raft-backed RevisionLog carries the store's commands in Raft entries: a proposal's bytes
// (command.ts) are a Normal entry's data; a new leader's empty Normal entry is the no-op; a ConfChange
// entry's data goes to the store untouched (the membership module decodes it).
import { EntryType, type Entry } from '../raft/types.js';
import { decodeProposal, encodeProposal, type Command, type LogEntry } from './command.js';

/** The data of the Normal entry that proposes `command` under `requestId`. */
export const proposalData = (requestId: bigint, command: Command): Uint8Array => encodeProposal(requestId, command);

/** The entry the store applies for a committed Raft entry; throws LogEntryDecodeError on an unknown one. */
export function logEntryOf(entry: Entry): LogEntry {
  const { index, term } = entry;
  if (entry.type === EntryType.ConfChange) return { index, term, requestId: 0n, command: { type: 'confChange', data: entry.data } };
  if (entry.data.length === 0) return { index, term, requestId: 0n, command: { type: 'noop' } };
  return decodeProposal(index, term, entry.data);
}
