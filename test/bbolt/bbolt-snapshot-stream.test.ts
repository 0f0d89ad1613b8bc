// The snapshot stream Maintenance.Snapshot will send: a bbolt file in chunks, then its SHA-256,
// with the temporary file gone when the stream ends or is abandoned.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BboltReader } from '../../src/bbolt/bbolt-reader.js';
import { etcdSnapshotChunks } from '../../src/bbolt/snapshot-stream.js';
import { checkSnapshotHash, hasSnapshotHash } from '../../src/bbolt/snapshot-trailer.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { bucket, bytes, numberedValues, readerDump } from './bbolt-fixtures.js';

const test = suite('bbolt: snapshot stream');
let dir = '';
let scratch = '';
test.before(() => {
  dir = makeTempDir('bbolt-stream');
  scratch = makeTempDir('bbolt-stream-scratch');
});
test.after(() => {
  removeTempDir(dir);
  removeTempDir(scratch);
});

const content = () => [bucket('key', numberedValues(20_000, (i) => bytes(`value ${i}`))), bucket('meta', [])];

test('the chunks are a bbolt file followed by its sha256, as etcd streams a snapshot; the temp file is removed', async () => {
  const chunks: Uint8Array[] = [];
  for await (const chunk of etcdSnapshotChunks(content(), { tempDir: scratch, chunkBytes: 32 * 1024 })) {
    assert.ok(chunk.length <= 32 * 1024);
    chunks.push(chunk);
  }
  const path = join(dir, 'streamed.snapshot');
  writeFileSync(path, Buffer.concat(chunks));
  assert.ok(hasSnapshotHash(chunks.reduce((sum, chunk) => sum + chunk.length, 0)));
  assert.is((await checkSnapshotHash(path)).kind, 'ok');
  assert.is(chunks.at(-1)!.length, 32);
  const lines = await readerDump(path);
  assert.is(lines.length, 20_000 + 2);
  const reader = await BboltReader.open(path);
  assert.ok(await reader.bucket(bytes('meta')));
  await reader.close();
  assert.equal(readdirSync(scratch), []);
});

test('a stream abandoned after its first chunk removes its temp file', async () => {
  for await (const chunk of etcdSnapshotChunks(content(), { tempDir: scratch })) {
    assert.ok(chunk.length > 0);
    assert.is(readdirSync(scratch).length, 1);
    break;
  }
  assert.equal(readdirSync(scratch), []);
});

test.run();
