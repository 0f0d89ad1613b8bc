// The bytes between a transport worker and the process that holds the store: a batch of operations,
// each `op u8 | id u32 | length u32 | payload`, gathered over one event-loop turn and sent as one
// IPC message. `id` names a call (a gRPC stream) or a connection (an HTTP/1 byte relay).

/** Worker → server. */
export const enum Up {
  /**
   * A gRPC call starts: `u32 header set | u8 ended | u32 timeout length | grpc-timeout | body`. The
   * body chunks and the client's end that came with the request's headers ride along.
   */
  callOpen = 1,
  /** A chunk of a call's request body. */
  callData = 2,
  /** The client half-closed the call. */
  callEnd = 3,
  /** The call's stream is gone. */
  callClosed = 4,
  /** So many DATA writes of the call have left (payload: u32 count). */
  callWritten = 5,
  /** A connection that is not gRPC starts (payload: `encodePeer`); its bytes follow as httpData. */
  httpOpen = 6,
  httpData = 7,
  /** The client ended its side. */
  httpEnd = 8,
  /** A connection closed; for every connection the worker was given, gRPC or not. */
  connClosed = 9,
  /** So many writes of the connection have left (payload: u32 count). */
  httpWritten = 10,
  /**
   * A set of request headers (`encodeHeaders`, without `grpc-timeout`) calls will name by `id`: a
   * client sends the same few sets again and again, so the server decodes each once.
   */
  headerSet = 11,
  /** Every header set is forgotten (the worker's table was full). */
  headerSetsCleared = 12,
  /** A header set for the one callOpen that follows it (too large to keep). */
  headerSetOnce = 14,
}

/** Server → worker. */
export const enum Down {
  callHeaders = 21,
  /** DATA for the call; the worker answers callWritten once it has left. */
  callData = 22,
  /** The trailers (payload: `encodeStatus`). */
  callTrailers = 23,
  /** Trailers-Only (payload: `encodeStatus` with an HTTP status and extra fields). */
  callTrailersOnly = 24,
  callDestroy = 25,
  /** A whole unary answer (payload: the framed message): headers, the message, OK trailers. */
  callUnary = 27,
  /** So many bytes of the call's request body were taken (payload: u32 count): the worker may relay as many more. */
  callConsumed = 26,
  httpWrite = 31,
  httpEnd = 32,
  httpDestroy = 33,
  /** So many bytes of the connection's input were taken (payload: u32 count). */
  httpConsumed = 34,
}

/**
 * An HTTP connection's input relayed and not yet taken on the server's side, past which the worker
 * stops reading that socket (a gRPC call's body is bounded by its HTTP/2 windows instead, credited
 * only once the server took the bytes).
 */
export const relayCreditBytes = 1024 * 1024;
/** The server tells what an HTTP connection's reader took once it has taken this much, or when it reads on. */
export const consumedAckBytes = 256 * 1024;

const opHeaderBytes = 9;
const emptyPayload = Buffer.alloc(0);

/** Operations gathered into one buffer; `take` hands them out and starts afresh. */
export class RelayWriter {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private used = 0;

  get isEmpty(): boolean {
    return this.used === 0;
  }

  /** Where the last callOpen's `ended` byte is, while it is the last operation written. */
  private openEndedAt = -1;
  private openId = 0;

  /** A callOpen whose body and end may still be added while nothing else is written after it. */
  openCall(id: number, headerSet: number, timeout: string): void {
    const timeoutBytes = Buffer.byteLength(timeout, 'latin1');
    const len = 9 + timeoutBytes;
    this.reserve(opHeaderBytes + len);
    const b = this.buf;
    const at = this.used;
    b[at] = Up.callOpen;
    b.writeUInt32BE(id, at + 1);
    b.writeUInt32BE(len, at + 5);
    b.writeUInt32BE(headerSet, at + 9);
    b[at + 13] = 0;
    b.writeUInt32BE(timeoutBytes, at + 14);
    b.write(timeout, at + 18, 'latin1');
    this.used = at + opHeaderBytes + len;
    this.openEndedAt = at + 13;
    this.openId = id;
  }

  /** Adds body bytes to the call's open operation if it is still the last one; false if not. */
  extendOpen(id: number, bytes: Buffer): boolean {
    if (this.openEndedAt < 0 || this.openId !== id) return false;
    const opAt = this.openEndedAt - 13;
    this.reserve(bytes.length);
    bytes.copy(this.buf, this.used);
    this.used += bytes.length;
    this.buf.writeUInt32BE(this.buf.readUInt32BE(opAt + 5) + bytes.length, opAt + 5);
    return true;
  }

  /** Marks the call's open operation as carrying the client's end, if it is still the last one. */
  endOpen(id: number): boolean {
    if (this.openEndedAt < 0 || this.openId !== id) return false;
    this.buf[this.openEndedAt] = 1;
    this.openEndedAt = -1;
    return true;
  }

  op(op: number, id: number, payload: Buffer = emptyPayload): void {
    this.openEndedAt = -1;
    this.reserve(opHeaderBytes + payload.length);
    const b = this.buf;
    let at = this.used;
    b[at] = op;
    b.writeUInt32BE(id, at + 1);
    b.writeUInt32BE(payload.length, at + 5);
    at += opHeaderBytes;
    if (payload.length > 0) payload.copy(b, at);
    this.used = at + payload.length;
  }

  opCount(op: number, id: number, n: number): void {
    this.openEndedAt = -1;
    this.reserve(opHeaderBytes + 4);
    const b = this.buf;
    const at = this.used;
    b[at] = op;
    b.writeUInt32BE(id, at + 1);
    b.writeUInt32BE(4, at + 5);
    b.writeUInt32BE(n, at + 9);
    this.used = at + opHeaderBytes + 4;
  }

  /** The batch as a buffer of its own (IPC may queue it behind a handle being passed). */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.used);
    this.buf.copy(out, 0, 0, this.used);
    this.used = 0;
    this.openEndedAt = -1;
    if (this.buf.length > 1024 * 1024) this.buf = Buffer.allocUnsafe(64 * 1024);
    return out;
  }

  private reserve(n: number): void {
    if (this.used + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + n));
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
  }
}

/** One operation of a batch: its payload is `batch[start, end)`, read in place or viewed with subarray. */
export type RelayVisitor = (op: number, id: number, batch: Buffer, start: number, end: number) => void;

/** Calls `visit` for each operation, once the whole batch's framing has been checked. */
export function readRelayBatch(batch: Buffer, visit: RelayVisitor): void {
  let at = 0;
  while (at < batch.length) {
    if (at + opHeaderBytes > batch.length) throw new Error('relay batch truncated');
    at += opHeaderBytes + batch.readUInt32BE(at + 5);
    if (at > batch.length) throw new Error('relay batch truncated');
  }
  at = 0;
  while (at < batch.length) {
    const len = batch.readUInt32BE(at + 5);
    visit(batch[at]!, batch.readUInt32BE(at + 1), batch, at + opHeaderBytes, at + opHeaderBytes + len);
    at += opHeaderBytes + len;
  }
}

/** A callOpen's fields; the body is `batch[bodyStart, end)`. */
export interface CallOpening {
  readonly headerSet: number;
  readonly ended: boolean;
  readonly timeout: string | undefined;
  readonly bodyStart: number;
}

export function readCallOpen(batch: Buffer, start: number, end: number): CallOpening {
  if (end - start < 9) throw new Error('relay callOpen truncated');
  const timeoutBytes = batch.readUInt32BE(start + 5);
  const bodyStart = start + 9 + timeoutBytes;
  if (bodyStart > end) throw new Error('relay callOpen truncated');
  return {
    headerSet: batch.readUInt32BE(start),
    ended: batch[start + 4] === 1,
    timeout: timeoutBytes === 0 ? undefined : batch.toString('latin1', start + 9, bodyStart),
    bodyStart,
  };
}

/** The IPC message as a Buffer: the advanced serialization hands a Buffer back as a Uint8Array. */
export function asBuffer(message: unknown): Buffer | undefined {
  if (Buffer.isBuffer(message)) return message;
  if (message instanceof Uint8Array) return Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  return undefined;
}

export function readCount(batch: Buffer, start: number): number {
  return batch.readUInt32BE(start);
}

/** name/value pairs: u32 count, then u32 name length, name, u32 value length, value (UTF-8). */
export function encodeHeaders(headers: Readonly<Record<string, string>>): Buffer {
  const names = Object.keys(headers);
  let size = 4;
  for (const n of names) size += 8 + Buffer.byteLength(n) + Buffer.byteLength(headers[n]!);
  const b = Buffer.allocUnsafe(size);
  b.writeUInt32BE(names.length, 0);
  let at = 4;
  for (const n of names) {
    const nameLen = b.write(n, at + 4);
    b.writeUInt32BE(nameLen, at);
    at += 4 + nameLen;
    const valueLen = b.write(headers[n]!, at + 4);
    b.writeUInt32BE(valueLen, at);
    at += 4 + valueLen;
  }
  return b;
}

export function decodeHeaders(b: Buffer): Record<string, string> {
  const count = b.readUInt32BE(0);
  const out: Record<string, string> = {};
  let at = 4;
  for (let i = 0; i < count; i++) {
    const nameLen = b.readUInt32BE(at);
    const name = b.toString('utf8', at + 4, at + 4 + nameLen);
    at += 4 + nameLen;
    const valueLen = b.readUInt32BE(at);
    out[name] = b.toString('utf8', at + 4, at + 4 + valueLen);
    at += 4 + valueLen;
  }
  return out;
}

/** A status as the worker's HTTP/2 stream sends it (an empty payload is OK under HTTP 200, the common case). */
export interface RelayedStatus {
  readonly code: number;
  readonly details: string;
  readonly httpStatus?: number;
  readonly extra?: Readonly<Record<string, string>>;
}

export function encodeStatus(s: RelayedStatus): Buffer {
  if (s.code === 0 && (s.httpStatus ?? 200) === 200 && (s.extra === undefined || Object.keys(s.extra).length === 0)) return emptyPayload;
  return Buffer.from(JSON.stringify(s));
}

export function decodeStatus(b: Buffer): RelayedStatus {
  return b.length === 0 ? okStatus : (JSON.parse(b.toString()) as RelayedStatus);
}

const okStatus: RelayedStatus = { code: 0, details: '' };

/** Where an HTTP/1 connection comes from, for the server's handlers (logs, the host and origin checks). */
export interface RelayedPeer {
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly remoteFamily?: string;
  readonly localAddress?: string;
  readonly localPort?: number;
}

export function encodePeer(p: RelayedPeer): Buffer {
  return Buffer.from(JSON.stringify(p));
}

export function decodePeer(b: Buffer): RelayedPeer {
  return JSON.parse(b.toString()) as RelayedPeer;
}
