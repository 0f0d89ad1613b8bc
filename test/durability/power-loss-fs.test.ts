// The simulated disk itself: what a power loss keeps of unsynced writes under each tearing rule.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PowerLossDisk, sectorBytes } from '../helpers/power-loss-fs.js';

const test = suite('durability: the power-loss disk');

/** A random source that returns the given values in turn. */
const scripted = (values: readonly number[]): (() => number) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

async function diskWithUnsyncedWrite(): Promise<{ disk: PowerLossDisk; written: Buffer }> {
  const disk = new PowerLossDisk();
  const fs = disk.boot();
  await fs.mkdirs('/d');
  await fs.fsyncDir('/');
  const file = await fs.open('/d/f', 'w+');
  await file.write(Buffer.alloc(16, 0x11), 0, 16, 0);
  await file.datasync();
  await fs.fsyncDir('/d');
  const written = Buffer.alloc(3 * sectorBytes, 0x22);
  await file.write(written, 0, written.length, 16);
  return { disk, written };
}

test('scatter: a later sector that landed while an earlier one was lost leaves the earlier one reading as zeros, as a hole does', async () => {
  const { disk } = await diskWithUnsyncedWrite();
  // Pieces of the write at offset 16: [16, 512), [512, 1024), [1024, 1536), [1536, 1552). Lose the first, keep the rest.
  disk.crash('scatter', scripted([0.9, 0.1, 0.1, 0.1]));
  const content = disk.fileAt('/d/f')!.content();
  assert.is(content.length, 16 + 3 * sectorBytes);
  assert.ok(content.subarray(0, 16).every((b) => b === 0x11), 'the synced part is kept');
  assert.ok(content.subarray(16, sectorBytes).every((b) => b === 0), 'the lost sector reads as zeros');
  assert.ok(content.subarray(sectorBytes).every((b) => b === 0x22), 'the later sectors landed');
});

test('cut: unsynced writes survive up to one cut at a sector boundary; the file ends there', async () => {
  const { disk } = await diskWithUnsyncedWrite();
  // Keep no whole write; of the torn one keep the first two pieces.
  disk.crash('cut', scripted([0, 0.6]));
  const content = disk.fileAt('/d/f')!.content();
  assert.is(content.length, 2 * sectorBytes);
  assert.ok(content.subarray(16).every((b) => b === 0x22));
});

test('drop: every unsynced write is lost', async () => {
  const { disk } = await diskWithUnsyncedWrite();
  disk.crash('drop', scripted([0.5]));
  assert.is(disk.fileAt('/d/f')!.content().length, 16);
});

test.run();
