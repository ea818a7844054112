// A fid whose file was removed names nothing: a walk from it must not follow
// whatever takes the name next (a symlink out of the export), on this
// connection or any other.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as M from '../../lib/ninep/messages.js';
import { NinepClient } from '../helpers/ninep-client.js';
import { ninepFixture } from '../helpers/ninep-fixture.js';

const AT_REMOVEDIR = 0x200;

async function outsideSecret(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const outside = await mkdtemp(join(tmpdir(), 'stableid-outside-'));
  t.teardown(() => rm(outside, { recursive: true, force: true }));
  await writeFile(join(outside, 'secret'), 'TOP SECRET');
  return outside;
}

test('a directory removed and replaced by a symlink out of the export: its old fid still names the removed directory, never the symlink', async (t) => {
  const outside = await outsideSecret(t);
  const { client } = await ninepFixture(t, { 'd/': '' });
  await client.walk(0, 1, 'd');
  await client.rpc(M.Tunlinkat, { dirfid: 0, name: 'd', flags: AT_REMOVEDIR });
  await client.rpc(M.Tsymlink, { fid: 0, name: 'd', symtgt: outside, gid: 0 });
  t.not(await client.errno(M.Twalk, { fid: 1, newfid: 2, wnames: ['secret'] }), 0);
  t.not(await client.errno(M.Tlcreate, { fid: 1, name: 'planted', flags: 0o1, mode: 0o644, gid: 0 }), 0);
  const a = await client.getattr(1);
  t.is(a.qid.type, M.QTDIR, 'fstat of the removed directory, as an open directory answers');
  t.is(a.nlink, 0n);
});

test('a fid of another connection goes stale too, and so does one whose name was renamed over', async (t) => {
  const outside = await outsideSecret(t);
  const fx = await ninepFixture(t, { 'd/x': 'x', 'e/y': 'y' });
  const other = await NinepClient.attached(fx.address);
  t.teardown(() => other.close());
  await other.walk(0, 1, 'd');
  await other.walk(0, 3, 'e');
  await fx.client.rpc(M.Tunlinkat, { dirfid: 0, name: 'x', flags: 0 }).catch(() => undefined); // no such name at the root: harmless
  await fx.client.walk(0, 1, 'd');
  await fx.client.rpc(M.Tunlinkat, { dirfid: 1, name: 'x', flags: 0 });
  await fx.client.rpc(M.Tunlinkat, { dirfid: 0, name: 'd', flags: AT_REMOVEDIR });
  await fx.client.rpc(M.Tsymlink, { fid: 0, name: 'd', symtgt: outside, gid: 0 });
  t.not(await other.errno(M.Twalk, { fid: 1, newfid: 2, wnames: ['secret'] }), 0);

  // rename e2 over e: fids of the old e go stale, not onto the new e.
  await fx.client.rpc(M.Tmkdir, { dfid: 0, name: 'e2', mode: 0o755, gid: 0 });
  await fx.client.rpc(M.Trenameat, { olddirfid: 0, oldname: 'e2', newdirfid: 0, newname: 'e' }).catch(() => undefined); // ENOTEMPTY: e holds y
  await fx.client.walk(0, 4, 'e');
  await fx.client.rpc(M.Tunlinkat, { dirfid: 4, name: 'y', flags: 0 });
  await fx.client.rpc(M.Trenameat, { olddirfid: 0, oldname: 'e2', newdirfid: 0, newname: 'e' });
  t.not(await other.errno(M.Twalk, { fid: 3, newfid: 5, wnames: ['y'] }), 0);
});
