// A connection's fids: the client's names for files it has walked to. A fid
// holds one backend reference on its Inode, which pins the file itself, so a
// rename or removal by anyone (this connection, another, the FUSE mount, a
// writer on SRC) never makes a fid name a different file.
import { randomUUID } from 'node:crypto';
import type { Caller, Handle, Inode } from '../backend/backend.js';
import { FsError } from '../errno.js';
import type { Qid } from './types.js';

export type FidState =
  | { kind: 'walked' }
  | { kind: 'open'; fh: Handle; isDir: boolean; names?: string[] }
  /** Txattrwalk: the value (or the NUL-separated name list) to be read. */
  | { kind: 'xattr-read'; value: Buffer }
  /** Txattrcreate: bytes collected by Twrite, set at Tclunk. */
  | { kind: 'xattr-write'; name: string; size: number; flags: number; value: Buffer; written: number };

/** Where a fid was walked to: Tremove and Trename need its name, and check that it still names the fid's file. */
export interface Place {
  dir: Inode;
  name: string;
}

export interface Fid {
  inode: Inode;
  /** qid when the fid was made: its type tells dirs and symlinks apart without a syscall. */
  qid: Qid;
  /** Who attached (n_uname), for new files' ownership. */
  caller: Caller;
  state: FidState;
  /** The directory (one more reference) and name the fid was last reached by, if by a name. */
  place?: Place;
}

export class FidTable {
  private readonly fids = new Map<number, Fid>();
  /** Names this connection in lock owners: two connections' locks never merge, whatever client_id they send. */
  readonly lockScope = randomUUID();

  get(fid: number): Fid {
    const f = this.fids.get(fid);
    if (!f) throw new FsError('EBADF', `fid ${fid} is not in use`);
    return f;
  }

  has(fid: number): boolean {
    return this.fids.has(fid);
  }

  /** A new fid; 9P forbids reusing one that is in use. */
  add(fid: number, f: Fid): void {
    if (this.fids.has(fid)) throw new FsError('EBADF', `fid ${fid} is already in use`);
    this.fids.set(fid, f);
  }

  /** Replace (walk with newfid == fid); returns the fid it replaced, for the caller to release. */
  set(fid: number, f: Fid): Fid | undefined {
    const old = this.fids.get(fid);
    this.fids.set(fid, f);
    return old;
  }

  delete(fid: number): Fid | undefined {
    const f = this.fids.get(fid);
    this.fids.delete(fid);
    return f;
  }

  /** Every fid, removed: for Tversion (a new session) and disconnect. */
  drain(): Fid[] {
    const all = [...this.fids.values()];
    this.fids.clear();
    return all;
  }

  get size(): number {
    return this.fids.size;
  }
}
