# A fake systemd notify socket for the readiness tests:
#   python3 notify-receiver.py SOCKET MNT
# Binds SOCKET (a path, or @name for an abstract one), prints "listening",
# then one JSON line per datagram. On READY=1 it looks at the mount at once,
# from this separate process, as a client of the service would: whether
# MNT is a fuse.stableid mount and the st_ino of its root. Ends after
# STOPPING=1, or after 60 s.
import json, os, socket, sys

path, mnt = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\0' + path[1:] if path.startswith('@') else path)
s.settimeout(60)
print('listening', flush=True)
while True:
    try:
        msg = s.recv(4096).decode()
    except socket.timeout:
        break
    fields = msg.split('\n')
    rec = {'msg': msg}
    if 'READY=1' in fields:
        with open('/proc/self/mountinfo') as f:
            rec['mounted'] = any(l.split(' ')[4] == mnt and ' - fuse.stableid ' in l for l in f)
        rec['ino'] = str(os.stat(mnt).st_ino)
    print(json.dumps(rec), flush=True)
    if 'STOPPING=1' in fields:
        break
