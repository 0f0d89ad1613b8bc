// What a member serves for watching it, assembled once its parts exist: the registry's view of the
// member (member-facts.ts), the applied-stream counters, /readyz's check, the handlers for /metrics,
// /livez and /readyz, and the --listen-metrics-urls listener. lattice-server.ts calls this once.
import type { Observable } from 'rxjs';
import type { ServerApi } from '../core/kv-api.js';
import { createHttpRouter, type HttpHandler } from '../adapters/http/http-router.js';
import type { AppliedBatch } from '../store/applied-batch.js';
import type { TlsSide } from '../tls/tls-side.js';
import type { Logger } from '../server/logger.js';
import { logCompactions } from '../server/etcd-log-lines.js';
import { countApplied, LiveKeyCount } from './kv-counters.js';
import { memberFacts, type MemberParts } from './member-facts.js';
import type { MemberMetrics } from './member-metrics.js';
import { metricsHandler, probeHandler } from './metrics-http.js';
import { startMetricsListener, type MetricsListener } from './metrics-listener.js';
import { ReadinessCheck } from './readiness.js';

export interface ObservedMember {
  readonly memberId: bigint;
  readonly metrics: MemberMetrics;
  readonly api: ServerApi;
  readonly raft: {
    readonly leader: bigint;
    readonly isLeader: boolean;
    readonly committedIndex: number;
    /** The leader's commit index (Raft ReadIndex). */
    readIndex(): Promise<number>;
  };
  readonly membership: {
    member(id: bigint): { readonly isLearner: boolean } | undefined;
    members(): readonly { readonly id: bigint }[];
  };
  readonly store: MemberParts['store'] & { readonly applied$: Observable<AppliedBatch>; readonly compactRevision: number; readonly appliedIndex: number };
  readonly watchHub: MemberParts['watchHub'];
  readonly leaseTable: MemberParts['leaseTable'];
  readonly transport: MemberParts['transport'];
  /** --listen-metrics-urls. */
  readonly listenMetricsUrls: readonly string[];
  /** Client TLS, for https metrics URLs. */
  readonly clientTls: TlsSide | undefined;
  readonly log: Logger;
  /** A reason /readyz must fail besides the log (configured tenants that disagree with the cluster's). */
  readonly notReadyBecause?: () => string | undefined;
}

export interface Observability {
  /** /metrics, /livez and /readyz, for the client port's router. */
  readonly httpHandlers: readonly HttpHandler[];
  close(): Promise<void>;
}

export async function startObservability(m: ObservedMember): Promise<Observability> {
  const liveKeys = new LiveKeyCount();
  m.metrics.attach(
    memberFacts({
      selfId: m.memberId,
      raft: () => ({
        leader: m.raft.leader,
        isLeader: m.raft.isLeader,
        isLearner: m.membership.member(m.memberId)?.isLearner ?? false,
        committedIndex: m.raft.committedIndex,
      }),
      store: m.store,
      watchHub: m.watchHub,
      leaseTable: m.leaseTable,
      memberIds: () => m.membership.members().map((x) => x.id),
      transport: m.transport,
      liveKeys,
    }),
  );
  const stopCounting = countApplied(m.store.applied$, m.metrics.kv, liveKeys);
  const stopLoggingCompactions = logCompactions(m.store.applied$, m.store.compactRevision, m.log.named('mvcc'));
  const readiness = new ReadinessCheck({
    leaderCommitIndex: () => m.raft.readIndex(),
    appliedIndex: () => m.store.appliedIndex,
    hasLeader: () => m.raft.leader !== 0n,
    ...(m.notReadyBecause === undefined ? {} : { notReadyBecause: m.notReadyBecause }),
  });
  const httpHandlers = [metricsHandler(m.metrics), probeHandler(readiness)];
  let listener: MetricsListener | undefined;
  const close = async (): Promise<void> => {
    stopCounting();
    stopLoggingCompactions();
    await listener?.close();
  };
  if (m.listenMetricsUrls.length > 0) {
    const router = createHttpRouter({ api: m.api, handlers: httpHandlers, log: (message, err) => m.log.error(message, { error: err }) });
    try {
      listener = await startMetricsListener(m.listenMetricsUrls, router, m.clientTls, (err) => m.log.error('metrics listener failed to accept a connection', { error: err }));
    } catch (e) {
      await close();
      throw e;
    }
    for (const a of listener.addresses) m.log.info('serving metrics', { address: a.url });
  }
  return { httpHandlers, close };
}
