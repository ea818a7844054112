// StableIdMapper: IdMapper over the persistent table (semantics in mapper.ts).
//
// In memory: the table (devices and prefixes), and bindings from this run's
// st_dev numbers to table devices, made on first sight by identity. The hot
// path (knownId) is one Map lookup keyed by the bigint st_dev.
import { debuglog } from 'node:util';
import { FsError } from '../errno.js';
import { fingerprint } from '../table/checksum.js';
import type { DeviceRecord, TableData } from '../table/record.js';
import type { PersistentTable } from '../table/table.js';
import type { ExportLock } from '../table/lock.js';
import { XATTR_PREFIX } from '../table/xattr-store.js';
import { readFile } from 'node:fs/promises';
import { type Identity, identify, parseMountinfo, readMountinfo } from './identity.js';
import { type IdMapper, INO_MASK, MAX_PREFIX, PREFIX_SHIFT } from './mapper.js';

const dbg = debuglog('stableid:mapper');
const WARN_AT = Math.floor(MAX_PREFIX * 0.9);

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
    if (ino <= INO_MASK) {
      const base = this.hot0.get(dev);
      return base === undefined ? undefined : base === 0n ? ino : base | ino;
    }
    const base = this.hotHi.get(dev)?.get(Number(ino >> PREFIX_SHIFT));
    return base === undefined ? undefined : base | (ino & INO_MASK);
  }

  async idFor(dev: bigint, ino: bigint): Promise<bigint> {
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

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.saving?.catch(() => undefined);
    await this.lock?.release();
  }

  /** The prefix base (prefix << 48) for (dev, hi), allocated and made durable if new. */
  private async allocate(dev: bigint, hi: number): Promise<bigint> {
    if (this.closed) throw new Error(`stableid mapper for ${this.root} is closed`);
    const device = await this.deviceFor(dev);
    const prefixOf = this.prefixOf();
    const key = device * 0x10000 + hi;
    let prefix = prefixOf.get(key);
    if (prefix === undefined) {
      if (this.data.prefixes.length >= MAX_PREFIX) {
        this.log(`all ${MAX_PREFIX} prefixes of ${this.root} are used; a file on device ${this.data.devices[device]?.identity} with ino >> 48 = ${hi} gets EOVERFLOW`);
        throw new FsError('EOVERFLOW', `no stable-id prefix left for ${this.data.devices[device]?.identity} (all ${MAX_PREFIX} used)`);
      }
      this.data.prefixes.push({ device, hi });
      prefix = this.data.prefixes.length;
      prefixOf.set(key, prefix);
      if (prefix >= WARN_AT && !this.warned) {
        this.warned = true;
        this.log(`${prefix} of ${MAX_PREFIX} id prefixes of ${this.root} are used; new devices will fail with EOVERFLOW at ${MAX_PREFIX}`);
      }
      dbg('prefix %d -> device %d (%s) hi %d', prefix, device, this.data.devices[device]?.identity, hi);
    }
    await this.durable(prefix);
    const base = BigInt(prefix) << PREFIX_SHIFT;
    if (hi === 0) this.hot0.set(dev, base);
    else {
      let m = this.hotHi.get(dev);
      if (!m) this.hotHi.set(dev, (m = new Map()));
      m.set(hi, base);
    }
    return base;
  }

  /** Not built at load: a start with a full table serves known files sooner. */
  private prefixOf(): Map<number, number> {
    if (!this.prefixIndex) {
      this.prefixIndex = new Map();
      this.data.prefixes.forEach((p, i) => this.prefixIndex!.set(p.device * 0x10000 + p.hi, i + 1));
    }
    return this.prefixIndex;
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
      p = this.bind(dev);
      this.bound.set(dev, p);
      p.catch(() => this.bound.delete(dev));
    }
    return p;
  }

  private async bind(dev: bigint): Promise<number> {
    let id = await this.identifyDev(dev);
    this.boundIdentity.set(dev, id.identity);
    const devices = this.data.devices;
    let idx = devices.findIndex((d) => d.identity === id.identity);
    if (idx >= 0 && this.boundTo.has(idx) && this.boundTo.get(idx) !== dev) {
      // Two live filesystems with one identity: a cloned image (same UUID). Tell them apart by place.
      this.log(`${id.identity} is on st_dev ${this.boundTo.get(idx)} and ${dev} (a cloned filesystem?); telling them apart by mount place ${id.alt}`);
      id = { ...id, identity: `${id.identity}@${id.alt}` };
      idx = devices.findIndex((d) => d.identity === id.identity);
    }
    if (idx < 0 && id.kind !== 'stdev') {
      // Weaker match: the same mount place, recorded when the stronger source was unreadable (or is now).
      idx = devices.findIndex((d, i) => d.alt === id.alt && d.kind !== id.kind && !this.boundTo.has(i) && (d.kind === 'mount' || id.kind === 'mount'));
      if (idx >= 0) this.log(`device ${id.identity} matched table entry ${devices[idx]!.identity} by its mount place ${id.alt}`);
    }
    if (idx < 0) {
      if (id.kind === 'stdev') this.log(`no mount entry for st_dev ${dev} under ${this.root}; its ids are keyed by st_dev and may change after a reboot`);
      const rec: DeviceRecord = { fingerprint: fingerprint(id.identity), ...id };
      devices.push(rec);
      idx = devices.length - 1;
    } else {
      const rec = devices[idx]!;
      if (rec.alt !== id.alt && id.kind === 'uuid') this.log(`${rec.identity} moved from ${rec.alt} to ${id.alt}; following its UUID`);
    }
    this.boundTo.set(idx, dev);
    dbg('st_dev %s -> device %d %s', dev, idx, id.identity);
    return idx;
  }

  /** st_dev now bound to a table device, or undefined ("absent" in `table show`). */
  boundDev(device: number): bigint | undefined {
    return this.boundTo.get(device);
  }
}
