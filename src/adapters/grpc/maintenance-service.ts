// etcdserverpb.Maintenance: Status, HashKV, MoveLeader, Alarm, Defragment, Hash and Snapshot
// (etcdserver/api/v3rpc/maintenance.go, snapshot-stream.ts); the others answer UNIMPLEMENTED until their modules exist.
import {
  MaintenanceService,
  type AlarmRequest,
  type AlarmResponse,
  type DefragmentResponse,
  type HashResponse,
  type HashKVRequest,
  type HashKVResponse,
  type MoveLeaderRequest,
  type MoveLeaderResponse,
  type StatusResponse,
} from '../../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { serverStream, serviceMethods, unary, type GrpcServiceContext, type GrpcServiceModule } from './service-module.js';
import { enabledAuth, requireMaintenanceAdmin, requireValidTokenForMaintenance } from './auth-guard.js';
import { serveSnapshot } from './snapshot-stream.js';

export function createMaintenanceMethods(ctx: GrpcServiceContext) {
  const { api } = ctx;
  return serviceMethods(MaintenanceService, {
    status: unary(MaintenanceService.status, async (): Promise<StatusResponse> => {
      const st = await api.status();
      const raft = api.raft();
      return {
        header: api.header(st.revision),
        version: api.version,
        dbSize: BigInt(st.dbSizeBytes),
        leader: raft.leader,
        raftIndex: BigInt(raft.committedIndex),
        raftTerm: BigInt(raft.term),
        raftAppliedIndex: BigInt(st.raftIndex),
        // etcd lists each alarm as its AlarmMember text, then anything else wrong.
        errors: [...st.alarms.map((alarm) => `memberID:${api.member.memberId} alarm:${alarm} `), ...st.errors],
        dbSizeInUse: BigInt(st.dbSizeInUseBytes),
        isLearner: raft.isLearner,
      };
    }),
    hashKv: unary(MaintenanceService.hashKv, async (req: HashKVRequest, call): Promise<HashKVResponse> => {
      // etcd's authMaintenanceServer: Defragment, Snapshot, Hash and HashKV need root.
      if (enabledAuth(api) !== undefined) await requireMaintenanceAdmin(api, call);
      // compacted / futureRev reject as EtcdError kinds; the wrapper maps them to etcd's statuses.
      const h = await api.hashKv(req.revision);
      // etcd reports the current revision in the header, not the hashed one.
      return { header: api.header(h.revision), hash: h.hash, compactRevision: BigInt(h.compactRevision) };
    }),
    alarm: unary(MaintenanceService.alarm, async (req: AlarmRequest, call): Promise<AlarmResponse> => {
      // Any client may get, activate or deactivate alarms, as in etcd (no permission is checked);
      // only a token sent must be valid, as for every request etcd proposes.
      await requireValidTokenForMaintenance(api, call);
      // etcd answers straight from its apply step, with no header.
      return { ...(await api.maintenance.alarm(req)), header: undefined };
    }),
    defragment: unary(MaintenanceService.defragment, async (_req, call): Promise<DefragmentResponse> => {
      if (enabledAuth(api) !== undefined) await requireMaintenanceAdmin(api, call);
      await api.maintenance.defragment();
      // etcd answers with an empty response (no header).
      return { header: undefined };
    }),
    hash: unary(MaintenanceService.hash, async (_req, call): Promise<HashResponse> => {
      if (enabledAuth(api) !== undefined) await requireMaintenanceAdmin(api, call);
      const h = await api.maintenance.hash();
      return { header: api.header(h.revision), hash: h.hash };
    }),
    moveLeader: unary(MaintenanceService.moveLeader, async (req: MoveLeaderRequest, call): Promise<MoveLeaderResponse> => {
      // etcd waits on the call's context: the client's deadline bounds the transfer.
      await api.moveLeader(req.targetID, call.deadline === undefined ? undefined : call.deadline - Date.now());
      // etcd answers with an empty response (no header).
      return { header: undefined };
    }),
    snapshot: serverStream(MaintenanceService.snapshot, async (_req, call, out) => {
      if (enabledAuth(api) !== undefined) await requireMaintenanceAdmin(api, call);
      await serveSnapshot(api, call, out);
    }),
  });
}

export const maintenanceServiceModule: GrpcServiceModule = {
  name: 'etcdserverpb.Maintenance',
  methods: createMaintenanceMethods,
};
