// Mount-specific promises beyond the shared conformance suite: the id
// table's xattrs are invisible and untouchable, rename flags, mount options
// (allow_other with caller ownership and kernel permission checks, ro, cache
// timeouts), and requests as large as the kernel allows.
import { chmod, lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import * as xattr from 'fs-xattr';
import { canMount, mountFixture } from '../helpers/mount-fixture.js';
import { run, runOk } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;

serial(`the id table's xattrs are hidden and refused on the mount${why}`, async (t) => {
  const fx = await mountFixture(t);
  // A second filesystem under SRC makes the mapper store a prefix in the table.
  await mkdir(join(fx.src, 'other'));
  await runOk('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'stableid-xattr', join(fx.src, 'other')]);
  t.teardown(() => run('umount', ['-l', join(fx.src, 'other')]).then(() => undefined));
  await runOk('stat', [join(fx.mnt, 'other')], { timeoutMs: 10_000 });
  const reserved = (await xattr.listAttributes(fx.src)).filter((n) => n.startsWith('user.stableid.'));
  t.true(reserved.length > 0, `the source root holds the table (${reserved.join(', ')})`);
  const listed = await runOk('getfattr', ['--absolute-names', '-d', '-m', '-', fx.mnt], { timeoutMs: 10_000 });
  t.false(listed.includes('user.stableid.'), 'listxattr on the mount hides them');
  const get = await run('getfattr', ['--absolute-names', '-n', reserved[0], fx.mnt], { timeoutMs: 10_000 });
  t.regex(get.stderr, /No such attribute/);
  const set = await run('setfattr', ['-n', reserved[0], '-v', 'evil', fx.mnt], { timeoutMs: 10_000 });
  t.regex(set.stderr, /Operation not permitted/);
  const rm = await run('setfattr', ['-x', reserved[0], fx.mnt], { timeoutMs: 10_000 });
  t.regex(rm.stderr, /Operation not permitted/);
  t.deepEqual((await xattr.listAttributes(fx.src)).filter((n) => n.startsWith('user.stableid.')), reserved, 'the table is untouched');
  await runOk('setfattr', ['-n', 'user.mine', '-v', 'ok', fx.mnt], { timeoutMs: 10_000 });
  t.is((await xattr.getAttribute(fx.src, 'user.mine')).toString(), 'ok', 'other user xattrs on the root still work');
});

const RENAME2 = String.raw`
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), int(sys.argv[3]))
print('ok' if r == 0 else os.strerror(ctypes.get_errno()))
`;

serial(`rename flags: NOREPLACE and EXCHANGE done atomically by the kernel (renameat2), WHITEOUT refused${why}`, async (t) => {
  const fx = await mountFixture(t);
  await writeFile(join(fx.src, 'a'), 'A');
  await writeFile(join(fx.src, 'b'), 'B');
  await mkdir(join(fx.src, 'd'));
  const rename2 = async (from: string, to: string, flags: number) => (await runOk('python3', ['-c', RENAME2, join(fx.mnt, from), join(fx.mnt, to), String(flags)], { timeoutMs: 10_000 })).trim();
  t.is(await rename2('a', 'b', 1), 'File exists', 'RENAME_NOREPLACE onto an existing name');
  t.is(await rename2('a', 'c', 1), 'ok', 'RENAME_NOREPLACE onto a free name');
  t.is(await rename2('c', 'b', 2), 'ok', 'RENAME_EXCHANGE of two files');
  t.deepEqual([await runOk('cat', [join(fx.mnt, 'b')]), await runOk('cat', [join(fx.mnt, 'c')])], ['A', 'B'], 'swapped');
  t.is(await rename2('c', 'd', 2), 'ok', 'RENAME_EXCHANGE of a file and a directory');
  t.true((await lstat(join(fx.src, 'c'))).isDirectory());
  t.is(await readFile(join(fx.src, 'd'), 'utf8'), 'B');
  t.is(await rename2('c', 'nothing', 2), 'No such file or directory', 'RENAME_EXCHANGE needs both names');
  t.not(await rename2('b', 'e', 4), 'ok', 'RENAME_WHITEOUT is not served');
  t.true(await readFile(join(fx.src, 'b'), 'utf8').then((x) => x === 'A'), 'nothing moved');
});

serial(`allow_other: files are created owned by the caller, and the kernel checks permissions${why}`, async (t) => {
  const fx = await mountFixture(t, 'fuse', { options: ['allow_other'] });
  await chmod(fx.dir, 0o755); // mkdtemp's 0700 would stop the other user before the mount
  await mkdir(join(fx.src, 'shared'));
  await chmod(join(fx.src, 'shared'), 0o777);
  await writeFile(join(fx.src, 'secret'), 'root only');
  await chmod(join(fx.src, 'secret'), 0o600);
  const as = (cmd: string[]) => run('setpriv', ['--reuid=4321', '--regid=4321', '--clear-groups', ...cmd], { timeoutMs: 10_000 });
  t.is((await as(['touch', join(fx.mnt, 'shared/mine')])).code, 0);
  t.is((await as(['mkdir', join(fx.mnt, 'shared/dir')])).code, 0);
  const st = await lstat(join(fx.src, 'shared/mine'));
  t.deepEqual([st.uid, st.gid], [4321, 4321], 'owned by the caller on the source');
  t.is((await lstat(join(fx.src, 'shared/dir'))).uid, 4321);
  const denied = await as(['cat', join(fx.mnt, 'secret')]);
  t.regex(denied.stderr, /Permission denied/, 'default_permissions comes with allow_other');
});

serial(`-o ro refuses writes; cache timeouts are options${why}`, async (t) => {
  const fx = await mountFixture(t, 'fuse', { options: ['ro,entry_timeout=0,attr_timeout=0'] });
  await writeFile(join(fx.src, 'f'), 'one');
  const w = await run('sh', ['-c', `echo x > "${join(fx.mnt, 'f')}"`], { timeoutMs: 10_000 });
  t.regex(w.stderr, /Read-only file system/);
  // With zero timeouts a change behind the mount shows at once.
  t.is(await runOk('cat', [join(fx.mnt, 'f')]), 'one');
  await writeFile(join(fx.src, 'f'), 'two!');
  t.is(await runOk('cat', [join(fx.mnt, 'f')]), 'two!');
  await writeFile(join(fx.src, 'g'), 'new');
  t.is(await runOk('cat', [join(fx.mnt, 'g')]), 'new');
});

serial(`reads and writes of 1 MiB reach the server whole${why}`, async (t) => {
  // threads=1 and no passthrough: every read and write goes through JS, where the trace shows its size.
  const fx = await mountFixture(t, 'fuse', { env: { NODE_DEBUG: 'stableid:fuse' }, options: ['threads=1,nopassthrough'] });
  await runOk('dd', ['if=/dev/urandom', `of=${join(fx.src, 'in')}`, 'bs=1M', 'count=8'], { timeoutMs: 30_000 });
  // Direct I/O sends exactly dd's block size per request (up to max_write / max_pages).
  await runOk('dd', [`if=${join(fx.mnt, 'in')}`, `of=${join(fx.mnt, 'out')}`, 'bs=1M', 'iflag=direct', 'oflag=direct'], { timeoutMs: 30_000 });
  const sums = await runOk('sha256sum', [join(fx.src, 'in'), join(fx.src, 'out')]);
  const [a, b] = sums.trim().split('\n').map((l) => l.split(' ')[0]);
  t.is(a, b, 'the data arrived intact');
  const log = fx.server.proc.stderr;
  t.regex(log, /WRITE ino \d+n \d+ <1048576 bytes>/, 'a 1 MiB WRITE request');
  t.regex(log, /READ ino \d+n \d+ 1048576/, 'a 1 MiB READ request');
});

serial(`without passthrough the addon serves reads and writes on open files itself, intact${why}`, async (t) => {
  const fx = await mountFixture(t, 'fuse', { env: { NODE_DEBUG: 'stableid:fuse' }, options: ['nopassthrough'] });
  await runOk('dd', ['if=/dev/urandom', `of=${join(fx.src, 'in')}`, 'bs=1M', 'count=8'], { timeoutMs: 30_000 });
  await runOk('dd', [`if=${join(fx.mnt, 'in')}`, `of=${join(fx.mnt, 'out')}`, 'bs=128k'], { timeoutMs: 30_000 });
  await runOk('dd', [`if=${join(fx.mnt, 'in')}`, `of=${join(fx.mnt, 'out2')}`, 'bs=1M', 'iflag=direct', 'oflag=direct'], { timeoutMs: 30_000 });
  const sums = (await runOk('sha256sum', ['in', 'out', 'out2'].map((f) => join(fx.src, f)))).trim().split('\n').map((l) => l.split(' ')[0]);
  t.is(new Set(sums).size, 1, 'buffered and direct copies are intact');
  const log = fx.server.proc.stderr;
  t.regex(log, /OPEN ino /, 'opens go through JS');
  t.notRegex(log, /(READ|WRITE) ino /, 'no READ or WRITE reached JS');
});

serial(`a file deleted on SRC while the kernel still caches its name: writing the name makes a new file, nothing goes into the deleted one${why}`, async (t) => {
  // The shape an SMB upload has (open with O_CREAT|O_TRUNC of a name the kernel knows) after
  // something on SRC removed the file: the data must land in a file SRC can see.
  const fx = await mountFixture(t, 'fuse', { options: ['entry_timeout=60,attr_timeout=60'] });
  await runOk('sh', ['-c', `echo old > "${fx.mnt}/up" && stat "${fx.mnt}/up" >/dev/null`], { timeoutMs: 10_000 });
  await rm(join(fx.src, 'up'));
  const r = await run('sh', ['-c', `echo new > "${fx.mnt}/up" && cat "${fx.mnt}/up"`], { timeoutMs: 10_000 });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim(), 'new');
  t.is(await readFile(join(fx.src, 'up'), 'utf8'), 'new\n', 'the data is in a file on SRC');
  // Without O_CREAT the name is simply gone, as on SRC.
  await rm(join(fx.src, 'up'));
  const gone = await run('cat', [join(fx.mnt, 'up')], { timeoutMs: 10_000 });
  t.not(gone.code, 0);
  t.regex(gone.stderr, /No such file/);
});

serial(`a hard-linked file open through one name keeps working when its other name is removed${why}`, async (t) => {
  const fx = await mountFixture(t);
  // The shape Samba produces: a file opened, then another of its links removed, then fd-based
  // changes (fchmod, futimens) that reach the server as SETATTR of the file's node.
  const script = `cd "${fx.mnt}" && echo x > c && ln c d && exec 3<c && rm d && chmod 600 /proc/self/fd/3 && touch -d @1000000000 /proc/self/fd/3 && echo ok`;
  const r = await run('sh', ['-c', script], { timeoutMs: 10_000 });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.trim(), 'ok');
  const st = await lstat(join(fx.src, 'c'));
  t.is(st.mode & 0o777, 0o600);
  t.is(st.mtimeMs, 1e12);
  // And the other way round: the name looked up first goes, the newer one stays.
  const r2 = await run('sh', ['-c', `cd "${fx.mnt}" && echo y > e && ln e f && exec 3<f && rm e && chmod 640 /proc/self/fd/3 && echo ok`], { timeoutMs: 10_000 });
  t.is(r2.code, 0, r2.stderr);
  t.is((await lstat(join(fx.src, 'f'))).mode & 0o777, 0o640);
});
