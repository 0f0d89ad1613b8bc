// v3lockpb.Lock: decode → the core's LockApi → encode. A Lock call that is cancelled while waiting
// aborts the wait (the core removes its key). Errors reach the client as etcd's do (asRecipeError).
// Nothing is checked here: as etcd's v3lock, the recipe's requests are checked as the caller's.
import { LockService } from '../../gen/etcd/etcdserver/api/v3lock/v3lockpb/v3lock.js';
import { rethrowAsRecipeError } from './error-status.js';
import { completeHeader, serviceMethods, unary, type GrpcMethod, type GrpcServiceContext, type GrpcServiceModule } from './service-module.js';
import { recipeCallerOf } from './auth-guard.js';

export function createLockMethods(ctx: GrpcServiceContext): GrpcMethod[] {
  const { api } = ctx;
  return serviceMethods(LockService, {
    lock: unary(LockService.lock, async (req, call) => {
      const caller = await recipeCallerOf(api, call).catch(rethrowAsRecipeError);
      const res = await api.lock.lock(req, call.signal, caller).catch(rethrowAsRecipeError);
      // The call ended (its client left, or its tenant changed) as the lock was taken: nobody will
      // hear that they hold it, so nobody does.
      if (call.signal.aborted) await api.lock.unlock({ key: res.key }, caller).catch(() => undefined);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    unlock: unary(LockService.unlock, async (req, call) => {
      const caller = await recipeCallerOf(api, call).catch(rethrowAsRecipeError);
      const res = await api.lock.unlock(req, caller).catch(rethrowAsRecipeError);
      return { ...res, header: completeHeader(api, res.header) };
    }),
  });
}

export const lockServiceModule: GrpcServiceModule = {
  name: 'v3lockpb.Lock',
  methods: createLockMethods,
};
