// HTTP/2's frame layout and codes (RFC 9113 §4.1, §6, §7): the numbers the connection reads and writes.

export const frameHeaderBytes = 9;
export const clientPreface: Buffer = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = {
  data: 0x0,
  headers: 0x1,
  priority: 0x2,
  rstStream: 0x3,
  settings: 0x4,
  pushPromise: 0x5,
  ping: 0x6,
  goaway: 0x7,
  windowUpdate: 0x8,
  continuation: 0x9,
} as const;

export const Flag = {
  endStream: 0x1,
  ack: 0x1,
  endHeaders: 0x4,
  padded: 0x8,
  priority: 0x20,
} as const;

export const ErrorCode = {
  noError: 0x0,
  protocolError: 0x1,
  internalError: 0x2,
  flowControlError: 0x3,
  settingsTimeout: 0x4,
  streamClosed: 0x5,
  frameSizeError: 0x6,
  refusedStream: 0x7,
  cancel: 0x8,
  compressionError: 0x9,
  connectError: 0xa,
  enhanceYourCalm: 0xb,
  inadequateSecurity: 0xc,
  http11Required: 0xd,
} as const;

export const Setting = {
  headerTableSize: 0x1,
  enablePush: 0x2,
  maxConcurrentStreams: 0x3,
  initialWindowSize: 0x4,
  maxFrameSize: 0x5,
  maxHeaderListSize: 0x6,
} as const;

export const defaultInitialWindowSize = 65_535;
export const defaultMaxFrameSize = 16_384;
export const maxAllowedFrameSize = 2 ** 24 - 1;
export const maxWindowSize = 2 ** 31 - 1;

/** Writes a frame header at buf[at..at+9). */
export function writeFrameHeader(buf: Buffer, at: number, length: number, type: number, flags: number, stream: number): void {
  buf[at] = length >>> 16;
  buf[at + 1] = (length >>> 8) & 0xff;
  buf[at + 2] = length & 0xff;
  buf[at + 3] = type;
  buf[at + 4] = flags;
  buf.writeUInt32BE(stream, at + 5);
}

/** One whole frame in a buffer of its own. */
export function frame(type: number, flags: number, stream: number, payload?: Uint8Array): Buffer {
  const length = payload?.length ?? 0;
  const out = Buffer.allocUnsafe(frameHeaderBytes + length);
  writeFrameHeader(out, 0, length, type, flags, stream);
  if (payload !== undefined) out.set(payload, frameHeaderBytes);
  return out;
}

export function settingsFrame(values: ReadonlyArray<readonly [number, number]>): Buffer {
  const payload = Buffer.allocUnsafe(values.length * 6);
  values.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.settings, 0, 0, payload);
}

export function windowUpdateFrame(stream: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(frameHeaderBytes + 4);
  writeFrameHeader(out, 0, 4, FrameType.windowUpdate, 0, stream);
  out.writeUInt32BE(increment, frameHeaderBytes);
  return out;
}

export function rstStreamFrame(stream: number, code: number): Buffer {
  const out = Buffer.allocUnsafe(frameHeaderBytes + 4);
  writeFrameHeader(out, 0, 4, FrameType.rstStream, 0, stream);
  out.writeUInt32BE(code, frameHeaderBytes);
  return out;
}

export function goawayFrame(lastStream: number, code: number, debug?: Uint8Array): Buffer {
  const debugBytes = debug?.length ?? 0;
  const out = Buffer.allocUnsafe(frameHeaderBytes + 8 + debugBytes);
  writeFrameHeader(out, 0, 8 + debugBytes, FrameType.goaway, 0, 0);
  out.writeUInt32BE(lastStream, frameHeaderBytes);
  out.writeUInt32BE(code, frameHeaderBytes + 4);
  if (debug !== undefined) out.set(debug, frameHeaderBytes + 8);
  return out;
}
