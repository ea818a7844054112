// openMapper(): the one way front-ends get a StableIdMapper for an export.
// Takes the export lock, loads the table (refusing a damaged one), and says
// where the table lives. An export on a cluster filesystem (cluster.ts) gets
// a shared table: one stableid per mount, many per cluster.
import { realpath, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { debuglog } from 'node:util';
import { fingerprint } from '../table/checksum.js';
import { lockExport } from '../table/lock.js';
import { TableCorruptError } from '../table/record.js';
import { PersistentTable } from '../table/table.js';
import { CLUSTER_FSTYPES } from './cluster.js';
import { majorMinor, readMountinfo } from './identity.js';
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
  /** Share the table with stableid processes on other mounts of the same filesystem. Default: when the root is on a cluster filesystem. */
  shared?: boolean;
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
  // Node-local: one stableid per mount (two mounts of one volume have two st_dev numbers).
  const lock = await lockExport(root, st.dev, st.ino);
  try {
    const fstype = (await readMountinfo()).filter((m) => m.majorMinor === majorMinor(st.dev)).at(-1)?.fstype ?? '?';
    const shared = opts.shared ?? CLUSTER_FSTYPES.has(fstype);
    const table = new PersistentTable({ root, stateFile: stateFileFor(root, opts.stateDir), log, shared });
    const data = await table.load();
    log(`table of ${root}: ${data.prefixes.length} prefixes from ${table.source}; new prefixes go to ${table.where}${table.modeReason ? ` (${table.modeReason})` : ''}`);
    if (shared) log(`table of ${root}: shared with the stableid processes on other mounts of this ${fstype} filesystem; they take turns under the lock ${table.clusterLock!.file}`);
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
