// -o suid, -o dev and -o exec only where SRC's own mounts allow them.
//
// The server is root, so its mount's set-user-id files run as their owner
// and its device nodes open the host's devices. A filesystem mounted nosuid
// or nodev (a USB stick, a user's own FUSE mount, /tmp) holds files nobody
// vetted: an ext4 image can carry a root-owned setuid shell or a 0666 node
// of the root disk. Re-exporting them with suid or dev would undo the flag.
// So each is refused when the mount holding SRC, or any mount inside SRC
// (the backend crosses into those), has its "no" flag (statvfs f_flag
// ST_NOSUID / ST_NODEV, as /proc/self/mountinfo shows it). Without the
// option the mount is nosuid,nodev (mount-spec.ts), whatever SRC is.
//
// noexec is the same promise made about programs (uploads on a share that
// must never run on the host), but a FUSE mount is exec by default, so it is
// inherited instead: SRC on a noexec mount, or a noexec mount inside SRC,
// makes the whole mount noexec (one mount has one flag), and -o exec there
// is refused like -o suid.
import { readFile } from 'node:fs/promises';
import { constants as C } from 'node:fs';
import { reenabled } from '../fuse/mount-spec.js';
import { PreflightError } from '../fuse/preflight.js';
import { type MountInfo, readMountinfo } from '../mountinfo.js';
import * as sys from '../sys/sys.js';

const AT_FDCWD = -100;

const WHAT = {
  suid: 'its set-user-id files would run as their owners again',
  dev: 'its device nodes would open host devices again',
  exec: 'its files would run as programs again',
};

/** What the check adds to the mount: noexec inherited from SRC's mounts, and the line that says why. */
export interface InheritedFlags {
  options: string[];
  note?: string;
}

/** src: SRC's real path (checkSource). fuse: the generic mount options. */
export async function checkSourceFlags(src: string, fuse: string[]): Promise<InheritedFlags> {
  const asked: (keyof typeof WHAT)[] = reenabled(fuse);
  const exec = fuse.lastIndexOf('exec') - fuse.lastIndexOf('noexec'); // > 0 asked for, < 0 refused already
  if (exec > 0) asked.push('exec');
  if (!asked.length && exec < 0) return { options: [] };
  const mounts = await readMountinfo();
  const holder = await holdingMount(src, mounts);
  const inside = mounts.filter((m) => m.mountPoint.startsWith(src === '/' ? '/' : `${src}/`));
  const has = (m: MountInfo, flag: string) => m.mountOptions.split(',').includes(flag);
  const where = (m: MountInfo, no: string) => (m === holder ? `source ${src} is on ${m.mountPoint}, mounted ${no}` : `${m.mountPoint}, inside source ${src}, is mounted ${no}`);
  for (const opt of asked) {
    const no = `no${opt}`;
    for (const m of [holder, ...inside]) {
      if (!has(m, no)) continue;
      throw new PreflightError(
        `-o ${opt}: ${where(m, no)} (${m.fstype} ${m.source}, ${m.mountOptions}): through this root-made mount ${WHAT[opt]}; ` +
          `drop -o ${opt} (the mount is ${no} without it), or remount ${m.mountPoint} without ${no} if you trust its files`,
      );
    }
  }
  const noexec = exec === 0 ? [holder, ...inside].find((m) => has(m, 'noexec')) : undefined;
  if (!noexec) return { options: [] };
  return { options: ['noexec'], note: `mounted noexec: ${where(noexec, 'noexec')}, and one mount has one exec flag for all of SRC` };
}

/** The mount SRC is on, by the mount id of a descriptor of it (exact, unlike a path-prefix guess under overmounts). */
async function holdingMount(src: string, mounts: MountInfo[]): Promise<MountInfo> {
  const fd = sys.openPath(AT_FDCWD, src, C.O_DIRECTORY);
  if (fd < 0) throw new PreflightError(`source ${src}: ${sys.errnoError(-fd, 'open', src).message}`);
  try {
    const id = /^mnt_id:\s*(\d+)$/m.exec(await readFile(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
    const m = mounts.find((x) => x.mountId === id);
    // Not finding it must not read as "no flags": refuse rather than guess.
    if (!m) throw new PreflightError(`source ${src}: its mount (id ${id ?? '?'}) is not in /proc/self/mountinfo, so -o suid/dev cannot be checked against it`);
    return m;
  } finally {
    sys.close(fd);
  }
}
