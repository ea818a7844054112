#!/usr/bin/env python3
# Client side of the file-op tests (test/integration/fuse-fileops.test.ts):
# every call on a mount runs in a child process like this one, never in the
# test runner. Prints one JSON value on stdout.
#   sparse PATH              makes PATH 8 MiB long with data only at 1 MiB (4 KiB) and 5 MiB (8 KiB)
#   map PATH                 SEEK_DATA/SEEK_HOLE walk of the file: [[data, hole], ...], plus size and blocks
#   fallocate PATH MODE OFF LEN
#   copy SRC DST             copy_file_range(2) in 1 MiB steps: bytes copied
#   lock PATH KIND TYPE START LEN [HOLD]
#                            KIND: posix (fcntl F_SETLK), posixw (F_SETLKW), ofd (F_OFD_SETLK),
#                            flock, flockw; TYPE r|w. Prints "locked" (flushed) and holds it for
#                            HOLD seconds (default 0; then prints "releasing" and exits), or prints
#                            the errno name
#   getlk PATH TYPE START LEN   F_GETLK: [type, start, len] of the lock in the way (type "u": none)
#   lockwait PATH TYPE START LEN  F_SETLKW, giving up after 1.5 s with SIGALRM: "locked" or "interrupted"
#   twofds PATH              opens PATH twice, write-locks it through the first descriptor, prints
#                            "locked", waits for a line on stdin, closes the second, prints "closed",
#                            and holds the first until stdin ends
import errno
import fcntl
import json
import os
import signal
import struct
import sys
import time

F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 36, 37, 38
TYPES = {'r': fcntl.F_RDLCK, 'w': fcntl.F_WRLCK, 'u': fcntl.F_UNLCK}
NAMES = {v: k for k, v in TYPES.items()}


def flock_struct(type_, start, length):
    # struct flock on x86-64: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid
    return struct.pack('hhqqi4x', type_, os.SEEK_SET, start, length, 0)


def out(value):
    print(json.dumps(value), flush=True)


def seek_map(path):
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    runs, off = [], 0
    while off < size:
        try:
            data = os.lseek(fd, off, os.SEEK_DATA)
        except OSError as e:
            if e.errno != errno.ENXIO:
                raise
            break
        hole = os.lseek(fd, data, os.SEEK_HOLE)
        runs.append([data, hole])
        off = hole
    try:
        past = os.lseek(fd, size, os.SEEK_DATA)
    except OSError as e:
        past = errno.errorcode[e.errno]
    st = os.fstat(fd)
    out({'runs': runs, 'size': st.st_size, 'blocks': st.st_blocks, 'dataAtEnd': past})


def lock(path, kind, type_, start, length, hold):
    t = TYPES[type_]
    fd = os.open(path, os.O_RDWR if t == fcntl.F_WRLCK else os.O_RDONLY)
    try:
        if kind in ('posix', 'posixw', 'ofd'):
            cmd = {'posix': fcntl.F_SETLK, 'posixw': fcntl.F_SETLKW, 'ofd': F_OFD_SETLK}[kind]
            fcntl.fcntl(fd, cmd, flock_struct(t, start, length))
        else:
            op = fcntl.LOCK_EX if t == fcntl.F_WRLCK else fcntl.LOCK_SH
            fcntl.flock(fd, op if kind == 'flockw' else op | fcntl.LOCK_NB)
    except OSError as e:
        out(errno.errorcode[e.errno])
        return
    out('locked')
    if hold:
        time.sleep(hold)
        out('releasing')  # then exit, which closes the file


def getlk(path, type_, start, length):
    fd = os.open(path, os.O_RDWR)
    got = fcntl.fcntl(fd, fcntl.F_GETLK, flock_struct(TYPES[type_], start, length))
    t, _, s, n, pid = struct.unpack('hhqqi4x', got)
    out([NAMES[t], s, n])


def lockwait(path, type_, start, length):
    def give_up(*_):
        raise TimeoutError()
    signal.signal(signal.SIGALRM, give_up)
    signal.setitimer(signal.ITIMER_REAL, 1.5)
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.fcntl(fd, fcntl.F_SETLKW, flock_struct(TYPES[type_], start, length))
    except TimeoutError:
        out('interrupted')
        return
    signal.setitimer(signal.ITIMER_REAL, 0)
    out('locked')


def twofds(path):
    first, second = os.open(path, os.O_RDWR), os.open(path, os.O_RDWR)
    fcntl.fcntl(first, fcntl.F_SETLK, flock_struct(fcntl.F_WRLCK, 0, 0))
    out('locked')
    sys.stdin.readline()
    os.close(second)  # POSIX: drops every lock this process holds on the file
    out('closed')
    sys.stdin.read()


def copy(src, dst):
    fin = os.open(src, os.O_RDONLY)
    fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    total = 0
    while True:
        n = os.copy_file_range(fin, fout, 1 << 20)
        if n == 0:
            break
        total += n
    out(total)


def main(argv):
    cmd, args = argv[0], argv[1:]
    if cmd == 'sparse':
        fd = os.open(args[0], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        os.pwrite(fd, os.urandom(4096), 1 << 20)
        os.pwrite(fd, os.urandom(8192), 5 << 20)
        os.ftruncate(fd, 8 << 20)
        os.close(fd)
        out('ok')
    elif cmd == 'map':
        seek_map(args[0])
    elif cmd == 'fallocate':
        fd = os.open(args[0], os.O_RDWR)
        mode, off, length = (int(x) for x in args[1:4])
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
        r = libc.fallocate(fd, mode, off, length)
        out('ok' if r == 0 else errno.errorcode[ctypes.get_errno()])
    elif cmd == 'copy':
        copy(args[0], args[1])
    elif cmd == 'lock':
        lock(args[0], args[1], args[2], int(args[3]), int(args[4]), float(args[5]) if len(args) > 5 else 0)
    elif cmd == 'getlk':
        getlk(args[0], args[1], int(args[2]), int(args[3]))
    elif cmd == 'twofds':
        twofds(args[0])
    elif cmd == 'lockwait':
        lockwait(args[0], args[1], int(args[2]), int(args[3]))
    else:
        sys.exit(f'fileops.py: unknown command {cmd}')


main(sys.argv[1:])
