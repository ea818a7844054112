// Backend: the contract both front-ends (FUSE in lib/fuse, 9P in lib/ninep)
// translate their requests into. Ops are named after syscalls, as in go-fuse.
//
// Files, not paths: a front-end holds Inodes (lib/backend/inodes.ts), each
// pinning one file by an O_PATH descriptor. Ops take an Inode, or a directory
// Inode plus one name component (never '', '.', '..', never containing '/'
// or NUL: EINVAL). No op resolves a path, and none follows a symlink: a
// symlink is reported as a symlink and the client resolves it (FUSE and 9P
// both do). So no request can act outside SRC, whatever a client or a writer
// on SRC does to the names in between (a renamed directory, a symlink put in
// a file's place): an Inode keeps naming its file, or the op fails.
//
// References: lookup, parent, mkdir, mknod, symlink, link and create return
// an Entry whose inode carries one new reference for the caller, who gives it
// back with forget(). The root holds a reference for as long as the backend.
//
// Identity: every Attr's `ino` is the mapper's stable id, and an Inode's `id`
// is the same number. A front-end uses it as-is: FUSE as node id, st_ino and
// d_ino; 9P as qid.path. No front-end ever sees the source's st_ino, and none
// imports lib/table or lib/mapper.
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
import type { MountInfo } from '../mountinfo.js';
import type { Inode } from './inodes.js';
import type { ByteRange, Cancelled, LockOwner } from './locks.js';

export type { Inode } from './inodes.js';
export type { ByteRange, Cancelled, LockOwner } from './locks.js';

/**
 * Who asked: under allow_other, new files are the caller's. With `groups`
 * (FUSE: the kernel tells us the caller) they are made as the caller, so the
 * source filesystem checks the caller's rights and owns them as it would for
 * the caller (setgid directories, default ACLs); without (9P: the client only
 * names a uid) the server makes them and gives them to the caller.
 */
export interface Caller {
  uid: number;
  gid: number;
  pid: number;
  groups?: Uint32Array;
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

/** A file found or made, with one reference on its inode for the caller. */
export interface Entry {
  inode: Inode;
  attr: Attr;
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

/**
 * A directory's names (no '.' or '..') and, where the listing itself shows
 * them truly (lib/backend/dirent-ino.ts), each name's stable id and S_IFMT
 * type as of the listing; id 0n: not known, statAt or idsAt the name.
 */
export interface DirListing {
  names: string[];
  ids: BigUint64Array;
  modes: Uint32Array;
}

export interface Backend {
  /** The export root (its reference lasts as long as the backend). */
  readonly root: Inode;
  /** dir/name, not following a symlink; +1 reference. */
  lookup(dir: Inode, name: string): Promise<Entry>;
  /**
   * The file with stable id `id`, also one not held in this run (after a
   * restart: NFS file handles), opened by inode number on its filesystem;
   * ESTALE when it is gone, its number now names another file, or it cannot
   * be reopened. +1 reference.
   */
  byId(id: bigint): Promise<Entry>;
  /** dir's parent directory; the root's parent is the root; never a directory above the root (EACCES). +1 reference. */
  parent(dir: Inode): Promise<Entry>;
  /** One more reference on an inode the caller holds (a 9P fid cloned by a walk). */
  hold(inode: Inode): Inode;
  /** Give back `count` references taken by the calls above. */
  forget(inode: Inode, count?: number): void;
  getattr(node: Inode): Promise<Attr>;
  /** Applies the given fields (size via the handle when one is given) and returns the new Attr. */
  setattr(node: Inode, set: SetAttr, fh?: Handle): Promise<Attr>;
  readlink(node: Inode): Promise<string>;
  mknod(dir: Inode, name: string, mode: number, rdev: bigint, caller?: Caller): Promise<Entry>;
  mkdir(dir: Inode, name: string, mode: number, caller?: Caller): Promise<Entry>;
  unlink(dir: Inode, name: string): Promise<void>;
  rmdir(dir: Inode, name: string): Promise<void>;
  symlink(target: string, dir: Inode, name: string, caller?: Caller): Promise<Entry>;
  /** flags: 0, RENAME_NOREPLACE (1) or RENAME_EXCHANGE (2), done by the kernel (renameat2). */
  rename(dir: Inode, name: string, newDir: Inode, newName: string, flags?: number): Promise<void>;
  link(node: Inode, newDir: Inode, newName: string): Promise<Entry>;
  /** flags are open(2) flags; O_CREAT/O_EXCL are not for open(), use create(). Regular files and directories only. */
  open(node: Inode, flags: number): Promise<Handle>;
  create(dir: Inode, name: string, flags: number, mode: number, caller?: Caller): Promise<{ fh: Handle; entry: Entry }>;
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
  /** Names in dir, except '.' and '..': a snapshot, to be looked up (or statAt'd) one by one. */
  readdir(dir: Inode): Promise<string[]>;
  /** readdir(), with the ids and types the listing itself gave. Optional. */
  list?(dir: Inode): Promise<DirListing>;
  /** Attr of dir's '..' for listings (the root's is its own); never a file outside the export. */
  parentAttr(dir: Inode): Promise<Attr>;
  /** Attr of dir/name without taking a reference (readdir's d_ino, d_type); ENOENT if gone. */
  statAt(dir: Inode, name: string): Promise<Attr>;
  /**
   * Stable id and mode (type) of each name of a listing, undefined for a name
   * gone since: what a plain directory entry shows, cheaper than statAt per
   * name. Optional; front-ends fall back to statAt.
   */
  idsAt?(dir: Inode, names: string[]): Promise<Array<{ ino: bigint; mode: number } | undefined>>;
  statfs(node: Inode): Promise<StatFs>;
  /** mask as access(2): F_OK or any of R_OK|W_OK|X_OK, checked for this process. */
  access(node: Inode, mask: number): Promise<void>;
  /** The mount the file is on, as the server reached it (its flags: noexec, nosuid ...). */
  mountOf?(node: Inode): Promise<MountInfo | undefined>;
  getxattr(node: Inode, name: string): Promise<Buffer>;
  listxattr(node: Inode): Promise<string[]>;
  /** flags: XATTR_CREATE (1) or XATTR_REPLACE (2) or 0. */
  setxattr(node: Inode, name: string, value: Buffer, flags?: number): Promise<void>;
  removexattr(node: Inode, name: string): Promise<void>;

  // Data ops on an open handle, as the syscalls of the same names.
  /** mode as fallocate(2): 0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ZERO_RANGE ... (EOPNOTSUPP where SRC has none). */
  fallocate(fh: Handle, mode: number, offset: bigint, length: bigint): Promise<void>;
  /** SEEK_DATA (3) or SEEK_HOLE (4) from offset: the offset found; ENXIO at or past the end. */
  lseek(fh: Handle, offset: bigint, whence: number): Promise<bigint>;
  /** Copies up to length bytes between two open handles at the given offsets; bytes copied (0: end of input). */
  copyFileRange(fhIn: Handle, offIn: bigint, fhOut: Handle, offOut: bigint, length: number, flags?: number): Promise<number>;

  // Advisory locks, held on the source so they conflict across front-ends
  // and with SRC (lib/backend/locks.ts has the full semantics). An owner is
  // the front-end's lock owner; fh any open handle of the file.
  /** fcntl F_SETLK: EAGAIN on a conflict; with `cancelled` (F_SETLKW) it waits until granted, or EINTR once cancelled() says so. */
  setlk(fh: Handle, owner: LockOwner, lock: ByteRange, cancelled?: Cancelled): Promise<void>;
  /** fcntl F_GETLK: the first lock in owner's way, or the range with type F_UNLCK. */
  getlk(fh: Handle, owner: LockOwner, lock: ByteRange): Promise<ByteRange>;
  /** flock(2): op LOCK_SH, LOCK_EX or LOCK_UN; EAGAIN on a conflict, or waits as setlk with `cancelled`. */
  flock(fh: Handle, owner: LockOwner, op: number, cancelled?: Cancelled): Promise<void>;
  /** Drops every lock owner holds on fh's file (a process closed the file). release() drops those taken through fh. */
  unlockOwner(fh: Handle, owner: LockOwner): Promise<void>;
}

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;
