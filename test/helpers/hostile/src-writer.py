# A user who can also write SRC directly (issue 8): through the mount, take
# nodes of its own files (a held directory fd, cwd, open file fds), then on
# SRC replace a parent directory by a symlink to a root-owned directory
# outside SRC, and act through the mount: right away (within the kernel's
# caches) and again after they expired (held fds, then fresh lookups).
#   MNT_U SRC_U OUTSIDE SLEEP NOW_NAMES LATE_NAMES FD_NAMES
# OUTSIDE holds `rootdir`; the user's files mirror its names in MNT_U/p/rootdir.
import os, sys, time

mnt_u, src_u, outside, sleep = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
now_names, late_names, fd_names = (a.split(',') for a in sys.argv[5:8])
d = f'{mnt_u}/p/rootdir'
os.makedirs(d)
for n in now_names + late_names + fd_names:
    with open(f'{d}/{n}', 'w') as f:
        f.write('the hostile user\'s own file\n')
for n in ('rename', 'late-rename'):
    create_at(f'{mnt_u}/mine-{n}')

dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
os.chdir(d)
fds = {n: os.open(n, os.O_RDWR) for n in fd_names}
for n in os.listdir('.'):
    os.stat(n)

# The swap, on SRC itself: p is now a symlink to OUTSIDE, so p/rootdir is the root-owned directory.
os.rename(f'{src_u}/p', f'{src_u}/p.moved')
os.symlink(outside, f'{src_u}/p')


def path_ops(prefix):
    names = (lambda n: f'{prefix}{n}')
    attempt(names('read'), read_at, names('read'))
    attempt(names('write'), write_at, names('write'), b'written by the hostile client\n')
    attempt(names('chmod'), os.chmod, names('chmod'), 0o4777)
    attempt(names('utime'), lambda: os.utime(names('utime'), ns=(0, 0)))
    attempt(names('xattr'), lambda: os.setxattr(names('xattr'), 'user.hostile', b'1'))
    attempt(names('truncate'), os.truncate, names('truncate'), 0)
    attempt(names('unlink'), os.unlink, names('unlink'))
    attempt(names('rename'), os.rename, f'{mnt_u}/mine-{names("rename")}', names('rename'))
    attempt(names('create'), create_at, names('created-by-hostile'))
    attempt(names('mkdir'), os.mkdir, names('mkdir-by-hostile'))


start = time.monotonic()
path_ops('')  # relative to cwd: the user's directory node
note('now_seconds', round(time.monotonic() - start, 3))
time.sleep(sleep)  # the kernel's entry and attribute caches have expired
fd = lambda n: fds[n]
attempt('fchmod', lambda: os.chmod(fd('fchmod'), 0o4777))
attempt('futime', lambda: os.utime(fd('futime'), ns=(0, 0)))
attempt('fxattr', lambda: os.setxattr(fd('fxattr'), 'user.hostile', b'1'))
attempt('ftruncate', lambda: os.truncate(fd('ftruncate'), 0))
attempt('fwrite', lambda: os.pwrite(fd('fwrite'), b'written by the hostile client\n', 0))
attempt('fread', lambda: REPORT['notes']['read'].append(os.pread(fd('fread'), 4096, 0).decode('latin-1')))
path_ops('late-')
finish()
