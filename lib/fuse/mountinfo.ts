// /proc/self/mountinfo, read without touching any mount (a FUSE server must
// never stat its own mountpoint from its own process).
import { readFile } from 'node:fs/promises';

export interface MountEntry {
  /** Kernel device number (major << 20 | minor): also the FUSE connection's name in fusectl. */
  dev: number;
  mountPoint: string;
  fsType: string;
  source: string;
}

// Fields are space-separated with spaces, tabs, newlines and backslashes as \ooo.
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0) continue;
    const [major, minor] = f[2].split(':').map(Number);
    out.push({ dev: (major << 20) | minor, mountPoint: unescape(f[4]), fsType: f[sep + 1], source: unescape(f[sep + 2] ?? '') });
  }
  return out;
}

/** The topmost mount at `path` (the last listed wins, as in the kernel's view), if any. */
export async function mountAt(path: string): Promise<MountEntry | undefined> {
  const all = parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'));
  return all.filter((m) => m.mountPoint === path).at(-1);
}

export const FSTYPE = 'fuse.stableid';
