// Randomized differential test of the KV API: seeded random sequences of Put, Range, DeleteRange,
// Txn and Compact (plus two watchers) against a fresh real etcd and a fresh Lattice; every answer
// must be etcd's. A failing seed prints the command that replays it; `npm run fuzz` runs more seeds.
import { suite } from 'uvu';
import { withTimeout } from '../helpers/spec.js';
import { assertNoDifferences } from '../helpers/step-diff.js';
import { missingTools, skip } from '../helpers/tools.js';
import { defaultStepsPerSeed } from './kv-fuzz-generator.js';
import { fuzzLayouts, fuzzLayoutNames, replayCommand, runSeed } from './kv-fuzz-run.js';

/** Seeds run by `npm test` on each layout; each takes about 2 s per server. */
const seedsPerRun = 8;
const seedTimeoutMs = 120_000;
/** FUZZ_FIRST_SEED moves the window of seeds (CI keeps the default, so that a run is repeatable). */
const firstSeed = Number(process.env.FUZZ_FIRST_SEED ?? 1);

const skipReason = missingTools(['etcd', 'go']);
const test = suite('randomized KV differential');
const etcdAnswers = new Map<number, Promise<string[]>>();

for (let seed = firstSeed; seed < firstSeed + seedsPerRun; seed++) {
  for (const layout of fuzzLayoutNames) {
    const flags = [`--engine ${fuzzLayouts[layout].engine}`, ...fuzzLayouts[layout].flags].join(' ');
    const name = `seed ${seed}: ${defaultStepsPerSeed} random KV steps on Lattice ${flags} give etcd's answers`;
    if (skipReason !== null) {
      test.skip(name, () => {});
      continue;
    }
    test(name, async () => {
      const outcome = await withTimeout(runSeed(seed, layout, defaultStepsPerSeed, etcdAnswers), seedTimeoutMs, name);
      assertNoDifferences(outcome.differences, outcome.steps, `seed ${seed}, ${layout}; replay: ${replayCommand(seed, layout, defaultStepsPerSeed)}`);
    });
  }
}

if (skipReason !== null) skip(`randomized KV differential: ${skipReason}`);
test.run();
