// `stableid id SRC PATH`: the stable id of one path, allocating a prefix if needed.
// While a server holds the export, answers from the table read-only.
import { lstat, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Argv } from 'yargs';
import { inspectExport, readOnlyMapper } from '../../mapper/inspect.js';
import { DEFAULT_STATE_DIR, openMapper } from '../../mapper/open.js';
import type { IdMapper } from '../../mapper/mapper.js';
import { ExportLockedError } from '../../table/lock.js';
import type { CommandFactory } from '../context.js';
import { UsageError } from '../io.js';

export const idCommand: CommandFactory = (ctx) => ({
  command: 'id <src> <path>',
  describe: 'print the stable id of PATH (absolute, or relative to SRC)',
  builder: (y: Argv) =>
    y
      .positional('src', { type: 'string', demandOption: true })
      .positional('path', { type: 'string', demandOption: true })
      .option('state-dir', { type: 'string', default: DEFAULT_STATE_DIR })
      .option('json', { type: 'boolean', default: false }),
  handler: async (argv) => {
    const a = argv as unknown as { src: string; path: string; 'state-dir': string; json: boolean };
    let root: string;
    try {
      root = await realpath(a.src);
    } catch (err) {
      throw new UsageError(`${a.src}: ${(err as Error).message}`, 2);
    }
    const given = resolve(root, a.path);
    // Resolve the directories (not the last name: a symlink has its own id) so a
    // symlink on the way cannot lead outside SRC and allocate a prefix for a foreign disk.
    let path: string;
    try {
      path = join(await realpath(dirname(given)), basename(given));
    } catch (err) {
      throw new UsageError(`${given}: ${(err as Error).message}`, 2);
    }
    const rel = relative(root, path);
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new UsageError(`${a.path} is not inside ${root} (after following the directories on its way)`, 2);
    let st;
    try {
      st = await lstat(path, { bigint: true });
    } catch (err) {
      throw new UsageError(`${path}: ${(err as Error).message}`, 2);
    }
    let mapper: IdMapper;
    try {
      // Warnings only: the table's location line is for servers' logs, not for a command that prints one id.
      mapper = await openMapper({ root, stateDir: a['state-dir'], log: (m) => void (/^table of /.test(m) || ctx.io.err(m)) });
    } catch (err) {
      if (!(err instanceof ExportLockedError)) throw err;
      const v = await inspectExport({ root, stateDir: a['state-dir'] });
      mapper = readOnlyMapper(v, `${root} is served by ${err.holder}; ask through its mount instead`);
    }
    try {
      const id = await mapper.idFor(st.dev, st.ino);
      ctx.io.out(a.json ? JSON.stringify({ path, dev: st.dev.toString(), ino: st.ino.toString(), id: id.toString(), prefix: Number(id >> 48n) }) : id.toString());
    } finally {
      await mapper.close();
    }
  },
});
