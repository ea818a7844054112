// File handles (open by inode number): name_to_handle_at and
// open_by_handle_at from the sys addon (sys.c, shared with the descriptor
// budget), the rest from lib/sys/native/handles.c. No policy; errors are
// Node-style errors with err.code set (so toErrno() maps them). Descriptors
// are plain numbers owned by the caller (close them with fs.close).
import { createRequire } from 'node:module';
import * as sys from './sys.js';

export { AT_EMPTY_PATH, O_PATH } from './sys.js';

/** A kernel file handle as name_to_handle_at(2) gives it; the bytes are in the machine's byte order. */
export interface KernelHandle {
  type: number;
  handle: Buffer;
  /** The mount it was taken on (mountinfo's first field). */
  mountId: number;
}

interface HandlesAddon {
  getVersion(fd: number): Promise<number>;
  fsType(fd: number): Promise<number>;
  xfsGeneration(fd: number, ino: bigint): Promise<number>;
  openBeneath(dirfd: number, path: string, flags: number): Promise<number>;
}

const require = createRequire(import.meta.url);
let addon: HandlesAddon | undefined;

function load(): HandlesAddon {
  addon ??= require('../../../build/Release/stableid_handles.node') as HandlesAddon;
  return addon;
}

/** name_to_handle_at(2) of a descriptor itself (path '' with AT_EMPTY_PATH; an O_PATH descriptor works). */
export async function nameToHandle(fd: number, path: string, flags = 0): Promise<KernelHandle> {
  if (path !== '' || !(flags & sys.AT_EMPTY_PATH)) throw new TypeError('nameToHandle takes a descriptor itself: path "" with AT_EMPTY_PATH');
  const h = sys.nameToHandle(fd);
  if (typeof h === 'number') throw sys.errnoError(-h, 'name_to_handle_at', `fd ${fd}`);
  return kernelHandle(h);
}

/** A sys.nameToHandle() result ([u32 mount id, i32 type, bytes]) as a KernelHandle. */
export function kernelHandle(raw: Buffer): KernelHandle {
  return { mountId: sys.handleMount(raw), type: raw.readInt32LE(4), handle: raw.subarray(8) };
}

/**
 * open_by_handle_at(2) with O_PATH, O_CLOEXEC added. mountFd must be a real open descriptor
 * on the filesystem (not O_PATH: EBADF). Needs CAP_DAC_READ_SEARCH.
 */
export async function openByHandle(mountFd: number, type: number, handle: Buffer, flags: number): Promise<number> {
  const raw = Buffer.alloc(8 + handle.length);
  raw.writeInt32LE(type, 4);
  handle.copy(raw, 8);
  const fd = sys.openByHandle(mountFd, raw, flags & ~sys.O_PATH);
  if (fd < 0) throw sys.errnoError(-fd, 'open_by_handle_at', `type ${type}`);
  return fd;
}

/** FS_IOC_GETVERSION: the inode's generation (ext4, xfs, btrfs; tmpfs has none: ENOTTY). Needs a real open descriptor. */
export function getVersion(fd: number): Promise<number> {
  return load().getVersion(fd);
}

/** fstatfs(2) f_type, the filesystem's magic number (see handle-formats.ts). */
export function fsType(fd: number): Promise<number> {
  return load().fsType(fd);
}

/** The generation of xfs inode `ino` by XFS_IOC_BULKSTAT (CAP_SYS_ADMIN), or undefined when no such inode is allocated. */
export async function xfsGeneration(fd: number, ino: bigint): Promise<number | undefined> {
  const gen = await load().xfsGeneration(fd, ino);
  return gen < 0 ? undefined : gen;
}

/** openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, O_NOFOLLOW and O_CLOEXEC added. */
export function openBeneath(dirfd: number, path: string, flags: number): Promise<number> {
  return load().openBeneath(dirfd, path, flags);
}
