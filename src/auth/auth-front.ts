// The server side of etcd's auth: who a call comes from (token, or a verified TLS client
// certificate's CN), the Auth RPCs as they go through the log (passwords checked and hashed here, on
// the bcrypt pool, before anything is proposed), and the permission checks the adapters call.
// With auth disabled reads test `enabled` and nothing else; writes still resolve the caller (an
// empty-user header) so that one applied after `auth enable` is refused (docs/security.md).
import type { IncomingHttpHeaders } from 'node:http2';
import { EtcdError, type EtcdErrorKind } from '../core/errors.js';
import type { WriteOp } from '../engines/engine.js';
import type { WriteCommand } from '../mvcc/apply-command.js';
import type { LeaseRevokeCommand } from '../store/mvcc-store.js';
import type { PasswordHasher } from '../jobs/bcrypt-jobs.js';
import { noUser, type AuthHeader, type AuthOp, type AuthRequest } from './auth-op.js';
import { AuthState, type AuthAnswer, type AuthOutcome, type PermissionKind, type TokenEvents } from './auth-state.js';
import { deleteRefusal, leaseRefusal, putRefusal, txnRefusal, type AskedLeaseKeys, type LeaseKeys, type PermissionCheck } from './request-permissions.js';
import type { SimpleTokens } from './simple-tokens.js';
import type { JwtTokens } from './jwt-tokens.js';

/**
 * The metadata that marks a call the JSON gateway proxies (grpc-gateway's `grpcgateway-accept`): its
 * TLS certificate's CN never names the user (etcd's AuthInfoFromTLS), only a token does.
 */
export const gatewayCallMark = 'grpcgateway-accept';

/** A token longer than this is refused without a lookup (etcd's tokens are well under 1 KiB). */
export const maxTokenBytes = 8 * 1024;
/**
 * Authenticate retries while the auth store changes between the password check and the apply (etcd
 * loops without a bound); past it the caller gets authOldRevision, never a token checked against an
 * older password.
 */
const maxAuthenticateAttempts = 5;

export type TokenProvider = { readonly kind: 'simple'; readonly tokens: SimpleTokens } | { readonly kind: 'jwt'; readonly tokens: JwtTokens };

export interface AuthFrontDeps {
  readonly provider: TokenProvider;
  readonly hasher: PasswordHasher;
  /** Proposes one auth entry and waits for its answer (MvccStore.proposeAuth). */
  readonly propose: (req: AuthRequest) => Promise<AuthAnswer>;
  /**
   * Keys attached to a lease (asked of the lease actor), for etcd's checkLeasePuts outside the log:
   * the pre-check of a revoke (leaseRefusalAsked). Checks while applying are given the keys the store
   * asked at that log position instead.
   */
  readonly leaseKeys: AskedLeaseKeys;
  /** etcd --client-cert-auth: a verified client certificate's CN is the user when no token is sent. */
  readonly clientCertAuth: boolean;
  /**
   * Waits until this member has applied everything committed when it was called (etcd's
   * linearizableReadNotify before Authenticate), so a user just added through another member is
   * known here. Absent: no wait (a single member, tests).
   */
  readonly readBarrier?: () => Promise<void>;
}

/** Forwards token events to the simple tokens; JWT tokens need none. */
function tokenEventsOf(provider: TokenProvider): TokenEvents {
  if (provider.kind === 'simple') return provider.tokens;
  return { assigned: () => undefined, userInvalidated: () => undefined, disabled: () => undefined };
}

/** The `token` metadata (or the gateway's `authorization`), if sent. */
function tokenOf(metadata: IncomingHttpHeaders): string | undefined {
  const raw = metadata['token'] ?? metadata['authorization'];
  return Array.isArray(raw) ? raw[0] : raw;
}

export class AuthFront {
  readonly state: AuthState;
  /** The permission check in the shape request-permissions.ts takes. */
  readonly check: PermissionCheck;

  constructor(private readonly deps: AuthFrontDeps) {
    this.state = new AuthState(tokenEventsOf(deps.provider));
    this.check = (h, key, rangeEnd, kind) => this.state.refusal(h, key, rangeEnd, kind);
  }

  /** etcd --client-cert-auth: a verified certificate's CN names the user of a gRPC call without a token. */
  get clientCertAuth(): boolean {
    return this.deps.clientCertAuth;
  }

  /** The one test an unauthenticated read pays. */
  get enabled(): boolean {
    return this.state.enabled;
  }

  // ---- apply side (MvccStore's AuthApplier) ----

  apply(req: AuthRequest, logIndex: number, ops: WriteOp[]): AuthOutcome {
    return this.state.apply(req, logIndex, ops);
  }

  writeRefusal(command: WriteCommand, leaseKeys?: LeaseKeys): EtcdErrorKind | undefined {
    const h = command.auth;
    if (h === undefined || !this.state.enabled) return undefined;
    switch (command.type) {
      case 'put':
        return putRefusal(this.check, h, command.req, leaseKeys ?? this.leaseKeysNow);
      case 'deleteRange':
        return deleteRefusal(this.check, h, command.req);
      case 'txn':
        return txnRefusal(this.check, h, command.req);
    }
  }

  /** etcd's authApplierV3.LeaseRevoke: the revoker may write every key attached to the lease now. */
  leaseRevokeRefusal(command: LeaseRevokeCommand, leaseKeys?: LeaseKeys): EtcdErrorKind | undefined {
    const h = command.auth;
    if (h === undefined || !this.state.enabled) return undefined;
    return leaseRefusal(this.check, h, leaseKeys ?? this.leaseKeysNow, command.req.ID);
  }

  /** etcd's checkLeasePuts reads the keys attached to a put's lease, which earlier writes change. */
  checkReadsWrittenState(command: WriteCommand): boolean {
    return this.readsLeaseKeys(command);
  }

  readsLeaseKeys(command: WriteCommand): boolean {
    return this.state.enabled && command.auth !== undefined && command.type === 'put' && command.req.lease !== 0n;
  }

  // ---- callers ----

  /**
   * Who a call comes from (etcd's AuthInfoFromCtx, then AuthInfoFromTLS): the `token` metadata (or
   * the gateway's `authorization`), else the verified client certificate's CN with
   * --client-cert-auth, else nobody (user "", revision 0). Rejects with authInvalidToken.
   */
  async caller(metadata: IncomingHttpHeaders, verifiedCommonName?: string): Promise<AuthHeader> {
    const token = tokenOf(metadata);
    if (token === undefined) return this.callerOf(metadata, verifiedCommonName);
    const info = token.length > maxTokenBytes ? undefined : await this.tokenInfo(token);
    if (info === undefined) throw new EtcdError('authInvalidToken');
    return info;
  }

  /**
   * caller's answer at once when there is no token to look up; undefined when there is one (ask
   * caller). Every client write resolves its caller, with auth enabled or not.
   */
  callerWithoutToken(metadata: IncomingHttpHeaders, verifiedCommonName?: string): AuthHeader | undefined {
    return tokenOf(metadata) === undefined ? this.callerOf(metadata, verifiedCommonName) : undefined;
  }

  /** The caller of a call without a token. */
  private callerOf(metadata: IncomingHttpHeaders, verifiedCommonName: string | undefined): AuthHeader {
    // etcd ignores the CN of calls the gateway proxies (the gateway always sets the mark).
    if (this.deps.clientCertAuth && verifiedCommonName !== undefined && metadata[gatewayCallMark] === undefined) {
      return { user: verifiedCommonName, revision: this.state.revision };
    }
    return noUser;
  }

  private async tokenInfo(token: string): Promise<AuthHeader | undefined> {
    if (this.deps.provider.kind === 'simple') return this.deps.provider.tokens.info(token, this.state.revision);
    return this.deps.provider.tokens.info(token);
  }

  /** Rejects with the refusal, if any. */
  require(refusal: EtcdErrorKind | undefined): void {
    if (refusal !== undefined) throw new EtcdError(refusal);
  }

  requireAdmin(h: AuthHeader): void {
    this.require(this.state.adminRefusal(h));
  }

  requirePermission(h: AuthHeader, key: Uint8Array, rangeEnd: Uint8Array, kind: PermissionKind): void {
    this.require(this.state.refusal(h, key, rangeEnd, kind));
  }

  /** etcd's checkLeasePuts for a revoke's pre-check (revokeHeaderAsked): write on every key attached to the lease, asked of the lease table. */
  async leaseRefusalAsked(h: AuthHeader, id: bigint): Promise<EtcdErrorKind | undefined> {
    const keys = await this.deps.leaseKeys(id);
    return leaseRefusal(this.check, h, () => keys, id);
  }

  /** deps.leaseKeys where a check cannot wait: only a table read at once can answer there. */
  private readonly leaseKeysNow: LeaseKeys = (id) => {
    const keys = this.deps.leaseKeys(id);
    if (keys instanceof Promise) throw new Error('lease keys must be asked before a check that cannot wait for them');
    return keys;
  };

  /**
   * A caller resolved earlier (a watch stream's, at its start) as it stands now: a simple token
   * carries no revision of its own, so it is always at the current one (etcd looks it up per call).
   */
  current(h: AuthHeader): AuthHeader {
    if (this.deps.provider.kind !== 'simple' || h.revision === 0) return h;
    return { user: h.user, revision: this.state.revision };
  }

  // ---- the Auth RPCs ----

  /** etcd's Authenticate: the password checked here, then the token assigned through the log. */
  async authenticate(name: string, password: string): Promise<string> {
    await this.deps.readBarrier?.();
    for (let attempt = 1; ; attempt++) {
      const stored = this.state.passwordOf(name);
      if (!stored.ok) throw new EtcdError(stored.error);
      const checkedAt = this.state.revision;
      if (!(await this.deps.hasher.matches(password, stored.hash))) throw new EtcdError('authFailed');
      const tokenPrefix = this.deps.provider.kind === 'simple' ? this.deps.provider.tokens.newPrefix() : '';
      const answer = await this.deps.propose({ op: { op: 'authenticate', name, tokenPrefix }, header: noUser });
      if (answer.kind !== 'authenticated') throw new Error('authenticate answered with another kind');
      // etcd retries when the auth store changed between the check and the apply (a new password, say).
      if (answer.revision === checkedAt) {
        if (this.deps.provider.kind === 'simple') return answer.token;
        return this.deps.provider.tokens.assign(answer.user, answer.revision);
      }
      if (attempt >= maxAuthenticateAttempts) throw new EtcdError('authOldRevision');
    }
  }

  async userAdd(h: AuthHeader, name: string, password: string, noPassword: boolean): Promise<AuthAnswer> {
    const hashedPassword = noPassword ? '' : await this.deps.hasher.hash(password);
    return this.request(h, { op: 'userAdd', name, hashedPassword, noPassword });
  }

  async userChangePassword(h: AuthHeader, name: string, password: string): Promise<AuthAnswer> {
    return this.request(h, { op: 'userChangePassword', name, hashedPassword: await this.deps.hasher.hash(password) });
  }

  /** Any other Auth RPC: through the log, checked and applied in log order on every member. */
  request(header: AuthHeader, op: AuthOp): Promise<AuthAnswer> {
    return this.deps.propose({ op, header });
  }
}
