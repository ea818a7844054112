// StableIdMapper over a real PersistentTable in a temp dir, with device
// identities injected (real devices are in test/integration/devices.test.ts).
import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsError } from '../../lib/errno.js';
import type { Identity } from '../../lib/mapper/identity.js';
import { MAX_PREFIX } from '../../lib/mapper/mapper.js';
import { openMapper } from '../../lib/mapper/open.js';
import { StableIdMapper } from '../../lib/mapper/stable-mapper.js';
import { fingerprint } from '../../lib/table/checksum.js';
import { PersistentTable } from '../../lib/table/table.js';

const ROOT_DEV = 1n;
const uuid = (n: number): Identity => ({ kind: 'uuid', identity: `uuid:ext4:fake-${n}`, alt: `mount:ext4:/dev/fake${n}:d${n}` });

async function tempRoot(t: import('ava').ExecutionContext): Promise<{ root: string; stateFile: string }> {
  const root = await mkdtemp(join(tmpdir(), 'stableid-mapper-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  return { root, stateFile: join(root, '.state', 'm.table') };
}

/** A mapper whose st_dev -> identity is `devs` (st_dev numbers may differ between runs). */
async function mapper(where: { root: string; stateFile: string }, devs: Map<bigint, Identity>, log?: (m: string) => void) {
  const table = new PersistentTable({ ...where, log });
  const data = await table.load();
  let saves = 0;
  const save = table.save.bind(table);
  table.save = (d) => (saves++, save(d));
  const m = new StableIdMapper({
    root: where.root,
    rootDev: ROOT_DEV,
    table,
    data,
    log,
    identify: async (dev) => (dev === ROOT_DEV ? { kind: 'root', identity: 'root', alt: 'root' } : devs.get(dev) ?? { kind: 'stdev', identity: `stdev:${dev}`, alt: `stdev:${dev}` }),
  });
  return { m, saves: () => saves, table };
}

test('root device keeps raw inode numbers; other devices get prefixes in order', async (t) => {
  const w = await tempRoot(t);
  const { m } = await mapper(w, new Map([[7n, uuid(1)], [8n, uuid(2)]]));
  t.is(m.knownId(ROOT_DEV, 12345n), 12345n, 'known without I/O');
  t.is(await m.idFor(ROOT_DEV, 12345n), 12345n);
  t.is(await m.idFor(7n, 12n), (1n << 48n) | 12n);
  t.is(await m.idFor(8n, 12n), (2n << 48n) | 12n);
  t.is(await m.idFor(ROOT_DEV, (5n << 48n) | 3n), (3n << 48n) | 3n, 'root device with ino >= 2^48 gets its own prefix');
  t.is(m.knownId(7n, 99n), (1n << 48n) | 99n);
  t.is(m.knownId(9n, 1n), undefined);
  t.true(m.isReservedXattr('user.stableid.a.0'));
  t.false(m.isReservedXattr('user.stableidx'));
  t.false(m.isReservedXattr('user.other'));
});

test('concurrent idFor calls for one new pair share one allocation and one write', async (t) => {
  const w = await tempRoot(t);
  const { m, saves } = await mapper(w, new Map([[7n, uuid(1)]]));
  const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => m.idFor(7n, BigInt(i))));
  t.deepEqual(new Set(ids.map((id) => id >> 48n)), new Set([1n]));
  t.is(saves(), 1);
  // Many new pairs at once: writes are grouped, not one per pair.
  const many = await Promise.all(Array.from({ length: 40 }, (_, i) => m.idFor(BigInt(100 + i), 1n)));
  t.is(new Set(many).size, 40);
  t.true(saves() <= 3, `${saves()} writes for 40 new prefixes`);
});

test('property: thousands of random pairs (ino >= 2^48 and >= 2^63) stay injective and stable across save, reload and new st_dev numbers', async (t) => {
  const w = await tempRoot(t);
  let seed = 0x2545f491; // mulberry32: deterministic, so a failure can be replayed
  const rnd = () => {
    let z = (seed = (seed + 0x6d2b79f5) | 0);
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 2 ** 32;
  };
  const rand64 = () => (BigInt(Math.floor(rnd() * 2 ** 32)) << 32n) | BigInt(Math.floor(rnd() * 2 ** 32));
  const devCount = 20;
  const his = Array.from({ length: 40 }, () => BigInt(Math.floor(rnd() * 0x10000)));
  const pairs: { dev: number; ino: bigint }[] = [];
  for (let i = 0; i < 5000; i++) {
    const dev = Math.floor(rnd() * devCount);
    const r = rnd();
    const low = rand64() & ((1n << 48n) - 1n);
    const ino = r < 0.3 ? low : r < 0.6 ? (his[Math.floor(rnd() * his.length)]! << 48n) | low : r < 0.8 ? (1n << 63n) | rand64() : rand64();
    pairs.push({ dev, ino });
  }
  pairs.push({ dev: 0, ino: (1n << 64n) - 1n }, { dev: 1, ino: 1n << 63n }, { dev: 2, ino: 1n << 48n });
  // Run 1: identity n lives on st_dev 100 + n. Run 2: on st_dev 500 - n (renumbered, like a reboot).
  const run1 = new Map(Array.from({ length: devCount }, (_, n) => [BigInt(100 + n), uuid(n)]));
  const run2 = new Map(Array.from({ length: devCount }, (_, n) => [BigInt(500 - n), uuid(n)]));
  const a = await mapper(w, run1);
  const ids1 = await Promise.all(pairs.map((p) => a.m.idFor(BigInt(100 + p.dev), p.ino)));
  const owner = new Map<bigint, string>();
  pairs.forEach((p, i) => {
    const key = `${p.dev}:${p.ino}`;
    const prev = owner.get(ids1[i]!);
    if (prev !== undefined && prev !== key) t.fail(`id ${ids1[i]} for ${prev} and ${key}`);
    owner.set(ids1[i]!, key);
    t.is(ids1[i]! & ((1n << 48n) - 1n), p.ino & ((1n << 48n) - 1n));
  });
  await a.m.close();
  const b = await mapper(w, run2);
  const ids2 = await Promise.all(pairs.map((p) => b.m.idFor(BigInt(500 - p.dev), p.ino)));
  t.deepEqual(ids2, ids1);
  t.is(b.saves(), 0, 'nothing new after reload');
  t.log(`${pairs.length} pairs, ${b.m.tableData.prefixes.length} prefixes, table in ${b.table.where}`);
});

test('a prefix is never given twice: exhaustion is EOVERFLOW, with a warning from 90%', async (t) => {
  const w = await tempRoot(t);
  const logs: string[] = [];
  const table = new PersistentTable(w);
  const data = await table.load();
  data.devices.push({ kind: 'stdev', identity: 'stdev:filler', alt: '', fingerprint: fingerprint('stdev:filler') });
  for (let i = 0; i < MAX_PREFIX - 2; i++) data.prefixes.push({ device: 0, hi: i % 0x10000 });
  (table as { mode: string }).mode = 'file'; // a 512 KiB table: keep the test's xattrs out of it
  const m = new StableIdMapper({ root: w.root, rootDev: ROOT_DEV, table, data, log: (s) => logs.push(s), identify: async (dev) => ({ kind: 'stdev', identity: `stdev:${dev}`, alt: '' }) });
  t.is((await m.idFor(10n, 1n)) >> 48n, BigInt(MAX_PREFIX - 1));
  t.regex(logs.join('\n'), /65534 of 65535 id prefixes .* are used/);
  t.is((await m.idFor(11n, 1n)) >> 48n, BigInt(MAX_PREFIX));
  const err = await t.throwsAsync(m.idFor(12n, 1n), { instanceOf: FsError });
  t.is((err as FsError).code, 'EOVERFLOW');
  t.regex(logs.join('\n'), /all 65535 prefixes .* are used/);
  t.is(await m.idFor(11n, 5n), (BigInt(MAX_PREFIX) << 48n) | 5n, 'known pairs still work');
});

test('two filesystems with one UUID (a cloned image) still get different prefixes', async (t) => {
  const w = await tempRoot(t);
  const logs: string[] = [];
  const clone = (place: string): Identity => ({ kind: 'uuid', identity: 'uuid:ext4:same', alt: `mount:ext4:/dev/x:${place}` });
  const { m } = await mapper(w, new Map([[7n, clone('a')], [8n, clone('b')]]), (s) => logs.push(s));
  t.not(await m.idFor(7n, 20n), await m.idFor(8n, 20n));
  t.regex(logs.join('\n'), /cloned filesystem/);
});

test('a device first recorded by mount place is recognised once its UUID is readable', async (t) => {
  const w = await tempRoot(t);
  const place = 'mount:ext4:/dev/loop3:data';
  const a = await mapper(w, new Map([[7n, { kind: 'mount', identity: place, alt: place }]]));
  const id = await a.m.idFor(7n, 20n);
  await a.m.close();
  const logs: string[] = [];
  const b = await mapper(w, new Map([[9n, { kind: 'uuid', identity: 'uuid:ext4:u1', alt: place }]]), (s) => logs.push(s));
  t.is(await b.m.idFor(9n, 20n), id);
  t.regex(logs.join('\n'), /matched table entry .* by its mount place/);
});

test('one writer per export: a second openMapper is refused until the first closes', async (t) => {
  const w = await tempRoot(t);
  const first = await openMapper({ root: w.root, stateDir: join(w.root, '.state') });
  const err = await t.throwsAsync(openMapper({ root: w.root, stateDir: join(w.root, '.state') }));
  t.regex(err!.message, new RegExp(`${w.root} is already served by another stableid \\(pid ${process.pid}\\)`));
  await first.close();
  const second = await openMapper({ root: w.root, stateDir: join(w.root, '.state') });
  await second.close();
  t.pass();
});

test('a disk found at another place follows its UUID, and the log says so', async (t) => {
  const w = await tempRoot(t);
  const a = await mapper(w, new Map([[7n, { kind: 'uuid', identity: 'uuid:xfs:u9', alt: 'mount:xfs:/dev/loop1:old' }]]));
  const id = await a.m.idFor(7n, 30n);
  await a.m.close();
  const logs: string[] = [];
  const b = await mapper(w, new Map([[8n, { kind: 'uuid', identity: 'uuid:xfs:u9', alt: 'mount:xfs:/dev/loop4:new/place' }]]), (s) => logs.push(s));
  t.is(await b.m.idFor(8n, 30n), id);
  t.regex(logs.join('\n'), /uuid:xfs:u9 moved from mount:xfs:\/dev\/loop1:old to mount:xfs:\/dev\/loop4:new\/place; following its UUID/);
});

test('a failed table write fails the call, keeps the prefix reserved, and the next call retries', async (t) => {
  const w = await tempRoot(t);
  const logs: string[] = [];
  const { m, table } = await mapper(w, new Map([[7n, uuid(1)], [8n, uuid(2)]]), (s) => logs.push(s));
  const save = table.save;
  table.save = async () => {
    throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  };
  await t.throwsAsync(m.idFor(7n, 1n), { message: /ENOSPC/ });
  t.is(m.knownId(7n, 1n), undefined, 'no id escaped before the prefix was durable');
  t.regex(logs.join('\n'), /cannot store the id table in .*: ENOSPC/);
  table.save = save;
  t.is(await m.idFor(8n, 1n), (2n << 48n) | 1n, 'prefix 1 stays reserved for the first device');
  t.is(await m.idFor(7n, 1n), (1n << 48n) | 1n);
});
