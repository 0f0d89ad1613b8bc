// The command line around lattice.toml: `lattice [start] --config lattice.toml [flags]` (the file is
// the lowest layer under flags and variables), `lattice config check <file>` and `lattice config print
// [--config <file>] [flags]`. Plain `lattice [etcd flags]` and etcd's YAML --config-file are
// untouched: without --config this is parseConfig itself.
import { readFileSync } from 'node:fs';
import { ConfigError, envKey, parseConfig, type FlagValue, type ParseOptions, type ParseResult, type ServerConfig } from '../server/config.js';
import { effectiveToml } from './config-print.js';
import { ConfigFileError, parseLatticeToml, type LatticeFile } from './lattice-toml.js';

/** Go's boolean words: `--config=true` is etcd's legacy (ignored) flag, not a file name. */
const goBoolWords = new Set(['1', 't', 'T', 'TRUE', 'true', 'True', '0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Takes `--config <file>` / `--config=<file>` (one or two dashes) out of argv. */
export function takeConfigFlag(argv: readonly string[]): { readonly configPath: string | undefined; readonly rest: string[] } {
  const rest: string[] = [];
  let configPath: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const m = /^--?config(?:=(.*))?$/s.exec(arg);
    const inline = m?.[1];
    const next = argv[i + 1];
    if (m !== null && inline !== undefined && !goBoolWords.has(inline)) {
      configPath = inline;
    } else if (m !== null && inline === undefined && next !== undefined && !next.startsWith('-')) {
      configPath = next;
      i++;
    } else {
      rest.push(arg);
    }
  }
  return { configPath, rest };
}

export function readLatticeFile(path: string, readFile: (p: string) => string = (p) => readFileSync(p, 'utf8')): LatticeFile {
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    throw new ConfigFileError(path, [{ line: undefined, key: '', message: `cannot read the config file: ${(e as Error).message}` }]);
  }
  return parseLatticeToml(path, text);
}

export interface ServerArgs {
  readonly result: ParseResult;
  /** The lattice.toml read, if any. */
  readonly file: LatticeFile | undefined;
}

/**
 * The server's command line: an optional leading `start`, an optional --config lattice.toml, then
 * etcd's flags. Throws ConfigError (ConfigFileError for the file) as parseConfig does.
 */
export function parseServerArgs(argv: readonly string[], env: NodeJS.ProcessEnv, opts: ParseOptions = {}): ServerArgs {
  const args = argv[0] === 'start' ? argv.slice(1) : argv;
  const { configPath, rest } = takeConfigFlag(args);
  if (configPath === undefined) return { result: parseConfig(rest, env, opts), file: undefined };
  const file = readLatticeFile(configPath, opts.readFile);
  const result = parseWithFile(file, rest, env, opts);
  return { result: result.kind === 'server' ? withTenants(result, file) : result, file };
}

/**
 * parseConfig with the file as its lowest layer. A check on the combined values that names a flag
 * (`--election-timeout[500ms] should be ...`) is located at the file's key when the file is where that
 * value came from (no flag or variable overrides it).
 */
function parseWithFile(file: LatticeFile, argv: readonly string[], env: NodeJS.ProcessEnv, opts: ParseOptions): ParseResult {
  try {
    return parseConfig(argv, env, { ...opts, fileValues: file.flagValues });
  } catch (e) {
    if (!(e instanceof ConfigError) || e.kind !== 'invalid' || e instanceof ConfigFileError) throw e;
    // The flag the message names first, if the file set it.
    let first: { readonly at: number; readonly key: string; readonly line: number | undefined } | undefined;
    for (const [flag, where] of file.flagKeys) {
      const overridden = argv.some((a) => a === `--${flag}` || a === `-${flag}` || a.startsWith(`--${flag}=`) || a.startsWith(`-${flag}=`)) || env[envKey('ETCD', flag)] !== undefined || env[envKey('LATTICE', flag)] !== undefined;
      const at = e.message.search(new RegExp(`--${flag}(?![a-z-])`));
      if (!overridden && at >= 0 && (first === undefined || at < first.at)) first = { at, ...where };
    }
    if (first !== undefined) throw new ConfigFileError(file.path, [{ line: first.line, key: first.key, message: e.message }]);
    throw e;
  }
}

/** The file's [tenants] tables; tenants from --tenants-file as well would be two sources of one list. */
function withTenants(cfg: ServerConfig, file: LatticeFile): ServerConfig {
  if (file.tenants.length > 0 && cfg.tenants.length > 0) {
    throw new ConfigError('invalid', `tenants are given both by ${file.path}'s [tenants] tables and by --tenants-file; use one`);
  }
  return { ...cfg, tenants: file.tenants.length > 0 ? file.tenants : cfg.tenants, configFile: cfg.configFile ?? file.path };
}

export interface CommandIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const configUsage = 'Usage:\n  lattice config check <lattice.toml>\n  lattice config print [--config <lattice.toml>] [flags]\n';

/** `lattice config check|print`; returns the exit code. */
export function runConfigCommand(argv: readonly string[], env: NodeJS.ProcessEnv, io: CommandIo): number {
  const [sub, ...rest] = argv;
  try {
    if (sub === 'check') {
      const path = rest[0];
      if (path === undefined || rest.length > 1) {
        io.err(configUsage);
        return 2;
      }
      const file = readLatticeFile(path);
      // Validates the values together (URLs, timeouts, the durability mode against the cluster) as a start would.
      const checked = parseWithFile(file, [], {}, {});
      if (checked.kind === 'server') withTenants(checked, file);
      io.out(`${path}: OK (${file.flagValues.size} settings, ${file.tenants.length} tenants)\n`);
      return 0;
    }
    if (sub === 'print') {
      let effective: ReadonlyMap<string, FlagValue> = new Map();
      const { result, file } = parseServerArgs(rest, env, { onEffective: (values) => (effective = values) });
      if (result.kind !== 'server') {
        io.err(configUsage);
        return 2;
      }
      io.out(effectiveToml(result, effective, file?.path ?? result.configFile));
      return 0;
    }
    io.err(configUsage);
    return 2;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    io.err(e instanceof ConfigFileError ? `${e.message}\n` : `lattice: ${e.message}\n`);
    return e.exitCode;
  }
}
