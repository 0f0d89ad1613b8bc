// Maintenance.Snapshot's image builder refuses instead of hurting the server: at most
// maxConcurrentImages at once, never without disk room for the image, never silently older than the
// applied revision, and a gone client stops the build and leaves no temp file.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Engine } from '../../src/engines/engine.js';
import { openMemoryEngine } from '../../src/engines/memory-engine.js';
import { ImageSlots, takeEtcdSnapshot, type SnapshotSource } from '../../src/snapshot/snapshot-export.js';
import { SnapshotExportError } from '../../src/snapshot/snapshot-errors.js';

interface Ctx {
  dir: string;
  engine: Engine | undefined;
}
const test = suite<Ctx>('snapshot export limits', { dir: '', engine: undefined });
test.before.each(async (ctx) => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'lattice-snapshot-limits-'));
  ctx.engine = await openMemoryEngine(join(ctx.dir, 'engine'));
  const ops = Array.from({ length: 2000 }, (_, i) => ({ type: 'put' as const, key: Buffer.from(`a${i}`), value: Buffer.alloc(100, 1) }));
  await ctx.engine.write(ops, { sync: true });
});
test.after.each(async (ctx) => {
  await ctx.engine?.close();
  await rm(ctx.dir, { recursive: true, force: true });
});

const sourceOf = (ctx: Ctx, extra: Partial<SnapshotSource> = {}): SnapshotSource => ({
  engine: ctx.engine!,
  members: () => [],
  clusterVersion: '3.4.0',
  tempDir: ctx.dir,
  appliedRevision: () => 1,
  freeBytes: async () => 1e12,
  ...extra,
});

const kindOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof SnapshotExportError ? e.kind : String(e);
  }
};

const tempFiles = async (ctx: Ctx): Promise<string[]> => (await readdir(ctx.dir)).filter((f) => f.endsWith('.tmp'));

test('a third image while two are in flight is refused as busy; a slot frees when an image is discarded', async (ctx) => {
  const slots = new ImageSlots(2);
  const a = await takeEtcdSnapshot(sourceOf(ctx, { slots }));
  const b = await takeEtcdSnapshot(sourceOf(ctx, { slots }));
  assert.is(await kindOf(takeEtcdSnapshot(sourceOf(ctx, { slots }))), 'busy');
  await a.discard();
  const c = await takeEtcdSnapshot(sourceOf(ctx, { slots }));
  for await (const _ of c.chunks()) void _;
  await b.discard();
  assert.is(slots.used, 0);
  assert.equal(await tempFiles(ctx), []);
});

test('without disk room for the image the snapshot is refused before a byte is written', async (ctx) => {
  const slots = new ImageSlots(2);
  assert.is(await kindOf(takeEtcdSnapshot(sourceOf(ctx, { slots, freeBytes: async () => 1024 }))), 'no-disk-space');
  assert.equal(await tempFiles(ctx), []);
  assert.is(slots.used, 0);
});

test('an abort while the image is built stops it and removes its temp file', async (ctx) => {
  const slots = new ImageSlots(2);
  const ac = new AbortController();
  const engine = ctx.engine!;
  let seen = 0;
  const slowEngine: Engine = Object.assign(Object.create(engine) as Engine, {
    iterateBatches: (o: Parameters<Engine['iterateBatches']>[0]) => ({
      async *[Symbol.asyncIterator]() {
        for await (const batch of engine.iterateBatches(o)) {
          for (const pair of batch) {
            if (++seen === 100) ac.abort();
            yield [pair];
          }
        }
      },
    }),
  });
  assert.is(await kindOf(takeEtcdSnapshot(sourceOf(ctx, { slots, engine: slowEngine }), ac.signal)), 'aborted');
  assert.ok(seen < 2000, `read ${seen} entries`);
  assert.equal(await tempFiles(ctx), []);
  assert.is(slots.used, 0);
});

test('an engine behind the applied revision fails the snapshot with a clear error rather than send an older image', async (ctx) => {
  const err = await takeEtcdSnapshot(sourceOf(ctx, { appliedRevision: () => 50 })).catch((e: unknown) => e);
  assert.ok(err instanceof SnapshotExportError && err.kind === 'not-persisted' && /revision 0, not yet the applied 50/.test(err.message), String(err));
});

test.run();
