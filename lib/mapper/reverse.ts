// The mapper run backwards: a stable id -> the filesystem it lives on now
// and its inode number there, for ids not seen since a restart (NFS file
// handles, docs/nfs.md).
//
//   id -> prefix (id >> 48) -> table entry (device, hi) -> that device's
//   st_dev in this run and the mount through which the export reaches it
//   -> ino = hi << 48 | (id & (2^48 - 1))
//
// A device already bound in this run is found by its st_dev; any other by
// identifying each mount under the export root (the same identify() the
// mapper binds with, so the same rules) until one has the table entry's
// identity. A match here is a candidate, not a proof: the caller opens the
// file and asks the mapper for its id (open-by-id.ts), so a wrong guess can
// only give ESTALE, never another file.
import { relative } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { DeviceRecord, TableData } from '../table/record.js';
import { type Identity, identify, majorMinor, type MountInfo, parseMountinfo } from './identity.js';
import { INO_MASK, PREFIX_SHIFT } from './mapper.js';

/** What the reverse needs of a StableIdMapper (which has all of it). */
export interface ReverseSource {
  readonly root: string;
  readonly rootDev: bigint;
  readonly tableData: Readonly<TableData>;
  boundDev(device: number): bigint | undefined;
}

export interface IdPlace {
  ino: bigint;
  /** The filesystem's st_dev in this run. */
  dev: bigint;
  /** The table's name for the device ('root' for the export root's own). */
  identity: string;
  /** Where the export reaches the filesystem: '' for the export root's own, else the mount point relative to the root. */
  mountRel: string;
  fstype: string;
  /** Every inode of this filesystem (btrfs: subvolume) lies under the export root, so no containment check is needed. */
  whole: boolean;
  /** btrfs: the subvolume id (handles name it). */
  subvolume?: bigint;
}

export type Unplaced = { reason: string };

const inside = (root: string, m: MountInfo) => !relative(root, m.mountPoint).startsWith('..');

export class IdReverser {
  private mountsText = '';
  private mounts: MountInfo[] = [];
  /** mountId -> identity, for the mounts of the current text. */
  private identities = new Map<string, Promise<Identity>>();

  constructor(
    private readonly src: ReverseSource,
    private readonly identifyMount: (dev: bigint, mounts: MountInfo[]) => Promise<Identity> = (dev, mounts) =>
      identify(dev, { exportRoot: src.root, rootDev: src.rootDev, mounts }),
  ) {}

  /** Where id lives now, or why it cannot be found (an unknown prefix, a device not mounted under the export). */
  async place(id: bigint): Promise<IdPlace | Unplaced> {
    const prefix = Number(id >> PREFIX_SHIFT);
    const low = id & INO_MASK;
    const data = this.src.tableData;
    if (prefix === 0) return this.rootPlace(low);
    const p = data.prefixes[prefix - 1];
    if (!p) return { reason: `prefix ${prefix} is not in the table (${data.prefixes.length} prefixes)` };
    const rec = data.devices[p.device];
    if (!rec) return { reason: `prefix ${prefix} names device ${p.device}, which the table does not have` };
    const ino = (BigInt(p.hi) << PREFIX_SHIFT) | low;
    if (rec.kind === 'root') return this.rootPlace(ino);
    await this.refresh();
    const mount = await this.findMount(p.device, rec);
    if (!mount) return { reason: `${rec.identity} (prefix ${prefix}) is not mounted under ${this.src.root} now` };
    return this.mountPlace(ino, rec.identity, mount);
  }

  private async rootPlace(ino: bigint): Promise<IdPlace> {
    await this.refresh();
    const mm = majorMinor(this.src.rootDev);
    // The export root is a whole filesystem when it is itself the root of a mount of it.
    const whole = this.mounts.some((m) => m.majorMinor === mm && m.mountPoint === this.src.root && m.fsRoot === '/');
    return { ino, dev: this.src.rootDev, identity: 'root', mountRel: '', fstype: this.mounts.filter((m) => m.majorMinor === mm).at(-1)?.fstype ?? '', whole };
  }

  private mountPlace(ino: bigint, identity: string, m: MountInfo): IdPlace {
    const subvol = m.fstype === 'btrfs' ? /(?:^|,)subvolid=(\d+)/.exec(m.superOptions)?.[1] : undefined;
    // A btrfs subvolume mounted by itself has fsRoot = its path in the filesystem, and is whole;
    // a bind mount of a subdirectory is not. Only the subvolume's path tells them apart here.
    const subvolPath = m.fstype === 'btrfs' ? /(?:^|,)subvol=([^,]*)/.exec(m.superOptions)?.[1] : undefined;
    const whole = m.fsRoot === '/' || (subvolPath !== undefined && m.fsRoot === subvolPath);
    return {
      ino,
      dev: devOf(m),
      identity,
      mountRel: relative(this.src.root, m.mountPoint),
      fstype: m.fstype,
      whole,
      subvolume: subvol === undefined ? undefined : BigInt(subvol),
    };
  }

  /** The mount of the table's device `index`: by this run's binding, else by identity among the mounts under the root. */
  private async findMount(index: number, rec: DeviceRecord): Promise<MountInfo | undefined> {
    const under = this.mounts.filter((m) => inside(this.src.root, m) && m.mountPoint !== this.src.root);
    // The mapper prefers, for several mounts of one device, the one nearest the root: so do we.
    const nearest = (ms: MountInfo[]) => ms.sort((a, b) => a.mountPoint.length - b.mountPoint.length)[0];
    const bound = this.src.boundDev(index);
    if (bound !== undefined) return nearest(under.filter((m) => m.majorMinor === majorMinor(bound)));
    const matches: MountInfo[] = [];
    for (const m of under) {
      const id = await this.identityOf(m);
      // The mapper's own rules (stable-mapper.ts bind()): equal identity, a clone told apart by place,
      // or the weaker mount-place match when one side was recorded without its stronger source.
      if (id.identity === rec.identity || `${id.identity}@${id.alt}` === rec.identity || (id.alt === rec.alt && id.kind !== rec.kind && (id.kind === 'mount' || rec.kind === 'mount')))
        matches.push(m);
    }
    return nearest(matches);
  }

  private identityOf(m: MountInfo): Promise<Identity> {
    let p = this.identities.get(m.mountId);
    if (!p) {
      p = this.identifyMount(devOf(m), this.mounts);
      this.identities.set(m.mountId, p);
      p.catch(() => this.identities.delete(m.mountId));
    }
    return p;
  }

  private async refresh(): Promise<void> {
    const text = await readFile('/proc/self/mountinfo', 'utf8');
    if (text === this.mountsText) return;
    this.mountsText = text;
    this.mounts = parseMountinfo(text);
    this.identities.clear();
  }
}

/** The st_dev Node reports for a mountinfo major:minor (glibc's makedev). */
export function devOf(m: MountInfo): bigint {
  const [major, minor] = m.majorMinor.split(':').map(BigInt) as [bigint, bigint];
  return ((major & 0xfffn) << 8n) | ((major & ~0xfffn) << 32n) | (minor & 0xffn) | ((minor & ~0xffn) << 12n);
}
