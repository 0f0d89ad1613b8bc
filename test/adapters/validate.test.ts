// etcd 3.4's request checks (v3rpc/key.go). Cases marked "etcd 3.4.23:" were checked against a
// real etcd 3.4.23 with the same requests.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isTxnReadOnly } from '../../src/mvcc/kv-operations.js';
import {
  RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  TxnRequest,
  type RequestOp,
} from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { raftHeaderBytes, raftRequestBytes } from '../../src/adapters/grpc/request-size.js';
import {
  checkPutRequest,
  checkRangeRequest,
  validateTxn,
} from '../../src/adapters/grpc/validate.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const put = (k: string): RequestOp => ({ requestPut: { key: B(k), value: B('v'), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false } });
const del = (k: string, end = ''): RequestOp => ({ requestDeleteRange: { key: B(k), rangeEnd: B(end), prevKv: false } });
const get = (k: string): RequestOp => ({ requestRange: RangeRequest.fromPartial({ key: B(k) }) });
const txn = (success: RequestOp[], failure: RequestOp[] = [], compareKeys: string[] = []): TxnRequest =>
  TxnRequest.fromPartial({ success, failure, compare: compareKeys.map((k) => ({ key: B(k) })) });
const nested = (success: RequestOp[], failure: RequestOp[] = []): RequestOp => ({ requestTxn: txn(success, failure) });

const t = suite('etcd request checks');

t('range with an empty key fails with emptyKey', () => {
  assert.is(checkRangeRequest(RangeRequest.fromPartial({ key: B('') })), 'emptyKey');
});

t('range with an unknown sort order and the key target is served, as etcd 3.4 does', () => {
  // etcd 3.4.23: order 7 target KEY → OK, unsorted
  assert.is(checkRangeRequest(RangeRequest.fromPartial({ key: B('a'), sortOrder: 7 as RangeRequest_SortOrder })), undefined);
  assert.is(
    checkRangeRequest(RangeRequest.fromPartial({ key: B('a'), sortOrder: 7 as RangeRequest_SortOrder, sortTarget: 9 as RangeRequest_SortTarget })),
    undefined,
  );
});

t('range that would sort by an unknown target fails with invalidSortOption (etcd 3.4 crashes)', () => {
  // etcd 3.4.23: order NONE target 9 → nil sorter panic, connection dropped
  assert.is(checkRangeRequest(RangeRequest.fromPartial({ key: B('a'), sortTarget: 9 as RangeRequest_SortTarget })), 'invalidSortOption');
  assert.is(
    checkRangeRequest(RangeRequest.fromPartial({ key: B('a'), sortOrder: RangeRequest_SortOrder.DESCEND, sortTarget: 5 as RangeRequest_SortTarget })),
    'invalidSortOption',
  );
});

t('put checks: empty key, ignore_value with a value, ignore_lease with a lease', () => {
  const base = { key: B('k'), value: B(''), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false };
  assert.is(checkPutRequest({ ...base, key: B('') }), 'emptyKey');
  assert.is(checkPutRequest({ ...base, ignoreValue: true, value: B('x') }), 'valueProvided');
  assert.is(checkPutRequest({ ...base, ignoreValue: true }), undefined);
  assert.is(checkPutRequest({ ...base, ignoreLease: true, lease: 5n }), 'leaseProvided');
  assert.is(checkPutRequest({ ...base, ignoreLease: true }), undefined);
});

t('txn op count is the largest of compare, success and failure', () => {
  assert.is(validateTxn(txn([put('a'), put('b')]), 2), undefined);
  assert.is(validateTxn(txn([put('a'), put('b'), put('c')]), 2), 'tooManyOps');
  assert.is(validateTxn(txn([], [], ['a', 'b', 'c']), 2), 'tooManyOps');
  assert.is(validateTxn(txn([], [put('a'), put('b'), put('c')]), 2), 'tooManyOps');
});

t('a nested txn gets only the op budget its parent left', () => {
  // parent uses 2 of 3; the child may use 1
  assert.is(validateTxn(txn([put('a'), nested([put('b')])]), 3), undefined);
  assert.is(validateTxn(txn([put('a'), nested([put('b'), put('c')])]), 3), 'tooManyOps');
});

t('txn compare with an empty key fails with emptyKey; an empty op with keyNotFound', () => {
  // etcd 3.4.23: both
  assert.is(validateTxn(txn([], [], ['']), 128), 'emptyKey');
  assert.is(validateTxn(txn([{}]), 128), 'keyNotFound');
  assert.is(validateTxn(txn([get('')]), 128), 'emptyKey');
});

t('structure errors come before duplicate-key errors', () => {
  assert.is(validateTxn(txn([put('a'), put('a'), put('')]), 128), 'emptyKey');
});

t('duplicate keys: the cases checked against etcd 3.4.23', () => {
  assert.is(validateTxn(txn([put('a'), put('a')]), 128), 'duplicateKey');
  assert.is(validateTxn(txn([del('a', 'c'), put('b')]), 128), 'duplicateKey');
  // from-key delete ("\0" end) and an inverted range are empty intervals: no conflict
  assert.is(validateTxn(txn([del('a', '\x00'), put('b')]), 128), undefined);
  assert.is(validateTxn(txn([del('b', 'a'), put('b')]), 128), undefined);
  // a child's puts are checked only against deletes seen before it
  assert.is(validateTxn(txn([nested([put('k')]), nested([del('k')])]), 128), undefined);
  assert.is(validateTxn(txn([nested([del('k')]), nested([put('k')])]), 128), 'duplicateKey');
});

t('duplicate keys: then/else of one child may share a key, two children may not', () => {
  assert.is(validateTxn(txn([nested([put('k')], [put('k')])]), 128), undefined);
  assert.is(validateTxn(txn([nested([put('k')]), nested([put('k')])]), 128), 'duplicateKey');
  assert.is(validateTxn(txn([nested([put('k')]), put('k')]), 128), 'duplicateKey');
  // success and failure of the top-level txn are checked separately
  assert.is(validateTxn(txn([put('k')], [put('k')]), 128), undefined);
  // a put overlapping a delete in the same branch, at any depth below it
  assert.is(validateTxn(txn([del('k'), nested([put('k')])]), 128), 'duplicateKey');
  assert.is(validateTxn(txn([nested([del('a', 'z')]), put('k')]), 128), 'duplicateKey');
  // deletes may overlap each other
  assert.is(validateTxn(txn([del('a', 'z'), del('k')]), 128), undefined);
});

t('duplicate detection compares bytes, not text', () => {
  assert.is(validateTxn(txn([put('\xff'), put('\xfe')]), 128), undefined);
  assert.is(validateTxn(txn([del('\xfe', '\xff'), put('\xfe\x01')]), 128), 'duplicateKey');
});

t('a txn is read-only when every op is a range', () => {
  assert.ok(isTxnReadOnly(txn([get('a')], [get('b')])));
  assert.ok(isTxnReadOnly(txn([])));
  assert.not.ok(isTxnReadOnly(txn([get('a'), nested([])])));
  assert.not.ok(isTxnReadOnly(txn([get('a')], [put('b')])));
});

t('raft entry size adds the request header and the oneof wrapper', () => {
  // low 16 bits of the member ID ≥ 0x8000 → 10-byte ID varint
  assert.is(raftHeaderBytes(0xbdaf_9ea0_4d12_8f0dn), 14);
  assert.is(raftHeaderBytes(0x0000_0000_0000_0001n), 11);
  assert.is(raftRequestBytes(100, 0xffffn), 1 + 1 + 100 + 14);
  assert.is(raftRequestBytes(200, 0xffffn), 1 + 2 + 200 + 14);
});

t.run();
