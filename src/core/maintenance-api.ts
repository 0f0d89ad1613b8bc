// What etcd's Maintenance service does beyond Status/HashKV/MoveLeader: alarms, defragment, Hash.
import type { AlarmRequest, AlarmResponse } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';

export interface MaintenanceApi {
  /** etcd's Alarm, through the log (GET too); the response's header is left to the adapter. */
  alarm(req: AlarmRequest): Promise<AlarmResponse>;
  /** Reclaims this member's disk space; other clients are served meanwhile. */
  defragment(): Promise<void>;
  /** CRC-32C of this member's whole store and the revision it is at. */
  hash(): Promise<{ readonly hash: number; readonly revision: number }>;
}
