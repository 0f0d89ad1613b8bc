// Builds a member's auth from etcd's flags: --auth-token (simple | jwt,…), --auth-token-ttl,
// --bcrypt-cost, --client-cert-auth; loads the persisted auth state from the engine.
import { randomInt } from 'node:crypto';
import type { Engine } from '../engines/engine.js';
import { BcryptJobs } from '../jobs/bcrypt-jobs.js';
import type { AuthRequest } from './auth-op.js';
import type { AuthAnswer } from './auth-state.js';
import { AuthFront, type TokenProvider } from './auth-front.js';
import { JwtTokens, parseJwtOptions } from './jwt-tokens.js';
import type { AskedLeaseKeys } from './request-permissions.js';
import { SimpleTokens } from './simple-tokens.js';

export interface AuthSettings {
  /** etcd --auth-token: "simple" (default) or "jwt,pub-key=…,priv-key=…,sign-method=…[,ttl=…]". */
  readonly authToken: string;
  readonly authTokenTtlSeconds: number;
  readonly bcryptCost: number;
  readonly clientCertAuth: boolean;
}

export interface OpenedAuth {
  readonly front: AuthFront;
  close(): Promise<void>;
}

/** A uniform draw in [0, 1) from the system's CSPRNG: token prefixes must not be guessable. */
const secureRandom = (): number => randomInt(0, 2 ** 47) / 2 ** 47;

async function tokenProvider(settings: AuthSettings): Promise<TokenProvider> {
  const [kind = '', ...rest] = settings.authToken.split(',');
  if (kind === 'simple' || kind === '') {
    return { kind: 'simple', tokens: new SimpleTokens({ ttlMs: settings.authTokenTtlSeconds * 1000, nowMs: Date.now, random: secureRandom }) };
  }
  if (kind === 'jwt') return { kind: 'jwt', tokens: await JwtTokens.open(parseJwtOptions(rest.join(','))) };
  throw new Error(`auth: invalid auth options (unknown token type ${kind})`);
}

export async function openAuth(
  settings: AuthSettings,
  engine: Pick<Engine, 'iterateBatches'>,
  deps: { readonly propose: (req: AuthRequest) => Promise<AuthAnswer>; readonly leaseKeys: AskedLeaseKeys; readonly readBarrier?: () => Promise<void> },
): Promise<OpenedAuth> {
  const hasher = new BcryptJobs(settings.bcryptCost);
  const front = new AuthFront({ provider: await tokenProvider(settings), hasher, propose: deps.propose, leaseKeys: deps.leaseKeys, clientCertAuth: settings.clientCertAuth, ...(deps.readBarrier === undefined ? {} : { readBarrier: deps.readBarrier }) });
  await front.state.load(engine);
  return { front, close: () => hasher.close() };
}
