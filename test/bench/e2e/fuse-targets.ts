// The sides an e2e benchmark compares, all over one source directory: the raw
// directory (the baseline), bindfs (the peer FUSE passthrough) and the
// stableid FUSE mount (bin/stableid-mount, persistent table), and on request
// a second stableid mount with kernel passthrough off, over its own source (one
// server per source: a second start on the same SRC is refused). Servers are
// child processes; every mount is removed when the benchmark ends.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forceUnmount, serverCommand, waitMounted } from '../../helpers/mount-fixture.js';
import { run, runOk, Started } from '../../helpers/run.js';

export interface Target {
  name: 'raw' | 'bindfs' | 'stableid-fuse' | 'stableid-nopassthrough';
  /** The source directory behind dir: Bench.src, or the no-passthrough mount's own copy. */
  src: string;
  /** The stableid mount's -o options, when not the defaults. */
  options?: string[];
  dir: string;
}

export interface Bench {
  root: string;
  src: string;
  /** Every source directory of the targets (what a benchmark fills before it runs). */
  sources: string[];
  targets: Target[];
  close(): Promise<void>;
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Page cache (and dentries/inodes) dropped, so a read goes to the disk and through FUSE. */
export async function dropCaches(): Promise<void> {
  await run('sync', []);
  await writeFile('/proc/sys/vm/drop_caches', '3').catch(() => undefined);
}

export interface BenchOptions {
  /** -o options for the stableid mount(s). */
  options?: string[];
  /** Where the source directories go (default the temp dir). */
  base?: string;
  /** Also a stableid mount with -o nopassthrough (the goals hold with and without it). */
  withoutPassthrough?: boolean;
}

export async function openBench(prefix: string, o: BenchOptions = {}): Promise<Bench> {
  const options = o.options ?? [];
  const root = await mkdtemp(join(o.base ?? tmpdir(), prefix));
  const src = join(root, 'src');
  await mkdir(src);
  const sources = [src];
  const targets: Target[] = [{ name: 'raw', dir: src, src }];
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
      targets.push({ name: 'bindfs', dir: mnt, src });
    }
    const stableid = async (name: Target['name'], from: string, opts: string[]) => {
      const mnt = join(root, name);
      await mkdir(mnt);
      const [cmd, args] = serverCommand('cli', from, mnt, opts);
      const proc = new Started(cmd, args);
      cleanups.push(async () => {
        proc.child.kill('SIGTERM');
        if (!(await proc.exit(10_000))) proc.child.kill('SIGKILL');
        await forceUnmount(mnt);
      });
      await waitMounted(proc, mnt);
      targets.push({ name, dir: mnt, src: from, ...(opts.length && { options: opts }) });
    };
    await stableid('stableid-fuse', src, options);
    if (o.withoutPassthrough) {
      const own = join(root, 'src-nopassthrough');
      await mkdir(own);
      sources.push(own);
      await stableid('stableid-nopassthrough', own, [...options, 'nopassthrough']);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { root, src, sources, targets, close };
}
