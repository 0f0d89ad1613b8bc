// Record files: framing, reading across read chunks, and the rule that tells a torn tail from corruption.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { nodeFileSystem } from '../../src/storage/file-system.js';
import { CorruptFileError, fileHeaderBytes, newFileHeader, readRecords, recordHeaderBytes, seal } from '../../src/storage/record-file.js';

const test = suite('storage: record file');
const magic = Buffer.from('TESTREC1', 'latin1');

interface RecordFile {
  readonly bytes: Buffer;
  readonly offsets: number[];
  readonly salt: Buffer;
}

/** A sealed record holding payload. */
function recordOf(payload: Buffer, salt: Buffer, syncedThrough: number): Buffer {
  const record = Buffer.alloc(recordHeaderBytes + payload.length);
  payload.copy(record, recordHeaderBytes);
  return seal(record, salt, syncedThrough);
}

/** A record file of payloads; synced(i) gives the synced-through mark record i is written with. */
function fileOf(payloads: readonly Buffer[], synced: (i: number, offset: number) => number = () => 0): RecordFile {
  const header = newFileHeader(magic);
  const parts: Buffer[] = [header.bytes];
  const offsets: number[] = [];
  let offset = fileHeaderBytes;
  for (const [i, p] of payloads.entries()) {
    const record = recordOf(p, header.salt, synced(i, offset));
    parts.push(record);
    offsets.push(offset);
    offset += record.length;
  }
  return { bytes: Buffer.concat(parts), offsets, salt: header.salt };
}

async function read(file: RecordFile | Buffer, mayBeTorn: boolean, readChunkBytes?: number, saltOf?: RecordFile): Promise<string[]> {
  const bytes = Buffer.isBuffer(file) ? file : file.bytes;
  const salt = Buffer.isBuffer(file) ? saltOf!.salt : file.salt;
  const dir = await mkdtemp(join(tmpdir(), 'lattice-records-'));
  try {
    const path = join(dir, 'file');
    await writeFile(path, bytes);
    const file = await nodeFileSystem.open(path, 'r');
    try {
      const out: string[] = [];
      for await (const r of readRecords(file, bytes.length, { path, salt, mayBeTorn, ...(readChunkBytes === undefined ? {} : { readChunkBytes }) })) out.push(r.payload.toString());
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
  const file = fileOf(payloads);
  for (const chunk of [1, 7, 16, 100, 333, 4096]) assert.equal(await read(file, false, chunk), texts, `chunk ${chunk}`);
});

test('a cut-short final record of a file being appended to is a torn tail: reading stops before it', async () => {
  const file = fileOf(payloads);
  assert.equal(await read(file.bytes.subarray(0, file.bytes.length - 5), true, undefined, file), texts.slice(0, -1));
});

test('an unsynced write that lost an earlier sector but kept later ones is a torn tail, however much follows', async () => {
  // Records 30.. were written after the last sync at record 30's offset, so they all say "synced through" it.
  let lastSynced = 0;
  const file = fileOf(payloads, (i, offset) => (i <= 30 ? (lastSynced = offset) : lastSynced));
  const lost = Math.ceil((file.offsets[32]! + 1) / 512) * 512;
  file.bytes.fill(0, lost, lost + 512);
  const got = await read(file, true);
  assert.ok(got.length >= 31 && got.length < 40, `${got.length} records`);
  assert.equal(got, texts.slice(0, got.length));
});

test('a damaged record that a later record says was synced is corruption, named by file and offset', async () => {
  const file = fileOf(payloads, (_, offset) => offset); // every write was synced
  file.bytes[file.offsets[10]! + recordHeaderBytes + 2]! ^= 0x01;
  const err = await corruption(read(file, true));
  assert.is(err.offset, file.offsets[10]);
  assert.match(err.message, /is corrupt at offset \d+: a record fails its checksum, but the record at offset \d+ was written after the file was synced through offset \d+/);
  assert.match(err.message, /lattice-repair cut /);
});

test('a damaged length field inside the synced part is corruption, not a tail to cut', async () => {
  const file = fileOf(payloads, (_, offset) => offset);
  file.bytes.writeUInt32LE(123_456_789, file.offsets[5]!);
  assert.is((await corruption(read(file, true))).offset, file.offsets[5]);
});

test('in a file that was wholly synced any bad record is corruption, even the last', async () => {
  const file = fileOf(payloads);
  const err = await corruption(read(file.bytes.subarray(0, file.bytes.length - 5), false, undefined, file));
  assert.is(err.offset, file.offsets.at(-1));
  assert.match(err.message, /in a file that was wholly synced/);
});

test('a flipped bit in the last records of a file being appended to, with no zero sector in the record, is corruption, not a torn tail', async () => {
  // Nothing after the damage says the file was synced past it; etcd too calls a CRC mismatch torn
  // only when part of the record reads as zeros.
  const file = fileOf(payloads);
  const last = file.offsets.length - 1;
  file.bytes[file.offsets[last]! + recordHeaderBytes + 3]! ^= 0x10;
  const err = await corruption(read(file, true));
  assert.is(err.offset, file.offsets[last]);
  assert.match(err.message, /a record fails its checksum, and no part of it reads as zeros as a torn write leaves it/);
});

test('a last record with a sector-sized piece reading as zeros is a torn tail and is cut, keeping everything before it', async () => {
  const big = [...payloads.slice(0, 5), Buffer.alloc(2000, 0x61)];
  const file = fileOf(big);
  const start = file.offsets[5]!;
  const hole = Math.ceil((start + recordHeaderBytes + 1) / 512) * 512; // a whole sector inside its payload
  file.bytes.fill(0, hole, hole + 512);
  assert.equal(await read(file, true), texts.slice(0, 5));
});

test('a payload embedding a record image proves nothing about what was synced: the file salt differs', async () => {
  // Record 30 is torn (its header reads as zeros); record 35 carries, inside its payload, a
  // well-formed record claiming the file was synced past record 30 (a user's value, say).
  const imageBytes = recordHeaderBytes + 'forged'.length;
  const withImage = (salt: Buffer | 'own'): RecordFile => {
    const file = fileOf(payloads.map((p, i) => (i === 35 ? Buffer.alloc(1 + imageBytes) : p)));
    const image = recordOf(Buffer.from('forged'), salt === 'own' ? file.salt : salt, file.offsets[30]! + 1);
    recordOf(Buffer.concat([Buffer.from('x'), image]), file.salt, 0).copy(file.bytes, file.offsets[35]!);
    file.bytes.fill(0, file.offsets[30]!, file.offsets[30]! + recordHeaderBytes);
    return file;
  };
  const unknownSalt = fileOf([]).salt; // what a user could put in a value: not this file's salt
  assert.equal(await read(withImage(unknownSalt), true), texts.slice(0, 30), 'a torn tail, cut at record 30');
  // Sealed with the file's own salt, as only its writer can, the same image is proof.
  assert.match((await corruption(read(withImage('own'), true))).message, /was written after the file was synced through/);
});

test.run();
