// The protobuf bytes a client request arrived in, kept beside its decoded object for as long as the
// object lives. Size checks read their length, and the revision log writes a put's bytes as the
// entry's body when they are canonical (log/command.ts), so a put is not encoded again on its way.
// Only the adapter that decoded the bytes (or encoded the request itself) records them, and nothing
// changes a recorded request in place (a changed request is a new object, found here under no encoding), so the bytes always say
// what the object says.

const received = new WeakMap<object, Uint8Array>();

export function rememberEncoding(req: object, bytes: Uint8Array): void {
  received.set(req, bytes);
}

export function receivedEncoding(req: object): Uint8Array | undefined {
  return received.get(req);
}
