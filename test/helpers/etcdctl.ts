import { runCommand, type CommandResult } from './processes.js';

/** etcdctl's own deadlines, below the helper's so a hang is reported by etcdctl itself. */
const etcdctlFlags = ['--dial-timeout=5s', '--command-timeout=10s'];
const etcdctlRunTimeoutMs = 30_000;

/** Runs `etcdctl --endpoints endpoint ...args` (API v3), optionally feeding stdin. */
export function etcdctl(endpoint: string, args: string[], input?: string): Promise<CommandResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('ETCDCTL_')) env[key] = value;
  env.ETCDCTL_API = '3';
  return runCommand('etcdctl', ['--endpoints', endpoint, ...etcdctlFlags, ...args], {
    env,
    input,
    timeoutMs: etcdctlRunTimeoutMs,
  });
}

/** The `Error: ...` lines etcdctl prints (without clientv3's warn logs, which carry random IDs). */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('Error:'));
}

/** Drops per-cluster fields from etcdctl's JSON (raw text: IDs exceed 2^53) and parses it. */
export function parseJsonOutput(stdout: string): unknown {
  const stripped = stdout
    .replace(/"(cluster_id|member_id|raft_term|leader)":\d+,?/g, '')
    .replace(/,\s*}/g, '}');
  return JSON.parse(stripped);
}

/** An int64/uint64 field from etcdctl's JSON as a string, read from the raw text. */
export function rawNumberField(stdout: string, field: string): string | null {
  const match = new RegExp(`"${field}":(\\d+)`).exec(stdout);
  return match?.[1] ?? null;
}
