// What Samba does WITHOUT stableid, measured with a real smbd and a real SMB2
// client, and without the FUSE front-end (so this harness stands on its own):
// - A share of a raw directory spanning two disks: a file on the share's own
//   device gets FileId = st_ino; a file on another device gets
//   (dev & 0xffffffff) << 32 | (ino & 0xffffffff), so when the disks come back
//   at each other's device numbers the two files swap FileIds.
// - A share of a bindfs mount of it: one device, raw inode numbers, so two
//   files on two disks get one FileId.
// samba-stableid.test.ts shows the stableid share fixing both.
import test from 'ava';
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { canLoop, loopImages } from '../helpers/loop-images.js';
import { canRunSmbd, type ShareSpec, type SmbFileId, startSmbd } from '../helpers/smbd.js';

const run = promisify(execFile);
const M32 = 0xffff_ffffn;

const gate = await (async (): Promise<string> => {
  for (const g of [await canRunSmbd(), await canLoop(['ext4', 'xfs'])]) if (!g.ok) return (g as { reason: string }).reason;
  if (!(await run('bindfs', ['--version']).then(() => true, () => false))) return 'no bindfs (apt-get install bindfs)';
  return '';
})();

function byPath(ids: SmbFileId[]): Map<string, bigint> {
  return new Map(ids.map((f) => [f.path, f.internalId]));
}

function share(name: string, path: string): ShareSpec {
  return { name, section: `[${name}]\n  path = ${path}\n  read only = no\n` };
}

(gate ? test.serial.skip : test.serial)(
  `raw and bindfs shares over two disks: FileIds follow st_dev and swap with the disks, or collide${gate ? ` (skipped: ${gate})` : ''}`,
  async (t) => {
    const base = await mkdtemp(join(tmpdir(), 'stableid-samba-raw-'));
    t.teardown(() => rm(base, { recursive: true, force: true }));
    const src = join(base, 'src');
    await mkdir(src);
    await writeFile(join(src, 'top.txt'), 'on the root filesystem\n');
    const imgs = await loopImages(t, src, ['ext4', 'xfs']);
    const a = imgs.collidingFiles.ext4.slice(src.length + 1);
    const b = imgs.collidingFiles.xfs.slice(src.length + 1);
    const bindMnt = join(base, 'bindfs');
    await mkdir(bindMnt);
    await run('bindfs', [src, bindMnt], { timeout: 30_000 });
    let bound = true;
    t.teardown(async () => {
      if (bound) await run('umount', ['-l', bindMnt]).catch(() => undefined);
    });
    const smbd = await startSmbd(t, [share('raw', src), share('bind', bindMnt)]);

    const before = await smbd.fileIds('raw');
    for (const f of before) if (f.listingId !== undefined) t.is(f.listingId, f.internalId, `listing vs internal id of ${f.path}`);
    const root = await lstat(src, { bigint: true });
    for (const f of before) {
      const st = await lstat(join(src, f.path), { bigint: true });
      const expected = st.dev === root.dev ? st.ino : ((st.dev & M32) << 32n) | (st.ino & M32);
      t.is(f.internalId, expected, `FileId of ${f.path} (dev ${st.dev}, ino ${st.ino})`);
    }
    const ids = byPath(before);
    t.not(ids.get(a), ids.get(b), 'distinct devices keep raw FileIds apart while nothing moves');

    const bind = byPath(await smbd.fileIds('bind'));
    t.is(bind.get(a), bind.get(b), `bindfs: ${a} and ${b} share FileId ${bind.get(a)}: a client cannot tell them apart`);

    await smbd.stop();
    await run('fusermount3', ['-u', bindMnt], { timeout: 30_000 });
    bound = false;
    await imgs.reattachReversed();
    await smbd.start();
    const after = byPath(await smbd.fileIds('raw'));
    t.is(after.get('top.txt'), ids.get('top.txt'), 'a file on the share device keeps its FileId');
    // The damage: each disk's file now carries the FileId the other file had.
    t.is(after.get(a), ids.get(b), `${a} took the FileId ${b} had`);
    t.is(after.get(b), ids.get(a), `${b} took the FileId ${a} had`);
    t.log(`raw: ${a} ${ids.get(a)} -> ${after.get(a)}, ${b} ${ids.get(b)} -> ${after.get(b)}; bindfs: both ${bind.get(a)}`);
  },
);
