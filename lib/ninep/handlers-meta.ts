// Handlers for names and metadata: attach, walk, getattr/setattr, and the
// operations that create, link, rename and remove names. Every fid holds its
// file's Inode, so these act on files, never on paths.
import type { Entry, SetAttr } from '../backend/backend.js';
import { FsError } from '../errno.js';
import { makedev, qidOf, wireAttr } from './attrs.js';
import { type Ctx, on } from './context.js';
import type { Fid, Place } from './fids.js';
import { releaseFid } from './handlers-io.js';
import * as M from './messages.js';
import { dropPrivilege, unprivileged } from './nosuid.js';

const MAXWELEM = 16;
const AT_REMOVEDIR = 0x200;
const NONUNAME = 0xffffffff;
const V9FS_MAGIC = 0x01021997;

function dirFid(c: Ctx, fid: number): Fid {
  const f = c.fids.get(fid);
  if (f.qid.type !== M.QTDIR) throw new FsError('ENOTDIR', `fid ${fid} is not a directory`);
  return f;
}

function callerFor(f: Fid, gid: number) {
  return { ...f.caller, gid };
}

/** A new file's qid; the fid-less reference the backend gave is handed back at once. */
function qidOfMade(c: Ctx, entry: Entry) {
  c.backend.forget(entry.inode);
  return { qid: qidOf(entry.attr) };
}

/**
 * The fid's name, checked to still name the fid's own file (anyone may have
 * renamed it since the walk): Tremove and Trename act on that name.
 */
async function placeOf(c: Ctx, f: Fid): Promise<Place> {
  if (f.inode === c.backend.root) throw new FsError('EBUSY', 'the export root cannot be renamed or removed');
  const p = f.place;
  if (!p) throw new FsError('EINVAL', 'this fid was not reached by a name (walk to it by name, or use Trenameat/Tunlinkat)');
  const now = await c.backend.statAt(p.dir, p.name).catch(() => undefined);
  if (now?.ino !== f.inode.id) throw new FsError('ENOENT', `${p.name} was moved or replaced since it was walked to`);
  return p;
}

export const metaHandlers = [
  // No authentication: diod's clients (and Linux's) read Rlerror ENOENT as
  // "none required" and go on to Tattach with afid NOFID.
  on(M.Tauth, M.Rauth, async () => {
    throw new FsError('ENOENT', 'no authentication required');
  }),

  on(M.Tattach, M.Rattach, async ({ fid, afid, aname, n_uname }, c) => {
    if (afid !== M.NOFID) throw new FsError('EINVAL', 'this server does not authenticate: afid must be NOFID');
    // One export per server: accept the export's own path (diod's clients send it) or the root.
    const name = aname.replace(/\/+$/, '');
    if (name !== '' && name !== c.exportPath?.replace(/\/+$/, '')) throw new FsError('ENOENT', `no export named ${aname}`);
    const root = c.backend.root;
    const attr = await c.backend.getattr(root);
    const uid = n_uname === NONUNAME ? 0 : n_uname;
    c.fids.add(fid, { inode: c.backend.hold(root), qid: qidOf(attr), caller: { uid, gid: uid, pid: 0 }, state: { kind: 'walked' } });
    return { qid: qidOf(attr) };
  }),

  on(M.Twalk, M.Rwalk, async ({ fid, newfid, wnames }, c) => {
    const from = c.fids.get(fid);
    // 9P2000 says walk only from unopened fids, but diodls walks from the
    // directory it is reading; only replacing an open fid would leak it.
    if (newfid === fid && from.state.kind !== 'walked') throw new FsError('EBADF', `fid ${fid} is open: walk it to a new fid`);
    if (newfid !== fid && c.fids.has(newfid)) throw new FsError('EBADF', `newfid ${newfid} is already in use`);
    if (wnames.length > MAXWELEM) throw new FsError('EINVAL', `walk of ${wnames.length} names (max ${MAXWELEM})`);
    // Each step holds the Inode it reached (and the directory before it, for the fid's place).
    let cur = c.backend.hold(from.inode);
    let place: Place | undefined = from.place && { dir: c.backend.hold(from.place.dir), name: from.place.name };
    let qid = from.qid;
    const wqids: typeof qid[] = [];
    const drop = () => {
      c.backend.forget(cur);
      if (place) c.backend.forget(place.dir);
    };
    for (const name of wnames) {
      let next: Entry | undefined;
      try {
        // Only directories are walked through; a symlink is a file the client resolves.
        if (qid.type !== M.QTDIR) throw new FsError('ENOTDIR', 'not a directory');
        if (name === '.') {
          wqids.push(qid); // not sent by Linux; diodls stats '.' this way: a no-op step
          continue;
        }
        next = name === '..' ? await c.backend.parent(cur) : await c.backend.lookup(cur, name); // '..' at the root is the root
      } catch (err) {
        drop();
        if (wqids.length === 0) throw err;
        return { wqids }; // partial walk: newfid is not created (9P2000 walk(5))
      }
      if (place) c.backend.forget(place.dir);
      place = name === '..' ? undefined : { dir: cur, name };
      if (!place) c.backend.forget(cur);
      cur = next.inode;
      qid = qidOf(next.attr);
      wqids.push(qid);
    }
    const old = c.fids.set(newfid, { inode: cur, qid, caller: from.caller, state: { kind: 'walked' }, place });
    if (old) await releaseFid(c, old);
    return { wqids };
  }),

  on(M.Tgetattr, M.Rgetattr, async ({ fid }, c) => {
    const f = c.fids.get(fid);
    // fstat of the pinned inode: also right for a file unlinked while open.
    const attr = await c.backend.getattr(f.inode);
    const valid = attr.btimeNs !== 0n ? M.GETATTR_BASIC | M.GETATTR_BTIME : M.GETATTR_BASIC;
    return { valid, qid: qidOf(attr), ...wireAttr(attr) };
  }),

  on(M.Tsetattr, M.Rsetattr, async (v, c) => {
    const f = c.fids.get(v.fid);
    const set: SetAttr = {};
    const A = M.ATTR;
    if (v.valid & A.MODE) set.mode = unprivileged(v.mode, f.qid.type === M.QTDIR);
    if (v.valid & A.UID) set.uid = v.uid;
    if (v.valid & A.GID) set.gid = v.gid;
    if (v.valid & A.SIZE) {
      if (v.size > BigInt(Number.MAX_SAFE_INTEGER)) throw new FsError('EFBIG', `size ${v.size} is too large`);
      set.size = v.size;
    }
    if (v.valid & A.ATIME) set.atime = v.valid & A.ATIME_SET ? v.atime_sec * 1_000_000_000n + v.atime_nsec : 'now';
    if (v.valid & A.MTIME) set.mtime = v.valid & A.MTIME_SET ? v.mtime_sec * 1_000_000_000n + v.mtime_nsec : 'now';
    // A lone CTIME asks only for a ctime bump, which any other change gives; nothing to do.
    const fh = f.state.kind === 'open' && !f.state.isDir ? f.state.fh : undefined;
    if (set.size !== undefined) await dropPrivilege(c.backend, f.inode);
    if (Object.keys(set).length) await c.backend.setattr(f.inode, set, fh);
    return {};
  }),

  on(M.Tstatfs, M.Rstatfs, async ({ fid }, c) => {
    const s = await c.backend.statfs(c.fids.get(fid).inode);
    return {
      type: V9FS_MAGIC, bsize: Number(s.bsize), blocks: s.blocks, bfree: s.bfree, bavail: s.bavail,
      files: s.files, ffree: s.ffree, fsid: 0n, namelen: Number(s.namelen),
    };
  }),

  on(M.Treadlink, M.Rreadlink, async ({ fid }, c) => ({ target: await c.backend.readlink(c.fids.get(fid).inode) })),

  on(M.Tmkdir, M.Rmkdir, async ({ dfid, name, mode, gid }, c) => {
    const d = dirFid(c, dfid);
    return qidOfMade(c, await c.backend.mkdir(d.inode, name, unprivileged(mode & 0o7777, true), callerFor(d, gid)));
  }),

  on(M.Tsymlink, M.Rsymlink, async ({ fid, name, symtgt, gid }, c) => {
    // The target is stored as given: the server never follows symlinks, the client resolves them.
    const d = dirFid(c, fid);
    return qidOfMade(c, await c.backend.symlink(symtgt, d.inode, name, callerFor(d, gid)));
  }),

  on(M.Tmknod, M.Rmknod, async ({ dfid, name, mode, major, minor, gid }, c) => {
    const d = dirFid(c, dfid);
    // The server cannot tell a privileged client from any other (no authentication), and
    // a device node made as root opens a disk to whoever reads it: FIFOs and sockets only.
    const type = mode & 0o170000;
    if (type === 0o020000 || type === 0o060000) throw new FsError('EPERM', 'device nodes cannot be made over 9P');
    return qidOfMade(c, await c.backend.mknod(d.inode, name, unprivileged(mode, false), makedev(major, minor), callerFor(d, gid)));
  }),

  on(M.Tlink, M.Rlink, async ({ dfid, fid, name }, c) => {
    const d = dirFid(c, dfid);
    c.backend.forget((await c.backend.link(c.fids.get(fid).inode, d.inode, name)).inode);
    return {};
  }),

  on(M.Trename, M.Rrename, async ({ fid, dfid, name }, c) => {
    const f = c.fids.get(fid);
    const d = dirFid(c, dfid);
    const from = await placeOf(c, f);
    await c.backend.rename(from.dir, from.name, d.inode, name);
    f.place = { dir: c.backend.hold(d.inode), name };
    c.backend.forget(from.dir);
    return {};
  }),

  on(M.Trenameat, M.Rrenameat, async ({ olddirfid, oldname, newdirfid, newname }, c) => {
    await c.backend.rename(dirFid(c, olddirfid).inode, oldname, dirFid(c, newdirfid).inode, newname);
    return {};
  }),

  on(M.Tunlinkat, M.Runlinkat, async ({ dirfid, name, flags }, c) => {
    const d = dirFid(c, dirfid);
    await (flags & AT_REMOVEDIR ? c.backend.rmdir(d.inode, name) : c.backend.unlink(d.inode, name));
    return {};
  }),

  on(M.Tremove, M.Rremove, async ({ fid }, c) => {
    // 9P: the fid is clunked whether or not the remove succeeds.
    const f = c.fids.get(fid);
    c.fids.delete(fid);
    try {
      const { dir, name } = await placeOf(c, f);
      await (f.qid.type === M.QTDIR ? c.backend.rmdir(dir, name) : c.backend.unlink(dir, name));
    } finally {
      await releaseFid(c, f).catch(() => undefined); // the remove's own outcome is what the client hears
    }
    return {};
  }),
];
