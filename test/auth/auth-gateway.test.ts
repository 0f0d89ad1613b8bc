// Auth through the JSON gateway, against real etcd and Lattice per engine: /v3/auth/authenticate
// gives a token, which the Authorization header carries; without it, or outside the user's grant,
// the call is refused with etcd's error.
import * as assert from 'uvu/assert';
import { startEtcd } from '../helpers/etcd-server.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import type { RestartableServer } from '../helpers/server-flags.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';
import { setUpUsers } from './auth-clients.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function post(server: RestartableServer, path: string, body: unknown, token?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.endpoint}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: token }) },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function defineSuite(name: string, start: () => Promise<RestartableServer>, skipReason: string | null): void {
  const s = serverSuite(
    name,
    async () => {
      const server = await start();
      await setUpUsers(server.endpoint);
      return server;
    },
    skipReason,
  );
  s.it('a gateway token in Authorization allows the grant and nothing else; no token is an empty user', async (server) => {
    const auth = await post(server, '/v3/auth/authenticate', { name: 'alice', password: 'apw' });
    assert.is(auth.status, 200);
    const token = auth.json['token'];
    assert.type(token, 'string');
    const put = await post(server, '/v3/kv/put', { key: b64('/a/gw'), value: b64('v') }, token as string);
    assert.is(put.status, 200, JSON.stringify(put.json));
    const denied = await post(server, '/v3/kv/put', { key: b64('/b/gw'), value: b64('v') }, token as string);
    assert.is(denied.json['error'] ?? denied.json['message'], 'etcdserver: permission denied');
    const nobody = await post(server, '/v3/kv/range', { key: b64('/a/gw') });
    assert.is(nobody.json['error'] ?? nobody.json['message'], 'etcdserver: user name is empty');
    const garbage = await post(server, '/v3/kv/range', { key: b64('/a/gw') }, 'garbage');
    assert.is(garbage.json['error'] ?? garbage.json['message'], 'etcdserver: invalid auth token');
  });
  s.run();
}

defineSuite('auth through the JSON gateway (etcd)', () => startEtcd(), missingTools(['etcd', 'etcdctl']));
for (const engine of engines) defineSuite(`auth through the JSON gateway (lattice ${engine})`, () => startLattice(engine), missingTools(['etcdctl']));
