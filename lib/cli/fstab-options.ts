// The -o list as mount(8) and fstab hand it over, split before the FUSE
// options are parsed: options of the server itself (9p=, state_dir=), the
// mount helper's own (log=), and options that belong to mount(8), fstab or
// systemd and mean nothing to the server, which accepts and ignores them so
// that one fstab line works with `mount`, `mount -a` and systemd alike.
import { escapeOption, OptionError, splitOptions } from '../fuse/options.js';

export interface FstabOptions {
  /** FUSE and kernel mount options, for parseMountOptions() (each one escaped). */
  mount: string[];
  /** Accepted and ignored: nofail, _netdev, x-systemd.* ... */
  ignored: string[];
  /** 9p=tcp:HOST:PORT or 9p=unix:PATH, as --9p (may be given several times). */
  ninep: string[];
  /** state_dir=DIR, as --state-dir. */
  stateDir?: string;
  /** log=FILE: where the mount helper sends the detached server's log. */
  log?: string;
}

// mount(8)'s own (auto, noauto, user, users, owner, group, nofail, defaults),
// the network-filesystem ordering hint (_netdev), swap's (sw).
const IGNORED = new Set(['defaults', 'auto', 'noauto', 'nofail', '_netdev', 'user', 'nouser', 'users', 'owner', 'group', 'sw']);
// x-*/X-*: userspace options (x-systemd.automount, x-mount.mkdir, ...); the rest name helpers or users.
const IGNORED_PREFIXES = ['x-', 'X-', 'comment=', 'user=', 'helper=', 'uhelper='];

export function splitFstabOptions(lists: string[]): FstabOptions {
  const out: FstabOptions = { mount: [], ignored: [], ninep: [] };
  for (const opt of lists.flatMap(splitOptions)) {
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? '' : opt.slice(eq + 1);
    if ((key === '9p' || key === 'state_dir' || key === 'log') && !value) throw new OptionError(`-o ${key}= needs a value (${key === '9p' ? 'tcp:HOST:PORT or unix:PATH' : key === 'log' ? 'a file' : 'a directory'})`);
    if (key === '9p') out.ninep.push(value);
    else if (key === 'state_dir') out.stateDir = value;
    else if (key === 'log') out.log = value;
    else if (IGNORED.has(opt) || IGNORED_PREFIXES.some((p) => opt.startsWith(p))) out.ignored.push(opt);
    else out.mount.push(escapeOption(opt));
  }
  return out;
}
