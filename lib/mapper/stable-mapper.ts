// StableIdMapper: IdMapper over the persistent table (semantics in mapper.ts).
//
// In memory: the table (devices and prefixes), and bindings from this run's
// st_dev numbers to table devices, made on first sight by identity. The hot
// path (knownId) is one Map lookup keyed by the bigint st_dev.
// Over a cluster filesystem (table.shared) several processes on several nodes
// write the table; allocation then runs under the cluster lock after reading
// the newest generation (allocateShared).
import { CLUSTER_LOCK_NAME } from '../table/cluster-lock.js';
import { debuglog } from 'node:util';
import { FsError } from '../errno.js';
import { fingerprint } from '../table/checksum.js';
import type { DeviceRecord, TableData } from '../table/record.js';
import type { PersistentTable } from '../table/table.js';
import type { ExportLock } from '../table/lock.js';
import { XATTR_PREFIX } from '../table/xattr-store.js';
import { readFile } from 'node:fs/promises';
import { type Identity, identify, parseMountinfo, readMountinfo } from './identity.js';
import { type IdMapper, INO_MASK, MAX_DEVICE_PREFIXES, MAX_PREFIX, MAX_ROOT_PREFIXES, PREFIX_SHIFT } from './mapper.js';

const dbg = debuglog('stableid:mapper');
const WARN_AT = Math.floor(MAX_PREFIX * 0.9);
/** A device with this many prefixes and no known run is logged as hash-like. */
const HASHLIKE_AT = 1024;

export interface StableMapperOptions {
  root: string;
  rootDev: bigint;
  table: PersistentTable;
  data: TableData;
  lock?: ExportLock;
  log?: (msg: string) => void;
  /** Injected in tests; defaults to reading /proc/self/mountinfo and blkid. */
  identify?: (dev: bigint) => Promise<Identity>;
  /** How often to look for remounts (ms); default 500 with the default identify, else off. */
  remountCheckMs?: number;
}

export class StableIdMapper implements IdMapper {
  readonly root: string;
  readonly rootDev: bigint;
  readonly table: PersistentTable;
  /** st_dev -> prefix << 48, for ino < 2^48 (nearly every file). */
  private readonly hot0 = new Map<bigint, bigint>();
  /** st_dev -> (ino >> 48) -> prefix << 48, for the rest. */
  private readonly hotHi = new Map<bigint, Map<number, bigint>>();
  /** deviceIndex * 2^16 + hi -> prefix, for every prefix in the table; built on the first allocation. */
  private prefixIndex: Map<number, number> | undefined;
  /** Prefixes per device index, and how many of data.prefixes the two maps cover. */
  private perDevice = new Map<number, number>();
  private indexed = 0;
  /** Device index -> the random run of ino >> 48 its filesystem uses (Identity.inoRun). */
  private readonly runs = new Map<number, readonly [number, number]>();
  /** Devices told about reaching MAX_DEVICE_PREFIXES, and st_devs told about being clones (log once). */
  private readonly capped = new Set<number>();
  private readonly clones = new Set<bigint>();
  private readonly identities = new Map<bigint, Promise<Identity>>();
  /** Shared table: requests waiting for the next locked section, and the loop running sections. */
  private batch: { dev: bigint; id: Identity; hi: number; done: (prefix: number) => void; fail: (err: unknown) => void }[] = [];
  private section: Promise<void> | undefined;
  /** st_dev of this run -> table device index (-1: root device without a record yet). */
  private readonly bound = new Map<bigint, Promise<number>>();
  private readonly boundTo = new Map<number, bigint>();
  private readonly pending = new Map<string, Promise<bigint>>();
  private readonly data: TableData;
  private savedCount: number;
  private saving: Promise<void> | undefined;
  private warned = false;
  private readonly log: (msg: string) => void;
  private readonly identifyDev: (dev: bigint) => Promise<Identity>;
  private readonly lock?: ExportLock;
  private closed = false;
  /** st_dev -> the identity it had when bound, to notice another filesystem taking that st_dev. */
  private readonly boundIdentity = new Map<bigint, string>();
  /** /proc/self/mountinfo as last read: re-identify only when it changes. */
  private lastMountinfo = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(o: StableMapperOptions) {
    this.root = o.root;
    this.rootDev = o.rootDev;
    this.table = o.table;
    this.data = o.data;
    this.lock = o.lock;
    this.log = o.log ?? dbg;
    this.savedCount = o.data.prefixes.length;
    this.hot0.set(o.rootDev, 0n); // prefix 0: the root's device, ino < 2^48
    this.identifyDev =
      o.identify ??
      // Re-read mountinfo when an unseen device shows up: mounts change while we run.
      // Only checkRemounts() records what it saw, so a change is never taken as checked.
      ((dev) => readMountinfo().then((mounts) => identify(dev, { exportRoot: this.root, rootDev: this.rootDev, mounts })));
    // A text compare of mountinfo twice a second is cheap; blkid runs only when it changed.
    const every = o.remountCheckMs ?? (o.identify ? 0 : 500);
    if (every > 0) {
      let running = false; // blkid can take seconds: never two checks at once
      this.timer = setInterval(() => {
        if (running) return;
        running = true;
        void this.checkRemounts()
          .catch((err) => this.log(`remount check failed: ${(err as Error).message}`))
          .finally(() => (running = false));
      }, every);
      this.timer.unref();
    }
  }

  /**
   * A st_dev number is only meaningful while its filesystem stays mounted: if
   * a disk is unmounted and another mounted, the kernel may give the newcomer
   * the same number (and even the same mount id). When mountinfo changed,
   * every bound st_dev is identified again (blkid); a binding whose identity
   * changed is dropped, so the next lookup binds the newcomer by its own
   * identity. Between the change and this check (up to 0.5 s), old bindings answer.
   */
  async checkRemounts(): Promise<void> {
    if (this.boundIdentity.size === 0) return;
    const text = await readFile('/proc/self/mountinfo', 'utf8');
    if (text === this.lastMountinfo) return;
    this.lastMountinfo = text;
    const mounts = parseMountinfo(text);
    for (const [dev, was] of this.boundIdentity) {
      const now = (await identify(dev, { exportRoot: this.root, rootDev: this.rootDev, mounts })).identity;
      if (now === was) continue;
      this.boundIdentity.delete(dev);
      this.identities.delete(dev);
      this.clones.delete(dev);
      this.bound.delete(dev);
      for (const [idx, d] of this.boundTo) if (d === dev) this.boundTo.delete(idx);
      this.hot0.delete(dev);
      this.hotHi.delete(dev);
      this.log(`st_dev ${dev} now holds ${now} (was ${was}); its files are identified again`);
    }
  }

  /** Table contents (read-only view) for `table show`. */
  get tableData(): Readonly<TableData> {
    return this.data;
  }

  knownId(dev: bigint, ino: bigint): bigint | undefined {
    // Node's BigIntStats are signed: an st_ino of 2^63 or more (every Gluster file) arrives negative.
    if (ino < 0n) ino = BigInt.asUintN(64, ino);
    if (ino <= INO_MASK) {
      const base = this.hot0.get(dev);
      return base === undefined ? undefined : base === 0n ? ino : base | ino;
    }
    const base = this.hotHi.get(dev)?.get(Number(ino >> PREFIX_SHIFT));
    return base === undefined ? undefined : base | (ino & INO_MASK);
  }

  async idFor(dev: bigint, ino: bigint): Promise<bigint> {
    if (ino < 0n) ino = BigInt.asUintN(64, ino);
    const known = this.knownId(dev, ino);
    if (known !== undefined) return known;
    const hi = Number(ino >> PREFIX_SHIFT);
    const key = `${dev}:${hi}`;
    let p = this.pending.get(key);
    if (!p) {
      p = this.allocate(dev, hi).finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return (await p) | (ino & INO_MASK);
  }

  isReservedXattr(name: string): boolean {
    return name.startsWith(XATTR_PREFIX);
  }

  isReservedName(name: string): boolean {
    return name === CLUSTER_LOCK_NAME;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.saving?.catch(() => undefined);
    await this.section;
    await this.lock?.release();
  }

  /** The prefix base (prefix << 48) for (dev, hi), allocated and made durable if new. */
  private async allocate(dev: bigint, hi: number): Promise<bigint> {
    if (this.closed) throw new Error(`stableid mapper for ${this.root} is closed`);
    let prefix: number;
    if (this.table.shared) prefix = await this.allocateShared(dev, hi);
    else {
      prefix = this.claim(await this.deviceFor(dev), hi);
      await this.durable(prefix);
    }
    const base = BigInt(prefix) << PREFIX_SHIFT;
    if (hi === 0) this.hot0.set(dev, base);
    else {
      let m = this.hotHi.get(dev);
      if (!m) this.hotHi.set(dev, (m = new Map()));
      m.set(hi, base);
    }
    return base;
  }

  /**
   * The prefix of (device, hi), appended to the table in memory if new. A
   * device with a known random run (Gluster) gets the whole run at once: one
   * table write instead of one per new file. No device takes more than
   * MAX_DEVICE_PREFIXES (the export root's own: MAX_ROOT_PREFIXES), so one
   * filesystem with hash-like inode numbers cannot use up the others' prefixes.
   */
  private claim(device: number, hi: number): number {
    const key = device * 0x10000 + hi;
    const have = this.prefixOf().get(key);
    if (have !== undefined) return have;
    const name = this.data.devices[device]?.identity;
    const most = this.data.devices[device]?.kind === 'root' ? MAX_ROOT_PREFIXES : MAX_DEVICE_PREFIXES;
    const run = this.runs.get(device);
    let his = [hi];
    if (run && hi >= run[0] && hi <= run[1]) {
      const all: number[] = [];
      for (let h = run[0]; h <= run[1]; h++) if (!this.prefixIndex!.has(device * 0x10000 + h)) all.push(h);
      if (this.data.prefixes.length + all.length <= MAX_PREFIX && this.countOf(device) + all.length <= most) his = all;
    }
    if (this.data.prefixes.length + his.length > MAX_PREFIX) {
      this.log(`all ${MAX_PREFIX} prefixes of ${this.root} are used; a file on device ${name} with ino >> 48 = ${hi} gets EOVERFLOW`);
      throw new FsError('EOVERFLOW', `no stable-id prefix left for ${name} (all ${MAX_PREFIX} used)`);
    }
    const count = this.countOf(device);
    if (count + his.length > most) {
      if (!this.capped.has(device)) {
        this.capped.add(device);
        this.log(
          `device ${name} has taken ${count} id prefixes, the most one device may: its inode numbers are spread over many values of ino >> 48 (hash-like). ` +
            `Its files that need another prefix get EOVERFLOW; the other devices keep theirs. See "Clustering" in the README (Gluster: enable-ino32 and its trade-off)`,
        );
      }
      throw new FsError('EOVERFLOW', `${name} has used the ${most} stable-id prefixes one device may take`);
    }
    if (count < HASHLIKE_AT && count + his.length >= HASHLIKE_AT && !run)
      this.log(`device ${name} has taken ${HASHLIKE_AT} id prefixes: its inode numbers look hash-like; it stops at ${most}`);
    for (const h of his) this.data.prefixes.push({ device, hi: h });
    this.prefixOf();
    const prefix = this.prefixIndex!.get(key)!;
    if (this.data.prefixes.length >= WARN_AT && !this.warned) {
      this.warned = true;
      this.log(`${this.data.prefixes.length} of ${MAX_PREFIX} id prefixes of ${this.root} are used; new devices will fail with EOVERFLOW at ${MAX_PREFIX}`);
    }
    dbg('prefix %d%s -> device %d (%s) hi %d', prefix, his.length > 1 ? ` (+${his.length - 1} of its run)` : '', device, name, hi);
    return prefix;
  }

  /**
   * Shared table (a cluster filesystem): what this process knows answers
   * without the lock; anything new is decided under the cluster lock, after
   * reading the newest generation, so another node's device or prefix is
   * found and used rather than added twice, and the write lands before the
   * lock is released.
   */
  private async allocateShared(dev: bigint, hi: number): Promise<number> {
    const id = await this.identityOf(dev);
    const known = this.match(dev, id);
    if (known.idx >= 0) {
      const prefix = this.prefixOf().get(known.idx * 0x10000 + hi);
      if (prefix !== undefined) return this.bindTo(dev, known.idx, known.id), prefix;
    }
    return new Promise<number>((done, fail) => {
      this.batch.push({ dev, id, hi, done, fail });
      this.section ??= this.runSections();
    });
  }

  /** Shared group commit: every request queued while the lock is awaited is decided in one section with one write. */
  private async runSections(): Promise<void> {
    while (this.batch.length) {
      const batch = this.batch.splice(0);
      try {
        await this.table.exclusive(this.data, async (merged) => {
          if (merged.prefixes || merged.devices) dbg('shared table: %d devices and %d prefixes from other writers', merged.devices, merged.prefixes);
          this.savedCount = this.data.prefixes.length;
          const [devices, prefixes] = [this.data.devices.length, this.data.prefixes.length];
          const out = batch.map((r) => {
            try {
              return { r, prefix: this.claim(this.place(r.dev, r.id), r.hi) };
            } catch (err) {
              return { r, err };
            }
          });
          if (this.data.devices.length > devices || this.data.prefixes.length > prefixes) {
            try {
              await this.table.save(this.data);
            } catch (err) {
              // Unlike a private table, nothing may stay reserved in memory: another node may take these numbers next.
              this.rollback(devices, prefixes);
              this.log(`cannot store the id table in ${this.table.where}: ${(err as Error).message}; files that need a new id prefix fail until it can`);
              for (const o of out) o.r.fail(o.err ?? err);
              return;
            }
            this.savedCount = this.data.prefixes.length;
          }
          for (const o of out) if (o.err === undefined) o.r.done(o.prefix!);
          else o.r.fail(o.err);
        });
      } catch (err) {
        for (const r of batch) r.fail(err); // the lock or the re-read failed (settled requests ignore this)
      }
    }
    this.section = undefined;
  }

  /** Forget devices and prefixes appended after the table had these lengths (a shared write failed). */
  private rollback(devices: number, prefixes: number): void {
    this.data.devices.length = devices;
    this.data.prefixes.length = prefixes;
    for (const idx of [...this.boundTo.keys()]) if (idx >= devices) this.boundTo.delete(idx);
    for (const idx of [...this.runs.keys()]) if (idx >= devices) this.runs.delete(idx);
    this.prefixIndex = undefined;
  }

  /** (device, hi) -> prefix for every prefix in the table, and prefixes per device; caught up with the table on every call. */
  private prefixOf(): Map<number, number> {
    // Not built at load: a start with a full table serves known files sooner.
    if (!this.prefixIndex) {
      this.prefixIndex = new Map();
      this.perDevice = new Map();
      this.indexed = 0;
    }
    const ps = this.data.prefixes;
    for (; this.indexed < ps.length; this.indexed++) {
      const p = ps[this.indexed]!;
      this.prefixIndex.set(p.device * 0x10000 + p.hi, this.indexed + 1);
      this.perDevice.set(p.device, (this.perDevice.get(p.device) ?? 0) + 1);
    }
    return this.prefixIndex;
  }

  private countOf(device: number): number {
    this.prefixOf();
    return this.perDevice.get(device) ?? 0;
  }

  /** Group commit: resolves once a save covering `prefix` is durable; one save runs at a time. */
  private async durable(prefix: number): Promise<void> {
    while (this.savedCount < prefix) {
      if (!this.saving) {
        const n = this.data.prefixes.length;
        this.saving = this.table
          .save(this.data)
          .then(
            () => {
              this.savedCount = Math.max(this.savedCount, n);
            },
            (err: Error) => {
              // Nothing is rolled back: the prefix stays reserved in memory and the next allocation retries the write.
              this.log(`cannot store the id table in ${this.table.where}: ${err.message}; files that need a new id prefix fail until it can`);
              throw err;
            },
          )
          .finally(() => (this.saving = undefined));
      }
      await this.saving;
    }
  }

  /** The table device index for this run's st_dev, found by identity or appended (made durable with its first prefix). */
  private deviceFor(dev: bigint): Promise<number> {
    let p = this.bound.get(dev);
    if (!p) {
      p = this.identityOf(dev).then((id) => this.place(dev, id));
      this.bound.set(dev, p);
      p.catch(() => this.bound.delete(dev));
    }
    return p;
  }

  /** The identity of this run's st_dev, asked once per binding (checkRemounts forgets it). */
  private identityOf(dev: bigint): Promise<Identity> {
    let p = this.identities.get(dev);
    if (!p) {
      p = this.identifyDev(dev).then((id) => (this.boundIdentity.set(dev, id.identity), id));
      this.identities.set(dev, p);
      p.catch(() => this.identities.delete(dev));
    }
    return p;
  }

  /** The table device for `id` on `dev`, or idx -1; `id` comes back changed for a cloned filesystem. */
  private match(dev: bigint, found: Identity): { idx: number; id: Identity } {
    let id = found;
    const devices = this.data.devices;
    let idx = devices.findIndex((d) => d.identity === id.identity);
    if (idx >= 0 && this.boundTo.has(idx) && this.boundTo.get(idx) !== dev) {
      // Two live filesystems with one identity: a cloned image (same UUID). Tell them apart by place.
      if (!this.clones.has(dev)) this.log(`${id.identity} is on st_dev ${this.boundTo.get(idx)} and ${dev} (a cloned filesystem?); telling them apart by mount place ${id.alt}`);
      this.clones.add(dev);
      id = { ...id, identity: `${id.identity}@${id.alt}` };
      idx = devices.findIndex((d) => d.identity === id.identity);
    }
    if (idx < 0 && id.kind !== 'stdev') {
      // Weaker match: the same mount place, recorded when the stronger source was unreadable (or is now).
      idx = devices.findIndex((d, i) => d.alt === id.alt && d.kind !== id.kind && !this.boundTo.has(i) && (d.kind === 'mount' || id.kind === 'mount'));
      if (idx >= 0) this.log(`device ${id.identity} matched table entry ${devices[idx]!.identity} by its mount place ${id.alt}`);
    }
    return { idx, id };
  }

  /** match(), appending the device to the table in memory when it is new (stored with its first prefix). */
  private place(dev: bigint, found: Identity): number {
    const { idx: at, id } = this.match(dev, found);
    let idx = at;
    const devices = this.data.devices;
    if (idx < 0) {
      if (id.kind === 'stdev') this.log(`no mount entry for st_dev ${dev} under ${this.root}; its ids are keyed by st_dev and may change after a reboot`);
      const rec: DeviceRecord = { fingerprint: fingerprint(id.identity), kind: id.kind, identity: id.identity, alt: id.alt };
      devices.push(rec);
      idx = devices.length - 1;
    } else {
      const rec = devices[idx]!;
      if (rec.alt !== id.alt && id.kind === 'uuid') this.log(`${rec.identity} moved from ${rec.alt} to ${id.alt}; following its UUID`);
    }
    this.bindTo(dev, idx, id);
    return idx;
  }

  private bindTo(dev: bigint, idx: number, id: Identity): void {
    if (this.boundTo.get(idx) === dev) return;
    this.boundTo.set(idx, dev);
    if (id.inoRun) this.runs.set(idx, id.inoRun);
    dbg('st_dev %s -> device %d %s', dev, idx, id.identity);
  }

  /** st_dev now bound to a table device, or undefined ("absent" in `table show`). */
  boundDev(device: number): bigint | undefined {
    return this.boundTo.get(device);
  }
}
