// stableid_sys.node: utimensat with nanoseconds, UTIME_OMIT/UTIME_NOW and no
// symlink following; mknod; errors carry err.code.
import { lstat, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { toErrno } from '../../lib/errno.js';
import * as sys from '../../lib/sys/sys.js';

test('utimensat sets ns times, honours UTIME_OMIT and UTIME_NOW, and does not follow symlinks', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stableid-sys-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const f = join(dir, 'f');
  await writeFile(f, 'x');
  await sys.utimensat(f, 1_000_000_000n, 123_456_789, 2_000_000_000n, 987_654_321);
  let st = await lstat(f, { bigint: true });
  t.is(st.atimeNs, 1_000_000_000_123_456_789n);
  t.is(st.mtimeNs, 2_000_000_000_987_654_321n);
  await sys.utimensat(f, 0n, sys.UTIME_OMIT, -5n, 1);
  st = await lstat(f, { bigint: true });
  t.is(st.atimeNs, 1_000_000_000_123_456_789n, 'UTIME_OMIT leaves atime');
  t.is(st.mtimeNs, -4_999_999_999n, 'times before 1970');
  const before = BigInt(Date.now()) * 1_000_000n;
  await sys.utimensat(f, 0n, sys.UTIME_NOW, 0n, sys.UTIME_OMIT);
  st = await lstat(f, { bigint: true });
  t.true(st.atimeNs >= before - 1_000_000_000n, 'UTIME_NOW');
  const l = join(dir, 'l');
  await symlink('f', l);
  await sys.utimensat(l, 7n, 0, 7n, 0);
  t.is((await lstat(l, { bigint: true })).mtimeNs, 7_000_000_000n, 'the link itself changed');
  t.is((await lstat(f, { bigint: true })).mtimeNs, -4_999_999_999n, 'not its target');
});

test('mknod makes FIFOs; errors carry the errno name', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stableid-sys-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await sys.mknod(join(dir, 'fifo'), 0o010644, 0n);
  t.true((await lstat(join(dir, 'fifo'))).isFIFO());
  const err = await t.throwsAsync(sys.mknod(join(dir, 'fifo'), 0o010644, 0n));
  t.is((err as { code?: string }).code, 'EEXIST');
  t.is(toErrno(err), 17);
  const err2 = await t.throwsAsync(sys.utimensat(join(dir, 'missing'), 0n, 0, 0n, 0));
  t.is((err2 as { code?: string }).code, 'ENOENT');
});

test('l*xattr: get, list, set with CREATE/REPLACE flags, remove, and never through a symlink', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stableid-sys-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const f = join(dir, 'f');
  await writeFile(f, 'x');
  await sys.lsetxattr(f, 'user.a', Buffer.from('one'), 0);
  await sys.lsetxattr(f, 'user.big', Buffer.alloc(3000, 1), 1);
  t.is((await sys.lgetxattr(f, 'user.a')).toString(), 'one');
  t.is((await sys.lgetxattr(f, 'user.big')).length, 3000);
  t.deepEqual((await sys.llistxattr(f)).filter((n) => n.startsWith('user.')).sort(), ['user.a', 'user.big']);
  t.is(((await t.throwsAsync(sys.lsetxattr(f, 'user.a', Buffer.from('x'), 1))) as { code?: string }).code, 'EEXIST', 'XATTR_CREATE');
  t.is(((await t.throwsAsync(sys.lsetxattr(f, 'user.b', Buffer.from('x'), 2))) as { code?: string }).code, 'ENODATA', 'XATTR_REPLACE');
  await sys.lremovexattr(f, 'user.a');
  t.is(((await t.throwsAsync(sys.lgetxattr(f, 'user.a'))) as { code?: string }).code, 'ENODATA');
  const l = join(dir, 'l');
  await symlink('f', l);
  t.is(((await t.throwsAsync(sys.lgetxattr(l, 'user.big'))) as { code?: string }).code, 'ENODATA', 'the link, not its target');
  t.false((await sys.llistxattr(l)).includes('user.big'));
  t.is(((await t.throwsAsync(sys.lsetxattr(l, 'user.c', Buffer.from('x'), 0))) as { code?: string }).code, 'EPERM');
});
