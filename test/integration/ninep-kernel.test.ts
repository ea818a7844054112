// The Linux kernel's own 9P client (Debian's 6.1, in a QEMU TCG guest)
// mounts our server over TCP. The export holds two loop-mounted ext4
// filesystems whose files share inode numbers; the guest must see each
// file's stable id (st_ino = qid.path + 2), the same after a server restart.
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { PassthroughBackend } from '../../lib/backend/passthrough.js';
import { type NinepServer, startNinepServer } from '../../lib/ninep/server.js';
import { FakeMapper } from '../helpers/fake-mapper.js';
import { guestKit } from '../guest/kit.js';
import { canLoop, loopMounts } from '../guest/loop.js';
import { runGuest } from '../guest/vm.js';

const kit = await guestKit();
const loop = await canLoop();
const reason = !kit.ok ? kit.reason : !loop.ok ? loop.reason : '';
const check = reason ? test.skip : test.serial;

// Paths the guest stats, relative to the export root.
const PATHS = ['.', 'top.txt', 'a', 'a/f1', 'a/f2', 'a/lost+found', 'b', 'b/f1', 'b/lost+found'];

function guestScript(src: string, port: number): string {
  const mount = (cache: string) =>
    `mount -t 9p -o trans=tcp,port=${port},version=9p2000.L,aname=${src},msize=1048576,cache=${cache} 10.0.2.2 /mnt`;
  const stats = (phase: string) => PATHS.map((p) => `echo "@@STAT ${phase} ${p} $(stat -c %i /mnt/${p})"`).join('\n');
  return `
${mount('none')} || { echo @@MOUNT-FAILED; dmesg | tail -20; exit 1; }
${stats('1')}
echo "@@LS a $(ls -a /mnt/a | tr '\\n' ' ')"
echo "@@LSI b $(ls -i /mnt/b | tr '\\n' ' ')"
echo "@@LS root $(ls -a /mnt | tr '\\n' ' ')"
echo "@@DOTDOT $(cd /mnt/a/.. && stat -c %i .)"
echo "written from the guest" > /mnt/b/new.txt || echo @@FAIL create
mkdir /mnt/b/newdir || echo @@FAIL mkdir
echo data > /mnt/b/newdir/f || echo @@FAIL create2
mv /mnt/b/new.txt /mnt/b/newdir/renamed.txt || echo @@FAIL rename
rm /mnt/a/gone || echo @@FAIL unlink
rm /mnt/b/newdir/f || echo @@FAIL unlink2
ln -s target /mnt/sym || echo @@FAIL symlink
echo "@@READ $(cat /mnt/b/newdir/renamed.txt)"
sync
umount /mnt || echo @@FAIL umount
echo @@PHASE1
n=0
until ${mount('loose')} 2>/dev/null; do n=$((n+1)); [ $n -gt 120 ] && { echo @@REMOUNT-FAILED; exit 1; }; sleep 0.5; done
${stats('2')}
echo more >> /mnt/top.txt
echo "@@LOOSE $(cat /mnt/top.txt | tr '\\n' ' ') $(stat -c %i /mnt/top.txt)"
umount /mnt
`;
}

check(`kernel 9P client: stable ids across two colliding filesystems and a server restart${reason ? ` (${reason})` : ''}`, async (t) => {
  if (!kit.ok) return;
  const base = await mkdtemp(join(tmpdir(), 'stableid-9p-kernel-'));
  const src = join(base, 'src');
  await mkdir(src);
  const { cleanup } = await loopMounts(src, base, ['a', 'b']);
  let server: NinepServer | undefined;
  t.teardown(async () => {
    await server?.close();
    await cleanup();
    await rm(base, { recursive: true, force: true });
  });
  await writeFile(join(src, 'top.txt'), 'top\n');
  await writeFile(join(src, 'a/f1'), 'a1');
  await writeFile(join(src, 'a/f2'), 'a2');
  await writeFile(join(src, 'a/gone'), 'deleted by the guest');
  await writeFile(join(src, 'b/f1'), 'b1');
  // The premise: equal inode numbers on the two filesystems.
  t.is((await lstat(join(src, 'a/f1'))).ino, (await lstat(join(src, 'b/f1'))).ino, 'the two ext4 images collide');

  // One mapper for the whole test (the persistent table is the mapper's job);
  // the server and backend are built anew on restart, so no id lives in them.
  const mapper = new FakeMapper((await stat(src, { bigint: true })).dev);
  const start = async (port: number) =>
    startNinepServer({ backend: new PassthroughBackend({ root: src, mapper }), listen: `tcp:127.0.0.1:${port}`, exportPath: src, log: (l) => t.log(l) });
  server = await start(0);
  const port = Number(server.addresses[0]!.split(':').at(-1));
  const expected = new Map<string, bigint>();
  const backend = new PassthroughBackend({ root: src, mapper });
  for (const p of PATHS) expected.set(p, (await backend.getattr(p === '.' ? '' : p)).ino);

  const out = await runGuest({
    kit: kit.kit,
    script: guestScript(src, port),
    onLine: async (line) => {
      if (line === '@@PHASE1') {
        await server!.close();
        server = await start(port);
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
  t.not(expected.get('a/f1'), expected.get('b/f1'), 'colliding inodes got two ids');
  t.regex(text, /^@@LS a \. \.\. f1 f2 gone lost\+found $/m);
  t.regex(text, /^@@LS root \. \.\. a b top\.txt $/m);
  const dd = /^@@DOTDOT (\d+)$/m.exec(text);
  t.is(BigInt(dd![1]!) - 2n, expected.get('.')!, 'a/.. is the export root');
  // ls -i in the guest shows the same id.
  t.regex(text, new RegExp(`^@@LSI b .*\\b${expected.get('b/f1')! + 2n} f1\\b`, 'm'));
  t.regex(text, /^@@READ written from the guest$/m);
  t.regex(text, new RegExp(`^@@LOOSE top more +${expected.get('top.txt')! + 2n}$`, 'm'));

  // What the guest did, seen in the source directory.
  t.is(await readFile(join(src, 'b/newdir/renamed.txt'), 'utf8'), 'written from the guest\n');
  await t.throwsAsync(lstat(join(src, 'b/new.txt')), { code: 'ENOENT' });
  await t.throwsAsync(lstat(join(src, 'a/gone')), { code: 'ENOENT' });
  await t.throwsAsync(lstat(join(src, 'b/newdir/f')), { code: 'ENOENT' });
  t.is(await readlink(join(src, 'sym')), 'target');
  t.is(await readFile(join(src, 'top.txt'), 'utf8'), 'top\nmore\n');
});
