// Test wrappers around a real engine.
import type { Engine } from '../../src/engines/engine.js';

/** The engine with its write replaced (to count, fail or drop batches); everything else passes through. */
export function withWrite(engine: Engine, write: Engine['write']): Engine {
  return {
    name: engine.name,
    get: (k) => engine.get(k),
    iterateBatches: (o) => engine.iterateBatches(o),
    sizeBytes: () => engine.sizeBytes(),
    exportState: () => engine.exportState(),
    importState: (chunks) => engine.importState(chunks),
    bulkLoad: (batches) => engine.bulkLoad(batches),
    onFailure: (listener) => engine.onFailure(listener),
    close: () => engine.close(),
    write,
  };
}
