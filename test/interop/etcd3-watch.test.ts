// Watch through the npm `etcd3` client (1.1.2), as Node users call it. The same spec runs
// against real etcd (which pins every expectation) and against Lattice per engine.
// A watch that the server never confirms fails within connectTimeoutMs, naming the
// client's last 'disconnected' error (e.g. 12 UNIMPLEMENTED), instead of hanging.
import * as assert from 'uvu/assert';
import { Etcd3, EtcdError, type IKeyValue, type IOptions, type IWatchCreateRequest, type IWatchResponse, type WatchBuilder, type Watcher } from 'etcd3';
import { startEtcd } from '../helpers/etcd-server.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import { waitUntil } from '../helpers/processes.js';
import { serverSuite, withTimeout } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

/** How long a watch gets to be confirmed ('connected'): short, so a server without Watch fails fast. */
const connectTimeoutMs = 5_000;
/** How long expected events get to arrive. */
const eventTimeoutMs = 5_000;
/** How long cancel() gets to resolve (the server must answer the cancel request). */
const cancelTimeoutMs = 5_000;
const manyPuts = 200;
/**
 * The client's delay between attempts to reopen a failed watch stream. Its default grows to
 * 30 s, and a pending retry timer then keeps this process alive that long after a server
 * without Watch failed every test; a short constant delay changes nothing else.
 */
const watchRetryMs = 200;
type WatchBackoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;
const watchBackoff: WatchBackoff = { duration: watchRetryMs, next: () => watchBackoff };

interface Fixture {
  client: Etcd3;
  stop(): Promise<void>;
}

/** Watchers a test opened and that are still attached: cancelled after the test, so no reconnect loop outlives it. */
const attached = new Set<Watcher>();

/** Starts tracking a watcher; a watcher the server cancelled is detached by the client itself. */
function track(watcher: Watcher): Watcher {
  attached.add(watcher);
  watcher.on('error', () => attached.delete(watcher));
  watcher.on('end', () => attached.delete(watcher));
  return watcher;
}

async function cancelAttached(): Promise<void> {
  const watchers = [...attached];
  attached.clear();
  await Promise.allSettled(watchers.map((w) => withTimeout(w.cancel(), cancelTimeoutMs, 'cancel after test')));
}

/** Waits for a created watcher's 'connected', with the last disconnect reason in the timeout message. */
function connected(watcher: Watcher, what: string): Promise<IWatchResponse> {
  let lastDisconnect = 'none';
  watcher.on('disconnected', (err) => (lastDisconnect = `${err.constructor.name}: ${err.message}`));
  return new Promise<IWatchResponse>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what}: not confirmed by the server within ${connectTimeoutMs} ms (does it implement Watch? last disconnect: ${lastDisconnect})`)),
      connectTimeoutMs,
    );
    watcher.once('connected', (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    watcher.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** builder.watcher() (attached at once, listeners before any event), then waits until the server confirms it. */
async function open(builder: WatchBuilder, what = 'watch'): Promise<Watcher> {
  const watcher = track(builder.watcher());
  const events = record(watcher);
  await connected(watcher, what);
  recorders.set(watcher, events);
  return watcher;
}

/** builder.create(), the public API, with the created watcher tracked for cleanup and a deadline. */
async function create(builder: WatchBuilder, what = 'watch'): Promise<Watcher> {
  const make = builder.watcher.bind(builder);
  const made: Watcher[] = [];
  builder.watcher = () => {
    const watcher = track(make());
    made.push(watcher);
    recorders.set(watcher, record(watcher));
    return watcher;
  };
  const created = builder.create();
  const watcher = made[0];
  if (!watcher) throw new Error('create() did not call watcher()');
  await Promise.race([created, connected(watcher, what)]);
  return created;
}

interface Seen {
  type: 'put' | 'delete';
  key: string;
  value: string;
  create: string;
  mod: string;
  version: string;
  prev: { key: string; value: string; mod: string } | null;
}

interface Recording {
  events: Seen[];
  responses: IWatchResponse[];
}

const recorders = new WeakMap<Watcher, Recording>();

function record(watcher: Watcher): Recording {
  const recording: Recording = { events: [], responses: [] };
  const push = (type: 'put' | 'delete') => (kv: IKeyValue, previous?: IKeyValue) => {
    recording.events.push({
      type,
      key: kv.key.toString(),
      value: kv.value.toString(),
      create: kv.create_revision,
      mod: kv.mod_revision,
      version: kv.version,
      prev: previous ? { key: previous.key.toString(), value: previous.value.toString(), mod: previous.mod_revision } : null,
    });
  };
  watcher.on('put', push('put'));
  watcher.on('delete', push('delete'));
  watcher.on('data', (res) => recording.responses.push(res));
  return recording;
}

function recordingOf(watcher: Watcher): Recording {
  const recording = recorders.get(watcher);
  if (!recording) throw new Error('watcher not opened through open()/create()');
  return recording;
}

/** Waits until the watcher has seen count events; returns them all. */
async function events(watcher: Watcher, count: number): Promise<Seen[]> {
  const recording = recordingOf(watcher);
  await waitUntil(() => recording.events.length >= count, {
    timeoutMs: eventTimeoutMs,
    what: `${count} events (have ${recording.events.length}: ${JSON.stringify(recording.events.map((e) => `${e.type} ${e.key}=${e.value}`))})`,
  });
  return recording.events;
}

/** [type, key, value] of each event: the compact form most checks need. */
const brief = (seen: Seen[]) => seen.map((e) => [e.type, e.key, e.value]);

async function headRevision(client: Etcd3): Promise<number> {
  return Number((await client.get('zz/none').exec()).header.revision);
}

function defineSuite(name: string, start: () => Promise<Fixture>, skipReason: string | null): void {
  const s = serverSuite(name, start, skipReason);
  const it = (testName: string, body: (fixture: Fixture) => Promise<void>) =>
    s.it(testName, async (fixture) => {
      try {
        await body(fixture);
      } finally {
        await cancelAttached();
      }
    });

  it('create() resolves once the server confirms the watch; lastRevision() is then the revision after the current one', async ({ client }) => {
    await client.put('c/x').value('1');
    const head = await headRevision(client);
    const watcher = await create(client.watch().key('c/k'), 'create()');
    assert.type(watcher.id, 'string');
    assert.is(watcher.lastRevision(), String(head + 1));
    await client.put('c/k').value('v');
    assert.equal(brief(await events(watcher, 1)), [['put', 'c/k', 'v']]);
    assert.is(watcher.lastRevision(), String(head + 2), 'each response moves lastRevision() past its header revision');
  });

  it("watcher() attaches at once (id null) and emits 'connecting' with the request, then 'connected' with created, the watch id and the current revision", async ({ client }) => {
    const head = await headRevision(client);
    const watcher = track(client.watch().key('w/k').watcher());
    assert.is(watcher.id, null);
    const order: string[] = [];
    // etcd3 types the 'connecting' payload as IWatchRequest; what it emits is the create request.
    watcher.on('connecting', (req) => order.push(`connecting ${(req as IWatchCreateRequest).key?.toString()}`));
    const res = await connected(watcher, 'watcher()');
    order.push('connected');
    assert.equal(order, ['connecting w/k', 'connected']);
    assert.is(res.created, true);
    assert.is(res.canceled, false);
    assert.is(res.events.length, 0);
    assert.is(res.header.revision, String(head));
    assert.is(res.watch_id, watcher.id);
  });

  it("a key watch emits 'put' and 'delete' with the key-value (a delete's has no value, version 0) and 'data' with the response; other keys are not seen", async ({ client }) => {
    const watcher = await open(client.watch().key('k'));
    const base = await headRevision(client);
    await client.put('k').value('a');
    await client.put('k2').value('other key');
    await client.put('k').value('b');
    await client.delete().key('k');
    await client.put('k').value('c');
    const seen = await events(watcher, 4);
    assert.equal(seen, [
      { type: 'put', key: 'k', value: 'a', create: String(base + 1), mod: String(base + 1), version: '1', prev: null },
      { type: 'put', key: 'k', value: 'b', create: String(base + 1), mod: String(base + 3), version: '2', prev: null },
      { type: 'delete', key: 'k', value: '', create: '0', mod: String(base + 4), version: '0', prev: null },
      { type: 'put', key: 'k', value: 'c', create: String(base + 5), mod: String(base + 5), version: '1', prev: null },
    ]);
    const responses = recordingOf(watcher).responses;
    assert.equal(
      responses.map((r) => [r.watch_id, r.header.revision, r.events.map((e) => e.type)]),
      [
        [watcher.id, String(base + 1), ['Put']],
        [watcher.id, String(base + 3), ['Put']],
        [watcher.id, String(base + 4), ['Delete']],
        [watcher.id, String(base + 5), ['Put']],
      ],
    );
  });

  it('a prefix watch sees only keys under the prefix; a prefix delete is one response with a delete per key in key order', async ({ client }) => {
    const watcher = await open(client.watch().prefix('p/'));
    const base = await headRevision(client);
    await client.put('p/b').value('1');
    await client.put('p').value('not under p/');
    await client.put('q').value('outside');
    await client.put('p/a').value('2');
    await client.delete().prefix('p/');
    assert.equal(brief(await events(watcher, 4)), [
      ['put', 'p/b', '1'],
      ['put', 'p/a', '2'],
      ['delete', 'p/a', ''],
      ['delete', 'p/b', ''],
    ]);
    const last = recordingOf(watcher).responses.at(-1);
    assert.is(last?.header.revision, String(base + 5));
    assert.is(last?.events.length, 2);
  });

  it('inRange({start, end}) sees keys in [start, end) only', async ({ client }) => {
    const watcher = await open(client.watch().inRange({ start: 'r/a', end: 'r/c' }));
    await client.put('r/a').value('1');
    await client.put('r/c').value('end excluded');
    await client.put('r/0').value('before');
    await client.put('r/bz').value('2');
    assert.equal(brief(await events(watcher, 2)), [
      ['put', 'r/a', '1'],
      ['put', 'r/bz', '2'],
    ]);
  });

  it('startRevision replays the history from that revision as one response at the current revision, then continues live', async ({ client }) => {
    const base = await headRevision(client);
    await client.put('h').value('1');
    await client.put('h').value('2');
    await client.delete().key('h');
    await client.put('h').value('3');
    const watcher = await open(client.watch().key('h').startRevision(String(base + 2)));
    assert.equal(brief(await events(watcher, 3)), [
      ['put', 'h', '2'],
      ['delete', 'h', ''],
      ['put', 'h', '3'],
    ]);
    await client.put('h').value('4');
    const seen = await events(watcher, 4);
    assert.equal(brief(seen.slice(3)), [['put', 'h', '4']]);
    assert.equal(
      seen.map((e) => e.mod),
      [base + 2, base + 3, base + 4, base + 5].map(String),
    );
    assert.equal(
      recordingOf(watcher).responses.map((r) => [r.header.revision, r.events.length]),
      [
        [String(base + 4), 3],
        [String(base + 5), 1],
      ],
    );
  });

  it('a startRevision in the future delivers only events from that revision on', async ({ client }) => {
    const base = await headRevision(client);
    const watcher = await open(client.watch().key('f').startRevision(String(base + 3)));
    for (const value of ['1', '2', '3', '4']) await client.put('f').value(value);
    assert.equal(brief(await events(watcher, 2)), [
      ['put', 'f', '3'],
      ['put', 'f', '4'],
    ]);
  });

  it("withPreviousKV() passes the previous key-value as the handlers' second argument (none for a creation)", async ({ client }) => {
    const watcher = await open(client.watch().key('pk').withPreviousKV());
    const base = await headRevision(client);
    await client.put('pk').value('a');
    await client.put('pk').value('b');
    await client.delete().key('pk');
    const seen = await events(watcher, 3);
    assert.equal(
      seen.map((e) => [e.type, e.value, e.prev]),
      [
        ['put', 'a', null],
        ['put', 'b', { key: 'pk', value: 'a', mod: String(base + 1) }],
        ['delete', '', { key: 'pk', value: 'b', mod: String(base + 2) }],
      ],
    );
  });

  it("only('delete') delivers only deletes; the deprecated ignore('put') does the opposite of its name and delivers only puts", async ({ client }) => {
    const onlyDeletes = await open(client.watch().key('o').only('delete'), "only('delete')");
    const ignorePut = await open(client.watch().key('o').ignore('put'), "ignore('put')");
    await client.put('o').value('1');
    await client.delete().key('o');
    await client.put('o').value('2');
    await client.delete().key('o');
    assert.equal(brief(await events(onlyDeletes, 2)), [
      ['delete', 'o', ''],
      ['delete', 'o', ''],
    ]);
    assert.equal(brief(await events(ignorePut, 2)), [
      ['put', 'o', '1'],
      ['put', 'o', '2'],
    ]);
  });

  it('several watchers on one client get distinct ids and each its own events; a key two of them watch reaches both', async ({ client }) => {
    const one = await open(client.watch().key('m/1'), 'watcher 1');
    const two = await open(client.watch().key('m/2'), 'watcher 2');
    const all = await open(client.watch().prefix('m/'), 'prefix watcher');
    assert.is(new Set([one.id, two.id, all.id]).size, 3, `ids ${one.id}, ${two.id}, ${all.id}`);
    await client.put('m/1').value('a');
    await client.put('m/2').value('b');
    await client.put('m/3').value('c');
    assert.equal(brief(await events(all, 3)), [
      ['put', 'm/1', 'a'],
      ['put', 'm/2', 'b'],
      ['put', 'm/3', 'c'],
    ]);
    assert.equal(brief(await events(one, 1)), [['put', 'm/1', 'a']]);
    assert.equal(brief(await events(two, 1)), [['put', 'm/2', 'b']]);
  });

  it("cancel() emits 'end' and resolves; a cancelled watcher gets no more events while the others go on", async ({ client }) => {
    const cancelled = await open(client.watch().key('x/k'), 'watcher to cancel');
    const other = await open(client.watch().prefix('x/'), 'other watcher');
    await client.put('x/k').value('1');
    await events(cancelled, 1);
    let ended = false;
    cancelled.on('end', () => (ended = true));
    await withTimeout(cancelled.cancel(), cancelTimeoutMs, 'cancel()');
    assert.ok(ended, "'end' before cancel() resolved");
    await client.put('x/k').value('2');
    await client.put('x/end').value('marker');
    assert.equal(brief(await events(other, 3)), [
      ['put', 'x/k', '1'],
      ['put', 'x/k', '2'],
      ['put', 'x/end', 'marker'],
    ]);
    assert.equal(brief(recordingOf(cancelled).events), [['put', 'x/k', '1']]);
    const again = await open(client.watch().key('x/k'), 'watch after cancel');
    await client.put('x/k').value('3');
    assert.equal(brief(await events(again, 1)), [['put', 'x/k', '3']]);
  });

  it('the puts of one transaction arrive as one response, in the order of the operations, at one revision', async ({ client }) => {
    const watcher = await open(client.watch().prefix('t/'));
    const base = await headRevision(client);
    const result = await client
      .if('t/none', 'Create', '==', 0)
      .then(client.put('t/b').value('1'), client.put('t/a').value('2'), client.delete().key('t/none'))
      .commit();
    assert.is(result.succeeded, true);
    assert.equal(brief(await events(watcher, 2)), [
      ['put', 't/b', '1'],
      ['put', 't/a', '2'],
    ]);
    const responses = recordingOf(watcher).responses;
    assert.equal(
      responses.map((r) => [r.header.revision, r.events.map((e) => e.kv.mod_revision)]),
      [[String(base + 1), [String(base + 1), String(base + 1)]]],
    );
  });

  it(`a watcher sees ${manyPuts} puts as ${manyPuts} events in order, one revision apart`, async ({ client }) => {
    const watcher = await open(client.watch().key('n'));
    const base = await headRevision(client);
    for (let i = 1; i <= manyPuts; i++) await client.put('n').value(String(i));
    const seen = await events(watcher, manyPuts);
    assert.is(seen.length, manyPuts);
    seen.forEach((event, index) => {
      const expected = { value: String(index + 1), mod: String(base + index + 1), version: String(index + 1) };
      assert.equal({ value: event.value, mod: event.mod, version: event.version }, expected, `event ${index}`);
    });
  });

  it('a namespace watch sees its keys without the prefix and nothing outside it', async ({ client }) => {
    const ns = client.namespace('ns/');
    const watcher = await open(ns.watch().prefix('k'), 'namespace watch');
    await client.put('k1').value('outside');
    await ns.put('k1').value('1');
    await client.put('ns/k2').value('2');
    assert.equal(brief(await events(watcher, 2)), [
      ['put', 'k1', '1'],
      ['put', 'k2', '2'],
    ]);
  });

  it("a startRevision below the compacted revision: 'connected', then 'error' EtcdError \"Watcher canceled: \" and no events", async ({ client }) => {
    await client.put('cp').value('1');
    const head = await headRevision(client);
    await client.kv.compact({ revision: head, physical: true });
    const watcher = track(client.watch().key('cp').startRevision(String(head - 1)).watcher());
    const recording = record(watcher);
    const order: string[] = [];
    let error: unknown = null;
    watcher.on('connected', () => order.push('connected'));
    watcher.on('error', (err) => {
      order.push('error');
      error = err;
    });
    await waitUntil(() => error !== null, { timeoutMs: eventTimeoutMs, what: `an 'error' on the watcher (seen: ${order.join(', ') || 'nothing'})` });
    assert.equal(order, ['connected', 'error']);
    assert.instance(error, EtcdError);
    assert.is((error as Error).message, 'Watcher canceled: ');
    assert.equal(recording.events, []);
    assert.equal(recording.responses, []);
    // The client and its other watchers go on.
    const next = await open(client.watch().key('cp').startRevision(String(head)), 'watch at the compacted revision');
    assert.equal(brief(await events(next, 1)), [['put', 'cp', '1']]);
  });

  s.run();
}

async function withClient(server: { endpoint: string; stop(): Promise<void> }): Promise<Fixture> {
  const client = new Etcd3({ hosts: server.endpoint, faultHandling: { watchBackoff } });
  return {
    client,
    async stop() {
      await cancelAttached();
      client.close();
      await server.stop();
    },
  };
}

defineSuite('etcd3 client watch against real etcd', async () => withClient(await startEtcd()), missingTools(['etcd']));

for (const engine of engines) {
  defineSuite(`etcd3 client watch against Lattice (${engine})`, async () => withClient(await startLattice(engine)), null);
}
// every stream relayed through transport workers (src/adapters/transport-workers/)
defineSuite('etcd3 client watch against Lattice (memory, 2 transport workers)', async () => withClient(await startLattice('memory', 'lattice', ['--transport-workers', '2'])), null);
