// etcd's own files and tools: a snapshot taken by a real etcd 3.4 is read with our reader (its
// buckets, revision keys, KeyValue records and SHA-256 trailer), and a file our writer makes in
// etcd's layout passes `etcdctl snapshot status` and `snapshot restore`, and a real etcd serves it.
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { BboltReader, type ReadEntry } from '../../src/bbolt/bbolt-reader.js';
import { writeBboltFile } from '../../src/bbolt/bbolt-file.js';
import type { WriteEntry } from '../../src/bbolt/bbolt-writer.js';
import { checkSnapshotHash } from '../../src/bbolt/snapshot-trailer.js';
import { copyEntries } from '../../src/bbolt/copy-entries.js';
import { PageVisits } from '../../src/bbolt/page-visits.js';
import { decodeBigEndianU64, decodeRevisionKey, encodeBigEndianU64, encodeRevisionKey, etcdBuckets, etcdMetaKeys } from '../../src/bbolt/etcd-layout.js';
import { KeyValue } from '../../src/gen/etcd/mvcc/mvccpb/kv.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { etcdctl } from '../helpers/etcdctl.js';
import { allocateAddress, etcdFlags, launchRestartable } from '../helpers/server-flags.js';
import { serverSuite } from '../helpers/spec.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { missingTools } from '../helpers/tools.js';
import { bytes, readerDump } from './bbolt-fixtures.js';

interface Fixture {
  etcd: EtcdServer;
  dir: string;
  stop(): Promise<void>;
}

const s = serverSuite<Fixture>(
  'bbolt: etcd snapshots',
  async () => {
    const etcd = await startEtcd();
    const dir = makeTempDir('bbolt-etcd');
    return {
      etcd,
      dir,
      async stop() {
        await etcd.stop();
        removeTempDir(dir);
      },
    };
  },
  missingTools(['etcd', 'etcdctl']),
);
const testTimeoutMs = 120_000;

async function ok(endpoint: string, args: string[]): Promise<string> {
  const result = await etcdctl(endpoint, args);
  if (result.code !== 0) throw new Error(`etcdctl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

async function collect(items: AsyncIterable<ReadEntry>): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const text = (data: Uint8Array): string => Buffer.from(data).toString('utf8');

s.it('a snapshot saved from real etcd: the trailer checks, etcd\'s buckets are there, the key bucket holds every revision', async ({ etcd, dir }) => {
  await ok(etcd.endpoint, ['put', 'alpha', 'one']);
  await ok(etcd.endpoint, ['put', 'beta', 'two']);
  await ok(etcd.endpoint, ['put', 'alpha', 'three']);
  await ok(etcd.endpoint, ['del', 'beta']);
  await ok(etcd.endpoint, ['put', 'large', 'x'.repeat(20_000)]);
  const lease = /lease ([0-9a-f]+) granted/.exec(await ok(etcd.endpoint, ['lease', 'grant', '600']))?.[1];
  assert.ok(lease, 'lease granted');
  await ok(etcd.endpoint, ['put', 'leased', 'v', '--lease', lease!]);
  const path = join(dir, 'etcd.snapshot');
  await ok(etcd.endpoint, ['snapshot', 'save', path]);

  const check = await checkSnapshotHash(path);
  assert.is(check.kind, 'ok');

  const reader = await BboltReader.open(path);
  try {
    const names = (await collect(reader.entries(reader.root))).map((entry) => text(entry.key));
    for (const name of ['alarm', 'auth', 'authRoles', 'authUsers', 'cluster', 'key', 'lease', 'members', 'members_removed', 'meta']) {
      assert.ok(names.includes(name), `bucket ${name} in ${names.join(', ')}`);
    }
    const keyBucket = (await reader.bucket(etcdBuckets.key))!;
    const history = (await collect(reader.entries(keyBucket))).map((entry) => {
      if (entry.kind !== 'value') throw new Error('the key bucket holds values only');
      const revision = decodeRevisionKey(entry.key);
      assert.ok(revision, `a revision key: ${Buffer.from(entry.key).toString('hex')}`);
      const kv = KeyValue.decode(entry.value);
      return { main: revision!.main, tombstone: revision!.tombstone, key: text(kv.key), value: text(kv.value).slice(0, 8), mod: kv.modRevision, lease: kv.lease };
    });
    assert.equal(
      history.map(({ key, value, tombstone }) => `${key}=${value}${tombstone ? ' (deleted)' : ''}`),
      ['alpha=one', 'beta=two', 'alpha=three', 'beta= (deleted)', 'large=xxxxxxxx', 'leased=v'],
    );
    for (const entry of history) if (!entry.tombstone) assert.is(entry.mod, entry.main);
    assert.is(history.at(-1)!.lease, BigInt(`0x${lease}`));
    const revisions = history.map((entry) => entry.main);
    assert.equal(revisions, [...revisions].sort((a, b) => (a < b ? -1 : 1)));

    const meta = (await reader.bucket(etcdBuckets.meta))!;
    const index = await reader.get(meta, etcdMetaKeys.consistentIndex);
    assert.ok(index?.kind === 'value' && (decodeBigEndianU64(index.value) ?? 0n) > 0n, 'consistent_index');
    const leases = await collect(reader.entries((await reader.bucket(etcdBuckets.lease))!));
    assert.is(leases.length, 1);
    // The dump walks every page once: nothing shared, nothing cyclic.
    assert.ok((await readerDump(path)).length > 10);
  } finally {
    await reader.close();
  }

  const damaged = new Uint8Array(readFileSync(path));
  damaged[5000] = damaged[5000]! ^ 0xff;
  const damagedPath = join(dir, 'damaged.snapshot');
  writeFileSync(damagedPath, damaged);
  assert.is((await checkSnapshotHash(damagedPath)).kind, 'mismatch');
  writeFileSync(damagedPath, damaged.subarray(0, damaged.length - 32));
  assert.is((await checkSnapshotHash(damagedPath)).kind, 'missing');
}, testTimeoutMs);

s.it('a real etcd snapshot rewritten by our writer has the same etcdctl snapshot status hash, revision and key count', async ({ etcd, dir }) => {
  for (let i = 0; i < 300; i++) await ok(etcd.endpoint, ['put', `copy/${i}`, `value ${i}`.repeat(1 + (i % 40))]);
  const original = join(dir, 'original.snapshot');
  await ok(etcd.endpoint, ['snapshot', 'save', original]);
  const copy = join(dir, 'copy.snapshot');
  const reader = await BboltReader.open(original);
  try {
    const visits = new PageVisits(reader.meta.highWaterPgid);
    await writeBboltFile(copy, copyEntries(reader, reader.root, visits), { snapshotHash: true });
  } finally {
    await reader.close();
  }
  const status = async (path: string) => {
    const parsed = JSON.parse(await ok(etcd.endpoint, ['snapshot', 'status', path, '-w', 'json'])) as Record<string, number>;
    return { hash: parsed.hash, revision: parsed.revision, totalKey: parsed.totalKey };
  };
  const expected = await status(original);
  assert.ok((expected.totalKey ?? 0) > 300);
  assert.equal(await status(copy), expected);
}, testTimeoutMs);

/** An etcd data set in etcd's layout: puts (one key modified), a put then delete, a compaction at 2. */
function etcdLayout(): WriteEntry[] {
  const record = (key: string, value: string, create: number, mod: number, version: number): WriteEntry => ({
    kind: 'value',
    key: encodeRevisionKey({ main: BigInt(mod), sub: 0n, tombstone: false }),
    value: KeyValue.encode({
      key: Buffer.from(key),
      value: Buffer.from(value),
      createRevision: BigInt(create),
      modRevision: BigInt(mod),
      version: BigInt(version),
      lease: 0n,
    }).finish(),
  });
  const tombstone: WriteEntry = {
    kind: 'value',
    key: encodeRevisionKey({ main: 6n, sub: 0n, tombstone: true }),
    value: KeyValue.encode({ key: Buffer.from('gone'), value: Buffer.alloc(0), createRevision: 0n, modRevision: 0n, version: 0n, lease: 0n }).finish(),
  };
  const empty = (name: string): WriteEntry => ({ kind: 'bucket', key: bytes(name), entries: [] });
  const meta: WriteEntry[] = [
    { kind: 'value', key: etcdMetaKeys.consistentIndex, value: encodeBigEndianU64(12n) },
    { kind: 'value', key: etcdMetaKeys.finishedCompactRev, value: encodeRevisionKey({ main: 2n, sub: 0n, tombstone: false }) },
    { kind: 'value', key: etcdMetaKeys.scheduledCompactRev, value: encodeRevisionKey({ main: 2n, sub: 0n, tombstone: false }) },
  ];
  const keys: WriteEntry[] = [
    record('foo', 'bar', 2, 2, 1),
    record('foo', 'baz', 2, 3, 2),
    record('hello', 'world', 4, 4, 1),
    record('gone', 'soon', 5, 5, 1),
    tombstone,
    record('last', 'value', 7, 7, 1),
  ];
  return [
    empty('alarm'), empty('auth'), empty('authRoles'), empty('authUsers'), empty('cluster'),
    { kind: 'bucket', key: etcdBuckets.key, entries: keys },
    empty('lease'), empty('members'), empty('members_removed'),
    { kind: 'bucket', key: etcdBuckets.meta, entries: meta },
  ];
}

s.it('etcdctl snapshot status reads a file our writer made in etcd\'s layout: revision and key count', async ({ etcd, dir }) => {
  const path = join(dir, 'ours.snapshot');
  await writeBboltFile(path, etcdLayout(), { snapshotHash: true });
  assert.is((await checkSnapshotHash(path)).kind, 'ok');
  const status = JSON.parse(await ok(etcd.endpoint, ['snapshot', 'status', path, '-w', 'json'])) as { revision: number; totalKey: number; totalSize: number };
  assert.is(status.revision, 7);
  assert.is(status.totalKey, 6 + 3);
  assert.is(status.totalSize % 4096, 0);
}, testTimeoutMs);

s.it('a file our writer made restores with etcdctl snapshot restore, and a real etcd serves its keys and history', async ({ etcd, dir }) => {
  const path = join(dir, 'restore.snapshot');
  await writeBboltFile(path, etcdLayout(), { snapshotHash: true });
  const address = await allocateAddress('restored', join(dir, 'restored-data'));
  const peer = `http://127.0.0.1:${address.peerPort}`;
  await ok(etcd.endpoint, [
    'snapshot', 'restore', path,
    '--data-dir', address.dataDir,
    '--name', address.name,
    '--initial-cluster', `${address.name}=${peer}`,
    '--initial-advertise-peer-urls', peer,
  ]);
  const restored = await launchRestartable(
    { label: 'etcd (restored)', command: 'etcd', args: etcdFlags(address), logFile: join(dir, 'restored.log') },
    address,
    () => {},
  );
  try {
    const latest = JSON.parse(await ok(restored.endpoint, ['get', '', '--prefix', '-w', 'json'])) as {
      kvs: { key: string; value: string; mod_revision: number }[];
    };
    const shown = latest.kvs.map((kv) => `${Buffer.from(kv.key, 'base64')}=${Buffer.from(kv.value, 'base64')}@${kv.mod_revision}`);
    assert.equal(shown, ['foo=baz@3', 'hello=world@4', 'last=value@7']);
    assert.is((await ok(restored.endpoint, ['get', 'gone', '--rev', '5', '--print-value-only'])).trim(), 'soon');
    assert.is((await ok(restored.endpoint, ['get', 'foo', '--rev', '2', '--print-value-only'])).trim(), 'bar');
    const compacted = await etcdctl(restored.endpoint, ['get', 'foo', '--rev', '1']);
    assert.match(compacted.stderr, /required revision has been compacted/);
  } finally {
    await restored.stop();
  }
}, testTimeoutMs);

s.run();
