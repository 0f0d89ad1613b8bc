// A member started with --initial-cluster-state existing on an empty data dir joins a running
// cluster, as etcd does (getClusterFromRemotePeers, ValidateClusterAndAssignIDs): it reads the member
// list from the other members' peer URLs, finds itself there by its advertised peer URLs (the ID
// `member add` gave it), and takes the cluster's ID from the answer. Its log then arrives from the
// leader, from the first entry or as a snapshot.
import { byMemberId, type Member } from '../cluster/member.js';
import { fetchMembersFromPeers } from '../peer/peer-transport.js';
import type { PeerTls } from '../peer/peer-endpoints.js';
import type { ServerConfig } from './config.js';
import { formatId, parseId } from './member-id.js';
import type { MemberIdentity } from './member-identity.js';

/** How long each peer URL gets to answer GET /members (etcd: 10 s for the whole list, 1 s per try). */
const fetchTimeoutMs = 5_000;

export interface RemoteCluster {
  readonly clusterId: bigint;
  readonly members: readonly Member[];
}

/** What GET /members on the peer port answers. */
export function remoteClusterJson(clusterId: bigint, members: readonly Member[]): unknown {
  return {
    clusterId: formatId(clusterId),
    members: members.map((m) => ({ id: formatId(m.id), name: m.name, peerURLs: m.peerUrls, clientURLs: m.clientUrls, isLearner: m.isLearner })),
  };
}

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((u) => typeof u === 'string');

/** Throws an Error saying what is wrong for anything that is not a member list. */
export function parseRemoteCluster(json: unknown): RemoteCluster {
  if (typeof json !== 'object' || json === null) throw new Error('member list from peer: not a JSON object');
  const { clusterId, members } = json as Record<string, unknown>;
  if (typeof clusterId !== 'string' || !Array.isArray(members)) throw new Error('member list from peer: no clusterId or members');
  return {
    clusterId: parseId(clusterId),
    members: members.map((raw: unknown): Member => {
      if (typeof raw !== 'object' || raw === null) throw new Error('member list from peer: a member is not an object');
      const m = raw as Record<string, unknown>;
      if (typeof m.id !== 'string' || typeof m.name !== 'string' || !isStringList(m.peerURLs) || !isStringList(m.clientURLs) || typeof m.isLearner !== 'boolean') {
        throw new Error('member list from peer: a member lacks id, name, peerURLs, clientURLs or isLearner');
      }
      return { id: parseId(m.id), name: m.name, peerUrls: m.peerURLs, clientUrls: m.clientURLs, isLearner: m.isLearner };
    }),
  };
}

const sameUrls = (a: readonly string[], b: readonly string[]): boolean => {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((u, i) => u === y[i]);
};

export interface Joined {
  readonly identity: MemberIdentity;
  readonly members: readonly Member[];
}

type JoinFlags = Pick<ServerConfig, 'initialCluster' | 'initialAdvertisePeerUrls' | 'initialClusterToken'>;

export async function joinExistingCluster(flags: JoinFlags, peerTls?: PeerTls): Promise<Joined> {
  const others = [...flags.initialCluster.values()].flat().filter((u) => !flags.initialAdvertisePeerUrls.includes(u));
  if (others.length === 0) throw new Error('--initial-cluster-state existing: --initial-cluster names no other member to join');
  const remote = parseRemoteCluster(await fetchMembersFromPeers(others, fetchTimeoutMs, peerTls));
  const self = remote.members.find((m) => sameUrls(m.peerUrls, flags.initialAdvertisePeerUrls));
  if (self === undefined) {
    throw new Error(
      `error validating peerURLs: no member of cluster ${formatId(remote.clusterId)} has the peer URLs ${flags.initialAdvertisePeerUrls.join(',')} ` +
        `(add it first with "etcdctl member add")`,
    );
  }
  return {
    identity: { memberId: self.id, clusterId: remote.clusterId, clusterToken: flags.initialClusterToken, peerUrls: [...flags.initialAdvertisePeerUrls] },
    members: [...remote.members].sort(byMemberId),
  };
}
