#!/usr/bin/env node
// The `npm test` runner: runs every compiled dist/test/**/*.test.js in its own
// child process and ends with the line `N passed, M failed` (skips, if any, are
// counted on the line before). Exit code 0 iff nothing failed.
//
// Files run TEST_JOBS at a time (default 2), except those under `alone` below:
// they measure time (elections, lease expiry, handshake timeouts) or load the
// machine on purpose, so nothing else runs beside them. A file run beside
// another prints its output when it ends, so outputs never interleave.
//
//   node test/run.js                  all files
//   node test/run.js engines interop  only files whose path contains a word
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const testRoot = join(repoRoot, 'dist', 'test');

/** A file that runs longer than this is killed (whole process group) and counted as failed. */
const defaultFileTimeoutS = 300;
const fileTimeoutMs = Number(process.env.TEST_FILE_TIMEOUT_S ?? defaultFileTimeoutS) * 1000;
/** After SIGTERM on timeout, how long the group gets before SIGKILL. */
const killGraceMs = 5_000;
/** How much of a file's output is kept to parse its summary (the tail). */
const maxKeptOutputBytes = 64 * 1024;

/** Files run this many at a time (outside the `alone` ones). */
const requestedJobs = Number(process.env.TEST_JOBS ?? 2);
if (!Number.isInteger(requestedJobs) || requestedJobs < 1) {
  console.error(`TEST_JOBS must be a whole number of at least 1, not ${JSON.stringify(process.env.TEST_JOBS)}`);
  process.exit(2);
}
const jobs = requestedJobs;
/** Path prefixes (under dist/test) of files that run with nothing beside them. */
// (raft/ is not among them: its simulations run on simulated time, so a neighbour only slows them.)
const alone = ['cluster/', 'durability/', 'interop/', 'differential/', 'peer/', 'adapters/grpc'];
const runsAlone = (file) => alone.some((prefix) => relative(testRoot, file).split(sep).join('/').startsWith(prefix));

/** Process groups of the files running now, killed if the runner itself is stopped. */
const currentGroups = new Set();
/** Ledgers of the files running now: what they started in groups of their own, cleaned up likewise. */
const currentLedgers = new Set();

const ansiPattern = /\u001b\[[0-9;?]*[ -\/]*[@-~]/g;

function findTestFiles(dir) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const files = [];
  for (const entry of entries.sort()) {
    const path = join(dir, entry);
    const stats = statSync(path);
    if (stats.isDirectory()) files.push(...findTestFiles(path));
    else if (entry.endsWith('.test.js')) files.push(path);
  }
  return files;
}

/** uvu's closing block: `Total: N`, `Passed: N`, `Skipped: N`. Returns null when absent. */
export function parseSummary(output) {
  const text = output.replace(ansiPattern, '');
  const number = (label) => {
    const matches = [...text.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)\\s*$`, 'gm'))];
    const last = matches.at(-1);
    return last ? Number(last[1]) : null;
  };
  const total = number('Total');
  const passed = number('Passed');
  const skipped = number('Skipped');
  if (total === null || passed === null) return null;
  return { total, passed, skipped: skipped ?? 0 };
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Kills the process groups and removes the temp dirs a finished test file left listed. */
function cleanLedger(ledger) {
  for (const name of readdirSync(ledger)) {
    if (name.startsWith('pid-')) killGroup(Number(name.slice(4)), 'SIGKILL');
    if (name.startsWith('dir-')) {
      const dir = readFileSync(join(ledger, name), 'utf8');
      // Only ever a temp dir the helpers made: never follow a ledger entry anywhere else.
      if (dir.startsWith(join(tmpdir(), 'lattice-'))) rmSync(dir, { recursive: true, force: true });
    }
  }
  rmSync(ledger, { recursive: true, force: true });
}

/** Runs one file; resolves to { passed, failed, skipped }. `live`: stream its output as it comes. */
function runFile(file, env, live) {
  return new Promise((resolve) => {
    let held = '';
    const print = (text) => {
      if (live) process.stdout.write(text);
      else held += text;
    };
    print(`\n=== ${relative(repoRoot, file)}\n`);
    const started = Date.now();
    const ledger = mkdtempSync(join(tmpdir(), 'lattice-test-ledger-'));
    currentLedgers.add(ledger);
    const child = spawn(process.execPath, [file], {
      cwd: repoRoot,
      env: { ...env, LATTICE_TEST_LEDGER: ledger },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group, so a timeout kills servers it started too
    });
    const group = child.pid;
    if (group !== undefined) currentGroups.add(group);
    let kept = '';
    const keep = (chunk) => {
      kept += chunk.toString('utf8');
      if (kept.length > maxKeptOutputBytes) kept = kept.slice(-maxKeptOutputBytes);
    };
    child.stdout.on('data', (chunk) => {
      print(chunk.toString('utf8'));
      keep(chunk);
    });
    child.stderr.on('data', (chunk) => {
      if (live) process.stderr.write(chunk);
      else held += chunk.toString('utf8');
      keep(chunk);
    });

    let timedOut = false;
    let killTimer;
    const timer = setTimeout(() => {
      timedOut = true;
      print(`\nTIMEOUT: ${relative(repoRoot, file)} ran longer than ${fileTimeoutMs / 1000} s; killing its process group\n`);
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), killGraceMs);
    }, fileTimeoutMs);

    let finished = false;
    const finish = (code, signal) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      currentGroups.delete(group);
      // Anything the file left behind in its group goes now, and so does what its ledger still lists
      // (servers run in process groups of their own; a killed file could not stop them itself).
      killGroup(child.pid, 'SIGKILL');
      cleanLedger(ledger);
      currentLedgers.delete(ledger);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const summary = parseSummary(kept);
      let result;
      if (summary === null) {
        result = { passed: 0, failed: 1, skipped: 0 };
      } else {
        const failedTests = Math.max(0, summary.total - summary.passed);
        result = { passed: summary.passed, failed: failedTests, skipped: summary.skipped };
        // A non-zero exit or a timeout with every test passing is still a failure.
        if ((timedOut || code !== 0) && result.failed === 0) result.failed = 1;
      }
      const why = timedOut
        ? 'timed out'
        : signal
          ? `killed by ${signal}`
          : code !== 0
            ? `exit code ${code}`
            : 'ok';
      const note = summary === null ? ' (no uvu summary: counted as 1 failure)' : '';
      print(`--- ${relative(repoRoot, file)}: ${result.passed} passed, ${result.failed} failed, ${result.skipped} skipped; ${why}; ${seconds} s${note}\n`);
      if (!live) process.stdout.write(held);
      resolve(result);
    };
    child.on('error', (err) => {
      print(`cannot start ${file}: ${err.message}\n`);
      finish(1, null);
    });
    child.on('close', finish);
  });
}

async function main() {
  const words = process.argv.slice(2);
  const all = findTestFiles(testRoot);
  const files = all.filter((file) => {
    if (words.length === 0) return true;
    const path = relative(testRoot, file).split(sep).join('/');
    return words.some((word) => path.includes(word));
  });

  // Per-run scratch shared by the files (e.g. Go binaries built once per run).
  const runDir = mkdtempSync(join(tmpdir(), 'lattice-test-run-'));
  const env = { ...process.env, NO_COLOR: '1', TEST_RUN_SCRATCH_DIR: runDir };
  delete env.FORCE_COLOR;

  let passed = 0;
  let failed = 0;
  let skipped = 0;
  if (files.length === 0) {
    console.log(
      all.length === 0
        ? `no test files under ${relative(repoRoot, testRoot)} (run tsc first)`
        : `no test file matches: ${words.join(' ')}`,
    );
    failed = 1;
  }

  const stopSignals = ['SIGINT', 'SIGTERM'];
  for (const signal of stopSignals) {
    process.on(signal, () => {
      for (const group of currentGroups) killGroup(group, 'SIGKILL');
      for (const ledger of currentLedgers) cleanLedger(ledger);
      rmSync(runDir, { recursive: true, force: true });
      process.exit(130);
    });
  }

  const add = (result) => {
    passed += result.passed;
    failed += result.failed;
    skipped += result.skipped;
  };
  try {
    // The files that may share the machine first, `jobs` at a time; then the others, one by one.
    const shared = files.filter((file) => !runsAlone(file));
    let next = 0;
    const worker = async () => {
      while (next < shared.length) {
        const file = shared[next++];
        add(await runFile(file, env, jobs === 1));
      }
    };
    await Promise.all(Array.from({ length: Math.min(jobs, shared.length) }, worker));
    for (const file of files.filter(runsAlone)) add(await runFile(file, env, true));
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }

  // CI reads only the closing line, which must be exactly `N passed, M failed`: skips go on the line before.
  if (skipped > 0) console.log(`\n${skipped} skipped (SKIP: lines above say why)`);
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

await main();
