// etcd's auth state in its snapshot file (buckets auth, authUsers, authRoles) read into Lattice's:
// the same users, roles, grants, enabled flag and auth revision, and Go's bcrypt hashes verify with
// Lattice's hasher (bcryptjs); Lattice's state written back as etcd's buckets gives the same entries.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { BboltReader, etcdBuckets } from '../../src/bbolt/index.js';
import { openEngine } from '../../src/engines/open-engine.js';
import { AuthState } from '../../src/auth/auth-state.js';
import { etcdAuthBucketEntries, opsFromEtcdAuthBuckets, type EtcdAuthBucket } from '../../src/auth/etcd-auth-buckets.js';
import { BcryptJobs } from '../../src/jobs/bcrypt-jobs.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { etcdctl } from '../helpers/etcdctl.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { missingTools, skip } from '../helpers/tools.js';
import { withTimeout } from '../helpers/spec.js';
import { setUpUsers } from './auth-clients.js';

const s = suite('etcd auth buckets');
const reason = missingTools(['etcd', 'etcdctl']);
let etcd: EtcdServer | null = null;
let dir = '';
const hasher = new BcryptJobs(4);
s.after(async () => {
  await etcd?.stop();
  await hasher.close();
  if (dir !== '') removeTempDir(dir);
});

async function bucketEntries(reader: BboltReader, name: Uint8Array): Promise<[Buffer, Buffer][]> {
  const bucket = await reader.bucket(name);
  const out: [Buffer, Buffer][] = [];
  if (bucket === undefined) return out;
  for await (const e of reader.entries(bucket)) if (e.kind === 'value') out.push([Buffer.from(e.key), Buffer.from(e.value)]);
  return out;
}

if (reason !== null) {
  skip(`etcd auth buckets: ${reason}`);
  s.skip('an etcd snapshot auth state loads into Lattice and its bcrypt hashes verify', () => {});
} else {
  s('an etcd snapshot auth state loads into Lattice and its bcrypt hashes verify; written back it is the same buckets', async () => {
    await withTimeout(
      (async () => {
        dir = makeTempDir('etcd-auth-snapshot');
        etcd = await startEtcd();
        await setUpUsers(etcd.endpoint);
        const file = join(dir, 'etcd.db');
        const saved = await etcdctl(etcd.endpoint, ['snapshot', 'save', file, '--user', 'root:rootpw']);
        assert.is(saved.code, 0, saved.stderr);
        const reader = await BboltReader.open(file);
        const buckets: Record<EtcdAuthBucket, [Buffer, Buffer][]> = { auth: [], authUsers: [], authRoles: [] };
        try {
          for (const name of ['auth', 'authUsers', 'authRoles'] as const) buckets[name] = await bucketEntries(reader, etcdBuckets[name]);
        } finally {
          await reader.close();
        }
        const engine = await openEngine('memory', join(dir, 'engine'));
        try {
          await engine.write(opsFromEtcdAuthBuckets(buckets), { sync: true });
          const state = new AuthState({ assigned: () => undefined, userInvalidated: () => undefined, disabled: () => undefined });
          await state.load(engine);
          assert.ok(state.enabled);
          const etcdRevision = Number(buckets.auth.find(([k]) => k.toString() === 'authRevision')![1].readBigUInt64BE(0));
          assert.is(state.revision, etcdRevision);
          const alice = { user: 'alice', revision: state.revision };
          assert.is(state.refusal(alice, Buffer.from('/a/x'), Buffer.alloc(0), 'write'), undefined);
          assert.is(state.refusal(alice, Buffer.from('/b/x'), Buffer.alloc(0), 'read'), 'authPermissionDenied');
          const hash = state.passwordOf('alice');
          assert.ok(hash.ok && hash.hash.startsWith('$2a$10$'), JSON.stringify(hash));
          if (hash.ok) {
            assert.ok(await hasher.matches('apw', hash.hash));
            assert.not.ok(await hasher.matches('other', hash.hash));
          }
          for (const name of ['auth', 'authUsers', 'authRoles'] as const) {
            assert.equal(await etcdAuthBucketEntries(engine, name), buckets[name], `bucket ${name}`);
          }
        } finally {
          await engine.close();
        }
      })(),
      60_000,
      'etcd snapshot auth',
    );
  });
}
s.run();
