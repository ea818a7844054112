// Clearing setuid and setgid where the kernel leaves it to the server.
//
// The server writes and truncates as root, for which the source never clears
// them, so every change by someone without CAP_FSETID that the kernel does
// not clear itself must be cleared here: setuid always, setgid when the file
// is group-executable (without it, setgid marks mandatory locking and
// stays), regular files only, as the kernel does on a local filesystem.
// security.capability: the kernel removes it through REMOVEXATTR before any
// write, truncate or chown. Under KILLPRIV_V2 that REMOVEXATTR also comes
// for another user's chown(-1, -1), which a local filesystem refuses (FUSE
// drops the mode change that would have been refused first), so from a
// caller neither root nor the owner it is answered without removing
// anything (capabilityRemoval), and the changes such a caller may make
// (write, truncate, fallocate, copy_file_range) remove it here instead.
//
// With FUSE_HANDLE_KILLPRIV_V2 (nosuid mounts, native/init.c) the kernel
// says when: FUSE_WRITE_KILL_SUIDGID on a write, FATTR_KILL_SUIDGID on a
// truncate or chown, FUSE_OPEN_KILL_SUIDGID on an open with O_TRUNC. It
// says nothing for fallocate and copy_file_range (whose kernel side then
// clears nothing either): there the server goes by the caller's uid, as
// below. A SETATTR with nothing to set is what is left of the kernel's own
// clearing once FUSE drops it (chown(-1, -1), or a write or truncate by a
// caller without CAP_FSETID, flagged as well): setattrKills().
// Without it (-o suid) it clears them itself, except on an open with O_TRUNC
// (its own clearing is dropped once OPEN has truncated), where the server
// goes by the caller's uid: a caller other than root lacks CAP_FSETID.
import { constants as C } from 'node:fs';
import { type Attr, S_IFMT, S_IFREG, S_ISGID } from '../backend/attr.js';
import type { Backend } from '../backend/backend.js';
import type { Inode } from '../backend/inodes.js';
import { isCode } from '../errno.js';

/** fuse_write_in.write_flags: the writer lacks CAP_FSETID. */
export const WRITE_KILL_SUIDGID = 1 << 2;
/** fuse_setattr_in.valid: a truncate by a caller without CAP_FSETID, or a chown. */
export const FATTR_KILL_SUIDGID = 1 << 11;
/** fuse_open_in/fuse_create_in.open_flags: O_TRUNC by a caller without CAP_FSETID. */
export const OPEN_KILL_SUIDGID = 1 << 0;

const S_ISUID = 0o4000;
const S_IXGRP = 0o010;

/** The bits a change by a writer without CAP_FSETID clears. */
export function killedBits(mode: number): number {
  if ((mode & S_IFMT) !== S_IFREG) return 0;
  return (mode & S_ISUID) | ((mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP) ? S_ISGID : 0);
}

/** Clears them, and security.capability, on node's file; returns its attributes after. known: its attributes just read (a setattr's or create's answer). */
export async function killSuidgid(be: Backend, node: Inode, known?: Attr): Promise<Attr> {
  const attr = known ?? (await be.getattr(node));
  if ((attr.mode & S_IFMT) === S_IFREG) await be.removexattr(node, CAPABILITY).catch((err) => (isCode(err, 'ENODATA', 'ENOTSUP', 'EOPNOTSUPP') ? undefined : Promise.reject(err)));
  const kill = killedBits(attr.mode);
  return kill ? be.setattr(node, { mode: attr.mode & 0o7777 & ~kill }) : attr;
}

export const CAPABILITY = 'security.capability';

/** Whether a REMOVEXATTR of security.capability (always the kernel's own clearing: users cannot remove it) is carried out. */
export function capabilityRemoval(killprivV2: boolean, uid: number, owner: number): boolean {
  return !killprivV2 || uid === 0 || uid === owner;
}

/** fallocate and copy_file_range: under KILLPRIV_V2 the kernel leaves them to us without a flag. */
export function modifyKills(killprivV2: boolean, uid: number): boolean {
  return killprivV2 && uid !== 0;
}

/**
 * Whether a SETATTR must clear them: the kernel's flag, or (KILLPRIV_V2) a
 * SETATTR with nothing to set from the file's owner or root. Only theirs:
 * FUSE drops the mode change before its own permission check, so another
 * user's chown(-1, -1) arrives the same way, and on a local filesystem that
 * is EPERM and clears nothing. (Another user's write or truncate, which
 * also leaves such a SETATTR, is flagged on its own request.)
 */
export function setattrKills(toSet: number, killprivV2: boolean, uid: number, owner: number): boolean {
  if (toSet & FATTR_KILL_SUIDGID) return true;
  return killprivV2 && (toSet & ~(FATTR_FH | FATTR_LOCKOWNER)) === 0 && (uid === 0 || uid === owner);
}

const FATTR_FH = 1 << 6;
const FATTR_LOCKOWNER = 1 << 9;

/** Whether an open (or create) with these flags must clear them after the source truncated the file. */
export function openKills(flags: number, openFlags: number, killprivV2: boolean, uid: number): boolean {
  if (!(flags & C.O_TRUNC)) return false;
  return killprivV2 ? (openFlags & OPEN_KILL_SUIDGID) !== 0 : uid !== 0;
}
