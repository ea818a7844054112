// Attr is what every front-end reports for a file. Its `ino` is already the
// stable id: no front-end ever sees the source's st_ino.
import type { BigIntStats } from 'node:fs';
import { Sx } from '../sys/sys.js';

export interface Attr {
  /** The stable id (mapper output), never the raw st_ino. */
  ino: bigint;
  mode: number;
  nlink: bigint;
  uid: number;
  gid: number;
  rdev: bigint;
  size: bigint;
  blksize: bigint;
  blocks: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** Birth time where the source filesystem reports one, else 0n. */
  btimeNs: bigint;
  /** The inode's generation (from its file handle), where the filesystem has one: NFS handles carry it. */
  generation?: number;
}

export function attrFromStats(st: BigIntStats, id: bigint): Attr {
  return {
    ino: id,
    mode: Number(st.mode),
    nlink: st.nlink,
    uid: Number(st.uid),
    gid: Number(st.gid),
    rdev: st.rdev,
    size: st.size,
    blksize: st.blksize,
    blocks: st.blocks,
    atimeNs: st.atimeNs,
    mtimeNs: st.mtimeNs,
    ctimeNs: st.ctimeNs,
    btimeNs: st.birthtimeNs,
  };
}

/** Signed seconds and nanoseconds as one count of nanoseconds (a bigint: no overflow past 2262). */
const ns = (sec: bigint, nsec: bigint): bigint => BigInt.asIntN(64, sec) * 1_000_000_000n + nsec;

/** From a sys.statx() result (times are signed: before 1970 is negative). */
export function attrFromStatx(sx: BigUint64Array, id: bigint): Attr {
  return {
    ino: id,
    mode: Number(sx[Sx.mode]),
    nlink: sx[Sx.nlink],
    uid: Number(sx[Sx.uid]),
    gid: Number(sx[Sx.gid]),
    rdev: sx[Sx.rdev],
    size: sx[Sx.size],
    blksize: sx[Sx.blksize],
    blocks: sx[Sx.blocks],
    atimeNs: ns(sx[Sx.atimeSec], sx[Sx.atimeNsec]),
    mtimeNs: ns(sx[Sx.mtimeSec], sx[Sx.mtimeNsec]),
    ctimeNs: ns(sx[Sx.ctimeSec], sx[Sx.ctimeNsec]),
    btimeNs: ns(sx[Sx.btimeSec], sx[Sx.btimeNsec]),
  };
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_ISGID = 0o2000;

export const isDir = (a: Attr): boolean => (a.mode & S_IFMT) === S_IFDIR;
export const isSymlink = (a: Attr): boolean => (a.mode & S_IFMT) === S_IFLNK;
