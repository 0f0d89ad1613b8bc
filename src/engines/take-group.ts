// Group commit in both engines takes queued writes up to a bound on their combined weight (bytes or
// ops); the first write always goes, however heavy, so nothing waits forever.
export function takeGroup<T>(pending: T[], weight: (item: T) => number, maxWeight: number): T[] {
  let total = 0;
  let count = 0;
  for (const item of pending) {
    const w = weight(item);
    if (count > 0 && total + w > maxWeight) break;
    total += w;
    count++;
  }
  return pending.splice(0, count);
}
