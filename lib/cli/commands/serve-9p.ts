// `stableid serve-9p SRC [--listen ADDR]...`: serve SRC over 9P2000.L alone
// (no FUSE mount), with the same id table a FUSE mount of SRC would use, in
// the foreground until SIGINT or SIGTERM.
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Argv } from 'yargs';
import { PassthroughBackend } from '../../backend/passthrough.js';
import { readOnly } from '../../backend/read-only.js';
import { ExportLockedError } from '../../table/lock.js';
import { TableCorruptError } from '../../table/record.js';
import { openMapper } from '../../mapper/open.js';
import { DEFAULT_LISTEN, ListenError, parseListen } from '../../ninep/listen.js';
import { DEFAULT_MAX_MSIZE, startNinepServer } from '../../ninep/server.js';
import { serveStatus, statusNames } from '../../status/control.js';
import { RequestCounter } from '../../status/counters.js';
import { ninepMessageName } from '../../status/names.js';
import { type StatusViews, takeSnapshot } from '../../status/snapshot.js';
import { tableView } from '../../status/table-view.js';
import { type CommandFactory, type Context, repeated } from '../context.js';
import { UsageError } from '../io.js';
import { packageVersion } from '../version.js';

export interface Serve9pArgs {
  src: string;
  listen: string[];
  msize?: number;
  stateDir?: string;
  readOnly?: boolean;
}

export async function runServe9p(ctx: Context, args: Serve9pArgs): Promise<number> {
  const { io } = ctx;
  const src = resolve(args.src);
  try {
    args.listen.forEach(parseListen); // refuse a bad address before taking the export's lock
  } catch (err) {
    throw err instanceof ListenError ? new UsageError(err.message, 1) : err;
  }
  const st = await stat(src).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot serve ${src}: ${err.code === 'ENOENT' ? 'no such directory' : err.message}`, 1);
  });
  if (!st.isDirectory()) throw new UsageError(`cannot serve ${src}: not a directory`, 1);
  const say = (msg: string) => io.err(`stableid: ${msg}`);
  const mapper = await openMapper({ root: src, stateDir: args.stateDir, log: say }).catch((err: Error) => {
    if (err instanceof ExportLockedError || err instanceof TableCorruptError) throw new UsageError(err.message, 1);
    throw err;
  });
  let passthrough: PassthroughBackend | undefined;
  try {
    passthrough = await PassthroughBackend.open({ root: src, mapper, warn: say });
    const backend = args.readOnly ? readOnly(passthrough) : passthrough;
    const stop = ctx.waitForStop();
    const requests = new RequestCounter(ninepMessageName);
    const server = await startNinepServer({ backend, listen: args.listen, exportPath: src, maxMsize: args.msize, log: say, onRequest: requests.count }).catch((err: Error) => {
      throw err instanceof ListenError ? new UsageError(err.message, 1) : err;
    });
    // `stableid status SRC`: the same view as a mount's, without the FUSE part.
    const views: StatusViews = {
      source: src,
      table: tableView(mapper),
      ninep: { addresses: server.addresses, connections: () => server.connections(), requests: () => requests.snapshot() },
    };
    const since = new Date();
    const status = await serveStatus(await statusNames(src), () => takeSnapshot(views, since, packageVersion()), say);
    io.out(`stableid: serving ${src} over 9P2000.L at ${server.addresses.join(' ')} (aname "${src}" or "")`);
    await stop;
    await status.close();
    await server.close();
    return 0;
  } finally {
    passthrough?.close();
    await mapper.close();
  }
}

export const serve9pCommand: CommandFactory = (ctx: Context) => ({
  command: 'serve-9p <src>',
  describe: 'Serve SRC over 9P2000.L (no FUSE mount): qid.path is each file\'s stable id',
  builder: (y: Argv) =>
    y
      .positional('src', { type: 'string', describe: 'the directory to export', demandOption: true })
      .option('listen', {
        type: 'string',
        default: DEFAULT_LISTEN,
        describe: `unix:PATH (mode 0600) or tcp:HOST:PORT (repeatable; loopback if HOST is empty). 9P has no authentication: whoever can connect acts on SRC as this server, so the default is a unix socket (${DEFAULT_LISTEN}); every local user can reach a loopback TCP port`,
      })
      .option('msize', { type: 'number', describe: `largest msize offered to clients (default ${DEFAULT_MAX_MSIZE})` })
      .option('read-only', { type: 'boolean', default: false, describe: 'refuse every change (EROFS); the id table is still written when a new disk is first seen' })
      .option('state-dir', { type: 'string', describe: 'where the id table goes when SRC cannot hold it (default /var/lib/stableid)' }),
  handler: async (argv) => {
    const a = argv as unknown as { src: string; listen: string | string[]; msize?: number; stateDir?: string; readOnly?: boolean };
    const listen = repeated(a.listen);
    if (a.msize !== undefined && (!Number.isInteger(a.msize) || a.msize < 4096)) throw new UsageError(`--msize ${a.msize}: an integer of at least 4096`);
    ctx.exitCode = await runServe9p(ctx, { src: a.src, listen, msize: a.msize, stateDir: a.stateDir, readOnly: a.readOnly });
  },
});
