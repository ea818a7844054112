// SMB on a share of the mount, against the raw directory, with real smbd and
// impacket: byte-range locks reach the source (smbd maps them to fcntl locks
// on the mount, posix locking being the default, and the server holds those
// on SRC), so a lock an SMB client holds keeps processes on the mount and on
// SRC out; and the sparse-file ioctls (allocated ranges, zeroing a range)
// answer as on a share of SRC itself.
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { canMount, mountFixture, REPO } from '../helpers/mount-fixture.js';
import { runOk, Started } from '../helpers/run.js';
import { canRunSmbd, SMB_PASSWORD, SMB_USER, startSmbd } from '../helpers/smbd.js';

const gate = await (async (): Promise<string> => {
  for (const g of [await canRunSmbd(), await canMount('fuse')]) if (!g.ok) return (g as { reason: string }).reason;
  return '';
})();
const PROBE = join(REPO, 'test/helpers/fileops.py');
const SMB_LOCK = join(REPO, 'test/helpers/smb-lock.py');
const SMB_SPARSE = join(REPO, 'test/helpers/smb-sparse.py');

async function probe(...args: string[]): Promise<unknown> {
  return JSON.parse(await runOk('python3', [PROBE, ...args], { timeoutMs: 15_000 }));
}

/** An SMB client that took (or failed to take) a lock; it holds it until its stdin ends. */
async function smbLock(t: ExecutionContext, port: number, file: string, offset: number, length: number): Promise<Started> {
  const c = new Started('/usr/bin/python3', [SMB_LOCK, '127.0.0.1', String(port), 'stable', SMB_USER, SMB_PASSWORD, file, String(offset), String(length)], undefined, { stdin: 'pipe' });
  t.teardown(() => {
    if (c.running) c.child.kill('SIGKILL');
  });
  await c.waitFor(/locked|status/, 20_000);
  return c;
}

(gate ? test.skip : test.serial)(`an SMB byte-range lock on a share of the mount keeps processes on the mount, on SRC and other SMB clients out${gate ? ` (skipped: ${gate})` : ''}`, async (t) => {
  const fx = await mountFixture(t);
  await writeFile(join(fx.src, 'doc'), 'x'.repeat(4096));
  const smbd = await startSmbd(t, [{ name: 'stable', section: `[stable]\n  path = ${fx.mnt}\n  read only = no\n` }]);
  const a = await smbLock(t, smbd.port, 'doc', 100, 50);
  t.regex(a.stdout, /locked/, `the first SMB client gets its lock: ${a.stdout}${a.stderr}`);
  t.is(await probe('lock', join(fx.mnt, 'doc'), 'posix', 'w', '120', '1'), 'EAGAIN', 'a process on the mount');
  t.is(await probe('lock', join(fx.src, 'doc'), 'posix', 'r', '149', '1'), 'EAGAIN', 'a process on SRC');
  t.is(await probe('lock', join(fx.src, 'doc'), 'posix', 'w', '150', '10'), 'locked', 'outside the range');
  const b = await smbLock(t, smbd.port, 'doc', 140, 20);
  t.regex(b.stdout, /status 0xc0000055/, 'a second SMB client: STATUS_LOCK_NOT_GRANTED');
  b.child.stdin!.end();
  a.child.stdin!.end();
  await a.exited;
  t.is(await probe('lock', join(fx.src, 'doc'), 'posix', 'w', '100', '50'), 'locked', 'released with the SMB client\'s close');
});

(gate ? test.skip : test.serial)(`the sparse-file ioctls on a share of the mount answer as on a share of SRC${gate ? ` (skipped: ${gate})` : ''}`, async (t) => {
  const fx = await mountFixture(t);
  await probe('sparse', join(fx.src, 'viaMount'));
  await runOk('cp', ['--sparse=always', join(fx.src, 'viaMount'), join(fx.src, 'viaRaw')]);
  const smbd = await startSmbd(t, [
    { name: 'stable', section: `[stable]\n  path = ${fx.mnt}\n  read only = no\n` },
    { name: 'raw', section: `[raw]\n  path = ${fx.src}\n  read only = no\n` },
  ]);
  const sparse = async (share: string, file: string) =>
    JSON.parse(await runOk('/usr/bin/python3', [SMB_SPARSE, '127.0.0.1', String(smbd.port), share, SMB_USER, SMB_PASSWORD, file, String(5 << 20), '4096'], { timeoutMs: 30_000 })) as { before: number[][]; after: number[][] };
  const raw = await sparse('raw', 'viaRaw');
  t.true(raw.before.length >= 2, `SRC's share reports the holes (${JSON.stringify(raw)})`);
  t.notDeepEqual(raw.after, raw.before, 'zeroing a range of a sparse file punched a hole');
  t.deepEqual(await sparse('stable', 'viaMount'), raw, 'FSCTL_QUERY_ALLOCATED_RANGES before and after FSCTL_SET_ZERO_DATA');
  t.true((await readFile(join(fx.src, 'viaMount'))).equals(await readFile(join(fx.src, 'viaRaw'))), 'the same bytes on SRC');
});
