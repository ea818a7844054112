// Descriptor-relative syscalls Node does not offer, from the native addon
// (lib/sys/native/sys.c). Every call takes a descriptor and at most one name
// component and never follows a symlink. Errors are Node-style (err.code set),
// so toErrno() maps them. No policy here.
import { createRequire } from 'node:module';
import { constants } from 'node:os';

export const UTIME_NOW = 0x3fffffff;
export const UTIME_OMIT = 0x3ffffffe;
export const AT_EMPTY_PATH = 0x1000;
export const AT_REMOVEDIR = 0x200;
export const O_PATH = 0o10000000;

/** Who a call acts as (its thread's fsuid, fsgid and groups): the source filesystem then checks and owns as for that user. */
export interface Creds {
  uid: number;
  gid: number;
  groups: Uint32Array;
}

interface SysAddon {
  statx(dirfd: number, name: string, flags: number, out: BigUint64Array): number;
  openat(dirfd: number, name: string, flags: number, mode: number, creds?: Creds): number;
  close(fd: number): number;
  reopen(fd: number, flags: number, creds?: Creds): Promise<number>;
  mkdirat(dirfd: number, name: string, mode: number, creds?: Creds): Promise<void>;
  mknodat(dirfd: number, name: string, mode: number, rdev: bigint, creds?: Creds): Promise<void>;
  symlinkat(target: string, dirfd: number, name: string, creds?: Creds): Promise<void>;
  unlinkat(dirfd: number, name: string, flags: number): Promise<void>;
  renameat2(olddirfd: number, oldname: string, newdirfd: number, newname: string, flags: number): Promise<void>;
  linkat(fd: number, newdirfd: number, newname: string): Promise<void>;
  fchownat(fd: number, uid: number, gid: number): Promise<void>;
  fchmod(fd: number, mode: number): Promise<void>;
  utimensat(fd: number, atimeSec: bigint, atimeNsec: number, mtimeSec: bigint, mtimeNsec: number): Promise<void>;
  readlinkat(fd: number): Promise<Buffer>;
  getxattr(fd: number, name: string): Promise<Buffer>;
  listxattr(fd: number): Promise<Buffer>;
  setxattr(fd: number, name: string, value: Buffer, flags: number): Promise<void>;
  removexattr(fd: number, name: string): Promise<void>;
  nameToHandle(fd: number): Buffer | number;
  openByHandle(mountFd: number, handle: Buffer, flags: number): number;
  raiseNofile(): [number, number];
  fallocate(fd: number, mode: number, offset: bigint, length: bigint): Promise<void>;
  lseek(fd: number, offset: bigint, whence: number): Promise<bigint>;
  copyFileRange(fdIn: number, offIn: bigint, fdOut: number, offOut: bigint, length: number, flags: number): Promise<number>;
  ofdSetlk(fd: number, type: number, start: bigint, length: bigint): Promise<void>;
  ofdGetlk(fd: number, type: number, start: bigint, length: bigint): Promise<[number, bigint, bigint, number]>;
  flock(fd: number, op: number): Promise<void>;
  fdFlags(fd: number): number;
  listDir(dirfd: number): Promise<[string[], BigUint64Array, Uint8Array, number]>;
  mkdiratNow: SysAddon['mkdirat'];
  mknodatNow: SysAddon['mknodat'];
  symlinkatNow: SysAddon['symlinkat'];
  unlinkatNow: SysAddon['unlinkat'];
  renameat2Now: SysAddon['renameat2'];
  linkatNow: SysAddon['linkat'];
}

/**
 * Requests the front-ends have in flight (FUSE and 9P bump it). Calls that
 * change a directory run on the JS thread when a request is alone (no hop:
 * the client waits for nothing else) and on libuv's pool when others are in
 * flight, so that their disk waits overlap.
 */
let inFlight = 0;
export const requests = {
  begin(): void {
    inFlight++;
  },
  end(): void {
    inFlight--;
  },
};
const alone = (): boolean => inFlight <= 1;

const require = createRequire(import.meta.url);
let addon: SysAddon | undefined;

function load(): SysAddon {
  addon ??= require('../../../build/Release/stableid_sys.node') as SysAddon;
  return addon;
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** A Node-style error for a -errno result of the synchronous calls. */
export function errnoError(errno: number, syscall: string, name: string): NodeJS.ErrnoException {
  const code = errnoNames.get(errno) ?? 'EIO';
  // Without a stack: these are answers (a lookup of a missing name is most of them), and capturing
  // one cost 9 µs of a negative LOOKUP's time (CPU profile of create+stat+unlink).
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const err: NodeJS.ErrnoException = new Error(`${code}: ${syscall} '${name}'`);
  Error.stackTraceLimit = limit;
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  return err;
}

/** statx field order in the array statx() fills (see sys.c): times are (signed seconds, nanoseconds). */
export const enum Sx { dev, ino, mode, nlink, uid, gid, rdev, size, blksize, blocks, atimeSec, atimeNsec, mtimeSec, mtimeNsec, ctimeSec, ctimeNsec, btimeSec, btimeNsec }

/** The array statx() fills. */
export const statxBuffer = (): BigUint64Array => new BigUint64Array(18);

/** lstat of dirfd/name (name '' with AT_EMPTY_PATH: the descriptor itself) into `out`; throws on failure. */
export function statx(dirfd: number, name: string, flags: number, out: BigUint64Array): BigUint64Array {
  const rc = load().statx(dirfd, name, flags, out);
  if (rc < 0) throw errnoError(-rc, 'statx', name);
  return out;
}

/** statx(), returning -errno instead of throwing (lookups of missing names are common). */
export function tryStatx(dirfd: number, name: string, flags: number, out: BigUint64Array): number {
  return load().statx(dirfd, name, flags, out);
}

/** openat(dirfd, name, O_PATH | ...) on the JS thread; -errno on failure. */
export function openPath(dirfd: number, name: string, flags: number): number {
  return load().openat(dirfd, name, flags | O_PATH, 0);
}

/** openat(dirfd, name, O_CREAT | O_EXCL | ...) on the JS thread (it cannot wait); -errno on failure. */
export function createAt(dirfd: number, name: string, flags: number, mode: number, creds?: Creds): number {
  return load().openat(dirfd, name, flags | 0o300 /* O_CREAT | O_EXCL */, mode, creds);
}

/** A directory opened for reading, through /proc/self/fd of its O_PATH descriptor (never waits). */
export function openDirFd(pathFd: number): number {
  return load().openat(-100, `/proc/self/fd/${pathFd}`, 0o200000 /* O_DIRECTORY */, 0);
}

export function close(fd: number): void {
  load().close(fd);
}

/** A real open of the inode an O_PATH descriptor pins (through /proc/self/fd), never blocking on a FIFO. */
export function reopen(fd: number, flags: number, creds?: Creds): Promise<number> {
  return load().reopen(fd, flags, creds);
}

export function mkdirat(dirfd: number, name: string, mode: number, creds?: Creds): Promise<void> {
  return alone() ? load().mkdiratNow(dirfd, name, mode, creds) : load().mkdirat(dirfd, name, mode, creds);
}

export function mknodat(dirfd: number, name: string, mode: number, rdev: bigint, creds?: Creds): Promise<void> {
  return alone() ? load().mknodatNow(dirfd, name, mode, rdev, creds) : load().mknodat(dirfd, name, mode, rdev, creds);
}

export function symlinkat(target: string, dirfd: number, name: string, creds?: Creds): Promise<void> {
  return alone() ? load().symlinkatNow(target, dirfd, name, creds) : load().symlinkat(target, dirfd, name, creds);
}

export function unlinkat(dirfd: number, name: string, flags: number): Promise<void> {
  return alone() ? load().unlinkatNow(dirfd, name, flags) : load().unlinkat(dirfd, name, flags);
}

export function renameat2(olddirfd: number, oldname: string, newdirfd: number, newname: string, flags: number): Promise<void> {
  return alone() ? load().renameat2Now(olddirfd, oldname, newdirfd, newname, flags) : load().renameat2(olddirfd, oldname, newdirfd, newname, flags);
}

/** A new name newdirfd/newname for the inode fd pins. */
export function linkat(fd: number, newdirfd: number, newname: string): Promise<void> {
  return alone() ? load().linkatNow(fd, newdirfd, newname) : load().linkat(fd, newdirfd, newname);
}

/** chown of the inode itself (a symlink stays a symlink); -1 leaves a field. */
export function fchownat(fd: number, uid: number, gid: number): Promise<void> {
  return load().fchownat(fd, uid, gid);
}

/** chmod of the pinned inode (not for symlinks: /proc's link would lead to the target). */
export function fchmod(fd: number, mode: number): Promise<void> {
  return load().fchmod(fd, mode);
}

/** Times of the inode itself; nsec may be UTIME_NOW / UTIME_OMIT. */
export function utimensat(fd: number, atimeSec: bigint, atimeNsec: number, mtimeSec: bigint, mtimeNsec: number): Promise<void> {
  return load().utimensat(fd, atimeSec, atimeNsec, mtimeSec, mtimeNsec);
}

export async function readlinkat(fd: number): Promise<string> {
  return (await load().readlinkat(fd)).toString('utf8');
}

// The xattr calls reach the inode through /proc/self/fd/N, which a symlink
// would pass through to its target: callers refuse symlinks first.
export function getxattr(fd: number, name: string): Promise<Buffer> {
  // Most answers are ENODATA (every write through FUSE asks for
  // security.capability, ls -l for security.selinux): an error without a
  // stack trace costs a fraction of one with it, and nobody reads its stack.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return load().getxattr(fd, name);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export async function listxattr(fd: number): Promise<string[]> {
  const raw = await load().listxattr(fd);
  return raw.length === 0 ? [] : raw.toString('utf8', 0, raw.length - 1).split('\0');
}

export function setxattr(fd: number, name: string, value: Buffer, flags = 0): Promise<void> {
  return load().setxattr(fd, name, value, flags);
}

export function removexattr(fd: number, name: string): Promise<void> {
  return load().removexattr(fd, name);
}

/** The filesystem's handle of the inode fd pins ([u32 mount id, i32 type, bytes]), or -errno (EOPNOTSUPP: none). */
export function nameToHandle(fd: number): Buffer | number {
  return load().nameToHandle(fd);
}

/** The mount id inside a nameToHandle() result. */
export const handleMount = (h: Buffer): number => h.readUInt32LE(0);

/** open_by_handle_at(mountFd, handle, O_PATH | flags): that very inode again, or -errno (ESTALE: gone). mountFd: a real open fd on that mount (openDirFd), not O_PATH. */
export function openByHandle(mountFd: number, handle: Buffer, flags = 0): number {
  return load().openByHandle(mountFd, handle, flags | O_PATH);
}

/** Raise RLIMIT_NOFILE's soft limit to the hard one; returns [soft, hard] (-1: unlimited). */
export function raiseNofile(): [number, number] {
  return load().raiseNofile();
}

export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;
export const F_RDLCK = 0;
export const F_WRLCK = 1;
export const F_UNLCK = 2;
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

/** fallocate(2) on an open descriptor; mode as there (KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE ...). */
export function fallocate(fd: number, mode: number, offset: bigint, length: bigint): Promise<void> {
  return load().fallocate(fd, mode, offset, length);
}

/** lseek(2) (SEEK_DATA / SEEK_HOLE); moves the descriptor's offset, which pread/pwrite users ignore. */
export function lseek(fd: number, offset: bigint, whence: number): Promise<bigint> {
  return load().lseek(fd, offset, whence);
}

/** copy_file_range(2) at explicit offsets (the descriptors' own offsets are untouched); bytes copied. */
export function copyFileRange(fdIn: number, offIn: bigint, fdOut: number, offOut: bigint, length: number, flags = 0): Promise<number> {
  return load().copyFileRange(fdIn, offIn, fdOut, offOut, length, flags);
}

/** An open-file-description record lock (F_OFD_SETLK, never waiting: EAGAIN when another holds the range). length 0: to the end. */
export function ofdSetlk(fd: number, type: number, start: bigint, length: bigint): Promise<void> {
  return load().ofdSetlk(fd, type, start, length);
}

/** F_OFD_GETLK: [type, start, length, pid] of the first lock in the way (pid -1: an OFD lock), or type F_UNLCK. */
export function ofdGetlk(fd: number, type: number, start: bigint, length: bigint): Promise<[number, bigint, bigint, number]> {
  return load().ofdGetlk(fd, type, start, length);
}

/** flock(2) with LOCK_NB always (EWOULDBLOCK when held elsewhere). */
export function flock(fd: number, op: number): Promise<void> {
  return load().flock(fd, op);
}

/** fcntl(F_GETFL) on the JS thread (it never waits): the access mode is flags & 3; throws on failure. */
export function fdFlags(fd: number): number {
  const r = load().fdFlags(fd);
  if (r < 0) throw errnoError(-r, 'fcntl(F_GETFL)', String(fd));
  return r;
}

/** A directory's names (no '.' or '..') with the d_ino and d_type getdents64 gave each (DT_UNKNOWN 0: the filesystem did not say), and the directory's statfs f_type. */
export interface DirEntries {
  names: string[];
  inos: BigUint64Array;
  types: Uint8Array;
  fsType: number;
}

export const DT_UNKNOWN = 0;
export const DT_DIR = 4;

/**
 * getdents64 of the directory dirfd pins (O_PATH is fine): the first 64 KiB
 * of records on the JS thread (most directories: no pool hop, and no request
 * holds the thread for longer than that), the rest on libuv's pool.
 */
export async function listDir(dirfd: number): Promise<DirEntries> {
  const [chunks, inos, types, fsType] = await load().listDir(dirfd);
  return { names: chunks.length === 1 ? chunks[0].split('\0') : chunks.flatMap((c) => c.split('\0')), inos, types, fsType };
}
