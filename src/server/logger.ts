// A small structured logger that writes JSON lines shaped like etcd's zap output:
// {"level":"info","ts":"<ISO-8601>","caller":"<component>","msg":"...", ...fields}
// bigint fields are written as strings (JSON has no int64), Errors as their message.

import { openSync, writeSync } from 'node:fs';

export const logLevels = ['debug', 'info', 'warn', 'error', 'dpanic', 'panic', 'fatal'] as const;
export type LogLevel = (typeof logLevels)[number];
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that writes with `caller` set to the given component name. */
  named(caller: string): Logger;
}

export const isLogLevel = (s: string): s is LogLevel => (logLevels as readonly string[]).includes(s);

const levelRank: Readonly<Record<LogLevel, number>> = {
  debug: -1,
  info: 0,
  warn: 1,
  error: 2,
  dpanic: 3,
  panic: 4,
  fatal: 5,
};

export interface LoggerOptions {
  level: LogLevel;
  /** etcd's --log-outputs: 'default' and 'stderr' write to stderr, 'stdout' to stdout, anything else is a file appended to. */
  outputs?: readonly string[];
  caller?: string;
  /** Injected for tests. */
  clock?: () => Date;
  /** Injected for tests; replaces `outputs`. */
  write?: (line: string) => void;
}

type Sink = (line: string) => void;

function openSinks(outputs: readonly string[]): Sink[] {
  return outputs.map((out): Sink => {
    if (out === 'default' || out === 'stderr') return (line) => process.stderr.write(line);
    if (out === 'stdout') return (line) => process.stdout.write(line);
    // Files are written synchronously so the last lines before an exit are not lost.
    const fd = openSync(out, 'a');
    return (line) => {
      writeSync(fd, line);
    };
  });
}

function jsonValue(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return value.message;
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

export function createLogger(opts: LoggerOptions): Logger {
  const min = levelRank[opts.level];
  const clock = opts.clock ?? (() => new Date());
  const sinks: Sink[] = opts.write ? [opts.write] : openSinks(opts.outputs ?? ['default']);

  const make = (caller: string): Logger => {
    const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
      if (levelRank[level] < min) return;
      const record: Record<string, unknown> = { level, ts: clock().toISOString(), caller, msg };
      if (fields) {
        for (const [k, v] of Object.entries(fields)) {
          if (!(k in record)) record[k] = v;
        }
      }
      let line: string;
      try {
        line = JSON.stringify(record, jsonValue) + '\n';
      } catch (e) {
        // A cyclic or otherwise unserialisable field must not take the process down.
        line = JSON.stringify({ level, ts: record['ts'], caller, msg, logError: String(e) }) + '\n';
      }
      for (const sink of sinks) sink(line);
    };
    return {
      debug: (msg, fields) => emit('debug', msg, fields),
      info: (msg, fields) => emit('info', msg, fields),
      warn: (msg, fields) => emit('warn', msg, fields),
      error: (msg, fields) => emit('error', msg, fields),
      named: (c) => make(c),
    };
  };
  return make(opts.caller ?? 'lattice');
}
