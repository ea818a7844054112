// docker/entrypoint.sh and docker/healthcheck.sh run directly (no Docker
// engine here): real FUSE mounts, real signals. The mount program is
// stableid-mount when this build has it, and bindfs (also FUSE, also in the
// foreground with -f) as a stand-in that shows the script's own behaviour.
import test, { type ExecutionContext } from 'ava';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { commands } from '../../lib/cli/commands.js';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const ENTRYPOINT = join(root, 'docker', 'entrypoint.sh');
const HEALTHCHECK = join(root, 'docker', 'healthcheck.sh');

const ok = async (bin: string, args: string[]) => run(bin, args, { timeout: 30_000 }).then(() => true, () => false);
const gate = await (async () => {
  if (process.getuid?.() !== 0) return 'FUSE mounts here need root';
  if (!(await access('/dev/fuse').then(() => true, () => false))) return 'no /dev/fuse';
  if (!(await ok('fusermount3', ['-V']))) return 'no fusermount3 (apt-get install fuse3)';
  if (!(await ok('bindfs', ['--version']))) return 'no bindfs (apt-get install bindfs)';
  return '';
})();
// stableid-mount exists once the FUSE front-end registers its `mount` command.
const quiet = { out: () => undefined, err: () => undefined };
const ctx = { io: quiet, exitCode: 0, waitForStop: () => new Promise<NodeJS.Signals>(() => undefined) };
const hasStableidMount = commands.some((make) => /^mount\b/.test(String(make(ctx).command)));

interface Mounter {
  name: string;
  env: Record<string, string>;
  args: string[];
}
const mounters: Mounter[] = [{ name: 'bindfs stand-in', env: { STABLEID_MOUNT: 'bindfs' }, args: ['-f'] }];
if (hasStableidMount)
  mounters.unshift({ name: 'stableid-mount', env: { STABLEID_MOUNT: join(root, 'bin', 'stableid-mount') }, args: [] });

const serial = gate ? test.serial.skip : test.serial;
const why = gate ? ` (skipped: ${gate})` : '';

interface Dirs {
  src: string;
  mnt: string;
}

async function dirs(t: ExecutionContext): Promise<Dirs> {
  const base = await mkdtemp(join(tmpdir(), 'stableid-entry-'));
  const d = { src: join(base, 'src'), mnt: join(base, 'mnt') };
  await mkdir(d.src);
  await mkdir(d.mnt);
  await writeFile(join(d.src, 'a.txt'), 'a\n');
  t.teardown(async () => {
    if (await isMounted(d.mnt)) await run('umount', ['-l', d.mnt]).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  });
  return d;
}

/** From /proc/self/mountinfo, never by touching the mount from this process. */
async function isMounted(path: string): Promise<boolean> {
  return (await mountSources(path)).length > 0;
}

/** Sources (the fsname) of whatever is mounted at path, bottom first. */
async function mountSources(path: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[4] === path)
    .map((f) => f[f.indexOf('-') + 2]);
}

async function health(mnt: string, ...extra: string[]): Promise<{ code: number; out: string }> {
  return run(HEALTHCHECK, [mnt, ...extra], { timeout: 20_000 }).then(
    (r) => ({ code: 0, out: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
  );
}

interface Running {
  child: ChildProcess;
  log: () => string;
  exit: Promise<number | null>;
}

function startEntrypoint(t: ExecutionContext, m: Mounter, d: Dirs): Running {
  const child = spawn(ENTRYPOINT, [d.src, d.mnt, ...m.args], {
    env: { ...process.env, ...m.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (b) => (log += b));
  child.stderr!.on('data', (b) => (log += b));
  // 'close', not 'exit': the log is complete only once the pipes are drained.
  const exit = new Promise<number | null>((resolve) =>
    child.once('close', (code, signal) => {
      if (signal) log += `[entrypoint killed by ${signal}]`;
      resolve(code);
    }),
  );
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exit, sleep(10_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
  return { child, log: () => log, exit };
}

/** Until the health check passes, and no mount named `not` (an earlier, dead one) is left. */
async function waitHealthy(mnt: string, r: Running, not?: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const h = await health(mnt);
    if (h.code === 0 && (not === undefined || !(await mountSources(mnt)).includes(not))) return;
    if (r.child.exitCode !== null || Date.now() > deadline)
      throw new Error(`never healthy: ${h.out}\nentrypoint log:\n${r.log()}`);
    await sleep(200);
  }
}

async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.split(' ').filter(Boolean).map(Number);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A live FUSE mount of `from` at `mnt` that is not the entrypoint's (bindfs), until the test ends. */
async function liveBindfs(t: ExecutionContext, from: string, mnt: string): Promise<void> {
  const fuse = spawn('bindfs', ['-f', from, mnt], { stdio: 'ignore' });
  const exited = new Promise((resolve) => fuse.once('exit', resolve));
  t.teardown(async () => {
    await run('fusermount3', ['-u', mnt]).catch(() => undefined);
    await Promise.race([exited, sleep(5000)]);
  });
  for (let i = 0; i < 100 && (await health(mnt)).code !== 0; i++) await sleep(100);
}

for (const m of mounters) {
  serial(`entrypoint (${m.name}): mounts, is healthy, and on SIGTERM unmounts and exits 0${why}`, async (t) => {
    const d = await dirs(t);
    const r = startEntrypoint(t, m, d);
    await waitHealthy(d.mnt, r);
    const ls = await run('ls', [d.mnt], { timeout: 10_000 });
    t.is(ls.stdout, 'a.txt\n', 'the source shows through the mount');
    r.child.kill('SIGTERM');
    t.is(await r.exit, 0, r.log());
    t.false(await isMounted(d.mnt), 'unmounted after SIGTERM');
    t.regex(r.log(), /stopped \(status 0\)/);
    const h = await health(d.mnt);
    t.is(h.code, 1);
    t.regex(h.out, /is not mounted/);
  });

  serial(`entrypoint (${m.name}): a killed mount process leaves no dead mount behind${why}`, async (t) => {
    const d = await dirs(t);
    const r = startEntrypoint(t, m, d);
    await waitHealthy(d.mnt, r);
    const [mountPid] = await childrenOf(r.child.pid!);
    t.truthy(mountPid, 'the mount process is the entrypoint child');
    process.kill(mountPid, 'SIGKILL');
    const code = await r.exit;
    t.not(code, 0, 'the container exits non-zero, so its restart policy starts it again');
    t.regex(r.log(), /left .* mounted; detaching it/);
    t.false(await isMounted(d.mnt));
  });
}

serial(`entrypoint clears a dead mount left by an earlier container, then mounts${why}`, async (t) => {
  const d = await dirs(t);
  // An earlier sidecar killed with SIGKILL: its FUSE mount stays, dead.
  // Of another directory, so its mountinfo source tells it from the new mount
  // (mount ids and FUSE device numbers are reused at once).
  const DEAD = join(dirname(d.src), 'old-src');
  await mkdir(DEAD);
  const old = spawn('bindfs', ['-f', DEAD, d.mnt], { stdio: 'ignore' });
  const oldExit = new Promise((resolve) => old.once('exit', resolve));
  for (let i = 0; i < 100 && !(await isMounted(d.mnt)); i++) await sleep(100);
  old.kill('SIGKILL');
  await oldExit;
  t.deepEqual(await mountSources(d.mnt), [DEAD], 'the dead mount is still there');
  const dead = await health(d.mnt);
  t.is(dead.code, 1);
  t.regex(dead.out, /does not answer stat/, 'the health check tells a dead mount from a live one');

  const r = startEntrypoint(t, mounters[0], d);
  await waitHealthy(d.mnt, r, DEAD);
  t.regex(r.log(), /still mounted from an earlier run; detaching it/);
  t.false((await mountSources(d.mnt)).includes(DEAD), 'the dead mount is gone, not buried under the new one');
  r.child.kill('SIGTERM');
  t.is(await r.exit, 0, r.log());
  t.false(await isMounted(d.mnt));
});

serial(`entrypoint refuses a missing source with exit 2 and says what to bind${why}`, async (t) => {
  const d = await dirs(t);
  const r = startEntrypoint(t, mounters[0], { src: join(d.src, 'nope'), mnt: d.mnt });
  t.is(await r.exit, 2);
  t.regex(r.log(), /source .*nope is not a directory: bind-mount/);
  t.false(await isMounted(d.mnt));
});

serial(`healthcheck: a non-FUSE mount is unhealthy; --smb-port needs a listener${why}`, async (t) => {
  const d = await dirs(t);
  await run('mount', ['--bind', d.src, d.mnt]);
  t.teardown(() => run('umount', [d.mnt]).then(() => undefined, () => undefined));
  const h = await health(d.mnt);
  t.is(h.code, 1);
  t.regex(h.out, /is a \S+ mount, not the stableid FUSE mount/);
  await run('umount', [d.mnt]);

  await liveBindfs(t, d.src, d.mnt);
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  const listening = await health(d.mnt, '--smb-port', String(port));
  await new Promise((resolve) => srv.close(resolve));
  t.is(listening.code, 0, listening.out);
  t.regex(listening.out, new RegExp(`port ${port} listening`));
  const closed = await health(d.mnt, '--smb-port', String(port));
  t.is(closed.code, 1);
  t.regex(closed.out, /nothing listens on TCP port/);
});

serial(`entrypoint refuses a MNT that is itself a bind mount, and leaves the bind alone${why}`, async (t) => {
  const d = await dirs(t);
  // The old compose layout: the host directory bound at MNT itself.
  await run('mount', ['--bind', d.src, d.mnt]);
  t.teardown(() => run('umount', ['-l', d.mnt]).then(() => undefined, () => undefined));
  const r = startEntrypoint(t, mounters[0], d);
  t.is(await r.exit, 2, r.log());
  t.regex(r.log(), /is itself a \S+ mount \(a bind\?\): bind the host directory that contains it/);
  t.is((await mountSources(d.mnt)).length, 1, 'the bind is still there, with nothing on top');
});

serial(`entrypoint leaves a live mount it did not make, and the mount program refuses it${why}`, async (t) => {
  const d = await dirs(t);
  const other = join(dirname(d.src), 'other-src');
  await mkdir(other);
  await liveBindfs(t, other, d.mnt);
  const r = startEntrypoint(t, mounters[0], d);
  t.not(await r.exit, 0, 'nothing to serve: the container must not look healthy');
  t.notRegex(r.log(), /detaching/, r.log());
  t.deepEqual(await mountSources(d.mnt), [other], 'the other mount is untouched');
  t.is((await health(d.mnt)).code, 0, 'and still answers');
});

serial(`healthcheck --shared: a FUSE mount that does not propagate is unhealthy${why}`, async (t) => {
  const d = await dirs(t);
  await liveBindfs(t, d.src, d.mnt);
  // Under a private parent (this machine's / is private), as under a bind without rshared.
  await run('mount', ['--make-private', d.mnt]);
  const alone = await health(d.mnt, '--shared');
  t.is(alone.code, 1, alone.out);
  t.regex(alone.out, /is not a shared mount, so neither the host nor Samba sees it/);
  await run('mount', ['--make-shared', d.mnt]);
  const shared = await health(d.mnt, '--shared');
  t.is(shared.code, 0, shared.out);
  t.regex(shared.out, /shared/);
});
