// /api/leases: grant with a TTL, keep alive once, revoke, list, and time-to-live with attached keys
// (what a console needs for a countdown). IDs are decimal strings (int64) with their hex beside them,
// the form etcdctl prints.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, sendJson } from './api-errors.js';
import { statusByKind } from '../grpc/error-status.js';
import type { ApiContext } from './api-context.js';
import { optionalCount, optionalId, parseJsonObject, readBody, type BodyLimits } from './api-request.js';
import { putBytes } from './api-bytes.js';
import type { ApiAccess } from './api-identity.js';
import type { AuthHeader } from '../../auth/auth-op.js';
import { revokeHeaderAsked } from '../../auth/revoke-header.js';
import { revokeAuthHeaderFeature } from '../../peer/peer-protocol.js';

const noRangeEnd = new Uint8Array(0);

const leaseNotFound = (): ApiError => new ApiError(404, 'leaseNotFound', statusByKind.leaseNotFound.details);

const idJson = (id: bigint): { id: string; id_hex: string } => ({ id: id.toString(), id_hex: id.toString(16) });

export class LeaseRoutes {
  constructor(
    private readonly ctx: ApiContext,
    private readonly body: BodyLimits,
  ) {}

  /** POST /api/leases {"ttl": seconds, "id"?: "…"} → 201 {id, id_hex, ttl}. */
  async grant(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const o = parseJsonObject(await readBody(req, this.body), ['ttl', 'id']);
    const ttl = optionalCount(o, 'ttl');
    if (ttl === undefined || ttl <= 0) throw new ApiError(400, 'invalidArgument', 'ttl (seconds, > 0) is required');
    const r = await this.ctx.api.lease.grant({ ID: optionalId(o, 'id') ?? 0n, TTL: BigInt(ttl) });
    sendJson(res, 201, { ...idJson(r.ID), ttl: Number(r.TTL), revision: Number(r.header?.revision ?? 0n) });
  }

  /** GET /api/leases → {leases: [{id, id_hex}]}. */
  async list(res: ServerResponse): Promise<void> {
    const r = await this.ctx.api.lease.leases();
    sendJson(res, 200, { leases: r.leases.map((l) => idJson(l.ID)) });
  }

  /**
   * GET /api/leases/<id> → {id, id_hex, ttl, granted_ttl, keys}; 404 when unknown or expired; 403
   * unless the caller may read every attached key (CVE-2023-32082, as etcd 3.4.26's LeaseTimeToLive).
   */
  async show(res: ServerResponse, id: bigint, access: ApiAccess): Promise<void> {
    const r = await this.ctx.api.lease.timeToLive({ ID: id, keys: true });
    if (r.TTL < 0n) throw leaseNotFound();
    // checked on the keys answered, so a key attached between a check and the read cannot slip through
    for (const k of r.keys) access.requireRead(k, noRangeEnd);
    const keys = r.keys.map((k) => {
      const o: Record<string, unknown> = {};
      putBytes(o, 'key', k);
      return o;
    });
    sendJson(res, 200, { ...idJson(id), ttl: Number(r.TTL), granted_ttl: Number(r.grantedTTL), keys });
  }

  /** POST /api/leases/<id>/keepalive → {id, id_hex, ttl}; 404 when the lease is gone. */
  async keepAlive(res: ServerResponse, id: bigint): Promise<void> {
    const ttl = await this.ctx.api.lease.renew(id);
    if (ttl <= 0n) throw leaseNotFound();
    sendJson(res, 200, { ...idJson(id), ttl: Number(ttl) });
  }

  /**
   * DELETE /api/leases/<id> → {revision}; its keys are deleted with it. With auth enabled the caller
   * must be able to write every key attached: checked when applied, or before proposing while a
   * member runs a build that cannot apply that (revokeHeaderAsked).
   */
  async revoke(res: ServerResponse, id: bigint, who: AuthHeader | undefined): Promise<void> {
    const api = this.ctx.api;
    const r = await api.lease.revoke({ ID: id }, await revokeHeaderAsked(api.auth, who, id, api.everyMemberApplies?.(revokeAuthHeaderFeature) ?? true));
    sendJson(res, 200, { revision: Number(r.header?.revision ?? 0n) });
  }
}
