// Engine states received from the leader with a Raft snapshot, kept as files under <data-dir>/snap
// until the engine has imported them. A state is written in full and made durable before Raft is
// told the snapshot arrived, and the Raft WAL records the snapshot before the engine imports it; so
// after a crash at any point the member either never saw the snapshot or finds its state file here
// and imports it before it opens the store (as etcd keeps its received .snap.db file).
import { createReadStream } from 'node:fs';
import { open, readFile, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { makeDirDurable } from '../storage/durable-dir.js';
import { nodeFileSystem } from '../storage/file-system.js';

const suffix = '.state';
const tmpSuffix = '.tmp';
/** The leader's membership that came with the snapshot (Raft's snapshot data), beside its state. */
const membersSuffix = '.members';

const fileName = (index: number): string => index.toString(16).padStart(16, '0') + suffix;
const membersFileName = (index: number): string => index.toString(16).padStart(16, '0') + membersSuffix;

export class ReceivedSnapshots {
  private constructor(private readonly dir: string) {}

  static async open(dataDir: string): Promise<ReceivedSnapshots> {
    const dir = path.join(dataDir, 'snap');
    await makeDirDurable(dir, 0o700);
    // A receive that a crash cut short is worthless: the leader sends it again.
    for (const name of await readdir(dir)) if (name.endsWith(tmpSuffix)) await rm(path.join(dir, name), { force: true });
    return new ReceivedSnapshots(dir);
  }

  /**
   * Stores the state and the membership of the snapshot at `index`, durably; bounded memory (one
   * chunk at a time). The membership goes first: a state file is only ever there with its members.
   */
  async store(index: number, members: Uint8Array, state: AsyncIterable<Uint8Array>): Promise<void> {
    await this.write(membersFileName(index), [members]);
    await this.write(fileName(index), state);
  }

  private async write(name: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    const final = path.join(this.dir, name);
    const tmp = final + tmpSuffix;
    const handle = await open(tmp, 'w', 0o600);
    try {
      for await (const chunk of chunks) {
        let written = 0;
        while (written < chunk.length) written += (await handle.write(chunk, written)).bytesWritten;
      }
      await handle.datasync();
    } catch (e) {
      await handle.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw e;
    }
    await handle.close();
    await rename(tmp, final);
    await nodeFileSystem.fsyncDir(this.dir);
  }

  has(index: number): Promise<boolean> {
    return readdir(this.dir).then((names) => names.includes(fileName(index)));
  }

  /** The stored state at `index`, as a stream of chunks. */
  read(index: number): AsyncIterable<Uint8Array> {
    return createReadStream(path.join(this.dir, fileName(index)), { highWaterMark: 1024 * 1024 });
  }

  /** The membership stored with the snapshot at `index`. */
  readMembers(index: number): Promise<Buffer> {
    return readFile(path.join(this.dir, membersFileName(index)));
  }

  /** Removes every stored snapshot but the one at `keep` (imported ones, and any Raft did not take). */
  async removeAllBut(keep: number | undefined): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (!name.endsWith(suffix) && !name.endsWith(membersSuffix)) continue;
      if (keep !== undefined && parseInt(name.slice(0, 16), 16) === keep) continue;
      await rm(path.join(this.dir, name), { force: true });
    }
  }
}
