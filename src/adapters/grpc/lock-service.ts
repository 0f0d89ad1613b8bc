// v3lockpb.Lock: decode → the core's LockApi → encode. A Lock call that is cancelled while waiting
// aborts the wait (the core removes its key).
import { LockService, type LockServer } from '../../gen/etcd/etcdserver/api/v3lock/v3lockpb/v3lock.js';
import { callSignal } from './call-signal.js';
import { asRecipeError } from './error-status.js';

const rethrowAsRecipeError = (err: unknown): never => {
  throw asRecipeError(err);
};
import { completeHeader, unary, type GrpcServiceModule } from './service-module.js';

export const lockServiceModule: GrpcServiceModule = {
  name: 'v3lockpb.Lock',
  register(server, ctx) {
    const { api, log } = ctx;
    const handlers: LockServer = {
      lock: unary(log, async (req, call) => {
        const res = await api.lock.lock(req, callSignal(call)).catch(rethrowAsRecipeError);
        return { ...res, header: completeHeader(api, res.header) };
      }),
      unlock: unary(log, async (req) => {
        const res = await api.lock.unlock(req).catch(rethrowAsRecipeError);
        return { ...res, header: completeHeader(api, res.header) };
      }),
    };
    server.addService(LockService, handlers);
  },
};
