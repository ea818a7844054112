// Real devices: ext4 and xfs images loop-mounted under one export, with a
// file of the same inode number on each.
import test from 'ava';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openMapper } from '../../lib/mapper/open.js';
import { canLoop, loopImages } from '../helpers/loop-images.js';
import { runMain } from '../../lib/cli/main.js';

const gate = await canLoop();
const loopTest = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;

async function exportDir(t: { teardown(fn: () => Promise<void>): void }): Promise<{ src: string; stateDir: string }> {
  const base = await mkdtemp(join(tmpdir(), 'stableid-dev-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  return { src: join(base, 'src'), stateDir: join(base, 'state') };
}

const bin = fileURLToPath(new URL('../../../bin/stableid', import.meta.url));

/** The id as a fresh process sees it: `stableid id SRC PATH --json`. */
function idInChild(src: string, stateDir: string, path: string): Promise<bigint> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [bin, 'id', src, path, '--state-dir', stateDir, '--json'], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`stableid id ${path}: ${stderr || err.message}`));
      else resolve(BigInt(JSON.parse(stdout).id));
    });
  });
}

async function idOf(m: { idFor(d: bigint, i: bigint): Promise<bigint> }, path: string): Promise<bigint> {
  const st = await stat(path, { bigint: true });
  return m.idFor(st.dev, st.ino);
}

loopTest(`equal st_ino on two devices gives two ids, stable across reopen and re-attach${why}`, async (t) => {
  const { src, stateDir } = await exportDir(t);
  const imgs = await loopImages(t, src, ['ext4', 'xfs']);
  const e = await stat(imgs.collidingFiles.ext4, { bigint: true });
  const x = await stat(imgs.collidingFiles.xfs, { bigint: true });
  t.is(e.ino, x.ino, 'the helper made equal inode numbers');
  t.not(e.dev, x.dev);

  let m = await openMapper({ root: src, stateDir });
  const first = { ext4: await idOf(m, imgs.collidingFiles.ext4), xfs: await idOf(m, imgs.collidingFiles.xfs) };
  t.not(first.ext4, first.xfs);
  t.is(first.ext4 & ((1n << 48n) - 1n), e.ino, 'low 48 bits are the inode number');
  const rootId = await idOf(m, src);
  t.is(rootId, (await stat(src, { bigint: true })).ino, 'the root device keeps raw inode numbers (prefix 0)');
  await m.close();
  t.deepEqual({ ext4: await idInChild(src, stateDir, imgs.collidingFiles.ext4), xfs: await idInChild(src, stateDir, imgs.collidingFiles.xfs) }, first, 'a fresh process');

  await imgs.reattachReversed();
  const e2 = await stat(imgs.collidingFiles.ext4, { bigint: true });
  const x2 = await stat(imgs.collidingFiles.xfs, { bigint: true });
  t.is(e2.dev, x.dev, 'ext4 now has the st_dev xfs had');
  t.is(x2.dev, e.dev, 'xfs now has the st_dev ext4 had');

  m = await openMapper({ root: src, stateDir });
  t.deepEqual({ ext4: await idOf(m, imgs.collidingFiles.ext4), xfs: await idOf(m, imgs.collidingFiles.xfs) }, first);
  await m.close();
  t.deepEqual({ ext4: await idInChild(src, stateDir, imgs.collidingFiles.ext4), xfs: await idInChild(src, stateDir, imgs.collidingFiles.xfs) }, first, 'a fresh process after re-attach');
  // The table recorded filesystem UUIDs (blkid -p), not st_dev numbers.
  let out = '';
  await runMain(['table', 'show', src, '--state-dir', stateDir, '--json'], { io: { out: (s) => void (out += s), err: () => {} } });
  const kinds = JSON.parse(out).prefixes.map((p: { kind: string; identity: string }) => `${p.kind} ${p.identity}`);
  t.true(kinds.some((k: string) => /^uuid uuid:ext4:[0-9a-f-]{36}$/.test(k)), kinds.join(', '));
  t.true(kinds.some((k: string) => /^uuid uuid:xfs:[0-9a-f-]{36}$/.test(k)), kinds.join(', '));
});

loopTest(`disks re-attached in the other order while the mapper runs keep their ids${why}`, async (t) => {
  const { src, stateDir } = await exportDir(t);
  const imgs = await loopImages(t, src, ['ext4', 'xfs']);
  const logs: string[] = [];
  const m = await openMapper({ root: src, stateDir, log: (s) => logs.push(s) });
  t.teardown(() => m.close());
  const first = { ext4: await idOf(m, imgs.collidingFiles.ext4), xfs: await idOf(m, imgs.collidingFiles.xfs) };
  const before = (await stat(imgs.collidingFiles.ext4, { bigint: true })).dev;
  await imgs.reattachReversed();
  t.is((await stat(imgs.collidingFiles.xfs, { bigint: true })).dev, before, 'xfs now has the st_dev ext4 had');
  // What the mapper's 0.5 s timer does; called directly so the test does not sleep.
  await m.checkRemounts();
  // The 0.5 s timer may have run mid-swap and seen a disk absent (stdev:...): either way the binding was dropped.
  t.regex(logs.join('\n'), /now holds (uuid|stdev):/);
  t.deepEqual({ ext4: await idOf(m, imgs.collidingFiles.ext4), xfs: await idOf(m, imgs.collidingFiles.xfs) }, first);
});

loopTest(`a new disk seen between a swap and the remount check does not hide the swap${why}`, async (t) => {
  const { src, stateDir } = await exportDir(t);
  const imgs = await loopImages(t, src, ['ext4', 'xfs']);
  const m = await openMapper({ root: src, stateDir, log: () => {} });
  t.teardown(() => m.close());
  const first = { ext4: await idOf(m, imgs.collidingFiles.ext4), xfs: await idOf(m, imgs.collidingFiles.xfs) };
  await imgs.reattachReversed();
  // A third filesystem appears and is looked up before the check runs: binding
  // it reads the new mountinfo, which must not count as "already checked".
  const other = join(src, 'late-tmpfs');
  await new Promise<void>((resolve, reject) => execFile('mkdir', ['-p', other], (e) => (e ? reject(e) : resolve())));
  await new Promise<void>((resolve, reject) => execFile('mount', ['-t', 'tmpfs', 'late', other], (e) => (e ? reject(e) : resolve())));
  t.teardown(() => new Promise((resolve) => execFile('umount', ['-l', other], () => resolve())));
  await idOf(m, other);
  await m.checkRemounts();
  t.deepEqual({ ext4: await idOf(m, imgs.collidingFiles.ext4), xfs: await idOf(m, imgs.collidingFiles.xfs) }, first);
});
