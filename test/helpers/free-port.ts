import net from 'node:net';

/** Host every test server binds to; traffic never leaves loopback. */
export const loopbackHost = '127.0.0.1';

function listenOnZero(): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, loopbackHost, () => resolve(server));
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function portOf(server: net.Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('listening socket has no port');
  return address.port;
}

/** A port the OS just handed out on loopback (listen on 0, close, return it). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no free port');
  return port;
}

/** N distinct free ports: all listeners are held open together, so the OS cannot repeat one. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await listenOnZero());
    return servers.map(portOf);
  } finally {
    await Promise.all(servers.map(close));
  }
}
