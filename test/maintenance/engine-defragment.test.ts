// Engine.defragment on both engines: space of overwritten and deleted data goes back to the file
// system, the contents stay (also across a reopen), and writes made while it runs are all kept.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as assert from 'uvu/assert';
import type { Engine, EngineName, EnginePair, OpenEngine } from '../../src/engines/engine.js';
import { openMemoryEngine } from '../../src/engines/memory-engine.js';
import { openRocksdbEngine } from '../../src/engines/rocksdb-engine.js';
import { b, collect, del, delRange, engineTestSuite, put, type EngineTestContext } from '../engines/engine-suite.js';

const keyCount = 200;
const valueBytes = 2000;
const rounds = 10;

async function churn(engine: Engine): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    const ops = Array.from({ length: keyCount }, (_, i) => put(`k${String(i).padStart(4, '0')}`, randomBytes(valueBytes)));
    await engine.write(ops, { sync: false });
  }
  await engine.write([delRange('k0100', 'k0200')], { sync: true });
}

function defragmentSuite(name: EngineName, open: OpenEngine): void {
  const { test, it } = engineTestSuite(`engine defragment: ${name}`, `defrag-${name}`);
  const openIn = async (ctx: EngineTestContext): Promise<Engine> => {
    const engine = await open(ctx.dir);
    ctx.engines.push(engine);
    return engine;
  };

  it('defragment gives back the space of overwritten and deleted data and keeps the contents, also after a reopen', async (ctx) => {
    const engine = await openIn(ctx);
    await churn(engine);
    const contents = await collect(engine);
    const before = await engine.sizeBytes();
    await engine.defragment!();
    const after = await engine.sizeBytes();
    assert.ok(after < before / 3, `size ${before} → ${after}`);
    assert.equal(await collect(engine), contents);
    const inUse = await engine.sizeInUseBytes!();
    assert.ok(inUse >= 100 * valueBytes * 0.9 && inUse <= after * 1.5, `in use ${inUse}, on disk ${after}`);
    await engine.close();
    const reopened = await openIn(ctx);
    assert.equal(await collect(reopened), contents);
  });

  it('writes made while defragment runs are all kept, in order, including deletes and delRanges', async (ctx) => {
    const engine = await openIn(ctx);
    await churn(engine);
    const running = engine.defragment!();
    const during: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) {
      during.push(engine.write([put(`new${String(i).padStart(3, '0')}`, `v${i}`)], { sync: false }));
      if (i % 10 === 5) during.push(engine.write([del(`k${String(i).padStart(4, '0')}`)], { sync: false }));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    during.push(engine.write([delRange('new010', 'new020'), put('new015', 'again')], { sync: true }));
    await Promise.all([running, ...during]);
    const expectKeys = (rows: Array<[string, string]>): void => {
      const keys = new Set(rows.map(([k]) => k));
      for (let i = 0; i < 50; i++) {
        const k = `new${String(i).padStart(3, '0')}`;
        assert.is(keys.has(k), i < 10 || i >= 20 || i === 15, k);
      }
      for (const i of [5, 15, 25, 35, 45]) assert.not.ok(keys.has(`k${String(i).padStart(4, '0')}`));
      assert.ok(keys.has('k0006'));
      assert.not.ok(keys.has('k0150'));
    };
    const rows = await collect(engine);
    expectKeys(rows);
    assert.is((await engine.get(b('new015')))?.toString(), 'again');
    await engine.close();
    const reopened = await openIn(ctx);
    assert.equal(await collect(reopened), rows);
  });

  test.run();
}

defragmentSuite('memory', (dir) => openMemoryEngine(dir));
defragmentSuite('rocksdb', (dir) => openRocksdbEngine(dir));

// The rocksdb defragment swaps databases: what runs around the swap must not break.
{
  const { test, it } = engineTestSuite('engine defragment: rocksdb around the swap', 'defrag-swap');

  it('an iteration open when defragment swaps reads to its end; the swap waits for it', async (ctx) => {
    const engine = await openRocksdbEngine(ctx.dir);
    ctx.engines.push(engine);
    await churn(engine);
    const expected = await collect(engine);
    const reading = engine.iterateBatches({})[Symbol.asyncIterator]();
    const first = await reading.next();
    assert.not.ok(first.done);
    let defragmented = false;
    const running = engine.defragment!().then(() => (defragmented = true));
    for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    let count = first.done === true ? 0 : first.value.length;
    for (;;) {
      const r = await reading.next();
      if (r.done === true) break;
      count += r.value.length;
    }
    assert.is(count, expected.length);
    await running;
    assert.ok(defragmented);
    assert.equal(await collect(engine), expected);
  });

  it('close during a defragment waits for it to stop and clean up before it resolves', async (ctx) => {
    const engine = await openRocksdbEngine(ctx.dir);
    await churn(engine);
    const running = engine.defragment!().catch((err: unknown) => err);
    await new Promise<void>((resolve) => setImmediate(resolve));
    await engine.close();
    assert.not.ok(existsSync(`${ctx.dir}.import.tmp`), 'the copy directory is gone when close resolves');
    await running;
    const reopened = await openRocksdbEngine(ctx.dir);
    ctx.engines.push(reopened);
    assert.is((await collect(reopened)).length, 100);
  });

  it('sizeBytes answers throughout a defragment (no ENOENT while the directories swap)', async (ctx) => {
    const engine = await openRocksdbEngine(ctx.dir);
    ctx.engines.push(engine);
    await churn(engine);
    let done = false;
    const running = engine.defragment!().finally(() => (done = true));
    const failures: unknown[] = [];
    while (!done) {
      await engine.sizeBytes().catch((err: unknown) => failures.push(err));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await running;
    assert.equal(failures, []);
  });

  it('a defragment gives up, keeping every write, once the writes made meanwhile pass maxDefragTailBytes', async (ctx) => {
    const engine = await openRocksdbEngine(ctx.dir, { maxDefragTailBytes: 16 * 1024 });
    ctx.engines.push(engine);
    await churn(engine);
    let settled = false;
    const running = engine.defragment!().then(
      () => undefined,
      (err: unknown) => err,
    );
    void running.finally(() => (settled = true));
    // Writes go on for as long as the defragment runs, so they fall inside it whatever its pace.
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 5000 && !settled; i++) {
      writes.push(engine.write([put(`w${String(i).padStart(4, '0')}`, randomBytes(4096))], { sync: false }));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await Promise.all(writes);
    const err = await running;
    assert.ok(err instanceof Error && /bytes written meanwhile/.test(err.message), String(err));
    assert.is((await collect(engine, { gte: b('w'), lt: b('x') })).length, writes.length);
  });

  it('a batch iteration left after its first batch, or ended by its consumer throwing, does not hold a later defragment back', async (ctx) => {
    const engine = await openRocksdbEngine(ctx.dir, { defragReadersWaitMs: 500 });
    ctx.engines.push(engine);
    await engine.write(
      Array.from({ length: 2500 }, (_, i) => put(`m${String(i).padStart(5, '0')}`, 'x')),
      { sync: true },
    );
    for await (const batch of engine.iterateBatches({})) {
      assert.ok(batch.length > 0);
      break;
    }
    await (async () => {
      for await (const _ of engine.iterateBatches({})) throw new Error('consumer failed');
    })().catch(() => undefined);
    await engine.defragment!();
    assert.is((await collect(engine)).length, 2500);
  });

  it('an iteration asked for while a swap waits for running reads waits for the swap, then reads the new database', async (ctx) => {
    const engine = await openRocksdbEngine(ctx.dir);
    ctx.engines.push(engine);
    await churn(engine);
    const expected = await collect(engine);
    const holding = engine.iterateBatches({ limit: 1 })[Symbol.asyncIterator]();
    assert.not.ok((await holding.next()).done);
    let defragmented = false;
    const running = engine.defragment!().then(() => (defragmented = true));
    // The swap holds new iterations once the copy is made: until then a probe reads at once. A probe
    // not settled after unsettledMs is taken as held (an ungated read of this store takes far less,
    // even on a loaded machine).
    const unsettledMs = 1000;
    let probe: AsyncIterator<readonly EnginePair[]> | undefined;
    let probeFirst: Promise<IteratorResult<readonly EnginePair[]>> | undefined;
    const deadline = Date.now() + 10_000;
    while (probe === undefined && Date.now() < deadline) {
      const candidate = engine.iterateBatches({})[Symbol.asyncIterator]();
      const first = candidate.next();
      const settled = await Promise.race([first.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), unsettledMs))]);
      if (settled) await candidate.return?.();
      else [probe, probeFirst] = [candidate, first];
    }
    assert.ok(probe !== undefined && probeFirst !== undefined, 'the swap never held new iterations');
    assert.not.ok(defragmented);
    let released = false;
    const probed = probeFirst.then((first) => ({ first, released }));
    // The held read ends: the swap goes on, then the waiting iteration starts on the new database.
    assert.ok((await holding.next()).done);
    released = true;
    await running;
    const { first, released: afterRelease } = await probed;
    assert.ok(afterRelease, 'the waiting iteration read before the held one ended');
    const seen = first.done === true ? [] : [...first.value];
    for (;;) {
      const r = await probe.next();
      if (r.done === true) break;
      seen.push(...r.value);
    }
    assert.equal(
      seen.map(([k, v]) => [k.toString('latin1'), v.toString('latin1')]),
      expected,
    );
  });

  it('an iteration made and closed without being read does not hold a later defragment back', async (ctx) => {
    const engine = await openRocksdbEngine(ctx.dir, { defragReadersWaitMs: 500 });
    ctx.engines.push(engine);
    await churn(engine);
    // As a snapshot export that fails before its first read: made, asked for, closed unread.
    const unread = engine.iterateBatches({})[Symbol.asyncIterator]();
    await unread.return?.();
    await engine.defragment!();
    assert.is((await collect(engine, { gte: b('k'), lt: b('l') })).length, 100);
  });

  test.run();
}
