// /proc/self/mountinfo, parsed once for every user: the mapper (device
// identity) and the FUSE front-end (what is mounted at MNT, its fusectl
// connection). Reading it never touches a mount, so a FUSE server may call it.
import { readFile } from 'node:fs/promises';

export interface MountInfo {
  /** Unique per mount; a new mount of the same device gets a new one. */
  mountId: string;
  majorMinor: string;
  /** Kernel device number (major << 20 | minor): also the FUSE connection's name in fusectl. */
  dev: number;
  /** The mount's root inside its filesystem (a btrfs subvolume, a bind-mounted subdirectory). */
  fsRoot: string;
  mountPoint: string;
  /** Per-mount options (rw,nosuid,nodev,noexec,relatime ...): what statvfs's f_flag reports. */
  mountOptions: string;
  fstype: string;
  source: string;
  superOptions: string;
}

// mountinfo escapes space, tab, newline and backslash as \ooo octal.
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMountinfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (dash < 0 || f.length < dash + 4) continue;
    const [major, minor] = f[2]!.split(':').map(Number) as [number, number];
    out.push({
      mountId: f[0]!,
      majorMinor: f[2]!,
      dev: (major << 20) | minor,
      fsRoot: unescape(f[3]!),
      mountPoint: unescape(f[4]!),
      mountOptions: f[5]!,
      fstype: f[dash + 1]!,
      source: unescape(f[dash + 2]!),
      superOptions: f[dash + 3]!,
    });
  }
  return out;
}

export function readMountinfo(): Promise<MountInfo[]> {
  return readFile('/proc/self/mountinfo', 'utf8').then(parseMountinfo);
}

/** The topmost mount at `path` (the last listed wins, as in the kernel's view), if any. */
export async function mountAt(path: string): Promise<MountInfo | undefined> {
  return (await readMountinfo()).filter((m) => m.mountPoint === path).at(-1);
}
