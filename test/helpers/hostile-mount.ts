// The servers a hostile client attacks, started only through their public
// entry points (bin/stableid-mount, bin/stableid serve-9p) as child
// processes, with canaries planted next to SRC (outside it). Everything is
// world-traversable so that the unprivileged user can reach the mount.
// alive() is the "no mount hung, the server still answers" check: a stat, a
// read, a listing and a create of fresh names, each in a child with a timeout.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { type CanaryLayout, Canaries, plantCanaries } from './hostile-canaries.js';
import { forceUnmount, REPO, tempDir, waitMounted } from './mount-fixture.js';
import { NinepClient } from './ninep-client.js';
import * as M from '../../lib/ninep/messages.js';
import { runBounded } from './hostile-run.js';
import { Started } from './run.js';

export interface Hostile {
  dir: string;
  src: string;
  canaries: Canaries;
  proc: Started;
  /** Undefined when the server answered every probe in time, else what failed. */
  alive(): Promise<string | undefined>;
}

export interface HostileMount extends Hostile {
  mnt: string;
  /** unix:PATH of the 9P front-end when started with ninep. */
  ninep?: string;
}

export interface HostileNinep extends Hostile {
  address: string;
}

async function base(t: ExecutionContext, layout: CanaryLayout): Promise<{ dir: string; src: string; canaries: Canaries }> {
  const dir = await tempDir(t, 'stableid-hostile-');
  await chmod(dir, 0o755);
  const src = join(dir, 'src');
  await mkdir(join(src, 'alive'), { recursive: true, mode: 0o755 });
  await chmod(src, 0o755);
  await writeFile(join(src, 'alive', 'probe.txt'), 'alive\n');
  return { dir, src, canaries: await plantCanaries(t, dir, layout) };
}

function stopInTeardown(t: ExecutionContext, proc: Started, mnt?: string): void {
  t.teardown(async () => {
    if (proc.running) proc.child.kill('SIGTERM');
    if (!(await proc.exit(10_000))) {
      if (mnt) await forceUnmount(mnt);
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
    if (mnt) await forceUnmount(mnt);
  });
}

let probes = 0;

/** bin/stableid-mount SRC MNT -o allow_other[,options] [--9p unix:SOCK]. */
export async function hostileMount(t: ExecutionContext, opts: { layout: CanaryLayout; options?: string[]; ninep?: boolean }): Promise<HostileMount> {
  const { dir, src, canaries } = await base(t, opts.layout);
  const mnt = join(dir, 'mnt');
  await mkdir(mnt, { mode: 0o755 });
  const sock = join(dir, '9p.sock');
  const args = [join(REPO, 'bin/stableid-mount'), src, mnt, '-o', ['allow_other', ...(opts.options ?? [])].join(','), '--state-dir', join(dir, 'state')];
  if (opts.ninep) args.push('--9p', `unix:${sock}`);
  const proc = new Started(process.execPath, args);
  stopInTeardown(t, proc, mnt);
  await waitMounted(proc, mnt);
  if (opts.ninep) await proc.waitFor(/over 9P2000\.L at unix:/);
  const alive = async (): Promise<string | undefined> => {
    if (!proc.running) return `server exited (${proc.child.exitCode ?? proc.child.signalCode}): ${proc.stderr.slice(-2000)}`;
    const n = ++probes;
    const a = join(mnt, 'alive');
    const checks: Array<[string, string[]]> = [
      ['stat', [join(a, 'probe.txt')]],
      ['cat', [join(a, 'probe.txt')]],
      ['ls', ['-la', a]],
      ['touch', [join(a, `fresh-${n}`)]],
      ['stat', [join(a, `fresh-${n}`)]],
    ];
    for (const [cmd, argv] of checks) {
      const r = await runBounded(cmd, argv, { timeoutMs: 5_000 });
      if (r.timedOut) return `${cmd} ${argv.join(' ')} hung for 5 s: the mount no longer answers`;
      if (r.code !== 0) return `${cmd} ${argv.join(' ')} failed: ${r.stderr}${proc.running ? '' : `; server exited (${proc.child.exitCode ?? proc.child.signalCode}): ${proc.stderr.slice(-2000)}`}`;
    }
    return undefined;
  };
  return { dir, src, mnt, canaries, proc, alive, ninep: opts.ninep ? `unix:${sock}` : undefined };
}

/** bin/stableid serve-9p SRC --listen unix:SOCK. */
export async function hostileNinep(t: ExecutionContext, opts: { layout: CanaryLayout }): Promise<HostileNinep> {
  const { dir, src, canaries } = await base(t, opts.layout);
  const address = `unix:${join(dir, '9p.sock')}`;
  const proc = new Started(process.execPath, [join(REPO, 'bin/stableid'), 'serve-9p', src, '--listen', address, '--state-dir', join(dir, 'state')]);
  stopInTeardown(t, proc);
  await proc.waitFor(/serving .* over 9P2000\.L/, 15_000);
  const alive = async (): Promise<string | undefined> => {
    if (!proc.running) return `server exited: ${proc.stderr}`;
    try {
      const c = await within(NinepClient.attached(address), 'Tattach of a new client');
      try {
        const n = ++probes;
        await rpcWithin(c, M.Twalk, { fid: 0, newfid: 1, wnames: ['alive', 'probe.txt'] });
        await rpcWithin(c, M.Tlopen, { fid: 1, flags: 0 });
        const { data } = await rpcWithin(c, M.Tread, { fid: 1, offset: 0n, count: 100 });
        if (Buffer.from(data).toString() !== 'alive\n') return `probe.txt read back ${JSON.stringify(Buffer.from(data).toString())}`;
        await rpcWithin(c, M.Twalk, { fid: 0, newfid: 2, wnames: ['alive'] });
        await rpcWithin(c, M.Tlcreate, { fid: 2, name: `fresh-${n}`, flags: 0o1 | 0o100, mode: 0o644, gid: 0 });
        await rpcWithin(c, M.Twalk, { fid: 0, newfid: 3, wnames: ['alive'] });
        await rpcWithin(c, M.Tlopen, { fid: 3, flags: 0o200000 /* O_DIRECTORY */ });
        await rpcWithin(c, M.Treaddir, { fid: 3, offset: 0n, count: 8192 });
      } finally {
        c.close();
      }
    } catch (err) {
      return (err as Error).message;
    }
    return undefined;
  };
  return { dir, src, canaries, proc, alive, address };
}

/** A promise that rejects when the server has not answered in ms (the hang is the finding). */
export async function within<T>(p: Promise<T>, what: string, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms (the server hangs)`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

export function rpcWithin<T extends M.MsgDef>(c: NinepClient, def: T, value: M.ValueOf<T['fields']>, ms = 5_000): Promise<Record<string, any>> {
  return within(c.rpc(def, value), def.name, ms);
}
