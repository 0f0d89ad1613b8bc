#!/usr/bin/env node
// A compatibility scenario to run against Lattice and etcd alike (npm etcd3 over gRPC): put, a
// transaction taking each branch, a 5 s lease that is not kept alive and expires, and a watch that
// sees the expiry delete. It prints a transcript with revisions relative to the first put, so the
// transcripts from two servers can be compared line for line; lines starting with "#" are timings
// and vary. Exits 1 when a step does not answer as etcd does.
//
//   node examples/compat/scenario.mjs --endpoints http://127.0.0.1:2379
import { Etcd3 } from 'etcd3';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    endpoints: { type: 'string', default: process.env.ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379' },
    prefix: { type: 'string', default: 'compat/' },
  },
});
const leaseTtlSeconds = 5;
/** etcd revokes expired leases on a 500 ms loop; allow that plus a loaded machine. */
const expiryDeadlineMs = (leaseTtlSeconds + 10) * 1000;
const p = args.prefix;
const client = new Etcd3({ hosts: args.endpoints.split(',') });

let base = 0;
const rel = (revision) => Number(revision) - base;
const failures = [];
function check(what, actual, expected) {
  const ok = JSON.stringify(actual) === JSON.stringify(expected);
  console.log(`${what}: ${JSON.stringify(actual)}${ok ? '' : `  <-- expected ${JSON.stringify(expected)}`}`);
  if (!ok) failures.push(what);
}

async function main() {
  await client.delete().prefix(p);

  // put, and read it back with its revisions
  const put = await client.put(`${p}a`).value('1').exec();
  base = Number(put.header.revision);
  const a = (await client.get(`${p}a`).exec()).kvs[0];
  check('put a=1, get a', { value: a.value.toString(), create: rel(a.create_revision), mod: rel(a.mod_revision), version: a.version }, { value: '1', create: 0, mod: 0, version: '1' });

  // a txn whose compare holds: both puts in one revision
  const won = await client
    .if(`${p}a`, 'Value', '==', '1')
    .then(client.put(`${p}a`).value('2'), client.put(`${p}b`).value('x'))
    .else(client.get(`${p}a`))
    .commit();
  check('txn if a==1 then a=2,b=x', { succeeded: won.succeeded, revision: rel(won.header.revision) }, { succeeded: true, revision: 1 });

  // the same txn again: the compare fails, the else branch reads a
  const lost = await client
    .if(`${p}a`, 'Value', '==', '1')
    .then(client.put(`${p}a`).value('3'))
    .else(client.get(`${p}a`))
    .commit();
  const elseKv = lost.responses[0]?.response_range?.kvs[0];
  check('txn again (else: get a)', { succeeded: lost.succeeded, value: elseKv?.value.toString(), revision: rel(lost.header.revision) }, { succeeded: false, value: '2', revision: 1 });

  // a watch on the prefix from the next revision, then a 5 s lease nobody keeps alive
  const watcher = await client.watch().prefix(p).startRevision(String(base + 2)).create();
  const events = [];
  let expired;
  const expiredSeen = new Promise((resolve) => (expired = resolve));
  watcher.on('put', (kv) => events.push(`PUT ${kv.key.toString()} at +${rel(kv.mod_revision)}`));
  watcher.on('delete', (kv) => {
    events.push(`DELETE ${kv.key.toString()} at +${rel(kv.mod_revision)}`);
    if (kv.key.toString() === `${p}leased`) expired();
  });

  const lease = client.lease(leaseTtlSeconds, { autoKeepAlive: false });
  const leaseId = await lease.grant();
  await lease.put(`${p}leased`).value('short-lived');
  const granted = Date.now();
  const ttl = await client.leaseClient.leaseTimeToLive({ ID: leaseId, keys: true });
  check('lease grant 5 s, put leased', { grantedTtl: ttl.grantedTTL, ttlAtMost5: Number(ttl.TTL) <= 5 && Number(ttl.TTL) > 0, keys: ttl.keys.map((k) => k.toString()) }, { grantedTtl: '5', ttlAtMost5: true, keys: [`${p}leased`] });

  const timer = setTimeout(() => expired('timeout'), expiryDeadlineMs);
  const outcome = await expiredSeen;
  clearTimeout(timer);
  const seconds = (Date.now() - granted) / 1000;
  console.log(`# the lease's key was deleted ${seconds.toFixed(1)} s after the grant`);
  check('lease expired, watch saw the delete', { outcome: outcome ?? 'deleted', notBeforeTtl: seconds >= leaseTtlSeconds - 0.5 }, { outcome: 'deleted', notBeforeTtl: true });
  check('watch events', events, [`PUT ${p}leased at +2`, `DELETE ${p}leased at +3`]);

  const after = await client.get(`${p}leased`).exec();
  check('get leased after expiry', after.kvs.length, 0);
  const gone = await client.leaseClient.leaseTimeToLive({ ID: leaseId });
  check('lease time-to-live after expiry', gone.TTL, '-1');

  await watcher.cancel();
  await client.delete().prefix(p);
  if (failures.length > 0) throw new Error(`${failures.length} step(s) differ from etcd's answers: ${failures.join('; ')}`);
  console.log('ok');
}

main()
  .catch((err) => {
    console.error(`compat scenario failed: ${err instanceof Error ? err.message : err}`);
    process.exitCode = 1;
  })
  .finally(() => client.close());
