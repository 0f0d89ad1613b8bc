// What asking the lease actor costs the hot paths, in-process (no gRPC): renewals through
// LeasePrimary (keepalive streams' path) and puts through the store, with and without a lease.
// Run it against two builds to compare, e.g. one before the lease table became an actor:
// Usage: node bench/lease-actor-cost.mjs [dist dir=dist] [rounds=3]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [distArg = 'dist', roundsArg = '3'] = process.argv.slice(2);
const dist = pathToFileURL(path.resolve(distArg)).href;
const rounds = Number(roundsArg);
const { LeaseTable, systemClock } = await import(`${dist}/src/actors/lease-table.js`);
const actor = await import(`${dist}/src/actors/lease-actor.js`).catch(() => undefined);
const { LeasePrimary } = await import(`${dist}/src/lease/lease-primary.js`);
const { openStore } = await import(`${dist}/test/store/store-harness.js`);

const leases = 10_000;
const renewLoops = 100;
const renewsPerLoop = 5_000;
const putClients = 100;
const putsPerClient = 500;

/** The lease table as the build's server holds it: the actor's client, or the table itself before. */
const newTable = () => (actor === undefined ? new LeaseTable({ minTtlSeconds: 1, clock: systemClock }) : new actor.LeaseTableRef({ minTtlSeconds: 1, clock: systemClock }));

async function renewRate() {
  const table = newTable();
  await table.promote(0);
  for (let i = 1; i <= leases; i++) await table.grant(BigInt(i), 600n);
  const primary = new LeasePrimary({ table, readBarrier: async () => undefined, onCheckpointError: () => undefined });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: renewLoops }, async (_, loop) => {
      for (let i = 0; i < renewsPerLoop; i++) {
        const r = await primary.renew(BigInt(((loop * renewsPerLoop + i) % leases) + 1));
        if (r.kind !== 'answer') throw new Error(`renew answered ${r.kind}`);
      }
    }),
  );
  return (renewLoops * renewsPerLoop) / ((performance.now() - started) / 1000);
}

async function putRate(withLease) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lease-actor-cost-'));
  const s = await openStore({ engine: 'memory', shards: 1, placement: 'main' }, dir);
  try {
    if (withLease) for (let i = 1; i <= 100; i++) await s.store.leaseGrant({ ID: BigInt(i), TTL: 600n });
    const started = performance.now();
    await Promise.all(
      Array.from({ length: putClients }, async (_, c) => {
        for (let i = 0; i < putsPerClient; i++) {
          const key = Buffer.from(`k${(c * putsPerClient + i) % 10_000}`);
          await s.store.put({ key, value: Buffer.from('v'), lease: withLease ? BigInt((i % 100) + 1) : 0n, prevKv: false, ignoreValue: false, ignoreLease: false });
        }
      }),
    );
    return (putClients * putsPerClient) / ((performance.now() - started) / 1000);
  } finally {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
console.log(`build: ${distArg} (${actor === undefined ? 'lease table called directly' : 'lease actor'})`);
// ONLY=renew|put|leaseput runs one of the three (less noise on a busy machine).
const only = process.env.ONLY;
for (let r = 1; r <= rounds; r++) {
  const parts = [];
  if (only === undefined || only === 'renew') parts.push(`renew/s ${fmt(await renewRate())}`);
  if (only === undefined || only === 'put') parts.push(`put/s ${fmt(await putRate(false))}`);
  if (only === undefined || only === 'leaseput') parts.push(`put-with-lease/s ${fmt(await putRate(true))}`);
  console.log(`round ${r}: ${parts.join('  ')}`);
}
