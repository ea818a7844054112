// NFS on top, with a real server and a real client: Ganesha (FSAL VFS) on
// loopback exports SRC itself and a bindfs mount of SRC; the Linux NFSv4.2
// client in the QEMU guest sits in a directory and holds files open on SRC's
// own filesystem and on ext4 and xfs images mounted inside it, on both
// exports. Ganesha stops, bindfs is remounted, the files change, caches are
// dropped, Ganesha starts. The raw export keeps every handle (cwd, open
// files); bindfs loses every one (ESTALE): the peer, showing the test bites.
// The same scenario pointed at a stableid mount: test/pending/nfs-stableid.test.ts.
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { guestKit } from '../guest/kit.js';
import { run as exec } from '../helpers/exec.js';
import { canGanesha, ganesha } from '../helpers/ganesha.js';
import { canLoop, loopImages, run } from '../helpers/loop-images.js';
import { NFS_DIRS, type NfsFs, nfsRestart } from '../helpers/nfs-restart.js';

const kit = await guestKit('nfs');
const loop = await canLoop();
const g = await canGanesha();
const bindfs = (await exec('bindfs', ['--version'])).code === 0;
const reason = !kit.ok ? kit.reason : !loop.ok ? loop.reason : !g.ok ? g.reason : !bindfs ? 'no bindfs (apt-get install bindfs)' : '';
const check = reason ? test.skip : test.serial;

check(`NFSv4 client across a Ganesha restart: raw SRC keeps cwd and open files on three filesystems, bindfs gives ESTALE${reason ? ` (${reason})` : ''}`, async (t) => {
  if (!kit.ok) return;
  const base = await mkdtemp(join(tmpdir(), 'stableid-nfs-'));
  const src = join(base, 'src');
  const bindMnt = join(base, 'bindfs');
  await mkdir(src);
  await mkdir(bindMnt);
  t.teardown(() => rm(base, { recursive: true, force: true }));
  await loopImages(t, src, ['ext4', 'xfs']);
  for (const [fs, dir] of Object.entries(NFS_DIRS)) {
    await mkdir(join(src, dir), { recursive: true });
    await writeFile(join(src, dir, 'f.txt'), `content of ${fs}\n`);
  }
  const mountBindfs = () => run('bindfs', [src, bindMnt], 30_000);
  await mountBindfs();
  t.teardown(() => run('umount', ['-l', bindMnt]).then(() => undefined, () => undefined));

  const server = await ganesha(t, {
    exports: [
      { id: 1, path: src, pseudo: '/raw' },
      { id: 2, path: bindMnt, pseudo: '/bindfs' },
    ],
  });
  const devs: number[] = [];
  const out = await nfsRestart({
    kit: kit.kit,
    port: server.port,
    exports: ['raw', 'bindfs'],
    stopServer: server.stop,
    startServer: server.start,
    whileDown: async () => {
      devs.push((await stat(bindMnt)).dev);
      await run('fusermount3', ['-u', bindMnt]);
      await mountBindfs();
      devs.push((await stat(bindMnt)).dev);
      for (const dir of Object.values(NFS_DIRS)) await appendFile(join(src, dir, 'f.txt'), 'changed while down\n');
      await writeFile(join(src, 'fresh.txt'), 'made while down\n');
      await run('sync', []);
      await writeFile('/proc/sys/vm/drop_caches', '3');
    },
  });
  t.log(`server down for ${out.downMs} ms (stop, remount, drop caches, start); bindfs st_dev ${devs.join(' -> ')}`);
  const text = `${out.text}\n--- ganesha log ---\n${(await server.log()).split('\n').slice(-40).join('\n')}`;
  t.is(out.exit, 0, text);
  t.false(/@@(MOUNT-FAILED|HOLD-FAILED|INSMOD-FAILED)/.test(out.text), text);

  for (const fs of Object.keys(NFS_DIRS) as NfsFs[]) {
    const raw = out.results.raw?.[fs] ?? {};
    const what = (k: string) => `raw ${fs} ${k}: ${JSON.stringify(raw)}\n${text}`;
    t.truthy(raw.held, what('held'));
    t.is(raw.cwd, 'f.txt w-raw.txt w-bindfs.txt'.split(' ').sort().join(' '), what('ls in the cwd'));
    t.regex(raw.openRead ?? '', new RegExp(`^content of ${fs}`), what('read through the fd opened before'));
    t.is(raw.relative, `content of ${fs} changed while down`, what('a name relative to the cwd'));
    t.is(raw.after, raw.held, what('the cwd is the same directory'));
    t.is(raw.fresh, 'made while down', what('a new name at the root'));
    t.is(await readFile(join(src, NFS_DIRS[fs], 'w-raw.txt'), 'utf8'), 'written before\nwritten after\n', what('appends through the fd opened before'));

    const b = out.results.bindfs?.[fs] ?? {};
    const bwhat = (k: string) => `bindfs ${fs} ${k}: ${JSON.stringify(b)}\n${text}`;
    t.truthy(b.held, bwhat('held'));
    t.regex(b.cwd ?? '', /Stale file handle/, bwhat('ls in the cwd'));
    t.regex(b.relative ?? '', /Stale file handle/, bwhat('a name relative to the cwd'));
    t.notRegex(b.openRead ?? '', /changed while down/, bwhat('the fd opened before is dead'));
    // Ganesha 4.3 builds its handles from the FUSE mount's st_dev (FUSE reports f_fsid 0): when the
    // remount got another number, even the export's root handle is stale (docs/nfs.md).
    if (devs[0] === devs[1]) t.is(b.fresh, 'made while down', bwhat('a new name at the root'));
    t.is(await readFile(join(src, NFS_DIRS[fs], 'w-bindfs.txt'), 'utf8'), 'written before\n', bwhat('the append after the restart is lost'));
  }
});
