// 9P clients are not authenticated (any client may claim uid 0), so nothing
// done over 9P may hand out privilege on the host. As on a nosuid mount:
// files made or changed over 9P never get setuid, setgid-on-exec or file
// capabilities, and a file that has them loses them before a 9P client may
// write to it, as the kernel does for an unprivileged writer. (Device nodes
// are refused in Tmknod for the same reason.)
import { S_IFMT, S_IFREG } from '../backend/attr.js';
import type { Backend, Inode } from '../backend/backend.js';
import { FsError } from '../errno.js';

const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_IXGRP = 0o010;

/** A mode a 9P client may set: a directory keeps setgid (inheritance, not privilege). */
export function unprivileged(mode: number, isDir: boolean): number {
  return mode & ~(isDir ? S_ISUID : S_ISUID | S_ISGID);
}

/** xattrs that grant privilege when the file is executed. */
export function refusePrivilegeXattr(name: string): void {
  if (name === 'security.capability') throw new FsError('EPERM', `${name} cannot be set over 9P (clients are not authenticated)`);
}

/** Before a 9P client writes or truncates a regular file: drop setuid and setgid-on-exec, as for an unprivileged writer. */
export async function dropPrivilege(backend: Backend, inode: Inode): Promise<void> {
  const attr = await backend.getattr(inode);
  if ((attr.mode & S_IFMT) !== S_IFREG) return;
  const priv = attr.mode & S_ISUID || (attr.mode & S_ISGID && attr.mode & S_IXGRP);
  if (priv) await backend.setattr(inode, { mode: attr.mode & 0o7777 & ~(S_ISUID | S_ISGID) });
}
