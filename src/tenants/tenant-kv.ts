// The KV API as a tenant sees it: every key and range moved under its prefix on the way in (txn
// compares and nested ops included), the prefix taken off every key on the way out, lease IDs
// mapped into the tenant's range. Compaction is the administrator's job: a tenant's is refused.
import { EtcdError } from '../core/errors.js';
import type { KvApi } from '../core/kv-api.js';
import type { AuthHeader } from '../auth/auth-op.js';
import type { KeyValue } from '../gen/etcd/mvcc/mvccpb/kv.js';
import {
  Compare_CompareTarget,
  type CompactionResponse,
  type Compare,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { TenantState } from './tenant-state.js';

/** What a request costs against the bytes/s bucket: the key, range end and value bytes it carries. */
export function requestBytes(...parts: readonly (Uint8Array | undefined)[]): number {
  let n = 0;
  for (const p of parts) n += p?.length ?? 0;
  return n;
}

function txnBytes(req: TxnRequest): number {
  let n = 0;
  for (const c of req.compare) n += requestBytes(c.key, c.rangeEnd, c.value);
  for (const op of [...req.success, ...req.failure]) {
    if (op.requestRange !== undefined) n += requestBytes(op.requestRange.key, op.requestRange.rangeEnd);
    if (op.requestPut !== undefined) n += requestBytes(op.requestPut.key, op.requestPut.value);
    if (op.requestDeleteRange !== undefined) n += requestBytes(op.requestDeleteRange.key, op.requestDeleteRange.rangeEnd);
    if (op.requestTxn !== undefined) n += txnBytes(op.requestTxn);
  }
  return n;
}

/** Request and answer mapping of one tenant, shared by the KV wrapper and the recipes' wrappers. */
export class TenantMapping {
  constructor(readonly tenant: TenantState) {}

  leaseIn(id: bigint): bigint {
    if (!this.tenant.leaseIds.fits(id)) throw new EtcdError('leaseNotFound');
    return this.tenant.leaseIds.toStored(id);
  }

  kvOut = (kv: KeyValue): KeyValue => this.tenant.keys.kvToClient(kv, (id) => this.tenant.leaseIds.toClient(id));

  range(req: RangeRequest): RangeRequest {
    const k = this.tenant.keys;
    return { ...req, key: k.toStored(req.key), rangeEnd: Buffer.from(k.toStoredEnd(req.rangeEnd)) };
  }

  rangeOut(res: RangeResponse): RangeResponse {
    return { ...res, kvs: res.kvs.map(this.kvOut) };
  }

  put(req: PutRequest): PutRequest {
    return { ...req, key: this.tenant.keys.toStored(req.key), lease: this.leaseIn(req.lease) };
  }

  putOut(res: PutResponse): PutResponse {
    return res.prevKv === undefined ? res : { ...res, prevKv: this.kvOut(res.prevKv) };
  }

  deleteRange(req: DeleteRangeRequest): DeleteRangeRequest {
    const k = this.tenant.keys;
    return { ...req, key: k.toStored(req.key), rangeEnd: Buffer.from(k.toStoredEnd(req.rangeEnd)) };
  }

  deleteOut(res: DeleteRangeResponse): DeleteRangeResponse {
    return { ...res, prevKvs: res.prevKvs.map(this.kvOut) };
  }

  compare(c: Compare): Compare {
    const k = this.tenant.keys;
    const mapped: Compare = { ...c, key: k.toStored(c.key), rangeEnd: Buffer.from(k.toStoredEnd(c.rangeEnd)) };
    if (c.target === Compare_CompareTarget.LEASE && c.lease !== undefined) return { ...mapped, lease: this.leaseIn(c.lease) };
    return mapped;
  }

  op(op: RequestOp): RequestOp {
    if (op.requestRange !== undefined) return { requestRange: this.range(op.requestRange) };
    if (op.requestPut !== undefined) return { requestPut: this.put(op.requestPut) };
    if (op.requestDeleteRange !== undefined) return { requestDeleteRange: this.deleteRange(op.requestDeleteRange) };
    if (op.requestTxn !== undefined) return { requestTxn: this.txn(op.requestTxn) };
    return op;
  }

  txn(req: TxnRequest): TxnRequest {
    return { compare: req.compare.map((c) => this.compare(c)), success: req.success.map((o) => this.op(o)), failure: req.failure.map((o) => this.op(o)) };
  }

  opOut(op: ResponseOp): ResponseOp {
    if (op.responseRange !== undefined) return { responseRange: this.rangeOut(op.responseRange) };
    if (op.responsePut !== undefined) return { responsePut: this.putOut(op.responsePut) };
    if (op.responseDeleteRange !== undefined) return { responseDeleteRange: this.deleteOut(op.responseDeleteRange) };
    if (op.responseTxn !== undefined) return { responseTxn: this.txnOut(op.responseTxn) };
    return op;
  }

  txnOut(res: TxnResponse): TxnResponse {
    return { ...res, responses: res.responses.map((o) => this.opOut(o)) };
  }
}

export class TenantKv implements KvApi {
  private readonly map: TenantMapping;

  constructor(
    private readonly base: KvApi,
    private readonly tenant: TenantState,
  ) {
    this.map = new TenantMapping(tenant);
  }

  async range(req: RangeRequest): Promise<RangeResponse> {
    this.tenant.admit(requestBytes(req.key, req.rangeEnd));
    return this.map.rangeOut(await this.base.range(this.map.range(req)));
  }

  async put(req: PutRequest, auth: AuthHeader | undefined): Promise<PutResponse> {
    this.tenant.admit(requestBytes(req.key, req.value));
    return this.map.putOut(await this.base.put(this.map.put(req), auth));
  }

  async deleteRange(req: DeleteRangeRequest, auth: AuthHeader | undefined): Promise<DeleteRangeResponse> {
    this.tenant.admit(requestBytes(req.key, req.rangeEnd));
    return this.map.deleteOut(await this.base.deleteRange(this.map.deleteRange(req), auth));
  }

  async txn(req: TxnRequest, auth: AuthHeader | undefined): Promise<TxnResponse> {
    this.tenant.admit(txnBytes(req));
    return this.map.txnOut(await this.base.txn(this.map.txn(req), auth));
  }

  compact(): Promise<CompactionResponse> {
    // History is shared by every tenant: compacting it is the administrator's call.
    return Promise.reject(new EtcdError('authPermissionDenied'));
  }
}
