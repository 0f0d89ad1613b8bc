// Shared steps of the snapshot tests: one history of writes (overwrites, a delete, a lease with a
// key, a compaction), the answers compared across servers, and servers started on a restored data dir.
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { etcdctl, errorLines, parseJsonOutput } from '../helpers/etcdctl.js';
import { connect, WatchStream } from '../helpers/grpc-watch-client.js';
import { repoPath, repoRoot } from '../helpers/paths.js';
import { runCommand, type CommandResult } from '../helpers/processes.js';
import { allocateAddress, etcdFlags, launchRestartable, type RestartableServer, type ServerAddress } from '../helpers/server-flags.js';

export const latticeBin = repoPath('bin', 'lattice.js');

async function ok(endpoint: string, args: string[]): Promise<string> {
  const r = await etcdctl(endpoint, args);
  assert.is(r.code, 0, `etcdctl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Writes the same history on any server; returns the lease ID (hex) it granted. Revisions 2..12, compacted at 3. */
export async function writeHistory(endpoint: string): Promise<string> {
  await ok(endpoint, ['put', 'a', '1']);
  await ok(endpoint, ['put', 'b', '2']);
  await ok(endpoint, ['put', 'a', '3']);
  await ok(endpoint, ['del', 'b']);
  const lease = /^lease ([0-9a-f]+) granted/m.exec(await ok(endpoint, ['lease', 'grant', '600']))?.[1] ?? '';
  assert.ok(lease !== '', 'lease granted');
  await ok(endpoint, ['put', 'c', '4', `--lease=${lease}`]);
  await ok(endpoint, ['put', 'd', '5']);
  await ok(endpoint, ['compact', '3']);
  await ok(endpoint, ['put', 'e', '6']);
  await ok(endpoint, ['put', 'f', '7']);
  await ok(endpoint, ['del', 'a']);
  // Two changes at one revision (sub-revisions 0 and 1), then a delete of both at another.
  const txn = await etcdctl(endpoint, ['txn'], '\nput g 8\nput h 9\n\n\n');
  assert.is(txn.code, 0, txn.stderr);
  const del = await etcdctl(endpoint, ['txn'], '\ndel g\ndel h\n\n\n');
  assert.is(del.code, 0, del.stderr);
  return lease;
}

/** What a client sees of the history: current keys, reads at old revisions (one compacted), the lease, a watch replay. */
export async function observe(endpoint: string, lease: string): Promise<unknown> {
  const get = async (args: string[]): Promise<unknown> => {
    const r = await etcdctl(endpoint, ['get', '', '--prefix', '-w', 'json', ...args]);
    return r.code === 0 ? parseJsonOutput(r.stdout) : { error: errorLines(r.stderr) };
  };
  const ttl = await etcdctl(endpoint, ['lease', 'timetolive', lease, '--keys', '-w', 'json']);
  const ttlJson = parseJsonOutput(ttl.stdout) as { id?: number; ttl?: number; 'granted-ttl'?: number; keys?: string[] };
  const observed = {
    now: await get([]),
    rev4: await get(['--rev', '4']),
    rev6: await get(['--rev', '6']),
    rev2: await get(['--rev', '2']),
    lease: { granted: ttlJson['granted-ttl'], keys: ttlJson.keys, alive: (ttlJson.ttl ?? -1) > 0 },
    rev11: await get(['--rev', '11']),
    watchFrom4: await replay(endpoint, 4n, 12n),
  };
  // The history is all there, so equal observations compare something.
  assert.match(JSON.stringify(observed.now), /"count":4/);
  assert.equal(observed.rev2, { error: ['Error: etcdserver: mvcc: required revision has been compacted'] });
  assert.match(JSON.stringify(observed.rev11), /"count":6/);
  assert.is(observed.watchFrom4.length, 11);
  assert.equal(observed.lease.keys, [Buffer.from('c').toString('base64')]);
  return observed;
}

/** The events a watch on every key replays from `fromRev` through `toRev`. */
async function replay(endpoint: string, fromRev: bigint, toRev: bigint): Promise<unknown[]> {
  const conn = connect(endpoint);
  try {
    const stream = new WatchStream(conn);
    stream.create({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), startRevision: fromRev });
    await stream.until(`events through revision ${toRev}`, (rs) => rs.some((r) => r.events.some((e) => (e.kv?.modRevision ?? 0n) >= toRev)));
    return stream.responses.flatMap((r) =>
      r.events.map((e) => ({ type: e.type, key: e.kv?.key.toString(), value: e.kv?.value.toString(), mod: String(e.kv?.modRevision), create: String(e.kv?.createRevision), version: String(e.kv?.version) })),
    );
  } finally {
    conn.close();
  }
}

export function lattice(args: string[]): Promise<CommandResult> {
  return runCommand(process.execPath, [latticeBin, ...args], { cwd: repoRoot, timeoutMs: 120_000 });
}

/** The flags restore and the restored server share: name, peer URL, the one-member initial cluster. */
export function restoreFlags(address: ServerAddress): string[] {
  const flags = etcdFlags(address);
  const pick = (name: string): string[] => [name, flags[flags.indexOf(name) + 1]!];
  return [...pick('--name'), ...pick('--initial-cluster'), ...pick('--initial-advertise-peer-urls')];
}

export async function restoredAddress(root: string, name: string): Promise<ServerAddress> {
  return allocateAddress(name, join(root, `${name}-data`));
}

/** Starts a server (etcd, or Lattice with `engine`) on a data dir a restore made. */
export function startOnRestored(kind: 'etcd' | 'memory' | 'rocksdb', address: ServerAddress, root: string): Promise<RestartableServer> {
  const spec =
    kind === 'etcd'
      ? { label: 'etcd (restored)', command: 'etcd', args: etcdFlags(address), logFile: join(root, 'etcd-restored.log') }
      : { label: `lattice --engine ${kind} (restored)`, command: process.execPath, args: [latticeBin, ...etcdFlags(address), '--engine', kind], cwd: repoRoot, logFile: join(root, 'lattice-restored.log') };
  return launchRestartable(spec, address, () => undefined);
}
