// Run as a child process by bbolt-memory.test.ts under a small heap limit: writes a bbolt file
// far larger than the heap from lazily generated keys, reads it back, and prints the peaks of
// memory it saw as one JSON line.
import { writeBboltFile } from '../../src/bbolt/bbolt-file.js';
import { BboltReader } from '../../src/bbolt/bbolt-reader.js';
import type { WriteEntry } from '../../src/bbolt/bbolt-writer.js';

const [path, countText] = process.argv.slice(2);
if (path === undefined || countText === undefined) throw new Error('usage: large-file-child PATH COUNT');
const count = Number(countText);
const valueBytes = 200;
/** Memory is sampled once per this many entries. */
const sampleEvery = 10_000;

const peaks = { heapUsed: 0, arrayBuffers: 0, rss: 0 };
function sample(): void {
  const usage = process.memoryUsage();
  peaks.heapUsed = Math.max(peaks.heapUsed, usage.heapUsed);
  peaks.arrayBuffers = Math.max(peaks.arrayBuffers, usage.arrayBuffers);
  peaks.rss = Math.max(peaks.rss, usage.rss);
}

const keyOf = (i: number) => Buffer.from(`key${String(i).padStart(9, '0')}`);
async function* entries(): AsyncGenerator<WriteEntry> {
  for (let i = 0; i < count; i++) {
    if (i % sampleEvery === 0) sample();
    yield { kind: 'value', key: keyOf(i), value: Buffer.alloc(valueBytes, i % 251) };
  }
}

const summary = await writeBboltFile(path, [{ kind: 'bucket', key: Buffer.from('key'), entries: entries() }]);
const reader = await BboltReader.open(path);
let read = 0;
for await (const entry of reader.entries((await reader.bucket(Buffer.from('key')))!)) {
  if (entry.kind !== 'value' || !Buffer.from(entry.key).equals(keyOf(read)) || entry.value[0] !== read % 251) {
    throw new Error(`entry ${read} differs`);
  }
  if (++read % sampleEvery === 0) sample();
}
await reader.close();
console.log(JSON.stringify({ fileBytes: summary.fileBytes, read, ...peaks }));
