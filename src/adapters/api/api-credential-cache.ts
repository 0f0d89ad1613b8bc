// Basic credentials on /api would otherwise cost a full Authenticate per request (a read barrier,
// bcrypt, a Raft entry and a fresh token). A verified user:password keeps its token for a short
// while, so later requests pay only the token check. An entry is used only while the auth store's
// revision is the one it was verified at: a password change, a deleted user or auth disable bumps
// the revision and every entry is dropped. Keys are a salted hash, never the password itself.
import { createHash, randomBytes } from 'node:crypto';

/** How long a verified Basic credential is reused before it is checked again. */
export const defaultCredentialTtlMs = 30_000;
/** Credentials held at once; the oldest goes first when full. */
export const maxCachedCredentials = 256;

interface Entry {
  readonly token: string;
  readonly authRevision: number;
  readonly expiresAtMs: number;
}

export interface CredentialCacheOptions {
  readonly ttlMs?: number;
  readonly maxEntries?: number;
  readonly now?: () => number;
}

export class CredentialCache {
  private readonly entries = new Map<string, Entry>();
  // a per-process salt: a memory dump does not give hashes to test guessed passwords against offline for free
  private readonly salt = randomBytes(16);
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: CredentialCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? defaultCredentialTtlMs;
    this.maxEntries = options.maxEntries ?? maxCachedCredentials;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  private keyOf(user: string, password: string): string {
    return createHash('sha256').update(this.salt).update(user).update('\0').update(password).digest('base64');
  }

  /** The token verified for these credentials at this auth revision, if still fresh. */
  get(user: string, password: string, authRevision: number): string | undefined {
    const key = this.keyOf(user, password);
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (e.authRevision !== authRevision) {
      // the auth store changed: nothing verified before it can be trusted
      this.entries.clear();
      return undefined;
    }
    if (e.expiresAtMs <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.token;
  }

  set(user: string, password: string, authRevision: number, token: string): void {
    const key = this.keyOf(user, password);
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(key, { token, authRevision, expiresAtMs: this.now() + this.ttlMs });
  }

  forget(user: string, password: string): void {
    this.entries.delete(this.keyOf(user, password));
  }
}
