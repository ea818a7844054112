// The cluster pieces without a cluster: the shared table protocol with two
// mappers on one local directory (OFD locks exclude two open files in one
// process just as they exclude two mounts), merging, identities every node
// computes alike, unsigned inode numbers, the Gluster run and the per-device
// cap. Real Gluster mounts: test/integration/cluster-gluster.test.ts.
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm, symlink, unlink, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsError } from '../../lib/errno.js';
import { cephFsid, normalizeSource } from '../../lib/mapper/cluster.js';
import { identify, type Identity, parseMountinfo } from '../../lib/mapper/identity.js';
import { MAX_DEVICE_PREFIXES } from '../../lib/mapper/mapper.js';
import { StableIdMapper } from '../../lib/mapper/stable-mapper.js';
import { ClusterLock, CLUSTER_LOCK_NAME } from '../../lib/table/cluster-lock.js';
import { mergeNewer } from '../../lib/table/merge.js';
import { emptyTable, TableCorruptError } from '../../lib/table/record.js';
import { PersistentTable, SharedTableError } from '../../lib/table/table.js';

const ROOT_DEV = 1n;
const gluster = (vol: string, place: string): Identity => ({ kind: 'mount', identity: `mount:fuse.glusterfs:h:/${vol}:${place}`, alt: `mount:fuse.glusterfs:h:/${vol}:${place}`, inoRun: [0x8000, 0xbfff] });
const plain = (n: number): Identity => ({ kind: 'uuid', identity: `uuid:ext4:u${n}`, alt: `mount:ext4:/dev/x${n}:d${n}` });

async function tempRoot(t: ExecutionContext): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'stableid-cluster-unit-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  return root;
}

/** A mapper as one node opens it: its own table object over the shared root. */
async function node(root: string, devs: Map<bigint, Identity>, shared = true, log?: (m: string) => void) {
  const table = new PersistentTable({ root, stateFile: join(root, '.state', 'n.table'), shared, log });
  const data = await table.load();
  let saves = 0;
  const save = table.save.bind(table);
  table.save = (d) => (saves++, save(d));
  const identity = async (dev: bigint): Promise<Identity> => (dev === ROOT_DEV ? { kind: 'root', identity: 'root', alt: 'root' } : devs.get(dev)!);
  return { m: new StableIdMapper({ root, rootDev: ROOT_DEV, table, data, log, identify: identity }), table, saves: () => saves };
}

test('Node reads st_ino >= 2^63 as a negative bigint: the mapper takes it as the unsigned number', async (t) => {
  const root = await tempRoot(t);
  const { m } = await node(root, new Map([[7n, plain(1)]]), false);
  const ino = 0x8d7d_3179_d017_d093n; // a Gluster st_ino
  const signed = BigInt.asIntN(64, ino);
  t.true(signed < 0n);
  t.is(await m.idFor(ROOT_DEV, signed), await m.idFor(ROOT_DEV, ino));
  t.is(m.knownId(ROOT_DEV, signed), m.knownId(ROOT_DEV, ino));
  t.true((await m.idFor(7n, signed)) > 0n, 'never a negative id');
  t.is((await m.idFor(7n, signed)) & ((1n << 48n) - 1n), ino & ((1n << 48n) - 1n));
});

test('a Gluster device claims its whole GFID run in one write, then adds no prefix per new file', async (t) => {
  const root = await tempRoot(t);
  const { m, saves } = await node(root, new Map([[7n, gluster('v', 'g')]]), false);
  const id = await m.idFor(7n, 0x9abc_0000_0000_0001n);
  t.is(saves(), 1);
  t.is(m.tableData.prefixes.length, 0x4000);
  t.is(id >> 48n, BigInt(0x9abc - 0x8000 + 1), 'prefixes follow ino >> 48 in order');
  for (const hi of [0x8000n, 0xbfffn, 0xa123n]) await m.idFor(7n, (hi << 48n) | 5n);
  t.is(saves(), 1, 'every other GFID-derived ino is known already');
  await m.idFor(7n, 1n); // the volume root (GFID 1): outside the run, one more prefix
  t.is(m.tableData.prefixes.length, 0x4001);
});

test('a hash-like device stops at MAX_DEVICE_PREFIXES with EOVERFLOW; other devices still get prefixes', async (t) => {
  const root = await tempRoot(t);
  const logs: string[] = [];
  const { m, table } = await node(root, new Map([[7n, plain(1)], [8n, plain(2)]]), false, (s) => logs.push(s));
  (table as { mode: string }).mode = 'file'; // a 130 KiB table: keep it out of the tmp dir's xattrs
  const ids = await Promise.all(Array.from({ length: MAX_DEVICE_PREFIXES }, (_, i) => m.idFor(7n, (BigInt(i + 1) << 48n) | 3n)));
  t.is(new Set(ids).size, MAX_DEVICE_PREFIXES);
  t.regex(logs.join('\n'), /has taken 1024 id prefixes: its inode numbers look hash-like/);
  const err = await t.throwsAsync(m.idFor(7n, (0xfff0n << 48n) | 3n), { instanceOf: FsError });
  t.is((err as FsError).code, 'EOVERFLOW');
  t.regex(logs.join('\n'), /the most one device may/);
  t.is((await m.idFor(8n, 9n)) >> 48n, BigInt(MAX_DEVICE_PREFIXES + 1), 'another device is not starved');
});

test('two nodes sharing one table, allocating at once: one device record, one prefix per (device, ino >> 48), equal ids', async (t) => {
  const root = await tempRoot(t);
  // Spread inode numbers, but no known run: the whole Gluster run would not fit this ext4 root's 4 KiB of xattrs.
  const spread: Identity = { kind: 'mount', identity: 'mount:fuse.x:h:/v2:inner', alt: 'mount:fuse.x:h:/v2:inner' };
  const devsA = new Map([[7n, plain(1)], [8n, plain(2)], [9n, spread]]);
  // Node b sees the same filesystems under other st_dev numbers, as another machine would.
  const devsB = new Map([[17n, plain(1)], [18n, plain(2)], [19n, spread]]);
  const a = await node(root, devsA);
  const b = await node(root, devsB);
  const inos = Array.from({ length: 40 }, (_, i) => (BigInt(i % 5) << 48n) | BigInt(1000 + i));
  const gfids = Array.from({ length: 40 }, (_, i) => ((0x8000n + BigInt(i * 397)) << 48n) | BigInt(i));
  const [idsA, idsB] = await Promise.all([
    Promise.all([...inos.flatMap((ino) => [a.m.idFor(7n, ino), a.m.idFor(8n, ino)]), ...gfids.map((g) => a.m.idFor(9n, g))]),
    Promise.all([...inos.flatMap((ino) => [b.m.idFor(17n, ino), b.m.idFor(18n, ino)]), ...gfids.map((g) => b.m.idFor(19n, g))]),
  ]);
  t.deepEqual(idsB, idsA, 'the same file has one id on both nodes');
  t.is(new Set(idsA).size, idsA.length, 'no id for two files');
  const fresh = await new PersistentTable({ root, stateFile: join(root, 'x') }).load();
  t.deepEqual(fresh.devices.map((d) => d.identity).sort(), [plain(1).identity, plain(2).identity, spread.identity].sort());
  t.is(new Set(fresh.prefixes.map((p) => `${p.device}:${p.hi}`)).size, fresh.prefixes.length);
  t.is(fresh.prefixes.length, 5 + 5 + 40, 'ino >> 48 of 0..4 on two disks, 40 values on the third, each once');
  t.true(a.saves() + b.saves() < 20, `${a.saves()} + ${b.saves()} writes`);
});

test('a node learns a pair another node added by re-reading the table, without adding it again', async (t) => {
  const root = await tempRoot(t);
  const a = await node(root, new Map([[7n, plain(1)]]));
  const b = await node(root, new Map([[70n, plain(1)]]));
  const id = await a.m.idFor(7n, 5n);
  t.is(b.m.knownId(70n, 5n), undefined, 'b loaded its table before a added the device');
  t.is(await b.m.idFor(70n, 5n), id);
  t.is(b.saves(), 0);
});

test('a shared write that fails rolls back, so no other node can meet the numbers it reserved', async (t) => {
  const root = await tempRoot(t);
  const a = await node(root, new Map([[7n, plain(1)]]));
  const b = await node(root, new Map([[8n, plain(2)]]));
  const save = a.table.save;
  a.table.save = async () => {
    throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  };
  await t.throwsAsync(a.m.idFor(7n, 1n), { message: /ENOSPC/ });
  t.is(a.m.tableData.prefixes.length, 0);
  t.is(await b.m.idFor(8n, 1n), (1n << 48n) | 1n, 'b takes prefix 1');
  a.table.save = save;
  t.is(await a.m.idFor(7n, 1n), (2n << 48n) | 1n, 'a gets the next one after re-reading');
});

test('merge: a newer table must start with what this process knows', (t) => {
  const mine = emptyTable();
  mine.devices.push({ fingerprint: 1n, kind: 'uuid', identity: 'uuid:a', alt: '' });
  mine.prefixes.push({ device: 0, hi: 1 });
  mine.generation = 3n;
  const newer = structuredClone(mine);
  newer.prefixes.push({ device: 0, hi: 2 });
  newer.generation = 4n;
  t.deepEqual(mergeNewer(mine, newer, 'x'), { devices: 0, prefixes: 1 });
  t.is(mine.prefixes.length, 2);
  t.is(mine.generation, 4n);
  const other = structuredClone(newer);
  other.prefixes[1] = { device: 0, hi: 9 };
  t.throws(() => mergeNewer(mine, other, 'xattrs on /r'), { instanceOf: TableCorruptError, message: /xattrs on \/r: prefix 2 is \(device 0, 9\), was \(device 0, 2\)/ });
  const older = structuredClone(newer);
  older.generation = 2n;
  t.throws(() => mergeNewer(mine, older, 'x'), { message: /generation 2 read back after generation 4/ });
});

test('identity: a Gluster source is spelled alike on every node; CephFS is named by its cluster fsid', async (t) => {
  t.is(normalizeSource('fuse.glusterfs', '127.0.0.2:v1'), '127.0.0.2:/v1');
  t.is(normalizeSource('fuse.glusterfs', 'Srv1:/v1/'), 'srv1:/v1');
  t.is(normalizeSource('fuse.glusterfs', 'srv1:/v1/sub'), 'srv1:/v1/sub');
  t.is(normalizeSource('nfs4', 'Srv:/x/'), 'Srv:/x/');
  const mounts = parseMountinfo(
    [
      '26 1 254:1 / / rw - ext4 /dev/vda1 rw',
      '50 26 0:60 / /srv/share/g rw - fuse.glusterfs 127.0.0.2:v1 rw,user_id=0',
      '51 26 0:61 / /srv/share/c rw - fuse.ceph-fuse ceph-fuse rw,user_id=0',
      '52 26 0:62 / /srv/other rw - fuse.glusterfs 127.0.0.2:/v2 rw',
    ].join('\n'),
  );
  const o = { exportRoot: '/srv/share', rootDev: 0xfe01n, mounts, probe: async () => undefined };
  const fsid = 'B4F1C2D3-0000-4000-8000-00000000CAFE';
  const read = async (path: string, name: string) => {
    if (path !== '/srv/share/c' || name !== 'ceph.cluster_fsid') throw Object.assign(new Error('ENODATA'), { code: 'ENODATA' });
    return Buffer.from(fsid);
  };
  t.deepEqual(await identify(60n, { ...o, readXattr: read }), { kind: 'mount', identity: 'mount:fuse.glusterfs:127.0.0.2:/v1:g', alt: 'mount:fuse.glusterfs:127.0.0.2:/v1:g', inoRun: [0x8000, 0xbfff] });
  t.like(await identify(61n, { ...o, readXattr: read }), { kind: 'uuid', identity: `uuid:ceph:${fsid.toLowerCase()}:/`, alt: 'mount:fuse.ceph-fuse:ceph-fuse:c' });
  t.like(await identify(61n, { ...o, readXattr: async () => Buffer.from('') }), { kind: 'mount', identity: 'mount:fuse.ceph-fuse:ceph-fuse:c' });
  t.is(await cephFsid(mounts[1]!, read), undefined, 'only ceph mounts are asked');
  // An export whose root is a Gluster volume: its files' run is known for the root device too.
  t.deepEqual(await identify(62n, { ...o, exportRoot: '/srv/other', rootDev: 62n }), { kind: 'root', identity: 'root', alt: 'root', inoRun: [0x8000, 0xbfff] });
});

test('the cluster lock: one holder at a time across two openers; a replaced, symlinked or odd lock file is handled', async (t) => {
  const root = await tempRoot(t);
  const one = new ClusterLock(root);
  // Ten sections of 5 ms, one opener polling while the other chains its own: on a loaded machine the
  // poller can miss many openings in a row, so only the held-lock check below uses a short timeout.
  const two = new ClusterLock(root);
  const impatient = new ClusterLock(root, { timeoutMs: 300 });
  let inside = 0;
  let most = 0;
  const section = async () => {
    inside++;
    most = Math.max(most, inside);
    await new Promise((r) => setTimeout(r, 5));
    inside--;
  };
  await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? one : two).hold(section)));
  t.is(most, 1, 'never two sections at once');
  // Held by one, the other gives up with a message naming the file.
  let release!: () => void;
  const held = one.hold(() => new Promise<void>((r) => (release = r)));
  await new Promise((r) => setTimeout(r, 50));
  await t.throwsAsync(impatient.hold(async () => undefined), { message: new RegExp(`${CLUSTER_LOCK_NAME}: another stableid .* held the table lock for \\d+\\.\\d s`) });
  release();
  await held;
  await unlink(join(root, CLUSTER_LOCK_NAME));
  await symlink('/etc/passwd', join(root, CLUSTER_LOCK_NAME));
  await t.throwsAsync(one.hold(async () => undefined), { code: 'ELOOP' });
  await unlink(join(root, CLUSTER_LOCK_NAME));
  await mkdir(join(root, CLUSTER_LOCK_NAME));
  await t.throwsAsync(one.hold(async () => undefined), { code: 'EISDIR' });
});

test('a shared table cannot fall back to a node-local state file', async (t) => {
  const root = await tempRoot(t);
  const table = new PersistentTable({ root, stateFile: join(root, 's.table'), shared: true });
  await table.load();
  const save = table.xattrs.writeSlot.bind(table.xattrs);
  table.xattrs.writeSlot = async () => {
    const { StoreFullError } = await import('../../lib/table/store.js');
    throw new StoreFullError('cannot write user.stableid.a.0: ENOSPC', 'ENOSPC');
  };
  await t.throwsAsync(table.save(emptyTable()), { instanceOf: SharedTableError, message: /must live in its xattrs, where every node sees it/ });
  table.xattrs.writeSlot = save;
});
