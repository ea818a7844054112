// Backend: the contract both front-ends (FUSE in lib/fuse, 9P in lib/ninep)
// translate their requests into. Ops are named after syscalls, as in go-fuse.
//
// Paths: every path is relative to the export root, '' being the root itself,
// components joined with '/', never absolute and never containing '.' or '..'
// components (abs() in passthrough.ts refuses them with EINVAL). Names passed
// separately (lookup, mkdir ...) are single components: no '/', not '.'/'..'.
// The front-ends never follow symlinks through the backend: a symlink is
// reported as a symlink and the client resolves it (FUSE and 9P both do).
//
// Identity: every Attr's `ino` is the mapper's stable id. A front-end uses it
// as-is: FUSE as node id, st_ino and d_ino; 9P as qid.path. No front-end ever
// sees the source's st_ino, and none imports lib/table or lib/mapper.
//
// Errors: methods only throw: Node's own errors (err.code 'ENOENT' ...) or
// FsError. Each front-end converts once, in its dispatcher, with toErrno().
//
// Reserved names: the id table's xattrs (mapper.isReservedXattr) do not exist
// as far as any front-end can tell: listxattr omits them, getxattr says
// ENODATA, setxattr and removexattr say EPERM.
//
// Concurrency: any number of calls may be in flight; the backend holds no
// per-request state except open handles, which are valid until release().
import type { Attr } from './attr.js';

/** Who asked: used to give new files the caller's ownership under allow_other. */
export interface Caller {
  uid: number;
  gid: number;
  pid: number;
}

/** A time to set: nanoseconds since the epoch, or 'now'. Absent means leave as is. */
export type TimeSet = bigint | 'now';

export interface SetAttr {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: bigint;
  atime?: TimeSet;
  mtime?: TimeSet;
}

export interface DirEntry {
  name: string;
  attr: Attr;
}

export interface StatFs {
  bsize: bigint;
  frsize: bigint;
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
  files: bigint;
  ffree: bigint;
  namelen: bigint;
}

/** An open file: an opaque number the backend hands out and takes back. */
export type Handle = number;

export interface Backend {
  /** Attr of dir/name (lstat: a symlink is reported as a symlink). */
  lookup(dir: string, name: string): Promise<Attr>;
  getattr(path: string): Promise<Attr>;
  /** Applies the given fields (size via the handle when one is given) and returns the new Attr. */
  setattr(path: string, set: SetAttr, fh?: Handle): Promise<Attr>;
  readlink(path: string): Promise<string>;
  mknod(dir: string, name: string, mode: number, rdev: bigint, caller?: Caller): Promise<Attr>;
  mkdir(dir: string, name: string, mode: number, caller?: Caller): Promise<Attr>;
  unlink(dir: string, name: string): Promise<void>;
  rmdir(dir: string, name: string): Promise<void>;
  symlink(target: string, dir: string, name: string, caller?: Caller): Promise<Attr>;
  /** flags: 0, or RENAME_NOREPLACE (1). RENAME_EXCHANGE and others throw EINVAL. */
  rename(dir: string, name: string, newDir: string, newName: string, flags?: number): Promise<void>;
  link(path: string, newDir: string, newName: string): Promise<Attr>;
  /** flags are open(2) flags; O_CREAT/O_EXCL are not for open(), use create(). */
  open(path: string, flags: number): Promise<Handle>;
  create(dir: string, name: string, flags: number, mode: number, caller?: Caller): Promise<{ fh: Handle; attr: Attr }>;
  /** Reads up to length bytes; a short (or empty) buffer means end of file. */
  read(fh: Handle, length: number, position: bigint): Promise<Buffer>;
  write(fh: Handle, data: Buffer, position: bigint): Promise<number>;
  /** Append-mode handles ignore position, as pwrite(2) does on O_APPEND. */
  fsync(fh: Handle, datasync: boolean): Promise<void>;
  release(fh: Handle): Promise<void>;
  /**
   * Optional: the OS file descriptor behind an open handle, valid until
   * release(). A front-end may then read and write it directly (FUSE does, on
   * libfuse's threads), bypassing read()/write(); the backend must not need
   * to see that data.
   */
  fd?(fh: Handle): number | undefined;
  /** Every entry except '.' and '..', with attributes (readdirplus-ready). */
  readdir(path: string): Promise<DirEntry[]>;
  statfs(path: string): Promise<StatFs>;
  /** mask as access(2): F_OK or any of R_OK|W_OK|X_OK, checked for this process. */
  access(path: string, mask: number): Promise<void>;
  getxattr(path: string, name: string): Promise<Buffer>;
  listxattr(path: string): Promise<string[]>;
  /** flags: XATTR_CREATE (1) or XATTR_REPLACE (2) or 0. */
  setxattr(path: string, name: string, value: Buffer, flags?: number): Promise<void>;
  removexattr(path: string, name: string): Promise<void>;
}

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;
