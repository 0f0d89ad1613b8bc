// gRPC's HTTP/2 wire details (grpc/doc/PROTOCOL-HTTP2.md) that are not HTTP/2's own: the 5-byte
// message prefix, the `grpc-timeout` header, the percent-encoding of `grpc-message`.
import { Status } from './grpc-codes.js';
import type { GrpcStatus } from './error-status.js';

/** Compressed flag (1 byte) and big-endian message length (4 bytes) before every message. */
export const messagePrefixBytes = 5;

/**
 * A message that writes its own encoding into a frame buffer, so no buffer is made per message. A
 * call encodes it while it is written (it is not kept), so one object may be reused for the next.
 */
export interface OutgoingMessage {
  readonly size: number;
  writeTo(buf: Buffer, at: number): void;
}

/** A message already encoded. */
export class EncodedMessage implements OutgoingMessage {
  constructor(private readonly bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.length;
  }
  writeTo(buf: Buffer, at: number): void {
    buf.set(this.bytes, at);
  }
}

/**
 * Several messages of one stream written back to back, each behind its prefix: a watch revision's
 * answers to the stream's watchers, framed in one loop instead of one call per watcher. Like an
 * OutgoingMessage it is encoded while it is written and not kept.
 */
export interface FramedMessages {
  readonly count: number;
  /** Bytes of every message with its prefix. */
  readonly framedSize: number;
  writeFramed(buf: Buffer, at: number): void;
}

/** The messages of a run one at a time, unframed, for a call that takes them singly (the JSON gateway). */
export function eachFramedMessage(run: FramedMessages, message: (bytes: Buffer) => void): void {
  const framed = Buffer.allocUnsafe(run.framedSize);
  run.writeFramed(framed, 0);
  let at = 0;
  while (at < framed.length) {
    const size = framed.readUInt32BE(at + 1);
    message(framed.subarray(at + messagePrefixBytes, at + messagePrefixBytes + size));
    at += messagePrefixBytes + size;
  }
}

/** One message framed, from its encoding. */
export function frameBytes(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(messagePrefixBytes + bytes.length);
  out[0] = 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, messagePrefixBytes);
  return out;
}

const timeoutUnitMs: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
/** The spec allows at most 8 digits. */
const maxTimeoutDigits = 8;

/** `grpc-timeout` in milliseconds, or a status with grpc-go's text when the value is malformed. */
export function parseGrpcTimeout(value: string): number | GrpcStatus {
  // Sent with nearly every call: digits read in place, no regex and no substrings.
  if (value.length < 2) return malformedTimeout(`transport: timeout string is too short: "${value}"`);
  const unit = timeoutUnitMs[value.charAt(value.length - 1)];
  if (unit === undefined) return malformedTimeout(`transport: timeout unit is not recognized: "${value}"`);
  const digits = value.length - 1;
  let n = 0;
  for (let i = 0; i < digits && digits <= maxTimeoutDigits; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
    if (i === digits - 1) return n * unit;
  }
  return malformedTimeout(`transport: timeout string is too long or not a number: "${value}"`);
}

function malformedTimeout(reason: string): GrpcStatus {
  return { code: Status.INTERNAL, details: `malformed time-out: ${reason}` };
}

/**
 * `grpc-message` as the spec asks: bytes outside printable ASCII, and `%`, percent-encoded as UTF-8.
 * Most messages need nothing, so the common case returns the text unchanged.
 */
export function percentEncodeGrpcMessage(text: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(text)) return text;
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
