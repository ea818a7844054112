// The mount a descriptor was opened on: /proc/self/fdinfo/N names its mount
// id, /proc/self/mountinfo that mount's flags. Exact where a path is not:
// under bind mounts of one filesystem with different flags, or a mount made
// inside SRC after the server started.
import { readFile } from 'node:fs/promises';
import { type MountInfo, readMountinfo } from '../mountinfo.js';

export async function mountOfFd(fd: number): Promise<MountInfo | undefined> {
  const id = /^mnt_id:\s*(\d+)$/m.exec(await readFile(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
  if (id === undefined) return undefined;
  return (await readMountinfo()).find((m) => m.mountId === id);
}
