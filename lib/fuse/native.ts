// The N-API addon (lib/fuse/native/*.c, built by node-gyp into
// build/Release/stableid_fuse.node): typed, checked against this side's
// tables (ops, attribute layout) and loaded once on first use.
import { createRequire } from 'node:module';
import { ATTR_LAYOUT } from './attr-buffer.js';
import { checkOpTable } from './op-table.js';

/** A request: the kernel's unique id. Answer it with exactly one reply (a second one writes nothing). */
export type Req = number;
/** An opaque mounted session. */
export type Session = { readonly __brand: 'fuse_session' };

/** handler(op, req, ino, ...args): called on the JS thread for every request; args by op (op-table.ts). */
export type Handler = (op: number, req: Req | undefined, ino: bigint, ...args: unknown[]) => void;

export interface SessionConfig {
  entryTimeout: number;
  attrTimeout: number;
  /** Largest WRITE the kernel may send (bytes); at most 1 MiB (256 pages). */
  maxWrite: number;
  maxBackground: number;
  /** 1 to ask for the kernel's writeback cache. */
  writeback: number;
  /** 1 to let the kernel check and cache POSIX ACLs (implies default_permissions). */
  posixAcl: number;
  /** 1: ask for FUSE_EXPORT_SUPPORT (LOOKUP(id, "."/"..") for ids not held). */
  exportSupport: number;
  /** 1: ask for kernel passthrough (reads and writes of open files straight to the source). */
  passthrough: number;
  /** 1: readdirplus only when the caller stats what it lists. */
  readdirplusAuto: number;
  /** > 1: data threads that serve reads and writes on direct-fd handles. */
  threads: number;
  /** How long (µs) to wait for the next request after a round before sleeping in the event loop. */
  spinMicros: number;
  /** 1: ask for FUSE_HANDLE_KILLPRIV_V2 (nosuid mounts only; native/init.c says why). */
  killpriv: number;
}

/** How the connection is mounted (lib/fuse/mount-spec.ts). */
export interface MountSpec {
  fsname: string;
  fstype: string;
  /** MS_* flags for mount(2). */
  flags: number;
  /** Kernel options after fd, rootmode, user_id, group_id. */
  data: string;
  /** The whole option list for fusermount3 (non-root). */
  fusermountOpts: string;
}

export interface SessionInfo {
  /** The fusectl connection number, where the mount itself told (as root); 0: unknown. */
  connection: number;
  maxWrite: number;
  maxReadahead: number;
  /** The FUSE protocol minor version both sides speak (0 before INIT). */
  minor: number;
  passthrough: boolean;
  /** Why passthrough is off ('' when on). */
  passthroughOff: string;
  /** FUSE_HANDLE_KILLPRIV_V2 granted: the server clears setuid/setgid when the kernel says (kill-priv.ts). */
  killprivV2: boolean;
}

/** replyOpen/replyCreate flags. */
export const OPEN_KEEP_CACHE = 1;
export const OPEN_DIRECT_IO = 2;
/** The handle is an OS fd: the addon serves READ, WRITE and FLUSH on it itself (pread/pwrite). */
export const OPEN_FD = 8;
/** No FLUSH at close(2) of this open file (FOPEN_NOFLUSH): see FuseOps.openFlags. */
export const OPEN_NOFLUSH = 16;
const OPEN_FLAGS = { KEEP_CACHE: OPEN_KEEP_CACHE, DIRECT_IO: OPEN_DIRECT_IO, CACHE_DIR: 4, FD: OPEN_FD, NOFLUSH: OPEN_NOFLUSH };

// FATTR_* (the kernel's SETATTR valid bits)
export const SET_MODE = 1 << 0;
export const SET_UID = 1 << 1;
export const SET_GID = 1 << 2;
export const SET_SIZE = 1 << 3;
export const SET_ATIME = 1 << 4;
export const SET_MTIME = 1 << 5;
export const SET_ATIME_NOW = 1 << 7;
export const SET_MTIME_NOW = 1 << 8;

/** A reply's result for a request answered already (nothing was written). */
export const NOT_PENDING = -114; // -EALREADY

/** Replies for one session: each returns 0, NOT_PENDING, or a negative errno when the kernel stopped waiting. */
export interface Replies {
  replyErr(req: Req, errno: number): number;
  /** nodeId: when it is not attr.ino (the root is node 1). */
  replyEntry(req: Req, attr: Buffer, nodeId?: bigint): number;
  replyAttr(req: Req, attr: Buffer): number;
  replyReadlink(req: Req, target: string): number;
  /** backingId > 0: kernel passthrough to that backing file. */
  replyOpen(req: Req, fh: number, flags: number, backingId?: number): number;
  replyCreate(req: Req, attr: Buffer, fh: number, flags: number, backingId?: number): number;
  replyWrite(req: Req, count: number): number;
  replyBuf(req: Req, data: Uint8Array): number;
  replyXattrSize(req: Req, size: number): number;
  replyStatfs(req: Req, values: BigUint64Array): number;
  /**
   * Sends names[0..] with their attrs and offset cookies until `size` is full; returns how many went (or a negative errno).
   * plus: readdirplus, where full[i] 1 makes entry i a node the kernel keeps (a lookup), 0 a plain name.
   */
  replyDir(req: Req, size: number, names: string[], attrs: Buffer, offsets: Float64Array, plus: boolean, full?: Uint8Array): number;
  /** GETLK's answer: the lock in the way, or type F_UNLCK (2). */
  replyLock(req: Req, type: number, start: bigint, len: bigint, pid: number): number;
  replyLseek(req: Req, offset: bigint): number;
  /** [uid, gid, pid, umask] of the process that made the request (umask: CREATE, MKNOD, MKDIR only). */
  ctx(req: Req): [number, number, number, number];
  /** Supplementary groups of the process that made the request. */
  groups(req: Req): Uint32Array;
  /** The kernel gave up on this request (its caller got a signal). */
  interrupted(req: Req): boolean;
}

type Bound<T> = { [K in keyof T]: T[K] extends (...a: infer A) => infer R ? (s: Session, ...a: A) => R : never };

export interface Native extends Bound<Replies> {
  mount(mountpoint: string, spec: MountSpec, config: SessionConfig, handler: Handler): Session;
  /** Lazy unmount (root only): 0 or an errno. */
  detach(session: Session): number;
  /** Lazy unmount of a path with no session (root only), reached without following links: 0 or an errno. */
  unmountPath(mountpoint: string): number;
  /** After ENDED: stop the data threads and free the session. */
  destroy(session: Session): void;
  info(session: Session): SessionInfo;
  /** Requests by kernel opcode since the mount, also those JS never saw. */
  counts(session: Session): Float64Array;
  /** Registers an open source file for passthrough: its backing id (> 0) or a negative errno. Node nodeId's security.capability is then answered by the addon from fd. */
  backingOpen(session: Session, fd: number, nodeId: bigint): number;
  backingClose(session: Session, id: number, nodeId: bigint): number;
  opTable(): Array<[number, string, string]>;
  attrLayout(): Record<string, number>;
  openFlags(): Record<string, number>;
}

const REPLY_NAMES = ['replyErr', 'replyEntry', 'replyAttr', 'replyReadlink', 'replyOpen', 'replyCreate', 'replyWrite', 'replyBuf', 'replyXattrSize', 'replyStatfs', 'replyDir', 'replyLock', 'replyLseek', 'ctx', 'groups', 'interrupted'] as const;

/** The replies with the session filled in (set once the mount exists). */
export function bindReplies(nat: Native, session: () => Session): Replies {
  const out: Record<string, unknown> = {};
  for (const name of REPLY_NAMES) {
    const fn = nat[name] as (s: Session, ...rest: unknown[]) => unknown;
    out[name] = (...rest: unknown[]) => fn(session(), ...rest);
  }
  return out as unknown as Replies;
}

const require = createRequire(import.meta.url);
let addon: Native | undefined;

export function native(): Native {
  if (addon) return addon;
  const nat = require('../../../build/Release/stableid_fuse.node') as Native;
  checkOpTable(nat.opTable());
  const layout = nat.attrLayout();
  const diff = Object.entries(ATTR_LAYOUT).filter(([k, v]) => layout[k] !== v);
  if (diff.length) throw new Error(`the FUSE addon's attribute layout differs from lib/fuse/attr-buffer.ts at ${diff.map(([k]) => k).join(', ')} (rebuild the addon: npm run install)`);
  const flags = nat.openFlags();
  const fdiff = Object.entries(OPEN_FLAGS).filter(([k, v]) => flags[k] !== v);
  if (fdiff.length) throw new Error(`the FUSE addon's open flags differ from lib/fuse/native.ts at ${fdiff.map(([k]) => k).join(', ')} (rebuild the addon: npm run install)`);
  addon = nat;
  return nat;
}
