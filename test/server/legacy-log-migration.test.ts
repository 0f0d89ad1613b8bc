// A data dir written before Lattice ran Raft (the single-member log under <data-dir>/wal) starts
// with every key, revision and lease it had, takes writes, and starts again after that.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { etcdctl } from '../helpers/etcdctl.js';
import { engines } from '../helpers/lattice-server.js';
import { repoPath, repoRoot } from '../helpers/paths.js';
import { allocateAddress, etcdFlags, launchRestartable } from '../helpers/server-flags.js';
import { withTimeout } from '../helpers/spec.js';
import { makeTempDir, removeAllTempDirs } from '../helpers/temp-dirs.js';
import { missingTools, skip } from '../helpers/tools.js';
import { openStore } from '../store/store-harness.js';

const missing = missingTools(['etcdctl']);
const testTimeoutMs = 90_000;

for (const engine of engines) {
  const name = `a ${engine} data dir with the log of an earlier Lattice is moved into the Raft log, keeps its data and takes writes`;
  if (missing !== null) {
    skip(`${name}: ${missing}`);
    test.skip(name, () => undefined);
    continue;
  }
  test(name, async () => {
    const root = makeTempDir('legacy-log');
    const dataDir = join(root, 'data');
    const old = await openStore({ engine, shards: 1, placement: 'main' }, dataDir, { fsync: true });
    for (let i = 1; i <= 5; i++) await old.store.put({ key: Buffer.from(`k${i}`), value: Buffer.from(`v${i}`), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false });
    await old.close();
    const address = await allocateAddress('legacy', dataDir);
    const server = await launchRestartable(
      { label: 'lattice on a legacy data dir', command: process.execPath, args: [repoPath('bin', 'lattice.js'), ...etcdFlags(address), '--engine', engine], cwd: repoRoot, logFile: join(root, 'lattice.log') },
      address,
      () => undefined,
    );
    try {
      await withTimeout(
        (async () => {
          const got = await etcdctl(server.endpoint, ['get', 'k', '--prefix', '-w', 'json']);
          assert.is(got.code, 0, got.stderr);
          assert.match(got.stdout, /"revision":6,/);
          assert.is((got.stdout.match(/"key":/g) ?? []).length, 5);
          assert.is((await etcdctl(server.endpoint, ['put', 'k6', 'v6'])).code, 0);
          assert.ok(existsSync(join(dataDir, 'wal.before-raft')), 'the old log is kept aside');
          await server.restart();
          const again = await etcdctl(server.endpoint, ['get', 'k', '--prefix', '--keys-only']);
          assert.is(again.stdout.split('\n').filter((l) => l !== '').length, 6, again.stdout);
        })(),
        testTimeoutMs,
        name,
      );
    } finally {
      await server.stop();
      removeAllTempDirs();
    }
  });
}

test.run();
