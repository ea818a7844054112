// Two real filesystems (ext4 and xfs loop images) under SRC with a file of
// EQUAL inode number on each: bindfs shows the collision, the stableid mount
// gives two ids, and those ids stay the same across a remount and after the
// loop devices are re-attached in the other order (st_dev numbers swap).
import { mkdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import test from 'ava';
import { INO_MASK } from '../../lib/mapper/mapper.js';
import { canLoop, loopImages } from '../helpers/loop-images.js';
import { canMount, forceUnmount, mountFixture, REPO, tempDir } from '../helpers/mount-fixture.js';
import { probeTree } from '../helpers/probe.js';
import { run, runOk } from '../helpers/run.js';

const fuse = await canMount('fuse');
const loop = await canLoop(['ext4', 'xfs']);
const bindfs = (await run('sh', ['-c', 'command -v bindfs'])).code === 0;
const gate = !fuse.ok ? fuse : !loop.ok ? loop : !bindfs ? { ok: false as const, reason: 'no bindfs (apt-get install bindfs)' } : { ok: true as const };
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;

async function statIno(path: string): Promise<bigint> {
  return BigInt((await runOk('stat', ['-c', '%i', path], { timeoutMs: 10_000 })).trim());
}

serial(`equal st_ino on ext4 and xfs gives two ids (bindfs shows the collision), stable across remount and re-attach${why}`, async (t) => {
  const dir = await tempDir(t, 'stableid-devs-');
  const src = join(dir, 'src');
  await mkdir(src);
  const imgs = await loopImages(t, src, ['ext4', 'xfs']);
  const files = { ext4: relative(src, imgs.collidingFiles.ext4), xfs: relative(src, imgs.collidingFiles.xfs) };

  // The peer: bindfs passes st_ino through, so two files share one number.
  const bmnt = join(dir, 'bindfs');
  await mkdir(bmnt);
  await runOk('bindfs', [src, bmnt], { timeoutMs: 20_000 });
  t.teardown(() => forceUnmount(bmnt));
  const viaBindfs = [await statIno(join(bmnt, files.ext4)), await statIno(join(bmnt, files.xfs))];
  t.log(`bindfs: ext4 ${viaBindfs[0]}, xfs ${viaBindfs[1]}`);
  t.is(viaBindfs[0], viaBindfs[1], 'bindfs reports the same st_ino for two different files');
  await runOk('fusermount3', ['-u', bmnt], { timeoutMs: 10_000 });

  const fx = await mountFixture(t, 'fuse', { src });
  const first = await probeTree(fx.mnt);
  const ids = [first.get(files.ext4)!.ino, first.get(files.xfs)!.ino];
  t.log(`stableid: ext4 ${ids[0]}, xfs ${ids[1]}`);
  t.not(ids[0], ids[1], 'the stableid mount gives them two ids');
  for (const id of ids) t.is(id & INO_MASK, imgs.collidingIno & INO_MASK, 'each keeps its inode number in the low 48 bits');
  const all = [...first.values()].map((e) => e.ino);
  const links = [...first.values()].filter((e) => e.type === 'file' && (e.nlink ?? 1) > 1).length;
  t.is(new Set(all).size, all.length - links / 2, 'no two files share an id (hard links aside)');
  for (const [p, e] of first) if (p !== '') t.is(e.dino, e.ino, `${p}: d_ino equals st_ino`);

  // The CLI, a separate process reading the table while the mount holds the export, agrees.
  for (const f of [files.ext4, files.xfs, 'ext4', '']) {
    const out = await runOk(process.execPath, [join(REPO, 'bin/stableid'), 'id', src, f || '.', '--json'], { timeoutMs: 30_000 });
    t.is(BigInt(JSON.parse(out).id), first.get(f)!.ino, `stableid id ${f || '.'} equals the mount's st_ino`);
  }

  await fx.server.stop();
  await fx.remount();
  t.deepEqual([...(await probeTree(fx.mnt)).entries()], [...first.entries()], 'identical after a remount');

  await fx.server.stop();
  await imgs.reattachReversed();
  await fx.remount();
  t.deepEqual([...(await probeTree(fx.mnt)).entries()], [...first.entries()], 'identical after the loop devices swapped st_dev numbers');
});
