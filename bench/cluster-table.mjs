// Markdown tables for bench/cluster.sh: node bench/cluster-table.mjs <out dir> [header line]
// Reads <out>/results.jsonl (kvbench JSON lines with a "server" field) and <out>/entries.tsv
// (per-entry server CPU ticks summed over the three members, fsync counts, machine load).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const header = process.argv[3] ?? '';
const TICK_MS = 10; // CLK_TCK = 100

const results = new Map(); // `${server}|${label}` → kvbench result
for (const line of readFileSync(join(dir, 'results.jsonl'), 'utf8').split('\n')) {
  if (!line.startsWith('{')) continue;
  const r = JSON.parse(line);
  results.set(`${r.server}|${r.label}`, r);
}
const rows = new Map(); // `${server}|${label}` → entries.tsv row
const labels = [];
const tsv = readFileSync(join(dir, 'entries.tsv'), 'utf8').trim().split('\n');
const cols = tsv[0].split('\t');
for (const line of tsv.slice(1)) {
  const f = line.split('\t');
  const row = Object.fromEntries(cols.map((c, i) => [c, f[i] ?? '']));
  rows.set(`${row.server}|${row.label}`, row);
  if (!labels.includes(row.label)) labels.push(row.label);
}

const num = (x) => (x === '' || x === undefined || x === null ? NaN : Number(x));
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '–');
const cpuPerOp = (srv, label) => {
  const r = results.get(`${srv}|${label}`);
  const row = rows.get(`${srv}|${label}`);
  if (!r || !row || !r.ops) return NaN;
  return (num(row.cpu_ticks) * TICK_MS) / r.ops;
};
const ops = (srv, label) => results.get(`${srv}|${label}`)?.ops_per_s ?? NaN;
const p99 = (srv, label) => results.get(`${srv}|${label}`)?.lat_ms?.p99 ?? NaN;
const errs = (srv, label) => {
  const r = results.get(`${srv}|${label}`);
  return r ? `${r.errors}` : 'no result';
};

const out = [];
if (header) out.push(`_${header}_`, '');
out.push(
  '| entry | etcd ops/s | Lattice ops/s | **ops/s L/e** | etcd CPU ms/op | Lattice CPU ms/op | **CPU/op L/e** | p99 ms etcd / Lattice | errors etcd / Lattice |',
  '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
);
for (const l of labels) {
  const oe = ops('etcd', l), ol = ops('lattice', l);
  const ce = cpuPerOp('etcd', l), cl = cpuPerOp('lattice', l);
  out.push(`| ${l} | ${fmt(oe)} | ${fmt(ol)} | ${ratio(ol, oe)} | ${fmt(ce, 3)} | ${fmt(cl, 3)} | ${ratio(cl, ce)} | ` +
    `${fmt(p99('etcd', l), 1)} / ${fmt(p99('lattice', l), 1)} | ${errs('etcd', l)} / ${errs('lattice', l)} |`);
}
out.push('', 'ops/s L/e > 1: Lattice faster. CPU/op L/e < 1: Lattice uses less server CPU per op (CPU summed over the three members).');

// fsyncs per write (cluster total, all three members)
const writeLabels = labels.filter((l) => /^(put|txn)/.test(l));
if (writeLabels.length) {
  out.push('', '| write entry | etcd WAL fsyncs / write | etcd backend commits / write | Lattice fsync+fdatasync / write (strace pass) | Lattice strace-pass ops/s |',
    '|---|--:|--:|--:|--:|');
  for (const l of writeLabels) {
    const re = results.get(`etcd|${l}`), rowE = rows.get(`etcd|${l}`);
    const rs = results.get(`lattice-strace|${l}`), rowS = rows.get(`lattice-strace|${l}`);
    const per = (n, r) => (r && r.ops && Number.isFinite(num(n)) ? (num(n) / r.ops).toFixed(2) : 'not measured');
    out.push(`| ${l} | ${per(rowE?.wal_fsyncs, re)} | ${per(rowE?.backend_commits, re)} | ${per(rowS?.strace_fsyncs, rs)} | ${rs ? fmt(rs.ops_per_s) : '–'} |`);
  }
  out.push('', 'Counts are summed over the three members (a write fsynced once on each member counts 3).');
}

// machine load during each entry
out.push('', '| entry | server | machine busy % (of 200) | load avg before → after | kvbench CPU % | CPU s per member (m0/m1/m2) |',
  '|---|---|--:|---|--:|---|');
for (const [key, row] of rows) {
  const r = results.get(key);
  const per = ['cpu_ticks_m0', 'cpu_ticks_m1', 'cpu_ticks_m2'].map((c) => (num(row[c]) / 100).toFixed(2)).join(' / ');
  out.push(`| ${row.label} | ${row.server} | ${row.machine_busy_pct} | ${row.loadavg_before} → ${row.loadavg_after} | ${r ? fmt(r.client_cpu_pct) : '–'} | ${per} |`);
}
console.log(out.join('\n'));
