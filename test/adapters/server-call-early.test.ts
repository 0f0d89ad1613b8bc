// A call whose handler starts reading late (tenant routing asks who the caller is first) and pauses
// on its first message: every request message still arrives, in order, then the end, on both the
// engine's streams and node's. Nothing is read before receive(): flow control holds the client.
import http2 from 'node:http2';
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { H2CallStream } from '../../src/adapters/grpc/h2-call-stream.js';
import { NodeCallStream, type CallStream } from '../../src/adapters/grpc/call-stream.js';
import { ServerCall } from '../../src/adapters/grpc/server-call.js';
import { H2Connection } from '../../src/adapters/h2/h2-connection.js';
import { withTimeout } from '../helpers/spec.js';

const t = suite('a gRPC call read late and paused on its first message');

const framed = (text: string): Buffer => {
  const body = Buffer.from(text);
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length, 1);
  body.copy(out, 5);
  return out;
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Serves one call on `stream`: receive() after 50 ms, a pause of 30 ms on the first message. */
function serve(stream: CallStream, headers: http2.IncomingHttpHeaders, seen: string[], done: () => void): void {
  const call = new ServerCall(stream, headers, { maxReceiveMessageBytes: 1 << 20, log: () => undefined, connection: undefined });
  void sleep(50).then(() =>
    call.receive(
      (bytes) => {
        seen.push(bytes.toString());
        if (seen.length === 1) {
          call.pauseReading();
          void sleep(30).then(() => call.resumeReading());
        }
      },
      () => {
        seen.push('end');
        call.end();
        done();
      },
    ),
  );
}

async function roundTrip(port: number): Promise<void> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/x/y', 'content-type': 'application/grpc' });
      req.on('error', reject);
      req.on('close', () => resolve());
      req.resume();
      // three DATA frames, all before the handler reads (it starts 50 ms in)
      void (async () => {
        for (const text of ['one', 'two']) {
          req.write(framed(text));
          await sleep(5);
        }
        req.end(framed('three'));
      })();
    });
  } finally {
    session.destroy();
  }
}

for (const kind of ['engine', 'node'] as const) {
  t(`${kind}: every message, in order, then the end`, () =>
    withTimeout(
      (async () => {
        const seen: string[] = [];
        let finished!: () => void;
        const served = new Promise<void>((resolve) => (finished = resolve));
        const sockets = new Set<net.Socket>();
        const nodeServer = http2.createServer();
        nodeServer.on('stream', (s, h) => serve(new NodeCallStream(s), h, seen, finished));
        const server = net.createServer((socket) => {
          sockets.add(socket);
          if (kind === 'node') return nodeServer.emit('connection', socket);
          const conn: H2Connection = new H2Connection(socket, {
            stream: (s) => serve(new H2CallStream(s), s.headers, seen, finished),
            ping: () => undefined,
            goaway: () => undefined,
            error: () => undefined,
            close: () => undefined,
          });
          void conn;
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        try {
          const { port } = server.address() as net.AddressInfo;
          await roundTrip(port);
          await served;
          assert.equal(seen, ['one', 'two', 'three', 'end']);
        } finally {
          for (const s of sockets) s.destroy();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        }
      })(),
      10_000,
      kind,
    ),
  );
}

t.run();
