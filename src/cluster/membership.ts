// The cluster's members as every member's apply path sees them (etcd's membership.RaftCluster): the
// member set, the IDs removed for good, and the log index this state reflects. Conf changes reach it
// only through apply, in log order, on every member alike; a change that is no longer valid when it
// is applied (another change got in first) is refused there with etcd's error, as etcd's
// applyConfChange refuses it, and changes nothing.
//
// The state is persisted in <data-dir>/members.json with the index it reflects, before it becomes
// visible, so a restart that replays log entries at or below that index leaves it as it is.
import { EtcdError, type EtcdErrorKind } from '../core/errors.js';
import type { ConfChange, ConfState, NodeId } from '../raft/types.js';
import { nodeFileSystem, type FileSystem } from '../storage/file-system.js';
import { byMemberId, decodeConfChange, type Member, type MemberAttributes, type MembershipChange } from './member.js';
import { readMembers, writeMembers, type MembersSnapshot } from './members-file.js';

/** Why etcd refuses a change judged on the membership alone (membership.ValidateConfigurationChange). */
export type MembershipErrorKind = Extract<
  EtcdErrorKind,
  'memberNotFound' | 'memberRemoved' | 'memberExists' | 'peerUrlExists' | 'memberNotLearner' | 'tooManyLearners'
>;

/** etcd 3.4's limit on learners in a cluster (membership.maxLearners). */
export const maxLearners = 1;

/**
 * Applies waiting for their turn (each waits for the file write before it). Raft applies one conf
 * change at a time; more than this queued means callers are not waiting for their answers.
 */
export const maxQueuedApplies = 64;

/**
 * Where a change comes from: the index of its log entry, or `'unlogged'` for a change made without
 * a log (a single member before Raft): it is applied as is and leaves the applied index alone, so a
 * log that starts later is not mistaken for a replay of it.
 */
export type AppliedAt = number | 'unlogged';

export type ApplyOutcome =
  | { readonly type: 'applied' }
  /** Invalid at apply time; nothing changed (the node loop hands Raft an empty ConfChange, as etcd does). */
  | { readonly type: 'refused'; readonly error: MembershipErrorKind }
  /** At or below the persisted applied index: already in this state. */
  | { readonly type: 'replayed' };

export interface MembershipBootstrap {
  /** The members of a new cluster (from --initial-cluster). */
  readonly members: readonly Member[];
  /**
   * The log index the bootstrap state stands for: 0, unless the log starts with the initial members
   * as conf change entries (etcd's StartNode writes one per member), then the last of those.
   */
  readonly index: number;
}

export type MembershipOrigin = 'loaded' | 'bootstrapped';

/** The membership error as the core's error value, for rejecting a caller. */
export const membershipError = (kind: MembershipErrorKind): EtcdError => new EtcdError(kind);

/** Rejects with the membership's error when the apply refused the change (for whoever awaits a proposal). */
export function throwIfRefused(outcome: ApplyOutcome): void {
  if (outcome.type === 'refused') throw membershipError(outcome.error);
}

interface State {
  readonly appliedIndex: number;
  readonly members: ReadonlyMap<NodeId, Member>;
  readonly removed: ReadonlySet<NodeId>;
}

function snapshotOf(s: State): MembersSnapshot {
  return {
    appliedIndex: s.appliedIndex,
    members: [...s.members.values()].sort(byMemberId),
    removed: [...s.removed].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
  };
}

function stateOf(s: MembersSnapshot): State {
  return { appliedIndex: s.appliedIndex, members: new Map(s.members.map((m) => [m.id, m])), removed: new Set(s.removed) };
}

function peerUrlsOfOthers(s: State, except?: NodeId): Set<string> {
  const urls = new Set<string>();
  for (const m of s.members.values()) if (m.id !== except) for (const u of m.peerUrls) urls.add(u);
  return urls;
}

/** etcd's ValidateConfigurationChange, check for check and in its order. */
function check(s: State, change: MembershipChange): MembershipErrorKind | undefined {
  const id = change.type === 'add' ? change.member.id : change.id;
  if (s.removed.has(id)) return 'memberRemoved';
  const existing = s.members.get(id);
  switch (change.type) {
    case 'add': {
      if (existing !== undefined) return 'memberExists';
      const taken = peerUrlsOfOthers(s);
      if (change.member.peerUrls.some((u) => taken.has(u))) return 'peerUrlExists';
      if (change.member.isLearner) {
        const learners = [...s.members.values()].filter((m) => m.isLearner).length;
        if (learners + 1 > maxLearners) return 'tooManyLearners';
      }
      return undefined;
    }
    case 'promote':
      if (existing === undefined) return 'memberNotFound';
      return existing.isLearner ? undefined : 'memberNotLearner';
    case 'remove':
      return existing === undefined ? 'memberNotFound' : undefined;
    case 'update': {
      if (existing === undefined) return 'memberNotFound';
      const taken = peerUrlsOfOthers(s, id);
      return change.peerUrls.some((u) => taken.has(u)) ? 'peerUrlExists' : undefined;
    }
  }
}

/** The state after a change that passed check(). */
function changed(s: State, change: MembershipChange, appliedIndex: number): State {
  const members = new Map(s.members);
  let removed = s.removed;
  switch (change.type) {
    case 'add':
      members.set(change.member.id, change.member);
      break;
    case 'promote': {
      const m = members.get(change.id);
      if (m !== undefined) members.set(m.id, { ...m, isLearner: false });
      break;
    }
    case 'remove':
      members.delete(change.id);
      removed = new Set(s.removed).add(change.id);
      break;
    case 'update': {
      // etcd 3.4 replaces the learner flag too, with the update's (always false): a learner whose peer
      // URLs change is listed as a voter while Raft keeps it a learner. Lattice keeps the flag.
      const m = members.get(change.id);
      if (m !== undefined) members.set(m.id, { ...m, peerUrls: [...change.peerUrls] });
      break;
    }
  }
  return { appliedIndex, members, removed };
}

export class Membership {
  private state: State;
  private queue: Promise<unknown> = Promise.resolve();
  private queued = 0;
  /** The first failed write: the file may not hold what memory does, so nothing more is applied. */
  private failure: unknown;

  private constructor(
    private readonly dataDir: string,
    private readonly fs: FileSystem,
    state: State,
  ) {
    this.state = state;
  }

  /** Loads <dataDir>/members.json, or on a data dir without one persists the bootstrap membership first. */
  static async open(
    dataDir: string,
    bootstrap: MembershipBootstrap,
    fs: FileSystem = nodeFileSystem,
  ): Promise<{ readonly membership: Membership; readonly origin: MembershipOrigin }> {
    const persisted = await readMembers(dataDir, fs);
    if (persisted !== undefined) return { membership: new Membership(dataDir, fs, stateOf(persisted)), origin: 'loaded' };
    const ids = new Set<NodeId>();
    for (const m of bootstrap.members) {
      if (ids.has(m.id)) throw new Error(`member exists with identical ID ${m.id.toString(16)}`);
      if (m.id === 0n) throw new Error('cannot use 0 as member id');
      ids.add(m.id);
    }
    const state = stateOf({ appliedIndex: bootstrap.index, members: [...bootstrap.members].sort(byMemberId), removed: [] });
    await writeMembers(dataDir, snapshotOf(state), fs);
    return { membership: new Membership(dataDir, fs, state), origin: 'bootstrapped' };
  }

  /** Sorted by ID, as etcd lists them. */
  members(): readonly Member[] {
    return [...this.state.members.values()].sort(byMemberId);
  }

  member(id: NodeId): Member | undefined {
    return this.state.members.get(id);
  }

  isRemoved(id: NodeId): boolean {
    return this.state.removed.has(id);
  }

  get appliedIndex(): number {
    return this.state.appliedIndex;
  }

  /** Voters and learners, for Raft's bootstrap and snapshots. */
  confState(): ConfState {
    const ms = this.members();
    return { voters: ms.filter((m) => !m.isLearner).map((m) => m.id), learners: ms.filter((m) => m.isLearner).map((m) => m.id) };
  }

  /**
   * Whether the change would be applied to the current state; the error etcd would answer if not.
   * Throws MemberContextError for a ConfChange whose context cannot be read.
   */
  validate(cc: ConfChange): MembershipErrorKind | undefined {
    return check(this.state, decodeConfChange(cc));
  }

  /**
   * Applies a committed ConfChange: refused with etcd's error if no longer valid, ignored when `at` is
   * at or below the persisted applied index. Resolves once the new state is durable. Rejects with
   * MemberContextError for an unreadable context, with the write's error after a failed write (then
   * and after, every apply rejects with it), and with EtcdError('tooManyRequests') past maxQueuedApplies.
   */
  apply(cc: ConfChange, at: AppliedAt): Promise<ApplyOutcome> {
    let change: MembershipChange;
    try {
      change = decodeConfChange(cc);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.inTurn(at, (s) => {
      const error = check(s, change);
      return error === undefined ? { next: changed(s, change, nextIndex(s, at)) } : { error };
    });
  }

  /**
   * Records what a started member published about itself (etcd's UpdateAttributes, applied from a
   * normal log entry). Refused for a removed or unknown member.
   */
  applyAttributes(id: NodeId, attributes: MemberAttributes, at: AppliedAt): Promise<ApplyOutcome> {
    return this.inTurn(at, (s) => {
      if (s.removed.has(id)) return { error: 'memberRemoved' };
      const m = s.members.get(id);
      if (m === undefined) return { error: 'memberNotFound' };
      if (m.name === attributes.name && sameList(m.clientUrls, attributes.clientUrls)) return { unchanged: true };
      const members = new Map(s.members).set(id, { ...m, name: attributes.name, clientUrls: [...attributes.clientUrls] });
      return { next: { appliedIndex: nextIndex(s, at), members, removed: s.removed } };
    });
  }

  /** The whole state, for a Raft snapshot sent to a member that catches up from it. */
  snapshot(): MembersSnapshot {
    return snapshotOf(this.state);
  }

  /** Replaces the whole state with one from a leader's snapshot; durable before it is visible. */
  async install(snapshot: MembersSnapshot): Promise<void> {
    await this.inTurn('unlogged', () => ({ next: stateOf(snapshot) }));
  }

  /**
   * Whether the state already shows what the change does (a member that joined with the cluster's
   * member list, or restored from a snapshot, reads changes its state already holds): the change is
   * then refused here as a duplicate but is real, and Raft's configuration must still follow it.
   */
  reflects(change: MembershipChange): boolean {
    const s = this.state;
    switch (change.type) {
      case 'add':
        return s.members.has(change.member.id) || s.removed.has(change.member.id);
      case 'promote':
        return s.removed.has(change.id) || s.members.get(change.id)?.isLearner === false;
      case 'remove':
        return s.removed.has(change.id);
      case 'update':
        return s.members.has(change.id) || s.removed.has(change.id);
    }
  }

  /** Runs one apply after the ones before it; the new state is visible only once written. */
  private inTurn(at: AppliedAt, decide: (s: State) => Decision): Promise<ApplyOutcome> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.queued >= maxQueuedApplies) return Promise.reject(new EtcdError('tooManyRequests'));
    this.queued++;
    const run = this.queue.then(async (): Promise<ApplyOutcome> => {
      if (this.failure !== undefined) throw this.failure;
      const s = this.state;
      if (at !== 'unlogged' && at <= s.appliedIndex) return { type: 'replayed' };
      const decision = decide(s);
      if (!('next' in decision)) {
        // Nothing changed, so nothing is written: a replay of this entry decides the same way.
        this.state = { ...s, appliedIndex: nextIndex(s, at) };
        return 'error' in decision ? { type: 'refused', error: decision.error } : { type: 'applied' };
      }
      try {
        await writeMembers(this.dataDir, snapshotOf(decision.next), this.fs);
      } catch (e) {
        this.failure = e;
        throw e;
      }
      this.state = decision.next;
      return { type: 'applied' };
    });
    const settled = run.finally(() => {
      this.queued--;
    });
    this.queue = settled.catch(() => undefined);
    return settled;
  }
}

type Decision = { readonly next: State } | { readonly error: MembershipErrorKind } | { readonly unchanged: true };

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

const nextIndex = (s: State, at: AppliedAt): number => (at === 'unlogged' ? s.appliedIndex : at);
