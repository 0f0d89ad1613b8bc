import { suite, type Test } from 'uvu';
import { missingTools, skip, type Tool } from './tools.js';

/** Default deadline for one test (uvu has none of its own). */
export const defaultTestTimeoutMs = 60_000;
/** Deadline for a suite's servers to start. */
export const suiteStartTimeoutMs = 90_000;

/** Rejects if promise has not settled within timeoutMs. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Wraps a suite's `it` for tests that need external tools. With every tool installed it is `it` itself;
 * otherwise each test is registered as skipped and prints one `SKIP:` line, so the runner's closing line
 * counts it (an early `return` inside the body would count it as passed).
 */
export function needingTools<Rest extends unknown[]>(
  s: Test,
  needed: Tool[],
  it: (name: string, ...rest: Rest) => void,
): (name: string, ...rest: Rest) => void {
  const reason = missingTools(needed);
  if (reason === null) return it;
  return (name: string, ..._rest: Rest) => {
    skip(`${name}: ${reason}`);
    s.skip(name, () => {});
  };
}

export interface Stoppable {
  stop(): Promise<void>;
}

export interface ServerSuite<S> {
  /** Declares a test that gets the started fixture; fails at once if the fixture did not start. */
  it(name: string, body: (fixture: S) => Promise<void>, timeoutMs?: number): void;
  run(): void;
}

/**
 * A uvu suite around a fixture of running servers. uvu swallows an error thrown by a
 * `before` hook (the suite just reports 0 passed), so the start error is printed once
 * here and every test then fails fast with a short pointer to it.
 * With skipReason set, prints `SKIP: <reason>` once and counts every test as skipped.
 */
export function serverSuite<S extends Stoppable>(
  name: string,
  start: () => Promise<S>,
  skipReason: string | null = null,
): ServerSuite<S> {
  const s = suite(name);
  let fixture: S | null = null;
  let startError: Error | null = null;

  if (skipReason !== null) {
    skip(`${name}: ${skipReason}`);
    return { it: (testName) => s.skip(testName, () => {}), run: () => s.run() };
  }

  s.before(async () => {
    const started = Date.now();
    try {
      fixture = await withTimeout(start(), suiteStartTimeoutMs, `${name}: starting servers`);
      if (process.env['TEST_TIMINGS'] === '1') console.error(`[timing] ${name} > (start): ${Date.now() - started} ms`);
    } catch (err) {
      startError = err instanceof Error ? err : new Error(String(err));
      console.error(`\n[${name}] servers did not start:\n${startError.message}\n`);
    }
  });
  s.after(async () => {
    if (fixture) await fixture.stop();
    fixture = null;
  });

  return {
    it(testName, body, timeoutMs = defaultTestTimeoutMs) {
      s(testName, async () => {
        if (startError) throw new Error(`servers did not start (output above): ${startError.message.split('\n')[0]}`);
        if (!fixture) throw new Error('no fixture');
        const started = Date.now();
        try {
          await withTimeout(body(fixture), timeoutMs, testName);
        } finally {
          // TEST_TIMINGS=1 shows where a slow file spends its time.
          if (process.env['TEST_TIMINGS'] === '1') console.error(`[timing] ${name} > ${testName}: ${Date.now() - started} ms`);
        }
      });
    },
    run: () => s.run(),
  };
}

/** Stops several fixtures, all of them even if one fails; rethrows the first error. */
export async function stopAll(...items: (Stoppable | null | undefined)[]): Promise<void> {
  const results = await Promise.allSettled(items.map((item) => item?.stop()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Starts several servers together; if any fails, stops those that did start and rethrows.
 * Keeps a half-started fixture from leaking processes.
 */
export async function startBoth<A extends Stoppable, B extends Stoppable>(
  startA: () => Promise<A>,
  startB: () => Promise<B>,
): Promise<[A, B]> {
  const [a, b] = await Promise.allSettled([startA(), startB()]);
  if (a.status === 'fulfilled' && b.status === 'fulfilled') return [a.value, b.value];
  await stopAll(a.status === 'fulfilled' ? a.value : null, b.status === 'fulfilled' ? b.value : null).catch(() => {});
  const reasons = [a, b].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
  throw reasons[0];
}
