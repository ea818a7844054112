// What Samba does WITHOUT stableid, measured with a real smbd and a real SMB2
// client: the baseline that samba-stableid.test.ts improves on.
// - A share of a raw directory spanning two disks: a file on the share's own
//   device gets FileId = st_ino; a file on another device gets
//   (dev & 0xffffffff) << 32 | (ino & 0xffffffff), so when the disks come back
//   at each other's device numbers the two files swap FileIds.
// - A share of a bindfs mount of it: one device, raw inode numbers, so two
//   files on two disks get one FileId.
import test from 'ava';
import { execFile } from 'node:child_process';
import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { canRunSmbd, startSmbd, type SmbFileId } from '../helpers/smbd.js';
import { canLoopMount, twoDisks } from '../helpers/two-disks.js';

const run = promisify(execFile);
const M32 = 0xffff_ffffn;

const gate = await (async () => {
  const smb = await canRunSmbd();
  if (!smb.ok) return smb;
  const loop = await canLoopMount();
  if (!loop.ok) return loop;
  if (!(await run('bindfs', ['--version']).then(() => true, () => false)))
    return { ok: false, reason: 'no bindfs (apt-get install bindfs)' };
  return { ok: true, reason: '' };
})();
const serial = gate.ok ? test.serial : test.serial.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;

function byPath(ids: SmbFileId[]): Map<string, bigint> {
  return new Map(ids.map((f) => [f.path, f.internalId]));
}

function rawSection(name: string, path: string): { name: string; section: string } {
  return { name, section: `[${name}]\n  path = ${path}\n  read only = no\n` };
}

serial(`a raw share over two disks: FileIds follow st_dev, and swap when the disks swap${why}`, async (t) => {
  const disks = await twoDisks(t);
  const smbd = await startSmbd(t, [rawSection('raw', disks.src)]);
  const before = await smbd.fileIds('raw');
  for (const f of before) if (f.listingId !== undefined) t.is(f.listingId, f.internalId, `listing vs internal id of ${f.path}`);

  const root = await lstat(disks.src, { bigint: true });
  for (const f of before) {
    const st = await lstat(join(disks.src, f.path), { bigint: true });
    const expected = st.dev === root.dev ? st.ino : ((st.dev & M32) << 32n) | (st.ino & M32);
    t.is(f.internalId, expected, `FileId of ${f.path} (dev ${st.dev}, ino ${st.ino})`);
  }
  const [a, b] = disks.colliding;
  const ids = byPath(before);
  t.is((await lstat(join(disks.src, a), { bigint: true })).ino, (await lstat(join(disks.src, b), { bigint: true })).ino);
  t.not(ids.get(a), ids.get(b), 'distinct devices keep raw FileIds apart while nothing moves');

  await disks.swap();
  await smbd.restart();
  const after = byPath(await smbd.fileIds('raw'));
  t.is(after.get('top.txt'), ids.get('top.txt'), 'a file on the share device keeps its FileId');
  // The damage: each disk's file now carries the FileId the other file had.
  t.is(after.get(a), ids.get(b), `${a} took the FileId ${b} had`);
  t.is(after.get(b), ids.get(a), `${b} took the FileId ${a} had`);
  t.log(`raw share: ${a} ${ids.get(a)} -> ${after.get(a)}, ${b} ${ids.get(b)} -> ${after.get(b)}`);
});

serial(`a bindfs share over two disks gives two files one FileId${why}`, async (t) => {
  const disks = await twoDisks(t);
  const mnt = await mkdtemp(join(tmpdir(), 'stableid-bindfs-'));
  await run('bindfs', [disks.src, mnt], { timeout: 30_000 });
  t.teardown(async () => {
    await run('fusermount3', ['-u', mnt]).catch(() => run('umount', ['-l', mnt]).catch(() => undefined));
    await rm(mnt, { recursive: true, force: true });
  });
  const smbd = await startSmbd(t, [rawSection('bind', mnt)]);
  const ids = byPath(await smbd.fileIds('bind'));
  const [a, b] = disks.colliding;
  t.truthy(ids.get(a));
  t.is(ids.get(a), ids.get(b), `${a} and ${b} share FileId ${ids.get(a)}: a client cannot tell them apart`);
  const all = [...ids.values()];
  t.true(new Set(all).size < all.length, 'the share has duplicate FileIds');
});
