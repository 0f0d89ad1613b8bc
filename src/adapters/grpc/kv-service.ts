// etcdserverpb.KV: etcd's request checks (key.go), the raft-entry size check for writes
// (v3_server.go), then the core; headers completed like etcd's header.fill.
import { CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, KVService, PutRequest, TxnRequest, TxnResponse, type PutResponse } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { sharedEncoder } from '../../core/shared-proto-writer.js';
import { statusError, type AdapterErrorKind } from './error-status.js';
import { raftRequestBytes } from './request-size.js';
import { encodedBytes } from './request-size-limit.js';
import { encodeRangeResponse, frameRangeResponse } from './range-response-encoder.js';
import { framePutResponse } from './put-response-encoder.js';
import { decodePutRequest } from './put-request-decoder.js';
import { completeHeader, serviceMethods, unary, type GrpcMethod, type GrpcServiceContext, type GrpcServiceModule } from './service-module.js';
import { isTxnReadOnly } from '../../mvcc/kv-operations.js';
import { rangeRefusal, txnRefusal } from '../../auth/request-permissions.js';
import { callerOf, enabledAuth, serveChecked, writeHeaderOf } from './auth-guard.js';
import { checkDeleteRequest, checkPutRequest, checkRangeRequest, validateTxn } from './validate.js';

const fail = (kind: AdapterErrorKind | undefined): void => {
  if (kind !== undefined) throw statusError(kind);
};

// Range answers can be large: they get the exact-size serializer, framed in the same buffer.
const rangeMethod = { ...KVService.range, responseSerialize: encodeRangeResponse, responseFrame: frameRangeResponse };
// Writes keep the bytes they arrived in for the size check; a put's log entry reuses them when canonical.
const putMethod = { ...KVService.put, requestDeserialize: decodePutRequest, keepsEncoding: true, responseFrame: framePutResponse };
const deleteRangeMethod = { ...KVService.deleteRange, keepsEncoding: true, responseSerialize: sharedEncoder(DeleteRangeResponse.encode) };
const txnMethod = { ...KVService.txn, keepsEncoding: true, responseSerialize: sharedEncoder(TxnResponse.encode) };
const compactMethod = { ...KVService.compact, keepsEncoding: true, responseSerialize: sharedEncoder(CompactionResponse.encode) };

export function createKvMethods(ctx: GrpcServiceContext): GrpcMethod[] {
  const { api } = ctx;
  const checkSize = (encodedBytes: number): void => {
    if (raftRequestBytes(encodedBytes, api.member.memberId) > ctx.maxRequestBytes) fail('requestTooLarge');
  };
  // the core's answer is this call's own object: completed in place, not copied
  const completePutHeader = (res: PutResponse): PutResponse => {
    res.header = completeHeader(api, res.header);
    return res;
  };
  return serviceMethods(KVService, {
    range: unary(rangeMethod, async (req, call) => {
      fail(checkRangeRequest(req));
      // A learner serves only what it can answer alone (etcd's isRPCSupportedForLearner).
      if (!req.serializable && api.raft().isLearner) fail('notSupportedForLearner');
      const res = await serveChecked(api, call, (check, h) => rangeRefusal(check, h, req), () => api.kv.range(req));
      // the core's answer is this call's own object: completed in place, not copied
      res.header = completeHeader(api, res.header);
      return res;
    }),
    // Every put passes here: no async frame, and without a token no wait for the caller.
    put: unary(putMethod, (req, call) => {
      fail(checkPutRequest(req));
      checkSize(encodedBytes(req, PutRequest.encode));
      const who = writeHeaderOf(api, call);
      const res = who instanceof Promise ? who.then((h) => api.kv.put(req, h)) : api.kv.put(req, who);
      return res.then(completePutHeader);
    }),
    deleteRange: unary(deleteRangeMethod, async (req, call) => {
      fail(checkDeleteRequest(req));
      checkSize(encodedBytes(req, DeleteRangeRequest.encode));
      const res = await api.kv.deleteRange(req, await writeHeaderOf(api, call));
      return { ...res, header: completeHeader(api, res.header) };
    }),
    txn: unary(txnMethod, async (req, call) => {
      fail(validateTxn(req, ctx.maxTxnOps));
      const readOnly = isTxnReadOnly(req);
      if (!readOnly) checkSize(encodedBytes(req, TxnRequest.encode));
      // etcd checks a read-only Txn before serving it, a write Txn when applying it.
      const res = readOnly
        ? await serveChecked(api, call, (check, h) => txnRefusal(check, h, req), () => api.kv.txn(req, undefined))
        : await api.kv.txn(req, await writeHeaderOf(api, call));
      return { ...res, header: completeHeader(api, res.header) };
    }),
    compact: unary(compactMethod, async (req, call) => {
      checkSize(encodedBytes(req, CompactionRequest.encode));
      // etcd 3.4 checks no permission for Compact, only that a token sent is valid.
      if (enabledAuth(api) !== undefined) await callerOf(api, call);
      const res = await api.kv.compact(req);
      return { ...res, header: completeHeader(api, res.header) };
    }),
  });
}

export const kvServiceModule: GrpcServiceModule = {
  name: 'etcdserverpb.KV',
  methods: createKvMethods,
};
