// Backend over descriptors plus the id mapper: each op is one or two *at
// syscalls on the Inodes' O_PATH descriptors (lib/backend/inodes.ts) with at
// most one name component, never following a symlink, and reports the
// stable id.
import { constants as C } from 'node:fs';
import { access, statfs } from 'node:fs/promises';
import { FsError, isCode } from '../errno.js';
import type { IdMapper } from '../mapper/mapper.js';
import * as sys from '../sys/sys.js';
import { type Attr, attrFromStatx, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, S_ISGID } from './attr.js';
import { type Backend, type Caller, type DirListing, type Entry, type Handle, RENAME_EXCHANGE, RENAME_NOREPLACE, type SetAttr, type StatFs, type TimeSet, XATTR_CREATE, XATTR_REPLACE } from './backend.js';
import { formatFor, type HandleFormat } from '../sys/handle-formats.js';
import { fsType, kernelHandle } from '../sys/handles.js';
import { direntInoIsIno } from './dirent-ino.js';
import { type Inode, InodeTable } from './inodes.js';
import type { IdOpener } from './open-by-id.js';
import type { ByteRange, Cancelled, LockOwner, LockTable } from './locks.js';
import { OpenFiles } from './open-files.js';
import { mountOfFd } from './mount-of.js';
import type { MountInfo } from '../mountinfo.js';

export interface PassthroughOptions {
  /** Absolute path of the export root (SRC): resolved once, at open(). */
  root: string;
  mapper: IdMapper;
  /** Give new files the caller's uid/gid (mount option allow_other, running as root). */
  chownToCaller?: boolean;
  /** Most descriptors to hold for inodes (default: from RLIMIT_NOFILE). */
  descriptorBudget?: number;
  /** Opens files by id alone, for ids not held in this run (byId; NFS handles after a restart). */
  opener?: Pick<IdOpener, 'open'>;
  warn?: (msg: string) => void;
}

const NS = 1_000_000_000n;
const AT_FDCWD = -100;
const O_NOFOLLOW = C.O_NOFOLLOW;
const MAX_OFFSET = BigInt(Number.MAX_SAFE_INTEGER);
/** How far up parent() looks for the root before calling a directory outside the export. */
const MAX_DEPTH = 4096;

export class PassthroughBackend implements Backend {
  readonly root: Inode;
  readonly inodes: InodeTable;
  /** The export root's path, for messages only: no syscall takes it after open(). */
  readonly rootPath: string;
  private readonly mapper: IdMapper;
  private readonly chownToCaller: boolean;
  /** Open data descriptors (a handle is its fd) and the locks taken through them. */
  readonly files = new OpenFiles();
  private readonly opener: Pick<IdOpener, 'open'> | undefined;
  /** Mount id -> its filesystem's handle format (where the generation sits), read once per mount. */
  private readonly formats = new Map<number, Promise<HandleFormat | undefined>>();
  /** Advisory locks, held on the source (one open file per owner and file). */
  get locks(): LockTable {
    return this.files.locks;
  }

  private constructor(opts: PassthroughOptions, inodes: InodeTable, root: Inode) {
    this.rootPath = opts.root;
    this.mapper = opts.mapper;
    this.chownToCaller = opts.chownToCaller ?? false;
    this.opener = opts.opener;
    this.inodes = inodes;
    this.root = root;
  }

  /** Open SRC (its path is resolved here, once) and pin it for the backend's life. */
  static async open(opts: PassthroughOptions): Promise<PassthroughBackend> {
    const inodes = new InodeTable({ budget: opts.descriptorBudget, warn: opts.warn });
    const fd = sys.openPath(AT_FDCWD, opts.root, C.O_DIRECTORY);
    if (fd < 0) throw sys.errnoError(-fd, 'open', opts.root);
    const sx = sys.statx(fd, '', sys.AT_EMPTY_PATH, sys.statxBuffer());
    const id = opts.mapper.knownId(sx[0], sx[1]) ?? (await opts.mapper.idFor(sx[0], sx[1]));
    const root = inodes.adopt(id, sx[0], sx[1], Number(sx[2]) & S_IFMT, fd);
    const backend = new PassthroughBackend(opts, inodes, root);
    await backend.generationOf(root);
    return backend;
  }

  /**
   * stableid's own files in the export root (the cluster lock) do not exist
   * for clients: looking them up is ENOENT, making or removing them EPERM.
   */
  private isHidden(dir: Inode, name: string): boolean {
    return dir === this.root && this.mapper.isReservedName(name);
  }

  private hidden(dir: Inode, name: string, change = false): void {
    if (!this.isHidden(dir, name)) return;
    if (change) throw new FsError('EPERM', `${name} is reserved for stableid`);
    throw new FsError('ENOENT', `${name} is reserved for stableid`);
  }

  private async idOf(dev: bigint, ino: bigint): Promise<bigint> {
    return this.mapper.knownId(dev, ino) ?? this.mapper.idFor(dev, ino);
  }

  /**
   * statx on the JS thread (synchronous): one cached-metadata syscall costs
   * less than the two thread wake-ups of libuv's pool, and lookup/getattr are
   * most of the requests (test/bench/e2e/fuse-metadata.bench.ts).
   */
  private async statAtFd(dfd: number, name: string, flags = 0): Promise<{ attr: Attr; dev: bigint; ino: bigint }> {
    const sx = sys.statx(dfd, name, flags, sys.statxBuffer());
    const attr = attrFromStatx(sx, 0n);
    attr.ino = await this.idOf(sx[0], sx[1]);
    return { attr, dev: sx[0], ino: sx[1] };
  }

  async lookup(dir: Inode, name: string): Promise<Entry> {
    checkName(name);
    this.hidden(dir, name);
    const dfd = this.inodes.fd(dir);
    const { attr } = await this.statAtFd(dfd, name);
    // Known file: the inode already pins it, and statx just saw it at this name.
    const known = this.inodes.get(attr.ino);
    // (One let go of its descriptor is checked through a fresh open: its number may name a new file now.)
    if (known && known.fd >= 0) {
      attr.generation = known.generation;
      return { inode: this.inodes.ref(known), attr };
    }
    return this.pin(dir, name);
  }

  /** Open dir/name O_PATH, without following it, and take the inode from that descriptor. */
  private async pin(dir: Inode, name: string): Promise<Entry> {
    const fd = sys.openPath(this.inodes.fd(dir), name, O_NOFOLLOW);
    if (fd < 0) {
      const err = sys.errnoError(-fd, 'openat', name);
      if (-fd === 24 || -fd === 23) this.inodes.outOfDescriptors(err); // EMFILE, ENFILE
      throw err;
    }
    return this.adoptFd(fd);
  }

  /** The inode of a fresh O_PATH descriptor (its statx is the truth, whatever the name says now). */
  private async adoptFd(fd: number): Promise<Entry> {
    let got;
    try {
      got = await this.statAtFd(fd, '', sys.AT_EMPTY_PATH);
    } catch (err) {
      sys.close(fd);
      throw err;
    }
    const { attr, dev, ino } = got;
    const inode = this.inodes.adopt(attr.ino, dev, ino, attr.mode & S_IFMT, fd);
    attr.generation = inode.generation ?? (await this.generationOf(inode));
    return { inode, attr };
  }

  /** The generation inside the inode's handle (where its filesystem keeps it), read once. */
  private async generationOf(inode: Inode): Promise<number> {
    const h = inode.handle;
    let gen = 0;
    if (h) {
      const mount = sys.handleMount(h);
      let format = this.formats.get(mount);
      if (!format) {
        format = this.inodes.use(inode, (fd) => fsType(fd)).then(formatFor, () => undefined);
        this.formats.set(mount, format);
      }
      gen = (await format)?.generation(kernelHandle(h)) ?? 0;
    }
    inode.generation ??= gen;
    return inode.generation;
  }

  async byId(id: bigint): Promise<Entry> {
    const known = this.inodes.get(id);
    if (known) return { inode: this.inodes.ref(known), attr: await this.getattr(known) };
    if (!this.opener) throw new FsError('ESTALE', `id ${id} is not open in this run`);
    const entry = await this.adoptFd((await this.opener.open(id)).fd);
    if (entry.inode.id !== id) {
      this.forget(entry.inode);
      throw new FsError('ESTALE', `id ${id} opened a file with id ${entry.inode.id}`);
    }
    return entry;
  }

  async parent(dir: Inode): Promise<Entry> {
    if (dir === this.root) return { inode: this.inodes.ref(this.root), attr: await this.getattr(this.root) };
    // Checked before it is adopted: a directory above the export gets no
    // Inode, and no id (which could grow the table for a foreign disk).
    const fd = sys.openPath(this.inodes.fd(dir), '..', C.O_DIRECTORY);
    if (fd < 0) throw sys.errnoError(-fd, 'openat', '..');
    try {
      this.checkBeneathRoot(fd, dir.id);
    } catch (err) {
      sys.close(fd);
      throw err;
    }
    return this.adoptFd(fd);
  }

  /**
   * A directory moved out of SRC behind our back (by a writer on SRC) still
   * has its descriptor: its '..' must not lead above the export. Walk up to
   * the root; reaching the filesystem's top (or MAX_DEPTH) first is EACCES.
   */
  private checkBeneathRoot(start: number, child: bigint): void {
    const sx = sys.statxBuffer();
    let fd = start;
    let owned = false;
    try {
      for (let depth = 0; depth < MAX_DEPTH; depth++) {
        sys.statx(fd, '', sys.AT_EMPTY_PATH, sx);
        if (sx[0] === this.root.dev && sx[1] === this.root.ino) return;
        const [dev, ino] = [sx[0], sx[1]];
        const next = sys.openPath(fd, '..', C.O_DIRECTORY);
        if (next < 0) throw sys.errnoError(-next, 'openat', '..');
        if (owned) sys.close(fd);
        [fd, owned] = [next, true];
        sys.statx(fd, '', sys.AT_EMPTY_PATH, sx);
        if (sx[0] === dev && sx[1] === ino) break; // '/' is its own parent
      }
    } finally {
      if (owned) sys.close(fd);
    }
    throw new FsError('EACCES', `the parent of directory ${child} is outside the export (moved out of it)`);
  }

  hold(inode: Inode): Inode {
    return this.inodes.ref(inode);
  }

  /** Close every descriptor (the backend is not used after this). */
  close(): void {
    this.inodes.closeAll();
    void this.locks.closeAll();
  }

  forget(inode: Inode, count = 1): void {
    if (inode === this.root && inode.refs - count < 1) count = inode.refs - 1; // the root stays
    this.inodes.release(inode, count);
  }

  async getattr(node: Inode): Promise<Attr> {
    // The pinned inode keeps its device, so its id is the one it was adopted with.
    const sx = sys.statx(this.inodes.fd(node), '', sys.AT_EMPTY_PATH, sys.statxBuffer());
    const attr = attrFromStatx(sx, node.id);
    attr.generation = node.generation;
    return attr;
  }

  async setattr(node: Inode, set: SetAttr, fh?: Handle): Promise<Attr> {
    // chown first: it clears setuid/setgid bits that a mode in the same request sets.
    if (set.uid !== undefined || set.gid !== undefined) await this.inodes.use(node, (fd) => sys.fchownat(fd, set.uid ?? -1, set.gid ?? -1));
    if (set.mode !== undefined) {
      if (node.type === S_IFLNK) throw new FsError('EOPNOTSUPP', `inode ${node.id} is a symlink: its mode cannot change`);
      await this.inodes.use(node, (fd) => sys.fchmod(fd, set.mode! & 0o7777));
    }
    if (set.size !== undefined) await this.truncate(node, set.size, fh);
    if (set.atime !== undefined || set.mtime !== undefined) {
      const [as, an] = timespec(set.atime);
      const [ms, mn] = timespec(set.mtime);
      await this.inodes.use(node, (fd) => sys.utimensat(fd, as, an, ms, mn));
    }
    return this.getattr(node);
  }

  private async truncate(node: Inode, size: bigint, fh?: Handle): Promise<void> {
    if (size < 0n) throw new FsError('EINVAL', `negative size ${size}`);
    if (size > MAX_OFFSET) throw new FsError('EFBIG', `size ${size} is beyond what this server can set`);
    if (fh !== undefined) return this.files.ftruncate(fh, size);
    if (node.type === S_IFDIR) throw new FsError('EISDIR', `inode ${node.id} is a directory`);
    if (node.type === S_IFLNK) throw new FsError('EOPNOTSUPP', `inode ${node.id} is a symlink: not followed`);
    if (node.type !== S_IFREG) throw new FsError('EINVAL', `inode ${node.id} is not a regular file`);
    const fd = await this.inodes.use(node, (pfd) => sys.reopen(pfd, C.O_WRONLY));
    await OpenFiles.truncateAndClose(fd, size);
  }

  readlink(node: Inode): Promise<string> {
    if (node.type !== S_IFLNK) return Promise.reject(new FsError('EINVAL', `inode ${node.id} is not a symlink`));
    return this.inodes.use(node, (fd) => sys.readlinkat(fd));
  }

  async mknod(dir: Inode, name: string, mode: number, rdev: bigint, caller?: Caller): Promise<Entry> {
    checkName(name);
    this.hidden(dir, name, true);
    await this.inodes.use(dir, (dfd) => sys.mknodat(dfd, name, mode, rdev, this.creds(caller)));
    return this.made(dir, name, caller);
  }

  async mkdir(dir: Inode, name: string, mode: number, caller?: Caller): Promise<Entry> {
    checkName(name);
    this.hidden(dir, name, true);
    await this.inodes.use(dir, (dfd) => sys.mkdirat(dfd, name, mode, this.creds(caller)));
    return this.made(dir, name, caller);
  }

  async symlink(target: string, dir: Inode, name: string, caller?: Caller): Promise<Entry> {
    checkName(name);
    this.hidden(dir, name, true);
    if (target.includes('\0')) throw new FsError('EINVAL', 'symlink target contains NUL');
    await this.inodes.use(dir, (dfd) => sys.symlinkat(target, dfd, name, this.creds(caller)));
    return this.made(dir, name, caller);
  }

  /** The new file at dir/name (whatever is there now: it is never followed), owned by the caller. */
  private async made(dir: Inode, name: string, caller?: Caller): Promise<Entry> {
    const entry = await this.pin(dir, name);
    try {
      if (await this.own(entry, dir, caller)) entry.attr = await this.getattr(entry.inode);
      return entry;
    } catch (err) {
      this.forget(entry.inode);
      throw err;
    }
  }

  /**
   * FUSE callers under allow_other: make and open as the caller (its thread's
   * fsuid, fsgid and groups), so the source filesystem checks the caller's
   * rights and owns the file by the caller; nothing is chowned afterwards,
   * so a name swapped in meanwhile is never given away. Root needs none.
   */
  private creds(caller?: Caller): sys.Creds | undefined {
    if (!this.chownToCaller || !caller?.groups || caller.uid === 0) return undefined;
    return { uid: caller.uid, gid: caller.gid, groups: caller.groups };
  }

  /**
   * Callers without groups (9P names only a uid): the server made the file
   * and gives it to the caller. Only a file the server owns, i.e. one it just
   * made: whatever a writer on SRC renamed into its place keeps its owner. In
   * a setgid directory the group stays the directory's, as the kernel gave it.
   */
  private async own(entry: Entry, dir: Inode, caller?: Caller): Promise<boolean> {
    if (!this.chownToCaller || !caller || caller.groups) return false; // with groups: made as the caller (creds())
    if (entry.attr.uid !== 0) return false;
    const dirMode = Number(sys.statx(this.inodes.fd(dir), '', sys.AT_EMPTY_PATH, sys.statxBuffer())[sys.Sx.mode]);
    await this.inodes.use(entry.inode, (fd) => sys.fchownat(fd, caller.uid, dirMode & S_ISGID ? -1 : caller.gid));
    return true;
  }

  async unlink(dir: Inode, name: string): Promise<void> {
    checkName(name);
    this.hidden(dir, name, true);
    await this.inodes.use(dir, (dfd) => sys.unlinkat(dfd, name, 0));
  }

  async rmdir(dir: Inode, name: string): Promise<void> {
    checkName(name);
    this.hidden(dir, name, true);
    await this.inodes.use(dir, (dfd) => sys.unlinkat(dfd, name, sys.AT_REMOVEDIR));
  }

  async rename(dir: Inode, name: string, newDir: Inode, newName: string, flags = 0): Promise<void> {
    checkName(name);
    checkName(newName);
    this.hidden(dir, name, true);
    this.hidden(newDir, newName, true);
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) throw new FsError('EINVAL', `rename flags 0x${flags.toString(16)} are not supported`);
    await this.inodes.use(dir, (dfd) => this.inodes.use(newDir, (ndfd) => sys.renameat2(dfd, name, ndfd, newName, flags)));
  }

  async link(node: Inode, newDir: Inode, newName: string): Promise<Entry> {
    checkName(newName);
    this.hidden(newDir, newName, true);
    await this.inodes.use(node, (fd) => this.inodes.use(newDir, (dfd) => sys.linkat(fd, dfd, newName)));
    return { inode: this.inodes.ref(node), attr: await this.getattr(node) };
  }

  /** A data descriptor for the pinned inode (never a FIFO or device: those the client's kernel opens). */
  async open(node: Inode, flags: number, creds?: sys.Creds): Promise<Handle> {
    if (node.type !== S_IFREG && node.type !== S_IFDIR) throw new FsError('EPERM', `inode ${node.id}: only regular files and directories are opened by the server`);
    const fd = await this.inodes.use(node, (pfd) => sys.reopen(pfd, flags & ~(C.O_CREAT | C.O_EXCL), creds)).catch((err: unknown) => {
      if (isCode(err, 'EMFILE', 'ENFILE')) this.inodes.outOfDescriptors(err);
      throw err;
    });
    this.files.add(fd);
    return fd;
  }

  /**
   * CREATE comes after the kernel found no such name, so the file is almost
   * always new: with O_EXCL the open can only make a regular file or fail (it
   * never opens a FIFO that would wait for a writer), so it runs on the JS
   * thread and saves the libuv pool round trip (test/bench/e2e/
   * fuse-metadata.bench.ts, create+stat+unlink). A name that appeared
   * meanwhile is looked up and opened as any other file.
   */
  async create(dir: Inode, name: string, flags: number, mode: number, caller?: Caller): Promise<{ fh: Handle; entry: Entry }> {
    checkName(name);
    this.hidden(dir, name, true);
    const creds = this.creds(caller);
    const fd = sys.createAt(this.inodes.fd(dir), name, (flags & ~C.O_CREAT & ~C.O_EXCL) | O_NOFOLLOW, mode, creds);
    if (fd < 0) {
      if (-fd === 24 || -fd === 23) this.inodes.outOfDescriptors(sys.errnoError(-fd, 'openat', name)); // EMFILE, ENFILE
      if (-fd !== 17 /* EEXIST */ || flags & C.O_EXCL) throw sys.errnoError(-fd, 'openat', name);
      // The kernel checked only that the caller may add a name here: the
      // file that took the name meanwhile is opened as the caller, so its
      // own permissions decide.
      const entry = await this.lookup(dir, name);
      try {
        return { fh: await this.open(entry.inode, flags, creds), entry };
      } catch (err) {
        this.forget(entry.inode);
        throw err;
      }
    }
    this.files.add(fd);
    try {
      // The inode of the very file just made, through its own descriptor.
      const pfd = sys.openPath(AT_FDCWD, `/proc/self/fd/${fd}`, 0);
      if (pfd < 0) throw sys.errnoError(-pfd, 'open', `/proc/self/fd/${fd}`);
      const entry = await this.adoptFd(pfd);
      try {
        if (await this.own(entry, dir, caller)) entry.attr = await this.getattr(entry.inode);
      } catch (err) {
        this.forget(entry.inode);
        throw err;
      }
      return { fh: fd, entry };
    } catch (err) {
      await this.release(fd);
      throw err;
    }
  }

  // Open files: lib/backend/open-files.ts.
  read(fh: Handle, length: number, position: bigint): Promise<Buffer> {
    return this.files.read(fh, length, position);
  }

  write(fh: Handle, data: Buffer, position: bigint): Promise<number> {
    return this.files.write(fh, data, position);
  }

  fsync(fh: Handle, datasync: boolean): Promise<void> {
    return this.files.fsync(fh, datasync);
  }

  fd(fh: Handle): number | undefined {
    return this.files.fd(fh);
  }

  release(fh: Handle): Promise<void> {
    return this.files.release(fh);
  }

  fallocate(fh: Handle, mode: number, offset: bigint, length: bigint): Promise<void> {
    return this.files.fallocate(fh, mode, offset, length);
  }

  lseek(fh: Handle, offset: bigint, whence: number): Promise<bigint> {
    return this.files.lseek(fh, offset, whence);
  }

  copyFileRange(fhIn: Handle, offIn: bigint, fhOut: Handle, offOut: bigint, length: number, flags = 0): Promise<number> {
    return this.files.copyFileRange(fhIn, offIn, fhOut, offOut, length, flags);
  }

  setlk(fh: Handle, owner: LockOwner, lock: ByteRange, cancelled?: Cancelled): Promise<void> {
    return this.files.setlk(fh, owner, lock, cancelled);
  }

  getlk(fh: Handle, owner: LockOwner, lock: ByteRange): Promise<ByteRange> {
    return this.files.getlk(fh, owner, lock);
  }

  flock(fh: Handle, owner: LockOwner, op: number, cancelled?: Cancelled): Promise<void> {
    return this.files.flock(fh, owner, op, cancelled);
  }

  unlockOwner(fh: Handle, owner: LockOwner): Promise<void> {
    return this.files.unlockOwner(fh, owner);
  }

  async readdir(dir: Inode): Promise<string[]> {
    return (await this.list(dir)).names;
  }

  async list(dir: Inode): Promise<DirListing> {
    if (dir.type !== S_IFDIR) throw new FsError('ENOTDIR', `inode ${dir.id} is not a directory`);
    // Past its first 64 KiB on libuv's pool (sys.listDir): a listing's cost
    // grows with the directory, and a user can make one of a million names.
    const e = await this.inodes.use(dir, (fd) => sys.listDir(fd));
    const trusted = direntInoIsIno(e.fsType);
    const n = e.names.length;
    const out: DirListing = { names: [], ids: new BigUint64Array(n), modes: new Uint32Array(n) };
    for (let i = 0; i < n; i++) {
      const name = e.names[i];
      if (this.isHidden(dir, name)) continue;
      const k = out.names.push(name) - 1;
      const type = e.types[i];
      if (!trusted || type === sys.DT_UNKNOWN || type === sys.DT_DIR) continue;
      const id = this.mapper.knownId(dir.dev, e.inos[i]);
      if (id === undefined) continue;
      out.ids[k] = id;
      out.modes[k] = type << 12;
    }
    return out;
  }

  async statAt(dir: Inode, name: string): Promise<Attr> {
    checkName(name);
    this.hidden(dir, name);
    return (await this.statAtFd(this.inodes.fd(dir), name)).attr;
  }

  /**
   * One statx per name on the JS thread into one buffer, the id from the
   * table's known prefixes, no promise or Attr per name (find over 20k
   * files: test/bench/e2e/fuse-metadata.bench.ts); a name on a device or
   * prefix not in the table yet goes the full way (which may add one).
   */
  async idsAt(dir: Inode, names: string[]): Promise<Array<{ ino: bigint; mode: number } | undefined>> {
    const dfd = this.inodes.fd(dir);
    const sx = sys.statxBuffer();
    const out: Array<{ ino: bigint; mode: number } | undefined> = [];
    for (const name of names) {
      // (A name with '/' is refused by the addon: tryStatx < 0.)
      if (this.isHidden(dir, name) || sys.tryStatx(dfd, name, 0, sx) < 0) {
        out.push(undefined);
        continue;
      }
      const mode = Number(sx[sys.Sx.mode]);
      const id = this.mapper.knownId(sx[sys.Sx.dev], sx[sys.Sx.ino]);
      out.push(id !== undefined ? { ino: id, mode } : await this.statAt(dir, name).then((a) => ({ ino: a.ino, mode: a.mode }), () => undefined));
    }
    return out;
  }

  async parentAttr(dir: Inode): Promise<Attr> {
    if (dir === this.root) return this.getattr(dir);
    // Only ids already known: the parent of a directory moved out of SRC must
    // not make the table grow a prefix for a foreign disk.
    const sx = sys.statx(this.inodes.fd(dir), '..', 0, sys.statxBuffer());
    const id = this.mapper.knownId(sx[0], sx[1]);
    return id === undefined ? this.getattr(dir) : attrFromStatx(sx, id);
  }

  async statfs(node: Inode): Promise<StatFs> {
    const s = await this.inodes.use(node, (fd) => statfs(`/proc/self/fd/${fd}`, { bigint: true }));
    // Node reports neither f_frsize nor f_namemax: every Linux fs we export uses bsize and 255.
    return { bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, namelen: 255n };
  }

  async access(node: Inode, mask: number): Promise<void> {
    await this.inodes.use(node, (fd) => access(`/proc/self/fd/${fd}`, mask));
  }

  mountOf(node: Inode): Promise<MountInfo | undefined> {
    return this.inodes.use(node, mountOfFd);
  }

  // Through /proc/self/fd/N: on a symlink's descriptor these act on the link
  // itself, never its target (the magic link is not followed further). One
  // syscall each (ls -l asks for two or more xattrs per file).
  async getxattr(node: Inode, name: string): Promise<Buffer> {
    if (this.mapper.isReservedXattr(name)) throw new FsError('ENODATA', `${name} is reserved`);
    return this.inodes.use(node, (fd) => sys.getxattr(fd, name));
  }

  async listxattr(node: Inode): Promise<string[]> {
    const names = await this.inodes.use(node, (fd) => sys.listxattr(fd));
    return names.filter((n) => !this.mapper.isReservedXattr(n));
  }

  async setxattr(node: Inode, name: string, value: Buffer, flags = 0): Promise<void> {
    if (this.mapper.isReservedXattr(name)) throw new FsError('EPERM', `${name} is reserved for stableid's id table`);
    await this.inodes.use(node, (fd) => sys.setxattr(fd, name, value, flags & (XATTR_CREATE | XATTR_REPLACE)));
  }

  async removexattr(node: Inode, name: string): Promise<void> {
    if (this.mapper.isReservedXattr(name)) throw new FsError('EPERM', `${name} is reserved for stableid's id table`);
    await this.inodes.use(node, (fd) => sys.removexattr(fd, name));
  }

}

/** The one name check: a single real component. */
export function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new FsError('EINVAL', `bad name ${JSON.stringify(name)}`);
  }
  if (Buffer.byteLength(name) > 255) throw new FsError('ENAMETOOLONG', `name of ${Buffer.byteLength(name)} bytes`);
}

function timespec(t: TimeSet | undefined): [bigint, number] {
  if (t === undefined) return [0n, sys.UTIME_OMIT];
  if (t === 'now') return [0n, sys.UTIME_NOW];
  const sec = t / NS;
  const nsec = t % NS;
  return nsec < 0n ? [sec - 1n, Number(nsec + NS)] : [sec, Number(nsec)]; // before 1970: floor, not truncate
}
