// /api with etcd auth enabled (by etcdctl): no credentials is 401, root by token or Basic password
// is served (its writes land), any other user is 403 until per-key permissions reach /api.
import * as assert from 'uvu/assert';
import { engines, startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { etcdctl } from '../helpers/etcdctl.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';
import { call, errorCode, openWs } from './api-client.js';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

for (const engine of engines) {
  const s = serverSuite(
    `api with auth enabled (${engine})`,
    async () => {
      const server: LatticeServer = await startLattice(engine);
      const url = server.endpoint;
      for (const args of [
        ['user', 'add', 'root', '--new-user-password=rootpw'],
        ['user', 'add', 'alice', '--new-user-password=alicepw'],
        ['role', 'add', 'reader'],
        ['role', 'grant-permission', 'reader', 'readwrite', 'a/', '--prefix=true'],
        ['user', 'grant-role', 'alice', 'reader'],
        ['auth', 'enable'],
      ]) {
        const r = await etcdctl(url, args);
        if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${r.stderr}`);
      }
      return { server, url, stop: () => server.stop() };
    },
    missingTools(['etcdctl']),
  );

  s.it('without credentials /api answers 401; a bad token 401 with etcd text', async ({ url }) => {
    const none = await call(`${url}/api/kv/a/x`);
    assert.equal([none.status, errorCode(none)], [401, 'unauthenticated']);
    const bad = await call(`${url}/api/kv/a/x`, { headers: { Authorization: 'Bearer nope' } });
    assert.equal([bad.status, (bad.json.error as Record<string, unknown>).message], [401, 'etcdserver: invalid auth token']);
    const ws = await openWs(`${url.replace('http', 'ws')}/api/watch/a/x`);
    assert.is(ws.status, 401);
  });

  s.it('root is served with Basic credentials and with a token from Authenticate; its writes land', async ({ url }) => {
    const put = await call(`${url}/api/kv/a/x`, { method: 'PUT', body: 'v', headers: { Authorization: basic('root', 'rootpw') } });
    assert.is(put.status, 200);
    const auth = await call(`${url}/v3/auth/authenticate`, { method: 'POST', body: JSON.stringify({ name: 'root', password: 'rootpw' }) });
    const token = String(auth.json.token);
    const get = await call(`${url}/api/kv/a/x`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal([get.status, (get.json.kv as Record<string, unknown>).value], [200, 'v']);
    const wrongPw = await call(`${url}/api/kv/a/x`, { headers: { Authorization: basic('root', 'nope') } });
    assert.is(wrongPw.status, 401);
  });

  s.it('a user without the root role is refused with 403, even on keys its role may read', async ({ url }) => {
    const r = await call(`${url}/api/kv/a/x`, { headers: { Authorization: basic('alice', 'alicepw') } });
    assert.equal([r.status, errorCode(r)], [403, 'authPermissionDenied']);
  });

  s.run();
}
