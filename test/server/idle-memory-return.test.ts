// When the idle-time GC runs: only after two idle checks in a row, only with enough unused heap, once
// per quiet spell, armed again by a busy check.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { IdleMemoryReturn, idleUtilization, minSlackBytes } from '../../src/server/idle-memory-return.js';

const s = suite('idle memory return');

function scripted(utilizations: number[], slack = minSlackBytes): { idle: IdleMemoryReturn; collections: () => number } {
  let collections = 0;
  const idle = new IdleMemoryReturn({ utilization: () => utilizations.shift() ?? 0, heapSlack: () => slack, collect: () => void collections++ });
  return { idle, collections: () => collections };
}

s('collects on the second idle check in a row, then not again until the loop was busy', () => {
  const busy = idleUtilization;
  const { idle, collections } = scripted([busy, 0, 0, 0, 0.01, busy, 0, busy, 0, 0]);
  const started = Array.from({ length: 10 }, () => idle.check());
  assert.equal(started, [false, false, true, false, false, false, false, false, false, true]);
  assert.is(collections(), 2);
});

s('a heap with little unused space is left alone', () => {
  const { idle, collections } = scripted([0, 0, 0, 0], minSlackBytes - 1);
  for (let i = 0; i < 4; i++) idle.check();
  assert.is(collections(), 0);
});

s.run();
