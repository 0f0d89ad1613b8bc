// The strict exposition parser refuses what Prometheus refuses; /readyz's check waits for the
// leader's commit index at start-up and for a leader.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePrometheusText } from '../helpers/prom-text.js';
import { ReadinessCheck } from '../../src/metrics/readiness.js';
import { MemberMetrics } from '../../src/metrics/member-metrics.js';
import { LiveKeyCount } from '../../src/metrics/kv-counters.js';

const test = suite('metrics: exposition parser and readiness');

test('the parser reads families, help escapes, labels and histograms', () => {
  const text = [
    '# HELP a_total A \\\\ counter\\nwith two lines.',
    '# TYPE a_total counter',
    'a_total{x="1",y="q\\"uote"} 3',
    '# TYPE h histogram',
    'h_bucket{le="0.1"} 1',
    'h_bucket{le="+Inf"} 2',
    'h_sum 0.3',
    'h_count 2',
    '',
  ].join('\n');
  const f = parsePrometheusText(text);
  assert.is(f.get('a_total')?.help, 'A \\ counter\nwith two lines.');
  assert.equal(f.get('a_total')?.samples[0]?.labels, { x: '1', y: 'q"uote' });
  assert.is(f.get('h')?.samples.length, 4);
});

for (const [what, text] of [
  ['a TYPE after its samples', 'a 1\n# TYPE a gauge\n'],
  ['samples of one family apart', '# TYPE a gauge\na{x="1"} 1\nb 1\na{x="2"} 1\n'],
  ['a duplicate series', 'a{x="1"} 1\na{x="1"} 2\n'],
  ['a negative counter', '# TYPE a counter\na -1\n'],
  ['a histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
  ['buckets that are not cumulative', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
  ['an unquoted label value', 'a{x=1} 1\n'],
  ['a missing final newline', 'a 1'],
  ['a bad value', 'a one\n'],
] as const) {
  test(`the parser refuses ${what}`, () => {
    assert.throws(() => parsePrometheusText(text));
  });
}

test('a member registry without process metrics renders and parses, state gauges at 0 before attach', async () => {
  const m = new MemberMetrics({ memberId: 0x8e9e05c52164694dn, serverVersion: '3.4.23', clusterVersion: '3.4', quotaBackendBytes: 1, detail: 'basic', processMetrics: false });
  const f = parsePrometheusText(await m.render());
  assert.equal(f.get('etcd_server_id')?.samples[0]?.labels, { server_id: '8e9e05c52164694d' });
  assert.is(f.get('etcd_server_has_leader')?.samples[0]?.value, 0);
  assert.not.ok(f.has('grpc_server_handling_seconds'), 'only with --metrics extensive');
  m.leaderSeen(1n);
  m.leaderSeen(0n);
  m.leaderSeen(1n);
  m.leaderSeen(2n);
  // 1, then none, then 1 again (counted, as etcd does), then 2
  assert.is(parsePrometheusText(await m.render()).get('etcd_server_leader_changes_seen_total')?.samples[0]?.value, 3);
});

test('readiness: ready only with a leader and once applied reaches the commit index the leader confirms, asked at every probe', async () => {
  let applied = 3;
  let leader = false;
  let commit = 5;
  let answers = true;
  const check = new ReadinessCheck(
    {
      leaderCommitIndex: () => (answers ? Promise.resolve(commit) : new Promise<number>(() => undefined)),
      appliedIndex: () => applied,
      hasLeader: () => leader,
    },
    50,
  );
  assert.equal(await check.check(), { ready: false, reason: 'no leader' });
  leader = true;
  assert.equal(await check.check(), { ready: false, reason: "applied index 3 is behind the leader's commit index 5" });
  applied = 5;
  assert.equal(await check.check(), { ready: true });
  // a member that falls behind later (a healed partition) is not ready again until it catches up
  commit = 9;
  assert.equal((await check.check()).ready, false);
  const catchingUp = check.check();
  setTimeout(() => (applied = 9), 10);
  assert.equal(await catchingUp, { ready: true }, 'a probe waits a little for the apply to catch up');
  answers = false;
  assert.equal(await check.check(), { ready: false, reason: 'the leader did not confirm its commit index within 50 ms' });
  leader = false;
  assert.equal((await check.check()).ready, false);
});

test('live keys: the starting count plus what was applied after its revision, whenever its answer arrives', () => {
  const rec = (key: string, tombstone: boolean) => ({ key, value: Buffer.alloc(0), createRevision: 1, modRevision: 1, sub: 0, version: 1, lease: 0n, tombstone });
  const put = (revision: number, key: string, existed: boolean) => ({ revision, compactRevision: -1, changes: [{ record: rec(key, false), prev: existed ? rec(key, false) : undefined }] });
  const del = (revision: number, key: string) => ({ revision, compactRevision: -1, changes: [{ record: rec(key, true), prev: rec(key, false) }] });
  const keys = new LiveKeyCount();
  keys.applied(put(2, 'a', false)); // before the count's revision: already counted
  keys.applied(put(3, 'b', false));
  keys.applied(put(4, 'b', true)); // an overwrite adds no key
  assert.is(keys.value, undefined);
  assert.ok(keys.started(1, 2));
  assert.is(keys.value, 2);
  keys.applied(del(5, 'a'));
  keys.applied(put(6, 'c', false));
  assert.is(keys.value, 2);
  const small = new LiveKeyCount(1);
  small.applied(put(2, 'a', false));
  small.applied(put(3, 'b', false));
  assert.not.ok(small.started(0, 1), 'too many changes before the count: count again');
});

test.run();
