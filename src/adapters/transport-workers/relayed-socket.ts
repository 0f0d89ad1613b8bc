// An HTTP/1 connection whose socket a transport worker holds, as the HTTP server here sees it: a
// Duplex whose reads are the bytes the worker relays and whose writes go back to it. A write's
// callback fires once the worker has handed the bytes to its socket, so backpressure holds across
// the relay; the worker stops reading its socket while a credit's worth of input is not yet taken
// here (relay-wire.ts), and what the HTTP server has not read yet is not taken.
import { Duplex } from 'node:stream';
import { consumedAckBytes, Down, type RelayedPeer } from './relay-wire.js';
import type { RelayOut } from './relay-call-stream.js';

export class RelayedSocket extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  private readonly unwritten: ((err?: Error | null) => void)[] = [];
  /** Input pushed and not yet told to the worker as taken. */
  private untold = 0;
  /** The last push found the read buffer full: nothing is told until node reads on. */
  private full = false;
  private gone = false;
  private timeoutMs = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: RelayOut,
    readonly id: number,
    peer: RelayedPeer,
  ) {
    super({ allowHalfOpen: true });
    this.remoteAddress = peer.remoteAddress;
    this.remotePort = peer.remotePort;
    this.remoteFamily = peer.remoteFamily;
    this.localAddress = peer.localAddress;
    this.localPort = peer.localPort;
  }

  // ---- what node's http server and ws ask of a socket ----

  /** As net.Socket: 'timeout' after `ms` without activity either way; 0 turns it off. */
  setTimeout(ms: number, callback?: () => void): this {
    this.timeoutMs = ms;
    if (callback !== undefined) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.touch();
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  /** Activity: the quiet time starts again (one timer per socket, re-armed, not one per chunk). */
  private touch(): void {
    if (this.timeoutMs <= 0 || this.gone) return;
    if (this.timer !== undefined) this.timer.refresh();
    else this.timer = setTimeout(() => this.emit('timeout'), this.timeoutMs).unref();
  }

  // ---- Duplex ----

  override _read(): void {
    this.full = false;
    this.tellConsumed();
  }

  private tellConsumed(): void {
    if (this.untold === 0 || this.gone) return;
    this.out.opCount(Down.httpConsumed, this.id, this.untold);
    this.untold = 0;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.relayWrite(chunk, callback);
  }

  private relayWrite(chunk: Buffer, callback: (err?: Error | null) => void): void {
    if (this.gone) return callback();
    this.touch();
    this.unwritten.push(callback);
    this.out.op(Down.httpWrite, this.id, chunk);
  }

  /** Corked writes (node's http server corks each response) go as one operation with one acknowledgement. */
  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    this.relayWrite(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (!this.gone) this.out.op(Down.httpEnd, this.id);
    callback();
  }

  override _destroy(err: Error | null, callback: (err: Error | null) => void): void {
    clearTimeout(this.timer);
    if (!this.gone) {
      this.gone = true;
      this.out.op(Down.httpDestroy, this.id);
    }
    for (const done of this.unwritten.splice(0)) done();
    callback(err);
  }

  // ---- from the worker ----

  relayedData(chunk: Buffer): void {
    this.touch();
    // the payload is a view of the whole IPC batch: one that may wait in the read buffer is copied,
    // so that it does not keep the batch alive
    this.untold += chunk.length;
    const waits = this.readableFlowing !== true || this.readableLength > 0;
    if (!this.push(waits ? Buffer.from(chunk) : chunk)) this.full = true;
    else if (!this.full && this.untold >= consumedAckBytes) this.tellConsumed();
  }

  relayedEnd(): void {
    this.push(null);
  }

  relayedWritten(n: number): void {
    for (let i = 0; i < n; i++) this.unwritten.shift()?.();
  }

  /** The worker's socket closed (or the worker went). */
  relayedClose(): void {
    if (this.gone) return;
    this.gone = true;
    for (const done of this.unwritten.splice(0)) done();
    this.destroy();
  }
}
