// `npm run raft-sim -- [--seeds N] [--first S] [--seed S] [--nodes N] [--steps N] [--trace N]`
// Runs seeds of the whole-cluster Raft simulation beyond what `npm test` runs, and replays a failing
// one with its trace. Without --nodes, each seed runs with 3 and with 5 members.
import { parseArgs } from 'node:util';
import { latticeCore } from './lattice-core.js';
import { defaultChaosSteps, formatFailure, runSeedWithTraceOnFailure } from './sim-run.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '100' },
    first: { type: 'string', default: '1' },
    seed: { type: 'string' },
    nodes: { type: 'string' },
    steps: { type: 'string', default: String(defaultChaosSteps) },
    trace: { type: 'string', default: '80' },
  },
});

const wholeNumber = (name: string, text: string | undefined): number => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} takes a whole number, not ${text}`);
  return n;
};

function main(): number {
  const steps = wholeNumber('steps', values.steps);
  const traceLines = wholeNumber('trace', values.trace);
  const first = wholeNumber(values.seed !== undefined ? 'seed' : 'first', values.seed ?? values.first);
  const count = values.seed !== undefined ? 1 : wholeNumber('seeds', values.seeds);
  const sizes = values.nodes !== undefined ? [wholeNumber('nodes', values.nodes)] : [3, 5];
  const started = performance.now();
  let failed = 0;
  let runs = 0;
  const slowest = { leader: 0, apply: 0 };
  for (let seed = first; seed < first + count; seed++) {
    for (const nodes of sizes) {
      runs++;
      const result = runSeedWithTraceOnFailure({ seed, nodes, steps, core: latticeCore });
      slowest.leader = Math.max(slowest.leader, result.stats.stepsToLeaderAfterHeal);
      slowest.apply = Math.max(slowest.apply, result.stats.stepsToApplyAfterHeal);
      if (result.violation === undefined) {
        if (count === 1) console.log(`seed ${seed}, ${nodes} nodes: ok ${JSON.stringify(result.stats)}\nprofile: ${result.profile}`);
        continue;
      }
      failed++;
      console.log(formatFailure(result, steps, traceLines));
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`slowest recovery after healing: a leader after ${slowest.leader} ticks, the barrier applied everywhere ${slowest.apply} ticks later`);
  console.log(`${runs - failed} passed, ${failed} failed (${runs} runs in ${seconds.toFixed(1)} s)`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = main();
