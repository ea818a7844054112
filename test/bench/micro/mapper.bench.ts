// Mapper micro benchmark (not a test): known-pair lookups per second, table
// load time with 100 and 65535 prefixes, time to make a new prefix durable.
// `node dist/test/bench/micro/mapper.bench.js` prints one JSON line per result;
// the bench runner imports run() instead.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StableIdMapper } from '../../../lib/mapper/stable-mapper.js';
import { fingerprint } from '../../../lib/table/checksum.js';
import { emptyTable, type TableData } from '../../../lib/table/record.js';
import { PersistentTable } from '../../../lib/table/table.js';

export interface BenchResult {
  bench: string;
  name: string;
  value: number;
  unit: string;
  goal?: string;
  note?: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

/** n prefixes spread over `devices` devices, each with a UUID-sized identity. */
function bigTable(n: number, devices: number): TableData {
  const t = emptyTable();
  for (let i = 0; i < devices; i++) {
    const identity = `uuid:ext4:${i.toString(16).padStart(8, '0')}-6d37-413c-9913-7e64ec92feff`;
    t.devices.push({ kind: 'uuid', identity, alt: `mount:ext4:/dev/loop${i}:d${i}`, fingerprint: fingerprint(identity) });
  }
  for (let i = 0; i < n; i++) t.prefixes.push({ device: i % devices, hi: Math.floor(i / devices) });
  return t;
}

async function lookups(dir: string): Promise<BenchResult[]> {
  const table = new PersistentTable({ root: dir, stateFile: join(dir, 'l.table') });
  table.mode = 'file';
  const m = new StableIdMapper({ root: dir, rootDev: 1n, table, data: await table.load(), identify: async (dev) => ({ kind: 'stdev', identity: `stdev:${dev}`, alt: '' }) });
  const devs = [1n, 2n, 3n];
  const pairs: [bigint, bigint][] = [];
  for (let i = 0; i < 4096; i++) pairs.push([devs[i % 3]!, BigInt(1000 + i * 7919) | (i % 8 === 0 ? 1n << 48n : 0n)]);
  for (const [d, i] of pairs) await m.idFor(d, i); // all known from here on
  const out: BenchResult[] = [];
  for (const [name, sel] of [
    ['knownId, root device, ino < 2^48 (prefix 0)', pairs.filter(([d, i]) => d === 1n && i < 1n << 48n)],
    ['knownId, mixed devices and ino >= 2^48', pairs],
  ] as const) {
    const n = 10_000_000;
    let sink = 0n;
    const rates: number[] = [];
    for (let rep = 0; rep < 3; rep++) {
      const t0 = process.hrtime.bigint();
      for (let k = 0; k < n; k++) {
        const p = sel[k & 1023]!; // both sets hold more than 1024 pairs
        sink ^= m.knownId(p[0], p[1])!;
      }
      rates.push(n / (ms(t0) / 1000));
    }
    if (sink === -1n) console.log(sink);
    out.push({ bench: 'mapper', name, value: Math.round(median(rates)), unit: 'lookups/s', goal: '>= 5000000' });
  }
  return out;
}

async function loads(dir: string): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  for (const [n, devices] of [[100, 10], [65535, 16], [65535, 65535]] as const) {
    const stateFile = join(dir, `t${n}-${devices}.table`);
    const w = new PersistentTable({ root: dir, stateFile });
    w.mode = 'file';
    await w.save(bigTable(n, devices));
    const times: number[] = [];
    for (let rep = 0; rep < 7; rep++) {
      const t0 = process.hrtime.bigint();
      const table = new PersistentTable({ root: dir, stateFile });
      const data = await table.load();
      new StableIdMapper({ root: dir, rootDev: 1n, table, data });
      times.push(ms(t0));
    }
    out.push({ bench: 'mapper', name: `table load + mapper build, ${n} prefixes on ${devices} devices, state file`, value: +median(times).toFixed(2), unit: 'ms', goal: '< 50', note: `median of 7, load average ${loadavg()[0]!.toFixed(1)}` });
  }
  return out;
}

async function durable(dir: string): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  for (const mode of ['xattr', 'file'] as const) {
    const root = await mkdtemp(join(dir, `d-${mode}-`));
    const table = new PersistentTable({ root, stateFile: join(root, 's.table') });
    const data = await table.load();
    if (mode === 'file') table.mode = 'file';
    const m = new StableIdMapper({ root, rootDev: 1n, table, data });
    const times: number[] = [];
    for (let i = 1; i <= 40; i++) {
      const t0 = process.hrtime.bigint();
      await m.idFor(1n, BigInt(i) << 48n);
      times.push(ms(t0));
    }
    const fs = (await stat(root)).dev;
    out.push({ bench: 'mapper', name: `new prefix durable (write + fsync), ${table.mode === 'xattr' ? 'xattrs' : 'state file'}, 1..40 prefixes`, value: +median(times).toFixed(3), unit: 'ms', note: `median of 40 on ${tmpdir()} (st_dev ${fs})` });
  }
  return out;
}

export async function run(): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'stableid-bench-'));
  try {
    return [...(await lookups(dir)), ...(await loads(dir)), ...(await durable(dir))];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export default run;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const r of await run()) console.log(JSON.stringify(r));
}
