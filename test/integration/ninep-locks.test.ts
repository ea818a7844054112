// 9P2000.L Tlock/Tgetlock are real locks held on the source: two connections
// conflict, a lock held on SRC by another process is in the way, Tgetlock
// names the holder's range, and Tclunk drops the fid's locks. In process
// (server and client on a unix socket); the SRC-side holder is a child.
import { join } from 'node:path';
import test from 'ava';
import * as M from '../../lib/ninep/messages.js';
import { REPO } from '../helpers/mount-fixture.js';
import { NinepClient } from '../helpers/ninep-client.js';
import { ninepFixture } from '../helpers/ninep-fixture.js';
import { Started } from '../helpers/run.js';

const PROBE = join(REPO, 'test/helpers/fileops.py');
const { RDLCK, WRLCK, UNLCK } = M.LOCK_TYPE;
const { SUCCESS, BLOCKED } = M.LOCK_STATUS;

test('Tlock conflicts across connections and with SRC, Tgetlock names the holder, Tclunk and UNLCK release', async (t) => {
  const fx = await ninepFixture(t, { 'f.txt': 'hello' });
  const a = fx.client;
  const b = await NinepClient.attached(fx.address);
  t.teardown(() => b.close());
  for (const c of [a, b]) {
    await c.walk(0, 1, 'f.txt');
    await c.rpc(M.Tlopen, { fid: 1, flags: 2 });
  }
  const lock = (type: number, start: bigint, length: bigint, proc_id = 7) => ({ fid: 1, type, flags: 0, start, length, proc_id, client_id: 'guest' });

  t.is((await a.rpc(M.Tlock, lock(WRLCK, 0n, 10n))).status, SUCCESS);
  t.is((await a.rpc(M.Tlock, lock(WRLCK, 5n, 10n))).status, SUCCESS, 'an owner never conflicts with itself');
  t.is((await b.rpc(M.Tlock, lock(RDLCK, 12n, 1n))).status, BLOCKED, 'the same client_id and proc_id on another connection is another owner');
  t.is((await a.rpc(M.Tlock, lock(RDLCK, 12n, 1n, 8))).status, BLOCKED, 'another process of the same client');
  t.is((await b.rpc(M.Tlock, lock(WRLCK, 15n, 0n))).status, SUCCESS, 'past the range, to the end of the file');
  const got = await b.rpc(M.Tgetlock, { fid: 1, type: WRLCK, start: 0n, length: 0n, proc_id: 7, client_id: 'guest' });
  t.deepEqual([got.type, got.start, got.length], [WRLCK, 0n, 15n], 'Tgetlock: the merged range in the way');

  t.is((await a.rpc(M.Tlock, lock(UNLCK, 0n, 0n))).status, SUCCESS);
  t.is((await b.rpc(M.Tlock, lock(WRLCK, 0n, 15n))).status, SUCCESS, 'free after UNLCK');
  await b.rpc(M.Tclunk, { fid: 1 });
  t.is((await a.rpc(M.Tlock, lock(WRLCK, 0n, 0n))).status, SUCCESS, 'free after the holder clunked its fid');
  await a.rpc(M.Tlock, lock(UNLCK, 0n, 0n));

  // A process on SRC takes a write lock on bytes 100..109.
  const src = new Started('python3', [PROBE, 'lock', join(fx.src, 'f.txt'), 'posix', 'w', '100', '10', '60']);
  t.teardown(() => {
    if (src.running) src.child.kill('SIGKILL');
  });
  await src.waitFor(/"locked"/);
  t.is((await a.rpc(M.Tlock, lock(RDLCK, 105n, 1n))).status, BLOCKED, "a lock on SRC is in a 9P client's way");
  const bySrc = await a.rpc(M.Tgetlock, { fid: 1, type: RDLCK, start: 0n, length: 0n, proc_id: 7, client_id: 'guest' });
  t.deepEqual([bySrc.type, bySrc.start, bySrc.length, bySrc.proc_id], [WRLCK, 100n, 10n, src.pid], 'Tgetlock names the process on SRC');
  src.child.kill('SIGKILL');
  await src.exited;
  t.is((await a.rpc(M.Tlock, lock(RDLCK, 105n, 1n))).status, SUCCESS, 'free once it exits');
  await a.rpc(M.Tclunk, { fid: 1 });
  t.is(fx.backend.locks.holders, 0, 'no descriptor is left behind once the fids are clunked');
});
