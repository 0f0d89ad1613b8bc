// How many RST_STREAMs a client may send: nghttp2's rapid-reset protection closes a connection with
// GOAWAY INTERNAL_ERROR once a client resets more than a burst of 1,000 streams, then 33 a second.
// grpc-go clients reset a stream for every cancelled context and every deadline that runs out, so
// a busy connection reaches that and loses every call on it; etcd has no such limit. Node takes
// `streamResetBurst` / `streamResetRate` only from the release that added them (nodejs/node#54875);
// older ones ignore both silently, so support is probed once, on a loopback connection.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

/** Resets a client may send at once, then per second: far beyond a client cancelling calls, still a bound. */
export const streamResetLimits = { streamResetBurst: 10_000, streamResetRate: 1_000 } as const;

/** The probe's limits: a node honouring them closes its connection after a few resets. */
const probeResetBurst = 1;
const probeResetRate = 1;
/** Resets the probe sends; a node ignoring the options (limit 1,000) never closes the connection. */
const probeResets = 20;
/** How long the probe waits for its GOAWAY before it decides the options are ignored. */
const probeWaitMs = 1_000;

let probed: Promise<boolean> | undefined;

/** True when this node applies streamResetBurst/streamResetRate; probed once per process. */
export function streamResetLimitsSupported(): Promise<boolean> {
  probed ??= probe().catch(() => false);
  return probed;
}

async function probe(): Promise<boolean> {
  const server = http2.createServer({ streamResetBurst: probeResetBurst, streamResetRate: probeResetRate } as http2.ServerOptions);
  server.on('stream', (stream) => stream.on('error', () => undefined));
  server.on('sessionError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => undefined);
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), probeWaitMs);
      const limited = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      client.once('goaway', limited);
      client.once('close', limited);
      client.once('connect', () => {
        for (let i = 0; i < probeResets && !client.destroyed; i++) {
          const req = client.request({ ':method': 'POST' });
          req.on('error', () => undefined);
          req.close(http2.constants.NGHTTP2_CANCEL);
        }
      });
    });
  } finally {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
