// docs/compatibility.md is generated (scripts/compat-matrix.mjs); this keeps it current: any change to
// the protos, the gRPC handlers, the flag specs or the tests that changes the matrix must regenerate it.
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { repoPath, repoRoot } from '../helpers/paths.js';
import { runCommand } from '../helpers/processes.js';

const test = suite('docs: the API compatibility matrix');

async function generated(): Promise<string> {
  const result = await runCommand(process.execPath, [repoPath('scripts', 'compat-matrix.mjs'), '--stdout'], { cwd: repoRoot });
  assert.is(result.code, 0, `compat-matrix.mjs failed:\n${result.stderr}`);
  return result.stdout;
}

test('docs/compatibility.md is what npm run compat generates from the current code and tests', async () => {
  const expected = await generated();
  const current = readFileSync(repoPath('docs', 'compatibility.md'), 'utf8');
  // A whole-file diff would be unreadable; name the first line that differs.
  const want = expected.split('\n');
  const have = current.split('\n');
  const first = want.findIndex((line, i) => line !== have[i]);
  const at = first === -1 ? Math.min(want.length, have.length) : first;
  assert.ok(
    expected === current,
    `docs/compatibility.md is out of date (run npm run compat): line ${at + 1} is\n  ${have[at] ?? '(end of file)'}\nand should be\n  ${want[at] ?? '(end of file)'}`,
  );
});

test('the matrix lists every etcd v3 RPC and no flag twice', async () => {
  const text = await generated();
  const rpcRows = text.split('\n').filter((l) => /^\| `(KV|Watch|Lease|Cluster|Maintenance|Auth|Lock|Election)\.\w+` \|/.test(l));
  assert.is(rpcRows.length, 46, "etcd 3.4's proto has 46 RPCs in these eight services");
  for (const rpc of ['KV.Range', 'Watch.Watch', 'Lease.LeaseKeepAlive', 'Maintenance.Snapshot', 'Lock.Lock', 'Election.Observe']) {
    assert.ok(rpcRows.some((l) => l.startsWith(`| \`${rpc}\``)), `${rpc} is listed`);
  }
  const flags = text.split('\n').map((l) => /^\| `--([\w-]+)`/.exec(l)?.[1]).filter((f): f is string => f !== undefined);
  assert.ok(flags.includes('listen-client-urls') && flags.includes('wal-dir'), 'etcd flags are listed');
  assert.is(new Set(flags).size, flags.length, 'no flag listed twice');
});

test.run();
