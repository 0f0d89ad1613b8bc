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
import { generateSequence, type FuzzStep } from './kv-fuzz-generator.js';
import { normaliseLine } from './kv-fuzz-normalise.js';

export interface SeedOutcome {
  readonly seed: number;
  readonly engine: Engine;
  readonly steps: number;
  /** One entry per step whose answers differ; empty when Lattice answered every step as etcd did. */
  readonly differences: readonly string[];
}

/** How a failing seed is run again on its own. */
export const replayCommand = (seed: number, engine: Engine): string => `npm run fuzz -- --seed ${seed} --engine ${engine}`;

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
 * engines can be compared with one etcd run.
 */
export async function runSeed(seed: number, engine: Engine, stepCount: number, etcdAnswers = new Map<number, Promise<string[]>>()): Promise<SeedOutcome> {
  const steps = generateSequence(seed, stepCount);
  const dir = makeTempDir(`kv-fuzz-${seed}`);
  try {
    const stepsFile = join(dir, 'steps.json');
    writeFileSync(stepsFile, JSON.stringify(steps));
    let expected = etcdAnswers.get(seed);
    if (expected === undefined) {
      expected = answersOf(() => startEtcd(), steps, stepsFile);
      etcdAnswers.set(seed, expected);
    }
    const [etcdLines, latticeLines] = await Promise.all([expected, answersOf(() => startLattice(engine), steps, stepsFile)]);
    const differences = stepDifferences(etcdLines, latticeLines, (line) => parseStepLine(line).name);
    return { seed, engine, steps: etcdLines.length, differences };
  } finally {
    removeTempDir(dir);
  }
}
