// Open files: the data descriptors the backend hands out as handles (a
// handle is its fd), the calls on them, and the locks taken through them
// (lib/backend/locks.ts). Every number from a client is range-checked here
// with the errno a filesystem gives, never a JavaScript exception.
import { close, fdatasync, fsync, ftruncate, read, write } from 'node:fs';
import { promisify } from 'node:util';
import { FsError } from '../errno.js';
import * as sys from '../sys/sys.js';
import type { ByteRange, Handle } from './backend.js';
import { type Cancelled, type LockOwner, LockTable } from './locks.js';

/** Node's fd calls take numbers, exact only up to 2^53. */
const MAX_OFFSET = BigInt(Number.MAX_SAFE_INTEGER);
/** off_t's largest value (MAX_LFS_FILESIZE). */
const MAX_POSITION = 2n ** 63n - 1n;

export class OpenFiles {
  readonly locks = new LockTable();
  private readonly open = new Set<Handle>();

  add(fd: number): Handle {
    this.open.add(fd);
    return fd;
  }

  /** The OS descriptor behind an open handle (the addon serves reads and writes on it). */
  fd(fh: Handle): number | undefined {
    return this.open.has(fh) ? fh : undefined;
  }

  async read(fh: Handle, length: number, position: bigint): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    // Node's read takes a bigint position (exact up to 2^63-1); its write does not.
    if (position < 0n || position > MAX_POSITION) throw new FsError('EINVAL', `offset ${position} is out of range`);
    const bytesRead = await readP(this.handle(fh), buf, length, position);
    return bytesRead === length ? buf : buf.subarray(0, bytesRead);
  }

  async write(fh: Handle, data: Buffer, position: bigint): Promise<number> {
    // As a filesystem answers a write past its largest file: EFBIG.
    if (position > MAX_OFFSET) throw new FsError('EFBIG', `offset ${position} is beyond what this server can write`);
    if (position < 0n) throw new FsError('EINVAL', `offset ${position} is out of range`);
    return writeP(this.handle(fh), data, Number(position));
  }

  async fsync(fh: Handle, datasync: boolean): Promise<void> {
    const fd = this.handle(fh);
    await (datasync ? fdatasyncP(fd) : fsyncP(fd));
  }

  /** size was checked by the caller (0 .. 2^53). */
  ftruncate(fh: Handle, size: bigint): Promise<void> {
    return ftruncateP(this.handle(fh), Number(size));
  }

  /** A descriptor opened only to truncate (setattr without a handle). */
  static async truncateAndClose(fd: number, size: bigint): Promise<void> {
    try {
      await ftruncateP(fd, Number(size));
    } finally {
      await closeP(fd);
    }
  }

  async release(fh: Handle): Promise<void> {
    const fd = this.handle(fh);
    this.open.delete(fh);
    await this.locks.released(fh);
    await closeP(fd);
  }

  async fallocate(fh: Handle, mode: number, offset: bigint, length: bigint): Promise<void> {
    await sys.fallocate(this.handle(fh), mode, offset, length);
  }

  lseek(fh: Handle, offset: bigint, whence: number): Promise<bigint> {
    return sys.lseek(this.handle(fh), offset, whence);
  }

  copyFileRange(fhIn: Handle, offIn: bigint, fhOut: Handle, offOut: bigint, length: number, flags = 0): Promise<number> {
    return sys.copyFileRange(this.handle(fhIn), offIn, this.handle(fhOut), offOut, length, flags);
  }

  setlk(fh: Handle, owner: LockOwner, lock: ByteRange, cancelled?: Cancelled): Promise<void> {
    return this.locks.setlk(this.handle(fh), owner, lock, cancelled);
  }

  getlk(fh: Handle, owner: LockOwner, lock: ByteRange): Promise<ByteRange> {
    return this.locks.getlk(this.handle(fh), owner, lock);
  }

  flock(fh: Handle, owner: LockOwner, op: number, cancelled?: Cancelled): Promise<void> {
    return this.locks.flock(this.handle(fh), owner, op, cancelled);
  }

  unlockOwner(fh: Handle, owner: LockOwner): Promise<void> {
    return this.locks.unlockOwner(this.handle(fh), owner);
  }

  private handle(fh: Handle): number {
    if (!this.open.has(fh)) throw new FsError('EBADF', `no open handle ${fh}`);
    return fh;
  }
}

// fd calls as promises (node:fs/promises has them only on FileHandles).
const closeP = promisify(close);
const fsyncP = promisify(fsync);
const fdatasyncP = promisify(fdatasync);
const ftruncateP = promisify(ftruncate);
const readP = (fd: number, buf: Buffer, len: number, pos: bigint): Promise<number> =>
  new Promise((resolve, reject) => read(fd, buf, 0, len, pos, (err, n) => (err ? reject(err) : resolve(n))));
const writeP = (fd: number, buf: Buffer, pos: number): Promise<number> =>
  new Promise((resolve, reject) => write(fd, buf, 0, buf.length, pos, (err, n) => (err ? reject(err) : resolve(n))));
