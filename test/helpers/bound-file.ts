// A file's methods bound to it as a plain object, so that a test can replace some of them with a
// spread ({ ...bindFile(file), datasync: ... }); a class instance spreads to its fields, not its methods.
import type { DurableFile } from '../../src/storage/file-system.js';

export function bindFile(file: DurableFile): DurableFile {
  return {
    read: (...a) => file.read(...a),
    write: (...a) => file.write(...a),
    writev: (...a) => file.writev(...a),
    writeNow: (...a) => file.writeNow(...a),
    datasync: () => file.datasync(),
    truncate: (l) => file.truncate(l),
    stat: () => file.stat(),
    close: () => file.close(),
  };
}
