// stableid_sys.node: descriptor-relative calls with one name component that
// never follow a symlink; ns times with UTIME_OMIT/UTIME_NOW; xattrs through
// an O_PATH descriptor; renameat2 flags; errors carry err.code.
import { lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { toErrno } from '../../lib/errno.js';
import * as sys from '../../lib/sys/sys.js';

const O_DIRECTORY = 0o200000;
const O_NOFOLLOW = 0o400000;

async function dir(t: ExecutionContext): Promise<{ d: string; dfd: number }> {
  const d = await mkdtemp(join(tmpdir(), 'stableid-sys-'));
  const dfd = sys.openPath(-100, d, O_DIRECTORY);
  t.teardown(async () => {
    sys.close(dfd);
    await rm(d, { recursive: true, force: true });
  });
  return { d, dfd };
}

const pin = (dfd: number, name: string) => sys.openPath(dfd, name, O_NOFOLLOW);

test('utimensat sets ns times on the descriptor\'s inode, honours UTIME_OMIT/UTIME_NOW, and a symlink\'s own times', async (t) => {
  const { d, dfd } = await dir(t);
  await writeFile(join(d, 'f'), 'x');
  const f = pin(dfd, 'f');
  await sys.utimensat(f, 1_000_000_000n, 123_456_789, 2_000_000_000n, 987_654_321);
  let st = await lstat(join(d, 'f'), { bigint: true });
  t.is(st.atimeNs, 1_000_000_000_123_456_789n);
  t.is(st.mtimeNs, 2_000_000_000_987_654_321n);
  await sys.utimensat(f, 0n, sys.UTIME_OMIT, -5n, 1);
  st = await lstat(join(d, 'f'), { bigint: true });
  t.is(st.atimeNs, 1_000_000_000_123_456_789n, 'UTIME_OMIT leaves atime');
  t.is(st.mtimeNs, -4_999_999_999n, 'times before 1970');
  const before = BigInt(Date.now()) * 1_000_000n;
  await sys.utimensat(f, 0n, sys.UTIME_NOW, 0n, sys.UTIME_OMIT);
  t.true((await lstat(join(d, 'f'), { bigint: true })).atimeNs >= before - 1_000_000_000n, 'UTIME_NOW');
  await symlink('f', join(d, 'l'));
  await sys.utimensat(pin(dfd, 'l'), 7n, 0, 7n, 0);
  t.is((await lstat(join(d, 'l'), { bigint: true })).mtimeNs, 7_000_000_000n, 'the link itself changed');
  t.is((await lstat(join(d, 'f'), { bigint: true })).mtimeNs, -4_999_999_999n, 'not its target');
});

test('statx and openat never follow a final symlink; a renamed file keeps its descriptor', async (t) => {
  const { d, dfd } = await dir(t);
  await writeFile(join(d, 'f'), 'data');
  await symlink('/etc', join(d, 'l'));
  const out = sys.statxBuffer();
  sys.statx(dfd, 'l', 0, out);
  t.is(Number(out[sys.Sx.mode]) & 0o170000, 0o120000, 'the link, not /etc');
  t.is(sys.tryStatx(dfd, 'missing', 0, out), -2, 'ENOENT as -errno');
  const err = t.throws(() => sys.statx(dfd, 'missing', 0, out));
  t.is((err as NodeJS.ErrnoException).code, 'ENOENT');
  t.is(sys.openPath(dfd, 'l/passwd', O_NOFOLLOW), -22, 'one component only: no path through a symlink (EINVAL)');
  t.is(sys.tryStatx(dfd, 'l/passwd', 0, out), -22);
  t.throws(() => sys.mkdirat(dfd, 'l/x', 0o700), { code: 'EINVAL' });
  const f = pin(dfd, 'f');
  const raw = await stat(join(d, 'f'), { bigint: true });
  sys.statx(f, '', sys.AT_EMPTY_PATH, out);
  t.is(out[sys.Sx.ino], raw.ino);
  t.is(out[sys.Sx.dev], raw.dev, 'dev encoded as Node does');
  t.is(out[sys.Sx.size], 4n);
  await sys.renameat2(dfd, 'f', dfd, 'g', 0);
  const w = await sys.reopen(f, 1 /* O_WRONLY */);
  const { writeSync, closeSync } = await import('node:fs');
  writeSync(w, 'DATA');
  closeSync(w);
  t.is(await readFile(join(d, 'g'), 'utf8'), 'DATA', 'the descriptor followed the file');
});

test('mknodat, mkdirat, symlinkat, linkat, unlinkat, fchownat, fchmod; errors carry the errno name', async (t) => {
  const { d, dfd } = await dir(t);
  await sys.mknodat(dfd, 'fifo', 0o010644, 0n);
  t.true((await lstat(join(d, 'fifo'))).isFIFO());
  const err = await t.throwsAsync(sys.mknodat(dfd, 'fifo', 0o010644, 0n));
  t.is((err as { code?: string }).code, 'EEXIST');
  t.is(toErrno(err), 17);
  await sys.mkdirat(dfd, 'sub', 0o700);
  t.true((await lstat(join(d, 'sub'))).isDirectory());
  await sys.symlinkat('../outside', dfd, 'sl');
  t.is(await sys.readlinkat(pin(dfd, 'sl')), '../outside');
  await writeFile(join(d, 'f'), 'x');
  const f = pin(dfd, 'f');
  await sys.linkat(f, dfd, 'hard');
  t.is((await stat(join(d, 'hard'))).ino, (await stat(join(d, 'f'))).ino);
  await sys.fchownat(f, 1234, 5678);
  t.like(await stat(join(d, 'f')), { uid: 1234, gid: 5678 });
  await sys.fchmod(f, 0o4751);
  t.is((await stat(join(d, 'f'))).mode & 0o7777, 0o4751);
  t.is(((await t.throwsAsync(sys.fchmod(pin(dfd, 'sl'), 0o777))) as { code?: string }).code, 'EOPNOTSUPP', 'a symlink has no mode to change');
  await sys.unlinkat(dfd, 'hard', 0);
  await sys.unlinkat(dfd, 'sub', sys.AT_REMOVEDIR);
  t.is(((await t.throwsAsync(sys.unlinkat(dfd, 'sub', 0))) as { code?: string }).code, 'ENOENT');
});

test('renameat2: RENAME_NOREPLACE and RENAME_EXCHANGE are the kernel\'s', async (t) => {
  const { d, dfd } = await dir(t);
  await writeFile(join(d, 'a'), 'A');
  await mkdir(join(d, 'b'));
  t.is(((await t.throwsAsync(sys.renameat2(dfd, 'a', dfd, 'b', 1))) as { code?: string }).code, 'EEXIST');
  await sys.renameat2(dfd, 'a', dfd, 'b', 2);
  t.true((await lstat(join(d, 'a'))).isDirectory());
  t.is(await readFile(join(d, 'b'), 'utf8'), 'A');
});

test('xattrs through an O_PATH descriptor: get, list, set with CREATE/REPLACE, remove; a symlink\'s are its own', async (t) => {
  const { d, dfd } = await dir(t);
  await writeFile(join(d, 'f'), 'x');
  const f = pin(dfd, 'f');
  await sys.setxattr(f, 'user.a', Buffer.from('one'), 0);
  await sys.setxattr(f, 'user.big', Buffer.alloc(3000, 1), 1);
  t.is((await sys.getxattr(f, 'user.a')).toString(), 'one');
  t.is((await sys.getxattr(f, 'user.big')).length, 3000);
  t.deepEqual((await sys.listxattr(f)).filter((n) => n.startsWith('user.')).sort(), ['user.a', 'user.big']);
  t.is(((await t.throwsAsync(sys.setxattr(f, 'user.a', Buffer.from('x'), 1))) as { code?: string }).code, 'EEXIST', 'XATTR_CREATE');
  t.is(((await t.throwsAsync(sys.setxattr(f, 'user.b', Buffer.from('x'), 2))) as { code?: string }).code, 'ENODATA', 'XATTR_REPLACE');
  await sys.removexattr(f, 'user.a');
  t.is(((await t.throwsAsync(sys.getxattr(f, 'user.a'))) as { code?: string }).code, 'ENODATA');
  await symlink('f', join(d, 'l'));
  const l = pin(dfd, 'l');
  t.is(((await t.throwsAsync(sys.getxattr(l, 'user.big'))) as { code?: string }).code, 'ENODATA', 'the link, not its target');
  t.false((await sys.listxattr(l)).includes('user.big'));
  t.is(((await t.throwsAsync(sys.setxattr(l, 'user.c', Buffer.from('x'), 0))) as { code?: string }).code, 'EPERM');
});

test('file handles: a descriptor closed and reopened by handle is the same inode; a deleted file gives ESTALE', async (t) => {
  const { d, dfd } = await dir(t);
  await writeFile(join(d, 'f'), 'x');
  const f = pin(dfd, 'f');
  const h = sys.nameToHandle(f);
  if (typeof h === 'number') return t.fail(`name_to_handle_at on ${tmpdir()}: errno ${-h}`);
  sys.close(f);
  const anchor = sys.openDirFd(dfd);
  t.teardown(() => sys.close(anchor));
  t.is(sys.openByHandle(dfd, h), -9, 'not through an O_PATH descriptor (EBADF)');
  const again = sys.openByHandle(anchor, h);
  t.true(again >= 0);
  const out = sys.statxBuffer();
  sys.statx(again, '', sys.AT_EMPTY_PATH, out);
  t.is(out[sys.Sx.ino], (await stat(join(d, 'f'), { bigint: true })).ino);
  sys.close(again);
  await rm(join(d, 'f'));
  t.is(sys.openByHandle(anchor, h), -116, 'ESTALE');
});

test('fallocate, lseek SEEK_DATA/SEEK_HOLE and copy_file_range on open descriptors; OFD locks of two descriptors conflict, flock never waits', async (t) => {
  const { d } = await dir(t);
  const { openSync, closeSync, writeSync } = await import('node:fs');
  const fd = openSync(join(d, 'f'), 'w+');
  const fd2 = openSync(join(d, 'f'), 'r+');
  const out = openSync(join(d, 'g'), 'w+');
  t.teardown(() => [fd, fd2, out].forEach((x) => closeSync(x)));
  writeSync(fd, Buffer.alloc(8192, 1), 0, 8192, 1 << 20);
  t.is(await sys.lseek(fd, 0n, sys.SEEK_DATA), 1n << 20n, 'SEEK_DATA skips the hole');
  t.is(await sys.lseek(fd, 1n << 20n, sys.SEEK_HOLE), (1n << 20n) + 8192n, 'SEEK_HOLE after the data');
  await t.throwsAsync(() => sys.lseek(fd, 4n << 20n, sys.SEEK_DATA), { code: 'ENXIO' });
  await sys.fallocate(fd, 3 /* PUNCH_HOLE|KEEP_SIZE */, 1n << 20n, 4096n);
  t.is(await sys.lseek(fd, 0n, sys.SEEK_DATA), (1n << 20n) + 4096n, 'the punched hole');
  t.is(await sys.copyFileRange(fd, (1n << 20n) + 4096n, out, 0n, 4096), 4096);
  t.deepEqual(await readFile(join(d, 'g')), Buffer.alloc(4096, 1));
  await sys.ofdSetlk(fd, sys.F_WRLCK, 0n, 10n);
  await t.throwsAsync(() => sys.ofdSetlk(fd2, sys.F_RDLCK, 5n, 1n), { code: 'EAGAIN' });
  t.deepEqual(await sys.ofdGetlk(fd2, sys.F_WRLCK, 0n, 0n), [sys.F_WRLCK, 0n, 10n, -1]);
  t.deepEqual((await sys.ofdGetlk(fd, sys.F_WRLCK, 0n, 0n))[0], sys.F_UNLCK, 'a descriptor\'s own lock is not in its way');
  await sys.ofdSetlk(fd, sys.F_UNLCK, 0n, 0n);
  await sys.ofdSetlk(fd2, sys.F_RDLCK, 5n, 1n);
  await sys.flock(fd, sys.LOCK_EX);
  await t.throwsAsync(() => sys.flock(fd2, sys.LOCK_SH), { code: 'EAGAIN' }, 'LOCK_NB is implied');
  await t.throwsAsync(() => sys.fallocate(-1, 0, 0n, 1n), { code: 'EBADF' });
});

test('listDir: every name once with its st_ino and type, past the first 64 KiB too (read on the pool), of the pinned directory however it was renamed', async (t) => {
  const { d, dfd } = await dir(t);
  // 3000 names of 40 bytes: about 150 KiB of records, three getdents buffers.
  const names = Array.from({ length: 3000 }, (_, i) => `n${String(i).padStart(4, '0')}-${'x'.repeat(34)}`);
  await mkdir(join(d, 'big'));
  await Promise.all(names.map((n) => writeFile(join(d, 'big', n), '')));
  await mkdir(join(d, 'big', 'sub'));
  await symlink('nowhere', join(d, 'big', 'link'));
  await writeFile(join(d, 'big', 'é ünïcode'), '');
  const big = pin(dfd, 'big');
  await sys.renameat2(dfd, 'big', dfd, 'moved', 0);
  const e = await sys.listDir(big);
  const want = [...names, 'sub', 'link', 'é ünïcode'].sort();
  t.deepEqual([...e.names].sort(), want, 'the names, no . or ..');
  t.is(e.inos.length, e.names.length);
  const types: Record<string, number> = {};
  for (let i = 0; i < e.names.length; i++) {
    const st = await lstat(join(d, 'moved', e.names[i]), { bigint: true });
    if (e.inos[i] !== st.ino) t.fail(`${e.names[i]}: d_ino ${e.inos[i]} is not st_ino ${st.ino}`);
    types[e.names[i]] = e.types[i];
  }
  t.deepEqual([types.sub, types.link, types[names[0]]], [sys.DT_DIR, 10, 8], 'd_type: directory, symlink, regular file');
  await mkdir(join(d, 'void'));
  t.deepEqual((await sys.listDir(pin(dfd, 'void'))).names, [], 'an empty directory');
  await t.throwsAsync(sys.listDir(pin(big, names[0])), { code: 'ENOTDIR' }, 'a file is not listed');
  await t.throwsAsync(sys.listDir(-1), { code: 'EBADF' }, 'no such descriptor: a Node-style error');
});

test('listDir: a directory with more than 64 MiB of names (several strings from the addon) gives every name once, intact', async (t) => {
  // tmpfs where there is one: 290,000 names of 246 bytes, 71.6 MB with their separators (64 MiB is 67.1 MB).
  const base = await mkdtemp(join((await stat('/dev/shm').then((s) => s.isDirectory(), () => false)) ? '/dev/shm' : tmpdir(), 'stableid-sys-big-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const n = 290_000;
  const make = String.raw`
import os, sys
for i in range(int(sys.argv[2])): os.close(os.open(os.path.join(sys.argv[1], '%06d' % i + 'x' * 240), os.O_CREAT | os.O_WRONLY, 0o644))
`;
  const { execFile } = await import('node:child_process');
  await new Promise<void>((resolve, reject) => execFile('/usr/bin/python3', ['-c', make, base, String(n)], { timeout: 120_000 }, (err) => (err ? reject(err) : resolve())));
  const fd = sys.openPath(-100, base, O_DIRECTORY);
  t.teardown(() => sys.close(fd));
  const e = await sys.listDir(fd);
  t.is(e.names.length, n);
  t.is(e.inos.length, n);
  t.is(new Set(e.names).size, n, 'no name twice');
  t.true(e.names.every((name) => name.length === 246 && /^\d{6}x{240}$/.test(name)), 'no name cut at a string boundary');
});
