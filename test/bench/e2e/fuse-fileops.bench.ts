// File-server ops through each target (raw directory, bindfs, stableid FUSE
// mount): a 256 MiB copy with copy_file_range(2) (bindfs has none: the
// kernel falls back to reading and writing through it), and 10,000 fcntl
// lock+unlock pairs (Samba takes one per SMB byte-range lock). Median of 3.
// `node dist/test/bench/e2e/fuse-fileops.bench.js` prints JSON lines.
import { join } from 'node:path';
import { runOk } from '../../helpers/run.js';
import type { BenchLine } from '../run.js';
import { median, openBench, type Target } from './fuse-targets.js';

const REPS = 3;
const SIZE = 256 << 20;

// Timed inside the child, so interpreter start-up is not counted.
const COPY = String.raw`
import os, sys, time
src, dst = sys.argv[1], sys.argv[2]
fin = os.open(src, os.O_RDONLY)
fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
t0 = time.monotonic()
while os.copy_file_range(fin, fout, 1 << 24): pass
os.fsync(fout)
print(time.monotonic() - t0)
os.unlink(dst)
`;

const LOCKS = String.raw`
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
t0 = time.monotonic()
for i in range(10000):
    fcntl.fcntl(fd, fcntl.F_SETLK, struct.pack('hhqqi4x', fcntl.F_WRLCK, 0, i, 1, 0))
    fcntl.fcntl(fd, fcntl.F_SETLK, struct.pack('hhqqi4x', fcntl.F_UNLCK, 0, i, 1, 0))
print(time.monotonic() - t0)
`;

const py = async (script: string, ...args: string[]): Promise<number> => Number((await runOk('python3', ['-c', script, ...args], { timeoutMs: 600_000 })).trim());

const workloads: Array<{ name: string; run: (t: Target) => Promise<number> }> = [
  { name: 'copy_file_range 256 MiB + fsync', run: (t) => py(COPY, join(t.dir, 'big'), join(t.dir, 'copy')) },
  { name: 'fcntl lock+unlock 10k', run: (t) => py(LOCKS, join(t.dir, 'lockme')) },
];

export async function run(): Promise<BenchLine[]> {
  const b = await openBench('stableid-bench-fileops-');
  try {
    await runOk('dd', ['if=/dev/urandom', `of=${join(b.src, 'big')}`, 'bs=1M', `count=${SIZE >> 20}`, 'status=none'], { timeoutMs: 120_000 });
    await runOk('touch', [join(b.src, 'lockme')]);
    const out: BenchLine[] = [];
    for (const w of workloads) {
      for (const t of b.targets) {
        const xs: number[] = [];
        for (let i = 0; i < REPS; i++) xs.push(await w.run(t));
        out.push({ bench: 'fuse-fileops', name: w.name, target: t.name, baseline: t.name === 'raw', value: +median(xs).toFixed(3), unit: 's', better: 'lower', note: `median of ${REPS}` });
        console.log(JSON.stringify(out.at(-1)));
      }
    }
    return out;
  } finally {
    await b.close();
  }
}

if (process.argv[1]?.endsWith('fuse-fileops.bench.js')) await run();
