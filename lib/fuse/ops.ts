// FUSE low-level requests -> Backend calls. Each op translates arguments,
// calls the backend with paths from the node table, and answers once; every
// failure is turned into an errno here, in one place (toErrno).
//
// Identity: node id == st_ino == d_ino == the backend's Attr.ino (the stable
// id), except that the root is node id 1 (FUSE's fixed root) while its
// st_ino is its stable id.
import { constants as C } from 'node:fs';
import { debuglog } from 'node:util';
import type { Attr } from '../backend/attr.js';
import type { Backend, Caller, SetAttr } from '../backend/backend.js';
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
  /** The export root's stable id. */
  rootId: bigint;
  /** auto: keep it while mtime and size are unchanged (default). never: direct I/O. */
  cache?: CacheMode;
  /** Let the addon serve reads and writes on the backend's fds (default true). */
  directIo?: boolean;
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
  private readonly warn: (msg: string) => void;
  private readonly dirs = new DirHandles();
  /** Requests already answered: libfuse frees a request when it is answered, so a second answer would be a use-after-free. */
  private readonly answered = new WeakSet<Req>();
  private readonly table: Partial<Record<Op, OpFn>>;

  constructor(opts: OpsOptions) {
    this.backend = opts.backend;
    this.native = answerOnce(opts.native, this.answered);
    this.nodes = new Nodes(opts.rootId);
    this.cache = opts.cache ?? 'auto';
    this.directIo = opts.directIo ?? true;
    this.warn = opts.warn ?? (() => {});
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

  private path(ino: bigint): string {
    return this.nodes.path(this.nodes.get(ino));
  }

  private caller(req: Req): Caller {
    const [uid, gid, pid] = this.native.ctx(req);
    return { uid, gid, pid };
  }

  /**
   * A file whose name went may live on under another of its hard links:
   * adopt the first other name the kernel has seen that still holds this very
   * file (checked by id, since SRC may have changed behind us).
   */
  private async relink(node: Node): Promise<void> {
    if (node.parent || !node.alts) return;
    for (const alt of this.nodes.alternates(node)) {
      const attr = await this.backend.getattr(alt.path).catch(() => undefined);
      if (attr?.ino === node.id) return this.nodes.adopt(node, alt.parent, alt.name);
    }
  }

  /** Answers with an entry and counts the lookup the kernel now holds. */
  private entry(req: Req, parent: Node, name: string, attr: Attr): void {
    checkId(attr.ino);
    if (this.native.replyEntry(req, attrBuffer(attr)) === 0) this.nodes.lookedUp(parent, name, attr.ino);
  }

  /** Direct-fd handles: the addon reads and writes the fd itself when the handle is the fd (the addon passes the handle back unchanged). */
  private fdFlag(fh: number): number {
    return this.directIo && this.backend.fd?.(fh) === fh ? OPEN_FD : 0;
  }

  private openFlags(node: Node, attr: Attr | undefined, flags: number): number {
    if (this.cache === 'never' || flags & C.O_DIRECT) return OPEN_DIRECT_IO;
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
    return {
      [Op.LOOKUP]: async (req, ino, name) => {
        const parent = nodes.get(ino);
        this.entry(req, parent, name as string, await be.lookup(nodes.path(parent), name as string));
      },
      [Op.GETATTR]: async (req, ino, fhArg) => {
        nat.replyAttr(req, attrBuffer(await this.getattr(nodes.get(ino), fhArg as number)));
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
        nat.replyAttr(req, attrBuffer(await be.setattr(this.path(ino), set, fh >= 0 ? fh : undefined)));
      },
      [Op.READLINK]: async (req, ino) => {
        nat.replyReadlink(req, await be.readlink(this.path(ino)));
      },
      [Op.MKNOD]: async (req, ino, name, mode, rdev) => {
        const parent = nodes.get(ino);
        const attr = await be.mknod(nodes.path(parent), name as string, mode as number, rdev as bigint, this.caller(req));
        this.entry(req, parent, name as string, attr);
      },
      [Op.MKDIR]: async (req, ino, name, mode) => {
        const parent = nodes.get(ino);
        this.entry(req, parent, name as string, await be.mkdir(nodes.path(parent), name as string, mode as number, this.caller(req)));
      },
      [Op.UNLINK]: async (req, ino, name) => {
        const parent = nodes.get(ino);
        await be.unlink(nodes.path(parent), name as string);
        const node = parent.children?.get(name as string);
        nodes.removed(parent, name as string);
        if (node) await this.relink(node);
        nat.replyErr(req, 0);
      },
      [Op.RMDIR]: async (req, ino, name) => {
        const parent = nodes.get(ino);
        await be.rmdir(nodes.path(parent), name as string);
        nodes.removed(parent, name as string);
        nat.replyErr(req, 0);
      },
      [Op.SYMLINK]: async (req, ino, name, target) => {
        const parent = nodes.get(ino);
        const attr = await be.symlink(target as string, nodes.path(parent), name as string, this.caller(req));
        this.entry(req, parent, name as string, attr);
      },
      [Op.RENAME]: async (req, ino, name, newIno, newName, flagsArg) => {
        const flags = flagsArg as number;
        const parent = nodes.get(ino);
        const newParent = nodes.get(newIno as bigint);
        try {
          await be.rename(nodes.path(parent), name as string, nodes.path(newParent), newName as string, flags);
        } catch (err) {
          if (flags && isCode(err, 'EINVAL')) this.warn(`rename ${name as string} -> ${newName as string}: ${(err as Error).message}`);
          throw err;
        }
        const replaced = newParent.children?.get(newName as string);
        nodes.renamed(parent, name as string, newParent, newName as string);
        if (replaced && replaced !== parent.children?.get(name as string)) await this.relink(replaced);
        nat.replyErr(req, 0);
      },
      [Op.LINK]: async (req, ino, newIno, newName) => {
        const newParent = nodes.get(newIno as bigint);
        const attr = await be.link(this.path(ino), nodes.path(newParent), newName as string);
        this.entry(req, newParent, newName as string, attr);
      },
      [Op.OPEN]: async (req, ino, flags) => {
        const node = nodes.get(ino);
        const path = nodes.path(node);
        const fh = await be.open(path, sourceFlags(flags as number));
        (node.handles ??= new Set()).add(fh);
        let attr: Attr | undefined;
        if (this.cache === 'auto') attr = await be.getattr(path).catch(() => undefined);
        if (nat.replyOpen(req, fh, this.openFlags(node, attr, flags as number) | this.fdFlag(fh)) !== 0) await be.release(fh).catch(() => {}); // the kernel gave up: nobody will release it
      },
      [Op.READ]: async (req, _ino, fh, size, off) => {
        nat.replyBuf(req, await be.read(fh as number, size as number, off as bigint));
      },
      [Op.WRITE]: async (req, _ino, fh, data, off) => {
        nat.replyWrite(req, await be.write(fh as number, data as Buffer, off as bigint));
      },
      // Nothing buffered on our side; the source fd is flushed by close() at release.
      [Op.FLUSH]: async (req) => {
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
        const fh = await be.open(this.path(ino), C.O_RDONLY | C.O_DIRECTORY);
        try {
          await be.fsync(fh, datasync as boolean);
        } finally {
          await be.release(fh);
        }
        nat.replyErr(req, 0);
      },
      [Op.STATFS]: async (req, ino) => {
        const s = await be.statfs(this.path(ino));
        nat.replyStatfs(req, BigUint64Array.of(s.bsize, s.frsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.namelen));
      },
      [Op.SETXATTR]: async (req, ino, name, value, flags) => {
        await be.setxattr(this.path(ino), name as string, value as Buffer, flags as number);
        nat.replyErr(req, 0);
      },
      [Op.GETXATTR]: async (req, ino, name, size) => {
        this.replySized(req, size as number, await be.getxattr(this.path(ino), name as string));
      },
      [Op.LISTXATTR]: async (req, ino, size) => {
        const names = await be.listxattr(this.path(ino));
        this.replySized(req, size as number, Buffer.from(names.map((n) => `${n}\0`).join('')));
      },
      [Op.REMOVEXATTR]: async (req, ino, name) => {
        await be.removexattr(this.path(ino), name as string);
        nat.replyErr(req, 0);
      },
      [Op.ACCESS]: async (req, ino, mask) => {
        await be.access(this.path(ino), mask as number);
        nat.replyErr(req, 0);
      },
      [Op.CREATE]: async (req, ino, name, mode, flags) => {
        const parent = nodes.get(ino);
        const { fh, attr } = await be.create(nodes.path(parent), name as string, sourceFlags(flags as number), mode as number, this.caller(req));
        try {
          checkId(attr.ino);
        } catch (err) {
          await be.release(fh);
          throw err;
        }
        const node = nodes.lookedUp(parent, name as string, attr.ino, 0);
        (node.handles ??= new Set()).add(fh);
        const rc = nat.replyCreate(req, attrBuffer(attr), fh, this.openFlags(node, attr, flags as number) | this.fdFlag(fh));
        if (rc === 0) node.lookups += 1;
        else await be.release(fh).catch(() => {});
      },
    };
  }

  /**
   * By path; for a file whose name is gone (unlinked while open: temporary
   * files, Samba's delete-on-close) through one of its open handles, as
   * fstat(2) on the source would answer. The kernel sends the handle only on
   * some paths, so any handle open on the node will do.
   */
  private async getattr(node: Node, fh: number): Promise<Attr> {
    const handle = fh >= 0 ? fh : node.handles?.values().next().value;
    let path: string;
    try {
      path = this.nodes.path(node);
    } catch (err) {
      if (handle !== undefined && this.backend.fgetattr) return this.backend.fgetattr(handle);
      throw err;
    }
    return this.backend.getattr(path);
  }

  /** getxattr/listxattr convention: size 0 asks for the length; too small a buffer is ERANGE. */
  private replySized(req: Req, size: number, value: Buffer): void {
    if (size === 0) this.native.replyXattrSize(req, value.length);
    else if (value.length > size) this.native.replyErr(req, toErrno(new FsError('ERANGE')));
    else this.native.replyBuf(req, value);
  }

  private async readdir(req: Req, fh: number, size: number, off: bigint, plus: boolean): Promise<void> {
    const handle = this.dirs.get(fh);
    if (!handle) throw new FsError('EBADF', `no open directory ${fh}`);
    // Offset 0 is opendir or rewinddir: read the directory afresh.
    if (off === 0n || !handle.listing) handle.listing = await this.list(handle.node);
    const { names, ids, attrs } = handle.listing;
    const start = Number(off);
    if (start >= names.length) {
      this.native.replyBuf(req, Buffer.alloc(0));
      return;
    }
    const sent = this.native.replyDir(req, size, names, attrs, start, plus);
    if (!plus) return;
    for (let i = start; i < start + sent; i++) {
      if (i >= 2) this.nodes.lookedUp(handle.node, names[i], ids[i]); // '.' and '..' (0, 1) carry no entry
    }
  }

  private async list(node: Node): Promise<Listing> {
    const path = this.nodes.path(node);
    const parent = node === this.nodes.root || !node.parent ? node : node.parent;
    const [self, up, entries] = await Promise.all([
      this.backend.getattr(path),
      parent === node ? undefined : this.backend.getattr(this.nodes.path(parent)).catch(() => undefined),
      this.backend.readdir(path),
    ]);
    const usable = entries.filter((e) => e.attr.ino !== ROOT_NODE_ID && e.attr.ino !== 0n);
    if (usable.length !== entries.length) this.warn(`${path || '/'}: entries with id 0 or 1 hidden (FUSE reserves them)`);
    const names = ['.', '..', ...usable.map((e) => e.name)];
    const ids = [self.ino, (up ?? self).ino, ...usable.map((e) => e.attr.ino)];
    const attrs = Buffer.allocUnsafe(names.length * ATTR_SIZE);
    writeAttr(attrs, 0, self);
    writeAttr(attrs, ATTR_SIZE, up ?? self);
    usable.forEach((e, i) => writeAttr(attrs, (i + 2) * ATTR_SIZE, e.attr));
    return { names, ids, attrs };
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

const REPLIES = ['replyErr', 'replyNone', 'replyEntry', 'replyAttr', 'replyReadlink', 'replyOpen', 'replyCreate', 'replyWrite', 'replyBuf', 'replyXattrSize', 'replyStatfs', 'replyDir'] as const;

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
