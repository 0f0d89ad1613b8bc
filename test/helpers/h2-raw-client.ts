// An HTTP/2 client that writes frames by hand on a plain socket and reads the server's frames back, for
// tests of how a server answers frames no well-behaved client would send.
import net from 'node:net';
import { clientPreface, ErrorCode, Flag, frame, frameHeaderBytes, FrameType, settingsFrame } from '../../src/adapters/h2/frames.js';
import { HpackDecoder } from '../../src/adapters/h2/hpack-decoder.js';

export interface RawFrame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
  /** Which of the socket's reads completed it (0, 1, …): frames written in one write usually share one. */
  readonly chunk: number;
}

export interface Goaway {
  readonly lastStream: number;
  readonly code: number;
  readonly debug: string;
}

/** How long a wait for a frame or the close lasts before the test fails. */
const defaultWaitMs = 5_000;

const errorNames = new Map<number, string>(Object.entries(ErrorCode).map(([name, code]) => [code, name]));
export const errorName = (code: number): string => errorNames.get(code) ?? `0x${code.toString(16)}`;

export class RawH2Client {
  /** Every frame the server sent, in order; `taken` marks those a test already waited for. */
  readonly frames: RawFrame[] = [];
  private readonly taken = new Set<number>();
  private input = Buffer.alloc(0);
  private wakers: (() => void)[] = [];
  /** Decodes the server's header blocks, in the order they arrive (its encoder keeps no table, but in case). */
  private readonly decoder = new HpackDecoder();
  private closedFlag = false;
  private chunks = 0;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      const chunkIndex = this.chunks++;
      this.input = Buffer.concat([this.input, chunk]);
      let at = 0;
      while (this.input.length - at >= frameHeaderBytes) {
        const length = this.input.readUIntBE(at, 3);
        if (this.input.length - at - frameHeaderBytes < length) break;
        this.frames.push({
          type: this.input[at + 3]!,
          flags: this.input[at + 4]!,
          stream: this.input.readUInt32BE(at + 5) & 0x7fffffff,
          payload: Buffer.from(this.input.subarray(at + frameHeaderBytes, at + frameHeaderBytes + length)),
          chunk: chunkIndex,
        });
        at += frameHeaderBytes + length;
      }
      this.input = this.input.subarray(at);
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closedFlag = true;
      this.wake();
    });
  }

  static connect(port: number): Promise<RawH2Client> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawH2Client(socket));
      });
    });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  write(...bytes: Buffer[]): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.concat(bytes));
  }

  /** Preface and SETTINGS, then waits for the server's SETTINGS and acknowledges them, as a client does. */
  async handshake(settings: ReadonlyArray<readonly [number, number]> = []): Promise<RawFrame> {
    this.write(clientPreface, settingsFrame(settings));
    const theirs = await this.next((f) => f.type === FrameType.settings && (f.flags & Flag.ack) === 0, 'the server SETTINGS');
    this.write(frame(FrameType.settings, Flag.ack, 0));
    return theirs;
  }

  /** The first frame not yet taken that matches, waiting for it; fails if the socket closes first. */
  async next(match: (f: RawFrame) => boolean, what: string, waitMs = defaultWaitMs): Promise<RawFrame> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const i = this.frames.findIndex((f, n) => !this.taken.has(n) && match(f));
      if (i >= 0) {
        this.taken.add(i);
        return this.frames[i]!;
      }
      if (this.closedFlag) throw new Error(`${what}: the connection closed first (frames: ${this.describe()})`);
      if (!(await this.wait(deadline))) throw new Error(`${what}: not within ${waitMs} ms (frames: ${this.describe()})`);
    }
  }

  /** The server's GOAWAY. */
  async goaway(waitMs = defaultWaitMs): Promise<Goaway> {
    const f = await this.next((g) => g.type === FrameType.goaway, 'GOAWAY', waitMs);
    return { lastStream: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4), debug: f.payload.subarray(8).toString('latin1') };
  }

  /** The error code of the server's RST_STREAM on `stream`. */
  async rstStream(stream: number, waitMs = defaultWaitMs): Promise<number> {
    const f = await this.next((r) => r.type === FrameType.rstStream && r.stream === stream, `RST_STREAM on stream ${stream}`, waitMs);
    return f.payload.readUInt32BE(0);
  }

  /** The response HEADERS on `stream`, decoded. */
  async responseHeaders(stream: number, waitMs = defaultWaitMs): Promise<Record<string, string>> {
    const f = await this.next((h) => h.type === FrameType.headers && h.stream === stream, `HEADERS on stream ${stream}`, waitMs);
    return this.decode(f);
  }

  decode(f: RawFrame): Record<string, string> {
    const fields: Record<string, string> = {};
    this.decoder.decode(f.payload, 0, f.payload.length, { header: (name, value) => (fields[name] = value) });
    return fields;
  }

  /** Sends a PING and waits for its ACK: every frame sent before it has been handled by then. */
  async roundTrip(waitMs = defaultWaitMs): Promise<void> {
    const payload = Buffer.from('rndtrip!', 'latin1');
    this.write(frame(FrameType.ping, 0, 0, payload));
    await this.next((f) => f.type === FrameType.ping && (f.flags & Flag.ack) !== 0 && f.payload.equals(payload), 'PING ACK', waitMs);
  }

  /** Waits until the server closed the connection. */
  async closedByServer(waitMs = defaultWaitMs): Promise<void> {
    const deadline = Date.now() + waitMs;
    while (!this.closedFlag) {
      if (!(await this.wait(deadline))) throw new Error(`the server did not close the connection within ${waitMs} ms`);
    }
  }

  /** Frames not yet taken of a type. */
  untaken(type: number): RawFrame[] {
    return this.frames.filter((f, n) => f.type === type && !this.taken.has(n));
  }

  close(): void {
    this.socket.destroy();
  }

  describe(): string {
    return this.frames.map((f) => `${f.type}/${f.flags}/${f.stream}${f.type === FrameType.goaway || f.type === FrameType.rstStream ? `:${errorName(f.payload.readUInt32BE(f.type === FrameType.goaway ? 4 : 0))}` : ''}`).join(' ');
  }

  /** Resolves true on the next frame or close, false at the deadline. */
  private wait(deadline: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
      this.wakers.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }
}
