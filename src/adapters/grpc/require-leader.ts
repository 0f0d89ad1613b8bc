// clientv3's WithRequireLeader: a call carrying the metadata `hasleader: true` is refused with
// `etcdserver: no leader` on a member that has none, and a stream carrying it is ended with that
// status once the member has been without a leader for a while (etcd's v3rpc interceptors and
// monitorLeader). Calls without the metadata are not touched.
import type { IncomingHttpHeaders } from 'node:http2';
import type { ServerApi } from '../../core/kv-api.js';
import { statusByKind, type GrpcStatus } from './error-status.js';

/** rpctypes.MetadataRequireLeaderKey / MetadataHasLeader. */
const requireLeaderKey = 'hasleader';
const hasLeaderValue = 'true';

export const requiresLeader = (metadata: IncomingHttpHeaders): boolean => metadata[requireLeaderKey] === hasLeaderValue;

/** A stream the guard may end. */
export interface EndableCall {
  end(status: GrpcStatus): void;
}

export class RequireLeaderGuard {
  private readonly streams = new Set<EndableCall>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly api: Pick<ServerApi, 'raft' | 'onLeaderLost'>) {}

  /** The status a new call gets now, or undefined when it may proceed. */
  refusal(metadata: IncomingHttpHeaders): GrpcStatus | undefined {
    if (!requiresLeader(metadata)) return undefined;
    return this.api.raft().leader === 0n ? statusByKind.noLeader : undefined;
  }

  /** Ends `call` with `etcdserver: no leader` if the member loses its leader; returns what forgets it. */
  track(call: EndableCall): () => void {
    this.streams.add(call);
    this.unsubscribe ??= this.api.onLeaderLost(() => this.leaderLost());
    return () => {
      this.streams.delete(call);
      if (this.streams.size === 0) this.stopListening();
    };
  }

  close(): void {
    this.streams.clear();
    this.stopListening();
  }

  private leaderLost(): void {
    const streams = [...this.streams];
    this.streams.clear();
    this.stopListening();
    for (const call of streams) call.end(statusByKind.noLeader);
  }

  private stopListening(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
