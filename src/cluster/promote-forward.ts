// `member promote` on a follower: only the leader knows whether the learner is in sync, so the
// follower forwards the request to the leader's peer URLs until one answers or the request timeout
// passes (etcd's PromoteMember: ErrNotLeader → promoteMemberHTTP, retried while the leader changes).
import { EtcdError } from '../core/errors.js';
import { requestPromote, type PromoteAnswer } from '../peer/promote-request.js';
import type { PeerTls } from '../peer/peer-endpoints.js';
import type { NodeId } from '../raft/types.js';
import { remoteClusterJson, parseRemoteCluster } from '../server/join-cluster.js';
import type { Member } from './member.js';

/** Pause between rounds while there is no leader or its URLs do not answer. */
const retryPauseMs = 100;

export interface PromoteForwardDeps {
  /** The current leader as this member knows it (0n: none). */
  leader(): NodeId;
  peerUrlsOf(id: NodeId): readonly string[];
  readonly requestTimeoutMs: number;
  readonly peerTls?: PeerTls;
}

export async function forwardPromote(deps: PromoteForwardDeps, id: NodeId): Promise<readonly Member[]> {
  const deadline = Date.now() + deps.requestTimeoutMs;
  while (Date.now() < deadline) {
    const leader = deps.leader();
    for (const url of leader === 0n ? [] : deps.peerUrlsOf(leader)) {
      const outcome = await requestPromote(url, id, Math.max(1, deadline - Date.now()), deps.peerTls);
      if (outcome.type === 'promoted') return parseRemoteCluster(outcome.members).members;
      if (outcome.type === 'refused') throw new EtcdError(outcome.error);
    }
    await new Promise((resolve) => setTimeout(resolve, retryPauseMs));
  }
  throw new EtcdError('timeout');
}

/** The leader's side: run the promotion here and answer the forwarding follower. */
export async function answerPromote(promote: () => Promise<readonly Member[]>, clusterId: bigint): Promise<PromoteAnswer> {
  try {
    return { type: 'promoted', members: remoteClusterJson(clusterId, await promote()) };
  } catch (e) {
    if (e instanceof EtcdError) return { type: 'refused', error: e.kind };
    throw e;
  }
}
