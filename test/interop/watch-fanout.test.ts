// Watch fan-out under load, through real gRPC: 5,000 watchers over 50 streams on 5 connections while
// a writer puts at a fixed rate; every watcher must get every event exactly once and in order (some
// start from history while the writes go on, some with prev_kv). And a large Range on the same
// connection must not starve a watch stream (etcd issue 15402). Bounded in count; it asserts
// delivery, never speed.
import * as assert from 'uvu/assert';
import { engines, startLattice } from '../helpers/lattice-server.js';
import { serverSuite } from '../helpers/spec.js';
import { connect, prefixEnd, put, range, WatchStream, type Connection } from '../helpers/grpc-watch-client.js';

const connections = 5;
const streamsPerConnection = 10;
const watchersPerStream = 100;
const puts = 100;
const putIntervalMs = 10;
/** Puts made before the watches, so the history watchers have something to replay. */
const earlyPuts = 20;

for (const engine of engines) {
  const s = serverSuite(`watch fan-out (${engine})`, () => startLattice(engine));

  s.it(
    `${connections * streamsPerConnection * watchersPerStream} watchers on ${connections * streamsPerConnection} streams each get all ${puts} events exactly once, in order`,
    async (server) => {
      const conns: Connection[] = Array.from({ length: connections }, () => connect(server.endpoint));
      const writer = connect(server.endpoint);
      const streams: WatchStream[] = [];
      try {
        for (let i = 0; i < earlyPuts; i++) await put(writer, `fan/${i % 10}`, `early-${i}`);
        // Revision 1 is the empty store: the early puts are revisions 2..earlyPuts+1.
        const firstLive = earlyPuts + 2;
        for (const conn of conns) {
          for (let k = 0; k < streamsPerConnection; k++) {
            const stream = new WatchStream(conn);
            for (let w = 0; w < watchersPerStream; w++) {
              // Every fourth watcher replays from revision 2 while live writes go on; every third wants prev_kv.
              const fromHistory = w % 4 === 0;
              stream.create({ key: Buffer.from('fan/'), rangeEnd: prefixEnd('fan/'), startRevision: fromHistory ? 2n : 0n, prevKv: w % 3 === 0, watchId: BigInt(w + 1) });
            }
            streams.push(stream);
          }
        }
        await Promise.all(streams.map((st) => st.until('every created answer', (rs) => rs.length >= watchersPerStream && rs.filter((r) => r.created).length === watchersPerStream)));
        for (const st of streams) assert.ok(st.responses.filter((r) => r.created).every((r) => !r.canceled && r.header?.revision === BigInt(firstLive - 1)));

        for (let i = 0; i < puts; i++) {
          await put(writer, `fan/${i % 10}`, `live-${i}`);
          await new Promise((r) => setTimeout(r, putIntervalMs));
        }
        const lastRev = firstLive + puts - 1;
        const seen = (st: WatchStream, id: bigint): bigint[] =>
          st.responses.filter((r) => r.watchId === id && !r.created).flatMap((r) => r.events.map((e) => e.kv!.modRevision));
        await Promise.all(
          streams.map((st) =>
            st.until('every event on every watcher', () => {
              for (let w = 0; w < watchersPerStream; w++) if (st.lastEventRevision.get(BigInt(w + 1)) !== BigInt(lastRev)) return false;
              return true;
            }),
          ),
        );
        let checked = 0;
        for (const st of streams) {
          for (let w = 0; w < watchersPerStream; w++) {
            const from = w % 4 === 0 ? 2 : firstLive;
            const expected = Array.from({ length: lastRev - from + 1 }, (_, i) => BigInt(from + i));
            assert.equal(seen(st, BigInt(w + 1)), expected, `watcher ${w + 1}`);
            const events = st.responses.filter((r) => r.watchId === BigInt(w + 1)).flatMap((r) => r.events);
            if (w % 3 === 0) assert.ok(events.filter((e) => e.kv!.version > 1n).every((e) => e.prevKv !== undefined), `watcher ${w + 1} prev_kv`);
            else assert.ok(events.every((e) => e.prevKv === undefined));
            checked++;
          }
        }
        assert.is(checked, connections * streamsPerConnection * watchersPerStream);
      } finally {
        for (const st of streams) st.close();
        for (const c of [...conns, writer]) c.close();
      }
    },
    180_000,
  );

  s.it('large Range answers on the same connection do not hold a watch stream back (etcd issue 15402)', async (server) => {
    const conn = connect(server.endpoint);
    const writer = connect(server.endpoint);
    const value = Buffer.alloc(1024 * 1024, 'r');
    try {
      for (let i = 0; i < 8; i++) await put(writer, `big/${i}`, value);
      const stream = new WatchStream(conn);
      stream.create({ key: Buffer.from('tick') });
      await stream.until('created', (rs) => rs.some((r) => r.created));
      // Keep four 8 MiB ranges in flight on the watch's connection the whole time.
      let rangesDone = 0;
      let stop = false;
      const rangeLoop = async (): Promise<void> => {
        while (!stop) {
          await range(conn, { key: Buffer.from('big/'), rangeEnd: prefixEnd('big/') });
          rangesDone++;
        }
      };
      const loops = Array.from({ length: 4 }, rangeLoop);
      await new Promise((r) => setTimeout(r, 200));
      // How many ranges completed between a put's answer and its event reaching the watcher.
      const waitedRanges: number[] = [];
      for (let i = 0; i < 10; i++) {
        await put(writer, 'tick', `${i}`);
        const before = rangesDone;
        await stream.until(`event ${i}`, (rs) => rs.filter((r) => r.events.length > 0).length === i + 1);
        waitedRanges.push(rangesDone - before);
      }
      stop = true;
      await Promise.all(loops);
      assert.ok(rangesDone >= 4, `the ranges were running (${rangesDone} done)`);
      // Starved, an event would wait behind the queued ranges (four or more of them).
      assert.ok(Math.max(...waitedRanges) <= 2, `ranges completed while an event waited: ${waitedRanges.join(' ')}`);
      stream.close();
    } finally {
      conn.close();
      writer.close();
    }
  }, 120_000);

  s.run();
}
