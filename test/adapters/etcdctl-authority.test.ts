// etcdctl against the real server with an endpoint written as a URL: clientv3 3.4 dials each
// endpoint of `endpoint status` with `:authority: http://127.0.0.1:PORT`, which nghttp2 alone refuses
// (RST_STREAM PROTOCOL_ERROR); the client port's :authority shim lets it through as etcd does.
// Run: npx tsc -p tsconfig.json; node dist/test/adapters/etcdctl-authority.test.js
import * as assert from 'uvu/assert';
import { etcdctl, rawNumberField } from '../helpers/etcdctl.js';
import { startLattice } from '../helpers/lattice-server.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

// without etcdctl: one line `SKIP: etcdctl with an http:// endpoint: etcdctl not installed`
const t = serverSuite('etcdctl with an http:// endpoint', () => startLattice('memory'), missingTools(['etcdctl']));

t.it('endpoint status -w json reports the member through an http:// endpoint', async (server) => {
  assert.match(server.endpoint, /^http:\/\//);
  const result = await etcdctl(server.endpoint, ['endpoint', 'status', '-w', 'json']);
  assert.is(result.code, 0, result.stderr);
  assert.not.match(result.stderr, /PROTOCOL_ERROR/);
  const [status] = JSON.parse(result.stdout.replace(/"(cluster_id|member_id|leader|raft_term)":\d+/g, '"$1":0')) as {
    Endpoint: string;
    Status: { version: string; dbSize: number };
  }[];
  assert.is(status?.Endpoint, server.endpoint);
  assert.match(status?.Status.version ?? '', /^3\.4\.\d+$/);
  const member = rawNumberField(result.stdout, 'member_id');
  assert.ok(member !== null && member !== '0', 'member_id is set');
  assert.is(rawNumberField(result.stdout, 'leader'), member, 'a single member leads');
});

t.it('endpoint status in table form prints the endpoint URL', async (server) => {
  const result = await etcdctl(server.endpoint, ['endpoint', 'status']);
  assert.is(result.code, 0, result.stderr);
  assert.ok(result.stdout.startsWith(`${server.endpoint}, `), result.stdout);
});

t.it('put then get through an http:// endpoint', async (server) => {
  const put = await etcdctl(server.endpoint, ['put', 'shim/key', 'a/b://value']);
  assert.is(put.code, 0, put.stderr);
  assert.is(put.stdout, 'OK\n');
  const get = await etcdctl(server.endpoint, ['get', 'shim/key']);
  assert.is(get.code, 0, get.stderr);
  assert.is(get.stdout, 'shim/key\na/b://value\n');
});

t.it('the same commands with a host:port endpoint are unaffected', async (server) => {
  const hostPort = server.endpoint.replace(/^http:\/\//, '');
  const status = await etcdctl(hostPort, ['endpoint', 'status']);
  assert.is(status.code, 0, status.stderr);
  assert.ok(status.stdout.startsWith(`${hostPort}, `), status.stdout);
  const get = await etcdctl(hostPort, ['get', 'shim/key', '--print-value-only']);
  assert.is(get.stdout, 'a/b://value\n');
});

t.run();
