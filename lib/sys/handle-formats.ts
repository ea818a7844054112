// How each filesystem spells a file handle, so a file can be opened from its
// inode number alone (after a restart, nothing else is left of it). Read in
// the kernel's encode_fh/fh_to_dentry of each filesystem and measured here
// with name_to_handle_at on loop-mounted images (Linux 6.18, x86-64):
//
//   fs     type  bytes (machine byte order)          generation on open
//   ext4   0x01  u32 ino, u32 gen                    0 = not checked; wrong = ESTALE
//   xfs    0x81  u64 ino, u32 gen (0x01 with u32     always checked: learn it with
//                ino on inode32 mounts)              XFS_IOC_BULKSTAT
//   btrfs  0x4d  u64 ino, u64 subvolume id, u32 gen  0 = not checked (Linux >= 6.2)
//   tmpfs  0x01  u32 gen, u32 ino low, u32 ino high  always checked, and nothing
//                                                    gives it from the number
//
// On all four a deleted file's handle gives ESTALE (btrfs: ENOENT/ESTALE).
// ext2 and ext3 share ext4's magic and format. Anything else: not supported
// (the caller answers ESTALE and says so once).
import { endianness } from 'node:os';
import type { KernelHandle } from './handles.js';

export const FS_MAGIC = { ext4: 0xef53, xfs: 0x58465342, btrfs: 0x9123683e, tmpfs: 0x01021994 } as const;
export type HandleFs = keyof typeof FS_MAGIC;

export interface HandleFormat {
  fs: HandleFs;
  /** The kernel refuses a handle without the right generation. */
  generationRequired: boolean;
  /** The handle of inode `ino` with generation `gen` (0: unknown, where allowed); undefined if `ino` cannot be spelled. */
  build(ino: bigint, gen: number, subvolume?: bigint): { type: number; handle: Buffer } | undefined;
  /** The generation inside a handle this filesystem made, or undefined for a type it does not make. */
  generation(h: KernelHandle): number | undefined;
}

if (endianness() !== 'LE') throw new Error('stableid: handle formats are written for little-endian machines');

const U32 = 0xffffffffn;

function words(...parts: Array<[number, bigint | number]>): Buffer {
  const buf = Buffer.alloc(parts.reduce((n, [size]) => n + size, 0));
  let at = 0;
  for (const [size, v] of parts) {
    if (size === 8) buf.writeBigUInt64LE(BigInt(v), at);
    else buf.writeUInt32LE(Number(v), at);
    at += size;
  }
  return buf;
}

const formats: Record<HandleFs, HandleFormat> = {
  ext4: {
    fs: 'ext4',
    generationRequired: false,
    build: (ino, gen) => (ino > U32 ? undefined : { type: 0x01, handle: words([4, ino], [4, gen]) }),
    generation: (h) => ((h.type === 0x01 || h.type === 0x02) && h.handle.length >= 8 ? h.handle.readUInt32LE(4) : undefined),
  },
  xfs: {
    fs: 'xfs',
    generationRequired: true,
    build: (ino, gen) => ({ type: 0x81, handle: words([8, ino], [4, gen]) }),
    generation: (h) =>
      (h.type === 0x01 || h.type === 0x02) && h.handle.length >= 8
        ? h.handle.readUInt32LE(4)
        : (h.type === 0x81 || h.type === 0x82) && h.handle.length >= 12
          ? h.handle.readUInt32LE(8)
          : undefined,
  },
  btrfs: {
    fs: 'btrfs',
    generationRequired: false,
    build: (ino, gen, subvolume) => (subvolume === undefined ? undefined : { type: 0x4d, handle: words([8, ino], [8, subvolume], [4, gen]) }),
    generation: (h) => (h.type >= 0x4d && h.type <= 0x4f && h.handle.length >= 20 ? h.handle.readUInt32LE(16) : undefined),
  },
  tmpfs: {
    fs: 'tmpfs',
    generationRequired: true,
    build: (ino, gen) => ({ type: 0x01, handle: words([4, gen], [4, ino & U32], [4, ino >> 32n]) }),
    generation: (h) => (h.type === 0x01 && h.handle.length >= 12 ? h.handle.readUInt32LE(0) : undefined),
  },
};

/** The handle format of a filesystem by its statfs magic, or undefined if it cannot be opened by inode number. */
export function formatFor(magic: number): HandleFormat | undefined {
  for (const [fs, m] of Object.entries(FS_MAGIC)) if (m === magic) return formats[fs as HandleFs];
  return undefined;
}
