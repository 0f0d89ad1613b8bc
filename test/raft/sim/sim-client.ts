// The simulation's client: proposes unique values to whoever it thinks leads, and makes
// linearizable reads through readIndex. A value is acknowledged when the member it was proposed to
// applies it (as an etcd server answers a put); a read is served once the member has applied up to
// the read's index, and must then include every value acknowledged before the read was issued and
// everything an earlier completed read saw.
import type { NodeId, ReadState } from '../../../src/raft/types.js';
import { encodeValue, type AppliedRecord } from './applied-record.js';
import type { Prng } from './prng.js';
import type { SimMember } from './sim-member.js';
import { SimViolation } from './sim-violation.js';

/** Reads waiting for their ReadState or their apply; beyond it a new read is not issued. */
export const maxPendingReads = 64;
/** A read not served within this many steps is abandoned (its ReadState was lost with a message). */
export const maxReadWaitSteps = 400;
/** Share of requests sent to a random member rather than the presumed leader. */
const otherMemberChance = 0.25;

interface PendingRead {
  readonly ctx: string;
  readonly member: NodeId;
  readonly incarnation: number;
  readonly issuedAt: number;
  /** The highest index acknowledged to the client before the read was issued. */
  readonly mustSeeIndex: number;
  /** The largest state an earlier completed read returned. */
  readonly mustSeeRead: number;
  readIndex: number | undefined;
}

export interface Acknowledged {
  readonly index: number;
  readonly step: number;
}

export class SimClient {
  private readonly proposedTo = new Map<string, NodeId>();
  readonly acknowledged = new Map<string, Acknowledged>();
  private pendingReads: PendingRead[] = [];
  private nextValue = 0;
  private nextRead = 0;
  private leaderGuess: NodeId = 0n;
  maxAckedIndex = 0;
  maxCompletedRead = 0;
  proposalsRefused = 0;
  readsServed = 0;

  constructor(
    private readonly prng: Prng,
    private readonly valuePrefix: string,
  ) {}

  proposals(): number {
    return this.proposedTo.size;
  }

  /** The member to talk to: the last known leader if it is running, otherwise any running member. */
  pickTarget(running: readonly SimMember[]): SimMember | undefined {
    const guessed = running.find((m) => m.id === this.leaderGuess);
    // Now and then a request goes elsewhere, as from another client: so requests reach both sides
    // of a partition, and a deposed leader is still asked while the new one acknowledges writes.
    if (guessed !== undefined && !this.prng.chance(otherMemberChance)) return guessed;
    if (running.length === 0) return undefined;
    return this.prng.pick(running);
  }

  propose(target: SimMember, value = `${this.valuePrefix}${this.nextValue++}`): string | undefined {
    const result = target.guard('propose', () => target.raft().propose(encodeValue(value)));
    this.learnLeader(target);
    if (!result.ok) {
      this.proposalsRefused++;
      return undefined;
    }
    this.proposedTo.set(value, target.id);
    return value;
  }

  read(target: SimMember, now: number): boolean {
    if (this.pendingReads.length >= maxPendingReads) return false;
    const ctx = `${this.valuePrefix}read${this.nextRead++}`;
    const result = target.guard('readIndex', () => target.raft().readIndex(encodeValue(ctx)));
    this.learnLeader(target);
    if (!result.ok) return false;
    this.pendingReads.push({
      ctx,
      member: target.id,
      incarnation: target.incarnation,
      issuedAt: now,
      mustSeeIndex: this.maxAckedIndex,
      mustSeeRead: this.maxCompletedRead,
      readIndex: undefined,
    });
    return true;
  }

  private learnLeader(target: SimMember): void {
    const lead = target.softState.lead;
    if (lead !== 0n) this.leaderGuess = lead;
  }

  onApplied(member: SimMember, record: AppliedRecord, now: number): void {
    if (record.kind !== 'value' || this.proposedTo.get(record.value) !== member.id || this.acknowledged.has(record.value)) return;
    this.acknowledged.set(record.value, { index: record.index, step: now });
    this.maxAckedIndex = Math.max(this.maxAckedIndex, record.index);
  }

  onReadState(member: SimMember, readState: ReadState): void {
    const ctx = new TextDecoder().decode(readState.requestCtx);
    const read = this.pendingReads.find((r) => r.ctx === ctx && r.member === member.id && r.incarnation === member.incarnation);
    if (read === undefined || read.readIndex !== undefined) return;
    const needed = Math.max(read.mustSeeIndex, read.mustSeeRead);
    if (readState.index < needed) {
      throw new SimViolation(
        'linearizable read',
        `read ${ctx} issued at step ${read.issuedAt} on member ${member.id} got read index ${readState.index}, but index ${read.mustSeeIndex} was acknowledged and a read saw ${read.mustSeeRead} before it was issued`,
      );
    }
    read.readIndex = readState.index;
  }

  /** Serves the member's reads whose index it has applied; drops reads of a member that restarted or that waited too long. */
  serveReads(members: ReadonlyMap<NodeId, SimMember>, now: number): void {
    if (this.pendingReads.length === 0) return;
    const waiting: PendingRead[] = [];
    for (const read of this.pendingReads) {
      const member = members.get(read.member);
      if (member === undefined || !member.isUp() || member.incarnation !== read.incarnation) continue;
      if (member.state === 'running' && read.readIndex !== undefined && member.appliedIndex >= read.readIndex) {
        this.readsServed++;
        this.maxCompletedRead = Math.max(this.maxCompletedRead, member.appliedIndex);
        continue;
      }
      if (now - read.issuedAt < maxReadWaitSteps) waiting.push(read);
    }
    this.pendingReads = waiting;
  }
}
