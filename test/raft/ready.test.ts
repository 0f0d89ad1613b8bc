// The Ready contract: what must be persisted, sent and applied, each handed out once, and what
// advance() acknowledges.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryRaftStorage } from '../../src/raft/memory-storage.js';
import { createRaftCore } from '../../src/raft/raft-core.js';
import { RaftRole } from '../../src/raft/types.js';
import { defaultTestConfig, entry, MessageType, n, seededRandom, text } from './raft-network.js';
import { SingleCore } from './single-core.js';

const test = suite('raft: Ready and advance');

test('a fresh node has no Ready', () => {
  const node = new SingleCore(1, [1, 2, 3]);
  assert.is(node.core.hasReady(), false);
});

test('a campaign yields the new soft state, hard state (must sync) and vote requests', () => {
  const node = new SingleCore(1, [1, 2, 3]);
  node.core.campaign();
  assert.ok(node.core.hasReady());
  const ready = node.core.ready();
  assert.equal(ready.softState, { lead: n(0), role: RaftRole.Candidate });
  assert.equal(ready.hardState, { term: 1, vote: n(1), commit: 0 });
  assert.is(ready.mustSync, true);
  assert.is(ready.messages.length, 2);
  node.core.advance(ready);
  assert.is(node.core.hasReady(), false);
});

test('hard state and soft state appear only when they changed', () => {
  const node = new SingleCore(1, [1, 2, 3]);
  node.core.campaign();
  node.readyAndAdvance();
  node.core.tick();
  assert.is(node.core.hasReady(), false);
  node.step({ type: MessageType.VoteResp, from: n(2), term: 1, reject: true });
  assert.is(node.core.hasReady(), false, 'a rejected vote changes nothing visible');
});

test('a commit-only change carries a hard state but need not be synced', () => {
  const node = new SingleCore(2, [1, 2, 3]);
  node.step({ type: MessageType.App, from: n(1), term: 1, entries: [entry(1, 1, 'a')], commit: 0 });
  const first = node.readyAndAdvance();
  assert.is(first.mustSync, true);
  assert.equal(first.entries.map((e) => e.index), [1]);
  node.step({ type: MessageType.Heartbeat, from: n(1), term: 1, commit: 1 });
  const second = node.readyAndAdvance();
  assert.equal(second.hardState, { term: 1, vote: n(0), commit: 1 });
  assert.is(second.mustSync, false);
  assert.equal(second.entries, []);
  assert.equal(second.committedEntries.map((e) => e.index), [1]);
});

test('messages and read states are handed out once; entries stay until advance()', () => {
  const node = new SingleCore(1, [1]);
  node.becomeLeader();
  node.core.propose(text('x'));
  node.core.readIndex(text('r'));
  const first = node.core.ready();
  assert.ok(first.entries.length > 0);
  assert.is(first.readStates.length, 1);
  const again = node.core.ready();
  assert.equal(again.messages, []);
  assert.equal(again.readStates, []);
  assert.equal(again.entries, first.entries, 'not yet acknowledged as persisted');
  node.storage.append(again.entries);
  node.core.advance(again);
  assert.is(node.core.hasReady(), false);
});

test('committed entries in one Ready are bounded by the byte limit (maxSizePerMsg), and the rest follow', () => {
  const node = new SingleCore(1, [1], { overrides: { maxSizePerMsg: 300 } });
  node.becomeLeader();
  node.readyAndAdvance();
  for (let i = 0; i < 6; i++) node.core.propose(new Uint8Array(100));
  const batches: number[][] = [];
  while (node.core.hasReady()) {
    const ready = node.readyAndAdvance();
    if (ready.committedEntries.length > 0) batches.push(ready.committedEntries.map((e) => e.index));
  }
  assert.equal(batches, [[2, 3], [4, 5], [6, 7]]);
});

test('a restarted node does not hand out entries it had applied, and resumes its term and vote', () => {
  const storage = new MemoryRaftStorage({ confState: { voters: [n(1), n(2), n(3)], learners: [] } });
  storage.append([entry(1, 1, 'a'), entry(2, 1, 'b'), entry(3, 1, 'c')]);
  storage.setHardState({ term: 2, vote: n(3), commit: 3 });
  const core = createRaftCore({ ...defaultTestConfig, id: n(1), storage, applied: 2, random: seededRandom(1) });
  assert.equal(core.status().hardState, { term: 2, vote: n(3), commit: 3 });
  const ready = core.ready();
  assert.equal(ready.committedEntries.map((e) => e.index), [3]);
  assert.is(ready.hardState, undefined, 'the loaded hard state is not new');
  assert.equal(ready.entries, []);
});

test('the core never reads a clock or Math.random: two cores with the same seed behave identically', () => {
  const run = () => {
    const node = new SingleCore(1, [1, 2, 3], { seed: 42 });
    let ticks = 0;
    while (node.role() === RaftRole.Follower) {
      node.core.tick();
      ticks++;
    }
    return ticks;
  };
  assert.is(run(), run());
});

test.run();
