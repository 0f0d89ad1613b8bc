// etcd's idutil.Generator (pkg/idutil/id.go): unique uint64 IDs without coordination. The high 16
// bits are the member ID's low 16 bits, so members never collide; the low 48 bits start at the
// current time in milliseconds (40 bits) followed by an 8-bit counter, and count up from there, so a
// restart more than a millisecond later starts past every ID the previous run handed out (as long as
// it made fewer than 256 per millisecond, as etcd assumes too). The counter carries into the
// timestamp on purpose: that widens the window to 2^48 IDs.

const suffixBits = 48n;
const counterBits = 8n;
const timestampBits = 40n;
const lowBits = (n: bigint, bits: bigint): bigint => n & ((1n << bits) - 1n);
const suffixMask = (1n << suffixBits) - 1n;

export class IdGenerator {
  private readonly prefix: bigint;
  private suffix: bigint;

  /** `nowMs`: wall-clock milliseconds when this member (re)started; injected so tests choose it. */
  constructor(memberId: bigint, nowMs: number) {
    this.prefix = lowBits(memberId, 16n) << suffixBits;
    this.suffix = lowBits(BigInt(Math.floor(nowMs)), timestampBits) << counterBits;
  }

  /** The next ID: a uint64 (it may exceed 2^63 when the member ID's bit 15 is set). */
  next(): bigint {
    this.suffix++;
    // the mask made once: every write takes an id
    return this.prefix | (this.suffix & suffixMask);
  }
}
