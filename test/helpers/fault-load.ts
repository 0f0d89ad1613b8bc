// Drives the fault-load Go program (test/interop/go/faultload) and reads the cluster's state for the
// fault tests: who leads (from each live member's own status), per-member history dumps, and the
// test-only peer partition (src/peer/drop-failpoint.ts) through one drop file per member.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterMember, TestCluster } from './cluster.js';
import type { LoadResult, MemberDump } from './fault-history.js';
import { buildGoProgram } from './go-build.js';
import { runCommand, spawnProcess, waitUntil } from './processes.js';

/** The load program's own deadlines add up to well under this (watch catch-up 20 s). */
const loadStopTimeoutMs = 45_000;
const dumpRunTimeoutMs = 60_000;
/** etcdctl's deadline for one member's status: a paused or dead member must not hold the poll up. */
const statusTimeout = '1s';

export interface LoadOptions {
  readonly clients: number;
  readonly keysPerClient: number;
  /** Every key the load writes starts with it; the watcher watches it. */
  readonly prefix: string;
  readonly seed: number;
  /** Also watch through this one client URL alone (the member the fault hits). */
  readonly pinWatch?: string;
}

export interface RunningLoad {
  /** SIGTERM: stops writing, lets the watcher catch up, returns everything recorded. */
  stop(): Promise<LoadResult>;
  readonly running: boolean;
  /** Writes acknowledged so far, as the load last reported (every 100 ms). */
  acked(): number;
  /** Resolves once `more` writes beyond those acknowledged now have been acknowledged. */
  waitForMoreAcks(more: number, timeoutMs: number, what: string): Promise<void>;
}

const progressPattern = /progress acked=(\d+)/g;

export async function startLoad(endpoints: string, dir: string, options: LoadOptions): Promise<RunningLoad> {
  const binary = await buildGoProgram('faultload');
  const out = join(dir, `load-${options.seed}.json`);
  const p = spawnProcess({
    name: 'faultload',
    command: binary,
    args: ['--mode', 'load', '--endpoints', endpoints, '--clients', String(options.clients), '--keys', String(options.keysPerClient), '--prefix', options.prefix, '--seed', String(options.seed), '--out', out, ...(options.pinWatch === undefined ? [] : ['--pin-watch', options.pinWatch])],
  });
  const acked = (): number => {
    const all = [...p.output().matchAll(progressPattern)];
    return Number(all.at(-1)?.[1] ?? 0);
  };
  return {
    get running() {
      return p.running;
    },
    acked,
    async waitForMoreAcks(more, timeoutMs, what) {
      const target = acked() + more;
      await waitUntil(() => acked() >= target, { timeoutMs, what: `${more} more acknowledged writes ${what}`, intervalMs: 50, abortIf: () => (p.running ? null : p.describeExit()) });
    },
    async stop() {
      const exit = await p.stop(loadStopTimeoutMs);
      if (exit.code !== 0) throw p.failure(`load ended with ${p.describeExit()}`);
      return JSON.parse(readFileSync(out, 'utf8')) as LoadResult;
    },
  };
}

/** Every member's full history (watch from revision 1) and current values, each read from that member alone. */
export async function dumpMembers(endpoints: readonly string[], dir: string): Promise<MemberDump[]> {
  const binary = await buildGoProgram('faultload');
  const out = join(dir, 'dump.json');
  const r = await runCommand(binary, ['--mode', 'dump', '--endpoints', endpoints.join(','), '--prefix', '', '--out', out], { timeoutMs: dumpRunTimeoutMs });
  if (r.code !== 0) throw new Error(`faultload dump exited ${r.code}: ${r.stderr}`);
  return JSON.parse(readFileSync(out, 'utf8')) as MemberDump[];
}

export interface MemberStatus {
  readonly name: string;
  readonly id: bigint;
  readonly clusterId: bigint;
  readonly leader: bigint;
  readonly term: bigint;
  readonly revision: number;
  readonly raftIndex: number;
}

/** The member's own view (etcdctl endpoint status against it alone), or null if it does not answer. */
export async function memberStatus(m: ClusterMember): Promise<MemberStatus | null> {
  if (!m.process.running) return null;
  const r = await runCommand('etcdctl', ['--endpoints', m.endpoint, '--dial-timeout=1s', `--command-timeout=${statusTimeout}`, 'endpoint', 'status', '-w', 'json'], {
    env: { ...process.env, ETCDCTL_API: '3' },
    timeoutMs: 10_000,
  });
  if (r.code !== 0) return null;
  const field = (name: string): string | undefined => new RegExp(`"${name}":(\\d+)`).exec(r.stdout)?.[1];
  const id = field('member_id');
  const clusterId = field('cluster_id');
  const leader = field('leader');
  const term = field('raft_term');
  const revision = field('revision');
  const raftIndex = field('raftIndex');
  if (id === undefined || clusterId === undefined || leader === undefined || term === undefined || revision === undefined || raftIndex === undefined) return null;
  return { name: m.name, id: BigInt(id), clusterId: BigInt(clusterId), leader: BigInt(leader), term: BigInt(term), revision: Number(revision), raftIndex: Number(raftIndex) };
}

export async function clusterStatus(cluster: TestCluster): Promise<MemberStatus[]> {
  const all = await Promise.all(cluster.members.map(memberStatus));
  return all.filter((s): s is MemberStatus => s !== null);
}

/** The member that the answering members agree leads (all of `among`, or every member, must answer and agree). */
export async function waitForLeader(cluster: TestCluster, what: string, among: readonly ClusterMember[] = cluster.members, timeoutMs = 15_000): Promise<ClusterMember> {
  let leader: ClusterMember | undefined;
  await waitUntil(
    async () => {
      const st = (await Promise.all(among.map(memberStatus))).filter((s): s is MemberStatus => s !== null);
      if (st.length !== among.length) return false;
      const ids = new Set(st.map((s) => s.leader));
      const id = st[0]?.leader;
      if (ids.size !== 1 || id === undefined || id === 0n) return false;
      const name = st.find((s) => s.id === id)?.name;
      leader = among.find((m) => m.name === name);
      return leader !== undefined;
    },
    { timeoutMs, what, intervalMs: 100 },
  );
  return leader!;
}

/** Waits until every member answers and all are at the same revision and Raft index. */
export async function waitForConvergence(cluster: TestCluster, timeoutMs = 20_000): Promise<void> {
  await waitUntil(
    async () => {
      const st = await clusterStatus(cluster);
      return st.length === cluster.members.length && new Set(st.map((s) => s.revision)).size === 1 && new Set(st.map((s) => s.raftIndex)).size === 1 && new Set(st.map((s) => s.leader)).size === 1;
    },
    { timeoutMs, what: 'every member to reach one revision, Raft index and leader', intervalMs: 200 },
  );
}

/** One drop file per member (LATTICE_FAILPOINT_PEER_DROP_FILE); the members re-read them every 100 ms. */
export class PeerPartition {
  constructor(private readonly dir: string) {}

  fileOf(memberName: string): string {
    return join(this.dir, `${memberName}.drop`);
  }

  /** The environment a member needs for the failpoint. */
  readonly envOf = (memberName: string): Record<string, string> => ({ LATTICE_FAILPOINT_PEER_DROP_FILE: this.fileOf(memberName) });

  /** Cuts `member` off from every other member, both directions. */
  isolate(member: MemberStatus, others: readonly MemberStatus[]): void {
    writeFileSync(this.fileOf(member.name), others.map((o) => o.id.toString(16)).join('\n') + '\n');
    for (const o of others) writeFileSync(this.fileOf(o.name), member.id.toString(16) + '\n');
  }

  healAll(names: readonly string[]): void {
    for (const n of names) writeFileSync(this.fileOf(n), '');
  }
}
