// Clustered Samba with real parts: one GlusterFS volume for the data and one
// for CTDB's cluster lock, two nodes (private mount namespaces, 127.0.0.1 and
// 127.0.0.2) that each mount both at the same paths, run stableid-mount over
// the data, a ctdbd, and smbd with `clustering = yes` using the README's
// clustered smb.conf, in the README's start order. Set up once for the file;
// the tests run in order.
import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClusterNode, quote } from '../helpers/cluster-node.js';
import { idsUnder, type Served, serveStableid, sorted, unserveStableid } from '../helpers/cluster-stableid.js';
import { canCtdb, type Ctdb, startCtdb } from '../helpers/ctdb.js';
import { canGluster, type Gluster, startGluster } from '../helpers/gluster.js';
import { canLoop } from '../helpers/loop-images.js';
import { canMount, REPO } from '../helpers/mount-fixture.js';
import { canRunSmbd, type Smbd, type SmbFileId, smbShareConflict, startSmbd } from '../helpers/smbd.js';

const gate = await (async (): Promise<string> => {
  for (const g of [await canGluster(), await canCtdb(), await canMount('fuse'), await canLoop(['xfs']), await canRunSmbd()])
    if (!g.ok) return (g as { reason: string }).reason;
  return '';
})();
const serial = gate ? test.serial.skip : test.serial;
const title = (s: string) => (gate ? `${s} (${gate})` : s);

let work = '';
let gluster: Gluster | undefined;
let ctdb: Ctdb | undefined;
const nodes: ClusterNode[] = [];
const served: Served[] = [];
/** `ctdb status` on each node once all were OK, and how long that took. */
let statuses: string[] = [];
let waited = 0;
/** The same paths in every node: the data volume (SRC), the lock volume, the stableid mount (MNT). */
const GL = () => join(work, 'gl');
const LOCK = () => join(work, 'ctdb-lock');
const MNT = () => join(work, 'mnt');

/** The README's clustered smb.conf (Clustering section), as [global] lines and the [share] section, for MNT. */
async function readmeClusteredConf(): Promise<{ global: string; share: string }> {
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  const m = /smb\.conf on every node[^\n]*\n+```ini\n([\s\S]*?)```/.exec(readme);
  if (!m) throw new Error('README.md: no ```ini block after "smb.conf on every node" in the Clustering section');
  const [global, share] = m[1]!.split(/^(?=\[share\])/m);
  if (!global?.startsWith('[global]') || !share) throw new Error(`README.md: the clustered smb.conf is not [global] then [share]:\n${m[1]}`);
  if (!share.includes('path = /srv/stable')) throw new Error('README.md: the clustered [share] has no "path = /srv/stable"');
  return { global: global.replace('[global]', ''), share: share.replace('path = /srv/stable', `path = ${MNT()}`) };
}

const byPath = (files: SmbFileId[]) => new Map(files.filter((f) => f.path !== '').map((f) => [f.path, f.internalId]));

/** smbd with `conf` on each node, clustered through that node's ctdbd; stopped in t.teardown. */
async function clusteredSmbds(t: ExecutionContext, conf: { global: string; share: string }): Promise<[Smbd, Smbd]> {
  const smbds: Smbd[] = [];
  for (const [i, n] of nodes.entries())
    smbds.push(
      await startSmbd(t, [{ name: 'share', section: conf.share }], {
        // The README's [global] lines, and where this node's ctdbd listens (a real node uses the default socket).
        global: `${conf.global.trimEnd()}\n   ctdbd socket = ${ctdb!.socket(i)}\n`,
        wrap: (cmd, args) => n.enter(cmd, args),
      }),
    );
  return smbds as [Smbd, Smbd];
}

test.before(async () => {
  if (gate) return;
  work = await mkdtemp(join(tmpdir(), 'stableid-ctdb-'));
  for (const d of [GL(), LOCK(), MNT()]) await mkdir(d);
  gluster = await startGluster(work);
  const data = await gluster.volume('stableid-ctdb-data');
  const lock = await gluster.volume('stableid-ctdb-lock');
  // Start order, as in the README: (1) the cluster filesystem, (2) stableid-mount, (3) ctdbd, (4) smbd (in the tests).
  for (const name of ['a', 'b']) {
    const node = await ClusterNode.start(name);
    nodes.push(node);
    await node.sh(`mount -t glusterfs ${data} ${quote(GL())} && mount -t glusterfs ${lock} ${quote(LOCK())}`);
    served.push(await serveStableid(node, GL(), MNT(), join(work, `state-${node.name}`)));
  }
  ctdb = await startCtdb(work, nodes, join(LOCK(), 'reclock'));
  const t0 = Date.now();
  statuses = await ctdb.waitAllOk();
  waited = (Date.now() - t0) / 1000;
});

test.after.always(async () => {
  await ctdb?.stop().catch(() => undefined);
  for (const s of served) await unserveStableid(s).catch(() => undefined);
  for (const node of nodes) await node.close(work).catch(() => undefined);
  await gluster?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

serial(title('two ctdbd nodes with their cluster lock on Gluster are both OK in ctdb status'), async (t) => {
  t.log(`both nodes OK ${waited.toFixed(1)} s after ctdbd started`);
  t.is(statuses.length, 2);
  for (const s of statuses) {
    t.regex(s, /^Number of nodes:2$/m);
    t.regex(s, /^pnn:0 127\.0\.0\.1\s+OK\b/m);
    t.regex(s, /^pnn:1 127\.0\.0\.2\s+OK\b/m);
  }
  // The cluster lock is the file on the lock volume, held by exactly one node's helper, seen by both mounts.
  for (const i of [0, 1]) t.is((await ctdb!.ctdb(i, ['getreclock'])).trim(), join(LOCK(), 'reclock'));
  for (const n of nodes) t.regex(await n.sh(`stat -c %n ${quote(join(LOCK(), 'reclock'))}`), /reclock/);
  // No smbd yet: Samba's databases are not attached (the next test checks that clustered smbd attaches them).
  for (const i of [0, 1]) t.notRegex(await ctdb!.ctdb(i, ['getdbmap']), /name:locking\.tdb /);
});

serial(title('clustered smbd on each node: the same FileId through either node, and a file made through one is seen with its FileId through the other'), async (t) => {
  const [a, b] = nodes as [ClusterNode, ClusterNode];
  await a.sh(`cd ${quote(MNT())} && mkdir -p d1/d2 && for i in $(seq 1 10); do echo a$i > d1/a$i; echo b$i > d1/d2/b$i; done`);
  const [smbA, smbB] = await clusteredSmbds(t, await readmeClusteredConf());
  // Made through node A's smbd, then listed through node B's.
  const viaA = byPath(await smbA.fileIds('share', ['made-on-a.txt', 'd1/made-on-a-too.txt']));
  const viaB = byPath(await smbB.fileIds('share'));
  const st = await idsUnder(b, MNT());
  t.is(viaA.size, 2 + 20 + 2);
  t.true(viaB.has('made-on-a.txt') && viaB.has('d1/made-on-a-too.txt'), 'node B sees the files made through node A');
  t.deepEqual(sorted(viaB), sorted(viaA), 'FileIds agree between the nodes');
  t.deepEqual(sorted(viaA), sorted(st), 'and equal st_ino on the stableid mount');
  t.is(new Set(viaA.values()).size, viaA.size, 'no FileId for two files');
  // Both smbds really run clustered: their databases are CTDB's, attached on both nodes.
  for (const i of [0, 1]) t.regex(await ctdb!.ctdb(i, ['getdbmap']), /name:locking\.tdb /);
  // One record of every open for the cluster (locking.tdb, keyed by file_id): an open through one
  // node that shares nothing keeps the other node's open out, both ways.
  t.is(await smbShareConflict('share', 'd1/a1', smbA, smbB), 'STATUS_SHARING_VIOLATION');
  t.is(await smbShareConflict('share', 'made-on-a.txt', smbB, smbA), 'STATUS_SHARING_VIOLATION');
  t.is(await smbShareConflict('share', 'd1/a1', smbA, smbA), 'STATUS_SHARING_VIOLATION', 'as through one node');
});

serial(title('without the README\'s vfs_fileid lines the nodes disagree on file_id (each mount has its own st_dev) and miss each other\'s opens'), async (t) => {
  const conf = await readmeClusteredConf();
  const share = conf.share.replace(/^\s*(vfs objects = fileid|fileid:algorithm = fsname)\n/gm, '');
  t.notRegex(share, /fileid/);
  const devs = await Promise.all(nodes.map((n) => n.sh(`stat -c %d ${quote(join(MNT(), 'd1/a1'))}`)));
  t.not(devs[0], devs[1], 'each node\'s stableid mount has its own st_dev');
  const [smbA, smbB] = await clusteredSmbds(t, { ...conf, share });
  t.is(await smbShareConflict('share', 'd1/a1', smbA, smbB), 'opened', 'node B opens what node A holds with share access none');
  t.is(await smbShareConflict('share', 'd1/a1', smbA, smbA), 'STATUS_SHARING_VIOLATION', 'while one node still sees the conflict');
});

// Last: it takes node A out of the cluster.
serial(title('node A leaves the cluster: node B alone recovers to OK and keeps every FileId, and files made meanwhile get theirs'), async (t) => {
  const [smbA, smbB] = await clusteredSmbds(t, await readmeClusteredConf());
  const before = byPath(await smbB.fileIds('share'));
  t.deepEqual(sorted(byPath(await smbA.fileIds('share'))), sorted(before));
  await smbA.stop();
  await ctdb!.stopNode(0);
  const left = Date.now();
  const deadline = left + 60_000;
  let status = '';
  while (!/^pnn:0 127\.0\.0\.1\s+DISCONNECTED/m.test(status) || !/^pnn:1 127\.0\.0\.2\s+OK \(THIS NODE\)/m.test(status) || !/^Recovery mode:NORMAL/m.test(status)) {
    if (Date.now() > deadline) return t.fail(`node B did not recover alone:\n${status}\n${ctdb!.log(1).slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 500));
    status = await ctdb!.ctdb(1, ['status']).catch((e: Error) => e.message);
  }
  t.log(`node B OK alone ${((Date.now() - left) / 1000).toFixed(1)} s after node A's ctdbd stopped`);
  const after = byPath(await smbB.fileIds('share', ['made-while-a-away.txt']));
  const st = await idsUnder(nodes[1]!, MNT());
  t.true(after.has('made-while-a-away.txt'));
  t.deepEqual(sorted(new Map([...after].filter(([p]) => before.has(p)))), sorted(before), 'every FileId as before');
  t.deepEqual(sorted(after), sorted(st), 'and equal to st_ino on node B\'s stableid mount');
});
