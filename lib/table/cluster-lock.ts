// The lock that serialises table writes between stableid processes on
// different mounts (or machines) of one cluster filesystem: an
// open-file-description lock (fcntl F_OFD_SETLK) on the file .stableid.lock
// in the export root. The cluster filesystem enforces it between mounts
// (measured on Gluster; CephFS, GPFS and NFS do the same for fcntl locks), and
// it is released when its holder dies or its mount goes away. A lock on the
// root directory itself would need no file, but Gluster does not enforce
// directory locks between mounts (measured: both mounts get it at once).
//
// The file holds nothing; only its lock matters. It is opened anew for every
// acquisition and checked to still be the file at that name once locked, so
// a lock file deleted and made again (by a client, or by hand) is never held
// by one process as the old file and by another as the new one for long:
// a process that holds it keeps its section short (read the table, write
// it, fsync), never waiting on anything else.
import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { debuglog } from 'node:util';

export const CLUSTER_LOCK_NAME = '.stableid.lock';

const dbg = debuglog('stableid:table');
const require = createRequire(import.meta.url);
let addon: { ofdSetlk(fd: number, exclusive: boolean): Promise<boolean> } | undefined;

function ofdSetlk(fd: number, exclusive: boolean): Promise<boolean> {
  addon ??= require('../../../build/Release/stableid_lock.node') as typeof addon;
  return addon!.ofdSetlk(fd, exclusive);
}

export class ClusterLockTimeoutError extends Error {
  readonly code = 'EAGAIN';
  readonly exitCode = 1;
  constructor(
    readonly file: string,
    waitedMs: number,
  ) {
    super(
      `${file}: another stableid on this cluster filesystem held the table lock for ${seconds(waitedMs)} s; ` +
        `a node that hangs while holding it blocks new id prefixes everywhere: find it (the lock is freed when its process or mount goes away)`,
    );
    this.name = 'ClusterLockTimeoutError';
  }
}

/** Whole seconds past ten, tenths below: a short timeout must not read as "0 s". */
function seconds(ms: number): string {
  return ms >= 10_000 ? String(Math.round(ms / 1000)) : (ms / 1000).toFixed(1);
}

export interface ClusterLockOptions {
  /** Give up after this long (default 60 s). */
  timeoutMs?: number;
}

export class ClusterLock {
  readonly file: string;
  private readonly timeoutMs: number;
  /** Sections of this process, one at a time: the OFD lock would let them overlap only through separate opens. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(root: string, o: ClusterLockOptions = {}) {
    this.file = join(root, CLUSTER_LOCK_NAME);
    this.timeoutMs = o.timeoutMs ?? 60_000;
  }

  /** Run `fn` while holding the lock; no other holder anywhere on the cluster runs at the same time. */
  hold<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => this.locked(fn));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    const started = Date.now();
    let delay = 2;
    for (;;) {
      // O_NOFOLLOW: a symlink planted at the name must not send the lock (or its creation) elsewhere;
      // O_NONBLOCK: nor may a FIFO there hang the open.
      const fh = await open(this.file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o600);
      try {
        const mine = await fh.stat({ bigint: true });
        if (!mine.isFile()) throw new Error(`${this.file} is not a regular file: remove it, stableid makes it again`);
        if (await ofdSetlk(fh.fd, true)) {
          const now = await lstat(this.file, { bigint: true }).catch(() => undefined);
          if (now && now.ino === mine.ino && now.dev === mine.dev) {
            dbg('cluster lock %s taken after %d ms', this.file, Date.now() - started);
            return await fn();
          }
          dbg('cluster lock %s was replaced while we locked it; again', this.file);
          continue; // closing the handle below drops the lock on the old file
        }
      } finally {
        await fh.close(); // closing the open file description releases its OFD lock
      }
      if (Date.now() - started > this.timeoutMs) throw new ClusterLockTimeoutError(this.file, Date.now() - started);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 100);
    }
  }
}
