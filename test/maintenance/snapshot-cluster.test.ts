// A 3-member Lattice cluster restored from one etcd snapshot, as etcd's disaster-recovery guide does
// it: the same file restored once per member with its own name and peer URL, then all started. Every
// member serves the snapshot's data and history, and the new cluster takes writes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { memberFlags } from '../helpers/cluster.js';
import { etcdctl, parseJsonOutput } from '../helpers/etcdctl.js';
import { startEtcd } from '../helpers/etcd-server.js';
import { repoRoot } from '../helpers/paths.js';
import { allocateAddress, launchRestartable, type RestartableServer, type ServerAddress } from '../helpers/server-flags.js';
import { needingTools, withTimeout } from '../helpers/spec.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { lattice, latticeBin, writeHistory } from './snapshot-helpers.js';

const test = suite('a cluster restored from a snapshot');
const it = needingTools(test, ['etcd', 'etcdctl'], test);
const clusterTimeoutMs = 180_000;
const token = 'restored-cluster';

let root = '';
const running: RestartableServer[] = [];
test.before(() => {
  root = makeTempDir('snapshot-cluster');
});
test.after(async () => {
  await Promise.allSettled(running.splice(0).map((s) => s.stop()));
  removeTempDir(root);
});

async function getAll(endpoint: string, extra: string[] = []): Promise<unknown> {
  const r = await etcdctl(endpoint, ['get', '', '--prefix', '-w', 'json', '--consistency=s', ...extra]);
  assert.is(r.code, 0, r.stderr);
  const { kvs, count } = parseJsonOutput(r.stdout) as { kvs: unknown; count: number };
  return { kvs, count };
}

it('an etcd snapshot restored into 3 Lattice members (rocksdb) forms a new cluster serving its data on every member', () =>
  withTimeout(
    (async () => {
      const source = await startEtcd();
      running.push(source);
      await writeHistory(source.endpoint);
      const expectedNow = await getAll(source.endpoint);
      const expectedAt6 = await getAll(source.endpoint, ['--rev', '6']);
      const file = join(root, 'etcd.db');
      const save = await etcdctl(source.endpoint, ['snapshot', 'save', file]);
      assert.is(save.code, 0, save.stderr);
      await source.stop();
      running.splice(0);

      const addresses: ServerAddress[] = [];
      for (let i = 1; i <= 3; i++) addresses.push(await allocateAddress(`r${i}`, join(root, `r${i}`)));
      for (const a of addresses) {
        const flags = memberFlags(a, addresses, token);
        const restoreArgs = ['--name', '--initial-cluster', '--initial-cluster-token', '--initial-advertise-peer-urls', '--data-dir'].flatMap((f) => [f, flags[flags.indexOf(f) + 1]!]);
        const r = await lattice(['snapshot', 'restore', file, '--engine', 'rocksdb', ...restoreArgs]);
        assert.is(r.code, 0, r.stderr);
      }
      const members = await Promise.all(
        addresses.map((a) =>
          launchRestartable(
            { label: `lattice ${a.name} (restored)`, command: process.execPath, args: [latticeBin, ...memberFlags(a, addresses, token), '--engine', 'rocksdb'], cwd: repoRoot, logFile: join(root, `${a.name}.log`) },
            a,
            () => undefined,
          ),
        ),
      );
      running.push(...members);
      for (const m of members) {
        assert.equal(await getAll(m.endpoint), expectedNow, `${m.endpoint} now`);
        assert.equal(await getAll(m.endpoint, ['--rev', '6']), expectedAt6, `${m.endpoint} at revision 6`);
      }
      const list = await etcdctl(members[0]!.endpoint, ['member', 'list']);
      assert.is(list.stdout.trim().split('\n').length, 3, list.stdout);
      const put = await etcdctl(members[1]!.endpoint, ['put', 'after-restore', 'x', '-w', 'json']);
      assert.is(put.code, 0, put.stderr);
      assert.match(put.stdout, /"revision":13/);
    })(),
    clusterTimeoutMs,
    'restored cluster',
  ));

test.run();
