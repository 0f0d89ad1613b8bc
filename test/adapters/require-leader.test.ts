// WithRequireLeader on the client port (src/adapters/grpc/require-leader.ts) with grpc-js against the
// fake core: calls carrying `hasleader: true` are refused on a member without a leader and their
// streams ended when it loses one; calls without the metadata are untouched. Also MoveLeader's path.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { credentials, Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { startClientPort, type ClientPort } from '../../src/adapters/client-port.js';
import { KVClient, MaintenanceClient, RangeRequest, WatchClient, type RangeResponse, type WatchResponse } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { withTimeout } from '../helpers/spec.js';
import { FakeServerApi, fakeMember } from './fake-server-api.js';

const callTimeoutMs = 5_000;
const testTimeoutMs = 15_000;

interface Fixture {
  api: FakeServerApi;
  port: ClientPort;
  kv: KVClient;
  watch: WatchClient;
  maintenance: MaintenanceClient;
}

const requireLeader = (): Metadata => {
  const md = new Metadata();
  md.set('hasleader', 'true');
  return md;
};

function range(kv: KVClient, md: Metadata): Promise<ServiceError | RangeResponse> {
  return new Promise((resolve) =>
    kv.range(RangeRequest.fromPartial({ key: Buffer.from('k') }), md, { deadline: Date.now() + callTimeoutMs }, (err, res) => resolve(err ?? res)),
  );
}

/** Opens a watch stream and resolves with its status once it ends. */
function watchUntilEnd(watch: WatchClient, md: Metadata, opened: () => void): Promise<{ code: number; details: string }> {
  return new Promise((resolve) => {
    const stream = watch.watch(md);
    stream.on('data', (_res: WatchResponse) => opened());
    stream.on('error', (err: ServiceError) => resolve({ code: err.code, details: err.details }));
    stream.on('status', (s: { code: number; details: string }) => resolve({ code: s.code, details: s.details }));
    stream.write({ createRequest: { key: Buffer.from('k'), rangeEnd: Buffer.alloc(0), startRevision: 0n, progressNotify: false, filters: [], prevKv: false, watchId: 0n, fragment: false } });
  });
}

const test = suite<{ f?: Fixture }>('WithRequireLeader on the client port');

test.before.each(async (ctx) => {
  const api = new FakeServerApi();
  const port = await startClientPort({ listenUrls: ['http://127.0.0.1:0'], api, log: () => undefined });
  const a = port.addresses[0]!;
  const addr = `${a.host}:${a.port}`;
  ctx.f = {
    api,
    port,
    kv: new KVClient(addr, credentials.createInsecure()),
    watch: new WatchClient(addr, credentials.createInsecure()),
    maintenance: new MaintenanceClient(addr, credentials.createInsecure()),
  };
});

test.after.each(async (ctx) => {
  const f = ctx.f!;
  f.kv.close();
  f.watch.close();
  f.maintenance.close();
  await f.port.close();
});

test('a call requiring a leader is served while there is one, and refused with etcdserver: no leader once there is none', async (ctx) => {
  const f = ctx.f!;
  const served = await range(f.kv, requireLeader());
  assert.ok(!('code' in served), String(served));
  f.api.loseLeader();
  const refused = (await range(f.kv, requireLeader())) as ServiceError;
  assert.is(refused.code, Status.UNAVAILABLE);
  assert.is(refused.details, 'etcdserver: no leader');
  const plain = await range(f.kv, new Metadata());
  assert.ok(!('code' in plain), 'a call without hasleader is served without a leader');
});

test('a watch stream requiring a leader is ended with etcdserver: no leader when the member loses it; others stay', async (ctx) => {
  const f = ctx.f!;
  await withTimeout(
    (async () => {
      let openedRequiring!: () => void;
      const requiringOpen = new Promise<void>((resolve) => (openedRequiring = resolve));
      const requiring = watchUntilEnd(f.watch, requireLeader(), () => openedRequiring());
      let plainEnded = false;
      let openedPlain!: () => void;
      const plainOpen = new Promise<void>((resolve) => (openedPlain = resolve));
      void watchUntilEnd(f.watch, new Metadata(), () => openedPlain()).then(() => (plainEnded = true));
      await Promise.all([requiringOpen, plainOpen]);
      f.api.loseLeader();
      assert.equal(await requiring, { code: Status.UNAVAILABLE, details: 'etcdserver: no leader' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.is(plainEnded, false);
    })(),
    testTimeoutMs,
    'watch streams',
  );
});

test('MoveLeader answers an empty response, or etcdserver: bad leader transferee', async (ctx) => {
  const f = ctx.f!;
  const move = (targetID: bigint) =>
    new Promise<ServiceError | object>((resolve) =>
      f.maintenance.moveLeader({ targetID }, new Metadata(), { deadline: Date.now() + callTimeoutMs }, (err, res) => resolve(err ?? res)),
    );
  assert.equal(await move(fakeMember.memberId), { header: undefined });
  const bad = (await move(1n)) as ServiceError;
  assert.is(bad.code, Status.FAILED_PRECONDITION);
  assert.is(bad.details, 'etcdserver: bad leader transferee');
});

test.run();
