// mount(8) starts stableid the way admins mount FUSE filesystems: `mount -t
// fuse.stableid SRC MNT -o ...` runs /sbin/mount.fuse.stableid (this
// checkout's, laid over /sbin in a private mount namespace), which returns
// once the mount answers, with the server detached and logging to a file;
// `umount MNT` ends the server. A start that fails makes mount(8) fail with
// the server's one-line reason.
import test, { type ExecutionContext } from 'ava';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fdTarget, procState, STABLEID, stableidMounts, statusJson, waitGone } from '../helpers/admin-fixture.js';
import { canMount, tempDir } from '../helpers/mount-fixture.js';
import { MountNamespace } from '../helpers/mount-ns.js';
import { run } from '../helpers/run.js';

const gate = await canMount('fuse');
const unshare = await run('unshare', ['--mount', '--propagation', 'private', 'true']).catch(() => undefined);
const why = !gate.ok ? gate.reason : unshare?.code !== 0 ? 'unshare --mount does not work here' : '';
const serial = why ? test.skip : test.serial;
const skipped = why ? ` (skipped: ${why})` : '';

async function tree(t: ExecutionContext): Promise<{ dir: string; src: string; mnt: string; log: string }> {
  const dir = await tempDir(t, 'admin-mount8-');
  const src = join(dir, 'src');
  const mnt = join(dir, 'mnt');
  await mkdir(join(src, 'sub'), { recursive: true });
  await writeFile(join(src, 'a.txt'), 'alpha\n');
  await writeFile(join(src, 'sub', 'b.txt'), 'beta\n');
  await mkdir(mnt);
  return { dir, src, mnt, log: join(dir, 'log', 'stableid.log') };
}

/** st_ino of each path, from a child in the namespace. */
async function inodes(ns: MountNamespace, paths: string[]): Promise<bigint[]> {
  return (await ns.ok('stat', ['-c', '%i', ...paths], { timeoutMs: 10_000 })).trim().split('\n').map(BigInt);
}

/** After umount: the server ended by itself and nothing of ours is mounted in the namespace. */
async function assertEnded(t: ExecutionContext, ns: MountNamespace, pid: number, mnt: string): Promise<void> {
  t.true(await waitGone(pid), `server pid ${pid} ended after umount`);
  t.false(stableidMounts(await ns.mountinfo()).includes(mnt), `${mnt} is no longer mounted`);
}

serial(`mount -t fuse.stableid returns with the mount answering and the server detached; umount ends it${skipped}`, async (t) => {
  const { src, mnt, log } = await tree(t);
  const ns = await MountNamespace.create(t);
  const opts = `allow_other,nofail,_netdev,log=${log}`;
  const r = await ns.run('mount', ['-t', 'fuse.stableid', src, mnt, '-o', opts], { timeoutMs: 30_000 });
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '', 'mount(8) says nothing on success');
  // mount(8) has returned: the mount must already be there and answer, without waiting.
  t.deepEqual(stableidMounts(await ns.mountinfo()), [mnt]);
  t.deepEqual(await inodes(ns, [mnt, join(mnt, 'a.txt'), join(mnt, 'sub/b.txt')]), await inodes(ns, [src, join(src, 'a.txt'), join(src, 'sub/b.txt')]), 'a single-filesystem export shows the source inode numbers');
  t.is(await ns.ok('cat', [join(mnt, 'sub/b.txt')]), 'beta\n');
  const id = (await ns.ok(process.execPath, [STABLEID, 'id', src, 'a.txt'])).trim();
  t.is(BigInt(id), (await inodes(ns, [join(mnt, 'a.txt')]))[0]);

  const status = await statusJson(mnt, ns);
  t.is(status.source, src);
  const pid = status.pid;
  const st = await procState(pid);
  t.truthy(st, 'the server runs after mount(8) returned');
  t.is(st!.session, pid, 'the server leads its own session (detached from the mount(8) caller)');
  t.is(await fdTarget(pid, 0), '/dev/null');
  t.is(await fdTarget(pid, 2), log, 'stderr goes to the log file');
  t.is(status.log, log);
  const fuse = status.frontends.find((f) => f.kind === 'fuse');
  t.deepEqual(fuse && fuse.kind === 'fuse' && fuse.options, ['rw', 'allow_other'], 'nofail, _netdev and log= are not mount options');

  const u = await ns.run('umount', [mnt], { timeoutMs: 20_000 });
  t.is(u.code, 0, u.stderr);
  await assertEnded(t, ns, pid, mnt);
  const text = await readFile(log, 'utf8');
  t.regex(text, new RegExp(`^\\S+Z stableid\\[${pid}\\] ${mnt} info: serving ${src} at ${mnt}`, 'm'), 'one timestamped line per event, with its level');
  t.regex(text, new RegExp(`stableid\\[${pid}\\] ${mnt} info: stopped$`, 'm'));
});

serial(`fstab lines: mount MNT, and mount -a -O _netdev, with fstab-only options accepted and ignored${skipped}`, async (t) => {
  const { dir, src, mnt, log } = await tree(t);
  const mnt2 = join(dir, 'mnt2');
  await mkdir(mnt2);
  const fstab = join(dir, 'fstab');
  await writeFile(
    fstab,
    `# a test fstab (mount --fstab)\n` +
      `${src} ${mnt} fuse.stableid noauto,allow_other,log=${log},state_dir=${join(dir, 'state')},x-systemd.requires=network-online.target 0 0\n` +
      `${src}/sub ${mnt2} fuse.stableid defaults,_netdev,nofail,users,x-systemd.automount,x-mount.mkdir,comment=test,log=${log} 0 0\n`,
  );
  const ns = await MountNamespace.create(t);
  const one = await ns.run('mount', ['--fstab', fstab, mnt], { timeoutMs: 30_000 });
  t.is(one.code, 0, one.stderr);
  const all = await ns.run('mount', ['--fstab', fstab, '-a', '-O', '_netdev'], { timeoutMs: 30_000 });
  t.is(all.code, 0, all.stderr);
  t.deepEqual(stableidMounts(await ns.mountinfo()).sort(), [mnt, mnt2].sort(), '-a -O _netdev mounted the _netdev line; the noauto line came from mount MNT');
  t.deepEqual(await inodes(ns, [join(mnt, 'a.txt'), join(mnt2, 'b.txt')]), await inodes(ns, [join(src, 'a.txt'), join(src, 'sub/b.txt')]));
  const [s1, s2] = [await statusJson(mnt, ns), await statusJson(mnt2, ns)];
  t.not(s1.pid, s2.pid, 'one server per line');
  t.is(s2.source, join(src, 'sub'));
  // `users` makes mount(8) add noexec,nosuid,nodev; the rest of that line is fstab's and systemd's.
  const f2 = s2.frontends[0]!;
  t.deepEqual(f2.kind === 'fuse' && f2.options, ['rw', 'noexec', 'nosuid', 'nodev']);
  for (const [m, pid] of [[mnt, s1.pid], [mnt2, s2.pid]] as const) {
    const u = await ns.run('umount', [m], { timeoutMs: 20_000 });
    t.is(u.code, 0, u.stderr);
    await assertEnded(t, ns, pid, m);
  }
});

serial(`a start that fails makes mount(8) exit 32 with the server's one-line reason, and leaves nothing behind${skipped}`, async (t) => {
  const { dir, src, mnt, log } = await tree(t);
  const ns = await MountNamespace.create(t);
  const missing = join(dir, 'no-such-src');
  const bad = await ns.run('mount', ['-t', 'fuse.stableid', missing, mnt, '-o', `log=${log}`], { timeoutMs: 30_000 });
  t.is(bad.code, 32, 'mount(8) exit status: mount failure');
  t.is(bad.stderr.trim(), `stableid: source ${missing} does not exist`);

  await writeFile(join(mnt, 'stray'), '');
  const busy = await ns.run('mount', ['-t', 'fuse.stableid', src, mnt, '-o', `log=${log}`], { timeoutMs: 30_000 });
  t.is(busy.code, 32);
  t.regex(busy.stderr, /^stableid: mountpoint \S+ is not empty: use an empty directory, or -o nonempty/);

  const badOpt = await ns.run('mount', ['-t', 'fuse.stableid', src, join(dir, 'sub-mnt'), '-o', `threads=lots,log=${log}`], { timeoutMs: 30_000 });
  t.is(badOpt.code, 32);
  t.regex(badOpt.stderr, /^stableid: -o threads= needs a count from 1 to 64, got "lots"$/m);
  t.deepEqual(stableidMounts(await ns.mountinfo()), []);
  t.regex(await readFile(log, 'utf8'), /does not exist/, 'the reason is in the log too');
  const left = await run('pgrep', ['-f', `stableid-mount ${src}`]);
  t.is(left.stdout, '', 'no server left running');
});

serial(`a second mount of a served SRC is refused by mount(8), naming the pid that serves it${skipped}`, async (t) => {
  const { dir, src, mnt, log } = await tree(t);
  const other = join(dir, 'other');
  await mkdir(other);
  const ns = await MountNamespace.create(t);
  t.is((await ns.run('mount', ['-t', 'fuse.stableid', src, mnt, '-o', `log=${log}`], { timeoutMs: 30_000 })).code, 0);
  const { pid } = await statusJson(mnt, ns);
  const again = await ns.run('mount', ['-t', 'fuse.stableid', src, other, '-o', `log=${log}`], { timeoutMs: 30_000 });
  t.is(again.code, 32);
  t.is(again.stderr.trim(), `stableid: ${src} is already served by another stableid (pid ${pid}); stop it first, only one process may write an export's table (for a second view of the same files, bind-mount the first one's mountpoint: mount --bind MOUNTPOINT DIR; findmnt -t fuse.stableid lists it)`);
  t.deepEqual(stableidMounts(await ns.mountinfo()), [mnt]);
  t.is((await ns.run('umount', [mnt])).code, 0);
  await assertEnded(t, ns, pid, mnt);
});

serial(`without mount.fuse.stableid, fuse3's mount.fuse3 runs \`stableid SRC MNT -o ...\` and that works too${skipped}`, async (t) => {
  const { src, mnt, log } = await tree(t);
  const ns = await MountNamespace.create(t, { helper: false });
  const r = await ns.run('mount', ['-t', 'fuse.stableid', src, mnt, '-o', `allow_other,_netdev,log=${log}`], { timeoutMs: 30_000 });
  t.is(r.code, 0, r.stderr);
  t.deepEqual(stableidMounts(await ns.mountinfo()), [mnt]);
  t.deepEqual(await inodes(ns, [join(mnt, 'a.txt')]), await inodes(ns, [join(src, 'a.txt')]));
  const { pid } = await statusJson(src, ns);
  t.is((await ns.run('umount', [mnt])).code, 0);
  await assertEnded(t, ns, pid, mnt);
});
