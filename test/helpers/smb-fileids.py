#!/usr/bin/python3
"""Print the SMB2 FileId of every file in a share, as one JSON object per line.

Usage: smb-fileids.py HOST PORT SHARE USER PASSWORD [--put PATH ...]

Each line is {"path": "a/b.txt", "dir": false, "listingId": "N", "internalId": "N"}:
listingId comes from the parent's FileIdBothDirectoryInformation listing,
internalId from FileInternalInformation on the opened file (MS-FSCC 2.4.17 and
2.4.22). Both are unsigned 64-bit numbers printed in decimal, so nothing is
rounded on the way to JavaScript (it reads them as BigInt). The share root is
printed with path "".

--put PATH creates (or overwrites) PATH in the share with a line of text
over SMB first, so tests can check files made by a client, whose DOS
attributes smbd stores itself.

Run with Debian's /usr/bin/python3 (python3-impacket), not a pyenv python.
"""
import json
import struct
import sys

from impacket.smbconnection import SMBConnection
from impacket.smb3structs import (
    FILE_DIRECTORY_FILE, FILE_NON_DIRECTORY_FILE, FILE_OPEN, FILE_READ_ATTRIBUTES,
    FILE_READ_DATA, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
    FILE_SYNCHRONOUS_IO_NONALERT, SMB2_0_INFO_FILE, SMB2_FILE_ID_BOTH_DIRECTORY_INFO,
    SMB2_FILE_INTERNAL_INFO,
)
from impacket.nt_errors import STATUS_NO_MORE_FILES
from impacket.smb3 import SessionError

SHARE_ALL = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE
DIRECTORY = 0x10  # FILE_ATTRIBUTE_DIRECTORY


def parse_id_both(buf):
    """FILE_ID_BOTH_DIR_INFORMATION entries: (name, is_dir, file_id)."""
    off = 0
    while True:
        next_off, = struct.unpack_from('<I', buf, off)
        attrs, name_len = struct.unpack_from('<II', buf, off + 56)
        file_id, = struct.unpack_from('<Q', buf, off + 96)
        name = bytes(buf[off + 104:off + 104 + name_len]).decode('utf-16le')
        yield name, bool(attrs & DIRECTORY), file_id
        if next_off == 0:
            return
        off += next_off


def internal_id(smb, tid, path, is_dir):
    opts = FILE_DIRECTORY_FILE if is_dir else FILE_NON_DIRECTORY_FILE
    fid = smb.create(tid, path, FILE_READ_ATTRIBUTES, SHARE_ALL,
                     opts | FILE_SYNCHRONOUS_IO_NONALERT, FILE_OPEN, 0)
    try:
        info = smb.queryInfo(tid, fid, infoType=SMB2_0_INFO_FILE,
                             fileInfoClass=SMB2_FILE_INTERNAL_INFO)
        return struct.unpack_from('<Q', info, 0)[0]
    finally:
        smb.close(tid, fid)


def list_dir(smb, tid, path):
    fid = smb.create(tid, path, FILE_READ_DATA | FILE_READ_ATTRIBUTES, SHARE_ALL,
                     FILE_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT, FILE_OPEN, 0)
    entries = []
    try:
        while True:
            try:
                buf = smb.queryDirectory(tid, fid, '*', maxBufferSize=65535,
                                         informationClass=SMB2_FILE_ID_BOTH_DIRECTORY_INFO)
            except SessionError as e:
                if e.get_error_code() == STATUS_NO_MORE_FILES:
                    return entries
                raise
            entries.extend(e for e in parse_id_both(buf) if e[0] not in ('.', '..'))
    finally:
        smb.close(tid, fid)


def emit(path, is_dir, listing, internal):
    print(json.dumps({'path': path, 'dir': is_dir,
                      'listingId': None if listing is None else str(listing),
                      'internalId': str(internal)}), flush=True)


def walk(smb, tid, path):
    for name, is_dir, listing in sorted(list_dir(smb, tid, path)):
        child = f'{path}\\{name}' if path else name
        emit(child.replace('\\', '/'), is_dir, listing, internal_id(smb, tid, child, is_dir))
        if is_dir:
            walk(smb, tid, child)


def main():
    host, port, share, user, password = sys.argv[1:6]
    rest = sys.argv[6:]
    puts = [rest[i + 1] for i, a in enumerate(rest) if a == '--put']
    conn = SMBConnection(host, host, sess_port=int(port))
    conn.login(user, password)
    smb = conn.getSMBServer()  # the SMB3 object: raw create/queryInfo/queryDirectory
    tid = conn.connectTree(share)
    for path in puts:
        fid = conn.createFile(tid, path.replace('/', '\\'))
        conn.writeFile(tid, fid, f'written over SMB: {path}\n'.encode())
        conn.closeFile(tid, fid)
    emit('', True, None, internal_id(smb, tid, '', True))
    walk(smb, tid, '')
    conn.disconnectTree(tid)
    conn.logoff()


if __name__ == '__main__':
    main()
