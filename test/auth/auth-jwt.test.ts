// JWT tokens (--auth-token jwt,…) against real etcd and Lattice per engine, with the same key pair:
// a token works until the auth store changes, then a read and a write with it are refused as etcd
// refuses them (the token's auth revision is old); a token signed with another key is invalid.
import * as assert from 'uvu/assert';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEtcd } from '../helpers/etcd-server.js';
import { etcdctl } from '../helpers/etcdctl.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import type { RestartableServer } from '../helpers/server-flags.js';
import { serverSuite, startBoth, stopAll } from '../helpers/spec.js';
import { makeTempDir } from '../helpers/temp-dirs.js';
import { missingTools } from '../helpers/tools.js';
import { failure, rawClients, setUpUsers } from './auth-clients.js';

function keyPair(dir: string, name: string): string {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, `${name}.key`), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, `${name}.pub`), publicKey.export({ type: 'spki', format: 'pem' }));
  return `jwt,pub-key=${join(dir, `${name}.pub`)},priv-key=${join(dir, `${name}.key`)},sign-method=RS256,ttl=10m`;
}

/** What each step answers on one server: a line per step. */
async function jwtSteps(server: RestartableServer, other: RestartableServer): Promise<string[]> {
  await setUpUsers(server.endpoint);
  await setUpUsers(other.endpoint);
  const raw = rawClients(server.endpoint);
  const rawOther = rawClients(other.endpoint);
  const lines: string[] = [];
  const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: unknown) => failure(Promise.reject(e)));
  try {
    const token = await raw.authenticate('alice', 'apw');
    lines.push(`jwt shape ${token.split('.').length}`);
    lines.push(`put ${await outcome(raw.put('/a/1', 'v', token))}`);
    lines.push(`get ${await outcome(raw.get('/a/1', token))}`);
    const change = await etcdctl(server.endpoint, ['role', 'add', 'another', '--user', 'root:rootpw']);
    lines.push(`role add ${change.code}`);
    lines.push(`put with the old token ${await outcome(raw.put('/a/1', 'w', token))}`);
    lines.push(`get with the old token ${await outcome(raw.get('/a/1', token))}`);
    const fresh = await raw.authenticate('alice', 'apw');
    lines.push(`put with a new token ${await outcome(raw.put('/a/1', 'w', fresh))}`);
    const foreign = await rawOther.authenticate('alice', 'apw');
    lines.push(`get with another key's token ${await outcome(raw.get('/a/1', foreign))}`);
  } finally {
    raw.close();
    rawOther.close();
  }
  return lines;
}

for (const engine of engines) {
  const dir = makeTempDir('jwt-keys');
  const s = serverSuite(
    `JWT tokens (${engine})`,
    async () => {
      const a = keyPair(dir, 'a');
      const b = keyPair(dir, 'b');
      const [etcd, lattice] = await startBoth(() => startEtcd('etcd', ['--auth-token', a]), () => startLattice(engine, 'lattice', ['--auth-token', a]));
      const [etcdOther, latticeOther] = await startBoth(() => startEtcd('etcd2', ['--auth-token', b]), () => startLattice(engine, 'lattice2', ['--auth-token', b]));
      return { etcd, lattice, etcdOther, latticeOther, stop: () => stopAll(etcd, lattice, etcdOther, latticeOther) };
    },
    missingTools(['etcd', 'etcdctl']),
  );
  s.it(
    'a JWT is refused once the auth store changed and when signed with another key, as etcd refuses it',
    async (f) => {
      const expected = await jwtSteps(f.etcd, f.etcdOther);
      const actual = await jwtSteps(f.lattice, f.latticeOther);
      assert.equal(actual, expected);
      assert.ok(expected.some((l) => l.includes('revision of auth store is old')), expected.join('\n'));
    },
    120_000,
  );
  s.run();
}
