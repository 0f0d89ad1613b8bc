// What two Lattice members agree on before any Raft message flows: paths, handshake headers, and the
// refusals with etcd's rafthttp status codes and texts (a 412's body says which precondition failed,
// as etcd's does, so the dialling side can log the right reason).
import type { IncomingHttpHeaders } from 'node:http2';
import { formatId } from '../server/member-id.js';

/** Bumped on any incompatible change to the framing or the message codec. */
export const peerProtocolVersion = '1';

export const peerPaths = {
  /** Long-lived POST whose request body carries frames of message batches, dialler → listener. */
  messages: '/lattice/peer/messages',
  /** One POST per snapshot: a frame holding the MsgSnap, then the raw state bytes to the end. */
  snapshot: '/lattice/peer/snapshot',
  /** etcd's peer endpoint a joining member reads the member list from. */
  members: '/members',
  /** etcd's peer endpoint a follower forwards `member promote` to the leader through (+ decimal ID). */
  promote: '/members/promote/',
  /** etcd's probing endpoint. */
  probing: '/raft/probing',
  /** Prefix of request/response calls between members (peer-call.ts): the method name follows it. */
  calls: '/lattice/peer/call/',
} as const;

export const peerHeaders = {
  clusterId: 'x-etcd-cluster-id',
  from: 'x-server-from',
  to: 'x-raft-to',
  protocolVersion: 'x-lattice-peer-protocol',
  /** On a call's answer: the handler refused it with this code (its text is the body). */
  callRefusal: 'x-lattice-call-refusal',
  /**
   * The log entry kinds the dialler can apply beyond those of the peer protocol's first release,
   * comma-separated (etcd's cluster version, per feature): a member proposes such an entry only while
   * every member advertises it. Builds before it send none and ignore it.
   */
  logFeatures: 'x-lattice-log-features',
} as const;

/** A LeaseRevoke with the caller's auth header (log type 12 around type 6), checked when applied. */
export const revokeAuthHeaderFeature = 'revoke-auth-header';
/** What this build advertises. */
export const localLogFeatures: readonly string[] = [revokeAuthHeaderFeature];
/** Header values past this are not read (a member advertises a few short names). */
const maxLogFeaturesHeaderBytes = 1024;

/** The features a dialler's handshake advertises (none when the header is absent or oversized). */
export function advertisedLogFeatures(headers: IncomingHttpHeaders): ReadonlySet<string> {
  const value = single(headers[peerHeaders.logFeatures]);
  if (value === undefined || value.length > maxLogFeaturesHeaderBytes) return new Set();
  return new Set(value.split(',').map((f) => f.trim()).filter((f) => f !== ''));
}

/** etcd's rafthttp refusal texts (http.go), sent as the body. */
export const refusalText = {
  incompatibleVersion: 'incompatible version',
  clusterIdMismatch: 'cluster ID mismatch',
  invalidFrom: 'invalid from',
  removedMember: 'removed member',
  senderNotFound: 'error sender not found',
  toMismatch: 'to field mismatch',
} as const;

/** etcd's errMemberRemoved: what a member logs when a peer answers 410. */
export const memberRemovedText = 'the member has been permanently removed from the cluster';

export interface HandshakeIdentity {
  readonly localId: bigint;
  readonly clusterId: bigint;
}

export function handshakeHeaders(self: HandshakeIdentity, to: bigint): Record<string, string> {
  return {
    [peerHeaders.clusterId]: formatId(self.clusterId),
    [peerHeaders.from]: formatId(self.localId),
    [peerHeaders.to]: formatId(to),
    [peerHeaders.protocolVersion]: peerProtocolVersion,
    [peerHeaders.logFeatures]: localLogFeatures.join(','),
  };
}

export type HandshakeVerdict =
  | { readonly ok: true; readonly from: bigint }
  | { readonly ok: false; readonly status: 404 | 410 | 412; readonly text: string; readonly from?: bigint; readonly got?: string };

export interface HandshakeContext extends HandshakeIdentity {
  isKnownPeer(id: bigint): boolean;
  isRemoved(id: bigint): boolean;
}

const hexId = /^[0-9a-fA-F]{1,16}$/;

const single = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** The listener's checks on a dialler's headers, in etcd's order (version, cluster, from, removed, known, to). */
export function checkHandshake(headers: IncomingHttpHeaders, ctx: HandshakeContext): HandshakeVerdict {
  const version = single(headers[peerHeaders.protocolVersion]);
  if (version !== peerProtocolVersion) return { ok: false, status: 412, text: refusalText.incompatibleVersion, got: version ?? '' };
  const cluster = single(headers[peerHeaders.clusterId]);
  if (cluster === undefined || !hexId.test(cluster) || BigInt('0x' + cluster) !== ctx.clusterId) {
    return { ok: false, status: 412, text: refusalText.clusterIdMismatch, got: cluster ?? '' };
  }
  const fromText = single(headers[peerHeaders.from]);
  if (fromText === undefined || !hexId.test(fromText)) return { ok: false, status: 404, text: refusalText.invalidFrom, got: fromText ?? '' };
  const from = BigInt('0x' + fromText);
  if (ctx.isRemoved(from)) return { ok: false, status: 410, text: refusalText.removedMember, from };
  if (!ctx.isKnownPeer(from)) return { ok: false, status: 404, text: refusalText.senderNotFound, from };
  const to = single(headers[peerHeaders.to]);
  if (to === undefined || !hexId.test(to) || BigInt('0x' + to) !== ctx.localId) {
    return { ok: false, status: 412, text: refusalText.toMismatch, from, got: to ?? '' };
  }
  return { ok: true, from };
}
