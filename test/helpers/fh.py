# Kernel file handles of paths on a mount, and opening them again later:
#   fh.py get MNT PATH...      -> one line per path: PATH<TAB>hex handle (type:bytes)
#   fh.py open MNT HANDLE...   -> one line per handle: the file's st_ino and its first bytes, or the errno name
# name_to_handle_at / open_by_handle_at through ctypes (Python has no binding).
import ctypes, errno, os, sys

libc = ctypes.CDLL(None, use_errno=True)
MAX = 128

class FH(ctypes.Structure):
    _fields_ = [('handle_bytes', ctypes.c_uint), ('handle_type', ctypes.c_int), ('f_handle', ctypes.c_ubyte * MAX)]

def get(path):
    fh = FH(MAX, 0)
    mid = ctypes.c_int()
    if libc.name_to_handle_at(-100, path.encode(), ctypes.byref(fh), ctypes.byref(mid), 0) != 0:
        return errno.errorcode[ctypes.get_errno()]
    return '%d:%s' % (fh.handle_type, bytes(fh.f_handle[:fh.handle_bytes]).hex())

def open_(mnt_fd, h):
    t, data = h.split(':')
    raw = bytes.fromhex(data)
    fh = FH(len(raw), int(t))
    ctypes.memmove(fh.f_handle, raw, len(raw))
    fd = libc.open_by_handle_at(mnt_fd, ctypes.byref(fh), os.O_RDONLY)
    if fd < 0:
        return errno.errorcode[ctypes.get_errno()]
    try:
        st = os.fstat(fd)
        head = os.read(fd, 64).decode(errors='replace') if not os.path.stat.S_ISDIR(st.st_mode) else 'DIR'
        return '%d %s' % (st.st_ino, head.strip())
    finally:
        os.close(fd)

cmd, mnt = sys.argv[1], sys.argv[2]
if cmd == 'get':
    for p in sys.argv[3:]:
        print('%s\t%s' % (p, get(os.path.join(mnt, p))))
else:
    mfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    for h in sys.argv[3:]:
        print(open_(mfd, h))
