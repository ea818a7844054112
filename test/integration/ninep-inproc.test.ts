// The 9P server against our test client over a unix socket: no kernel needed.
import { lstat, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { attrAt } from '../helpers/backend-path.js';
import * as M from '../../lib/ninep/messages.js';
import { NinepClient } from '../helpers/ninep-client.js';
import { ninepFixture } from '../helpers/ninep-fixture.js';

const ENOENT = 2;

test('Tversion negotiates msize up to 4 MiB and answers unknown for other dialects', async (t) => {
  const { address } = await ninepFixture(t);
  const c = await NinepClient.connect(address);
  t.teardown(() => c.close());
  t.deepEqual(await c.version(1 << 20), { msize: 1 << 20, version: '9P2000.L' });
  t.deepEqual(await c.version(64 << 20), { msize: 4 << 20, version: '9P2000.L' });
  t.is((await c.version(8192, '9P2000.u')).version, 'unknown');
  t.is((await c.version(8192, '9P2000')).version, 'unknown');
});

test('Tauth says no auth (Rlerror ENOENT), as diod clients expect', async (t) => {
  const { client } = await ninepFixture(t);
  t.is(await client.errno(M.Tauth, { afid: 5, uname: 'root', aname: '', n_uname: 0 }), ENOENT);
});

test('Tattach accepts the export path as aname and refuses others', async (t) => {
  const { address, src } = await ninepFixture(t);
  const c = await NinepClient.connect(address);
  t.teardown(() => c.close());
  await c.version(8192);
  const r = await c.rpc(M.Tattach, { fid: 1, afid: M.NOFID, uname: 'u', aname: src, n_uname: 0 });
  t.is(r.qid.path, (await stat(src, { bigint: true })).ino);
  t.is(r.qid.type, M.QTDIR);
  t.is(await c.errno(M.Tattach, { fid: 2, afid: M.NOFID, uname: 'u', aname: '/etc', n_uname: 0 }), ENOENT);
});

test('walk + getattr: qid.path and ino are the backend ids, qid.type marks dirs and symlinks', async (t) => {
  const { client: c, backend, src } = await ninepFixture(t, { 'd/f.txt': 'hello', 'd/e/': '' });
  const { symlink } = await import('node:fs/promises');
  await symlink('f.txt', join(src, 'd/l'));
  const wqids = await c.walk(0, 1, 'd', 'f.txt');
  t.is(wqids.length, 2);
  t.is(wqids[0]!.type, M.QTDIR);
  t.is(wqids[1]!.type, M.QTFILE);
  const id = (await attrAt(backend, 'd/f.txt')).ino;
  t.is(wqids[1]!.path, id);
  const a = await c.getattr(1);
  t.is(a.qid.path, id);
  t.is(a.size, 5n);
  t.is(a.mode & 0o170000, 0o100000);
  t.is(a.nlink, 1n);
  t.is(a.qid.version, 0);
  const l = await c.walk(0, 2, 'd', 'l');
  t.is(l[1]!.type, M.QTSYMLINK);
  t.is((await c.rpc(M.Treadlink, { fid: 2 })).target, 'f.txt');
  // A partial walk answers the qids it got and does not create newfid.
  t.is((await c.walk(0, 3, 'd', 'missing')).length, 1);
  t.is(await c.errno(M.Tgetattr, { fid: 3, request_mask: M.GETATTR_BASIC }), 9 /* EBADF */);
  t.is(await c.errno(M.Twalk, { fid: 0, newfid: 3, wnames: ['nope'] }), ENOENT);
});

test('read and write through Tlopen, across msize-sized chunks', async (t) => {
  const big = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 131) & 0xff;
  const { client: c, src } = await ninepFixture(t, { 'small.txt': 'abc' });
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(src, 'big.bin'), big);
  await c.walk(0, 1, 'big.bin');
  await c.rpc(M.Tlopen, { fid: 1, flags: 0 });
  t.true((await c.readAll(1)).equals(big));
  await c.walk(0, 2, 'small.txt');
  await c.rpc(M.Tlopen, { fid: 2, flags: 2 /* O_RDWR */ });
  t.is((await c.rpc(M.Twrite, { fid: 2, offset: 1n, data: Buffer.from('XYZ') })).count, 3);
  await c.rpc(M.Tfsync, { fid: 2, datasync: 0 });
  await c.clunk(2);
  t.is(await readFile(join(src, 'small.txt'), 'utf8'), 'aXYZ');
});

test('readdir lists every entry with backend ids, . and .., across pages', async (t) => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 300; i++) files[`dir/file-${i}`] = String(i);
  files['dir/sub/'] = '';
  const { client: c, backend, src } = await ninepFixture(t, files);
  await c.walk(0, 1, 'dir');
  await c.rpc(M.Tlopen, { fid: 1, flags: 0 });
  const entries = await c.readdirAll(1);
  t.deepEqual([...entries.keys()].sort(), ['.', '..', ...(await readdir(join(src, 'dir')))].sort());
  t.is(entries.get('.')!.qid.path, (await attrAt(backend, 'dir')).ino);
  t.is(entries.get('..')!.qid.path, (await attrAt(backend, '')).ino);
  t.is(entries.get('file-7')!.qid.path, (await attrAt(backend, 'dir/file-7')).ino);
  t.is(entries.get('sub')!.type, 4 /* DT_DIR */);
  t.is(entries.get('file-7')!.type, 8 /* DT_REG */);
});

test('create, mkdir, rename, renameat, link, unlink, remove change the source dir', async (t) => {
  const { client: c, src, backend } = await ninepFixture(t, { 'a/': '' });
  await c.walk(0, 1, 'a');
  const created = await c.rpc(M.Tlcreate, { fid: 1, name: 'new.txt', flags: 2, mode: 0o640, gid: 0 });
  await c.rpc(M.Twrite, { fid: 1, offset: 0n, data: Buffer.from('made over 9p') });
  await c.clunk(1);
  t.is(await readFile(join(src, 'a/new.txt'), 'utf8'), 'made over 9p');
  t.is(created.qid.path, (await attrAt(backend, 'a/new.txt')).ino);
  t.is((await lstat(join(src, 'a/new.txt'))).mode & 0o777, 0o640);

  const md = await c.rpc(M.Tmkdir, { dfid: 0, name: 'b', mode: 0o755, gid: 0 });
  t.is(md.qid.type, M.QTDIR);
  await c.walk(0, 2, 'a');
  await c.walk(0, 3, 'b');
  await c.rpc(M.Trenameat, { olddirfid: 2, oldname: 'new.txt', newdirfid: 3, newname: 'moved.txt' });
  t.is(await readFile(join(src, 'b/moved.txt'), 'utf8'), 'made over 9p');

  // Trename moves a fid's file; the fid (and fids under it) follow the new path.
  await c.walk(0, 4, 'b', 'moved.txt');
  await c.rpc(M.Trename, { fid: 4, dfid: 2, name: 'back.txt' });
  t.is((await c.getattr(4)).size, 12n);
  await c.rpc(M.Trename, { fid: 3, dfid: 0, name: 'b2' });
  t.is((await c.getattr(3)).qid.path, (await attrAt(backend, 'b2')).ino);

  await c.rpc(M.Tlink, { dfid: 2, fid: 4, name: 'hard.txt' });
  t.is((await c.getattr(4)).nlink, 2n);
  await c.rpc(M.Tsymlink, { fid: 2, name: 'sym', symtgt: '../../etc/passwd', gid: 0 });
  t.true((await lstat(join(src, 'a/sym'))).isSymbolicLink());

  await c.rpc(M.Tunlinkat, { dirfid: 2, name: 'hard.txt', flags: 0 });
  await c.rpc(M.Tunlinkat, { dirfid: 0, name: 'b2', flags: 0x200 });
  await c.rpc(M.Tremove, { fid: 4 });
  t.deepEqual((await readdir(join(src, 'a'))).sort(), ['sym']);
  t.deepEqual((await readdir(src)).sort(), ['a']);
  t.is(await c.errno(M.Tgetattr, { fid: 4, request_mask: 0n }), 9, 'Tremove clunks the fid');
});

test('getattr ids equal the backend ids for every file, and Tstatfs answers', async (t) => {
  const { client: c, backend } = await ninepFixture(t, { 'x/y/z': '1', 'x/w': '2' });
  let fid = 10;
  for (const p of ['x', 'x/y', 'x/y/z', 'x/w']) {
    await c.walk(0, ++fid, ...p.split('/'));
    t.is((await c.getattr(fid)).qid.path, (await attrAt(backend, p)).ino, p);
  }
  const s = await c.rpc(M.Tstatfs, { fid: 0 });
  t.true(s.bsize > 0);
  t.is(s.namelen, 255);
});

test('Tflush answers after the flushed request, and unknown tags at once', async (t) => {
  const { client: c } = await ninepFixture(t, { f: 'x' });
  await c.walk(0, 1, 'f');
  const tag = c.allocTag();
  const slow = c.send(M.Tgetattr, { fid: 1, request_mask: M.GETATTR_BASIC }, tag);
  const order: string[] = [];
  await Promise.all([slow.then(() => order.push('getattr')), c.rpc(M.Tflush, { oldtag: tag }).then(() => order.push('flush'))]);
  t.deepEqual(order, ['getattr', 'flush']);
  await c.rpc(M.Tflush, { oldtag: 4321 });
  t.pass();
});

test('Tsetattr sets mode, size and times (ns), Tmknod makes a FIFO, Tlock/Tgetlock answer', async (t) => {
  const { client: c, src } = await ninepFixture(t, { 'f.txt': 'hello world' });
  await c.walk(0, 1, 'f.txt');
  const A = M.ATTR;
  const base = { mode: 0, uid: 0, gid: 0, size: 0n, atime_sec: 0n, atime_nsec: 0n, mtime_sec: 0n, mtime_nsec: 0n };
  await c.rpc(M.Tsetattr, { ...base, fid: 1, valid: A.MODE, mode: 0o100600 });
  await c.rpc(M.Tsetattr, { ...base, fid: 1, valid: A.SIZE, size: 5n });
  await c.rpc(M.Tsetattr, { ...base, fid: 1, valid: A.ATIME | A.ATIME_SET | A.MTIME | A.MTIME_SET, atime_sec: 1000n, atime_nsec: 5n, mtime_sec: 2000n, mtime_nsec: 123456789n });
  const st = await stat(join(src, 'f.txt'), { bigint: true });
  t.is(Number(st.mode) & 0o777, 0o600);
  t.is(st.size, 5n);
  t.is(st.atimeNs, 1000_000000005n);
  t.is(st.mtimeNs, 2000_123456789n);
  const a = await c.getattr(1);
  t.is(a.mtime_sec, 2000n);
  t.is(a.mtime_nsec, 123456789n);

  const fifo = await c.rpc(M.Tmknod, { dfid: 0, name: 'pipe', mode: 0o010644, major: 0, minor: 0, gid: 0 });
  t.true((await lstat(join(src, 'pipe'))).isFIFO());
  t.is(fifo.qid.type, M.QTFILE);
  await c.walk(0, 2, 'pipe');
  t.is(await c.errno(M.Tlopen, { fid: 2, flags: 0 }), 1, 'the server never opens a FIFO or device node itself');
  t.is(await c.errno(M.Tmknod, { dfid: 0, name: 'disk', mode: 0o060600, major: 7, minor: 0, gid: 0 }), 1, 'no block device nodes over 9P');
  t.is(await c.errno(M.Tmknod, { dfid: 0, name: 'mem', mode: 0o020600, major: 1, minor: 1, gid: 0 }), 1, 'no character device nodes over 9P');
  await t.throwsAsync(() => lstat(join(src, 'disk')), { code: 'ENOENT' });

  await c.rpc(M.Tlopen, { fid: 1, flags: 2 });
  const lock = { fid: 1, type: M.LOCK_TYPE.WRLCK, start: 0n, length: 0n, proc_id: 7, client_id: 'guest' };
  t.is((await c.rpc(M.Tlock, { ...lock, flags: 0 })).status, M.LOCK_STATUS.SUCCESS);
  t.is((await c.rpc(M.Tgetlock, lock)).type, M.LOCK_TYPE.UNLCK);
});
