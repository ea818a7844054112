// FUSE low-level requests -> Backend calls. Each op translates arguments,
// calls the backend with the Inodes of the node table, and answers once;
// every failure is turned into an errno here, in one place (toErrno).
//
// Identity: node id == st_ino == d_ino == the backend's Attr.ino (the stable
// id), except that the root is node id 1 (FUSE's fixed root) while its
// st_ino is its stable id.
import { constants as C } from 'node:fs';
import { debuglog } from 'node:util';
import { type Attr, S_ISGID } from '../backend/attr.js';
import type { Backend, ByteRange, Caller, Entry, SetAttr } from '../backend/backend.js';
import type { Inode } from '../backend/inodes.js';
import { FsError, isCode, toErrno } from '../errno.js';
import { ATTR_SIZE, attrBuffer, readSetattr, writeAttr } from './attr-buffer.js';
import { DirHandles, type Listing } from './dir-handles.js';
import {
  type Native, OPEN_DIRECT_IO, OPEN_FD, OPEN_KEEP_CACHE, Op, type Req,
  SET_ATIME, SET_ATIME_NOW, SET_GID, SET_MODE, SET_MTIME, SET_MTIME_NOW, SET_SIZE, SET_UID,
} from './native.js';
import { type Node, Nodes, ROOT_NODE_ID } from './nodes.js';

const trace = debuglog('stableid:fuse');

/** When may the kernel keep a file's page cache across opens? */
export type CacheMode = 'auto' | 'always' | 'never';

export interface OpsOptions {
  backend: Backend;
  native: Native;
  /** auto: keep it while mtime and size are unchanged (default). never: direct I/O. */
  cache?: CacheMode;
  /** -o noatime: open source files with O_NOATIME, as reads on a noatime mount leave atime. */
  noatime?: boolean;
  /** Let the addon serve reads and writes on the backend's fds (default true). */
  directIo?: boolean;
  /** Other users use the mount (allow_other): new files are made as their caller, which needs its groups. */
  callerGroups?: boolean;
  /** One line for the operator about a refused request the client cannot explain. */
  warn?: (msg: string) => void;
}

type Args = [bigint, unknown, unknown, unknown, unknown];
type OpFn = (req: Req, ...args: Args) => Promise<void>;

export class FuseOps {
  readonly nodes: Nodes;
  private readonly backend: Backend;
  private readonly native: Native;
  private readonly cache: CacheMode;
  private readonly directIo: boolean;
  private readonly noatime: number;
  private readonly warn: (msg: string) => void;
  private readonly callerGroups: boolean;
  private readonly dirs = new DirHandles();
  /** Requests already answered: libfuse frees a request when it is answered, so a second answer would be a use-after-free. */
  private readonly answered = new WeakSet<Req>();
  private readonly table: Partial<Record<Op, OpFn>>;
  /** Once true, waiting locks give up: the session is ending. */
  private ending = false;

  constructor(opts: OpsOptions) {
    this.backend = opts.backend;
    this.native = answerOnce(opts.native, this.answered);
    this.nodes = new Nodes(opts.backend.root, (inode) => opts.backend.forget(inode));
    this.cache = opts.cache ?? 'auto';
    this.directIo = opts.directIo ?? true;
    this.noatime = opts.noatime ? C.O_NOATIME : 0;
    this.warn = opts.warn ?? (() => {});
    this.callerGroups = opts.callerGroups ?? false;
    this.table = this.ops();
  }

  /**
   * Entry point for every request but ENDED. Never throws; answers exactly
   * once, then calls done() (forgets need no answer and call nothing).
   */
  handle(op: Op, req: Req, ino: bigint, a: unknown, b: unknown, c: unknown, d: unknown, done?: () => void): void {
    if (op === Op.FORGET) {
      const pairs = a as BigUint64Array;
      for (let i = 0; i < pairs.length; i += 2) this.nodes.forget(pairs[i], pairs[i + 1]);
      return;
    }
    const fn = this.table[op];
    if (!fn) {
      this.native.replyErr(req, toErrno(new FsError('ENOSYS')));
      done?.();
      return;
    }
    if (trace.enabled) trace('op %d ino %s a=%s b=%s', op, ino, show(a), show(b));
    fn(req, ino, a, b, c, d)
      .catch((err: unknown) => {
        if (trace.enabled) trace('op %d ino %s failed: %s', op, ino, (err as Error)?.message);
        if (!this.answered.has(req)) this.native.replyErr(req, toErrno(err));
        else this.warn(`error after answering a request (op ${op}): ${(err as Error)?.stack ?? String(err)}`);
      })
      .finally(done);
  }

  /** The process that asked, with its groups: files it makes are made as it (Backend Caller). */
  private caller(req: Req): Caller {
    const [uid, gid, pid] = this.native.ctx(req);
    // Groups cost a read of /proc/PID/status: only when the caller may be another user.
    return this.callerGroups ? { uid, gid, pid, groups: this.native.groups(req) } : { uid, gid, pid };
  }

  /** Answers with an entry and counts the lookup the kernel now holds (or gives the reference back). */
  private entry(req: Req, entry: Entry): void {
    try {
      checkId(entry.attr.ino);
    } catch (err) {
      this.backend.forget(entry.inode);
      throw err;
    }
    if (entry.inode === this.backend.root) {
      // Node 1, whose lookups the kernel does not count ('..' of a top directory).
      this.native.replyEntry(req, attrBuffer(entry.attr), ROOT_NODE_ID);
      this.backend.forget(entry.inode);
      return;
    }
    if (this.native.replyEntry(req, attrBuffer(entry.attr)) === 0) this.nodes.lookedUp(entry);
    else this.backend.forget(entry.inode);
  }

  /** Direct-fd handles: the addon reads and writes the fd itself when the handle is the fd (the addon passes the handle back unchanged). */
  private fdFlag(fh: number): number {
    return this.directIo && this.backend.fd?.(fh) === fh ? OPEN_FD : 0;
  }

  private openFlags(node: Node, attr: Attr | undefined): number {
    // O_DIRECT alone stays with the kernel (its direct I/O path on a cached
    // file): forcing direct_io on the open file would break shared mmap of it
    // and leave other descriptors' page cache stale.
    if (this.cache === 'never') return OPEN_DIRECT_IO;
    if (this.cache === 'always') return OPEN_KEEP_CACHE;
    if (!attr) return 0;
    const stamp = `${attr.mtimeNs}:${attr.size}`;
    const keep = node.openStamp === stamp;
    node.openStamp = stamp;
    return keep ? OPEN_KEEP_CACHE : 0;
  }

  private ops(): Partial<Record<Op, OpFn>> {
    const be = this.backend;
    const nodes = this.nodes;
    const nat = this.native;
    const inode = (ino: bigint) => nodes.get(ino).inode;
    return {
      [Op.LOOKUP]: async (req, ino, name) => {
        // Export support (kernel file handles, NFS): "." names a node by id,
        // which may not be held in this run (after a restart); ".." asks
        // for a directory's parent, never above the export root.
        if (name === '.') return this.entry(req, ino === ROOT_NODE_ID ? await be.byId(be.root.id) : await be.byId(ino));
        if (name === '..') return this.entry(req, await be.parent(inode(ino)));
        this.entry(req, await be.lookup(inode(ino), name as string));
      },
      [Op.GETATTR]: async (req, ino) => {
        // fstat of the pinned inode: also right for a file unlinked while open.
        nat.replyAttr(req, attrBuffer(await be.getattr(inode(ino))));
      },
      [Op.SETATTR]: async (req, ino, toSetArg, fhArg, buf) => {
        const toSet = toSetArg as number;
        const fh = fhArg as number;
        const raw = readSetattr(buf as Buffer);
        const set: SetAttr = {};
        if (toSet & SET_MODE) set.mode = raw.mode;
        if (toSet & SET_UID) set.uid = raw.uid;
        if (toSet & SET_GID) set.gid = raw.gid;
        if (toSet & SET_SIZE) set.size = raw.size;
        if (toSet & (SET_ATIME | SET_ATIME_NOW)) set.atime = toSet & SET_ATIME_NOW ? 'now' : raw.atimeNs;
        if (toSet & (SET_MTIME | SET_MTIME_NOW)) set.mtime = toSet & SET_MTIME_NOW ? 'now' : raw.mtimeNs;
        nat.replyAttr(req, attrBuffer(await be.setattr(inode(ino), set, fh >= 0 ? fh : undefined)));
      },
      [Op.READLINK]: async (req, ino) => {
        nat.replyReadlink(req, await be.readlink(inode(ino)));
      },
      [Op.MKNOD]: async (req, ino, name, mode, rdev) => {
        this.entry(req, await be.mknod(inode(ino), name as string, await this.newMode(req, inode(ino), mode as number), rdev as bigint, this.caller(req)));
      },
      [Op.MKDIR]: async (req, ino, name, mode) => {
        this.entry(req, await be.mkdir(inode(ino), name as string, await this.newMode(req, inode(ino), mode as number), this.caller(req)));
      },
      [Op.UNLINK]: async (req, ino, name) => {
        await be.unlink(inode(ino), name as string);
        nat.replyErr(req, 0);
      },
      [Op.RMDIR]: async (req, ino, name) => {
        await be.rmdir(inode(ino), name as string);
        nat.replyErr(req, 0);
      },
      [Op.SYMLINK]: async (req, ino, name, target) => {
        this.entry(req, await be.symlink(target as string, inode(ino), name as string, this.caller(req)));
      },
      [Op.RENAME]: async (req, ino, name, newIno, newName, flagsArg) => {
        const flags = flagsArg as number;
        try {
          await be.rename(inode(ino), name as string, inode(newIno as bigint), newName as string, flags);
        } catch (err) {
          if (flags && isCode(err, 'EINVAL')) this.warn(`rename ${name as string} -> ${newName as string}: ${(err as Error).message}`);
          throw err;
        }
        nat.replyErr(req, 0);
      },
      [Op.LINK]: async (req, ino, newIno, newName) => {
        this.entry(req, await be.link(inode(ino), inode(newIno as bigint), newName as string));
      },
      [Op.OPEN]: async (req, ino, flags) => {
        const node = nodes.get(ino);
        const want = sourceFlags(flags as number);
        // O_NOATIME is for the file's owner (or root): others read as on a relatime mount.
        const fh = await be.open(node.inode, want | this.noatime).catch((err) => (this.noatime && isCode(err, 'EPERM') ? be.open(node.inode, want) : Promise.reject(err)));
        let attr: Attr | undefined;
        if (this.cache === 'auto') attr = await be.getattr(node.inode).catch(() => undefined);
        if (nat.replyOpen(req, fh, this.openFlags(node, attr) | this.fdFlag(fh)) === 0) (node.handles ??= new Set()).add(fh);
        else await be.release(fh).catch(() => {}); // the kernel gave up: nobody will release it
      },
      [Op.READ]: async (req, _ino, fh, size, off) => {
        nat.replyBuf(req, await be.read(fh as number, size as number, off as bigint));
      },
      [Op.WRITE]: async (req, _ino, fh, data, off) => {
        nat.replyWrite(req, await be.write(fh as number, data as Buffer, off as bigint));
      },
      // Nothing buffered on our side; the source fd is flushed by close() at
      // release. A close(2) drops the closing process's record locks.
      [Op.FLUSH]: async (req, _ino, fh, owner) => {
        if (owner !== undefined) await be.unlockOwner(fh as number, lockOwner(owner as bigint));
        nat.replyErr(req, 0);
      },
      [Op.RELEASE]: async (req, ino, fh) => {
        const node = nodes.get(ino);
        node.handles?.delete(fh as number);
        if (node.handles?.size === 0) node.handles = undefined;
        await be.release(fh as number);
        nat.replyErr(req, 0);
      },
      [Op.FSYNC]: async (req, _ino, fh, datasync) => {
        await be.fsync(fh as number, datasync as boolean);
        nat.replyErr(req, 0);
      },
      [Op.OPENDIR]: async (req, ino) => {
        const fh = this.dirs.add(nodes.get(ino));
        if (nat.replyOpen(req, fh, 0) !== 0) this.dirs.release(fh);
      },
      [Op.READDIR]: (req, ino, fh, size, off) => this.readdir(req, fh as number, size as number, off as bigint, false),
      [Op.READDIRPLUS]: (req, ino, fh, size, off) => this.readdir(req, fh as number, size as number, off as bigint, true),
      [Op.RELEASEDIR]: async (req, _ino, fh) => {
        this.dirs.release(fh as number);
        nat.replyErr(req, 0);
      },
      [Op.FSYNCDIR]: async (req, ino, _fh, datasync) => {
        // fsync(2) on a directory: open it on the source and sync that.
        const fh = await be.open(inode(ino), C.O_RDONLY | C.O_DIRECTORY);
        try {
          await be.fsync(fh, datasync as boolean);
        } finally {
          await be.release(fh);
        }
        nat.replyErr(req, 0);
      },
      [Op.STATFS]: async (req, ino) => {
        const s = await be.statfs(inode(ino));
        nat.replyStatfs(req, BigUint64Array.of(s.bsize, s.frsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.namelen));
      },
      [Op.SETXATTR]: async (req, ino, name, value, flags) => {
        await be.setxattr(inode(ino), name as string, value as Buffer, flags as number);
        if (name === 'system.posix_acl_access') await this.aclKillSgid(req, inode(ino));
        nat.replyErr(req, 0);
      },
      [Op.GETXATTR]: async (req, ino, name, size) => {
        this.replySized(req, size as number, await be.getxattr(inode(ino), name as string));
      },
      [Op.LISTXATTR]: async (req, ino, size) => {
        const names = await be.listxattr(inode(ino));
        this.replySized(req, size as number, Buffer.from(names.map((n) => `${n}\0`).join('')));
      },
      [Op.REMOVEXATTR]: async (req, ino, name) => {
        await be.removexattr(inode(ino), name as string);
        nat.replyErr(req, 0);
      },
      [Op.ACCESS]: async (req, ino, mask) => {
        await be.access(inode(ino), mask as number);
        nat.replyErr(req, 0);
      },
      [Op.CREATE]: async (req, ino, name, mode, flags) => {
        const { fh, entry } = await be.create(inode(ino), name as string, sourceFlags(flags as number), await this.newMode(req, inode(ino), mode as number), this.caller(req));
        try {
          checkId(entry.attr.ino);
        } catch (err) {
          be.forget(entry.inode);
          await be.release(fh);
          throw err;
        }
        const node = nodes.lookedUp(entry, 0);
        if (nat.replyCreate(req, attrBuffer(entry.attr), fh, this.openFlags(node, entry.attr) | this.fdFlag(fh)) === 0) {
          node.lookups += 1;
          (node.handles ??= new Set()).add(fh);
        } else {
          nodes.forget(node.id, 0n); // the kernel gave up: drop the node if nothing else holds it
          await be.release(fh).catch(() => {});
        }
      },
      [Op.GETLK]: async (req, _ino, fh, owner, lk) => {
        const got = await be.getlk(fh as number, lockOwner(owner as bigint), byteRange(lk as BigInt64Array));
        nat.replyLock(req, got.type, got.start, got.len, got.pid);
      },
      [Op.SETLK]: async (req, _ino, fh, owner, lk, sleep) => {
        await be.setlk(fh as number, lockOwner(owner as bigint), byteRange(lk as BigInt64Array), sleep ? this.cancelled(req) : undefined);
        nat.replyErr(req, 0);
      },
      [Op.FLOCK]: async (req, _ino, fh, owner, opArg) => {
        const op = opArg as number;
        await be.flock(fh as number, lockOwner(owner as bigint), op & ~LOCK_NB, op & LOCK_NB ? undefined : this.cancelled(req));
        nat.replyErr(req, 0);
      },
      [Op.FALLOCATE]: async (req, _ino, fh, mode, off, len) => {
        await be.fallocate(fh as number, mode as number, off as bigint, len as bigint);
        nat.replyErr(req, 0);
      },
      [Op.LSEEK]: async (req, _ino, fh, off, whence) => {
        nat.replyLseek(req, await be.lseek(fh as number, off as bigint, whence as number));
      },
      [Op.COPY_FILE_RANGE]: async (req, _ino, fhIn, offIn, fhOut, rest) => {
        const [offOut, len, flags] = rest as BigInt64Array;
        nat.replyWrite(req, await be.copyFileRange(fhIn as number, offIn as bigint, fhOut as number, offOut, Number(len), Number(flags)));
      },
    };
  }

  /**
   * The mode a new file is made with. With FUSE_POSIX_ACL the kernel leaves
   * the caller's umask to us (DONT_MASK): as for a local filesystem it
   * applies unless the directory has a default ACL, whose bits the source
   * applies instead (the server's own umask is 0). Where the kernel applied
   * it already this changes nothing.
   */
  private async newMode(req: Req, dir: Inode, mode: number): Promise<number> {
    const umask = this.native.ctx(req)[3];
    if ((mode & umask & 0o777) === 0) return mode;
    const inherits = await this.backend.getxattr(dir, 'system.posix_acl_default').then(() => true, () => false);
    return inherits ? mode : mode & ~umask;
  }

  /**
   * Setting an access ACL drops setgid when the caller is not in the file's
   * group, as the kernel does for a local file (posix_acl_update_mode). The
   * source does not, the server being root, and libfuse 3.14 does not pass
   * the kernel's FUSE_SETXATTR_ACL_KILL_SGID: the caller's groups come from libfuse (fuse_req_getgroups).
   */
  private async aclKillSgid(req: Req, node: Inode): Promise<void> {
    const [uid, gid] = this.native.ctx(req);
    if (uid === 0) return;
    const attr = await this.backend.getattr(node);
    if (!(attr.mode & S_ISGID) || attr.gid === gid) return;
    if (this.native.groups(req).includes(attr.gid)) return;
    await this.backend.setattr(node, { mode: attr.mode & 0o7777 & ~S_ISGID });
  }

  /** The session ended: locks still waiting answer EINTR, so every request is answered and the session can be freed. */
  end(): void {
    this.ending = true;
  }

  /** For a blocking lock: its caller got a signal (the kernel interrupts the request), or the session is ending. */
  private cancelled(req: Req): () => boolean {
    return () => this.ending || this.native.interrupted(req);
  }

  /** getxattr/listxattr convention: size 0 asks for the length; too small a buffer is ERANGE. */
  private replySized(req: Req, size: number, value: Buffer): void {
    if (size === 0) this.native.replyXattrSize(req, value.length);
    else if (value.length > size) this.native.replyErr(req, toErrno(new FsError('ERANGE')));
    else this.native.replyBuf(req, value);
  }

  /**
   * A slice of the names read at offset 0. Each name is looked up (or, for
   * plain READDIR, stat'ed) now, so what the kernel learns is what the name
   * is now; a name gone since is left out (the next offsets stay valid).
   */
  private async readdir(req: Req, fh: number, size: number, off: bigint, plus: boolean): Promise<void> {
    const handle = this.dirs.get(fh);
    if (!handle) throw new FsError('EBADF', `no open directory ${fh}`);
    const dir = handle.node.inode;
    // Offset 0 is opendir or rewinddir: read the directory afresh.
    if (off === 0n || !handle.listing) handle.listing = await this.list(handle.node);
    const { names, dots } = handle.listing;
    for (let start = Number(off); start < names.length; ) {
      // Exactly what fits in `size` (struct fuse_dirent[plus] + name, 8-byte aligned).
      const fixed = plus ? 152 : 24;
      let end = start;
      for (let used = 0; end < names.length; end++) {
        const len = (fixed + Buffer.byteLength(names[end]) + 7) & ~7;
        if (used + len > size) break;
        used += len;
      }
      if (end === start) throw new FsError('EINVAL', `readdir buffer of ${size} bytes is too small`);
      const page = await Promise.all(
        names.slice(start, end).map(async (name, k): Promise<{ name: string; off: number; attr: Attr; entry?: Entry } | undefined> => {
          const i = start + k;
          if (i < 2) return { name, off: i + 1, attr: dots[i] };
          try {
            if (!plus) return { name, off: i + 1, attr: await this.backend.statAt(dir, name) };
            const entry = await this.backend.lookup(dir, name);
            if (entry.attr.ino === ROOT_NODE_ID || entry.attr.ino === 0n) {
              this.backend.forget(entry.inode);
              return undefined;
            }
            return { name, off: i + 1, attr: entry.attr, entry };
          } catch (err) {
            if (isCode(err, 'ENOENT') || isCode(err, 'EIO')) return undefined; // gone since the listing
            throw err;
          }
        }),
      );
      const sent = page.filter((e) => e !== undefined);
      if (sent.length === 0) {
        start = end; // every name of this slice is gone: try the next
        continue;
      }
      const attrs = Buffer.allocUnsafe(sent.length * ATTR_SIZE);
      sent.forEach((e, k) => writeAttr(attrs, k * ATTR_SIZE, e.attr));
      const count = this.native.replyDir(req, size, sent.map((e) => e.name), attrs, Float64Array.from(sent, (e) => e.off), plus);
      sent.forEach((e, k) => {
        if (!e.entry) return;
        if (k < count) this.nodes.lookedUp(e.entry);
        else this.backend.forget(e.entry.inode);
      });
      return;
    }
    this.native.replyBuf(req, Buffer.alloc(0));
  }

  private async list(node: Node): Promise<Listing> {
    const [self, up, names] = await Promise.all([this.backend.getattr(node.inode), this.backend.parentAttr(node.inode), this.backend.readdir(node.inode)]);
    return { names: ['.', '..', ...names], dots: [self, up] };
  }
}

/** Trace formatting: buffers by size only. */
function show(v: unknown): string {
  return Buffer.isBuffer(v) ? `<${v.length} bytes>` : String(v);
}

/**
 * Open flags for the source file. O_DIRECT stays on the FUSE side (the
 * handle is answered with direct_io, so the kernel bypasses its cache): on
 * the source it would demand aligned buffers Node does not give.
 */
function sourceFlags(flags: number): number {
  return flags & ~C.O_DIRECT;
}

/** FUSE reserves node id 0 (no entry) and 1 (the root): a file with such an id cannot be shown. */
function checkId(id: bigint): void {
  if (id === 0n || id === ROOT_NODE_ID) throw new FsError('EIO', `stable id ${id} collides with a FUSE reserved node id`);
}

const REPLIES = ['replyErr', 'replyNone', 'replyEntry', 'replyAttr', 'replyReadlink', 'replyOpen', 'replyCreate', 'replyWrite', 'replyBuf', 'replyXattrSize', 'replyStatfs', 'replyDir', 'replyLock', 'replyLseek'] as const;

/** FLOCK's op bit for "do not wait" (flock(2)). */
const LOCK_NB = 4;

/** The kernel's lock owner, as the backend's owner key (never equal to another front-end's). */
function lockOwner(owner: bigint): string {
  return `fuse:${owner}`;
}

/** struct flock from the addon: [l_type, l_start, l_len, l_pid]; l_len 0 is "to the end". */
function byteRange(lk: BigInt64Array): ByteRange {
  return { type: Number(lk[0]), start: lk[1], len: lk[2], pid: Number(lk[3]) };
}

/** The addon, with every reply recording its request as answered. */
function answerOnce(nat: Native, answered: WeakSet<Req>): Native {
  // The addon's properties are read-only and not enumerable: copy them by name.
  const out: Record<string, unknown> = {};
  for (const key of Object.getOwnPropertyNames(nat)) out[key] = (nat as unknown as Record<string, unknown>)[key];
  for (const name of REPLIES) {
    const fn = nat[name] as (req: Req, ...rest: never[]) => number;
    out[name] = (req: Req, ...rest: never[]): number => {
      answered.add(req);
      return fn(req, ...rest);
    };
  }
  return out as unknown as Native;
}
