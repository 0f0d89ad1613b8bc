// A watch client that stops reading must not make the server buffer without bound: the HTTP/2
// stream's flow control holds the server's writes, the watch hub stops at its backlog limit and
// parks the stream's watchers, and when the client reads again every event still arrives, once and
// in order (the parked watchers catch up from history). Measured on the server process's RSS.
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { WatchRequest, WatchResponse } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { startLattice } from '../helpers/lattice-server.js';
import { serverSuite } from '../helpers/spec.js';
import { connect, put } from '../helpers/grpc-watch-client.js';

const watchers = 10;
const puts = 24;
const valueBytes = 1024 * 1024;
/** Unbounded buffering would hold every event for every watcher: watchers × puts × value = 240 MiB. */
const maxRssGrowthBytes = 150 * 1024 * 1024;

const rssBytes = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  return m === null ? 0 : Number(m[1]) * 1024;
};

const frame = (message: Uint8Array): Buffer => {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
};

const s = serverSuite('a watch client that does not read', () => startLattice('memory'));

s.it(
  `${watchers} watchers on a stream nobody reads, ${puts} puts of 1 MiB: server memory stays bounded, then every event arrives`,
  async (server) => {
    const session = http2.connect(server.endpoint);
    session.on('error', () => undefined);
    const writer = connect(server.endpoint);
    try {
      const stream = session.request({ ':method': 'POST', ':path': '/etcdserverpb.Watch/Watch', 'content-type': 'application/grpc', te: 'trailers' });
      stream.on('error', () => undefined);
      for (let w = 0; w < watchers; w++) {
        stream.write(frame(WatchRequest.encode(WatchRequest.fromPartial({ createRequest: { key: Buffer.from('slow/k'), watchId: BigInt(w + 1) } })).finish()));
      }
      const seen = new Map<bigint, bigint[]>();
      let created = 0;
      // chunks are joined only once a whole message is there (a 1 MiB event comes in many chunks)
      let chunks: Buffer[] = [];
      let buffered = 0;
      let need = 5;
      stream.on('data', (d: Buffer) => {
        chunks.push(d);
        buffered += d.length;
        if (buffered < need) return;
        let buf: Buffer = Buffer.concat(chunks);
        while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
          const n = buf.readUInt32BE(1);
          const res = WatchResponse.decode(buf.subarray(5, 5 + n));
          buf = buf.subarray(5 + n);
          if (res.created) created++;
          for (const e of res.events) seen.set(res.watchId, [...(seen.get(res.watchId) ?? []), e.kv?.modRevision ?? 0n]);
        }
        chunks = buf.length === 0 ? [] : [buf];
        buffered = buf.length;
        need = buf.length >= 5 ? 5 + buf.readUInt32BE(1) : 5;
      });
      const until = async (what: string, ok: () => boolean, limitMs = 30_000): Promise<void> => {
        const deadline = Date.now() + limitMs;
        while (!ok()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await until('every watch created', () => created === watchers);
      stream.pause();
      const before = rssBytes(server.process.pid);
      const value = Buffer.alloc(valueBytes, 0x61);
      let lastRevision = 0n;
      for (let i = 0; i < puts; i++) await put(writer, 'slow/k', value);
      let peak = 0;
      for (let i = 0; i < 10; i++) {
        peak = Math.max(peak, rssBytes(server.process.pid));
        await new Promise((r) => setTimeout(r, 100));
      }
      const growth = peak - before;
      assert.ok(growth < maxRssGrowthBytes, `server RSS grew by ${(growth / 2 ** 20).toFixed(0)} MiB for a stream nobody reads`);
      stream.resume();
      lastRevision = BigInt(puts + 1);
      await until('every event on every watcher', () => [...seen.values()].filter((r) => r.at(-1) === lastRevision).length === watchers, 60_000);
      const expected = Array.from({ length: puts }, (_, i) => BigInt(i + 2));
      for (let w = 1; w <= watchers; w++) assert.equal(seen.get(BigInt(w)), expected, `watch ${w}`);
      console.log(`  server RSS growth while the stream was not read: ${(growth / 2 ** 20).toFixed(0)} MiB (data ${(watchers * puts * valueBytes) / 2 ** 20} MiB)`);
      stream.close();
    } finally {
      writer.close();
      session.destroy();
    }
  },
  120_000,
);

s.run();
