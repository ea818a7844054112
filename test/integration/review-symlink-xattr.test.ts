// REVIEW: xattrs of a symlink go through /proc/self/fd/N of its O_PATH
// descriptor; they must act on the link itself, never on its target outside
// SRC (trusted.* and security.* are allowed on symlinks for root). Expected
// to pass (a check that the magic link is not followed further).
import { mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { getAttribute, setAttribute } from 'fs-xattr';
import * as M from '../../lib/ninep/messages.js';
import { ninepFixture } from '../helpers/ninep-fixture.js';
import { run } from '../helpers/run.js';

const base = { mode: 0, uid: 0, gid: 0, size: 0n, atime_sec: 0n, atime_nsec: 0n, mtime_sec: 0n, mtime_nsec: 0n };

test('review: xattrs and times of a symlink fid never reach its target outside SRC', async (t) => {
  const outside = await mkdtemp(join(tmpdir(), 'review-outside-'));
  t.teardown(() => rm(outside, { recursive: true, force: true }));
  const canary = join(outside, 'canary');
  await writeFile(canary, 'canary');
  await setAttribute(canary, 'trusted.secret', Buffer.from('outside secret'));
  const { client: c, src } = await ninepFixture(t);
  await symlink(canary, join(src, 'l'));
  await c.walk(0, 1, 'l');
  // Read: the link has no trusted.secret; the target's must not show.
  const got = await c.rpc(M.Txattrwalk, { fid: 1, newfid: 2, name: 'trusted.secret' }).then(() => 'read', (e: Error) => e.message);
  t.not(got, 'read', 'the target\'s xattr was read through the link');
  await c.clunk(2).catch(() => undefined);
  // Write: set trusted.pwn on the link fid.
  await c.walk(0, 3, 'l');
  await c.rpc(M.Txattrcreate, { fid: 3, name: 'trusted.pwn', attr_size: 1n, flags: 0 });
  await c.rpc(M.Twrite, { fid: 3, offset: 0n, data: Buffer.from('x') });
  await c.clunk(3).catch(() => undefined);
  await t.throwsAsync(getAttribute(canary, 'trusted.pwn'), undefined, 'nothing set on the target');
  t.is((await run('getfattr', ['-h', '--only-values', '-n', 'trusted.pwn', join(src, 'l')])).stdout, 'x', 'the link itself got it');
  // Times and mode on the link fid.
  const before = await stat(canary);
  await c.rpc(M.Tsetattr, { ...base, fid: 1, valid: M.ATTR.MTIME | M.ATTR.MTIME_SET, mtime_sec: 12345n }).catch(() => undefined);
  await c.rpc(M.Tsetattr, { ...base, fid: 1, valid: M.ATTR.MODE, mode: 0o104777 }).catch(() => undefined);
  const after = await stat(canary);
  t.is(after.mtimeMs, before.mtimeMs);
  t.is(after.mode, before.mode);
  t.is(await readFile(canary, 'utf8'), 'canary');
});
