// v3electionpb.Election: decode → the core's ElectionApi → encode. Observe's loop is the core's; this
// module only hands it a sink over the grpc-js stream and a signal that fires when the call goes.
import type { ServerWritableStream } from '@grpc/grpc-js';
import {
  ElectionService,
  type ElectionServer,
  type LeaderRequest,
  type LeaderResponse,
} from '../../gen/etcd/etcdserver/api/v3election/v3electionpb/v3election.js';
import type { ElectionApi, LeaderSink } from '../../core/concurrency-api.js';
import { callSignal } from './call-signal.js';
import { asRecipeError } from './error-status.js';

const rethrowAsRecipeError = (err: unknown): never => {
  throw asRecipeError(err);
};
import { toGrpcStatus, toServiceError, type ErrorLogger } from './error-status.js';
import { completeHeader, unary, type GrpcServiceModule } from './service-module.js';
import type { ServerApi } from '../../core/kv-api.js';

type ObserveCall = ServerWritableStream<LeaderRequest, LeaderResponse>;

function serveObserve(call: ObserveCall, api: ServerApi, election: ElectionApi, log: ErrorLogger): void {
  const signal = callSignal(call);
  const sink: LeaderSink = {
    send: (res) => call.write({ ...res, header: completeHeader(api, res.header) }),
    drained: () =>
      new Promise<void>((resolve) => {
        const done = (): void => {
          call.off('drain', done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        call.on('drain', done);
        signal.addEventListener('abort', done);
      }),
  };
  election.observe(call.request, sink, signal).then(
    () => {
      if (!signal.aborted) call.end();
    },
    (err: unknown) => {
      if (!signal.aborted) call.emit('error', toServiceError(toGrpcStatus(asRecipeError(err), log)));
    },
  );
}

export const electionServiceModule: GrpcServiceModule = {
  name: 'v3electionpb.Election',
  register(server, ctx) {
    const { api, log } = ctx;
    const election = api.election;
    const handlers: ElectionServer = {
      campaign: unary(log, async (req, call) => {
        const res = await election.campaign(req, callSignal(call)).catch(rethrowAsRecipeError);
        return { ...res, header: completeHeader(api, res.header) };
      }),
      proclaim: unary(log, async (req) => {
        const res = await election.proclaim(req).catch(rethrowAsRecipeError);
        return { ...res, header: completeHeader(api, res.header) };
      }),
      leader: unary(log, async (req) => {
        const res = await election.leader(req).catch(rethrowAsRecipeError);
        return { ...res, header: completeHeader(api, res.header) };
      }),
      resign: unary(log, async (req) => {
        const res = await election.resign(req).catch(rethrowAsRecipeError);
        return { ...res, header: completeHeader(api, res.header) };
      }),
      observe: (call: ObserveCall) => serveObserve(call, api, election, log),
    };
    server.addService(ElectionService, handlers);
  },
};
