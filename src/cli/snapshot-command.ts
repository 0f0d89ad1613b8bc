// `lattice snapshot restore|status`: etcdctl's snapshot commands against a snapshot file, with its
// flags and defaults (etcdctl/ctlv3/command/snapshot_command.go). Exit 0 on success, 1 on an error
// (printed as etcdctl prints it: `Error: ...`), 2 for a malformed command line.
import { parseArgs } from 'node:util';
import { BboltFormatError } from '../bbolt/index.js';
import type { EngineName } from '../engines/engine.js';
import { parseInitialCluster, parseUrlList } from '../server/etcd-urls.js';
import { formatId } from '../server/member-id.js';
import { SnapshotRestoreError } from '../snapshot/snapshot-errors.js';
import { restoreEtcdSnapshot } from '../snapshot/snapshot-restore.js';
import { snapshotStatus, statusRow } from '../snapshot/snapshot-status.js';

const usage = `usage:
  lattice snapshot restore <filename> --data-dir DIR [--engine memory|rocksdb] [--name NAME]
      [--initial-cluster NAME=URL,...] [--initial-cluster-token TOKEN]
      [--initial-advertise-peer-urls URL,...] [--skip-hash-check]
  lattice snapshot status <filename> [-w simple|json|table]
`;

export async function runSnapshotCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    if (sub === 'restore') return await restore(rest);
    if (sub === 'status') return await status(rest);
  } catch (e) {
    if (e instanceof TypeError && (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') === true) {
      process.stderr.write(`Error: ${e.message}\n${usage}`);
      return 2;
    }
    if (e instanceof SnapshotRestoreError || e instanceof BboltFormatError) {
      process.stderr.write(`Error: ${e.message}\n`);
      return 1;
    }
    const err = e as NodeJS.ErrnoException;
    process.stderr.write(`Error: ${err.code !== undefined ? err.message : (err.stack ?? String(e))}\n`);
    return 1;
  }
  process.stderr.write(usage);
  return 2;
}

async function restore(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string' },
      engine: { type: 'string', default: 'rocksdb' },
      name: { type: 'string', default: 'default' },
      'initial-cluster': { type: 'string', default: 'default=http://localhost:2380' },
      'initial-cluster-token': { type: 'string', default: 'etcd-cluster' },
      'initial-advertise-peer-urls': { type: 'string', default: 'http://localhost:2380' },
      'skip-hash-check': { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) {
    process.stderr.write(`Error: snapshot restore expects one argument\n${usage}`);
    return 2;
  }
  const engine = values.engine;
  if (engine !== 'memory' && engine !== 'rocksdb') {
    process.stderr.write(`Error: unknown engine ${JSON.stringify(engine)} (memory or rocksdb)\n`);
    return 2;
  }
  const name = values.name ?? 'default';
  // etcdctl's default: <name>.etcd in the working directory.
  const dataDir = values['data-dir'] ?? `${name}.etcd`;
  const summary = await restoreEtcdSnapshot({
    snapshotPath: positionals[0]!,
    dataDir,
    engine: engine satisfies EngineName,
    name,
    initialCluster: parseInitialCluster(values['initial-cluster'] ?? ''),
    initialClusterToken: values['initial-cluster-token'] ?? 'etcd-cluster',
    initialAdvertisePeerUrls: parseUrlList(values['initial-advertise-peer-urls'] ?? ''),
    skipHashCheck: values['skip-hash-check'] ?? false,
  });
  process.stdout.write(
    `restored snapshot ${positionals[0]} into ${dataDir} (engine ${engine}): revision ${summary.revision}, ` +
      `compact revision ${summary.compactRevision}, ${summary.records} key revisions, ${summary.leases} leases; ` +
      `member ${formatId(summary.memberId)} of new cluster ${formatId(summary.clusterId)}\n`,
  );
  return 0;
}

async function status(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: { 'write-out': { type: 'string', short: 'w', default: 'simple' } },
  });
  if (positionals.length !== 1) {
    process.stderr.write(`Error: snapshot status expects one argument\n${usage}`);
    return 2;
  }
  const s = await snapshotStatus(positionals[0]!);
  switch (values['write-out']) {
    case 'json':
      process.stdout.write(`{"hash":${s.hash},"revision":${s.revision},"totalKey":${s.totalKeys},"totalSize":${s.totalSizeBytes}}\n`);
      return 0;
    case 'table':
      process.stdout.write(table(['HASH', 'REVISION', 'TOTAL KEYS', 'TOTAL SIZE'], statusRow(s)));
      return 0;
    case 'simple':
      process.stdout.write(statusRow(s).join(', ') + '\n');
      return 0;
    default:
      process.stderr.write(`Error: unsupported output format ${JSON.stringify(values['write-out'])}\n`);
      return 1;
  }
}

/** tablewriter's layout as etcdctl uses it: centered headers, cells right-aligned, padded by one space. */
function table(header: readonly string[], row: readonly string[]): string {
  const widths = header.map((h, i) => Math.max(h.length, row[i]!.length) + 2);
  const line = '+' + widths.map((w) => '-'.repeat(w)).join('+') + '+\n';
  const center = (text: string, width: number): string => {
    const left = Math.floor((width - text.length) / 2);
    return ' '.repeat(left) + text + ' '.repeat(width - text.length - left);
  };
  const cells = (values: readonly string[], align: (t: string, w: number) => string): string => '|' + values.map((v, i) => align(v, widths[i]!)).join('|') + '|\n';
  return line + cells(header, center) + line + cells(row, (t, w) => t.padStart(w - 1) + ' ') + line;
}
