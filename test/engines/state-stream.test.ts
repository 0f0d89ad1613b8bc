// The engine state stream format on its own: any cut of the bytes decodes, chunks and batches stay
// within their bounds, and every kind of damage is refused before the decoder's iteration ends.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeStateStream, encodeStateStream, StateStreamError, type StatePair } from '../../src/engines/state-stream.js';

const test = suite('engine: state stream');

/** The pairs in batches of 7, as an engine's iteration hands them out (an empty list: no batch). */
async function* from(pairs: readonly StatePair[]): AsyncGenerator<readonly StatePair[]> {
  for (let i = 0; i < pairs.length; i += 7) yield pairs.slice(i, i + 7);
}

async function bytesOf(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

async function* cut(bytes: Buffer, sizes: () => number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; ) {
    const n = Math.max(1, sizes());
    yield bytes.subarray(at, at + n);
    at += n;
  }
}

async function decodeAll(chunks: AsyncIterable<Uint8Array>, batchBytes?: number): Promise<{ pairs: Array<[string, string]>; batches: number[] }> {
  const pairs: Array<[string, string]> = [];
  const batches: number[] = [];
  for await (const batch of decodeStateStream(chunks, batchBytes)) {
    batches.push(batch.reduce((sum, [k, v]) => sum + k.length + v.length, 0));
    for (const [k, v] of batch) pairs.push([k.toString('latin1'), v.toString('latin1')]);
  }
  return { pairs, batches };
}

const sample: StatePair[] = Array.from({ length: 500 }, (_, i) => [Buffer.from(`key-${i}`), Buffer.from('v'.repeat(i % 97))]);
const sampleText = sample.map(([k, v]): [string, string] => [k.toString('latin1'), v.toString('latin1')]);

test('pairs decode back whatever the chunk bounds: one byte at a time, odd sizes, all at once', async () => {
  const bytes = await bytesOf(encodeStateStream(from(sample), 256));
  let n = 0;
  for (const sizes of [() => 1, () => 1 + (n++ % 37), () => bytes.length]) {
    assert.equal((await decodeAll(cut(bytes, sizes))).pairs, sampleText);
  }
});

test('the encoder yields chunks of at most chunkBytes, a value larger than a chunk spread over several', async () => {
  const big = Buffer.alloc(10_000, 7);
  const sizes: number[] = [];
  for await (const chunk of encodeStateStream(from([[Buffer.from('big'), big], ...sample]), 1024)) sizes.push(chunk.length);
  assert.ok(Math.max(...sizes) <= 1024, `largest chunk ${Math.max(...sizes)}`);
  assert.ok(sizes.length > 10);
});

test('the decoder yields batches of about batchBytes, not the whole state at once', async () => {
  const bytes = await bytesOf(encodeStateStream(from(sample)));
  const { batches, pairs } = await decodeAll(cut(bytes, () => 500), 2048);
  assert.is(pairs.length, sample.length);
  assert.ok(batches.length > 5, `${batches.length} batches`);
  assert.ok(Math.max(...batches) < 2048 + 200, `largest batch ${Math.max(...batches)} bytes`);
});

test('an empty state is a valid stream of no pairs', async () => {
  assert.equal((await decodeAll(encodeStateStream(from([])))).pairs, []);
});

test('every cut-short prefix, every single changed byte and trailing bytes are refused with StateStreamError', async () => {
  const bytes = await bytesOf(encodeStateStream(from(sample.slice(0, 20))));
  const refused = async (damaged: Buffer, what: string): Promise<void> => {
    try {
      await decodeAll(cut(damaged, () => 64));
    } catch (err) {
      assert.instance(err, StateStreamError, what);
      return;
    }
    assert.unreachable(`${what} was accepted`);
  };
  for (let length = 0; length < bytes.length; length++) await refused(bytes.subarray(0, length), `a prefix of ${length} bytes`);
  for (let at = 0; at < bytes.length; at++) {
    const damaged = Buffer.from(bytes);
    damaged[at] = damaged[at]! ^ 0x04;
    await refused(damaged, `a change at byte ${at}`);
  }
  await refused(Buffer.concat([bytes, Buffer.from([0])]), 'a trailing byte');
});

test('a length field past the bounds is refused without allocating for it', async () => {
  const bytes = await bytesOf(encodeStateStream(from(sample.slice(0, 1))));
  const damaged = Buffer.from(bytes);
  damaged.writeUInt32LE(0xffff_fff0, 8 + 1 + 4); // the first pair's value length
  try {
    await decodeAll(cut(damaged, () => 16));
  } catch (err) {
    assert.instance(err, StateStreamError);
    assert.match((err as Error).message, /past the stream's bounds/);
    return;
  }
  assert.unreachable('accepted');
});

test('a decoder that stops early ends the sender’s iteration too', async () => {
  let ended = false;
  async function* sender(): AsyncGenerator<Uint8Array> {
    try {
      yield Buffer.from('NOTASTATESTREAM');
      yield Buffer.alloc(10);
    } finally {
      ended = true;
    }
  }
  try {
    await decodeAll(sender());
  } catch {
    // refused, as it must be
  }
  assert.ok(ended);
});

test.run();
