// An in-memory disk behind Lattice's file layer (src/storage/file-system.ts) that can lose power.
// It keeps, per file, the content as of the last fdatasync and the writes and truncations since;
// per directory, the entries as of the last directory fsync and the creations, renames and
// removals since. A crash keeps the durable state and, by a tearing rule, part of the rest:
//   drop     every unsynced write and every unsynced directory change is lost
//   cut      unsynced writes survive in order up to one that is cut at a 512-byte sector boundary
//   scatter  each sector of each unsynced write survives or not on its own (a later sector can
//            land while an earlier one is lost, leaving zeros there, as an unwritten hole reads)
// Directory changes not yet fsynced survive as an in-order prefix (none under drop). After a crash
// every handle and file-system view of the old "process" fails; a fresh view boots the new one.
import path from 'node:path';
import type { DurableFile, FileSystem, OpenFlags } from '../../src/storage/file-system.js';

export type TearRule = 'drop' | 'cut' | 'scatter';
export const tearRules: readonly TearRule[] = ['drop', 'cut', 'scatter'];

export const sectorBytes = 512;

type PendingWrite = { readonly type: 'write'; readonly position: number; readonly data: Buffer } | { readonly type: 'truncate'; readonly length: number };

class Inode {
  bytes = Buffer.alloc(0);
  length = 0;
  durable = Buffer.alloc(0);
  pending: PendingWrite[] = [];

  content(): Buffer {
    return this.bytes.subarray(0, this.length);
  }

  apply(op: PendingWrite): void {
    if (op.type === 'truncate') {
      this.setLength(op.length);
      return;
    }
    const end = op.position + op.data.length;
    if (end > this.length) this.setLength(end);
    op.data.copy(this.bytes, op.position);
  }

  setLength(length: number): void {
    if (length > this.bytes.length) {
      const grown = Buffer.alloc(Math.max(length, this.bytes.length * 2, 4096));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    } else if (length < this.length) {
      this.bytes.fill(0, length, this.length);
    }
    this.length = length;
  }

  /**
   * A write that is durable when it returns (O_DSYNC): its bytes and the file's size join the
   * durable image (what earlier unsynced writes put in between reads as zeros there); earlier
   * pending writes stay pending, earlier pending size changes are settled by it.
   */
  applyDurably(op: PendingWrite & { readonly type: 'write' }): void {
    this.apply(op);
    const image = new Inode();
    image.reset(this.durable);
    image.setLength(this.length);
    image.apply(op);
    this.durable = Buffer.from(image.content());
    this.pending = this.pending.filter((p) => p.type === 'write');
  }

  reset(content: Buffer): void {
    this.bytes = Buffer.alloc(0);
    this.length = 0;
    this.setLength(content.length);
    content.copy(this.bytes);
    this.durable = Buffer.from(content);
    this.pending = [];
  }
}

type Node = { readonly kind: 'file'; readonly inode: Inode } | { readonly kind: 'dir'; readonly dir: Dir };
type DirChange = (entries: Map<string, Node>) => void;

class Dir {
  entries = new Map<string, Node>();
  durable = new Map<string, Node>();
  pending: DirChange[] = [];

  change(c: DirChange): void {
    c(this.entries);
    this.pending.push(c);
  }
}

import { seededRandom } from './seeded-random.js';
export { seededRandom };

/** A copy of items in a seeded random order (Fisher-Yates). */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export class PowerLossError extends Error {
  readonly code = 'EPOWERLOSS';
  constructor() {
    super('simulated power loss: this process is gone');
    this.name = 'PowerLossError';
  }
}

export interface CrashPlan {
  /** The mutating I/O operation (1-based) before which the crash comes. */
  readonly atOperation: number;
  readonly rule: TearRule;
  readonly seed: number;
  /** power: the machine loses power; process: only the process dies (kill -9), the page cache keeps every write. */
  readonly kind?: 'power' | 'process';
}

export class PowerLossDisk {
  private readonly root = new Dir();
  private epoch = 0;
  private plan: CrashPlan | undefined;
  private readonly powerLossHandlers: Array<(random: () => number) => void> = [];
  /** Mutating operations (writes, syncs, truncations, directory changes) since the last boot. */
  operations = 0;
  crashed = false;

  /** A file-system view for a freshly booted process; `plan` sets where its power is lost. */
  boot(plan?: CrashPlan): FileSystem {
    this.operations = 0;
    this.crashed = false;
    this.plan = plan;
    const epoch = ++this.epoch;
    return new DiskView(this, epoch);
  }

  /** The current process's epoch: what mutate and check compare against. */
  get currentEpoch(): number {
    return this.epoch;
  }

  /** Lets state kept outside this disk (a simulated engine) lose its unsynced part with the power. */
  onPowerLoss(handler: (random: () => number) => void): void {
    this.powerLossHandlers.push(handler);
  }

  /** Loses power now under the rule: what survives is decided by the seeded random source. */
  crash(rule: TearRule, random: () => number): void {
    const inodes = new Set<Inode>();
    const dirs: Dir[] = [];
    const visit = (dir: Dir): void => {
      dirs.push(dir);
      for (const node of [...dir.entries.values(), ...dir.durable.values()]) {
        if (node.kind === 'file') inodes.add(node.inode);
        else visit(node.dir);
      }
    };
    visit(this.root);
    for (const inode of inodes) inode.reset(survivingContent(inode, rule, random));
    for (const dir of new Set(dirs)) {
      const entries = new Map(dir.durable);
      const kept = rule === 'drop' ? 0 : Math.floor(random() * (dir.pending.length + 1));
      for (const c of dir.pending.slice(0, kept)) c(entries);
      dir.entries = entries;
      dir.durable = new Map(entries);
      dir.pending = [];
    }
    for (const handler of this.powerLossHandlers) handler(random);
    this.crashed = true;
    this.epoch++;
  }

  /** The process dies but the machine does not: unsynced writes stay, still unsynced, for the next process to see. */
  kill(): void {
    this.crashed = true;
    this.epoch++;
  }

  /** Bytes of a file as they are now (for tests that damage a file on purpose). */
  fileAt(p: string): Inode | undefined {
    const node = this.lookup(p);
    return node?.kind === 'file' ? node.inode : undefined;
  }

  // --- used by DiskView

  check(epoch: number): void {
    if (epoch !== this.epoch) throw new PowerLossError();
  }

  /** Counts a mutating operation; loses power first if the plan says so. */
  mutate(epoch: number): void {
    this.check(epoch);
    this.operations++;
    if (this.plan !== undefined && this.operations >= this.plan.atOperation) {
      const { rule, seed, kind } = this.plan;
      this.plan = undefined;
      if (kind === 'process') this.kill();
      else this.crash(rule, seededRandom(seed));
      throw new PowerLossError();
    }
  }

  lookup(p: string): Node | undefined {
    const parts = splitPath(p);
    let node: Node = { kind: 'dir', dir: this.root };
    for (const part of parts) {
      if (node.kind !== 'dir') return undefined;
      const next = node.dir.entries.get(part);
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  parentOf(p: string): { dir: Dir; name: string } {
    const parts = splitPath(p);
    const name = parts.pop();
    if (name === undefined) throw errno('EISDIR', `${p} is the root`);
    const parent = this.lookup(`/${parts.join('/')}`);
    if (parent?.kind !== 'dir') throw errno('ENOENT', `no such directory: ${path.dirname(p)}`);
    return { dir: parent.dir, name };
  }
}

function survivingContent(inode: Inode, rule: TearRule, random: () => number): Buffer {
  const image = new Inode();
  image.reset(inode.durable);
  const ops = inode.pending;
  if (rule === 'cut') {
    const keep = Math.floor(random() * (ops.length + 1));
    for (const op of ops.slice(0, keep)) image.apply(op);
    const torn = ops[keep];
    if (torn?.type === 'write') {
      const pieces = sectorPieces(torn);
      const kept = Math.floor(random() * pieces.length);
      for (const piece of pieces.slice(0, kept)) image.apply(piece);
    }
  } else if (rule === 'scatter') {
    for (const op of ops) {
      if (op.type === 'truncate') {
        if (random() < 0.5) image.apply(op);
        continue;
      }
      for (const piece of sectorPieces(op)) if (random() < 0.5) image.apply(piece);
    }
  }
  return Buffer.from(image.content());
}

/** A write split where it crosses 512-byte sector boundaries of the file. */
function sectorPieces(op: { readonly position: number; readonly data: Buffer }): Array<{ type: 'write'; position: number; data: Buffer }> {
  const pieces: Array<{ type: 'write'; position: number; data: Buffer }> = [];
  let at = op.position;
  const end = op.position + op.data.length;
  while (at < end) {
    const next = Math.min(end, (Math.floor(at / sectorBytes) + 1) * sectorBytes);
    pieces.push({ type: 'write', position: at, data: op.data.subarray(at - op.position, next - op.position) });
    at = next;
  }
  return pieces;
}

function splitPath(p: string): string[] {
  return path.posix.resolve('/', p).split('/').filter((s) => s.length > 0);
}

function errno(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

class DiskView implements FileSystem {
  constructor(
    private readonly disk: PowerLossDisk,
    private readonly epoch: number,
  ) {}

  async open(p: string, flags: OpenFlags): Promise<DurableFile> {
    this.disk.check(this.epoch);
    const existing = this.disk.lookup(p);
    if (existing?.kind === 'dir') throw errno('EISDIR', p);
    let inode = existing?.inode;
    if (flags === 'wx+' && inode !== undefined) throw errno('EEXIST', p);
    if (inode === undefined) {
      if (flags === 'r' || flags === 'r+' || flags === 'r+sync') throw errno('ENOENT', `no such file: ${p}`);
      this.disk.mutate(this.epoch);
      const { dir, name } = this.disk.parentOf(p);
      const created = new Inode();
      dir.change((entries) => entries.set(name, { kind: 'file', inode: created }));
      inode = created;
    } else if (flags === 'w' || flags === 'w+') {
      this.disk.mutate(this.epoch);
      const op: PendingWrite = { type: 'truncate', length: 0 };
      inode.apply(op);
      inode.pending.push(op);
    }
    return new SimulatedFile(this.disk, this.epoch, inode, flags !== 'r', flags === 'r+sync');
  }

  async rename(from: string, to: string): Promise<void> {
    this.disk.mutate(this.epoch);
    const source = this.disk.parentOf(from);
    const target = this.disk.parentOf(to);
    if (source.dir !== target.dir) throw new Error('the simulated disk renames within one directory only');
    const node = source.dir.entries.get(source.name);
    if (node === undefined) throw errno('ENOENT', `no such file: ${from}`);
    source.dir.change((entries) => {
      entries.delete(source.name);
      entries.set(target.name, node);
    });
  }

  async remove(p: string): Promise<void> {
    this.disk.check(this.epoch);
    const { dir, name } = this.disk.parentOf(p);
    if (!dir.entries.has(name)) return;
    this.disk.mutate(this.epoch);
    dir.change((entries) => entries.delete(name));
  }

  async readdir(p: string): Promise<string[]> {
    this.disk.check(this.epoch);
    const node = this.disk.lookup(p);
    if (node?.kind !== 'dir') throw errno('ENOENT', `no such directory: ${p}`);
    return [...node.dir.entries.keys()];
  }

  async mkdirs(p: string): Promise<string | undefined> {
    this.disk.check(this.epoch);
    const parts = splitPath(p);
    let first: string | undefined;
    for (let i = 1; i <= parts.length; i++) {
      const sub = `/${parts.slice(0, i).join('/')}`;
      const node = this.disk.lookup(sub);
      if (node?.kind === 'file') throw errno('ENOTDIR', sub);
      if (node !== undefined) continue;
      this.disk.mutate(this.epoch);
      const { dir, name } = this.disk.parentOf(sub);
      const created = new Dir();
      dir.change((entries) => entries.set(name, { kind: 'dir', dir: created }));
      first ??= sub;
    }
    return first;
  }

  async size(p: string): Promise<number | undefined> {
    this.disk.check(this.epoch);
    const node = this.disk.lookup(p);
    return node?.kind === 'file' ? node.inode.length : undefined;
  }

  async fsyncDir(p: string): Promise<void> {
    this.disk.mutate(this.epoch);
    const node = this.disk.lookup(p);
    if (node?.kind !== 'dir') throw errno('ENOENT', `no such directory: ${p}`);
    node.dir.durable = new Map(node.dir.entries);
    node.dir.pending = [];
  }
}

class SimulatedFile implements DurableFile {
  private closed = false;

  constructor(
    private readonly disk: PowerLossDisk,
    private readonly epoch: number,
    private readonly inode: Inode,
    private readonly writable: boolean,
    private readonly syncedWrites: boolean,
  ) {}

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    this.usable();
    const content = this.inode.content();
    const end = Math.min(content.length, position + length);
    if (end <= position) return { bytesRead: 0 };
    content.copy(buffer, offset, position, end);
    return { bytesRead: end - position };
  }

  async write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }> {
    this.writeNow(buffer.subarray(offset, offset + length), position);
    return { bytesWritten: length };
  }

  writeNow(buffer: Buffer, position: number): void {
    this.writing();
    const op = { type: 'write', position, data: Buffer.from(buffer) } as const;
    if (this.syncedWrites) {
      this.inode.applyDurably(op);
      return;
    }
    this.inode.apply(op);
    this.inode.pending.push(op);
  }

  async writev(buffers: readonly Buffer[], position: number): Promise<{ bytesWritten: number }> {
    const data = Buffer.concat(buffers);
    return this.write(data, 0, data.length, position);
  }

  async datasync(): Promise<void> {
    this.writing();
    this.inode.durable = Buffer.from(this.inode.content());
    this.inode.pending = [];
  }

  async truncate(length: number): Promise<void> {
    this.writing();
    const op: PendingWrite = { type: 'truncate', length };
    this.inode.apply(op);
    this.inode.pending.push(op);
  }

  async stat(): Promise<{ size: number }> {
    this.usable();
    return { size: this.inode.length };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private usable(): void {
    this.disk.check(this.epoch);
    if (this.closed) throw errno('EBADF', 'file is closed');
  }

  private writing(): void {
    this.usable();
    if (!this.writable) throw errno('EBADF', 'file is open read-only');
    this.disk.mutate(this.epoch);
  }
}
