// Syscalls Node does not offer, from the native addon (lib/fuse/native). Each
// is a thin async wrapper: no policy, errors come back as Node-style errors
// with err.code set (so toErrno() maps them).
import { createRequire } from 'node:module';

export const UTIME_NOW = 0x3fffffff;
export const UTIME_OMIT = 0x3ffffffe;

interface SysAddon {
  /** utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW); nsec may be UTIME_NOW / UTIME_OMIT. */
  utimensat(path: string, atimeSec: bigint, atimeNsec: number, mtimeSec: bigint, mtimeNsec: number): Promise<void>;
  /** mknod(2): FIFOs, sockets and (as root) device nodes. */
  mknod(path: string, mode: number, rdev: bigint): Promise<void>;
  /** lgetxattr(2): the value; never follows a symlink. */
  lgetxattr(path: string, name: string): Promise<Buffer>;
  /** llistxattr(2): names, each followed by a NUL byte; never follows a symlink. */
  llistxattr(path: string): Promise<Buffer>;
  /** lsetxattr(2) with XATTR_CREATE (1) / XATTR_REPLACE (2) flags; never follows a symlink. */
  lsetxattr(path: string, name: string, value: Buffer, flags: number): Promise<void>;
  /** lremovexattr(2); never follows a symlink. */
  lremovexattr(path: string, name: string): Promise<void>;
}

const require = createRequire(import.meta.url);
let addon: SysAddon | undefined;

function load(): SysAddon {
  addon ??= require('../../../build/Release/stableid_sys.node') as SysAddon;
  return addon;
}

export function utimensat(path: string, atimeSec: bigint, atimeNsec: number, mtimeSec: bigint, mtimeNsec: number): Promise<void> {
  return load().utimensat(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec);
}

export function mknod(path: string, mode: number, rdev: bigint): Promise<void> {
  return load().mknod(path, mode, rdev);
}

export function lgetxattr(path: string, name: string): Promise<Buffer> {
  return load().lgetxattr(path, name);
}

/** llistxattr(2), split into names. */
export async function llistxattr(path: string): Promise<string[]> {
  const raw = await load().llistxattr(path);
  return raw.length === 0 ? [] : raw.toString('utf8', 0, raw.length - 1).split('\0');
}

export function lsetxattr(path: string, name: string, value: Buffer, flags = 0): Promise<void> {
  return load().lsetxattr(path, name, value, flags);
}

export function lremovexattr(path: string, name: string): Promise<void> {
  return load().lremovexattr(path, name);
}
