#!/usr/bin/env node
// The noisy tenant of bench/tenant-neighbour.mjs, in a process of its own so that its refused calls
// cost the server, not the benchmark's event loop: LOOPS concurrent Range loops as USER over raw
// gRPC (no client-side retry or circuit breaker), until SIGTERM; then one JSON line of counts.
// With a rate, the loops are paced to that many calls a second in all (a neighbour within its
// allowance) instead of sending each call as soon as the last one is answered.
//   node bench/tenant-noisy-client.mjs <endpoint> <user> <password> [loops] [calls per second]
import { credentials, Metadata } from '@grpc/grpc-js';
import { AuthClient, KVClient, RangeRequest } from '../dist/src/gen/etcd/etcdserver/etcdserverpb/rpc.js';

const [endpoint, user, password, loopsArg, rateArg] = process.argv.slice(2);
const loops = Number(loopsArg ?? 200);
/** Between one loop's calls when paced (ms); 0: as fast as answers come. */
const intervalMs = rateArg === undefined ? 0 : (1000 * loops) / Number(rateArg);
const auth = new AuthClient(endpoint, credentials.createInsecure());
const token = await new Promise((resolve, reject) => auth.authenticate({ name: user, password }, (e, r) => (e ? reject(e) : resolve(r.token))));
const md = new Metadata();
md.set('token', token);
const kv = new KVClient(endpoint, credentials.createInsecure());
let served = 0;
let refused = 0;
let running = true;
process.on('SIGTERM', () => (running = false));
const requests = Array.from({ length: 16 }, (_, i) => RangeRequest.fromPartial({ key: Buffer.from(`n${i}`) }));
const range = (i) => new Promise((resolve) => kv.range(requests[i % 16], md, (e) => resolve(e === null)));
await Promise.all(
  Array.from({ length: loops }, async (_, i) => {
    let due = performance.now() + (intervalMs * i) / loops;
    while (running) {
      if (intervalMs > 0) {
        await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
        due += intervalMs;
      }
      if (await range(i)) served++;
      else refused++;
    }
  }),
);
console.log(JSON.stringify({ served, refused }));
kv.close();
auth.close();
