// The persistent prefix table of one export.
//
// Semantics:
// - load() returns the newest generation whose chunks are all present and
//   whose CRCs hold, from the root's xattrs and the state file together
//   (generations grow across both stores, so the newest wins wherever it is).
// - A damaged chunk (bad magic, unknown version, truncated, CRC mismatch)
//   anywhere refuses the load with TableCorruptError naming it: the mapper
//   must never start from a table that might be missing a prefix it handed out.
// - A slot whose chunks are each fine but do not agree is a write that was
//   interrupted; it is ignored because it was never acknowledged (save()
//   resolves only after every chunk is written and fsynced), as long as it is
//   at most one generation ahead of the table we use.
// - save() writes the slot the current table is NOT in, so a crash at any
//   point leaves the last acknowledged generation whole.
// - When the root cannot hold the table (read-only, ENOTSUP, xattr space used
//   up on ext4), the table moves to the state file, and a small MOVED marker
//   is left in the xattrs when possible so a later run with another
//   --state-dir refuses instead of starting from an older table.
// Concurrency: one save at a time; the caller (the mapper) queues them.
// Shared (cluster) mode: several stableid processes, on several mounts of one
// cluster filesystem, write the same table. Each write happens under the
// ClusterLock (cluster-lock.ts) after refresh() has read the newest
// generation, so generations stay one sequence across all writers. The table
// must then live on the root, where every node sees it: a state file is
// node-local, so a root that cannot hold the xattrs stops the start instead.
import { access, constants } from 'node:fs/promises';
import { isCode } from '../errno.js';
import { ClusterLock } from './cluster-lock.js';
import { mergeNewer, type Merged } from './merge.js';
import { decodeBody, emptyTable, encodeBody, encodeChunks, FLAG_MOVED, type TableData, TableCorruptError } from './record.js';
import type { Slot } from './slot.js';
import { StateFileStore } from './state-file-store.js';
import { StoreFullError } from './store.js';
import { XattrStore } from './xattr-store.js';

export interface TableOptions {
  /** Absolute path of the export root. */
  root: string;
  /** State file used when the root cannot hold the table. */
  stateFile: string;
  log?: (msg: string) => void;
  /** Several stableid processes on mounts of one cluster filesystem share this table (see above). */
  shared?: boolean;
}

/** A shared (cluster) table that cannot be kept where every node sees it. */
export class SharedTableError extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'SharedTableError';
  }
}

export interface Candidate {
  where: string;
  generation: bigint;
  state: Slot['state'];
  moved?: string;
  note?: string;
}

export class PersistentTable {
  readonly xattrs: XattrStore;
  readonly file: StateFileStore;
  /** Where the next save goes. */
  mode: 'xattr' | 'file' = 'xattr';
  /** Why mode is 'file', for logs and `table show`. */
  modeReason = '';
  generation = 0n;
  /** What load() found, for `table show` / `verify`. */
  candidates: Candidate[] = [];
  /** Where the loaded table came from. */
  source = 'nowhere (new table)';
  readonly shared: boolean;
  /** Shared mode: the lock every writer of this table takes. */
  readonly clusterLock: ClusterLock | undefined;
  private readonly log: (msg: string) => void;
  /** The table moved to the state file and the root has no marker naming it yet. */
  private markerPending = false;
  private moveReason = '';

  constructor(opts: TableOptions) {
    this.xattrs = new XattrStore(opts.root);
    this.file = new StateFileStore(opts.stateFile);
    this.log = opts.log ?? (() => {});
    this.shared = opts.shared ?? false;
    this.clusterLock = this.shared ? new ClusterLock(opts.root) : undefined;
  }

  get where(): string {
    return this.mode === 'xattr' ? this.xattrs.where : this.file.where;
  }

  async load(): Promise<TableData> {
    type Found = { slot: Extract<Slot, { state: 'complete' }>; where: string; fromFile: boolean };
    const complete: Found[] = [];
    const incomplete: { where: string; reason: string; generation: bigint }[] = [];
    this.candidates = [];
    let xattrSlots: Slot[] = [];
    try {
      xattrSlots = await this.xattrs.readSlots();
    } catch (err) {
      if (!isCode(err, 'ENOTSUP', 'EOPNOTSUPP')) throw err;
      this.useFile(`${this.xattrs.root} does not support user xattrs`);
    }
    for (const [slots, where, fromFile] of [[xattrSlots, this.xattrs.where, false], [await this.file.readSlots(), this.file.where, true]] as const) {
      for (const s of slots) {
        if (s.state === 'complete') complete.push({ slot: s, where, fromFile });
        if (s.state === 'incomplete') incomplete.push({ where, reason: s.reason, generation: s.generation });
        if (s.state !== 'empty') this.candidates.push({ where, generation: s.generation, state: s.state, note: s.state === 'incomplete' ? s.reason : undefined });
      }
    }
    // Newest first; on a tie the real table beats the MOVED marker that points at it.
    complete.sort((x, y) => (x.slot.generation === y.slot.generation ? (x.slot.flags & FLAG_MOVED) - (y.slot.flags & FLAG_MOVED) : x.slot.generation > y.slot.generation ? -1 : 1));
    let best = complete[0];
    const bestGen = best?.slot.generation ?? 0n;
    for (const inc of incomplete) {
      if (inc.generation > bestGen + 1n)
        throw new TableCorruptError(inc.where, `an interrupted write of generation ${inc.generation}, but the newest whole table is generation ${bestGen}: generation ${bestGen + 1n} is lost (${inc.reason})`);
      this.log(`table: ignoring an interrupted write of generation ${inc.generation} in ${inc.where} (${inc.reason}); it was never acknowledged`);
    }
    if (!best) {
      await this.chooseMode(false);
      // Nothing on the root can say whether this export had a table elsewhere.
      if (this.mode === 'file')
        this.log(
          `table: none in ${this.file.where}, and ${this.xattrs.root} cannot hold one (${this.modeReason}): starting a new table. ` +
            `If this export was served before with another --state-dir, stop now and pass that one: a new table gives new ids to files on other filesystems under it`,
        );
      return emptyTable();
    }
    if (best.slot.flags & FLAG_MOVED) {
      const path = best.slot.payload.toString('utf8');
      const moved = new StateFileStore(path);
      const slot = (await moved.readSlots())[0];
      if (!slot || slot.state !== 'complete' || slot.generation < best.slot.generation)
        throw new TableCorruptError(best.where, `the table was moved to the state file ${path} at generation ${best.slot.generation}, but that file is ${slot ? `at generation ${slot.state === 'complete' ? slot.generation : '?'}` : 'missing'}; restore it, or pass the --state-dir that holds it`);
      best = { slot, where: moved.where, fromFile: true };
      (this as { file: StateFileStore }).file = moved;
    }
    const data = decodeBody(best.slot.payload, best.slot.generation, best.where);
    if (data.prefixes.length !== best.slot.prefixCount) throw new TableCorruptError(best.where, `header says ${best.slot.prefixCount} prefixes, body holds ${data.prefixes.length}`);
    this.generation = data.generation;
    this.source = `${best.where} (generation ${data.generation})`;
    await this.chooseMode(best.fromFile);
    return data;
  }

  private async chooseMode(fromFile: boolean): Promise<void> {
    if (this.mode === 'file') return;
    if (fromFile) return this.useFile('the table already lives there');
    try {
      await access(this.xattrs.root, constants.W_OK);
    } catch (err) {
      if (isCode(err, 'EROFS')) return this.useFile(`${this.xattrs.root} is on a read-only filesystem`);
      if (!isCode(err, 'EACCES')) throw err;
    }
  }

  /** Shared mode: read the newest generation and append what it has beyond `into` (merge.ts). */
  async refresh(into: TableData): Promise<Merged> {
    const fresh = await this.load();
    return mergeNewer(into, fresh, this.source);
  }

  /** Shared mode: run `fn` under the cluster lock, once `into` holds the newest generation; `fn` saves what it adds. */
  exclusive<T>(into: TableData, fn: (merged: Merged) => Promise<T>): Promise<T> {
    if (!this.clusterLock) throw new Error(`the table of ${this.xattrs.root} is not shared`);
    return this.clusterLock.hold(async () => fn(await this.refresh(into)));
  }

  private useFile(reason: string): void {
    if (this.shared)
      throw new SharedTableError(
        `${this.xattrs.root} is on a cluster filesystem shared by several stableid processes, so its table must live in its xattrs, where every node sees it, but ${reason}. ` +
          `Serve an export whose filesystem takes user xattrs of up to 64 KiB (Gluster on xfs bricks, CephFS), writable by root`,
      );
    this.mode = 'file';
    this.modeReason = reason;
  }

  /** Write `data` as the next generation and make it durable. Sets data.generation. */
  async save(data: TableData): Promise<void> {
    const generation = this.generation + 1n;
    const body = encodeBody(data);
    const chunks = (max: number) => encodeChunks(body, { flags: 0, prefixCount: data.prefixes.length, generation }, max);
    if (this.mode === 'xattr') {
      try {
        await this.xattrs.writeSlot(generation, chunks);
        this.generation = data.generation = generation;
        return;
      } catch (err) {
        if (!(err instanceof StoreFullError)) throw err;
        this.useFile(err.message);
        // From here on the root must point at the state file, even if this
        // first file write fails and a later save is the first to succeed.
        this.markerPending = true;
        this.moveReason = err.message;
      }
    }
    await this.file.writeSlot(generation, chunks);
    this.generation = data.generation = generation;
    if (this.markerPending) {
      await this.leaveMarker(generation);
      this.markerPending = false;
      this.log(`table: moved to ${this.file.where} (${this.moveReason}); keep it, and pass the same --state-dir on every start`);
    }
  }

  /** Replace the older xattr slot by a MOVED marker naming the state file. Best effort: the root may be read-only. */
  private async leaveMarker(generation: bigint): Promise<void> {
    const path = Buffer.from(this.file.file, 'utf8');
    try {
      await this.xattrs.removeSlot(generation);
      await this.xattrs.writeSlot(generation, (max) => encodeChunks(path, { flags: FLAG_MOVED, prefixCount: 0, generation }, max));
    } catch (err) {
      this.log(`table: could not leave a marker in ${this.xattrs.where} (${(err as Error).message}); the table is only in ${this.file.where}`);
    }
  }
}
