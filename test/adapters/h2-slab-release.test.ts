// A pooled buffer handed to an HTTP/2 stream goes back to its pool only once the socket has written
// every frame cut from it: a stream reset after part of an answer was framed still has those frames
// waiting in the socket, pointing into the buffer, and a buffer reused then would send another call's
// bytes under them. The socket here holds every write until the test lets it finish.
import { Duplex } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { clientPreface, ErrorCode, Flag, frame, FrameType, rstStreamFrame, Setting, settingsFrame } from '../../src/adapters/h2/frames.js';
import { H2Connection } from '../../src/adapters/h2/h2-connection.js';
import type { H2Stream } from '../../src/adapters/h2/h2-stream.js';
import { encodeHeaderBlock } from '../../src/adapters/h2/hpack-encoder.js';
import { largeSlabs } from '../../src/adapters/slab-pool.js';

const t = suite('HTTP/2 streams give pooled buffers back only after the socket wrote them');

/** A socket whose writes wait until finishWrites(); what the server sends is kept. */
class HoldingSocket extends Duplex {
  private held: (() => void)[] = [];
  override _read(): void {}
  override _write(_chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.held.push(done);
  }
  override _writev(_chunks: { chunk: Buffer }[], done: () => void): void {
    this.held.push(done);
  }
  finishWrites(): void {
    const held = this.held;
    this.held = [];
    for (const done of held) done();
  }
  get pendingWrites(): number {
    return this.held.length;
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await tick();
}

const requestBlock = encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], [':path', '/x'], [':authority', 'localhost']]);

/** A connection whose client allows 30,000 bytes per stream, with stream 1 open and answered with one slab of 60,000 bytes. */
async function answeredWithSlab(): Promise<{ socket: HoldingSocket; connection: H2Connection; stream: H2Stream }> {
  const socket = new HoldingSocket();
  let opened: H2Stream | undefined;
  const connection = new H2Connection(socket, {
    stream: (s) => {
      opened = s;
      s.events = { data: () => undefined, end: () => undefined, close: () => undefined };
    },
    ping: () => undefined,
    goaway: () => undefined,
    error: () => undefined,
    close: () => undefined,
  });
  socket.push(Buffer.concat([clientPreface, settingsFrame([[Setting.initialWindowSize, 30_000]]), frame(FrameType.headers, Flag.endStream | Flag.endHeaders, 1, requestBlock)]));
  await ticks(2);
  assert.ok(opened, 'stream 1 opened');
  const stream = opened!;
  stream.respond(encodeHeaderBlock([[':status', '200']]), false);
  const slab = largeSlabs.take();
  stream.write(slab.buf.subarray(0, 60_000), slab.release);
  await ticks(3);
  return { socket, connection, stream };
}

t('a stream reset with its answer half framed keeps the buffer until the socket has written those frames', async () => {
  const before = largeSlabs.outstanding;
  const { socket, connection } = await answeredWithSlab();
  assert.is(largeSlabs.outstanding, before + 1);
  assert.ok(socket.pendingWrites > 0, 'the first 30,000 bytes were handed to the socket');
  socket.push(rstStreamFrame(1, ErrorCode.cancel));
  await ticks(3);
  assert.is(largeSlabs.outstanding, before + 1, 'not released while the socket still holds its frames');
  socket.finishWrites();
  await ticks(3);
  socket.finishWrites();
  await ticks(3);
  assert.is(largeSlabs.outstanding, before, 'released once they were written');
  connection.destroy();
});

t('a connection destroyed with an answer half framed gives the buffer back (its socket writes nothing more)', async () => {
  const before = largeSlabs.outstanding;
  const { connection } = await answeredWithSlab();
  assert.is(largeSlabs.outstanding, before + 1);
  connection.destroy();
  await ticks(3);
  assert.is(largeSlabs.outstanding, before);
});

t.run();
