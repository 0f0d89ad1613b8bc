// A broken Raft property (or a broken contract between the core and its node loop) found by the
// simulation. Thrown from wherever it is seen and caught by the run, which reports seed and trace.

export type InvariantName =
  | 'election safety'
  | 'log matching'
  | 'leader completeness'
  | 'state machine safety'
  | 'committed never lost'
  | 'durable state'
  | 'linearizable read'
  | 'storage contract'
  | 'message contract'
  | 'liveness'
  | 'core exception';

export class SimViolation extends Error {
  constructor(
    readonly invariant: InvariantName,
    readonly detail: string,
  ) {
    super(`${invariant}: ${detail}`);
    this.name = 'SimViolation';
  }
}
