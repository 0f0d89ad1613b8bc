#!/usr/bin/env node
// Per-call self time of two V8 CPU profiles side by side, largest growth first: where a server spends
// more than a reference (e.g. Lattice against bench/bare-http2.mjs under the same kvbench load).
// Usage: node bench/profile-diff.mjs DIR_A CALLS_A DIR_B CALLS_B [ROWS]  (each DIR holds one .cpuprofile)
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
function load(dir, calls) {
  const f = join(dir, readdirSync(dir).find((n) => n.endsWith('.cpuprofile')));
  const p = JSON.parse(readFileSync(f, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const m = new Map();
  p.samples.forEach((id, i) => {
    const n = byId.get(id); const cf = n.callFrame;
    if (cf.functionName === '(idle)') return;
    const k = `${cf.functionName || '(anon)'} ${cf.url.replace(/.*\/(dist|node_modules)\//, '').replace('node:internal/', 'ni/')}:${cf.lineNumber + 1}`;
    m.set(k, (m.get(k) ?? 0) + (p.timeDeltas[i] ?? 0) / calls);
  });
  return m;
}
const a = load(process.argv[2], Number(process.argv[3])), b = load(process.argv[4], Number(process.argv[5]));
const keys = new Set([...a.keys(), ...b.keys()]);
const rows = [...keys].map((k) => [k, (a.get(k) ?? 0), (b.get(k) ?? 0)]).sort((x, y) => (y[2] - y[1]) - (x[2] - x[1]));
let ta = 0, tb = 0; for (const r of rows) { ta += r[1]; tb += r[2]; }
console.log(`total µs/call A ${ta.toFixed(1)} B ${tb.toFixed(1)}`);
for (const r of rows.slice(0, Number(process.argv[6] ?? 40))) console.log(`${(r[2] - r[1]).toFixed(2).padStart(6)}  A ${r[1].toFixed(2).padStart(5)} B ${r[2].toFixed(2).padStart(5)}  ${r[0]}`);
