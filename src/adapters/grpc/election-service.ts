// v3electionpb.Election: decode → the core's ElectionApi → encode. Observe's loop is the core's; this
// module only hands it a sink over the response stream and the call's signal. Errors reach the client
// as etcd's do (asRecipeError). Nothing is checked here: as etcd's v3election, the recipe's requests
// are checked as the caller's.
import { ElectionService } from '../../gen/etcd/etcdserver/api/v3election/v3electionpb/v3election.js';
import type { LeaderSink } from '../../core/concurrency-api.js';
import { rethrowAsRecipeError } from './error-status.js';
import { completeHeader, serverStream, serviceMethods, unary, type GrpcMethod, type GrpcServiceContext, type GrpcServiceModule } from './service-module.js';
import { drained } from './stream-drained.js';
import { recipeCallerOf } from './auth-guard.js';

export function createElectionMethods(ctx: GrpcServiceContext): GrpcMethod[] {
  const { api } = ctx;
  const election = api.election;
  return serviceMethods(ElectionService, {
    campaign: unary(ElectionService.campaign, async (req, call) => {
      const caller = await recipeCallerOf(api, call).catch(rethrowAsRecipeError);
      const res = await election.campaign(req, call.signal, caller).catch(rethrowAsRecipeError);
      // The call ended (its client left, or its tenant changed) as it was elected: it resigns.
      if (call.signal.aborted && res.leader !== undefined) await election.resign({ leader: res.leader }, caller).catch(() => undefined);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    proclaim: unary(ElectionService.proclaim, async (req, call) => {
      const caller = await recipeCallerOf(api, call).catch(rethrowAsRecipeError);
      const res = await election.proclaim(req, caller).catch(rethrowAsRecipeError);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    leader: unary(ElectionService.leader, async (req, call) => {
      const caller = await recipeCallerOf(api, call).catch(rethrowAsRecipeError);
      const res = await election.leader(req, caller).catch(rethrowAsRecipeError);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    resign: unary(ElectionService.resign, async (req, call) => {
      const caller = await recipeCallerOf(api, call).catch(rethrowAsRecipeError);
      const res = await election.resign(req, caller).catch(rethrowAsRecipeError);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    observe: serverStream(ElectionService.observe, async (req, call, out) => {
      const caller = await recipeCallerOf(api, call).catch(rethrowAsRecipeError);
      const sink: LeaderSink = {
        send: (res) => out.send({ ...res, header: completeHeader(api, res.header) }),
        drained: () => drained(out, call.signal),
      };
      await election.observe(req, sink, call.signal, caller).catch(rethrowAsRecipeError);
    }),
  });
}

export const electionServiceModule: GrpcServiceModule = {
  name: 'v3electionpb.Election',
  methods: createElectionMethods,
};
