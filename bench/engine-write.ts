// Write cost of each engine on this machine's disk: fsync latency, batch throughput, group commit.
// Run: npx tsc -p tsconfig.json; node dist/bench/engine-write.js [dir-under-which-to-write]
// (defaults to os.tmpdir(); point it at the disk the data dir will live on).

import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Engine, EngineName, WriteOp } from '../src/engines/engine.js';
import { openEngine } from '../src/engines/open-engine.js';

const singleWrites = 300;
const batchOps = 1000;
const batches = 30;
const concurrentWriters = 64;
const concurrentRounds = 20;
const valueBytes = 100;

const value = Buffer.alloc(valueBytes, 0x61);
let seq = 0;
const nextKey = (): Buffer => Buffer.from(`bench/${String(seq++).padStart(10, '0')}`);
const onePut = (): WriteOp[] => [{ type: 'put', key: nextKey(), value }];

function percentile(sortedMs: readonly number[], p: number): number {
  return sortedMs[Math.min(sortedMs.length - 1, Math.floor((p / 100) * sortedMs.length))] ?? Number.NaN;
}

async function singleWriteLatency(engine: Engine, sync: boolean): Promise<string> {
  const samples: number[] = [];
  for (let i = 0; i < singleWrites; i++) {
    const start = process.hrtime.bigint();
    await engine.write(onePut(), { sync });
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return `p50 ${percentile(samples, 50).toFixed(3)} ms, p99 ${percentile(samples, 99).toFixed(3)} ms`;
}

async function batchThroughput(engine: Engine, sync: boolean): Promise<string> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < batches; i++) {
    const ops: WriteOp[] = [];
    for (let j = 0; j < batchOps; j++) ops.push({ type: 'put', key: nextKey(), value });
    await engine.write(ops, { sync });
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return `${Math.round((batches * batchOps) / seconds).toLocaleString('en')} ops/s (${((seconds / batches) * 1000).toFixed(2)} ms per batch)`;
}

async function concurrentSyncThroughput(engine: Engine): Promise<string> {
  const start = process.hrtime.bigint();
  for (let round = 0; round < concurrentRounds; round++) {
    await Promise.all(Array.from({ length: concurrentWriters }, () => engine.write(onePut(), { sync: true })));
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return `${Math.round((concurrentRounds * concurrentWriters) / seconds).toLocaleString('en')} writes/s`;
}

async function main(): Promise<void> {
  const base = process.argv[2] ?? tmpdir();
  console.log(`# engine-write: ${cpus()[0]?.model ?? 'unknown cpu'} x${cpus().length}, node ${process.version}, dir ${base}`);
  console.log(`# values ${valueBytes} B, keys ~17 B\n`);
  for (const name of ['memory', 'rocksdb'] as const satisfies readonly EngineName[]) {
    const dir = await mkdtemp(join(base, `lattice-bench-${name}-`));
    try {
      const engine = await openEngine(name, dir);
      console.log(`## ${name}`);
      console.log(`1-put write, sync:      ${await singleWriteLatency(engine, true)}`);
      console.log(`1-put write, no sync:   ${await singleWriteLatency(engine, false)}`);
      console.log(`${batchOps}-put batch, sync:   ${await batchThroughput(engine, true)}`);
      console.log(`${batchOps}-put batch, no sync:${await batchThroughput(engine, false)}`);
      console.log(`${concurrentWriters} concurrent 1-put sync writers: ${await concurrentSyncThroughput(engine)}\n`);
      await engine.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

await main();
