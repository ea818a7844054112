// Kernel file handles of the mount outlive the server (issue 9, on the host):
// name_to_handle_at on files and directories deep in the tree on SRC's own
// filesystem and on ext4 and xfs images inside it; stableid stops, another
// mount takes its device number, the images come back swapped, caches are
// dropped; open_by_handle_at then gives the same file with the same content.
// A deleted file's handle gives ESTALE, a renamed file's still opens it, and
// a handle whose inode number now belongs to a new file gives ESTALE.
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { canLoop, loopImages, run } from '../helpers/loop-images.js';
import { canMount, REPO, startServer, tempDir } from '../helpers/mount-fixture.js';
import { runOk } from '../helpers/run.js';

const fuse = await canMount('fuse');
const loop = await canLoop();
const reason = !fuse.ok ? fuse.reason : !loop.ok ? loop.reason : '';
const check = reason ? test.skip : test.serial;
const FH = join(REPO, 'test/helpers/fh.py');

const handles = async (mnt: string, paths: string[]) =>
  new Map((await runOk('python3', [FH, 'get', mnt, ...paths], { timeoutMs: 30_000 })).trim().split('\n').map((l) => l.split('\t') as [string, string]));
const opens = async (mnt: string, hs: string[]) => (await runOk('python3', [FH, 'open', mnt, ...hs], { timeoutMs: 60_000 })).trim().split('\n');

check(`file handles on the mount survive a restart, a new device number and swapped disks; deleted or reused give ESTALE${reason ? ` (${reason})` : ''}`, async (t) => {
  const base = await tempDir(t, 'stableid-fh-');
  const src = join(base, 'src');
  const mnt = join(base, 'mnt');
  const other = join(base, 'other');
  await mkdir(src);
  await mkdir(mnt);
  await mkdir(other);
  const imgs = await loopImages(t, src, ['ext4', 'xfs']);
  const files: string[] = [];
  for (const top of ['top', 'ext4', 'xfs']) {
    const d = join(top, 'a/b/c');
    await mkdir(join(src, d), { recursive: true });
    for (const name of ['keep', 'moved', 'gone']) {
      await writeFile(join(src, d, name), `${top} ${name}\n`);
      files.push(join(d, name));
    }
    files.push(d);
  }
  let server = await startServer(t, 'cli', src, mnt);
  const before = await handles(mnt, files);
  for (const [p, h] of before) t.regex(h, /^\d+:[0-9a-f]+$/, `${p}: ${h}`);
  const devBefore = (await stat(mnt)).dev;

  await server.stop();
  // Another mount takes the device number; the images come back at each other's st_dev.
  // (Anonymous device numbers go lowest free first: tmpfs mounts are made until one holds it.)
  let taken = false;
  for (let i = 0; i < 64 && !taken; i++) {
    const dir = join(other, String(i));
    await mkdir(dir);
    await run('mount', ['-t', 'tmpfs', 'stableid-fh-other', dir]);
    t.teardown(() => run('umount', ['-l', dir]).catch(() => undefined));
    taken = (await stat(dir)).dev === devBefore;
  }
  await imgs.reattachReversed();
  for (const top of ['top', 'ext4', 'xfs']) {
    await rename(join(src, top, 'a/b/c/moved'), join(src, top, 'a/moved-here'));
    await rm(join(src, top, 'a/b/c/gone'));
  }
  server = await startServer(t, 'cli', src, mnt);
  t.not((await stat(mnt)).dev, devBefore, 'the mount came back at another device number');
  await run('sync', []);
  await writeFile('/proc/sys/vm/drop_caches', '3');

  const got = await opens(mnt, files.map((p) => before.get(p)!));
  files.forEach((p, i) => {
    const [top] = p.split('/');
    const want = p.endsWith('/c') ? 'DIR' : p.endsWith('gone') ? 'ESTALE' : `${top} ${p.split('/').at(-1)}`;
    if (want === 'ESTALE') t.is(got[i], 'ESTALE', `${p}: deleted`);
    else t.is(got[i]!.split(' ').slice(1).join(' '), want, `${p}: ${got[i]}`);
  });

  // An inode number given to a new file (ext4 reuses freed numbers at once): the old handle is stale.
  const d = join(src, 'ext4', 'reuse');
  await mkdir(d);
  await writeFile(join(d, 'old'), 'old\n');
  const [oldHandle] = [...(await handles(mnt, ['ext4/reuse/old'])).values()];
  const oldIno = (await stat(join(d, 'old'))).ino;
  // Removed through the mount: the kernel forgets the node, so the server lets its inode go.
  await runOk('rm', [join(mnt, 'ext4/reuse/old')]);
  await writeFile('/proc/sys/vm/drop_caches', '3');
  let reused = false;
  for (let i = 0; i < 200 && !reused; i++) {
    await writeFile(join(d, `new${i}`), 'new\n');
    reused = (await stat(join(d, `new${i}`))).ino === oldIno;
  }
  t.true(reused, 'ext4 gave the number to a new file');
  await run('sync', []);
  await writeFile('/proc/sys/vm/drop_caches', '3');
  t.deepEqual(await opens(mnt, [oldHandle!]), ['ESTALE'], 'not the new file');
  await server.stop();
});
