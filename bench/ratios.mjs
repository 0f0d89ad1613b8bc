#!/usr/bin/env node
// Lattice/etcd ratio table from two kvbench suite outputs (bench.sh OUT_DIRs: results.jsonl + servers.tsv).
// Usage: node bench/ratios.mjs --etcd DIR --lattice DIR [--only REGEX] [--out FILE] [--title TEXT]
// --only keeps the entries whose label matches (e.g. when the etcd side is a fuller earlier run).
// Every ratio is oriented so that > 1 means Lattice is better (faster, lower p99, cheaper, smaller).
// With REPEAT > 1 each figure is the median over the runs of that entry.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function parseArgs(argv) {
  const args = { etcd: '', lattice: '', only: '', out: '', title: '' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]?.replace(/^--/, '');
    if (!k || !(k in args) || i + 1 >= argv.length) {
      process.stderr.write('usage: node bench/ratios.mjs --etcd DIR --lattice DIR [--only REGEX] [--out FILE] [--title TEXT]\n');
      process.exit(2);
    }
    args[k] = argv[++i];
  }
  if (!args.etcd || !args.lattice) {
    process.stderr.write('ratios: --etcd and --lattice are required\n');
    process.exit(2);
  }
  return args;
}

const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

/** label → { runs: kvbench JSON lines[], servers: servers.tsv rows[] }, in suite order. */
function load(dir) {
  const byLabel = new Map();
  const entry = (label) => {
    if (!byLabel.has(label)) byLabel.set(label, { runs: [], servers: [] });
    return byLabel.get(label);
  };
  const jsonl = join(dir, 'results.jsonl');
  if (existsSync(jsonl)) {
    for (const line of readFileSync(jsonl, 'utf8').split('\n')) {
      if (!line.startsWith('{"kvbench"')) continue;
      const r = JSON.parse(line);
      entry(r.label ?? r.workload).runs.push(r);
    }
  }
  const tsv = join(dir, 'servers.tsv');
  if (existsSync(tsv)) {
    for (const line of readFileSync(tsv, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const [label, cpuS, rssMb, hwmMb] = line.split('\t');
      entry(label).servers.push({ cpuS: parseFloat(cpuS), rssMb: parseFloat(rssMb), hwmMb: parseFloat(hwmMb) });
    }
  }
  return byLabel;
}

/** The figures compared for one entry of one server (medians over repeats). */
function figures(e) {
  if (!e) return null;
  const runs = e.runs;
  const f = {
    runs: runs.length,
    started: e.servers.length,
    opsPerS: median(runs.map((r) => r.ops_per_s)),
    p99: median(runs.map((r) => r.lat_ms?.p99)),
    // measured phase only (kvbench samples the server's process tree around the load)
    cpuPer1k: median(runs.map((r) => (r.ops > 0 && r.server_cpu_s !== undefined ? (1000 * r.server_cpu_s) / r.ops : NaN))),
    serverCpuPct: median(runs.map((r) => r.server_cpu_pct)),
    machineCpuPct: median(runs.map((r) => r.machine_cpu_pct)),
    // VmHWM over the server's whole life (start, setup, load); falls back to kvbench's sample
    peakRssMb: median(e.servers.map((s) => s.hwmMb).concat(e.servers.length ? [] : runs.map((r) => r.server_rss_peak_mb))),
    errors: runs.reduce((a, r) => a + (r.errors ?? 0), 0),
    ops: runs.reduce((a, r) => a + (r.ops ?? 0), 0),
    firstError: runs.find((r) => r.first_error)?.first_error ?? '',
    // a server whose /proc entry was gone when the entry ended (crashed or exited) leaves no RSS
    serverGone: e.servers.some((s) => !Number.isFinite(s.rssMb)),
  };
  return f;
}

const fmt = (v) => {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
};
const ratio = (num, den) => (Number.isFinite(num) && Number.isFinite(den) && den > 0 ? num / den : NaN);
const fmtRatio = (v) => (Number.isFinite(v) ? `**${v.toFixed(2)}**` : '–');

function table(etcd, lattice, only) {
  const labels = [...new Set([...etcd.keys(), ...lattice.keys()])].filter((l) => only.test(l));
  const rows = [];
  const notes = [];
  rows.push(
    '| entry | ops/s etcd | ops/s Lattice | throughput L/E | p99 ms etcd | p99 ms Lattice | p99 E/L | server CPU-s per 1k ops etcd | … Lattice | CPU E/L | peak RSS MB etcd | … Lattice | RSS E/L | server CPU % E / L | machine CPU % E / L | errors E / L |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  );
  for (const label of labels) {
    const e = figures(etcd.get(label));
    const l = figures(lattice.get(label));
    const missing = (f) => !f || f.runs === 0;
    if (missing(l) && !missing(e)) notes.push(`${label}: no Lattice result (${l?.started ? 'server started, load failed' : 'not run or server failed to start'}); see lattice/logs/`);
    if (missing(e) && !missing(l)) notes.push(`${label}: no etcd result; see etcd/logs/`);
    for (const [who, f] of [['etcd', e], ['Lattice', l]]) {
      if (f && f.errors > 0) notes.push(`${label}: ${who} ${f.errors} errors in ${f.ops + f.errors} ops, first: \`${f.firstError}\``);
      if (f && f.serverGone) notes.push(`${label}: ${who} server process was gone when the entry ended (crash?)`);
    }
    const g = (f, k) => (f && f.runs ? f[k] : NaN);
    rows.push(
      '| ' +
        [
          label,
          fmt(g(e, 'opsPerS')),
          fmt(g(l, 'opsPerS')),
          fmtRatio(ratio(g(l, 'opsPerS'), g(e, 'opsPerS'))),
          fmt(g(e, 'p99')),
          fmt(g(l, 'p99')),
          fmtRatio(ratio(g(e, 'p99'), g(l, 'p99'))),
          fmt(g(e, 'cpuPer1k')),
          fmt(g(l, 'cpuPer1k')),
          fmtRatio(ratio(g(e, 'cpuPer1k'), g(l, 'cpuPer1k'))),
          fmt(e?.peakRssMb ?? NaN),
          fmt(l?.peakRssMb ?? NaN),
          fmtRatio(ratio(e?.peakRssMb ?? NaN, l?.peakRssMb ?? NaN)),
          `${fmt(g(e, 'serverCpuPct'))} / ${fmt(g(l, 'serverCpuPct'))}`,
          `${fmt(g(e, 'machineCpuPct'))} / ${fmt(g(l, 'machineCpuPct'))}`,
          `${e ? e.errors : '–'} / ${l ? l.errors : '–'}`,
        ].join(' | ') +
        ' |',
    );
  }
  return { rows, notes };
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const etcd = load(args.etcd);
  const lattice = load(args.lattice);
  const { rows, notes } = table(etcd, lattice, new RegExp(args.only || '.'));
  const out = [];
  if (args.title) out.push(`### ${args.title}`, '');
  out.push(
    'Ratios in **bold**, all oriented so that **> 1 means Lattice is better** and < 1 means etcd is better:',
    'throughput = Lattice ops/s ÷ etcd ops/s; p99 = etcd p99 ÷ Lattice p99; CPU = etcd server CPU-s per 1k ops ÷ Lattice\'s',
    '(measured phase only); RSS = etcd peak RSS ÷ Lattice peak RSS (VmHWM over the server\'s life, setup included).',
    'CPU % = % of one core; machine CPU includes every process on the host (other tenants too).',
    '',
    ...rows,
  );
  if (notes.length) out.push('', 'Notes:', '', ...notes.map((n) => `- ${n}`));
  const text = out.join('\n') + '\n';
  process.stdout.write(text);
  if (args.out) writeFileSync(args.out, text);
}

main();
