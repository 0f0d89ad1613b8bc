// etcd's "finished scheduled compaction" line, which operators grep for after a compaction: logged
// when the applied stream shows the compaction point moved (on every member, as etcd logs it).
import type { Observable } from 'rxjs';
import type { AppliedBatch } from '../store/applied-batch.js';
import type { Logger } from './logger.js';

export function logCompactions(applied$: Observable<AppliedBatch>, startRevision: number, log: Logger): () => void {
  let compacted = startRevision;
  const subscription = applied$.subscribe((batch) => {
    if (batch.compactRevision <= compacted) return;
    compacted = batch.compactRevision;
    log.info('finished scheduled compaction', { 'compact-revision': compacted });
  });
  return () => subscription.unsubscribe();
}
