// Differential test of etcd's auth: the same etcdctl steps (auth-steps.ts) against a fresh real etcd
// and a fresh Lattice (each engine); every step's exit code, output and error lines must be the same.
import * as assert from 'uvu/assert';
import { startEtcd } from '../helpers/etcd-server.js';
import { errorLines, etcdctl } from '../helpers/etcdctl.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import { serverSuite, startBoth, stopAll } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { AuthClient } from '../../src/gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { enforcementSteps, finalSteps, rootRoleSteps, setupSteps, watchSteps, type AuthStep } from './auth-steps.js';

const skipReason = missingTools(['etcd', 'etcdctl']);
const stepsTimeoutMs = 240_000;

async function outcome(endpoint: string, step: AuthStep): Promise<string> {
  const r = await etcdctl(endpoint, [...step.args], step.input);
  const errors = errorLines(r.stderr).map((l) => l.replace(endpoint, '<endpoint>'));
  if (step.args.includes('status')) return `exit ${r.code}\n${errors.join('\n')}`;
  // A refused watch prints its cancel reason on stdout, with the server's watch ID that etcd leaves -1.
  return `exit ${r.code}\n${r.stdout.trim()}\n${errors.join('\n')}`;
}

/** A bare AuthEnable RPC (etcdctl's would add the root role first): "ok" or "<code> <details>". */
function bareAuthEnable(endpoint: string): Promise<string> {
  const client = new AuthClient(endpoint.replace(/^https?:\/\//, ''), credentials.createInsecure());
  return new Promise<string>((resolve) => client.authEnable({}, (err: ServiceError | null) => resolve(err ? `${err.code} ${err.details}` : 'ok'))).finally(() => client.close());
}

async function compareSteps(endpoints: { readonly etcd: string; readonly lattice: string }, steps: readonly AuthStep[], engine: string): Promise<number> {
  const mismatches: string[] = [];
  let refused = 0;
  for (const step of steps) {
    const expected = await outcome(endpoints.etcd, step);
    if (!expected.startsWith('exit 0')) refused++;
    const actual = await outcome(endpoints.lattice, step);
    if (actual !== expected) mismatches.push(`etcdctl ${step.args.join(' ')}${step.input !== undefined ? ` <<< ${JSON.stringify(step.input)}` : ''}\n  etcd:    ${JSON.stringify(expected)}\n  lattice: ${JSON.stringify(actual)}`);
  }
  assert.equal(mismatches, [], `(engine ${engine}) steps that differ from etcd:\n${mismatches.join('\n')}`);
  return refused;
}

for (const engine of engines) {
  const differential = serverSuite(
    `auth differential (${engine})`,
    async () => {
      const [etcd, lattice] = await startBoth(() => startEtcd(), () => startLattice(engine));
      return { etcd, lattice, endpoints: { etcd: etcd.endpoint, lattice: lattice.endpoint }, stop: () => stopAll(etcd, lattice) };
    },
    skipReason,
  );

  differential.it(
    'every Auth RPC before auth enable answers as etcd does, errors included',
    async (both) => {
      await compareSteps(both.endpoints, setupSteps, engine);
    },
    stepsTimeoutMs,
  );
  differential.it(
    'with auth enabled every allowed call is allowed and every denied call denied as by etcd',
    async (both) => {
      // both kinds of answer are exercised: a harness that compared nothing would not see 30 refusals
      const refused = await compareSteps(both.endpoints, enforcementSteps, engine);
      assert.ok(refused >= 30 && refused <= enforcementSteps.length - 20, `${refused} of ${enforcementSteps.length} steps refused`);
    },
    stepsTimeoutMs,
  );
  differential.it(
    'a watch its caller may not read is canceled with etcd reason',
    async (both) => {
      assert.is(await compareSteps(both.endpoints, watchSteps, engine), watchSteps.length);
    },
    stepsTimeoutMs,
  );
  differential.it(
    'after auth disable every call is allowed again as by etcd',
    async (both) => {
      await compareSteps(both.endpoints, finalSteps, engine);
    },
    stepsTimeoutMs,
  );
  differential.it(
    'AuthEnable while root lacks the root role fails as in etcd; etcdctl auth enable grants it and enables',
    async (both) => {
      await compareSteps(both.endpoints, rootRoleSteps.before, engine);
      const [etcdAnswer, latticeAnswer] = await Promise.all([bareAuthEnable(both.endpoints.etcd), bareAuthEnable(both.endpoints.lattice)]);
      assert.is(etcdAnswer, '9 etcdserver: root user does not have root role');
      assert.is(latticeAnswer, etcdAnswer);
      await compareSteps(both.endpoints, rootRoleSteps.after, engine);
    },
    stepsTimeoutMs,
  );
  differential.run();
}
