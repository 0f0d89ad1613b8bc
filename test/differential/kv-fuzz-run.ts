// Runs one seed of the randomized KV differential: the seed's steps against a fresh real etcd and a
// fresh Lattice, every answer compared after normalising tie order (kv-fuzz-normalise.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEtcd } from '../helpers/etcd-server.js';
import { runKvScript, parseStepLine } from '../helpers/kvscript.js';
import { startLattice, type Engine } from '../helpers/lattice-server.js';
import { stopAll, type Stoppable } from '../helpers/spec.js';
import { stepDifferences } from '../helpers/step-diff.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { defaultStepsPerSeed, generateSequence, type FuzzStep } from './kv-fuzz-generator.js';
import { normaliseLine } from './kv-fuzz-normalise.js';

/** How the Lattice under test is laid out: each engine as started by default, and one sharded layout. */
export const fuzzLayouts = {
  memory: { engine: 'memory', flags: [] },
  rocksdb: { engine: 'rocksdb', flags: [] },
  // Cross-shard applies, multi-shard history reads and records copied between threads.
  sharded: { engine: 'rocksdb', flags: ['--shards', '3', '--actor-placement', 'worker'] },
} as const satisfies Record<string, { engine: Engine; flags: readonly string[] }>;

export type FuzzLayout = keyof typeof fuzzLayouts;
export const fuzzLayoutNames = Object.keys(fuzzLayouts) as FuzzLayout[];

export interface SeedOutcome {
  readonly seed: number;
  readonly layout: FuzzLayout;
  readonly steps: number;
  /** One entry per step whose answers differ; empty when Lattice answered every step as etcd did. */
  readonly differences: readonly string[];
}

/** How a failing seed is run again on its own (the step count shapes the whole sequence). */
export const replayCommand = (seed: number, layout: FuzzLayout, stepCount: number): string =>
  `npm run fuzz -- --seed ${seed} --layout ${layout}${stepCount === defaultStepsPerSeed ? '' : ` --steps ${stepCount}`}`;

/**
 * Fails when one of etcd's own watchers neither saw its sentinel put nor ended (as a compacted start
 * ends it): its events would compare nothing, and equal time-outs on both sides would pass.
 */
function checkWatchersSawSentinels(steps: readonly FuzzStep[], etcdLines: readonly string[], seed: number): void {
  steps.forEach((step, i) => {
    if (step.op !== 'watch_collect') return;
    const line = parseStepLine(etcdLines[i] ?? '{}');
    const result = line.result as { watch_events?: { saw_put?: boolean; ended?: boolean } } | undefined;
    if (result?.watch_events?.saw_put !== true && result?.watch_events?.ended !== true) {
      throw new Error(`seed ${seed}: etcd's watcher ${step.watch ?? ''} did not see its sentinel (step ${i}: ${etcdLines[i] ?? 'no line'})`);
    }
  });
}

/** Runs the steps against a server started for this run alone; returns the normalised answers. */
async function answersOf(start: () => Promise<Stoppable & { endpoint: string }>, steps: readonly FuzzStep[], stepsFile: string): Promise<string[]> {
  const server = await start();
  try {
    const lines = await runKvScript(server.endpoint, stepsFile, ['--hex']);
    return lines.map((line, i) => (steps[i] === undefined ? line : normaliseLine(steps[i]!, line)));
  } finally {
    await stopAll(server);
  }
}

/**
 * Runs one seed on etcd and Lattice. etcdAnswers caches etcd's answers by seed, so that several
 * layouts can be compared with one etcd run.
 */
export async function runSeed(seed: number, layout: FuzzLayout, stepCount: number, etcdAnswers = new Map<number, Promise<string[]>>()): Promise<SeedOutcome> {
  const { engine, flags } = fuzzLayouts[layout];
  const steps = generateSequence(seed, stepCount);
  const dir = makeTempDir(`kv-fuzz-${seed}`);
  try {
    const stepsFile = join(dir, 'steps.json');
    writeFileSync(stepsFile, JSON.stringify(steps));
    let expected = etcdAnswers.get(seed);
    if (expected === undefined) {
      expected = answersOf(() => startEtcd(), steps, stepsFile).then((lines) => {
        checkWatchersSawSentinels(steps, lines, seed);
        return lines;
      });
      etcdAnswers.set(seed, expected);
    }
    const [etcdLines, latticeLines] = await Promise.all([expected, answersOf(() => startLattice(engine, 'lattice', flags), steps, stepsFile)]);
    const differences = stepDifferences(etcdLines, latticeLines, (line) => parseStepLine(line).name);
    return { seed, layout, steps: etcdLines.length, differences };
  } finally {
    removeTempDir(dir);
  }
}
