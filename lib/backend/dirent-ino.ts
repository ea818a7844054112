// Where a directory entry's d_ino is the st_ino a stat of that name gives,
// so a listing can show stable ids without a statx per name (find over a
// tree of files: test/bench/e2e/fuse-metadata.bench.ts).
//
// Holds on these local filesystems for every entry that is not a directory:
// a file lives on its directory's device (btrfs subvolumes and mount points
// inside SRC are directories, and those are always stat'ed). A file
// bind-mounted over a file inside SRC is the one exception, and the listing
// then shows the covered file's id, as getdents on SRC itself shows the
// covered inode. Not listed: overlayfs (a file's st_dev is its layer's),
// network and FUSE filesystems (a server may compute d_ino and st_ino
// apart): those names are stat'ed.
import { FS_MAGIC } from '../sys/handle-formats.js';

const TRUSTED = new Set<number>([...Object.values(FS_MAGIC), 0xf2f52010 /* f2fs */, 0x2fc12fc1 /* zfs */]);

/** d_ino of a non-directory entry is its st_ino on a filesystem of this statfs f_type. */
export function direntInoIsIno(fsType: number): boolean {
  return TRUSTED.has(fsType);
}
