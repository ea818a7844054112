// `stableid mount SRC MNT [-o OPTIONS]` (and `stableid-mount SRC MNT`): serve
// SRC at MNT through FUSE with stable ids, in the foreground, until SIGINT or
// SIGTERM (unmount, exit 0) or an external umount (exit 0).
//
// Process layout: one mapper (the id table of SRC) and one backend are opened
// here and shared by every front-end this process serves. FUSE is the first;
// a second (9P, `--9p ADDR`) starts in the marked place on the same backend.
import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { PassthroughBackend } from '../../backend/passthrough.js';
import { readOnly } from '../../backend/read-only.js';
import { FuseMount } from '../../fuse/mount.js';
import { ListenError, parseListen } from '../../ninep/listen.js';
import { type NinepServer, startNinepServer } from '../../ninep/server.js';
import { OptionError, parseMountOptions } from '../../fuse/options.js';
import { checkDevFuse, checkMountpoint, checkNesting, checkSource, PreflightError } from '../../fuse/preflight.js';
import type { IdMapper } from '../../mapper/mapper.js';
import { openMapper } from '../../mapper/open.js';
import { StableIdMapper } from '../../mapper/stable-mapper.js';
import { IdOpener } from '../../backend/open-by-id.js';
import { TableCorruptError } from '../../table/record.js';
import { ExportLockedError } from '../../table/lock.js';
import { type CommandFactory, type Context, repeated } from '../context.js';
import { UsageError } from '../io.js';

export interface MountArgs {
  src: string;
  mnt: string;
  /** The values of every -o. */
  options: string[];
  /** Also serve 9P2000.L on these addresses (tcp:HOST:PORT, unix:PATH), on the same mapper and backend. */
  ninep?: string[];
  /** Where the id table goes when SRC cannot hold it. */
  stateDir?: string;
}

export type OpenMapper = (opts: { root: string; stateDir?: string; log?: (msg: string) => void }) => Promise<IdMapper>;

export interface MountDeps {
  openMapper: OpenMapper;
}

const defaultDeps: MountDeps = { openMapper };

/** Serves until stopped; returns the exit code. Errors the user can fix are UsageErrors (one line). */
export async function runMount(ctx: Context, args: MountArgs, deps: MountDeps = defaultDeps): Promise<number> {
  const { io } = ctx;
  const mnt = resolve(args.mnt);
  let options;
  let src: string;
  try {
    options = parseMountOptions(args.options, resolve(args.src));
    args.ninep?.forEach(parseListen); // a bad address is refused before anything is locked or mounted
    src = await checkSource(resolve(args.src));
    checkNesting(src, mnt);
    await checkDevFuse();
    const note = await checkMountpoint(mnt, { nonempty: options.nonempty });
    if (note) io.err(`stableid: ${note}`);
  } catch (err) {
    if (err instanceof OptionError || err instanceof ListenError) throw new UsageError(err.message, 2);
    if (err instanceof PreflightError) throw new UsageError(err.message, 1);
    throw err;
  }
  // The kernel already applied the caller's umask to every mode it sends.
  process.umask(0);
  let mapper: IdMapper;
  try {
    mapper = await deps.openMapper({ root: src, stateDir: args.stateDir, log: (msg) => io.err(msg.startsWith('stableid:') ? msg : `stableid: ${msg}`) });
  } catch (err) {
    if (err instanceof ExportLockedError) throw new UsageError(err.message, 1);
    if (err instanceof TableCorruptError) throw new UsageError(`the id table is damaged: ${err.message} (see stableid table --help; nothing was mounted)`, 1);
    throw err;
  }
  let backend: PassthroughBackend | undefined;
  const warn = (msg: string) => io.err(`stableid: ${msg}`);
  // Ids not held in this run (NFS handles after a restart) are opened by inode number through the table.
  const opener = mapper instanceof StableIdMapper ? new IdOpener({ mapper, log: warn }) : undefined;
  try {
    backend = await PassthroughBackend.open({ root: src, mapper, chownToCaller: options.allowOther && process.getuid?.() === 0, warn, opener });
    io.err(`stableid: up to ${backend.inodes.budget} files held open for the kernel at once (descriptors); more are reopened by file handle`);
    const stop = ctx.waitForStop();
    let fuse: FuseMount;
    try {
      fuse = await FuseMount.start({ backend, mountpoint: mnt, options, warn });
    } catch (err) {
      throw new UsageError(`cannot mount ${mnt}: ${(err as Error).message}`, 1);
    }
    // The second front-end: 9P on the same backend, so one mapper (one table writer) serves both.
    let ninep: NinepServer | undefined;
    if (args.ninep?.length) {
      try {
        // -o ro is a kernel mount flag for FUSE; 9P has none, so the backend refuses changes itself.
        const served = options.readOnly ? readOnly(backend) : backend;
        ninep = await startNinepServer({ backend: served, listen: args.ninep, exportPath: src, log: (msg) => io.err(`stableid: 9p: ${msg}`) });
      } catch (err) {
        await fuse.unmount();
        throw err instanceof ListenError ? new UsageError(`${err.message} (nothing is mounted)`, 1) : err;
      }
    }
    io.out(`stableid: serving ${src} at ${mnt}${ninep ? ` and over 9P2000.L at ${ninep.addresses.join(' ')}` : ''}`);
    const why = await Promise.race([fuse.ended.then(() => 'unmounted' as const), stop]);
    await ninep?.close();
    if (why !== 'unmounted') await fuse.unmount();
    return 0;
  } finally {
    backend?.close();
    await opener?.close();
    await mapper.close();
  }
}

export const mountCommand: CommandFactory = (ctx: Context) => ({
  command: 'mount <src> <mnt>',
  describe: 'Serve SRC at MNT through FUSE: every file keeps one stable 64-bit id (st_ino, node id, d_ino)',
  builder: (y: Argv) =>
    y
      .positional('src', { type: 'string', describe: 'the directory to export', demandOption: true })
      .positional('mnt', { type: 'string', describe: 'an empty directory to mount on', demandOption: true })
      .option('foreground', {
        alias: 'f',
        type: 'boolean',
        default: true,
        describe: 'serve in the foreground (always; accepted for compatibility with other FUSE tools)',
      })
      .example('stableid-mount /srv/data /srv/stable', 'serve until Ctrl-C or SIGTERM (then unmount and exit 0)')
      .example('stableid-mount -o allow_other /srv/data /srv/stable', 'let smbd and other users in; share /srv/stable (stableid smb-conf prints the section)')
      .example('stableid-mount /srv/data /srv/stable --9p tcp:127.0.0.1:5640', 'the same ids over 9P for a VM')
      .epilog(
        'Ids: a file on SRC\'s own filesystem keeps its inode number; files on filesystems mounted inside SRC get ' +
          'prefix << 48 | ino, with the prefix kept in SRC\'s user.stableid.* xattrs (see stableid table show SRC). ' +
          'Samba: docs/samba.md. A damaged table stops the start: stableid table verify SRC.',
      )
      .option('9p', {
        type: 'string',
        describe: 'also serve SRC over 9P2000.L at tcp:HOST:PORT or unix:PATH (repeatable), with the same ids as the mount',
      })
      .option('state-dir', {
        type: 'string',
        describe: 'where the id table goes when SRC cannot hold it (read-only, no user xattrs); default /var/lib/stableid',
      })
      .option('o', {
        type: 'string',
        describe:
          'mount options, comma-separated as in mount(8): allow_other (implies default_permissions), ro, ' +
          'default_permissions, entry_timeout=S, attr_timeout=S (default 1), kernel_cache | auto_cache (default) | direct_io, ' +
          'writeback_cache, max_write=BYTES, threads=N (default 4), nonempty, fsname=NAME, and the kernel\'s nosuid, nodev, noexec, noatime ...',
      }),
  handler: async (argv) => {
    const { src, mnt, stateDir } = argv as unknown as { src: string; mnt: string; stateDir?: string };
    ctx.exitCode = await runMount(ctx, { src, mnt, options: repeated(argv.o), ninep: repeated(argv['9p']), stateDir });
  },
});
