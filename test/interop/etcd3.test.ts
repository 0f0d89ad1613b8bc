// The npm `etcd3` client (1.1.2) against a server: the calls Node users make.
// The same spec runs against real etcd (to pin etcd's answers) and Lattice per engine.
import * as assert from 'uvu/assert';
import { Etcd3 } from 'etcd3';
import { startEtcd } from '../helpers/etcd-server.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

interface Fixture {
  client: Etcd3;
  stop(): Promise<void>;
}

async function withClient(server: { endpoint: string; stop(): Promise<void> }): Promise<Fixture> {
  const client = new Etcd3({ hosts: server.endpoint });
  return {
    client,
    async stop() {
      client.close();
      await server.stop();
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
  throw new Error('expected the call to fail');
}

function defineSuite(name: string, start: () => Promise<Fixture>, skipReason: string | null): void {
  const s = serverSuite(name, start, skipReason);

  s.it('put then get returns the value; the first write is revision 2', async ({ client }) => {
    const put = await client.put('foo').value('bar');
    assert.is(put.header.revision, '2');
    assert.is(await client.get('foo').string(), 'bar');
  });

  s.it('get of a missing key resolves to null', async ({ client }) => {
    assert.is(await client.get('missing').string(), null);
  });

  s.it('get exec exposes version and revisions as strings', async ({ client }) => {
    await client.put('foo').value('baz');
    const response = await client.get('foo').exec();
    assert.is(response.count, '1');
    const kv = response.kvs[0];
    assert.ok(kv, 'one kv');
    assert.is(kv.key.toString(), 'foo');
    assert.is(kv.value.toString(), 'baz');
    assert.is(kv.version, '2');
    assert.is(kv.create_revision, '2');
    assert.is(kv.mod_revision, '3');
    assert.is(kv.lease, '0');
  });

  s.it('put with getPrevious returns the previous pair', async ({ client }) => {
    const previous = await client.put('foo').value('qux').getPrevious();
    assert.is(previous?.value.toString(), 'baz');
  });

  s.it('getAll().prefix() lists keys in key order', async ({ client }) => {
    await client.put('p/b').value('2');
    await client.put('p/a').value('1');
    await client.put('p/c').value('3');
    assert.equal(await client.getAll().prefix('p/').strings(), { 'p/a': '1', 'p/b': '2', 'p/c': '3' });
    assert.equal(await client.getAll().prefix('p/').keys(), ['p/a', 'p/b', 'p/c']);
  });

  s.it('getAll() with sort and limit', async ({ client }) => {
    assert.equal(await client.getAll().prefix('p/').sort('Key', 'Descend').limit(2).keys(), ['p/c', 'p/b']);
    assert.equal(await client.getAll().prefix('p/').sort('Mod', 'Ascend').keys(), ['p/b', 'p/a', 'p/c']);
  });

  s.it('count() counts the keys in a range', async ({ client }) => {
    assert.is(await client.getAll().prefix('p/').count(), 3);
    assert.is(await client.getAll().count(), 4);
  });

  s.it('delete().key() reports one deleted, delete of a missing key zero', async ({ client }) => {
    assert.is((await client.delete().key('p/c')).deleted, '1');
    assert.is((await client.delete().key('p/c')).deleted, '0');
  });

  s.it('if(...).then(...).else(...) takes the success branch when the compare holds', async ({ client }) => {
    const result = await client
      .if('foo', 'Value', '==', 'qux')
      .then(client.put('foo').value('swapped'))
      .else(client.put('lost').value('1'))
      .commit();
    assert.is(result.succeeded, true);
    assert.is(await client.get('foo').string(), 'swapped');
    assert.is(await client.get('lost').string(), null);
  });

  s.it('if(...).then(...).else(...) takes the failure branch otherwise, with reads in it', async ({ client }) => {
    const result = await client
      .if('foo', 'Version', '>', 10)
      .and('foo', 'Create', '==', 2)
      .then(client.put('foo').value('never'))
      .else(client.get('foo'), client.put('lost').value('1'))
      .commit();
    assert.is(result.succeeded, false);
    assert.is(result.responses.length, 2);
    assert.is(result.responses[0]?.response_range?.kvs[0]?.value.toString(), 'swapped');
    assert.is(await client.get('lost').string(), '1');
  });

  s.it('a namespace prefixes every key and hides the rest', async ({ client }) => {
    const ns = client.namespace('app/');
    await ns.put('a').value('1');
    await ns.put('b').value('2');
    assert.is(await client.get('app/a').string(), '1');
    assert.equal(await ns.getAll().keys(), ['a', 'b']);
    assert.is(await ns.getAll().count(), 2);
    assert.is(await ns.get('foo').string(), null);
    await ns.delete().all();
    assert.is(await client.getAll().prefix('app/').count(), 0);
    assert.is(await client.get('foo').string(), 'swapped');
  });

  s.it('delete().prefix() deletes the range', async ({ client }) => {
    assert.is((await client.delete().prefix('p/')).deleted, '2');
    assert.is(await client.getAll().prefix('p/').count(), 0);
  });

  s.it('compact, then a read below the compacted revision fails with "required revision has been compacted"', async ({ client }) => {
    const head = await client.get('foo').exec();
    const revision = head.header.revision;
    await client.kv.compact({ revision, physical: true });
    const error = await rejection(client.get('foo').revision(2).string());
    assert.match(error.message, 'etcdserver: mvcc: required revision has been compacted');
    assert.is(await client.get('foo').revision(revision).string(), 'swapped');
  });

  s.it('a put with an empty key fails with "key is not provided"', async ({ client }) => {
    const error = await rejection(client.put('').value('v').exec());
    assert.match(error.message, 'etcdserver: key is not provided');
  });

  s.run();
}

defineSuite('etcd3 client against real etcd', async () => withClient(await startEtcd()), missingTools(['etcd']));

for (const engine of engines) {
  defineSuite(`etcd3 client against Lattice (${engine})`, async () => withClient(await startLattice(engine)), null);
}
// every call relayed through transport workers (src/adapters/transport-workers/)
defineSuite('etcd3 client against Lattice (memory, 2 transport workers)', async () => withClient(await startLattice('memory', 'lattice', ['--transport-workers', '2'])), null);
