// The first process of a private mount namespace for the mount(8) tests
// (test/helpers/mount-ns.ts starts it under `unshare --mount`):
//   node ns-holder.js '{"overlays": {"/usr/sbin": "/tmp/x/sbin"}, "keep": ["/tmp", "/work/repo"]}'
// 1. Drops this namespace's copies of other mounts. The host's root is
//    private, so a copy would keep another session's FUSE or loop mount alive
//    after it unmounts it (its server would not see the end).
// 2. Lays each given directory over a system one (read-only overlayfs), so
//    mount(8) finds /sbin/mount.fuse.stableid of this checkout without
//    installing anything on the host, and gives libmount a private
//    /run/mount (utab).
// 3. Prints "ready" and waits. When stdin closes (the test ended, or died),
//    it lazily unmounts every fuse.stableid mount here, so their servers end,
//    and exits; the namespace goes with its last process.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { parseMountinfo } from '../../lib/mountinfo.js';

const config = JSON.parse(process.argv[2] ?? '{}') as { overlays?: Record<string, string>; keep?: string[] };
// Kept: the system mounts, and any mount the test's own paths (its temp dir, this checkout) live on.
const under = (path: string, mnt: string) => mnt === '/' || path === mnt || path.startsWith(`${mnt}/`);
const keep = (p: string) => p === '/' || /^\/(proc|sys|dev)(\/|$)/.test(p) || p.startsWith('/mnt/sandboxing') || (config.keep ?? []).some((k) => under(k, p));
const mounts = () => parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
const umountLazy = (p: string) => {
  try {
    // -c: no canonicalising, which would stat the mountpoint and hang on a stuck FUSE server.
    execFileSync('umount', ['-l', '-c', '--', p], { stdio: 'ignore', timeout: 5000 });
  } catch {
    /* already gone with its parent */
  }
};

for (const m of mounts().reverse()) if (!keep(m.mountPoint)) umountLazy(m.mountPoint);
for (const [target, upper] of Object.entries(config.overlays ?? {})) {
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${upper}:${target}`, target]);
}
mkdirSync('/run/mount', { recursive: true });
execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', '/run/mount']);
process.stdout.write('ready\n');

const cleanUp = () => {
  for (const m of mounts().reverse()) if (m.fstype === 'fuse.stableid') umountLazy(m.mountPoint);
  process.exit(0);
};
process.stdin.on('end', cleanUp).on('error', cleanUp).resume();
process.on('SIGTERM', cleanUp);
