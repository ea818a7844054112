// Read-only views of an export's table for the CLI (`table show/verify`,
// `id` while a server holds the export): no lock taken, nothing written.
import { realpath, stat } from 'node:fs/promises';
import { relative } from 'node:path';
import type { TableData } from '../table/record.js';
import { isLocked } from '../table/lock.js';
import { PersistentTable } from '../table/table.js';
import { identify, type Identity, majorMinor, readMountinfo } from './identity.js';
import { stateFileFor, withRepairHint } from './open.js';
import { StableIdMapper } from './stable-mapper.js';

export interface ExportView {
  root: string;
  rootDev: bigint;
  rootIno: bigint;
  table: PersistentTable;
  data: TableData;
  /** "pid N" when a stableid process serves the export now. */
  heldBy: string | undefined;
}

export async function inspectExport(opts: { root: string; stateDir?: string; log?: (m: string) => void }): Promise<ExportView> {
  const root = await realpath(opts.root);
  const st = await stat(root, { bigint: true });
  const table = new PersistentTable({ root, stateFile: stateFileFor(root, opts.stateDir), log: opts.log });
  let data: TableData;
  try {
    data = await table.load();
  } catch (err) {
    throw withRepairHint(err, root);
  }
  return { root, rootDev: st.dev, rootIno: st.ino, table, data, heldBy: await isLocked(st.dev, st.ino) };
}

/** A mapper over the view that answers known ids and refuses to allocate (someone else owns the table). */
export function readOnlyMapper(v: ExportView, why: string): StableIdMapper {
  v.table.save = async () => {
    throw Object.assign(new Error(`this file needs a new id prefix, but ${why}`), { exitCode: 1 });
  };
  return new StableIdMapper({ root: v.root, rootDev: v.rootDev, table: v.table, data: v.data });
}

export interface LiveDevice {
  dev: bigint;
  mountPoint: string;
  id: Identity;
}

/** Filesystems mounted at or under the export root now, with their identities. */
export async function liveDevices(v: ExportView): Promise<LiveDevice[]> {
  const mounts = await readMountinfo();
  const out: LiveDevice[] = [{ dev: v.rootDev, mountPoint: v.root, id: { kind: 'root', identity: 'root', alt: 'root' } }];
  const seen = new Set([v.rootDev]);
  for (const m of mounts) {
    if (relative(v.root, m.mountPoint).startsWith('..')) continue;
    let dev: bigint;
    try {
      dev = (await stat(m.mountPoint, { bigint: true })).dev;
    } catch {
      continue; // over-mounted or gone
    }
    if (seen.has(dev) || majorMinor(dev) !== m.majorMinor) continue;
    seen.add(dev);
    out.push({ dev, mountPoint: m.mountPoint, id: await identify(dev, { exportRoot: v.root, rootDev: v.rootDev, mounts }) });
  }
  return out;
}
