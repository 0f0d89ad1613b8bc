// The log's building blocks: MemoryRaftStorage, the unstable tail, RaftLog's matching, conflict and
// commit rules, progress flow control and the quorum arithmetic.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryRaftStorage } from '../../src/raft/memory-storage.js';
import { Inflights, Progress } from '../../src/raft/progress.js';
import { committedIndex, voteResult } from '../../src/raft/quorum.js';
import { RaftLog } from '../../src/raft/raft-log.js';
import { ProgressState, type Entry } from '../../src/raft/types.js';
import { entry, n, text } from './raft-network.js';

const test = suite('raft: log, storage, progress, quorum');
const noLimit = Number.MAX_SAFE_INTEGER;
const pairs = (entries: readonly Entry[] | unknown) => (entries as Entry[]).map((e) => [e.index, e.term]);
const confState = { voters: [n(1)], learners: [] };

function storageWith(terms: number[]): MemoryRaftStorage {
  const storage = new MemoryRaftStorage({ confState });
  storage.append(terms.map((t, i) => entry(i + 1, t)));
  return storage;
}

test('memory storage: append overwrites a conflicting tail and skips compacted entries', () => {
  const storage = storageWith([1, 1, 1]);
  storage.append([entry(2, 2), entry(3, 2), entry(4, 2)]);
  assert.equal(pairs(storage.entries(1, 5, noLimit)), [[1, 1], [2, 2], [3, 2], [4, 2]]);
  storage.append([entry(3, 3)]);
  assert.equal(pairs(storage.entries(1, 4, noLimit)), [[1, 1], [2, 2], [3, 3]]);
  assert.is(storage.lastIndex(), 3);
  storage.compact(2);
  storage.append([entry(1, 1), entry(2, 2), entry(3, 3), entry(4, 3)]);
  assert.equal(pairs(storage.entries(3, 5, noLimit)), [[3, 3], [4, 3]]);
  assert.throws(() => storage.append([entry(9, 3)]), /missing log entries/);
});

test('memory storage: compaction makes earlier entries and terms unavailable, keeping the term of the compaction point', () => {
  const storage = storageWith([1, 2, 3, 4, 5]);
  assert.is(storage.compact(3), undefined);
  assert.is(storage.firstIndex(), 4);
  assert.is(storage.lastIndex(), 5);
  assert.equal(storage.entries(3, 5, noLimit), { unavailable: 'compacted' });
  assert.equal(storage.term(2), { unavailable: 'compacted' });
  assert.is(storage.term(3), 3);
  assert.equal(storage.compact(2), { refused: 'snapshotOutOfDate' });
  assert.equal(storage.compact(9), { refused: 'indexBeyondLog', lastIndex: 5 });
});

test('memory storage: entries stop at the byte limit but return at least one', () => {
  const storage = new MemoryRaftStorage({ confState });
  storage.append([1, 2, 3, 4].map((i) => ({ ...entry(i, 1), data: new Uint8Array(100) })));
  assert.is((storage.entries(1, 5, 1) as Entry[]).length, 1);
  assert.is((storage.entries(1, 5, 240) as Entry[]).length, 2);
  assert.is((storage.entries(1, 5, noLimit) as Entry[]).length, 4);
});

test('memory storage: createSnapshot and applySnapshot', () => {
  const storage = storageWith([1, 1, 2]);
  const snapshot = storage.createSnapshot(2, confState, text('app'));
  assert.ok(!('refused' in snapshot));
  assert.equal(snapshot.metadata, { index: 2, term: 1, confState });
  assert.equal(storage.createSnapshot(1, confState, text('old')), { refused: 'snapshotOutOfDate' });
  const other = new MemoryRaftStorage({ confState });
  assert.is(other.applySnapshot({ metadata: { index: 10, term: 4, confState }, data: text('s') }), undefined);
  assert.is(other.firstIndex(), 11);
  assert.is(other.lastIndex(), 10);
  assert.is(other.term(10), 4);
  assert.equal(other.applySnapshot({ metadata: { index: 5, term: 4, confState }, data: text('s') }), { refused: 'snapshotOutOfDate' });
});

test('raft log: findConflict finds the first entry whose term differs or that is missing', () => {
  const log = new RaftLog(storageWith([1, 2, 3]), noLimit);
  assert.is(log.findConflict([]), 0);
  assert.is(log.findConflict([entry(1, 1), entry(2, 2), entry(3, 3)]), 0);
  assert.is(log.findConflict([entry(2, 2), entry(3, 3), entry(4, 4)]), 4);
  assert.is(log.findConflict([entry(2, 1), entry(3, 4)]), 2);
  assert.is(log.findConflict([entry(3, 1)]), 3);
});

test('raft log: maybeAppend appends after a matching entry, truncates a conflicting tail and commits up to the new last index', () => {
  const cases: Array<[number, number, number, Entry[], number | undefined, number, Array<[number, number]>]> = [
    // [prevIndex, prevTerm, leaderCommit, entries, want lastNew, want commit, want log]
    [3, 2, 3, [], undefined, 1, [[1, 1], [2, 2], [3, 3]]], // prev term mismatch
    [4, 3, 3, [], undefined, 1, [[1, 1], [2, 2], [3, 3]]], // prev index past the end
    [3, 3, 3, [], 3, 3, [[1, 1], [2, 2], [3, 3]]],
    [3, 3, 4, [entry(4, 4)], 4, 4, [[1, 1], [2, 2], [3, 3], [4, 4]]],
    [3, 3, 9, [entry(4, 4)], 4, 4, [[1, 1], [2, 2], [3, 3], [4, 4]]], // commit capped at lastNew
    [1, 1, 2, [entry(2, 4)], 2, 2, [[1, 1], [2, 4]]], // conflict: truncate and replace
    [1, 1, 1, [entry(2, 2)], 2, 1, [[1, 1], [2, 2], [3, 3]]], // duplicate: nothing truncated
  ];
  for (const [prevIndex, prevTerm, leaderCommit, entries, wantLast, wantCommit, wantLog] of cases) {
    const log = new RaftLog(storageWith([1, 2, 3]), noLimit);
    log.committed = 1;
    assert.is(log.maybeAppend(prevIndex, prevTerm, leaderCommit, entries), wantLast, JSON.stringify([prevIndex, prevTerm]));
    assert.is(log.committed, wantCommit);
    assert.equal(pairs(log.slice(1, log.lastIndex() + 1, noLimit)), wantLog);
  }
});

test('raft log: a conflict at or below the commit index is a fatal error', () => {
  const log = new RaftLog(storageWith([1, 2, 3]), noLimit);
  log.committed = 2;
  assert.throws(() => log.maybeAppend(1, 1, 3, [entry(2, 9)]), /conflicts with committed/);
});

test('raft log: matchTerm and isUpToDate compare by last term, then length', () => {
  const log = new RaftLog(storageWith([1, 2, 2]), noLimit);
  assert.ok(log.matchTerm(0, 0));
  assert.ok(log.matchTerm(2, 2));
  assert.not.ok(log.matchTerm(2, 1));
  assert.not.ok(log.matchTerm(9, 2));
  assert.ok(log.isUpToDate(3, 2));
  assert.ok(log.isUpToDate(1, 3));
  assert.not.ok(log.isUpToDate(2, 2));
  assert.not.ok(log.isUpToDate(9, 1));
});

test('raft log: entries come from storage and the unstable tail, and stableTo moves them out of the tail', () => {
  const storage = storageWith([1, 1]);
  const log = new RaftLog(storage, noLimit);
  log.append([entry(3, 2), entry(4, 2)]);
  assert.equal(pairs(log.unstableEntries()), [[3, 2], [4, 2]]);
  assert.equal(pairs(log.slice(1, 5, noLimit)), [[1, 1], [2, 1], [3, 2], [4, 2]]);
  storage.append(log.unstableEntries());
  log.stableTo(4, 1); // a stale acknowledgement (wrong term) is ignored
  assert.is(log.unstableEntries().length, 2);
  log.stableTo(4, 2);
  assert.equal(log.unstableEntries(), []);
  assert.equal(pairs(log.slice(2, 5, noLimit)), [[2, 1], [3, 2], [4, 2]]);
});

test('raft log: maybeCommit only commits an index of the given term', () => {
  const log = new RaftLog(storageWith([1, 1, 2]), noLimit);
  assert.not.ok(log.maybeCommit(2, 2));
  assert.is(log.committed, 0);
  assert.ok(log.maybeCommit(3, 2));
  assert.is(log.committed, 3);
  assert.not.ok(log.maybeCommit(2, 1), 'never moves back');
});

test('raft log: a restored snapshot replaces the log and becomes the commit point', () => {
  const log = new RaftLog(storageWith([1, 1]), noLimit);
  log.restore({ metadata: { index: 10, term: 3, confState }, data: new Uint8Array(0) });
  assert.is(log.committed, 10);
  assert.is(log.firstIndex(), 11);
  assert.is(log.lastIndex(), 10);
  assert.is(log.lastTerm(), 3);
  assert.equal(log.nextEntries(), []);
  assert.is(log.entries(5, noLimit), 'compacted');
});

test('inflights: a bounded window freed by acknowledgement, oldest first', () => {
  const window = new Inflights(3);
  window.add(1);
  window.add(3);
  window.add(5);
  assert.ok(window.full());
  assert.throws(() => window.add(6));
  window.freeLE(3);
  assert.is(window.count(), 1);
  window.add(7);
  window.add(8);
  window.freeFirstOne();
  assert.is(window.count(), 2);
  window.freeLE(100);
  assert.is(window.count(), 0);
});

test('progress: probe pauses after one send; replicate pauses on a full window; snapshot always pauses', () => {
  const progress = new Progress({ next: 5, maxInflightMsgs: 2, isLearner: false });
  assert.not.ok(progress.isPaused());
  progress.probeSent = true;
  assert.ok(progress.isPaused());
  assert.ok(progress.maybeUpdate(4));
  assert.not.ok(progress.isPaused(), 'an acknowledgement unpauses the probe');
  progress.becomeReplicate();
  assert.is(progress.next, 5);
  progress.inflights.add(5);
  progress.inflights.add(6);
  assert.ok(progress.isPaused());
  progress.becomeSnapshot(10);
  assert.ok(progress.isPaused());
  progress.becomeProbe();
  assert.is(progress.state, ProgressState.Probe);
  assert.is(progress.next, 11, 'probing resumes after the pending snapshot');
});

test('progress: maybeDecrTo ignores stale rejections and backs off to the hint', () => {
  const probing = new Progress({ next: 10, maxInflightMsgs: 4, isLearner: false });
  assert.not.ok(probing.maybeDecrTo(5, 5), 'not a rejection of the last probe');
  assert.ok(probing.maybeDecrTo(9, 3));
  assert.is(probing.next, 4);
  const replicating = new Progress({ next: 10, match: 6, maxInflightMsgs: 4, isLearner: false });
  replicating.becomeReplicate();
  assert.not.ok(replicating.maybeDecrTo(6, 6));
  assert.ok(replicating.maybeDecrTo(8, 8));
  assert.is(replicating.next, 7);
});

test('quorum: the committed index is the highest a majority acknowledged', () => {
  const voters = (ids: number[]) => new Set(ids.map(n));
  const acked = (map: Record<number, number>) => (id: bigint) => map[Number(id)];
  assert.is(committedIndex(voters([1]), acked({ 1: 5 })), 5);
  assert.is(committedIndex(voters([1, 2, 3]), acked({ 1: 5, 2: 3, 3: 1 })), 3);
  assert.is(committedIndex(voters([1, 2, 3]), acked({ 1: 5 })), 0);
  assert.is(committedIndex(voters([1, 2, 3, 4]), acked({ 1: 5, 2: 4, 3: 3, 4: 2 })), 3);
  assert.is(committedIndex(voters([1, 2, 3, 4, 5]), acked({ 1: 9, 2: 9, 3: 1, 4: 1, 5: 9 })), 9);
});

test('quorum: a vote is won by a majority, lost once a majority cannot be reached, else pending', () => {
  const voters = new Set([1, 2, 3, 4].map(n));
  const votes = (map: Record<number, boolean>) => new Map(Object.entries(map).map(([id, v]) => [BigInt(id), v]));
  assert.is(voteResult(voters, votes({ 1: true, 2: true, 3: true })), 'won');
  assert.is(voteResult(voters, votes({ 1: true, 2: true })), 'pending');
  assert.is(voteResult(voters, votes({ 1: true, 2: false, 3: false })), 'lost');
  assert.is(voteResult(voters, votes({ 1: true, 9: true, 8: true })), 'pending', 'non-voters do not count');
});

test.run();
