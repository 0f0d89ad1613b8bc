// Decodes the elements of a leaf or branch page, checking that every element and its key and
// value lie inside the page, so a damaged page is refused instead of read out of bounds.

import { BboltFormatError } from './bbolt-errors.js';
import {
  branchElementBytes,
  branchPageFlag,
  leafElementBytes,
  leafPageFlag,
  pageHeaderBytes,
  pageTypeName,
  readPageHeader,
  readPgid,
  view,
  type PageHeader,
} from './page-format.js';

export interface LeafElement {
  readonly flags: number;
  /** Views into the page. */
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}

export interface BranchElement {
  readonly key: Uint8Array;
  readonly pgid: number;
}

export type TreePage =
  | { readonly kind: 'leaf'; readonly elements: LeafElement[] }
  | { readonly kind: 'branch'; readonly elements: BranchElement[] };

/**
 * Decodes a tree page. `pgid` is the id it was reached by (checked against its header), or
 * null for an inline bucket's page, whose header id is 0 and which must be a leaf.
 */
export function decodeTreePage(page: Uint8Array, pgid: number | null): TreePage {
  const where = pgid === null ? 'inline bucket page' : `page ${pgid}`;
  const fail = (detail: string): never => {
    throw new BboltFormatError('bad-page', `${where}: ${detail}`, pgid ?? undefined);
  };
  if (page.length < pageHeaderBytes) fail(`only ${page.length} bytes`);
  const header: PageHeader = readPageHeader(page);
  if (pgid !== null && header.id !== pgid) fail(`its header says page ${header.id}`);
  const isLeaf = (header.flags & leafPageFlag) !== 0;
  const isBranch = (header.flags & branchPageFlag) !== 0;
  if (!isLeaf && !isBranch) fail(`a ${pageTypeName(header.flags)} page where a tree page belongs`);
  if (pgid === null && !isLeaf) fail('not a leaf');
  const elementBytes = isLeaf ? leafElementBytes : branchElementBytes;
  if (pageHeaderBytes + header.count * elementBytes > page.length) fail(`${header.count} elements do not fit`);
  const data = view(page);
  const slice = (elementOffset: number, pos: number, length: number, what: string): Uint8Array => {
    const start = elementOffset + pos;
    if (start + length > page.length) fail(`element at ${elementOffset}: ${what} runs past the page end`);
    return page.subarray(start, start + length);
  };
  if (isLeaf) {
    const elements: LeafElement[] = [];
    for (let i = 0; i < header.count; i++) {
      const at = pageHeaderBytes + i * leafElementBytes;
      const pos = data.getUint32(at + 4, true);
      const ksize = data.getUint32(at + 8, true);
      const vsize = data.getUint32(at + 12, true);
      const start = at + pos;
      if (start + ksize + vsize > page.length) fail(`element at ${at}: key and value runs past the page end`);
      elements.push({ flags: data.getUint32(at, true), key: page.subarray(start, start + ksize), value: page.subarray(start + ksize, start + ksize + vsize) });
    }
    return { kind: 'leaf', elements };
  }
  if (header.count === 0) fail('an empty branch page');
  const elements: BranchElement[] = [];
  for (let i = 0; i < header.count; i++) {
    const at = pageHeaderBytes + i * branchElementBytes;
    const pos = data.getUint32(at, true);
    const ksize = data.getUint32(at + 4, true);
    elements.push({ key: slice(at, pos, ksize, 'key'), pgid: readPgid(data, at + 8) });
  }
  return { kind: 'branch', elements };
}
