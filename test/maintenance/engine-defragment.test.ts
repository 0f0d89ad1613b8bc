// Engine.defragment on both engines: space of overwritten and deleted data goes back to the file
// system, the contents stay (also across a reopen), and writes made while it runs are all kept.
import { randomBytes } from 'node:crypto';
import * as assert from 'uvu/assert';
import type { Engine, EngineName, OpenEngine } from '../../src/engines/engine.js';
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
defragmentSuite('rocksdb', openRocksdbEngine);
