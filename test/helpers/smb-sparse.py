#!/usr/bin/python3
# SMB2 sparse-file ioctls on one file (impacket): smb-sparse.py HOST PORT SHARE
# USER PASSWORD FILE ZERO_OFFSET ZERO_LENGTH. Marks FILE sparse
# (FSCTL_SET_SPARSE), lists its allocated ranges (FSCTL_QUERY_ALLOCATED_RANGES),
# zeroes a range (FSCTL_SET_ZERO_DATA, a hole punch on a sparse file) and
# lists them again. Prints JSON {"before": [[offset, length], ...], "after": [...]}.
import json
import struct
import sys

from impacket.smb3structs import FILE_OPEN, FILE_READ_DATA, FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_WRITE_DATA, SMB2_0_IOCTL_IS_FSCTL
from impacket.smbconnection import SMBConnection

FSCTL_SET_SPARSE = 0x000900C4
FSCTL_SET_ZERO_DATA = 0x000980C8
FSCTL_QUERY_ALLOCATED_RANGES = 0x000940CF
FILE_WRITE_ATTRIBUTES = 0x100

host, port, share, user, password, path, zero_off, zero_len = sys.argv[1:9]
conn = SMBConnection(host, host, sess_port=int(port))
conn.login(user, password)
tid = conn.connectTree(share)
fid = conn.createFile(tid, path, desiredAccess=FILE_READ_DATA | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES, shareMode=FILE_SHARE_READ | FILE_SHARE_WRITE,
                      creationDisposition=FILE_OPEN)  # impacket's default (OVERWRITE_IF) truncates
smb = conn.getSMBServer()


def fsctl(code, blob, out=0):
    return smb.ioctl(tid, fid, code, SMB2_0_IOCTL_IS_FSCTL, blob, maxOutputResponse=out)


def ranges():
    raw = fsctl(FSCTL_QUERY_ALLOCATED_RANGES, struct.pack('<qq', 0, 1 << 40), 65536)
    raw = raw or b''
    return [list(struct.unpack_from('<qq', raw, i)) for i in range(0, len(raw), 16)]


fsctl(FSCTL_SET_SPARSE, b'\x01')
before = ranges()
off, length = int(zero_off), int(zero_len)
fsctl(FSCTL_SET_ZERO_DATA, struct.pack('<qq', off, off + length))
print(json.dumps({'before': before, 'after': ranges()}), flush=True)
conn.closeFile(tid, fid)
conn.logoff()
