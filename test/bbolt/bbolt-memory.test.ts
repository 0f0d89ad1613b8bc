// Bounded memory: a file several times larger than the heap is written from a stream of keys and
// read back, in a child process whose heap is capped (holding the tree would exhaust it).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { runCommand } from '../helpers/processes.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';

const test = suite('bbolt: bounded memory');
const childScript = fileURLToPath(new URL('./large-file-child.js', import.meta.url));
const heapLimitMb = 24;
const keyCount = 500_000;
const childTimeoutMs = 120_000;

let dir = '';
test.before(() => {
  dir = makeTempDir('bbolt-memory');
});
test.after(() => removeTempDir(dir));

test(`500k keys (a 120 MB file) are written and read back under a ${heapLimitMb} MB heap, buffers peaking far below the file size`, async () => {
  const result = await runCommand(
    process.execPath,
    [`--max-old-space-size=${heapLimitMb}`, childScript, join(dir, 'large.db'), String(keyCount)],
    { timeoutMs: childTimeoutMs },
  );
  assert.is(result.code, 0, result.stderr.slice(-2000));
  const report = JSON.parse(result.stdout.trim()) as { fileBytes: number; read: number; arrayBuffers: number };
  assert.is(report.read, keyCount);
  assert.ok(report.fileBytes > 100 * 1024 * 1024, `file of ${report.fileBytes} bytes`);
  assert.ok(report.arrayBuffers < 32 * 1024 * 1024, `buffers peaked at ${report.arrayBuffers} bytes`);
});

test.run();
