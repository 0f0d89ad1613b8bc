// A member keeps the identity it was bootstrapped with: src/server/member-identity.ts persists it in the
// data dir, and a restarted server reports the same member and cluster IDs whatever the bootstrap flags
// now say, except a different --initial-cluster-token, which is refused (exit 1) instead of ignored.

import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { computeClusterId, computeMemberId, formatId } from '../../src/server/member-id.js';
import {
  IdentityError,
  identityFileName,
  loadOrCreateIdentity,
  readIdentity,
  writeIdentity,
  type MemberIdentity,
} from '../../src/server/member-identity.js';
import { freePorts, loopbackHost } from '../helpers/free-port.js';
import { repoPath, repoRoot } from '../helpers/paths.js';
import { spawnProcess, stopAllProcesses, type ManagedProcess } from '../helpers/processes.js';
import { waitUntilServing } from '../helpers/server-flags.js';
import { defaultTestTimeoutMs, withTimeout } from '../helpers/spec.js';
import { makeTempDir, removeAllTempDirs } from '../helpers/temp-dirs.js';

/** A refused start must end the process well within this. */
const refusedExitTimeoutMs = 20_000;
const serverTestTimeoutMs = 90_000;

const test = suite('persisted member identity');
const it = (name: string, body: () => Promise<void>, timeoutMs = defaultTestTimeoutMs): void =>
  test(name, () => withTimeout(body(), timeoutMs, name));

test.after(async () => {
  await stopAllProcesses();
  removeAllTempDirs();
});

const peer = (port: number): string => `http://127.0.0.1:${port}`;

/** The bootstrap flags of a one-member cluster named `a`, as parseConfig returns them. */
function flags(peerUrl: string, token: string, tokenGiven = true) {
  return {
    initialAdvertisePeerUrls: [peerUrl],
    initialCluster: new Map([['a', [peerUrl]]]),
    initialClusterToken: token,
    initialClusterTokenGiven: tokenGiven,
  };
}

async function rejectsWithIdentityError(p: Promise<unknown>, kind: IdentityError['kind'], pattern: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, IdentityError);
    assert.is((e as IdentityError).kind, kind);
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected an IdentityError (${kind})`);
}

// --- the module ---------------------------------------------------------------------------------------

it('a fresh data dir derives the IDs from the flags as etcd does and persists them', async () => {
  const dir = makeTempDir('identity');
  const loaded = await loadOrCreateIdentity(dir, flags(peer(2380), 'tok'));
  const memberId = computeMemberId([peer(2380)], 'tok');
  assert.is(loaded.origin, 'bootstrapped');
  assert.is(loaded.identity.memberId, memberId);
  assert.is(loaded.identity.clusterId, computeClusterId([memberId]));
  assert.equal(await readIdentity(dir), loaded.identity);
  assert.equal(await readdir(dir), [identityFileName], 'no temp file is left behind');
});

it('the default flags still give etcd’s well-known IDs 8e9e05c52164694d / cdf818194e3a8c32', async () => {
  const loaded = await loadOrCreateIdentity(makeTempDir('identity'), flags('http://localhost:2380', 'etcd-cluster'));
  assert.is(formatId(loaded.identity.memberId), '8e9e05c52164694d');
  assert.is(formatId(loaded.identity.clusterId), 'cdf818194e3a8c32');
});

it('a restart with another advertised peer URL and initial cluster keeps the persisted identity and names the ignored flags', async () => {
  const dir = makeTempDir('identity');
  const first = await loadOrCreateIdentity(dir, flags(peer(2380), 'tok'));
  const again = await loadOrCreateIdentity(dir, flags(peer(2390), 'tok'));
  assert.is(again.origin, 'restarted');
  assert.equal(again.identity, first.identity);
  assert.equal(again.identity.peerUrls, [peer(2380)]);
  assert.equal(again.ignoredFlags, ['initial-advertise-peer-urls', 'initial-cluster']);
  assert.equal((await loadOrCreateIdentity(dir, flags(peer(2380), 'tok'))).ignoredFlags, []);
});

it('a restart with a different --initial-cluster-token is refused with both tokens and the persisted IDs', async () => {
  const dir = makeTempDir('identity');
  const first = await loadOrCreateIdentity(dir, flags(peer(2380), 'tok-a'));
  await rejectsWithIdentityError(
    loadOrCreateIdentity(dir, flags(peer(2380), 'tok-b')),
    'token-mismatch',
    new RegExp(`^cluster token mismatch \\(got "tok-b" want "tok-a"\\): data dir .* holds member ${formatId(first.identity.memberId)} of cluster ${formatId(first.identity.clusterId)}`),
  );
  assert.equal(await readIdentity(dir), first.identity, 'the refused start changed nothing');
});

it('a restart that leaves the token out (etcd\'s default) keeps the persisted identity, as etcd ignores the token', async () => {
  const dir = makeTempDir('identity');
  const first = await loadOrCreateIdentity(dir, flags(peer(2380), 'tok-a'));
  const again = await loadOrCreateIdentity(dir, flags(peer(2380), 'etcd-cluster', false));
  assert.is(again.origin, 'restarted');
  assert.equal(again.identity, first.identity);
});

it('a data dir with data but no identity file (an older Lattice) adopts the one derived from the flags', async () => {
  const dir = makeTempDir('identity');
  await mkdir(join(dir, 'wal'));
  const loaded = await loadOrCreateIdentity(dir, flags(peer(2380), 'tok'));
  assert.is(loaded.origin, 'adopted');
  assert.is(loaded.identity.memberId, computeMemberId([peer(2380)], 'tok'));
  assert.equal(await readIdentity(dir), loaded.identity);
});

it('a damaged identity file is refused with its path, never replaced by a derived identity', async () => {
  const dir = makeTempDir('identity');
  await writeFile(join(dir, identityFileName), '{"format":1,"memberId":"zz"');
  await rejectsWithIdentityError(loadOrCreateIdentity(dir, flags(peer(2380), 'tok')), 'unreadable', new RegExp(`${identityFileName}: not valid JSON`));
  await writeFile(join(dir, identityFileName), JSON.stringify({ format: 1, memberId: 'zz', clusterId: '1', clusterToken: 't', peerUrls: [] }));
  await rejectsWithIdentityError(readIdentity(dir), 'unreadable', /memberId "zz" is not a hex ID/);
});

it('a temp file left by a crash before the rename is not an identity, and the next write replaces it', async () => {
  const dir = makeTempDir('identity');
  await writeFile(join(dir, identityFileName + '.tmp'), '{"format":1,"memb');
  assert.is(await readIdentity(dir), undefined);
  const loaded = await loadOrCreateIdentity(dir, flags(peer(2380), 'tok'));
  assert.is(loaded.origin, 'bootstrapped');
  assert.equal(await readdir(dir), [identityFileName]);
  const identity: MemberIdentity = { ...loaded.identity, peerUrls: [peer(1), peer(2)] };
  await writeIdentity(dir, identity);
  assert.equal(await readIdentity(dir), identity);
  assert.match(await readFile(join(dir, identityFileName), 'utf8'), /"memberId": "[0-9a-f]+"/);
});

// --- the server -----------------------------------------------------------------------------------------

interface Member {
  memberId: string;
  clusterId: string;
  peerUrls: string[];
}

/** Member and cluster ID from Status, peer URLs from MemberList (IDs as decimal strings, as the client gives them). */
async function memberOf(endpoint: string): Promise<Member> {
  const client = new Etcd3({ hosts: endpoint });
  try {
    const status = await client.maintenance.status();
    const list = await client.cluster.memberList({});
    assert.is(list.members.length, 1);
    assert.is(list.members[0]?.ID, status.header.member_id);
    return { memberId: status.header.member_id, clusterId: status.header.cluster_id, peerUrls: list.members[0]?.peerURLs ?? [] };
  } finally {
    client.close();
  }
}

interface Launch {
  dataDir: string;
  clientPort: number;
  peerPort: number;
  token: string;
}

function launch(l: Launch): ManagedProcess {
  const client = `http://${loopbackHost}:${l.clientPort}`;
  return spawnProcess({
    name: 'lattice',
    command: process.execPath,
    cwd: repoRoot,
    args: [
      repoPath('bin', 'lattice.js'),
      '--engine', 'memory',
      '--name', 'a',
      '--data-dir', l.dataDir,
      '--listen-client-urls', client,
      '--advertise-client-urls', client,
      '--listen-peer-urls', peer(l.peerPort),
      '--initial-advertise-peer-urls', peer(l.peerPort),
      '--initial-cluster', `a=${peer(l.peerPort)}`,
      '--initial-cluster-token', l.token,
    ],
  });
}

async function serve(l: Launch): Promise<ManagedProcess> {
  const p = launch(l);
  await waitUntilServing(p, { name: 'a', dataDir: l.dataDir, clientPort: l.clientPort, peerPort: l.peerPort });
  return p;
}

it(
  'a restarted server keeps its member ID, cluster ID and peer URLs when --initial-advertise-peer-urls changes',
  async () => {
    const [clientPort, peerPort, otherPeerPort] = await freePorts(3);
    if (clientPort === undefined || peerPort === undefined || otherPeerPort === undefined) throw new Error('no free ports');
    const base = { dataDir: join(makeTempDir('identity-server'), 'data'), clientPort, token: 'tok' };
    const endpoint = `http://${loopbackHost}:${clientPort}`;

    const first = await serve({ ...base, peerPort });
    const before = await memberOf(endpoint);
    // A fresh data dir still gets etcd's derivation from the flags.
    assert.is(BigInt(before.memberId), computeMemberId([peer(peerPort)], 'tok'));
    assert.is(BigInt(before.clusterId), computeClusterId([BigInt(before.memberId)]));
    assert.equal(before.peerUrls, [peer(peerPort)]);
    await first.stop();

    const second = await serve({ ...base, peerPort: otherPeerPort });
    assert.equal(await memberOf(endpoint), before);
    assert.match(second.output(), /restarting local member/);
    assert.match(second.output(), /"ignored-flags":\["--initial-advertise-peer-urls","--initial-cluster"\]/);
    await second.stop();
  },
  serverTestTimeoutMs,
);

it(
  'a server started on a data dir with a different --initial-cluster-token exits 1 and says why',
  async () => {
    const [clientPort, peerPort] = await freePorts(2);
    if (clientPort === undefined || peerPort === undefined) throw new Error('no free ports');
    const base = { dataDir: join(makeTempDir('identity-server'), 'data'), clientPort, peerPort };
    await (await serve({ ...base, token: 'tok-a' })).stop();

    const refused = launch({ ...base, token: 'tok-b' });
    const exit = await withTimeout(refused.exited, refusedExitTimeoutMs, 'the refused server to exit');
    assert.is(exit.code, 1, refused.tail());
    assert.match(refused.output(), /failed to start server.*cluster token mismatch \(got \\"tok-b\\" want \\"tok-a\\"\)/);
    assert.not.match(refused.output(), /ready to serve client requests/);

    // The data dir is untouched: the right token still starts the same member.
    await (await serve({ ...base, token: 'tok-a' })).stop();
  },
  serverTestTimeoutMs,
);

test.run();
