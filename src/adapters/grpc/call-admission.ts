// The checks every new call passes before its method runs, whichever edge it came in by (HTTP/2
// gRPC or the JSON gateway, which etcd serves through a loopback gRPC connection and so through the
// same interceptors): clientv3's require-leader and the learner's short list of RPCs.
import type { IncomingHttpHeaders } from 'node:http2';
import type { ServerApi } from '../../core/kv-api.js';
import { statusByKind, type GrpcStatus } from './error-status.js';
import { RequireLeaderGuard, requiresLeader, type EndableCall } from './require-leader.js';

/** What a learner answers (etcd's isRPCSupportedForLearner: Status, and Range if serializable). */
const learnerServes = new Set(['/etcdserverpb.Maintenance/Status', '/etcdserverpb.KV/Range']);

export class CallAdmission {
  private readonly requireLeader: RequireLeaderGuard;

  constructor(private readonly api: Pick<ServerApi, 'raft' | 'onLeaderLost'>) {
    this.requireLeader = new RequireLeaderGuard(api);
  }

  /** The status a new call to `path` gets now, or undefined when it may run. */
  refusal(path: string, metadata: IncomingHttpHeaders): GrpcStatus | undefined {
    const noLeader = this.requireLeader.refusal(metadata);
    if (noLeader !== undefined) return noLeader;
    if (!learnerServes.has(path) && this.api.raft().isLearner) return statusByKind.notSupportedForLearner;
    return undefined;
  }

  /**
   * A stream that asked for a leader is ended with `etcdserver: no leader` when the member loses
   * it; returns what forgets the stream (call it when the stream closes), or undefined if it did not ask.
   */
  trackStream(call: EndableCall, metadata: IncomingHttpHeaders): (() => void) | undefined {
    return requiresLeader(metadata) ? this.requireLeader.track(call) : undefined;
  }

  close(): void {
    this.requireLeader.close();
  }
}
