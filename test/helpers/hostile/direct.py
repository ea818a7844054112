# Control: the test user tries the canaries directly, without any mount. It
# must fail on every one (else the user is not unprivileged and the suite
# proves nothing).
import os, sys

rootdir, files = sys.argv[1], sys.argv[2:]
for p in files:
    attempt('read', read_at, p)
    attempt('write', write_at, p, b'x')
    attempt('chmod', os.chmod, p, 0o666)
attempt('create', create_at, f'{rootdir}/direct-by-hostile')
finish()
