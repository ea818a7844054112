// fio through each target (raw directory, bindfs, stableid FUSE mount):
// sequential read 128k (cold, then page-cached), sequential write 128k
// (with a final fsync), random read 4k (cold). Median of 3, bytes/s.
// `node dist/test/bench/e2e/fuse-throughput.bench.js` prints JSON lines.
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { runOk } from '../../helpers/run.js';
import type { BenchLine } from '../run.js';
import { dropCaches, median, openBench, type Target } from './fuse-targets.js';

const SIZE = process.env.STABLEID_BENCH_SIZE ?? '256M';
const REPS = 3;

async function fio(file: string, rw: string, bs: string, extra: string[] = []): Promise<number> {
  const out = await runOk('fio', ['--name=b', `--filename=${file}`, `--rw=${rw}`, `--bs=${bs}`, `--size=${SIZE}`, '--ioengine=psync', '--fallocate=none', '--output-format=json', ...extra], { timeoutMs: 600_000 });
  const job = JSON.parse(out.slice(out.indexOf('{'))).jobs[0];
  return (rw.includes('read') ? job.read : job.write).bw_bytes as number;
}

const workloads: Array<{ name: string; run: (t: Target, src: string) => Promise<number>; goal?: string }> = [
  {
    name: 'fio seq read 128k, cold',
    run: async (t) => {
      await dropCaches();
      return fio(join(t.dir, 'data'), 'read', '128k');
    },
    goal: 'stableid >= bindfs throughput',
  },
  {
    name: 'fio seq read 128k, page-cached',
    run: async (t) => {
      await fio(join(t.dir, 'data'), 'read', '128k', ['--invalidate=0']);
      return fio(join(t.dir, 'data'), 'read', '128k', ['--invalidate=0']);
    },
    goal: 'stableid at raw speed',
  },
  {
    name: 'fio seq write 128k (+fsync)',
    run: async (t, src) => {
      const bw = await fio(join(t.dir, 'w.dat'), 'write', '128k', ['--end_fsync=1']);
      await rm(join(src, 'w.dat'), { force: true });
      return bw;
    },
    goal: 'stableid >= bindfs throughput',
  },
  {
    name: 'fio rand read 4k, cold, 5 s',
    run: async (t) => {
      await dropCaches();
      return fio(join(t.dir, 'data'), 'randread', '4k', ['--runtime=5', '--time_based']);
    },
  },
];

export async function run(): Promise<BenchLine[]> {
  const b = await openBench('stableid-bench-fio-');
  try {
    await fio(join(b.src, 'data'), 'write', '1M', ['--end_fsync=1']);
    const out: BenchLine[] = [];
    for (const w of workloads) {
      for (const t of b.targets) {
        const xs: number[] = [];
        for (let i = 0; i < REPS; i++) xs.push(await w.run(t, b.src));
        out.push({ bench: 'fuse-fio', name: w.name, target: t.name, baseline: t.name === 'raw', value: Math.round(median(xs) / 1048576), unit: 'MiB/s', better: 'higher', goal: w.goal, note: `size ${SIZE}, median of ${REPS}` });
        console.log(JSON.stringify(out.at(-1)));
      }
    }
    return out;
  } finally {
    await b.close();
  }
}

if (process.argv[1]?.endsWith('fuse-throughput.bench.js')) await run();
