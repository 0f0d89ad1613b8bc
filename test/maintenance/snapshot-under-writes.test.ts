// A snapshot taken while writes go on is the store at one revision: etcd restored from it serves
// exactly what Lattice serves at that revision (no write half in, none from after it).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { PutRequest } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { etcdctl, parseJsonOutput } from '../helpers/etcdctl.js';
import { connect } from '../helpers/grpc-watch-client.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import type { RestartableServer } from '../helpers/server-flags.js';
import { needingTools, withTimeout } from '../helpers/spec.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';
import { restoredAddress, restoreFlags, startOnRestored } from './snapshot-helpers.js';

const test = suite('snapshots under a write load');
const it = needingTools(test, ['etcd', 'etcdctl'], test);
const testTimeoutMs = 120_000;
const writerKeys = 500;
const writersAtOnce = 8;

let root = '';
const running: RestartableServer[] = [];
test.before(() => {
  root = makeTempDir('snapshot-under-writes');
});
test.after(async () => {
  for (const s of running.splice(0)) await s.stop().catch(() => undefined);
  removeTempDir(root);
});

/** All keys at `rev` (or now), headers left out. */
async function everything(endpoint: string, rev?: number): Promise<unknown> {
  const r = await etcdctl(endpoint, ['get', '', '--prefix', '-w', 'json', ...(rev === undefined ? [] : ['--rev', String(rev)])]);
  assert.is(r.code, 0, r.stderr);
  const { kvs, count } = parseJsonOutput(r.stdout) as { kvs: unknown; count: number };
  return { kvs, count };
}

for (const engine of engines) {
  it(`a snapshot taken during puts (engine ${engine}) holds exactly the store at its revision`, () =>
    withTimeout(
      (async () => {
        for (const s of running.splice(0)) await s.stop();
        const source = await startLattice(engine);
        running.push(source);
        const conn = connect(source.endpoint);
        let writing = true;
        let written = 0;
        const writer = async (w: number): Promise<void> => {
          for (let i = w; writing; i += writersAtOnce) {
            const req = PutRequest.fromPartial({ key: Buffer.from(`w-${i % writerKeys}`), value: Buffer.from(String(i)) });
            await new Promise<void>((resolve, reject) => conn.kv.put(req, (e) => (e ? reject(e) : resolve())));
            written++;
          }
        };
        const writers = Array.from({ length: writersAtOnce }, (_, w) => writer(w));
        while (written < 1000) await new Promise((r) => setTimeout(r, 20));
        const file = join(root, `under-writes-${engine}.db`);
        const save = await etcdctl(source.endpoint, ['snapshot', 'save', file]);
        const writtenDuringSave = written;
        await new Promise((r) => setTimeout(r, 200));
        writing = false;
        await Promise.all(writers);
        conn.close();
        assert.is(save.code, 0, save.stderr);
        assert.ok(written > writtenDuringSave, 'writes went on after the snapshot');

        const address = await restoredAddress(root, `etcd-under-writes-${engine}`);
        const restore = await etcdctl(source.endpoint, ['snapshot', 'restore', file, '--data-dir', address.dataDir, ...restoreFlags(address)]);
        assert.is(restore.code, 0, restore.stderr);
        const restored = await startOnRestored('etcd', address, root);
        running.push(restored);
        const header = await etcdctl(restored.endpoint, ['get', 'w-0', '-w', 'json']);
        const rev = Number(/"revision":(\d+)/.exec(header.stdout)?.[1]);
        assert.ok(rev > 1000, `snapshot at revision ${rev}`);
        assert.equal(await everything(restored.endpoint), await everything(source.endpoint, rev));
        for (const s of running.splice(0)) await s.stop();
      })(),
      testTimeoutMs,
      'snapshot under writes',
    ));
}

test.run();
