// The N-API addon (lib/fuse/native/*.c, built by node-gyp into
// build/Release/stableid_fuse.node): typed, and loaded once on first use.
import { createRequire } from 'node:module';

/** An opaque libfuse request; answer it with exactly one reply*. */
export type Req = { readonly __brand: 'fuse_req' };
/** An opaque mounted session. */
export type Session = { readonly __brand: 'fuse_session' };

// Keep equal to `enum op` in native/common.h.
export const enum Op {
  ENDED = 0, LOOKUP, FORGET, GETATTR, SETATTR, READLINK, MKNOD, MKDIR,
  UNLINK, RMDIR, SYMLINK, RENAME, LINK, OPEN, READ, WRITE, FLUSH,
  RELEASE, FSYNC, OPENDIR, READDIR, READDIRPLUS, RELEASEDIR, FSYNCDIR,
  STATFS, SETXATTR, GETXATTR, LISTXATTR, REMOVEXATTR, ACCESS, CREATE,
  GETLK, SETLK, FLOCK, FALLOCATE, LSEEK, COPY_FILE_RANGE,
}

/**
 * handler(op, req, ino, a, b, c, d), called on the JS thread for every request.
 * ino is the node id (the parent for name ops; 1n is the root). Per op:
 *   ENDED       a = loop result (req undefined: the session is over)
 *   LOOKUP      a = name                      FORGET   a = BigUint64Array [ino, nlookup, ...] (no req)
 *   GETATTR     a = fh or -1                  SETATTR  a = to_set bits, b = fh or -1, c = attr Buffer
 *   READLINK, STATFS: nothing                 MKNOD    a = name, b = mode, c = rdev (bigint)
 *   MKDIR       a = name, b = mode            UNLINK, RMDIR a = name
 *   SYMLINK     a = name, b = target          RENAME   a = name, b = new parent, c = new name, d = flags
 *   LINK        a = new parent, b = new name  OPEN, OPENDIR a = open flags
 *   READ, READDIR, READDIRPLUS a = fh, b = size, c = offset (bigint)
 *   WRITE       a = fh, b = data, c = offset  RELEASE, RELEASEDIR a = fh
 *   FLUSH       a = fh, b = lock owner (bigint)
 *   FSYNC, FSYNCDIR a = fh, b = datasync      SETXATTR a = name, b = value, c = flags
 *   GETXATTR    a = name, b = size            LISTXATTR a = size
 *   REMOVEXATTR a = name                      ACCESS   a = mask
 *   CREATE      a = name, b = mode, c = open flags
 *   GETLK, SETLK a = fh, b = lock owner (bigint), c = BigInt64Array [l_type, l_start, l_len, l_pid],
 *               d = may sleep (SETLK: F_SETLKW)
 *   FLOCK       a = fh, b = lock owner, c = flock(2) op (LOCK_NB when it may not sleep)
 *   FALLOCATE   a = fh, b = mode, c = offset (bigint), d = length (bigint)
 *   LSEEK       a = fh, b = offset (bigint), c = whence (SEEK_DATA or SEEK_HOLE)
 *   COPY_FILE_RANGE a = fh in, b = offset in (bigint), c = fh out, d = BigInt64Array [offset out, length, flags]
 */
export type Handler = (op: Op, req: Req, ino: bigint, a?: unknown, b?: unknown, c?: unknown, d?: unknown) => void;

export interface SessionConfig {
  entryTimeout: number;
  attrTimeout: number;
  /** Largest WRITE the kernel may send (bytes); libfuse caps it at 1 MiB. */
  maxWrite: number;
  maxBackground: number;
  /** 1 to ask for the kernel's writeback cache. */
  writeback: number;
  /** 1 to let the kernel check and cache POSIX ACLs (implies default_permissions). */
  posixAcl: number;
  /** 1: ask for FUSE_EXPORT_SUPPORT (LOOKUP(id, "."/"..") for ids not held). */
  exportSupport: number;
  /** > 1: libfuse's multi-threaded loop (direct-fd reads and writes run on its workers). */
  threads: number;
}

/** replyOpen/replyCreate flags. */
export const OPEN_KEEP_CACHE = 1;
export const OPEN_DIRECT_IO = 2;
/** The handle is an OS fd: the addon serves READ and WRITE on it itself (pread/pwrite, splice). */
export const OPEN_FD = 8;

// FUSE_SET_ATTR_* (fuse_lowlevel.h)
export const SET_MODE = 1 << 0;
export const SET_UID = 1 << 1;
export const SET_GID = 1 << 2;
export const SET_SIZE = 1 << 3;
export const SET_ATIME = 1 << 4;
export const SET_MTIME = 1 << 5;
export const SET_ATIME_NOW = 1 << 7;
export const SET_MTIME_NOW = 1 << 8;

export interface Native {
  mount(mountpoint: string, args: string[], config: SessionConfig, handler: Handler): Session;
  /** Lazy unmount (root only): 0 or an errno. */
  detach(session: Session): number;
  /** After ENDED: join the loop thread and free the session. */
  destroy(session: Session): void;
  info(session: Session): { maxWrite: number; maxReadahead: number };
  // Every reply returns 0, or a negative errno when the kernel stopped waiting.
  replyErr(req: Req, errno: number): number;
  replyNone(req: Req): number;
  /** nodeId: when it is not attr.ino (the root is node 1). */
  replyEntry(req: Req, attr: Buffer, nodeId?: bigint): number;
  replyAttr(req: Req, attr: Buffer): number;
  replyReadlink(req: Req, target: string): number;
  replyOpen(req: Req, fh: number, flags: number): number;
  replyCreate(req: Req, attr: Buffer, fh: number, flags: number): number;
  replyWrite(req: Req, count: number): number;
  replyBuf(req: Req, data: Uint8Array): number;
  replyXattrSize(req: Req, size: number): number;
  replyStatfs(req: Req, values: BigUint64Array): number;
  /** Sends names[0..] with their attrs and offset cookies until `size` is full; returns how many went (or a negative errno). */
  replyDir(req: Req, size: number, names: string[], attrs: Buffer, offsets: Float64Array, plus: boolean): number;
  /** [uid, gid, pid, umask] of the process that made the request. */
  ctx(req: Req): [number, number, number, number];
  /** Supplementary groups of the process that made the request. */
  groups(req: Req): Uint32Array;
  /** GETLK's answer: the lock in the way, or type F_UNLCK (2). */
  replyLock(req: Req, type: number, start: bigint, len: bigint, pid: number): number;
  replyLseek(req: Req, offset: bigint): number;
  /** The kernel gave up on this request (its caller got a signal). Only before answering it. */
  interrupted(req: Req): boolean;
}

const require = createRequire(import.meta.url);
let addon: Native | undefined;

export function native(): Native {
  addon ??= require('../../../build/Release/stableid_fuse.node') as Native;
  return addon;
}
