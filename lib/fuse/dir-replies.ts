// READDIR and READDIRPLUS answers: slices of a listing read at offset 0,
// each exactly what fits the kernel's buffer, with plain entries (id and
// type from the listing) or full ones (a node the kernel keeps, looked up
// now).
import { S_IFDIR, S_IFMT } from '../backend/attr.js';
import type { Backend, Entry } from '../backend/backend.js';
import type { Inode } from '../backend/inodes.js';
import { FsError, isCode } from '../errno.js';
import { ATTR_SIZE, writeAttr, writeIdType } from './attr-buffer.js';
import type { DirHandles, Listing } from './dir-handles.js';
import type { Replies, Req } from './native.js';
import { type Node, type Nodes, ROOT_NODE_ID } from './nodes.js';

export class DirReplies {
  constructor(
    private readonly backend: Backend,
    private readonly native: Replies,
    private readonly nodes: Nodes,
    private readonly dirs: DirHandles,
  ) {}

  /**
   * A slice of the names read at offset 0. A full entry (a node the kernel
   * keeps) is looked up now, so what the kernel learns is what the name is
   * now; a plain one shows the id and type the listing gave (or a stat now).
   * A name gone since is left out (the next offsets stay valid).
   */
  async readdir(req: Req, fh: number, size: number, off: bigint, plus: boolean): Promise<void> {
    const handle = this.dirs.get(fh);
    if (!handle) throw new FsError('EBADF', `no open directory ${fh}`);
    const dir = handle.node.inode;
    // Offset 0 is opendir or rewinddir: read the directory afresh.
    if (off === 0n || !handle.listing) handle.listing = await this.list(handle.node);
    const { names, dots } = handle.listing;
    for (let start = Number(off); start < names.length; ) {
      // Exactly what fits in `size` (struct fuse_dirent[plus] + name, 8-byte aligned).
      const fixed = plus ? 152 : 24;
      let end = start;
      for (let used = 0; end < names.length; end++) {
        const len = (fixed + Buffer.byteLength(names[end]) + 7) & ~7;
        if (used + len > size) break;
        used += len;
      }
      if (end === start) throw new FsError('EINVAL', `readdir buffer of ${size} bytes is too small`);
      // Ids and types of the whole slice at once (plain entries need no more):
      // from the listing where it showed them, the rest in one idsAt call.
      const first = Math.max(start, 2);
      const kinds = first < end ? await this.kindsOf(dir, handle.listing, first, end) : undefined;
      // A full entry costs a pinned descriptor and a file handle: given for
      // directories (every walk needs them) and once the caller showed it
      // stats what it lists (ls -l, Samba: lookups of this directory's names
      // after a listing); find, which only walks, gets plain entries.
      const full = (mode: number): boolean => plus && ((mode & S_IFMT) === S_IFDIR || handle.node.statsChildren);
      // Plain entries are built here; only full ones wait for a lookup.
      const page: Array<DirItem | undefined | Promise<DirItem | undefined>> = [];
      for (let i = start; i < end; i++) {
        if (i < 2) {
          page.push({ name: names[i], off: i + 1, ino: dots[i].ino, mode: dots[i].mode });
          continue;
        }
        const kind = kinds?.[i - first];
        if (kinds && !kind) continue; // gone since the listing
        if (kind && !full(kind.mode)) page.push({ name: names[i], off: i + 1, ino: kind.ino, mode: kind.mode });
        else page.push(this.dirItem(dir, names[i], i + 1, kind, full));
      }
      const sent = (page.some((e) => e instanceof Promise) ? await Promise.all(page) : (page as Array<DirItem | undefined>)).filter((e) => e !== undefined);
      if (sent.length === 0) {
        start = end; // every name of this slice is gone: try the next
        continue;
      }
      const attrs = Buffer.alloc(sent.length * ATTR_SIZE);
      sent.forEach((e, k) => (e.entry ? writeAttr(attrs, k * ATTR_SIZE, e.entry.attr) : writeIdType(attrs, k * ATTR_SIZE, e.ino, e.mode)));
      const count = this.native.replyDir(req, size, sent.map((e) => e.name), attrs, Float64Array.from(sent, (e) => e.off), plus, Uint8Array.from(sent, (e) => (e.entry ? 1 : 0)));
      if (plus && sent.some((e) => !e.entry)) handle.node.listedPlain = true;
      sent.forEach((e, k) => {
        if (!e.entry) return;
        if (k < count) this.nodes.lookedUp(e.entry);
        else this.backend.forget(e.entry.inode);
      });
      return;
    }
    this.native.replyBuf(req, Buffer.alloc(0));
  }

  /** A name that needs a stat (its type unknown) or a lookup (a full entry); undefined when gone since the listing. */
  private async dirItem(dir: Inode, name: string, off: number, kind: { ino: bigint; mode: number } | undefined, full: (mode: number) => boolean): Promise<DirItem | undefined> {
    try {
      const { ino, mode } = kind ?? (await this.backend.statAt(dir, name));
      if (!full(mode)) return { name, off, ino, mode };
      const entry = await this.backend.lookup(dir, name);
      if (entry.attr.ino === ROOT_NODE_ID || entry.attr.ino === 0n) {
        this.backend.forget(entry.inode);
        return undefined;
      }
      return { name, off, ino: entry.attr.ino, mode: entry.attr.mode, entry };
    } catch (err) {
      if (isCode(err, 'ENOENT') || isCode(err, 'EIO')) return undefined; // gone since the listing
      throw err;
    }
  }

  private async list(node: Node): Promise<Listing> {
    const listed = this.backend.list ? this.backend.list(node.inode) : this.backend.readdir(node.inode).then((names) => ({ names, ids: undefined, modes: undefined }));
    const [self, up, { names, ids, modes }] = await Promise.all([this.backend.getattr(node.inode), this.backend.parentAttr(node.inode), listed]);
    return { names: ['.', '..', ...names], dots: [self, up], ids, modes };
  }

  /** Id and mode of names[first..end) (>= 2), undefined for a name gone; undefined for all when the backend cannot tell them without a stat each. */
  private async kindsOf(dir: Inode, listing: Listing, first: number, end: number): Promise<Array<{ ino: bigint; mode: number } | undefined> | undefined> {
    if (!this.backend.idsAt) return undefined;
    const { names, ids, modes } = listing;
    const out: Array<{ ino: bigint; mode: number } | undefined> = [];
    const ask: number[] = [];
    for (let i = first; i < end; i++) {
      const id = ids?.[i - 2] ?? 0n;
      if (id !== 0n) out.push({ ino: id, mode: modes![i - 2] });
      else {
        out.push(undefined);
        ask.push(i);
      }
    }
    if (ask.length > 0) {
      const got = await this.backend.idsAt(dir, ask.map((i) => names[i]));
      ask.forEach((i, k) => (out[i - first] = got[k]));
    }
    return out;
  }
}

/** One entry of a readdir reply: a plain one shows only the id and the type; a full one carries the lookup's entry. */
interface DirItem {
  name: string;
  off: number;
  ino: bigint;
  mode: number;
  entry?: Entry;
}
