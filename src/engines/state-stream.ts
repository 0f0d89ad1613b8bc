// The byte format an engine's whole state travels in (a Raft snapshot sent to a member that fell
// behind the leader's compacted log). It is a byte stream: the chunks the encoder yields are only
// its unit of emission, and the decoder accepts the bytes cut anywhere (a transport re-chunks).
//
//   magic "LATSTAT1"
//   pair*   u8 1 | u32le key length | u32le value length | key | value
//   end     u8 2 | u64le pair count | sha256 of every byte before the digest (32 bytes)
//
// The digest at the end lets the receiver verify the whole copy before it replaces anything: the
// decoder yields pairs as they arrive (so memory stays bounded) and throws at the end when the
// stream was cut short, altered or carries bytes past its end; an importer commits only once the
// iteration has finished without an error.

import { createHash, type Hash } from 'node:crypto';

/** Largest chunk the encoder yields. */
export const defaultStateChunkBytes = 1024 * 1024;
/** Largest key a stream may carry; a longer length field is damage, not a key to allocate for. */
export const maxStateKeyBytes = 64 * 1024 * 1024;
/** Largest value a stream may carry (etcd's values are bounded by its request size, 1.5 MiB). */
export const maxStateValueBytes = 512 * 1024 * 1024;
/** Bytes of pairs the decoder gathers into one yielded batch. */
export const defaultStateBatchBytes = 4 * 1024 * 1024;

const magic = Buffer.from('LATSTAT1', 'latin1');
const tagPair = 1;
const tagEnd = 2;
const pairHeaderBytes = 9;
const digestBytes = 32;

/** A state stream that cannot be imported: cut short, damaged, or not a state stream at all. */
export class StateStreamError extends Error {
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`engine state stream is invalid at byte ${offset}: ${detail}; nothing was imported`);
    this.name = 'StateStreamError';
  }
}

export type StatePair = readonly [Buffer, Buffer];

/**
 * Encodes batches of pairs (in any order; engines give key order, in iterateBatches' batches) into
 * chunks of at most chunkBytes each. Holds at most one chunk besides the batch it is given: a value
 * larger than a chunk is yielded across several chunks.
 */
export async function* encodeStateStream(batches: AsyncIterable<readonly StatePair[]>, chunkBytes = defaultStateChunkBytes): AsyncGenerator<Uint8Array> {
  if (!(chunkBytes >= 64)) throw new RangeError('a state chunk must hold at least 64 bytes');
  const hash = createHash('sha256');
  let chunk = Buffer.allocUnsafe(chunkBytes);
  let used = 0;
  /** Copies bytes into chunks, handing each full one to the caller. */
  function* put(bytes: Buffer): Generator<Uint8Array> {
    hash.update(bytes);
    let from = 0;
    while (from < bytes.length) {
      const n = Math.min(bytes.length - from, chunkBytes - used);
      bytes.copy(chunk, used, from, from + n);
      used += n;
      from += n;
      if (used === chunkBytes) {
        yield chunk;
        chunk = Buffer.allocUnsafe(chunkBytes);
        used = 0;
      }
    }
  }
  yield* put(magic);
  let count = 0;
  const header = Buffer.alloc(pairHeaderBytes);
  for await (const pairs of batches) {
    for (const [key, value] of pairs) {
      if (key.length > maxStateKeyBytes || value.length > maxStateValueBytes) throw new RangeError(`a pair of ${key.length} + ${value.length} bytes exceeds the state stream's bounds`);
      header.writeUInt8(tagPair, 0);
      header.writeUInt32LE(key.length, 1);
      header.writeUInt32LE(value.length, 5);
      yield* put(header);
      yield* put(key);
      yield* put(value);
      count++;
    }
  }
  const end = Buffer.alloc(1 + 8);
  end.writeUInt8(tagEnd, 0);
  writeU64(end, 1, count);
  yield* put(end);
  // The digest covers everything before it, including the end record's count.
  const digest = hash.digest();
  let from = 0;
  while (from < digest.length) {
    const n = Math.min(digest.length - from, chunkBytes - used);
    digest.copy(chunk, used, from, from + n);
    used += n;
    from += n;
    if (used === chunkBytes) {
      yield chunk;
      chunk = Buffer.allocUnsafe(chunkBytes);
      used = 0;
    }
  }
  if (used > 0) yield chunk.subarray(0, used);
}

/**
 * Decodes a state stream into batches of pairs (each batch at most about batchBytes, or one pair).
 * Throws StateStreamError when the stream is not whole and intact, always before returning: a
 * consumer must treat what it was given as provisional until the iteration ends without error.
 */
export async function* decodeStateStream(chunks: AsyncIterable<Uint8Array>, batchBytes = defaultStateBatchBytes): AsyncGenerator<StatePair[]> {
  const source = chunks[Symbol.asyncIterator]();
  try {
    yield* decodeFrom(new ByteReader(source), batchBytes);
  } finally {
    // Ends the sender's side too when decoding stops early (an error, or a consumer that gave up).
    await source.return?.();
  }
}

async function* decodeFrom(reader: ByteReader, batchBytes: number): AsyncGenerator<StatePair[]> {
  const head = await reader.take(magic.length);
  if (head === undefined || !head.equals(magic)) throw new StateStreamError(0, 'it does not start with LATSTAT1');
  let batch: StatePair[] = [];
  let batchSize = 0;
  let count = 0;
  for (;;) {
    const at = reader.offset;
    const tag = await reader.take(1);
    if (tag === undefined) throw new StateStreamError(at, 'the stream ends before its end record (cut short)');
    if (tag[0] === tagEnd) break;
    if (tag[0] !== tagPair) throw new StateStreamError(at, `unknown record tag ${tag[0]}`);
    const lengths = await reader.take(8);
    if (lengths === undefined) throw new StateStreamError(at, 'a pair header is cut short');
    const keyLength = lengths.readUInt32LE(0);
    const valueLength = lengths.readUInt32LE(4);
    if (keyLength > maxStateKeyBytes || valueLength > maxStateValueBytes) throw new StateStreamError(at, `a pair claims ${keyLength} + ${valueLength} bytes, past the stream's bounds`);
    const key = await reader.take(keyLength);
    const value = await reader.take(valueLength);
    if (key === undefined || value === undefined) throw new StateStreamError(at, 'a pair is cut short');
    batch.push([key, value]);
    batchSize += keyLength + valueLength + pairHeaderBytes;
    count++;
    if (batchSize >= batchBytes) {
      yield batch;
      batch = [];
      batchSize = 0;
    }
  }
  const endAt = reader.offset - 1;
  const countBytes = await reader.take(8);
  if (countBytes === undefined) throw new StateStreamError(endAt, 'the end record is cut short');
  const expected = reader.digest();
  const digest = await reader.take(digestBytes);
  if (digest === undefined) throw new StateStreamError(endAt, 'the end record is cut short');
  if (!digest.equals(expected)) throw new StateStreamError(endAt, 'the sha256 digest does not match the bytes before it (damaged in transit or at the source)');
  if (readU64(countBytes, 0) !== count) throw new StateStreamError(endAt, `the end record counts ${readU64(countBytes, 0)} pairs, the stream holds ${count}`);
  if (!(await reader.atEnd())) throw new StateStreamError(reader.offset, 'bytes follow the end record');
  if (batch.length > 0) yield batch;
}

/** Pulls exact byte counts out of arbitrarily cut chunks, hashing what it hands out. */
class ByteReader {
  private pending: Buffer = Buffer.alloc(0);
  private readonly hash: Hash = createHash('sha256');
  offset = 0;
  private exhausted = false;

  constructor(private readonly source: AsyncIterator<Uint8Array>) {}

  /** Exactly n bytes (copied, never a view into a chunk), or undefined when the stream ends first. */
  async take(n: number): Promise<Buffer | undefined> {
    if (this.pending.length >= n) return this.consume(Buffer.from(this.pending.subarray(0, n)), n);
    const out = Buffer.allocUnsafe(n);
    let filled = this.pending.copy(out);
    this.pending = Buffer.alloc(0);
    while (filled < n) {
      const chunk = await this.next();
      if (chunk === undefined) {
        this.offset += filled;
        return undefined;
      }
      const used = chunk.copy(out, filled, 0, Math.min(chunk.length, n - filled));
      filled += used;
      if (used < chunk.length) this.pending = chunk.subarray(used);
    }
    return this.consume(out, 0);
  }

  /** The digest of everything handed out so far. */
  digest(): Buffer {
    return this.hash.copy().digest();
  }

  async atEnd(): Promise<boolean> {
    if (this.pending.length > 0) return false;
    for (;;) {
      const chunk = await this.next();
      if (chunk === undefined) return true;
      if (chunk.length > 0) return false;
    }
  }

  private consume(bytes: Buffer, fromPending: number): Buffer {
    if (fromPending > 0) this.pending = this.pending.subarray(fromPending);
    this.hash.update(bytes);
    this.offset += bytes.length;
    return bytes;
  }

  private async next(): Promise<Buffer | undefined> {
    if (this.exhausted) return undefined;
    const { done, value } = await this.source.next();
    if (done === true) {
      this.exhausted = true;
      return undefined;
    }
    if (!(value instanceof Uint8Array)) throw new StateStreamError(this.offset, 'a chunk is not bytes');
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
}

function writeU64(buffer: Buffer, at: number, value: number): void {
  buffer.writeUInt32LE(value % 0x1_0000_0000, at);
  buffer.writeUInt32LE(Math.floor(value / 0x1_0000_0000), at + 4);
}

function readU64(buffer: Buffer, at: number): number {
  return buffer.readUInt32LE(at) + buffer.readUInt32LE(at + 4) * 0x1_0000_0000;
}
