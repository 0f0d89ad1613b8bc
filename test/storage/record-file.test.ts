// Record files: framing, reading across read chunks, and the rule that tells a torn tail from corruption.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeFileSystem } from '../../src/storage/file-system.js';
import { CorruptFileError, magicBytes, readRecords, recordHeaderBytes, seal } from '../../src/storage/record-file.js';

const test = suite('storage: record file');
const magic = Buffer.from('TESTREC1', 'latin1');

/** A record file of payloads; synced(i) gives the synced-through mark record i is written with. */
function fileOf(payloads: readonly Buffer[], synced: (i: number, offset: number) => number = () => 0): { bytes: Buffer; offsets: number[] } {
  const parts: Buffer[] = [magic];
  const offsets: number[] = [];
  let offset = magicBytes;
  for (const [i, p] of payloads.entries()) {
    const record = Buffer.alloc(recordHeaderBytes + p.length);
    p.copy(record, recordHeaderBytes);
    parts.push(seal(record, synced(i, offset)));
    offsets.push(offset);
    offset += record.length;
  }
  return { bytes: Buffer.concat(parts), offsets };
}

async function read(bytes: Buffer, mayBeTorn: boolean, readChunkBytes?: number): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'lattice-records-'));
  try {
    const path = join(dir, 'file');
    await writeFile(path, bytes);
    const file = await nodeFileSystem.open(path, 'r');
    try {
      const out: string[] = [];
      for await (const r of readRecords(file, bytes.length, { path, mayBeTorn, ...(readChunkBytes === undefined ? {} : { readChunkBytes }) })) out.push(r.payload.toString());
      return out;
    } finally {
      await file.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const payloads = Array.from({ length: 40 }, (_, i) => Buffer.from(`record-${i}-${'y'.repeat(i * 7)}`));
const texts = payloads.map((p) => p.toString());

async function corruption(p: Promise<unknown>): Promise<CorruptFileError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, CorruptFileError);
    return e as CorruptFileError;
  }
  assert.unreachable('expected a CorruptFileError');
  throw new Error('unreachable');
}

test('records read back whole when they straddle read chunks of any size', async () => {
  const { bytes } = fileOf(payloads);
  for (const chunk of [1, 7, 16, 100, 333, 4096]) assert.equal(await read(bytes, false, chunk), texts, `chunk ${chunk}`);
});

test('a cut-short final record of a file being appended to is a torn tail: reading stops before it', async () => {
  const { bytes } = fileOf(payloads);
  assert.equal(await read(bytes.subarray(0, bytes.length - 5), true), texts.slice(0, -1));
});

test('an unsynced write that lost an earlier sector but kept later ones is a torn tail, however much follows', async () => {
  // Records 30.. were written after the last sync at record 30's offset, so they all say "synced through" it.
  let lastSynced = 0;
  const { bytes, offsets } = fileOf(payloads, (i, offset) => (i <= 30 ? (lastSynced = offset) : lastSynced));
  const lost = Math.ceil((offsets[32]! + 1) / 512) * 512;
  bytes.fill(0, lost, lost + 512);
  const got = await read(bytes, true);
  assert.ok(got.length >= 31 && got.length < 40, `${got.length} records`);
  assert.equal(got, texts.slice(0, got.length));
});

test('a damaged record that a later record says was synced is corruption, named by file and offset', async () => {
  const { bytes, offsets } = fileOf(payloads, (_, offset) => offset); // every write was synced
  bytes[offsets[10]! + recordHeaderBytes + 2]! ^= 0x01;
  const err = await corruption(read(bytes, true));
  assert.is(err.offset, offsets[10]);
  assert.match(err.message, /is corrupt at offset \d+: a record fails its checksum, but the record at offset \d+ was written after the file was synced through offset \d+/);
  assert.match(err.message, /lattice-repair cut /);
});

test('a damaged length field inside the synced part is corruption, not a tail to cut', async () => {
  const { bytes, offsets } = fileOf(payloads, (_, offset) => offset);
  bytes.writeUInt32LE(123_456_789, offsets[5]!);
  assert.is((await corruption(read(bytes, true))).offset, offsets[5]);
});

test('in a file that was wholly synced any bad record is corruption, even the last', async () => {
  const { bytes, offsets } = fileOf(payloads);
  const err = await corruption(read(bytes.subarray(0, bytes.length - 5), false));
  assert.is(err.offset, offsets.at(-1));
  assert.match(err.message, /in a file that was wholly synced/);
});

test.run();
