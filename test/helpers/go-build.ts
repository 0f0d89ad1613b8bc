import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from './paths.js';
import { runCommand } from './processes.js';
import { makeTempDir } from './temp-dirs.js';

/** First build of clientv3 and grpc from source takes a while on a cold cache. */
const goBuildTimeoutMs = 300_000;
const clientv3Suffix = '/src/go.etcd.io/etcd/clientv3';
const fallbackGopath = '/usr/share/gocode';

let gopath: string | null = null;

/** The GOPATH holding the installed etcd Go sources (package golang-etcd-server-dev); TEST_ETCD_GOPATH overrides. */
export function etcdGopath(): string {
  if (gopath !== null) return gopath;
  gopath = process.env.TEST_ETCD_GOPATH ?? fallbackGopath;
  if (!process.env.TEST_ETCD_GOPATH) {
    const listing = spawnSync('dpkg', ['-L', 'golang-etcd-server-dev'], { encoding: 'utf8', timeout: 10_000 });
    const line = (listing.stdout ?? '').split('\n').find((l) => l.trim().endsWith(clientv3Suffix));
    if (line) gopath = line.trim().slice(0, -clientv3Suffix.length);
  }
  return gopath;
}

function sourceHash(dir: string): string {
  const hash = createHash('sha256');
  for (const entry of readdirSync(dir).sort()) {
    if (!entry.endsWith('.go')) continue;
    hash.update(entry);
    hash.update(readFileSync(join(dir, entry)));
  }
  return hash.digest('hex').slice(0, 16);
}

const builds = new Map<string, Promise<string>>();

/**
 * Builds test/interop/go/<name> (or `sourceDir`, e.g. an example under examples/; package main,
 * GOPATH mode against the installed etcd sources) and returns the binary's path. Built once per
 * test run: binaries live in the runner's TEST_RUN_SCRATCH_DIR and are keyed by a hash of the sources.
 */
export function buildGoProgram(name: string, sourceDir = repoPath('test', 'interop', 'go', name)): Promise<string> {
  let build = builds.get(sourceDir);
  if (!build) {
    build = doBuild(name, sourceDir);
    builds.set(sourceDir, build);
  }
  return build;
}

async function doBuild(name: string, sourceDir: string): Promise<string> {
  const runDir = process.env.TEST_RUN_SCRATCH_DIR ?? makeTempDir('go-bin');
  const binDir = join(runDir, 'go-bin');
  mkdirSync(binDir, { recursive: true });
  const binary = join(binDir, `${name}-${sourceHash(sourceDir)}`);
  if (existsSync(binary)) return binary;

  const goCache = process.env.GOCACHE ?? join(tmpdir(), 'lattice-gocache');
  const env = {
    ...process.env,
    GOPATH: etcdGopath(),
    GO111MODULE: 'off',
    GOCACHE: goCache,
    GOFLAGS: '',
    CGO_ENABLED: '0',
  };
  // Test files run side by side may build the same program: each builds its own file and renames
  // it into place, so no one runs a half-written binary.
  const building = `${binary}.${process.pid}.tmp`;
  const result = await runCommand('go', ['build', '-o', building, '.'], { cwd: sourceDir, env, timeoutMs: goBuildTimeoutMs });
  if (result.code !== 0) {
    throw new Error(`go build of ${name} failed (GOPATH=${env.GOPATH}):\n${result.stdout}${result.stderr}`);
  }
  renameSync(building, binary);
  return binary;
}
