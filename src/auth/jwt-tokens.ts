// etcd's JWT tokens (auth/jwt.go, options.go): `--auth-token jwt,pub-key=…,priv-key=…,sign-method=…,ttl=…`.
// Claims "username", "revision", "exp"; any member holding the key verifies any member's token, and
// a token outlives a restart. Signing and verifying with `jose`.
import { readFile } from 'node:fs/promises';
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import type { AuthHeader } from './auth-op.js';

/** etcd's DefaultTTL for JWT tokens. */
export const defaultJwtTtlMs = 5 * 60 * 1000;
const signMethods = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512']);

export interface JwtOptions {
  readonly signMethod: string;
  readonly publicKeyFile?: string;
  readonly privateKeyFile?: string;
  readonly ttlMs: number;
}

/** Go's time.ParseDuration for what etcd's ttl option takes (e.g. "5m", "1h30m", "300s", "250ms"). */
export function parseGoDuration(text: string): number | undefined {
  const unitMs: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * unitMs[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched === text.length && text.length > 0 ? total : undefined;
}

/** Parses etcd's `jwt,key=value,...` option string (the part after "jwt,"). Throws etcd's "invalid auth options" reason. */
export function parseJwtOptions(opts: string): JwtOptions {
  const map = new Map<string, string>();
  for (const part of opts.split(',').filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new Error(`auth: invalid auth options (${part})`);
    map.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const signMethod = map.get('sign-method') ?? '';
  if (!signMethods.has(signMethod)) throw new Error(`auth: invalid auth signature method (${signMethod}); HMAC methods are not supported by Lattice yet`);
  const ttlText = map.get('ttl');
  const ttlMs = ttlText === undefined || ttlText === '' ? defaultJwtTtlMs : parseGoDuration(ttlText);
  if (ttlMs === undefined) throw new Error(`auth: invalid auth options (ttl=${ttlText})`);
  const publicKeyFile = map.get('pub-key');
  const privateKeyFile = map.get('priv-key');
  if (publicKeyFile === undefined && privateKeyFile === undefined) throw new Error('auth: missing key data');
  return { signMethod, ...(publicKeyFile !== undefined ? { publicKeyFile } : {}), ...(privateKeyFile !== undefined ? { privateKeyFile } : {}), ttlMs };
}

export class JwtTokens {
  private constructor(
    private readonly options: JwtOptions,
    private readonly verifyKey: KeyObject,
    private readonly signKey: KeyObject | undefined,
    private readonly nowMs: () => number,
  ) {}

  static async open(options: JwtOptions, nowMs: () => number = Date.now): Promise<JwtTokens> {
    const signKey = options.privateKeyFile === undefined ? undefined : createPrivateKey(await readFile(options.privateKeyFile));
    const verifyKey = options.publicKeyFile !== undefined ? createPublicKey(await readFile(options.publicKeyFile)) : createPublicKey(signKey!);
    return new JwtTokens(options, verifyKey, signKey, nowMs);
  }

  /** etcd's assign; a member with only the public key cannot sign (ErrVerifyOnly). */
  async assign(user: string, revision: number): Promise<string> {
    if (this.signKey === undefined) throw new Error('auth: token signing attempted with verify-only key');
    return new SignJWT({ username: user, revision })
      .setProtectedHeader({ alg: this.options.signMethod, typ: 'JWT' })
      .setExpirationTime(Math.floor((this.nowMs() + this.options.ttlMs) / 1000))
      .sign(this.signKey);
  }

  /** The token's user and the auth revision it was issued at, or undefined (bad signature, other key, expired, malformed). */
  async info(token: string): Promise<AuthHeader | undefined> {
    try {
      const { payload } = await jwtVerify(token, this.verifyKey, { algorithms: [this.options.signMethod], currentDate: new Date(this.nowMs()) });
      const { username, revision } = payload as Record<string, unknown>;
      if (typeof username !== 'string' || typeof revision !== 'number' || !Number.isSafeInteger(revision)) return undefined;
      return { user: username, revision };
    } catch {
      return undefined;
    }
  }
}
