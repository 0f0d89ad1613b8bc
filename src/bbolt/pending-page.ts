// A leaf or branch page being filled in memory before it is written (node.write in bbolt).

import {
  branchElementBytes,
  branchPageFlag,
  leafElementBytes,
  leafPageFlag,
  maxElementsPerPage,
  pageHeaderBytes,
  view,
  writePageHeader,
} from './page-format.js';

/** bbolt's minKeysPerPage: its splits never leave fewer on a page. */
export const minItemsPerPage = 2;

export interface PageItem {
  readonly key: Uint8Array;
  /** Leaf only: the value, or a sub-bucket's header (and inline page). */
  readonly value: Uint8Array;
  /** Leaf only: bucketLeafFlag for a sub-bucket. */
  readonly flags: number;
  /** Branch only: the child page. */
  readonly pgid: number;
}

export class PendingPage {
  private items: PageItem[] = [];
  /** Encoded size: header, elements, keys and values. */
  private encodedBytes = pageHeaderBytes;

  constructor(readonly isLeaf: boolean) {}

  get count(): number {
    return this.items.length;
  }

  get byteSize(): number {
    return this.encodedBytes;
  }

  get firstKey(): Uint8Array | undefined {
    return this.items[0]?.key;
  }

  get holdsBucket(): boolean {
    return this.items.some((item) => item.flags !== 0);
  }

  /**
   * Whether `item` still fits in one page of `pageBytes`. A page takes at least minItemsPerPage
   * items whatever their size (it grows overflow pages): with one huge key per branch page the
   * levels above would never narrow to a root.
   */
  fits(item: PageItem, pageBytes: number): boolean {
    if (this.items.length < minItemsPerPage) return true;
    if (this.items.length >= maxElementsPerPage) return false;
    return this.encodedBytes + this.itemBytes(item) <= pageBytes;
  }

  add(item: PageItem): void {
    this.items.push(item);
    this.encodedBytes += this.itemBytes(item);
  }

  /** Writes the page into `target` (zeroed, at least byteSize long) with header id `pgid`. */
  encodeInto(target: Uint8Array, pgid: number, overflow: number): void {
    writePageHeader(target, {
      id: pgid,
      flags: this.isLeaf ? leafPageFlag : branchPageFlag,
      count: this.items.length,
      overflow,
    });
    const data = view(target);
    const items = this.items;
    const elementBytes = this.isLeaf ? leafElementBytes : branchElementBytes;
    let dataOffset = pageHeaderBytes + elementBytes * items.length;
    for (let index = 0; index < items.length; index++) {
      const item = items[index]!;
      const elementOffset = pageHeaderBytes + elementBytes * index;
      const pos = dataOffset - elementOffset;
      if (this.isLeaf) {
        data.setUint32(elementOffset, item.flags, true);
        data.setUint32(elementOffset + 4, pos, true);
        data.setUint32(elementOffset + 8, item.key.length, true);
        data.setUint32(elementOffset + 12, item.value.length, true);
      } else {
        data.setUint32(elementOffset, pos, true);
        data.setUint32(elementOffset + 4, item.key.length, true);
        data.setBigUint64(elementOffset + 8, BigInt(item.pgid), true);
      }
      target.set(item.key, dataOffset);
      dataOffset += item.key.length;
      if (this.isLeaf) {
        target.set(item.value, dataOffset);
        dataOffset += item.value.length;
      }
    }
  }

  private itemBytes(item: PageItem): number {
    return this.isLeaf
      ? leafElementBytes + item.key.length + item.value.length
      : branchElementBytes + item.key.length;
  }
}
