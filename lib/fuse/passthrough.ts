// Kernel passthrough (Linux 6.9+, FUSE 7.40): an open regular file answered
// with a backing id is read, written and mmapped by the kernel on the source
// file itself; none of its READ or WRITE requests reach the server.
//
// The kernel insists that every open of one of its inodes uses the same
// backing file while any passthrough open of it exists (otherwise the open
// fails with EIO), so a backing id belongs to a backend Inode (the file, not
// the node id, which can move to a new file) and is shared by all its
// handles; it is registered with the first handle's descriptor and closed
// with the last handle. A file the kernel refuses as a backing (a source on
// a stacked filesystem: ELOOP) or the addon keeps off it (append-only and
// immutable files, whose rules only SRC's own descriptor keeps) stays on the
// normal path for every open, so the rule holds there too.
import type { Inode } from '../backend/inodes.js';

interface Backing {
  id: number;
  refs: number;
  inode: Inode;
}

export interface PassthroughDeps {
  /** Registers a descriptor of the file with node id nodeId: the backing id, or a negative errno. */
  open(fd: number, nodeId: bigint): number;
  close(id: number, nodeId: bigint): number;
  /** The OS descriptor of a backend handle (only plain descriptors can back a file). */
  fdOf(fh: number): number | undefined;
  /** Whether the session negotiated passthrough (known once INIT is answered). */
  enabled(): boolean;
  warn(msg: string): void;
}

const ELOOP = 40;
const EPERM = 1;
/** The addon's answer for append-only and immutable files (kept on the normal path on purpose). */
const EOPNOTSUPP = 95;

export class Passthrough {
  private readonly byInode = new Map<Inode, Backing>();
  private readonly byHandle = new Map<number, Backing>();
  /** Files the kernel would not take as a backing: every open of them stays on the normal path. */
  private readonly refused = new WeakSet<Inode>();
  private warned = false;

  constructor(private readonly deps: PassthroughDeps) {}

  /** The backing id to answer this open with (0: the normal path). Every attach is matched by detach(fh). */
  attach(inode: Inode, fh: number): number {
    if (!this.deps.enabled() || this.refused.has(inode)) return 0;
    let b = this.byInode.get(inode);
    if (!b) {
      const fd = this.deps.fdOf(fh);
      if (fd === undefined) return 0;
      const id = this.deps.open(fd, inode.id);
      if (id <= 0) {
        this.refused.add(inode);
        if (!this.warned && id !== -ELOOP && id !== -EOPNOTSUPP) {
          this.warned = true;
          this.deps.warn(`kernel passthrough refused a backing file (errno ${-id}${-id === EPERM ? ': the server lacks CAP_SYS_ADMIN' : ''}): such files are served through the server`);
        }
        return 0;
      }
      b = { id, refs: 0, inode };
      this.byInode.set(inode, b);
    }
    b.refs++;
    this.byHandle.set(fh, b);
    return b.id;
  }

  /** The handle is released (or its open was never delivered). */
  detach(fh: number): void {
    const b = this.byHandle.get(fh);
    if (!b) return;
    this.byHandle.delete(fh);
    if (--b.refs > 0) return;
    this.byInode.delete(b.inode);
    this.deps.close(b.id, b.inode.id);
  }
}
