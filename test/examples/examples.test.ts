// The programs under examples/ run against one started Lattice and do what their READMEs say.
// Each example checks its own outcome and exits non-zero when it is wrong; these tests run them
// with real clients (npm etcd3, Go clientv3/concurrency, fetch on /api) and check the exit and output.
import * as assert from 'uvu/assert';
import { buildGoProgram } from '../helpers/go-build.js';
import { startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { repoPath, repoRoot } from '../helpers/paths.js';
import { runCommand, spawnProcess } from '../helpers/processes.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools, skip } from '../helpers/tools.js';

/** Each example finishes in a few seconds; this bounds a hung one. */
const exampleTimeoutMs = 30_000;
/** A cold Go build of clientv3 takes minutes; a warm one about a second. */
const goExampleTimeoutMs = 300_000;

const s = serverSuite<LatticeServer>('examples: runnable programs against Lattice', () => startLattice('rocksdb', 'examples'));

async function runNode(script: string, args: string[]): Promise<string> {
  const result = await runCommand(process.execPath, [repoPath('examples', script), ...args], { cwd: repoRoot, timeoutMs: exampleTimeoutMs });
  assert.is(result.code, 0, `${script} failed:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

s.it('service discovery: instances join, leave by revoking their lease and vanish when it expires', async (lattice) => {
  const out = await runNode('service-discovery/discovery.mjs', ['--endpoints', lattice.endpoint]);
  assert.match(out, /^discovered: a=10\.0\.0\.1:8080 b=10\.0\.0\.2:8080$/m);
  assert.match(out, /^joined: \+ c 10\.0\.0\.3:8080 -> a=\S+ b=\S+ c=\S+$/m);
  assert.match(out, /^left: - a -> b=\S+ c=\S+$/m);
  assert.match(out, /^expired after [\d.]+ s: - b -> c=10\.0\.0\.3:8080$/m);
  assert.match(out, /^ok$/m);
});

const lockCounterTest = 'lock counter: four Go workers under concurrency.Mutex lose no increment';
const goMissing = missingTools(['go']);
if (goMissing !== null) skip(`${lockCounterTest}: ${goMissing}`);
else s.it(lockCounterTest, async (lattice) => {
  const binary = await buildGoProgram('lock-counter', repoPath('examples', 'lock-counter'));
  const result = await runCommand(binary, ['--endpoints', lattice.endpoint, '--workers', '4', '--increments', '25'], { timeoutMs: exampleTimeoutMs });
  assert.is(result.code, 0, `lock-counter failed:\n${result.stdout}${result.stderr}`);
  assert.match(result.stdout, /^counter = 100 \(expected 100\) after 4 workers × 25 locked increments/m);
}, goExampleTimeoutMs);

s.it('config watcher: loads the settings, then reloads once per changing revision over SSE', async (lattice) => {
  const api = (key: string) => `${lattice.endpoint}/api/kv/config/app/${key}`;
  await fetch(api('log_level'), { method: 'PUT', body: 'info' });
  const watcher = spawnProcess({
    name: 'config-watcher',
    command: process.execPath,
    args: [repoPath('examples', 'config-watcher', 'watch-config.mjs'), '--endpoint', lattice.endpoint, '--exit-after', '3'],
    cwd: repoRoot,
  });
  try {
    await watcher.waitForLine(/^loaded revision \d+: \{"log_level":"info"\}$/, exampleTimeoutMs);
    await watcher.waitForLine(/^watching config\/app\//, exampleTimeoutMs);
    for (const [method, key, body] of [['PUT', 'log_level', 'debug'], ['PUT', 'pool_size', '8'], ['DELETE', 'log_level', undefined]] as const) {
      const res = await fetch(api(key), { method, body });
      assert.ok(res.ok, `${method} ${key}: ${res.status}`);
    }
    const exit = await watcher.exited;
    assert.is(exit.code, 0, `the watcher ${watcher.describeExit()}:\n${watcher.output()}`);
    const reloads = watcher.output().split('\n').filter((l) => l.startsWith('reloaded'));
    assert.equal(
      reloads.map((l) => l.replace(/revision \d+/, 'revision N')),
      ['reloaded revision N: {"log_level":"debug"}', 'reloaded revision N: {"log_level":"debug","pool_size":"8"}', 'reloaded revision N: {"pool_size":"8"}'],
    );
  } finally {
    if (watcher.running) await watcher.kill9();
  }
});

s.run();
