// What every /api route gets: the store's ServerApi and the server's limits.
import type { ServerApi } from '../../core/kv-api.js';
import type { ErrorLogger } from '../grpc/error-status.js';

export interface ApiContext {
  readonly api: ServerApi;
  /** etcd --max-request-bytes: bounds request bodies and the size of one write. */
  readonly maxRequestBytes: number;
  /** etcd --max-txn-ops: an import is cut into transactions of at most this many puts. */
  readonly maxTxnOps: number;
  readonly log: ErrorLogger;
}
