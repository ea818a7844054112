// `-o` mount options, as mount(8) takes them: a comma-separated list, given
// once or several times. Options of our own are taken out here; the rest must
// be mount options mount(2) or FUSE knows (allow_other, ro, nosuid, ...:
// mount-spec.ts), and anything else is refused here, naming it.
import { isMountOption, KNOWN_MOUNT_OPTIONS } from './mount-spec.js';
import type { CacheMode } from './ops.js';

export interface MountOptions {
  /** Generic mount options (mount-spec.ts turns them into mount(2)'s flags and data). */
  fuse: string[];
  /** The mount's source as df and /proc/mounts show it. */
  fsname: string;
  /** Kernel passthrough for open files when the kernel has it: on unless -o nopassthrough. */
  passthrough: boolean;
  /** Why passthrough is not asked for, when it is not (for the start-up log). */
  passthroughOff?: string;
  /** -o readdirplus=auto: the kernel asks for readdirplus only when it sees the caller stat what it lists. */
  readdirplusAuto: boolean;
  /** -o spin=US: how long the server waits for the next request before sleeping (0: never waits). */
  spinMicros: number;
  entryTimeout: number;
  attrTimeout: number;
  cache: CacheMode;
  writeback: boolean;
  /** Kernel ACL checks (FUSE_POSIX_ACL): on whenever default_permissions is. */
  posixAcl: boolean;
  /** Kernel file handles that outlive the server (NFS re-export): on unless -o noexport. */
  exportSupport: boolean;
  /** Most descriptors held for files the kernel holds (-o max_open_files=N); default from RLIMIT_NOFILE. */
  maxOpenFiles?: number;
  /** -o noatime: reads through the mount leave the source's atime alone too (O_NOATIME). */
  noatime: boolean;
  maxWrite: number;
  /** Mount over a non-empty directory. */
  nonempty: boolean;
  allowOther: boolean;
  readOnly: boolean;
  /**
   * Idle worker threads of libfuse's loop. Above 1, reads and writes on open
   * files are served by the addon on these threads (pread/pwrite on the
   * source fd) without a trip through JS; 1 sends everything through JS.
   */
  threads: number;
}

/** The kernel's ceiling for one request's payload (256 pages of 4 KiB). */
export const MAX_WRITE = 1024 * 1024;

export class OptionError extends Error {}

function seconds(name: string, value: string | undefined): number {
  const n = Number(value);
  if (value === undefined || value === '' || !Number.isFinite(n) || n < 0) throw new OptionError(`-o ${name}= needs a number of seconds >= 0, got ${JSON.stringify(value ?? '')}`);
  return n;
}

/** Splits on commas that are not escaped with a backslash. */
export function splitOptions(list: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < list.length; i++) {
    if (list[i] === '\\' && i + 1 < list.length) cur += list[++i];
    else if (list[i] === ',') (out.push(cur), (cur = ''));
    else cur += list[i];
  }
  out.push(cur);
  return out.filter((s) => s !== '');
}

export { escapeOption } from './mount-spec.js';

/**
 * lists: the values of every `-o`. src names the mount (fsname) so that
 * /proc/mounts and df show where it comes from.
 */
export function parseMountOptions(lists: string[], src: string): MountOptions {
  const opts: MountOptions = {
    fuse: [],
    fsname: src,
    // STABLEID_PASSTHROUGH=off: the whole test suite runs once without it.
    passthrough: process.env.STABLEID_PASSTHROUGH !== 'off',
    passthroughOff: process.env.STABLEID_PASSTHROUGH === 'off' ? 'turned off (STABLEID_PASSTHROUGH=off)' : undefined,
    readdirplusAuto: false,
    // A metadata request's cost is mostly the server's sleep and wake-up
    // between requests; the next one usually comes within microseconds
    // (test/bench/e2e/fuse-metadata.bench.ts). 50 µs of CPU per burst.
    spinMicros: 50,
    // Safe defaults: SRC may change behind the mount, so the kernel re-checks
    // names and attributes every second, and keeps a file's pages only while
    // its mtime and size are unchanged between opens.
    entryTimeout: 1,
    attrTimeout: 1,
    cache: 'auto',
    writeback: false,
    posixAcl: false,
    exportSupport: true,
    noatime: false,
    maxWrite: MAX_WRITE,
    nonempty: false,
    allowOther: false,
    readOnly: false,
    threads: 4,
  };
  let defaultPermissions: boolean | undefined;
  let fsname = src;
  for (const opt of lists.flatMap(splitOptions)) {
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? undefined : opt.slice(eq + 1);
    switch (key) {
      case 'entry_timeout': opts.entryTimeout = seconds(key, value); break;
      case 'attr_timeout': opts.attrTimeout = seconds(key, value); break;
      case 'timeout': opts.entryTimeout = opts.attrTimeout = seconds(key, value); break;
      case 'kernel_cache': opts.cache = 'always'; break;
      case 'auto_cache': opts.cache = 'auto'; break;
      case 'direct_io': opts.cache = 'never'; break;
      case 'writeback_cache': opts.writeback = true; break;
      case 'nonempty': opts.nonempty = true; break;
      case 'max_write': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 4096) throw new OptionError(`-o max_write= needs a byte count >= 4096, got ${JSON.stringify(value ?? '')}`);
        opts.maxWrite = Math.min(n, MAX_WRITE);
        break;
      }
      case 'threads': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1 || n > 64) throw new OptionError(`-o threads= needs a count from 1 to 64, got ${JSON.stringify(value ?? '')}`);
        opts.threads = n;
        break;
      }
      case 'fsname': fsname = value ?? ''; break;
      case 'noexport': opts.exportSupport = false; break;
      case 'passthrough': opts.passthrough = true; opts.passthroughOff = undefined; break;
      case 'nopassthrough': opts.passthrough = false; opts.passthroughOff = 'turned off (-o nopassthrough)'; break;
      case 'spin': {
        const n = Number(value);
        if (value === undefined || !Number.isInteger(n) || n < 0 || n > 10_000) throw new OptionError(`-o spin= needs microseconds from 0 to 10000, got ${JSON.stringify(value ?? '')}`);
        opts.spinMicros = n;
        break;
      }
      case 'readdirplus':
        if (value !== 'auto' && value !== 'always') throw new OptionError(`-o readdirplus= takes auto or always, got ${JSON.stringify(value ?? '')}`);
        opts.readdirplusAuto = value === 'auto';
        break;
      case 'max_open_files': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 64) throw new OptionError(`-o max_open_files= needs a count >= 64, got ${JSON.stringify(value ?? '')}`);
        opts.maxOpenFiles = n;
        break;
      }
      case 'subtype': throw new OptionError('-o subtype is fixed to "stableid" (stale-mount cleanup looks for it)');
      case 'default_permissions': defaultPermissions = true; break;
      case 'no_default_permissions': defaultPermissions = false; break;
      case 'allow_other': opts.allowOther = true; opts.fuse.push(opt); break;
      case 'ro': opts.readOnly = true; opts.fuse.push(opt); break;
      case 'rw': opts.readOnly = false; opts.fuse.push(opt); break;
      case 'noatime': opts.noatime = true; opts.fuse.push(opt); break;
      case 'atime': case 'relatime': case 'strictatime': opts.noatime = false; opts.fuse.push(opt); break;
      default:
        if (!isMountOption(opt)) throw new OptionError(`unknown mount option -o ${opt} (stableid's own are listed in --help; generic ones: ${KNOWN_MOUNT_OPTIONS.join(', ')})`);
        opts.fuse.push(opt);
    }
  }
  // The server runs as one user (usually root) and cannot check each caller's
  // permissions itself, so with allow_other the kernel must (unless the user
  // explicitly says otherwise).
  if (defaultPermissions ?? opts.allowOther) {
    opts.fuse.push('default_permissions');
    opts.posixAcl = true;
  }
  opts.fsname = fsname;
  if (opts.passthrough && opts.noatime) {
    // The kernel opens a passthrough file's backing file with the caller's
    // flags: its reads would set the source's atime, which noatime promises not to.
    opts.passthrough = false;
    opts.passthroughOff = 'not with -o noatime (the kernel\'s own reads would set the source\'s atime)';
  }
  return opts;
}
