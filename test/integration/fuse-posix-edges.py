# Numbers at the edge (fuse-posix-limits.test.ts): pwrite, pread, ftruncate and
# truncate at offsets up to 2^63-1 in DIR; prints the errno name or result of each.
import errno, json, os, sys
p = os.path.join(sys.argv[1], 'f')
with open(p, 'wb') as f: f.write(b'x')
fd = os.open(p, os.O_RDWR)
out = {}
def code(fn):
    try:
        r = fn()
        return 'ok' if r is None else r
    except OSError as e:
        return errno.errorcode[e.errno]
    except OverflowError:
        return 'overflow'
for name, off in [('2^44', 2**44), ('2^53+1', 2**53 + 1), ('2^62', 2**62), ('2^63-2', 2**63 - 2), ('2^63-1', 2**63 - 1)]:
    out['pwrite ' + name] = code(lambda: os.pwrite(fd, b'y', off))
    out['pread ' + name] = code(lambda: len(os.pread(fd, 10, off)))
    out['ftruncate ' + name] = code(lambda: os.ftruncate(fd, off))
    out['truncate ' + name] = code(lambda: os.truncate(p, off))
out['pwrite -1'] = code(lambda: os.pwrite(fd, b'y', -1))
out['size'] = os.fstat(fd).st_size
print(json.dumps(out))
