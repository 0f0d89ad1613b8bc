#!/usr/bin/env node
// Service discovery with leases (npm etcd3): each instance of a service registers its address under
// services/<name>/<id>, attached to a lease it keeps alive. A client lists the prefix once and then
// watches it, so it learns about instances that join, leave cleanly (lease revoked) or die (lease
// expires once its keep-alives stop). Works unchanged against etcd.
//
//   node examples/service-discovery/discovery.mjs --endpoints http://127.0.0.1:2379
import { Etcd3 } from 'etcd3';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    endpoints: { type: 'string', default: process.env.ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379' },
    service: { type: 'string', default: 'api' },
    ttl: { type: 'string', default: '2' },
  },
});
const ttlSeconds = Number(args.ttl);
const prefix = `services/${args.service}/`;
/** How long we wait for the watch to report a change before calling the run a failure. */
const changeTimeoutMs = 15_000;

const client = new Etcd3({ hosts: args.endpoints.split(',') });

/** One instance of the service: its key lives as long as its lease is kept alive. */
async function register(id, address) {
  const lease = client.lease(ttlSeconds);
  lease.on('lost', (err) => console.log(`instance ${id}: lease lost (${err.message})`));
  await lease.put(`${prefix}${id}`).value(address);
  return lease;
}

/** The discovering side: the current instances, kept up to date by a watch. */
async function discover() {
  const instances = new Map();
  const listing = await client.getAll().prefix(prefix).exec();
  for (const kv of listing.kvs) instances.set(kv.key.toString().slice(prefix.length), kv.value.toString());
  const watcher = await client
    .watch()
    .prefix(prefix)
    .startRevision(String(Number(listing.header.revision) + 1))
    .create();
  const changes = [];
  const waiters = [];
  const record = (change) => {
    changes.push(change);
    for (const w of waiters.splice(0)) w();
  };
  watcher.on('put', (kv) => {
    const id = kv.key.toString().slice(prefix.length);
    instances.set(id, kv.value.toString());
    record(`+ ${id} ${kv.value.toString()}`);
  });
  watcher.on('delete', (kv) => {
    const id = kv.key.toString().slice(prefix.length);
    instances.delete(id);
    record(`- ${id}`);
  });
  /** Resolves once the watch has delivered `n` changes in all. */
  const changesSeen = (n) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`expected ${n} changes within ${changeTimeoutMs} ms, saw ${changes.length}`)), changeTimeoutMs);
      const check = () => {
        if (changes.length >= n) {
          clearTimeout(timer);
          resolve();
        } else waiters.push(check);
      };
      check();
    });
  return { instances, changes, changesSeen, close: () => watcher.cancel() };
}

const show = (instances) => [...instances].map(([id, addr]) => `${id}=${addr}`).sort().join(' ') || '(none)';

async function main() {
  await client.delete().prefix(prefix);
  const a = await register('a', '10.0.0.1:8080');
  const b = await register('b', '10.0.0.2:8080');
  const view = await discover();
  console.log(`discovered: ${show(view.instances)}`);

  const c = await register('c', '10.0.0.3:8080');
  await view.changesSeen(1);
  console.log(`joined: ${view.changes[0]} -> ${show(view.instances)}`);

  await a.revoke(); // a clean shutdown: the key goes at once
  await view.changesSeen(2);
  console.log(`left: ${view.changes[1]} -> ${show(view.instances)}`);

  const stopped = Date.now();
  b.release(); // b "crashes": no more keep-alives, the key goes when the lease expires
  await view.changesSeen(3);
  console.log(`expired after ${((Date.now() - stopped) / 1000).toFixed(1)} s: ${view.changes[2]} -> ${show(view.instances)}`);

  await view.close();
  await c.revoke();
  const expected = 'c=10.0.0.3:8080';
  if (show(view.instances) !== expected) throw new Error(`expected ${expected}, the view holds ${show(view.instances)}`);
  console.log('ok');
}

main()
  .catch((err) => {
    console.error(`service discovery failed: ${err instanceof Error ? err.stack : err}`);
    process.exitCode = 1;
  })
  .finally(() => client.close());
