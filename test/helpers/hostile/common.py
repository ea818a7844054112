# Shared prelude of the attacker programs (test/helpers/hostile/*.py): each is
# run as `python3 -c "<common.py><trick.py>" ARGS...` by test/helpers/
# hostile-user.ts, as the unprivileged test user, and prints one JSON report
# on its last line: attempts and outcomes (ok or errno name) per operation,
# plus notes. What a trick read goes into notes['read'] so that the test can
# look for canary contents in it.
import ctypes, errno, json, os, stat, sys, time

libc = ctypes.CDLL(None, use_errno=True)
REPORT = {'attempts': {}, 'outcomes': {}, 'notes': {'read': []}}
RENAME_EXCHANGE = 2


def attempt(op, fn, *args):
    """Runs fn, counting the attempt and its outcome; returns fn's value or None."""
    REPORT['attempts'][op] = REPORT['attempts'].get(op, 0) + 1
    out = REPORT['outcomes'].setdefault(op, {})
    t0 = time.monotonic()
    try:
        r = fn(*args)
        out['ok'] = out.get('ok', 0) + 1
        return r
    except OSError as e:
        name = errno.errorcode.get(e.errno, str(e.errno))
        out[name] = out.get(name, 0) + 1
        return None
    finally:
        took = time.monotonic() - t0
        slow = REPORT['notes'].setdefault('slowest', {})
        if took > slow.get(op, 0):
            slow[op] = round(took, 3)


def note(key, value):
    REPORT['notes'][key] = value


def finish():
    REPORT['notes']['read'] = REPORT['notes']['read'][-50:]
    print(json.dumps(REPORT))
    sys.stdout.flush()


def read_at(name, dir_fd=None):
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK, dir_fd=dir_fd)
    try:
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    REPORT['notes']['read'].append(data.decode('latin-1'))
    return data


def write_at(name, data, dir_fd=None, flags=0):
    fd = os.open(name, os.O_WRONLY | os.O_NONBLOCK | flags, dir_fd=dir_fd)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)


def create_at(name, dir_fd=None):
    os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644, dir_fd=dir_fd))


def rename_exchange(a, b):
    if libc.renameat2(-100, a.encode(), -100, b.encode(), RENAME_EXCHANGE) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), a)


def getdents(fd, size):
    """One getdents64 call with a buffer of size bytes: the names it returned ([] at the end)."""
    buf = ctypes.create_string_buffer(size)
    n = libc.getdents64(fd, buf, size)
    if n < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    names, i, raw = [], 0, buf.raw
    while i < n:
        reclen = int.from_bytes(raw[i + 16:i + 18], 'little')
        names.append(raw[i + 19:i + reclen].split(b'\0', 1)[0].decode())
        i += reclen
    return names
