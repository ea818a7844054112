// FUSE requests -> Backend calls. Each op takes its typed arguments (the op
// table, op-table.ts), calls the backend with the Inodes of the node table,
// and answers once; every failure is turned into an errno here, in one place
// (toErrno). Open regular files go through kernel passthrough when the
// session has it (passthrough.ts): their reads and writes never come here.
//
// Identity: node id == st_ino == d_ino == the backend's Attr.ino (the stable
// id), except that the root is node id 1 (FUSE's fixed root) while its
// st_ino is its stable id.
import { constants as C } from 'node:fs';
import { debuglog } from 'node:util';
import { type Attr, S_IFMT, S_IFREG, S_ISGID } from '../backend/attr.js';
import type { Backend, Caller, Entry, SetAttr } from '../backend/backend.js';
import type { Inode } from '../backend/inodes.js';
import { FsError, isCode, toErrno } from '../errno.js';
import { attrBuffer, readSetattr } from './attr-buffer.js';
import { DirHandles } from './dir-handles.js';
import { DirReplies } from './dir-replies.js';
import { checkExec, FMODE_EXEC } from './exec-rules.js';
import { CAPABILITY, capabilityRemoval, killSuidgid, modifyKills, openKills, setattrKills, WRITE_KILL_SUIDGID } from './kill-priv.js';
import {
  NOT_PENDING, OPEN_DIRECT_IO, OPEN_FD, OPEN_KEEP_CACHE, OPEN_NOFLUSH, type Replies, type Req,
  SET_ATIME, SET_ATIME_NOW, SET_GID, SET_MODE, SET_MTIME, SET_MTIME_NOW, SET_SIZE, SET_UID,
} from './native.js';
import { type Node, Nodes, ROOT_NODE_ID } from './nodes.js';
import { type ArgsOf, type OpName, opName } from './op-table.js';
import type { Passthrough } from './passthrough.js';

const trace = debuglog('stableid:fuse');

/** When may the kernel keep a file's page cache across opens? */
export type CacheMode = 'auto' | 'always' | 'never';

export interface OpsOptions {
  backend: Backend;
  replies: Replies;
  /** Kernel passthrough for open regular files, when the session has it. */
  passthrough?: Passthrough;
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
  /** The mount is suid (-o suid): exec-rules.ts refuses setuid programs of nosuid filesystems inside SRC. */
  mountSuid?: boolean;
  /** Whether the session has FUSE_HANDLE_KILLPRIV_V2 (known once INIT is answered; kill-priv.ts). */
  killprivV2?: () => boolean;
}

type OpFn<N extends OpName> = (req: Req, ino: bigint, ...args: ArgsOf<N>) => Promise<void>;
type OpTable = { [N in OpName]?: OpFn<N> };

export class FuseOps {
  readonly nodes: Nodes;
  private readonly backend: Backend;
  private readonly native: Replies;
  private readonly passthrough: Passthrough | undefined;
  private readonly cache: CacheMode;
  private readonly directIo: boolean;
  private readonly noatime: number;
  private readonly warn: (msg: string) => void;
  private readonly callerGroups: boolean;
  private readonly killprivV2: () => boolean;
  private readonly mountSuid: boolean;
  private readonly dirs = new DirHandles();
  private readonly dirReplies: DirReplies;
  private readonly table: OpTable;
  /** Once true, waiting locks give up: the session is ending. */
  private ending = false;

  constructor(opts: OpsOptions) {
    this.backend = opts.backend;
    this.native = opts.replies;
    this.passthrough = opts.passthrough;
    this.nodes = new Nodes(opts.backend.root, (inode) => opts.backend.forget(inode));
    this.dirReplies = new DirReplies(opts.backend, opts.replies, this.nodes, this.dirs);
    this.cache = opts.cache ?? 'auto';
    this.directIo = opts.directIo ?? true;
    this.noatime = opts.noatime ? C.O_NOATIME : 0;
    this.warn = opts.warn ?? (() => {});
    this.callerGroups = opts.callerGroups ?? false;
    this.killprivV2 = opts.killprivV2 ?? (() => false);
    this.mountSuid = opts.mountSuid ?? false;
    this.table = this.ops();
  }

  /**
   * Entry point for every request but ENDED. Never throws; answers exactly
   * once, then calls done() (forgets need no answer and call nothing).
   */
  handle(op: number, req: Req | undefined, ino: bigint, args: unknown[], done?: () => void): void {
    const name = opName(op);
    if (name === 'FORGET') {
      const pairs = args[0] as BigUint64Array;
      for (let i = 0; i < pairs.length; i += 2) this.nodes.forget(pairs[i], pairs[i + 1]);
      return;
    }
    if (req === undefined) return;
    const fn = name && (this.table[name] as ((req: Req, ino: bigint, ...a: unknown[]) => Promise<void>) | undefined);
    if (!fn) {
      this.native.replyErr(req, toErrno(new FsError('ENOSYS')));
      done?.();
      return;
    }
    if (trace.enabled) trace('%s ino %s %s', name, ino, args.map(show).join(' '));
    fn(req, ino, ...args)
      .catch((err: unknown) => {
        if (trace.enabled) trace('%s ino %s failed: %s', name, ino, (err as Error)?.message);
        if (this.native.replyErr(req, toErrno(err)) === NOT_PENDING) this.warn(`error after answering a request (${name}): ${(err as Error)?.stack ?? String(err)}`);
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

  // FLUSH (the kernel's request at every close(2)) only matters here for
  // record locks: close(2) drops the process's locks on the file. Our FLUSH
  // does nothing else (nothing is buffered on our side), and it cost a round
  // trip per close, a fifth of a create's time. So files nobody has locked
  // through the mount are opened without it; their locks, if they get any,
  // still go at the handle's RELEASE (LockTable.released), just after the
  // close rather than within it, and with the last descriptor of that open
  // file rather than with any of the process's descriptors of the file.
  private openFlags(node: Node, attr: Attr | undefined, backing: number): number {
    return this.cacheFlags(node, attr, backing) | (node.locked ? 0 : OPEN_NOFLUSH);
  }

  private cacheFlags(node: Node, attr: Attr | undefined, backing: number): number {
    // Passthrough keeps no page cache of its own (the source's is the one),
    // and direct_io would override it: neither flag applies.
    if (backing > 0) return 0;
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

  private ops(): OpTable {
    const be = this.backend;
    const nodes = this.nodes;
    const nat = this.native;
    const inode = (ino: bigint) => nodes.get(ino).inode;
    return {
      LOOKUP: async (req, ino, name) => {
        // Export support (kernel file handles, NFS): "." names a node by id,
        // which may not be held in this run (after a restart); ".." asks
        // for a directory's parent, never above the export root.
        if (name === '.') return this.entry(req, ino === ROOT_NODE_ID ? await be.byId(be.root.id) : await be.byId(ino));
        if (name === '..') return this.entry(req, await be.parent(inode(ino)));
        const dir = nodes.get(ino);
        if (dir.listedPlain) dir.statsChildren = true; // a name of a listing looked up: list with attributes from now on
        this.entry(req, await be.lookup(dir.inode, name));
      },
      GETATTR: async (req, ino) => {
        // fstat of the pinned inode: also right for a file unlinked while open.
        nat.replyAttr(req, attrBuffer(await be.getattr(inode(ino))));
      },
      SETATTR: async (req, ino, toSet, fh, buf) => {
        const raw = readSetattr(buf);
        const set: SetAttr = {};
        if (toSet & SET_MODE) set.mode = raw.mode;
        if (toSet & SET_UID) set.uid = raw.uid;
        if (toSet & SET_GID) set.gid = raw.gid;
        if (toSet & SET_SIZE) set.size = raw.size;
        if (toSet & (SET_ATIME | SET_ATIME_NOW)) set.atime = toSet & SET_ATIME_NOW ? 'now' : raw.atimeNs;
        if (toSet & (SET_MTIME | SET_MTIME_NOW)) set.mtime = toSet & SET_MTIME_NOW ? 'now' : raw.mtimeNs;
        const after = await be.setattr(inode(ino), set, fh >= 0 ? fh : undefined);
        const kill = setattrKills(toSet, this.killprivV2(), this.native.ctx(req)[0], after.uid);
        nat.replyAttr(req, attrBuffer(kill ? await killSuidgid(be, inode(ino), after) : after));
      },
      READLINK: async (req, ino) => {
        nat.replyReadlink(req, await be.readlink(inode(ino)));
      },
      MKNOD: async (req, ino, name, mode, rdev) => {
        this.entry(req, await be.mknod(inode(ino), name, await this.newMode(req, inode(ino), mode), rdev, this.caller(req)));
      },
      MKDIR: async (req, ino, name, mode) => {
        this.entry(req, await be.mkdir(inode(ino), name, await this.newMode(req, inode(ino), mode), this.caller(req)));
      },
      UNLINK: async (req, ino, name) => {
        await be.unlink(inode(ino), name);
        nat.replyErr(req, 0);
      },
      RMDIR: async (req, ino, name) => {
        await be.rmdir(inode(ino), name);
        nat.replyErr(req, 0);
      },
      SYMLINK: async (req, ino, name, target) => {
        this.entry(req, await be.symlink(target, inode(ino), name, this.caller(req)));
      },
      RENAME: async (req, ino, name, newIno, newName, flags) => {
        try {
          await be.rename(inode(ino), name, inode(newIno), newName, flags);
        } catch (err) {
          if (flags && isCode(err, 'EINVAL')) this.warn(`rename ${name} -> ${newName}: ${(err as Error).message}`);
          throw err;
        }
        nat.replyErr(req, 0);
      },
      LINK: async (req, ino, newIno, newName) => {
        this.entry(req, await be.link(inode(ino), inode(newIno), newName));
      },
      OPEN: async (req, ino, flags, openFlags) => {
        const node = nodes.get(ino);
        const attr = await be.getattr(node.inode).catch(() => undefined);
        // Deleted on SRC since the kernel looked the name up (its entry is
        // still cached): opening the pinned file would write into a file no
        // name leads to any more. ESTALE makes the kernel look the name up
        // again (LOOKUP_REVAL): ENOENT, or a new file for O_CREAT. A file
        // the kernel has open already (reopened through /proc/PID/fd) stays.
        if (attr && attr.nlink === 0n && !node.handles && (attr.mode & S_IFMT) === S_IFREG) throw new FsError('ESTALE', `node ${ino} was deleted on the source`);
        if (flags & FMODE_EXEC) await checkExec(be, node.inode, attr, this.mountSuid);
        const want = sourceFlags(flags);
        // O_NOATIME is for the file's owner (or root): others read as on a relatime mount.
        const fh = await be.open(node.inode, want | this.noatime).catch((err) => (this.noatime && isCode(err, 'EPERM') ? be.open(node.inode, want) : Promise.reject(err)));
        if (openKills(flags, openFlags, this.killprivV2(), this.native.ctx(req)[0])) {
          try {
            await killSuidgid(be, node.inode);
          } catch (err) {
            await this.dropHandle(fh).catch(() => {});
            throw err;
          }
        }
        const backing = this.passthrough?.attach(node.inode, fh) ?? 0;
        if (nat.replyOpen(req, fh, this.openFlags(node, attr, backing) | this.fdFlag(fh), backing) === 0) (node.handles ??= new Set()).add(fh);
        else await this.dropHandle(fh).catch(() => {}); // the kernel gave up: nobody will release it
      },
      READ: async (req, _ino, fh, size, off) => {
        nat.replyBuf(req, await be.read(fh, size, off));
      },
      WRITE: async (req, ino, fh, data, off, flags) => {
        if (flags & WRITE_KILL_SUIDGID) await killSuidgid(be, inode(ino));
        nat.replyWrite(req, await be.write(fh, data, off));
      },
      // Nothing buffered on our side; the source fd is flushed by close() at
      // release. A close(2) drops the closing process's record locks.
      FLUSH: async (req, _ino, fh, owner) => {
        await be.unlockOwner(fh, lockOwner(owner));
        nat.replyErr(req, 0);
      },
      RELEASE: async (req, ino, fh) => {
        const node = nodes.get(ino);
        node.handles?.delete(fh);
        if (node.handles?.size === 0) node.handles = undefined;
        await this.dropHandle(fh);
        nat.replyErr(req, 0);
      },
      FSYNC: async (req, _ino, fh, datasync) => {
        await be.fsync(fh, datasync);
        nat.replyErr(req, 0);
      },
      OPENDIR: async (req, ino) => {
        const fh = this.dirs.add(nodes.get(ino));
        if (nat.replyOpen(req, fh, 0) !== 0) this.dirs.release(fh);
      },
      READDIR: (req, _ino, fh, size, off) => this.dirReplies.readdir(req, fh, size, off, false),
      READDIRPLUS: (req, _ino, fh, size, off) => this.dirReplies.readdir(req, fh, size, off, true),
      RELEASEDIR: async (req, _ino, fh) => {
        this.dirs.release(fh);
        nat.replyErr(req, 0);
      },
      FSYNCDIR: async (req, ino, _fh, datasync) => {
        // fsync(2) on a directory: open it on the source and sync that.
        const fh = await be.open(inode(ino), C.O_RDONLY | C.O_DIRECTORY);
        try {
          await be.fsync(fh, datasync);
        } finally {
          await be.release(fh);
        }
        nat.replyErr(req, 0);
      },
      STATFS: async (req, ino) => {
        const s = await be.statfs(inode(ino));
        nat.replyStatfs(req, BigUint64Array.of(s.bsize, s.frsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.namelen));
      },
      SETXATTR: async (req, ino, name, value, flags) => {
        await be.setxattr(inode(ino), name, value, flags);
        if (name === 'system.posix_acl_access') await this.aclKillSgid(req, inode(ino));
        nat.replyErr(req, 0);
      },
      GETXATTR: async (req, ino, name, size) => {
        this.replySized(req, size, await be.getxattr(inode(ino), name));
      },
      LISTXATTR: async (req, ino, size) => {
        const names = await be.listxattr(inode(ino));
        this.replySized(req, size, Buffer.from(names.map((n) => `${n}\0`).join('')));
      },
      REMOVEXATTR: async (req, ino, name) => {
        const skip = name === CAPABILITY && !capabilityRemoval(this.killprivV2(), this.native.ctx(req)[0], (await be.getattr(inode(ino))).uid);
        if (!skip) await be.removexattr(inode(ino), name);
        nat.replyErr(req, 0);
      },
      ACCESS: async (req, ino, mask) => {
        await be.access(inode(ino), mask);
        nat.replyErr(req, 0);
      },
      CREATE: async (req, ino, name, mode, flags, openFlags) => {
        const { fh, entry } = await be.create(inode(ino), name, sourceFlags(flags), await this.newMode(req, inode(ino), mode), this.caller(req));
        try {
          checkId(entry.attr.ino);
          // The name may have been a file already (made on SRC since the kernel looked): O_TRUNC truncated it.
          if (openKills(flags, openFlags, this.killprivV2(), this.native.ctx(req)[0])) entry.attr = await killSuidgid(be, entry.inode, entry.attr);
        } catch (err) {
          be.forget(entry.inode);
          await be.release(fh);
          throw err;
        }
        const node = nodes.lookedUp(entry, 0);
        const backing = this.passthrough?.attach(entry.inode, fh) ?? 0;
        if (nat.replyCreate(req, attrBuffer(entry.attr), fh, this.openFlags(node, entry.attr, backing) | this.fdFlag(fh), backing) === 0) {
          node.lookups += 1;
          (node.handles ??= new Set()).add(fh);
        } else {
          nodes.forget(node.id, 0n); // the kernel gave up: drop the node if nothing else holds it
          await this.dropHandle(fh).catch(() => {});
        }
      },
      GETLK: async (req, ino, fh, owner, type, start, len, pid) => {
        nodes.get(ino).locked = true;
        const got = await be.getlk(fh, lockOwner(owner), { type, start, len, pid });
        nat.replyLock(req, got.type, got.start, got.len, got.pid);
      },
      SETLK: async (req, ino, fh, owner, type, start, len, pid, sleep) => {
        nodes.get(ino).locked = true;
        await be.setlk(fh, lockOwner(owner), { type, start, len, pid }, sleep ? this.cancelled(req) : undefined);
        nat.replyErr(req, 0);
      },
      FLOCK: async (req, _ino, fh, owner, op) => {
        await be.flock(fh, lockOwner(owner), op & ~LOCK_NB, op & LOCK_NB ? undefined : this.cancelled(req));
        nat.replyErr(req, 0);
      },
      FALLOCATE: async (req, ino, fh, mode, off, len) => {
        if (modifyKills(this.killprivV2(), this.native.ctx(req)[0])) await killSuidgid(be, inode(ino));
        await be.fallocate(fh, mode, off, len);
        nat.replyErr(req, 0);
      },
      LSEEK: async (req, _ino, fh, off, whence) => {
        nat.replyLseek(req, await be.lseek(fh, off, whence));
      },
      COPY_FILE_RANGE: async (req, _ino, fhIn, offIn, fhOut, offOut, len, flags, nodeOut) => {
        if (modifyKills(this.killprivV2(), this.native.ctx(req)[0])) await killSuidgid(be, inode(nodeOut));
        nat.replyWrite(req, await be.copyFileRange(fhIn, offIn, fhOut, offOut, len, flags));
      },
    };
  }

  /** Closes a file handle, and its passthrough registration with its last handle. */
  private async dropHandle(fh: number): Promise<void> {
    this.passthrough?.detach(fh);
    await this.backend.release(fh);
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

/** FLOCK's op bit for "do not wait" (flock(2)). */
const LOCK_NB = 4;

/** The kernel's lock owner, as the backend's owner key (never equal to another front-end's). */
function lockOwner(owner: bigint): string {
  return `fuse:${owner}`;
}
