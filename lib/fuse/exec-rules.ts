// A program run from MNT obeys the flags of the mount its file is on, as
// it would on SRC. The mount's own noexec is set at the start when SRC (or
// a mount inside it) is noexec (lib/cli/source-flags.ts), but a filesystem
// mounted inside SRC later, an upload area mounted noexec, would otherwise
// run its files through an exec mount. The kernel marks an exec's open
// (__FMODE_EXEC in the open flags), so it is refused there: EACCES, as
// execve(2) gives on a noexec mount. On an -o suid mount a setuid or setgid
// program of a nosuid filesystem is refused too: nosuid would run it without
// the privilege, which the server cannot take away once the kernel has the
// file's mode, so refusing is the safe side of it.
import { type Attr } from '../backend/attr.js';
import type { Backend } from '../backend/backend.js';
import type { Inode } from '../backend/inodes.js';
import { FsError } from '../errno.js';
import { killedBits } from './kill-priv.js';

/** The kernel's __FMODE_EXEC, which open flags carry for an exec. */
export const FMODE_EXEC = 0x20;

export async function checkExec(be: Backend, node: Inode, attr: Attr | undefined, mountSuid: boolean): Promise<void> {
  const m = await be.mountOf?.(node);
  if (!m) return;
  const flags = m.mountOptions.split(',');
  if (flags.includes('noexec')) throw new FsError('EACCES', `exec of node ${node.id}: its file is on ${m.mountPoint}, mounted noexec`);
  // The bits a write clears are the ones an exec honours: setuid, setgid when group-executable.
  const privileged = attr !== undefined && killedBits(attr.mode) !== 0;
  if (mountSuid && privileged && flags.includes('nosuid')) throw new FsError('EACCES', `exec of set-user-id node ${node.id}: its file is on ${m.mountPoint}, mounted nosuid`);
}
