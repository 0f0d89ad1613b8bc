// A cluster member as etcd's membership package keeps it (membership.Member), and the codec for the
// `context` bytes of a ConfChange. etcd puts the member there as Go's encoding/json renders it, e.g.
//   add:     {"id":15381524338592272064,"peerURLs":["http://10.0.0.2:2380"],"isLearner":true}
//   update:  {"id":13668033151171901709,"peerURLs":["http://10.0.0.1:2380"]}
//   promote: {"id":15381524338592272064,"peerURLs":null,"isPromote":true}
// Lattice writes the same bytes, so its log entries read like etcd's and the member's uint64 ID stays
// a JSON number (read back here without passing through a lossy double).
import { ConfChangeType, type ConfChange, type NodeId } from '../raft/types.js';

export interface Member {
  readonly id: NodeId;
  /** Empty until the member has started and published its attributes (etcd's IsStarted). */
  readonly name: string;
  /** Sorted, as etcd's NewMember sorts them (`member update` stores them as given). */
  readonly peerUrls: readonly string[];
  /** Empty until the member has published its attributes. */
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

/** What a member publishes about itself after it starts (etcd's membership.Attributes). */
export interface MemberAttributes {
  readonly name: string;
  readonly clientUrls: readonly string[];
}

/** A ConfChange read as the membership change it stands for. */
export type MembershipChange =
  | { readonly type: 'add'; readonly member: Member }
  | { readonly type: 'promote'; readonly id: NodeId }
  | { readonly type: 'remove'; readonly id: NodeId }
  | { readonly type: 'update'; readonly id: NodeId; readonly peerUrls: readonly string[] };

/** A committed ConfChange whose context cannot be read: the log is damaged or was written by a bug. */
export class MemberContextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MemberContextError';
  }
}

export const isStarted = (m: Member): boolean => m.name !== '';

export const byMemberId = (a: Member, b: Member): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Go's encoding/json string: like JSON.stringify, plus the HTML-safe escapes Go adds. */
function goJsonString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const goJsonStrings = (xs: readonly string[] | null): string => (xs === null ? 'null' : `[${xs.map(goJsonString).join(',')}]`);

/** membership.Member's JSON fields in Go's order; `omitempty` ones left out when empty. */
function memberJson(m: { id: NodeId; peerUrls: readonly string[] | null; isLearner: boolean; name: string; clientUrls: readonly string[] }): string {
  let s = `"id":${m.id.toString(10)},"peerURLs":${goJsonStrings(m.peerUrls)}`;
  if (m.isLearner) s += ',"isLearner":true';
  if (m.name !== '') s += `,"name":${goJsonString(m.name)}`;
  if (m.clientUrls.length > 0) s += `,"clientURLs":${goJsonStrings(m.clientUrls)}`;
  return s;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** The ConfChange etcd's server proposes for this change (AddMember, PromoteMember, RemoveMember, UpdateMember). */
export function encodeMembershipChange(change: MembershipChange): ConfChange {
  switch (change.type) {
    case 'add': {
      const m = change.member;
      return {
        type: m.isLearner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode,
        nodeId: m.id,
        context: utf8.encode(`{${memberJson(m)}}`),
      };
    }
    case 'promote': {
      const json = `{${memberJson({ id: change.id, peerUrls: null, isLearner: false, name: '', clientUrls: [] })},"isPromote":true}`;
      return { type: ConfChangeType.AddNode, nodeId: change.id, context: utf8.encode(json) };
    }
    case 'remove':
      return { type: ConfChangeType.RemoveNode, nodeId: change.id, context: new Uint8Array(0) };
    case 'update': {
      const json = `{${memberJson({ id: change.id, peerUrls: change.peerUrls, isLearner: false, name: '', clientUrls: [] })}}`;
      return { type: ConfChangeType.UpdateNode, nodeId: change.id, context: utf8.encode(json) };
    }
  }
}

interface ContextFields {
  readonly id: NodeId;
  readonly peerUrls: readonly string[];
  readonly isLearner: boolean;
  readonly name: string;
  readonly clientUrls: readonly string[];
  readonly isPromote: boolean;
}

/**
 * Reads the member JSON of a ConfChange context. The ID is quoted before parsing: outside a JSON
 * string `"id":` can only be a key (inside one its quotes would be escaped), so the digits are its value.
 */
function decodeContext(context: Uint8Array): ContextFields {
  let text: string;
  try {
    text = utf8Decoder.decode(context);
  } catch {
    throw new MemberContextError('ConfChange context is not UTF-8');
  }
  const idPattern = /([{,]\s*"id"\s*:\s*)(\d+)/;
  if (!idPattern.test(text)) throw new MemberContextError('ConfChange context has no numeric id');
  const quoted = text.replace(idPattern, '$1"$2"');
  let doc: unknown;
  try {
    doc = JSON.parse(quoted);
  } catch (e) {
    throw new MemberContextError(`ConfChange context is not JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new MemberContextError('ConfChange context is not a JSON object');
  const d = doc as Record<string, unknown>;
  if (typeof d.id !== 'string' || !/^\d+$/.test(d.id)) throw new MemberContextError('ConfChange context has no numeric id');
  const id = BigInt(d.id);
  if (id >= 1n << 64n) throw new MemberContextError(`ConfChange context id ${d.id} exceeds uint64`);
  const strings = (field: string): string[] => {
    const v = d[field];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every((u): u is string => typeof u === 'string')) throw new MemberContextError(`ConfChange context ${field} is not a list of strings`);
    return v;
  };
  const flag = (field: string): boolean => {
    const v = d[field];
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') throw new MemberContextError(`ConfChange context ${field} is not a boolean`);
    return v;
  };
  const name = d.name === undefined || d.name === null ? '' : d.name;
  if (typeof name !== 'string') throw new MemberContextError('ConfChange context name is not a string');
  return {
    id,
    peerUrls: strings('peerURLs'),
    isLearner: flag('isLearner'),
    name,
    clientUrls: strings('clientURLs'),
    isPromote: flag('isPromote'),
  };
}

/**
 * The membership change a ConfChange carries. Throws MemberContextError when its context is
 * unreadable or names another member than nodeId (etcd panics on both: a committed entry it cannot
 * apply means the log cannot be trusted).
 */
export function decodeConfChange(cc: ConfChange): MembershipChange {
  if (cc.type === ConfChangeType.RemoveNode) return { type: 'remove', id: cc.nodeId };
  if (cc.type !== ConfChangeType.AddNode && cc.type !== ConfChangeType.AddLearnerNode && cc.type !== ConfChangeType.UpdateNode) {
    throw new MemberContextError(`unknown ConfChange type ${String(cc.type)}`);
  }
  const c = decodeContext(cc.context);
  if (c.id !== cc.nodeId) throw new MemberContextError(`ConfChange for node ${cc.nodeId} carries member ${c.id}`);
  if (cc.type === ConfChangeType.UpdateNode) return { type: 'update', id: c.id, peerUrls: c.peerUrls };
  if (c.isPromote) return { type: 'promote', id: c.id };
  return {
    type: 'add',
    member: { id: c.id, name: c.name, peerUrls: c.peerUrls, clientUrls: c.clientUrls, isLearner: c.isLearner || cc.type === ConfChangeType.AddLearnerNode },
  };
}
