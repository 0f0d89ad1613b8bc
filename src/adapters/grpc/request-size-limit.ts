// etcd's receive limit for a request message is max-request-bytes + 512 KiB, refused with Go gRPC's
// own status, RESOURCE_EXHAUSTED "grpc: received message larger than max (N vs. LIMIT)"; the message
// reader (message-reader.ts) checks it on the length prefix, before buffering the body. Size checks of
// writes (request-size.ts) use the size each request had on the wire (core/received-encoding.ts).
import { receivedEncoding } from '../../core/received-encoding.js';

/** etcd: v3rpc grpcOverheadBytes, added to max-request-bytes for the gRPC receive limit (and watch fragments). */
export const grpcOverheadBytes = 512 * 1024;


/**
 * The request's protobuf size: as received, or by encoding it when it did not come off the wire.
 * Clients encode canonically, so the received size is the size etcd measures after re-marshalling.
 */
export function encodedBytes<T extends object>(req: T, encode: (req: T) => { finish(): Uint8Array }): number {
  return (receivedEncoding(req) ?? encode(req).finish()).length;
}
