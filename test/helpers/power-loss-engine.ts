// An engine (RocksDB, say) whose own files are its business, made to lose power with a
// PowerLossDisk: every write batch is journaled here, and a power loss keeps the batches up to the
// last synced one plus a seeded prefix of the rest, as a disk keeps a prefix of an unsynced WAL. Each
// boot opens a fresh database and replays the surviving batches into it, so nothing the real engine
// kept in its page cache can mask a missing sync. A write is an I/O operation of the disk: the
// crash may come right before it. A process kill keeps every batch (RocksDB hands each write to the
// OS before it returns).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Engine, WriteOp } from '../../src/engines/engine.js';
import type { PowerLossDisk } from './power-loss-fs.js';

export class PowerLossEngineJournal {
  private batches: Array<readonly WriteOp[]> = [];
  /** Batches known durable: up to the last synced write that resolved. */
  private durable = 0;
  private readonly dirs = new Set<string>();

  constructor(
    private readonly disk: PowerLossDisk,
    private readonly openReal: (dir: string) => Promise<Engine>,
  ) {
    disk.onPowerLoss((random) => {
      const kept = this.durable + Math.floor(random() * (this.batches.length - this.durable + 1));
      this.batches = this.batches.slice(0, kept);
      this.durable = kept;
    });
  }

  /** Opens the engine as the current boot of the disk finds it. */
  async open(): Promise<Engine> {
    const epoch = this.disk.currentEpoch;
    this.disk.check(epoch);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'lattice-power-loss-engine-'));
    this.dirs.add(dir);
    let real: Engine;
    try {
      real = await this.openReal(dir);
      const surviving = this.batches.flat();
      if (surviving.length > 0) await real.write(surviving, { sync: false });
    } catch (err) {
      await this.remove(dir);
      throw err;
    }
    return {
      name: real.name,
      get: (key) => real.get(key),
      iterateBatches: (options) => real.iterateBatches(options),
      sizeBytes: () => real.sizeBytes(),
      exportState: () => real.exportState(),
      // Replacing the state is not journaled here, so a power loss could not be simulated over it.
      importState: () => Promise.reject(new Error('importState is not simulated by the power-loss engine')),
      bulkLoad: () => Promise.reject(new Error('bulkLoad is not simulated by the power-loss engine')),
      onFailure: (listener) => real.onFailure(listener),
      write: (ops, options) => {
        try {
          this.disk.mutate(epoch);
        } catch (err) {
          return Promise.reject(err);
        }
        this.batches.push(ops);
        const position = this.batches.length;
        return real.write(ops, { sync: false }).then(() => {
          if (options.sync && this.disk.currentEpoch === epoch) this.durable = Math.max(this.durable, position);
        });
      },
      close: async () => {
        try {
          await real.close();
        } finally {
          await this.remove(dir);
        }
      },
    };
  }

  /** Removes every database directory still there (the test's clean-up, also after a failure). */
  async cleanup(): Promise<void> {
    for (const dir of [...this.dirs]) await this.remove(dir);
  }

  private async remove(dir: string): Promise<void> {
    this.dirs.delete(dir);
    await rm(dir, { recursive: true, force: true });
  }
}
