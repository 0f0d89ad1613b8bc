// follow(): what was committed is read back, what commits meanwhile arrives live, and every entry
// comes out exactly once, in order — also when the live buffer overflows.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Command, LogEntry } from '../../src/log/command.js';
import { readGate, ScriptedLog } from './scripted-log.js';
import { withTimeout } from '../engines/engine-suite.js';

const test = suite('log: follower');
const it = (name: string, fn: () => Promise<void>): void => test(name, withTimeout(10_000, fn));

const noop: Command = { type: 'noop' };
const commitMany = (log: ScriptedLog, n: number): void => {
  for (let i = 0; i < n; i++) log.commit([{ requestId: 0n, command: noop }]);
};

/** Consumes the follower until it ends, yielding to the event loop between batches. */
async function drain(batches: AsyncIterable<readonly LogEntry[]>, onBatch: (b: readonly LogEntry[]) => void = () => undefined): Promise<number[]> {
  const indexes: number[] = [];
  for await (const batch of batches) {
    indexes.push(...batch.map((e) => e.index));
    onBatch(batch);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return indexes;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

it('entries committed while the follower reads back storage come out once, after the read-back ones', async () => {
  const log = new ScriptedLog();
  commitMany(log, 10);
  const g = readGate(4);
  log.readGate = g.gate;
  const consumed = drain(log.follow(2));
  await g.reached;
  commitMany(log, 5); // 11..15, committed while entry 7 is being read back
  g.open();
  log.readGate = undefined;
  await new Promise((resolve) => setImmediate(resolve));
  commitMany(log, 3);
  await log.close();
  assert.equal(await consumed, range(3, 18));
  assert.is(log.readBacks, 1, 'entries 11..18 came live');
});

it('a live buffer that overflows while the consumer is busy falls back to storage without a gap or duplicate', async () => {
  const log = new ScriptedLog({ maxBufferedEntries: 4, readChunkEntries: 3 });
  commitMany(log, 2);
  let committedDuring = 0;
  const consumed = drain(log.follow(0), () => {
    // Each batch the consumer takes, 6 more commit one by one: more than the buffer holds.
    if (committedDuring < 30) {
      commitMany(log, 6);
      committedDuring += 6;
    }
  });
  while (committedDuring < 30) await new Promise((resolve) => setImmediate(resolve));
  await log.close();
  assert.equal(await consumed, range(1, 32));
  assert.ok(log.readBacks > 1, 'the overflow sent the follower back to storage');
});

it('a follower started after the log ended reads what is there and ends', async () => {
  const log = new ScriptedLog();
  commitMany(log, 3);
  await log.close();
  assert.equal(await drain(log.follow(1)), [2, 3]);
});

test.run();
