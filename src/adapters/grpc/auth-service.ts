// etcdserverpb.Auth (etcdserver/api/v3rpc/auth.go → v3_server.go): every call but Authenticate's
// password check goes through the log with the caller's header, and the apply decides (admin or not,
// exists or not) on every member alike. etcd 3.4's proto has no AuthStatus; neither has this one.
import { AuthService, type ResponseHeader } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { keyBytes, toKey } from '../../core/keys.js';
import { EtcdError } from '../../core/errors.js';
import { noUser, type AuthHeader, type PermType } from '../../auth/auth-op.js';
import type { AuthAnswer } from '../../auth/auth-state.js';
import type { AuthFront } from '../../auth/auth-front.js';
import { serviceMethods, unary, type GrpcMethod, type GrpcServiceContext, type GrpcServiceModule } from './service-module.js';
import type { CallContext } from './server-call.js';

function rolesOf(a: AuthAnswer): string[] {
  if (a.kind !== 'roles') throw new Error(`auth answered ${a.kind}, not roles`);
  return [...a.roles];
}

export function createAuthMethods(ctx: GrpcServiceContext): GrpcMethod[] {
  const { api } = ctx;
  const front = (): AuthFront => {
    if (api.auth === undefined) throw new EtcdError('authNotEnabled');
    return api.auth;
  };
  const header = (): ResponseHeader => api.header();
  /** etcd validates the token of every auth call, enabled or not, once a token is sent. */
  const caller = async (call: CallContext): Promise<AuthHeader> => (api.auth?.enabled === true ? api.auth.caller(call.metadata, call.verifiedCommonName) : noUser);
  const run = async (call: CallContext, f: (auth: AuthFront, h: AuthHeader) => Promise<AuthAnswer>): Promise<AuthAnswer> => {
    const auth = front();
    return f(auth, await caller(call));
  };
  return serviceMethods(AuthService, {
    authEnable: unary(AuthService.authEnable, async (_req, call) => {
      await run(call, (a, h) => a.request(h, { op: 'enable' }));
      return { header: header() };
    }),
    authDisable: unary(AuthService.authDisable, async (_req, call) => {
      await run(call, (a, h) => a.request(h, { op: 'disable' }));
      return { header: header() };
    }),
    authenticate: unary(AuthService.authenticate, async (req) => {
      const token = await front().authenticate(req.name, req.password);
      return { header: header(), token };
    }),
    userAdd: unary(AuthService.userAdd, async (req, call) => {
      await run(call, (a, h) => a.userAdd(h, req.name, req.password, req.options?.noPassword === true));
      return { header: header() };
    }),
    userGet: unary(AuthService.userGet, async (req, call) => {
      const answer = await run(call, (a, h) => a.request(h, { op: 'userGet', name: req.name }));
      return { header: header(), roles: rolesOf(answer) };
    }),
    userList: unary(AuthService.userList, async (_req, call) => {
      const answer = await run(call, (a, h) => a.request(h, { op: 'userList' }));
      if (answer.kind !== 'users') throw new Error(`auth answered ${answer.kind}, not users`);
      return { header: header(), users: [...answer.users] };
    }),
    userDelete: unary(AuthService.userDelete, async (req, call) => {
      await run(call, (a, h) => a.request(h, { op: 'userDelete', name: req.name }));
      return { header: header() };
    }),
    userChangePassword: unary(AuthService.userChangePassword, async (req, call) => {
      await run(call, (a, h) => a.userChangePassword(h, req.name, req.password));
      return { header: header() };
    }),
    userGrantRole: unary(AuthService.userGrantRole, async (req, call) => {
      await run(call, (a, h) => a.request(h, { op: 'userGrantRole', user: req.user, role: req.role }));
      return { header: header() };
    }),
    userRevokeRole: unary(AuthService.userRevokeRole, async (req, call) => {
      await run(call, (a, h) => a.request(h, { op: 'userRevokeRole', name: req.name, role: req.role }));
      return { header: header() };
    }),
    roleAdd: unary(AuthService.roleAdd, async (req, call) => {
      await run(call, (a, h) => a.request(h, { op: 'roleAdd', name: req.name }));
      return { header: header() };
    }),
    roleGet: unary(AuthService.roleGet, async (req, call) => {
      const answer = await run(call, (a, h) => a.request(h, { op: 'roleGet', role: req.role }));
      if (answer.kind !== 'perms') throw new Error(`auth answered ${answer.kind}, not perms`);
      return { header: header(), perm: answer.perms.map((p) => ({ ...p })) };
    }),
    roleList: unary(AuthService.roleList, async (_req, call) => {
      const answer = await run(call, (a, h) => a.request(h, { op: 'roleList' }));
      return { header: header(), roles: rolesOf(answer) };
    }),
    roleDelete: unary(AuthService.roleDelete, async (req, call) => {
      await run(call, (a, h) => a.request(h, { op: 'roleDelete', role: req.role }));
      return { header: header() };
    }),
    roleGrantPermission: unary(AuthService.roleGrantPermission, async (req, call) => {
      const perm = req.perm;
      const permType: PermType = perm?.permType === 1 || perm?.permType === 2 ? perm.permType : 0;
      const key = toKey(perm?.key ?? keyBytes(''));
      const rangeEnd = toKey(perm?.rangeEnd ?? keyBytes(''));
      await run(call, (a, h) => a.request(h, { op: 'roleGrantPermission', name: req.name, permType, key, rangeEnd }));
      return { header: header() };
    }),
    roleRevokePermission: unary(AuthService.roleRevokePermission, async (req, call) => {
      await run(call, (a, h) => a.request(h, { op: 'roleRevokePermission', role: req.role, key: toKey(req.key), rangeEnd: toKey(req.rangeEnd) }));
      return { header: header() };
    }),
  });
}

export const authServiceModule: GrpcServiceModule = {
  name: 'etcdserverpb.Auth',
  methods: createAuthMethods,
};
