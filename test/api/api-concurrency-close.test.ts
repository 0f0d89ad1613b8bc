// /api lock and campaign calls wait for as long as it takes; a handler taken out of use (a tenant
// changed or deleted: tenant-routing.ts closes its /api handler) ends them, aborting their waits so
// the recipe deletes its key, and answers 503 so the client retries and meets the tenant as it now is.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createApiHandler } from '../../src/adapters/api/api-handler.js';
import { EtcdError } from '../../src/core/errors.js';
import type { ServerApi } from '../../src/core/kv-api.js';
import { FakeServerApi } from '../adapters/fake-server-api.js';
import { call, until } from './api-client.js';

const test = suite('api concurrency close');

/** An /api handler over `api` on a loopback HTTP server, and a JSON POST to it. */
async function serveApi(api: ServerApi) {
  const handler = createApiHandler({ api, log: () => undefined });
  const server = http.createServer((req, res) => void handler.handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const post = (path: string, body: unknown) => call(`${url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(3_000) });
  return { handler, server, post };
}


test('closing the /api handler ends its waiting lock and campaign calls with 503 and aborts their waits', async () => {
  const aborted: string[] = [];
  const waitUntilAborted = (what: string) => (_req: unknown, signal: AbortSignal): Promise<never> =>
    new Promise((_resolve, reject) =>
      signal.addEventListener('abort', () => {
        aborted.push(what);
        reject(new EtcdError('canceled', 'the request was cancelled'));
      }),
    );
  const started: string[] = [];
  const waiting = (what: string) => (req: unknown, signal: AbortSignal): Promise<never> => (started.push(what), waitUntilAborted(what)(req, signal));
  const fake = new FakeServerApi();
  // the fake's own recipes would not wait (its txns compare nothing)
  const api = Object.assign(fake, { lock: { lock: waiting('lock') }, election: { campaign: waiting('campaign') } }) as unknown as ServerApi;
  const { handler, server, post } = await serveApi(api);
  try {
    const lock = post('/api/locks/l', { lease: '7' });
    const campaign = post('/api/elections/e/campaign', { lease: '7', value: 'v' });
    await until('both calls wait', () => started.length === 2, 3_000, 10);
    handler.close();
    const answers = await Promise.all([lock, campaign]);
    assert.equal(answers.map((a) => a.status), [503, 503]);
    assert.equal(aborted.sort(), ['campaign', 'lock']);
  } finally {
    handler.close();
    await new Promise((r) => server.close(r));
    fake.watch.close();
  }
});

test('a lock taken just as the handler closes is released again and answered 503; a request arriving after close starts no wait', async () => {
  const unlocked: string[] = [];
  let release: (() => void) | undefined;
  let locks = 0;
  const fake = new FakeServerApi();
  const api = Object.assign(fake, {
    lock: {
      // taken without looking at the signal, as the recipe's fast path does when the lock is free
      lock: (): Promise<{ key: Buffer }> => {
        locks++;
        return new Promise((resolve) => (release = () => resolve({ key: Buffer.from('l/7') })));
      },
      unlock: async (req: { key: Buffer }) => {
        unlocked.push(req.key.toString());
        return {};
      },
    },
  }) as unknown as ServerApi;
  const { handler, server, post } = await serveApi(api);
  try {
    const lock = post('/api/locks/l', { lease: '7' });
    await until('the lock call is taking the lock', () => release !== undefined, 3_000, 10);
    handler.close();
    release!();
    assert.is((await lock).status, 503);
    assert.equal(unlocked, ['l/7']);
    assert.is((await post('/api/locks/l', { lease: '7' })).status, 503);
    assert.is(locks, 1, 'no second lock was attempted');
  } finally {
    handler.close();
    await new Promise((r) => server.close(r));
    fake.watch.close();
  }
});

test.run();
