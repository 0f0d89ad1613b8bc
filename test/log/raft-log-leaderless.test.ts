// RaftLog (src/log/raft-log.ts) while its member has no leader: proposals and linearizable reads
// wait for one, as etcd's do, instead of being refused; they are offered again once a leader is
// known, in order, and given up at the leader wait (the request timeout). Driven by a scripted core
// that refuses or accepts as the test says and reports leader changes through Ready.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EtcdError } from '../../src/core/errors.js';
import { RaftLog } from '../../src/log/raft-log.js';
import { MemoryRaftStorage } from '../../src/raft/memory-storage.js';
import { RaftRole, type ProposalResult, type RaftCore, type Ready, type SoftState } from '../../src/raft/types.js';

class ScriptedCore implements RaftCore {
  /** What propose and readIndex answer now. */
  answer: ProposalResult = { ok: false, refusal: 'noLeader' };
  proposed: Uint8Array[] = [];
  reads = 0;
  private soft: SoftState | undefined;

  setLeader(lead: bigint): void {
    this.soft = { lead, role: RaftRole.Follower };
  }

  tick(): void {}
  campaign(): void {}
  propose(data: Uint8Array): ProposalResult {
    if (this.answer.ok) this.proposed.push(data);
    return this.answer;
  }
  proposeConfChange(): ProposalResult {
    return this.answer;
  }
  applyConfChange() {
    return { voters: [1n], learners: [] };
  }
  step(): void {}
  readIndex(): ProposalResult {
    this.reads++;
    return this.answer;
  }
  transferLeader(): void {}
  reportUnreachable(): void {}
  reportSnapshot(): void {}
  hasReady(): boolean {
    return this.soft !== undefined;
  }
  ready(): Ready {
    const softState = this.soft;
    this.soft = undefined;
    return { softState, readStates: [], entries: [], committedEntries: [], messages: [], mustSync: false };
  }
  advance(): void {}
  status() {
    return { id: 1n, hardState: { term: 1, vote: 0n, commit: 0 }, softState: { lead: 0n, role: RaftRole.Follower }, applied: 0, leadTransferee: 0n };
  }
}

function raftLog(core: ScriptedCore, leaderWaitMs: number): RaftLog {
  const log = new RaftLog({
    core,
    storage: new MemoryRaftStorage({ confState: { voters: [1n], learners: [] } }),
    disk: {
      save: async () => undefined,
      saveSnapshot: async () => undefined,
      releaseTo: async () => undefined,
      synced: async () => undefined,
      failure: undefined,
      onFailure: () => undefined,
      close: async () => undefined,
    },
    network: { send: () => undefined, sendSnapshot: () => undefined },
    tickIntervalMs: 1000,
    maxCatchUpTicks: 1,
    committedAtStart: 0,
    catchUpEntries: 10,
    applyConfChange: async () => true,
    applyAttributes: async () => undefined,
    installSnapshot: async () => undefined,
    snapshotData: () => new Uint8Array(0),
    leaderWaitMs,
  });
  log.start();
  return log;
}

const noop = { type: 'noop' } as const;
const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: unknown) => (e instanceof EtcdError ? e.kind : String(e)));
const until = async (check: () => boolean, what: string): Promise<void> => {
  const deadline = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

const test = suite('RaftLog without a leader');

test('proposals wait for a leader and are proposed in arrival order once one is known', async () => {
  const core = new ScriptedCore();
  const log = raftLog(core, 5000);
  const first = outcome(log.propose(1n, noop));
  const second = outcome(log.propose(2n, noop));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.is(core.proposed.length, 0);
  core.answer = { ok: true };
  core.setLeader(2n);
  log.node.tick(); // the leader change comes out of the next Ready
  assert.equal(await Promise.all([first, second]), ['ok', 'ok']);
  assert.is(core.proposed.length, 2);
  await log.close();
});

test('a proposal still without a leader at the leader wait fails with request timed out', async () => {
  const core = new ScriptedCore();
  const log = raftLog(core, 50);
  assert.is(await outcome(log.propose(1n, noop)), 'timeout');
  assert.is(core.proposed.length, 0);
  await log.close();
});

test('a refusal that a leader does not end is answered at once', async () => {
  const core = new ScriptedCore();
  core.answer = { ok: false, refusal: 'tooManyUncommitted' };
  const log = raftLog(core, 5000);
  assert.is(await outcome(log.propose(1n, noop)), 'tooManyRequests');
  await log.close();
});

test('closing the log answers waiting proposals with server stopped', async () => {
  const core = new ScriptedCore();
  const log = raftLog(core, 5000);
  const waiting = outcome(log.propose(1n, noop));
  await log.close();
  assert.is(await waiting, 'stopped');
});

test('a read waiting without a leader fails with leader changed once a new leader is elected', async () => {
  const core = new ScriptedCore();
  const log = raftLog(core, 5000);
  const read = outcome(log.readIndex());
  await until(() => core.reads === 1, 'the read index request');
  core.setLeader(3n);
  log.node.tick();
  assert.is(await read, 'leaderChanged');
  await log.close();
});

test('a read still without a leader at the leader wait fails with request timed out', async () => {
  const core = new ScriptedCore();
  const log = raftLog(core, 50);
  assert.is(await outcome(log.readIndex()), 'timeout');
  await log.close();
});

test.run();
