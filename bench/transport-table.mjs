// Table of medians from bench/transport.sh's results.jsonl: server CPU seconds per 1,000 calls (for
// watch loads: delivered events per server CPU-second), calls/s, peak RSS, errors; with every
// repetition's figure.
import { readFileSync } from 'node:fs';

const rows = readFileSync(process.argv[2], 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const cpuPer1000 = (r) => {
  const units = r.extra?.expected_events !== undefined ? r.extra.expected_events - r.extra.missing_events : r.ops;
  return ((r.server_cpu_pct / 100) * r.elapsed_s * 1000) / units;
};
const groups = new Map();
for (const row of rows) {
  if (row.result === null) continue;
  const key = `${row.load}\t${row.server}`;
  groups.set(key, [...(groups.get(key) ?? []), row.result]);
}
console.log('| load | server | CPU s / 1,000 calls (watch: events per CPU-s), median | runs | ops/s (median) | peak RSS MB | errors | missing events |');
console.log('|---|---|--:|---|--:|--:|--:|--:|');
for (const [key, rs] of [...groups].sort()) {
  const [load, server] = key.split('\t');
  const watch = rs[0].extra?.expected_events !== undefined;
  const cpus = rs.map((r) => (watch ? 1000 / cpuPer1000(r) : cpuPer1000(r)));
  const fmt = (c) => (watch ? `${(c / 1000).toFixed(0)}k ev/CPU-s` : c.toFixed(3));
  console.log(
    `| ${load} | ${server} | ${fmt(median(cpus))} | ${cpus.map(fmt).join(' ')} | ${median(rs.map((r) => r.ops_per_s)).toFixed(0)} | ${median(rs.map((r) => r.server_rss_peak_mb)).toFixed(0)} | ${rs.reduce((n, r) => n + r.errors, 0)} | ${rs.reduce((n, r) => n + (r.extra?.missing_events ?? 0), 0)} |`,
  );
}
