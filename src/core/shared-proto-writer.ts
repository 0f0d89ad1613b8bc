// ts-proto's encoders take a writer, and a new writer per message costs an off-heap buffer (128
// bytes to start, doubled as it fills), an object and a copy at finish(). Messages on hot paths
// (log entries, unary answers, keepalive answers) are encoded with this one instead: encoding is
// synchronous, so no two messages are ever in it at once.
import { BinaryWriter } from '@bufbuild/protobuf/wire';

export type MessageEncoder<T> = (message: T, writer: BinaryWriter) => BinaryWriter;

/** A writer that grew past this for one large message is dropped rather than kept at that size. */
const keptWriterBytes = 64 * 1024;

let shared = new BinaryWriter();

/** The message's encoding, in a buffer of its own (finish() copies it out of the writer). */
export function encodeShared<T>(encode: MessageEncoder<T>, message: T): Buffer {
  let bytes: Uint8Array;
  try {
    bytes = encode(message, shared).finish();
  } catch (err) {
    // a half-written message must not lead the next one
    shared = new BinaryWriter();
    throw err;
  }
  if (bytes.length > keptWriterBytes) shared = new BinaryWriter();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** A serializer for one message type through the shared writer (a method definition's responseSerialize). */
export const sharedEncoder =
  <T>(encode: MessageEncoder<T>) =>
  (message: T): Buffer =>
    encodeShared(encode, message);
