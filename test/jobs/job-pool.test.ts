// The CRC-32C behind HashKV, and the piscina pool that runs it off the main thread.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EtcdError } from '../../src/core/errors.js';
import { crc32c } from '../../src/jobs/hash-kv-task.js';
import { JobPool } from '../../src/jobs/job-pool.js';

const crc = suite('crc32c');

crc('CRC-32C of "123456789" is 0xE3069283 (the check value of the Castagnoli CRC)', () => {
  assert.is(crc32c(Buffer.from('123456789')), 0xe3069283);
});

crc('CRC-32C of nothing is 0, of 32 zero bytes 0x8A9136AA, of 32 0xFF bytes 0x62A8AB43 (RFC 3720 B.4)', () => {
  assert.is(crc32c(new Uint8Array(0)), 0);
  assert.is(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.is(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
});

crc('CRC-32C continues across calls like Go crc32.Update', () => {
  const bytes = Buffer.from('the quick brown fox jumps over the lazy dog');
  assert.is(crc32c(bytes.subarray(10), crc32c(bytes.subarray(0, 10))), crc32c(bytes));
});

crc.run();

const pool = suite('job pool');
let jobs: JobPool | null = null;
pool.after(async () => {
  await jobs?.close();
});

pool('the pool computes the same CRC-32C as the task function, and the buffer is transferred, not copied', async () => {
  jobs = new JobPool();
  const bytes = new ArrayBuffer(100_000);
  new Uint8Array(bytes).forEach((_, i, a) => (a[i] = (i * 31) & 0xff));
  const expected = crc32c(new Uint8Array(bytes));
  assert.is(await jobs.crc32c(bytes), expected);
  // a transferred ArrayBuffer is detached on the sending side
  assert.is(bytes.byteLength, 0);
});

pool('a closed pool refuses jobs with the stopped kind', async () => {
  const closed = new JobPool();
  await closed.close();
  try {
    await closed.crc32c(new ArrayBuffer(8));
    assert.unreachable('a closed pool ran a job');
  } catch (e) {
    assert.instance(e, EtcdError);
    assert.is((e as EtcdError).kind, 'stopped');
  }
});

pool.run();
