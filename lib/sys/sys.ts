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
