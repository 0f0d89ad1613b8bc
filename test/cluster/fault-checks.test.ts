// The checks the cluster fault tests rely on (test/helpers/fault-history.ts) and the test-only peer
// drop failpoint (src/peer/drop-failpoint.ts), on made-up histories: each violation the fault tests
// look for is reported, and correct histories pass.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseDropList, peerDropFailpointFromEnv, peerDropFileEnv } from '../../src/peer/drop-failpoint.js';
import { checkLinearizable, checkMembers, checkRevisionSequence, checkWatcher, type LoadOp, type MemberDump, type WatchEvent } from '../helpers/fault-history.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';

const w = (k: string, v: number, s: number, e: number, rev: number, ok = true): LoadOp => ({ c: 0, t: 'w', k, v, ok, s, e, rev });
const r = (c: number, k: string, v: number, s: number, e: number): LoadOp => ({ c, t: 'r', k, v, ok: true, s, e });
const ev = (rev: number, k: string, v: string): WatchEvent => ({ rev, k, v });

const lin = suite('linearizability check');

lin('reads that see the last acknowledged value or a concurrent one pass', () => {
  const ops = [w('a', 1, 0, 10, 2), w('a', 2, 20, 30, 3), r(1, 'a', 1, 11, 19), r(1, 'a', 1, 21, 25), r(2, 'a', 2, 22, 26), r(1, 'a', 2, 31, 40)];
  assert.equal(checkLinearizable(ops), []);
});

lin('a read that misses a write acknowledged before it started is stale', () => {
  const out = checkLinearizable([w('a', 1, 0, 10, 2), w('a', 2, 20, 30, 3), r(1, 'a', 1, 31, 40)]);
  assert.is(out.length, 1);
  assert.match(out[0]!, /stale read/);
});

lin('a read of a value not yet written is from the future', () => {
  assert.match(checkLinearizable([w('a', 1, 0, 10, 2), r(1, 'a', 2, 11, 12)])[0]!, /future/);
});

lin('a read that starts after another ended and sees an older value went back in time', () => {
  // the ambiguous write 2 was seen by client 1, then client 2 reads 1 afterwards
  const out = checkLinearizable([w('a', 1, 0, 10, 2), w('a', 2, 20, 100, 0, false), r(1, 'a', 2, 30, 40), r(2, 'a', 1, 50, 60)]);
  assert.is(out.length, 1);
  assert.match(out[0]!, /back in time/);
});

lin('a failed write may take effect later, so seeing it is allowed', () => {
  assert.equal(checkLinearizable([w('a', 1, 0, 10, 2), w('a', 2, 20, 30, 0, false), r(1, 'a', 2, 200, 210), r(1, 'a', 2, 220, 230)]), []);
});

lin.run();

const hist = suite('history checks');

hist('a gap and a duplicate revision are both reported', () => {
  assert.match(checkRevisionSequence([ev(2, 'a', '1'), ev(4, 'a', '2')], 2, 'x')[0]!, /gap/);
  assert.match(checkRevisionSequence([ev(2, 'a', '1'), ev(2, 'a', '1')], 2, 'x')[0]!, /duplicate/);
});

const dump = (endpoint: string, events: WatchEvent[]): MemberDump => ({
  endpoint,
  revision: events.at(-1)?.rev ?? 1,
  events,
  values: Object.fromEntries(events.map((e) => [e.k, e.v])),
});

hist('members with the same gap-free history holding every acknowledged write pass', () => {
  const events = [ev(2, 'a', '1'), ev(3, 'b', '1')];
  assert.equal(checkMembers([dump('m1', events), dump('m2', events)], [w('a', 1, 0, 1, 2), w('b', 1, 0, 1, 3)]), []);
});

hist('a member missing an acknowledged write, or holding another value at its revision, is reported', () => {
  const good = [ev(2, 'a', '1'), ev(3, 'b', '1')];
  const lost = [ev(2, 'a', '1'), ev(3, 'c', '9')];
  const out = checkMembers([dump('m1', good), dump('m2', lost)], [w('a', 1, 0, 1, 2), w('b', 1, 0, 1, 3)]);
  assert.ok(out.some((l) => /m2 lost an acknowledged write/.test(l)), out.join('\n'));
  assert.ok(out.some((l) => /differ at revision 3/.test(l)), out.join('\n'));
});

hist('a watcher that skipped or repeated a revision, or stopped early, is reported', () => {
  const history = [ev(2, 'a', '1'), ev(3, 'a', '2'), ev(4, 'a', '3')];
  const base = { from: 2, rewatches: 1, errors: [], caught_up: true, target: 4 };
  assert.equal(checkWatcher({ ...base, events: history }, history), []);
  assert.match(checkWatcher({ ...base, events: [history[0]!, history[2]!] }, history)[0]!, /gap/);
  assert.match(checkWatcher({ ...base, events: [history[0]!, history[1]!, history[1]!, history[2]!] }, history)[0]!, /duplicate/);
  assert.match(checkWatcher({ ...base, caught_up: false, events: [history[0]!] }, history)[0]!, /did not reach/);
});

hist.run();

const fp = suite('peer drop failpoint');

fp('the drop list takes hex member IDs separated by lines, spaces or commas, with # comments', () => {
  assert.equal([...parseDropList('8e9e05c52164694d, 1\n# ffff\n  2 nothex\n')], [0x8e9e05c52164694dn, 1n, 2n]);
});

fp('without the variable there is no failpoint', () => {
  assert.is(peerDropFailpointFromEnv({}), undefined);
  assert.is(peerDropFailpointFromEnv({ [peerDropFileEnv]: '' }), undefined);
});

fp('the file is re-read after the interval, and a missing file drops nothing', () => {
  const dir = makeTempDir('drop-failpoint');
  try {
    const file = join(dir, 'drop');
    let now = 0;
    const f = peerDropFailpointFromEnv({ [peerDropFileEnv]: file }, () => now)!;
    assert.is(f.drops(0xabn), false);
    writeFileSync(file, 'ab\n');
    assert.is(f.drops(0xabn), false, 'not re-read yet');
    now += 100;
    assert.is(f.drops(0xabn), true);
    writeFileSync(file, '');
    now += 100;
    assert.is(f.drops(0xabn), false);
  } finally {
    removeTempDir(dir);
  }
});

fp.run();
