// Leadership (src/server/leadership.ts) on a scripted Raft and a hand-driven clock: MoveLeader's
// answers and the "no leader for 3 election timeouts" signal behind WithRequireLeader streams.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EtcdError } from '../../src/core/errors.js';
import type { Timers } from '../../src/core/timers.js';
import { Leadership, maxNoLeaderElections, type LeadershipRaft } from '../../src/server/leadership.js';
import type { Logger } from '../../src/server/logger.js';
import { ProgressState, RaftRole, type PeerProgress, type RaftStatus } from '../../src/raft/types.js';

const electionTimeoutMs = 1000;
const requestTimeoutMs = 7000;

class ManualTimers implements Timers {
  private nowMs = 0;
  private readonly pending = new Set<{ at: number; fn: () => void }>();
  now(): number {
    return this.nowMs;
  }
  after(ms: number, fn: () => void): () => void {
    const t = { at: this.nowMs + ms, fn };
    this.pending.add(t);
    return () => this.pending.delete(t);
  }
  advance(ms: number): void {
    const until = this.nowMs + ms;
    for (;;) {
      const due = [...this.pending].filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.pending.delete(due);
      this.nowMs = due.at;
      due.fn();
    }
    this.nowMs = until;
  }
}

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, named: () => quiet };

const progress = (match: number, isLearner = false): PeerProgress => ({ match, next: match + 1, state: ProgressState.Replicate, isLearner, recentActive: true });

function fixture(members: ReadonlyMap<bigint, { isLearner: boolean }> = new Map([[1n, { isLearner: false }], [2n, { isLearner: false }], [3n, { isLearner: true }]])) {
  const timers = new ManualTimers();
  const transfers: bigint[] = [];
  const raft: LeadershipRaft & { leader: bigint; isLeader: boolean } = {
    leader: 1n,
    isLeader: true,
    status: (): RaftStatus => ({
      id: 1n,
      hardState: { term: 2, vote: 1n, commit: 10 },
      softState: { lead: raft.leader, role: raft.isLeader ? RaftRole.Leader : RaftRole.Follower },
      applied: 10,
      leadTransferee: 0n,
      progress: new Map([[1n, progress(10)], [2n, progress(9)], [3n, progress(10, true)]]),
    }),
    transferLeader: (id) => transfers.push(id),
  };
  const leadership = new Leadership({
    selfId: 1n,
    raft,
    member: (id) => members.get(id),
    isActive: () => true,
    electionTimeoutMs,
    requestTimeoutMs,
    timers,
    log: quiet,
  });
  return { timers, raft, transfers, leadership };
}

const kindOf = async (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: unknown) => (e instanceof EtcdError ? e.kind : String(e)));

const test = suite('Leadership');

test('moveLeader on a member that does not lead fails with etcdserver: not leader', async () => {
  const { raft, leadership } = fixture();
  raft.isLeader = false;
  raft.leader = 2n;
  assert.is(await kindOf(leadership.moveLeader(2n)), 'notLeader');
});

test('moveLeader to an unknown member or a learner fails with etcdserver: bad leader transferee', async () => {
  const { leadership, transfers } = fixture();
  assert.is(await kindOf(leadership.moveLeader(9n)), 'badLeaderTransferee');
  assert.is(await kindOf(leadership.moveLeader(3n)), 'badLeaderTransferee');
  assert.equal(transfers, []);
});

test('moveLeader asks Raft for the transfer and resolves once the transferee leads', async () => {
  const { leadership, transfers } = fixture();
  let done = false;
  const moving = leadership.moveLeader(2n).then(() => (done = true));
  assert.equal(transfers, [2n]);
  leadership.leaderChanged(0n);
  await Promise.resolve();
  assert.is(done, false);
  leadership.leaderChanged(2n);
  await moving;
  assert.is(done, true);
});

test('moveLeader not done by the caller\'s timeout fails with leader transfer took too long', async () => {
  const { leadership, timers } = fixture();
  const moving = kindOf(leadership.moveLeader(2n, 2000));
  timers.advance(1999);
  timers.advance(1);
  assert.is(await moving, 'leaderTransferTimeout');
});

test('moveLeader without a deadline is bounded by the request timeout', async () => {
  const { leadership, timers } = fixture();
  const moving = kindOf(leadership.moveLeader(2n));
  timers.advance(requestTimeoutMs);
  assert.is(await moving, 'leaderTransferTimeout');
});

test('transferBeforeStop hands over to the most up-to-date voter, never a learner', async () => {
  const { leadership, transfers, timers } = fixture();
  const stopping = leadership.transferBeforeStop(5000);
  assert.equal(transfers, [2n]);
  timers.advance(5000);
  await stopping; // a failed transfer is logged, not thrown
});

test('transferBeforeStop on a single voter or a follower transfers nothing', async () => {
  const single = fixture(new Map([[1n, { isLearner: false }]]));
  single.raft.status = () => ({ ...fixture().raft.status(), progress: new Map([[1n, progress(10)], [3n, progress(10, true)]]) });
  await single.leadership.transferBeforeStop(5000);
  assert.equal(single.transfers, []);
  const follower = fixture();
  follower.raft.isLeader = false;
  await follower.leadership.transferBeforeStop(5000);
  assert.equal(follower.transfers, []);
});

test('leader loss is signalled after 3 election timeouts without a leader, not when one returns sooner', () => {
  const { leadership, timers, raft } = fixture();
  let lost = 0;
  leadership.onLeaderLost(() => lost++);
  raft.leader = 0n;
  leadership.leaderChanged(0n);
  timers.advance(maxNoLeaderElections * electionTimeoutMs - 1);
  assert.is(lost, 0);
  raft.leader = 2n;
  leadership.leaderChanged(2n);
  timers.advance(10 * electionTimeoutMs);
  assert.is(lost, 0);
  raft.leader = 0n;
  leadership.leaderChanged(0n);
  timers.advance(maxNoLeaderElections * electionTimeoutMs);
  assert.is(lost, 1);
  leadership.close();
});

test.run();
