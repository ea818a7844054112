// Descriptors are a budget: the backend holds at most `descriptorBudget` of
// them for inodes, lets the least recently used go and reopens that very
// inode by file handle when it is used again; a file deleted meanwhile gives
// ESTALE, never another file.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { PassthroughBackend } from '../../lib/backend/passthrough.js';
import { FakeMapper } from '../helpers/fake-mapper.js';
import { canLoop, loopImages } from '../helpers/loop-images.js';

const loop = await canLoop(['ext4']);

const FILES = 300;
const BUDGET = 64;

test.serial('a budget of descriptors: inodes past it are let go and reopened by handle, the same file each time', async (t) => {
  const src = await mkdtemp(join(tmpdir(), 'stableid-fds-'));
  t.teardown(() => rm(src, { recursive: true, force: true }));
  for (let i = 0; i < FILES; i++) await writeFile(join(src, `f${i}`), `content ${i}`);
  const be = await PassthroughBackend.open({ root: src, mapper: new FakeMapper((await stat(src, { bigint: true })).dev), descriptorBudget: BUDGET });
  t.teardown(() => be.close());
  const entries = [];
  for (let i = 0; i < FILES; i++) entries.push(await be.lookup(be.root, `f${i}`));
  t.true(be.inodes.descriptors <= BUDGET, `${be.inodes.descriptors} descriptors held for ${FILES} inodes`);
  t.is(be.inodes.size, FILES + 1);
  // Every inode still answers as itself, through a reopened descriptor.
  for (let i = 0; i < FILES; i++) {
    const a = await be.getattr(entries[i]!.inode);
    t.is(a.ino, (await stat(join(src, `f${i}`), { bigint: true })).ino, `f${i}`);
    const fh = await be.open(entries[i]!.inode, 0);
    t.is((await be.read(fh, 100, 0n)).toString(), `content ${i}`);
    await be.release(fh);
  }
  t.true(be.inodes.descriptors <= BUDGET);
  // A let-go inode whose file is deleted and whose inode number is reused: ESTALE, not the new file.
  const victim = entries[0]!.inode;
  for (let i = 1; i < FILES; i++) await be.getattr(entries[i]!.inode); // victim is least recently used: let go
  t.is(victim.fd, -1, 'let go');
  await rm(join(src, 'f0'));
  for (let i = 0; i < 50; i++) await writeFile(join(src, `new${i}`), 'new');
  await t.throwsAsync(be.getattr(victim), { code: 'ESTALE' });
  for (const e of entries) be.forget(e.inode);
  t.is(be.inodes.size, 1, 'only the root is left');
  t.true(be.inodes.descriptors <= 2, 'the root and at most an anchor');
  t.is(await readFile(join(src, 'f1'), 'utf8'), 'content 1');
});

// Serial: it fills this process's descriptor table, which would make a concurrent test's spawn fail (EMFILE).
test.serial('out of descriptors: the client gets ENFILE and the operator one warning, never a crash; freed descriptors serve again', async (t) => {
  const src = await mkdtemp(join(tmpdir(), 'stableid-fds-'));
  t.teardown(() => rm(src, { recursive: true, force: true }));
  await writeFile(join(src, 'f'), 'x');
  const warnings: string[] = [];
  const be = await PassthroughBackend.open({ root: src, mapper: new FakeMapper((await stat(src, { bigint: true })).dev), warn: (m) => warnings.push(m) });
  t.teardown(() => be.close());
  const f = await be.lookup(be.root, 'f');
  const fhs: number[] = [];
  let failure: unknown;
  for (let i = 0; i < 1 << 20 && !failure; i++) {
    try {
      fhs.push(await be.open(f.inode, 0));
    } catch (err) {
      failure = err;
    }
  }
  t.is((failure as { code?: string }).code, 'ENFILE', 'the client hears ENFILE');
  await t.throwsAsync(be.open(f.inode, 0), { code: 'ENFILE' });
  t.is(warnings.length, 1, `one warning: ${warnings.join(' | ')}`);
  t.regex(warnings[0]!, /out of file descriptors.*raise the open-files limit/);
  for (const fh of fhs) await be.release(fh);
  const again = await be.open(f.inode, 0);
  t.is((await be.read(again, 10, 0n)).toString(), 'x', 'serving again once descriptors are free');
  await be.release(again);
  be.forget(f.inode);
});

// On its own ext4 image: on the shared /tmp another test may take the freed inode number first.
(loop.ok ? test.serial : test.skip)(`a let-go inode whose file was deleted on SRC and whose number went to a new file: the id names the new file, the old Inode gets ESTALE${loop.ok ? '' : ` (${loop.reason})`}`, async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'stableid-fds-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const src = (await loopImages(t, base, ['ext4'])).dirs.ext4;
  const be = await PassthroughBackend.open({ root: src, mapper: new FakeMapper((await stat(src, { bigint: true })).dev), descriptorBudget: BUDGET });
  t.teardown(() => be.close());
  await writeFile(join(src, 'old'), 'old');
  const old = await be.lookup(be.root, 'old');
  const oldIno = (await stat(join(src, 'old'))).ino;
  const others = [];
  for (let i = 0; i < BUDGET * 2; i++) {
    await writeFile(join(src, `o${i}`), '');
    others.push(await be.lookup(be.root, `o${i}`));
  }
  t.is(old.inode.fd, -1, 'let go');
  await rm(join(src, 'old'));
  let name: string | undefined;
  for (let i = 0; i < 300 && !name; i++) {
    await writeFile(join(src, `n${i}`), `new ${i}`);
    if ((await stat(join(src, `n${i}`))).ino === oldIno) name = `n${i}`;
  }
  if (!name) return t.fail('the filesystem did not reuse the inode number (ext4 does at once)');
  const found = await be.lookup(be.root, name);
  t.is(found.inode.id, old.inode.id, 'the same id (the same inode number on the same disk)');
  t.not(found.inode, old.inode, 'a new Inode for the new file');
  const fh = await be.open(found.inode, 0);
  t.is((await be.read(fh, 20, 0n)).toString(), `new ${name.slice(1)}`, 'it opens the new file');
  await be.release(fh);
  await t.throwsAsync(be.getattr(old.inode), { code: 'ESTALE' }, 'whoever held the old file (a 9P fid) never reaches the new one');
  for (const e of [old, found, ...others]) be.forget(e.inode);
  t.is(be.inodes.size, 1);
});
