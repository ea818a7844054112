// `stableid-mount SRC MNT --9p ADDR`: one process, one mapper, two front-ends.
// A file's FUSE st_ino and its 9P qid.path are the same id, also for files on
// two loop-mounted filesystems whose raw inode numbers collide.
import test, { type ExecutionContext } from 'ava';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import * as M from '../../lib/ninep/messages.js';
import { join } from 'node:path';
import { canLoop, loopImages } from '../helpers/loop-images.js';
import { canMount, forceUnmount, REPO, tempDir, waitMounted } from '../helpers/mount-fixture.js';
import { NinepClient } from '../helpers/ninep-client.js';
import { probeTree } from '../helpers/probe.js';
import { Started } from '../helpers/run.js';

const fuse = await canMount('fuse');
const loop = await canLoop();
const gate = !fuse.ok ? fuse.reason : !loop.ok ? loop.reason : '';
const serial = gate ? test.skip : test.serial;
const why = gate ? ` (skipped: ${gate})` : '';

/** bin/stableid-mount [options] SRC MNT --9p unix:SOCK, stopped and unmounted in teardown. */
async function serve(t: ExecutionContext, dir: string, src: string, options: string[] = []): Promise<{ proc: Started; mnt: string; client: NinepClient }> {
  const mnt = join(dir, 'mnt');
  const sock = join(dir, '9p.sock');
  await mkdir(mnt);
  const proc = new Started(process.execPath, [join(REPO, 'bin/stableid-mount'), ...options, src, mnt, '--9p', `unix:${sock}`, '--state-dir', join(dir, 'state')]);
  t.teardown(async () => {
    if (proc.running) proc.child.kill('SIGTERM');
    if (!(await proc.exit(10_000))) proc.child.kill('SIGKILL');
    await forceUnmount(mnt);
  });
  await waitMounted(proc, mnt);
  await proc.waitFor(/over 9P2000\.L at unix:/);
  const client = await NinepClient.attached(`unix:${sock}`);
  t.teardown(() => client.close());
  return { proc, mnt, client };
}

serial(`--9p serves the mount's ids: qid.path == st_ino for every path, colliding inodes included${why}`, async (t) => {
  const dir = await tempDir(t, 'stableid-mount9p-');
  const src = join(dir, 'src');
  await mkdir(src);
  const imgs = await loopImages(t, src, ['ext4', 'xfs']);
  const { proc, mnt, client: c } = await serve(t, dir, src);
  const tree = await probeTree(mnt); // st_ino as the kernel reports them, read by a child process
  let fid = 1;
  let compared = 0;
  for (const [path, entry] of tree) {
    const qids = path === '' ? [] : await c.walk(0, ++fid, ...path.split('/'));
    const qid = path === '' ? (await c.getattr(0)).qid : qids[qids.length - 1]!;
    t.is(qid.path, entry.ino, `${path || '/'}: 9P qid.path equals FUSE st_ino`);
    if (path !== '') await c.clunk(fid);
    compared++;
  }
  const rel = (p: string) => p.slice(src.length + 1);
  const e = tree.get(rel(imgs.collidingFiles.ext4))!;
  const x = tree.get(rel(imgs.collidingFiles.xfs))!;
  t.not(e.ino, x.ino, 'equal raw inode numbers on two disks give two ids');
  t.true(compared > 4);

  proc.child.kill('SIGTERM');
  t.is((await proc.exit(10_000))?.code, 0, proc.stderr);
});

serial(`-o ro applies to --9p too: changes get EROFS, reads work${why}`, async (t) => {
  const dir = await tempDir(t, 'stableid-mount9p-ro-');
  const src = join(dir, 'src');
  await mkdir(src);
  await writeFile(join(src, 'f.txt'), 'kept');
  const { client: c } = await serve(t, dir, src, ['-o', 'ro']); // -o before SRC: it must not swallow SRC and MNT
  const EROFS = 30;
  t.is(await c.errno(M.Tmkdir, { dfid: 0, name: 'nope', mode: 0o755, gid: 0 }), EROFS);
  t.is(await c.errno(M.Tunlinkat, { dirfid: 0, name: 'f.txt', flags: 0 }), EROFS);
  await c.walk(0, 1, 'f.txt');
  t.is(await c.errno(M.Tlopen, { fid: 1, flags: 1 /* O_WRONLY */ }), EROFS);
  await c.walk(0, 2, 'f.txt');
  await c.rpc(M.Tlopen, { fid: 2, flags: 0 });
  t.is((await c.readAll(2)).toString(), 'kept');
  t.deepEqual(await readdir(src), ['f.txt']);
});
