// etcd rejects a request message over max-request-bytes + 512 KiB with Go gRPC's own status:
// RESOURCE_EXHAUSTED "grpc: received message larger than max (N vs. LIMIT)". grpc-js words that check
// differently, so the limit is enforced here, in each method's deserializer, with Go's text; grpc-js
// keeps only a hard cap above it so a huge message is still refused before it is buffered whole.
import { status as Status, type ServiceDefinition } from '@grpc/grpc-js';
import { GrpcStatusError } from './error-status.js';

/**
 * Above the etcd limit, grpc-js itself refuses messages past this many extra bytes (with its own
 * wording). grpc-js buffers a message whole before any deserializer sees it, so this bounds what one
 * stream can make the server hold.
 */
export const receiveHardCapExtraBytes = 1024 * 1024;

/** What a deserializer yields for a message over the limit; the handler turns it into the status. */
/** etcd: v3rpc grpcOverheadBytes, added to max-request-bytes for the gRPC receive limit (and watch fragments). */
export const grpcOverheadBytes = 512 * 1024;

export class OversizeRequest {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {}

  toError(): GrpcStatusError {
    return new GrpcStatusError({
      code: Status.RESOURCE_EXHAUSTED,
      details: `grpc: received message larger than max (${this.bytes} vs. ${this.limit})`,
    });
  }
}

/** Encoded size of each decoded request, so size checks need not encode it again. */
const wireBytes = new WeakMap<object, number>();

/**
 * The request's protobuf size: as received, or by encoding it when it did not come off the wire.
 * Clients encode canonically, so the received size is the size etcd measures after re-marshalling.
 */
export function encodedBytes<T extends object>(req: T, encode: (req: T) => { finish(): Uint8Array }): number {
  return wireBytes.get(req) ?? encode(req).finish().length;
}

export function limitRequestSize<S extends ServiceDefinition>(service: S, limit: number): S {
  const limited: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    limited[name] = {
      ...method,
      requestDeserialize: (buf: Buffer): unknown => {
        if (buf.length > limit) return new OversizeRequest(buf.length, limit);
        const req: unknown = method.requestDeserialize(buf);
        if (typeof req === 'object' && req !== null) wireBytes.set(req, buf.length);
        return req;
      },
    };
  }
  return limited as S;
}
