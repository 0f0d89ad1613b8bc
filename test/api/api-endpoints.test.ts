// The friendly API on a real Lattice process, once per engine: every endpoint with plain fetch, CAS
// conflicts (one made by etcdctl in between), a lease counting down until its key vanishes, and bad
// input answered with clear 4xx bodies while the server keeps serving.
import * as assert from 'uvu/assert';
import { engines, startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { etcdctl } from '../helpers/etcdctl.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools, skip } from '../helpers/tools.js';
import { call, errorCode, openSse, until } from './api-client.js';

for (const engine of engines) {
  const s = serverSuite(`api endpoints (${engine})`, async () => {
    const server: LatticeServer = await startLattice(engine, 'lattice', ['--api-cors-origins', 'http://console.example']);
    return { server, url: server.endpoint, stop: () => server.stop() };
  });
  const etcdctlMissing = missingTools(['etcdctl']);
  // without etcdctl those tests print one SKIP line each and are not registered
  const withEtcdctl: typeof s.it = etcdctlMissing === null ? s.it : (name) => skip(`${name}: ${etcdctlMissing}`);

  s.it('PUT stores the body as the value and GET answers it as text with its revisions and an ETag', async ({ url }) => {
    const put = await call(`${url}/api/kv/app/config`, { method: 'PUT', body: 'hello world' });
    assert.is(put.status, 200);
    const rev = put.json.revision as number;
    const get = await call(`${url}/api/kv/app/config`);
    assert.is(get.status, 200);
    const kv = get.json.kv as Record<string, unknown>;
    assert.equal([kv.key, kv.value, kv.mod_revision, kv.version, kv.lease], ['app/config', 'hello world', rev, 1, '0']);
    assert.is(get.headers.get('etag'), `"${rev}"`);
    const head = await call(`${url}/api/kv/app/config`, { method: 'HEAD' });
    assert.equal([head.status, head.headers.get('etag'), head.text], [200, `"${rev}"`, '']);
    assert.is((await call(`${url}/api/kv/app/none`, { method: 'HEAD' })).status, 404);
    const raw = await call(`${url}/api/kv/app/config?raw`);
    assert.is(raw.text, 'hello world');
    assert.is(raw.headers.get('content-type'), 'application/octet-stream');
  });

  s.it('a JSON value comes back parsed with ?json; a non-UTF-8 key and value come back as base64 with an encoding flag', async ({ url }) => {
    await call(`${url}/api/kv/json/doc`, { method: 'PUT', body: '{"a":[1,2]}', headers: { 'Content-Type': 'application/json' } });
    const j = await call(`${url}/api/kv/json/doc?json`);
    assert.equal((j.json.kv as Record<string, unknown>).value_json, { a: [1, 2] });
    const put = await call(`${url}/api/kv/bin/%FF%00k`, { method: 'PUT', body: new Uint8Array([0xfe, 0x00, 0x80]) });
    assert.is(put.status, 200);
    const get = await call(`${url}/api/kv/bin/%FF%00k`);
    const kv = get.json.kv as Record<string, unknown>;
    assert.equal([kv.key, kv.key_encoding, kv.value, kv.value_encoding], [Buffer.from([0x62, 0x69, 0x6e, 0x2f, 0xff, 0x00, 0x6b]).toString('base64'), 'base64', '/gCA', 'base64']);
    const viaBase64 = await call(`${url}/api/kv/bin/b64?encoding=base64`, { method: 'PUT', body: '/gCA' });
    assert.is(viaBase64.status, 200);
    assert.is((await call(`${url}/api/kv/bin/b64`)).json.kv && ((await call(`${url}/api/kv/bin/b64`)).json.kv as Record<string, unknown>).value, '/gCA');
  });

  s.it('?prefix, ?limit, ?keys_only, ?count_only, ?from_key and ?revision select what a range answers', async ({ url }) => {
    const first = await call(`${url}/api/kv/list/a`, { method: 'PUT', body: '1' });
    await call(`${url}/api/kv/list/b`, { method: 'PUT', body: '2' });
    await call(`${url}/api/kv/list/c`, { method: 'PUT', body: '3' });
    await call(`${url}/api/kv/lisu`, { method: 'PUT', body: 'outside' });
    const all = await call(`${url}/api/kv/list/?prefix`);
    assert.equal((all.json.kvs as Record<string, unknown>[]).map((k) => k.key), ['list/a', 'list/b', 'list/c']);
    const limited = await call(`${url}/api/kv/list/?prefix&limit=2&keys_only`);
    assert.equal([limited.json.count, limited.json.more, (limited.json.kvs as unknown[]).length], [3, true, 2]);
    assert.is((limited.json.kvs as Record<string, unknown>[])[0]?.value, undefined);
    const counted = await call(`${url}/api/kv/list/?prefix&count_only`);
    assert.equal([counted.json.count, (counted.json.kvs as unknown[]).length], [3, 0]);
    const from = await call(`${url}/api/kv/list/c?from_key`);
    assert.equal((from.json.kvs as Record<string, unknown>[]).map((k) => k.key), ['list/c', 'lisu']);
    const everything = await call(`${url}/api/kv?prefix&keys_only`);
    assert.ok((everything.json.kvs as Record<string, unknown>[]).some((k) => k.key === 'lisu'));
    const old = await call(`${url}/api/kv/list/?prefix&revision=${first.json.revision as number}`);
    assert.equal((old.json.kvs as Record<string, unknown>[]).map((k) => k.key), ['list/a']);
  });

  s.it('If-Match with the current mod_revision swaps; a stale one answers 412 with the current revision and value', async ({ url }) => {
    const v1 = await call(`${url}/api/kv/cas/k`, { method: 'PUT', body: 'v1' });
    const v2 = await call(`${url}/api/kv/cas/k`, { method: 'PUT', body: 'v2', headers: { 'If-Match': `"${v1.json.revision as number}"` } });
    assert.is(v2.status, 200);
    const stale = await call(`${url}/api/kv/cas/k`, { method: 'PUT', body: 'v3', headers: { 'If-Match': String(v1.json.revision) } });
    assert.is(stale.status, 412);
    const e = stale.json.error as Record<string, unknown>;
    assert.is(e.code, 'revisionMismatch');
    assert.is(e.current_mod_revision, v2.json.revision);
    assert.is((e.current as Record<string, unknown>).value, 'v2');
    const del = await call(`${url}/api/kv/cas/k`, { method: 'DELETE', headers: { 'If-Match': String(v1.json.revision) } });
    assert.is(del.status, 412);
  });

  s.it('If-None-Match: * creates once (201) and then answers 412 keyExists', async ({ url }) => {
    const created = await call(`${url}/api/kv/once`, { method: 'PUT', body: 'a', headers: { 'If-None-Match': '*' } });
    assert.is(created.status, 201);
    const again = await call(`${url}/api/kv/once`, { method: 'PUT', body: 'b', headers: { 'If-None-Match': '*' } });
    assert.is(again.status, 412);
    assert.is(errorCode(again), 'keyExists');
  });

  withEtcdctl('a CAS save after etcdctl changed the key in between answers 412 with the revision etcdctl made', async ({ url }) => {
    const mine = await call(`${url}/api/kv/shared/setting`, { method: 'PUT', body: 'mine' });
    const r = await etcdctl(url, ['put', 'shared/setting', 'theirs', '-w', 'json']);
    assert.is(r.code, 0, r.stderr);
    const theirs = Number(/"revision":(\d+)/.exec(r.stdout)?.[1]);
    const save = await call(`${url}/api/kv/shared/setting`, { method: 'PUT', body: 'edited', headers: { 'If-Match': String(mine.json.revision) } });
    assert.is(save.status, 412);
    assert.is((save.json.error as Record<string, unknown>).current_mod_revision, theirs);
    assert.is(((save.json.error as Record<string, unknown>).current as Record<string, unknown>).value, 'theirs');
  });

  s.it('?history lists every revision of a key still held, deletes included, and stops at the compact revision', async ({ url }) => {
    const a = await call(`${url}/api/kv/hist/k`, { method: 'PUT', body: 'one' });
    await call(`${url}/api/kv/hist/k`, { method: 'PUT', body: 'two' });
    await call(`${url}/api/kv/hist/k`, { method: 'DELETE' });
    await call(`${url}/api/kv/hist/k`, { method: 'PUT', body: 'three' });
    const h = await call(`${url}/api/kv/hist/k?history`);
    const events = h.json.events as Record<string, Record<string, unknown>>[];
    assert.equal(events.map((e) => [e.type, e.kv?.value]), [['PUT', 'one'], ['PUT', 'two'], ['DELETE', undefined], ['PUT', 'three']]);
    assert.is(h.json.truncated, false);
    const limited = await call(`${url}/api/kv/hist/k?history&limit=2`);
    assert.equal([(limited.json.events as unknown[]).length, limited.json.truncated], [2, true]);
    const lastRev = ((limited.json.events as Record<string, Record<string, unknown>>[])[1]!.kv!.mod_revision as number);
    const next = await call(`${url}/api/kv/hist/k?history&limit=2&start_revision=${lastRev + 1}`);
    assert.equal((next.json.events as Record<string, Record<string, unknown>>[]).map((e) => [e.type, e.kv?.value]), [['DELETE', undefined], ['PUT', 'three']]);
    const c = await call(`${url}/api/compaction`, { method: 'POST', body: JSON.stringify({ revision: (a.json.revision as number) + 1 }) });
    assert.is(c.status, 200);
    const after = await call(`${url}/api/kv/hist/k?history`);
    assert.equal((after.json.events as Record<string, Record<string, unknown>>[]).map((e) => e.type), ['DELETE', 'PUT']);
    const old = await call(`${url}/api/kv/hist/k?revision=${a.json.revision as number}`);
    assert.is(old.status, 410);
    assert.is(errorCode(old), 'compacted');
    assert.match(String((old.json.error as Record<string, unknown>).message), 'etcdserver: mvcc: required revision has been compacted');
  });

  s.it('DELETE removes a key (404 when missing) and ?prefix removes a subtree with its previous values', async ({ url }) => {
    await call(`${url}/api/kv/tree/x/1`, { method: 'PUT', body: '1' });
    await call(`${url}/api/kv/tree/x/2`, { method: 'PUT', body: '2' });
    await call(`${url}/api/kv/tree/y`, { method: 'PUT', body: 'y' });
    const one = await call(`${url}/api/kv/tree/y`, { method: 'DELETE' });
    assert.equal([one.status, one.json.deleted], [200, 1]);
    const missing = await call(`${url}/api/kv/tree/y`, { method: 'DELETE' });
    assert.equal([missing.status, errorCode(missing)], [404, 'keyNotFound']);
    const sub = await call(`${url}/api/kv/tree/x/?prefix&prev_kv`, { method: 'DELETE' });
    assert.equal([sub.status, sub.json.deleted, (sub.json.prev_kvs as Record<string, unknown>[]).map((k) => k.value)], [200, 2, ['1', '2']]);
    assert.is((await call(`${url}/api/kv/tree/x/1`)).status, 404);
  });

  s.it('a lease counts down, lists its keys, renews with keepalive, and its key vanishes when it expires', async ({ url }) => {
    const g = await call(`${url}/api/leases`, { method: 'POST', body: JSON.stringify({ ttl: 3 }) });
    assert.is(g.status, 201);
    const id = g.json.id as string;
    assert.is(BigInt(id).toString(16), g.json.id_hex);
    const put = await call(`${url}/api/kv/session/me?lease=${id}`, { method: 'PUT', body: 'here' });
    assert.is(put.status, 200);
    const shown = await call(`${url}/api/leases/${id}`);
    assert.equal([shown.json.granted_ttl, shown.json.keys], [3, [{ key: 'session/me' }]]);
    assert.ok((shown.json.ttl as number) <= 3);
    const list = await call(`${url}/api/leases`);
    assert.ok((list.json.leases as Record<string, unknown>[]).some((l) => l.id === id));
    const kept = await call(`${url}/api/leases/0x${g.json.id_hex as string}/keepalive`, { method: 'POST' });
    assert.equal([kept.status, kept.json.ttl], [200, 3]);
    await until('the TTL to count down', async () => ((await call(`${url}/api/leases/${id}`)).json.ttl as number) < 3, 5_000, 200);
    await until('the leased key to vanish', async () => (await call(`${url}/api/kv/session/me`)).status === 404, 15_000, 200);
    assert.is((await call(`${url}/api/leases/${id}`)).status, 404);
    assert.is((await call(`${url}/api/leases/${id}/keepalive`, { method: 'POST' })).status, 404);
  });

  s.it('revoking a lease deletes its keys; a put on an unknown lease is 404 with etcd text', async ({ url }) => {
    const g = await call(`${url}/api/leases`, { method: 'POST', body: '{"ttl":60}' });
    await call(`${url}/api/kv/rv?lease=${g.json.id as string}`, { method: 'PUT', body: 'x' });
    assert.is((await call(`${url}/api/leases/${g.json.id as string}`, { method: 'DELETE' })).status, 200);
    assert.is((await call(`${url}/api/kv/rv`)).status, 404);
    const bad = await call(`${url}/api/kv/rv?lease=12345`, { method: 'PUT', body: 'x' });
    assert.equal([bad.status, (bad.json.error as Record<string, unknown>).message], [404, 'etcdserver: requested lease not found']);
  });

  s.it('members and status report this member as leader with its revision, raft index and db size', async ({ url }) => {
    const m = await call(`${url}/api/members`);
    const members = m.json.members as Record<string, unknown>[];
    assert.is(members.length, 1);
    assert.is(members[0]?.is_leader, true);
    const st = await call(`${url}/api/status`);
    assert.is(st.json.leader, st.json.member_id);
    assert.ok((st.json.revision as number) > 1 && (st.json.raft_index as number) > 0 && (st.json.db_size as number) > 0);
    assert.equal(st.json.alarms, []);
  });

  s.it('a lock is held until released, and an election names its leader until it resigns', async ({ url }) => {
    const g = await call(`${url}/api/leases`, { method: 'POST', body: '{"ttl":30}' });
    const lease = g.json.id as string;
    const lock = await call(`${url}/api/locks/jobs`, { method: 'POST', body: JSON.stringify({ lease }) });
    assert.is(lock.status, 200);
    assert.match(String(lock.json.key), /^jobs\//);
    const unlock = await call(`${url}/api/locks/${encodeURI(String(lock.json.key))}`, { method: 'DELETE' });
    assert.is(unlock.status, 200);
    assert.is((await call(`${url}/api/elections/chief`)).status, 404);
    const won = await call(`${url}/api/elections/chief/campaign`, { method: 'POST', body: JSON.stringify({ lease, value: 'node-1' }) });
    assert.is(won.status, 200);
    const leader = won.json.leader;
    const observed = await openSse(`${url}/api/elections/chief`);
    await observed.stream.waitFor('the current leader', (m) => m.event === 'leader' && (m.data.kv as Record<string, unknown>).value === 'node-1');
    const now = await call(`${url}/api/elections/chief`);
    assert.is((now.json.kv as Record<string, unknown>).value, 'node-1');
    assert.is((await call(`${url}/api/elections/chief/proclaim`, { method: 'POST', body: JSON.stringify({ leader, value: 'node-1b' }) })).status, 200);
    assert.is(((await call(`${url}/api/elections/chief`)).json.kv as Record<string, unknown>).value, 'node-1b');
    await observed.stream.waitFor('the proclaimed value', (m) => (m.data.kv as Record<string, unknown>).value === 'node-1b');
    observed.close();
    assert.is((await call(`${url}/api/elections/chief/resign`, { method: 'POST', body: JSON.stringify({ leader }) })).status, 200);
    assert.is((await call(`${url}/api/elections/chief`)).status, 404);
  });

  s.it('the tree lists one level under a prefix: direct keys, and each deeper path once as a dir, with paging', async ({ url }) => {
    for (const k of ['t/a', 't/b/1', 't/b/2', 't/c/x/y', 't/d']) await call(`${url}/api/kv/${k}`, { method: 'PUT', body: k });
    const level = await call(`${url}/api/tree/t/`);
    assert.equal((level.json.dirs as Record<string, unknown>[]).map((d) => d.key), ['t/b/', 't/c/']);
    assert.equal((level.json.keys as Record<string, unknown>[]).map((k) => k.key), ['t/a', 't/d']);
    assert.is(level.json.more, false);
    const page1 = await call(`${url}/api/tree/t/?limit=2`);
    assert.is(page1.json.more, true);
    const page2 = await call(`${url}/api/tree/t/?limit=2&after=t/b/&revision=${page1.json.revision as number}`);
    assert.equal([(page2.json.dirs as Record<string, unknown>[]).map((d) => d.key), (page2.json.keys as Record<string, unknown>[]).map((k) => k.key)], [['t/c/'], ['t/d']]);
    const root = await call(`${url}/api/tree`);
    assert.ok((root.json.dirs as Record<string, unknown>[]).some((d) => d.key === 't/'));
    const deeper = await call(`${url}/api/tree/t/c/x/`);
    assert.equal((deeper.json.keys as Record<string, unknown>[]).map((k) => k.key), ['t/c/x/y']);
  });

  s.it('export answers a prefix at one revision and import writes it back under the same keys', async ({ url }) => {
    await call(`${url}/api/kv/exp/a`, { method: 'PUT', body: 'A' });
    await call(`${url}/api/kv/exp/%FF`, { method: 'PUT', body: new Uint8Array([0x80]) });
    const ex = await call(`${url}/api/export/exp/`);
    assert.is((ex.json.kvs as unknown[]).length, 2);
    await call(`${url}/api/kv/exp/?prefix`, { method: 'DELETE' });
    const im = await call(`${url}/api/import`, { method: 'POST', body: JSON.stringify({ kvs: ex.json.kvs }) });
    assert.equal([im.status, im.json.imported], [200, 2]);
    const back = await call(`${url}/api/export/exp/`);
    assert.equal((back.json.kvs as Record<string, unknown>[]).map((k) => [k.key, k.value]), (ex.json.kvs as Record<string, unknown>[]).map((k) => [k.key, k.value]));
  });

  s.it('bad input gets a clear 4xx error body: percent-encoding, JSON, unknown fields and parameters, IDs, headers, methods', async ({ url }) => {
    const cases: [string, RequestInit, number, string][] = [
      ['/api/kv/%zz', {}, 400, 'badPercentEncoding'],
      ['/api/kv/a?bogus=1', {}, 400, 'unknownField'],
      ['/api/kv/a?limit=-1', {}, 400, 'invalidArgument'],
      ['/api/kv/', {}, 400, 'emptyKey'],
      ['/api/leases', { method: 'POST', body: '{"ttl":' }, 400, 'invalidJson'],
      ['/api/leases', { method: 'POST', body: '[1]' }, 400, 'invalidJson'],
      ['/api/leases', { method: 'POST', body: '{"ttl":5,"color":"red"}' }, 400, 'unknownField'],
      ['/api/leases', { method: 'POST', body: '{}' }, 400, 'invalidArgument'],
      ['/api/leases/xyz', {}, 400, 'invalidArgument'],
      ['/api/leases/99999999999999999999', {}, 400, 'invalidArgument'],
      ['/api/kv/a', { method: 'PUT', body: 'x', headers: { 'If-Match': 'abc' } }, 400, 'invalidArgument'],
      ['/api/kv/a?encoding=base64', { method: 'PUT', body: '***' }, 400, 'invalidArgument'],
      ['/api/kv/a', { method: 'POST', body: 'x' }, 405, 'methodNotAllowed'],
      ['/api/nothing', {}, 404, 'notFound'],
      ['/api/watch/a', {}, 406, 'invalidArgument'],
      ['/api/import', { method: 'POST', body: '{"kvs":[{"key":"a","x":1}]}' }, 400, 'unknownField'],
      ['/api/import', { method: 'POST', body: '{"kvs":[{"key":"a"},{"key":"a"}]}' }, 400, 'duplicateKey'],
    ];
    for (const [path, init, status, code] of cases) {
      const a = await call(`${url}${path}`, init);
      assert.is(a.status, status, `${path}: ${a.text}`);
      assert.is(errorCode(a), code, path);
      assert.type((a.json.error as Record<string, unknown>).message, 'string');
    }
    assert.is((await call(`${url}/api/status`)).status, 200);
  });

  s.it('a body over --max-request-bytes is 413 and a URL over the limit is 414; the server keeps serving', async ({ url }) => {
    const big = await call(`${url}/api/kv/big`, { method: 'PUT', body: Buffer.alloc(2 * 1024 * 1024, 0x61) });
    assert.equal([big.status, errorCode(big)], [413, 'bodyTooLarge']);
    const long = await call(`${url}/api/kv/${'a'.repeat(9 * 1024)}`);
    assert.is(long.status, 414);
    assert.is((await call(`${url}/api/kv/big`, { method: 'PUT', body: 'small' })).status, 200);
  });

  s.it('cross-origin writes are refused unless the origin is listed; listed origins get CORS headers, others none', async ({ url }) => {
    const evil = await call(`${url}/api/kv/o`, { method: 'PUT', body: 'x', headers: { Origin: 'http://evil.example' } });
    assert.equal([evil.status, errorCode(evil)], [403, 'crossOriginRefused']);
    assert.is(evil.headers.get('access-control-allow-origin'), null);
    const site = await call(`${url}/api/kv/o`, { method: 'DELETE', headers: { 'Sec-Fetch-Site': 'cross-site' } });
    assert.is(site.status, 403);
    const read = await call(`${url}/api/kv/o?prefix`, { headers: { Origin: 'http://evil.example' } });
    assert.is(read.status, 200);
    assert.is(read.headers.get('access-control-allow-origin'), null);
    const same = await call(`${url}/api/kv/o`, { method: 'PUT', body: 'x', headers: { Origin: url, 'Sec-Fetch-Site': 'same-origin' } });
    assert.is(same.status, 200);
    const listed = await call(`${url}/api/kv/o`, { method: 'PUT', body: 'y', headers: { Origin: 'http://console.example' } });
    assert.is(listed.status, 200);
    assert.is(listed.headers.get('access-control-allow-origin'), 'http://console.example');
    const pre = await call(`${url}/api/kv/o`, { method: 'OPTIONS', headers: { Origin: 'http://console.example', 'Access-Control-Request-Method': 'PUT' } });
    assert.is(pre.status, 204);
    assert.match(pre.headers.get('access-control-allow-headers') ?? '', 'If-Match');
    const prEvil = await call(`${url}/api/kv/o`, { method: 'OPTIONS', headers: { Origin: 'http://evil.example' } });
    assert.is(prEvil.status, 403);
    // etcd's own paths keep etcd's CORS behaviour
    assert.is((await call(`${url}/version`)).headers.get('access-control-allow-origin'), '*');
  });

  s.run();
}
