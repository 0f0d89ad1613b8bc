// LeaseTimeToLive with keys: the caller must be able to read every key the answer names, checked on
// the keys answered. On a follower the answer is the leader's table, which this member's may lag,
// so a check against the local table could show a key the caller may not read (or refuse a lease
// whose keys it may). Driven through the gRPC method with a fake lease API whose answer and lease
// table disagree, as a follower's do while the log catches up.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isEtcdError } from '../../src/core/errors.js';
import type { ServerApi } from '../../src/core/kv-api.js';
import { AuthFront } from '../../src/auth/auth-front.js';
import { noUser } from '../../src/auth/auth-op.js';
import { addRootAndAlice, selfApplyingAuthFront } from '../store/auth-harness.js';
import { createLeaseMethods } from '../../src/adapters/grpc/lease-service.js';
import type { MethodCall } from '../../src/adapters/grpc/service-module.js';
import { LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, type ResponseHeader } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const header: ResponseHeader = { clusterId: 1n, memberId: 2n, revision: 3n, raftTerm: 4n };

/** This member's lease table (lagging) and the leader's answer, per lease. */
const localTable = new Map<bigint, string[]>([
  [5n, []],
  [6n, ['/secret']],
]);
const leaderKeys = new Map<bigint, string[]>([
  [5n, ['/secret']],
  [6n, ['/a/x']],
]);

async function aliceReadsA(): Promise<{ front: AuthFront; token: string }> {
  const front = selfApplyingAuthFront((id) => localTable.get(id));
  await addRootAndAlice(front, { role: 'ra', permType: 0, key: '/a/', rangeEnd: '/a0' });
  await front.request(noUser, { op: 'enable' });
  return { front, token: await front.authenticate('alice', 'apw') };
}

/** Calls LeaseTimeToLive(keys) with the token: the answer's keys, or the error kind. */
function timeToLive(front: AuthFront, token: string, id: bigint): Promise<string> {
  const api = {
    auth: front,
    header: () => header,
    lease: {
      timeToLive: async (req: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse> => ({
        header,
        ID: req.ID,
        TTL: 10n,
        grantedTTL: 10n,
        keys: (leaderKeys.get(req.ID) ?? []).map(b),
      }),
    },
  } as unknown as ServerApi;
  const method = createLeaseMethods({ api, maxRequestBytes: 1 << 20, maxTxnOps: 128, log: () => undefined } as unknown as Parameters<typeof createLeaseMethods>[0]).find((m) =>
    m.path.endsWith('/LeaseTimeToLive'),
  )!;
  return new Promise((resolve) => {
    const call = {
      metadata: { token },
      deadline: undefined,
      signal: new AbortController().signal,
      receive: (message: (bytes: Buffer) => void) => message(Buffer.from(LeaseTimeToLiveRequest.encode({ ID: id, keys: true }).finish())),
      sendUnary: (framed: Buffer) => resolve(LeaseTimeToLiveResponse.decode(framed.subarray(5)).keys.map((k) => Buffer.from(k).toString('latin1')).join(',')),
      fail: (e: unknown) => resolve(isEtcdError(e) ? e.kind : String(e)),
      end: (status?: { details: string }) => resolve(status?.details ?? 'ended'),
    } as unknown as MethodCall;
    method.serve(call);
  });
}

test('a key the leader answers but this member\'s table lacks yet is checked: the caller who may not read it is refused', async () => {
  const { front, token } = await aliceReadsA();
  assert.is(await timeToLive(front, token, 5n), 'authPermissionDenied');
});

test('a key this member\'s table still holds but the leader no longer answers does not refuse the caller', async () => {
  const { front, token } = await aliceReadsA();
  assert.is(await timeToLive(front, token, 6n), '/a/x');
});

test('an invalid token is refused as invalid', async () => {
  const { front } = await aliceReadsA();
  assert.is(await timeToLive(front, 'garbage', 6n), 'authInvalidToken');
});

test.run();
