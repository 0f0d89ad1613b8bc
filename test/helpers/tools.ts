import { spawnSync } from 'node:child_process';

export type Tool = 'etcd' | 'etcdctl' | 'go' | 'openssl';

const versionArgs: Record<Tool, string[]> = {
  etcd: ['--version'],
  etcdctl: ['version'],
  go: ['version'],
  openssl: ['version'],
};

const known = new Map<Tool, boolean>();

function works(tool: Tool): boolean {
  let ok = known.get(tool);
  if (ok === undefined) {
    const result = spawnSync(tool, versionArgs[tool], { stdio: 'ignore', timeout: 10_000, env: { ...process.env, ETCDCTL_API: '3' } });
    ok = result.status === 0;
    known.set(tool, ok);
  }
  return ok;
}

export const hasEtcd = (): boolean => works('etcd');
export const hasEtcdctl = (): boolean => works('etcdctl');
export const hasGo = (): boolean => works('go');

/** The tools in `needed` that are not installed, as a reason for skip(), or null when all are there. */
export function missingTools(needed: Tool[]): string | null {
  const missing = needed.filter((tool) => !works(tool));
  return missing.length === 0 ? null : `${missing.join(', ')} not installed`;
}

/** Announces a skip: exactly one line `SKIP: <reason>`. */
export function skip(reason: string): void {
  console.log(`SKIP: ${reason}`);
}
