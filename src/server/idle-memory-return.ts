// Gives a burst's memory back once the server has gone quiet. V8 keeps the heap a burst grew to and
// its memory reducer returns it only sometimes: after 100,000 lease grants, one run of two gave it
// back within 30 s (RSS per lease 465 B) and the other kept it (2,106 B, against etcd's 1,430 B;
// Go's scavenger returns etcd's). So when the event loop has been idle for two checks in a row and
// the heap holds at least `minSlackBytes` it does not use, this asks V8 for one full GC, which frees
// the burst's pages to the OS.
//
// A full GC stops the loop for as long as marking the live heap takes, so it is left to V8's own
// incremental GCs when the used heap (the live objects plus garbage not yet collected: an upper
// bound on what the pause marks) is above `maxUsedBytes`; a pause there could approach Raft's
// election timeout. Such a heap keeps its memory until V8 collects it. And it
// runs once per burst: armed again only when the heap has grown by `minSlackBytes` past its size
// after the last collection, not merely when the loop was busy (the collection's own pause can make
// the next check look busy, which would repeat it forever on an idle server).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { performance } from 'node:perf_hooks';

export const idleCheckIntervalMs = 5000;
/** Event-loop utilization under which a check counts as idle (raft ticks and lease duties stay under 1 %). */
export const idleUtilization = 0.02;
/** Idle checks in a row before collecting: a pause between two bursts is not a quiet spell. */
export const idleChecksBeforeCollecting = 2;
/** Heap allocated but unused below which there is too little to give back to be worth a GC. */
export const minSlackBytes = 16 * 1024 * 1024;
/** Used heap above which a full GC's pause is not risked. */
export const maxUsedBytes = 256 * 1024 * 1024;

export interface HeapUse {
  readonly total: number;
  readonly used: number;
}

export interface IdleMemoryProbe {
  /** Event-loop utilization since the previous call (0 to 1). */
  utilization(): number;
  heap(): HeapUse;
  /** Starts a full GC (from a task, not inside this call). */
  collect(): void;
}

/** Decides, one check at a time, when to collect. */
export class IdleMemoryReturn {
  private idleChecks = 0;
  /** The heap's smallest size since the last collection (the GC shrinks it by the next check). */
  private collectedTotal: number | undefined;

  constructor(private readonly probe: IdleMemoryProbe) {}

  /** One periodic check; true when it started a GC. */
  check(): boolean {
    const busy = this.probe.utilization() >= idleUtilization;
    const heap = this.probe.heap();
    // what the GC gave back, and whatever V8's own reducer gave back later, lowers the baseline for growth
    if (this.collectedTotal !== undefined) this.collectedTotal = Math.min(this.collectedTotal, heap.total);
    this.idleChecks = busy ? 0 : this.idleChecks + 1;
    if (this.idleChecks < idleChecksBeforeCollecting) return false;
    if (this.collectedTotal !== undefined && heap.total < this.collectedTotal + minSlackBytes) return false;
    if (heap.total - heap.used < minSlackBytes || heap.used > maxUsedBytes) return false;
    this.collectedTotal = heap.total;
    this.probe.collect();
    return true;
  }
}

/** The process's own probe: V8's gc() made reachable the way test runners reach it, through a fresh context. */
function processProbe(): IdleMemoryProbe {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (options: { type: 'major'; execution: 'async' }) => PromiseLike<void>;
  let last = performance.eventLoopUtilization();
  return {
    utilization: () => {
      const now = performance.eventLoopUtilization();
      const { utilization } = performance.eventLoopUtilization(now, last);
      last = now;
      return utilization;
    },
    heap: () => {
      const { heapTotal, heapUsed } = process.memoryUsage();
      return { total: heapTotal, used: heapUsed };
    },
    collect: () => void gc({ type: 'major', execution: 'async' }),
  };
}

/**
 * Checks every idleCheckIntervalMs until stopped; the timer never keeps the process alive. Returns
 * what stops it, or why it could not start (a runtime without V8's gc extension), for the caller to log.
 */
export function startIdleMemoryReturn(): { readonly stop: () => void } | Error {
  let idle: IdleMemoryReturn;
  try {
    idle = new IdleMemoryReturn(processProbe());
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
  const timer = setInterval(() => idle.check(), idleCheckIntervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
