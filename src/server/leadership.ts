// What this member does about who leads: Maintenance.MoveLeader, the transfer a stopping leader
// makes before it goes (etcd's EtcdServer.Stop → TransferLeadership), and the "no leader for too
// long" signal that cancels streams opened WithRequireLeader (etcd's monitorLeader). It learns of
// leader changes from the Raft log (leaderChanged) and asks the node loop for transfers; it owns no
// Raft state itself.
import { EtcdError } from '../core/errors.js';
import type { Timers } from '../core/timers.js';
import { noNode, type NodeId, type RaftStatus } from '../raft/types.js';
import type { Logger } from './logger.js';
import { formatId } from './member-id.js';

/**
 * Election timeouts without a leader before streams that require one are cancelled (etcd's
 * maxNoLeaderCnt: reconnecting a stream costs more than refusing a new call, so it waits longer).
 */
export const maxNoLeaderElections = 3;

/** The part of the Raft log leadership needs. */
export interface LeadershipRaft {
  readonly leader: NodeId;
  readonly isLeader: boolean;
  status(): RaftStatus;
  transferLeader(transferee: NodeId): void;
}

export interface LeadershipOptions {
  readonly selfId: NodeId;
  readonly raft: LeadershipRaft;
  /** The member with this ID, if it is one (learners cannot lead). */
  readonly member: (id: NodeId) => { readonly isLearner: boolean } | undefined;
  /** The peer transport has a working connection to this member. */
  readonly isActive: (id: NodeId) => boolean;
  readonly electionTimeoutMs: number;
  /** How long a transfer may take when the caller set no deadline (etcd's request timeout). */
  readonly requestTimeoutMs: number;
  readonly timers: Timers;
  readonly log: Logger;
}

interface TransferWaiter {
  readonly transferee: NodeId;
  readonly resolve: () => void;
}

export class Leadership {
  private readonly transfers = new Set<TransferWaiter>();
  private readonly leaderLostListeners = new Set<() => void>();
  private cancelNoLeaderTimer: (() => void) | undefined;
  private closed = false;

  constructor(private readonly options: LeadershipOptions) {}

  /** Called by the Raft log on every change of leader (0 when there is none). */
  leaderChanged(lead: NodeId): void {
    for (const w of [...this.transfers]) {
      if (w.transferee === lead) {
        this.transfers.delete(w);
        w.resolve();
      }
    }
    if (lead === noNode) this.armNoLeader();
    else {
      this.cancelNoLeaderTimer?.();
      this.cancelNoLeaderTimer = undefined;
    }
  }

  /**
   * Calls `listener` each time this member has gone `maxNoLeaderElections` election timeouts without
   * a leader; returns what unsubscribes it.
   */
  onLeaderLost(listener: () => void): () => void {
    this.leaderLostListeners.add(listener);
    return () => this.leaderLostListeners.delete(listener);
  }

  /**
   * Maintenance.MoveLeader: makes `transferee` the leader and resolves once it leads. Rejects with
   * `notLeader` on a member that does not lead, `badLeaderTransferee` for an unknown member or a
   * learner, `leaderTransferTimeout` when `timeoutMs` (by default the request timeout) passes first.
   */
  moveLeader(transferee: NodeId, timeoutMs?: number): Promise<void> {
    const raft = this.options.raft;
    if (this.closed) return Promise.reject(new EtcdError('stopped'));
    if (!raft.isLeader) return Promise.reject(new EtcdError('notLeader'));
    const target = this.options.member(transferee);
    if (target === undefined || target.isLearner) return Promise.reject(new EtcdError('badLeaderTransferee'));
    const { timers, log, selfId } = this.options;
    const lead = raft.leader;
    const startedMs = timers.now();
    const ids = { 'local-member-id': formatId(selfId), 'current-leader-member-id': formatId(lead), 'transferee-member-id': formatId(transferee) };
    log.info('leadership transfer starting', ids);
    if (lead === transferee) {
      log.info('leadership transfer finished', { ...ids, took: '0s' });
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waitMs = Math.max(0, Math.min(timeoutMs ?? this.options.requestTimeoutMs, this.options.requestTimeoutMs));
      const waiter: TransferWaiter = {
        transferee,
        resolve: () => {
          cancelTimer();
          log.info('leadership transfer finished', {
            'local-member-id': formatId(selfId),
            'old-leader-member-id': formatId(lead),
            'new-leader-member-id': formatId(transferee),
            took: `${((timers.now() - startedMs) / 1000).toFixed(3)}s`,
          });
          resolve();
        },
      };
      const cancelTimer = timers.after(waitMs, () => {
        if (!this.transfers.delete(waiter)) return;
        reject(new EtcdError('leaderTransferTimeout'));
      });
      this.transfers.add(waiter);
      raft.transferLeader(transferee);
    });
  }

  /**
   * etcd's TransferLeadership on stop: a leader of several voters hands leadership to the voter most
   * up to date among those it is connected to, waiting at most `timeoutMs`. Never rejects: a failed
   * transfer is logged and the member stops anyway (the others then elect a leader themselves).
   */
  async transferBeforeStop(timeoutMs: number): Promise<void> {
    const { raft, selfId, log } = this.options;
    if (!raft.isLeader) {
      log.info('skipped leadership transfer; local server is not leader', {
        'local-member-id': formatId(selfId),
        'current-leader-member-id': formatId(raft.leader),
      });
      return;
    }
    const transferee = this.mostUpToDateVoter();
    if (transferee === 'singleVoter') {
      log.info('skipped leadership transfer for single voting member cluster', { 'local-member-id': formatId(selfId), 'current-leader-member-id': formatId(selfId) });
      return;
    }
    if (transferee === undefined) {
      log.warn('leadership transfer failed', { 'local-member-id': formatId(selfId), error: 'etcdserver: unhealthy cluster' });
      return;
    }
    try {
      await this.moveLeader(transferee, timeoutMs);
    } catch (e) {
      log.warn('leadership transfer failed', { 'local-member-id': formatId(selfId), error: e });
    }
  }

  /** Rejects nothing: transfers in flight are left to their deadlines, which close() cancels. */
  close(): void {
    this.closed = true;
    this.cancelNoLeaderTimer?.();
    this.cancelNoLeaderTimer = undefined;
    this.leaderLostListeners.clear();
  }

  private mostUpToDateVoter(): NodeId | 'singleVoter' | undefined {
    const progress = this.options.raft.status().progress;
    if (progress === undefined) return undefined;
    let voters = 0;
    let best: { id: NodeId; match: number } | undefined;
    for (const [id, pr] of progress) {
      if (pr.isLearner) continue;
      voters++;
      if (id === this.options.selfId || !this.options.isActive(id)) continue;
      if (best === undefined || pr.match > best.match) best = { id, match: pr.match };
    }
    if (voters <= 1) return 'singleVoter';
    return best?.id;
  }

  private armNoLeader(): void {
    if (this.closed || this.cancelNoLeaderTimer !== undefined) return;
    this.cancelNoLeaderTimer = this.options.timers.after(maxNoLeaderElections * this.options.electionTimeoutMs, () => {
      this.cancelNoLeaderTimer = undefined;
      if (this.options.raft.leader !== noNode) return;
      for (const l of [...this.leaderLostListeners]) l();
      // Still none: streams opened since (without hasleader) are unaffected, later ones are refused at once.
      this.armNoLeader();
    });
  }
}
