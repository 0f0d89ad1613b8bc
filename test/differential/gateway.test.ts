// Differential test of the JSON gateway: the same HTTP calls, in the same order, against a fresh real
// etcd 3.4 and a fresh Lattice; status, content type and body must be equal byte for byte after
// normalising what necessarily differs between two clusters (cluster/member IDs, raft term and index,
// db sizes, the servers' URLs). Both start empty, so revisions line up and are compared as they are.
import * as assert from 'uvu/assert';
import http from 'node:http';
import { startEtcd } from '../helpers/etcd-server.js';
import { engines, startLattice, type Engine } from '../helpers/lattice-server.js';
import type { RestartableServer } from '../helpers/server-flags.js';
import { serverSuite, startBoth, stopAll } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

const skipReason = missingTools(['etcd']);

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function request(endpoint: string, path: string, body: string, method = 'POST', headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${endpoint}${path}`, { method, headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? '', body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function normalise(s: string, server: RestartableServer): string {
  return s
    .replace(/"(cluster_id|member_id|raft_term|leader|raftIndex|raftTerm|raftAppliedIndex|dbSize|dbSizeInUse)":"\d+"/g, '"$1":"<n>"')
    .replace(/"ID":"\d+","name"/g, '"ID":"<n>","name"')
    .replaceAll(server.endpoint, '<client>')
    .replace(/http:\/\/(127\.0\.0\.1|localhost):\d+/g, '<peer>');
}

interface Both {
  readonly etcd: RestartableServer;
  readonly lattice: RestartableServer;
}

async function same(both: Both, path: string, body: string, method = 'POST', headers: Record<string, string> = {}): Promise<Answer> {
  const expected = await request(both.etcd.endpoint, path, body, method, headers);
  const actual = await request(both.lattice.endpoint, path, body, method, headers);
  const norm = (a: Answer, s: RestartableServer): Answer => ({ ...a, body: normalise(a.body, s) });
  assert.equal(norm(actual, both.lattice), norm(expected, both.etcd), `${method} ${path} ${body}`);
  return expected;
}

/** Reads `lines` newline-ended chunks of a streaming answer, then closes the connection. */
function streamLines(endpoint: string, path: string, body: string, lines: number, onOpen: () => Promise<void>): Promise<{ status: number; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${endpoint}${path}`, { method: 'POST' }, (res) => {
      let text = '';
      let opened = false;
      res.on('data', (c: Buffer) => {
        text += c.toString('utf8');
        const got = text.split('\n').filter((l) => l !== '');
        if (!opened && got.length >= 1) {
          opened = true;
          onOpen().catch(reject);
        }
        if (got.length >= lines) {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, lines: got.slice(0, lines) });
        }
      });
      res.on('error', () => undefined);
    });
    req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    req.end(body);
  });
}

/** The whole sequence against a fresh etcd and a fresh Lattice on `engine`. */
function defineDifferential(engine: Engine): void {
  const differential = serverSuite(
    `gateway differential (${engine})`,
    async () => {
      const [etcd, lattice] = await startBoth(() => startEtcd('gw'), () => startLattice(engine, 'gw'));
      return { etcd, lattice, stop: () => stopAll(etcd, lattice) };
    },
    skipReason,
  );

  differential.it('put and range with every option answer the same JSON', async (both) => {
    await same(both, '/v3/kv/put', JSON.stringify({ key: b64('foo'), value: b64('bar') }));
    await same(both, '/v3/kv/put', JSON.stringify({ key: b64('foo'), value: b64('baz'), prev_kv: true }));
    await same(both, '/v3/kv/put', JSON.stringify({ key: b64('fop'), value: b64(''), prevKv: true }));
    await same(both, '/v3/kv/put', JSON.stringify({ key: b64('zzz'), ignore_value: true }));
    await same(both, '/v3/kv/put', JSON.stringify({ key: b64('foo'), ignore_value: true, prev_kv: true }));
    await same(both, '/v3/kv/put', JSON.stringify({ key: b64('fo<>&\u2028'), value: b64('\u00e9\u0000') }));
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('foo') }));
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('fo'), range_end: b64('fp') }));
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('\0'), range_end: b64('\0'), limit: 1 }));
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('fo'), range_end: b64('fp'), sort_order: 'DESCEND', sort_target: 'KEY' }));
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('fo'), range_end: b64('fp'), sortOrder: 1, sortTarget: 'MOD' }));
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('fo'), range_end: b64('fp'), keys_only: true }));
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('fo'), range_end: b64('fp'), count_only: true }));
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('foo'), revision: '2' }));
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('fo'), range_end: b64('fp'), min_mod_revision: 3, max_mod_revision: '3' }));
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('fo'), range_end: b64('fp'), min_create_revision: 3, serializable: true }));
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('missing') }));
    await same(both, '/v3beta/kv/range', JSON.stringify({ key: b64('foo') }));
  });

  differential.it('txn, deleterange and compaction answer the same JSON and errors', async (both) => {
    await same(
      both,
      '/v3/kv/txn',
      JSON.stringify({
        compare: [{ key: b64('foo'), target: 'VALUE', result: 'EQUAL', value: b64('baz') }],
        success: [{ request_put: { key: b64('t1'), value: b64('1') } }, { request_range: { key: b64('foo') } }, { request_delete_range: { key: b64('nothing') } }],
        failure: [{ request_range: { key: b64('t1') } }],
      }),
    );
    await same(
      both,
      '/v3/kv/txn',
      JSON.stringify({
        compare: [{ key: b64('foo'), target: 'MOD', result: 'GREATER', mod_revision: '100' }],
        success: [{ request_put: { key: b64('t2') } }],
        failure: [{ request_txn: { success: [{ request_range: { key: b64('t1') } }] } }],
      }),
    );
    await same(both, '/v3/kv/txn', JSON.stringify({ success: [{ request_put: { key: b64('d') } }, { request_put: { key: b64('d') } }] }));
    await same(both, '/v3/kv/txn', JSON.stringify({ compare: [{ key: b64('foo'), target: 'VERSION', version: 'x' }] }));
    await same(both, '/v3/kv/deleterange', JSON.stringify({ key: b64('t1'), prev_kv: true }));
    await same(both, '/v3/kv/deleterange', JSON.stringify({ key: b64('t'), range_end: b64('u') }));
    await same(both, '/v3/kv/deleterange', JSON.stringify({ key: b64('none') }));
    await same(both, '/v3/kv/compaction', JSON.stringify({ revision: 3, physical: true }));
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('foo'), revision: 2 }));
    await same(both, '/v3/kv/compaction', JSON.stringify({ revision: 2 }));
    await same(both, '/v3/kv/compaction', JSON.stringify({ revision: 1000 }));
  });

  differential.it('leases: grant with an ID, timetolive with keys, leases, revoke, the kv/lease aliases and keepalive', async (both) => {
    await same(both, '/v3/lease/grant', JSON.stringify({ TTL: 600, ID: 4242 }));
    await same(both, '/v3/lease/grant', JSON.stringify({ TTL: '600', ID: '4242' }));
    await same(both, '/v3/kv/put', JSON.stringify({ key: b64('leased'), value: b64('v'), lease: '4242' }));
    await same(both, '/v3/kv/put', JSON.stringify({ key: b64('leased'), lease: '999' }));
    await same(both, '/v3/lease/leases', '{}');
    await same(both, '/v3/kv/lease/leases', '');
    await same(both, '/v3/lease/revoke', JSON.stringify({ ID: '999' }));
    await same(both, '/v3/kv/lease/revoke', JSON.stringify({ ID: '4242' }));
    await same(both, '/v3/lease/timetolive', JSON.stringify({ ID: '4242' }));
    await same(both, '/v3/lease/keepalive', JSON.stringify({ ID: '4242' }));
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('leased') }));
  });

  differential.it('bad input: malformed JSON, bad base64, wrong types, empty key, unknown paths and methods', async (both) => {
    for (const body of [
      '{"key":"Zm9v',
      '{"key":"Zm9"}',
      '{"key":"Zg=x"}',
      '{"key":"Z==="}',
      '{"key":"Zm9vYQ==YQ=="}',
      '{"key":"Zm9v\\nYQ=="}',
      '{"key":[102,111,111]}',
      '{"key":1}',
      '{"key":"Zm9v","limit":1.5}',
      '{"key":"Zm9v","limit":"x"}',
      '{"key":"Zm9v","limit":""}',
      '{"key":"Zm9v","limit":"1x"}',
      '{"key":"Zm9v","limit":99999999999999999999}',
      '{"key":"Zm9v","limit":{}}',
      '{"key":"Zm9v","keys_only":"true"}',
      '{"key":"Zm9v","sort_order":"NOPE"}',
      '{"key":"Zm9v","sort_order":true}',
      '{"key":"Zm9v","sort_target":"x\\"y"}',
      '{"key":"Zm9v","bogus":1}',
      '{"key":"Zm9v","limit":"2","keysOnly":true,"keys_only":false}',
      '{"key":"Zm9v" "x":1}',
      '{"key":"Zm9v",}',
      '{"key":"\\u00zz"}',
      '{"key":"Zm9v","limit":-}',
      '{"key":"Zm9v","limit":1.}',
      '{"key":"Zm9v","limit":1e}',
      '{"key":"Zm9v","limit":tru}',
      '{"key":"Zm9v"} trailing',
      '[1]',
      '"str"',
      'null',
      '   ',
      '',
      'x',
    ]) {
      await same(both, '/v3/kv/range', body);
    }
    await same(both, '/v3/kv/put', '{"value":"YQ=="}');
    await same(both, '/v3/kv/txn', '{"compare":{}}');
    await same(both, '/v3/kv/txn', '{"compare":[1]}');
    await same(both, '/v3/kv/nope', '{}');
    await same(both, '/v3/', '{}');
    await same(both, '/v3/kv/range/', '{}');
    await same(both, '/v3/kv/range', '', 'GET');
    await same(both, '/v3//kv/range', '{}');
    await same(both, '/v3', '{}');
    await same(both, '/v3alpha/kv/range', '{}');
    await same(both, '/nothing', '{}');
  });

  differential.it('member list and status answer the same shape', async (both) => {
    await same(both, '/v3/cluster/member/list', '{}');
    await same(both, '/v3/maintenance/status', '{}');
  });

  differential.it('/v3/watch streams one {"result":…} line per watch response and stops when the client leaves', async (both) => {
    const run = async (server: RestartableServer): Promise<string[]> => {
      const r = await streamLines(server.endpoint, '/v3/watch', JSON.stringify({ create_request: { key: b64('w'), range_end: b64('x'), prev_kv: true } }), 4, async () => {
        await request(server.endpoint, '/v3/kv/put', JSON.stringify({ key: b64('w1'), value: b64('1') }));
        await request(server.endpoint, '/v3/kv/put', JSON.stringify({ key: b64('w1'), value: b64('2') }));
        await request(server.endpoint, '/v3/kv/deleterange', JSON.stringify({ key: b64('w1') }));
      });
      return [String(r.status), ...r.lines.map((l) => normalise(l, server))];
    };
    assert.equal(await run(both.lattice), await run(both.etcd));
    // a watch from a compacted revision, and one from history
    const fromHistory = async (server: RestartableServer): Promise<string[]> => {
      const r = await streamLines(server.endpoint, '/v3/watch', JSON.stringify({ create_request: { key: b64('w1'), start_revision: 1 } }), 2, async () => undefined);
      return [String(r.status), ...r.lines.map((l) => normalise(l, server))];
    };
    assert.equal(await fromHistory(both.lattice), await fromHistory(both.etcd));
  });

  differential.it('requests over --max-request-bytes: refused by the gRPC receive limit or as etcdserver: request is too large', async (both) => {
    const value = (bytes: number): string => Buffer.alloc(bytes, 'v').toString('base64');
    await same(both, '/v3/kv/put', JSON.stringify({ key: b64('big'), value: value(1024 * 1024) }));
    await same(both, '/v3/kv/put', JSON.stringify({ key: b64('big'), value: value(1.6 * 1024 * 1024) }));
    await same(both, '/v3/kv/put', JSON.stringify({ key: b64('big'), value: value(2.1 * 1024 * 1024) }));
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('big'), keys_only: true }));
  });

  differential.it('lock and election with an explicit lease answer the same JSON', async (both) => {
    await same(both, '/v3/lease/grant', JSON.stringify({ TTL: 600, ID: 4343 }));
    await same(both, '/v3/lock/lock', JSON.stringify({ name: b64('lk'), lease: '4343' }));
    await same(both, '/v3/lock/unlock', JSON.stringify({ key: b64('lk/10f7') }));
    await same(both, '/v3/election/leader', JSON.stringify({ name: b64('el') }));
    await same(both, '/v3/election/campaign', JSON.stringify({ name: b64('el'), lease: '4343', value: b64('v1') }));
    await same(both, '/v3/election/leader', JSON.stringify({ name: b64('el') }));
    await same(
      both,
      '/v3/election/proclaim',
      JSON.stringify({ leader: { name: b64('el'), key: b64('el/10f7'), rev: '1', lease: '4343' }, value: b64('v2') }),
    );
    await same(both, '/v3/election/leader', JSON.stringify({ name: b64('el') }));
    const observe = async (server: RestartableServer): Promise<string[]> => {
      const r = await streamLines(server.endpoint, '/v3/election/observe', JSON.stringify({ name: b64('el') }), 1, async () => undefined);
      return [String(r.status), ...r.lines.map((l) => normalise(l, server))];
    };
    assert.equal(await observe(both.lattice), await observe(both.etcd));
    await same(both, '/v3/election/resign', JSON.stringify({ leader: { name: b64('el'), key: b64('el/10f7'), lease: '4343' } }));
    await same(both, '/v3/election/leader', JSON.stringify({ name: b64('el') }));
    // Grpc-Timeout: a lock held elsewhere is given up at the deadline, and the waiter's key goes
    await same(both, '/v3/lease/grant', JSON.stringify({ TTL: 600, ID: 4444 }));
    await same(both, '/v3/lock/lock', JSON.stringify({ name: b64('held'), lease: '4343' }));
    await same(both, '/v3/lock/lock', JSON.stringify({ name: b64('held'), lease: '4444' }), 'POST', { 'Grpc-Timeout': '500m' });
    // both delete the waiter's key after the deadline answer (etcd's gateway does not wait for it either)
    const waiters = JSON.stringify({ key: b64('held/'), range_end: b64('held0'), count_only: true });
    for (const server of [both.etcd, both.lattice]) {
      const deadline = Date.now() + 5000;
      while (!(await request(server.endpoint, '/v3/kv/range', waiters)).body.includes('"count":"1"')) {
        if (Date.now() > deadline) throw new Error(`${server.endpoint} kept the timed-out waiter's key`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('held/'), range_end: b64('held0'), keys_only: true }));
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('held') }), 'POST', { 'Grpc-Timeout': 'x1S' });
    await same(both, '/v3/kv/range', JSON.stringify({ key: b64('held') }), 'POST', { 'Grpc-Timeout': '0S' });
  });

  differential.it('a request stream whose first message does not decode fails as Unknown; later bad ones end the stream', async (both) => {
    await same(both, '/v3/watch', '{"create_request":{"key":"Zm9"}}');
    await same(both, '/v3/lease/keepalive', '{"ID":"x"}');
    await same(both, '/v3/lease/keepalive', '{"ID":"1"} {"ID":"x"}');
    await same(both, '/v3/lease/keepalive', '{"ID":"1"}{"ID":"2"}');
  });

  differential.run();
}

for (const engine of engines) defineDifferential(engine);
