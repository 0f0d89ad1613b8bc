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

crc('CRC-32C eight bytes at a time equals the byte-at-a-time definition, at every length and offset', () => {
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    return c >>> 0;
  });
  const bytewise = (bytes: Uint8Array, crc = 0): number => {
    let c = ~crc >>> 0;
    for (const byte of bytes) c = table[(c ^ byte) & 0xff]! ^ (c >>> 8);
    return ~c >>> 0;
  };
  const data = Buffer.alloc(300);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
  for (let from = 0; from < 9; from++) {
    for (let length = 0; length <= 100; length++) {
      const bytes = data.subarray(from, from + length);
      assert.is(crc32c(bytes, 0x1234567), bytewise(bytes, 0x1234567), `offset ${from}, length ${length}`);
    }
  }
  assert.is(crc32c(data), bytewise(data));
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
