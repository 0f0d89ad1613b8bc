// A put inside a Txn needs what the put alone needs: read too with prev_kv, and write on the keys
// already attached to its lease, at any nesting depth (stricter than etcd 3.4, which checks only
// write for a Txn's put and so shows a write-only user the value its prev_kv replaced).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PutRequest, TxnRequest, type RequestOp } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { putRefusal, txnPutsWithLease, txnRefusal, type PermissionCheck } from '../../src/auth/request-permissions.js';
import { noUser, type AuthHeader, type AuthRequest } from '../../src/auth/auth-op.js';
import { AuthFront } from '../../src/auth/auth-front.js';
import type { AuthAnswer } from '../../src/auth/auth-state.js';
import { SimpleTokens } from '../../src/auth/simple-tokens.js';
import { EtcdError } from '../../src/core/errors.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const writer: AuthHeader = { user: 'writer', revision: 1 };

/** The writer may write w/* and read nothing; r/ may be read and written. Point checks only. */
const check: PermissionCheck = (_h, key, _end, kind) => {
  const k = Buffer.from(key).toString('latin1');
  if (k.startsWith('r/')) return undefined;
  if (k.startsWith('w/') && kind === 'write') return undefined;
  return 'authPermissionDenied';
};
/** Lease 7 holds a key the writer may not write; lease 8 only one it may. */
const leaseKeys = (id: bigint): readonly string[] | undefined => (id === 7n ? ['other'] : id === 8n ? ['w/held'] : undefined);

const put = (key: string, extra: Partial<PutRequest> = {}): RequestOp => ({ requestPut: PutRequest.fromPartial({ key: b(key), value: b('v'), ...extra }) });
const txn = (success: RequestOp[]): TxnRequest => TxnRequest.fromPartial({ success });

test('a Txn put with prev_kv needs read on its key, as a plain Put with prev_kv does', () => {
  assert.is(putRefusal(check, writer, PutRequest.fromPartial({ key: b('w/a'), prevKv: true })), 'authPermissionDenied');
  assert.is(txnRefusal(check, writer, txn([put('w/a', { prevKv: true })])), 'authPermissionDenied');
  assert.is(txnRefusal(check, writer, txn([put('w/a')])), undefined);
  assert.is(txnRefusal(check, writer, txn([put('r/a', { prevKv: true })])), undefined);
});

test('a put with prev_kv in a nested Txn, on either branch, needs read too', () => {
  const nested = txn([{ requestTxn: TxnRequest.fromPartial({ failure: [put('w/a', { prevKv: true })] }) }]);
  assert.is(txnRefusal(check, writer, nested), 'authPermissionDenied');
  const onFailure = TxnRequest.fromPartial({ failure: [put('w/a', { prevKv: true })] });
  assert.is(txnRefusal(check, writer, onFailure), 'authPermissionDenied');
});

test('a Txn put with a lease needs write on every key the lease holds, as a plain Put does', () => {
  assert.is(putRefusal(check, writer, PutRequest.fromPartial({ key: b('w/a'), lease: 7n }), leaseKeys), 'authPermissionDenied');
  assert.is(txnRefusal(check, writer, txn([put('w/a', { lease: 7n })]), leaseKeys), 'authPermissionDenied');
  assert.is(txnRefusal(check, writer, txn([{ requestTxn: txn([put('w/a', { lease: 7n })]) }]), leaseKeys), 'authPermissionDenied');
  assert.is(txnRefusal(check, writer, txn([put('w/a', { lease: 8n })]), leaseKeys), undefined);
});

test('a Txn that puts with a lease, nested or not, is marked as reading the lease table', () => {
  assert.ok(txnPutsWithLease(txn([put('w/a', { lease: 8n })])));
  assert.ok(txnPutsWithLease(TxnRequest.fromPartial({ failure: [{ requestTxn: txn([put('w/a', { lease: 8n })]) }] })));
  assert.not.ok(txnPutsWithLease(txn([put('w/a')])));
});

test('the apply-time check of a Txn entry uses the lease table, and such an entry is checked after the writes before it', async () => {
  let index = 0;
  let front: AuthFront | undefined;
  front = new AuthFront({
    provider: { kind: 'simple', tokens: new SimpleTokens({ ttlMs: 60_000, nowMs: () => 0, random: Math.random }) },
    hasher: { hash: async (p: string) => `plain:${p}`, matches: async (p: string, h: string) => h === `plain:${p}` },
    propose: async (req: AuthRequest): Promise<AuthAnswer> => {
      const out = front!.apply(req, ++index, []);
      if (!out.ok) throw new EtcdError(out.error);
      return out.answer;
    },
    leaseKeys,
    clientCertAuth: false,
  });
  await front.userAdd(noUser, 'root', 'rootpw', false);
  await front.request(noUser, { op: 'userGrantRole', user: 'root', role: 'root' });
  await front.request(noUser, { op: 'roleAdd', name: 'w' });
  await front.request(noUser, { op: 'roleGrantPermission', name: 'w', permType: 1, key: 'w/', rangeEnd: 'w0' });
  await front.userAdd(noUser, 'writer', 'pw', false);
  await front.request(noUser, { op: 'userGrantRole', user: 'writer', role: 'w' });
  await front.request(noUser, { op: 'enable' });
  const auth = { user: 'writer', revision: front.state.revision };
  const leased = txn([put('w/a', { lease: 7n })]);
  assert.is(front.writeRefusal({ type: 'txn', req: leased, auth }), 'authPermissionDenied');
  assert.is(front.writeRefusal({ type: 'txn', req: txn([put('w/a', { lease: 8n })]), auth }), undefined);
  assert.ok(front.checkReadsWrittenState({ type: 'txn', req: leased, auth }));
  assert.not.ok(front.checkReadsWrittenState({ type: 'txn', req: txn([put('w/a')]), auth }));
});

test.run();
