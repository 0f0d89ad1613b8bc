// The fixed answers of the bare-transport benchmark servers (bare-grpc-js.mjs, bare-http2.mjs):
// encoded once at start, so a call costs only the transport. A Range answer holds one 256-byte key-value
// (kvbench checks that a get finds one key); every other method gets a Put answer (a header only).
import { PutResponse, RangeResponse } from '../dist/src/gen/etcd/etcdserver/etcdserverpb/rpc.js';

const header = { clusterId: 1n, memberId: 2n, revision: 3n, raftTerm: 4n };
export const rangeAnswer = Buffer.from(
  RangeResponse.encode(
    RangeResponse.fromPartial({
      header,
      kvs: [{ key: Buffer.from('kvb/get'), value: Buffer.alloc(256, 0x76), createRevision: 2n, modRevision: 2n, version: 1n }],
      count: 1n,
    }),
  ).finish(),
);
export const putAnswer = Buffer.from(PutResponse.encode(PutResponse.fromPartial({ header })).finish());
export const answerFor = (path) => (path === '/etcdserverpb.KV/Range' ? rangeAnswer : putAnswer);
export const listenPort = () => Number(process.env.KVB_PORT ?? process.argv[2] ?? 2379);
