// Maintenance.Hash: two members with the same content answer the same hash, whatever their log
// history; a restart does not change it; different content does.
import { Etcd3 } from 'etcd3';
import * as assert from 'uvu/assert';
import { engines, startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { serverSuite } from '../helpers/spec.js';

interface Two {
  a: LatticeServer;
  b: LatticeServer;
  stop(): Promise<void>;
}

async function hashOf(endpoint: string): Promise<{ hash: number; revision: string }> {
  const client = new Etcd3({ hosts: endpoint });
  try {
    const res = await client.maintenance.hash();
    return { hash: Number(res.hash), revision: res.header.revision };
  } finally {
    client.close();
  }
}

async function writeSame(endpoint: string): Promise<void> {
  const client = new Etcd3({ hosts: endpoint });
  try {
    for (let i = 0; i < 30; i++) await client.put(`k/${i % 7}`).value(`v${i}`);
    await client.delete().key('k/3');
    // (No lease: a lease's ID is chosen by the member, so it would make the contents differ.)
  } finally {
    client.close();
  }
}

for (const engine of engines) {
  const s = serverSuite(`Maintenance.Hash (${engine})`, async (): Promise<Two> => {
    const a = await startLattice(engine, 'a');
    const b = await startLattice(engine, 'b').catch(async (e: unknown) => {
      await a.stop();
      throw e;
    });
    return { a, b, stop: async () => void (await Promise.all([a.stop(), b.stop()])) };
  });

  s.it('two stores with the same content answer the same hash, stable across a restart; other content another hash', async ({ a, b }) => {
    await writeSame(a.endpoint);
    await writeSame(b.endpoint);
    // The two logs differ in length (b restarts first: a member-attributes entry more), not in content.
    await b.restart();
    const ha = await hashOf(a.endpoint);
    const hb = await hashOf(b.endpoint);
    assert.is(ha.hash, hb.hash);
    assert.is(ha.revision, hb.revision);
    await a.restart();
    assert.equal(await hashOf(a.endpoint), ha);
    const client = new Etcd3({ hosts: a.endpoint });
    await client.put('k/1').value('changed').exec().finally(() => client.close());
    assert.is.not((await hashOf(a.endpoint)).hash, ha.hash);
  }, 120_000);

  s.run();
}
