// One Lattice member: engine → revision log → shard actors → MVCC store → client port.
import { stat } from 'node:fs/promises';
import { makeDirDurable } from '../storage/durable-dir.js';
import path from 'node:path';
import type { ResponseHeader } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { ServerApi } from '../core/kv-api.js';
import { openEngine } from '../engines/open-engine.js';
import { etcdClusterVersion, ImageSlots, takeEtcdSnapshot } from '../snapshot/snapshot-export.js';
import { spawnActor } from '../actors/spawn.js';
import type { ShardReply, ShardRequest } from '../actors/shard-actor.js';
import { ShardSet } from '../store/shard-set.js';
import { defaultSplitPoints } from '../store/split-points.js';
import { MvccStore } from '../store/mvcc-store.js';
import { WatchHub, defaultBacklogLimitBytes } from '../actors/watch-hub.js';
import { JobPool } from '../jobs/job-pool.js';
import { systemClock } from '../actors/lease-table.js';
import { LeaseTableRef } from '../actors/lease-actor.js';
import { LeaseFront } from '../lease/lease-front.js';
import { LeaseIdGenerator } from '../lease/lease-ids.js';
import { LeaderWatch } from '../lease/leader-watch.js';
import { LeaderForwarder } from '../lease/leader-forwarder.js';
import { RangeRequest } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { systemTimers } from '../core/timers.js';
import { LockRecipe } from '../concurrency/lock.js';
import { ElectionRecipe } from '../concurrency/election.js';
import { startClientPort } from '../adapters/client-port.js';
import { defaultGrpcServices } from '../adapters/grpc/grpc-server.js';
import { TenantDirectory } from '../tenants/tenant-directory.js';
import { TenantRouter, tenantPortOptions } from '../tenants/tenant-routing.js';
import { TenantAdmin } from '../tenants/tenant-admin.js';
import { seedConfiguredTenants } from '../tenants/tenant-config-seed.js';
import { Membership } from '../cluster/membership.js';
import { everyMemberApplies } from '../cluster/log-feature-gate.js';
import { initialMembers } from '../cluster/bootstrap-members.js';
import { ClusterFront } from '../cluster/cluster-front.js';
import { startRaftMember, type RaftMember } from './raft-member.js';
import { joinExistingCluster, type Joined } from './join-cluster.js';
import { RaftRole } from '../raft/types.js';
import { requestTimeoutMs } from '../store/proposal-waiters.js';
import { answerPromote, forwardPromote } from '../cluster/promote-forward.js';
import { defaultSyncedPersistEveryEntries } from '../store/mvcc-store.js';
import type { ServerConfig } from './config.js';
import type { Logger } from './logger.js';
import { formatId } from './member-id.js';
import { loadOrCreateIdentity, type LoadedIdentity } from './member-identity.js';
import { Leadership } from './leadership.js';
import { openAuth } from '../auth/open-auth.js';
import { openTlsSides } from '../tls/server-tls.js';
import { hostWhitelistFrom } from '../adapters/http/host-whitelist.js';
import { loadAlarms, MaintenanceFront } from '../maintenance/maintenance-front.js';
import { nodeFileSystem } from '../storage/file-system.js';
import { MemberMetrics } from '../metrics/member-metrics.js';
import { countingKv } from '../metrics/kv-counters.js';
import { timedEngine, timedFileSystem } from '../metrics/timed-storage.js';
import { startObservability, type Observability } from '../metrics/member-observability.js';
import { logStartingServer } from './etcd-log-lines.js';

export interface RunningServer {
  close(): Promise<void>;
  /**
   * Settles when the member must stop on its own: 'removed' (it was removed from the cluster, etcd
   * stops it) or 'restart' (it recorded a snapshot from the leader and loads it by starting again).
   */
  readonly ended: Promise<'removed' | 'restart'>;
  /** The tenants this member serves and their usage (src/tenants/), for metrics. */
  readonly tenants?: TenantDirectory;
}

/** The etcd server version Lattice reports (Status, /version): the release whose API it matches. */
export const etcdServerVersion = '3.4.23';

/** A data dir holds one engine's state; starting it with the other would look like an empty store. */
async function refuseOtherEngine(dataDir: string, engine: ServerConfig['engine']): Promise<void> {
  const other = engine === 'memory' ? 'rocksdb' : 'memory';
  const exists = async (p: string): Promise<boolean> => (await stat(p).catch(() => null)) !== null;
  if ((await exists(path.join(dataDir, other))) && !(await exists(path.join(dataDir, engine)))) {
    throw new Error(`data dir ${dataDir} holds the ${other} engine's data; start it with --engine ${other}`);
  }
}

/** etcd logs "starting local member" on bootstrap and "restarting local member" when a data dir exists. */
function logIdentity(loaded: LoadedIdentity, log: Logger): void {
  const ids = { 'local-member-id': formatId(loaded.identity.memberId), 'cluster-id': formatId(loaded.identity.clusterId) };
  if (loaded.origin === 'bootstrapped') {
    log.info('starting local member', ids);
    return;
  }
  log.info('restarting local member', ids);
  if (loaded.origin === 'adopted') {
    log.warn('the data dir has no persisted member identity (written by an older Lattice); persisted the one derived from the flags', ids);
  }
  if (loaded.ignoredFlags.length > 0) {
    log.warn('bootstrap flags differ from the identity in the data dir and are ignored, as etcd ignores them once a member exists', {
      ...ids,
      'ignored-flags': loaded.ignoredFlags.map((f) => '--' + f),
      'peer-urls': loaded.identity.peerUrls,
    });
  }
}

export async function startServer(config: ServerConfig, log: Logger): Promise<RunningServer> {
  logStartingServer(config, etcdServerVersion, log);
  await makeDirDurable(config.dataDir, 0o700);
  await refuseOtherEngine(config.dataDir, config.engine);
  // Bad certificate files stop the start here, before anything is served (etcd fails the same way).
  const { clientTls, peerTls } = await openTlsSides(config, log);
  // Before the engine or the log writes anything, so a data dir with data always has its identity.
  // A fresh member of a running cluster learns its ID and the member list from the others.
  let joined: Joined | undefined;
  const loaded = await loadOrCreateIdentity(
    config.dataDir,
    config,
    config.initialClusterState === 'existing'
      ? async () => {
          joined = await joinExistingCluster(config, peerTls);
          return joined.identity;
        }
      : undefined,
  );
  logIdentity(loaded, log);
  const { memberId, clusterId } = loaded.identity;
  const metrics = new MemberMetrics({
    memberId,
    serverVersion: etcdServerVersion,
    clusterVersion: '3.4',
    quotaBackendBytes: config.quotaBackendBytes,
    detail: config.metrics === 'extensive' ? 'extensive' : 'basic',
  });
  // A new cluster's log starts with one AddNode entry per initial member (startRaftMember), which
  // the membership reflects from the start.
  // Whether an empty Raft log starts with the initial members (startRaftMember decides by the WAL).
  const newCluster = config.initialClusterState === 'new' && joined === undefined;
  const bootstrapMembers = joined?.members ?? initialMembers(config.initialCluster, loaded.identity.clusterToken, { id: memberId, name: config.name, peerUrls: loaded.identity.peerUrls });
  const { membership } = await Membership.open(config.dataDir, { members: bootstrapMembers, index: newCluster ? bootstrapMembers.length : 0 });
  const engine = await openEngine(config.engine, path.join(config.dataDir, config.engine));
  let endMember: (reason: 'removed' | 'restart') => void = () => undefined;
  const ended = new Promise<'removed' | 'restart'>((resolve) => (endMember = resolve));
  // Only the leader expires leases; a new leader gives every lease its full TTL plus an election timeout.
  // The lease actor (main thread: see lease-actor.ts); everyone holds only this client.
  const leaseTable = new LeaseTableRef({ minTtlSeconds: minLeaseTtlSeconds(config), clock: systemClock, checkpointIntervalMs: config.leaseCheckpointIntervalMs });
  // Renewals and lease reads reaching a follower go to the leader; the leader answers them here.
  const leaderWatch = new LeaderWatch(systemTimers);
  let leaseFront: LeaseFront | undefined;
  let raftMember: RaftMember;
  let leadership: Leadership | undefined;
  try {
    raftMember = await startRaftMember({
      config,
      memberId,
      clusterId,
      membership,
      newCluster,
      engine,
      log: log.named('raft'),
      onRemoved: () => endMember('removed'),
      onRestartForSnapshot: () => endMember('restart'),
      walFileSystem: timedFileSystem(nodeFileSystem, metrics.walFsync),
      onLeaderChange: (lead, role) => {
        metrics.leaderSeen(lead);
        leadership?.leaderChanged(lead);
        // queued behind whatever the table was asked before: the store's applies keep their order
        const roleTold = role === RaftRole.Leader ? leaseTable.promote(config.electionTimeoutMs) : leaseTable.demote();
        roleTold.catch((e: unknown) => log.warn('the lease table was not told of the role change', { error: e }));
        leaderWatch.set(lead);
      },
      peerTls,
      handlePeerCall: (_from, method, body) =>
        leaseFront?.handlePeerCall(method, body) ?? Promise.resolve({ kind: 'refused', code: 'notLeader', text: 'not serving yet' }),
    });
  } catch (e) {
    await engine.close();
    throw e;
  }
  const revisionLog = raftMember.raftLog;
  const theLeadership = new Leadership({
    selfId: memberId,
    raft: {
      get leader() {
        return revisionLog.leader;
      },
      get isLeader() {
        return revisionLog.isLeader;
      },
      status: () => revisionLog.status(),
      transferLeader: (id) => revisionLog.node.transferLeader(id),
    },
    member: (id) => membership.member(id),
    isActive: (id) => raftMember.transport.isActive(id),
    electionTimeoutMs: config.electionTimeoutMs,
    requestTimeoutMs: requestTimeoutMs(config.electionTimeoutMs),
    timers: systemTimers,
    log: log.named('etcdserver'),
  });
  leadership = theLeadership;
  const shards = new ShardSet(
    Array.from({ length: config.shards }, () => spawnActor<ShardRequest, ShardReply>('shard', config.actorPlacement)),
    defaultSplitPoints(config.shards),
  );
  const header = (revision: number): ResponseHeader => ({
    clusterId,
    memberId,
    revision: BigInt(revision),
    raftTerm: BigInt(revisionLog.term),
  });
  const jobs = new JobPool();
  // The auth state is read from the engine before the log is replayed over it; its proposals go
  // through the store, which exists only after the replay.
  let authStore: MvccStore | undefined;
  const auth = await openAuth(
    { ...config, clientCertAuth: config.clientTls.clientCertAuth },
    engine,
    {
      propose: (req) => (authStore === undefined ? Promise.reject(new Error('auth proposed before the store opened')) : authStore.proposeAuth(req)),
      leaseKeys: (id) => leaseTable.keysOf(id),
      // A linearizable read of one key: the store's read barrier (ReadIndex, then wait to apply).
      readBarrier: () =>
        authStore === undefined ? Promise.resolve() : authStore.range(RangeRequest.create({ key: Buffer.from([0]), countOnly: true })).then(() => undefined),
    },
  );
  const alarms = await loadAlarms(engine, log.named('etcdserver'));
  // Tenants' stored usage is counted from the engine before the log is replayed over it (src/tenants/).
  const tenants = new TenantDirectory(config.tenants, () => Date.now());
  await tenants.load(engine);
  metrics.observeTenants(() => tenants.usages());
  const store = await MvccStore.open(
    timedEngine(engine, metrics.backendCommit),
    revisionLog,
    shards,
    {
      header,
      onFatal: (fault) => log.error(fault.alarm === 'NOSPACE' ? 'alarm raised: NOSPACE' : 'storage failed', { error: fault.cause, description: fault.description }),
      leases: tenants.wrapLedger(leaseTable),
      auth: tenants.wrapApplier(auth.front),
      alarms,
    },
    jobs,
    { syncedPersistEveryEntries: Math.min(config.snapshotCount, defaultSyncedPersistEveryEntries), requestTimeoutMs: requestTimeoutMs(config.electionTimeoutMs) },
  );

  authStore = store;
  const maintenance = new MaintenanceFront({
    store,
    engine,
    alarms,
    memberId,
    quotaBytes: config.quotaBackendBytes,
    autoCompaction: { mode: config.autoCompactionMode, retention: config.autoCompactionRetentionValue, revisionCheckIntervalMs: config.autoCompactionRevisionCheckIntervalMs },
    isLeader: () => revisionLog.isLeader,
    timers: systemTimers,
    log: log.named('etcdserver'),
  });

  const watchHub = new WatchHub(store, {
    progressIntervalMs: config.watchProgressNotifyIntervalMs,
    backlogLimitBytes: defaultBacklogLimitBytes,
    onError: (message, e) => log.error(message, { error: e }),
  });

  const leases = new LeaseFront({
    store,
    table: leaseTable,
    ids: new LeaseIdGenerator(memberId, Date.now()),
    header: () => header(store.revision),
    // A linearizable read of one key: the store's read barrier (ReadIndex, then wait to apply).
    readBarrier: () => store.range(RangeRequest.create({ key: Buffer.from([0]), countOnly: true })).then(() => undefined),
    isLeaderNow: () => revisionLog.node.status().softState.role === RaftRole.Leader,
    forwarder: new LeaderForwarder(
      {
        selfId: memberId,
        leader: () => leaderWatch.leader,
        leaderChanged: (ms) => leaderWatch.changed(ms),
        call: (to, method, body, ms) => raftMember.transport.call(to, method, body, ms),
      },
      { timers: systemTimers, requestTimeoutMs: requestTimeoutMs(config.electionTimeoutMs), electionTimeoutMs: config.electionTimeoutMs, retryIntervalMs: config.heartbeatIntervalMs },
    ),
    checkpoints: config.leaseCheckpointIntervalMs !== undefined,
    onExpiryError: (e) => log.warn('revoking an expired lease failed; it is retried', { error: e }),
    onExpired: () => metrics.kv.leasesExpired++,
    onCheckpointError: (e) => log.debug('a lease checkpoint was not recorded; it is taken again', { error: e }),
  });
  leaseFront = leases;
  leases.start();

  // The Lock and Election services run etcd's client recipes over the same APIs a client uses.
  const recipeDeps = { kv: store, watch: watchHub, lease: leases };

  const cluster = new ClusterFront({
    selfId: memberId,
    membership,
    proposeConfChange: (cc) => raftMember.proposeConfChange(cc),
    health: {
      isActive: (id) => id === memberId || raftMember.transport.isActive(id),
      // etcd's isLearnerReady: the learner's match is at least 90 % of the leader's.
      isLearnerInSync: (id) => {
        const progress = revisionLog.status().progress;
        const learner = progress?.get(id);
        const self = progress?.get(memberId);
        return learner !== undefined && self !== undefined && learner.match >= self.match * 0.9;
      },
    },
    strictReconfigCheck: config.strictReconfigCheck,
    nowUnixSeconds: () => Date.now() / 1000,
    readBarrier: () => revisionLog.membershipBarrier(),
    promoteAtLeader: {
      isLeader: () => revisionLog.isLeader,
      forward: (id) =>
        forwardPromote({ leader: () => revisionLog.leader, peerUrlsOf: (m) => membership.member(m)?.peerUrls ?? [], requestTimeoutMs: requestTimeoutMs(config.electionTimeoutMs), peerTls }, id),
    },
  });
  raftMember.servePromotes((id) => answerPromote(() => cluster.memberPromote(id), clusterId));

  // one bound per server on snapshot images in flight (each holds a temp file and an engine snapshot)
  const snapshotSlots = new ImageSlots();
  const api: ServerApi = {
    kv: countingKv(maintenance.guardKv(store), metrics.kv, (fields) => log.named('etcdserver').warn('apply request took too long', fields)),
    watch: watchHub,
    lease: maintenance.guardLease(leases),
    lock: new LockRecipe(recipeDeps),
    election: new ElectionRecipe(recipeDeps),
    member: {
      name: config.name,
      memberId,
      clusterId,
      // `member update` may have changed them since bootstrap.
      get peerUrls() {
        return membership.member(memberId)?.peerUrls ?? loaded.identity.peerUrls;
      },
      clientUrls: config.advertiseClientUrls,
    },
    cluster,
    auth: auth.front,
    everyMemberApplies: (feature) => everyMemberApplies(membership.members(), memberId, (id, f) => raftMember.transport.peerAdvertises(id, f), feature),
    version: etcdServerVersion,
    header: (revision) => header(revision ?? store.revision),
    status: () => maintenance.status(),
    compactRevision: () => store.compactRevision,
    // Asked per call (the learner check): from what the node loop last handled, not a full status().
    raft: () => {
      const hs = revisionLog.node.hardState;
      return { leader: revisionLog.leader, term: hs.term, committedIndex: hs.commit, isLearner: membership.member(memberId)?.isLearner ?? false };
    },
    hashKv: (revision) => store.hashKv(revision),
    snapshot: (signal) =>
      takeEtcdSnapshot(
        {
          engine,
          members: () => membership.members(),
          clusterVersion: etcdClusterVersion(etcdServerVersion),
          tempDir: path.join(config.dataDir, 'snap'),
          appliedRevision: () => store.revision,
          slots: snapshotSlots,
        },
        signal,
      ).then((image) => {
        // etcd's log line, with the revision the image is of.
        log.info('sending database snapshot to client', { 'total-bytes': image.dbBytes, revision: image.summary.revision });
        return image;
      }),
    moveLeader: (transferee, timeoutMs) => theLeadership.moveLeader(transferee, timeoutMs),
    onLeaderLost: (listener) => theLeadership.onLeaderLost(listener),
    maintenance: maintenance.api,
  };

  let observability: Observability | undefined;
  const closeMember = async (): Promise<void> => {
    await observability?.close();
    maintenance.stop();
    leases.stop();
    watchHub.close();
    await raftMember.close();
    await store.close();
    await leaseTable.stop();
    await jobs.close();
    await auth.close();
    await engine.close();
  };
  // etcd serves metrics and health before the member is published (on --listen-metrics-urls; the
  // client port opens after the publish).
  try {
    observability = await startObservability({
      memberId,
      metrics,
      api,
      raft: revisionLog,
      membership,
      store,
      watchHub,
      leaseTable,
      transport: raftMember.transport,
      listenMetricsUrls: config.listenMetricsUrls,
      clientTls,
      log,
      notReadyBecause: () => tenants.configDisagreement(),
    });
  } catch (e) {
    await closeMember();
    throw e;
  }
  // etcd serves clients only once this member's name and client URLs are committed (its publish).
  // A member removed meanwhile, or restarting for a snapshot, never gets there.
  let endedEarly = false;
  void ended.then(() => (endedEarly = true));
  const published = await Promise.race([publishUntilApplied(raftMember, log, () => endedEarly).then(() => true), ended.then(() => false)]);
  if (!published) return { ended, close: closeMember };
  // Configured tenants are proposed through the log before clients are served (src/tenants/tenant-config-seed.ts).
  const tenantSeed = seedConfiguredTenants(new TenantAdmin(api, tenants), tenants, log.named('tenants'), requestTimeoutMs(config.electionTimeoutMs));
  await tenantSeed.firstPass;

  // A client URL that cannot be bound (taken, or the same as a metrics URL) stops what was started.
  let port: Awaited<ReturnType<typeof startClientPort>>;
  try {
    port = await startClientPort({
      listenUrls: config.listenClientUrls,
      api,
      maxRequestBytes: config.maxRequestBytes,
      maxTxnOps: config.maxTxnOps,
      maxConcurrentStreams: config.maxConcurrentStreams,
      keepaliveIntervalMs: config.grpcKeepAliveIntervalMs,
      keepaliveTimeoutMs: config.grpcKeepAliveTimeoutMs,
      keepaliveMinTimeMs: config.grpcKeepAliveMinTimeMs,
      friendlyApi: { corsOrigins: config.apiCorsOrigins },
      httpHandlers: observability.httpHandlers,
      grpcStats: metrics.grpc,
      transportWorkers: config.transportWorkers,
      hostWhitelist: hostWhitelistFrom(config.hostWhitelist, [...config.listenClientUrls, ...config.advertiseClientUrls]),
      connectionLimits: { maxConnections: config.maxClientConnections, idleTimeoutMs: config.clientIdleTimeoutMs },
      log: (message, err) => log.error(message, { error: err }),
      ...(clientTls === undefined ? {} : { tls: clientTls }),
      ...tenantPortOptions(new TenantRouter(api, tenants, Math.random), defaultGrpcServices, { maxRequestBytes: config.maxRequestBytes, log: (message, err) => log.error(message, { error: err }) }),
    });
  } catch (e) {
    tenantSeed.close();
    await closeMember();
    throw e;
  }

  // The same milestones etcd logs; tools and scripts wait for these lines.
  log.info('published local member to cluster through raft', {
    'local-member-id': formatId(memberId),
    'local-member-attributes': `{Name:${config.name} ClientURLs:[${config.advertiseClientUrls.join(' ')}]}`,
    'cluster-id': formatId(clusterId),
  });
  log.info('enabled capabilities for version', { 'cluster-version': '3.4' });
  log.info('ready to serve client requests');
  maintenance.start();
  for (const a of port.addresses) {
    if (a.url.startsWith('https:')) log.info('serving client traffic securely', { address: `${a.host}:${a.port}` });
    else log.warn('serving client traffic insecurely; this is strongly discouraged!', { address: `${a.host}:${a.port}` });
  }

  return {
    ended,
    tenants,
    close: async () => {
      // etcd's Stop: a leader hands over first, so the others need not wait out an election.
      await theLeadership.transferBeforeStop(requestTimeoutMs(config.electionTimeoutMs));
      theLeadership.close();
      tenantSeed.close();
      await port.close();
      await closeMember();
      clientTls?.close();
      peerTls?.close();
    },
  };
}

/** How often publishing this member's attributes is retried while there is no leader. */
const publishRetryMs = 500;

async function publishUntilApplied(member: RaftMember, log: Logger, ended: () => boolean): Promise<void> {
  for (let attempt = 1; !ended(); attempt++) {
    const outcome = await Promise.race([
      member.publishAttributes().then(() => 'published' as const, () => 'refused' as const),
      new Promise<'waiting'>((resolve) => setTimeout(() => resolve('waiting'), 5 * publishRetryMs)),
    ]);
    if (outcome === 'published') return;
    if (attempt % 20 === 0) log.warn('failed to publish local member to cluster through raft; retrying', { attempts: attempt });
    if (outcome === 'refused') await new Promise((resolve) => setTimeout(resolve, publishRetryMs));
  }
}

/** etcd's minimum lease TTL: 1.5 election timeouts in whole heartbeats, rounded up to seconds. */
export function minLeaseTtlSeconds(config: Pick<ServerConfig, 'electionTimeoutMs' | 'heartbeatIntervalMs'>): number {
  const electionTicks = Math.floor(config.electionTimeoutMs / config.heartbeatIntervalMs);
  return Math.ceil((Math.floor((3 * electionTicks) / 2) * config.heartbeatIntervalMs) / 1000);
}
