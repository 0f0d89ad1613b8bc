import net from 'node:net';

/** Host every test server binds to; traffic never leaves loopback. */
export const loopbackHost = '127.0.0.1';

/**
 * Ports are picked below Linux's ephemeral range (32768-60999 by default): a port the OS hands out
 * for listening on 0 comes from that range, and so does the source port of every outgoing connection
 * (etcdctl, the Go clients, members dialling their peers), which could take it between our check and
 * the server's own bind (seen as a reference etcd's "address already in use").
 */
const lowestPort = 10_000;
const highestPort = 32_767;
/** Ports this process handed out already, so two servers of one test never get the same one. */
const handedOut = new Set<number>();

function bindable(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen(port, loopbackHost, () => resolve(server));
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A free loopback port, outside the ephemeral range. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no free port');
  return port;
}

/** N distinct free ports: each bound once to check it is free, never handed out twice by this process. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  const ports: number[] = [];
  try {
    for (let tries = 0; ports.length < count; tries++) {
      if (tries > 10_000) throw new Error(`no ${count} free ports between ${lowestPort} and ${highestPort}`);
      const port = lowestPort + Math.floor(Math.random() * (highestPort - lowestPort + 1));
      if (handedOut.has(port)) continue;
      const server = await bindable(port);
      if (server === undefined) continue;
      servers.push(server);
      ports.push(port);
      handedOut.add(port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map(close));
  }
}
