// The mount as an attacker on the host sees it: the server mounts as root,
// so MNT's path and SRC's mount flags must not let a user place the mount
// elsewhere (over /etc), unmount a host mount, or re-enable setuid files and
// device nodes that SRC's own mount keeps inert. Each case runs real mounts
// and reads /proc/self/mountinfo for what actually happened.
import { chmod, chown, mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { mountAt } from '../../lib/fuse/mountinfo.js';
import { readMountinfo } from '../../lib/mountinfo.js';
import { canMount, forceUnmount, REPO, startServer, tempDir, waitMounted } from '../helpers/mount-fixture.js';
import { run, runOk, Started } from '../helpers/run.js';
import { createUser, deleteUser } from '../helpers/unix-user.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;

const BIN = join(REPO, 'bin/stableid-mount');

/** stableid-mount expected to refuse: its exit code and its one line. */
async function refused(t: ExecutionContext, args: string[]): Promise<string> {
  t.teardown(() => forceUnmount(args.at(-1)!)); // if it mounted after all
  const r = await run(process.execPath, [BIN, ...args], { timeoutMs: 20_000 });
  t.is(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, r.stderr);
  return lines[0]!;
}

/** Every mount at or below dir (from mountinfo: never touching a mount). */
async function mountsUnder(dir: string): Promise<string[]> {
  return (await readMountinfo()).map((m) => m.mountPoint).filter((p) => p === dir || p.startsWith(`${dir}/`));
}

/** A tmpfs of our own at dir, unmounted in teardown. */
async function tmpfs(t: ExecutionContext, dir: string, opts: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await runOk('mount', ['-t', 'tmpfs', '-o', opts, 'stableid-test', dir], { timeoutMs: 10_000 });
  t.teardown(() => run('umount', ['-l', dir], { timeoutMs: 10_000 }).then(() => undefined));
}

// The addon called directly, as if the path had changed after the CLI's checks.
const NATIVE_MOUNT = `
const { native } = await import(process.argv[1]);
try {
  native().mount(process.argv[2], { fsname: 'x', fstype: 'fuse.stableid', flags: 6, data: '', fusermountOpts: '' }, { threads: 1 }, () => {});
  console.log('MOUNTED');
  process.exit(0);
} catch (err) {
  console.log(err.message);
}`;

async function nativeMount(path: string): Promise<string> {
  const r = await run(process.execPath, ['--input-type=module', '-e', NATIVE_MOUNT, join(REPO, 'dist/lib/fuse/native.js'), path], { timeoutMs: 20_000 });
  return r.stdout.trim() + r.stderr.trim();
}

serial(`MNT that is a symbolic link is refused and nothing is mounted at its target${why}`, async (t) => {
  const dir = await tempDir(t, 'mountsafe-');
  await mkdir(join(dir, 'src'));
  await mkdir(join(dir, 'target'));
  await symlink(join(dir, 'target'), join(dir, 'link'));
  const line = await refused(t, [join(dir, 'src'), join(dir, 'link')]);
  t.regex(line, /mountpoint .*\/link is a symbolic link: give the directory itself as MNT \(.*\/target\)/);
  t.deepEqual(await mountsUnder(dir), []);
});

serial(`a link in a directory other users may write is refused before the mount${why}`, async (t) => {
  const dir = await tempDir(t, 'mountsafe-');
  await mkdir(join(dir, 'src'));
  await mkdir(join(dir, 'elsewhere', 'm'), { recursive: true });
  // /tmp-like: a user could have made (or swap in) this link pointing anywhere.
  await mkdir(join(dir, 'shared'));
  await chmod(join(dir, 'shared'), 0o1777);
  await symlink(join(dir, 'elsewhere'), join(dir, 'shared', 'l'));
  const line = await refused(t, [join(dir, 'src'), join(dir, 'shared', 'l', 'm')]);
  t.regex(line, /shared\/l is a symbolic link in .*\/shared, which others may write \(mode 1777\).*realpath/);
  t.deepEqual(await mountsUnder(dir), []);
});

serial(`a link only root can change is followed: mountinfo, status and fusermount3 -u use the real path${why}`, async (t) => {
  const dir = await tempDir(t, 'mountsafe-');
  await mkdir(join(dir, 'src'));
  await mkdir(join(dir, 'real', 'm'), { recursive: true });
  await symlink('real', join(dir, 'lk')); // in dir: root's, mode 0700
  const real = join(dir, 'real', 'm');
  const proc = new Started(process.execPath, [BIN, join(dir, 'src'), join(dir, 'lk', 'm')]);
  t.teardown(async () => {
    proc.child.kill('SIGKILL');
    await forceUnmount(real);
  });
  await waitMounted(proc, real);
  await proc.waitFor(new RegExp(`serving .* at ${real} `)); // answered: its start-up stat no longer holds the mount
  t.deepEqual(await mountsUnder(dir), [real], 'the kernel recorded the real path, and only that');
  const status = await run(process.execPath, [join(REPO, 'bin/stableid'), 'status', real], { timeoutMs: 20_000 });
  t.is(status.code, 0, status.stderr);
  t.regex(status.stdout, new RegExp(`fuse +${real}:`));
  await runOk('fusermount3', ['-u', real], { timeoutMs: 10_000 });
  t.deepEqual(await proc.exit(10_000), { code: 0, signal: null });
  t.deepEqual(await mountsUnder(dir), []);
});

serial(`the addon mounts only on the directory it checked: a link swapped in after the CLI resolved MNT is refused${why}`, async (t) => {
  const dir = await tempDir(t, 'mountsafe-');
  await mkdir(join(dir, 'victim', 'm'), { recursive: true });
  await symlink(join(dir, 'victim'), join(dir, 'swapped'));
  await symlink(join(dir, 'victim', 'm'), join(dir, 'final'));
  t.teardown(() => forceUnmount(join(dir, 'victim', 'm')));
  t.regex(await nativeMount(join(dir, 'swapped', 'm')), /swapped, on the path to .*\/swapped\/m, is a symbolic link now: .*nothing was mounted/);
  t.regex(await nativeMount(join(dir, 'final')), /final is a symbolic link: nothing was mounted/);
  t.deepEqual(await mountsUnder(dir), [], 'nothing landed on the link targets');
  // The same call on the real path mounts (the refusals above are the links', not the call's).
  t.is(await nativeMount(join(dir, 'victim', 'm')), 'MOUNTED');
  t.deepEqual(await mountsUnder(dir), [join(dir, 'victim', 'm')]);
});

serial(`stopping does not unmount a host mount when a directory on MNT's path was swapped for a link${why}`, async (t) => {
  const dir = await tempDir(t, 'mountsafe-');
  await mkdir(join(dir, 'src'));
  await mkdir(join(dir, 'a', 'm'), { recursive: true });
  const decoy = join(dir, 'host', 'm');
  await tmpfs(t, decoy, 'mode=0755');
  const server = await startServer(t, 'cli', join(dir, 'src'), join(dir, 'a', 'm'));
  t.teardown(() => forceUnmount(join(dir, 'moved', 'm')));
  // Swapped once the server serves (a rename during start-up: the test below).
  await server.proc.waitFor(/serving /);
  // The user who owns a/ moves it away and leaves a link to the host's directory in its place.
  await rename(join(dir, 'a'), join(dir, 'moved'));
  await symlink(join(dir, 'host'), join(dir, 'a'));
  t.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null }, `the server still ends (its connection is aborted): ${server.proc.stderr}`);
  t.is((await mountAt(decoy))?.fstype, 'tmpfs', 'the host mount the link points at is still there');
});

serial(`the server knows its FUSE connection from the mount itself, even when a directory above MNT is renamed at once${why}`, async (t) => {
  const dir = await tempDir(t, 'mountsafe-');
  await mkdir(join(dir, 'a', 'm'), { recursive: true });
  t.teardown(() => forceUnmount(join(dir, 'moved', 'm')));
  // Renamed before the mount's path could be looked up: the window FuseMount.start used to read mountinfo in.
  const script = `
const { native } = await import(process.argv[1]);
const { renameSync } = await import('node:fs');
const nat = native();
const s = nat.mount(process.argv[2] + '/a/m', { fsname: 'x', fstype: 'fuse.stableid', flags: 6, data: '', fusermountOpts: '' }, { threads: 1 }, () => {});
renameSync(process.argv[2] + '/a', process.argv[2] + '/moved');
console.log(JSON.stringify({ connection: nat.info(s).connection }));
process.exit(0);`;
  const r = await run(process.execPath, ['--input-type=module', '-e', script, join(REPO, 'dist/lib/fuse/native.js'), dir], { timeoutMs: 20_000 });
  t.is(r.code, 0, r.stderr);
  const { connection } = JSON.parse(r.stdout) as { connection: number };
  const mounted = await mountAt(join(dir, 'moved', 'm'));
  t.is(mounted?.fstype, 'fuse.stableid');
  t.true(connection > 0 && connection === mounted?.dev, `the addon's connection ${connection} is the mount's device 0:${mounted?.dev}`);
  t.regex(mounted?.mountOptions ?? '', /(^|,)nosuid,nodev(,|$)/, 'mounted with its flags');
});

serial(`SIGTERM at any moment of the start-up ends the server (exit 0 once it has started) and leaves no mount${why}`, async (t) => {
  const dir = await tempDir(t, 'mountsafe-');
  await mkdir(join(dir, 'src'));
  await mkdir(join(dir, 'm'));
  t.teardown(() => forceUnmount(join(dir, 'm')));
  // Delays from before the mount to after "serving": each phase of the start-up gets its signal.
  for (const delay of [0, 50, 100, 150, 200, 300, 400, 600, 800, 1200]) {
    const proc = new Started(process.execPath, [BIN, join(dir, 'src'), join(dir, 'm')]);
    await new Promise((resolve) => setTimeout(resolve, delay));
    proc.child.kill('SIGTERM');
    const exit = await proc.exit(15_000);
    if (exit === undefined) proc.child.kill('SIGKILL');
    // Before node has set its handler up the signal's default action ends it (nothing is mounted yet).
    const ended = exit?.code === 0 || (exit?.signal === 'SIGTERM' && !proc.stderr.includes('info:'));
    t.true(ended, `SIGTERM after ${delay} ms: ${JSON.stringify(exit)} ${proc.stderr}`);
    t.deepEqual(await mountsUnder(dir), [], `nothing left mounted after ${delay} ms`);
  }
});

serial(`a stale mount is cleaned up through the addon, which follows no link swapped into MNT's path${why}`, async (t) => {
  const dir = await tempDir(t, 'mountsafe-');
  const decoy = join(dir, 'host', 'm');
  await tmpfs(t, decoy, 'mode=0755');
  await mkdir(join(dir, 'a'));
  await symlink(join(dir, 'host'), join(dir, 'swapped'));
  const unmount = (p: string) => run(process.execPath, ['--input-type=module', '-e', `const { lazyUnmount } = await import(process.argv[1]); await lazyUnmount(process.argv[2]).then(() => console.log('UNMOUNTED'), (e) => console.log(e.message));`, join(REPO, 'dist/lib/fuse/preflight.js'), p], { timeoutMs: 20_000 });
  const r = await unmount(join(dir, 'swapped', 'm'));
  t.regex(r.stdout, /cannot unmount the stale mount there \(E[A-Z]+\)/, r.stdout + r.stderr);
  t.is((await mountAt(decoy))?.fstype, 'tmpfs', 'the host mount the link points at is still there');
  // Reached without links, the same call unmounts.
  t.is((await unmount(decoy)).stdout.trim(), 'UNMOUNTED');
  t.is(await mountAt(decoy), undefined);
});

/** SRC as a tmpfs of our own mounted with opts, and an empty MNT beside, in a directory other users may enter. */
async function tmpfsAsSource(t: ExecutionContext, opts: string): Promise<{ src: string; mnt: string }> {
  const dir = await tempDir(t, 'mountsafe-');
  await chmod(dir, 0o755);
  const src = join(dir, 'src');
  const mnt = join(dir, 'mnt');
  await tmpfs(t, src, opts);
  await mkdir(mnt);
  return { src, mnt };
}

/** SRC as a directory of a tmpfs of our own mounted with opts, and an empty MNT beside. */
async function sourceOnTmpfs(t: ExecutionContext, opts: string): Promise<{ fs: string; src: string; mnt: string }> {
  const dir = await tempDir(t, 'mountsafe-');
  const fs = join(dir, 'fs');
  await tmpfs(t, fs, opts);
  const src = join(fs, 'src');
  const mnt = join(dir, 'mnt');
  await mkdir(src);
  await mkdir(mnt);
  return { fs, src, mnt };
}

serial(`-o suid and -o dev are refused when SRC's mount is nosuid/nodev; without them the mount is nosuid,nodev${why}`, async (t) => {
  const { fs, src, mnt } = await sourceOnTmpfs(t, 'nosuid,nodev,mode=0755');
  let line = await refused(t, ['-o', 'suid', src, mnt]);
  t.regex(line, new RegExp(`^stableid: -o suid: source ${src} is on ${fs}, mounted nosuid \\(tmpfs .*\\).*drop -o suid`));
  line = await refused(t, ['-o', 'allow_other,dev', src, mnt]);
  t.regex(line, new RegExp(`-o dev: source ${src} is on ${fs}, mounted nodev`));
  t.deepEqual(await mountsUnder(mnt), []);
  const server = await startServer(t, 'cli', src, mnt, ['nosuid,suid,nosuid']);
  const opts = (await mountAt(mnt))!.mountOptions.split(',');
  t.true(opts.includes('nosuid') && opts.includes('nodev'), opts.join(','));
  await server.stop();
});

serial(`-o dev is refused when a mount inside SRC is nodev; on a suid,dev filesystem both are allowed${why}`, async (t) => {
  const { src, mnt } = await tmpfsAsSource(t, 'suid,dev,mode=0755');
  const inner = join(src, 'usb');
  await tmpfs(t, inner, 'nodev,mode=0755');
  const line = await refused(t, ['-o', 'dev', src, mnt]);
  t.regex(line, new RegExp(`-o dev: ${inner}, inside source ${src}, is mounted nodev`));
  await run('umount', [inner], { timeoutMs: 10_000 });
  const server = await startServer(t, 'cli', src, mnt, ['suid,dev']);
  const opts = (await mountAt(mnt))!.mountOptions.split(',');
  t.false(opts.includes('nosuid') || opts.includes('nodev'), opts.join(','));
  await server.stop();
});

/** A script in dir that prints "ran" when executed. */
async function script(dir: string): Promise<void> {
  await writeFile(join(dir, 'x.sh'), '#!/bin/sh\necho ran\n', { mode: 0o755 });
}

serial(`SRC on a noexec mount makes the mount noexec (its programs do not run through MNT) and -o exec is refused${why}`, async (t) => {
  const { fs, src, mnt } = await sourceOnTmpfs(t, 'noexec,mode=0755');
  await script(src);
  const line = await refused(t, ['-o', 'exec', src, mnt]);
  t.regex(line, new RegExp(`^stableid: -o exec: source ${src} is on ${fs}, mounted noexec \\(tmpfs .*\\).*drop -o exec`));
  t.deepEqual(await mountsUnder(mnt), []);
  const server = await startServer(t, 'cli', src, mnt);
  await server.proc.waitFor(new RegExp(`mounted noexec: source ${src} is on ${fs}, mounted noexec`));
  t.true((await mountAt(mnt))!.mountOptions.split(',').includes('noexec'));
  const ran = await run('sh', ['-c', 'exec "$0"', join(mnt, 'x.sh')], { timeoutMs: 10_000 });
  t.is(ran.stdout, '');
  t.is(ran.code, 126, 'exec of a file of a noexec SRC through MNT');
  t.regex(ran.stderr, /Permission denied/);
  await server.stop();
});

serial(`a noexec mount inside SRC makes the whole mount noexec; SRC without one stays exec${why}`, async (t) => {
  const { src, mnt } = await tmpfsAsSource(t, 'exec,mode=0755');
  await script(src);
  let server = await startServer(t, 'cli', src, mnt);
  t.false((await mountAt(mnt))!.mountOptions.split(',').includes('noexec'));
  t.is((await runOk(join(mnt, 'x.sh'), [], { timeoutMs: 10_000 })).trim(), 'ran', 'an exec SRC keeps its programs');
  await server.stop();
  const inner = join(src, 'uploads');
  await tmpfs(t, inner, 'noexec,mode=0755');
  server = await startServer(t, 'cli', src, mnt);
  await server.proc.waitFor(new RegExp(`mounted noexec: ${inner}, inside source ${src}, is mounted noexec`));
  t.true((await mountAt(mnt))!.mountOptions.split(',').includes('noexec'));
  await server.stop();
  server = await startServer(t, 'cli', src, mnt, ['noexec']);
  t.true((await mountAt(mnt))!.mountOptions.split(',').includes('noexec'), '-o noexec asked for is kept, without a note');
  t.notRegex(server.proc.stderr + server.proc.stdout, /mounted noexec:/);
  await server.stop();
});

serial(`a noexec filesystem mounted inside SRC after the start: its programs are refused through MNT, the others run${why}`, async (t) => {
  const { src, mnt } = await tmpfsAsSource(t, 'exec,mode=0755');
  await script(src);
  const server = await startServer(t, 'cli', src, mnt);
  const up = join(src, 'uploads');
  await tmpfs(t, up, 'noexec,mode=0755');
  await script(up);
  t.false((await mountAt(mnt))!.mountOptions.split(',').includes('noexec'), 'the mount itself stayed exec');
  t.is((await runOk(join(mnt, 'x.sh'), [], { timeoutMs: 10_000 })).trim(), 'ran');
  const ran = await run('sh', ['-c', 'exec "$0"', join(mnt, 'uploads', 'x.sh')], { timeoutMs: 10_000 });
  t.is(ran.code, 126, ran.stdout + ran.stderr);
  t.regex(ran.stderr, /Permission denied/);
  t.is((await runOk('cat', [join(mnt, 'uploads', 'x.sh')], { timeoutMs: 10_000 })).split('\n')[1], 'echo ran', 'still readable');
  await server.stop();
});

serial(`-o suid: a setuid program runs with its owner's id, one on a nosuid filesystem mounted inside SRC later is refused${why}`, async (t) => {
  const { src, mnt } = await tmpfsAsSource(t, 'suid,exec,mode=0755');
  const server = await startServer(t, 'cli', src, mnt, ['allow_other,suid']);
  const stick = join(src, 'stick');
  await tmpfs(t, stick, 'nosuid,mode=0755');
  for (const d of [src, stick]) {
    await runOk('cp', ['/usr/bin/id', join(d, 'id')]);
    await chmod(join(d, 'id'), 0o4755);
  }
  const as = (p: string) => run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', p, '-u'], { timeoutMs: 10_000 });
  t.is((await as(join(mnt, 'id'))).stdout.trim(), '0', 'setuid works through an -o suid mount (control)');
  t.is((await as(join(stick, 'id'))).stdout.trim(), '65534', 'on the nosuid filesystem itself it runs without the privilege');
  const refused = await as(join(mnt, 'stick', 'id'));
  t.not(refused.stdout.trim(), '0');
  t.not(refused.code, 0, 'refused through MNT');
  await server.stop();
});

serial(`a user's mount through fusermount3 still works, through a link of its own${why}`, async (t) => {
  let name: string | undefined;
  t.teardown(async () => {
    if (name) await deleteUser(name);
  });
  const user = await createUser('mountsafe', (n) => (name = n));
  const dir = await tempDir(t, 'mountsafe-');
  await chmod(dir, 0o755);
  const home = join(dir, 'home');
  await mkdir(join(home, 'src'), { recursive: true });
  await mkdir(join(home, 'real', 'm'), { recursive: true });
  for (const p of [home, join(home, 'src'), join(home, 'real'), join(home, 'real', 'm')]) await chown(p, user.uid, user.gid);
  await symlink('real', join(home, 'lk'));
  const real = join(home, 'real', 'm');
  const as = (cmd: string, args: string[]) => ['--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups', cmd, ...args];
  const proc = new Started('setpriv', as(process.execPath, [BIN, join(home, 'src'), join(home, 'lk', 'm')]));
  t.teardown(async () => {
    proc.child.kill('SIGKILL');
    await forceUnmount(real);
  });
  await waitMounted(proc, real);
  await proc.waitFor(new RegExp(`serving .* at ${real} `));
  const m = (await mountAt(real))!;
  t.regex(m.superOptions, new RegExp(`user_id=${user.uid}`), 'mounted by fusermount3 for the user');
  t.true(m.mountOptions.split(',').includes('nosuid'));
  await runOk('setpriv', as('fusermount3', ['-u', real]), { timeoutMs: 10_000 });
  t.deepEqual(await proc.exit(10_000), { code: 0, signal: null });
});
