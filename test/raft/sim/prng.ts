// A small seeded random source (mulberry32) for the Raft simulation: every choice of a run comes
// from one of these, so a seed replays the run exactly.

import { seededRandom } from '../../helpers/seeded-random.js';

export interface Prng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [lo, hi] (both included). */
  int(lo: number, hi: number): number;
  chance(probability: number): boolean;
  pick<T>(items: readonly T[]): T;
  shuffle<T>(items: T[]): T[];
  /** A new independent source derived from this one (so adding draws to one part leaves the other alone). */
  fork(): Prng;
}

export function createPrng(seed: number): Prng {
  const next = seededRandom(seed);
  const prng: Prng = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (probability) => next() < probability,
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(next() * items.length)] as T;
    },
    shuffle: <T>(items: T[]): T[] => {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const swap = items[i] as T;
        items[i] = items[j] as T;
        items[j] = swap;
      }
      return items;
    },
    fork: () => createPrng(Math.floor(next() * 4294967296) ^ 0x9e3779b9),
  };
  return prng;
}
