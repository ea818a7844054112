// Inodes: every file a front-end holds (a FUSE node, a 9P fid) is one Inode,
// in one table keyed by its stable id and shared by both front-ends, so a
// rename or removal through either is seen by the other: an Inode names a
// file, never a place in the tree.
//
// An Inode pins its file with an O_PATH descriptor, opened once by a lookup
// that followed no symlink. Every operation acts on that descriptor (or on
// its directory's descriptor plus one name), so no request can resolve a
// path that a client, or a writer on SRC, has changed since.
//
// Descriptors are a budget (RLIMIT_NOFILE, which a container may keep small).
// An Inode whose filesystem gives file handles can let its descriptor go
// (least recently used first) and reopen the very same inode by handle when
// it is next used; one without a handle keeps its descriptor. When even that
// runs out, lookups fail with ENFILE and one warning.
//
// Concurrency: JS-thread only. An async op holds `busy` while a pool thread
// uses the descriptor (use()), so it is never closed under a syscall.
import { FsError } from '../errno.js';
import * as sys from '../sys/sys.js';
import { S_IFDIR } from './attr.js';
import { type LruLinks, LruList } from './lru.js';

export class Inode implements LruLinks<Inode> {
  lruPrev: Inode | undefined = undefined;
  lruNext: Inode | undefined = undefined;
  inLru = false;
  /** References held by front-ends (FUSE lookups count once per node; one per 9P fid). */
  refs = 0;
  /** The O_PATH descriptor, or -1 while let go (reopened from `handle`). */
  fd: number;
  /** Async syscalls using `fd` right now: it is not let go meanwhile. */
  busy = 0;
  /** The inode's generation (from its handle), once the backend has read it. */
  generation: number | undefined;
  /**
   * Out of the table, never reopened: its last reference is gone (its
   * descriptor closes when no syscall uses it), or its file was deleted and
   * the id went to another file (its holders get ESTALE, never that file).
   */
  released = false;

  constructor(
    /** The stable id (FUSE node id, st_ino, qid.path). */
    readonly id: bigint,
    readonly dev: bigint,
    readonly ino: bigint,
    /** The S_IFMT bits: an inode's type never changes. */
    readonly type: number,
    fd: number,
    /** The filesystem's handle (sys.nameToHandle), or undefined: the descriptor is kept. */
    readonly handle: Buffer | undefined,
  ) {
    this.fd = fd;
  }
}

export interface InodeTableOptions {
  /** Most descriptors to keep open for inodes; default: the soft RLIMIT_NOFILE less a reserve. */
  budget?: number;
  warn?: (msg: string) => void;
}

/** Descriptors kept free for open files, sockets and the table. */
const RESERVE = 512;

/** The inodes of one mount that have handles, and the open directory that lets them be reopened. */
interface Mount {
  /** A directory of that mount opened for reading (open_by_handle_at refuses O_PATH), or -1 until one is seen. */
  anchor: number;
  open: Set<Inode>;
  closed: number;
}

export class InodeTable {
  readonly budget: number;
  private readonly byId = new Map<bigint, Inode>();
  /** Inodes that hold a descriptor they could let go, least recently used first. */
  private readonly lru = new LruList<Inode>();
  private readonly mounts = new Map<number, Mount>();
  private open = 0;
  private readonly warn: (msg: string) => void;
  private warned = false;

  constructor(opts: InodeTableOptions = {}) {
    const [soft] = sys.raiseNofile();
    this.budget = opts.budget ?? (soft < 0 ? 1 << 20 : Math.max(64, soft - Math.max(RESERVE, soft >> 4)));
    this.warn = opts.warn ?? (() => {});
  }

  get(id: bigint): Inode | undefined {
    return this.byId.get(id);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Descriptors held for inodes right now (anchors included). */
  get descriptors(): number {
    return this.open;
  }

  /** Take one more reference on an inode already in the table. */
  ref(inode: Inode): Inode {
    inode.refs++;
    return inode;
  }

  /**
   * Adopt a fresh O_PATH descriptor for the file `id` (dev, ino, type from
   * its statx), or, when the table already has that file, close it and
   * return the one there. Either way the caller holds one more reference.
   */
  adopt(id: bigint, dev: bigint, ino: bigint, type: number, fd: number): Inode {
    const known = this.byId.get(id);
    if (known) {
      let gone = false;
      try {
        gone = known.fd < 0 && this.gone(known);
      } catch (err) {
        sys.close(fd);
        throw err;
      }
      if (!gone) {
        sys.close(fd);
        return this.ref(known);
      }
      this.retire(known);
    }
    const h = sys.nameToHandle(fd);
    const inode = new Inode(id, dev, ino, type, fd, typeof h === 'number' ? undefined : h);
    this.byId.set(id, inode);
    this.open++;
    if (inode.handle) {
      const m = this.mount(inode);
      m.open.add(inode);
      this.lru.touch(inode);
      if (m.anchor < 0 && type === S_IFDIR) {
        const anchor = sys.openDirFd(fd);
        if (anchor >= 0) {
          m.anchor = anchor;
          this.open++;
        }
      }
    }
    this.trim(inode);
    return this.ref(inode);
  }

  /** Drop `count` references; the last one closes the descriptor and forgets the inode. */
  release(inode: Inode, count = 1): void {
    inode.refs -= count;
    if (inode.refs > 0 || this.byId.get(inode.id) !== inode) return;
    this.byId.delete(inode.id);
    inode.released = true;
    const wasOpen = inode.fd >= 0;
    // A syscall on a pool thread may still use the descriptor (a 9P clunk
    // right after a setattr on the same fid): its number must not be reused
    // under it, so the last use() closes it.
    if (wasOpen && inode.busy === 0) this.closeFd(inode);
    if (inode.handle) {
      const m = this.mount(inode);
      if (wasOpen) m.open.delete(inode);
      else m.closed--;
      this.lru.delete(inode);
      if (inode.busy === 0) this.dropMountIfEmpty(inode);
    }
  }

  private closeFd(inode: Inode): void {
    sys.close(inode.fd);
    inode.fd = -1;
    this.open--;
  }

  /** Close every descriptor: the table is not used after this. */
  closeAll(): void {
    for (const inode of this.byId.values()) {
      if (inode.fd >= 0) sys.close(inode.fd);
      inode.fd = -1;
    }
    for (const m of this.mounts.values()) if (m.anchor >= 0) sys.close(m.anchor);
    this.byId.clear();
    this.lru.clear();
    this.mounts.clear();
    this.open = 0;
  }

  /** The inode's descriptor for a synchronous call, reopened by handle if it was let go. */
  fd(inode: Inode): number {
    if (inode.released) {
      if (inode.fd < 0) throw new FsError('ESTALE', `inode ${inode.id} was released`);
      return inode.fd; // still in use by a syscall that started before
    }
    if (inode.fd < 0) this.reopen(inode);
    else if (inode.handle) {
      this.lru.touch(inode); // most recently used now
    }
    return inode.fd;
  }

  /** Run an async syscall on the inode's descriptor, which stays open until it settles. */
  async use<T>(inode: Inode, fn: (fd: number) => Promise<T>): Promise<T> {
    const fd = this.fd(inode);
    inode.busy++;
    try {
      return await fn(fd);
    } finally {
      if (--inode.busy === 0 && inode.released && inode.fd >= 0) {
        this.closeFd(inode);
        if (inode.handle) this.dropMountIfEmpty(inode);
      }
    }
  }

  /** Fail a lookup cleanly when no descriptor is left: ENFILE to the client, one warning here. */
  outOfDescriptors(err: unknown): never {
    if (!this.warned) {
      this.warned = true;
      this.warn(`out of file descriptors (${this.open} held for files, budget ${this.budget}): lookups fail with ENFILE; raise the open-files limit (ulimit -n, LimitNOFILE=)`);
    }
    throw new FsError('ENFILE', `no descriptor left: ${(err as Error)?.message ?? err}`);
  }

  /** Let go and its file deleted since (its handle no longer opens)? Reopens it when it is still there. */
  private gone(inode: Inode): boolean {
    try {
      this.reopen(inode);
      return false;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESTALE' || (err as NodeJS.ErrnoException).code === 'ENOENT') return true;
      throw err;
    }
  }

  /**
   * The file of a let-go Inode was deleted and its filesystem gave the inode
   * number, so the id, to another file: the old Inode leaves the table for
   * good (whoever still holds it gets ESTALE, never the new file) and the id
   * is free for the new file's Inode.
   */
  private retire(inode: Inode): void {
    this.byId.delete(inode.id);
    inode.released = true;
    if (!inode.handle) return;
    this.mount(inode).closed--;
    this.dropMountIfEmpty(inode);
  }

  /** A mount whose last inode went: its anchor closes. */
  private dropMountIfEmpty(inode: Inode): void {
    const id = sys.handleMount(inode.handle!);
    const m = this.mounts.get(id);
    if (!m || m.open.size > 0 || m.closed > 0) return;
    if (m.anchor >= 0) {
      sys.close(m.anchor);
      this.open--;
    }
    this.mounts.delete(id);
  }

  private mount(inode: Inode): Mount {
    const id = sys.handleMount(inode.handle!);
    let m = this.mounts.get(id);
    if (!m) this.mounts.set(id, (m = { anchor: -1, open: new Set(), closed: 0 }));
    return m;
  }

  private reopen(inode: Inode): void {
    if (!inode.handle) throw new FsError('ESTALE', `inode ${inode.id} is no longer open`);
    const m = this.mount(inode);
    const fd = sys.openByHandle(m.anchor, inode.handle, 0o400000 /* O_NOFOLLOW */);
    if (fd < 0) {
      const err = sys.errnoError(-fd, 'open_by_handle_at', String(inode.id));
      if (-fd === 24 /* EMFILE */ || -fd === 23 /* ENFILE */) this.outOfDescriptors(err);
      throw err;
    }
    inode.fd = fd;
    this.open++;
    m.closed--;
    m.open.add(inode);
    this.lru.touch(inode);
    this.trim(inode);
  }

  /** Let the least recently used descriptors go until the budget holds (only where they can be reopened; never `keep`, about to be used). */
  private trim(keep?: Inode): void {
    if (this.open <= this.budget) return;
    for (const inode of this.lru.oldestFirst()) {
      if (this.open <= this.budget) break;
      const m = this.mount(inode);
      if (inode.busy > 0 || m.anchor < 0 || inode === keep) continue;
      this.lru.delete(inode);
      m.open.delete(inode);
      m.closed++;
      this.closeFd(inode);
    }
  }
}
