// v3electionpb.Election: decode → the core's ElectionApi → encode. Observe's loop is the core's; this
// module only hands it a sink over the response stream and the call's signal. Errors reach the client
// as etcd's do (asRecipeError).
import { ElectionService } from '../../gen/etcd/etcdserver/api/v3election/v3electionpb/v3election.js';
import type { LeaderSink } from '../../core/concurrency-api.js';
import { rethrowAsRecipeError } from './error-status.js';
import { completeHeader, serverStream, serviceMethods, unary, type GrpcMethod, type GrpcServiceContext, type GrpcServiceModule } from './service-module.js';
import { drained } from './stream-drained.js';
import { enabledAuth, keyWriteRefusal, proclaimRefusal, recipeRefusal, requirePermitted } from './auth-guard.js';

export function createElectionMethods(ctx: GrpcServiceContext): GrpcMethod[] {
  const { api } = ctx;
  const election = api.election;
  return serviceMethods(ElectionService, {
    campaign: unary(ElectionService.campaign, async (req, call) => {
      if (enabledAuth(api) !== undefined) await requirePermitted(api, call, recipeRefusal(req.name, ['read', 'write'])).catch(rethrowAsRecipeError);
      const res = await election.campaign(req, call.signal).catch(rethrowAsRecipeError);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    proclaim: unary(ElectionService.proclaim, async (req, call) => {
      if (enabledAuth(api) !== undefined) {
        await requirePermitted(api, call, proclaimRefusal(req.leader?.name ?? new Uint8Array(0), req.leader?.key ?? new Uint8Array(0))).catch(rethrowAsRecipeError);
      }
      const res = await election.proclaim(req).catch(rethrowAsRecipeError);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    leader: unary(ElectionService.leader, async (req, call) => {
      if (enabledAuth(api) !== undefined) await requirePermitted(api, call, recipeRefusal(req.name, ['read'])).catch(rethrowAsRecipeError);
      const res = await election.leader(req).catch(rethrowAsRecipeError);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    resign: unary(ElectionService.resign, async (req, call) => {
      if (enabledAuth(api) !== undefined) await requirePermitted(api, call, keyWriteRefusal(req.leader?.key ?? new Uint8Array(0))).catch(rethrowAsRecipeError);
      const res = await election.resign(req).catch(rethrowAsRecipeError);
      return { ...res, header: completeHeader(api, res.header) };
    }),
    observe: serverStream(ElectionService.observe, async (req, call, out) => {
      if (enabledAuth(api) !== undefined) await requirePermitted(api, call, recipeRefusal(req.name, ['read'])).catch(rethrowAsRecipeError);
      const sink: LeaderSink = {
        send: (res) => out.send({ ...res, header: completeHeader(api, res.header) }),
        drained: () => drained(out, call.signal),
      };
      await election.observe(req, sink, call.signal).catch(rethrowAsRecipeError);
    }),
  });
}

export const electionServiceModule: GrpcServiceModule = {
  name: 'v3electionpb.Election',
  methods: createElectionMethods,
};
