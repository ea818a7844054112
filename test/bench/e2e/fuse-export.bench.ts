// What export support (NFS re-export: kernel file handles that outlive the
// server) costs: lookups, creates and stats through a stableid mount with it
// (the default) and with -o noexport, the raw directory as the baseline.
// Median of 3, seconds. `node dist/test/bench/e2e/fuse-export.bench.js`.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runOk } from '../../helpers/run.js';
import type { BenchLine } from '../run.js';
import { dropCaches, median, openBench, type Target } from './fuse-targets.js';

const REPS = 3;
const N = 5000;

// Timed inside the child, so interpreter start-up is not counted.
const WORK = String.raw`
import os, sys, time
d, what, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = [os.path.join(d, 'f%05d' % i) for i in range(n)]
if what == 'cached':
    for p in names: os.lstat(p)
t0 = time.monotonic()
if what in ('lookup', 'cached'):
    for p in names: os.lstat(p)
elif what == 'create':
    for p in names: os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))
    t1 = time.monotonic()
    for p in names: os.unlink(p)
    t0 += time.monotonic() - t1
print(time.monotonic() - t0)
`;

const workloads: Array<{ name: string; run: (t: Target) => Promise<number> }> = [
  {
    name: `lookup+stat of ${N} files, caches dropped`,
    run: async (t) => {
      await dropCaches();
      return Number((await runOk('python3', ['-c', WORK, join(t.dir, 'tree'), 'lookup', String(N)], { timeoutMs: 300_000 })).trim());
    },
  },
  // Warmed in the same process just before: a separate warm-up run is over a second earlier
  // on a slow machine, past the kernel's entry timeout (1 s), and then every stat is a LOOKUP
  // again (this row read 0.016 s or 1.06 s from one run to the next that way).
  { name: `stat of ${N} files, cached`, run: async (t) => Number((await runOk('python3', ['-c', WORK, join(t.dir, 'tree'), 'cached', String(N)], { timeoutMs: 300_000 })).trim()) },
  {
    name: `create of ${N} files`,
    run: async (t) => {
      await mkdir(join(t.dir, 'new'), { recursive: true });
      return Number((await runOk('python3', ['-c', WORK, join(t.dir, 'new'), 'create', String(N)], { timeoutMs: 300_000 })).trim());
    },
  },
];

/** One source and mount per side (one table writer per export): export support on (default), then -o noexport. */
export async function run(): Promise<BenchLine[]> {
  const out: BenchLine[] = [];
  for (const options of [[], ['noexport']]) {
    // On tmpfs, as fuse-metadata.bench.ts: creates on this VM's ext4 took 0.2 s or 1.35 s from one run to the next.
    const b = await openBench('stableid-bench-export-', { options, base: process.env.STABLEID_BENCH_META_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : undefined) });
    try {
      await mkdir(join(b.src, 'tree'));
      await Promise.all(Array.from({ length: N }, (_, i) => writeFile(join(b.src, 'tree', `f${String(i).padStart(5, '0')}`), '')));
      for (const w of workloads) {
        for (const t of b.targets.filter((x) => x.name !== 'bindfs' && (x.name !== 'raw' || options.length === 0))) {
          const xs: number[] = [];
          for (let i = 0; i < REPS; i++) xs.push(await w.run(t));
          const target = t.name === 'raw' ? 'raw' : options.length ? 'stableid -o noexport' : 'stableid (export support)';
          out.push({ bench: 'fuse-export', name: w.name, target, baseline: t.name === 'raw', value: +median(xs).toFixed(3), unit: 's', better: 'lower', note: `median of ${REPS}` });
          console.log(JSON.stringify(out.at(-1)));
        }
      }
    } finally {
      await b.close();
    }
  }
  return out;
}

if (process.argv[1]?.endsWith('fuse-export.bench.js')) await run();
