// What the revision log carries: one client write per entry, in etcd's own request shapes, plus the
// entries a replicated log adds (a new leader's no-op, membership changes, lease checkpoints).
//
// Binary forms. A *proposal* is what one member hands to the log and every member decodes:
//   type code (1 byte) | request id (uint64 BE) | the request's protobuf
// A Raft log carries it as an entry's data (src/log/raft-entries.ts). The local WAL stores a
// *record* per entry, which is versioned by its first byte:
//   v2 (0x82): 0x82 | term (uint64 BE) | proposal
//   v1 (first byte 1..6, written before v2): type code | term (float64 BE) | request id (float64 BE) | protobuf
// Type codes keep their meaning forever; a code this build does not know is refused with a
// LogEntryDecodeError naming the entry, never guessed at.
import {
  AlarmRequest,
  CompactionRequest,
  DeleteRangeRequest,
  LeaseCheckpointRequest,
  LeaseGrantRequest,
  LeaseRevokeRequest,
  PutRequest,
  TxnRequest,
} from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';
import { decodeAuthRequest, encodeAuthRequest, type AuthHeader, type AuthRequest } from '../auth/auth-op.js';
import { receivedEncoding } from '../core/received-encoding.js';
import { encodeShared } from '../core/shared-proto-writer.js';
import { bytesFieldSize, encodeIntFields, intFieldSize } from '../core/proto-writer.js';

export type Command =
  // `auth`: who proposed the write, at which auth revision (etcd's request header), when auth is
  // enabled; the apply checks the write's permissions against it (src/auth/).
  | { readonly type: 'put'; readonly req: PutRequest; readonly auth?: AuthHeader }
  | { readonly type: 'deleteRange'; readonly req: DeleteRangeRequest; readonly auth?: AuthHeader }
  | { readonly type: 'txn'; readonly req: TxnRequest; readonly auth?: AuthHeader }
  | { readonly type: 'compact'; readonly req: CompactionRequest }
  // Lease changes are log entries like any write, so every member applies them in the same order.
  // A grant always carries its ID: the proposer picks one when the client leaves it 0, as etcd does.
  | { readonly type: 'leaseGrant'; readonly req: LeaseGrantRequest }
  // `auth`: the revoking client (etcd checks write on the lease's keys when the revoke is applied).
  // Absent: an internal revoke (expiry, etcd's WithRoot) or an entry written before revokes had one.
  | { readonly type: 'leaseRevoke'; readonly req: LeaseRevokeRequest; readonly auth?: AuthHeader }
  /** A new leader's empty entry: applying it advances the applied index, not the revision. */
  | { readonly type: 'noop' }
  /** A membership change, opaque to the store: handed to its onConfChange hook in log order. */
  | { readonly type: 'confChange'; readonly data: Uint8Array }
  /** etcd's LeaseCheckpoint: the primary records leases' remaining TTLs so a new primary keeps them. */
  | { readonly type: 'leaseCheckpoint'; readonly req: LeaseCheckpointRequest }
  /** A member publishes its name and client URLs after it starts (etcd's publish through Raft). */
  | { readonly type: 'memberAttributes'; readonly id: bigint; readonly name: string; readonly clientUrls: readonly string[] }
  /** One Auth RPC (src/auth/auth-op.ts), applied by the auth state on every member. */
  | { readonly type: 'auth'; readonly req: AuthRequest }
  /** etcd's Alarm request (GET too goes through the log there): every member keeps the same alarm list. */
  | { readonly type: 'alarm'; readonly req: AlarmRequest };

export type CommandType = Command['type'];

export interface LogEntry {
  readonly index: number;
  readonly term: number;
  /**
   * Chosen by the proposing member (src/core/id-generator.ts: unique across members and restarts)
   * so that it can match the applied entry to its waiting caller. 0 for entries nobody waits for.
   */
  readonly requestId: bigint;
  readonly command: Command;
}

/** Why an entry could not be decoded; the apply path stops on it rather than skip an entry. */
export type LogEntryDecodeFailure = 'unknownFormat' | 'unknownType' | 'malformed';

export class LogEntryDecodeError extends Error {
  constructor(
    readonly reason: LogEntryDecodeFailure,
    readonly index: number,
    detail: string,
  ) {
    super(`log entry ${index}: ${detail}`);
    this.name = 'LogEntryDecodeError';
  }
}

const typeCodes: Readonly<Record<CommandType, number>> = {
  put: 1,
  deleteRange: 2,
  txn: 3,
  compact: 4,
  leaseGrant: 5,
  leaseRevoke: 6,
  noop: 7,
  confChange: 8,
  leaseCheckpoint: 9,
  memberAttributes: 10,
  auth: 11,
  alarm: 13,
};
/**
 * A key-value write or a lease revoke with its auth header: 12 | u64 auth revision | u16 user length |
 * user (utf8) | the entry's own type code | its protobuf. Entries without a header keep their plain
 * codes (and older entries of these types, written without one, apply unchecked as before).
 */
const withAuthHeaderCode = 12;
/** The codes a v1 record may hold: v1 was written before the later types existed. */
const maxV1TypeCode = 6;
const recordV2 = 0x82;
const proposalHeaderBytes = 1 + 8;
const recordV2HeaderBytes = 1 + 8;
const recordV1HeaderBytes = 1 + 8 + 8;

function encodeBody(c: Command): Uint8Array {
  switch (c.type) {
    case 'put':
      return canonicalPutBytes(c.req) ?? encodeShared(PutRequest.encode, c.req);
    case 'deleteRange':
      return encodeShared(DeleteRangeRequest.encode, c.req);
    case 'txn':
      return encodeShared(TxnRequest.encode, c.req);
    case 'compact':
      return encodeShared(CompactionRequest.encode, c.req);
    case 'leaseGrant':
      // LeaseGrantRequest: TTL 1, ID 2
      return encodeIntFields(c.req.TTL, c.req.ID);
    case 'leaseRevoke':
      // LeaseRevokeRequest: ID 1
      return encodeIntFields(c.req.ID);
    case 'noop':
      return new Uint8Array(0);
    case 'confChange':
      return c.data;
    case 'leaseCheckpoint':
      return encodeShared(LeaseCheckpointRequest.encode, c.req);
    case 'memberAttributes':
      return Buffer.from(JSON.stringify({ id: c.id.toString(10), name: c.name, clientUrls: c.clientUrls }), 'utf8');
    case 'auth':
      return encodeAuthRequest(c.req);
    case 'alarm':
      return encodeShared(AlarmRequest.encode, c.req);
  }
}

/**
 * A put goes to the log in the bytes it arrived in (every put passes here) when those bytes are
 * exactly as long as the request's own encoding: then they hold no field this build does not know,
 * no duplicate and no padded varint, so every member and every later build reads from them what
 * this build read. Otherwise, or when the adapter kept no bytes, it is encoded afresh.
 */
function canonicalPutBytes(req: PutRequest): Uint8Array | undefined {
  // A negative lease's tenth varint byte may carry bits a lenient decoder drops and a strict one refuses.
  if (req.lease < 0n) return undefined;
  const received = receivedEncoding(req);
  return received !== undefined && received.length === putRequestSize(req) ? received : undefined;
}

/** etcdserverpb.PutRequest's encoded size: key 1, value 2, lease 3, prev_kv 4, ignore_value 5, ignore_lease 6. */
function putRequestSize(req: PutRequest): number {
  const flag = (on: boolean): number => (on ? 2 : 0);
  return bytesFieldSize(req.key.length) + bytesFieldSize(req.value.length) + intFieldSize(req.lease) + flag(req.prevKv) + flag(req.ignoreValue) + flag(req.ignoreLease);
}

type HeaderedCommand = Extract<Command, { type: 'put' | 'deleteRange' | 'txn' | 'leaseRevoke' }>;
const takesAuthHeader = (c: Command): c is HeaderedCommand => c.type === 'put' || c.type === 'deleteRange' || c.type === 'txn' || c.type === 'leaseRevoke';

/**
 * The bytes one member proposes: type code, request id, then for a write or revoke with an auth
 * header that header and the inner type code, then the request. Written into one buffer: every
 * client write passes here (with auth off too, its header names no user).
 */
export function encodeProposal(requestId: bigint, c: Command): Buffer {
  const body = encodeBody(c);
  const auth = takesAuthHeader(c) ? c.auth : undefined;
  const userBytes = auth === undefined ? 0 : Buffer.byteLength(auth.user, 'utf8');
  const headerBytes = auth === undefined ? 0 : 8 + 2 + userBytes + 1;
  const out = Buffer.allocUnsafe(proposalHeaderBytes + headerBytes + body.length);
  out[0] = auth === undefined ? typeCodes[c.type] : withAuthHeaderCode;
  out.writeBigUInt64BE(requestId, 1);
  if (auth !== undefined) {
    const at = proposalHeaderBytes;
    out.writeBigUInt64BE(BigInt(auth.revision), at);
    out.writeUInt16BE(userBytes, at + 8);
    out.write(auth.user, at + 10, userBytes, 'utf8');
    out[at + 10 + userBytes] = typeCodes[c.type];
  }
  out.set(body, proposalHeaderBytes + headerBytes);
  return out;
}

function decodeWithAuthHeader(index: number, body: Uint8Array): Command {
  const view = Buffer.from(body.buffer, body.byteOffset, body.length);
  if (view.length < 11) throw new LogEntryDecodeError('malformed', index, `write with auth header of ${view.length} bytes`);
  const revision = Number(view.readBigUInt64BE(0));
  const userBytes = view.readUInt16BE(8);
  if (view.length < 11 + userBytes) throw new LogEntryDecodeError('malformed', index, 'write with auth header cut short');
  const auth: AuthHeader = { user: view.subarray(10, 10 + userBytes).toString('utf8'), revision };
  const inner = decodeBody(index, view[10 + userBytes]!, view.subarray(11 + userBytes));
  if (!takesAuthHeader(inner)) throw new LogEntryDecodeError('malformed', index, `auth header on a ${inner.type} entry`);
  return { ...inner, auth };
}

function decodeMemberAttributes(body: Uint8Array): Command {
  const parsed: unknown = JSON.parse(Buffer.from(body).toString('utf8'));
  if (typeof parsed !== 'object' || parsed === null) throw new Error('member attributes: not an object');
  const { id, name, clientUrls } = parsed as Record<string, unknown>;
  if (typeof id !== 'string' || !/^[0-9]{1,20}$/.test(id)) throw new Error('member attributes: bad id');
  if (typeof name !== 'string') throw new Error('member attributes: bad name');
  if (!Array.isArray(clientUrls) || !clientUrls.every((u): u is string => typeof u === 'string')) throw new Error('member attributes: bad client URLs');
  return { type: 'memberAttributes', id: BigInt(id), name, clientUrls };
}

function decodeBody(index: number, code: number, body: Uint8Array): Command {
  try {
    switch (code) {
      case 1:
        return { type: 'put', req: PutRequest.decode(body) };
      case 2:
        return { type: 'deleteRange', req: DeleteRangeRequest.decode(body) };
      case 3:
        return { type: 'txn', req: TxnRequest.decode(body) };
      case 4:
        return { type: 'compact', req: CompactionRequest.decode(body) };
      case 5:
        return { type: 'leaseGrant', req: LeaseGrantRequest.decode(body) };
      case 6:
        return { type: 'leaseRevoke', req: LeaseRevokeRequest.decode(body) };
      case 7:
        return { type: 'noop' };
      case 8:
        return { type: 'confChange', data: new Uint8Array(body) };
      case 9:
        return { type: 'leaseCheckpoint', req: LeaseCheckpointRequest.decode(body) };
      case 10:
        return decodeMemberAttributes(body);
      case 11:
        return { type: 'auth', req: decodeAuthRequest(body) };
      case 13:
        return { type: 'alarm', req: AlarmRequest.decode(body) };
    }
  } catch (e) {
    throw new LogEntryDecodeError('malformed', index, `type ${code}: ${e instanceof Error ? e.message : String(e)}`);
  }
  throw new LogEntryDecodeError('unknownType', index, `unknown command type ${code}`);
}

/** The entry a proposal becomes once committed at (index, term). */
export function decodeProposal(index: number, term: number, bytes: Uint8Array): LogEntry {
  if (bytes.length < proposalHeaderBytes) throw new LogEntryDecodeError('malformed', index, `proposal of ${bytes.length} bytes`);
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const requestId = view.readBigUInt64BE(1);
  const code = view[0]!;
  const body = view.subarray(proposalHeaderBytes);
  return { index, term, requestId, command: code === withAuthHeaderCode ? decodeWithAuthHeader(index, body) : decodeBody(index, code, body) };
}

/** A WAL record (v2) for the entry; its index is stored beside it by the WAL. */
export function encodeEntry(e: LogEntry): Buffer {
  const proposal = encodeProposal(e.requestId, e.command);
  const out = Buffer.allocUnsafe(recordV2HeaderBytes + proposal.length);
  out[0] = recordV2;
  out.writeBigUInt64BE(BigInt(e.term), 1);
  out.set(proposal, recordV2HeaderBytes);
  return out;
}

/** Reads a WAL record of either version. Throws LogEntryDecodeError for anything it does not know. */
export function decodeEntry(index: number, bytes: Buffer): LogEntry {
  const first = bytes[0];
  if (first === recordV2) {
    if (bytes.length < recordV2HeaderBytes) throw new LogEntryDecodeError('malformed', index, `record of ${bytes.length} bytes`);
    return decodeProposal(index, Number(bytes.readBigUInt64BE(1)), bytes.subarray(recordV2HeaderBytes));
  }
  if (first !== undefined && first >= 1 && first <= maxV1TypeCode) {
    if (bytes.length < recordV1HeaderBytes) throw new LogEntryDecodeError('malformed', index, `record of ${bytes.length} bytes`);
    const term = bytes.readDoubleBE(1);
    const id = bytes.readDoubleBE(9);
    if (!Number.isSafeInteger(term) || !Number.isSafeInteger(id) || id < 0) throw new LogEntryDecodeError('malformed', index, `v1 record with term ${term}, request id ${id}`);
    const requestId = BigInt(id);
    return { index, term, requestId, command: decodeBody(index, first, bytes.subarray(recordV1HeaderBytes)) };
  }
  throw new LogEntryDecodeError('unknownFormat', index, `unknown record format ${String(first)}`);
}

/** Encoded size of a command's request, the figure etcd compares with --max-request-bytes. */
export const commandSize = (c: Command): number => encodeBody(c).length;
