// Issue 12, the rest of the privilege and cache rules: each scenario runs as
// a child process on a raw directory and on the mount (same filesystem, same
// user), and the two observations must be equal.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { canMount, mountFixture } from '../helpers/mount-fixture.js';
import { rawPair } from '../helpers/raw-pair.js';
import { run } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (${gate.reason})`;
// Debian's python3: pyenv's on PATH is not readable by other users.
const PY = '/usr/bin/python3';
const USER = ['--reuid=4322', '--regid=4322', '--groups=4322,4400'];

/** Runs a Python scenario on dir (as uid 4322 when asUser) and parses its JSON line. */
async function observe(code: string, dir: string, asUser = false): Promise<unknown> {
  const cmd = asUser ? ['setpriv', [...USER, PY, '-c', code, dir]] as const : [PY, ['-c', code, dir]] as const;
  const r = await run(cmd[0], [...cmd[1]], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${dir}: exit ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout);
}


const DIRECT_THEN_BUFFERED = String.raw`
import json, mmap, os, sys
p = os.path.join(sys.argv[1], 'f')
with open(p, 'wb') as f: f.write(b'o' * 8192)
r = os.open(p, os.O_RDONLY)
before = os.pread(r, 8192, 0)            # now in the page cache
d = os.open(p, os.O_WRONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096); buf.write(b'N' * 4096)
os.pwrite(d, buf, 4096)
os.close(d)
after = os.pread(r, 8192, 0)             # the other descriptor must see it
os.close(r)
print(json.dumps({'before': before.count(b'o'), 'afterO': after[:4096].count(b'o'), 'afterN': after[4096:].count(b'N')}))
`;

serial(`a direct write is seen by a buffered read on another descriptor${why}`, async (t) => {
  const { raw, mnt } = await rawPair(t);
  const want = await observe(DIRECT_THEN_BUFFERED, raw);
  t.deepEqual(want, { before: 8192, afterO: 4096, afterN: 4096 });
  t.deepEqual(await observe(DIRECT_THEN_BUFFERED, mnt), want);
});

// Root makes setuid+setgid files (group-executable, so setgid means "setgid",
// not mandatory locking); uid 4322 truncates (truncate, ftruncate, open with
// O_TRUNC) or chgrps them; root's own O_TRUNC keeps them.
const SETUP_SUID = String.raw`
import os, sys
for n in ['trunc', 'ftrunc', 'otrunc', 'otrunc-root', 'chown', 'chgrp', 'chgrp-noexec']:
    p = os.path.join(sys.argv[1], n)
    with open(p, 'wb') as f: f.write(b'x' * 100)
    os.chmod(p, 0o6777 if n != 'chgrp-noexec' else 0o6766)
os.chown(os.path.join(sys.argv[1], 'chgrp'), 4322, 4322)
os.chown(os.path.join(sys.argv[1], 'chgrp-noexec'), 4322, 4322)
os.chown(os.path.join(sys.argv[1], 'chown'), 0, 0)
os.chown(os.path.join(sys.argv[1], 'chown'), 4322, 4322)   # root's chown clears them too
os.close(os.open(os.path.join(sys.argv[1], 'otrunc-root'), os.O_WRONLY | os.O_TRUNC))
print('{}')
`;
const USER_CHANGES = String.raw`
import json, os, sys
d = sys.argv[1]
os.truncate(os.path.join(d, 'trunc'), 10)
fd = os.open(os.path.join(d, 'ftrunc'), os.O_WRONLY)
os.ftruncate(fd, 20)
os.close(fd)
os.close(os.open(os.path.join(d, 'otrunc'), os.O_WRONLY | os.O_TRUNC))
os.chown(os.path.join(d, 'chgrp'), -1, 4400)
os.chown(os.path.join(d, 'chgrp-noexec'), -1, 4400)
print("{}")
`;
const MODES = String.raw`
import json, os, sys
d = sys.argv[1]
print(json.dumps({n: oct(os.stat(os.path.join(d, n)).st_mode & 0o7777) for n in sorted(os.listdir(d))}))
`;

// nosuid (the default: the kernel says when, FUSE_HANDLE_KILLPRIV_V2) and -o suid (the kernel
// clears them, except after an O_TRUNC open, where the server goes by the caller).
for (const options of [['allow_other'], ['allow_other', 'suid']]) {
  serial(`a non-owner's truncate (also by O_TRUNC) and any chown clear setuid and setgid as on the raw directory (-o ${options.join(',')})${why}`, async (t) => {
    const { fx, raw, mnt } = await rawPair(t, [options.join(',')]);
    for (const dir of [raw, mnt]) await observe(SETUP_SUID, dir);
    await observe(USER_CHANGES, raw, true);
    const want = await observe(MODES, raw);
    t.deepEqual(want, { chgrp: '0o777', 'chgrp-noexec': '0o2766', chown: '0o777', ftrunc: '0o777', otrunc: '0o777', 'otrunc-root': '0o6777', trunc: '0o777' });
    await observe(USER_CHANGES, mnt, true);
    t.deepEqual(await observe(MODES, mnt), want);
    t.deepEqual(await observe(MODES, fx.src), want, 'what the source says, not only the mount');
  });
}

const EXEC_ATIME = String.raw`
import json, os, shutil, subprocess, sys, time
p = os.path.join(sys.argv[1], 'prog')
shutil.copy('/bin/true', p)
os.chmod(p, 0o755)
os.utime(p, (time.time() - 7200, time.time() - 3600))   # atime before mtime: relatime updates it
a0 = os.stat(p).st_atime_ns
subprocess.run([p], check=True)
a1 = os.stat(p).st_atime_ns
time.sleep(0.05)
subprocess.run([p], check=True)                         # atime now after mtime and ctime: relatime keeps it
a2 = os.stat(p).st_atime_ns
with open(p, 'rb') as f: f.read()
a3 = os.stat(p).st_atime_ns
print(json.dumps({'first exec': a1 != a0, 'second exec': a2 != a1, 'read': a3 != a2}))
`;

serial(`exec and read change atime as on the raw directory, relatime and noatime${why}`, async (t) => {
  const { fx, raw, mnt } = await rawPair(t, []);
  const relatime = await observe(EXEC_ATIME, raw);
  t.deepEqual(relatime, { 'first exec': true, 'second exec': false, read: false });
  t.deepEqual(await observe(EXEC_ATIME, mnt), relatime, 'relatime');
  await fx.server.stop();
  // The raw directory under noatime: a bind mount of it with that flag.
  const rawNoatime = join(fx.dir, 'raw-noatime');
  await mkdir(rawNoatime);
  await mkdir(join(raw, 'n'));
  t.is((await run('mount', ['--bind', join(raw, 'n'), rawNoatime])).code, 0);
  t.teardown(() => run('umount', ['-l', rawNoatime]).then(() => undefined));
  t.is((await run('mount', ['-o', 'remount,bind,noatime', rawNoatime])).code, 0);
  const noatime = await observe(EXEC_ATIME, rawNoatime);
  t.deepEqual(noatime, { 'first exec': false, 'second exec': false, read: false });
  const again = await mountFixture(t, 'fuse', { options: ['noatime'] });
  t.deepEqual(await observe(EXEC_ATIME, again.mnt), noatime, 'noatime');
});

const DIR_RENAMED_OVER = String.raw`
import errno, json, os, stat, sys
d = sys.argv[1]
os.mkdir(os.path.join(d, 'old'))
os.mkdir(os.path.join(d, 'new'))
with open(os.path.join(d, 'new', 'inside'), 'w'): pass
fd = os.open(os.path.join(d, 'old'), os.O_RDONLY | os.O_DIRECTORY)
before = os.fstat(fd)
os.rename(os.path.join(d, 'new'), os.path.join(d, 'old'))   # replaces the open, empty directory
def code(fn):
    try: return fn()
    except OSError as e: return errno.errorcode[e.errno]
st = code(lambda: os.fstat(fd))
out = {
  'fstat': 'ok' if isinstance(st, os.stat_result) else st,
  'isDir': isinstance(st, os.stat_result) and stat.S_ISDIR(st.st_mode),
  'nlink': st.st_nlink if isinstance(st, os.stat_result) else None,
  'sameIno': isinstance(st, os.stat_result) and st.st_ino == before.st_ino,
  'listing': code(lambda: os.listdir(fd)),
  'createInside': code(lambda: os.open('x', os.O_CREAT | os.O_WRONLY, dir_fd=fd)),
  'byName': os.listdir(os.path.join(d, 'old')),
}
if isinstance(out['createInside'], int): out['createInside'] = 'ok'
os.close(fd)
print(json.dumps(out))
`;

serial(`fstat of an open directory that was renamed over answers as on the raw directory${why}`, async (t) => {
  const { raw, mnt } = await rawPair(t, []);
  const want = await observe(DIR_RENAMED_OVER, raw);
  t.like(want, { fstat: 'ok', isDir: true, nlink: 0, sameIno: true, listing: [], createInside: 'ENOENT', byName: ['inside'] });
  t.deepEqual(await observe(DIR_RENAMED_OVER, mnt), want);
});
