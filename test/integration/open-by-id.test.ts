// Opening a file from its stable id alone, as NFS export support needs after
// a restart: files and directories deep in the tree on SRC's own filesystem,
// on ext4 and xfs images mounted inside it and on a tmpfs. The ids (and the
// kernel handles of the raw files, for their generations) are taken in this
// process; then the images are unmounted and re-attached swapped (new st_dev
// numbers), caches are dropped, and a NEW process opens every id. Deleted ->
// ESTALE; renamed -> still opens; inode number reused by a new file ->
// ESTALE with the old generation.
import { execFile } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { openMapper } from '../../lib/mapper/open.js';
import { formatFor } from '../../lib/sys/handle-formats.js';
import { fsType, getVersion, nameToHandle } from '../../lib/sys/handles.js';
import { canLoop, loopImages, run } from '../helpers/loop-images.js';

const gate = await canLoop();
const check = gate.ok ? test.serial : test.skip;
const CHILD = new URL('../helpers/open-by-id-child.js', import.meta.url).pathname;

interface Answer {
  id: string;
  ok: boolean;
  code?: string;
  message?: string;
  ino?: string;
  dev?: string;
  generation?: number;
  contained?: string;
  content?: string;
  parentIno?: string;
}

function child(src: string, stateDir: string, asks: object[]): Promise<{ answers: Answer[]; logs: string[] }> {
  return new Promise((resolve, reject) => {
    const p = execFile(process.execPath, [CHILD, src, stateDir], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Answer & { logs?: string[] });
      resolve({ answers: lines.filter((l) => !l.logs), logs: lines.at(-1)?.logs ?? [] });
    });
    p.stdin!.end(JSON.stringify(asks));
  });
}

/** The file's generation as its raw kernel handle says it, checked against FS_IOC_GETVERSION where the filesystem has it. */
async function generation(path: string): Promise<number> {
  const fd = openSync(path, 'r');
  try {
    const format = formatFor(await fsType(fd));
    if (!format) throw new Error(`${path}: no handle format`);
    const gen = format.generation(await nameToHandle(fd, '', 0x1000 /* AT_EMPTY_PATH */))!;
    if (format.fs !== 'tmpfs' && (await getVersion(fd)) !== gen) throw new Error(`${path}: handle and FS_IOC_GETVERSION disagree`);
    return gen;
  } finally {
    closeSync(fd);
  }
}

/** Make files in dir until one gets inode number `ino` (ext4 and xfs hand out the lowest free one here); the rest are removed. */
async function reuseIno(dir: string, ino: bigint): Promise<string | undefined> {
  const made: string[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      const p = join(dir, `new-${i}`);
      await writeFile(p, 'the new file\n');
      if ((await lstat(p, { bigint: true })).ino === ino) return p;
      made.push(p);
    }
    return undefined;
  } finally {
    for (const p of made) await rm(p);
  }
}

check(`ids open by inode number in a new process after remount and dropped caches: same file; deleted, reused -> ESTALE${gate.ok ? '' : ` (${gate.reason})`}`, async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'stableid-obi-'));
  const src = join(base, 'src');
  const stateDir = join(base, 'state');
  await mkdir(src);
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const imgs = await loopImages(t, src, ['ext4', 'xfs']);
  await mkdir(join(src, 'tmp'));
  await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'nfs-test', join(src, 'tmp')]);
  t.teardown(() => run('umount', ['-l', join(src, 'tmp')]).then(() => undefined));
  await mkdir(join(base, 'outside'));

  // On each filesystem: a deep file, its directory, one to delete, one to rename, one whose number gets reused.
  const fss = ['.', 'ext4', 'xfs', 'tmp'];
  // Inode numbers are reused predictably only on the images (SRC's filesystem is shared; tmpfs counts up).
  const namesOf = (fs: string) => (fs === 'ext4' || fs === 'xfs' ? ['deep', 'gone', 'moved', 'reused'] : ['deep', 'gone', 'moved']);
  const files: Record<string, string> = {};
  for (const fs of fss) {
    const d = join(src, fs, 'd1/d2/d3');
    await mkdir(d, { recursive: true });
    for (const name of namesOf(fs)) {
      files[`${fs}/${name}`] = join(d, `${name}.txt`);
      await writeFile(files[`${fs}/${name}`]!, `${fs} ${name}\n`);
    }
    files[`${fs}/dir`] = d;
  }
  files.root = src;
  files.outside = join(base, 'outside');

  const mapper = await openMapper({ root: src, stateDir, log: (l) => t.log(l) });
  const ids: Record<string, { id: bigint; gen: number; ino: bigint }> = {};
  for (const [k, p] of Object.entries(files)) {
    const st = await lstat(p, { bigint: true });
    ids[k] = { id: await mapper.idFor(st.dev, st.ino), gen: await generation(p), ino: st.ino };
  }
  await mapper.close();
  // The handle built from (ino, generation) alone is byte for byte the kernel's own.
  for (const fs of fss) {
    const fd = openSync(files[`${fs}/deep`]!, 'r');
    try {
      const raw = await nameToHandle(fd, '', 0x1000);
      const built = formatFor(await fsType(fd))!.build(ids[`${fs}/deep`]!.ino, ids[`${fs}/deep`]!.gen);
      t.deepEqual({ type: built?.type, handle: built?.handle.toString('hex') }, { type: raw.type, handle: raw.handle.toString('hex') }, `${fs}: built handle`);
    } finally {
      closeSync(fd);
    }
  }

  // What happens while stableid is down.
  for (const fs of fss) {
    await unlink(files[`${fs}/gone`]!);
    await rename(files[`${fs}/moved`]!, join(src, fs, 'd1', 'moved-here.txt'));
  }
  const reusedBy: Record<string, string | undefined> = {};
  for (const fs of ['ext4', 'xfs']) {
    await unlink(files[`${fs}/reused`]!);
    reusedBy[fs] = await reuseIno(join(src, fs, 'd1'), ids[`${fs}/reused`]!.ino);
  }
  // The premise of the reuse case: a new file got the old number on at least one image.
  t.true(Boolean(reusedBy.ext4 ?? reusedBy.xfs), `no inode number was reused: ${JSON.stringify(reusedBy)}`);
  t.log(`inode numbers reused by new files: ${JSON.stringify(reusedBy)}`);
  const devsBefore = { ...imgs.devices };
  await imgs.reattachReversed(); // ext4 and xfs come back at each other's st_dev
  t.deepEqual([imgs.devices.ext4, imgs.devices.xfs], [devsBefore.xfs, devsBefore.ext4]);
  await run('sync', []);
  await writeFile('/proc/sys/vm/drop_caches', '3');

  const asks: object[] = [];
  const ask = (key: string, withGen: boolean, parent = false) => asks.push({ id: String(ids[key]!.id), generation: withGen ? ids[key]!.gen : undefined, parent, key });
  for (const fs of fss) {
    for (const name of [...namesOf(fs), 'dir']) for (const g of [true, false]) ask(`${fs}/${name}`, g, name === 'dir');
  }
  ask('root', false, true);
  ask('outside', false);
  asks.push({ id: String((999n << 48n) | 5n) });
  const { answers, logs } = await child(src, stateDir, asks);
  t.log(logs.join('\n'));
  const get = (i: number) => answers[i]!;
  let i = 0;
  for (const fs of fss) {
    for (const name of [...namesOf(fs), 'dir']) {
      for (const withGen of [true, false]) {
        const a = get(i++);
        const what = `${fs}/${name} ${withGen ? 'with' : 'without'} generation: ${JSON.stringify(a)}`;
        const k = `${fs}/${name}`;
        if (fs === 'tmp' && !withGen && name !== 'gone') {
          // tmpfs needs the generation: nothing gives it from the number alone.
          t.like(a, { ok: false, code: 'ESTALE' }, what);
        } else if (name === 'gone' || (name === 'reused' && withGen)) {
          t.like(a, { ok: false, code: 'ESTALE' }, what);
        } else if (name === 'reused') {
          // Without a generation an id names whatever has its inode number now; the
          // generation that comes with it is the new file's, so the FUSE kernel
          // (which compares it with its handle's) gives ESTALE, not the new file.
          if (!reusedBy[fs]) t.like(a, { ok: false, code: 'ESTALE' }, what);
          else {
            t.like(a, { ok: true, content: 'the new file\n' }, what);
            t.not(a.generation, ids[k]!.gen, `${what}: a new generation`);
          }
        } else {
          t.like(a, { ok: true, ino: String(ids[k]!.ino), generation: ids[k]!.gen }, what);
          if (name !== 'dir') t.is(a.content, `${fs} ${name}\n`, what);
          if (name === 'dir') t.is(a.parentIno, String((await lstat(join(src, fs, 'd1/d2'), { bigint: true })).ino), `${what}: ..`);
        }
      }
    }
  }
  // The directory on SRC's own filesystem was found under the export by walking up; files inside whole filesystems need no walk.
  t.like(get(asks.findIndex((a) => (a as { key?: string }).key === './dir')), { contained: 'walked' });
  t.like(get(asks.findIndex((a) => (a as { key?: string }).key === 'ext4/deep')), { contained: 'whole-filesystem' });
  t.like(get(i++), { ok: true, ino: String(ids.root!.ino), parentIno: String(ids.root!.ino) }, 'the root is its own parent');
  t.like(get(i++), { ok: false, code: 'ESTALE' }, 'a directory beside SRC on its filesystem is not served');
  t.regex(get(i - 1).message ?? '', /not under the export root/);
  t.like(get(i++), { ok: false, code: 'ESTALE' }, 'unknown prefix');
  t.true(logs.some((l) => /tmpfs cannot be opened by inode number alone/.test(l)), 'tmpfs said once');
  t.is(logs.filter((l) => /tmpfs cannot be opened/.test(l)).length, 1);
});
