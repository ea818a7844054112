// The mount keeps the privilege rules of the raw directory (issue 12's
// subset that the core must get right): a non-owner's write clears setuid
// and setgid, with O_DIRECT too; O_DIRECT leaves mmap and the page cache
// alone; a setgid directory gives new files its group and new directories
// its bit; sizes past what the server can set are EFBIG, never a crash.
import { chmod, chown, lstat, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { canMount, mountFixture } from '../helpers/mount-fixture.js';
import { run, runOk } from '../helpers/run.js';

const gate = await canMount('fuse');
const serial = gate.ok ? test.serial : test.skip;
const why = gate.ok ? '' : ` (${gate.reason})`;
const USER = ['--reuid=4322', '--regid=4322', '--clear-groups'];
const as = (cmd: string[]) => run('setpriv', [...USER, ...cmd], { timeoutMs: 20_000 });

const WRITE = String.raw`
import mmap, os, sys
path, mode = sys.argv[1], sys.argv[2]
flags = os.O_WRONLY | (os.O_DIRECT if mode == 'direct' else 0)
fd = os.open(path, flags)
buf = mmap.mmap(-1, 4096)  # page-aligned, as O_DIRECT wants
buf.write(b'x' * 4096)
os.write(fd, buf)
os.close(fd)
print('ok')
`;

const MMAP_DIRECT = String.raw`
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_DIRECT)
m = mmap.mmap(fd, 4096, mmap.MAP_SHARED)
m[0:5] = b'HELLO'
m.flush()
m.close()
os.close(fd)
print(open(sys.argv[1], 'rb').read(5).decode())
`;

// Default (nosuid, FUSE_HANDLE_KILLPRIV_V2): the source clears the bits on a passthrough write (the
// backing file is registered without CAP_FSETID); others the kernel leaves to the server
// (FUSE_WRITE_KILL_SUIDGID), on the data threads or, threads=1, in JS. -o suid: the kernel clears them.
for (const options of [['allow_other'], ['allow_other', 'suid'], ['allow_other', 'direct_io', 'nopassthrough'], ['allow_other', 'direct_io', 'nopassthrough', 'threads=1']]) {
  serial(`a non-owner's write clears setuid and setgid, buffered and O_DIRECT (-o ${options.join(',')})${why}`, async (t) => {
    const fx = await mountFixture(t, 'fuse', { options: [options.join(',')] });
    await chmod(fx.dir, 0o755);
    for (const mode of ['buffered', 'direct']) {
      const f = join(fx.src, `suid-${mode}`);
      await writeFile(f, Buffer.alloc(4096));
      await chmod(f, 0o6777);
      const r = await as(['/usr/bin/python3', '-c', WRITE, join(fx.mnt, `suid-${mode}`), mode]);
      t.is(r.stdout.trim(), 'ok', r.stderr);
      t.is((await stat(f)).mode & 0o7777, 0o777, `${mode}: setuid and setgid cleared on the source`);
    }
  });
}

serial(`O_DIRECT does not make the file direct_io: a shared mmap works${why}`, async (t) => {
  const fx = await mountFixture(t);
  await writeFile(join(fx.src, 'm'), Buffer.alloc(4096));
  t.is((await runOk('python3', ['-c', MMAP_DIRECT, join(fx.mnt, 'm')], { timeoutMs: 20_000 })).trim(), 'HELLO');
});

serial(`a setgid directory gives new files its group and new directories its setgid bit${why}`, async (t) => {
  const fx = await mountFixture(t, 'fuse', { options: ['allow_other'] });
  await chmod(fx.dir, 0o755);
  const d = join(fx.src, 'team');
  await mkdir(d);
  await chown(d, 0, 4400);
  await chmod(d, 0o2777);
  t.is((await as(['touch', join(fx.mnt, 'team/file')])).code, 0);
  t.is((await as(['mkdir', join(fx.mnt, 'team/sub')])).code, 0);
  const f = await lstat(join(d, 'file'));
  t.deepEqual([f.uid, f.gid], [4322, 4400], 'the caller owns it, the directory\'s group holds it');
  const s = await lstat(join(d, 'sub'));
  t.deepEqual([s.uid, s.gid], [4322, 4400]);
  t.is(s.mode & 0o2000, 0o2000, 'the subdirectory inherits setgid');
});

serial(`truncate to 2^63-1 is EFBIG, as on the raw directory, and the server goes on${why}`, async (t) => {
  const fx = await mountFixture(t);
  await writeFile(join(fx.src, 'f'), 'x');
  const code = String.raw`
import errno, os, sys
try:
    os.truncate(sys.argv[1], 2**63 - 1)
    print('ok')
except OSError as e:
    print(errno.errorcode[e.errno])
`;
  const raw = (await runOk('python3', ['-c', code, join(fx.src, 'f')], { timeoutMs: 20_000 })).trim();
  const mnt = (await runOk('python3', ['-c', code, join(fx.mnt, 'f')], { timeoutMs: 20_000 })).trim();
  t.is(mnt, raw);
  t.is(mnt, 'EFBIG');
  t.is((await stat(join(fx.mnt, 'f'))).size, 1, 'the server still answers');
});

serial(`times past 2262 read back as on the raw directory${why}`, async (t) => {
  const fx = await mountFixture(t);
  await writeFile(join(fx.src, 'far'), 'x');
  const code = String.raw`
import os, sys
os.utime(sys.argv[1], ns=(2**34 * 10**9 + 5, 2**34 * 10**9 + 7))
print(os.stat(sys.argv[1]).st_mtime_ns)
`;
  const viaMount = (await runOk('python3', ['-c', code, join(fx.mnt, 'far')], { timeoutMs: 20_000 })).trim();
  const raw = (await runOk('python3', ['-c', 'import os,sys; print(os.stat(sys.argv[1]).st_mtime_ns)', join(fx.src, 'far')], { timeoutMs: 20_000 })).trim();
  t.is(viaMount, raw, 'the mount reports what the source holds');
  t.true(BigInt(raw) > 9_223_372_036_854_775_807n, `beyond int64 nanoseconds (${raw})`);
});
