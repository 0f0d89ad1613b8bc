// The gateway's routes come from the protos' google.api.http bindings (no table of our own), and
// paths are decided as etcd 3.4's Go mux and grpc-gateway decide them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { IncomingMessage } from 'node:http';
import { GatewayRouter, goCleanPath } from '../../src/adapters/gateway/gateway-routing.js';
import { grpcTimeoutOf } from '../../src/adapters/gateway/gateway-handler.js';
import { gatewayRoutes } from '../../src/adapters/gateway/gateway-schema.js';
import { etcdDescriptorSetBase64 } from '../../src/gen/etcd-descriptor-set.js';
import { repoRoot } from '../helpers/paths.js';

const test = suite('gateway: routes and paths');
const routes = gatewayRoutes();
const router = new GatewayRouter(routes);

test('every etcd 3.4 gateway path is a POST route to its gRPC method, aliases included', () => {
  const table = new Map(routes.map((r) => [r.path, r.grpcPath]));
  const expected: [string, string][] = [
    ['/v3/kv/range', '/etcdserverpb.KV/Range'],
    ['/v3/kv/put', '/etcdserverpb.KV/Put'],
    ['/v3/kv/deleterange', '/etcdserverpb.KV/DeleteRange'],
    ['/v3/kv/txn', '/etcdserverpb.KV/Txn'],
    ['/v3/kv/compaction', '/etcdserverpb.KV/Compact'],
    ['/v3/watch', '/etcdserverpb.Watch/Watch'],
    ['/v3/lease/grant', '/etcdserverpb.Lease/LeaseGrant'],
    ['/v3/lease/revoke', '/etcdserverpb.Lease/LeaseRevoke'],
    ['/v3/kv/lease/revoke', '/etcdserverpb.Lease/LeaseRevoke'],
    ['/v3/lease/keepalive', '/etcdserverpb.Lease/LeaseKeepAlive'],
    ['/v3/lease/timetolive', '/etcdserverpb.Lease/LeaseTimeToLive'],
    ['/v3/kv/lease/timetolive', '/etcdserverpb.Lease/LeaseTimeToLive'],
    ['/v3/lease/leases', '/etcdserverpb.Lease/LeaseLeases'],
    ['/v3/kv/lease/leases', '/etcdserverpb.Lease/LeaseLeases'],
    ['/v3/cluster/member/add', '/etcdserverpb.Cluster/MemberAdd'],
    ['/v3/cluster/member/remove', '/etcdserverpb.Cluster/MemberRemove'],
    ['/v3/cluster/member/update', '/etcdserverpb.Cluster/MemberUpdate'],
    ['/v3/cluster/member/list', '/etcdserverpb.Cluster/MemberList'],
    ['/v3/cluster/member/promote', '/etcdserverpb.Cluster/MemberPromote'],
    ['/v3/maintenance/alarm', '/etcdserverpb.Maintenance/Alarm'],
    ['/v3/maintenance/status', '/etcdserverpb.Maintenance/Status'],
    ['/v3/maintenance/defragment', '/etcdserverpb.Maintenance/Defragment'],
    // Hash and HashKV share the path; etcd 3.4 answers it with Hash (checked with curl)
    ['/v3/maintenance/hash', '/etcdserverpb.Maintenance/Hash'],
    ['/v3/maintenance/snapshot', '/etcdserverpb.Maintenance/Snapshot'],
    ['/v3/maintenance/transfer-leadership', '/etcdserverpb.Maintenance/MoveLeader'],
    ['/v3/auth/enable', '/etcdserverpb.Auth/AuthEnable'],
    ['/v3/auth/authenticate', '/etcdserverpb.Auth/Authenticate'],
    ['/v3/auth/user/add', '/etcdserverpb.Auth/UserAdd'],
    ['/v3/auth/role/grant', '/etcdserverpb.Auth/RoleGrantPermission'],
    ['/v3/lock/lock', '/v3lockpb.Lock/Lock'],
    ['/v3/lock/unlock', '/v3lockpb.Lock/Unlock'],
    ['/v3/election/campaign', '/v3electionpb.Election/Campaign'],
    ['/v3/election/proclaim', '/v3electionpb.Election/Proclaim'],
    ['/v3/election/leader', '/v3electionpb.Election/Leader'],
    ['/v3/election/observe', '/v3electionpb.Election/Observe'],
    ['/v3/election/resign', '/v3electionpb.Election/Resign'],
  ];
  for (const [path, grpc] of expected) assert.is(table.get(path), grpc, path);
  assert.ok(routes.every((r) => r.httpMethod === 'POST'));
});

test('/v3beta/ is /v3/; /v3alpha/ and other paths are not the gateway', () => {
  const d = router.decide('POST', '/v3beta/kv/range', '');
  assert.is(d.kind === 'route' ? d.route.grpcPath : d.kind, '/etcdserverpb.KV/Range');
  assert.is(router.decide('POST', '/v3alpha/kv/range', '').kind, 'notGateway');
  assert.is(router.decide('GET', '/health', '').kind, 'notGateway');
  assert.is(router.decide('POST', '/api/kv/x', '').kind, 'notGateway');
});

test('unknown path → 404, known path with another method → 405, unclean path or bare prefix → 301', () => {
  assert.is(router.decide('POST', '/v3/kv/nope', '').kind, 'notFound');
  assert.is(router.decide('POST', '/v3/kv/range/', '').kind, 'notFound');
  assert.is(router.decide('GET', '/v3/kv/range', '').kind, 'methodNotAllowed');
  assert.equal(router.decide('POST', '/v3//kv/range', '?x=1'), { kind: 'redirect', location: '/v3/kv/range?x=1' });
  assert.equal(router.decide('POST', '/v3', ''), { kind: 'redirect', location: '/v3/' });
  assert.equal(router.decide('POST', '/v3/kv/../kv/range', ''), { kind: 'redirect', location: '/v3/kv/range' });
  assert.is(goCleanPath('/a/./b/'), '/a/b/');
});

test('Grpc-Timeout is read as grpc-gateway reads it: signed count and unit, 0 for none, malformed refused', () => {
  const of = (value: string | undefined) => grpcTimeoutOf({ headers: value === undefined ? {} : { 'grpc-timeout': value } } as IncomingMessage);
  assert.is(of(undefined), undefined);
  assert.is(of('500m'), 500);
  assert.is(of('2S'), 2000);
  assert.is(of('1M'), 60_000);
  assert.is(of('0S'), 0);
  assert.is(of('-1S'), -1000);
  assert.is(of('+3S'), 3000);
  for (const bad of ['S', '1x', 'x1S', '1.5S']) assert.equal(of(bad), { code: 3, details: `invalid grpc-timeout: ${bad}` }, bad);
});

test('the committed descriptor set is what protoc makes of proto/ (no drift)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lattice-descriptors-'));
  const out = join(dir, 'set.binpb');
  let fresh: Buffer;
  try {
    execFileSync(
      'protoc',
      [
        '-I', 'proto', '-I', '/usr/include', '--include_imports', `--descriptor_set_out=${out}`,
        'etcd/etcdserver/etcdserverpb/rpc.proto',
        'etcd/etcdserver/api/v3lock/v3lockpb/v3lock.proto',
        'etcd/etcdserver/api/v3election/v3electionpb/v3election.proto',
      ],
      { cwd: repoRoot },
    );
    fresh = readFileSync(out);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    console.log('SKIP drift check: protoc is not installed');
    return;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(fresh.equals(Buffer.from(etcdDescriptorSetBase64, 'base64')), 'run `npm run proto` to regenerate src/gen');
});

test.run();
