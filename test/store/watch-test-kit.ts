// What the watch hub tests share: a create request with etcd's defaults, and polling for a condition.
import type { KeyRange } from '../../src/core/keys.js';
import type { WatchCreate } from '../../src/core/watch-api.js';

/** A create request for `range` with every option off unless given. */
export const watchCreate = (range: KeyRange, extra: Partial<WatchCreate> = {}): WatchCreate => ({
  range,
  startRevision: 0n,
  watchId: 0n,
  progressNotify: false,
  prevKv: false,
  fragment: false,
  noPut: false,
  noDelete: false,
  ...extra,
});

/** Resolves once predicate holds; throws after timeoutMs. */
export async function until(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
