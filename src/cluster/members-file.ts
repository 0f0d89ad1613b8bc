// <data-dir>/members.json: the cluster's membership as of one applied log index. Small and rewritten
// whole on every change (conf changes are rare), atomically and durably as member-identity.json is:
// temp file, fdatasync, rename over, fsync the directory. IDs are hex strings (`%x`, as etcd prints
// them): JSON numbers cannot hold a uint64.
import path from 'node:path';
import { errorCode, nodeFileSystem, writeFully, type FileSystem } from '../storage/file-system.js';
import { formatId, parseId } from '../server/member-id.js';
import type { Member } from './member.js';

export const membersFileName = 'members.json';
const tempSuffix = '.tmp';
const membersFormat = 1;
/** A members file past this is not one Lattice wrote (a member record is well under 1 KiB). */
export const maxMembersFileBytes = 1024 * 1024;

export interface MembersSnapshot {
  /** The last log index whose change this state includes (0: the bootstrap state). */
  readonly appliedIndex: number;
  /** Sorted by ID. */
  readonly members: readonly Member[];
  /** IDs removed from the cluster; etcd never lets them back. Sorted. */
  readonly removed: readonly bigint[];
}

export class MembersFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MembersFileError';
  }
}

export function encodeMembers(s: MembersSnapshot): string {
  const doc = {
    format: membersFormat,
    appliedIndex: s.appliedIndex,
    members: s.members.map((m) => ({
      id: formatId(m.id),
      name: m.name,
      peerURLs: m.peerUrls,
      clientURLs: m.clientUrls,
      isLearner: m.isLearner,
    })),
    removed: s.removed.map(formatId),
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

/** Throws MembersFileError naming the file for anything that is not a complete members file. */
export function decodeMembers(text: string, file: string): MembersSnapshot {
  const bad = (why: string): MembersFileError =>
    new MembersFileError(`${file}: ${why}; the cluster membership cannot be read, refusing to start`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw bad(`not valid JSON (${(e as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.format !== membersFormat) throw bad(`unknown format ${JSON.stringify(d.format)} (expected ${membersFormat})`);
  if (typeof d.appliedIndex !== 'number' || !Number.isSafeInteger(d.appliedIndex) || d.appliedIndex < 0) throw bad('appliedIndex is not a log index');
  const id = (v: unknown, where: string): bigint => {
    if (typeof v !== 'string') throw bad(`${where}: id is missing`);
    try {
      return parseId(v);
    } catch {
      throw bad(`${where}: id ${JSON.stringify(v)} is not a hex ID`);
    }
  };
  const strings = (v: unknown, where: string): string[] => {
    if (!Array.isArray(v) || !v.every((u): u is string => typeof u === 'string')) throw bad(`${where} is not a list of strings`);
    return v;
  };
  if (!Array.isArray(d.members)) throw bad('members is not a list');
  const members = d.members.map((raw: unknown, i): Member => {
    const where = `members[${i}]`;
    if (typeof raw !== 'object' || raw === null) throw bad(`${where} is not an object`);
    const m = raw as Record<string, unknown>;
    if (typeof m.name !== 'string') throw bad(`${where}.name is not a string`);
    if (typeof m.isLearner !== 'boolean') throw bad(`${where}.isLearner is not a boolean`);
    return {
      id: id(m.id, where),
      name: m.name,
      peerUrls: strings(m.peerURLs, `${where}.peerURLs`),
      clientUrls: strings(m.clientURLs, `${where}.clientURLs`),
      isLearner: m.isLearner,
    };
  });
  if (!Array.isArray(d.removed)) throw bad('removed is not a list');
  const removed = d.removed.map((v: unknown, i) => id(v, `removed[${i}]`));
  return { appliedIndex: d.appliedIndex, members, removed };
}

/** The persisted membership, or undefined when the data dir has none yet. */
export async function readMembers(dataDir: string, fs: FileSystem = nodeFileSystem): Promise<MembersSnapshot | undefined> {
  const file = path.join(dataDir, membersFileName);
  let handle;
  try {
    handle = await fs.open(file, 'r');
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const { size } = await handle.stat();
    if (size > maxMembersFileBytes) throw new MembersFileError(`${file}: ${size} bytes, more than a members file can hold (${maxMembersFileBytes}); refusing to start`);
    const buffer = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await handle.read(buffer, done, size - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return decodeMembers(buffer.subarray(0, done).toString('utf8'), file);
  } finally {
    await handle.close();
  }
}

/** Replaces the members file so that a crash at any point leaves the old complete file or the new one. */
export async function writeMembers(dataDir: string, snapshot: MembersSnapshot, fs: FileSystem = nodeFileSystem): Promise<void> {
  const file = path.join(dataDir, membersFileName);
  const temp = file + tempSuffix;
  const handle = await fs.open(temp, 'w');
  try {
    await writeFully(handle, Buffer.from(encodeMembers(snapshot), 'utf8'), 0);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, file);
  await fs.fsyncDir(dataDir);
}
