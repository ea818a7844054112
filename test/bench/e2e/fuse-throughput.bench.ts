// fio through each target (raw directory, bindfs, stableid FUSE mount):
// sequential read 128k (cold, then page-cached), sequential write 128k
// (with a final fsync), random read 4k (cold, with and without fio's
// FADV_RANDOM hint). Median of 3, bytes/s.
// `node dist/test/bench/e2e/fuse-throughput.bench.js` prints JSON lines.
//
// A cold row starts with no page of SRC/data cached (coldFile proves it with
// fincore) and its note shows how many pages the runs left cached: the
// pages they read from the disk, readahead included. Two fio defaults would
// favour the FUSE targets, because fio's posix_fadvise calls on a FUSE file
// reach the FUSE inode and never the file on SRC that the reads end at:
// - time_based random reads wrap around after one pass over the file, and
//   fio starts each pass with POSIX_FADV_DONTNEED: only the raw target's
//   cache is emptied, the mounts read the later passes from memory (the
//   old "4k rand read cold, 5 s" row: raw 51 MiB/s, stableid 904 MiB/s).
//   The random rows read half the blocks, each once, in one pass.
// - fadvise_hint (FADV_SEQUENTIAL, FADV_RANDOM) changes readahead on the raw
//   file only. The main cold rows turn it off (every target reads ahead the
//   kernel's default way); one row keeps FADV_RANDOM to show what an
//   application asking for it gets through a mount.
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { runOk } from '../../helpers/run.js';
import type { BenchLine } from '../run.js';
import { coldFile, residentPages } from './cold-cache.js';
import { median, openBench, type Target } from './fuse-targets.js';

const SIZE = process.env.STABLEID_BENCH_SIZE ?? '256M';
const REPS = 3;

async function fio(file: string, rw: string, bs: string, extra: string[] = []): Promise<number> {
  const out = await runOk('fio', ['--name=b', `--filename=${file}`, `--rw=${rw}`, `--bs=${bs}`, `--size=${SIZE}`, '--ioengine=psync', '--fallocate=none', '--output-format=json', ...extra], { timeoutMs: 600_000 });
  const job = JSON.parse(out.slice(out.indexOf('{'))).jobs[0];
  return (rw.includes('read') ? job.read : job.write).bw_bytes as number;
}

/** One fio read of t's view of SRC/data from a proven-cold start; seen gets "cached before->after". */
async function cold(t: Target, src: string, seen: string[], rw: string, bs: string, extra: string[]): Promise<number> {
  const data = join(src, 'data');
  const before = await coldFile(data);
  const bw = await fio(join(t.dir, 'data'), rw, bs, extra);
  seen.push(`${before.resident}->${(await residentPages(data)).resident}`);
  return bw;
}

/** The hint is fio's per-file posix_fadvise; it reaches SRC's cache only on the raw target. */
const NO_HINT = '--fadvise_hint=0';
/**
 * Half the file's blocks in random order, each once (fio's random map; no
 * time_based, so no second pass that starts with fio's DONTNEED). The pages
 * cached after it, against half the file, show what readahead added.
 */
const HALF = '--io_size=50%';

const workloads: Array<{ name: string; run: (t: Target, src: string, seen: string[]) => Promise<number>; goal?: string; note?: string }> = [
  {
    name: 'fio seq read 128k, cold',
    run: (t, src, seen) => cold(t, src, seen, 'read', '128k', [NO_HINT]),
    goal: '>= 0.9x raw with passthrough, >= bindfs without',
  },
  {
    name: 'fio seq read 128k, page-cached',
    run: async (t) => {
      await fio(join(t.dir, 'data'), 'read', '128k', ['--invalidate=0']);
      return fio(join(t.dir, 'data'), 'read', '128k', ['--invalidate=0']);
    },
    goal: '>= 0.9x raw with passthrough, >= bindfs without',
  },
  {
    name: 'fio seq write 128k (+fsync)',
    run: async (t, src) => {
      const bw = await fio(join(t.dir, 'w.dat'), 'write', '128k', ['--end_fsync=1']);
      await rm(join(src, 'w.dat'), { force: true });
      return bw;
    },
    goal: '>= 0.9x raw with passthrough, >= bindfs without',
  },
  {
    name: 'fio rand read 4k, cold, half the file',
    run: (t, src, seen) => cold(t, src, seen, 'randread', '4k', [NO_HINT, HALF]),
  },
  {
    name: 'fio rand read 4k, cold, half the file, FADV_RANDOM',
    run: (t, src, seen) => cold(t, src, seen, 'randread', '4k', [HALF]),
    note: 'fio asks for FADV_RANDOM: only the raw file gets it; through a FUSE mount (passthrough or bindfs) SRC still reads ahead',
  },
];

export async function run(): Promise<BenchLine[]> {
  const b = await openBench('stableid-bench-fio-', { withoutPassthrough: true });
  try {
    for (const src of b.sources) await fio(join(src, 'data'), 'write', '1M', ['--end_fsync=1']);
    const out: BenchLine[] = [];
    for (const w of workloads) {
      for (const t of b.targets) {
        const xs: number[] = [];
        const seen: string[] = [];
        for (let i = 0; i < REPS; i++) xs.push(await w.run(t, t.src, seen));
        const pages = seen.length ? `pages of SRC/data cached before->after each run: ${seen.join(', ')} of ${(await residentPages(join(t.src, 'data'))).pages}` : undefined;
        const note = [w.note, pages, `size ${SIZE}, median of ${REPS}`].filter(Boolean).join('; ');
        out.push({ bench: 'fuse-fio', name: w.name, target: t.name, baseline: t.name === 'raw', value: Math.round(median(xs) / 1048576), unit: 'MiB/s', better: 'higher', goal: w.goal, note });
        console.log(JSON.stringify(out.at(-1)));
      }
    }
    return out;
  } finally {
    await b.close();
  }
}

if (process.argv[1]?.endsWith('fuse-throughput.bench.js')) await run();
