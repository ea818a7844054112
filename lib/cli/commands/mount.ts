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
import { checkDevFuse, checkMountpoint, checkNesting, checkSource, PreflightError, settlesWithin } from '../../fuse/preflight.js';
import type { IdMapper } from '../../mapper/mapper.js';
import { openMapper } from '../../mapper/open.js';
import { StableIdMapper } from '../../mapper/stable-mapper.js';
import { IdOpener } from '../../backend/open-by-id.js';
import { type StatusServer, serveStatus, statusNames } from '../../status/control.js';
import { countsSnapshot, RequestCounter } from '../../status/counters.js';
import { ninepMessageName } from '../../status/names.js';
import { type Readiness, StartReporter } from '../../status/readiness.js';
import { type StatusSnapshot, type StatusViews, summaryLine, takeSnapshot } from '../../status/snapshot.js';
import { tableView } from '../../status/table-view.js';
import { TableCorruptError } from '../../table/record.js';
import { ExportLockedError } from '../../table/lock.js';
import { type CommandFactory, type Context, repeated } from '../context.js';
import { splitFstabOptions } from '../fstab-options.js';
import { mountpointPath } from '../mountpoint.js';
import { checkSourceFlags } from '../source-flags.js';
import { UsageError } from '../io.js';
import { createLogger } from '../log.js';
import { packageVersion } from '../version.js';

export interface MountArgs {
  src: string;
  mnt: string;
  /** The values of every -o (fstab's and mount(8)'s own options are accepted and ignored). */
  options: string[];
  /** Also serve 9P2000.L on these addresses (tcp:HOST:PORT, unix:PATH), on the same mapper and backend. */
  ninep?: string[];
  /** Where the id table goes when SRC cannot hold it. */
  stateDir?: string;
  /** Told once the mount answers, or why the start failed (systemd's notify socket, the mount helper's pipe). */
  readiness?: Readiness;
  /** The file stderr goes to, when the mount helper made one (shown by status). */
  logFile?: string;
}

export type OpenMapper = (opts: { root: string; stateDir?: string; log?: (msg: string) => void }) => Promise<IdMapper>;

export interface MountDeps {
  openMapper: OpenMapper;
}

const defaultDeps: MountDeps = { openMapper };

/** Serves until stopped; returns the exit code. Errors the user can fix are UsageErrors (one line). */
export async function runMount(ctx: Context, args: MountArgs, deps: MountDeps = defaultDeps): Promise<number> {
  let mnt = resolve(args.mnt);
  const log = createLogger({ io: ctx.io, tag: mnt });
  let options;
  let src: string;
  let fstab;
  try {
    fstab = splitFstabOptions(args.options);
    options = parseMountOptions(fstab.mount, resolve(args.src));
    fstab.ninep.push(...(args.ninep ?? []));
    fstab.ninep.forEach(parseListen); // a bad address is refused before anything is locked or mounted
    src = await checkSource(resolve(args.src));
    const inherited = await checkSourceFlags(src, options.fuse);
    options.fuse.push(...inherited.options);
    if (inherited.note) log.notice(inherited.note);
    // Links on the way resolved (the kernel records the real path), refused where a user could have made them.
    mnt = await mountpointPath(mnt);
    checkNesting(src, mnt);
    await checkDevFuse();
    const note = await checkMountpoint(mnt, { nonempty: options.nonempty });
    if (note) log.notice(note);
  } catch (err) {
    if (err instanceof OptionError || err instanceof ListenError) throw new UsageError(err.message, 2);
    if (err instanceof PreflightError) throw new UsageError(err.message, 1);
    throw err;
  }
  if (fstab.ignored.length) log.debug(`ignored (fstab and mount(8) options): ${fstab.ignored.join(',')}`);
  // The kernel already applied the caller's umask to every mode it sends.
  process.umask(0);
  let mapper: IdMapper;
  try {
    // The mapper's messages carry no level: apart from the start-up line saying where the table
    // is, each reports something an admin should see (prefixes running out, devices changing, writes failing).
    mapper = await deps.openMapper({ root: src, stateDir: args.stateDir ?? fstab.stateDir, log: (msg) => (/^table of /.test(msg) ? log.info(msg) : log.warn(msg)) });
  } catch (err) {
    if (err instanceof ExportLockedError) throw new UsageError(err.message, 1);
    if (err instanceof TableCorruptError) throw new UsageError(`the id table is damaged: ${err.message} (see stableid table --help; nothing was mounted)`, 1);
    throw err;
  }
  let backend: PassthroughBackend | undefined;
  const warn = (msg: string) => log.warn(msg);
  // Ids not held in this run (NFS handles after a restart) are opened by inode number through the table.
  const opener = mapper instanceof StableIdMapper ? new IdOpener({ mapper, log: warn }) : undefined;
  try {
    backend = await PassthroughBackend.open({ root: src, mapper, chownToCaller: options.allowOther && process.getuid?.() === 0, warn, opener, descriptorBudget: options.maxOpenFiles });
    log.info(`up to ${backend.inodes.budget} files held open for the kernel at once (descriptors); more are reopened by file handle`);
    const stop = ctx.waitForStop();
    let fuse: FuseMount;
    try {
      fuse = await FuseMount.start({ backend, mountpoint: mnt, options, warn: (msg) => log.warn(msg) });
    } catch (err) {
      throw new UsageError(`cannot mount ${mnt}: ${(err as Error).message}`, 1);
    }
    // The second front-end: 9P on the same backend, so one mapper (one table writer) serves both.
    let ninep: NinepServer | undefined;
    const ninepRequests = new RequestCounter(ninepMessageName);
    let status: StatusServer | undefined;
    let snapshot: () => StatusSnapshot;
    try {
      if (fstab.ninep.length) {
        try {
          // -o ro is a kernel mount flag for FUSE; 9P has none, so the backend refuses changes itself.
          const served = options.readOnly ? readOnly(backend) : backend;
          ninep = await startNinepServer({ backend: served, listen: fstab.ninep, exportPath: src, log: (msg) => log.warn(`9p: ${msg}`), onRequest: ninepRequests.count });
        } catch (err) {
          throw err instanceof ListenError ? new UsageError(`${err.message} (nothing is mounted)`, 1) : err;
        }
      }
      const served = ninep;
      const views: StatusViews = {
        source: src,
        table: tableView(mapper),
        fuse: { mountpoint: mnt, options: fstab.mount, openNodes: () => fuse.ops.nodes.size, requests: () => countsSnapshot(fuse.requestCounts()) },
        ninep: served && { addresses: served.addresses, connections: () => served.connections(), requests: () => ninepRequests.snapshot() },
        log: args.logFile,
      };
      const since = new Date();
      snapshot = () => takeSnapshot(views, since, packageVersion());
      status = await serveStatus(await statusNames(src, mnt), snapshot, (msg) => log.warn(msg));
      const answered = fuse.answers().catch(async (err: Error) => {
        // Unmounted by someone else while starting (umount right after the
        // mount appeared): the stat fails first, then the session ends. That
        // is a stop, not a failure.
        if (await settlesWithin(fuse.ended, 2000)) return;
        throw new UsageError(`cannot mount ${mnt}: ${err.message} (nothing is mounted)`, 1);
      });
      // A stop signal while the first answer is awaited (up to 30 s) stops at once.
      const early = await Promise.race([answered.then(() => undefined), stop]);
      if (early !== undefined) {
        answered.catch(() => {});
        log.info(`${early} while starting: unmounting ${mnt}`);
        await status.close();
        await ninep?.close();
        await fuse.unmount();
        log.info('stopped');
        return 0;
      }
    } catch (err) {
      await status?.close();
      await ninep?.close();
      await fuse.unmount();
      throw err;
    }
    const kernel = fuse.info();
    log.info(kernel.passthrough ? `kernel FUSE passthrough on (protocol 7.${kernel.minor}): reads and writes of open files go straight to ${src}` : `kernel FUSE passthrough off: ${kernel.passthroughOff}; reads and writes go through this server`);
    const serving = `serving ${src} at ${mnt}${ninep ? ` and over 9P2000.L at ${ninep.addresses.join(' ')}` : ''}`;
    log.info(`${serving} (pid ${process.pid})`);
    args.readiness?.ready(serving);
    const onUsr1 = () => log.info(summaryLine(snapshot()));
    process.on('SIGUSR1', onUsr1);
    const why = await Promise.race([fuse.ended.then(() => 'unmounted' as const), stop]);
    process.off('SIGUSR1', onUsr1);
    args.readiness?.stopping();
    log.info(why === 'unmounted' ? `${mnt} was unmounted: stopping` : `${why}: unmounting ${mnt}`);
    await status.close();
    await ninep?.close();
    if (why !== 'unmounted') await fuse.unmount();
    log.info('stopped');
    return 0;
  } finally {
    backend?.close();
    await opener?.close();
    await mapper.close();
  }
}

/** The one-line reason a start failed, as the mount helper and systemd show it. */
function reasonOf(err: unknown): string {
  const e = err as Error;
  const known = e instanceof UsageError || typeof (e as { exitCode?: unknown }).exitCode === 'number';
  return known ? e.message : `internal error: ${e?.message ?? String(err)}`;
}

export const mountCommand: CommandFactory = (ctx: Context) => ({
  command: 'mount <src> <mnt>',
  describe: 'Serve SRC at MNT through FUSE: every file keeps one stable 64-bit id (st_ino, node id, d_ino)',
  builder: (y: Argv) =>
    y
      .positional('src', { type: 'string', describe: 'the directory to export', demandOption: true })
      .positional('mnt', { type: 'string', describe: 'an empty directory to mount on (not a symbolic link; links on its path only where no other user can change them)', demandOption: true })
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
      .option('ready-fd', {
        type: 'number',
        hidden: true,
        describe: 'write READY (or FAIL and the reason) to this inherited fd once the mount answers (used by mount.fuse.stableid)',
      })
      .option('log-file', { type: 'string', hidden: true, describe: 'where stderr goes (set by mount.fuse.stableid; shown by stableid status)' })
      .option('o', {
        type: 'string',
        describe:
          'mount options, comma-separated as in mount(8): allow_other (implies default_permissions), ro, ' +
          'default_permissions, entry_timeout=S, attr_timeout=S (default 1), kernel_cache | auto_cache (default) | direct_io, ' +
          'writeback_cache, max_write=BYTES, threads=N (default 4), nonempty, fsname=NAME, and the kernel\'s noexec, noatime ...; ' +
          'the mount is nosuid,nodev unless -o suid / -o dev, each refused when SRC (or a mount inside it) is mounted nosuid / nodev',
      }),
  handler: async (argv) => {
    const { src, mnt, stateDir, readyFd, logFile } = argv as unknown as { src: string; mnt: string; stateDir?: string; readyFd?: number; logFile?: string };
    // Under systemd (Type=notify) the variable is set; children must not inherit it.
    const notifySocket = process.env.NOTIFY_SOCKET;
    delete process.env.NOTIFY_SOCKET;
    const readiness = new StartReporter({ notifySocket, readyFd, warn: (msg) => createLogger({ io: ctx.io }).warn(msg) });
    try {
      ctx.exitCode = await runMount(ctx, { src, mnt, options: repeated(argv.o), ninep: repeated(argv['9p']), stateDir, readiness, logFile });
    } catch (err) {
      readiness.failed(reasonOf(err));
      throw err;
    }
  },
});
