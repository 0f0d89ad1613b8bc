// The safety properties of Raft, checked as the simulation runs: each check is made at the moment
// the state it is about changes (an append, a hard state, an apply, a new leader), so a violation is
// reported at the step that caused it. History is kept across crashes and restarts.
import type { ConfState, Entry, HardState, NodeId } from '../../../src/raft/types.js';
import { describeRecord, entryFingerprint, sameRecord, type AppliedRecord } from './applied-record.js';
import type { AppendOutcome } from './sim-disk.js';
import type { SimMember } from './sim-member.js';
import { SimViolation } from './sim-violation.js';

/** How many of the latest configurations may be the one a leader commits with (it applies them late). */
const configsConsideredForQuorum = 3;

interface CommittedEntry {
  readonly record: AppliedRecord;
  /** The highest term any leader had when this was first applied: its committing leader's term is at most this. */
  readonly leaderTermBound: number;
}

interface ConfigAt {
  readonly index: number;
  readonly voters: readonly NodeId[];
  readonly key: string;
}

const confKey = (c: ConfState): string =>
  `voters ${[...c.voters].sort().join(',')} learners ${[...c.learners].sort().join(',')}`;

export class InvariantChecker {
  private readonly leadersByTerm = new Map<number, NodeId>();
  private readonly votes = new Map<string, NodeId>();
  private readonly entriesByIndexTerm = new Map<string, { readonly prevTerm: number | undefined; readonly fingerprint: string }>();
  /** By index; position 0 unused. */
  private readonly committed: (CommittedEntry | undefined)[] = [];
  private readonly confByIndex = new Map<number, string>();
  private readonly configs: ConfigAt[] = [];
  maxLeaderTerm = 0;
  elections = 0;

  constructor(
    private readonly member: (id: NodeId) => SimMember | undefined,
    bootstrap: readonly AppliedRecord[],
    confState: ConfState,
  ) {
    for (const record of bootstrap) this.committed[record.index] = { record, leaderTermBound: 0 };
    this.configs.push({ index: bootstrap.length, voters: confState.voters, key: confKey(confState) });
    this.confByIndex.set(bootstrap.length, confKey(confState));
  }

  committedIndex(): number {
    return Math.max(0, this.committed.length - 1);
  }

  committedAt(index: number): AppliedRecord | undefined {
    return this.committed[index]?.record;
  }

  leaderOf(term: number): NodeId | undefined {
    return this.leadersByTerm.get(term);
  }

  onLeader(member: SimMember, term: number): void {
    const known = this.leadersByTerm.get(term);
    if (known !== undefined && known !== member.id) {
      throw new SimViolation('election safety', `members ${known} and ${member.id} are both leader in term ${term}`);
    }
    if (known === undefined) this.elections++;
    this.leadersByTerm.set(term, member.id);
    this.maxLeaderTerm = Math.max(this.maxLeaderTerm, term);
  }

  onHardState(member: SimMember, before: HardState, after: HardState): void {
    const where = `member ${member.id}: hard state t${before.term} v${before.vote} c${before.commit} -> t${after.term} v${after.vote} c${after.commit}`;
    if (after.term < before.term) throw new SimViolation('durable state', `${where}: term went back`);
    if (after.term === before.term && before.vote !== 0n && after.vote !== before.vote) {
      throw new SimViolation('durable state', `${where}: vote changed within a term`);
    }
    if (after.commit < before.commit) throw new SimViolation('durable state', `${where}: commit went back`);
    if (after.vote !== 0n) {
      const key = `${member.id}:${after.term}`;
      const earlier = this.votes.get(key);
      if (earlier !== undefined && earlier !== after.vote) {
        throw new SimViolation('election safety', `member ${member.id} voted for ${earlier} and then ${after.vote} in term ${after.term}`);
      }
      this.votes.set(key, after.vote);
    }
  }

  /** Log matching: an (index, term) pair always names the same entry and the same predecessor term. */
  onAppend(member: SimMember, outcome: AppendOutcome): void {
    let prevTerm = outcome.prevTerm;
    const written = new Map<number, Entry>();
    for (const entry of outcome.written) {
      written.set(entry.index, entry);
      const key = `${entry.index}:${entry.term}`;
      const fingerprint = entryFingerprint(entry);
      const seen = this.entriesByIndexTerm.get(key);
      if (seen === undefined) this.entriesByIndexTerm.set(key, { prevTerm, fingerprint });
      else if (seen.fingerprint !== fingerprint) {
        throw new SimViolation('log matching', `member ${member.id} wrote ${key} as ${fingerprint}, elsewhere it is ${seen.fingerprint}`);
      } else if (prevTerm !== undefined && seen.prevTerm !== undefined && prevTerm !== seen.prevTerm) {
        throw new SimViolation(
          'log matching',
          `member ${member.id} wrote ${key} after an entry of term ${prevTerm}, elsewhere it follows term ${seen.prevTerm}`,
        );
      }
      prevTerm = entry.term;
    }
    const commit = member.disk.hardState().commit;
    for (const old of outcome.replaced) {
      if (written.get(old.index)?.term === old.term) continue;
      if (old.index <= commit) {
        throw new SimViolation('durable state', `member ${member.id} replaced ${old.index}@${old.term}, at or below its commit ${commit}`);
      }
      const committed = this.committed[old.index];
      if (committed !== undefined && committed.record.term === old.term) {
        throw new SimViolation('committed never lost', `member ${member.id} replaced committed entry ${describeRecord(committed.record)}`);
      }
    }
  }

  /** State machine safety: every member applies the same record at an index; new commits are durable on a quorum. */
  onApply(member: SimMember, record: AppliedRecord): void {
    const known = this.committed[record.index];
    if (known !== undefined) {
      if (!sameRecord(known.record, record)) {
        throw new SimViolation(
          'state machine safety',
          `member ${member.id} applied ${describeRecord(record)} where another member applied ${describeRecord(known.record)}`,
        );
      }
      return;
    }
    if (record.index > 1 && this.committed[record.index - 1] === undefined) {
      throw new SimViolation('state machine safety', `member ${member.id} applied ${record.index} before anyone applied ${record.index - 1}`);
    }
    this.committed[record.index] = { record, leaderTermBound: this.maxLeaderTerm };
    this.checkDurableOnQuorum(member, record);
  }

  private checkDurableOnQuorum(member: SimMember, record: AppliedRecord): void {
    const candidates = this.configs.filter((c) => c.index < record.index).slice(-configsConsideredForQuorum);
    const holders = (voters: readonly NodeId[]): NodeId[] =>
      voters.filter((id) => {
        const term = this.member(id)?.disk.durableTerm(record.index);
        return term === 'compacted' || term === record.term;
      });
    if (candidates.some((c) => holders(c.voters).length > c.voters.length / 2)) return;
    const shown = candidates.map((c) => `[${c.voters.join(',')}] held by [${holders(c.voters).join(',')}]`).join('; ');
    throw new SimViolation(
      'committed never lost',
      `member ${member.id} applied ${describeRecord(record)}, which is not on the synced disk of a quorum: ${shown}`,
    );
  }

  onConfState(member: SimMember, index: number, confState: ConfState): void {
    const key = confKey(confState);
    const known = this.confByIndex.get(index);
    if (known !== undefined && known !== key) {
      throw new SimViolation('state machine safety', `member ${member.id} has ${key} at ${index}, another member ${known}`);
    }
    this.confByIndex.set(index, key);
    const last = this.configs.at(-1);
    if (this.committed[index]?.record.kind === 'conf' && (last === undefined || index > last.index)) {
      this.configs.push({ index, voters: confState.voters, key });
      return;
    }
    const inEffect = this.configs.filter((c) => c.index <= index).at(-1);
    if (inEffect !== undefined && inEffect.key !== key) {
      throw new SimViolation('state machine safety', `member ${member.id} has ${key} at ${index}, the conf changes before it give ${inEffect.key}`);
    }
  }

  /** Leader completeness: a leader holds every entry committed in a term below its own. */
  checkLeaderCompleteness(member: SimMember): void {
    const term = member.term();
    const covered = member.disk.snapshotIndex();
    for (let index = covered + 1; index < this.committed.length; index++) {
      const committed = this.committed[index];
      if (committed === undefined || committed.leaderTermBound >= term) continue;
      const held = member.disk.liveTerm(index);
      if (held !== committed.record.term) {
        throw new SimViolation(
          'leader completeness',
          `member ${member.id}, leader in term ${term}, has ${held === undefined ? 'nothing' : `term ${held}`} at ${index} where ${describeRecord(committed.record)} was committed`,
        );
      }
    }
  }

  /** Log matching across whole logs: where two logs share an (index, term), they agree on everything below it. */
  checkLogsMatch(members: readonly SimMember[]): void {
    for (let a = 0; a < members.length; a++) {
      for (let b = a + 1; b < members.length; b++) {
        const x = members[a] as SimMember;
        const y = members[b] as SimMember;
        const lo = Math.max(x.disk.firstIndex(), y.disk.firstIndex());
        let agreed = false;
        const xs = x.disk.liveEntries();
        const ys = y.disk.liveEntries();
        for (let index = Math.min(x.disk.lastIndex(), y.disk.lastIndex()); index >= lo; index--) {
          const ex = xs[index - x.disk.firstIndex()] as Entry;
          const ey = ys[index - y.disk.firstIndex()] as Entry;
          if (!agreed) {
            agreed = ex.term === ey.term;
            if (!agreed) continue;
          }
          if (ex.term !== ey.term || entryFingerprint(ex) !== entryFingerprint(ey)) {
            throw new SimViolation(
              'log matching',
              `members ${x.id} and ${y.id} share a later entry but differ at ${index}: ${index}@${ex.term} ${entryFingerprint(ex)} vs ${index}@${ey.term} ${entryFingerprint(ey)}`,
            );
          }
        }
      }
    }
  }
}
