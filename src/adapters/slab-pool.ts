// Reusable 64 KiB buffers for answers on their way to a socket. Every `Buffer` of 4 KiB or more is
// memory outside V8's heap that V8 counts: allocating one per stream per tick (a watch revision fanned
// out over 100 streams is 3 MB of them) made V8 run a full mark-compact every few hundred
// milliseconds, a third of the server's CPU in the watch fan-out benchmark. A slab goes back to the
// pool when the transport says its bytes have left, and is then written over by the next answer.
export const slabBytes = 64 * 1024;
/**
 * Free slabs kept for reuse, at most (16 MiB): a watch revision reaching 100 streams has 100 slabs in
 * flight at once. Slabs no answer needed for a whole trim interval are let go, so an idle server
 * gives the memory back.
 */
const maxFreeSlabs = 256;
const trimIntervalMs = 5_000;

const free: Slab[] = [];
/** The fewest free slabs since the last trim: that many went unused the whole interval. */
let lowWater = 0;
let trimTimer: NodeJS.Timeout | undefined;

function trim(): void {
  free.length -= lowWater;
  lowWater = free.length;
  if (free.length === 0 && trimTimer !== undefined) {
    clearInterval(trimTimer);
    trimTimer = undefined;
  }
}

export class Slab {
  readonly buf: Buffer = Buffer.allocUnsafeSlow(slabBytes);
  private inUse = true;

  /**
   * Hands the slab back; its bytes may be overwritten from now on. Only the transport's "written"
   * callback (or a holder that never handed it on) may call this. Made once per slab, so passing it
   * as a callback allocates nothing; a second call is ignored.
   */
  readonly release = (): void => {
    if (!this.inUse) return;
    this.inUse = false;
    if (free.length >= maxFreeSlabs) return;
    free.push(this);
    if (trimTimer === undefined) {
      lowWater = free.length;
      trimTimer = setInterval(trim, trimIntervalMs);
      trimTimer.unref();
    }
  };

  /** A free slab, or a new one. */
  static take(): Slab {
    const slab = free.pop();
    if (slab === undefined) return new Slab();
    if (free.length < lowWater) lowWater = free.length;
    slab.inUse = true;
    return slab;
  }
}
