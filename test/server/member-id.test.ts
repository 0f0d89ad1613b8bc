// Member and cluster IDs computed by src/server/member-id.ts must equal those real etcd assigns for the
// same names, peer URLs and token: the IDs are read back from `etcdctl member list -w json`.

import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfig, type ServerConfig } from '../../src/server/config.js';
import { computeClusterId, computeMemberId, formatId, initialMemberIds, parseId } from '../../src/server/member-id.js';
import { freePorts } from '../helpers/free-port.js';
import { runCommand, spawnProcess, stopAllProcesses, type ManagedProcess } from '../helpers/processes.js';
import { defaultTestTimeoutMs, needingTools, withTimeout } from '../helpers/spec.js';
import { makeTempDir, removeAllTempDirs } from '../helpers/temp-dirs.js';

/** A cluster of real etcd processes gets this long to elect a leader and serve. */
const clusterStartTimeoutMs = 45_000;
const etcdctlTimeoutMs = 15_000;
const readyPattern = /ready to serve client requests/;

const test = suite('member and cluster IDs');
const it = (name: string, body: () => Promise<void> | void, timeoutMs = defaultTestTimeoutMs): void =>
  test(name, () => withTimeout(Promise.resolve().then(body), timeoutMs, name));

test.after(async () => {
  await stopAllProcesses();
  removeAllTempDirs();
});

// --- pure checks ------------------------------------------------------------------------------------------

it('formatId renders %x and parseId reverses it', () => {
  assert.is(formatId(0x8e9e05c52164694dn), '8e9e05c52164694d');
  assert.is(formatId(0xabcn), 'abc');
  assert.is(parseId('8e9e05c52164694d'), 0x8e9e05c52164694dn);
  assert.throws(() => parseId('0x12'));
});

it('the default single-member cluster has the IDs etcd is known for (8e9e05c52164694d / cdf818194e3a8c32)', () => {
  const id = computeMemberId(['http://localhost:2380'], 'etcd-cluster');
  assert.is(formatId(id), '8e9e05c52164694d');
  assert.is(formatId(computeClusterId([id])), 'cdf818194e3a8c32');
});

it('member IDs do not depend on the order of peer URLs; cluster IDs not on the order of members', () => {
  const a = computeMemberId(['http://127.0.0.1:1', 'http://127.0.0.1:2'], 't');
  assert.is(computeMemberId(['http://127.0.0.1:2', 'http://127.0.0.1:1'], 't'), a);
  assert.is.not(computeMemberId(['http://127.0.0.1:1'], 't'), a);
  assert.is(computeClusterId([1n, 2n, 3n]), computeClusterId([3n, 1n, 2n]));
});

// --- against real etcd ------------------------------------------------------------------------------------

interface Listed {
  clusterId: bigint;
  members: { id: bigint; name: string; peerUrls: string[] }[];
}

/** etcdctl prints uint64 IDs as JSON numbers, beyond what a double holds: quote them before parsing. */
function parseMemberList(text: string): Listed {
  const doc = JSON.parse(text.replace(/("(?:cluster_id|member_id|ID)"):(\d+)/g, '$1:"$2"')) as {
    header: { cluster_id: string };
    members?: { ID: string; name?: string; peerURLs?: string[] }[];
    member?: { ID: string };
  };
  return {
    clusterId: BigInt(doc.header.cluster_id),
    members: (doc.members ?? []).map((m) => ({ id: BigInt(m.ID), name: m.name ?? '', peerUrls: m.peerURLs ?? [] })),
  };
}

async function etcdctl(endpoint: string, args: string[]): Promise<string> {
  const r = await runCommand('etcdctl', ['--endpoints', endpoint, '--command-timeout=10s', ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    timeoutMs: etcdctlTimeoutMs,
  });
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

interface MemberPlan {
  name: string;
  clientUrl: string;
  peerUrls: string[];
}

/** Starts one etcd per member of the initial cluster; resolves when every one serves clients. */
async function startCluster(members: MemberPlan[], token: string): Promise<ManagedProcess[]> {
  const root = makeTempDir('member-id');
  const initialCluster = members.flatMap((m) => m.peerUrls.map((u) => `${m.name}=${u}`)).join(',');
  const procs = members.map((m) =>
    spawnProcess({
      name: `etcd ${m.name}`,
      command: 'etcd',
      logFile: join(root, `${m.name}.log`),
      args: [
        '--name', m.name,
        '--data-dir', join(root, m.name),
        '--listen-client-urls', m.clientUrl,
        '--advertise-client-urls', m.clientUrl,
        '--listen-peer-urls', m.peerUrls.map((u) => u.replace('//localhost:', '//127.0.0.1:')).join(','),
        '--initial-advertise-peer-urls', m.peerUrls.join(','),
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', token,
        '--initial-cluster-state', 'new',
      ],
    }),
  );
  await Promise.all(procs.map((p) => p.waitForLine(readyPattern, clusterStartTimeoutMs)));
  return procs;
}

/** The same member's flags, as Lattice would parse them. */
function latticeConfig(m: MemberPlan, all: MemberPlan[], token: string): ServerConfig {
  const r = parseConfig(
    [
      '--name', m.name,
      '--listen-client-urls', m.clientUrl,
      '--advertise-client-urls', m.clientUrl,
      '--initial-advertise-peer-urls', m.peerUrls.join(','),
      '--initial-cluster', all.flatMap((x) => x.peerUrls.map((u) => `${x.name}=${u}`)).join(','),
      '--initial-cluster-token', token,
    ],
    {},
  );
  if (r.kind !== 'server') throw new Error('expected a server config');
  return r;
}

const withEtcd = needingTools(test, ['etcd', 'etcdctl'], it);

withEtcd('a single member with its own name, peer URL and token gets the IDs etcd assigns; member add IDs use time', async () => {
  const [client, peer, added] = await freePorts(3);
  const token = `lattice-id-${process.pid}`;
  const plan: MemberPlan = { name: 'solo', clientUrl: `http://127.0.0.1:${client}`, peerUrls: [`http://127.0.0.1:${peer}`] };
  const [proc] = await startCluster([plan], token);
  const listed = parseMemberList(await etcdctl(plan.clientUrl, ['member', 'list', '-w', 'json']));

  const cfg = latticeConfig(plan, [plan], token);
  const ids = initialMemberIds(cfg.initialCluster, cfg.initialClusterToken);
  const expected = computeMemberId(plan.peerUrls, token);
  assert.is(ids.get('solo'), expected);
  assert.equal(listed.members.map((m) => formatId(m.id)), [formatId(expected)]);
  assert.is(formatId(listed.clusterId), formatId(computeClusterId([expected])));

  // `member add` derives the ID from the peer URLs, an empty token and the current Unix second.
  const addedUrl = `http://127.0.0.1:${added}`;
  const before = Math.floor(Date.now() / 1000) - 1;
  const out = await etcdctl(plan.clientUrl, ['member', 'add', 'later', `--peer-urls=${addedUrl}`, '-w', 'json']);
  const after = Math.ceil(Date.now() / 1000) + 1;
  const addedId = BigInt((/"member":\{"ID":(\d+)/.exec(out) ?? [])[1] ?? '0');
  const candidates: string[] = [];
  for (let t = before; t <= after; t++) candidates.push(formatId(computeMemberId([addedUrl], '', t)));
  assert.ok(candidates.includes(formatId(addedId)), `added member ${formatId(addedId)} not among ${candidates.join(', ')}`);
  await proc?.stop();
}, 90_000);

withEtcd('a three-member cluster, one member with two peer URLs and one advertised as localhost, matches etcd', async () => {
  const ports = await freePorts(7);
  const p = (i: number): number => ports[i] ?? 0;
  const token = `lattice-3-${process.pid}`;
  const plans: MemberPlan[] = [
    { name: 'm1', clientUrl: `http://127.0.0.1:${p(0)}`, peerUrls: [`http://127.0.0.1:${p(1)}`] },
    { name: 'm2', clientUrl: `http://127.0.0.1:${p(2)}`, peerUrls: [`http://127.0.0.1:${p(4)}`, `http://127.0.0.1:${p(3)}`] },
    { name: 'm3', clientUrl: `http://127.0.0.1:${p(5)}`, peerUrls: [`http://localhost:${p(6)}`] },
  ];
  const procs = await startCluster(plans, token);
  const listed = parseMemberList(await etcdctl(plans[0]?.clientUrl ?? '', ['member', 'list', '-w', 'json']));

  const cfg = latticeConfig(plans[1] as MemberPlan, plans, token);
  const ours = initialMemberIds(cfg.initialCluster, cfg.initialClusterToken);
  const theirs = new Map(listed.members.map((m) => [m.name, formatId(m.id)]));
  for (const plan of plans) assert.is(formatId(ours.get(plan.name) ?? 0n), theirs.get(plan.name), plan.name);
  assert.is(formatId(computeClusterId([...ours.values()])), formatId(listed.clusterId));
  await Promise.all(procs.map((x) => x.stop()));
}, 120_000);

test.run();
