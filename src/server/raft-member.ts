// One member's Raft, assembled: the Raft WAL under <data-dir>/raft, its in-memory mirror, the pure
// core, the peer transport and the node loop, behind the RaftLog the store follows. Also what a
// member does once at its first start (bootstrap) and at every start (import a snapshot's state
// that a crash left unimported, announce its peers).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { EtcdError } from '../core/errors.js';
import type { Engine } from '../engines/engine.js';
import { MemberRestart, RaftLog, type RaftLogOptions } from '../log/raft-log.js';
import { RaftWal } from '../log/raft-wal.js';
import type { FileSystem } from '../storage/file-system.js';
import type { PromoteAnswer } from '../peer/promote-request.js';
import { PeerTransport, type PeerCallHandler } from '../peer/peer-transport.js';
import type { TlsSide } from '../tls/tls-side.js';
import { encodeConfChange } from '../raft/conf-change-codec.js';
import { MemoryRaftStorage } from '../raft/memory-storage.js';
import { createRaftCore } from '../raft/raft-core.js';
import { EntryType, RaftRole, type ConfChange, type Entry, type NodeId, type Snapshot } from '../raft/types.js';
import { decodeConfChange, encodeMembershipChange, type Member } from '../cluster/member.js';
import type { ApplyOutcome, Membership } from '../cluster/membership.js';
import { membershipError } from '../cluster/membership.js';
import { APPLIED_KEY, decodeApplied } from '../store/storage-keys.js';
import { requestTimeoutMs } from '../store/proposal-waiters.js';
import { decodeMembers, encodeMembers } from '../cluster/members-file.js';
import type { ServerConfig } from './config.js';
import type { Logger } from './logger.js';
import { formatId } from './member-id.js';
import { ReceivedSnapshots } from './received-snapshots.js';
import { remoteClusterJson } from './join-cluster.js';
import { migrateLegacyLog } from './legacy-log-migration.js';
import { asyncClusterRefusal, diskForDurability } from '../log/durability-mode.js';
import { systemTimers } from '../core/timers.js';

/** etcd's defaults: 1 MiB per append message, 4096/8 appends in flight per follower. */
const maxSizePerMsg = 1024 * 1024;
const maxInflightMsgs = 4096 / 8;
const maxUncommittedEntriesSize = 1 << 30;

export interface RaftMemberOptions {
  readonly config: ServerConfig;
  readonly memberId: NodeId;
  readonly clusterId: bigint;
  readonly membership: Membership;
  /** The first start of a member of a new cluster: the log begins with the initial members. */
  readonly newCluster: boolean;
  readonly engine: Engine;
  readonly log: Logger;
  /** The member has been removed from the cluster (etcd stops it). */
  readonly onRemoved: () => void;
  /** A snapshot from the leader was recorded; the member restarts to load it into the store. */
  readonly onRestartForSnapshot: () => void;
  readonly onLeaderChange?: (lead: NodeId, role: RaftRole) => void;
  /** Serves request/response calls from peers (lease requests forwarded to the leader). */
  readonly handlePeerCall?: PeerCallHandler;
  /** Peer TLS for https peer URLs (tls-side.ts). */
  readonly peerTls?: TlsSide | undefined;
  /** The file layer of the Raft WAL (metrics time its fsyncs); default node:fs. */
  readonly walFileSystem?: FileSystem | undefined;
}

export interface RaftMember {
  readonly raftLog: RaftLog;
  readonly transport: PeerTransport;
  /** Proposes a membership change; resolves once it is applied here, rejects with etcd's error. */
  proposeConfChange(change: ConfChange): Promise<void>;
  /** Answers `member promote` that followers forward to this member while it leads. */
  servePromotes(handler: (id: NodeId) => Promise<PromoteAnswer>): void;
  /** Proposes this member's name and client URLs (etcd's publish). Resolves once applied. */
  publishAttributes(): Promise<void>;
  close(): Promise<void>;
}

const bootstrapEntries = (members: readonly Member[]): Entry[] =>
  [...members]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((m, i) => ({
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange(encodeMembershipChange({ type: 'add', member: { ...m, name: '', clientUrls: [] } })),
    }));

async function engineAppliedIndex(engine: Engine): Promise<number> {
  const mark = await engine.get(APPLIED_KEY);
  return mark === undefined ? 0 : decodeApplied(mark).index;
}

const changeKey = (cc: ConfChange): string => `${cc.type}:${cc.nodeId}`;

interface ConfWaiter {
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export async function startRaftMember(o: RaftMemberOptions): Promise<RaftMember> {
  const { config, memberId, membership, engine, log } = o;
  const opened = await RaftWal.open(path.join(config.dataDir, 'raft'), {
    metadata: { memberId, clusterId: o.clusterId },
    ...(o.walFileSystem === undefined ? {} : { fs: o.walFileSystem }),
  });
  const wal = opened.wal;
  /** A start refused before the node loop owns the WAL: close it, so an in-process restart can reopen it. */
  const refuse = async (message: string): Promise<never> => {
    await wal.close().catch(() => undefined);
    throw new Error(message);
  };
  let state = opened.state;
  const fresh = state.entries.length === 0 && state.snapshot === undefined && state.hardState.term === 0;
  // Decided by the WAL, as etcd decides: a crash after the identity or members file was written but
  // before this bootstrap leaves an empty WAL, and the next start bootstraps.
  const migrated = fresh ? await migrateLegacyLog(config.dataDir, wal, state, membership.confState(), await engineAppliedIndex(engine)) : undefined;
  if (migrated !== undefined) {
    log.info('moved the single-member log of an earlier Lattice into the Raft log', { 'snapshot-index': migrated.snapshot?.index, entries: migrated.entries.length });
    state = migrated;
  } else if (fresh && o.newCluster) {
    // As etcd bootstraps a new cluster: one committed AddNode per initial member, at term 1.
    const entries = bootstrapEntries(membership.members());
    const hardState = { term: 1, vote: 0n, commit: entries.length };
    await wal.save(hardState, entries, true);
    state = { ...state, hardState, entries };
  }

  // A snapshot covers committed entries only; the hard state saying so may not have been synced.
  if (state.snapshot !== undefined && state.hardState.commit < state.snapshot.index) {
    state = { ...state, hardState: { ...state.hardState, commit: state.snapshot.index } };
  }

  // A snapshot recorded by the WAL whose state the engine has not imported yet (a crash or the
  // restart that follows every received snapshot): import it before anything reads the engine.
  const received = await ReceivedSnapshots.open(config.dataDir);
  let engineApplied = await engineAppliedIndex(engine);
  if (state.snapshot !== undefined && state.snapshot.index > engineApplied) {
    if (!(await received.has(state.snapshot.index))) {
      await refuse(`the raft log starts at a snapshot at index ${state.snapshot.index}, but the engine is at ${engineApplied} and the snapshot's state is not in ${path.join(config.dataDir, 'snap')}`);
    }
    log.info('importing the state of a snapshot received from the leader', { index: state.snapshot.index });
    await membership.install(decodeMembers((await received.readMembers(state.snapshot.index)).toString('utf8'), 'snapshot membership'));
    await engine.importState(received.read(state.snapshot.index));
    engineApplied = await engineAppliedIndex(engine);
  }
  await received.removeAllBut(state.snapshot !== undefined && state.snapshot.index > engineApplied ? state.snapshot.index : undefined);

  // The engine is written only behind the log's fsync (src/store/persist-queue.ts), so on a member of its own
  // state ahead of the log means the log lost a tail (a power loss with fsync off, or a damaged
  // disk): its next proposals would take indexes the state already covers and never be applied.
  // Refuse to start instead. (A member of a cluster may be ahead legitimately: a leader's snapshot
  // carries its state as of sending, newer than the snapshot's index, and the entries in between
  // come again from the leader and are skipped, their effects being in that state already.)
  const logEnd = Math.max(state.entries.at(-1)?.index ?? 0, state.snapshot?.index ?? 0);
  if (engineApplied > logEnd && membership.members().length === 1) {
    await refuse(`the revision log ends at entry ${logEnd} but the applied state is at ${engineApplied}: the WAL under the data dir was lost or truncated`);
  }

  // A member that joined a running cluster learns its size only now.
  if (config.durabilityMode === 'async' && membership.members().length > 1) await refuse(asyncClusterRefusal(membership.members().length));

  const storage = new MemoryRaftStorage();
  if (state.snapshot !== undefined) {
    storage.applySnapshot({ metadata: state.snapshot, data: new Uint8Array(0) });
  }
  storage.setHardState(state.hardState);
  storage.append(state.entries);

  const electionTicks = Math.max(2, Math.round(config.electionTimeoutMs / config.heartbeatIntervalMs));
  const core = createRaftCore({
    id: memberId,
    electionTicks,
    heartbeatTicks: 1,
    storage,
    applied: state.snapshot?.index ?? 0,
    maxSizePerMsg,
    maxInflightMsgs,
    maxUncommittedEntriesSize,
    checkQuorum: true,
    preVote: config.preVote,
    random: Math.random,
  });

  // Callers of proposeConfChange, answered when a change of theirs (same type and member) is
  // applied, or at the request deadline: a proposal lost with its leader is never applied.
  const confWaiters = new Map<string, ConfWaiter[]>();
  const settleConf = (cc: ConfChange, outcome: ApplyOutcome): void => {
    const waiting = confWaiters.get(changeKey(cc));
    const w = waiting?.shift();
    if (w === undefined) return;
    if (waiting?.length === 0) confWaiters.delete(changeKey(cc));
    clearTimeout(w.timer);
    if (outcome.type === 'refused') w.reject(membershipError(outcome.error));
    else w.resolve();
  };
  // This member's publish, answered when the entry with its request id is applied.
  const publishWaiters = new Map<bigint, () => void>();

  let raftLog: RaftLog | undefined;
  // Set once the Cluster API exists (it is built on this member); until then a promote is refused.
  let promoteHandler: ((id: NodeId) => Promise<PromoteAnswer>) | undefined;
  const transport = await PeerTransport.start({
    localId: memberId,
    clusterId: o.clusterId,
    listenUrls: config.listenPeerUrls,
    onMessages: (messages) => raftLog?.node.steps(messages),
    onUnreachable: (peer) => raftLog?.node.reportUnreachable(peer),
    onSnapshotStatus: (peer, ok) => raftLog?.node.reportSnapshot(peer, ok),
    receiveSnapshot: (message, stream) => received.store(message.snapshot?.metadata.index ?? 0, message.snapshot?.data ?? new Uint8Array(0), stream),
    isRemoved: (id) => membership.isRemoved(id),
    membersJson: () => remoteClusterJson(o.clusterId, membership.members()),
    promoteMember: (id) => promoteHandler?.(id) ?? Promise.resolve({ type: 'refused', error: 'notCapable' }),
    logger: log.named('rafthttp'),
    ...(o.peerTls === undefined ? {} : { tls: o.peerTls }),
    ...(o.handlePeerCall === undefined ? {} : { handleCall: o.handlePeerCall }),
    onRemovedFromCluster: () => {
      log.error('the member has been permanently removed from the cluster', { 'local-member-id': formatId(memberId) });
      o.onRemoved();
    },
  });
  for (const m of membership.members()) if (m.id !== memberId) transport.addPeer(m.id, m.peerUrls);

  const applyConfChange = async (cc: ConfChange, index: number): Promise<boolean> => {
    const outcome = await membership.apply(cc, index);
    const change = decodeConfChange(cc);
    if (outcome.type === 'applied') {
      switch (change.type) {
        case 'add':
          if (change.member.id !== memberId) transport.addPeer(change.member.id, change.member.peerUrls);
          break;
        case 'update':
          if (change.id !== memberId) transport.updatePeer(change.id, change.peerUrls);
          break;
        case 'remove':
          if (change.id === memberId) {
            log.error('the member has been permanently removed from the cluster', { 'local-member-id': formatId(memberId) });
            o.onRemoved();
          } else transport.removePeer(change.id);
          break;
        case 'promote':
          break;
      }
    }
    settleConf(cc, outcome);
    return outcome.type !== 'refused' || membership.reflects(change);
  };

  const options: RaftLogOptions = {
    core,
    storage,
    disk: diskForDurability(wal, config, systemTimers),
    network: {
      send: (messages) => transport.send(messages),
      // As etcd merges its snapshot message with its current state: the engine's state now and the
      // membership now, which the receiver installs together.
      sendSnapshot: (message) => {
        const snapshot = message.snapshot;
        if (snapshot === undefined) return;
        const data = Buffer.from(encodeMembers(membership.snapshot()), 'utf8');
        transport.sendSnapshot({ ...message, snapshot: { ...snapshot, data } }, () => engine.exportState());
      },
    },
    tickIntervalMs: config.heartbeatIntervalMs,
    // Fewer than a check-quorum period, so one burst after a stall cannot cross two of them.
    maxCatchUpTicks: Math.max(1, Math.floor(electionTicks / 2)),
    committedAtStart: Math.max(state.hardState.commit, engineApplied),
    catchUpEntries: config.snapshotCatchUpEntries,
    applyConfChange,
    applyAttributes: async (id, attributes, index, requestId) => {
      await membership.applyAttributes(id, attributes, index);
      // Any of this run's publishes will do; the others are answered with it.
      if (publishWaiters.has(requestId)) {
        for (const done of publishWaiters.values()) done();
        publishWaiters.clear();
      }
    },
    installSnapshot: async (_snapshot: Snapshot) => {
      o.onRestartForSnapshot();
      throw new MemberRestart('restarting to load a snapshot received from the leader');
    },
    snapshotData: () => new Uint8Array(0),
    leaderWaitMs: requestTimeoutMs(config.electionTimeoutMs),
    onLeaderChange: (lead, role) => {
      if (lead === 0n) log.info('raft lost its leader', { 'local-member-id': formatId(memberId) });
      else log.info(role === RaftRole.Leader ? 'became leader' : 'elected leader', { 'local-member-id': formatId(memberId), leader: formatId(lead) });
      o.onLeaderChange?.(lead, role);
    },
    onCampaign: (role) => log.info(role === RaftRole.PreCandidate ? 'became pre-candidate' : 'became candidate', { 'local-member-id': formatId(memberId) }),
  };
  raftLog = new RaftLog(options);
  const theLog = raftLog;
  theLog.start();

  return {
    raftLog: theLog,
    transport,
    proposeConfChange(change: ConfChange): Promise<void> {
      const key = changeKey(change);
      return new Promise<void>((resolve, reject) => {
        const waiter: ConfWaiter = {
          resolve,
          reject,
          timer: setTimeout(() => {
            const waiting = confWaiters.get(key);
            const at = waiting?.indexOf(waiter) ?? -1;
            if (at >= 0) waiting?.splice(at, 1);
            if (waiting?.length === 0) confWaiters.delete(key);
            reject(new EtcdError('timeout'));
          }, requestTimeoutMs(config.electionTimeoutMs)),
        };
        const waiting = confWaiters.get(key) ?? [];
        waiting.push(waiter);
        confWaiters.set(key, waiting);
        try {
          theLog.proposeConfChange(change);
        } catch (e) {
          waiting.splice(waiting.indexOf(waiter), 1);
          if (waiting.length === 0) confWaiters.delete(key);
          clearTimeout(waiter.timer);
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    },
    servePromotes(handler) {
      promoteHandler = handler;
    },
    publishAttributes(): Promise<void> {
      const requestId = randomBytes(8).readBigUInt64BE(0) | 1n;
      return new Promise<void>((resolve, reject) => {
        publishWaiters.set(requestId, resolve);
        theLog
          .propose(requestId, { type: 'memberAttributes', id: memberId, name: config.name, clientUrls: config.advertiseClientUrls })
          .catch((e: unknown) => {
            publishWaiters.delete(requestId);
            reject(e instanceof Error ? e : new Error(String(e)));
          });
      });
    },
    async close(): Promise<void> {
      for (const waiting of confWaiters.values()) {
        for (const w of waiting) {
          clearTimeout(w.timer);
          w.reject(new EtcdError('stopped'));
        }
      }
      confWaiters.clear();
      publishWaiters.clear();
      await theLog.close();
      await transport.close();
    },
  };
}
