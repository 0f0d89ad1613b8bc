// etcd's simple tokens (auth/simple_token.go): "<16 random letters>.<log index>", assigned when the
// Authenticate entry is applied, so every member knows each one; kept in memory only (a restart
// forgets them and clients authenticate again), each expiring its TTL after its last use.
import type { AuthHeader } from './auth-op.js';
import type { TokenEvents } from './auth-state.js';

/** Live simple tokens kept at once; past it the one closest to expiry (the least recently used) is dropped first. */
export const maxSimpleTokens = 100_000;
const prefixLetters = 16;
const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

export interface SimpleTokenDeps {
  readonly ttlMs: number;
  readonly nowMs: () => number;
  /** Uniform in [0, 1). */
  readonly random: () => number;
  /** Default maxSimpleTokens (tests shrink it). */
  readonly maxTokens?: number;
}

export class SimpleTokens implements TokenEvents {
  /**
   * token → its user and when it expires. Map order is expiry order: a token used is moved to the
   * end (delete + set), so the expired and the least recently used are always at the front and are
   * swept from there without a scan.
   */
  private readonly tokens = new Map<string, { readonly user: string; expiresAtMs: number }>();

  constructor(private readonly deps: SimpleTokenDeps) {}

  /** The random half of a new token, drawn by the proposing member. */
  newPrefix(): string {
    let s = '';
    for (let i = 0; i < prefixLetters; i++) s += letters[Math.floor(this.deps.random() * letters.length)];
    return s;
  }

  assigned(token: string, user: string): void {
    const now = this.deps.nowMs();
    this.sweepExpired(now);
    if (this.tokens.size >= (this.deps.maxTokens ?? maxSimpleTokens)) this.dropFirst();
    this.tokens.set(token, { user, expiresAtMs: now + this.deps.ttlMs });
  }

  userInvalidated(user: string): void {
    for (const [token, t] of this.tokens) if (t.user === user) this.tokens.delete(token);
  }

  disabled(): void {
    this.tokens.clear();
  }

  /** The token's user at the current auth revision (etcd: simple tokens never carry a revision), or undefined. */
  info(token: string, currentRevision: number): AuthHeader | undefined {
    const t = this.tokens.get(token);
    if (t === undefined) return undefined;
    const now = this.deps.nowMs();
    if (t.expiresAtMs <= now) {
      this.tokens.delete(token);
      return undefined;
    }
    t.expiresAtMs = now + this.deps.ttlMs;
    this.tokens.delete(token);
    this.tokens.set(token, t);
    return { user: t.user, revision: currentRevision };
  }

  get size(): number {
    return this.tokens.size;
  }

  /** Drops expired tokens from the front; stops at the first live one (all after it expire later). */
  private sweepExpired(now: number): void {
    for (const [token, t] of this.tokens) {
      if (t.expiresAtMs > now) return;
      this.tokens.delete(token);
    }
  }

  private dropFirst(): void {
    const first = this.tokens.keys().next();
    if (first.done !== true) this.tokens.delete(first.value);
  }
}
