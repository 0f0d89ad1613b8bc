// When the idle-time GC runs: only after two idle checks in a row, only with enough unused heap and a
// live heap small enough for a short pause; once per burst, armed again only by the heap growing past
// its size after the collection (a busy check alone, such as the collection's own pause, does not).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { IdleMemoryReturn, idleUtilization, maxUsedBytes, minSlackBytes, startIdleMemoryReturn, type HeapUse } from '../../src/server/idle-memory-return.js';

const s = suite('idle memory return');
const MiB = 1024 * 1024;

function scripted(steps: { busy?: boolean; heap: HeapUse }[]): { started: boolean[]; collections: number } {
  let at = 0;
  let collections = 0;
  const idle = new IdleMemoryReturn({
    utilization: () => (steps[at]!.busy === true ? idleUtilization : 0),
    heap: () => steps[at]!.heap,
    collect: () => void collections++,
  });
  const started: boolean[] = [];
  for (; at < steps.length; at++) started.push(idle.check());
  return { started, collections };
}

s('collects on the second idle check in a row; busy checks after it do not re-arm it, a grown heap does', () => {
  const burst = { total: 300 * MiB, used: 100 * MiB };
  const after = { total: 120 * MiB, used: 90 * MiB };
  const { started, collections } = scripted([
    { busy: true, heap: burst },
    { heap: burst },
    { heap: burst }, // collects
    { busy: true, heap: after }, // the pause made it look busy
    { heap: after },
    { heap: after }, // idle again, nothing grew: no second collection
    { busy: true, heap: { total: 120 * MiB + minSlackBytes, used: 100 * MiB } },
    { heap: { total: 120 * MiB + minSlackBytes, used: 100 * MiB } },
    { heap: { total: 120 * MiB + minSlackBytes, used: 100 * MiB } }, // a new burst grew it: collects
  ]);
  assert.equal(started, [false, false, true, false, false, false, false, false, true]);
  assert.is(collections, 2);
});

s('a heap with little unused space, or a live heap too large for a short pause, is left alone', () => {
  const idle = (heap: HeapUse): number => scripted([{ heap }, { heap }, { heap }]).collections;
  assert.is(idle({ total: 100 * MiB, used: 100 * MiB - minSlackBytes + 1 }), 0);
  assert.is(idle({ total: maxUsedBytes + 2 * minSlackBytes, used: maxUsedBytes + 1 }), 0);
  assert.is(idle({ total: maxUsedBytes + minSlackBytes, used: maxUsedBytes }), 1);
});

s('a busy check between idle ones starts the count again', () => {
  const heap = { total: 300 * MiB, used: 100 * MiB };
  assert.equal(scripted([{ heap }, { busy: true, heap }, { heap }, { heap }]).started, [false, false, false, true]);
});

s('a heap that shrank after a collection is the baseline a new burst must grow past', () => {
  const idleAt = (total: number): { heap: HeapUse } => ({ heap: { total, used: 50 * MiB } });
  const { started } = scripted([
    idleAt(300 * MiB),
    idleAt(300 * MiB), // collects
    idleAt(120 * MiB), // first check after it: baseline 120
    idleAt(60 * MiB), // V8 gave more back: baseline 60
    { busy: true, heap: { total: 60 * MiB + minSlackBytes, used: 50 * MiB } },
    { heap: { total: 60 * MiB + minSlackBytes, used: 50 * MiB } },
    { heap: { total: 60 * MiB + minSlackBytes, used: 50 * MiB } }, // grew 16 MiB past 60: collects
  ]);
  assert.equal(started, [false, true, false, false, false, false, true]);
});

s('starts in this runtime (V8 gc extension reachable) and stops', () => {
  const started = startIdleMemoryReturn();
  assert.not.instance(started, Error);
  if (!(started instanceof Error)) started.stop();
});

s.run();
