// The contract between the backend and the id scheme (DESIGN.md section 1).
//
//   id = prefix << 48 | (ino & 0xFFFF_FFFF_FFFF)
//
// Invariants every implementation keeps:
// - Injective: two different (device, ino) pairs never get the same id, in
//   this run or any later run over the same export.
// - Stable: the same (device, ino) gets the same id in every run, even when
//   the device's st_dev number changes between runs (devices are keyed by a
//   stable identity, not by st_dev).
// - Prefix 0 belongs to (export root's device, ino >> 48 == 0), so a
//   single-filesystem export reports exactly the source's inode numbers.
// - Durable first: idFor() does not resolve with an id that uses a newly
//   allocated prefix until that prefix is stored durably (written + fsynced).
// - Exhaustion is an error (FsError EOVERFLOW), never a collision. No device
//   takes more than MAX_DEVICE_PREFIXES (the export root's own device
//   MAX_ROOT_PREFIXES), so a filesystem whose inode numbers are hash-like
//   (spread over ino >> 48) cannot use up the others' prefixes.
// - ino is the 64-bit unsigned st_ino; a negative bigint (Node's signed
//   BigIntStats for st_ino >= 2^63) is read as its unsigned value.
//
// Concurrency: idFor() may be called many times concurrently; calls that need
// the same new prefix share one allocation; table writes go through one queue.
// Over a cluster filesystem, one mapper per mount and many per cluster: every
// allocation is decided under a lock the cluster filesystem enforces, after
// reading the newest table, so all of them hand out one set of ids.

export interface IdMapper {
  /**
   * The stable id of the file whose lstat gave (dev, ino). Allocates and
   * persists a prefix when the pair (device, ino >> 48) is new.
   * Rejects with FsError('EOVERFLOW') when no prefix is left.
   */
  idFor(dev: bigint, ino: bigint): Promise<bigint>;

  /**
   * Hot path: the id when the prefix for (dev, ino >> 48) is already known,
   * else undefined. No I/O, no allocation.
   */
  knownId(dev: bigint, ino: bigint): bigint | undefined;

  /**
   * True for xattr names that belong to stableid's own table. Front-ends hide
   * them from listxattr and refuse get/set/remove with the backend's error.
   */
  isReservedXattr(name: string): boolean;

  /**
   * True for names directly in the export root that belong to stableid (the
   * cluster lock file). Front-ends see no such file and cannot make one.
   */
  isReservedName(name: string): boolean;

  /** Flush pending table writes and release the export lock. */
  close(): Promise<void>;
}

export const PREFIX_SHIFT = 48n;
export const INO_MASK = (1n << 48n) - 1n;
export const MAX_PREFIX = 0xffff;
/**
 * A quarter of the prefixes, plus one: what the largest known random layout
 * needs (Gluster: ino >> 48 is 0 or one of 0x8000..0xBFFF), so such a
 * filesystem fits whole and three of them still leave room for others.
 */
export const MAX_DEVICE_PREFIXES = 0x4001;
/** The export root's own filesystem, the share's main one, may take all but 4096, which stay for the filesystems mounted inside it. */
export const MAX_ROOT_PREFIXES = MAX_PREFIX - 0x1000;

export function composeId(prefix: number, ino: bigint): bigint {
  return (BigInt(prefix) << PREFIX_SHIFT) | (ino & INO_MASK);
}
