// What stableid knows about cluster filesystems: which ones several nodes
// mount at once (so the table is shared, table.ts), how each names itself the
// same way on every node (device identity, identity.ts), and how their inode
// numbers are laid out (the mapper's prefix runs). Facts measured here:
// - GlusterFS 10 (fuse.glusterfs): mountinfo source is "HOST:/VOL" or
//   "HOST:VOL" depending on how it was mounted; no UUID, f_fsid 0; the volume
//   id is not readable through the mount. st_ino is the last 8 bytes of the
//   file's GFID, a random (version 4) UUID, so its top two bits are the UUID
//   variant 0b10: ino >> 48 is spread over 0x8000..0xBFFF (16384 values) for
//   every file but a few fixed GFIDs (the volume root is 1).
// - CephFS (ceph-fuse, or the kernel's "ceph"): source "ceph-fuse" or a
//   monitor list; the cluster's id is the xattr ceph.cluster_fsid; st_ino
//   counts up from 2^40, the same on every mount.
import * as xattr from 'fs-xattr';
import type { MountInfo } from '../mountinfo.js';

/** Filesystems that several machines mount at once: their exports get a shared table. */
export const CLUSTER_FSTYPES = new Set(['fuse.glusterfs', 'glusterfs', 'ceph', 'fuse.ceph-fuse', 'fuse.ceph', 'gpfs', 'ocfs2', 'gfs2', 'lustre', 'beegfs']);

/** The range of ino >> 48 a filesystem hands out at random, where one is known. */
export function inoRunOf(fstype: string): readonly [number, number] | undefined {
  return fstype === 'fuse.glusterfs' || fstype === 'glusterfs' ? GLUSTER_GFID_RUN : undefined;
}

export const GLUSTER_GFID_RUN = [0x8000, 0xbfff] as const;

/**
 * The mount source as every node spells it: Gluster's "Host:vol" and
 * "host:/vol/" both become "host:/vol". Nodes must still name the same
 * server (or the same DNS name): the volume's own id is not readable
 * through a mount.
 */
export function normalizeSource(fstype: string, source: string): string {
  if (fstype !== 'fuse.glusterfs' && fstype !== 'glusterfs') return source;
  const m = /^([^:]+):\/*(.*?)\/*$/.exec(source);
  return m ? `${m[1]!.toLowerCase()}:/${m[2]}` : source;
}

/** A Ceph cluster's fsid, read from the mounted filesystem, or undefined. */
export async function cephFsid(m: MountInfo, read: (path: string, name: string) => Promise<Buffer> = xattr.getAttribute): Promise<string | undefined> {
  if (m.fstype !== 'ceph' && !m.fstype.startsWith('fuse.ceph')) return undefined;
  try {
    const fsid = (await read(m.mountPoint, 'ceph.cluster_fsid')).toString('utf8').replace(/\0+$/, '').trim().toLowerCase();
    return /^[0-9a-f-]{32,36}$/.test(fsid) ? fsid : undefined;
  } catch {
    return undefined; // over-mounted, or an old client without the vxattr: fall back to the mount source
  }
}
