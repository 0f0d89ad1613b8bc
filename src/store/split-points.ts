// Where key-range shards begin. Without a measured key distribution the key space is cut evenly by
// first byte; one shard (the default) needs no split.
import type { Key } from '../core/keys.js';

export function defaultSplitPoints(shards: number): Key[] {
  const splits: Key[] = [];
  for (let i = 1; i < shards; i++) splits.push(String.fromCharCode(Math.floor((256 * i) / shards)));
  return splits;
}
