// The bench runner (`npm run bench [-- FILTER]`): runs every
// dist/test/bench/**/*.bench.js as a child process (a benchmark that mounts
// something must never share a process with a client of that mount), reads
// the JSON lines each prints, and ends with one table: every workload with
// each target's value and its ratio to the baseline (the raw directory).
//
// A JSON line is { bench, name, value, unit } plus optionally:
//   target      which side measured it ('raw', 'bindfs', 'stableid-fuse', ...)
//   baseline    true on the line the other targets are compared with
//   better      'higher' (throughput) or 'lower' (time; the default for s/ms)
//   goal, note  free text shown as is
import { readdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Started } from '../helpers/run.js';

export interface BenchLine {
  bench: string;
  name: string;
  value: number;
  unit: string;
  target?: string;
  baseline?: boolean;
  better?: 'higher' | 'lower';
  goal?: string;
  note?: string;
}

const here = dirname(fileURLToPath(import.meta.url));

async function benchFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await benchFiles(p)));
    else if (e.name.endsWith('.bench.js')) out.push(p);
  }
  return out.sort();
}

function higherIsBetter(l: BenchLine): boolean {
  return l.better ? l.better === 'higher' : /\/s$/.test(l.unit);
}

/** Slowdown against the baseline: > 1 means slower than the raw directory. */
export function ratio(line: BenchLine, base: BenchLine): number {
  return higherIsBetter(line) ? base.value / line.value : line.value / base.value;
}

export function table(lines: BenchLine[]): string {
  const rows: string[][] = [['bench', 'workload', 'target', 'value', 'vs baseline', 'goal / note']];
  const groups = new Map<string, BenchLine[]>();
  for (const l of lines) {
    const key = `${l.bench}\0${l.name}`;
    groups.set(key, [...(groups.get(key) ?? []), l]);
  }
  for (const group of groups.values()) {
    const base = group.find((l) => l.baseline);
    for (const l of group) {
      const r = base && base !== l && base.value > 0 && l.value > 0 ? `${ratio(l, base).toFixed(2)}x` : base === l ? 'baseline' : '';
      rows.push([l.bench, l.name, l.target ?? '', `${+l.value.toPrecision(4)} ${l.unit}`, r, [l.goal, l.note].filter(Boolean).join('; ')]);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

/**
 * A line for the table, or undefined for an info line (no numeric value).
 * The 9P benches print { bench: workload, server, value, unit }: their
 * baseline is the peer, diod, serving the same directory to the same client.
 */
export function normalize(raw: Record<string, unknown>, file: string): BenchLine | undefined {
  if (typeof raw.value !== 'number' || !Number.isFinite(raw.value)) return undefined;
  if (typeof raw.name === 'string') return raw as unknown as BenchLine;
  if (typeof raw.server !== 'string' || typeof raw.bench !== 'string') return undefined;
  return {
    bench: file.replace(/^.*\//, '').replace(/\.bench\.js$/, ''),
    name: raw.bench,
    value: raw.value,
    unit: String(raw.unit ?? ''),
    target: raw.server,
    baseline: raw.server === 'diod',
    better: /\/s$/.test(String(raw.unit)) ? 'higher' : 'lower',
    note: 'baseline: diod',
  };
}

async function main(): Promise<number> {
  const filter = process.argv[2];
  const files = (await benchFiles(here)).filter((f) => !filter || f.includes(filter));
  const lines: BenchLine[] = [];
  let failed = 0;
  for (const file of files) {
    const name = relative(here, file);
    process.stderr.write(`bench: ${name}\n`);
    const proc = new Started(process.execPath, [file]);
    const exit = await proc.exit(30 * 60_000);
    if (!exit) proc.child.kill('SIGTERM');
    for (const text of proc.stdout.split('\n')) {
      if (!text.startsWith('{')) continue;
      try {
        const l = normalize(JSON.parse(text) as Record<string, unknown>, name);
        if (l) lines.push(l);
        process.stdout.write(`${text}\n`);
      } catch {
        /* not ours */
      }
    }
    if (!exit || exit.code !== 0) {
      failed++;
      process.stderr.write(`bench: ${name} failed (${exit ? `exit ${exit.code ?? exit.signal}` : 'timed out'}):\n${proc.stderr.slice(-2000)}\n`);
    }
  }
  process.stdout.write(`\n${table(lines)}\n`);
  return failed ? 1 : 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main();
