// REVIEW (an attacker's reproducer from the security review of the descriptor
// core; failed before the fix named below, passes since).
//
// InodeTable.release() closes an Inode's descriptor when the last reference
// goes, even while `busy` says a pool thread is about to use it (use()). A
// 9P client sends Tsetattr(mode) on fid A, Tclunk(A) and Twalk to file B in
// one write: the clunk closes A's O_PATH fd on the JS thread, the walk's
// openat gets the same number for B, and the queued chmod(/proc/self/fd/N)
// then changes B. Any descriptor opened in that window can be hit (one
// opened for another client, or outside SRC: checkBeneathRoot's '..' walk,
// the IdOpener's root/mount fds, the table's state file).
//
// Fix suggested (and done): release() must not close while inode.busy > 0 (mark it
// dying and close in use()'s finally when busy drops to 0); likewise
// backend.release(fh) for data fds still used by an in-flight Tread/Twrite.
import { chmod, stat } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import * as M from '../../lib/ninep/messages.js';
import { ninepFixture } from '../helpers/ninep-fixture.js';

const base = { uid: 0, gid: 0, size: 0n, atime_sec: 0n, atime_nsec: 0n, mtime_sec: 0n, mtime_nsec: 0n };

test('review: a Tsetattr in flight on a clunked fid never changes another file', async (t) => {
  const { client: c, src } = await ninepFixture(t, { a: 'A', b: 'B' });
  await chmod(join(src, 'b'), 0o644);
  let hits = 0;
  let tries = 0;
  const deadline = Date.now() + 20_000;
  for (; tries < 5000 && Date.now() < deadline && hits === 0; tries++) {
    await c.walk(0, 1, 'a');
    c.socket.cork();
    const replies = [
      c.send(M.Tsetattr, { ...base, fid: 1, valid: M.ATTR.MODE, mode: 0o100600 }),
      c.send(M.Tclunk, { fid: 1 }),
      c.send(M.Twalk, { fid: 0, newfid: 2, wnames: ['b'] }),
    ];
    c.socket.uncork();
    await Promise.all(replies);
    if (((await stat(join(src, 'b'))).mode & 0o777) !== 0o644) {
      hits++;
      await chmod(join(src, 'b'), 0o644);
    }
    await c.clunk(2).catch(() => undefined);
  }
  t.log(`${hits} wrong-file chmods in ${tries} tries`);
  t.is(hits, 0, 'Tsetattr on fid A changed file B (the descriptor number was reused)');
});
