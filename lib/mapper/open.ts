// openMapper(): the one way front-ends get a StableIdMapper for an export.
// Takes the export lock, loads the table (refusing a damaged one), and says
// where the table lives.
import { realpath, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { debuglog } from 'node:util';
import { fingerprint } from '../table/checksum.js';
import { lockExport } from '../table/lock.js';
import { TableCorruptError } from '../table/record.js';
import { PersistentTable } from '../table/table.js';
import { StableIdMapper } from './stable-mapper.js';

export { StableIdMapper } from './stable-mapper.js';

export const DEFAULT_STATE_DIR = '/var/lib/stableid';

export interface OpenMapperOptions {
  /** The export root (SRC). */
  root: string;
  /** Where the state file goes when the root cannot hold the table. Default /var/lib/stableid. */
  stateDir?: string;
  /** Operator-facing messages (where the table lives, warnings). Default: NODE_DEBUG=stableid:mapper. */
  log?: (msg: string) => void;
}

/** The state file of an export: named after the root's path, so one state dir serves many exports. */
export function stateFileFor(root: string, stateDir = DEFAULT_STATE_DIR): string {
  const name = basename(root).replace(/[^A-Za-z0-9._-]/g, '_') || 'root';
  return join(stateDir, `${name}-${fingerprint(root).toString(16).padStart(16, '0')}.table`);
}

/**
 * Open the export's table for writing. Rejects with ExportLockedError when
 * another process serves the export, TableCorruptError when the table is
 * damaged (the message names the xattr or file; see `stableid table repair`).
 */
export async function openMapper(opts: OpenMapperOptions): Promise<StableIdMapper> {
  const log = opts.log ?? debuglog('stableid:mapper');
  const root = await realpath(opts.root);
  const st = await stat(root, { bigint: true });
  const lock = await lockExport(root, st.dev, st.ino);
  try {
    const table = new PersistentTable({ root, stateFile: stateFileFor(root, opts.stateDir), log });
    const data = await table.load();
    log(`table of ${root}: ${data.prefixes.length} prefixes from ${table.source}; new prefixes go to ${table.where}${table.modeReason ? ` (${table.modeReason})` : ''}`);
    return new StableIdMapper({ root, rootDev: st.dev, table, data, lock, log });
  } catch (err) {
    await lock.release();
    throw withRepairHint(err, root);
  }
}

/** A damaged table's message, plus what to do about it. */
export function withRepairHint(err: unknown, root: string): unknown {
  if (!(err instanceof TableCorruptError)) return err;
  return new TableCorruptError(
    err.where,
    `${err.reason}. stableid will not start from a damaged table (it could hand an id to a second file). ` +
      `See \`stableid table verify ${root}\`, then \`stableid table repair ${root}\` (restores the newest intact generation or a backup, never an empty table)`,
  );
}
