// etcdserverpb.Cluster: MemberList for this single member (etcdserver/api/v3rpc/member.go); the
// membership changes answer UNIMPLEMENTED for now.
import { ClusterService, type MemberListResponse } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { unary, withUnimplemented, type GrpcServiceContext, type GrpcServiceModule } from './service-module.js';

export function createClusterHandlers(ctx: GrpcServiceContext) {
  const { api, log } = ctx;
  return {
    memberList: unary(log, async (): Promise<MemberListResponse> => {
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
  };
}

export const clusterServiceModule: GrpcServiceModule = {
  name: 'etcdserverpb.Cluster',
  register(server, ctx) {
    server.addService(ClusterService, withUnimplemented(ClusterService, createClusterHandlers(ctx)));
  },
};
