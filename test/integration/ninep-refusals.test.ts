// What the 9P server refuses: leaving the export, malformed frames, bad fids,
// the id table's xattrs.
import { chmod, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import test from 'ava';
import { attrAt } from '../helpers/backend-path.js';
import * as xattr from 'fs-xattr';
import { encode } from '../../lib/ninep/codec.js';
import * as M from '../../lib/ninep/messages.js';
import { NinepClient } from '../helpers/ninep-client.js';
import { ninepFixture } from '../helpers/ninep-fixture.js';

const E = { EPERM: 1, ENOENT: 2, EBADF: 9, ENOTDIR: 20, EINVAL: 22, ENOSYS: 38, ENODATA: 61, EPROTO: 71, EOPNOTSUPP: 95 };

/** A file outside the export, next to it, that nothing through 9P may reach. */
async function outside(src: string): Promise<string> {
  const dir = join(dirname(src), 'outside');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'secret'), 'secret');
  await chmod(join(dir, 'secret'), 0o600);
  return dir;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no answer in ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

test('.. at the export root stays at the root', async (t) => {
  const { client: c, backend } = await ninepFixture(t, { 'd/f': 'x' });
  const root = (await attrAt(backend, '')).ino;
  const q = await c.walk(0, 1, '..', '..', '..');
  t.deepEqual(q.map((x) => x.path), [root, root, root]);
  await c.rpc(M.Tlopen, { fid: 1, flags: 0 });
  const names = [...(await c.readdirAll(1)).keys()].sort();
  t.deepEqual(names, ['.', '..', 'd']);
  const q2 = await c.walk(0, 2, 'd', '..', '..', 'd', 'f');
  t.deepEqual(q2.slice(1, 3).map((x) => x.path), [root, root]);
  t.is((await c.getattr(2)).size, 1n);
});

test('no walk goes through a symlink, whatever it points at', async (t) => {
  const { client: c, src } = await ninepFixture(t, { 'in/f': 'x' });
  const out = await outside(src);
  await symlink(out, join(src, 'abs'));
  await symlink('../outside', join(src, 'rel'));
  await symlink('in', join(src, 'inner'));
  for (const link of ['abs', 'rel', 'inner']) {
    const q = await c.walk(0, 1, link, link === 'inner' ? 'f' : 'secret');
    t.is(q.length, 1, `${link}: walk stops at the symlink`);
    t.is(q[0]!.type, M.QTSYMLINK);
    t.is(await c.errno(M.Tgetattr, { fid: 1, request_mask: 0n }), E.EBADF, 'partial walk made no fid');
  }
  t.is(await c.errno(M.Twalk, { fid: 0, newfid: 1, wnames: ['in/f'] }), E.EINVAL, 'a slash inside a name');
});

test('operations on a symlink fid never reach its target', async (t) => {
  const { client: c, src } = await ninepFixture(t);
  const out = await outside(src);
  await symlink(join(out, 'secret'), join(src, 'link'));
  await c.walk(0, 1, 'link');
  t.is(await c.errno(M.Tlopen, { fid: 1, flags: 0 }), E.EPERM);
  t.is(await c.errno(M.Tsetattr, { fid: 1, valid: M.ATTR.MODE, mode: 0o777, uid: 0, gid: 0, size: 0n, atime_sec: 0n, atime_nsec: 0n, mtime_sec: 0n, mtime_nsec: 0n }), E.EOPNOTSUPP);
  t.is(await c.errno(M.Tsetattr, { fid: 1, valid: M.ATTR.SIZE, mode: 0, uid: 0, gid: 0, size: 0n, atime_sec: 0n, atime_nsec: 0n, mtime_sec: 0n, mtime_nsec: 0n }), E.EOPNOTSUPP);
  t.is(await c.errno(M.Txattrwalk, { fid: 1, newfid: 2, name: 'user.x' }), E.ENODATA);
  await c.rpc(M.Txattrcreate, { fid: 1, name: 'user.x', attr_size: 1n, flags: 0 });
  await c.rpc(M.Twrite, { fid: 1, offset: 0n, data: Buffer.from('y') });
  t.is(await c.errno(M.Tclunk, { fid: 1 }), E.EPERM);
  const st = await stat(join(out, 'secret'));
  t.is(st.mode & 0o777, 0o600);
  t.is(st.size, 6);
  t.is(await readFile(join(out, 'secret'), 'utf8'), 'secret');
});

test('no create, symlink or rename names a path outside the export', async (t) => {
  const { client: c, src } = await ninepFixture(t, { 'a/f': 'x' });
  const out = await outside(src);
  await c.walk(0, 1, 'a');
  for (const bad of ['..', '.', '', '../outside/x', 'x/y', 'nul\0byte']) {
    t.is(await c.errno(M.Tmkdir, { dfid: 1, name: bad, mode: 0o755, gid: 0 }), E.EINVAL, `mkdir ${JSON.stringify(bad)}`);
    t.is(await c.errno(M.Trenameat, { olddirfid: 1, oldname: 'f', newdirfid: 0, newname: bad }), E.EINVAL, `renameat to ${bad}`);
    t.is(await c.errno(M.Trenameat, { olddirfid: 1, oldname: bad, newdirfid: 0, newname: 'g' }), E.EINVAL, `renameat from ${bad}`);
    t.is(await c.errno(M.Tsymlink, { fid: 1, name: bad, symtgt: '/etc', gid: 0 }), E.EINVAL);
    t.is(await c.errno(M.Tunlinkat, { dirfid: 1, name: bad, flags: 0 }), E.EINVAL);
    t.is(await c.errno(M.Tlink, { dfid: 1, fid: 0, name: bad }), E.EINVAL);
  }
  await c.walk(0, 2);
  t.is(await c.errno(M.Tlcreate, { fid: 2, name: '../outside/new', flags: 2, mode: 0o644, gid: 0 }), E.EINVAL);
  t.is(await c.errno(M.Trename, { fid: 0, dfid: 1, name: 'root' }), 16 /* EBUSY */);
  // A symlink may point anywhere (the client resolves it), but the server never follows it.
  await c.rpc(M.Tsymlink, { fid: 1, name: 'esc', symtgt: out, gid: 0 });
  t.is((await c.walk(0, 3, 'a', 'esc', 'secret')).length, 2);
  t.deepEqual(await readdir(out), ['secret']);
  t.is(await c.errno(M.Tremove, { fid: 0 }), 16, 'the root cannot be removed (and Tremove clunks fid 0)');
  t.deepEqual((await readdir(join(src, 'a'))).sort(), ['esc', 'f']);
});

test('malformed frames get Rlerror; frames that cannot be delimited close the connection', async (t) => {
  const { client: c, address } = await ninepFixture(t, { f: 'x' });
  // Unknown type, and an R-message sent as a request.
  t.is((await c.sendRaw(Buffer.from([7, 0, 0, 0, 250, 0x34, 0x12]), 0x1234)).value.ecode, E.ENOSYS);
  t.is((await c.sendRaw(encode(M.Rgetattr, 77, M.Rgetattr.order.reduce((o, [k, ty]) => ({ ...o, [k]: ty.sample }), {}) as never), 77)).value.ecode, E.ENOSYS);
  // Truncated string inside a Twalk.
  const walk = Buffer.from([21, 0, 0, 0, 110, 9, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0x60, 0xea, 0x61, 0x62]);
  t.is((await c.sendRaw(walk, 9)).value.ecode, E.EPROTO);
  // Bad fids.
  t.is(await c.errno(M.Tgetattr, { fid: 999, request_mask: 0n }), E.EBADF);
  t.is(await c.errno(M.Tread, { fid: 0, offset: 0n, count: 10 }), E.EBADF);
  t.is(await c.errno(M.Twalk, { fid: 0, newfid: 0, wnames: Array(17).fill('f') }), E.EINVAL);
  await c.walk(0, 5, 'f');
  t.is(await c.errno(M.Twalk, { fid: 0, newfid: 5, wnames: ['f'] }), E.EBADF, 'newfid in use');
  t.is(await c.errno(M.Tattach, { fid: 5, afid: M.NOFID, uname: '', aname: '', n_uname: 0 }), E.EBADF);
  await c.rpc(M.Tlopen, { fid: 5, flags: 0 });
  t.is(await c.errno(M.Tread, { fid: 5, offset: 1n << 62n, count: 10 }), E.EINVAL);
  // Still serving after all that.
  t.is((await c.getattr(5)).size, 1n);

  // Before Tversion, requests are refused.
  const fresh = await NinepClient.connect(address);
  t.is(await fresh.errno(M.Tattach, { fid: 0, afid: M.NOFID, uname: '', aname: '', n_uname: 0 }), E.EPROTO);
  fresh.close();

  for (const size of [3, 6, (1 << 20) + 1, 0xffffffff]) {
    const d = await NinepClient.connect(address);
    await d.version(1 << 20);
    const frame = Buffer.alloc(7);
    frame.writeUInt32LE(size, 0);
    frame[4] = M.Tclunk.type;
    d.socket.write(frame);
    await withTimeout(d.closed, 5000, `size ${size}`);
    t.pass(`size ${size} closed the connection`);
  }
  t.is((await c.getattr(5)).size, 1n, 'other connections are unaffected');
});

test('the id table xattrs are invisible and untouchable', async (t) => {
  const { client: c, src } = await ninepFixture(t, { f: 'x' });
  const reserved = 'user.stableid.table.0';
  await xattr.setAttribute(src, reserved, Buffer.from('TABLE'));
  await xattr.setAttribute(src, 'user.visible', Buffer.from('v'));
  await c.rpc(M.Txattrwalk, { fid: 0, newfid: 1, name: '' });
  const list = (await c.readAll(1)).toString('utf8').split('\0').filter(Boolean);
  t.deepEqual(list, ['user.visible']);
  t.is(await c.errno(M.Txattrwalk, { fid: 0, newfid: 2, name: reserved }), E.ENODATA);
  const size = (await c.rpc(M.Txattrwalk, { fid: 0, newfid: 2, name: 'user.visible' })).size;
  t.is(size, 1n);
  t.is((await c.readAll(2)).toString(), 'v');
  // Set and remove (a zero-length Txattrcreate) are both refused at clunk, where the value lands.
  await c.walk(0, 3);
  await c.rpc(M.Txattrcreate, { fid: 3, name: reserved, attr_size: 3n, flags: 0 });
  await c.rpc(M.Twrite, { fid: 3, offset: 0n, data: Buffer.from('bad') });
  t.is(await c.errno(M.Tclunk, { fid: 3 }), E.EPERM);
  await c.walk(0, 4);
  await c.rpc(M.Txattrcreate, { fid: 4, name: reserved, attr_size: 0n, flags: 0 });
  t.is(await c.errno(M.Tclunk, { fid: 4 }), E.EPERM);
  t.is((await xattr.getAttribute(src, reserved)).toString(), 'TABLE');
  // Ordinary xattrs work both ways.
  await c.walk(0, 5, 'f');
  await c.rpc(M.Txattrcreate, { fid: 5, name: 'user.new', attr_size: 2n, flags: 0 });
  await c.rpc(M.Twrite, { fid: 5, offset: 0n, data: Buffer.from('ok') });
  await c.clunk(5);
  t.is((await xattr.getAttribute(join(src, 'f'), 'user.new')).toString(), 'ok');
});
