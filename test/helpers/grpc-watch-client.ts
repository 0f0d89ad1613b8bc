// A thin grpc-js client for the Watch and KV services, for tests that need many raw watch streams on
// chosen connections (clientv3 and etcd3 hide both).
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import {
  KVClient,
  PutRequest,
  RangeRequest,
  WatchClient,
  WatchCreateRequest,
  type RangeResponse,
  type WatchRequest,
  type WatchResponse,
} from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';

export interface Connection {
  readonly watch: WatchClient;
  readonly kv: KVClient;
  close(): void;
}

/** One HTTP/2 connection (its own subchannel), shared by every stream and call made through it. */
export function connect(endpoint: string): Connection {
  const target = endpoint.replace(/^https?:\/\//, '');
  const options = { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };
  const watch = new WatchClient(target, credentials.createInsecure(), options);
  // Same channel: KV calls ride on the watch client's connection.
  const kv = new KVClient(target, credentials.createInsecure(), { ...options, channelOverride: watch.getChannel() });
  return {
    watch,
    kv,
    close: () => {
      watch.close();
      kv.close();
    },
  };
}

export class WatchStream {
  readonly responses: WatchResponse[] = [];
  /** The mod_revision of the last event each watch id received. */
  readonly lastEventRevision = new Map<bigint, bigint>();
  private readonly call: ClientDuplexStream<WatchRequest, WatchResponse>;
  private waiters: (() => void)[] = [];
  error: Error | null = null;

  constructor(conn: Connection) {
    this.call = conn.watch.watch();
    this.call.on('data', (r: WatchResponse) => {
      this.responses.push(r);
      const last = r.events.at(-1)?.kv?.modRevision;
      if (last !== undefined) this.lastEventRevision.set(r.watchId, last);
      this.wake();
    });
    this.call.on('error', (e: Error) => {
      this.error = e;
      this.wake();
    });
  }

  create(fields: Partial<WatchCreateRequest>): void {
    this.call.write({ createRequest: WatchCreateRequest.create(fields) });
  }

  /** Resolves once predicate holds over the responses so far; rejects on a stream error or timeout. */
  async until(what: string, predicate: (responses: readonly WatchResponse[]) => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.responses)) {
      if (this.error !== null) throw this.error;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what} (${this.responses.length} responses so far)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.call.cancel();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

export function put(conn: Connection, key: string, value: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) =>
    conn.kv.put(PutRequest.create({ key: Buffer.from(key), value: typeof value === 'string' ? Buffer.from(value) : value }), (err) => (err ? reject(err) : resolve())),
  );
}

export function range(conn: Connection, req: Partial<RangeRequest>): Promise<RangeResponse> {
  return new Promise((resolve, reject) => conn.kv.range(RangeRequest.create(req), (err, res) => (err || res === undefined ? reject(err) : resolve(res))));
}

/** range_end for every key with this prefix. */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1]!++;
  return end;
}
