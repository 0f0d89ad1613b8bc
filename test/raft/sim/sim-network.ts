// The simulated network between members: every message gets a delivery step drawn from a seeded
// source (so messages overtake each other), and may be dropped or duplicated; links can be cut one
// way or both ways. Messages to a paused member wait; messages to a crashed or retired member are lost.
import { MessageType, type Message, type NodeId } from '../../../src/raft/types.js';
import type { Prng } from './prng.js';

/** Messages in flight at once; beyond it new messages are dropped, as a full socket buffer would. */
export const maxInFlightMessages = 20_000;

export interface NetworkFaults {
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice (each copy with its own delay). */
  duplicateRate: number;
  /** Delivery happens 1 .. maxDelaySteps steps after sending. */
  maxDelaySteps: number;
}

export const calmNetwork: NetworkFaults = { dropRate: 0, duplicateRate: 0, maxDelaySteps: 1 };

export interface InFlight {
  readonly message: Message;
  /**
   * The member whose Ready held the message. Usually message.from, but a forwarded proposal keeps
   * its original sender in `from` (etcd stamps the forwarder's ID instead): links are judged by this.
   */
  readonly sender: NodeId;
  readonly deliverAt: number;
  readonly seq: number;
  /** The sender's incarnation, so a report (snapshot status, unreachable) never reaches a restarted core. */
  readonly senderIncarnation: number;
}

export type Delivery = 'deliver' | 'hold' | 'lose';

export interface LostMessage {
  readonly item: InFlight;
  readonly reason: string;
}

const linkKey = (from: NodeId, to: NodeId): string => `${from}>${to}`;

export class SimNetwork {
  faults: NetworkFaults = { ...calmNetwork };
  /** Scenario hook: a message for which this returns false is dropped at sending. */
  filter: ((message: Message) => boolean) | undefined;
  private queue: InFlight[] = [];
  private seq = 0;
  private blocked = new Set<string>();
  sent = 0;
  delivered = 0;
  dropped = 0;

  constructor(private readonly prng: Prng) {}

  send(message: Message, sender: NodeId, now: number, senderIncarnation: number): LostMessage | undefined {
    this.sent++;
    const copies = this.prng.chance(this.faults.duplicateRate) ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      const item: InFlight = {
        message,
        sender,
        deliverAt: now + this.prng.int(1, Math.max(1, this.faults.maxDelaySteps)),
        seq: this.seq++,
        senderIncarnation,
      };
      const reason =
        this.filter !== undefined && !this.filter(message)
          ? 'filtered'
          : this.isBlocked(message.from, message.to)
            ? 'partitioned'
            : this.prng.chance(this.faults.dropRate)
              ? 'dropped'
              : this.queue.length >= maxInFlightMessages
                ? 'network full'
                : undefined;
      if (reason !== undefined) {
        this.dropped++;
        if (copy === 0) return { item, reason };
        continue;
      }
      this.queue.push(item);
    }
    return undefined;
  }

  /**
   * Takes the messages due at `now`, in delivery order; `fate` says per message whether its
   * destination takes it, keeps it waiting (paused) or loses it. Lost ones are returned too.
   */
  due(now: number, fate: (item: InFlight) => Delivery): { deliver: InFlight[]; lost: LostMessage[] } {
    const deliver: InFlight[] = [];
    const lost: LostMessage[] = [];
    const waiting: InFlight[] = [];
    for (const item of this.queue) {
      if (item.deliverAt > now) {
        waiting.push(item);
        continue;
      }
      if (this.isBlocked(item.sender, item.message.to)) {
        this.dropped++;
        lost.push({ item, reason: 'partitioned' });
        continue;
      }
      const verdict = fate(item);
      if (verdict === 'hold') waiting.push(item);
      else if (verdict === 'lose') {
        this.dropped++;
        lost.push({ item, reason: 'destination down' });
      } else deliver.push(item);
    }
    this.queue = waiting;
    deliver.sort((a, b) => a.deliverAt - b.deliverAt || a.seq - b.seq);
    this.delivered += deliver.length;
    return { deliver, lost };
  }

  inFlight(): number {
    return this.queue.length;
  }

  block(from: NodeId, to: NodeId): void {
    this.blocked.add(linkKey(from, to));
  }

  unblock(from: NodeId, to: NodeId): void {
    this.blocked.delete(linkKey(from, to));
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blocked.size > 0 && this.blocked.has(linkKey(from, to));
  }

  /** Cuts every link between the groups (both ways); members in no group keep all links. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const from of a) for (const to of b) this.block(from, to);
      }
    }
  }

  /** Cuts links from `from` to each of `to` only: they do not hear it, it still hears them. */
  partitionOneWay(from: readonly NodeId[], to: readonly NodeId[]): void {
    for (const f of from) for (const t of to) if (f !== t) this.block(f, t);
  }

  heal(): void {
    this.blocked.clear();
  }

  partitioned(): boolean {
    return this.blocked.size > 0;
  }
}

const typeNames: Record<number, string> = {
  [MessageType.Hup]: 'Hup',
  [MessageType.Beat]: 'Beat',
  [MessageType.Prop]: 'Prop',
  [MessageType.App]: 'App',
  [MessageType.AppResp]: 'AppResp',
  [MessageType.Vote]: 'Vote',
  [MessageType.VoteResp]: 'VoteResp',
  [MessageType.Snap]: 'Snap',
  [MessageType.Heartbeat]: 'Heartbeat',
  [MessageType.HeartbeatResp]: 'HeartbeatResp',
  [MessageType.Unreachable]: 'Unreachable',
  [MessageType.SnapStatus]: 'SnapStatus',
  [MessageType.CheckQuorum]: 'CheckQuorum',
  [MessageType.TransferLeader]: 'TransferLeader',
  [MessageType.TimeoutNow]: 'TimeoutNow',
  [MessageType.ReadIndex]: 'ReadIndex',
  [MessageType.ReadIndexResp]: 'ReadIndexResp',
  [MessageType.PreVote]: 'PreVote',
  [MessageType.PreVoteResp]: 'PreVoteResp',
};

/** One line for the trace: `2->3 App t4 lt3 i10 c9 ents[11@4,12@4]`. */
export function describeMessage(m: Message): string {
  const parts = [`${m.from}->${m.to} ${typeNames[m.type] ?? `type${m.type}`} t${m.term}`];
  if (m.logTerm !== 0 || m.index !== 0) parts.push(`lt${m.logTerm} i${m.index}`);
  if (m.commit !== 0) parts.push(`c${m.commit}`);
  if (m.entries.length > 0) {
    const shown = m.entries.slice(0, 4).map((e) => `${e.index}@${e.term}`);
    if (m.entries.length > 4) shown.push(`..${m.entries.length}`);
    parts.push(`ents[${shown.join(',')}]`);
  }
  if (m.snapshot !== undefined) {
    const { index, term, confState } = m.snapshot.metadata;
    parts.push(`snap${index}@${term} voters[${confState.voters.join(',')}] learners[${confState.learners.join(',')}]`);
  }
  if (m.reject) parts.push(`reject hint${m.rejectHint}`);
  return parts.join(' ');
}
