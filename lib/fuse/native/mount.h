// Mounting a FUSE connection (mount.c).
#pragma once
#include <stddef.h>

struct mount_spec {
  const char *mountpoint;
  const char *fsname;          // the mount's source (df, /proc/mounts)
  const char *fstype;          // fuse.stableid
  unsigned long flags;         // MS_* (nosuid, nodev, ro ...)
  const char *data;            // kernel options after fd, rootmode, user_id, group_id
  const char *fusermount_opts; // the whole -o list, for fusermount3
};

// The connected /dev/fuse descriptor (close-on-exec), or -1 with err set.
// *connection: the fusectl number of the new mount where it is known from the
// mount itself (as root), else 0.
int sf_fuse_mount_device(const struct mount_spec *m, unsigned *connection, char *err, size_t errlen);
// fsmount.c: 0 (mounted on dir), -1 with errno (no new mount API here:
// mount(2) may try), or -2 with err set (refused: no second try).
int sf_fsmount(const struct mount_spec *m, int dir, int fuse_fd, unsigned rootmode, unsigned *connection, char *err, size_t errlen);
// MNT_DETACH as root: 0 or an errno (EPERM: not root).
int sf_fuse_unmount_lazy(const char *mountpoint);
