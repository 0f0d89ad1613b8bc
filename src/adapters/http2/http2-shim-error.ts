// The one error the HTTP/2 request shim raises: the client's bytes are not HTTP/2 that nghttp2 would
// accept either, so the connection is dropped.

export type Http2ShimErrorKind =
  /** A header block that does not decode as HPACK (bad index, truncated field, bad Huffman code). */
  | 'hpack'
  /** Framing nghttp2 treats as a connection error (bad preface, a stray or missing CONTINUATION, bad padding). */
  | 'frame'
  /** A header block over the shim's bound. */
  | 'too-large';

export class Http2ShimError extends Error {
  constructor(
    readonly kind: Http2ShimErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'Http2ShimError';
  }
}
