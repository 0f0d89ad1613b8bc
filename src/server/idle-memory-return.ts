// Gives a burst's memory back once the server has gone quiet. V8 keeps the heap a burst grew to and
// its memory reducer returns it only sometimes: after 100,000 lease grants, one run of two gave it
// back within 30 s (RSS per lease 465 B) and the other kept it (2,106 B, against etcd's 1,430 B;
// Go's scavenger returns etcd's). So when the event loop has been idle for two checks in a row and
// the heap holds at least `minSlackBytes` it does not use, this asks V8 for one incremental major GC
// (marked in small steps, so a request arriving meanwhile is not held behind a pause), which frees
// the burst's pages to the OS. Once per quiet spell: a busy check arms it again.
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

export interface IdleMemoryProbe {
  /** Event-loop utilization since the previous call (0 to 1). */
  utilization(): number;
  /** Bytes the heap holds and does not use. */
  heapSlack(): number;
  /** Starts an incremental major GC. */
  collect(): void;
}

/** Decides, one check at a time, when to collect. */
export class IdleMemoryReturn {
  private idleChecks = 0;
  private collected = false;

  constructor(private readonly probe: IdleMemoryProbe) {}

  /** One periodic check; true when it started a GC. */
  check(): boolean {
    if (this.probe.utilization() >= idleUtilization) {
      this.idleChecks = 0;
      this.collected = false;
      return false;
    }
    this.idleChecks++;
    if (this.collected || this.idleChecks < idleChecksBeforeCollecting || this.probe.heapSlack() < minSlackBytes) return false;
    this.collected = true;
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
    heapSlack: () => {
      const { heapTotal, heapUsed } = process.memoryUsage();
      return heapTotal - heapUsed;
    },
    collect: () => void gc({ type: 'major', execution: 'async' }),
  };
}

/** Checks every idleCheckIntervalMs for the life of the process; the timer never keeps it alive. */
export function startIdleMemoryReturn(): void {
  const idle = new IdleMemoryReturn(processProbe());
  setInterval(() => idle.check(), idleCheckIntervalMs).unref();
}
