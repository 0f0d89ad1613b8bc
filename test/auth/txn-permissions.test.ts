// A put inside a Txn needs write on its key and nothing more, as in etcd 3.4 (apply_auth.go's
// checkTxnReqsPermission): its prev_kv is not checked for read, nor its lease's keys for write. The
// check runs when the entry is applied, so it must stay what every member of every build decides
// (docs/security.md, "Known risks"); a plain Put checks both.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PutRequest, TxnRequest, type RequestOp } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { putRefusal, txnRefusal, type PermissionCheck } from '../../src/auth/request-permissions.js';
import type { AuthHeader } from '../../src/auth/auth-op.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const writer: AuthHeader = { user: 'writer', revision: 1 };

/** The writer may write w/* and read nothing; r/ may be read and written. Point checks only. */
const check: PermissionCheck = (_h, key, _end, kind) => {
  const k = Buffer.from(key).toString('latin1');
  if (k.startsWith('r/')) return undefined;
  if (k.startsWith('w/') && kind === 'write') return undefined;
  return 'authPermissionDenied';
};
/** Lease 7 holds a key the writer may not write. */
const leaseKeys = (id: bigint): readonly string[] | undefined => (id === 7n ? ['other'] : undefined);

const put = (key: string, extra: Partial<PutRequest> = {}): RequestOp => ({ requestPut: PutRequest.fromPartial({ key: b(key), value: b('v'), ...extra }) });
const txn = (success: RequestOp[]): TxnRequest => TxnRequest.fromPartial({ success });

test('a plain Put with prev_kv needs read, and with a lease write on its keys; the same put in a Txn, nested or not, needs write only, as in etcd 3.4', () => {
  assert.is(putRefusal(check, writer, PutRequest.fromPartial({ key: b('w/a'), prevKv: true })), 'authPermissionDenied');
  assert.is(putRefusal(check, writer, PutRequest.fromPartial({ key: b('w/a'), lease: 7n }), leaseKeys), 'authPermissionDenied');
  assert.is(txnRefusal(check, writer, txn([put('w/a', { prevKv: true })])), undefined);
  assert.is(txnRefusal(check, writer, txn([put('w/a', { lease: 7n })])), undefined);
  assert.is(txnRefusal(check, writer, txn([{ requestTxn: TxnRequest.fromPartial({ failure: [put('w/a', { prevKv: true })] }) }])), undefined);
  assert.is(txnRefusal(check, writer, txn([put('x/a')])), 'authPermissionDenied', 'write is still needed');
});

test.run();
