#!/usr/bin/env node
// Where a Lattice process spends its main-thread CPU, from a V8 .cpuprofile (node --cpu-prof).
// Usage: node bench/profile-summary.mjs FILE.cpuprofile[.gz]|DIR
// Each sample goes to the nearest frame on its stack that belongs to a known library (grpc-js, node's
// http2, net/streams, protobuf, RocksDB binding, Lattice's own dist/src) so native callees count for
// the library that called them; GC and (program) are V8's own buckets. Idle time is left out.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

const arg = process.argv[2];
if (!arg) {
  process.stderr.write('usage: node bench/profile-summary.mjs FILE.cpuprofile[.gz]|DIR\n');
  process.exit(2);
}
const file = statSync(arg).isDirectory() ? join(arg, readdirSync(arg).find((n) => n.endsWith('.cpuprofile')) ?? '') : arg;
const raw = readFileSync(file);
const profile = JSON.parse((file.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const selfUs = new Map();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

function library(node) {
  const u = node.callFrame.url;
  if (u.includes('@grpc/grpc-js')) return 'grpc-js';
  if (u.includes('internal/http2')) return 'node http2';
  if (u.includes('protobuf') || u.includes('/src/gen/')) return 'protobuf (runtime + generated code)';
  if (u.includes('rocksdb')) return 'RocksDB binding (incl. synchronous DB::Write)';
  if (u.includes('msgpackr')) return 'msgpackr';
  if (u.includes('/dist/src/') || u.includes('sorted-btree') || u.includes('rxjs')) return 'Lattice (its own code, sorted-btree, rxjs)';
  if (u.includes('internal/stream') || u.includes('node:net') || u.includes('internal/net')) return 'node net / streams';
  return null;
}

const totals = new Map();
let busy = 0;
let idle = 0;
for (const [id, us] of selfUs) {
  const fn = byId.get(id).callFrame.functionName;
  if (fn === '(idle)') { idle += us; continue; }
  busy += us;
  let cat = fn === '(garbage collector)' ? 'GC' : fn === '(program)' ? '(program): V8/native, unattributed' : null;
  for (let x = id; cat === null && x !== undefined; x = parent.get(x)) cat = library(byId.get(x));
  cat ??= 'event loop, microtasks, other';
  totals.set(cat, (totals.get(cat) ?? 0) + us);
}
console.log(`${file}: main thread busy ${(busy / 1e6).toFixed(1)} s, idle ${(idle / 1e6).toFixed(1)} s`);
for (const [cat, us] of [...totals].sort((a, b) => b[1] - a[1])) {
  console.log(`${((100 * us) / busy).toFixed(1).padStart(5)} %  ${cat}`);
}
