// etcdserverpb.KV: etcd's request checks (key.go), the raft-entry size check for writes
// (v3_server.go), then the core; headers completed like etcd's header.fill.
import {
  CompactionRequest,
  DeleteRangeRequest,
  KVService,
  PutRequest,
  TxnRequest,
  type KVServer,
} from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { statusError, type AdapterErrorKind } from './error-status.js';
import { raftRequestBytes } from './request-size.js';
import { encodedBytes } from './request-size-limit.js';
import { encodeRangeResponse } from './range-response-encoder.js';
import { completeHeader, unary, type GrpcServiceContext, type GrpcServiceModule } from './service-module.js';
import { isTxnReadOnly } from '../../mvcc/kv-operations.js';
import { checkDeleteRequest, checkPutRequest, checkRangeRequest, validateTxn } from './validate.js';

const fail = (kind: AdapterErrorKind | undefined): void => {
  if (kind !== undefined) throw statusError(kind);
};

export function createKvHandlers(ctx: GrpcServiceContext): KVServer {
  const { api, log } = ctx;
  const checkSize = (encodedBytes: number): void => {
    if (raftRequestBytes(encodedBytes, api.member.memberId) > ctx.maxRequestBytes) fail('requestTooLarge');
  };
  return {
    range: unary(log, async (req) => {
      fail(checkRangeRequest(req));
      const res = await api.kv.range(req);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    put: unary(log, async (req) => {
      fail(checkPutRequest(req));
      checkSize(encodedBytes(req, PutRequest.encode));
      const res = await api.kv.put(req);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    deleteRange: unary(log, async (req) => {
      fail(checkDeleteRequest(req));
      checkSize(encodedBytes(req, DeleteRangeRequest.encode));
      const res = await api.kv.deleteRange(req);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    txn: unary(log, async (req) => {
      fail(validateTxn(req, ctx.maxTxnOps));
      if (!isTxnReadOnly(req)) checkSize(encodedBytes(req, TxnRequest.encode));
      const res = await api.kv.txn(req);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    compact: unary(log, async (req) => {
      checkSize(encodedBytes(req, CompactionRequest.encode));
      const res = await api.kv.compact(req);
      return { ...res, header: completeHeader(api, res.header) };
    }),
  };
}

export const kvServiceModule: GrpcServiceModule = {
  name: 'etcdserverpb.KV',
  register(server, ctx) {
    // Range answers can be large: they get the exact-size serializer.
    const service = { ...KVService, range: { ...KVService.range, responseSerialize: encodeRangeResponse } };
    server.addService(service, createKvHandlers(ctx));
  },
};
