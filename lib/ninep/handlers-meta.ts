// Handlers for names and metadata: attach, walk, getattr/setattr, and the
// operations that create, link, rename and remove names.
import { isDir } from '../backend/attr.js';
import type { SetAttr } from '../backend/backend.js';
import { FsError } from '../errno.js';
import { makedev, qidOf, wireAttr } from './attrs.js';
import { type Ctx, on } from './context.js';
import { baseOf, type Fid, joinPath, parentOf } from './fids.js';
import { releaseFid } from './handlers-io.js';
import * as M from './messages.js';

const MAXWELEM = 16;
const AT_REMOVEDIR = 0x200;
const NONUNAME = 0xffffffff;
const V9FS_MAGIC = 0x01021997;

/** A walk or create name must be one real component; the backend re-checks. */
function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new FsError('EINVAL', `bad name ${JSON.stringify(name)}`);
  }
}

function dirFid(c: Ctx, fid: number): Fid {
  const f = c.fids.get(fid);
  if (f.qid.type !== M.QTDIR) throw new FsError('ENOTDIR', `fid ${fid} is not a directory`);
  return f;
}

function callerFor(f: Fid, gid: number) {
  return { ...f.caller, gid };
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
    const attr = await c.backend.getattr('');
    const uid = n_uname === NONUNAME ? 0 : n_uname;
    c.fids.add(fid, { path: '', qid: qidOf(attr), caller: { uid, gid: uid, pid: 0 }, state: { kind: 'walked' } });
    return { qid: qidOf(attr) };
  }),

  on(M.Twalk, M.Rwalk, async ({ fid, newfid, wnames }, c) => {
    const from = c.fids.get(fid);
    // 9P2000 says walk only from unopened fids, but diodls walks from the
    // directory it is reading; only replacing an open fid would leak it.
    if (newfid === fid && from.state.kind !== 'walked') throw new FsError('EBADF', `fid ${fid} is open: walk it to a new fid`);
    if (newfid !== fid && c.fids.has(newfid)) throw new FsError('EBADF', `newfid ${newfid} is already in use`);
    if (wnames.length > MAXWELEM) throw new FsError('EINVAL', `walk of ${wnames.length} names (max ${MAXWELEM})`);
    let path = from.path;
    let qid = from.qid;
    const wqids: typeof qid[] = [];
    for (const name of wnames) {
      try {
        // Only directories are walked through: the backend lstat()s whole
        // paths, so stepping "through" a symlink would let the host follow it.
        if (qid.type !== M.QTDIR) throw new FsError('ENOTDIR', `${path} is not a directory`);
        if (name === '..') {
          path = parentOf(path); // '..' at the root is the root (9P: the root's parent is itself)
          qid = qidOf(await c.backend.getattr(path));
        } else if (name === '.') {
          // not sent by Linux; a no-op step
        } else {
          checkName(name);
          const attr = await c.backend.lookup(path, name);
          path = joinPath(path, name);
          qid = qidOf(attr);
        }
      } catch (err) {
        if (wqids.length === 0) throw err;
        return { wqids }; // partial walk: newfid is not created (9P2000 walk(5))
      }
      wqids.push(qid);
    }
    c.fids.set(newfid, { path, qid, caller: from.caller, state: { kind: 'walked' } });
    return { wqids };
  }),

  on(M.Tgetattr, M.Rgetattr, async ({ fid }, c) => {
    const f = c.fids.get(fid);
    // An open fid answers from its handle: its name may be gone (unlinked while open).
    const attr = f.state.kind === 'open' && c.backend.fgetattr ? await c.backend.fgetattr(f.state.fh) : await c.backend.getattr(f.path);
    const valid = attr.btimeNs !== 0n ? M.GETATTR_BASIC | M.GETATTR_BTIME : M.GETATTR_BASIC;
    return { valid, qid: qidOf(attr), ...wireAttr(attr) };
  }),

  on(M.Tsetattr, M.Rsetattr, async (v, c) => {
    const f = c.fids.get(v.fid);
    const set: SetAttr = {};
    const A = M.ATTR;
    if (v.valid & A.MODE) set.mode = v.mode;
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
    if (Object.keys(set).length) await c.backend.setattr(f.path, set, fh);
    return {};
  }),

  on(M.Tstatfs, M.Rstatfs, async ({ fid }, c) => {
    const s = await c.backend.statfs(c.fids.get(fid).path);
    return {
      type: V9FS_MAGIC, bsize: Number(s.bsize), blocks: s.blocks, bfree: s.bfree, bavail: s.bavail,
      files: s.files, ffree: s.ffree, fsid: 0n, namelen: Number(s.namelen),
    };
  }),

  on(M.Treadlink, M.Rreadlink, async ({ fid }, c) => ({ target: await c.backend.readlink(c.fids.get(fid).path) })),

  on(M.Tmkdir, M.Rmkdir, async ({ dfid, name, mode, gid }, c) => {
    const d = dirFid(c, dfid);
    checkName(name);
    return { qid: qidOf(await c.backend.mkdir(d.path, name, mode & 0o7777, callerFor(d, gid))) };
  }),

  on(M.Tsymlink, M.Rsymlink, async ({ fid, name, symtgt, gid }, c) => {
    // The target is stored as given: the server never follows symlinks, the client resolves them.
    const d = dirFid(c, fid);
    checkName(name);
    return { qid: qidOf(await c.backend.symlink(symtgt, d.path, name, callerFor(d, gid))) };
  }),

  on(M.Tmknod, M.Rmknod, async ({ dfid, name, mode, major, minor, gid }, c) => {
    const d = dirFid(c, dfid);
    checkName(name);
    // The server cannot tell a privileged client from any other (no authentication), and
    // a device node made as root opens a disk to whoever reads it: FIFOs and sockets only.
    const type = mode & 0o170000;
    if (type === 0o020000 || type === 0o060000) throw new FsError('EPERM', 'device nodes cannot be made over 9P');
    return { qid: qidOf(await c.backend.mknod(d.path, name, mode, makedev(major, minor), callerFor(d, gid))) };
  }),

  on(M.Tlink, M.Rlink, async ({ dfid, fid, name }, c) => {
    const d = dirFid(c, dfid);
    checkName(name);
    await c.backend.link(c.fids.get(fid).path, d.path, name);
    return {};
  }),

  on(M.Trename, M.Rrename, async ({ fid, dfid, name }, c) => {
    const f = c.fids.get(fid);
    const d = dirFid(c, dfid);
    if (f.path === '') throw new FsError('EBUSY', 'the export root cannot be renamed');
    checkName(name);
    await c.backend.rename(parentOf(f.path), baseOf(f.path), d.path, name);
    c.renamed(f.path, joinPath(d.path, name));
    return {};
  }),

  on(M.Trenameat, M.Rrenameat, async ({ olddirfid, oldname, newdirfid, newname }, c) => {
    const from = dirFid(c, olddirfid);
    const to = dirFid(c, newdirfid);
    checkName(oldname);
    checkName(newname);
    await c.backend.rename(from.path, oldname, to.path, newname);
    c.renamed(joinPath(from.path, oldname), joinPath(to.path, newname));
    return {};
  }),

  on(M.Tunlinkat, M.Runlinkat, async ({ dirfid, name, flags }, c) => {
    const d = dirFid(c, dirfid);
    checkName(name);
    await (flags & AT_REMOVEDIR ? c.backend.rmdir(d.path, name) : c.backend.unlink(d.path, name));
    c.removed(joinPath(d.path, name));
    return {};
  }),

  on(M.Tremove, M.Rremove, async ({ fid }, c) => {
    // 9P: the fid is clunked whether or not the remove succeeds.
    const f = c.fids.get(fid);
    c.fids.delete(fid);
    try {
      if (f.path === '') throw new FsError('EBUSY', 'the export root cannot be removed');
      const attr = await c.backend.getattr(f.path);
      const [dir, name] = [parentOf(f.path), baseOf(f.path)];
      await (isDir(attr) ? c.backend.rmdir(dir, name) : c.backend.unlink(dir, name));
      c.removed(f.path);
    } finally {
      await releaseFid(c, f).catch(() => undefined); // the remove's own outcome is what the client hears
    }
    return {};
  }),
];
