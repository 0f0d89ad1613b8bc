// Go clientv3 (3.4, built from the installed etcd sources) as a smoke test:
// the differential KV script (test/differential/kv-steps.json) must run to the
// end with one line per step; steps whose name says they fail return a gRPC
// error, every other step succeeds. Exact results are compared with etcd in
// test/differential/kv.test.ts.
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { startEtcd } from '../helpers/etcd-server.js';
import { kvStepsFile, parseStepLine, runKvScript, type StepLine } from '../helpers/kvscript.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import { serverSuite } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

const scriptTimeoutMs = 180_000;
const stepNames = (JSON.parse(readFileSync(kvStepsFile, 'utf8')) as { name: string }[]).map((step) => step.name);
/** The naming rule of kv-steps.json: a step expected to return an error says so. */
const expectsError = (name: string) => / fails\b/.test(name) || name.includes('is rejected');
/** Codes that mean the server is missing something or broken, never a KV answer. */
const brokenCodes = ['Unavailable', 'Unimplemented', 'Internal', 'Unknown', 'DeadlineExceeded', 'Canceled'];

function defineSuite(name: string, start: () => Promise<{ endpoint: string; stop(): Promise<void> }>): void {
  const s = serverSuite(name, start, missingTools(name.includes('real etcd') ? ['etcd', 'go'] : ['go']));
  // What the first test saw; every later check reads it and fails when the script did not run.
  let script: { lines: StepLine[] } | { error: string } = { error: 'the script step did not run' };
  const scriptLines = (): StepLine[] => {
    if ('error' in script) throw new Error(`nothing to check: ${script.error}`);
    if (script.lines.length === 0) throw new Error('nothing to check: the script printed no step');
    return script.lines;
  };

  s.it(
    'clientv3 runs every scripted KV step, one output line per step',
    async (server) => {
      try {
        script = { lines: (await runKvScript(server.endpoint)).map(parseStepLine) };
      } catch (e) {
        script = { error: `the script failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
        throw e;
      }
      assert.equal(
        scriptLines().map((line) => line.name),
        stepNames,
      );
    },
    scriptTimeoutMs,
  );

  s.it('no step fails with Unavailable, Unimplemented, Internal, Unknown, DeadlineExceeded or Canceled', async () => {
    const broken = scriptLines().filter((line) => line.error && brokenCodes.includes(line.error.code));
    assert.equal(
      broken.map((line) => `${line.name}: ${line.error?.code} ${line.error?.message}`),
      [],
    );
  });

  s.it('steps named "... fails" return a gRPC error and all other steps succeed', async () => {
    const wrong = scriptLines()
      .filter((line) => expectsError(line.name) !== (line.error !== undefined))
      .map((line) => `${line.name}: ${line.error ? `${line.error.code} ${line.error.message}` : 'succeeded'}`);
    assert.equal(wrong, []);
  });

  s.it('every error message is an etcd message ("etcdserver: ...") or a gRPC size limit', async () => {
    const lines = scriptLines();
    assert.ok(lines.some((line) => line.error), 'no step returned an error, so no message was checked');
    const odd = lines
      .filter((line) => line.error && !line.error.message.startsWith('etcdserver: ') && line.error.code !== 'ResourceExhausted')
      .map((line) => `${line.name}: ${line.error?.code} ${line.error?.message}`);
    assert.equal(odd, []);
  });

  s.run();
}

defineSuite('Go clientv3 against real etcd', () => startEtcd());
for (const engine of engines) defineSuite(`Go clientv3 against Lattice (${engine})`, () => startLattice(engine));
// every call relayed through transport workers (src/adapters/transport-workers/)
defineSuite('Go clientv3 against Lattice (memory, 2 transport workers)', () => startLattice('memory', 'lattice', ['--transport-workers', '2']));
