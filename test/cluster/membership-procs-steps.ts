// Steps shared by the membership tests on real processes: etcdctl calls that must succeed, endpoint
// status parsed from etcdctl's JSON (IDs kept as text: they exceed 2^53), and starting a member the
// way `etcdctl member add` tells an operator to (its ETCD_* lines as the environment).
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { memberFlags, type ClusterKind, type TestCluster } from '../helpers/cluster.js';
import { errorLines, etcdctl } from '../helpers/etcdctl.js';
import { loopbackHost } from '../helpers/free-port.js';
import type { Engine } from '../helpers/lattice-server.js';
import { repoPath, repoRoot } from '../helpers/paths.js';
import { spawnProcess, waitUntil, type ManagedProcess } from '../helpers/processes.js';
import { allocateAddress, clientUrl, launchRestartable, type LaunchSpec, type RestartableServer, type ServerAddress } from '../helpers/server-flags.js';
import { makeTempDir, removeTempDir } from '../helpers/temp-dirs.js';

/** A member that gets its connections to every voter counted as up (etcd's HealthInterval is 5 s). */
export const healthIntervalMs = 5_000;

export async function ok(endpoint: string, args: string[]): Promise<string> {
  const r = await etcdctl(endpoint, args);
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')} at ${endpoint} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Exit code and `Error:` lines of a call expected to fail; nothing else compares across clusters. */
export async function refusal(endpoint: string, args: string[]): Promise<string> {
  const r = await etcdctl(endpoint, args);
  return `exit ${r.code}: ${errorLines(r.stderr).join(' | ')}`;
}

export interface EndpointStatus {
  readonly endpoint: string;
  readonly member: string;
  readonly leader: string;
  readonly revision: string;
  readonly isLearner: boolean;
}

/** `endpoint status -w json` at every endpoint given (or every member with cluster = true). */
export async function statuses(endpoints: string, cluster = false): Promise<EndpointStatus[]> {
  const out = await ok(endpoints, ['endpoint', 'status', '-w', 'json', ...(cluster ? ['--cluster'] : [])]);
  const entries = out.match(/\{"Endpoint":"[^"]+","Status":\{"header":\{[^}]*\}[^}]*\}\}/g) ?? [];
  return entries.map((e) => ({
    endpoint: /"Endpoint":"([^"]+)"/.exec(e)![1]!,
    member: /"member_id":(\d+)/.exec(e)![1]!,
    leader: /"leader":(\d+)/.exec(e)![1]!,
    revision: /"revision":(\d+)/.exec(e)![1]!,
    isLearner: /"isLearner":true/.test(e),
  }));
}

/** The member ID (hex, as etcdctl member commands take it) of the member serving `endpoint`. */
export async function memberIdHex(endpoint: string): Promise<string> {
  const [s] = await statuses(endpoint);
  return BigInt(s!.member).toString(16);
}

/** The endpoint of the current leader, asked of `endpoints`; waits (bounded) for one to exist. */
export async function leaderEndpoint(endpoints: string): Promise<string> {
  let found: string | undefined;
  await waitUntil(
    async () => {
      const st = await statuses(endpoints).catch(() => []);
      found = st.find((s) => s.member === s.leader && s.leader !== '0')?.endpoint;
      return found !== undefined;
    },
    { timeoutMs: 20_000, what: 'a leader' },
  );
  return found!;
}

/** HashKV of every member (--cluster) once all have reached one revision; asserts they are equal. */
export async function assertHashKvEqual(endpoint: string, members: number): Promise<void> {
  let revision = '';
  await waitUntil(
    async () => {
      const st = await statuses(endpoint, true);
      revision = st[0]?.revision ?? '';
      return st.length === members && new Set(st.map((s) => s.revision)).size === 1;
    },
    { timeoutMs: 15_000, what: `${members} members to reach one revision` },
  );
  const out = await ok(endpoint, ['endpoint', 'hashkv', '--cluster', '--rev', revision, '-w', 'json']);
  const hashes = [...out.matchAll(/"hash":(\d+)/g)].map((m) => m[1]);
  assert.is(hashes.length, members, out);
  assert.is(new Set(hashes).size, 1, `HashKV at revision ${revision}: ${hashes.join(', ')}`);
}

/**
 * Runs a reconfiguration, retrying while the cluster is "unhealthy" only because its peer connections
 * are younger than etcd's HealthInterval (a cluster just started, a member just restarted).
 */
export async function reconfigure(endpoint: string, args: string[]): Promise<string> {
  let out = '';
  await waitUntil(
    async () => {
      const r = await etcdctl(endpoint, args);
      if (r.code === 0) {
        out = r.stdout;
        return true;
      }
      if (r.stderr.includes('unhealthy cluster')) return false;
      throw new Error(`etcdctl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    },
    { timeoutMs: healthIntervalMs * 4, what: `etcdctl ${args.join(' ')} to be accepted`, intervalMs: 500 },
  );
  return out;
}

/** The ETCD_* lines `etcdctl member add` prints, as an environment. */
export function memberAddEnvironment(output: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of output.matchAll(/^(ETCD_[A-Z_]+)="(.*)"$/gm)) env[m[1]!] = m[2]!;
  return env;
}

/** `member add` output with IDs and ports replaced, the initial cluster sorted: comparable across clusters. */
export function normaliseMemberAdd(output: string): string {
  return output
    .replace(/\b[0-9a-f]{12,16}\b/g, '<id>')
    .replace(/:\d{2,5}\b/g, ':<port>')
    .replace(/^ETCD_INITIAL_CLUSTER="(.*)"$/m, (_, list: string) => `ETCD_INITIAL_CLUSTER="${list.split(',').sort().join(',')}"`)
    .replace(/ {2,}/g, ' ');
}

export interface JoinSpec {
  readonly kind: ClusterKind;
  readonly engine: Engine;
  /** What `member add` printed; the member starts with exactly these settings. */
  readonly env: Record<string, string>;
  readonly token: string;
  readonly peerPort: number;
  readonly extraArgs: readonly string[];
}

interface JoinerLaunch {
  readonly spec: LaunchSpec;
  readonly address: ServerAddress;
  readonly root: string;
}

async function joinerLaunch(spec: JoinSpec): Promise<JoinerLaunch> {
  const name = spec.env.ETCD_NAME ?? 'joiner';
  const root = makeTempDir(`joiner-${spec.kind}`);
  const address: ServerAddress = { ...(await allocateAddress(name, join(root, name))), peerPort: spec.peerPort };
  const peer = `http://${loopbackHost}:${spec.peerPort}`;
  const args = [
    '--data-dir', address.dataDir,
    '--listen-client-urls', clientUrl(address),
    '--advertise-client-urls', clientUrl(address),
    '--listen-peer-urls', peer,
    '--initial-cluster-token', spec.token,
    ...spec.extraArgs,
  ];
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD_'))), ...spec.env };
  const launch: LaunchSpec =
    spec.kind === 'etcd'
      ? { label: `etcd ${name}`, command: 'etcd', args, env, logFile: join(root, `${name}.log`) }
      : { label: `lattice ${name}`, command: process.execPath, args: [repoPath('bin', 'lattice.js'), ...args, '--engine', spec.engine], cwd: repoRoot, env, logFile: join(root, `${name}.log`) };
  return { spec: launch, address, root };
}

/** Starts the member `member add` announced, on a fresh data dir, and waits until it serves; stop() removes the data dir. */
export async function startJoiner(spec: JoinSpec): Promise<RestartableServer> {
  const { spec: launch, address, root } = await joinerLaunch(spec);
  return launchRestartable(launch, address, () => removeTempDir(root));
}

/** Spawns such a member without waiting for it to serve (one that is expected never to). */
export async function spawnJoiner(spec: JoinSpec): Promise<{ readonly process: ManagedProcess; remove(): Promise<void> }> {
  const { spec: launch, root } = await joinerLaunch(spec);
  const child = spawnProcess({ name: launch.label, command: launch.command, args: launch.args, cwd: launch.cwd, env: launch.env, logFile: launch.logFile });
  return {
    process: child,
    async remove() {
      await child.kill9();
      removeTempDir(root);
    },
  };
}

/** Starts a member of `cluster` again on its data dir with a different peer port (after `member update`). */
export async function restartOnPeerPort(cluster: TestCluster, index: number, peerPort: number, token: string, engine: Engine): Promise<RestartableServer> {
  const addresses = cluster.members.map((m) => m.address);
  const moved: ServerAddress = { ...addresses[index]!, peerPort };
  const args = memberFlags(moved, addresses.map((a, i) => (i === index ? moved : a)), token, 'existing');
  const logFile = `${moved.dataDir}.moved.log`;
  return launchRestartable(
    cluster.kind === 'etcd'
      ? { label: `etcd ${moved.name} (moved)`, command: 'etcd', args, logFile }
      : { label: `lattice ${moved.name} (moved)`, command: process.execPath, args: [repoPath('bin', 'lattice.js'), ...args, '--engine', engine], cwd: repoRoot, logFile },
    moved,
    () => undefined,
  );
}
