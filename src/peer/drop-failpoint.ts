// Test-only network partition: when the environment variable LATTICE_FAILPOINT_PEER_DROP_FILE names a
// file, the peer transport drops every Raft message to and from the member IDs listed in it (hex, as
// etcd prints them, one per line or separated by spaces/commas; '#' starts a comment). The file is
// re-read at most every dropFileRereadMs, so a test partitions and heals a running member by
// rewriting it; a missing or empty file drops nothing. Connections stay up (link heartbeats still
// flow): Raft sees a partition, the transport does not, which is what the fault tests need.
// With the variable unset, no failpoint exists and the transport does not consult one.
import { readFileSync } from 'node:fs';

export const peerDropFileEnv = 'LATTICE_FAILPOINT_PEER_DROP_FILE';
/** How stale the list may be: the delay between a test rewriting the file and the member obeying it. */
export const dropFileRereadMs = 100;
/** A drop file longer than this is read only up to here (it lists a handful of IDs). */
const maxDropFileBytes = 64 * 1024;

export interface PeerDropFailpoint {
  /** Should traffic to or from this member be dropped now? */
  drops(peer: bigint): boolean;
}

const hexId = /^[0-9a-fA-F]{1,16}$/;

/** The IDs a drop file lists; words that are not hex member IDs are ignored. */
export function parseDropList(text: string): ReadonlySet<bigint> {
  const ids = new Set<bigint>();
  for (const line of text.split('\n')) {
    for (const word of (line.split('#')[0] ?? '').split(/[\s,]+/)) {
      if (hexId.test(word)) ids.add(BigInt('0x' + word));
    }
  }
  return ids;
}

/** The failpoint named by env, or undefined when the variable is unset or empty. */
export function peerDropFailpointFromEnv(env: NodeJS.ProcessEnv, now: () => number = Date.now): PeerDropFailpoint | undefined {
  const file = env[peerDropFileEnv];
  if (file === undefined || file === '') return undefined;
  let dropped: ReadonlySet<bigint> = new Set();
  let readAt = Number.NEGATIVE_INFINITY;
  const reread = (): void => {
    try {
      dropped = parseDropList(readFileSync(file, 'utf8').slice(0, maxDropFileBytes));
    } catch {
      dropped = new Set(); // no file: no partition
    }
  };
  return {
    drops(peer) {
      const t = now();
      if (t - readAt >= dropFileRereadMs) {
        readAt = t;
        reread();
      }
      return dropped.has(peer);
    },
  };
}
