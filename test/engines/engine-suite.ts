// The one suite every Engine must pass. Run it with a factory: engineSuite('memory', openMemoryEngine).

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Engine, EngineName, EnginePair, IterateOptions, OpenEngine, WriteOp } from '../../src/engines/engine.js';
import { maxIterateBatchBytes, maxIterateBatchPairs } from '../../src/engines/engine.js';
import { defaultStateChunkBytes, StateStreamError } from '../../src/engines/state-stream.js';

/** uvu has no per-test timeout; a hung engine call fails its test instead of the whole run. */
export const testTimeoutMs = 15_000;

export interface EngineTestContext {
  dir: string;
  engines: Engine[];
}

export const b = (text: string): Buffer => Buffer.from(text, 'latin1');
export const put = (key: string | Buffer, value: string | Buffer): WriteOp => ({
  type: 'put',
  key: typeof key === 'string' ? b(key) : key,
  value: typeof value === 'string' ? b(value) : value,
});
export const del = (key: string): WriteOp => ({ type: 'del', key: b(key) });
export const delRange = (gte: string, lt: string): WriteOp => ({ type: 'delRange', gte: b(gte), lt: b(lt) });

/** An iteration's pairs one at a time, for assertions that read pairs (the engine hands out batches). */
export async function* pairsOf(engine: Engine, options: IterateOptions = {}): AsyncGenerator<EnginePair> {
  for await (const batch of engine.iterateBatches(options)) yield* batch;
}

/** Entries as [key, value] latin1 strings, which compare and print well in assertions. */
export async function collect(engine: Engine, options: IterateOptions = {}): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for await (const [key, value] of pairsOf(engine, options)) out.push([key.toString('latin1'), value.toString('latin1')]);
  return out;
}

export async function getText(engine: Engine, key: string): Promise<string | undefined> {
  return (await engine.get(b(key)))?.toString('latin1');
}

export const crashKey = (i: number): string => `crash-${String(i).padStart(6, '0')}`;

/**
 * Runs a child process that opens the engine in dir, writes `keys` keys (crashKey(i) = `v${i}`) in
 * synced batches of `batch`, then kills itself with SIGKILL: a crash with nothing closed or flushed.
 */
export async function crashAfterSyncedWrites(
  name: EngineName,
  dir: string,
  options: { readonly keys: number; readonly batch: number; readonly maxWalBytes?: number },
): Promise<void> {
  const child = `
    const [openEngineUrl, memoryEngineUrl, name, dir, keys, batch, maxWalBytes] = process.argv.slice(1);
    const engine = name === 'memory' && maxWalBytes !== '0'
      ? await (await import(memoryEngineUrl)).openMemoryEngine(dir, { maxWalBytes: Number(maxWalBytes) })
      : await (await import(openEngineUrl)).openEngine(name, dir);
    const key = (i) => 'crash-' + String(i).padStart(6, '0');
    for (let i = 0; i < Number(keys); i += Number(batch)) {
      const ops = [];
      for (let j = i; j < Math.min(i + Number(batch), Number(keys)); j++) {
        ops.push({ type: 'put', key: Buffer.from(key(j)), value: Buffer.from('v' + j) });
      }
      await engine.write(ops, { sync: true });
    }
    process.stdout.write('written\\n');
    process.kill(process.pid, 'SIGKILL');
  `;
  const args = [
    new URL('../../src/engines/open-engine.js', import.meta.url).href,
    new URL('../../src/engines/memory-engine.js', import.meta.url).href,
    name,
    dir,
    String(options.keys),
    String(options.batch),
    String(options.maxWalBytes ?? 0),
  ];
  const proc = spawn(process.execPath, ['--input-type=module', '-e', child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const signal = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('exit', (_code, sig) => resolve(sig));
  });
  assert.is(stdout.trim(), 'written', `child did not finish its writes: ${stderr}`);
  assert.is(signal, 'SIGKILL');
}

export function withTimeout<T>(ms: number, fn: (ctx: T) => Promise<void>): (ctx: T) => Promise<void> {
  return async (ctx) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`test timed out after ${ms} ms`)), ms);
    });
    try {
      await Promise.race([fn(ctx), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** Gives each test its own temp dir and closes every engine it opened, even when the test fails. */
export function engineTestSuite(title: string, prefix: string) {
  const test = suite<EngineTestContext>(title, { dir: '', engines: [] });
  test.before.each(async (ctx) => {
    ctx.dir = await mkdtemp(join(tmpdir(), `lattice-${prefix}-`));
    ctx.engines = [];
  });
  test.after.each(async (ctx) => {
    for (const engine of ctx.engines) await engine.close().catch(() => undefined);
    await rm(ctx.dir, { recursive: true, force: true });
  });
  const it = (name: string, fn: (ctx: EngineTestContext) => Promise<void>): void =>
    test(name, withTimeout(testTimeoutMs, fn));
  return { test, it };
}

export function engineSuite(name: EngineName, open: OpenEngine): void {
  const { test, it } = engineTestSuite(`engine: ${name}`, name);
  const openIn = async (ctx: EngineTestContext, dir = ctx.dir): Promise<Engine> => {
    const engine = await open(dir);
    ctx.engines.push(engine);
    return engine;
  };

  it('get of a key never written resolves undefined', async (ctx) => {
    const engine = await openIn(ctx);
    assert.is(await engine.get(b('missing')), undefined);
    assert.is(engine.name, name);
  });

  it('put then get returns the value; del removes it; put again overwrites', async (ctx) => {
    const engine = await openIn(ctx);
    await engine.write([put('k', 'v1')], { sync: false });
    assert.is(await getText(engine, 'k'), 'v1');
    await engine.write([del('k')], { sync: true });
    assert.is(await engine.get(b('k')), undefined);
    await engine.write([put('k', 'v2')], { sync: false });
    await engine.write([put('k', 'v3')], { sync: false });
    assert.is(await getText(engine, 'k'), 'v3');
  });

  it('del of a missing key is a no-op', async (ctx) => {
    const engine = await openIn(ctx);
    await engine.write([del('nothing')], { sync: true });
    assert.equal(await collect(engine), []);
  });

  it('a batch applies its ops in order: delRange removes keys put earlier in the batch, not later ones', async (ctx) => {
    const engine = await openIn(ctx);
    await engine.write([put('a', 'a'), put('b', 'b'), put('c', 'c'), put('d', 'd')], { sync: true });
    await engine.write(
      [put('bb', 'bb'), delRange('b', 'd'), put('c', 'new'), del('a'), put('e', 'e'), del('e')],
      { sync: true },
    );
    assert.equal(await collect(engine), [
      ['c', 'new'],
      ['d', 'd'],
    ]);
  });

  it('delRange deletes [gte, lt): gte inclusive, lt exclusive; an empty or inverted range deletes nothing', async (ctx) => {
    const engine = await openIn(ctx);
    await engine.write(['a', 'b', 'c', 'd'].map((k) => put(k, k)), { sync: false });
    await engine.write([delRange('c', 'b'), delRange('c', 'c')], { sync: false });
    assert.is((await collect(engine)).length, 4);
    await engine.write([delRange('b', 'd')], { sync: false });
    assert.equal(
      (await collect(engine)).map(([k]) => k),
      ['a', 'd'],
    );
  });

  it('an iteration started before a batch sees none of it; one started after sees all of it', async (ctx) => {
    const engine = await openIn(ctx);
    await engine.write([put('x', '1'), put('y', '1')], { sync: false });
    const before = engine.iterateBatches({});
    await engine.write([put('x', '2'), del('y'), put('z', '2')], { sync: false });
    const after = engine.iterateBatches({});
    const seen = async (it: AsyncIterable<readonly EnginePair[]>) => {
      const out: string[] = [];
      for await (const batch of it) for (const [k, v] of batch) out.push(`${k.toString()}=${v.toString()}`);
      return out;
    };
    assert.equal(await seen(before), ['x=1', 'y=1']);
    assert.equal(await seen(after), ['x=2', 'z=2']);
  });

  it('keys sort bytewise, including keys with 0x00 and 0xff bytes', async (ctx) => {
    const engine = await openIn(ctx);
    const keys = [
      [0xff, 0xff],
      [0x00],
      [0x61],
      [0xff],
      [0x00, 0x00],
      [0x7f],
      [0x80],
      [0xff, 0x00],
      [0x01],
      [0xc3, 0xa9],
      [0x00, 0xff],
    ].map((bytes) => Buffer.from(bytes));
    await engine.write(
      keys.map((key, i) => put(key, String(i))),
      { sync: false },
    );
    const expected = [...keys].sort(Buffer.compare).map((k) => k.toString('hex'));
    const forward: string[] = [];
    for await (const [key] of pairsOf(engine, {})) forward.push(key.toString('hex'));
    assert.equal(forward, expected);
    const backward: string[] = [];
    for await (const [key] of pairsOf(engine, { reverse: true })) backward.push(key.toString('hex'));
    assert.equal(backward, [...expected].reverse());
    const ff = await engine.get(Buffer.from([0xff]));
    assert.is(ff?.toString(), String(keys.findIndex((k) => k.equals(Buffer.from([0xff])))));
    const from00ff: string[] = [];
    for await (const [key] of pairsOf(engine, { gte: Buffer.from([0x00, 0xff]), lt: Buffer.from([0xff]) })) {
      from00ff.push(key.toString('hex'));
    }
    assert.equal(from00ff, ['00ff', '01', '61', '7f', '80', 'c3a9']);
  });

  it('iterateBatches honours gte (inclusive), lt (exclusive), reverse and limit', async (ctx) => {
    const engine = await openIn(ctx);
    await engine.write(['a', 'b', 'c', 'd', 'e', 'f'].map((k) => put(k, k.toUpperCase())), { sync: false });
    const keys = async (options: IterateOptions) => (await collect(engine, options)).map(([k]) => k).join('');
    assert.is(await keys({}), 'abcdef');
    assert.is(await keys({ gte: b('b') }), 'bcdef');
    assert.is(await keys({ gte: b('bb') }), 'cdef');
    assert.is(await keys({ lt: b('d') }), 'abc');
    assert.is(await keys({ gte: b('b'), lt: b('e') }), 'bcd');
    assert.is(await keys({ reverse: true }), 'fedcba');
    assert.is(await keys({ gte: b('b'), lt: b('e'), reverse: true }), 'dcb');
    assert.is(await keys({ lt: b('cc'), reverse: true }), 'cba');
    assert.is(await keys({ limit: 2 }), 'ab');
    assert.is(await keys({ reverse: true, limit: 2 }), 'fe');
    assert.is(await keys({ gte: b('b'), lt: b('f'), reverse: true, limit: 3 }), 'edc');
    assert.is(await keys({ limit: 100 }), 'abcdef');
    assert.is(await keys({ limit: 0 }), '');
    assert.is(await keys({ gte: b('d'), lt: b('d') }), '');
    assert.is(await keys({ gte: b('e'), lt: b('b') }), '');
    assert.is(await keys({ gte: b('x') }), '');
    assert.equal(await collect(engine, { gte: b('c'), limit: 1 }), [['c', 'C']]);
  });

  it(`iterateBatches hands out non-empty batches of at most ${maxIterateBatchPairs} pairs, each ended once it reaches ${maxIterateBatchBytes} bytes, in order both ways, with limit across batches`, async (ctx) => {
    const engine = await openIn(ctx);
    const count = 2500;
    const key = (i: number) => `k${String(i).padStart(5, '0')}`;
    const big = new Set([10, 11, 12, 2000]);
    const value = (i: number): Buffer => (big.has(i) ? Buffer.alloc(1536 * 1024, i % 251) : b(`v${i}`));
    await engine.write(
      Array.from({ length: count }, (_, i) => put(key(i), value(i))),
      { sync: false },
    );
    const batchesOf = async (options: IterateOptions): Promise<(readonly EnginePair[])[]> => {
      const out: (readonly EnginePair[])[] = [];
      for await (const batch of engine.iterateBatches(options)) out.push(batch);
      return out;
    };
    const checkBounds = (batches: readonly (readonly EnginePair[])[]): void => {
      for (const batch of batches) {
        assert.ok(batch.length > 0 && batch.length <= maxIterateBatchPairs, `a batch of ${batch.length} pairs`);
        const bytes = batch.slice(0, -1).reduce((sum, [k, v]) => sum + k.length + v.length, 0);
        assert.ok(bytes < maxIterateBatchBytes, `a batch went on past ${bytes} bytes`);
      }
    };
    const forward = await batchesOf({});
    checkBounds(forward);
    assert.ok(forward.length >= 3, `${forward.length} batches`);
    const keys = forward.flat().map(([k]) => k.toString());
    assert.equal(keys, Array.from({ length: count }, (_, i) => key(i)));
    assert.ok(forward.flat().every(([k, v], i) => k.toString() === key(i) && v.equals(value(i))));
    const backward = await batchesOf({ reverse: true });
    checkBounds(backward);
    assert.equal(
      backward.flat().map(([k]) => k.toString()),
      [...keys].reverse(),
    );
    const limited = (await batchesOf({ gte: b(key(5)), limit: 1500 })).flat().map(([k]) => k.toString());
    assert.equal(limited, keys.slice(5, 1505));
    const limitedBack = (await batchesOf({ lt: b(key(2400)), reverse: true, limit: 1200 })).flat().map(([k]) => k.toString());
    assert.equal(limitedBack, keys.slice(1200, 2400).reverse());
  });

  // (that the RocksDB iterator is really released is seen in test/maintenance/engine-defragment.test.ts:
  // a held reader would hold the defragment's swap back)
  it('an iteration left after its first batch, failed by its consumer, or closed unread ends cleanly: writes and close go on', async (ctx) => {
    const engine = await openIn(ctx);
    await engine.write(
      Array.from({ length: 2500 }, (_, i) => put(`k${String(i).padStart(5, '0')}`, 'x')),
      { sync: false },
    );
    let batches = 0;
    for await (const batch of engine.iterateBatches({})) {
      assert.is(batch.length, maxIterateBatchPairs);
      batches++;
      break;
    }
    assert.is(batches, 1);
    const failing = (async () => {
      for await (const _ of engine.iterateBatches({})) throw new Error('consumer failed');
    })();
    assert.match(String(await failing.catch((err: unknown) => err)), /consumer failed/);
    const unread = engine.iterateBatches({})[Symbol.asyncIterator]();
    assert.equal(await unread.return?.(), { done: true, value: undefined });
    await engine.write([put('after', 'x')], { sync: true });
    assert.is(await getText(engine, 'after'), 'x');
    await engine.close();
  });

  it('iterateBatches rejects a negative or fractional limit', async (ctx) => {
    const engine = await openIn(ctx);
    assert.throws(() => engine.iterateBatches({ limit: -1 }), RangeError);
    assert.throws(() => engine.iterateBatches({ limit: 1.5 }), RangeError);
  });

  it('an iteration does not see writes made while it runs', async (ctx) => {
    const engine = await openIn(ctx);
    const count = 3000; // more than one native iterator batch
    const key = (i: number) => `k${String(i).padStart(5, '0')}`;
    await engine.write(
      Array.from({ length: count }, (_, i) => put(key(i), 'old')),
      { sync: false },
    );
    let seen = 0;
    let mutated = false;
    for await (const [k, v] of pairsOf(engine, {})) {
      assert.is(k.toString(), key(seen));
      assert.is(v.toString(), 'old');
      seen++;
      if (!mutated) {
        mutated = true;
        await engine.write(
          [delRange(key(0), key(count)), put(key(1), 'new'), put('k99999', 'new'), put(key(1500) + 'x', 'new')],
          { sync: false },
        );
      }
    }
    assert.is(seen, count);
    assert.equal(await collect(engine), [
      [key(1), 'new'],
      [key(1500) + 'x', 'new'],
      ['k99999', 'new'],
    ]);
  });

  it('breaking out of an iteration early releases it and later writes still work', async (ctx) => {
    const engine = await openIn(ctx);
    await engine.write(['a', 'b', 'c'].map((k) => put(k, k)), { sync: false });
    for await (const [k] of pairsOf(engine, {})) {
      assert.is(k.toString(), 'a');
      break;
    }
    await engine.write([put('d', 'd')], { sync: true });
    assert.is(await getText(engine, 'd'), 'd');
  });

  it('stored values are copies: reusing the write buffers or mutating returned buffers changes nothing', async (ctx) => {
    const engine = await openIn(ctx);
    const key = b('key');
    const value = b('value');
    const pending = engine.write([{ type: 'put', key, value }], { sync: false });
    key.fill(0x7a);
    value.fill(0x7a);
    await pending;
    const got = await engine.get(b('key'));
    assert.is(got?.toString(), 'value');
    got?.fill(0x7a);
    assert.is(await getText(engine, 'key'), 'value');
    for await (const [k, v] of pairsOf(engine, {})) {
      k.fill(0x7a);
      v.fill(0x7a);
    }
    assert.equal(await collect(engine), [['key', 'value']]);
  });

  it('concurrent writes apply in call order', async (ctx) => {
    const engine = await openIn(ctx);
    const writes: Array<Promise<void>> = [];
    for (let i = 0; i < 200; i++) {
      const ops = i % 50 === 25 ? [delRange('k', 'l'), put('k', String(i))] : [put('k', String(i)), put(`k${i}`, 'x')];
      writes.push(engine.write(ops, { sync: i % 10 === 0 }));
    }
    await Promise.all(writes);
    assert.is(await getText(engine, 'k'), '199');
    // The delRange at i = 175 cleared every k* key; k and k176..k199 were written after it.
    assert.equal(
      (await collect(engine)).map(([k]) => k),
      ['k', ...Array.from({ length: 24 }, (_, j) => `k${176 + j}`)],
    );
  });

  it('reopening after close keeps the data', async (ctx) => {
    const first = await openIn(ctx);
    await first.write([put('a', '1'), put('b', '2')], { sync: false });
    await first.write([del('a'), put('c', '3')], { sync: true });
    await first.close();
    const second = await openIn(ctx);
    assert.equal(await collect(second), [
      ['b', '2'],
      ['c', '3'],
    ]);
    await second.write([put('d', '4')], { sync: false });
    await second.close();
    const third = await openIn(ctx);
    assert.equal((await collect(third)).map(([k]) => k), ['b', 'c', 'd']);
  });

  it('close waits for writes still in flight', async (ctx) => {
    const first = await openIn(ctx);
    const writes = Array.from({ length: 20 }, (_, i) => first.write([put(`k${i}`, 'v')], { sync: i === 19 }));
    await first.close();
    await Promise.all(writes);
    const second = await openIn(ctx);
    assert.is((await collect(second)).length, 20);
  });

  it('a crash after synced writes loses none of them', async (ctx) => {
    await crashAfterSyncedWrites(name, ctx.dir, { keys: 500, batch: 50 });
    const engine = await openIn(ctx);
    const entries = await collect(engine);
    assert.is(entries.length, 500);
    entries.forEach(([k, v], i) => {
      assert.is(k, crashKey(i));
      assert.is(v, `v${i}`);
    });
    await engine.write([put(crashKey(500), 'v500')], { sync: true });
    assert.is(await getText(engine, crashKey(500)), 'v500');
  });

  it('a batch of 100k keys round-trips, and one delRange removes them all', async (ctx) => {
    const engine = await openIn(ctx);
    const count = 100_000;
    const key = (i: number) => `big-${String(i).padStart(6, '0')}`;
    const ops: WriteOp[] = [];
    for (let i = 0; i < count; i++) ops.push(put(key(i), `value-${i}`));
    await engine.write(ops, { sync: true });
    let n = 0;
    for await (const [k, v] of pairsOf(engine, {})) {
      if (n % 9973 === 0) {
        assert.is(k.toString(), key(n));
        assert.is(v.toString(), `value-${n}`);
      }
      n++;
    }
    assert.is(n, count);
    assert.is(await getText(engine, key(count - 1)), `value-${count - 1}`);
    await engine.write([delRange('big-', 'big.'), put(key(7), 'survivor')], { sync: true });
    assert.equal(await collect(engine), [[key(7), 'survivor']]);
  });

  it('sizeBytes is positive after writes', async (ctx) => {
    const engine = await openIn(ctx);
    await engine.write(
      Array.from({ length: 100 }, (_, i) => put(`k${i}`, 'x'.repeat(100))),
      { sync: true },
    );
    const size = await engine.sizeBytes();
    assert.ok(Number.isFinite(size) && size > 0, `sizeBytes was ${size}`);
  });

  it('after close, get, write, iterate and sizeBytes reject; close again resolves', async (ctx) => {
    const engine = await openIn(ctx);
    await engine.write([put('a', '1')], { sync: false });
    await engine.close();
    await rejects(engine.get(b('a')), 'get');
    await rejects(engine.write([put('b', '2')], { sync: true }), 'write');
    await rejects(collect(engine), 'iterate');
    await rejects(engine.sizeBytes(), 'sizeBytes');
    await engine.close();
  });

  // --- Bulk load (a restore's new data dir)

  it('bulkLoad fills an empty engine from batches, keeps none of the caller\'s buffers, and the pairs survive a reopen', async (ctx) => {
    const engine = await openIn(ctx);
    const count = 30_000;
    const key = (i: number) => `bulk-${String(i).padStart(6, '0')}`;
    const given: Buffer[] = [];
    async function* batches(): AsyncGenerator<EnginePair[]> {
      for (let i = 0; i < count; i += 700) {
        const batch: EnginePair[] = [];
        for (let j = i; j < Math.min(i + 700, count); j++) {
          const value = j === 5 ? Buffer.alloc(9 * 1024 * 1024, 7) : b(`value-${j}`);
          given.push(value);
          batch.push([b(key(j)), value]);
        }
        yield batch;
      }
    }
    await engine.bulkLoad(batches());
    for (const value of given) value.fill(0x7a);
    const check = async (e: Engine): Promise<void> => {
      let n = 0;
      for await (const [k, v] of pairsOf(e)) {
        assert.is(k.toString(), key(n));
        if (n === 5) assert.ok(v.length === 9 * 1024 * 1024 && v[0] === 7 && v[v.length - 1] === 7, 'the large value');
        else assert.is(v.toString(), `value-${n}`);
        n++;
      }
      assert.is(n, count);
    };
    await check(engine);
    await engine.write([put('after', 'load')], { sync: true });
    await engine.close();
    const reopened = await openIn(ctx);
    assert.is(await getText(reopened, 'after'), 'load');
    await reopened.write([del('after')], { sync: true });
    await check(reopened);
  });

  it('bulkLoad refuses an engine that holds anything, writing nothing, and passes on a failing source', async (ctx) => {
    const engine = await openIn(ctx);
    async function* one(): AsyncGenerator<EnginePair[]> {
      yield [[b('new'), b('x')]];
    }
    await engine.write([put('old', 'y')], { sync: true });
    const refused = await engine.bulkLoad(one()).catch((err: unknown) => err);
    assert.ok(refused instanceof Error && /needs an empty engine/.test(refused.message), String(refused));
    assert.equal(await collect(engine), [['old', 'y']]);

    const empty = await openIn(ctx, join(ctx.dir, 'empty'));
    async function* failing(): AsyncGenerator<EnginePair[]> {
      yield [[b('a'), b('1')]];
      throw new Error('source failed');
    }
    const failed = await empty.bulkLoad(failing()).catch((err: unknown) => err);
    assert.ok(failed instanceof Error && failed.message === 'source failed', String(failed));
    await empty.write([put('later', 'write')], { sync: true });
    assert.is(await getText(empty, 'later'), 'write');
  });

  // --- State snapshots (exportState / importState)

  it('exportState then importState replaces a second engine with every key (50,000 keys, some of 1 MiB), in chunks of at most 1 MiB', async (ctx) => {
    const source = await openIn(ctx, join(ctx.dir, 'source'));
    const count = 50_000;
    const bigValue = (i: number): Buffer => Buffer.alloc(1024 * 1024, i % 251);
    for (let i = 0; i < count; i += 5_000) {
      const ops = Array.from({ length: 5_000 }, (_, j) => put(stateKey(i + j), i + j < 5 ? bigValue(i + j) : `value-${i + j}`));
      await source.write(ops, { sync: false });
    }
    const target = await openIn(ctx, join(ctx.dir, 'target'));
    await target.write([put('old-only', 'gone after import'), put(stateKey(7), 'old value')], { sync: true });

    const sizes: number[] = [];
    await target.importState(observed(source.exportState(), (chunk) => sizes.push(chunk.length)));
    assert.ok(sizes.length > 5, `expected many chunks, got ${sizes.length}`);
    assert.ok(Math.max(...sizes) <= defaultStateChunkBytes, `a chunk of ${Math.max(...sizes)} bytes exceeds ${defaultStateChunkBytes}`);

    const check = async (engine: Engine): Promise<void> => {
      let n = 0;
      for await (const [key, value] of pairsOf(engine, {})) {
        assert.is(key.toString('latin1'), stateKey(n));
        if (n < 5) assert.ok(value.equals(bigValue(n)), `value of ${stateKey(n)}`);
        else assert.is(value.toString('latin1'), `value-${n}`);
        n++;
      }
      assert.is(n, count);
      assert.is(await engine.get(b('old-only')), undefined);
    };
    await check(target);
    // Writes after an import go on top of it and survive a reopen with it.
    await target.write([put('after', 'import')], { sync: true });
    await target.close();
    const reopened = await openIn(ctx, join(ctx.dir, 'target'));
    assert.is(await getText(reopened, 'after'), 'import');
    await reopened.write([del('after')], { sync: true });
    await check(reopened);
  });

  it('exportState is a copy as of the call: writes made while it is read are not in it', async (ctx) => {
    const source = await openIn(ctx, join(ctx.dir, 'source'));
    await source.write([put('a', '1'), put('b', '1')], { sync: false });
    const stream = source.exportState();
    await source.write([put('a', '2'), del('b'), put('c', '2')], { sync: false });
    const target = await openIn(ctx, join(ctx.dir, 'target'));
    await target.importState(stream);
    assert.equal(await collect(target), [
      ['a', '1'],
      ['b', '1'],
    ]);
  });

  it('an empty engine exports a stream that empties the engine importing it', async (ctx) => {
    const source = await openIn(ctx, join(ctx.dir, 'source'));
    const target = await openIn(ctx, join(ctx.dir, 'target'));
    await target.write([put('x', 'y')], { sync: true });
    await target.importState(source.exportState());
    assert.equal(await collect(target), []);
  });

  for (const [damage, cut] of [
    ['cut short by its last bytes', (all: Buffer) => all.subarray(0, all.length - 7)],
    ['cut short in the middle', (all: Buffer) => all.subarray(0, Math.floor(all.length / 2))],
    ['with one byte changed in the middle', (all: Buffer) => flipByte(all, Math.floor(all.length / 2))],
    ['with bytes after its end', (all: Buffer) => Buffer.concat([all, Buffer.from([0])])],
  ] as const) {
    it(`a state stream ${damage} is refused with StateStreamError and the old state stays, also after a reopen`, async (ctx) => {
      const source = await openIn(ctx, join(ctx.dir, 'source'));
      await source.write(Array.from({ length: 2000 }, (_, i) => put(stateKey(i), `new-${i}`)), { sync: true });
      const whole = await concatChunks(source.exportState());
      const targetDir = join(ctx.dir, 'target');
      const target = await openIn(ctx, targetDir);
      await target.write([put('old', 'state'), put(stateKey(1), 'old-1')], { sync: true });
      const error = await rejection(target.importState(rechunked(cut(whole), 4096)));
      assert.instance(error, StateStreamError);
      const oldState = [
        ['old', 'state'],
        [stateKey(1), 'old-1'],
      ];
      assert.equal(await collect(target), oldState);
      await target.write([put('still', 'writable')], { sync: true });
      await target.close();
      const reopened = await openIn(ctx, targetDir);
      assert.equal(await collect(reopened), [...oldState, ['still', 'writable']]);
    });
  }

  it('a state stream whose sender fails midway is refused and the old state stays', async (ctx) => {
    const source = await openIn(ctx, join(ctx.dir, 'source'));
    await source.write(Array.from({ length: 3000 }, (_, i) => put(stateKey(i), 'x'.repeat(1000))), { sync: true });
    const target = await openIn(ctx, join(ctx.dir, 'target'));
    await target.write([put('old', 'state')], { sync: true });
    async function* failing(): AsyncGenerator<Uint8Array> {
      let n = 0;
      for await (const chunk of source.exportState()) {
        if (++n === 2) throw new Error('connection reset by the leader');
        yield chunk;
      }
    }
    const error = await rejection(target.importState(failing()));
    assert.match(error.message, /connection reset/);
    assert.equal(await collect(target), [['old', 'state']]);
  });

  it('reads and writes issued during an import wait for it and see the new state', async (ctx) => {
    const source = await openIn(ctx, join(ctx.dir, 'source'));
    await source.write(Array.from({ length: 1000 }, (_, i) => put(stateKey(i), 'new')), { sync: true });
    const target = await openIn(ctx, join(ctx.dir, 'target'));
    await target.write([put('old', 'state')], { sync: true });
    const importing = target.importState(source.exportState());
    await importing;
    await target.write([put('later', 'write')], { sync: true });
    assert.is(await target.get(b('old')), undefined);
    assert.is(await getText(target, 'later'), 'write');
    assert.is((await collect(target)).length, 1001);
  });

  it('an engine closed while an import is still receiving its stream refuses the import and keeps the old state', async (ctx) => {
    const source = await openIn(ctx, join(ctx.dir, 'source'));
    // 4 MB: several chunks, so that the stream can pause after the first.
    await source.write(Array.from({ length: 2000 }, (_, i) => put(stateKey(i), 'x'.repeat(2000))), { sync: true });
    const targetDir = join(ctx.dir, 'target');
    const target = await openIn(ctx, targetDir);
    await target.write([put('old', 'state')], { sync: true });
    let releaseRest: () => void = () => undefined;
    const rest = new Promise<void>((resolve) => (releaseRest = resolve));
    let halfSent: () => void = () => undefined;
    const half = new Promise<void>((resolve) => (halfSent = resolve));
    async function* paused(): AsyncGenerator<Uint8Array> {
      let n = 0;
      for await (const chunk of source.exportState()) {
        if (++n === 2) {
          halfSent();
          await rest;
        }
        yield chunk;
      }
    }
    const importing = target.importState(paused());
    await half;
    const closing = target.close();
    releaseRest();
    await rejection(importing);
    await closing;
    const reopened = await openIn(ctx, targetDir);
    assert.equal(await collect(reopened), [['old', 'state']]);
  });

  for (const killAfter of ['before-commit', 'after-import'] as const) {
    it(`a process killed during an import (${killAfter}) restarts with ${killAfter === 'before-commit' ? 'the old state' : 'the whole new state'}`, async (ctx) => {
      const dir = join(ctx.dir, 'target');
      const engine = await openIn(ctx, dir);
      await engine.write([put('old', 'state')], { sync: true });
      await engine.close();
      await crashDuringImport(name, dir, { keys: 20_000, killAfter });
      const reopened = await openIn(ctx, dir);
      const state = await collect(reopened);
      if (killAfter === 'before-commit') {
        assert.equal(state, [['old', 'state']]);
      } else {
        assert.is(state.length, 20_000);
        assert.equal(state[19_999], [stateKey(19_999), 'v19999']);
      }
    });
  }

  test.run();
}

async function rejects(promise: Promise<unknown>, what: string): Promise<void> {
  try {
    await promise;
  } catch {
    return;
  }
  assert.unreachable(`${what} after close should reject`);
}

const stateKey = (i: number): string => `state-${String(i).padStart(6, '0')}`;

/** Passes chunks through, telling each to see. */
async function* observed(chunks: AsyncIterable<Uint8Array>, see: (chunk: Uint8Array) => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    see(chunk);
    yield chunk;
  }
}

async function concatChunks(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

/** The bytes cut into chunks of `size` (a transport need not keep the sender's chunk bounds). */
async function* rechunked(bytes: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

function flipByte(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at] = (copy[at] ?? 0) ^ 0x20;
  return copy;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
  assert.unreachable('expected a rejection');
  throw new Error('unreachable');
}

/**
 * Runs a child process that opens the engine in dir and imports a stream of `keys` keys
 * (stateKey(i) = `v${i}`), then kills itself with SIGKILL: before-commit once the stream is half
 * sent, after-import once importState resolved.
 */
async function crashDuringImport(name: EngineName, dir: string, options: { readonly keys: number; readonly killAfter: 'before-commit' | 'after-import' }): Promise<void> {
  const child = `
    const [openEngineUrl, streamUrl, name, dir, keys, killAfter] = process.argv.slice(1);
    const engine = await (await import(openEngineUrl)).openEngine(name, dir);
    const { encodeStateStream } = await import(streamUrl);
    const key = (i) => 'state-' + String(i).padStart(6, '0');
    async function* batches() {
      for (let i = 0; i < Number(keys); i++) {
        if (killAfter === 'before-commit' && i === Math.floor(Number(keys) / 2)) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          process.stdout.write('written\\n');
          process.kill(process.pid, 'SIGKILL');
          await new Promise(() => {});
        }
        yield [[Buffer.from(key(i)), Buffer.from('v' + i)]];
      }
    }
    await engine.importState(encodeStateStream(batches(), 4096));
    process.stdout.write('written\\n');
    process.kill(process.pid, 'SIGKILL');
  `;
  const args = [
    new URL('../../src/engines/open-engine.js', import.meta.url).href,
    new URL('../../src/engines/state-stream.js', import.meta.url).href,
    name,
    dir,
    String(options.keys),
    options.killAfter,
  ];
  const proc = spawn(process.execPath, ['--input-type=module', '-e', child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const signal = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('exit', (_code, sig) => resolve(sig));
  });
  assert.is(stdout.trim(), 'written', `child did not reach its kill point: ${stderr}`);
  assert.is(signal, 'SIGKILL');
}
