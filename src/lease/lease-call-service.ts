// The leader's side of the lease calls (lease-calls.ts): decode, answer from this member's primary
// lessor, encode. A call is never forwarded again: a member that is not primary refuses with
// 'notLeader' and the caller finds the leader itself, so a stale view cannot make calls go round.
import { keyBytes } from '../core/keys.js';
import type { PeerCallAnswer } from '../peer/peer-call.js';
import { leaseCallCodecs, leaseCallMethods, leaseCallRefusalText, type LeaseCallRefusal } from './lease-calls.js';
import type { LeasePrimary, PrimaryAnswer } from './lease-primary.js';

const refuse = (code: LeaseCallRefusal): PeerCallAnswer => ({ kind: 'refused', code, text: leaseCallRefusalText[code] });

const refusalOf = (a: Exclude<PrimaryAnswer<unknown>, { kind: 'answer' }>): PeerCallAnswer => refuse(a.kind === 'notFound' ? 'leaseNotFound' : 'notLeader');

export class LeaseCallService {
  constructor(private readonly primary: LeasePrimary) {}

  /** A PeerCallHandler for the lease methods; other methods are refused as unknown. */
  async handle(method: string, body: Uint8Array): Promise<PeerCallAnswer> {
    switch (method) {
      case leaseCallMethods.renew: {
        const req = leaseCallCodecs.renew.request.decode(body);
        const a = await this.primary.renew(req.ID);
        if (a.kind !== 'answer') return refusalOf(a);
        return { kind: 'answer', body: leaseCallCodecs.renew.answer.encode({ header: undefined, ID: req.ID, TTL: a.value }).finish() };
      }
      case leaseCallMethods.timeToLive: {
        const req = leaseCallCodecs.timeToLive.request.decode(body);
        const a = await this.primary.timeToLive(req.ID, req.keys);
        if (a.kind !== 'answer') return refusalOf(a);
        const res = { header: undefined, ID: req.ID, TTL: BigInt(a.value.remainingSeconds), grantedTTL: BigInt(a.value.ttlSeconds), keys: a.value.keys.map(keyBytes) };
        return { kind: 'answer', body: leaseCallCodecs.timeToLive.answer.encode(res).finish() };
      }
      case leaseCallMethods.leases: {
        const a = await this.primary.leases();
        if (a.kind !== 'answer') return refusalOf(a);
        return { kind: 'answer', body: leaseCallCodecs.leases.answer.encode({ header: undefined, leases: a.value.map((ID) => ({ ID })) }).finish() };
      }
      default:
        return { kind: 'refused', code: 'unknownMethod', text: `unknown lease call ${method}` };
    }
  }
}
