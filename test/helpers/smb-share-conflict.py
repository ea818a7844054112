#!/usr/bin/python3
"""Open one file through two SMB servers at once, the first open sharing nothing.

Usage: smb-share-conflict.py PATH USER PASSWORD SHARE HOST1:PORT1 HOST2:PORT2

Opens PATH through the first server with share access none (FILE_SHARE_NONE)
and, while that handle is open, tries to open it for reading through the
second. Prints one JSON object: {"second": "opened"} or {"second": "<NT
status name>"}, e.g. STATUS_SHARING_VIOLATION when the two servers share one
record of the open, as clustered Samba nodes do in CTDB's locking.tdb, keyed
by the file_id each node computes (MS-SMB2 3.3.5.9: share access checks).

Run with Debian's /usr/bin/python3 (python3-impacket), not a pyenv python.
"""
import json
import sys

from impacket.nt_errors import ERROR_MESSAGES
from impacket.smb3 import SessionError
from impacket.smb3structs import (
    FILE_NON_DIRECTORY_FILE, FILE_OPEN, FILE_READ_DATA, FILE_SHARE_READ,
    FILE_SHARE_WRITE, FILE_SYNCHRONOUS_IO_NONALERT, FILE_WRITE_DATA,
)
from impacket.smbconnection import SMBConnection


def connect(addr, user, password, share):
    host, port = addr.rsplit(':', 1)
    conn = SMBConnection(host, host, sess_port=int(port))
    conn.login(user, password)
    return conn, conn.getSMBServer(), conn.connectTree(share)


def main():
    path, user, password, share, first, second = sys.argv[1:7]
    path = path.replace('/', '\\')
    c1, smb1, tid1 = connect(first, user, password, share)
    c2, smb2, tid2 = connect(second, user, password, share)
    opts = FILE_NON_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT
    fid1 = smb1.create(tid1, path, FILE_READ_DATA | FILE_WRITE_DATA, 0, opts, FILE_OPEN, 0)
    try:
        try:
            fid2 = smb2.create(tid2, path, FILE_READ_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, opts, FILE_OPEN, 0)
            smb2.close(tid2, fid2)
            result = 'opened'
        except SessionError as e:
            code = e.get_error_code()
            result = ERROR_MESSAGES.get(code, (hex(code),))[0]
    finally:
        smb1.close(tid1, fid1)
    print(json.dumps({'second': result}), flush=True)
    for c, tid in ((c1, tid1), (c2, tid2)):
        c.disconnectTree(tid)
        c.logoff()


if __name__ == '__main__':
    main()
