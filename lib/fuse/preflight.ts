// Checks before mounting, each failing with one line that names the problem
// and the fix: /dev/fuse, the source, the mountpoint (missing, not a
// directory, not empty, already mounted). A mountpoint left behind by a
// stableid server that died (kill -9: "Transport endpoint is not connected")
// is unmounted here, so the next start simply works.
import { execFile } from 'node:child_process';
import { constants as C } from 'node:fs';
import { access, readdir, realpath, stat } from 'node:fs/promises';
import { getSystemErrorName, promisify } from 'node:util';
import { isCode } from '../errno.js';
import { FSTYPE, mountAt } from './mountinfo.js';
import { native } from './native.js';

const run = promisify(execFile);

export class PreflightError extends Error {}

export async function checkDevFuse(dev = '/dev/fuse'): Promise<void> {
  try {
    await access(dev, C.R_OK | C.W_OK);
  } catch (err) {
    if (isCode(err, 'ENOENT')) throw new PreflightError(`${dev} is missing: load the fuse module (modprobe fuse), or give the container the device (docker run --device /dev/fuse --cap-add SYS_ADMIN)`);
    throw new PreflightError(`${dev} cannot be opened (${(err as Error).message}): run as root or add the user to the fuse group`);
  }
}

/** SRC must be a directory; returns its real path. */
export async function checkSource(src: string): Promise<string> {
  let st;
  try {
    st = await stat(src);
  } catch (err) {
    if (isCode(err, 'ENOENT')) throw new PreflightError(`source ${src} does not exist`);
    throw new PreflightError(`source ${src}: ${(err as Error).message}`);
  }
  if (!st.isDirectory()) throw new PreflightError(`source ${src} is not a directory: stableid exports directories`);
  return realpath(src);
}

/** Refuses a mountpoint inside the source or a source inside the mountpoint: each would make the server serve itself. */
export function checkNesting(src: string, mnt: string): void {
  const inside = (a: string, b: string) => a === b || a.startsWith(b === '/' ? '/' : `${b}/`);
  if (inside(mnt, src)) throw new PreflightError(`mountpoint ${mnt} is inside the source ${src}: choose a mountpoint outside it`);
  if (inside(src, mnt)) throw new PreflightError(`source ${src} is inside the mountpoint ${mnt}: choose a mountpoint outside it`);
}

/**
 * MNT must be an empty directory that is not a mount point. Returns a note
 * when a stale stableid mount was cleaned up. `mnt` must be absolute and
 * normalised (it is compared with /proc/self/mountinfo).
 */
export async function checkMountpoint(mnt: string, opts: { nonempty: boolean }): Promise<string | undefined> {
  let note: string | undefined;
  const mounted = await mountAt(mnt);
  if (mounted) {
    const stale = await withTimeout(stat(mnt).then(() => false, (err: unknown) => isCode(err, 'ENOTCONN')), 5000);
    if (stale === undefined) throw new PreflightError(`mountpoint ${mnt} does not answer (a hung ${mounted.fstype} mount): abort it with echo 1 > /sys/fs/fuse/connections/${mounted.dev}/abort, then umount -l ${mnt}`);
    if (!stale || mounted.fstype !== FSTYPE) {
      throw new PreflightError(`mountpoint ${mnt} is busy: ${mounted.source} (${mounted.fstype}) is mounted there; unmount it first (fusermount3 -u ${mnt} or umount ${mnt})`);
    }
    await lazyUnmount(mnt);
    note = `cleaned up a stale stableid mount at ${mnt} (its server had stopped without unmounting)`;
  }
  let st;
  try {
    st = await stat(mnt);
  } catch (err) {
    if (isCode(err, 'ENOENT')) throw new PreflightError(`mountpoint ${mnt} does not exist: create it first (mkdir -p ${mnt})`);
    throw new PreflightError(`mountpoint ${mnt}: ${(err as Error).message}`);
  }
  if (!st.isDirectory()) throw new PreflightError(`mountpoint ${mnt} is not a directory`);
  if (!opts.nonempty && (await readdir(mnt)).length > 0) {
    throw new PreflightError(`mountpoint ${mnt} is not empty: use an empty directory, or -o nonempty to mount over its contents`);
  }
  return note;
}

/**
 * Detaches a stale FUSE mount. As root through the addon, which reaches MNT
 * without following links (umount(8) would follow one that a user swapped
 * into the path since, and unmount a host filesystem); otherwise
 * fusermount3, which checks that the mount is the caller's own.
 */
export async function lazyUnmount(mnt: string): Promise<void> {
  if (process.geteuid?.() === 0) {
    const rc = native().unmountPath(mnt);
    if (rc !== 0) throw new PreflightError(`mountpoint ${mnt}: cannot unmount the stale mount there (${getSystemErrorName(-rc)}); unmount it by hand (umount -l ${mnt})`);
    return;
  }
  await run('fusermount3', ['-u', '-z', '--', mnt], { timeout: 10_000 });
}

/** Whether p settles (either way) within ms. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return (await withTimeout(p.then(() => true, () => true), ms)) ?? false;
}

/** p's value, or undefined when it takes longer than ms (p itself is not cancelled). */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)))]).finally(() => clearTimeout(timer));
}
