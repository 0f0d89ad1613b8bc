// lattice snapshot restore refuses what it cannot restore, with a clear message and exit status 1,
// and never leaves a data dir (or a half-built one beside it) behind.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeBboltFile } from '../../src/bbolt/index.js';
import { engines } from '../helpers/lattice-server.js';
import { withTimeout } from '../helpers/spec.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { lattice } from './snapshot-helpers.js';
import { writeStoreSnapshot } from './snapshot-files.js';

const test = suite('lattice snapshot restore: bad input');
const restoreTimeoutMs = 60_000;
const flags = ['--name', 'r1', '--initial-cluster', 'r1=http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380'];

let root = '';
let good = '';
test.before(async () => {
  root = makeTempDir('snapshot-errors');
  good = join(root, 'good.db');
  await writeStoreSnapshot(good, 2000, 300, 100);
});
test.after(() => removeTempDir(root));

let attempt = 0;
/** Restores `file` into a fresh target under its own parent; returns the result and what the parent holds after. */
async function restore(file: string, extra: string[] = [], engine = 'rocksdb') {
  const parent = join(root, `attempt-${attempt++}`);
  mkdirSync(parent);
  const dataDir = join(parent, 'data');
  const result = await withTimeout(lattice(['snapshot', 'restore', file, '--data-dir', dataDir, '--engine', engine, ...flags, ...extra]), restoreTimeoutMs, 'restore');
  return { ...result, dataDir, left: readdirSync(parent) };
}

function refused(r: Awaited<ReturnType<typeof restore>>, message: RegExp): void {
  assert.is(r.code, 1, `exit status; stderr: ${r.stderr}`);
  assert.match(r.stderr, message);
  assert.equal(r.left, [], 'nothing is left beside the target');
}

function withHash(db: Buffer): Buffer {
  return Buffer.concat([db, createHash('sha256').update(db).digest()]);
}

for (const engine of engines) {
  test(`a good snapshot restores (engine ${engine}) into exactly the data dir, nothing beside it`, async () => {
    const r = await restore(good, [], engine);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /revision 2001, compact revision -1, 2000 key revisions, 1 leases/);
    assert.equal(r.left, ['data']);
    assert.equal(readdirSync(r.dataDir).sort(), ['member-identity.json', 'members.json', engine]);
  });
}

test('a truncated snapshot fails: etcd tells a file with its hash by its size, so the hash is missing', async () => {
  const bytes = readFileSync(good);
  const cut = join(root, 'truncated.db');
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2) + 100));
  refused(await restore(cut), /Error: .*snapshot missing hash but --skip-hash-check=false/);
});

test('a truncated snapshot with --skip-hash-check fails on the pages it lacks', async () => {
  const bytes = readFileSync(good);
  const cut = join(root, 'truncated-skip.db');
  writeFileSync(cut, bytes.subarray(0, 3 * 4096));
  refused(await restore(cut, ['--skip-hash-check']), /Error: .*not a usable bbolt file/);
});

test('a snapshot whose bytes do not match its sha256 fails with etcdctl\'s message', async () => {
  const bytes = Buffer.from(readFileSync(good));
  bytes.writeUInt8(bytes.readUInt8(5 * 4096 + 100) ^ 0xff, 5 * 4096 + 100);
  const damaged = join(root, 'damaged.db');
  writeFileSync(damaged, bytes);
  refused(await restore(damaged), /Error: .*expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}/);
});

test('a file that is not bbolt fails even with a matching sha256', async () => {
  const junk = join(root, 'junk.db');
  writeFileSync(junk, withHash(Buffer.alloc(4 * 4096, 7)));
  refused(await restore(junk), /Error: .*not a usable bbolt file: neither meta page carries the bbolt magic/);
});

test('a bbolt file without etcd\'s buckets fails naming them', async () => {
  const other = join(root, 'other.db');
  await writeBboltFile(other, [{ kind: 'bucket', key: Buffer.from('widgets'), entries: [{ kind: 'value', key: Buffer.from('k'), value: Buffer.from('v') }] }], { snapshotHash: true });
  refused(await restore(other), /Error: not an etcd snapshot: the bbolt file has no key and meta bucket/);
});

test('a restore into a data dir that holds anything fails and leaves it as it was', async () => {
  const parent = join(root, 'nonempty');
  const dataDir = join(parent, 'data');
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, 'keep-me'), 'x');
  const r = await lattice(['snapshot', 'restore', good, '--data-dir', dataDir, ...flags]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /Error: data-dir ".*data" exists and is not empty/);
  assert.equal(readdirSync(parent), ['data']);
  assert.equal(readdirSync(dataDir), ['keep-me']);
});

test('a missing snapshot file fails with the path', async () => {
  const r = await restore(join(root, 'nope.db'));
  refused(r, /Error: ENOENT: no such file or directory.*nope\.db/);
  assert.not.ok(existsSync(r.dataDir));
});

test('--name missing from --initial-cluster fails before anything is written', async () => {
  refused(await restore(good, ['--name', 'other']), /Error: couldn't find local name "other" in the initial cluster configuration/);
});

test.run();
