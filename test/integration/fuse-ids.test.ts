// Identity on a real FUSE mount: st_ino (stat), d_ino (readdir) and the FUSE
// node id (seen through kernel file handles) are one and the same stable id,
// 64-bit ids arrive intact, and all of them survive a remount.
import { lstat, mkdir, symlink, link, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { INO_MASK } from '../../lib/mapper/mapper.js';
import { canMount, mountFixture, type MountFixture } from '../helpers/mount-fixture.js';
import { fileHandles, probeTree } from '../helpers/probe.js';
import { run, runOk } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;

/** A source tree with files, dirs, a hard link, a symlink, and a second filesystem (tmpfs) inside. */
async function makeSource(fx: { dir: string }): Promise<string> {
  const src = join(fx.dir, 'src');
  await mkdir(join(src, 'd/e'), { recursive: true });
  await writeFile(join(src, 'a.txt'), 'a');
  await writeFile(join(src, 'd/b.txt'), 'b');
  await writeFile(join(src, 'd/e/c.txt'), 'c');
  await link(join(src, 'a.txt'), join(src, 'd/a-link.txt'));
  await symlink('a.txt', join(src, 'sym'));
  await mkdir(join(src, 'other'));
  await runOk('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'stableid-test', join(src, 'other')]);
  await writeFile(join(src, 'other/x.txt'), 'x');
  await mkdir(join(src, 'other/sub'));
  await writeFile(join(src, 'other/sub/y.txt'), 'y');
  return src;
}

async function fixture(t: ExecutionContext): Promise<MountFixture> {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'stableid-ids-'));
  // One teardown, so the tmpfs is always unmounted before its directory is removed.
  t.teardown(async () => {
    await run('umount', ['-l', join(dir, 'src/other')], { timeoutMs: 10_000 });
    await rm(dir, { recursive: true, force: true });
  });
  const src = await makeSource({ dir });
  return mountFixture(t, 'fuse', { src });
}

serial(`st_ino, d_ino and node ids are the stable ids, 64-bit ones included${why}`, async (t) => {
  const fx = await fixture(t);
  const tree = await probeTree(fx.mnt);
  const rootDev = (await lstat(fx.src, { bigint: true })).dev;
  t.true(tree.size >= 12, `walked ${tree.size} entries`);
  const seen = new Map<bigint, string>();
  let wide = 0;
  for (const [rel, e] of tree) {
    const raw = await lstat(join(fx.src, rel), { bigint: true });
    if (rel !== '') t.is(e.dino, e.ino, `${rel}: readdir d_ino equals st_ino`);
    if (raw.dev === rootDev) {
      // The export root's own filesystem has prefix 0: ids are the inode numbers.
      t.is(e.ino, raw.ino, `${rel || '/'}: id is the source inode number`);
    } else {
      t.true(e.ino >> 48n >= 1n, `${rel}: a second device gets a non-zero prefix (${e.ino})`);
      t.is(e.ino & INO_MASK, raw.ino & INO_MASK, `${rel}: low 48 bits are the inode number`);
      wide++;
    }
    const prev = seen.get(e.ino);
    if (prev !== undefined) t.is((await lstat(join(fx.src, prev), { bigint: true })).ino, raw.ino, `${rel} shares id with ${prev}: must be a hard link`);
    seen.set(e.ino, rel);
  }
  t.is(wide, 4, 'the tmpfs entries carry ids of 2^48 and above');
  t.is(tree.get('d/a-link.txt')!.ino, tree.get('a.txt')!.ino, 'hard links share one id');
  t.is(tree.get('a.txt')!.nlink, 2);
});

serial(`ids survive remount${why}`, async (t) => {
  const fx = await fixture(t);
  const before = await probeTree(fx.mnt);
  const r = await fx.server.stop();
  t.is(r.code, 0, 'the server exits 0 on SIGTERM');
  await fx.remount();
  const after = await probeTree(fx.mnt);
  t.deepEqual([...after.entries()], [...before.entries()]);
});

serial(`kernel file handles are equal across a remount${why}`, async (t) => {
  const fx = await fixture(t);
  const paths = ['a.txt', 'd', 'd/e/c.txt', 'other/x.txt', 'other/sub'].map((p) => join(fx.mnt, p));
  const before = await fileHandles(paths);
  for (const p of paths) t.truthy(before[p].hex, `${p}: ${before[p].error ?? ''}`);
  t.is(new Set(paths.map((p) => before[p].hex)).size, paths.length, 'different files, different handles');
  await fx.server.stop();
  await fx.remount();
  const after = await fileHandles(paths);
  t.deepEqual(after, before);
});

// Listings take ids from getdents' d_ino only where it is the file's st_ino
// (lib/backend/dirent-ino.ts). On overlayfs it is not: a file from a lower
// layer has that layer's st_dev, not the directory's, so an id made from the
// directory's device would be another file's.
serial(`d_ino equals st_ino on overlayfs inside SRC (a file's device is its layer's)${why}`, async (t) => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'stableid-ids-ovl-'));
  const src = join(dir, 'src');
  const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'src/ovl'].map((p) => join(dir, p));
  for (const d of [lower, upper, work, merged]) await mkdir(d, { recursive: true });
  t.teardown(async () => {
    await run('umount', ['-l', merged], { timeoutMs: 10_000 });
    await run('umount', ['-l', lower], { timeoutMs: 10_000 });
    await rm(dir, { recursive: true, force: true });
  });
  // The lower layer on a filesystem of its own, so its files' st_dev differs from the overlay's.
  await runOk('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'stableid-test-lower', lower]);
  for (let i = 0; i < 20; i++) await writeFile(join(lower, `low${i}`), 'l');
  await mkdir(join(lower, 'sub'));
  await writeFile(join(lower, 'sub/deep'), 'd');
  await runOk('mount', ['-t', 'overlay', 'stableid-test-ovl', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
  await writeFile(join(merged, 'up'), 'u');
  const devs = new Set([(await lstat(merged, { bigint: true })).dev, (await lstat(join(merged, 'low0'), { bigint: true })).dev]);
  t.is(devs.size, 2, 'a lower file has its layer st_dev, not the overlay directory one');

  const fx = await mountFixture(t, 'fuse', { src });
  const tree = await probeTree(join(fx.mnt, 'ovl'));
  t.true(tree.size >= 23, `walked ${tree.size} entries`);
  for (const [rel, e] of tree) if (rel !== '') t.is(e.dino, e.ino, `ovl/${rel}: readdir d_ino equals st_ino`);
  const ids = [...tree.values()].map((e) => e.ino);
  t.is(new Set(ids).size, ids.length, 'no two entries share an id');
});
