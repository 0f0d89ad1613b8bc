// What a call that straddles `auth enable` (or a token's invalidation) meets, on a client port over
// an in-memory server with a real auth front: a write carries a header even while auth is off, so
// the apply can refuse it; a read whose barrier brings `auth enable` in is checked after it; a watch
// stream opened before `auth enable` has each later create checked with the token it sends now.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { startClientPort, type ClientPort } from '../../src/adapters/client-port.js';
import { AuthFront } from '../../src/auth/auth-front.js';
import { noUser, type AuthHeader } from '../../src/auth/auth-op.js';
import type { KvApi } from '../../src/core/kv-api.js';
import { KVClient, PutRequest, RangeRequest, WatchCreateRequest, type RangeResponse, type WatchResponse } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { FakeServerApi } from '../adapters/fake-server-api.js';
import { connect, WatchStream, type Connection } from '../helpers/grpc-watch-client.js';
import { withTimeout } from '../engines/engine-suite.js';
import { addRootAndAlice, selfApplyingAuthFront } from '../store/auth-harness.js';

/** root, and alice who may read and write every key from "a" up to "b". */
const addUsers = (front: AuthFront): Promise<void> => addRootAndAlice(front, { role: 'a-rw', permType: 2, key: 'a', rangeEnd: 'b' });

/** The fake server with auth, recording the header every write reaches the core with. */
class AuthedApi extends FakeServerApi {
  readonly auth = selfApplyingAuthFront();
  readonly writeHeaders: (AuthHeader | undefined)[] = [];
  /** Runs inside the next range, before it answers (its barrier bringing in a new auth state). */
  duringNextRange: (() => Promise<void>) | undefined;

  constructor() {
    super();
    const inner = { ...this.kv };
    Object.assign(this.kv, {
      range: async (req: RangeRequest): Promise<RangeResponse> => {
        const during = this.duringNextRange;
        this.duringNextRange = undefined;
        await during?.();
        return inner.range(req);
      },
      put: (req: PutRequest, auth: AuthHeader | undefined) => {
        this.writeHeaders.push(auth);
        return inner.put(req, auth);
      },
    } satisfies Partial<KvApi>);
  }
}

interface Fixture {
  api: AuthedApi;
  port: ClientPort;
  conn: Connection;
  kv: KVClient;
}

const test = suite<{ fx?: Fixture }>('auth across auth enable', {});
test.before.each(async (ctx) => {
  const api = new AuthedApi();
  await addUsers(api.auth);
  const port = await startClientPort({ listenUrls: ['http://127.0.0.1:0'], api, log: () => undefined });
  const a = port.addresses[0]!;
  const endpoint = `${a.host}:${a.port}`;
  ctx.fx = { api, port, conn: connect(endpoint), kv: new KVClient(endpoint, credentials.createInsecure()) };
});
test.after.each(async (ctx) => {
  ctx.fx?.conn.close();
  ctx.fx?.kv.close();
  await ctx.fx?.port.close();
});
const it = (name: string, fn: (fx: Fixture) => Promise<void>): void => test(name, withTimeout(15_000, (ctx) => fn(ctx.fx!)));

const metadataOf = (token: string | undefined): Metadata => {
  const m = new Metadata();
  if (token !== undefined) m.set('token', token);
  return m;
};
const put = (kv: KVClient, key: string, token?: string): Promise<unknown> =>
  new Promise((resolve, reject) => kv.put(PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from('v') }), metadataOf(token), (err: ServiceError | null, res) => (err ? reject(err) : resolve(res))));
const get = (kv: KVClient, key: string, token?: string): Promise<RangeResponse> =>
  new Promise((resolve, reject) => kv.range(RangeRequest.fromPartial({ key: Buffer.from(key) }), metadataOf(token), (err: ServiceError | null, res) => (err ? reject(err) : resolve(res!))));
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as ServiceError).details;
  }
  throw new Error('expected the call to fail');
}

it('a write without credentials carries the empty user while auth is off, so an apply after auth enable refuses it', async ({ api, kv }) => {
  await put(kv, 'a/1');
  assert.equal(api.writeHeaders, [noUser]);
  // The header the write carries is what the apply checks: after `auth enable` it is refused.
  await api.auth.request(noUser, { op: 'enable' });
  assert.is(api.auth.state.refusal(api.writeHeaders[0]!, Buffer.from('a/1'), Buffer.alloc(0), 'write'), 'authUserEmpty');
});

it('a write with a stale token is refused as invalid even while auth is off, as etcd does', async ({ api, kv }) => {
  await api.auth.request(noUser, { op: 'enable' });
  const token = await api.auth.authenticate('alice', 'apw');
  await api.auth.request({ user: 'root', revision: api.auth.state.revision }, { op: 'disable' });
  assert.is(await failure(put(kv, 'a/1', token)), 'etcdserver: invalid auth token');
  assert.equal(api.writeHeaders, []);
});

it('a read that started with auth off and whose barrier brought auth enable in is refused with user name is empty', async ({ api, kv }) => {
  api.duringNextRange = () => api.auth.request(noUser, { op: 'enable' }).then(() => undefined);
  assert.is(await failure(get(kv, 'a/1')), 'etcdserver: user name is empty');
  const token = await api.auth.authenticate('alice', 'apw');
  await get(kv, 'a/1', token);
});

it('a watch stream opened before auth enable has its next create refused with user name is empty', async ({ api, conn }) => {
  const w = new WatchStream(conn);
  w.create({ key: Buffer.from('a/1') });
  await w.until('first watch created', (rs) => rs.some((r) => r.created && !r.canceled));
  await api.auth.request(noUser, { op: 'enable' });
  w.create({ key: Buffer.from('a/2') });
  await w.until('second create answered', (rs) => rs.length >= 2);
  const second = w.responses[1]!;
  assert.is(second.canceled, true);
  assert.is(second.watchId, -1n);
  assert.is(second.cancelReason, 'rpc error: code = InvalidArgument desc = etcdserver: user name is empty');
  w.close();
});

it('a watch stream whose token is invalidated by a password change has its next create refused with invalid auth token', async ({ api, conn }) => {
  await api.auth.request(noUser, { op: 'enable' });
  const token = await api.auth.authenticate('alice', 'apw');
  const call = conn.watch.watch(metadataOf(token));
  const responses: WatchResponse[] = [];
  call.on('data', (r: WatchResponse) => responses.push(r));
  call.on('error', () => undefined);
  call.write({ createRequest: WatchCreateRequest.create({ key: Buffer.from('a/1') }) });
  await until(() => responses.length >= 1);
  assert.is(responses[0]!.canceled, false);
  await api.auth.userChangePassword({ user: 'root', revision: api.auth.state.revision }, 'alice', 'new');
  call.write({ createRequest: WatchCreateRequest.create({ key: Buffer.from('a/2') }) });
  await until(() => responses.length >= 2);
  assert.is(responses[1]!.canceled, true);
  assert.is(responses[1]!.cancelReason, 'rpc error: code = Unauthenticated desc = etcdserver: invalid auth token');
  call.cancel();
});

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test.run();
