// Repair of a table that load() refuses. What repair can honestly do:
// - restore the newest generation that is still intact (the other slot, the
//   state file, or a backup given with --from), written as a NEW generation
//   above everything seen, so it wins over the damaged copy;
// - never start empty, and never let a prefix number be reused: a damaged or
//   interrupted copy whose header still reads says how many prefixes it held;
//   numbers beyond the restored table up to that count are retired (kept in
//   the table, bound to a device that never matches), so any id handed out
//   under them can never name another file. Files on the devices that owned
//   those prefixes get new ids: that loss is reported, not hidden.
import * as xattr from 'fs-xattr';
import { isCode } from '../errno.js';
import { fingerprint } from './checksum.js';
import { decodeBody, FLAG_MOVED, HEADER_SIZE, MAGIC, type TableData, TableCorruptError, VERSION } from './record.js';
import { assembleSlot } from './slot.js';
import { StateFileStore } from './state-file-store.js';
import { PersistentTable } from './table.js';
import { fsyncPath, XATTR_PREFIX, XattrStore } from './xattr-store.js';
import { readFile } from 'node:fs/promises';

export interface Found {
  where: string;
  status: 'intact' | 'moved-marker' | 'incomplete' | 'damaged';
  generation?: bigint;
  prefixes?: number;
  detail: string;
}

export interface RepairPlan {
  root: string;
  stateFile: string;
  found: Found[];
  /** The table that will be written, before retired prefixes are added. */
  source?: { where: string; data: TableData };
  /** Prefix numbers retired (source.prefixes.length + 1 .. + reserve). */
  reserve: number;
  /** Highest generation seen anywhere, damaged copies included. */
  maxGeneration: bigint;
  /** Why repair cannot proceed, if it cannot. */
  problem?: string;
  notes: string[];
}

/** What a chunk's header claims, read without trusting its CRC (for reservation only). */
function peekHeader(buf: Buffer): { generation: bigint; prefixes: number } | undefined {
  if (buf.length < HEADER_SIZE || !buf.subarray(0, 4).equals(MAGIC) || buf.readUInt16LE(4) !== VERSION) return undefined;
  return { generation: buf.readBigUInt64LE(16), prefixes: buf.readUInt32LE(12) };
}

export interface RepairOptions {
  root: string;
  stateFile: string;
  /** A backup to restore instead of the newest intact copy. */
  from?: string;
  /** Retire prefix numbers up to this count even if no damaged copy claims them. */
  reserve?: number;
  /**
   * No copy and no backup: start a new table whose first prefixes are retired,
   * so ids handed out before can never name other files. Needs the old count:
   * from a damaged header that still reads, or --reserve.
   */
  startOver?: boolean;
}

export async function planRepair(o: RepairOptions): Promise<RepairPlan> {
  const plan: RepairPlan = { root: o.root, stateFile: o.stateFile, found: [], reserve: 0, maxGeneration: 0n, notes: [] };
  const intact: { where: string; data: TableData }[] = [];
  let claimed = 0;
  let unknownClaim = false;
  const consider = async (where: string, raw: Map<number, Buffer>, nameOf: (i: number) => string) => {
    for (const buf of raw.values()) {
      const h = peekHeader(buf);
      if (!h) unknownClaim = true;
      else {
        if (h.generation > plan.maxGeneration) plan.maxGeneration = h.generation;
        if (h.prefixes > claimed && h.prefixes <= 0xffff) claimed = h.prefixes;
      }
    }
    try {
      const slot = assembleSlot(raw, nameOf);
      if (slot.state === 'empty') return;
      if (slot.state === 'incomplete') return void plan.found.push({ where, status: 'incomplete', generation: slot.generation, detail: slot.reason });
      if (slot.flags & FLAG_MOVED) {
        const path = slot.payload.toString('utf8');
        plan.found.push({ where, status: 'moved-marker', generation: slot.generation, detail: `points to ${path}` });
        if (path !== o.stateFile) await considerFile(path);
        return;
      }
      const data = decodeBody(slot.payload, slot.generation, where);
      plan.found.push({ where, status: 'intact', generation: slot.generation, prefixes: data.prefixes.length, detail: 'all chunks present, CRCs hold' });
      intact.push({ where, data });
    } catch (err) {
      if (!(err instanceof TableCorruptError)) throw err;
      plan.found.push({ where, status: 'damaged', detail: err.message });
    }
  };
  const considerFile = async (file: string) => {
    let buf: Buffer;
    try {
      buf = await readFile(file);
    } catch (err) {
      if (isCode(err, 'ENOENT')) return;
      throw err;
    }
    const raw = new Map<number, Buffer>();
    for (let off = 0; off < buf.length; ) {
      const len = buf.length - off >= HEADER_SIZE ? buf.readUInt32LE(off + 24) : buf.length;
      raw.set(raw.size, buf.subarray(off, Math.min(buf.length, off + HEADER_SIZE + len)));
      off += HEADER_SIZE + len;
    }
    await consider(`state file ${file}`, raw, (i) => `${file} (chunk ${i})`);
  };

  let names: string[] = [];
  try {
    names = (await xattr.listAttributes(o.root)).filter((n) => n.startsWith(XATTR_PREFIX));
  } catch (err) {
    if (!isCode(err, 'ENOTSUP', 'EOPNOTSUPP')) throw err;
  }
  for (const slot of ['a', 'b']) {
    const raw = new Map<number, Buffer>();
    for (const n of names) {
      const m = new RegExp(`^user\\.stableid\\.${slot}\\.(\\d+)$`).exec(n);
      if (m) raw.set(Number(m[1]), await xattr.getAttribute(o.root, n));
    }
    await consider(`xattr slot ${XattrStore.nameOf(slot, 0).replace(/0$/, '*')} on ${o.root}`, raw, (i) => XattrStore.nameOf(slot, i));
  }
  await considerFile(o.stateFile);

  if (o.from) {
    const slot = (await new StateFileStore(o.from).readSlots())[0];
    if (!slot) throw new TableCorruptError(o.from, 'not found');
    if (slot.state !== 'complete' || slot.flags & FLAG_MOVED) throw new TableCorruptError(o.from, 'not a whole table');
    plan.source = { where: `backup ${o.from}`, data: decodeBody(slot.payload, slot.generation, o.from) };
    if (slot.generation > plan.maxGeneration) plan.maxGeneration = slot.generation;
  } else {
    intact.sort((a, b) => (a.data.generation > b.data.generation ? -1 : 1));
    plan.source = intact[0];
  }
  if (!plan.source && o.startOver) {
    if (unknownClaim && o.reserve === undefined) {
      plan.problem = 'starting over needs to know how many prefixes the old table held, and a damaged header does not say: pass --reserve N (65535 retires every number, leaving none for new devices; the count from `table show` output or logs is best)';
      return plan;
    }
    plan.source = { where: 'a new table (start over)', data: { generation: 0n, devices: [], prefixes: [] } };
    plan.notes.push('starting over: files on the export root\'s own filesystem keep their ids (prefix 0); files on every other filesystem get new ids, which clients see as new files');
  }
  if (!plan.source) {
    plan.problem = 'no intact copy of the table is left; restore one from a backup with --from FILE (a state file, or the output of `stableid table export`), or, with clients disconnected, --start-over (a new table that retires the old prefix numbers). Never an empty table: it would hand out ids that files already had.';
    return plan;
  }
  const want = Math.max(claimed, o.reserve ?? 0);
  plan.reserve = Math.max(0, Math.min(0xffff, want) - plan.source.data.prefixes.length);
  if (plan.reserve > 0)
    plan.notes.push(`prefixes ${plan.source.data.prefixes.length + 1}..${plan.source.data.prefixes.length + plan.reserve} are not in the copy being restored but a damaged or newer copy claims them: they will be retired, never reused; files on the devices that had them get new ids`);
  if (unknownClaim) plan.notes.push('a damaged chunk has an unreadable header, so how many prefixes it held is unknown; pass --reserve N to retire numbers up to N as well');
  return plan;
}

/** Write the plan's table as a new generation: state file first (durable), then clear the damaged xattrs, then xattrs again when the root takes them. */
export async function applyRepair(plan: RepairPlan, log: (m: string) => void = () => {}): Promise<{ where: string; generation: bigint; prefixes: number }> {
  if (!plan.source) throw new Error(plan.problem ?? 'nothing to restore');
  const data: TableData = structuredClone(plan.source.data);
  if (plan.reserve > 0) {
    const identity = `retired:repair-generation-${plan.maxGeneration + 1n}`;
    data.devices.push({ kind: 'stdev', identity, alt: '', fingerprint: fingerprint(identity) });
    const dev = data.devices.length - 1;
    for (let i = 0; i < plan.reserve; i++) data.prefixes.push({ device: dev, hi: i & 0xffff });
  }
  const table = new PersistentTable({ root: plan.root, stateFile: plan.stateFile, log });
  table.generation = plan.maxGeneration;
  table.mode = 'file';
  await table.save(data); // the repaired table is durable before anything damaged is removed
  let names: string[] = [];
  try {
    names = (await xattr.listAttributes(plan.root)).filter((n) => n.startsWith(XATTR_PREFIX));
  } catch (err) {
    if (!isCode(err, 'ENOTSUP', 'EOPNOTSUPP')) throw err;
  }
  for (const n of names) await xattr.removeAttribute(plan.root, n);
  if (names.length) await fsyncPath(plan.root);
  try {
    table.mode = 'xattr';
    await table.save(data);
  } catch (err) {
    log(`repair: the table stays in ${table.file.where} (${(err as Error).message})`);
  }
  return { where: table.where, generation: table.generation, prefixes: data.prefixes.length };
}
