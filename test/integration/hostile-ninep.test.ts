// Hostile 9P client (issue 8) against `stableid serve-9p`: every request has
// a 5 s timeout, canaries sit next to SRC. Pass everywhere: no canary changed
// or read, no request hung, the server still answers.
//  - Tsetattr (mode with setuid bits, truncate, chown, utimes) racing a
//    Trenameat that puts a symlink to an outside file in the file's place:
//    9P alone, no access to SRC needed.
//  - Fids walked (and opened) under a parent that a SRC writer then replaces
//    by a symlink to a root-owned directory outside SRC.
//  - Walks and opens racing a parent that flips between a directory and a
//    symlink on SRC.
// On main: the mode and truncate races change the outside file (setuid bits
// included); the chown and utimes races pass (lchown and utimensat with
// AT_SYMLINK_NOFOLLOW do not follow a final symlink); every fid under the
// swapped parent acts on the outside directory (read, write, chmod, chown,
// utimes, truncate, xattr, unlink, rename, link, mkdir, symlink, mknod,
// create); the walk/open race reads and writes the outside file.
import test from 'ava';
import { chown, mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as M from '../../lib/ninep/messages.js';
import { hostileNinep } from '../helpers/hostile-mount.js';
import { HostileSession, O, SETATTRS, S_IFREG } from '../helpers/hostile-ninep.js';
import { attack } from '../helpers/hostile-user.js';
import { verdict } from '../helpers/hostile-verdict.js';

const SECONDS = Number(process.env.HOSTILE_RACE_SECONDS ?? 30);
const MIN_ATTEMPTS = 20_000;
const MAX_ATTEMPTS = MIN_ATTEMPTS;
const LANES = 8;
const ROOT = 0;
// Root: the canaries are root's files, and the SRC writer swaps as root.
const serial = process.getuid?.() === 0 ? test.serial : test.skip;
const why = process.getuid?.() === 0 ? '' : ' (skipped: needs root)';


for (const [what, set] of Object.entries(SETATTRS)) {
  serial(`9P: Tsetattr (${what}) racing a Trenameat of a symlink to an outside file over it never reaches the outside file${why}`, async (t) => {
    const h = await hostileNinep(t, { layout: { files: ['file-a'], dirFiles: [] } });
    await mkdir(join(h.src, 'race'));
    const s = await HostileSession.attach(h.address);
    t.teardown(() => s.close());
    const dir = (await s.walk('walk', ROOT, 'race'))!;
    const target = h.canaries.file('file-a');
    const report = await s.loop(SECONDS, MAX_ATTEMPTS, LANES, async (k) => {
      const name = `f-${k}`;
      const link = `l-${k}`;
      await s.tally('mknod', M.Tmknod, { dfid: dir, name, mode: S_IFREG | 0o644, major: 0, minor: 0, gid: 0 });
      const fid = await s.walk('walk', dir, name);
      await s.tally('symlink', M.Tsymlink, { fid: dir, name: link, symtgt: target, gid: 0 });
      if (fid === undefined) return;
      // Both in flight at once: the rename lands while the server handles the setattr.
      await Promise.all([
        s.tally(`setattr ${what}`, M.Tsetattr, { fid, ...set }),
        s.tally('renameat', M.Trenameat, { olddirfid: dir, oldname: link, newdirfid: dir, newname: name }),
      ]);
      await s.clunk(fid);
    });
    t.log(`${report.attempts} attempts in ${report.seconds.toFixed(1)} s: ${JSON.stringify(report.outcomes)}`);
    await verdict(t, { canaries: h.canaries, alive: h.alive, output: report.read.join('\n'), attempts: { made: report.attempts, min: MIN_ATTEMPTS } });
  });
}

const FID_OPS = ['read', 'prewalked', 'write', 'chmod', 'truncate', 'chown', 'utime', 'xattr', 'unlink', 'rename', 'link', 'rootwalk', 'opened'];

serial(`9P: fids walked under a parent that SRC then replaces by a symlink to an outside directory act inside SRC or fail${why}`, async (t) => {
  const h = await hostileNinep(t, { layout: { files: [], dirFiles: FID_OPS } });
  const d = join(h.src, 'u', 'p', 'rootdir');
  await mkdir(d, { recursive: true });
  for (const n of FID_OPS) await writeFile(join(d, n), 'own file of the client\n');
  for (const n of ['mine-rename', 'mine-link']) await writeFile(join(h.src, 'u', n), 'own\n');
  const s = await HostileSession.attach(h.address);
  t.teardown(() => s.close());
  const dir = (await s.walk('walk', ROOT, 'u', 'p', 'rootdir'))!;
  const u = (await s.walk('walk', ROOT, 'u'))!;
  const pre: Record<string, number> = {};
  for (const n of ['prewalked', 'chmod', 'truncate', 'chown', 'utime', 'xattr']) pre[n] = (await s.walk('walk', dir, n))!;
  const opened = (await s.walk('walk', dir, 'opened'))!;
  await s.rpc(M.Tlopen, { fid: opened, flags: O.RDWR });

  // The SRC writer's move: p is now a symlink to the canaries' directory, so p/rootdir is root's.
  await rename(join(h.src, 'u', 'p'), join(h.src, 'u', 'p.moved'));
  await symlink(h.canaries.dir, join(h.src, 'u', 'p'));

  const readVia = async (op: string, fid: number | undefined) => {
    if (fid === undefined) return;
    if (await s.tally(`${op} open`, M.Tlopen, { fid, flags: O.RDONLY })) await s.tally(op, M.Tread, { fid, offset: 0n, count: 4096 });
  };
  await readVia('read', await s.walk('read walk', dir, 'read'));
  await readVia('prewalked', pre.prewalked);
  const w = await s.walk('write walk', dir, 'write');
  if (w !== undefined && (await s.tally('write open', M.Tlopen, { fid: w, flags: O.WRONLY }))) {
    await s.tally('write', M.Twrite, { fid: w, offset: 0n, data: Buffer.from('written by the hostile client\n') });
  }
  await s.tally('chmod', M.Tsetattr, { fid: pre.chmod!, ...SETATTRS.mode });
  await s.tally('truncate', M.Tsetattr, { fid: pre.truncate!, ...SETATTRS.truncate });
  await s.tally('chown', M.Tsetattr, { fid: pre.chown!, ...SETATTRS.chown });
  await s.tally('utime', M.Tsetattr, { fid: pre.utime!, ...SETATTRS.utimes });
  if (await s.tally('xattrcreate', M.Txattrcreate, { fid: pre.xattr!, name: 'user.hostile', attr_size: 1n, flags: 0 })) {
    await s.tally('xattr write', M.Twrite, { fid: pre.xattr!, offset: 0n, data: Buffer.from('1') });
    await s.tally('xattr set (clunk)', M.Tclunk, { fid: pre.xattr! });
  }
  await s.tally('unlink', M.Tunlinkat, { dirfid: dir, name: 'unlink', flags: 0 });
  await s.tally('rename', M.Trenameat, { olddirfid: u, oldname: 'mine-rename', newdirfid: dir, newname: 'rename' });
  const mine = await s.walk('link walk', u, 'mine-link');
  if (mine !== undefined) await s.tally('link', M.Tlink, { dfid: dir, fid: mine, name: 'linked-by-hostile' });
  await s.tally('mkdir', M.Tmkdir, { dfid: dir, name: 'mkdir-by-hostile', mode: 0o755, gid: 0 });
  await s.tally('symlink', M.Tsymlink, { fid: dir, name: 'symlink-by-hostile', symtgt: '/', gid: 0 });
  await s.tally('mknod', M.Tmknod, { dfid: dir, name: 'mknod-by-hostile', mode: S_IFREG | 0o644, major: 0, minor: 0, gid: 0 });
  const c = await s.walk('create walk', dir);
  if (c !== undefined) await s.tally('create', M.Tlcreate, { fid: c, name: 'created-by-hostile', flags: O.WRONLY | O.CREAT, mode: 0o644, gid: 0 });
  await readVia('rootwalk', await s.walk('rootwalk walk', ROOT, 'u', 'p', 'rootdir', 'rootwalk'));
  await s.tally('opened chmod', M.Tsetattr, { fid: opened, ...SETATTRS.mode });
  await s.tally('opened write', M.Twrite, { fid: opened, offset: 0n, data: Buffer.from('#') });
  t.log(JSON.stringify(s.report.outcomes));
  await verdict(t, { canaries: h.canaries, alive: h.alive, output: s.report.read.join('\n') });
});

serial(`9P: walks and opens racing a parent that flips between a directory and a symlink to an outside directory stay inside SRC${why}`, async (t) => {
  const h = await hostileNinep(t, { layout: { files: ['file-a'], dirFiles: ['f'] } });
  const srcU = join(h.src, 'u');
  await mkdir(join(srcU, 'f1'), { recursive: true });
  await mkdir(join(srcU, 'd'));
  for (const f of [join(srcU, 'f1', 'f'), join(srcU, 'd', 'f')]) await writeFile(f, 'own file of the hostile user\n');
  await chown(srcU, 0, 0);
  const s = await HostileSession.attach(h.address);
  t.teardown(() => s.close());
  const swapper = attack('root', 'race', ['swap', srcU, h.canaries.file('file-a'), h.canaries.rootdir, String(SECONDS)], (SECONDS + 30) * 1000);
  const report = await s.loop(SECONDS, MAX_ATTEMPTS, LANES, async (k) => {
    const path = k & 1 ? ['u', 'd', 'f'] : ['u', 'f1', 'f'];
    const kind = k & 1 ? 'parent' : 'file';
    const fid = await s.walk(`walk ${kind}`, ROOT, ...path);
    if (fid === undefined) return;
    if (await s.tally(`open ${kind}`, M.Tlopen, { fid, flags: O.RDWR | O.NONBLOCK })) {
      await s.tally(`read ${kind}`, M.Tread, { fid, offset: 0n, count: 64 });
      await s.tally(`write ${kind}`, M.Twrite, { fid, offset: 0n, data: Buffer.from('#') });
    }
    await s.clunk(fid);
  });
  await writeFile(join(srcU, '.stop'), '');
  const swaps = (await swapper).report.notes.swaps;
  t.log(`${report.attempts} attempts and ${String(swaps)} swaps in ${report.seconds.toFixed(1)} s: ${JSON.stringify(report.outcomes)}`);
  await verdict(t, { canaries: h.canaries, alive: h.alive, output: report.read.join('\n'), attempts: { made: report.attempts, min: MIN_ATTEMPTS } });
});
