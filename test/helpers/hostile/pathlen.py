# Path-length probe (issue 8; pjdfstest's */03 tests): run in a working
# directory, once on a raw directory and once inside the mount, it builds a
# tree of 255-byte names and runs create, stat, chmod, chown, truncate, link,
# rename, unlink, mkdir, rmdir, symlink and mkfifo on paths of PATH_MAX-1
# bytes (must work) and PATH_MAX bytes (ENAMETOOLONG), then goes deeper by
# chdir than PATH_MAX from the working directory (short names, long absolute
# paths). notes['steps'] is the list of [step, outcome]: the two runs must
# report the same list.
import os, sys

PATH_MAX = 4096
steps = []


def step(name, fn, *args):
    try:
        r = fn(*args)
        steps.append([name, 'ok' if r is None else f'ok {r}'])
    except OSError as e:
        steps.append([name, errno.errorcode.get(e.errno, str(e.errno))])


def st(p):
    s = os.lstat(p)
    return f'mode={oct(s.st_mode)} size={s.st_size} uid={s.st_uid} nlink={s.st_nlink}'


def create(p):
    os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))


os.chdir(sys.argv[1])
comp = lambda c, n=255: c * n
dirs = []
d = ''
for i in range(15):
    d = f'{d}/{comp(chr(ord("a") + i))}' if d else comp('a')
    dirs.append(d)
    step(f'mkdir depth {i + 1} ({len(d)} bytes)', os.mkdir, d)
P = f'{d}/{comp("p")}'
P2, P3, PD = f'{d}/{comp("q")}', f'{d}/{comp("r")}', f'{d}/{comp("s")}'
LONG = f'./{d}/{comp("t", 254)}'  # PATH_MAX bytes
assert len(P) == PATH_MAX - 1 and len(LONG) == PATH_MAX, (len(P), len(LONG))

for tag, p in (('PATH_MAX-1', P), ('PATH_MAX', LONG)):
    step(f'create {tag}', create, p)
    step(f'stat {tag}', st, p)
    step(f'chmod {tag}', os.chmod, p, 0o640)
    step(f'chown {tag}', os.chown, p, 65534, 65534)
    step(f'truncate {tag}', os.truncate, p, 123)
    step(f'stat after {tag}', st, p)
    step(f'link {tag}', os.link, p, P2 if tag == 'PATH_MAX-1' else LONG[:-1] + 'u')
    step(f'rename {tag}', os.rename, P2 if tag == 'PATH_MAX-1' else LONG[:-1] + 'u', P3 if tag == 'PATH_MAX-1' else LONG[:-1] + 'v')
    step(f'unlink renamed {tag}', os.unlink, P3 if tag == 'PATH_MAX-1' else LONG[:-1] + 'v')
    step(f'unlink {tag}', os.unlink, p)
    step(f'mkdir {tag}', os.mkdir, PD if tag == 'PATH_MAX-1' else LONG)
    step(f'rmdir {tag}', os.rmdir, PD if tag == 'PATH_MAX-1' else LONG)
    step(f'symlink {tag}', os.symlink, 'target', p)
    step(f'readlink {tag}', os.readlink, p)
    step(f'unlink symlink {tag}', os.unlink, p)
    step(f'mkfifo {tag}', os.mkfifo, p)
    step(f'unlink fifo {tag}', os.unlink, p)
step('name of 256 bytes', create, comp('n', 256))
step('listing of the deepest directory', lambda: sorted(os.listdir(d)))

# Deeper than PATH_MAX from the working directory, one short step at a time.
top = os.getcwd()
os.chdir(d)
for i in range(5):
    step(f'mkdir beyond PATH_MAX {i + 1}', os.mkdir, comp('z'))
    step(f'chdir beyond PATH_MAX {i + 1}', os.chdir, comp('z'))
step('create beyond PATH_MAX', create, 'f')
step('chmod beyond PATH_MAX', os.chmod, 'f', 0o600)
step('stat beyond PATH_MAX', st, 'f')
step('rename beyond PATH_MAX', os.rename, 'f', 'g')
step('unlink beyond PATH_MAX', os.unlink, 'g')
for i in range(5):
    step(f'rmdir beyond PATH_MAX {5 - i}', lambda: (os.chdir('..'), os.rmdir(comp('z')))[1])
os.chdir(top)
for i, dd in reversed(list(enumerate(dirs))):
    step(f'rmdir depth {i + 1}', os.rmdir, dd)
note('steps', steps)
finish()
