// /health follows the member's storage state: true while healthy, false (503) once a storage fault
// stopped it or an alarm is raised, as etcd's /health is false while an alarm is raised.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHttpRouter } from '../../src/adapters/http/http-router.js';
import { FakeServerApi } from './fake-server-api.js';

const test = suite('adapters: /health and storage faults');

async function withRouter(api: FakeServerApi, body: (url: string) => Promise<void>): Promise<void> {
  const server: Server = createServer(createHttpRouter({ api, log: () => undefined }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await body(`http://127.0.0.1:${(server.address() as AddressInfo).port}/health`);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    api.watch.close();
  }
}

async function probe(url: string): Promise<[number, unknown]> {
  const res = await fetch(url);
  return [res.status, await res.json()];
}

test('a healthy member answers {"health":"true"}', async () => {
  await withRouter(new FakeServerApi(), async (url) => assert.equal(await probe(url), [200, { health: 'true' }]));
});

test('a member stopped on a failed fsync answers {"health":"false"} with 503', async () => {
  const api = new FakeServerApi();
  api.faults = { alarms: [], errors: ['etcdserver: storage failed (EIO: i/o error, fdatasync); this member takes no more writes until it is restarted'] };
  await withRouter(api, async (url) => assert.equal(await probe(url), [503, { health: 'false' }]));
});

test('a raised NOSPACE alarm answers {"health":"false"} with 503', async () => {
  const api = new FakeServerApi();
  api.faults = { alarms: ['NOSPACE'], errors: ['etcdserver: the disk is full'] };
  await withRouter(api, async (url) => assert.equal(await probe(url), [503, { health: 'false' }]));
});

test.run();
