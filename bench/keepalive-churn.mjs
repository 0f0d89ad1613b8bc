// Opens and drops many LeaseKeepAlive streams against a running server: each sends one keepalive,
// reads the answer and is cancelled (odd ones half-close instead). Prints the server's RSS before
// and after (pass its PID), counts the streams that failed (by status) and the GOAWAYs the server
// sent, and checks that a keepalive still works afterwards.
// Usage: node bench/keepalive-churn.mjs <endpoint host:port> <server pid> [streams=100000]
import { readFileSync } from 'node:fs';
import grpc from '@grpc/grpc-js';
import { LeaseClient } from '../dist/src/gen/etcd/etcdserver/etcdserverpb/rpc.js';

const [target, pid, total = '100000'] = process.argv.slice(2);
const streams = Number(total);
const inFlight = 500;
const connections = 4;
const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

const clients = Array.from({ length: connections }, () => new LeaseClient(target, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
const grant = await new Promise((resolve, reject) => clients[0].leaseGrant({ ID: 0n, TTL: 600n }, (e, r) => (e ? reject(e) : resolve(r))));
const before = rssMb();
const started = Date.now();
let next = 0;
let answered = 0;
/** Streams that ended with an error, by gRPC status and message; a cancel we made is not one. */
const failures = new Map();
let goaways = 0;
await Promise.all(Array.from({ length: inFlight }, async (_, w) => {
  while (next < streams) {
    const i = next++;
    await new Promise((resolve) => {
      const s = clients[i % connections].leaseKeepAlive();
      s.on('error', (e) => {
        if (e.code !== grpc.status.CANCELLED || !/Cancelled on client/.test(e.details)) {
          const key = `${e.code} ${e.details}`;
          failures.set(key, (failures.get(key) ?? 0) + 1);
          if (/GOAWAY|Session closed|error code/i.test(e.details)) goaways++;
        }
        resolve();
      });
      s.on('end', () => resolve());
      s.on('data', () => {
        answered++;
        if (i % 2 === 0) {
          s.cancel();
          resolve();
        } else s.end();
      });
      s.write({ ID: grant.ID });
    });
  }
}));
const elapsedMs = Date.now() - started;
await new Promise((r) => setTimeout(r, 3000));
const after = rssMb();
const check = await new Promise((resolve, reject) => {
  const s = clients[0].leaseKeepAlive();
  s.on('data', (res) => (s.end(), resolve(res.TTL)));
  s.on('error', reject);
  s.write({ ID: grant.ID });
});
const failed = [...failures.values()].reduce((a, b) => a + b, 0);
console.log(JSON.stringify({ streams, answered, failed, goaways, failures: Object.fromEntries(failures), elapsedMs, rssBeforeMb: +before.toFixed(1), rssAfterMb: +after.toFixed(1), keepaliveAfterTtl: String(check) }));
for (const c of clients) c.close();
process.exit(failed > 0 ? 1 : 0);
