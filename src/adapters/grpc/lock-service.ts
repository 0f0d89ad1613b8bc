// v3lockpb.Lock: decode → the core's LockApi → encode. A Lock call that is cancelled while waiting
// aborts the wait (the core removes its key). Errors reach the client as etcd's do (asRecipeError).
import { LockService } from '../../gen/etcd/etcdserver/api/v3lock/v3lockpb/v3lock.js';
import { rethrowAsRecipeError } from './error-status.js';
import { completeHeader, serviceMethods, unary, type GrpcMethod, type GrpcServiceContext, type GrpcServiceModule } from './service-module.js';
import { enabledAuth, keyWriteRefusal, recipeRefusal, requirePermitted } from './auth-guard.js';

export function createLockMethods(ctx: GrpcServiceContext): GrpcMethod[] {
  const { api } = ctx;
  return serviceMethods(LockService, {
    lock: unary(LockService.lock, async (req, call) => {
      if (enabledAuth(api) !== undefined) await requirePermitted(api, call, recipeRefusal(req.name, ['read', 'write'])).catch(rethrowAsRecipeError);
      const res = await api.lock.lock(req, call.signal).catch(rethrowAsRecipeError);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    unlock: unary(LockService.unlock, async (req, call) => {
      if (enabledAuth(api) !== undefined) await requirePermitted(api, call, keyWriteRefusal(req.key)).catch(rethrowAsRecipeError);
      const res = await api.lock.unlock(req).catch(rethrowAsRecipeError);
      return { ...res, header: completeHeader(api, res.header) };
    }),
  });
}

export const lockServiceModule: GrpcServiceModule = {
  name: 'v3lockpb.Lock',
  methods: createLockMethods,
};
