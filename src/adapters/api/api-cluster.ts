// /api/members, /api/status and /api/compaction: what a console shows about the cluster and this
// member (leader, revision, db size vs in use, raft index, alarms).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './api-errors.js';
import type { ApiContext } from './api-context.js';
import { optionalBool, optionalCount, parseJsonObject, readBody, type BodyLimits } from './api-request.js';
import { ApiError } from './api-errors.js';

const hex = (id: bigint): string => id.toString(16);

export class ClusterRoutes {
  constructor(
    private readonly ctx: ApiContext,
    private readonly body: BodyLimits,
  ) {}

  async members(res: ServerResponse): Promise<void> {
    const members = await this.ctx.api.cluster.memberList(false);
    const leader = this.ctx.api.raft().leader;
    sendJson(res, 200, {
      members: members.map((m) => ({
        id: m.id.toString(),
        id_hex: hex(m.id),
        name: m.name,
        peer_urls: m.peerUrls,
        client_urls: m.clientUrls,
        is_learner: m.isLearner,
        is_leader: m.id === leader,
      })),
    });
  }

  async status(res: ServerResponse): Promise<void> {
    const { api } = this.ctx;
    const st = await api.status();
    const raft = api.raft();
    sendJson(res, 200, {
      name: api.member.name,
      member_id: api.member.memberId.toString(),
      member_id_hex: hex(api.member.memberId),
      cluster_id: api.member.clusterId.toString(),
      version: api.version,
      leader: raft.leader.toString(),
      leader_hex: hex(raft.leader),
      is_leader: raft.leader === api.member.memberId,
      is_learner: raft.isLearner,
      raft_term: st.raftTerm,
      raft_index: st.raftIndex,
      revision: st.revision,
      compact_revision: Math.max(st.compactRevision, 0),
      db_size: st.dbSizeBytes,
      db_size_in_use: st.dbSizeInUseBytes,
      alarms: st.alarms,
      errors: st.errors,
    });
  }

  /** POST /api/compaction {"revision": N, "physical"?: bool} → {revision}. */
  async compact(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const o = parseJsonObject(await readBody(req, this.body), ['revision', 'physical']);
    const revision = optionalCount(o, 'revision');
    if (revision === undefined || revision <= 0) throw new ApiError(400, 'invalidArgument', 'revision (> 0) is required');
    const r = await this.ctx.api.kv.compact({ revision: BigInt(revision), physical: optionalBool(o, 'physical') });
    sendJson(res, 200, { revision: Number(r.header?.revision ?? 0n), compacted: revision });
  }
}
