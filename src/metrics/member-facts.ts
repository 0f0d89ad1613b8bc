// The member's parts, read the way the registry wants them (member-metrics.ts MemberFacts). Only
// reads: nothing here runs unless /metrics is scraped.
import { RangeRequest } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { MemberFacts, PeerFacts, StoreFacts } from './member-metrics.js';
import type { LiveKeyCount } from './kv-counters.js';

export interface MemberParts {
  readonly selfId: bigint;
  readonly raft: MemberFacts['raft'];
  readonly store: {
    status(): Promise<StoreFacts>;
    range(req: RangeRequest): Promise<{ readonly count: bigint; readonly header?: { readonly revision: bigint } | undefined }>;
  };
  readonly watchHub: { readonly counts: { readonly streams: number; readonly watchers: number } };
  readonly leaseTable: { readonly size: number };
  readonly memberIds: () => Iterable<bigint>;
  /** Live keys kept from the applied stream (kv-counters.ts); started here with one count. */
  readonly liveKeys: LiveKeyCount;
  readonly transport: {
    isActive(id: bigint): boolean;
    linkStats(id: bigint): { readonly bytesSent: number; readonly roundTripMs: number | undefined } | undefined;
    bytesReceivedFrom(id: bigint): number;
  };
}

/** Every live key, counted at this member's applied revision without a read barrier. */
const allKeysCount = RangeRequest.create({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), countOnly: true, serializable: true });

export function memberFacts(parts: MemberParts): MemberFacts {
  // counted once (at the first scrape), then followed from the applied stream
  const keyCount = async (): Promise<number> => {
    for (;;) {
      const known = parts.liveKeys.value;
      if (known !== undefined) return known;
      const res = await parts.store.range(allKeysCount);
      parts.liveKeys.started(Number(res.count), Number(res.header?.revision ?? 0n));
    }
  };
  // at once, so that few changes wait for the starting count
  void keyCount().catch(() => undefined);
  return {
    raft: parts.raft,
    store: () => parts.store.status(),
    keyCount,
    watch: () => parts.watchHub.counts,
    leases: () => parts.leaseTable.size,
    peers: function* (): Iterable<PeerFacts> {
      for (const id of parts.memberIds()) {
        if (id === parts.selfId) continue;
        const link = parts.transport.linkStats(id);
        yield {
          id,
          active: parts.transport.isActive(id),
          bytesSent: link?.bytesSent ?? 0,
          bytesReceived: parts.transport.bytesReceivedFrom(id),
          roundTripMs: link?.roundTripMs,
        };
      }
    },
  };
}
