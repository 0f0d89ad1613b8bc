// --host-whitelist against DNS rebinding (CVE-2018-5702): /api answers only Hosts that are IP
// literals, localhost or client URL hosts by default and only listed ones when a list is given;
// etcd's own HTTP handlers (/v3, /health) check Host only for an explicit list, with etcd's 421.
import { request } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { serverSuite } from '../helpers/spec.js';
import { apiAllowsHost, etcdAllowsHost, hostnameOf, hostWhitelistFrom } from '../../src/adapters/http/host-whitelist.js';
import type { IncomingMessage } from 'node:http';

/** A request with a chosen Host header (fetch does not let a caller set one). */
function get(url: string, path: string, host: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname: u.hostname, port: u.port, path, headers: { Host: host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const fakeReq = (host: string): IncomingMessage => ({ headers: { host }, socket: {} }) as unknown as IncomingMessage;

test('hostnameOf drops the port and IPv6 brackets and lower-cases', () => {
  assert.equal(['Example.COM:2379', '[::1]:2379', '::1', '10.0.0.1', 'localhost'].map(hostnameOf), ['example.com', '::1', '::1', '10.0.0.1', 'localhost']);
});

test('by default /api accepts IP literals, localhost and client URL hosts, and refuses other names; etcd accepts all', () => {
  const w = hostWhitelistFrom(['*'], ['http://node1.internal:2379', 'http://0.0.0.0:2379']);
  for (const h of ['127.0.0.1:2379', '[::1]:2379', 'localhost:2379', 'node1.internal:2379', '10.1.2.3']) assert.ok(apiAllowsHost(w, fakeReq(h)), h);
  for (const h of ['attacker.example:2379', 'localhost.attacker.example', '']) assert.not.ok(apiAllowsHost(w, fakeReq(h)), h);
  assert.ok(etcdAllowsHost(w, fakeReq('attacker.example')));
});

test('an explicit list allows only its hosts, on /api and on etcd handlers alike', () => {
  const w = hostWhitelistFrom(['kv.example'], ['http://127.0.0.1:2379']);
  assert.ok(apiAllowsHost(w, fakeReq('kv.example:2379')));
  assert.not.ok(apiAllowsHost(w, fakeReq('127.0.0.1:2379')));
  assert.ok(etcdAllowsHost(w, fakeReq('KV.example')));
  assert.not.ok(etcdAllowsHost(w, fakeReq('other.example')));
});

test.run();

const byDefault = serverSuite('host whitelist default (*) on a running server', async () => {
  const server: LatticeServer = await startLattice('memory');
  return { server, url: server.endpoint, stop: () => server.stop() };
});

byDefault.it('a rebinding name gets 403 with a JSON error on /api; the IP and localhost are served; /v3 serves any Host as etcd', async ({ url }) => {
  const refused = await get(url, '/api/status', 'rebind.attacker.example:2379');
  assert.is(refused.status, 403);
  assert.is((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'hostRefused');
  assert.is((await get(url, '/api/status', new URL(url).host)).status, 200);
  assert.is((await get(url, '/api/status', 'localhost')).status, 200);
  assert.is((await get(url, '/health', 'rebind.attacker.example')).status, 200);
});
byDefault.run();

const listed = serverSuite('host whitelist with an explicit list on a running server', async () => {
  const server: LatticeServer = await startLattice('memory', 'lattice', ['--host-whitelist', 'kv.example,127.0.0.1']);
  return { server, url: server.endpoint, stop: () => server.stop() };
});

listed.it('only listed hosts are served: /api refuses others with 403, etcd handlers with 421 and etcd text', async ({ url }) => {
  assert.is((await get(url, '/api/status', 'kv.example:2379')).status, 200);
  assert.is((await get(url, '/api/status', 'localhost')).status, 403);
  const v3 = await get(url, '/health', 'other.example');
  assert.is(v3.status, 421);
  assert.ok(v3.body.includes('CVE-2018-5702'));
  assert.is((await get(url, '/health', '127.0.0.1')).status, 200);
});
listed.run();
