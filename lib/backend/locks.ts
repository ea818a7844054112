// Advisory locks held on the source for every front-end: fcntl record locks
// and flock(2), both as the kernel keeps them on SRC, so a lock taken through
// the FUSE mount conflicts with one taken over 9P, with one taken through the
// mount by another process, and with one taken on SRC itself.
//
// Semantics:
// - One lock holder per (file, owner). The owner is the front-end's: FUSE's
//   lock owner is a process for POSIX record locks and an open file for flock
//   and OFD locks; 9P names a client process (client_id, proc_id) on one
//   connection. Each holder gets its own open file description of the file
//   and its locks are open-file-description locks (F_OFD_SETLK) and flock on
//   it. Never classic POSIX locks: those belong to the whole server process,
//   so two owners' locks would merge and any close() of any of the server's
//   fds of the file would drop them all.
// - A holder's file is opened as the handle it first locks through: read-
//   only for a read-only handle, so a read lock never opens SRC for writing
//   (which would break other openers' read leases, NFS delegations, and give
//   inotify watchers a close-after-write). An owner whose first lock came
//   through a read-only handle and who then write-locks through a writable
//   one gets a read-write file: its read locks (recorded while read-only) are
//   placed on the new file before the old one closes, so none lapses.
// - A holder's locks behave as one process's POSIX locks: ranges merge and
//   split, an owner never conflicts with itself, an unlock of a range it does
//   not hold is a no-op. unlockOwner() (FUSE FLUSH: every close(2) of the
//   file by that process) drops all its locks on the file, as close(2) does;
//   release() of a handle drops the holders that locked through it (flock
//   and OFD locks live as long as their open file).
// - Never waiting in a thread: every attempt is F_OFD_SETLK or LOCK_NB on
//   libuv's pool. A blocking request (F_SETLKW, flock without LOCK_NB) is
//   retried here, at once when a holder of this table unlocks the file and
//   otherwise on a backoff up to MAX_RETRY_MS (a lock released on SRC or by
//   another server is seen that late), until it is granted or its caller
//   gives up (`cancelled`: a FUSE interrupt, the session ending): EINTR.
//   No fairness among waiters and no deadlock detection (EDEADLK), as with
//   OFD locks themselves.
// - getlk reports the first lock in the way, or type F_UNLCK. Its pid is the
//   holder's for a classic POSIX lock on SRC, and 0 for OFD locks (ours
//   included), whose holder the kernel does not name.
// - Holders' descriptors are outside the inode descriptor budget: there is
//   one per owner and file that locked (or tried to) since its last close,
//   and it cannot be let go while it holds a lock.
import { close } from 'node:fs';
import { promisify } from 'node:util';
import { FsError, isCode } from '../errno.js';
import * as sys from '../sys/sys.js';

/** Who holds a lock; front-ends make owners that never collide (prefix them). */
export type LockOwner = string;

/** A byte range as fcntl(2) has it: type F_RDLCK, F_WRLCK or F_UNLCK; len 0: to the end of the file (and beyond). */
export interface ByteRange {
  type: number;
  start: bigint;
  len: bigint;
  pid: number;
}

/** Asked before every retry of a blocking lock: true gives up with EINTR. */
export type Cancelled = () => boolean;

interface Holder {
  file: string;
  owner: LockOwner;
  fd: Promise<number>;
  /** Handles it locked through: their release() drops it. */
  handles: Set<number>;
  /**
   * Every call on fd, in order, the close last: a call never reaches a
   * descriptor number that was closed (and maybe reused for another file).
   */
  chain: Promise<unknown>;
  /** Opened for writing: any lock type can be placed. */
  writable: boolean;
  /** While read-only: the byte spans it read-locks, to carry over to a read-write file. */
  readSpans: Span[];
  /** Holds a flock (which cannot be carried over to another file without a gap). */
  flocked: boolean;
}

/** [start, end) of bytes; END: to the end of the file and beyond. */
type Span = [bigint, bigint];
const END = 1n << 63n;

const FIRST_RETRY_MS = 2;
const MAX_RETRY_MS = 100;
const MAX_OFFSET = (1n << 63n) - 1n;
const O_RDONLY = 0;
const O_RDWR = 2;
const O_ACCMODE = 3;
const closeP = promisify(close);

export class LockTable {
  /** file key -> owner -> holder */
  private readonly files = new Map<string, Map<LockOwner, Holder>>();
  private readonly byHandle = new Map<number, Set<Holder>>();
  /** Waiters of a file, woken when one of our holders unlocks it. */
  private readonly waiters = new Map<string, Set<() => void>>();

  /** A key naming the file an open descriptor is on (dev:ino). */
  private fileOf(fd: number): string {
    const sx = sys.statx(fd, '', sys.AT_EMPTY_PATH, sys.statxBuffer());
    return `${sx[sys.Sx.dev]}:${sx[sys.Sx.ino]}`;
  }

  async setlk(fd: number, owner: LockOwner, lock: ByteRange, cancelled?: Cancelled): Promise<void> {
    checkRange(lock);
    const file = this.fileOf(fd);
    if (lock.type === sys.F_UNLCK) {
      const h = this.files.get(file)?.get(owner);
      if (!h) return;
      this.through(h, fd);
      await this.on(h, async (hfd) => {
        await sys.ofdSetlk(hfd, sys.F_UNLCK, lock.start, lock.len);
        h.readSpans = subtract(h.readSpans, span(lock));
      });
      this.wake(file);
      return;
    }
    await this.retry(file, cancelled, () => {
      const h = this.holder(file, owner, fd);
      return this.on(h, async (hfd) => {
        if (lock.type === sys.F_WRLCK && !h.writable) hfd = await this.upgrade(h, fd, hfd);
        await sys.ofdSetlk(hfd, lock.type, lock.start, lock.len);
        if (!h.writable) h.readSpans = [...subtract(h.readSpans, span(lock)), span(lock)];
      });
    });
  }

  async getlk(fd: number, owner: LockOwner, lock: ByteRange): Promise<ByteRange> {
    checkRange(lock);
    if (lock.type === sys.F_UNLCK) throw new FsError('EINVAL', 'getlk of F_UNLCK');
    // The owner's own descriptor, so its own locks are not in its way; one
    // with no locks yet asks through the handle, which holds none.
    const h = this.files.get(this.fileOf(fd))?.get(owner);
    const ask = (q: number) => sys.ofdGetlk(q, lock.type, lock.start, lock.len);
    const [type, start, len, pid] = await (h ? this.on(h, ask) : ask(fd));
    return type === sys.F_UNLCK ? { ...lock, type } : { type, start, len, pid: pid > 0 ? pid : 0 };
  }

  /** flock(2): op LOCK_SH, LOCK_EX or LOCK_UN (LOCK_NB is implied: pass `cancelled` to wait). */
  async flock(fd: number, owner: LockOwner, op: number, cancelled?: Cancelled): Promise<void> {
    const file = this.fileOf(fd);
    const what = op & (sys.LOCK_SH | sys.LOCK_EX | sys.LOCK_UN);
    if (what === sys.LOCK_UN) {
      const h = this.files.get(file)?.get(owner);
      if (!h) return;
      await this.on(h, async (hfd) => {
        await sys.flock(hfd, sys.LOCK_UN);
        h.flocked = false;
      });
      this.wake(file);
      return;
    }
    if (what !== sys.LOCK_SH && what !== sys.LOCK_EX) throw new FsError('EINVAL', `flock op ${op}`);
    await this.retry(file, cancelled, () => {
      const h = this.holder(file, owner, fd);
      return this.on(h, async (hfd) => {
        await sys.flock(hfd, what);
        h.flocked = true;
      });
    });
  }

  /** Every lock `owner` holds on fd's file goes (close(2) by a process drops its record locks). */
  async unlockOwner(fd: number, owner: LockOwner): Promise<void> {
    if (this.files.size === 0) return; // every close comes here: no syscall while nobody holds locks
    const h = this.files.get(this.fileOf(fd))?.get(owner);
    if (h) await this.drop(h);
  }

  /** A handle is closed: holders that locked through it go (never throws). */
  async released(fd: number): Promise<void> {
    const hs = this.byHandle.get(fd);
    if (!hs) return;
    this.byHandle.delete(fd);
    await Promise.all([...hs].map((h) => this.drop(h)));
  }

  /** Every holder goes (the backend is closing). */
  async closeAll(): Promise<void> {
    const all = [...this.files.values()].flatMap((m) => [...m.values()]);
    await Promise.all(all.map((h) => this.drop(h)));
  }

  /** How many holders (owners with a descriptor of their own) there are now: for tests and status. */
  get holders(): number {
    let n = 0;
    for (const m of this.files.values()) n += m.size;
    return n;
  }

  private holder(file: string, owner: LockOwner, fd: number): Holder {
    let owners = this.files.get(file);
    if (!owners) this.files.set(file, (owners = new Map()));
    let h = owners.get(owner);
    if (!h) {
      // As the handle was opened: the client's kernel checked its own
      // descriptor's mode for the lock type (see upgrade() for the rest).
      const mode = sys.fdFlags(fd) & O_ACCMODE;
      const writable = mode !== O_RDONLY;
      const opened = sys.reopen(fd, writable ? O_RDWR : O_RDONLY).catch((err: unknown) => {
        if (writable && isCode(err, 'EACCES', 'EPERM')) return sys.reopen(fd, mode);
        throw err;
      });
      h = { file, owner, fd: opened, handles: new Set(), chain: opened, writable, readSpans: [], flocked: false };
      owners.set(owner, h);
      // A failed open leaves no holder behind.
      const made = h;
      opened.catch(() => this.forgetHolder(made));
    }
    this.through(h, fd);
    return h;
  }

  /**
   * A read-only holder is to take a write lock (through a writable handle):
   * a read-write file of its own, holding the same read locks first (they
   * cannot conflict with anyone: nobody else write-locks where it reads),
   * then the read-only one goes. Runs in the holder's chain.
   */
  private async upgrade(h: Holder, handle: number, old: number): Promise<number> {
    if ((sys.fdFlags(handle) & O_ACCMODE) === O_RDONLY) throw new FsError('EBADF', 'a write lock through a read-only handle');
    if (h.flocked) throw new FsError('ENOLCK', 'a write lock by an owner holding a flock through a read-only handle');
    const fd = await sys.reopen(handle, O_RDWR);
    try {
      for (const [a, b] of h.readSpans) await sys.ofdSetlk(fd, sys.F_RDLCK, a, b === END ? 0n : b - a);
    } catch (err) {
      await closeP(fd).catch(() => undefined);
      throw err;
    }
    h.fd = Promise.resolve(fd);
    h.writable = true;
    h.readSpans = [];
    await closeP(old).catch(() => undefined);
    return fd;
  }

  /** fn on the holder's descriptor, after every call queued on it before. */
  private on<T>(h: Holder, fn: (fd: number) => Promise<T>): Promise<T> {
    const p = h.chain.then(() => h.fd).then(fn);
    h.chain = p.catch(() => undefined);
    return p;
  }

  private through(h: Holder, fd: number): void {
    if (h.handles.has(fd)) return;
    h.handles.add(fd);
    let hs = this.byHandle.get(fd);
    if (!hs) this.byHandle.set(fd, (hs = new Set()));
    hs.add(h);
  }

  private forgetHolder(h: Holder): boolean {
    const owners = this.files.get(h.file);
    if (owners?.get(h.owner) !== h) return false;
    owners.delete(h.owner);
    if (owners.size === 0) this.files.delete(h.file);
    for (const fd of h.handles) {
      const hs = this.byHandle.get(fd);
      hs?.delete(h);
      if (hs?.size === 0) this.byHandle.delete(fd);
    }
    return true;
  }

  /** Closing the holder's descriptor drops its record locks and its flock at once. */
  private async drop(h: Holder): Promise<void> {
    // Out of the table at once (a new call makes a new holder), closed after its queued calls.
    if (!this.forgetHolder(h)) return;
    await this.on(h, (fd) => closeP(fd)).catch(() => undefined); // never opened: nothing is held
    this.wake(h.file);
  }

  private wake(file: string): void {
    const ws = this.waiters.get(file);
    if (!ws) return;
    this.waiters.delete(file);
    for (const w of ws) w();
  }

  /** attempt() until it succeeds; a conflict is EAGAIN at once without `cancelled`, else a wait and a retry. */
  private async retry(file: string, cancelled: Cancelled | undefined, attempt: () => Promise<void>): Promise<void> {
    for (let delay = FIRST_RETRY_MS; ; delay = Math.min(delay * 2, MAX_RETRY_MS)) {
      try {
        return await attempt();
      } catch (err) {
        // Linux says EAGAIN for a conflict (fcntl's EACCES is other systems'; EWOULDBLOCK is EAGAIN).
        if (!isCode(err, 'EAGAIN', 'EWOULDBLOCK') || !cancelled) throw err;
      }
      await this.waitFor(file, delay);
      if (cancelled()) throw new FsError('EINTR', 'lock wait given up');
    }
  }

  private waitFor(file: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let ws = this.waiters.get(file);
      if (!ws) this.waiters.set(file, (ws = new Set()));
      const done = (): void => {
        clearTimeout(timer);
        ws!.delete(done);
        if (ws!.size === 0 && this.waiters.get(file) === ws) this.waiters.delete(file);
        resolve();
      };
      const timer = setTimeout(done, ms);
      ws.add(done);
    });
  }
}

function checkRange(lock: ByteRange): void {
  if (lock.type !== sys.F_RDLCK && lock.type !== sys.F_WRLCK && lock.type !== sys.F_UNLCK) throw new FsError('EINVAL', `lock type ${lock.type}`);
  if (lock.start < 0n || lock.len < 0n || lock.start > MAX_OFFSET || (lock.len > 0n && lock.start + lock.len - 1n > MAX_OFFSET)) {
    throw new FsError('EINVAL', `lock range ${lock.start}+${lock.len} is out of range`);
  }
}

function span(lock: ByteRange): Span {
  return [lock.start, lock.len === 0n ? END : lock.start + lock.len];
}

/** spans without the bytes of cut. */
function subtract(spans: Span[], [s, e]: Span): Span[] {
  const out: Span[] = [];
  for (const [a, b] of spans) {
    if (b <= s || a >= e) {
      out.push([a, b]);
      continue;
    }
    if (a < s) out.push([a, s]);
    if (b > e) out.push([e, b]);
  }
  return out;
}
