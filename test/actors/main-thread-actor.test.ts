// The main-thread actor handles asks in the order they were made, also when its mailbox has been full
// and the fast path (a free slot taken at once) meets asks still on their way into the mailbox.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MainThreadActor } from '../../src/actors/main-thread-actor.js';
import { maxMailboxMessages } from '../../src/actors/actor.js';

const s = suite('main-thread actor');

s('asks made past a full mailbox, one per microtask, are handled in the order they were made', async () => {
  const seen: number[] = [];
  const actor = new MainThreadActor<number, number>({ receive: (m) => { seen.push(m); return Promise.resolve(m); } });
  const replies: Promise<number>[] = [];
  let next = 0;
  const ask = (): void => void replies.push(actor.ask(next++));
  for (let i = 0; i < maxMailboxMessages + 10; i++) ask();
  // Interleave new asks with the slots the handled ones free, a microtask apart.
  await new Promise<void>((resolve) => {
    let made = 0;
    const pump = (): void => {
      if (made++ >= 5000) return resolve();
      ask();
      queueMicrotask(() => queueMicrotask(pump));
    };
    pump();
  });
  await Promise.all(replies);
  const inversions = seen.filter((m, i) => i > 0 && m < seen[i - 1]!).length;
  assert.is(seen.length, next);
  assert.is(inversions, 0);
});

s.run();
