// `stableid-mount SRC MNT --9p ADDR` (issue 8): one view of the tree for both
// front-ends. A fid walked before a rename done through FUSE keeps naming
// that file, or gets an error, never the new occupant of its old name; a
// FUSE node held across a rename done through 9P likewise. Pass: the
// occupants and the canaries outside SRC are untouched, the mount answers.
//
// On main this fails: the FUSE node table and the 9P fid table never hear
// of each other's renames, so the stale side acts on whatever its old path
// names now (the new file, or a symlink's root-owned target outside SRC).
import test from 'ava';
import { access, lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as M from '../../lib/ninep/messages.js';
import { canMount, tempDir } from '../helpers/mount-fixture.js';
import { hostileMount } from '../helpers/hostile-mount.js';
import { actOnFids, HostileSession } from '../helpers/hostile-ninep.js';
import { attack } from '../helpers/hostile-user.js';
import { verdict } from '../helpers/hostile-verdict.js';
import { runOk } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;
const ROOT = 0;
const sh = (script: string) => runOk('sh', ['-c', script], { timeoutMs: 10_000 }); // a FUSE client, in a child

const NAMES = ['read', 'write', 'chmod', 'chown', 'utime', 'truncate'];

serial(`--9p: a fid walked before a FUSE rename keeps naming its file, never the new occupant of the name${why}`, async (t) => {
  const h = await hostileMount(t, { layout: { files: [], dirFiles: [] }, ninep: true });
  const a = join(h.src, 'a');
  await mkdir(a);
  for (const n of NAMES) await writeFile(join(a, n), `original ${n}\n`);
  const s = await HostileSession.attach(h.ninep!);
  t.teardown(() => s.close());
  const fids: Record<string, number> = {};
  const ids: Record<string, bigint> = {};
  for (const n of NAMES) {
    fids[n] = s.fid();
    ids[n] = (await s.rpc(M.Twalk, { fid: ROOT, newfid: fids[n]!, wnames: ['a', n] })).wqids[1].path as bigint;
  }
  // Through FUSE: every name moves away and a new file takes its place.
  await sh(NAMES.map((n) => `mv ${h.mnt}/a/${n} ${h.mnt}/a/${n}.old && printf 'occupant ${n}\\n' > ${h.mnt}/a/${n}`).join(' && '));
  const occupants = Object.fromEntries(await Promise.all(NAMES.map(async (n) => [n, await lstat(join(a, n), { bigint: true })] as const)));

  for (const n of NAMES) {
    const r = await s.tally(`getattr ${n}`, M.Tgetattr, { fid: fids[n]!, request_mask: M.GETATTR_BASIC });
    if (r) t.is(r.qid.path, ids[n], `fid of ${n}: Tgetattr reports the moved file's id, not the occupant's`);
  }
  const read = await actOnFids(s, fids as Parameters<typeof actOnFids>[1]);
  if (read !== undefined) t.is(read, 'original read\n', 'the fid reads the moved file');
  t.log(JSON.stringify(s.report.outcomes));

  const touched: string[] = [];
  for (const n of NAMES) {
    const before = occupants[n]!;
    const after = await lstat(join(a, n), { bigint: true });
    const content = await readFile(join(a, n), 'utf8');
    if (after.ino !== before.ino || after.mode !== before.mode || after.uid !== before.uid || after.mtimeNs !== before.mtimeNs || after.size !== before.size || content !== `occupant ${n}\n`) {
      touched.push(`${n}: mode ${after.mode.toString(8)} uid ${after.uid} size ${after.size} content ${JSON.stringify(content)}`);
    }
  }
  await verdict(t, { canaries: h.canaries, alive: h.alive, more: touched.map((x) => `an old fid reached the new occupant: ${x}`) });
});

serial(`--9p: fids under a directory that FUSE moved and replaced by a symlink to outside SRC never reach outside${why}`, async (t) => {
  const h = await hostileMount(t, { layout: { files: [], dirFiles: NAMES }, ninep: true });
  const d = join(h.src, 'b', 'p', 'rootdir');
  await mkdir(d, { recursive: true });
  for (const n of NAMES) await writeFile(join(d, n), 'own file of the client\n');
  const s = await HostileSession.attach(h.ninep!);
  t.teardown(() => s.close());
  const fids: Record<string, number> = {};
  for (const n of NAMES) fids[n] = (await s.walk('walk', ROOT, 'b', 'p', 'rootdir', n))!;
  await sh(`mv ${h.mnt}/b/p ${h.mnt}/b/p.moved && ln -s ${h.canaries.dir} ${h.mnt}/b/p`);

  await actOnFids(s, fids as Parameters<typeof actOnFids>[1]);
  t.log(JSON.stringify(s.report.outcomes));
  await verdict(t, { canaries: h.canaries, alive: h.alive, output: s.report.read.join('\n') });
});

const HELD = ['read', 'write', 'chmod', 'utime', 'xattr', 'truncate', 'unlink'];

serial(`--9p: a FUSE client holding a directory that 9P moved and replaced by a symlink to outside SRC never reaches outside${why}`, async (t) => {
  const h = await hostileMount(t, { layout: { files: [], dirFiles: HELD }, ninep: true });
  const d = join(h.src, 'c', 'p', 'rootdir');
  await mkdir(d, { recursive: true });
  for (const n of HELD) await writeFile(join(d, n), 'own file of the client\n');
  const flags = await tempDir(t, 'stableid-hostile-flags-');
  const ready = join(flags, 'ready');
  const go = join(flags, 'go');
  const client = attack('root', 'held', [join(h.mnt, 'c', 'p', 'rootdir'), ready, go, HELD.join(',')]);
  for (let i = 0; i < 200 && !(await access(ready).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 50));
  const s = await HostileSession.attach(h.ninep!);
  t.teardown(() => s.close());
  const c = (await s.walk('walk', ROOT, 'c'))!;
  await s.rpc(M.Trenameat, { olddirfid: c, oldname: 'p', newdirfid: c, newname: 'p.moved' });
  await s.rpc(M.Tsymlink, { fid: c, name: 'p', symtgt: h.canaries.dir, gid: 0 });
  await writeFile(go, '');
  const { report, raw } = await client;
  t.log(JSON.stringify(report.outcomes));
  await verdict(t, { canaries: h.canaries, alive: h.alive, output: raw.stdout, reports: [report] });
});
