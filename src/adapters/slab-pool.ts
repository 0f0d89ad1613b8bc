// Reusable 64 KiB buffers for answers on their way to a socket. Every `Buffer`
// of 4 KiB or more is memory outside V8's heap that V8 counts: allocating one per stream per tick (a
// watch revision fanned out over 100 streams is 3 MB of them) made V8 run a full mark-compact every
// few hundred milliseconds, a third of the server's CPU in the watch fan-out benchmark. A slab goes
// back to its pool when the transport says its bytes have left, and is then written over by the next
// answer. Slabs no answer needed for a whole trim interval are let go, so an idle server gives the
// memory back.
const trimIntervalMs = 5_000;

export class SlabPool {
  private readonly free: Slab[] = [];
  /** The fewest free slabs since the last trim: that many went unused the whole interval. */
  private lowWater = 0;
  private trimTimer: NodeJS.Timeout | undefined;
  /** Slabs taken and not released yet. */
  outstanding = 0;

  /** `maxFree`: free slabs kept for reuse at most; more are left to the garbage collector. */
  constructor(
    readonly slabBytes: number,
    private readonly maxFree: number,
  ) {}

  /** A free slab, or a new one. */
  take(): Slab {
    this.outstanding++;
    const slab = this.free.pop();
    if (slab === undefined) return new Slab(this);
    if (this.free.length < this.lowWater) this.lowWater = this.free.length;
    slab.inUse = true;
    return slab;
  }

  /** From Slab.release only. */
  putBack(slab: Slab): void {
    this.outstanding--;
    if (this.free.length >= this.maxFree) return;
    this.free.push(slab);
    if (this.trimTimer === undefined) {
      this.lowWater = this.free.length;
      this.trimTimer = setInterval(this.trim, trimIntervalMs);
      this.trimTimer.unref();
    }
  }

  private readonly trim = (): void => {
    this.free.length -= this.lowWater;
    this.lowWater = this.free.length;
    if (this.free.length === 0 && this.trimTimer !== undefined) {
      clearInterval(this.trimTimer);
      this.trimTimer = undefined;
    }
  };
}

export class Slab {
  readonly buf: Buffer;
  /** Taken and not released yet. */
  inUse = true;

  constructor(private readonly pool: SlabPool) {
    this.buf = Buffer.allocUnsafeSlow(pool.slabBytes);
  }

  /**
   * Hands the slab back; its bytes may be overwritten from now on. Only the transport's "written"
   * callback (or a holder that never handed it on) may call this. Made once per slab, so passing it
   * as a callback allocates nothing; a second call is ignored.
   */
  readonly release = (): void => {
    if (!this.inUse) return;
    this.inUse = false;
    this.pool.putBack(this);
  };
}

/** 64 KiB slabs, 16 MiB kept at most: a watch revision reaching 100 streams has 100 in flight at once. */
export const largeSlabs = new SlabPool(64 * 1024, 256);
