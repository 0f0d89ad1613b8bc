// The single-member revision log: fail-stop covers trimming too, not only appends.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PutRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { LocalLog, defaultLocalLogOptions } from '../../src/log/local-log.js';
import { nodeFileSystem, type FileSystem } from '../../src/storage/file-system.js';
import { withTimeout } from '../engines/engine-suite.js';

const testTimeoutMs = 15_000;

interface Context {
  dir: string;
  logs: LocalLog[];
}

const test = suite<Context>('log: local revision log', { dir: '', logs: [] });
test.before.each(async (ctx) => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'lattice-local-log-'));
  ctx.logs = [];
});
test.after.each(async (ctx) => {
  for (const log of ctx.logs) await log.close().catch(() => undefined);
  await rm(ctx.dir, { recursive: true, force: true });
});
const it = (name: string, fn: (ctx: Context) => Promise<void>): void => test(name, withTimeout(testTimeoutMs, fn));

const putCommand = (i: number) => ({ type: 'put' as const, req: PutRequest.create({ key: Buffer.from(`k${i}`), value: Buffer.alloc(100, 0x61) }) });

async function until(check: () => boolean, what: string, deadlineMs = 5000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > deadline) assert.unreachable(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

for (const [what, failing] of [
  ['a failed segment removal', 'remove'],
  ['a failed directory fsync', 'fsyncDir'],
] as const) {
  it(`${what} while trimming stops the log: it is reported once and every later proposal fails with it`, async (ctx) => {
    let armed = false;
    const eio = (): Error => Object.assign(new Error(`EIO: i/o error, ${failing}`), { code: 'EIO' });
    const fs: FileSystem = {
      ...nodeFileSystem,
      remove: async (p) => (armed && failing === 'remove' ? Promise.reject(eio()) : nodeFileSystem.remove(p)),
      fsyncDir: async (d) => (armed && failing === 'fsyncDir' ? Promise.reject(eio()) : nodeFileSystem.fsyncDir(d)),
    };
    const log = await LocalLog.open(ctx.dir, { ...defaultLocalLogOptions, maxSegmentBytes: 512, retainEntries: 0, fs });
    ctx.logs.push(log);
    const failures: string[] = [];
    log.onFailure((e) => failures.push(e.message));
    for (let i = 1; i <= 20; i++) await log.propose(BigInt(i), putCommand(i));
    armed = true;
    log.persistedUpTo(20);
    await until(() => log.failure !== undefined, 'the log to stop');
    assert.equal(failures, [`EIO: i/o error, ${failing}`]);
    armed = false; // the disk is fine again, but what the page cache says of the directory is not to be trusted
    log.persistedUpTo(20);
    await log.propose(21n, putCommand(21)).then(
      () => assert.unreachable('a proposal after the failed trim was accepted'),
      (e: unknown) => assert.match(String(e), /EIO/),
    );
    assert.is(failures.length, 1, 'reported once');
  });
}

test.run();
