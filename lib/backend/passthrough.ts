// Backend over node:fs/promises plus the id mapper: each op translates to one
// or two syscalls on SRC and reports the stable id.
import { close, constants as C, type BigIntStats, fdatasync, fstatSync, fsync, ftruncate, lstatSync, open, openSync, read, write } from 'node:fs';
import { access, chmod, link, lchown, lstat, mkdir, readdir, readlink, rename, rmdir, statfs, symlink, truncate, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { FsError, isCode } from '../errno.js';
import type { IdMapper } from '../mapper/mapper.js';
import * as sys from '../sys/sys.js';
import { type Attr, attrFromStats } from './attr.js';
import { type Backend, type Caller, type DirEntry, type Handle, RENAME_NOREPLACE, type SetAttr, type StatFs, type TimeSet, XATTR_CREATE, XATTR_REPLACE } from './backend.js';

export interface PassthroughOptions {
  /** Absolute path of the export root (SRC). */
  root: string;
  mapper: IdMapper;
  /** Give new files the caller's uid/gid (mount option allow_other, running as root). */
  chownToCaller?: boolean;
}

const NS = 1_000_000_000n;

export class PassthroughBackend implements Backend {
  readonly root: string;
  private readonly mapper: IdMapper;
  private readonly chownToCaller: boolean;
  /** Open source fds (a handle is its fd): plain fds, so that create() can open synchronously. */
  private readonly handles = new Set<Handle>();

  constructor(opts: PassthroughOptions) {
    this.root = opts.root.replace(/\/+$/, '') || '/';
    this.mapper = opts.mapper;
    this.chownToCaller = opts.chownToCaller ?? false;
  }

  /** The one place a relative path becomes an absolute one; refuses anything that could leave the export. */
  abs(rel: string): string {
    if (rel === '') return this.root;
    if (rel.startsWith('/') || rel.includes('\0')) throw new FsError('EINVAL', `bad path ${JSON.stringify(rel)}`);
    for (const part of rel.split('/')) {
      if (part === '' || part === '.' || part === '..') throw new FsError('EINVAL', `bad path ${JSON.stringify(rel)}`);
    }
    return this.root === '/' ? `/${rel}` : `${this.root}/${rel}`;
  }

  private child(dir: string, name: string): string {
    if (name === '' || name === '.' || name === '..' || name.includes('/')) throw new FsError('EINVAL', `bad name ${JSON.stringify(name)}`);
    return dir === '' ? name : `${dir}/${name}`;
  }

  private async attrOf(st: BigIntStats): Promise<Attr> {
    return attrFromStats(st, this.mapper.knownId(st.dev, st.ino) ?? (await this.mapper.idFor(st.dev, st.ino)));
  }

  /**
   * lstat on the JS thread (synchronous): one cached-metadata syscall costs
   * less than the two thread wake-ups of libuv's pool, and lookup/getattr are
   * most of the requests (test/bench/e2e/fuse-metadata.bench.ts).
   */
  private async stat(rel: string): Promise<Attr> {
    return this.attrOf(lstatSync(this.abs(rel), { bigint: true }));
  }

  /**
   * chmod(2) and truncate(2) follow a final symlink, which could point out
   * of the export: refuse them on symlinks (a check, then the call: only a
   * writer on the source itself could swap the file in between). The xattr
   * calls need no check: they use the l* syscalls.
   */
  private async notSymlink(abs: string): Promise<void> {
    if ((await lstat(abs)).isSymbolicLink()) throw new FsError('EOPNOTSUPP', `${abs} is a symlink: not followed`);
  }

  private async own(abs: string, caller?: Caller): Promise<void> {
    if (this.chownToCaller && caller) await lchown(abs, caller.uid, caller.gid);
  }

  private handle(fh: Handle): number {
    if (!this.handles.has(fh)) throw new FsError('EBADF', `no open handle ${fh}`);
    return fh;
  }

  lookup(dir: string, name: string): Promise<Attr> {
    return this.stat(this.child(dir, name));
  }

  getattr(path: string): Promise<Attr> {
    return this.stat(path);
  }

  async setattr(path: string, set: SetAttr, fh?: Handle): Promise<Attr> {
    const abs = this.abs(path);
    if (set.mode !== undefined || (set.size !== undefined && fh === undefined)) await this.notSymlink(abs);
    if (set.mode !== undefined) await chmod(abs, set.mode & 0o7777);
    if (set.uid !== undefined || set.gid !== undefined) await lchown(abs, set.uid ?? -1, set.gid ?? -1);
    if (set.size !== undefined) {
      if (fh !== undefined) await ftruncateP(this.handle(fh), Number(set.size));
      else await truncate(abs, Number(set.size));
    }
    if (set.atime !== undefined || set.mtime !== undefined) {
      const [as, an] = timespec(set.atime);
      const [ms, mn] = timespec(set.mtime);
      await sys.utimensat(abs, as, an, ms, mn);
    }
    return this.stat(path);
  }

  readlink(path: string): Promise<string> {
    return readlink(this.abs(path));
  }

  async mknod(dir: string, name: string, mode: number, rdev: bigint, caller?: Caller): Promise<Attr> {
    const rel = this.child(dir, name);
    const abs = this.abs(rel);
    await sys.mknod(abs, mode, rdev);
    await this.own(abs, caller);
    return this.stat(rel);
  }

  async mkdir(dir: string, name: string, mode: number, caller?: Caller): Promise<Attr> {
    const rel = this.child(dir, name);
    const abs = this.abs(rel);
    await mkdir(abs, { mode });
    await this.own(abs, caller);
    return this.stat(rel);
  }

  async unlink(dir: string, name: string): Promise<void> {
    await unlink(this.abs(this.child(dir, name)));
  }

  async rmdir(dir: string, name: string): Promise<void> {
    await rmdir(this.abs(this.child(dir, name)));
  }

  async symlink(target: string, dir: string, name: string, caller?: Caller): Promise<Attr> {
    const rel = this.child(dir, name);
    const abs = this.abs(rel);
    await symlink(target, abs);
    await this.own(abs, caller);
    return this.stat(rel);
  }

  async rename(dir: string, name: string, newDir: string, newName: string, flags = 0): Promise<void> {
    const from = this.abs(this.child(dir, name));
    const to = this.abs(this.child(newDir, newName));
    if (flags & ~RENAME_NOREPLACE) throw new FsError('EINVAL', `rename flags 0x${flags.toString(16)} are not supported (only RENAME_NOREPLACE)`);
    if (flags & RENAME_NOREPLACE) {
      // Node has no renameat2: link() fails with EEXIST atomically when the
      // target exists, then the old name goes. Directories cannot be
      // hard-linked, so for them we check first (a small race, documented).
      const st = await lstat(from);
      if (!st.isDirectory()) {
        await link(from, to);
        await unlink(from);
        return;
      }
      try {
        await lstat(to);
        throw new FsError('EEXIST', `rename target exists`);
      } catch (err) {
        if (!isCode(err, 'ENOENT')) throw err;
      }
    }
    await rename(from, to);
  }

  async link(path: string, newDir: string, newName: string): Promise<Attr> {
    const rel = this.child(newDir, newName);
    await link(this.abs(path), this.abs(rel));
    return this.stat(rel);
  }

  // Not openSync: opening a FIFO (or a device) may wait for its peer, which
  // must not stop the whole server.
  async open(path: string, flags: number): Promise<Handle> {
    const fd = await openP(this.abs(path), (flags & ~(C.O_CREAT | C.O_EXCL)) | C.O_NOFOLLOW);
    this.handles.add(fd);
    return fd;
  }

  async create(dir: string, name: string, flags: number, mode: number, caller?: Caller): Promise<{ fh: Handle; attr: Attr }> {
    const rel = this.child(dir, name);
    const abs = this.abs(rel);
    const fd = await createFd(abs, flags, mode);
    this.handles.add(fd);
    try {
      await this.own(abs, caller);
      return { fh: fd, attr: await this.attrOf(fstatSync(fd, { bigint: true })) }; // sync: see stat()
    } catch (err) {
      await this.release(fd);
      throw err;
    }
  }

  async read(fh: Handle, length: number, position: bigint): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    const bytesRead = await readP(this.handle(fh), buf, length, Number(position));
    return bytesRead === length ? buf : buf.subarray(0, bytesRead);
  }

  async write(fh: Handle, data: Buffer, position: bigint): Promise<number> {
    return writeP(this.handle(fh), data, Number(position));
  }

  async fsync(fh: Handle, datasync: boolean): Promise<void> {
    const fd = this.handle(fh);
    await (datasync ? fdatasyncP(fd) : fsyncP(fd));
  }

  async fgetattr(fh: Handle): Promise<Attr> {
    return this.attrOf(fstatSync(this.handle(fh), { bigint: true })); // sync: see stat()
  }

  fd(fh: Handle): number | undefined {
    return this.handles.has(fh) ? fh : undefined;
  }

  async release(fh: Handle): Promise<void> {
    const fd = this.handle(fh);
    this.handles.delete(fh);
    await closeP(fd);
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const dir = this.abs(path);
    const names = await readdir(dir);
    const prefix = dir === '/' ? '/' : `${dir}/`;
    const out = await Promise.all(
      names.map(async (name): Promise<DirEntry | undefined> => {
        try {
          return { name, attr: await this.attrOf(lstatSync(prefix + name, { bigint: true })) }; // sync: see stat()
        } catch (err) {
          if (isCode(err, 'ENOENT')) return undefined; // removed since readdir: skip, as the kernel would
          throw err;
        }
      }),
    );
    return out.filter((e): e is DirEntry => e !== undefined);
  }

  async statfs(path: string): Promise<StatFs> {
    const s = await statfs(this.abs(path), { bigint: true });
    // Node reports neither f_frsize nor f_namemax: every Linux fs we export uses bsize and 255.
    return { bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, namelen: 255n };
  }

  async access(path: string, mask: number): Promise<void> {
    await access(this.abs(path), mask);
  }

  // The l*xattr calls (lib/sys) never follow symlinks, so a symlink in the
  // export cannot expose or change its target's attributes; one syscall each,
  // with no lstat first (ls -l asks for two or more xattrs per file).
  async getxattr(path: string, name: string): Promise<Buffer> {
    if (this.mapper.isReservedXattr(name)) throw new FsError('ENODATA', `${name} is reserved`);
    return sys.lgetxattr(this.abs(path), name);
  }

  async listxattr(path: string): Promise<string[]> {
    const names = await sys.llistxattr(this.abs(path));
    return names.filter((n) => !this.mapper.isReservedXattr(n));
  }

  async setxattr(path: string, name: string, value: Buffer, flags = 0): Promise<void> {
    if (this.mapper.isReservedXattr(name)) throw new FsError('EPERM', `${name} is reserved for stableid's id table`);
    await sys.lsetxattr(this.abs(path), name, value, flags & (XATTR_CREATE | XATTR_REPLACE));
  }

  async removexattr(path: string, name: string): Promise<void> {
    if (this.mapper.isReservedXattr(name)) throw new FsError('EPERM', `${name} is reserved for stableid's id table`);
    await sys.lremovexattr(this.abs(path), name);
  }
}

/**
 * CREATE comes after the kernel found no such name, so the file is almost
 * always new: with O_EXCL the open can only make a regular file or fail (it
 * never opens a FIFO that would wait for a writer), so it runs on the JS
 * thread and saves the libuv pool round trip (test/bench/e2e/
 * fuse-metadata.bench.ts, create+stat+unlink). A name that appeared
 * meanwhile is opened as asked, off the JS thread.
 */
async function createFd(abs: string, flags: number, mode: number): Promise<number> {
  try {
    return openSync(abs, flags | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, mode);
  } catch (err) {
    if (flags & C.O_EXCL || !isCode(err, 'EEXIST')) throw err;
  }
  return openP(abs, flags | C.O_CREAT | C.O_NOFOLLOW, mode);
}

// fd calls as promises (node:fs/promises has them only on FileHandles).
const openP = promisify(open) as (path: string, flags: number, mode?: number) => Promise<number>;
const closeP = promisify(close);
const fsyncP = promisify(fsync);
const fdatasyncP = promisify(fdatasync);
const ftruncateP = promisify(ftruncate);
const readP = (fd: number, buf: Buffer, len: number, pos: number): Promise<number> =>
  new Promise((resolve, reject) => read(fd, buf, 0, len, pos, (err, n) => (err ? reject(err) : resolve(n))));
const writeP = (fd: number, buf: Buffer, pos: number): Promise<number> =>
  new Promise((resolve, reject) => write(fd, buf, 0, buf.length, pos, (err, n) => (err ? reject(err) : resolve(n))));

function timespec(t: TimeSet | undefined): [bigint, number] {
  if (t === undefined) return [0n, sys.UTIME_OMIT];
  if (t === 'now') return [0n, sys.UTIME_NOW];
  const sec = t / NS;
  const nsec = t % NS;
  return nsec < 0n ? [sec - 1n, Number(nsec + NS)] : [sec, Number(nsec)]; // before 1970: floor, not truncate
}
