// One member's Prometheus registry: etcd 3.4's own metric names, types, help texts and labels for
// what Lattice has (so etcd dashboards and alerts work unchanged), lattice_* for what only Lattice
// has, and prom-client's process and Node.js metrics. A registry per member, not prom-client's
// global one: tests run several members in one process.
//
// Gauges read the member's state when scraped (collect callbacks); the few counters the hot path
// feeds are plain numbers (KvCounters, GrpcServerStats) copied into prom-client at scrape time.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, exponentialBuckets } from 'prom-client';
import { formatId } from '../server/member-id.js';
import { GrpcServerStats, type GrpcMethodStats } from './grpc-call-stats.js';
import { ReadCounter } from './read-counter.js';
import { KvCounters } from './kv-counters.js';
import type { SecondsObserver } from './timed-storage.js';
import type { TenantUsage } from '../tenants/tenant-state.js';

/** etcd --metrics: 'extensive' adds the per-call gRPC handling-time histogram. */
export type MetricsDetail = 'basic' | 'extensive';

export interface StoreFacts {
  readonly revision: number;
  readonly compactRevision: number;
  /** The Raft index the store has applied. */
  readonly raftIndex: number;
  readonly dbSizeBytes: number;
  readonly dbSizeInUseBytes: number;
}

export interface PeerFacts {
  readonly id: bigint;
  readonly active: boolean;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** Last measured round trip; undefined before the first. */
  readonly roundTripMs: number | undefined;
}

/** What the registry reads when scraped; attached once the member's parts exist. */
export interface MemberFacts {
  readonly raft: () => { readonly leader: bigint; readonly isLeader: boolean; readonly isLearner: boolean; readonly committedIndex: number };
  readonly store: () => Promise<StoreFacts>;
  /** Live keys (etcd_debugging_mvcc_keys_total). */
  readonly keyCount: () => Promise<number>;
  readonly watch: () => { readonly streams: number; readonly watchers: number };
  readonly leases: () => number;
  readonly peers: () => Iterable<PeerFacts>;
}

export interface MemberMetricsOptions {
  readonly memberId: bigint;
  readonly serverVersion: string;
  /** e.g. '3.4', etcd_cluster_version's label. */
  readonly clusterVersion: string;
  /** Resolved --quota-backend-bytes. */
  readonly quotaBackendBytes: number;
  readonly detail: MetricsDetail;
  /** prom-client's process_* and nodejs_* metrics (off in unit tests that compare exact output). */
  readonly processMetrics?: boolean;
}

/** Callers while a call is running share its answer; the next caller after it settles asks again. */
function sharedWhileRunning<T>(ask: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  return () =>
    (running ??= ask().finally(() => {
      running = undefined;
    }));
}

/** etcd's buckets for disk latencies (wal/metrics.go, mvcc/backend/metrics.go): 1 ms … 8 s. */
const diskBuckets = exponentialBuckets(0.001, 2, 14);
/** etcd's peer round-trip buckets (rafthttp/metrics.go): 0.1 ms … 3.2 s. */
const roundTripBuckets = exponentialBuckets(0.0001, 2, 16);

export class MemberMetrics {
  readonly registry = new Registry();
  readonly grpc = new GrpcServerStats();
  readonly kv = new KvCounters();
  /** For the Raft WAL (timed-storage.ts). */
  readonly walFsync: SecondsObserver;
  /** For the store's engine writes (timed-storage.ts). */
  readonly backendCommit: SecondsObserver;
  private facts: MemberFacts | undefined;
  private leaderChanges = 0;
  private lastLeader = 0n;
  private rendering: Promise<string> | undefined;
  /** Per peer, the round trip last put into the histogram (a new PING answer is a new sample). */
  private readonly sampledRoundTrips = new Map<bigint, number>();

  constructor(readonly options: MemberMetricsOptions) {
    const registers = [this.registry];
    const self = this;
    const gauge = (name: string, help: string, read: (facts: MemberFacts) => number | Promise<number>): void => {
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          if (self.facts !== undefined) this.set(await read(self.facts));
        },
      });
    };
    const counter = (name: string, help: string, read: () => number): void => {
      new ReadCounter({ name, help, registers }, () => [{ labels: {}, value: read() }]);
    };
    const info = (name: string, help: string, label: string, value: string): void => {
      new Gauge({ name, help, labelNames: [label], registers }).set({ [label]: value }, 1);
    };

    // etcdserver/metrics.go
    gauge('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.', (f) => (f.raft().leader !== 0n ? 1 : 0));
    gauge('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.', (f) => (f.raft().isLeader ? 1 : 0));
    gauge('etcd_server_is_learner', 'Whether or not this member is a learner. 1 if is, 0 otherwise.', (f) => (f.raft().isLearner ? 1 : 0));
    counter('etcd_server_leader_changes_seen_total', 'The number of leader changes seen.', () => this.leaderChanges);
    // etcd exports these two as gauges set to the Raft indexes, despite the _total
    gauge('etcd_server_proposals_committed_total', 'The total number of consensus proposals committed.', (f) => f.raft().committedIndex);
    gauge('etcd_server_proposals_applied_total', 'The total number of consensus proposals applied.', async (f) => (await f.store()).raftIndex);
    gauge('etcd_server_proposals_pending', 'The current number of pending proposals to commit.', () => this.kv.proposalsPending);
    counter('etcd_server_proposals_failed_total', 'The total number of failed proposals seen.', () => this.kv.proposalsFailed);
    counter('etcd_server_slow_apply_total', 'The total number of slow apply requests (likely overloaded from slow disk).', () => this.kv.slowApplies);
    gauge('etcd_server_quota_backend_bytes', 'Current backend storage quota size in bytes.', () => options.quotaBackendBytes);
    info('etcd_server_version', "Which version is running. 1 for 'server_version' label with current version.", 'server_version', options.serverVersion);
    info('etcd_server_id', "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.", 'server_id', formatId(options.memberId));
    info('etcd_cluster_version', "Which version is running. 1 for 'cluster_version' label with current cluster version", 'cluster_version', options.clusterVersion);

    counter('etcd_debugging_server_lease_expired_total', 'The total number of expired leases.', () => this.kv.leasesExpired);

    // mvcc/metrics.go
    const dbSize = async (f: MemberFacts): Promise<number> => (await f.store()).dbSizeBytes;
    gauge('etcd_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.', dbSize);
    gauge('etcd_debugging_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.', dbSize);
    gauge('etcd_mvcc_db_total_size_in_use_in_bytes', 'Total size of the underlying database logically in use in bytes.', async (f) => (await f.store()).dbSizeInUseBytes);
    gauge('etcd_debugging_mvcc_keys_total', 'Total number of keys.', (f) => f.keyCount());
    gauge('etcd_debugging_mvcc_current_revision', 'The current revision of store.', async (f) => (await f.store()).revision);
    // etcd reports 0 before the first compaction
    gauge('etcd_debugging_mvcc_compact_revision', 'The revision of the last compaction in store.', async (f) => Math.max(0, (await f.store()).compactRevision));
    gauge('etcd_debugging_mvcc_watcher_total', 'Total number of watchers.', (f) => f.watch().watchers);
    gauge('etcd_debugging_mvcc_watch_stream_total', 'Total number of watch streams.', (f) => f.watch().streams);
    for (const prefix of ['etcd_mvcc', 'etcd_debugging_mvcc']) {
      counter(`${prefix}_put_total`, 'Total number of puts seen by this member.', () => this.kv.puts);
      counter(`${prefix}_delete_total`, 'Total number of deletes seen by this member.', () => this.kv.deletes);
      counter(`${prefix}_range_total`, 'Total number of ranges seen by this member.', () => this.kv.ranges);
      counter(`${prefix}_txn_total`, 'Total number of txns seen by this member.', () => this.kv.txns);
    }

    // wal/metrics.go, mvcc/backend/metrics.go
    const walFsync = new Histogram({ name: 'etcd_disk_wal_fsync_duration_seconds', help: 'The latency distributions of fsync called by WAL.', buckets: diskBuckets, registers });
    this.walFsync = (s) => walFsync.observe(s);
    const backendCommit = new Histogram({
      name: 'etcd_disk_backend_commit_duration_seconds',
      help: 'The latency distributions of commit called by backend.',
      buckets: diskBuckets,
      registers,
    });
    this.backendCommit = (s) => backendCommit.observe(s);

    // etcdserver/api/rafthttp/metrics.go
    const roundTrip = new Histogram({
      name: 'etcd_network_peer_round_trip_time_seconds',
      help: 'Round-Trip-Time histogram between peers',
      labelNames: ['To'],
      buckets: roundTripBuckets,
      registers,
      collect() {
        for (const p of self.facts?.peers() ?? []) {
          if (p.roundTripMs === undefined || self.sampledRoundTrips.get(p.id) === p.roundTripMs) continue;
          self.sampledRoundTrips.set(p.id, p.roundTripMs);
          this.observe({ To: formatId(p.id) }, p.roundTripMs / 1000);
        }
      },
    });
    void roundTrip;
    const perPeer = (name: string, help: string, label: 'To' | 'From', read: (p: PeerFacts) => number): void => {
      new Counter({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset();
          for (const p of self.facts?.peers() ?? []) this.inc({ [label]: formatId(p.id) }, read(p));
        },
      });
    };
    perPeer('etcd_network_peer_sent_bytes_total', 'The total number of bytes sent to peers.', 'To', (p) => p.bytesSent);
    perPeer('etcd_network_peer_received_bytes_total', 'The total number of bytes received from peers.', 'From', (p) => p.bytesReceived);
    new Gauge({
      name: 'etcd_network_active_peers',
      help: 'The current number of active peer connections.',
      labelNames: ['Local', 'Remote'],
      registers,
      collect() {
        this.reset();
        for (const p of self.facts?.peers() ?? []) this.set({ Local: formatId(options.memberId), Remote: formatId(p.id) }, p.active ? 1 : 0);
      },
    });

    this.registerGrpc(registers);

    // Lattice's own
    gauge('lattice_revision', 'The revision this member has applied.', async (f) => (await f.store()).revision);
    gauge('lattice_watch_hub_streams', 'Watch streams open on this member.', (f) => f.watch().streams);
    gauge('lattice_watch_hub_watchers', 'Watchers open on this member.', (f) => f.watch().watchers);
    gauge('lattice_lease_table_leases', 'Leases in this member’s lease table.', (f) => f.leases());

    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * lattice_tenant_*: each tenant's stored keys and bytes (the same on every member), the requests
   * this member admitted and refused for it, its open watchers here, and whether this member's
   * configuration of it is stale (src/tenants/).
   */
  observeTenants(read: () => readonly { readonly name: string; readonly usage: TenantUsage; readonly configStale?: boolean }[]): void {
    const registers = [this.registry];
    const perTenantGauge = (name: string, help: string, pick: (u: TenantUsage) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['tenant'],
        registers,
        collect() {
          // Deleted tenants leave no series behind.
          this.reset();
          for (const t of read()) this.set({ tenant: t.name }, pick(t.usage));
        },
      });
    };
    const perTenantCounter = (name: string, help: string, pick: (u: TenantUsage) => number): void => {
      new ReadCounter({ name, help, labelNames: ['tenant'], registers }, function* () {
        for (const t of read()) yield { labels: { tenant: t.name }, value: pick(t.usage) };
      });
    };
    perTenantGauge('lattice_tenant_keys', 'Keys stored under the tenant’s prefix.', (u) => u.keys);
    perTenantGauge('lattice_tenant_bytes', 'Bytes (keys and values) stored under the tenant’s prefix.', (u) => u.bytes);
    perTenantGauge('lattice_tenant_watchers', 'The tenant’s watchers open on this member.', (u) => u.watchers);
    new Gauge({
      name: 'lattice_tenant_config_stale',
      help: '1 when this member’s configuration of the tenant has a lower generation than the cluster’s (it enforces the cluster’s spec all the same).',
      labelNames: ['tenant'],
      registers,
      collect() {
        this.reset();
        for (const t of read()) this.set({ tenant: t.name }, t.configStale === true ? 1 : 0);
      },
    });
    perTenantCounter('lattice_tenant_requests_total', 'Requests this member admitted for the tenant.', (u) => u.requests);
    perTenantCounter('lattice_tenant_rejected_requests_total', 'Requests refused for one of the tenant’s limits.', (u) => u.rejections);
  }

  /** go-grpc-prometheus's server metrics, every registered method and code exported from the start. */
  private registerGrpc(registers: Registry[]): void {
    const grpc = this.grpc;
    const perMethod = (name: string, help: string, read: (m: GrpcMethodStats) => number): void => {
      new ReadCounter({ name, help, labelNames: ['grpc_type', 'grpc_service', 'grpc_method'], registers }, function* () {
        for (const m of grpc.methods()) yield { labels: m.labels, value: read(m) };
      });
    };
    perMethod('grpc_server_started_total', 'Total number of RPCs started on the server.', (m) => m.started);
    perMethod('grpc_server_msg_received_total', 'Total number of RPC stream messages received on the server.', (m) => m.msgReceived);
    perMethod('grpc_server_msg_sent_total', 'Total number of gRPC stream messages sent by the server.', (m) => m.msgSent);
    new ReadCounter(
      {
        name: 'grpc_server_handled_total',
        help: 'Total number of RPCs completed on the server, regardless of success or failure.',
        labelNames: ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'],
        registers,
      },
      function* () {
        for (const m of grpc.methods()) for (let code = 0; code < m.codeLabels.length; code++) yield { labels: m.codeLabels[code]!, value: m.handled[code] ?? 0 };
      },
    );
    if (this.options.detail !== 'extensive') return;
    const handling = new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
      labelNames: ['grpc_type', 'grpc_service', 'grpc_method'],
      registers,
    });
    // one child per method, so a call's observation does not build a label object
    const children = new Map<GrpcMethodStats, { observe(v: number): void }>();
    grpc.timeCalls((m, _code, seconds) => {
      let child = children.get(m);
      if (child === undefined) {
        child = handling.labels(m.labels);
        children.set(m, child);
      }
      child.observe(seconds);
    });
  }

  /** Gives the registry the member's state to read; before this, state gauges stay at 0. */
  attach(facts: MemberFacts): void {
    // one scrape reads the store's facts for several gauges: ask once per scrape, not per gauge
    this.facts = { ...facts, store: sharedWhileRunning(facts.store), keyCount: sharedWhileRunning(facts.keyCount) };
  }

  /** Raft told of a leader: a change to another known leader counts (etcd's leaderChanges). */
  leaderSeen(leader: bigint): void {
    // As etcd's raft loop: a leader after none counts as a change, even the same one as before.
    if (leader !== 0n && leader !== this.lastLeader) this.leaderChanges++;
    this.lastLeader = leader;
  }

  /** The Prometheus text exposition of every metric; scrapes that overlap share one rendering. */
  render(): Promise<string> {
    this.rendering ??= this.registry.metrics().finally(() => (this.rendering = undefined));
    return this.rendering;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
