// etcdserverpb.Cluster: decode → the core's ClusterApi → encode (etcdserver/api/v3rpc/member.go).
// Every answer carries etcd's ClusterServer.header(): cluster and member ID and Raft term, no revision.
import { ClusterService, type Member as ProtoMember, type ResponseHeader } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type { Member } from '../../core/cluster-api.js';
import { serviceMethods, unary, type GrpcMethod, type GrpcServiceContext, type GrpcServiceModule } from './service-module.js';
import { enabledAuth, requireAdmin } from './auth-guard.js';

export function toProtoMember(m: Member): ProtoMember {
  return { ID: m.id, name: m.name, peerURLs: [...m.peerUrls], clientURLs: [...m.clientUrls], isLearner: m.isLearner };
}

// etcd's checkMembershipOperationPermission: adding, removing, updating and promoting members need root.
export function createClusterMethods(ctx: GrpcServiceContext): GrpcMethod[] {
  const { api } = ctx;
  const cluster = api.cluster;
  const header = (): ResponseHeader => ({ ...api.header(), revision: 0n });
  const members = (ms: readonly Member[]): ProtoMember[] => ms.map(toProtoMember);
  return serviceMethods(ClusterService, {
    memberAdd: unary(ClusterService.memberAdd, async (req, call) => {
      if (enabledAuth(api) !== undefined) await requireAdmin(api, call);
      const res = await cluster.memberAdd(req.peerURLs, req.isLearner);
      // etcd answers the new member as it built it: ID, peer URLs and learner flag only.
      const { id, peerUrls, isLearner } = res.member;
      return { header: header(), member: { ID: id, name: '', peerURLs: [...peerUrls], clientURLs: [], isLearner }, members: members(res.members) };
    }),
    memberRemove: unary(ClusterService.memberRemove, async (req, call) => {
      if (enabledAuth(api) !== undefined) await requireAdmin(api, call);
      const ms = await cluster.memberRemove(req.ID);
      return { header: header(), members: members(ms) };
    }),
    memberUpdate: unary(ClusterService.memberUpdate, async (req, call) => {
      if (enabledAuth(api) !== undefined) await requireAdmin(api, call);
      const ms = await cluster.memberUpdate(req.ID, req.peerURLs);
      return { header: header(), members: members(ms) };
    }),
    // etcd 3.4's MemberListRequest has no `linearizable` field: its MemberList reads the local membership.
    memberList: unary(ClusterService.memberList, async () => {
      const ms = await cluster.memberList(false);
      return { header: header(), members: members(ms) };
    }),
    memberPromote: unary(ClusterService.memberPromote, async (req, call) => {
      if (enabledAuth(api) !== undefined) await requireAdmin(api, call);
      const ms = await cluster.memberPromote(req.ID);
      return { header: header(), members: members(ms) };
    }),
  });
}

export const clusterServiceModule: GrpcServiceModule = {
  name: 'etcdserverpb.Cluster',
  methods: createClusterMethods,
};
