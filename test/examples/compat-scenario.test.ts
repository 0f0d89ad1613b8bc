// examples/compat/scenario.mjs (put, txn, a 5 s lease expiring, a watch seeing the delete) answers
// the same on Lattice as on a reference etcd 3.4: both transcripts pass and match line for line.
import * as assert from 'uvu/assert';
import { startEtcd, type EtcdServer } from '../helpers/etcd-server.js';
import { startLattice, type LatticeServer } from '../helpers/lattice-server.js';
import { repoPath, repoRoot } from '../helpers/paths.js';
import { runCommand } from '../helpers/processes.js';
import { serverSuite, startBoth, stopAll } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

/** The scenario waits for a 5 s lease to expire; etcd revokes on a 500 ms loop. */
const scenarioTimeoutMs = 40_000;

interface Servers {
  lattice: LatticeServer;
  etcd: EtcdServer;
  stop(): Promise<void>;
}

const s = serverSuite<Servers>(
  'examples: the compat scenario on Lattice and etcd',
  async () => {
    const [lattice, etcd] = await startBoth(() => startLattice('rocksdb', 'compat'), () => startEtcd('compat-etcd'));
    return { lattice, etcd, stop: () => stopAll(lattice, etcd) };
  },
  missingTools(['etcd']),
);

async function runScenario(endpoint: string): Promise<string[]> {
  const result = await runCommand(process.execPath, [repoPath('examples', 'compat', 'scenario.mjs'), '--endpoints', endpoint], {
    cwd: repoRoot,
    timeoutMs: scenarioTimeoutMs,
  });
  assert.is(result.code, 0, `scenario against ${endpoint} failed:\n${result.stdout}${result.stderr}`);
  // lines starting with # are timings
  return result.stdout.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

s.it('the scenario passes on both servers with identical transcripts', async ({ lattice, etcd }) => {
  const [onLattice, onEtcd] = await Promise.all([runScenario(lattice.endpoint), runScenario(etcd.endpoint)]);
  assert.equal(onLattice, onEtcd);
  assert.ok(onLattice.includes('watch events: ["PUT compat/leased at +2","DELETE compat/leased at +3"]'), onLattice.join('\n'));
  assert.is(onLattice.at(-1), 'ok');
}, scenarioTimeoutMs + 5_000);

s.run();
