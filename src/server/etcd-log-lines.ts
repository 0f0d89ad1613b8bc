// Lines etcd logs that operators and scripts grep for, with etcd's zap field names, which no other
// module of the server would log by itself.
import type { Observable } from 'rxjs';
import type { AppliedBatch } from '../store/applied-batch.js';
import type { ServerConfig } from './config.js';
import type { Logger } from './logger.js';

/** etcd's embed "starting an etcd server", first thing at start. */
export function logStartingServer(config: ServerConfig, etcdVersion: string, log: Logger): void {
  log.named('embed').info('starting an etcd server', {
    'etcd-version': etcdVersion,
    'node-version': process.version,
    name: config.name,
    'data-dir': config.dataDir,
    'listen-peer-urls': config.listenPeerUrls,
    'listen-client-urls': config.listenClientUrls,
    'advertise-client-urls': config.advertiseClientUrls,
    'listen-metrics-urls': config.listenMetricsUrls,
    'initial-cluster-state': config.initialClusterState,
  });
}

/**
 * etcd's "finished scheduled compaction": logged when the applied stream shows the compaction point
 * moved (on every member, as etcd logs it).
 */
export function logCompactions(applied$: Observable<AppliedBatch>, startRevision: number, log: Logger): () => void {
  let compacted = startRevision;
  const subscription = applied$.subscribe((batch) => {
    if (batch.compactRevision <= compacted) return;
    compacted = batch.compactRevision;
    log.info('finished scheduled compaction', { 'compact-revision': compacted });
  });
  return () => subscription.unsubscribe();
}
