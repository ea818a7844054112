# Snapshot of a canary tree (run as root on the raw filesystem, never on a
# mount): every entry's type, mode, owner, size, times, content hash, xattrs
# and directory listing. Content is read with O_NOATIME so that the snapshot
# itself never moves a file's atime (a changed atime means someone read it).
import hashlib, json, os, stat, sys

root = sys.argv[1]
out = {}

def entry(rel):
    p = os.path.join(root, rel) if rel else root
    st = os.lstat(p)
    e = {'mode': oct(st.st_mode), 'uid': st.st_uid, 'gid': st.st_gid, 'size': st.st_size, 'nlink': st.st_nlink,
         'mtime': str(st.st_mtime_ns), 'ctime': str(st.st_ctime_ns), 'ino': str(st.st_ino)}
    try:
        e['xattrs'] = {n: os.getxattr(p, n, follow_symlinks=False).hex() for n in sorted(os.listxattr(p, follow_symlinks=False))}
    except OSError as err:
        e['xattrs'] = 'error ' + str(err.errno)
    if stat.S_ISREG(st.st_mode):
        e['atime'] = str(st.st_atime_ns)
        fd = os.open(p, os.O_RDONLY | os.O_NOATIME | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            h = hashlib.sha256()
            while True:
                b = os.read(fd, 1 << 16)
                if not b:
                    break
                h.update(b)
            e['sha256'] = h.hexdigest()
        finally:
            os.close(fd)
    elif stat.S_ISLNK(st.st_mode):
        e['target'] = os.readlink(p)
    elif stat.S_ISDIR(st.st_mode):
        names = sorted(os.listdir(p))
        e['entries'] = names
        out[rel] = e
        for n in names:
            entry(os.path.join(rel, n) if rel else n)
        return
    out[rel] = e

entry('')
print(json.dumps(out))
