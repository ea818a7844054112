// The generic mount options (-o ro, nosuid, allow_other ...) as mount(2)
// takes them: MS_* flags, and the FUSE kernel options that go in its data
// string (fd, rootmode, user_id and group_id are added by the addon). As
// libfuse did, a FUSE mount is nosuid and nodev unless asked otherwise.
import type { MountSpec } from './native.js';

// <sys/mount.h>
const MS_RDONLY = 1;
export const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_NOEXEC = 8;
const MS_SYNCHRONOUS = 16;
const MS_DIRSYNC = 128;
const MS_NOATIME = 1024;
const MS_NODIRATIME = 2048;
const MS_RELATIME = 1 << 21;
const MS_STRICTATIME = 1 << 24;
const MS_LAZYTIME = 1 << 25;

/** Option -> [flags it sets, flags it clears]. */
const FLAGS: Record<string, [number, number]> = {
  ro: [MS_RDONLY, 0], rw: [0, MS_RDONLY],
  nosuid: [MS_NOSUID, 0], suid: [0, MS_NOSUID],
  nodev: [MS_NODEV, 0], dev: [0, MS_NODEV],
  noexec: [MS_NOEXEC, 0], exec: [0, MS_NOEXEC],
  sync: [MS_SYNCHRONOUS, 0], async: [0, MS_SYNCHRONOUS],
  dirsync: [MS_DIRSYNC, 0],
  noatime: [MS_NOATIME, 0], atime: [0, MS_NOATIME],
  nodiratime: [MS_NODIRATIME, 0], diratime: [0, MS_NODIRATIME],
  relatime: [MS_RELATIME, 0], norelatime: [0, MS_RELATIME],
  strictatime: [MS_STRICTATIME, 0],
  lazytime: [MS_LAZYTIME, 0], nolazytime: [0, MS_LAZYTIME],
};

/** FUSE's own kernel options; max_read and blksize take a number. */
const KERNEL = new Set(['allow_other', 'default_permissions']);
const KERNEL_NUMERIC = new Set(['max_read', 'blksize']);

/** Every generic option this module knows (for error messages). */
export const KNOWN_MOUNT_OPTIONS = [...Object.keys(FLAGS), ...KERNEL, ...[...KERNEL_NUMERIC].map((k) => `${k}=N`)];

/** One option, escaped to stand in a comma-separated list. */
export const escapeOption = (s: string): string => s.replace(/[\\,]/g, (c) => `\\${c}`);

/** Whether a generic mount option is one mount(2) or FUSE takes. */
export function isMountOption(opt: string): boolean {
  const eq = opt.indexOf('=');
  if (eq < 0) return opt in FLAGS || KERNEL.has(opt);
  return KERNEL_NUMERIC.has(opt.slice(0, eq)) && /^\d+$/.test(opt.slice(eq + 1));
}

/** The MS_* flags of the options, from nosuid,nodev (the last of suid and nosuid wins). */
function flagsOf(opts: string[]): number {
  let flags = MS_NOSUID | MS_NODEV;
  for (const opt of opts) {
    const f = FLAGS[opt];
    if (f) flags = (flags | f[0]) & ~f[1];
  }
  return flags;
}

/**
 * Which of suid and dev the options turn on. Each re-exports what SRC holds
 * (set-user-id files, device nodes) with effect, so the CLI allows it only
 * where SRC's own mounts do (lib/cli/source-flags.ts).
 */
export function reenabled(opts: string[]): ('suid' | 'dev')[] {
  const flags = flagsOf(opts);
  return [...(flags & MS_NOSUID ? [] : ['suid' as const]), ...(flags & MS_NODEV ? [] : ['dev' as const])];
}

/** opts: the generic options (already checked); fsname names the mount's source. */
export function mountSpec(opts: string[], fsname: string, subtype: string): MountSpec {
  const flags = flagsOf(opts);
  const data = opts.filter((opt) => !FLAGS[opt]);
  return {
    fsname,
    fstype: `fuse.${subtype}`,
    flags,
    data: data.join(','),
    fusermountOpts: [...opts, `fsname=${escapeOption(fsname)}`, `subtype=${subtype}`].join(','),
  };
}
