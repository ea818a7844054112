// Backend Attr -> 9P wire values (qid, Rgetattr fields, readdir entry type).
import { type Attr, isDir, isSymlink } from '../backend/attr.js';
import { QTDIR, QTFILE, QTSYMLINK } from './messages.js';
import type { Qid } from './types.js';

const NS = 1_000_000_000n;

/**
 * qid.path is the backend's stable id, as is. qid.version is always 0, on
 * purpose: the Linux client (6.1, cache=loose/fscache) compares qid.version in
 * v9fs_test_inode_dotl when it looks an inode up, so a version that changed on
 * every write (QEMU uses mtime^size) would make it instantiate a second inode
 * for the same file after each change, splitting its page cache. Freshness
 * comes from Tgetattr (mtime, size); the qid only names the file.
 */
export function qidOf(a: Attr): Qid {
  return { type: isDir(a) ? QTDIR : isSymlink(a) ? QTSYMLINK : QTFILE, version: 0, path: a.ino };
}

/** Seconds and nanoseconds, flooring before 1970 as struct timespec does. */
function split(ns: bigint): [bigint, bigint] {
  const sec = ns / NS;
  const nsec = ns % NS;
  return nsec < 0n ? [sec - 1n, nsec + NS] : [sec, nsec];
}

export function wireAttr(a: Attr) {
  const [atime_sec, atime_nsec] = split(a.atimeNs);
  const [mtime_sec, mtime_nsec] = split(a.mtimeNs);
  const [ctime_sec, ctime_nsec] = split(a.ctimeNs);
  const [btime_sec, btime_nsec] = split(a.btimeNs);
  return {
    mode: a.mode, uid: a.uid, gid: a.gid, nlink: a.nlink, rdev: a.rdev, size: a.size, blksize: a.blksize, blocks: a.blocks,
    atime_sec, atime_nsec, mtime_sec, mtime_nsec, ctime_sec, ctime_nsec, btime_sec, btime_nsec,
    gen: 0n, data_version: 0n,
  };
}

/** d_type for Rreaddir entries (DT_DIR = 4 ...), which is S_IFMT >> 12. */
export const direntType = (a: Attr): number => (a.mode >> 12) & 0xf;

/** Linux makedev(), as the 9P client splits rdev into major and minor. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}
