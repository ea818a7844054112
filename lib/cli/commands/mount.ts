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
import { FuseMount } from '../../fuse/mount.js';
import { OptionError, parseMountOptions } from '../../fuse/options.js';
import { checkDevFuse, checkMountpoint, checkNesting, checkSource, PreflightError } from '../../fuse/preflight.js';
import type { IdMapper } from '../../mapper/mapper.js';
import { openMapper } from '../../mapper/open.js';
import { TableCorruptError } from '../../table/record.js';
import { ExportLockedError } from '../../table/lock.js';
import type { CommandFactory, Context } from '../context.js';
import { UsageError } from '../io.js';

export interface MountArgs {
  src: string;
  mnt: string;
  /** The values of every -o. */
  options: string[];
}

export type OpenMapper = (opts: { root: string; log?: (msg: string) => void }) => Promise<IdMapper>;

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
    src = await checkSource(resolve(args.src));
    checkNesting(src, mnt);
    await checkDevFuse();
    const note = await checkMountpoint(mnt, { nonempty: options.nonempty });
    if (note) io.err(`stableid: ${note}`);
  } catch (err) {
    if (err instanceof OptionError) throw new UsageError(err.message, 2);
    if (err instanceof PreflightError) throw new UsageError(err.message, 1);
    throw err;
  }
  // The kernel already applied the caller's umask to every mode it sends.
  process.umask(0);
  let mapper: IdMapper;
  try {
    mapper = await deps.openMapper({ root: src, log: (msg) => io.err(msg.startsWith('stableid:') ? msg : `stableid: ${msg}`) });
  } catch (err) {
    if (err instanceof ExportLockedError) throw new UsageError(err.message, 1);
    if (err instanceof TableCorruptError) throw new UsageError(`the id table is damaged: ${err.message} (see stableid table --help; nothing was mounted)`, 1);
    throw err;
  }
  try {
    const backend = new PassthroughBackend({ root: src, mapper, chownToCaller: options.allowOther && process.getuid?.() === 0 });
    const rootId = (await backend.getattr('')).ino;
    const stop = ctx.waitForStop();
    let fuse: FuseMount;
    try {
      fuse = await FuseMount.start({ backend, rootId, mountpoint: mnt, options, warn: (msg) => io.err(`stableid: ${msg}`) });
    } catch (err) {
      throw new UsageError(`cannot mount ${mnt}: ${(err as Error).message}`, 1);
    }
    // A second front-end (the lead's `--9p ADDR`) starts here, on `backend`.
    io.out(`stableid: serving ${src} at ${mnt}`);
    const why = await Promise.race([fuse.ended.then(() => 'unmounted' as const), stop]);
    if (why !== 'unmounted') await fuse.unmount();
    return 0;
  } finally {
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
      .option('o', {
        type: 'string',
        array: true,
        describe:
          'mount options, comma-separated as in mount(8): allow_other (implies default_permissions), ro, ' +
          'default_permissions, entry_timeout=S, attr_timeout=S (default 1), kernel_cache | auto_cache (default) | direct_io, ' +
          'writeback_cache, max_write=BYTES, nonempty, fsname=NAME, and the kernel\'s nosuid, nodev, noexec, noatime ...',
      }),
  handler: async (argv) => {
    const { src, mnt, o } = argv as unknown as { src: string; mnt: string; o?: string[] };
    ctx.exitCode = await runMount(ctx, { src, mnt, options: o ?? [] });
  },
});
