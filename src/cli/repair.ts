// `lattice-repair cut <file> <offset>`: the explicit, operator-run answer to a corruption error
// (CorruptFileError names the file and offset). It cuts the file at the offset, keeping the cut
// bytes beside it in <file>.cut-<offset>, and for a log WAL segment also moves every later segment
// aside (<name>.cut), since the log must not have a gap. Nothing is ever cut silently at start-up.
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { nodeFileSystem, writeFully } from '../storage/file-system.js';

const usage = 'usage: lattice-repair cut <file> <offset>   (stop the member first; see docs/operations.md)';
const segmentNamePattern = /^[0-9a-f]{16}\.wal$/;

async function cut(path: string, offset: number): Promise<void> {
  const fs = nodeFileSystem;
  const file = await fs.open(path, 'r+');
  try {
    const { size } = await file.stat();
    if (offset < 0 || offset > size) throw new Error(`offset ${offset} is outside ${path} (${size} bytes)`);
    const rest = Buffer.alloc(size - offset);
    await file.read(rest, 0, rest.length, offset);
    const keptPath = `${path}.cut-${offset}`;
    const kept = await fs.open(keptPath, 'wx+');
    try {
      await writeFully(kept, rest, 0);
      await kept.datasync();
    } finally {
      await kept.close();
    }
    await fs.fsyncDir(dirname(path));
    await file.truncate(offset);
    await file.datasync();
    console.log(`cut ${path} at offset ${offset}; the ${rest.length} bytes cut are in ${keptPath}`);
  } finally {
    await file.close();
  }
  if (segmentNamePattern.test(basename(path))) {
    const dir = dirname(path);
    for (const name of readdirSync(dir).filter((n) => segmentNamePattern.test(n) && n > basename(path)).sort()) {
      await fs.rename(join(dir, name), join(dir, `${name}.cut`));
      console.log(`moved the later log segment ${name} aside to ${name}.cut`);
    }
    await fs.fsyncDir(dir);
  }
}

async function main(args: readonly string[]): Promise<number> {
  const [command, path, offsetText] = args;
  const offset = Number(offsetText);
  if (command !== 'cut' || path === undefined || !Number.isSafeInteger(offset)) {
    console.error(usage);
    return 2;
  }
  try {
    await cut(path, offset);
    return 0;
  } catch (err) {
    console.error(`lattice-repair: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
