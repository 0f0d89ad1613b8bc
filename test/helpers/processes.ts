import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import { forgetLeftover, recordLeftover } from './ledger.js';

/** In-memory output kept per process (the tail); the full log goes to logFile when given. */
const maxCapturedOutputBytes = 4 * 1024 * 1024;
/** How long a process gets after SIGTERM before SIGKILL. */
export const stopGraceMs = 10_000;
/** Default interval between polls of a condition. */
const pollIntervalMs = 50;
/** How long a single TCP/HTTP probe may take. */
const probeTimeoutMs = 1_000;

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** Short name used in messages ("etcd", "lattice-memory"). */
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Append stdout and stderr here as well. */
  logFile?: string;
}

type LineListener = (line: string) => void;

const live = new Set<ManagedProcess>();

/** A child process in its own process group, with captured output; always killed by the end of the test process. */
export class ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly commandLine: string;
  readonly exited: Promise<ExitInfo>;
  exitInfo: ExitInfo | null = null;

  private captured = '';
  private readonly lineListeners = new Set<LineListener>();
  private readonly child: ChildProcess;
  private readonly log: WriteStream | null;

  constructor(options: SpawnOptions) {
    this.name = options.name;
    this.commandLine = [options.command, ...options.args].join(' ');
    this.log = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : null;
    this.child = spawn(options.command, options.args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: kill(-pid) reaches anything it starts
    });
    const pid = this.child.pid;
    if (pid !== undefined) recordLeftover('pid', String(pid));
    this.exited = new Promise<ExitInfo>((resolve) => {
      const done = (info: ExitInfo) => {
        if (this.exitInfo) return;
        this.exitInfo = info;
        live.delete(this);
        if (pid !== undefined) forgetLeftover('pid', String(pid));
        this.log?.end();
        resolve(info);
      };
      this.child.once('error', (err) => {
        this.append(`[spawn error] ${err.message}\n`);
        done({ code: null, signal: null });
      });
      this.child.once('close', (code, signal) => done({ code, signal }));
    });
    this.pid = pid ?? -1;
    if (pid !== undefined) live.add(this);

    for (const stream of [this.child.stdout, this.child.stderr]) {
      let partial = '';
      stream?.on('data', (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        this.append(text);
        partial += text;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) for (const listener of this.lineListeners) listener(line);
      });
    }
  }

  private append(text: string): void {
    this.log?.write(text);
    this.captured += text;
    if (this.captured.length > maxCapturedOutputBytes) this.captured = this.captured.slice(-maxCapturedOutputBytes);
  }

  get running(): boolean {
    return this.exitInfo === null && this.pid > 0;
  }

  /** Everything captured so far (bounded tail), stdout and stderr interleaved. */
  output(): string {
    return this.captured;
  }

  /** The last lines of output, for failure messages. */
  tail(lines = 40): string {
    return this.captured.split('\n').slice(-lines - 1).join('\n');
  }

  describeExit(): string {
    const info = this.exitInfo;
    if (!info) return 'still running';
    return info.signal ? `killed by ${info.signal}` : `exited with code ${info.code}`;
  }

  /** Resolves with the first line (already seen or coming) matching pattern; rejects if the process exits or the deadline passes. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    const seen = this.captured.split('\n').find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.lineListeners.delete(listener);
      };
      const listener: LineListener = (line) => {
        if (!pattern.test(line)) return;
        cleanup();
        resolve(line);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(this.failure(`no line matching ${pattern} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.lineListeners.add(listener);
      void this.exited.then(() => {
        if (!this.lineListeners.has(listener)) return;
        cleanup();
        reject(this.failure(`${this.describeExit()} before printing a line matching ${pattern}`));
      });
    });
  }

  /** An Error naming the process and carrying its output tail. */
  failure(message: string): Error {
    return new Error(`${this.name} (pid ${this.pid}): ${message}\n  command: ${this.commandLine}\n  --- last output ---\n${this.tail()}\n  --- end ---`);
  }

  /** Sends a signal to the whole process group. */
  signal(signal: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // already gone
    }
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when it has exited. */
  async stop(graceMs = stopGraceMs): Promise<ExitInfo> {
    if (!this.running) return this.exited;
    this.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.signal('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    return this.exited;
  }

  /** SIGKILL now (crash simulation); resolves when it has exited. */
  async kill9(): Promise<ExitInfo> {
    this.signal('SIGKILL');
    return this.exited;
  }
}

export function spawnProcess(options: SpawnOptions): ManagedProcess {
  return new ManagedProcess(options);
}

/** Stops every process still running (SIGTERM, then SIGKILL). For `after` hooks. */
export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}

function killAllNow(): void {
  for (const p of live) p.signal('SIGKILL');
}

// Nothing spawned may outlive the test process, whichever way it ends.
process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killAllNow();
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
  });
}
process.on('uncaughtException', (err) => {
  console.error('uncaught exception:', err);
  killAllNow();
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  console.error('unhandled rejection:', err);
  killAllNow();
  process.exit(1);
});

export interface WaitOptions {
  timeoutMs: number;
  /** What is awaited, for the timeout message. */
  what: string;
  intervalMs?: number;
  /** Polled too: a non-null string aborts the wait at once with that reason (e.g. the server exited). */
  abortIf?: () => string | null;
}

/** Polls check until it returns true; rejects when the deadline passes. */
export async function waitUntil(check: () => Promise<boolean> | boolean, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    const abort = options.abortIf?.() ?? null;
    if (abort !== null) throw new Error(`gave up waiting for ${options.what}: ${abort}`);
    try {
      if (await check()) return;
      lastError = null;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? pollIntervalMs));
  }
}

/** True if a TCP connection to host:port succeeds. */
export function tcpCheck(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(probeTimeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True if GET url answers with a 2xx status. */
export function httpCheck(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get(url, { timeout: probeTimeoutMs }, (response) => {
      response.resume();
      resolve((response.statusCode ?? 0) >= 200 && (response.statusCode ?? 0) < 300);
    });
    request.once('timeout', () => request.destroy());
    request.once('error', () => resolve(false));
  });
}

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to stdin, which is then closed; stdin is empty otherwise. */
  input?: string;
  timeoutMs?: number;
}

/** Default deadline for a short command (etcdctl, go build). */
export const commandTimeoutMs = 60_000;

/** Runs a command to completion in its own process group; killed (whole group) at the deadline. */
export function runCommand(command: string, args: string[], options: RunOptions = {}): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? commandTimeoutMs;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
      reject(new Error(`${command} ${args.join(' ')}: no exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on('error', () => {
      // the command may exit without reading its input
    });
    child.stdin.end(options.input ?? '');
  });
}
