// Device identity (DESIGN.md 1): st_dev changes across reboots and remounts,
// so a device is recognised by something that does not:
//   root   the export root's own filesystem (the table lives on it)
//   uuid   the filesystem UUID from its superblock (`blkid -p`), plus for
//          btrfs the subvolume, which shares the UUID but has its own st_dev;
//          for CephFS the cluster's fsid and the mounted directory
//   mount  fstype, source and mount point relative to the export root, from
//          /proc/self/mountinfo (tmpfs, network filesystems, no blkid); the
//          source normalized so every node of a cluster spells it alike
//          (cluster.ts)
// None of these is a node-local number, so stableid processes on several
// nodes over one cluster filesystem name each device alike (except stdev).
//   stdev  nothing better was found (no mountinfo line: e.g. a btrfs
//          subvolume crossed without its own mount), with the boot id:
//          new ids after a reboot (logged), never another device's ids
// The mount place is also kept as `alt`, so a device recorded one way can be
// recognised if the stronger source is unreadable on a later run.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import type { IdentityKind } from '../table/record.js';
import type { MountInfo } from '../mountinfo.js';
import { cephFsid, inoRunOf, normalizeSource } from './cluster.js';

export interface Identity {
  kind: IdentityKind;
  identity: string;
  alt: string;
  /** ino >> 48 values this filesystem spreads its inode numbers over at random (Gluster): the mapper claims them as one run. */
  inoRun?: readonly [number, number];
}

export { type MountInfo, parseMountinfo, readMountinfo } from '../mountinfo.js';

/** glibc's gnu_dev_major/minor on the st_dev Node reports. */
export function majorMinor(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return `${major}:${minor}`;
}

/** UUID and TYPE of a block device from its superblock, or undefined (no blkid, not root, no UUID). */
export function blkidProbe(source: string): Promise<{ uuid: string; type: string } | undefined> {
  if (!source.startsWith('/dev/')) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    execFile('blkid', ['-p', '-o', 'export', source], { timeout: 5000 }, (err, stdout) => {
      if (err) return resolve(undefined);
      const kv = Object.fromEntries(stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      resolve(kv.UUID ? { uuid: kv.UUID, type: kv.TYPE ?? 'unknown' } : undefined);
    });
  });
}

export interface IdentifyOptions {
  exportRoot: string;
  rootDev: bigint;
  mounts: MountInfo[];
  probe?: typeof blkidProbe;
  bootId?: () => Promise<string>;
  /** Reads ceph.cluster_fsid (tests inject it). */
  readXattr?: (path: string, name: string) => Promise<Buffer>;
}

let bootId: Promise<string> | undefined;

/** This boot's id (/proc/sys/kernel/random/boot_id), read once. */
export function readBootId(): Promise<string> {
  bootId ??= readFile('/proc/sys/kernel/random/boot_id', 'utf8').then((s) => s.trim());
  return bootId;
}

/** The stable identity of the filesystem whose st_dev is `dev` in this run. */
export async function identify(dev: bigint, o: IdentifyOptions): Promise<Identity> {
  const mm = majorMinor(dev);
  const cands = o.mounts.filter((m) => m.majorMinor === mm);
  if (dev === o.rootDev) {
    const inoRun = cands.length ? inoRunOf(cands[0]!.fstype) : undefined;
    return { kind: 'root', identity: 'root', alt: 'root', ...(inoRun && { inoRun }) };
  }
  if (cands.length === 0) {
    // Anonymous st_dev numbers are handed out again at every boot: keyed by
    // number alone, another subvolume could inherit this one's ids after a
    // reboot. With the boot id, its ids change after a reboot but never repeat.
    const boot = await (o.bootId ?? readBootId)();
    return { kind: 'stdev', identity: `stdev:${boot}:${mm}`, alt: `stdev:${boot}:${mm}` };
  }
  // Several lines for one st_dev are bind mounts of the same filesystem: prefer the one inside the export.
  const rel = (m: MountInfo) => relative(o.exportRoot, m.mountPoint) || '.';
  const inside = (m: MountInfo) => !rel(m).startsWith('..');
  cands.sort((a, b) => Number(inside(b)) - Number(inside(a)) || rel(a).length - rel(b).length);
  const m = cands[0]!;
  const sub = m.fstype === 'btrfs' ? `:subvol=${/subvolid=(\d+)/.exec(m.superOptions)?.[1] ?? '?'}:${m.fsRoot}` : '';
  const alt = `mount:${m.fstype}:${normalizeSource(m.fstype, m.source)}:${rel(m)}${sub}`;
  const inoRun = inoRunOf(m.fstype);
  const run = inoRun ? { inoRun } : {};
  const fsid = await cephFsid(m, o.readXattr);
  if (fsid) return { kind: 'uuid', identity: `uuid:ceph:${fsid}:${m.fsRoot}`, alt, ...run };
  const uuid = await (o.probe ?? blkidProbe)(m.source);
  if (uuid) return { kind: 'uuid', identity: `uuid:${uuid.type}:${uuid.uuid}${sub}`, alt, ...run };
  return { kind: 'mount', identity: alt, alt, ...run };
}
