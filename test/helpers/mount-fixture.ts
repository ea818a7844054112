// mountFixture(t, 'fuse') -> { src, mnt, ... }: a real FUSE mount served by a
// child process, unmounted in t.teardown even when the test fails.
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { abortConnection } from '../../lib/fuse/mount.js';
import { mountAt } from '../../lib/fuse/mountinfo.js';
import { run, Started } from './run.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export type Gate = { ok: true } | { ok: false; reason: string };

/** Whether this machine can run real FUSE mounts (CI can: root, /dev/fuse, addon built). */
export async function canMount(kind: 'fuse'): Promise<Gate> {
  if (kind !== 'fuse') return { ok: false, reason: `unknown mount kind ${kind}` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'needs root' };
  try {
    await access('/dev/fuse');
  } catch {
    return { ok: false, reason: 'no /dev/fuse' };
  }
  try {
    await access(join(REPO, 'build/Release/stableid_fuse.node'));
  } catch {
    return { ok: false, reason: 'addon not built (npm ci)' };
  }
  return { ok: true };
}

export interface Server {
  proc: Started;
  /** SIGTERM, wait for a clean exit; force the mount away if it does not come. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface FixtureOptions {
  /** Existing source directory (default: a fresh empty one). */
  src?: string;
  /** Values of -o. */
  options?: string[];
  /** Extra environment for the server (e.g. NODE_DEBUG=stableid:fuse to trace requests). */
  env?: NodeJS.ProcessEnv;
  /** 'fake': the in-memory FakeMapper (test/helpers/fuse-server); 'cli': bin/stableid-mount with the persistent table. */
  server?: 'fake' | 'cli';
}

export interface MountFixture {
  dir: string;
  src: string;
  mnt: string;
  server: Server;
  /** Start the server again on the same src/mnt (after stop). */
  remount(): Promise<Server>;
}

export async function tempDir(t: ExecutionContext, prefix = 'stableid-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function serverCommand(kind: 'fake' | 'cli', src: string, mnt: string, options: string[] = []): [string, string[]] {
  const opts = options.flatMap((o) => ['-o', o]);
  if (kind === 'cli') return [process.execPath, [join(REPO, 'bin/stableid-mount'), src, mnt, ...opts]];
  return [process.execPath, [join(REPO, 'dist/test/helpers/fuse-server.js'), src, mnt, ...opts]];
}

/** Waits until MNT carries a stableid mount (from /proc/self/mountinfo: never touching the mount). */
export async function waitMounted(proc: Started, mnt: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await mountAt(mnt))?.fstype === 'fuse.stableid') return;
    if (!proc.running) throw new Error(`server exited (${proc.child.exitCode ?? proc.child.signalCode}) before mounting:\n${proc.stderr}${proc.stdout}`);
    if (Date.now() > deadline) throw new Error(`${mnt} not mounted after ${timeoutMs} ms:\n${proc.stderr}${proc.stdout}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Removes whatever is mounted at mnt, even a hung FUSE server's mount. */
export async function forceUnmount(mnt: string): Promise<void> {
  const m = await mountAt(mnt);
  if (!m) return;
  if (m.fstype.startsWith('fuse')) await abortConnection(m.dev).catch(() => undefined);
  await run('umount', ['-l', mnt], { timeoutMs: 10_000 });
}

export async function startServer(t: ExecutionContext, kind: 'fake' | 'cli', src: string, mnt: string, options: string[] = [], env?: NodeJS.ProcessEnv): Promise<Server> {
  const [cmd, args] = serverCommand(kind, src, mnt, options);
  const proc = new Started(cmd, args, env && { ...process.env, ...env });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (proc.running) proc.child.kill(signal);
    let r = await proc.exit(10_000);
    if (!r) {
      await forceUnmount(mnt);
      proc.child.kill('SIGKILL');
      r = await proc.exited;
    }
    await forceUnmount(mnt);
    return r;
  };
  t.teardown(async () => {
    await stop();
  });
  await waitMounted(proc, mnt);
  return { proc, stop };
}

export async function mountFixture(t: ExecutionContext, kind: 'fuse' = 'fuse', opts: FixtureOptions = {}): Promise<MountFixture> {
  if (kind !== 'fuse') throw new Error(`unknown mount kind ${kind}`);
  const dir = await tempDir(t);
  const src = opts.src ?? join(dir, 'src');
  const mnt = join(dir, 'mnt');
  await mkdir(src, { recursive: true });
  await mkdir(mnt);
  const server = opts.server ?? 'cli';
  const fixture: MountFixture = {
    dir,
    src,
    mnt,
    server: await startServer(t, server, src, mnt, opts.options, opts.env),
    async remount() {
      fixture.server = await startServer(t, server, src, mnt, opts.options, opts.env);
      return fixture.server;
    },
  };
  return fixture;
}

/** Reads a small file of the mount in a child process (never from the test process). */
export async function catFile(path: string): Promise<string> {
  const r = await run('cat', [path], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`cat ${path}: ${r.stderr}`);
  return r.stdout;
}

