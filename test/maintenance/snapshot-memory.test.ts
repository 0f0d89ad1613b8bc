// Restore streams: a snapshot file many times larger than the JS heap restores into the RocksDB
// engine under a capped heap (holding the file's entries would exhaust it). The memory engine is left
// out on purpose: it holds its whole state in memory by design. And a restore killed midway.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { runCommand, waitUntil } from '../helpers/processes.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { latticeBin } from './snapshot-helpers.js';
import { writeStoreSnapshot } from './snapshot-files.js';

const test = suite('lattice snapshot restore: bounded memory');
const heapLimitMb = 32;
const revisions = 300_000;
const restoreTimeoutMs = 240_000;
const flags = ['--name', 'm', '--initial-cluster', 'm=http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380'];

let root = '';
test.before(() => {
  root = makeTempDir('snapshot-memory');
});
test.after(() => removeTempDir(root));

test(`${revisions / 1000}k revisions (a file over 80 MB) restore into rocksdb under a ${heapLimitMb} MB heap`, async () => {
  const file = join(root, 'large.db');
  await writeStoreSnapshot(file, revisions, 50_000, 200);
  const fileBytes = statSync(file).size;
  assert.ok(fileBytes > 80_000_000, `file of ${fileBytes} bytes`);
  const dataDir = join(root, 'data');
  const result = await runCommand(
    process.execPath,
    [`--max-old-space-size=${heapLimitMb}`, latticeBin, 'snapshot', 'restore', file, '--data-dir', dataDir, '--engine', 'rocksdb', ...flags],
    { cwd: repoRoot, timeoutMs: restoreTimeoutMs },
  );
  assert.is(result.code, 0, result.stderr.slice(-2000));
  assert.match(result.stdout, new RegExp(`revision ${revisions + 1}, compact revision -1, ${revisions} key revisions`));
});

test('a restore killed midway leaves no data dir, and the next restore removes what it left beside it', async () => {
  const file = join(root, 'large.db');
  const parent = join(root, 'killed');
  mkdirSync(parent);
  const dataDir = join(parent, 'data');
  const args = [latticeBin, 'snapshot', 'restore', file, '--data-dir', dataDir, '--engine', 'rocksdb', ...flags];
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: 'ignore' });
  // killed as soon as its engine exists in the temp dir: a fast restore could finish within any fixed wait
  const building = (): boolean => readdirSync(parent).some((n) => n.startsWith('.data.restoring-') && existsSync(join(parent, n, 'rocksdb')));
  await waitUntil(building, { timeoutMs: 30_000, what: 'the restore to start building', intervalMs: 5 });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.not.ok(existsSync(dataDir), 'no data dir after the kill');
  const again = await runCommand(process.execPath, args, { cwd: repoRoot, timeoutMs: restoreTimeoutMs });
  assert.is(again.code, 0, again.stderr.slice(-2000));
  assert.equal(readdirSync(parent), ['data']);
});

test.run();
