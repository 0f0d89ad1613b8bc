// `npm run fuzz -- [--seeds N] [--first S] [--seed S] [--steps N] [--layout memory|rocksdb|sharded] [--dump FILE]`
// Runs seeds of the randomized KV differential beyond what `npm test` runs, and replays a failing one.
// --dump writes the seed's steps (kvscript's hex JSON) to FILE for a closer look.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { stopAllProcesses } from '../helpers/processes.js';
import { missingTools } from '../helpers/tools.js';
import { defaultStepsPerSeed, generateSequence } from './kv-fuzz-generator.js';
import { fuzzLayoutNames, replayCommand, runSeed, type FuzzLayout } from './kv-fuzz-run.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '20' },
    first: { type: 'string', default: '1' },
    seed: { type: 'string' },
    steps: { type: 'string', default: String(defaultStepsPerSeed) },
    layout: { type: 'string' },
    dump: { type: 'string' },
  },
});

const wholeNumber = (name: string, text: string | undefined): number => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} takes a whole number, not ${text}`);
  return n;
};

async function main(): Promise<number> {
  const stepCount = wholeNumber('steps', values.steps);
  const first = wholeNumber(values.seed !== undefined ? 'seed' : 'first', values.seed ?? values.first);
  const count = values.seed !== undefined ? 1 : wholeNumber('seeds', values.seeds);
  const layout = values.layout;
  if (layout !== undefined && !fuzzLayoutNames.includes(layout as FuzzLayout)) throw new Error(`--layout is one of ${fuzzLayoutNames.join(', ')}`);
  const chosen: readonly FuzzLayout[] = layout !== undefined ? [layout as FuzzLayout] : fuzzLayoutNames;
  if (values.dump !== undefined) {
    writeFileSync(values.dump, JSON.stringify(generateSequence(first, stepCount), null, 2));
    console.log(`steps of seed ${first} written to ${values.dump}`);
  }
  const missing = missingTools(['etcd', 'go']);
  if (missing !== null) throw new Error(`the differential needs real etcd and Go: ${missing}`);
  let failed = 0;
  for (let seed = first; seed < first + count; seed++) {
    const etcdAnswers = new Map<number, Promise<string[]>>();
    for (const layout of chosen) {
      const outcome = await runSeed(seed, layout, stepCount, etcdAnswers);
      if (outcome.differences.length === 0) {
        console.log(`seed ${seed} (${layout}): ${outcome.steps} steps, no difference`);
        continue;
      }
      failed++;
      console.log(`seed ${seed} (${layout}): ${outcome.differences.length} of ${outcome.steps} steps differ; replay: ${replayCommand(seed, layout, stepCount)}`);
      for (const d of outcome.differences.slice(0, 5)) console.log(d);
    }
  }
  console.log(`${count * chosen.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main()
  .then(async (code) => {
    await stopAllProcesses();
    process.exit(code);
  })
  .catch(async (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    await stopAllProcesses();
    process.exit(2);
  });
