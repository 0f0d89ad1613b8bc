// CPU and latency of one small WAL-sized append by each way node can make it: through libuv's thread
// pool (fs/promises, or the callback API) or on the calling thread (fs.writeSync); into the page cache,
// and durable (O_DSYNC, into a preallocated file, as the Raft WAL writes). docs/design.md, "Writes on
// the calling thread".
//
// Usage: node bench/file-write-paths.mjs [DIR] [RUNS]   (DIR on the disk to measure; default: cwd)
import fs from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

const dir = process.argv[2] ?? process.cwd();
const runs = Number(process.argv[3] ?? 3);
const file = join(dir, `.file-write-paths-${process.pid}.dat`);
const record = Buffer.alloc(364, 7);

function prepare(count) {
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, count * record.length + 4096);
  fs.fdatasyncSync(fd);
  fs.closeSync(fd);
}

async function measure(count, flags, append) {
  prepare(count);
  const fh = await open(file, flags);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await append(fh, i * record.length);
  const cpu = process.cpuUsage(cpu0);
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
  await fh.close();
  return { cpu: (cpu.user + cpu.system) / count, wall: wallUs / count };
}

const ways = {
  'thread pool, promise': (fh, at) => fh.write(record, 0, record.length, at),
  'thread pool, callback': (fh, at) => new Promise((resolve, reject) => fs.write(fh.fd, record, 0, record.length, at, (e) => (e ? reject(e) : resolve()))),
  'calling thread': (fh, at) => void fs.writeSync(fh.fd, record, 0, record.length, at),
};
const kinds = [
  { name: 'page cache', flags: 'r+', count: 20000 },
  { name: 'durable (O_DSYNC, preallocated)', flags: fs.constants.O_RDWR | fs.constants.O_DSYNC, count: 3000 },
];

try {
  for (const kind of kinds) {
    console.log(`== ${kind.name}, ${record.length}-byte appends, µs per append (CPU / latency), ${runs} runs`);
    for (const [way, append] of Object.entries(ways)) {
      const results = [];
      for (let r = 0; r < runs; r++) results.push(await measure(kind.count, kind.flags, append));
      console.log(`${way.padEnd(24)} ${results.map((x) => `${x.cpu.toFixed(1)} / ${x.wall.toFixed(1)}`).join('   ')}`);
    }
  }
} finally {
  fs.rmSync(file, { force: true });
}
