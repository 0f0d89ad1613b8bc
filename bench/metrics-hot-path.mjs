// What the metrics add to one put on the request path, measured in process (the machine's noise
// hides a 2 % difference between whole-server runs): the gRPC call observer, the KV decorator and
// the applied-stream counters, each run N times; and the CPU of one scrape of a registry with the
// gRPC methods Lattice registers. Run after `npx tsc -p .`: node bench/metrics-hot-path.mjs
import { GrpcServerStats } from '../dist/src/metrics/grpc-call-stats.js';
import { KvCounters, LiveKeyCount, countingKv, countApplied } from '../dist/src/metrics/kv-counters.js';
import { MemberMetrics } from '../dist/src/metrics/member-metrics.js';
import { Subject } from 'rxjs';

const n = 1_000_000;
const cpuNs = async (fn) => {
  const c0 = process.cpuUsage();
  await fn();
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1000) / n;
};

const stats = new GrpcServerStats();
stats.register('/etcdserverpb.KV/Put', 'unary');
const observer = await cpuNs(() => {
  for (let i = 0; i < n; i++) {
    const o = stats.callStarted('/etcdserverpb.KV/Put');
    o.received();
    o.sent();
    o.ended(0);
  }
});

const answer = Promise.resolve({ header: undefined, prevKv: undefined });
const bare = { put: () => answer, range: () => answer, deleteRange: () => answer, txn: () => answer, compact: () => answer };
const counted = countingKv(bare, new KvCounters());
const withoutDecorator = await cpuNs(async () => {
  for (let i = 0; i < n; i++) await bare.put({}, undefined);
});
const withDecorator = await cpuNs(async () => {
  for (let i = 0; i < n; i++) await counted.put({}, undefined);
});

const applied = new Subject();
const keys = new LiveKeyCount();
keys.started(0, 0);
countApplied(applied, new KvCounters(), keys);
const record = { key: 'k', value: Buffer.alloc(0), createRevision: 1, modRevision: 1, sub: 0, version: 1, lease: 0n, tombstone: false };
const batches = Array.from({ length: 64 }, (_, i) => ({ revision: i + 1, compactRevision: -1, changes: [{ record, prev: undefined }] }));
const appliedNs = await cpuNs(() => {
  for (let i = 0; i < n; i++) applied.next(batches[i & 63]);
});

const m = new MemberMetrics({ memberId: 1n, serverVersion: '3.4.23', clusterVersion: '3.4', quotaBackendBytes: 1, detail: 'basic' });
// the 56 methods of the services Lattice serves (KV, Watch, Lease, Lock, Election, Maintenance, Cluster, Auth)
for (let s = 0; s < 8; s++) for (let i = 0; i < 7; i++) m.grpc.register(`/svc${s}.S/M${i}`, 'unary');
m.attach({
  raft: () => ({ leader: 1n, isLeader: true, isLearner: false, committedIndex: 5 }),
  store: async () => ({ revision: 1, compactRevision: 0, raftIndex: 1, dbSizeBytes: 1, dbSizeInUseBytes: 1 }),
  keyCount: async () => 1,
  watch: () => ({ streams: 0, watchers: 0 }),
  leases: () => 0,
  peers: () => [],
});
for (let i = 0; i < 20; i++) await m.render();
const scrapes = 200;
const c0 = process.cpuUsage();
for (let i = 0; i < scrapes; i++) await m.render();
const c = process.cpuUsage(c0);
const scrapeMs = (c.user + c.system) / 1000 / scrapes;

console.log(
  JSON.stringify({
    observerNsPerCall: +observer.toFixed(1),
    kvDecoratorNsPerPut: +(withDecorator - withoutDecorator).toFixed(1),
    appliedCountersNsPerChange: +appliedNs.toFixed(1),
    scrapeCpuMs: +scrapeMs.toFixed(2),
  }),
);
process.exit(0);
