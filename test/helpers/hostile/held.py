# A FUSE client that holds a directory (an open fd, its cwd) while another
# front-end moves things: it takes its nodes, creates READY, waits for GO,
# then acts on the held directory's files by name.
#   DIR READY GO NAMES
import os, sys, time

d, ready, go, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(',')
dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
os.chdir(d)
for n in names:
    os.stat(n)
create_at(ready)
end = time.monotonic() + 20
while not os.path.exists(go):
    if time.monotonic() > end:
        raise SystemExit('no GO within 20 s')
    time.sleep(0.01)
attempt('read', read_at, 'read')
attempt('write', write_at, 'write', b'written by the hostile client\n')
attempt('chmod', os.chmod, 'chmod', 0o6777)
attempt('utime', lambda: os.utime('utime', ns=(0, 0)))
attempt('xattr', lambda: os.setxattr('xattr', 'user.hostile', b'1'))
attempt('truncate', os.truncate, 'truncate', 0)
attempt('unlink', os.unlink, 'unlink')
attempt('create', create_at, 'created-by-hostile')
finish()
