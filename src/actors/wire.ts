// How messages cross a thread boundary: msgpack with bigint and exact-size copies. msgpackr packs
// into a reused buffer of 8 KiB or more, so each message is sliced to its own buffer and transferred.
import { Packr } from 'msgpackr';
import type { EtcdErrorKind } from '../core/errors.js';

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', copyBuffers: true, moreTypes: false });

export function packMessage(value: unknown): Uint8Array {
  const view = packr.pack(value);
  return Uint8Array.prototype.slice.call(view);
}

// Unpacking from a Buffer makes binary fields come back as Buffers, as the protobuf types declare.
export const unpackMessage = (bytes: Uint8Array): unknown => packr.unpack(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));

export interface WireRequest {
  readonly id: number;
  readonly body: Uint8Array;
}

export type WireReply =
  | { readonly id: number; readonly ok: true; readonly body: Uint8Array }
  /** `kind` carries an EtcdError's kind across the thread boundary. */
  | { readonly id: number; readonly ok: false; readonly message: string; readonly kind?: EtcdErrorKind };
