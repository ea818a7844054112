// The Linux kernel's own 9P client (Debian's 6.1, in a QEMU TCG guest)
// mounts our server over TCP. The export holds loop-mounted ext4 and xfs
// filesystems with a file of the same inode number on each; the guest must
// see each file's stable id (st_ino = qid.path + 2), and the same after the
// server, its mapper and the loop devices (st_dev numbers swapped) restart.
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { PassthroughBackend } from '../../lib/backend/passthrough.js';
import { attrAt } from '../helpers/backend-path.js';
import { type NinepServer, startNinepServer } from '../../lib/ninep/server.js';
import { guestKit } from '../guest/kit.js';
import { canLoop, loopImages } from '../helpers/loop-images.js';
import { openMapper } from '../../lib/mapper/open.js';
import type { IdMapper } from '../../lib/mapper/mapper.js';
import { runGuest } from '../guest/vm.js';

const kit = await guestKit();
const loop = await canLoop();
const reason = !kit.ok ? kit.reason : !loop.ok ? loop.reason : '';
const check = reason ? test.skip : test.serial;

// Paths the guest stats, relative to the export root.
const PATHS = ['.', 'top.txt', 'ext4', 'ext4/same-ino.txt', 'ext4/f2', 'ext4/lost+found', 'xfs', 'xfs/same-ino.txt'];

function guestScript(src: string, port: number): string {
  const mount = (cache: string) =>
    `mount -t 9p -o trans=tcp,port=${port},version=9p2000.L,aname=${src},msize=1048576,cache=${cache} 10.0.2.2 /mnt`;
  const stats = (phase: string) => PATHS.map((p) => `echo "@@STAT ${phase} ${p} $(stat -c %i /mnt/${p})"`).join('\n');
  return `
${mount('none')} || { echo @@MOUNT-FAILED; dmesg | tail -20; exit 1; }
${stats('1')}
echo "@@LS ext4 $(ls -a /mnt/ext4 | tr '\\n' ' ')"
echo "@@LSI xfs $(ls -i /mnt/xfs | tr '\\n' ' ')"
echo "@@LS root $(ls -a /mnt | tr '\\n' ' ')"
echo "@@DOTDOT $(cd /mnt/xfs/.. && stat -c %i .)"
echo "written from the guest" > /mnt/xfs/new.txt || echo @@FAIL create
mkdir /mnt/xfs/newdir || echo @@FAIL mkdir
echo data > /mnt/xfs/newdir/f || echo @@FAIL create2
mv /mnt/xfs/new.txt /mnt/xfs/newdir/renamed.txt || echo @@FAIL rename
rm /mnt/ext4/gone || echo @@FAIL unlink
rm /mnt/xfs/newdir/f || echo @@FAIL unlink2
ln -s target /mnt/sym || echo @@FAIL symlink
chmod 600 /mnt/xfs/newdir/renamed.txt || echo @@FAIL chmod
touch -d '2001-09-09 01:46:40' /mnt/top.txt || echo @@FAIL touch
cp /mnt/ext4/gone2 /mnt/xfs/copied || echo @@FAIL copy
mv /mnt/ext4/gone2 /mnt/xfs/moved-across || echo @@FAIL mv-across-filesystems
echo "@@READ $(cat /mnt/xfs/newdir/renamed.txt)"
sync
umount /mnt || echo @@FAIL umount
echo @@PHASE1
n=0
until ${mount('loose')} 2>/dev/null; do n=$((n+1)); [ $n -gt 120 ] && { echo @@REMOUNT-FAILED; exit 1; }; sleep 0.5; done
${stats('2')}
echo "@@MTIME $(stat -c %Y /mnt/top.txt)"
echo more >> /mnt/top.txt
echo "@@LOOSE $(cat /mnt/top.txt | tr '\\n' ' ') $(stat -c %i /mnt/top.txt)"
umount /mnt
`;
}

check(`kernel 9P client: stable ids across two colliding filesystems and a server restart${reason ? ` (${reason})` : ''}`, async (t) => {
  if (!kit.ok) return;
  const base = await mkdtemp(join(tmpdir(), 'stableid-9p-kernel-'));
  const src = join(base, 'src');
  const stateDir = join(base, 'state');
  await mkdir(src);
  // AVA runs teardowns last-registered first: stop serving, then unmount, then delete.
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const imgs = await loopImages(t, src, ['ext4', 'xfs']);
  let server: NinepServer | undefined;
  let mapper: IdMapper | undefined;
  let served: PassthroughBackend | undefined;
  t.teardown(async () => {
    await server?.close();
    served?.close();
    await mapper?.close();
  });
  await writeFile(join(src, 'top.txt'), 'top\n');
  await writeFile(join(src, 'ext4/f2'), 'a2');
  await writeFile(join(src, 'ext4/gone'), 'deleted by the guest');
  await writeFile(join(src, 'ext4/gone2'), 'moved to the other filesystem');
  // The premise: equal inode numbers on the two filesystems.
  t.is((await lstat(imgs.collidingFiles.ext4, { bigint: true })).ino, (await lstat(imgs.collidingFiles.xfs, { bigint: true })).ino);

  // Everything restarts between the two phases: server, backend, mapper
  // (re-read from its persisted table) and the loop devices, re-attached in
  // the other order so their st_dev numbers swap.
  const start = async (port: number) => {
    mapper = await openMapper({ root: src, stateDir, log: (l) => t.log(l) });
    const backend = (served = await PassthroughBackend.open({ root: src, mapper }));
    server = await startNinepServer({ backend, listen: `tcp:127.0.0.1:${port}`, exportPath: src, log: (l) => t.log(l) });
    return backend;
  };
  const backend = await start(0);
  const port = Number(server!.addresses[0]!.split(':').at(-1));
  const expected = new Map<string, bigint>();
  for (const p of PATHS) expected.set(p, (await attrAt(backend, p === '.' ? '' : p)).ino);
  const devsBefore = { ...imgs.devices };

  const out = await runGuest({
    kit: kit.kit,
    script: guestScript(src, port),
    onLine: async (line) => {
      if (line === '@@PHASE1') {
        await server!.close();
        served!.close(); // its descriptors pin the images' filesystems
        await mapper!.close();
        await imgs.reattachReversed();
        await start(port);
      }
    },
  });
  const text = out.lines.join('\n');
  t.is(out.exit, 0, text);
  t.false(/@@FAIL|@@INSMOD-FAILED/.test(text), text);

  for (const phase of ['1', '2']) {
    for (const p of PATHS) {
      const m = new RegExp(`^@@STAT ${phase} ${p.replace(/[+.]/g, '\\$&')} (\\d+)$`, 'm').exec(text);
      t.truthy(m, `phase ${phase}: no stat of ${p}\n${text}`);
      if (m) t.is(BigInt(m[1]!) - 2n, expected.get(p)!, `phase ${phase}: guest st_ino - 2 of ${p}`);
    }
  }
  t.not(expected.get('ext4/same-ino.txt'), expected.get('xfs/same-ino.txt'), 'colliding inodes got two ids');
  t.deepEqual([imgs.devices.ext4, imgs.devices.xfs], [devsBefore.xfs, devsBefore.ext4], 'the loop devices were swapped between phases');
  t.regex(text, /^@@LS ext4 \. \.\. f2 gone gone2 lost\+found same-ino\.txt $/m);
  t.regex(text, /^@@LS root \. \.\. ext4 top\.txt xfs $/m);
  const dd = /^@@DOTDOT (\d+)$/m.exec(text);
  t.is(BigInt(dd![1]!) - 2n, expected.get('.')!, 'xfs/.. is the export root');
  // ls -i in the guest shows the same id.
  t.regex(text, new RegExp(`^@@LSI xfs .*\\b${expected.get('xfs/same-ino.txt')! + 2n} same-ino\\.txt\\b`, 'm'));
  t.regex(text, /^@@READ written from the guest$/m);
  t.regex(text, /^@@MTIME 1000000000$/m, 'touch -d set the time, seen after the restart');
  t.regex(text, new RegExp(`^@@LOOSE top more +${expected.get('top.txt')! + 2n}$`, 'm'));

  // What the guest did, seen in the source directory.
  t.is(await readFile(join(src, 'xfs/newdir/renamed.txt'), 'utf8'), 'written from the guest\n');
  await t.throwsAsync(lstat(join(src, 'xfs/new.txt')), { code: 'ENOENT' });
  await t.throwsAsync(lstat(join(src, 'ext4/gone')), { code: 'ENOENT' });
  await t.throwsAsync(lstat(join(src, 'xfs/newdir/f')), { code: 'ENOENT' });
  t.is(await readlink(join(src, 'sym')), 'target');
  t.is(await readFile(join(src, 'top.txt'), 'utf8'), 'top\nmore\n');
  t.is((await lstat(join(src, 'xfs/newdir/renamed.txt'))).mode & 0o777, 0o600);
  t.is(await readFile(join(src, 'xfs/copied'), 'utf8'), 'moved to the other filesystem');
  t.is(await readFile(join(src, 'xfs/moved-across'), 'utf8'), 'moved to the other filesystem');
  await t.throwsAsync(lstat(join(src, 'ext4/gone2')), { code: 'ENOENT' });
});
