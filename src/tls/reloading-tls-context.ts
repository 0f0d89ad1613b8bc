// Keeps one side's TLS options in step with its files: every poll compares each file's size, mtime
// and inode; when one changed, all are re-read and checked (createSecureContext) before they are
// taken, so a half-replaced pair (new certificate, old key) is never served: the old options stay,
// the trouble is logged at error level on every poll that still finds it (an unparsable or deleted
// CRL keeps revoking the old list, which an operator must hear about), and the next poll tries again. Listeners (a tls.Server's
// setSecureContext) apply new options to new connections; established ones keep theirs.
import { stat } from 'node:fs/promises';
import type tls from 'node:tls';
import type { SerialHex } from './crl.js';
import { readTlsMaterial, revokedSerials, secureContextOptions, type TlsMaterial } from './tls-material.js';
import type { TlsFilePaths, TransportSecurity } from './transport-security.js';

/** Changed files are picked up within this (etcd's issue asks for 30 s). */
export const defaultTlsReloadPollMs = 5_000;

/** `level` defaults to info without an error and warn with one. */
export type TlsLog = (message: string, err?: unknown, level?: 'error') => void;

export interface TlsReloadTimers {
  setInterval(fn: () => void, ms: number): { unref?(): unknown };
  clearInterval(handle: unknown): void;
}

type Fingerprint = string;

async function fingerprint(paths: TlsFilePaths): Promise<Fingerprint> {
  const files = [paths.certFile, paths.keyFile, paths.trustedCaFile, paths.crlFile].filter((p) => p !== '');
  const stats = await Promise.all(files.map((f) => stat(f)));
  return stats.map((s) => `${s.ino}:${s.size}:${s.mtimeMs}`).join('|');
}

/** Both checked before either is taken: a bad CRL keeps the old certificate too, as a bad key does. */
function usable(material: TlsMaterial, security: TransportSecurity, crlFile: string): { options: tls.SecureContextOptions; revoked: ReadonlySet<SerialHex> } {
  return { options: secureContextOptions(material, security), revoked: revokedSerials(material, crlFile) };
}

export class ReloadingTlsContext {
  private readonly listeners = new Set<(options: tls.SecureContextOptions) => void>();
  private timer: unknown;
  private polling = false;
  private reloads = 0;
  private failures = 0;

  private constructor(
    readonly paths: TlsFilePaths,
    private readonly security: TransportSecurity,
    private current: tls.SecureContextOptions,
    private revoked: ReadonlySet<SerialHex>,
    private seen: Fingerprint,
    private readonly log: TlsLog,
  ) {}

  /** Reads and checks the files once (throws if they are unusable), then polls every pollIntervalMs (0: never). */
  static async start(
    paths: TlsFilePaths,
    security: TransportSecurity,
    options: { readonly pollIntervalMs?: number; readonly log: TlsLog; readonly timers?: TlsReloadTimers },
  ): Promise<ReloadingTlsContext> {
    const seen = await fingerprint(paths);
    const initial = usable(await readTlsMaterial(paths), security, paths.crlFile);
    const context = new ReloadingTlsContext(paths, security, initial.options, initial.revoked, seen, options.log);
    const pollMs = options.pollIntervalMs ?? defaultTlsReloadPollMs;
    if (pollMs > 0) {
      const timers = options.timers ?? { setInterval: (fn, ms) => setInterval(fn, ms), clearInterval: (h) => clearInterval(h as NodeJS.Timeout) };
      const handle = timers.setInterval(() => void context.poll(), pollMs);
      handle.unref?.();
      context.timer = handle;
      context.stopTimer = () => timers.clearInterval(handle);
    }
    return context;
  }

  private stopTimer: () => void = () => undefined;

  /** The options new connections get. */
  get options(): tls.SecureContextOptions {
    return this.current;
  }

  /** Serials of the CRL (none without one): a peer presenting such a certificate is refused after the handshake. */
  get revokedSerials(): ReadonlySet<SerialHex> {
    return this.revoked;
  }

  /** How many polls found changed files that could not be used. */
  get failedReloadCount(): number {
    return this.failures;
  }

  /** How many times new files were taken. */
  get reloadCount(): number {
    return this.reloads;
  }

  onReload(listener: (options: tls.SecureContextOptions) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Checks the files now (the timer calls this); resolves when done. */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const now = await fingerprint(this.paths);
      if (now === this.seen) return;
      const { options: next, revoked } = usable(await readTlsMaterial(this.paths), this.security, this.paths.crlFile);
      this.current = next;
      this.revoked = revoked;
      this.seen = now;
      this.reloads++;
      this.log(`reloaded TLS files (cert ${this.paths.certFile})`);
      for (const l of this.listeners) l(next);
    } catch (err) {
      this.failures++;
      this.log(`TLS files changed but cannot be used; serving the previous ones (cert ${this.paths.certFile}, crl ${this.paths.crlFile || 'none'})`, err, 'error');
    } finally {
      this.polling = false;
    }
  }

  close(): void {
    this.stopTimer();
    this.timer = undefined;
    this.listeners.clear();
  }
}
