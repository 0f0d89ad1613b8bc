// The membership a new data dir starts with: every member of --initial-cluster with etcd's bootstrap ID
// (peer URLs + cluster token, no time) and its name, as etcd's NewClusterFromURLsMap builds it. Client
// URLs stay empty until each member publishes them. This member is always in it with the identity the
// data dir holds (a data dir from before members.json existed may have been started with other flags).
import type { NodeId } from '../raft/types.js';
import { computeMemberId } from '../server/member-id.js';
import type { Member } from './member.js';

export interface SelfAtBootstrap {
  readonly id: NodeId;
  readonly name: string;
  readonly peerUrls: readonly string[];
}

export function initialMembers(
  initialCluster: ReadonlyMap<string, readonly string[]>,
  clusterToken: string,
  self: SelfAtBootstrap,
): Member[] {
  const members: Member[] = [];
  for (const [name, peerUrls] of initialCluster) {
    const id = computeMemberId(peerUrls, clusterToken);
    if (id === self.id || name === self.name) continue;
    members.push({ id, name, peerUrls: [...peerUrls], clientUrls: [], isLearner: false });
  }
  members.push({ id: self.id, name: self.name, peerUrls: [...self.peerUrls], clientUrls: [], isLearner: false });
  return members;
}
