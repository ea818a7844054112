// A real GlusterFS for cluster tests: glusterd (Debian glusterfs-server) in
// the foreground with its own working directory, bound to 127.0.0.2 (the CLI
// refuses 127.0.0.1 and localhost as brick hosts), and single-brick volumes
// on one loop-mounted xfs image (64 KiB xattr values, like a production
// brick). Volumes start in well under a second; every mount of one volume
// shows the same st_ino for a file, and xattrs and fcntl locks are shared
// between mounts at once.
//
//   const g = await startGluster(work);          // one per test file: glusterd owns port 24007
//   const src = await g.volume('v1');            // "127.0.0.2:/v1"
//   await g.stop();                               // volumes stopped and deleted, brick unmounted
//
// glusterd listens on the fixed port 24007 and the socket /run/glusterd.socket,
// so only one test file may run one at a time: startGluster waits for a lock.
// The CLI talks to it over that socket (over TCP, glusterd answers read-only).
import { type ChildProcess, spawn } from 'node:child_process';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withLoopLock } from './loop-images.js';
import { run, runOk } from './run.js';

export const GLUSTER_HOST = '127.0.0.2';
const LOCK = join(tmpdir(), 'stableid-test-glusterd.lock');

export async function canGluster(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'glusterd and mount -t glusterfs need root' };
  for (const bin of ['/usr/sbin/glusterd', '/usr/sbin/gluster', '/sbin/mount.glusterfs', '/usr/bin/unshare', '/usr/bin/nsenter'])
    if (!(await access(bin).then(() => true, () => false))) return { ok: false, reason: `no ${bin} (apt-get install glusterfs-server glusterfs-client util-linux)` };
  return { ok: true };
}

export interface Gluster {
  /** Create and start a volume with one brick; returns its mount source "127.0.0.2:/NAME". */
  volume(name: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startGluster(work: string): Promise<Gluster> {
  await takeLock();
  const ps = await run('pgrep', ['-x', 'glusterd']);
  if (ps.code === 0) {
    await rm(LOCK, { recursive: true, force: true });
    throw new Error(`a glusterd not started by the tests runs already (pid ${ps.stdout.trim()}) and owns port 24007: stop it`);
  }
  const dir = join(work, 'glusterd');
  const brick = join(work, 'brick');
  await mkdir(join(dir, 'wd'), { recursive: true });
  await mkdir(brick, { recursive: true });
  const vol = (await readFile('/etc/glusterfs/glusterd.vol', 'utf8'))
    .replace(/option working-directory .*/, `option working-directory ${join(dir, 'wd')}`)
    .replace(/(option transport-type socket)/, `$1\n    option transport.socket.bind-address ${GLUSTER_HOST}`);
  await writeFile(join(dir, 'glusterd.vol'), vol);
  const img = join(work, 'brick.img');
  await runOk('truncate', ['-s', '320M', img]);
  await runOk('mkfs.xfs', ['-q', '-f', img], { timeoutMs: 120_000 });
  // Under the loop lock, like every loop attach in the tests (loop-images.ts): a test swapping its devices must get them back.
  await withLoopLock(() => runOk('mount', ['-o', 'loop', img, brick]));
  const volumes: string[] = [];
  let child: ChildProcess | undefined = spawn('/usr/sbin/glusterd', ['-N', '-f', join(dir, 'glusterd.vol'), `--log-file=${join(dir, 'glusterd.log')}`], { stdio: 'ignore' });
  const cli = (args: string[]) => runOk('/usr/sbin/gluster', ['--mode=script', ...args], { timeoutMs: 60_000 });
  const g: Gluster = {
    async volume(name) {
      await mkdir(join(brick, name));
      await cli(['volume', 'create', name, `${GLUSTER_HOST}:${join(brick, name)}`, 'force']);
      volumes.push(name);
      await cli(['volume', 'start', name]);
      return `${GLUSTER_HOST}:/${name}`;
    },
    async stop() {
      for (const name of volumes.reverse()) {
        await cli(['volume', 'stop', name, 'force']).catch(() => undefined);
        await cli(['volume', 'delete', name]).catch(() => undefined);
      }
      if (child) {
        const c = child;
        child = undefined;
        if (c.exitCode === null) {
          const exited = new Promise((r) => c.once('exit', r));
          c.kill('SIGTERM');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
          if (c.exitCode === null) c.kill('SIGKILL');
        }
      }
      // Brick processes (glusterfsd) outlive a stopped glusterd when a volume stop failed: end ours by pid.
      const left = await run('pgrep', ['-f', `glusterfsd.*${brick}/`]);
      for (const pid of left.stdout.split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
      await run('umount', [brick]).then((r) => (r.code === 0 ? r : run('umount', ['-l', brick])));
      await rm(LOCK, { recursive: true, force: true });
    },
  };
  try {
    // Up when the CLI answers.
    const deadline = Date.now() + 30_000;
    while ((await run('/usr/sbin/gluster', ['--mode=script', 'volume', 'list'], { timeoutMs: 10_000 })).code !== 0) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`glusterd did not start: ${(await readFile(join(dir, 'glusterd.log'), 'utf8').catch(() => '')).slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    await g.stop();
    throw err;
  }
  return g;
}

/** One glusterd per machine: a directory lock holding the owner's pid; a dead owner's lock is taken over. */
async function takeLock(): Promise<void> {
  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    try {
      await mkdir(LOCK);
      await writeFile(join(LOCK, 'pid'), String(process.pid));
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(await readFile(join(LOCK, 'pid'), 'utf8').catch(() => ''));
      let alive = false;
      try {
        if (owner) process.kill(owner, 0), (alive = true);
      } catch {
        alive = false;
      }
      if (owner && !alive) await rm(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`${LOCK} held by pid ${owner || '?'} for 20 minutes`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
