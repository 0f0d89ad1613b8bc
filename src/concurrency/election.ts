// etcd's v3election service: clientv3/concurrency's Election. A candidate's key is
// `<name>/<lease in hex>`; the key created first under the prefix is the leader, and a campaign
// returns once every key created before the candidate's is gone. Proclaim and Resign act only while
// the key still has the create revision the campaign saw, so a deposed leader cannot write.
import type { ElectionApi, LeaderSink, RecipeCaller } from '../core/concurrency-api.js';
import { EtcdError } from '../core/errors.js';
import { keyRange } from '../core/keys.js';
import type { Compare, ResponseHeader } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { Compare_CompareResult, Compare_CompareTarget } from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import type {
  CampaignRequest,
  CampaignResponse,
  LeaderKey,
  LeaderRequest,
  LeaderResponse,
  ProclaimRequest,
  ProclaimResponse,
  ResignRequest,
  ResignResponse,
} from '../gen/etcd/etcdserver/api/v3election/v3electionpb/v3election.js';
import { toKeyValue } from '../mvcc/kv-record.js';
import { watchRange } from './key-events.js';
import { prefixEnd } from '../core/keys.js';
import { leaseHex, rangeAs, sessionLease, singleKey, topByCreate, type RecipeDeps } from './recipe-deps.js';
import { waitDeletes } from './wait-deletes.js';

const EMPTY = Buffer.alloc(0);
const createdAt = (key: Buffer, rev: bigint): Compare => ({
  key,
  rangeEnd: EMPTY,
  target: Compare_CompareTarget.CREATE,
  result: Compare_CompareResult.EQUAL,
  createRevision: rev,
});
const put = (key: Buffer, value: Buffer, lease: bigint) => ({ requestPut: { key, value, lease, prevKv: false, ignoreValue: false, ignoreLease: false } });
const prefixOf = (name: Buffer): Buffer => Buffer.concat([name, Buffer.from('/')]);

export class ElectionRecipe implements ElectionApi {
  constructor(private readonly deps: RecipeDeps) {}

  async campaign(req: CampaignRequest, signal: AbortSignal, caller: RecipeCaller): Promise<CampaignResponse> {
    const lease = await sessionLease(this.deps, req.lease);
    const prefix = prefixOf(req.name);
    const key = Buffer.concat([prefix, Buffer.from(leaseHex(lease))]);
    const resp = await this.deps.kv.txn({ compare: [createdAt(key, 0n)], success: [put(key, req.value, lease)], failure: [{ requestRange: singleKey(key) }] }, caller.writeHeader());
    const leader: LeaderKey = { name: req.name, key, rev: resp.header?.revision ?? 0n, lease };
    if (!resp.succeeded) {
      const kv = resp.responses[0]?.responseRange?.kvs[0];
      leader.rev = kv?.createRevision ?? 0n;
      if (kv !== undefined && !kv.value.equals(req.value)) {
        try {
          await this.proclaim({ leader, value: req.value }, caller);
        } catch (e) {
          await this.resign({ leader }, caller).catch(() => undefined);
          throw e;
        }
      }
    }
    try {
      await waitDeletes(this.deps, caller, prefix, leader.rev - 1n, signal);
    } catch (e) {
      // Election.Campaign resigns when its caller goes away, so no key of a gone candidate remains
      // (etcd's resigns without the caller's token, refused once auth is on; here as the caller).
      if (signal.aborted) await this.resign({ leader }, caller).catch(() => undefined);
      throw e;
    }
    return { header: resp.header, leader };
  }

  async proclaim(req: ProclaimRequest, caller: RecipeCaller): Promise<ProclaimResponse> {
    const leader = req.leader;
    if (leader === undefined) throw new EtcdError('missingLeaderKey');
    const resp = await this.deps.kv.txn({ compare: [createdAt(leader.key, leader.rev)], success: [put(leader.key, req.value, leader.lease)], failure: [] }, caller.writeHeader());
    if (!resp.succeeded) throw new EtcdError('electionNotLeader');
    return { header: resp.header };
  }

  async leader(req: LeaderRequest, caller: RecipeCaller): Promise<LeaderResponse> {
    const resp = await rangeAs(this.deps, caller, topByCreate(prefixOf(req.name), 'first'));
    const kv = resp.kvs[0];
    if (kv === undefined) throw new EtcdError('electionNoLeader');
    return { header: resp.header, kv };
  }

  async resign(req: ResignRequest, caller: RecipeCaller): Promise<ResignResponse> {
    const leader = req.leader;
    if (leader === undefined) throw new EtcdError('missingLeaderKey');
    const resp = await this.deps.kv.txn({
      compare: [createdAt(leader.key, leader.rev)],
      success: [{ requestDeleteRange: { key: leader.key, rangeEnd: EMPTY, prevKv: false } }],
      failure: [],
    }, caller.writeHeader());
    return { header: resp.header };
  }

  /**
   * clientv3's Election.observe: find the leader (or wait for the first put under the prefix), send
   * it, then send each put of that key until it is deleted, and start over.
   */
  async observe(req: LeaderRequest, sink: LeaderSink, signal: AbortSignal, caller: RecipeCaller): Promise<void> {
    const prefix = prefixOf(req.name);
    const send = async (res: LeaderResponse): Promise<void> => {
      if (!sink.send(res)) await sink.drained();
    };
    while (!signal.aborted) {
      const resp = await rangeAs(this.deps, caller, topByCreate(prefix, 'first'));
      let kv = resp.kvs[0];
      let header: ResponseHeader | undefined = resp.header;
      if (kv === undefined) {
        const startRevision = Number(resp.header?.revision ?? 0n);
        caller.requireRead(prefix, prefixEnd(prefix));
        const events = watchRange(this.deps.watch, keyRange(prefix, prefixEnd(prefix)), startRevision, signal);
        for await (const change of events) {
          if (change.record.tombstone) continue;
          kv = toKeyValue(change.record);
          header = this.deps.lease.header();
          header.revision = kv.modRevision;
          break;
        }
        if (kv === undefined) return;
      }
      await send({ header, kv });
      caller.requireRead(kv.key, EMPTY);
      const events = watchRange(this.deps.watch, keyRange(kv.key, EMPTY), Number(header?.revision ?? 0n) + 1, signal);
      for await (const change of events) {
        if (change.record.tombstone) break;
        await send({ header: { ...this.deps.lease.header(), revision: BigInt(change.record.modRevision) }, kv: toKeyValue(change.record) });
      }
    }
  }
}
