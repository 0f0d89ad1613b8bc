// etcd-format snapshots with the real tools, both ways and on both engines:
//   Lattice → etcdctl snapshot save → snapshot status → etcdctl snapshot restore → etcd 3.4 serves the same;
//   etcd 3.4 → etcdctl snapshot save → lattice snapshot restore → Lattice serves the same.
// "The same": current keys, reads at old revisions, a compacted read's error, the lease with its
// key, and a watch replaying history from an old revision (txns with several changes at one revision included), with cluster/member IDs left out.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { etcdctl } from '../helpers/etcdctl.js';
import { startEtcd } from '../helpers/etcd-server.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import type { RestartableServer } from '../helpers/server-flags.js';
import { needingTools, withTimeout } from '../helpers/spec.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { lattice, observe, restoredAddress, restoreFlags, startOnRestored, writeHistory } from './snapshot-helpers.js';

const test = suite('snapshots in etcd format, with real etcd tools');
const it = needingTools(test, ['etcd', 'etcdctl'], test);
const roundTripTimeoutMs = 120_000;

let root = '';
const running: RestartableServer[] = [];
test.before(() => {
  root = makeTempDir('snapshot-roundtrip');
});
test.after(async () => {
  for (const s of running.splice(0)) await s.stop().catch(() => undefined);
  removeTempDir(root);
});

async function stopAll(): Promise<void> {
  for (const s of running.splice(0)) await s.stop();
}

for (const engine of engines) {
  it(`a Lattice (${engine}) snapshot passes etcdctl snapshot save and status, and etcd restored from it serves the same keys, revisions, lease and history`, () =>
    withTimeout(
      (async () => {
        await stopAll();
        const source = await startLattice(engine);
        running.push(source);
        const lease = await writeHistory(source.endpoint);
        const expected = await observe(source.endpoint, lease);
        const file = join(root, `lattice-${engine}.db`);
        const save = await etcdctl(source.endpoint, ['snapshot', 'save', file]);
        assert.is(save.code, 0, save.stderr);
        const status = await etcdctl(source.endpoint, ['snapshot', 'status', file, '-w', 'json']);
        assert.is(status.code, 0, status.stderr);
        assert.is((JSON.parse(status.stdout) as { revision: number }).revision, 12);
        // Lattice reads the file as etcdctl does.
        const ours = await lattice(['snapshot', 'status', file, '-w', 'json']);
        assert.is(ours.stdout.trim(), status.stdout.trim());

        const address = await restoredAddress(root, `etcd-from-${engine}`);
        const restore = await etcdctl(source.endpoint, ['snapshot', 'restore', file, '--data-dir', address.dataDir, ...restoreFlags(address)]);
        assert.is(restore.code, 0, restore.stderr);
        const restored = await startOnRestored('etcd', address, root);
        running.push(restored);
        assert.equal(await observe(restored.endpoint, lease), expected);
        await stopAll();
      })(),
      roundTripTimeoutMs,
      'Lattice → etcd',
    ));

  it(`an etcd snapshot restored with lattice snapshot restore --engine ${engine} serves the same keys, revisions, lease and history as etcd`, () =>
    withTimeout(
      (async () => {
        await stopAll();
        const source = await startEtcd();
        running.push(source);
        const lease = await writeHistory(source.endpoint);
        const expected = await observe(source.endpoint, lease);
        const file = join(root, `etcd-for-${engine}.db`);
        const save = await etcdctl(source.endpoint, ['snapshot', 'save', file]);
        assert.is(save.code, 0, save.stderr);

        const address = await restoredAddress(root, `lattice-${engine}-from-etcd`);
        const restore = await lattice(['snapshot', 'restore', file, '--data-dir', address.dataDir, '--engine', engine, ...restoreFlags(address)]);
        assert.is(restore.code, 0, restore.stderr);
        assert.match(restore.stdout, /revision 12, compact revision 3, 13 key revisions, 1 leases/);
        const restored = await startOnRestored(engine, address, root);
        running.push(restored);
        assert.equal(await observe(restored.endpoint, lease), expected);
        // A new cluster, as etcd's restore makes: Lattice's member list names the restored member only.
        const members = await etcdctl(restored.endpoint, ['member', 'list']);
        assert.match(members.stdout, new RegExp(`, started, ${address.name}, `));
        await stopAll();
      })(),
      roundTripTimeoutMs,
      'etcd → Lattice',
    ));
}

it('a Lattice (memory) snapshot restored with lattice snapshot restore --engine rocksdb serves the same answers (moving between engines)', () =>
  withTimeout(
    (async () => {
      await stopAll();
      const source = await startLattice('memory');
      running.push(source);
      const lease = await writeHistory(source.endpoint);
      const expected = await observe(source.endpoint, lease);
      const file = join(root, 'lattice-to-lattice.db');
      const save = await etcdctl(source.endpoint, ['snapshot', 'save', file]);
      assert.is(save.code, 0, save.stderr);
      const address = await restoredAddress(root, 'lattice-from-lattice');
      const restore = await lattice(['snapshot', 'restore', file, '--data-dir', address.dataDir, '--engine', 'rocksdb', ...restoreFlags(address)]);
      assert.is(restore.code, 0, restore.stderr);
      const restored = await startOnRestored('rocksdb', address, root);
      running.push(restored);
      assert.equal(await observe(restored.endpoint, lease), expected);
      await stopAll();
    })(),
    roundTripTimeoutMs,
    'Lattice → Lattice',
  ));

test.run();
