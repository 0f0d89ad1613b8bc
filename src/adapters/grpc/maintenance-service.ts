// etcdserverpb.Maintenance: Status and HashKV for now (etcdserver/api/v3rpc/maintenance.go); the
// other methods answer UNIMPLEMENTED until their modules exist.
import { MaintenanceService, type HashKVRequest, type HashKVResponse, type StatusResponse } from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { serviceMethods, unary, type GrpcServiceContext, type GrpcServiceModule } from './service-module.js';

export function createMaintenanceMethods(ctx: GrpcServiceContext) {
  const { api } = ctx;
  return serviceMethods(MaintenanceService, {
    status: unary(MaintenanceService.status, async (): Promise<StatusResponse> => {
      const st = await api.status();
      return {
        header: api.header(st.revision),
        version: api.version,
        dbSize: BigInt(st.dbSizeBytes),
        // a single member is always its own leader
        leader: api.member.memberId,
        raftIndex: BigInt(st.raftIndex),
        raftTerm: BigInt(st.raftTerm),
        // StoreStatus has one index: this member applies what it commits before answering
        raftAppliedIndex: BigInt(st.raftIndex),
        // etcd lists each alarm as its AlarmMember text, then anything else wrong.
        errors: [...st.alarms.map((alarm) => `memberID:${api.member.memberId} alarm:${alarm} `), ...st.errors],
        dbSizeInUse: BigInt(st.dbSizeInUseBytes),
        isLearner: false,
      };
    }),
    hashKv: unary(MaintenanceService.hashKv, async (req: HashKVRequest): Promise<HashKVResponse> => {
      // compacted / futureRev reject as EtcdError kinds; the wrapper maps them to etcd's statuses.
      const h = await api.hashKv(req.revision);
      // etcd reports the current revision in the header, not the hashed one.
      return { header: api.header(h.revision), hash: h.hash, compactRevision: BigInt(h.compactRevision) };
    }),
  });
}

export const maintenanceServiceModule: GrpcServiceModule = {
  name: 'etcdserverpb.Maintenance',
  methods: createMaintenanceMethods,
};
