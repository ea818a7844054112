// Handlers for open files: open/create, read/write, readdir, fsync, clunk,
// xattrs (which 9P2000.L moves through fids) and advisory locks.
import { type Attr, S_IFDIR, S_IFMT, S_IFREG } from '../backend/attr.js';
import { FsError, isCode } from '../errno.js';
import { direntType, qidOf } from './attrs.js';
import { type Ctx, on } from './context.js';
import type { Fid } from './fids.js';
import * as M from './messages.js';
import { dropPrivilege, refusePrivilegeXattr, unprivileged } from './nosuid.js';
import { QID_SIZE } from './types.js';

/** Rread: size[4] type[1] tag[2] count[4]. */
const RREAD_OVERHEAD = 11;
const XATTR_SIZE_MAX = 65536;

// P9_DOTL_* open flags equal Linux x86 O_* values. We pass through access mode
// and the flags that only change how data is written; O_DIRECT is dropped
// (Node's buffers are not aligned), O_NOATIME (EPERM unless owner) and
// creation flags too (Tlcreate creates; the backend adds O_NOFOLLOW).
const PASS_FLAGS = 0o3 | 0o1000 /* TRUNC */ | 0o2000 /* APPEND */ | 0o4000 /* NONBLOCK */ | 0o10000 /* DSYNC */ | 0o200000 /* DIRECTORY */ | 0o4000000 /* SYNC */;

/** Offsets past 2^53 cannot reach Node's fs calls intact (and no file is that large). */
function position(offset: bigint): bigint {
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new FsError('EINVAL', `offset ${offset} is out of range`);
  return offset;
}

function openFid(c: Ctx, fid: number) {
  const f = c.fids.get(fid);
  if (f.state.kind !== 'open') throw new FsError('EBADF', `fid ${fid} is not open`);
  return f.state;
}

/** Give back what a fid holds (its open file, its references); for a Txattrcreate fid this is when the value is set. */
export async function releaseFid(c: Ctx, f: Fid): Promise<void> {
  const s = f.state;
  f.state = { kind: 'walked' };
  try {
    if (s.kind === 'open') await c.backend.release(s.fh);
    if (s.kind === 'xattr-write') {
      if (s.written !== s.size) throw new FsError('EINVAL', `xattr ${s.name}: ${s.written} of ${s.size} bytes written`);
      // As QEMU: a zero-length Txattrcreate is how the Linux client removes an xattr.
      if (s.size === 0) await c.backend.removexattr(f.inode, s.name);
      else await c.backend.setxattr(f.inode, s.name, s.value, s.flags);
    }
  } finally {
    c.backend.forget(f.inode);
    if (f.place) c.backend.forget(f.place.dir);
    f.place = undefined;
  }
}

export const ioHandlers = [
  on(M.Tlopen, M.Rlopen, async ({ fid, flags }, c) => {
    const f = c.fids.get(fid);
    if (f.state.kind !== 'walked') throw new FsError('EBADF', `fid ${fid} is already open`);
    const attr = await c.backend.getattr(f.inode);
    const type = attr.mode & S_IFMT;
    // Device nodes and FIFOs are opened by the client's kernel, never here:
    // opening a guest-made device node on the host would hand out host devices.
    if (type !== S_IFREG && type !== S_IFDIR) throw new FsError('EPERM', 'only files and directories are opened by the server');
    if (type === S_IFREG && (flags & 3 || flags & 0o1000 /* TRUNC */)) await dropPrivilege(c.backend, f.inode);
    const fh = await c.backend.open(f.inode, type === S_IFDIR ? 0 : flags & PASS_FLAGS);
    f.state = { kind: 'open', fh, isDir: type === S_IFDIR };
    f.qid = qidOf(attr);
    return { qid: f.qid, iounit: 0 };
  }),

  on(M.Tlcreate, M.Rlcreate, async ({ fid, name, flags, mode, gid }, c) => {
    const f = c.fids.get(fid);
    if (f.state.kind !== 'walked' || f.qid.type !== M.QTDIR) throw new FsError('ENOTDIR', `fid ${fid} is not an unopened directory`);
    const { fh, entry } = await c.backend.create(f.inode, name, (flags & PASS_FLAGS) | 0o100 /* CREAT */ | (flags & 0o200) /* EXCL */, unprivileged(mode & 0o7777, false), { ...f.caller, gid });
    // 9P: the fid now stands for the new, open file (its directory becomes its place).
    if (f.place) c.backend.forget(f.place.dir);
    f.place = { dir: f.inode, name };
    f.inode = entry.inode;
    f.qid = qidOf(entry.attr);
    f.state = { kind: 'open', fh, isDir: false };
    return { qid: f.qid, iounit: 0 };
  }),

  on(M.Tread, M.Rread, async ({ fid, offset, count }, c) => {
    const f = c.fids.get(fid);
    const n = Math.min(count, c.msize - RREAD_OVERHEAD);
    if (f.state.kind === 'xattr-read') {
      const start = Number(offset > BigInt(f.state.value.length) ? BigInt(f.state.value.length) : offset);
      return { data: f.state.value.subarray(start, start + n) };
    }
    const s = openFid(c, fid);
    if (s.isDir) throw new FsError('EISDIR', 'use Treaddir on directories');
    return { data: await c.backend.read(s.fh, n, position(offset)) };
  }),

  on(M.Twrite, M.Rwrite, async ({ fid, offset, data }, c) => {
    const f = c.fids.get(fid);
    if (f.state.kind === 'xattr-write') {
      const s = f.state;
      if (offset !== BigInt(s.written) || s.written + data.length > s.size) throw new FsError('EINVAL', `xattr write beyond the declared ${s.size} bytes`);
      data.copy(s.value, s.written);
      s.written += data.length;
      return { count: data.length };
    }
    const s = openFid(c, fid);
    if (s.isDir) throw new FsError('EISDIR', 'cannot write a directory');
    return { count: await c.backend.write(s.fh, data, position(offset)) };
  }),

  on(M.Treaddir, M.Rreaddir, async ({ fid, offset, count }, c) => {
    const f = c.fids.get(fid);
    const s = openFid(c, fid);
    if (!s.isDir) throw new FsError('ENOTDIR', `fid ${fid} is not a directory`);
    // Offsets are positions in the names read at offset 0 (a rewind reads
    // them again), so entries neither repeat nor vanish while a client pages;
    // each name is stat'ed when its page is sent, and one gone since is left out.
    if (offset === 0n || !s.names) s.names = ['.', '..', ...(await c.backend.readdir(f.inode))];
    const room = Math.min(count, c.msize - RREAD_OVERHEAD);
    const parts: Buffer[] = [];
    let used = 0;
    for (let i = Number(offset); i < s.names.length; ) {
      // Stat a batch at a time: what fits is known only once the names are measured.
      const batch = s.names.slice(i, i + 64);
      const attrs = await Promise.all(batch.map((name, k) => statEntry(c, f, name, i + k)));
      let k = 0;
      for (; k < batch.length; k++) {
        const attr = attrs[k];
        if (!attr) continue;
        const name = Buffer.from(batch[k]!, 'utf8');
        const size = QID_SIZE + 8 + 1 + 2 + name.length;
        if (used + size > room) break;
        const b = Buffer.allocUnsafe(size);
        const q = qidOf(attr);
        b.writeUInt8(q.type, 0);
        b.writeUInt32LE(q.version, 1);
        b.writeBigUInt64LE(q.path, 5);
        b.writeBigUInt64LE(BigInt(i + k + 1), 13); // the offset of the next entry
        b.writeUInt8(direntType(attr), 21);
        b.writeUInt16LE(name.length, 22);
        name.copy(b, 24);
        parts.push(b);
        used += size;
      }
      if (k < batch.length) break;
      i += batch.length;
    }
    return { data: Buffer.concat(parts, used) };
  }),

  on(M.Tfsync, M.Rfsync, async ({ fid, datasync }, c) => {
    const s = openFid(c, fid);
    if (!s.isDir) await c.backend.fsync(s.fh, datasync !== 0);
    return {};
  }),

  on(M.Tclunk, M.Rclunk, async ({ fid }, c) => {
    const f = c.fids.get(fid);
    c.fids.delete(fid); // gone even if releasing fails (9P: clunk always frees the fid)
    await releaseFid(c, f);
    return {};
  }),

  on(M.Txattrwalk, M.Rxattrwalk, async ({ fid, newfid, name }, c) => {
    const f = c.fids.get(fid);
    if (newfid !== fid && c.fids.has(newfid)) throw new FsError('EBADF', `newfid ${newfid} is already in use`);
    // An empty name asks for the list (listxattr); the backend hides the id table's names.
    const value = name === ''
      ? Buffer.from((await c.backend.listxattr(f.inode)).map((n) => `${n}\0`).join(''), 'utf8')
      : await c.backend.getxattr(f.inode, name);
    const old = c.fids.set(newfid, { inode: c.backend.hold(f.inode), qid: f.qid, caller: f.caller, state: { kind: 'xattr-read', value } });
    if (old) await releaseFid(c, old);
    return { size: BigInt(value.length) };
  }),

  on(M.Txattrcreate, M.Rxattrcreate, async ({ fid, name, attr_size, flags }, c) => {
    const f = c.fids.get(fid);
    if (f.state.kind !== 'walked') throw new FsError('EBADF', `fid ${fid} is open`);
    if (name === '') throw new FsError('EINVAL', 'empty xattr name');
    refusePrivilegeXattr(name);
    if (attr_size > BigInt(XATTR_SIZE_MAX)) throw new FsError('E2BIG', `xattr value of ${attr_size} bytes (max ${XATTR_SIZE_MAX})`);
    const size = Number(attr_size);
    f.state = { kind: 'xattr-write', name, size, flags, value: Buffer.alloc(size), written: 0 };
    return {};
  }),

  // Advisory byte-range locks, held on the source (lib/backend/locks.ts), so
  // they conflict with other clients', the FUSE mount's and SRC's own. The
  // owner is the client's process on this connection. 9P2000.L never waits
  // in the server: a conflict is BLOCKED, and a client that asked for
  // P9_LOCK_FLAGS_BLOCK retries (Linux does). Tclunk drops the fid's locks.
  on(M.Tlock, M.Rlock, async ({ fid, type, start, length, proc_id, client_id }, c) => {
    const s = openFid(c, fid);
    try {
      await c.backend.setlk(s.fh, lockOwner(c, client_id, proc_id), { type, start, len: length, pid: proc_id });
    } catch (err) {
      if (isCode(err, 'EAGAIN')) return { status: M.LOCK_STATUS.BLOCKED };
      throw err;
    }
    return { status: M.LOCK_STATUS.SUCCESS };
  }),

  on(M.Tgetlock, M.Rgetlock, async ({ fid, type, start, length, proc_id, client_id }, c) => {
    const s = openFid(c, fid);
    const got = await c.backend.getlk(s.fh, lockOwner(c, client_id, proc_id), { type, start, len: length, pid: proc_id });
    // The holder's client is not known (it may not be a 9P client at all): the asker's is sent back, as QEMU does.
    if (got.type === M.LOCK_TYPE.UNLCK) return { type: got.type, start, length, proc_id, client_id };
    return { type: got.type, start: got.start, length: got.len, proc_id: got.pid, client_id };
  }),
];

/** A 9P lock owner: the client's process, on this connection only. */
function lockOwner(c: Ctx, clientId: string, procId: number): string {
  return `9p:${c.fids.lockScope}:${clientId}:${procId}`;
}

/** Entry i of a listing: '.' and '..' (the root's is itself), else the name as it is now (undefined: gone). */
async function statEntry(c: Ctx, f: Fid, name: string, i: number): Promise<Attr | undefined> {
  if (i === 0) return c.backend.getattr(f.inode);
  if (i === 1) return c.backend.parentAttr(f.inode);
  try {
    return await c.backend.statAt(f.inode, name);
  } catch (err) {
    if (isCode(err, 'ENOENT')) return undefined;
    throw err;
  }
}
