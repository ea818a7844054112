// Metadata through each target (raw directory, bindfs, stableid FUSE mount):
// create+stat+unlink of 10,000 files, and `find` and `ls -lR` over a tree of
// 20,000 files. Median of 3, seconds, the targets taking turns run by run.
// The source is on tmpfs (STABLEID_BENCH_META_DIR, default /dev/shm): on this
// VM's ext4 the same raw create loop takes 0.2 s or 10 s from one run to the
// next (its inode allocator), which drowns what the FUSE layers cost.
// `node dist/test/bench/e2e/fuse-metadata.bench.js` prints JSON lines.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as exec, runOk } from '../../helpers/run.js';
import type { BenchLine } from '../run.js';
import { median, openBench, type Target } from './fuse-targets.js';

const REPS = 3;

// Timed inside the child, so interpreter start-up is not counted.
const CREATE_STAT_UNLINK = String.raw`
import os, sys, time
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
names = [os.path.join(d, 'f%05d' % i) for i in range(10000)]
t0 = time.monotonic()
for n in names: os.close(os.open(n, os.O_CREAT | os.O_WRONLY, 0o644))
for n in names: os.stat(n)
for n in names: os.unlink(n)
print(time.monotonic() - t0)
`;

async function timed(cmd: string, args: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await exec(cmd, args, { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const workloads: Array<{ name: string; run: (t: Target) => Promise<number> }> = [
  { name: 'create+stat+unlink 10k files', run: async (t) => Number((await runOk('python3', ['-c', CREATE_STAT_UNLINK, join(t.dir, 'csu')], { timeoutMs: 600_000 })).trim()) },
  { name: 'find over 20k files', run: (t) => timed('sh', ['-c', `find "${join(t.dir, 'tree')}" > /dev/null`]) },
  { name: 'ls -lR over 20k files', run: (t) => timed('sh', ['-c', `ls -lR "${join(t.dir, 'tree')}" > /dev/null`]) },
];

export async function run(): Promise<BenchLine[]> {
  const base = process.env.STABLEID_BENCH_META_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
  const b = await openBench('stableid-bench-meta-', { base, withoutPassthrough: true });
  try {
    for (const src of b.sources) {
      for (let d = 0; d < 200; d++) {
        const dir = join(src, 'tree', `d${String(d).padStart(3, '0')}`);
        await mkdir(dir, { recursive: true });
        await Promise.all(Array.from({ length: 100 }, (_, i) => writeFile(join(dir, `f${i}`), '')));
      }
    }
    const out: BenchLine[] = [];
    for (const w of workloads) {
      const xs = new Map<Target, number[]>(b.targets.map((t) => [t, []]));
      for (let i = 0; i < REPS; i++) for (const t of b.targets) xs.get(t)!.push(await w.run(t));
      for (const t of b.targets) {
        out.push({ bench: 'fuse-metadata', name: w.name, target: t.name, baseline: t.name === 'raw', value: +median(xs.get(t)!).toFixed(3), unit: 's', better: 'lower', goal: t.name.startsWith('stableid') ? 'no slower than bindfs' : undefined, note: `median of ${REPS}, source on ${base}` });
        console.log(JSON.stringify(out.at(-1)));
      }
    }
    return out;
  } finally {
    await b.close();
  }
}

if (process.argv[1]?.endsWith('fuse-metadata.bench.js')) await run();
