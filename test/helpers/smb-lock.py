#!/usr/bin/python3
# An SMB2 client holding a byte-range lock (impacket): smb-lock.py HOST PORT
# SHARE USER PASSWORD FILE OFFSET LENGTH. Opens FILE read-write, takes an
# exclusive, fail-immediately lock, prints "locked" (or the NT status) and
# holds it until stdin closes; then closes the file, which releases it.
import sys

from impacket.smb3structs import (FILE_OPEN, FILE_READ_DATA, FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_WRITE_DATA, SMB2_LOCK,
                                  SMB2_LOCK_ELEMENT, SMB2_LOCKFLAG_EXCLUSIVE_LOCK, SMB2_LOCKFLAG_FAIL_IMMEDIATELY,
                                  SMB2Lock)
from impacket.smbconnection import SessionError, SMBConnection

host, port, share, user, password, path, offset, length = sys.argv[1:9]
conn = SMBConnection(host, host, sess_port=int(port))
conn.login(user, password)
tid = conn.connectTree(share)
fid = conn.createFile(tid, path, desiredAccess=FILE_READ_DATA | FILE_WRITE_DATA, shareMode=FILE_SHARE_READ | FILE_SHARE_WRITE,
                      creationDisposition=FILE_OPEN)  # impacket's default (OVERWRITE_IF) truncates
smb = conn.getSMBServer()
element = SMB2_LOCK_ELEMENT()
element['Offset'] = int(offset)
element['Length'] = int(length)
element['Flags'] = SMB2_LOCKFLAG_EXCLUSIVE_LOCK | SMB2_LOCKFLAG_FAIL_IMMEDIATELY
# impacket's SMB3.lock() joins str()s of the elements (broken on Python 3): send the request here.
packet = smb.SMB_PACKET()
packet['Command'] = SMB2_LOCK
packet['TreeID'] = tid
req = SMB2Lock()
req['FileID'] = fid
req['LockCount'] = 1
req['Locks'] = element.getData()
packet['Data'] = req
ans = smb.recvSMB(smb.sendSMB(packet))
status = ans['Status']
print('locked' if status == 0 else f'status 0x{status:08x}', flush=True)
sys.stdin.read()
conn.closeFile(tid, fid)
conn.logoff()
