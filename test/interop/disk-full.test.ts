// A full disk, as a user meets it: the data dir on a small tmpfs, 80 KB puts until it fills. The
// failing put gets etcd's NOSPACE answer, the member stops taking writes, /health is false, Status
// lists the NOSPACE alarm, the log says so once, and every acknowledged put is there after the data
// dir moves to a bigger disk. Needs root to mount a tmpfs; otherwise every test is a skip.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openRocksdbEngine } from '../../src/engines/rocksdb-engine.js';
import { skip } from '../helpers/tools.js';
import { engines } from '../helpers/lattice-server.js';
import { repoPath, repoRoot } from '../helpers/paths.js';
import { allocateAddress, etcdFlags, launchRestartable, type RestartableServer } from '../helpers/server-flags.js';
import { serverSuite } from '../helpers/spec.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';

/** Size of the tmpfs the data dir lives on. */
const smallDiskBytes = 24 * 1024 * 1024;
const valueBytes = 80 * 1024;
/** More puts than the small disk can hold. */
const maxPuts = Math.ceil((2 * smallDiskBytes) / valueBytes);
const diskFullTestTimeoutMs = 120_000;

function mountSmallDisk(dir: string, bytes = smallDiskBytes): string | null {
  if (process.getuid?.() !== 0) return 'mounting a small tmpfs needs root';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `mount -t tmpfs is not permitted here (${String(err).split('\n')[0]})`;
  }
}

interface Fixture {
  root: string;
  mount: string;
  server: RestartableServer;
  stop(): Promise<void>;
}

async function startOnSmallDisk(engine: string, mount: string, root: string): Promise<Fixture> {
  const address = await allocateAddress('full', join(mount, 'data'));
  const launch = (dataDir: string) =>
    launchRestartable(
      { label: `lattice --engine ${engine}`, command: process.execPath, args: [repoPath('bin', 'lattice.js'), ...etcdFlags({ ...address, dataDir }), '--engine', engine], cwd: repoRoot, logFile: join(root, 'lattice.log') },
      { ...address, dataDir },
      () => undefined,
    );
  const release = (): void => {
    try {
      execFileSync('umount', [mount], { stdio: 'pipe' });
      rmdirSync(mount);
    } catch {
      // left for removeTempDir's report
    }
    removeTempDir(root);
  };
  let server: RestartableServer;
  try {
    server = await launch(address.dataDir);
  } catch (err) {
    release();
    throw err;
  }
  return {
    root,
    mount,
    server,
    stop: async () => {
      await server.stop().catch(() => undefined);
      release();
    },
  };
}

for (const engine of engines) {
  const root = makeTempDir(`disk-full-${engine}`);
  const mount = join(root, 'small-disk');
  mkdirSync(mount);
  const skipReason = mountSmallDisk(mount);
  if (skipReason !== null) removeTempDir(root);
  const s = serverSuite(`disk full (${engine})`, () => startOnSmallDisk(engine, mount, root), skipReason);

  s.it(
    'filling the disk answers NOSPACE, stops writes, fails /health, lists the alarm in Status, logs it once, and loses no acknowledged put',
    async (f) => {
      const client = new Etcd3({ hosts: f.server.endpoint });
      const acked: string[] = [];
      let failure: Error | undefined;
      try {
        for (let i = 0; i < maxPuts && failure === undefined; i++) {
          const key = `big/${String(i).padStart(4, '0')}`;
          try {
            await client.put(key).value(Buffer.alloc(valueBytes, i % 251));
            acked.push(key);
          } catch (err) {
            failure = err as Error;
          }
        }
        assert.ok(failure !== undefined, `${acked.length} puts of ${valueBytes} bytes fit on a ${smallDiskBytes}-byte disk`);
        assert.match(failure.message, /database space exceeded/);
        // A fresh client: the npm client's circuit breaker would refuse on its own after the failure.
        const second = new Etcd3({ hosts: f.server.endpoint });
        const again = await second.put('small').value('x').then(() => 'ok', (e: Error) => e.message);
        second.close();
        assert.match(again, /database space exceeded/, `later writes are refused too, even small ones (got: ${again}; first: ${failure.message})`);

        const health = await fetch(`${f.server.endpoint}/health`);
        assert.is(health.status, 503);
        assert.equal(await health.json(), { health: 'false' });
        const probe = new Etcd3({ hosts: f.server.endpoint });
        const status = await probe.maintenance.status().finally(() => probe.close());
        assert.ok(status.errors.some((e) => /alarm:NOSPACE/.test(e)), `Status errors: ${JSON.stringify(status.errors)}`);
        const logged = f.server.process.output().split('\n').filter((l) => l.includes('alarm raised: NOSPACE'));
        assert.is(logged.length, 1, 'the alarm is logged once');
      } finally {
        client.close();
      }

      // Moved to a bigger disk, the member starts and has every acknowledged put.
      await f.server.kill9();
      const bigger = join(f.root, 'bigger-data');
      cpSync(join(f.mount, 'data'), bigger, { recursive: true });
      const address = await allocateAddress('full', bigger);
      const moved = await launchRestartable(
        { label: `lattice --engine ${engine} (moved)`, command: process.execPath, args: [repoPath('bin', 'lattice.js'), ...etcdFlags(address), '--engine', engine], cwd: repoRoot, logFile: join(f.root, 'moved.log') },
        address,
        () => undefined,
      );
      const after = new Etcd3({ hosts: moved.endpoint });
      try {
        const stored = await after.getAll().prefix('big/').keys();
        const present = new Set(stored);
        const lost = acked.filter((k) => !present.has(k));
        assert.equal(lost, [], `${lost.length} of ${acked.length} acknowledged puts lost`);
        await after.put('after-move').value('ok');
      } finally {
        after.close();
        await moved.stop();
      }
    },
    diskFullTestTimeoutMs,
  );
  s.run();
}

// RocksDB reports a full disk only in its error text; the engine gives it the ENOSPC code that the
// store turns into the NOSPACE alarm. Random values, so that RocksDB cannot compress them away.
{
  const root = makeTempDir('disk-full-rocksdb-engine');
  const mount = join(root, 'small-disk');
  mkdirSync(mount);
  const skipReason = mountSmallDisk(mount, 2 * 1024 * 1024);
  const engineSuite = suite('disk full: rocksdb engine');
  if (skipReason !== null) {
    removeTempDir(root);
    skip(`disk full: rocksdb engine: ${skipReason}`);
    engineSuite.skip('a write that finds the disk full fails with ENOSPC', () => undefined);
  } else {
    engineSuite('a write that finds the disk full fails with ENOSPC', async () => {
      let failure: unknown;
      let engine: Awaited<ReturnType<typeof openRocksdbEngine>> | undefined;
      try {
        const opened = await openRocksdbEngine(join(mount, 'db'));
        engine = opened;
        for (let i = 0; i < 100 && failure === undefined; i++) {
          await opened.write([{ type: 'put', key: Buffer.from(`k${i}`), value: randomBytes(100_000) }], { sync: true }).catch((err: unknown) => (failure = err));
        }
      } finally {
        await engine?.close().catch(() => undefined);
        execFileSync('umount', [mount], { stdio: 'pipe' });
        removeTempDir(root);
      }
      assert.ok(failure instanceof Error, 'the 2 MiB disk filled up');
      assert.is((failure as NodeJS.ErrnoException).code, 'ENOSPC');
      assert.match((failure as Error).message, /No space left on device/);
    });
  }
  engineSuite.run();
}
