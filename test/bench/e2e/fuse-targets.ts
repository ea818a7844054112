// The sides an e2e benchmark compares, all over one source directory: the raw
// directory (the baseline), bindfs (the peer FUSE passthrough) and the
// stableid FUSE mount (bin/stableid-mount, persistent table). Servers are
// child processes; every mount is removed when the benchmark ends.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forceUnmount, serverCommand, waitMounted } from '../../helpers/mount-fixture.js';
import { run, runOk, Started } from '../../helpers/run.js';

export interface Target {
  name: 'raw' | 'bindfs' | 'stableid-fuse';
  /** The stableid mount's -o options, when not the defaults. */
  options?: string[];
  dir: string;
}

export interface Bench {
  root: string;
  src: string;
  targets: Target[];
  close(): Promise<void>;
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Page cache (and dentries/inodes) dropped, so a read goes to the disk and through FUSE. */
export async function dropCaches(): Promise<void> {
  await run('sync', []);
  await writeFile('/proc/sys/vm/drop_caches', '3').catch(() => undefined);
}

/** options: -o options for the stableid mount. */
export async function openBench(prefix: string, options: string[] = []): Promise<Bench> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const src = join(root, 'src');
  await mkdir(src);
  const targets: Target[] = [{ name: 'raw', dir: src }];
  const cleanups: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
  };
  try {
    if ((await run('sh', ['-c', 'command -v bindfs'])).code === 0) {
      const mnt = join(root, 'bindfs');
      await mkdir(mnt);
      await runOk('bindfs', [src, mnt], { timeoutMs: 20_000 });
      cleanups.push(() => forceUnmount(mnt));
      targets.push({ name: 'bindfs', dir: mnt });
    }
    const mnt = join(root, 'stableid');
    await mkdir(mnt);
    const [cmd, args] = serverCommand('cli', src, mnt, options);
    const proc = new Started(cmd, args);
    cleanups.push(async () => {
      proc.child.kill('SIGTERM');
      if (!(await proc.exit(10_000))) proc.child.kill('SIGKILL');
      await forceUnmount(mnt);
    });
    await waitMounted(proc, mnt);
    targets.push({ name: 'stableid-fuse', dir: mnt, ...(options.length && { options }) });
  } catch (err) {
    await close();
    throw err;
  }
  return { root, src, targets, close };
}
