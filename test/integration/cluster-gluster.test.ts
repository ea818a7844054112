// Scale-out with real parts: one GlusterFS volume, two "nodes" (private mount
// namespaces, as CTDB nodes on one host are run) that each mount it at the
// same path and run their own stableid-mount over it, and one smbd per node.
// The nodes share one table on the volume and take turns under its cluster
// lock. One glusterd and both nodes are set up once for the whole file; the
// tests run in order and build on each other (files made in one are checked
// again after the restart).
import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { smbConfSnippet } from '../../lib/cli/commands/smb-conf.js';
import { CLUSTER_LOCK_NAME } from '../../lib/table/cluster-lock.js';
import { ClusterNode, quote } from '../helpers/cluster-node.js';
import { idsUnder, type Served, serveStableid, sorted, unserveStableid } from '../helpers/cluster-stableid.js';
import { canGluster, type Gluster, startGluster } from '../helpers/gluster.js';
import { canLoop } from '../helpers/loop-images.js';
import { canMount, REPO } from '../helpers/mount-fixture.js';
import { canRunSmbd, startSmbd } from '../helpers/smbd.js';

const gate = await (async (): Promise<string> => {
  for (const g of [await canGluster(), await canMount('fuse'), await canLoop(['xfs']), await canRunSmbd()]) if (!g.ok) return (g as { reason: string }).reason;
  return '';
})();
const serial = gate ? test.serial.skip : test.serial;
const title = (s: string) => (gate ? `${s} (${gate})` : s);

let work = '';
let gluster: Gluster | undefined;
const nodes: ClusterNode[] = [];
const served = new Map<ClusterNode, Served>();
/** The same paths in every node: where the volume is mounted (SRC) and the stableid mount (MNT). */
const GL = () => join(work, 'gl');
const MNT = () => join(work, 'mnt');

async function serve(node: ClusterNode): Promise<Served> {
  const s = await serveStableid(node, GL(), MNT(), join(work, `state-${node.name}`));
  served.set(node, s);
  return s;
}

async function unserve(node: ClusterNode): Promise<void> {
  const s = served.get(node);
  if (!s) return;
  served.delete(node);
  await unserveStableid(s);
}

/** The front-ends hide the cluster lock file: it must not be among these. */
const ids = (node: ClusterNode) => idsUnder(node, MNT());

function assertInjective(t: ExecutionContext, m: Map<string, bigint>, what: string): void {
  const owner = new Map<bigint, string>();
  for (const [p, id] of m) {
    const prev = owner.get(id);
    if (prev !== undefined) t.fail(`${what}: id ${id} is both ${prev} and ${p}`);
    owner.set(id, p);
  }
  t.is(owner.size, m.size, `${what}: ${m.size} files, ${owner.size} ids`);
}

test.before(async () => {
  if (gate) return;
  work = await mkdtemp(join(tmpdir(), 'stableid-cluster-'));
  await mkdir(GL());
  await mkdir(MNT());
  gluster = await startGluster(work);
  const src = await gluster.volume('stableid-cl1');
  for (const name of ['a', 'b']) {
    const node = await ClusterNode.start(name);
    nodes.push(node);
    await node.sh(`mount -t glusterfs ${src} ${quote(GL())}`);
    await serve(node);
  }
});

test.after.always(async () => {
  for (const node of nodes) await unserve(node).catch(() => undefined);
  for (const node of nodes) await node.close(work).catch(() => undefined);
  await gluster?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

serial(title('two nodes over two mounts of one Gluster volume give every file the same id, and say the table is shared'), async (t) => {
  const [a, b] = nodes as [ClusterNode, ClusterNode];
  await a.sh(`cd ${quote(MNT())} && mkdir -p d1/d2 && for i in $(seq 1 20); do echo a$i > d1/a$i; done && ln d1/a1 d1/a1-link`);
  await b.sh(`cd ${quote(MNT())} && for i in $(seq 1 20); do echo b$i > d1/d2/b$i; done`);
  const fromA = await ids(a);
  const fromB = await ids(b);
  t.is(fromA.size, 43);
  t.deepEqual(sorted(fromB), sorted(fromA), 'the same id for every file through either node');
  t.is(fromA.get('d1/a1'), fromA.get('d1/a1-link'), 'hard links share one id');
  fromA.delete('d1/a1-link');
  assertInjective(t, fromA, 'through node a');
  // Gluster's st_ino (GFID-derived, top 16 bits 0x8000..0xBFFF) keeps its low 48 bits; the prefix is the table's.
  const raw = await a.sh(`stat -c %i ${quote(join(GL(), 'd1/a2'))}`);
  t.is(fromA.get('d1/a2')! & ((1n << 48n) - 1n), BigInt(raw.trim()) & ((1n << 48n) - 1n));
  for (const n of nodes) t.regex(served.get(n)!.out(), /shared with the stableid processes on other mounts of this fuse\.glusterfs filesystem/);
  // The lock file is on the volume but not on the mount: hidden, and not to be made or removed.
  t.regex(await a.sh(`stat -c %n ${quote(join(GL(), CLUSTER_LOCK_NAME))}`), new RegExp(CLUSTER_LOCK_NAME));
  t.false(fromA.has(CLUSTER_LOCK_NAME), 'not listed through the mount');
  t.regex(await a.sh(`cd ${quote(MNT())} && (stat ${CLUSTER_LOCK_NAME} 2>&1; touch ${CLUSTER_LOCK_NAME} 2>&1; rm -f ${CLUSTER_LOCK_NAME} 2>&1) || true`), /No such file[\s\S]*Operation not permitted/);
});

serial(title('both nodes create files and add the same new inner filesystem at once: no id for two files, one prefix per device and ino >> 48'), async (t) => {
  const [a, b] = nodes as [ClusterNode, ClusterNode];
  const inner = await gluster!.volume('stableid-cl2');
  await a.sh(`mkdir ${quote(join(GL(), 'inner'))}`);
  const work1 = (n: ClusterNode) =>
    n.sh(
      `mount -t glusterfs ${inner} ${quote(join(GL(), 'inner'))} && cd ${quote(MNT())} && ` +
        `for i in $(seq 1 30); do echo x > inner/${n.name}$i; echo y > top-${n.name}$i; stat -c %i inner/${n.name}$i top-${n.name}$i >/dev/null; done`,
    );
  await Promise.all([work1(a), work1(b)]);
  const fromA = await ids(a);
  const fromB = await ids(b);
  t.is(fromA.size, 43 + 1 + 60 + 60);
  t.deepEqual(sorted(fromB), sorted(fromA));
  fromA.delete('d1/a1-link');
  assertInjective(t, fromA, 'after both nodes added files and a filesystem');
  const table = JSON.parse(await a.sh(`${quote(process.execPath)} ${quote(join(REPO, 'bin/stableid'))} table show ${quote(GL())} --json`)) as {
    prefixes: { prefix: number; hi: number; identity: string }[];
    writesGoTo: string;
  };
  t.regex(table.writesGoTo, /xattrs user\.stableid\.\* on /, 'the table lives on the volume, where both nodes see it');
  const pairs = new Set(table.prefixes.map((p) => `${p.identity}\t${p.hi}`));
  t.is(pairs.size, table.prefixes.length, 'no (device, ino >> 48) has two prefixes');
  const innerHis = table.prefixes.filter((p) => p.identity.includes(':/stableid-cl2:inner'));
  t.is(new Set(innerHis.map((p) => p.identity)).size, 1, `one device record for the inner volume: ${[...new Set(innerHis.map((p) => p.identity))].join(', ')}`);
  // The inner volume's root (ino 1) and its files' whole GFID run: 1 + 16384 prefixes, claimed in one write.
  t.is(innerHis.length, 1 + 0x4000);
  for (const n of nodes) t.notRegex(served.get(n)!.out(), /cannot store|EOVERFLOW|unexpected error/);
});

serial(title('both nodes restarted in the other order keep every id'), async (t) => {
  const [a, b] = nodes as [ClusterNode, ClusterNode];
  const before = sorted(await ids(a));
  await unserve(a);
  await unserve(b);
  await serve(b);
  await serve(a);
  t.deepEqual(sorted(await ids(b)), before);
  t.deepEqual(sorted(await ids(a)), before);
});

serial(title('one smbd per node gives the same FileId for the same file through either node'), async (t) => {
  const [a, b] = nodes as [ClusterNode, ClusterNode];
  const section = smbConfSnippet({ path: MNT(), share: 'cl' });
  const smbds = [];
  for (const n of [a, b]) smbds.push(await startSmbd(t, [{ name: 'cl', section }], { wrap: (cmd, args) => n.enter(cmd, args) }));
  const [viaA, viaB] = await Promise.all(smbds.map((s) => s.fileIds('cl')));
  const byPath = (files: typeof viaA) => new Map(files.filter((f) => f.path !== '').map((f) => [f.path.replace(/\\/g, '/'), f.internalId]));
  const smbA = byPath(viaA!);
  const smbB = byPath(viaB!);
  const st = await ids(a);
  t.is(smbA.size, st.size);
  t.deepEqual(sorted(smbB), sorted(smbA), 'FileIds agree between the nodes');
  t.deepEqual(sorted(smbA), sorted(st), 'and equal st_ino on the stableid mount');
});
