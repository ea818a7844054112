// A connection's fids: the client's names for files it has walked to.
// 9P is path-free on the wire but our backend works on export-relative paths
// (Node has no openat/O_PATH), so every fid carries its path; a rename fixes
// the paths of every fid under the renamed name (as QEMU's v9fs_fix_fid_paths).
import type { Caller, DirEntry, Handle } from '../backend/backend.js';
import { FsError } from '../errno.js';
import type { Qid } from './types.js';

export type FidState =
  | { kind: 'walked' }
  | { kind: 'open'; fh: Handle; isDir: boolean; entries?: DirEntry[] }
  /** Txattrwalk: the value (or the NUL-separated name list) to be read. */
  | { kind: 'xattr-read'; value: Buffer }
  /** Txattrcreate: bytes collected by Twrite, set at Tclunk. */
  | { kind: 'xattr-write'; name: string; size: number; flags: number; value: Buffer; written: number };

export interface Fid {
  /** Export-relative path ('' is the root). */
  path: string;
  /** qid when the fid was made: its type tells dirs and symlinks apart without a syscall. */
  qid: Qid;
  /** Who attached (n_uname), for new files' ownership. */
  caller: Caller;
  state: FidState;
}

export class FidTable {
  private readonly fids = new Map<number, Fid>();

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

  /** Replace (walk with newfid == fid). */
  set(fid: number, f: Fid): void {
    this.fids.set(fid, f);
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

  /**
   * After `path` was unlinked, removed or renamed over: fids at or under it
   * name nothing. Their path becomes STALE, which the backend refuses, so a
   * later walk from them cannot follow whatever takes the name next (a
   * symlink out of the export, say). Open handles keep working, as in POSIX.
   */
  removed(path: string): void {
    if (path === '') return;
    for (const f of this.fids.values()) if (f.path === path || f.path.startsWith(`${path}/`)) f.path = STALE;
  }

  /** After rename(from, to): fids of whatever was at `to` go stale, and fids at or under `from` now live under `to`. */
  renamed(from: string, to: string): void {
    if (from === to) return;
    this.removed(to);
    for (const f of this.fids.values()) {
      if (f.path === from) f.path = to;
      else if (from === '' || f.path.startsWith(`${from}/`)) f.path = to + f.path.slice(from.length);
    }
  }
}

/** The path of a fid whose file was removed: the NUL makes the backend refuse every use (EINVAL). */
export const STALE = '\0removed';

export const parentOf = (path: string): string => path.slice(0, Math.max(0, path.lastIndexOf('/')));
export const baseOf = (path: string): string => path.slice(path.lastIndexOf('/') + 1);
export const joinPath = (dir: string, name: string): string => (dir === '' ? name : `${dir}/${name}`);
