// Whether a response can no longer reach its client, for node's HTTP/1 response and the HTTP/2
// compatibility response alike: the latter has no `destroyed` (undefined on node 20) and no
// `closed`; its stream says it instead.
import type { ServerResponse } from 'node:http';

interface MaybeHttp2Response {
  readonly destroyed?: boolean;
  /** Http2ServerResponse's stream (public API); absent on HTTP/1. */
  readonly stream?: { readonly destroyed: boolean; readonly closed: boolean };
}

/** True once the response was destroyed (HTTP/1) or its HTTP/2 stream closed or was destroyed. */
export function responseGone(res: ServerResponse): boolean {
  const r = res as unknown as MaybeHttp2Response;
  if (r.destroyed === true) return true;
  return r.stream !== undefined && (r.stream.destroyed || r.stream.closed);
}

/** The response answers an HTTP/2 request (connection-specific headers such as Connection are not allowed there). */
export const isHttp2Response = (res: ServerResponse): boolean => (res.req as { httpVersionMajor?: number } | undefined)?.httpVersionMajor === 2;
