// What the revision log carries: one client write per entry, in etcd's own request shapes.
// The binary form is a type byte, the proposer's request id, then the request's protobuf.
import {
  CompactionRequest,
  DeleteRangeRequest,
  LeaseGrantRequest,
  LeaseRevokeRequest,
  PutRequest,
  TxnRequest,
} from '../gen/etcd/etcdserver/etcdserverpb/rpc.js';

export type Command =
  | { readonly type: 'put'; readonly req: PutRequest }
  | { readonly type: 'deleteRange'; readonly req: DeleteRangeRequest }
  | { readonly type: 'txn'; readonly req: TxnRequest }
  | { readonly type: 'compact'; readonly req: CompactionRequest }
  // Lease changes are log entries like any write, so every member applies them in the same order.
  // A grant always carries its ID: the proposer picks one when the client leaves it 0, as etcd does.
  | { readonly type: 'leaseGrant'; readonly req: LeaseGrantRequest }
  | { readonly type: 'leaseRevoke'; readonly req: LeaseRevokeRequest };

export interface LogEntry {
  readonly index: number;
  readonly term: number;
  /** Chosen by the proposing member so that it can match the applied entry to its waiting caller. */
  readonly requestId: number;
  readonly command: Command;
}

const TYPE_CODES = { put: 1, deleteRange: 2, txn: 3, compact: 4, leaseGrant: 5, leaseRevoke: 6 } as const;

function encodeBody(c: Command): Uint8Array {
  switch (c.type) {
    case 'put':
      return PutRequest.encode(c.req).finish();
    case 'deleteRange':
      return DeleteRangeRequest.encode(c.req).finish();
    case 'txn':
      return TxnRequest.encode(c.req).finish();
    case 'compact':
      return CompactionRequest.encode(c.req).finish();
    case 'leaseGrant':
      return LeaseGrantRequest.encode(c.req).finish();
    case 'leaseRevoke':
      return LeaseRevokeRequest.encode(c.req).finish();
  }
}

export function encodeEntry(e: LogEntry): Buffer {
  const body = encodeBody(e.command);
  const out = Buffer.allocUnsafe(1 + 8 + 8 + body.length);
  out[0] = TYPE_CODES[e.command.type];
  out.writeDoubleBE(e.term, 1);
  out.writeDoubleBE(e.requestId, 9);
  out.set(body, 17);
  return out;
}

export function decodeEntry(index: number, bytes: Buffer): LogEntry {
  const term = bytes.readDoubleBE(1);
  const requestId = bytes.readDoubleBE(9);
  const body = bytes.subarray(17);
  let command: Command;
  switch (bytes[0]) {
    case 1:
      command = { type: 'put', req: PutRequest.decode(body) };
      break;
    case 2:
      command = { type: 'deleteRange', req: DeleteRangeRequest.decode(body) };
      break;
    case 3:
      command = { type: 'txn', req: TxnRequest.decode(body) };
      break;
    case 4:
      command = { type: 'compact', req: CompactionRequest.decode(body) };
      break;
    case 5:
      command = { type: 'leaseGrant', req: LeaseGrantRequest.decode(body) };
      break;
    case 6:
      command = { type: 'leaseRevoke', req: LeaseRevokeRequest.decode(body) };
      break;
    default:
      throw new Error(`log entry ${index}: unknown command type ${bytes[0]}`);
  }
  return { index, term, requestId, command };
}

/** Encoded size of a command's request, the figure etcd compares with --max-request-bytes. */
export const commandSize = (c: Command): number => encodeBody(c).length;
