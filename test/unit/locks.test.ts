// LockTable on real descriptors (OFD locks of two open files conflict even in
// one process, so no mount is needed): owners, ranges, close and release,
// waiting and giving up, and a read-only handle's holder that never opens
// the file for writing until it must.
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { type ByteRange, LockTable } from '../../lib/backend/locks.js';
import * as sys from '../../lib/sys/sys.js';

const W = (start: bigint, len: bigint): ByteRange => ({ type: sys.F_WRLCK, start, len, pid: 0 });
const R = (start: bigint, len: bigint): ByteRange => ({ type: sys.F_RDLCK, start, len, pid: 0 });
const U = (start: bigint, len: bigint): ByteRange => ({ type: sys.F_UNLCK, start, len, pid: 0 });

async function file(t: ExecutionContext): Promise<{ path: string; open: (flags: string) => number; table: LockTable }> {
  const dir = await mkdtemp(join(tmpdir(), 'stableid-locks-'));
  const path = join(dir, 'f');
  await writeFile(path, 'data');
  const fds: number[] = [];
  const table = new LockTable();
  t.teardown(async () => {
    await table.closeAll();
    fds.forEach((fd) => closeSync(fd));
    await rm(dir, { recursive: true, force: true });
  });
  return { path, table, open: (flags) => (fds.push(openSync(path, flags)), fds.at(-1)!) };
}

/** Access modes of this process's descriptors on path (from /proc/self/fdinfo). */
async function modesOn(path: string): Promise<number[]> {
  const modes: number[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target !== path) continue;
    const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => '');
    const m = /flags:\s+([0-7]+)/.exec(info);
    if (m) modes.push(parseInt(m[1]!, 8) & 3);
  }
  return modes;
}

test('owners conflict, an owner never conflicts with itself, unlock and close of the owner free the range', async (t) => {
  const { open, table } = await file(t);
  const a = open('r+');
  const b = open('r+');
  await table.setlk(a, 'A', W(0n, 10n));
  await table.setlk(b, 'A', W(5n, 10n)); // the same owner through another handle
  await t.throwsAsync(() => table.setlk(b, 'B', R(14n, 1n)), { code: 'EAGAIN' });
  t.deepEqual(await table.getlk(b, 'B', W(0n, 0n)), { type: sys.F_WRLCK, start: 0n, len: 15n, pid: 0 }, 'the merged range');
  t.is((await table.getlk(a, 'A', W(0n, 0n))).type, sys.F_UNLCK, 'its own locks are not in its way');
  await table.setlk(a, 'A', U(0n, 5n));
  await table.setlk(b, 'B', W(0n, 5n));
  await table.unlockOwner(a, 'A');
  await table.setlk(b, 'B', W(5n, 0n));
  await table.released(b);
  t.is(table.holders, 0, 'released: nothing held, no descriptor left');
  await table.setlk(a, 'C', W(0n, 0n));
});

test('a waiting lock is granted when the holder unlocks, and gives up with EINTR when cancelled', async (t) => {
  const { open, table } = await file(t);
  const a = open('r+');
  const b = open('r+');
  await table.setlk(a, 'A', W(0n, 1n));
  const order: string[] = [];
  const waiting = table.setlk(b, 'B', W(0n, 1n), () => false).then(() => order.push('granted'));
  await new Promise((r) => setTimeout(r, 50));
  order.push('unlock');
  await table.setlk(a, 'A', U(0n, 1n));
  await waiting;
  t.deepEqual(order, ['unlock', 'granted']);
  let give = false;
  const doomed = table.setlk(a, 'A', W(0n, 1n), () => give);
  setTimeout(() => (give = true), 50);
  await t.throwsAsync(doomed, { code: 'EINTR' });
});

test('a read lock through a read-only handle opens nothing for writing; a later write lock keeps the read locks without a gap', async (t) => {
  const { path, open, table } = await file(t);
  const ro = open('r');
  const rw = open('r+');
  const other = open('r+');
  await table.setlk(ro, 'A', R(0n, 10n));
  await table.setlk(ro, 'A', R(20n, 0n));
  await table.setlk(ro, 'A', U(25n, 5n));
  t.deepEqual((await modesOn(path)).filter((m) => m !== 0).length, 2, 'only the test\'s own two writable descriptors');
  await table.setlk(rw, 'A', W(100n, 10n)); // through the writable handle: the holder becomes read-write
  t.is((await table.getlk(other, 'B', W(0n, 1n))).type, sys.F_RDLCK, 'bytes 0..9 still read-locked');
  t.is((await table.getlk(other, 'B', W(26n, 1n))).type, sys.F_UNLCK, 'the unlocked hole stays unlocked');
  t.is((await table.getlk(other, 'B', W(30n, 1n))).type, sys.F_RDLCK, 'and the read lock to the end');
  t.is((await table.getlk(other, 'B', R(105n, 1n))).type, sys.F_WRLCK, 'the write lock');
  await t.throwsAsync(() => table.setlk(other, 'B', W(5n, 1n)), { code: 'EAGAIN' });
  t.is(table.holders, 2, 'A, and B (who tried)');
});
