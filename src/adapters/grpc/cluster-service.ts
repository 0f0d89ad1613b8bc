// etcdserverpb.Cluster: MemberList for this single member (etcdserver/api/v3rpc/member.go); the
// membership changes answer UNIMPLEMENTED for now.
import { ClusterService, type MemberListResponse } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { serviceMethods, unary, type GrpcServiceContext, type GrpcServiceModule } from './service-module.js';

export function createClusterMethods(ctx: GrpcServiceContext) {
  const { api } = ctx;
  return serviceMethods(ClusterService, {
    memberList: unary(ClusterService.memberList, async (): Promise<MemberListResponse> => {
      const m = api.member;
      // etcd's ClusterServer.header() sets cluster/member ID and raft term but not the revision
      const header = { ...api.header(), revision: 0n };
      return {
        header,
        members: [
          {
            ID: m.memberId,
            name: m.name,
            peerURLs: [...m.peerUrls],
            clientURLs: [...m.clientUrls],
            isLearner: false,
          },
        ],
      };
    }),
  });
}

export const clusterServiceModule: GrpcServiceModule = {
  name: 'etcdserverpb.Cluster',
  methods: createClusterMethods,
};
