// The Lease API over the store and the lease table. Grants and revokes are log entries (the store
// applies them to the table in order) and may be made on any member. Renewals, time-to-live and the
// lease list are answered by the primary lessor (the leader) from its table, without a log entry, as
// etcd answers them; on any other member they are forwarded to the leader over the peer port
// (leader-forwarder.ts). The leader's periodic work (expiry revokes, checkpoints) is lease-duties.ts.
import type {
  LeaseCheckpointRequest,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseLeasesResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
  ResponseHeader,
} from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { EtcdError } from '../core/errors.js';
import type { AuthHeader } from '../auth/auth-op.js';
import { keyBytes } from '../core/keys.js';
import type { LeaseApi } from '../core/lease-api.js';
import type { LeasePrimaryTable } from '../actors/lease-table-ports.js';
import type { PeerCallAnswer } from '../peer/peer-call.js';
import type { LeaseIdGenerator } from './lease-ids.js';
import { leaseCallCodecs, leaseCallMethods } from './lease-calls.js';
import { LeaseCallService } from './lease-call-service.js';
import { LeaseDuties } from './lease-duties.js';
import type { LeaderForwarder } from './leader-forwarder.js';
import { LeasePrimary } from './lease-primary.js';

export { leaseDutyIntervalMs as expiryCheckIntervalMs } from './lease-duties.js';

/** The store's lease writes, all through the revision log, and its linearizable read barrier. */
export interface LeaseWrites {
  leaseGrant(req: LeaseGrantRequest): Promise<LeaseGrantResponse>;
  /** `auth`: the revoking client, checked when applied; undefined for the expiry loop's revokes and while a member cannot apply a header (revokeHeaderAsked). */
  leaseRevoke(req: LeaseRevokeRequest, auth: AuthHeader | undefined): Promise<LeaseRevokeResponse>;
  leaseCheckpoint(req: LeaseCheckpointRequest): Promise<unknown>;
}

export interface LeaseFrontOptions {
  readonly store: LeaseWrites;
  /** The lease actor's client (LeaseTableRef). */
  readonly table: LeasePrimaryTable;
  readonly ids: LeaseIdGenerator;
  /** A complete header at the store's current revision. */
  readonly header: () => ResponseHeader;
  /** Resolves once the applied state reflects every write acknowledged before the call. */
  readonly readBarrier: () => Promise<void>;
  /** Is this member's Raft leader right now? (A single member always is.) */
  readonly isLeaderNow: () => boolean;
  /** Forwards to the leader; absent (a single member): a follower's lease read fails as not capable. */
  readonly forwarder?: LeaderForwarder;
  /** The leader records remaining TTLs through the log (the table schedules them). */
  readonly checkpoints: boolean;
  /** A revoke the expiry loop proposed failed for a reason other than the lease being gone already. */
  readonly onExpiryError: (e: unknown) => void;
  /** An expired lease was revoked. */
  readonly onExpired?: () => void;
  readonly onCheckpointError?: (e: unknown) => void;
}

export class LeaseFront implements LeaseApi {
  private readonly primary: LeasePrimary;
  private readonly duties: LeaseDuties;
  private readonly calls: LeaseCallService;

  constructor(private readonly options: LeaseFrontOptions) {
    const onCheckpointError = options.onCheckpointError ?? ((): void => undefined);
    this.primary = new LeasePrimary({
      table: options.table,
      readBarrier: options.readBarrier,
      ...(options.checkpoints ? { proposeCheckpoint: (req: LeaseCheckpointRequest) => options.store.leaseCheckpoint(req) } : {}),
      onCheckpointError,
    });
    this.duties = new LeaseDuties({
      table: options.table,
      store: options.store,
      isLeaderNow: options.isLeaderNow,
      onExpiryError: options.onExpiryError,
      onExpired: options.onExpired,
      onCheckpointError,
      onFatal: () => this.primary.stop(),
    });
    this.calls = new LeaseCallService(this.primary);
  }

  /** Starts the leader's expiry and checkpoint loop; it does nothing while this member is not leader. */
  start(): void {
    this.duties.start();
  }

  stop(): void {
    this.duties.stop();
    this.primary.stop();
  }

  /** Serves the lease calls other members forward to this one (when it is the leader). */
  handlePeerCall(method: string, body: Uint8Array): Promise<PeerCallAnswer> {
    return this.calls.handle(method, body);
  }

  header(): ResponseHeader {
    return this.options.header();
  }

  grant(req: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    // The ID is chosen before proposing, so the log entry (and every member applying it) has it.
    return this.options.store.leaseGrant(req.ID === 0n ? { ...req, ID: this.options.ids.next() } : req);
  }

  revoke(req: LeaseRevokeRequest, auth: AuthHeader | undefined): Promise<LeaseRevokeResponse> {
    return this.options.store.leaseRevoke(req, auth);
  }

  async renew(id: bigint): Promise<bigint> {
    const local = await this.primary.renew(id);
    if (local.kind === 'answer') return local.value;
    if (local.kind === 'notFound') return 0n;
    const codec = leaseCallCodecs.renew;
    const f = await this.forwarder().forward(leaseCallMethods.renew, codec.request.encode({ ID: id }).finish(), (b) => codec.answer.decode(b));
    return f.kind === 'answer' ? f.value.TTL : 0n;
  }

  async timeToLive(req: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse> {
    const notFound = (): LeaseTimeToLiveResponse => ({ header: this.header(), ID: req.ID, TTL: -1n, grantedTTL: 0n, keys: [] });
    const local = await this.primary.timeToLive(req.ID, req.keys);
    if (local.kind === 'notFound') return notFound();
    if (local.kind === 'answer') {
      const s = local.value;
      return { header: this.header(), ID: req.ID, TTL: BigInt(s.remainingSeconds), grantedTTL: BigInt(s.ttlSeconds), keys: s.keys.map(keyBytes) };
    }
    const codec = leaseCallCodecs.timeToLive;
    const f = await this.forwarder().forward(leaseCallMethods.timeToLive, codec.request.encode(req).finish(), (b) => codec.answer.decode(b));
    // The header is this member's, as etcd fills it in after forwarding.
    return f.kind === 'answer' ? { ...f.value, header: this.header() } : notFound();
  }

  async leases(): Promise<LeaseLeasesResponse> {
    const local = await this.primary.leases();
    if (local.kind === 'answer') return { header: this.header(), leases: local.value.map((ID) => ({ ID })) };
    const codec = leaseCallCodecs.leases;
    const f = await this.forwarder().forward(leaseCallMethods.leases, codec.request.encode({}).finish(), (b) => codec.answer.decode(b));
    return { header: this.header(), leases: f.kind === 'answer' ? f.value.leases : [] };
  }

  private forwarder(): LeaderForwarder {
    const f = this.options.forwarder;
    if (f === undefined) throw new EtcdError('notCapable', 'not the primary lessor');
    return f;
  }
}
