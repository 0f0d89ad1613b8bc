// The single-member revision log: fail-stop covers trimming too, not only appends.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PutRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { LocalLog, defaultLocalLogOptions } from '../../src/log/local-log.js';
import { openSegmentedWal } from '../../src/log/segmented-wal.js';
import { LogEntryDecodeError, type LogEntry } from '../../src/log/command.js';
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

/** Every entry the follower hands out until the log closes, as index:requestId. */
async function followAll(log: LocalLog, fromIndex: number, onBatch: (b: readonly LogEntry[]) => Promise<void> = async () => undefined): Promise<string[]> {
  const seen: string[] = [];
  for await (const batch of log.follow(fromIndex)) {
    seen.push(...batch.map((e) => `${e.index}:${e.requestId}`));
    await onBatch(batch);
  }
  return seen;
}

it('follow reads back what was committed, then what commits meanwhile, each entry once and in order', async (ctx) => {
  const log = await LocalLog.open(ctx.dir, { ...defaultLocalLogOptions, fsync: false, follow: { maxBufferedEntries: 8, readChunkEntries: 4 } });
  ctx.logs.push(log);
  for (let i = 1; i <= 10; i++) await log.propose(BigInt(i), putCommand(i));
  let proposed = 10;
  const followed = followAll(log, 3, async () => {
    // While the follower is busy with each batch, more proposals commit: some overflow its buffer.
    const more = [];
    for (let k = 0; k < 5 && proposed < 40; k++) {
      proposed++;
      more.push(log.propose(BigInt(proposed), putCommand(proposed)));
    }
    await Promise.all(more);
  });
  await until(() => log.committedIndex === 40, 'the proposals to commit');
  assert.is(await log.readIndex(), 40, "a single member's read index is its last committed entry");
  await log.close();
  assert.equal(await followed, Array.from({ length: 37 }, (_, i) => `${i + 4}:${i + 4}`));
});

it('a WAL written in the previous entry format replays, and new entries follow in the current one', async (ctx) => {
  const wal = await openSegmentedWal(ctx.dir, { maxSegmentBytes: defaultLocalLogOptions.maxSegmentBytes, fs: nodeFileSystem });
  const v1 = (i: number): Buffer => {
    const body = PutRequest.encode(putCommand(i).req).finish();
    const out = Buffer.alloc(17 + body.length);
    out[0] = 1; // put
    out.writeDoubleBE(1, 1);
    out.writeDoubleBE(i, 9);
    out.set(body, 17);
    return out;
  };
  await wal.append([1, 2, 3].map((i) => ({ index: i, bytes: v1(i) })), true);
  await wal.close();
  const log = await LocalLog.open(ctx.dir, { ...defaultLocalLogOptions, fsync: false });
  ctx.logs.push(log);
  await log.propose(0xffff_0000_0000_0001n, putCommand(4));
  const followed = followAll(log, 0);
  await log.close();
  assert.equal(await followed, ['1:1', '2:2', '3:3', `4:${0xffff_0000_0000_0001n}`]);
});

it('an entry of an unknown type in the WAL stops the follower with LogEntryDecodeError', async (ctx) => {
  const wal = await openSegmentedWal(ctx.dir, { maxSegmentBytes: defaultLocalLogOptions.maxSegmentBytes, fs: nodeFileSystem });
  const unknown = Buffer.alloc(1 + 8 + 1 + 8);
  unknown[0] = 0x82;
  unknown[9] = 250;
  await wal.append([{ index: 1, bytes: unknown }], true);
  await wal.close();
  const log = await LocalLog.open(ctx.dir, { ...defaultLocalLogOptions, fsync: false });
  ctx.logs.push(log);
  try {
    await followAll(log, 0);
    assert.unreachable('the unknown entry was handed out');
  } catch (e) {
    assert.instance(e, LogEntryDecodeError);
    assert.is((e as LogEntryDecodeError).reason, 'unknownType');
  }
});

test.run();
