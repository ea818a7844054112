// MNT as the mount will land on it: the path with its symbolic links
// resolved, so that mountinfo, status and unmount all name the same place.
//
// The server mounts as root (allow_other, and suid or dev if asked), so the
// path is an attack surface: a user who can write a directory on it can put a
// link there pointing the mount at any host directory (/etc, with -o
// nonempty). Links are therefore followed only where no such user can have
// made them: in a directory writable by nobody but its owner, root (or the
// user running stableid, for a fusermount3 mount). MNT itself must not be a
// link. The addon then walks the resolved path refusing every link
// (mount.c), so one swapped in after this check stops the mount too.
//
// The walk is on descriptors (openat with O_NOFOLLOW, readlink of the link's
// own descriptor), so what is checked is what is followed. Anything else
// wrong (a missing component, not a directory) is left to checkMountpoint(),
// which says it better: the path is returned as far as it was resolved.
import { realpath } from 'node:fs/promises';
import { constants as C } from 'node:fs';
import { posix } from 'node:path';
import { PreflightError } from '../fuse/preflight.js';
import * as sys from '../sys/sys.js';

const AT_FDCWD = -100;
/** As the kernel's path walk (MAXSYMLINKS). */
const MAX_LINKS = 40;

const parts = (p: string) => p.split('/').filter((c) => c !== '' && c !== '.');

/** mnt: absolute. Throws PreflightError for a link that is not safe to follow, or MNT being one. */
export async function mountpointPath(mnt: string): Promise<string> {
  const done: string[] = [];
  let rest = parts(mnt);
  let links = 0;
  let dir = sys.openPath(AT_FDCWD, '/', C.O_DIRECTORY);
  if (dir < 0) return mnt;
  const at = () => `/${done.join('/')}`;
  const leftAt = (name: string) => posix.join(at(), name, ...rest);
  try {
    while (rest.length) {
      const name = rest.shift()!;
      if (name === '..') {
        // Only after a link's target: done holds no link, so its parent is the lexical one.
        const up = sys.openPath(dir, '..', C.O_DIRECTORY);
        if (up < 0) return leftAt(name);
        sys.close(dir);
        dir = up;
        done.pop();
        continue;
      }
      const next = sys.openPath(dir, name, C.O_DIRECTORY | C.O_NOFOLLOW);
      if (next >= 0) {
        sys.close(dir);
        dir = next;
        done.push(name);
        continue;
      }
      const link = sys.openPath(dir, name, C.O_NOFOLLOW);
      if (link < 0) return leftAt(name);
      try {
        const st = sys.statx(link, '', sys.AT_EMPTY_PATH, sys.statxBuffer());
        if ((Number(st[sys.Sx.mode]) & C.S_IFMT) !== C.S_IFLNK) return leftAt(name);
        const here = posix.join(at(), name);
        if (rest.length === 0) {
          const real = await realpath(mnt).catch(() => 'its target');
          throw new PreflightError(`mountpoint ${mnt} is a symbolic link: give the directory itself as MNT (${real}); stableid does not mount through a link, which whoever can change it could point elsewhere`);
        }
        const why = untrusted(sys.statx(dir, '', sys.AT_EMPTY_PATH, sys.statxBuffer()));
        if (why) {
          throw new PreflightError(
            `mountpoint ${mnt}: ${here} is a symbolic link in ${at()}, which ${why}: they could point it elsewhere (over /etc, say) ` +
              `before the mount; give the real path as MNT (realpath ${mnt}), after checking where it leads`,
          );
        }
        if (++links > MAX_LINKS) throw new PreflightError(`mountpoint ${mnt}: too many levels of symbolic links`);
        const target = await sys.readlinkat(link);
        if (target.startsWith('/')) {
          const root = sys.openPath(AT_FDCWD, '/', C.O_DIRECTORY);
          if (root < 0) return mnt;
          sys.close(dir);
          dir = root;
          done.length = 0;
        }
        rest = [...parts(target), ...rest];
      } finally {
        sys.close(link);
      }
    }
    return at();
  } finally {
    sys.close(dir);
  }
}

/** Why users other than root (and us) could change a link in this directory, or undefined if they cannot. */
function untrusted(st: BigUint64Array): string | undefined {
  const uid = Number(st[sys.Sx.uid]);
  const mode = Number(st[sys.Sx.mode]);
  const me = process.geteuid?.() ?? 0;
  if (uid !== 0 && uid !== me) return `user ${uid} owns`;
  if (mode & 0o022) return `others may write (mode ${(mode & 0o7777).toString(8)})`;
  return undefined;
}
