// `etcdctl watch` (3.4) against a server, as users run it. Every case states what
// etcd 3.4 prints; against Lattice each case also runs on a reference etcd fed the
// same writes, and the outputs (stdout, stderr, exit) must be identical once the
// per-cluster JSON fields are removed. A watch runs until it is stopped, so each
// case spawns it, writes, waits for the expected number of output lines (with a
// short deadline, so a server without Watch fails fast), then stops it.
//
// Output that depends on how the server groups events into responses (JSON lines,
// ETCD_WATCH_REVISION) is produced deterministically: either every write happens
// before the watch starts (etcd replays the history as one response at the current
// revision), or the watch is known to be registered first (interactive mode's
// `progress` answer arrives after the watch's creation on the same stream).
import { spawn, type ChildProcess } from 'node:child_process';
import * as assert from 'uvu/assert';
import { etcdctl, rawNumberField } from '../helpers/etcdctl.js';
import { startEtcd } from '../helpers/etcd-server.js';
import { engines, startLattice } from '../helpers/lattice-server.js';
import { forgetLeftover, recordLeftover } from '../helpers/ledger.js';
import { serverSuite, startBoth, stopAll } from '../helpers/spec.js';
import { missingTools } from '../helpers/tools.js';

/** How long a watch gets to print what is expected: short, so a server without Watch fails fast. */
const outputTimeoutMs = 5_000;
/** How long one sentinel put waits to be seen before the next is tried (live watch without --rev). */
const sentinelWaitMs = 1_000;
const maxSentinelPuts = 5;
/** How long a stopped watch gets after SIGTERM before SIGKILL. */
const watchStopGraceMs = 5_000;
/** A watch that exits on its own (compaction, EOF on stdin) must do so within this. */
const watchExitTimeoutMs = 10_000;
const pollIntervalMs = 20;
/** Same deadlines as the etcdctl helper; --command-timeout does not apply to watch. */
const etcdctlFlags = ['--dial-timeout=5s', '--command-timeout=10s'];
/** Filler key used to bring two servers to the same revision; no case watches it. */
const padKey = 'zz/pad';

interface Target {
  endpoint: string;
}

interface Fixture {
  target: Target;
  reference: Target | null;
  stop(): Promise<void>;
}

/** What a case compares: exit, stdout (per-cluster JSON fields removed) and stderr (clientv3 logs removed). */
interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const killedOutcome = (stdout: string, stderr = ''): Outcome => ({ code: null, signal: 'SIGTERM', stdout, stderr });

/** etcdctl's environment: API v3, none of the caller's ETCDCTL_* or ETCD_WATCH_* variables. */
function etcdctlEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('ETCDCTL_') && !key.startsWith('ETCD_WATCH_')) env[key] = value;
  }
  env.ETCDCTL_API = '3';
  return env;
}

/** Removes what differs between clusters from etcdctl's JSON lines (IDs exceed 2^53: raw text). */
function normaliseStdout(stdout: string): string {
  return stdout.replace(/"(cluster_id|member_id|raft_term)":\d+,?/g, '').replace(/,}/g, '}');
}

/** clientv3's zap log lines carry timestamps and IDs; everything else etcdctl writes to stderr is compared. */
function normaliseStderr(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => !line.startsWith('{"level"'))
    .join('\n');
}

const lineCount = (text: string) => text.split('\n').length - 1;

const running = new Set<WatchProcess>();
process.on('exit', () => {
  for (const watch of running) watch.signal('SIGKILL');
});

/** `etcdctl watch ...` in its own process group, stdout and stderr captured apart, stdin open in interactive mode. */
class WatchProcess {
  stdout = '';
  stderr = '';
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  private readonly commandLine: string;

  constructor(endpoint: string, args: string[], interactive: boolean) {
    const fullArgs = ['--endpoints', endpoint, ...etcdctlFlags, 'watch', ...args];
    this.commandLine = `etcdctl ${fullArgs.join(' ')}`;
    this.child = spawn('etcdctl', fullArgs, {
      env: etcdctlEnv(),
      stdio: [interactive ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const pid = this.child.pid;
    if (pid !== undefined) {
      recordLeftover('pid', String(pid));
      running.add(this);
    }
    this.child.stdout?.on('data', (chunk: Buffer) => (this.stdout += chunk.toString('utf8')));
    this.child.stderr?.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    this.child.stdin?.on('error', () => {
      // etcdctl may exit before reading its input
    });
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.exitInfo) return;
        this.exitInfo = { code, signal };
        running.delete(this);
        if (pid !== undefined) forgetLeftover('pid', String(pid));
        resolve();
      };
      this.child.once('error', (err) => {
        this.stderr += `[spawn error] ${err.message}\n`;
        done(null, null);
      });
      this.child.once('close', done);
    });
  }

  signal(signal: NodeJS.Signals): void {
    if (this.exitInfo || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // already gone
    }
  }

  /** Writes one line to the interactive watch's stdin. */
  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  closeInput(): void {
    this.child.stdin?.end();
  }

  describe(what: string): string {
    const exit = this.exitInfo ? (this.exitInfo.signal ? `killed by ${this.exitInfo.signal}` : `exited with code ${this.exitInfo.code}`) : 'still running';
    return `${this.commandLine}: ${what} (${exit})\n--- stdout ---\n${this.stdout}--- stderr ---\n${this.stderr}--- end ---`;
  }

  /** Polls until check holds; fails at once if etcdctl exits first, or at the deadline. */
  async waitFor(check: () => boolean, what: string, timeoutMs = outputTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (check()) return;
      if (this.exitInfo) throw new Error(this.describe(`exited before ${what}`));
      if (Date.now() >= deadline) throw new Error(this.describe(`no ${what} within ${timeoutMs} ms (does the server implement Watch?)`));
      await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
    }
  }

  waitForLines(count: number, timeoutMs = outputTimeoutMs): Promise<void> {
    return this.waitFor(() => lineCount(this.stdout) >= count, `${count} lines of output`, timeoutMs);
  }

  /** SIGTERM (SIGKILL after a grace period) to the whole group; resolves once it has exited. */
  async stop(): Promise<void> {
    if (!this.exitInfo) {
      this.signal('SIGTERM');
      const timer = setTimeout(() => this.signal('SIGKILL'), watchStopGraceMs);
      await this.exited;
      clearTimeout(timer);
    }
  }

  async waitForExit(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(this.describe(`no exit within ${watchExitTimeoutMs} ms`))), watchExitTimeoutMs);
    });
    try {
      await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  outcome(): Outcome {
    return {
      code: this.exitInfo?.code ?? null,
      signal: this.exitInfo?.signal ?? null,
      stdout: normaliseStdout(this.stdout),
      stderr: normaliseStderr(this.stderr),
    };
  }
}

/** Runs body with a started watch and always stops it; returns its outcome. */
async function withWatch(
  endpoint: string,
  args: string[],
  body: (watch: WatchProcess) => Promise<void>,
  interactive = false,
): Promise<Outcome> {
  const watch = new WatchProcess(endpoint, args, interactive);
  try {
    await body(watch);
  } finally {
    await watch.stop();
  }
  return watch.outcome();
}

/** Runs a watch that is expected to end by itself (the server cancels it); returns its outcome. */
async function exitedWatch(endpoint: string, args: string[]): Promise<Outcome> {
  const watch = new WatchProcess(endpoint, args, false);
  try {
    await watch.waitForExit();
  } finally {
    await watch.stop();
  }
  return watch.outcome();
}

/** Runs a short etcdctl command (a write) and requires success. */
async function ctl(endpoint: string, args: string[], input?: string): Promise<string> {
  const result = await etcdctl(endpoint, args, input);
  if (result.code !== 0) throw new Error(`etcdctl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

async function currentRevision(endpoint: string): Promise<number> {
  const stdout = await ctl(endpoint, ['get', padKey, '-w', 'json']);
  const revision = rawNumberField(stdout, 'revision');
  if (revision === null) throw new Error(`no header revision in ${stdout}`);
  return Number(revision);
}

/**
 * Brings target and reference to the same revision by putting a filler key on the one
 * behind (earlier cases may differ: a failed case, a repeated sentinel put); returns it.
 */
async function alignRevisions(fixture: Fixture): Promise<number> {
  let target = await currentRevision(fixture.target.endpoint);
  if (!fixture.reference) return target;
  let reference = await currentRevision(fixture.reference.endpoint);
  for (; target < reference; target++) await ctl(fixture.target.endpoint, ['put', padKey, 'x']);
  for (; reference < target; reference++) await ctl(fixture.reference.endpoint, ['put', padKey, 'x']);
  return target;
}

// ---- etcdctl's JSON watch output, with per-cluster fields removed ----

const b64 = (text: string) => Buffer.from(text).toString('base64');

interface KvSpec {
  key: string;
  create?: number;
  mod: number;
  version?: number;
  value?: string;
}

/** A mvccpb.KeyValue as Go's encoding/json prints it: zero fields are omitted. */
function kvJson(kv: KvSpec): string {
  const fields = [`"key":"${b64(kv.key)}"`];
  if (kv.create) fields.push(`"create_revision":${kv.create}`);
  fields.push(`"mod_revision":${kv.mod}`);
  if (kv.version) fields.push(`"version":${kv.version}`);
  if (kv.value) fields.push(`"value":"${b64(kv.value)}"`);
  return `{${fields.join(',')}}`;
}

interface EventSpec {
  type: 'PUT' | 'DELETE';
  kv: KvSpec;
  prev?: KvSpec;
}

/** A mvccpb.Event: type PUT (0) is omitted, DELETE is 1. */
function eventJson(event: EventSpec): string {
  const fields: string[] = [];
  if (event.type === 'DELETE') fields.push('"type":1');
  fields.push(`"kv":${kvJson(event.kv)}`);
  if (event.prev) fields.push(`"prev_kv":${kvJson(event.prev)}`);
  return `{${fields.join(',')}}`;
}

/** One clientv3.WatchResponse line; the header keeps only the revision (omitted when 0). */
function responseJson(revision: number, events: EventSpec[], compactRevision = 0, canceled = false): string {
  const header = revision ? `{"revision":${revision}}` : '{}';
  return `{"Header":${header},"Events":[${events.map(eventJson).join(',')}],"CompactRevision":${compactRevision},"Canceled":${canceled},"Created":false}\n`;
}

/** etcdctl's simple output for one event: type, then prev key/value if any, then key/value. */
function simpleEvent(type: 'PUT' | 'DELETE', key: string, value = '', prev?: [string, string]): string {
  return `${type}\n${prev ? `${prev[0]}\n${prev[1]}\n` : ''}${key}\n${value}\n`;
}

const compactedLine = 'watch was canceled (etcdserver: mvcc: required revision has been compacted)\n';
const canceledByServer = 'Error: watch is canceled by the server\n';
const eofOnStdin = 'Error: Error reading watch request line: EOF\n';

interface WatchCase {
  name: string;
  /** Runs the case on one server whose current revision is base; the same writes on every server. */
  run(endpoint: string, base: number): Promise<Outcome>;
  /** What etcd 3.4 gives (normalised). */
  expected(base: number): Outcome;
}

/** Stateful: each case runs after the previous ones on the same fresh servers. */
const cases: WatchCase[] = [
  {
    name: 'watch KEY prints each event as type, key and value lines; a delete has an empty value line; other keys are not shown',
    async run(endpoint) {
      const sentinel = simpleEvent('PUT', 'foo', 'v0');
      const outcome = await withWatch(endpoint, ['foo'], async (watch) => {
        // Without --rev the watch starts at the revision current when the server registers it,
        // which no client can observe: put until the watch shows the put (normally once).
        for (let attempt = 1; ; attempt++) {
          await ctl(endpoint, ['put', 'foo', 'v0']);
          try {
            await watch.waitFor(() => watch.stdout.includes(sentinel), 'the sentinel put', sentinelWaitMs);
            break;
          } catch (err) {
            if (attempt >= maxSentinelPuts || watch.exitInfo) throw err;
          }
        }
        const before = lineCount(watch.stdout);
        await ctl(endpoint, ['put', 'foo', 'v1']);
        await ctl(endpoint, ['put', 'bar', 'x']);
        await ctl(endpoint, ['del', 'foo']);
        await ctl(endpoint, ['put', 'foo', 'v2']);
        await watch.waitForLines(before + 9);
      });
      while (outcome.stdout.startsWith(sentinel + sentinel)) outcome.stdout = outcome.stdout.slice(sentinel.length);
      return outcome;
    },
    expected: () =>
      killedOutcome(simpleEvent('PUT', 'foo', 'v0') + simpleEvent('PUT', 'foo', 'v1') + simpleEvent('DELETE', 'foo') + simpleEvent('PUT', 'foo', 'v2')),
  },
  {
    name: 'watch --prefix shows every key under the prefix; a prefix delete shows one DELETE per key in key order',
    run: (endpoint, base) =>
      withWatch(endpoint, ['--prefix', 'p/', '--rev', String(base + 1)], async (watch) => {
        await ctl(endpoint, ['put', 'p/b', '1']);
        await ctl(endpoint, ['put', 'q', 'not shown']);
        await ctl(endpoint, ['put', 'p/a', '2']);
        await ctl(endpoint, ['put', 'p', 'not under p/']);
        await ctl(endpoint, ['del', 'p/', '--prefix']);
        await watch.waitForLines(12);
      }),
    expected: () =>
      killedOutcome(simpleEvent('PUT', 'p/b', '1') + simpleEvent('PUT', 'p/a', '2') + simpleEvent('DELETE', 'p/a') + simpleEvent('DELETE', 'p/b')),
  },
  {
    name: 'watch KEY RANGE_END shows keys in [key, range_end) only',
    run: (endpoint, base) =>
      withWatch(endpoint, ['a', 'c', '--rev', String(base + 1)], async (watch) => {
        await ctl(endpoint, ['put', 'a', '1']);
        await ctl(endpoint, ['put', 'c', 'end is excluded']);
        await ctl(endpoint, ['put', '0', 'before']);
        await ctl(endpoint, ['put', 'bzz', '2']);
        await ctl(endpoint, ['put', 'ab', '3']);
        await watch.waitForLines(9);
      }),
    expected: () => killedOutcome(simpleEvent('PUT', 'a', '1') + simpleEvent('PUT', 'bzz', '2') + simpleEvent('PUT', 'ab', '3')),
  },
  {
    name: 'watch --rev replays the key\'s history from that revision, then continues with new events',
    run: async (endpoint, base) => {
      await ctl(endpoint, ['put', 'h', '1']); // base+1, before the watched range of revisions
      await ctl(endpoint, ['put', 'h', '2']);
      await ctl(endpoint, ['del', 'h']);
      await ctl(endpoint, ['put', 'h', '3']);
      return withWatch(endpoint, ['h', '--rev', String(base + 2)], async (watch) => {
        await watch.waitForLines(9);
        await ctl(endpoint, ['put', 'h', '4']);
        await watch.waitForLines(12);
      });
    },
    expected: () => killedOutcome(simpleEvent('PUT', 'h', '2') + simpleEvent('DELETE', 'h') + simpleEvent('PUT', 'h', '3') + simpleEvent('PUT', 'h', '4')),
  },
  {
    name: 'watch --rev in the future shows only events from that revision on',
    run: (endpoint, base) =>
      withWatch(endpoint, ['f', '--rev', String(base + 3)], async (watch) => {
        for (const value of ['1', '2', '3', '4']) await ctl(endpoint, ['put', 'f', value]);
        await watch.waitForLines(6);
      }),
    expected: () => killedOutcome(simpleEvent('PUT', 'f', '3') + simpleEvent('PUT', 'f', '4')),
  },
  {
    name: 'watch --prev-kv prints the previous pair before the new one (none for a creation)',
    run: (endpoint, base) =>
      withWatch(endpoint, ['k', '--prev-kv', '--rev', String(base + 1)], async (watch) => {
        await ctl(endpoint, ['put', 'k', 'a']);
        await ctl(endpoint, ['put', 'k', 'b']);
        await ctl(endpoint, ['del', 'k']);
        await ctl(endpoint, ['put', 'k', 'c']);
        await watch.waitForLines(3 + 5 + 5 + 3);
      }),
    expected: () =>
      killedOutcome(
        simpleEvent('PUT', 'k', 'a') + simpleEvent('PUT', 'k', 'b', ['k', 'a']) + simpleEvent('DELETE', 'k', '', ['k', 'b']) + simpleEvent('PUT', 'k', 'c'),
      ),
  },
  {
    name: 'watch -w json --prev-kv: a replayed history is one response at the current revision; a new write is its own response',
    run: async (endpoint, base) => {
      await ctl(endpoint, ['put', 'j/a', '1']);
      await ctl(endpoint, ['txn'], '\nput j/b 2\nput j/a 3\n\n\n');
      await ctl(endpoint, ['del', 'j/', '--prefix']);
      return withWatch(endpoint, ['--prefix', 'j/', '-w', 'json', '--prev-kv', '--rev', String(base + 1)], async (watch) => {
        await watch.waitForLines(1);
        await ctl(endpoint, ['put', 'j/c', '4']);
        await watch.waitForLines(2);
      });
    },
    expected: (base) => {
      const a1 = { key: 'j/a', create: base + 1, mod: base + 1, version: 1, value: '1' };
      const b2 = { key: 'j/b', create: base + 2, mod: base + 2, version: 1, value: '2' };
      const a3 = { key: 'j/a', create: base + 1, mod: base + 2, version: 2, value: '3' };
      return killedOutcome(
        responseJson(base + 3, [
          { type: 'PUT', kv: a1 },
          { type: 'PUT', kv: b2 }, // a txn's events in the order of its operations
          { type: 'PUT', kv: a3, prev: a1 },
          { type: 'DELETE', kv: { key: 'j/a', mod: base + 3 }, prev: a3 },
          { type: 'DELETE', kv: { key: 'j/b', mod: base + 3 }, prev: b2 },
        ]) + responseJson(base + 4, [{ type: 'PUT', kv: { key: 'j/c', create: base + 4, mod: base + 4, version: 1, value: '4' } }]),
      );
    },
  },
  {
    name: 'watch KEY -- CMD runs CMD per event with ETCD_WATCH_REVISION (the response\'s revision), _EVENT_TYPE, _KEY and _VALUE (Go-quoted)',
    run: async (endpoint, base) => {
      await ctl(endpoint, ['put', 'e/1', 'say "hi"']);
      await ctl(endpoint, ['put', 'e/2', 'x']);
      await ctl(endpoint, ['del', 'e/1']);
      const command = ['sh', '-c', 'echo "$ETCD_WATCH_REVISION $ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE"'];
      return withWatch(endpoint, ['e/', '--prefix', '--rev', String(base + 1), '--', ...command], async (watch) => {
        await watch.waitForLines(9 + 3);
        await ctl(endpoint, ['put', 'e/1', 'a b']);
        await watch.waitForLines(12 + 4);
      });
    },
    expected: (base) =>
      killedOutcome(
        // etcdctl prints a response's events, then runs the command once per event.
        simpleEvent('PUT', 'e/1', 'say "hi"') +
          simpleEvent('PUT', 'e/2', 'x') +
          simpleEvent('DELETE', 'e/1') +
          `${base + 3} "PUT" "e/1" "say \\"hi\\""\n${base + 3} "PUT" "e/2" "x"\n${base + 3} "DELETE" "e/1" ""\n` +
          simpleEvent('PUT', 'e/1', 'a b') +
          `${base + 4} "PUT" "e/1" "a b"\n`,
      ),
  },
  {
    name: 'watch -i: watch lines with flags, progress prints "progress notify: REV" once per watch, bad lines on stderr, EOF exits 3',
    run: async (endpoint, base) => {
      await ctl(endpoint, ['put', 'i/h', 'old']); // base+1, replayed by the --rev watch below
      const watch = new WatchProcess(endpoint, ['-i'], true);
      try {
        const progressLines = () => watch.stdout.split('\n').filter((line) => line.startsWith('progress notify:')).length;
        // After each watch line, a progress request: its answer comes after the watch's creation.
        let expectedProgress = 0;
        for (const [index, line] of ['watch i/a', 'watch --prefix i/p/', 'watch --prev-kv i/k'].entries()) {
          watch.send(line);
          watch.send('progress');
          expectedProgress += index + 1;
          const want = expectedProgress;
          await watch.waitFor(() => progressLines() >= want, `${want} "progress notify" lines`);
        }
        for (const line of ['bogus', '', 'watch']) watch.send(line);
        await watch.waitFor(() => lineCount(watch.stderr) >= 3, '3 lines on stderr');
        const before = lineCount(watch.stdout);
        await ctl(endpoint, ['put', 'i/a', '1']);
        await watch.waitForLines(before + 3);
        await ctl(endpoint, ['put', 'i/p/x', '2']);
        await watch.waitForLines(before + 6);
        await ctl(endpoint, ['put', 'i/k', 'a']);
        await watch.waitForLines(before + 9);
        await ctl(endpoint, ['put', 'i/k', 'b']);
        await watch.waitForLines(before + 14);
        watch.send(`watch --rev ${base + 1} i/h`);
        await watch.waitForLines(before + 17);
        watch.closeInput();
        await watch.waitForExit();
      } finally {
        await watch.stop();
      }
      return watch.outcome();
    },
    expected: (base) => ({
      code: 3,
      signal: null,
      stdout:
        `progress notify: ${base + 1}\n`.repeat(1 + 2 + 3) +
        simpleEvent('PUT', 'i/a', '1') +
        simpleEvent('PUT', 'i/p/x', '2') +
        simpleEvent('PUT', 'i/k', 'a') +
        simpleEvent('PUT', 'i/k', 'b', ['i/k', 'a']) +
        simpleEvent('PUT', 'i/h', 'old'),
      stderr:
        'Invalid command bogus (only support watch)\n' +
        'Invalid command:  (watch and progress supported)\n' +
        'Invalid command watch (command type or key is not provided)\n' +
        eofOnStdin,
    }),
  },
  {
    name: 'watch -i -w json: each live revision is one response; a progress notify is a response with no events',
    run: (endpoint) =>
      withWatch(
        endpoint,
        ['-i', '-w', 'json'],
        async (watch) => {
          watch.send('watch --prefix L/');
          watch.send('progress');
          await watch.waitForLines(2);
          await ctl(endpoint, ['put', 'L/a', '1']);
          await watch.waitForLines(3);
          await ctl(endpoint, ['txn'], '\nput L/b 2\nput L/a 3\n\n\n');
          await watch.waitForLines(4);
          await ctl(endpoint, ['del', 'L/', '--prefix']);
          await watch.waitForLines(5);
        },
        true,
      ),
    expected: (base) => {
      const a1 = { key: 'L/a', create: base + 1, mod: base + 1, version: 1, value: '1' };
      return killedOutcome(
        `progress notify: ${base}\n` +
          responseJson(base, []) +
          responseJson(base + 1, [{ type: 'PUT', kv: a1 }]) +
          responseJson(base + 2, [
            { type: 'PUT', kv: { key: 'L/b', create: base + 2, mod: base + 2, version: 1, value: '2' } },
            { type: 'PUT', kv: { ...a1, mod: base + 2, version: 2, value: '3' } },
          ]) +
          responseJson(base + 3, [
            { type: 'DELETE', kv: { key: 'L/a', mod: base + 3 } },
            { type: 'DELETE', kv: { key: 'L/b', mod: base + 3 } },
          ]),
      );
    },
  },
  {
    name: 'watch --rev below the compacted revision prints "watch was canceled (etcdserver: mvcc: required revision has been compacted)" and exits 5',
    run: async (endpoint, base) => {
      await ctl(endpoint, ['put', 'c/k', '1']);
      await ctl(endpoint, ['put', 'c/k', '2']);
      const compacted = await ctl(endpoint, ['compact', String(base + 2)]);
      const outcome = await exitedWatch(endpoint, ['c/k', '--rev', String(base + 1)]);
      return { ...outcome, stdout: compacted + outcome.stdout };
    },
    expected: (base) => ({ code: 5, signal: null, stdout: `compacted revision ${base + 2}\n`, stderr: compactedLine + canceledByServer }),
  },
  {
    name: 'watch -w json below the compacted revision prints one response: header without revision, no events, CompactRevision, Canceled',
    // Nothing was written since the previous case compacted at its last revision, which is base.
    run: (endpoint) => exitedWatch(endpoint, ['c/k', '--rev', '1', '-w', 'json']),
    expected: (base) => ({ code: 5, signal: null, stdout: responseJson(0, [], base, true), stderr: compactedLine + canceledByServer }),
  },
  {
    name: 'watch --rev at exactly the compacted revision replays from it',
    run: async (endpoint, base) => {
      await ctl(endpoint, ['put', 'c/k', '3']);
      await ctl(endpoint, ['compact', String(base + 1)]);
      return withWatch(endpoint, ['c/k', '--rev', String(base + 1)], async (watch) => {
        await watch.waitForLines(3);
        await ctl(endpoint, ['put', 'c/k', '4']);
        await watch.waitForLines(6);
      });
    },
    expected: () => killedOutcome(simpleEvent('PUT', 'c/k', '3') + simpleEvent('PUT', 'c/k', '4')),
  },
];

function assertOutcome(actual: Outcome, expected: Outcome, context: string): void {
  assert.fixture(actual.stdout, expected.stdout, `${context}: stdout`);
  assert.fixture(actual.stderr, expected.stderr, `${context}: stderr`);
  assert.equal({ code: actual.code, signal: actual.signal }, { code: expected.code, signal: expected.signal }, `${context}: exit`);
}

function defineSuite(name: string, start: () => Promise<Fixture>): void {
  const s = serverSuite(name, start, missingTools(['etcd', 'etcdctl']));
  for (const testCase of cases) {
    s.it(testCase.name, async (fixture) => {
      const base = await alignRevisions(fixture);
      const reference = fixture.reference ? await testCase.run(fixture.reference.endpoint, base) : null;
      const actual = await testCase.run(fixture.target.endpoint, base);
      if (reference) assertOutcome(actual, reference, 'differs from etcd');
      assertOutcome(actual, testCase.expected(base), 'differs from the expected output');
    });
  }
  s.run();
}

defineSuite('etcdctl watch against real etcd', async () => {
  const etcd = await startEtcd();
  return { target: etcd, reference: null, stop: () => etcd.stop() };
});

for (const engine of engines) {
  defineSuite(`etcdctl watch against Lattice (${engine}), compared with etcd`, async () => {
    const [lattice, etcd] = await startBoth(() => startLattice(engine), () => startEtcd());
    return { target: lattice, reference: etcd, stop: () => stopAll(lattice, etcd) };
  });
}
