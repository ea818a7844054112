// Mounting as root with the new mount API (fsopen, fsconfig, fsmount,
// move_mount) rather than mount(2): the mount exists as a descriptor before
// it is attached, so its device number (the fusectl connection: the number
// under /sys/fs/fuse/connections that aborts it) is read from the mount
// itself. Reading it from mountinfo after mount(2) went by MNT's path, which
// anyone who can rename a directory above MNT can change in between; the
// server then could not abort its connection and a stop waited forever.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include "mount.h"

// MS_* flags that are the superblock's (fsconfig flags) and the mount's (attributes).
static const struct { unsigned long ms; const char *name; } SB_FLAGS[] = {
  {MS_RDONLY, "ro"}, {MS_SYNCHRONOUS, "sync"}, {MS_DIRSYNC, "dirsync"}, {MS_LAZYTIME, "lazytime"},
};
static const struct { unsigned long ms; unsigned attr; } MOUNT_ATTRS[] = {
  {MS_RDONLY, MOUNT_ATTR_RDONLY}, {MS_NOSUID, MOUNT_ATTR_NOSUID}, {MS_NODEV, MOUNT_ATTR_NODEV},
  {MS_NOEXEC, MOUNT_ATTR_NOEXEC}, {MS_NODIRATIME, MOUNT_ATTR_NODIRATIME},
};
#define KNOWN_MS (MS_RDONLY | MS_SYNCHRONOUS | MS_DIRSYNC | MS_LAZYTIME | MS_NOSUID | MS_NODEV | MS_NOEXEC | \
                  MS_NODIRATIME | MS_NOATIME | MS_STRICTATIME | MS_RELATIME)

static int set(int fsfd, const char *key, const char *value) {
  return fsconfig(fsfd, value ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, key, value, 0);
}

// One "key" or "key=value" of the data string (lib/fuse/mount-spec.ts: FUSE's
// own options, never escaped commas).
static int set_option(int fsfd, char *opt) {
  char *eq = strchr(opt, '=');
  if (eq) *eq = '\0';
  return set(fsfd, opt, eq ? eq + 1 : NULL);
}

int sf_fsmount(const struct mount_spec *m, int dir, int fuse_fd, unsigned rootmode, unsigned *connection, char *err, size_t errlen) {
  if (m->flags & ~KNOWN_MS) return errno = EOPNOTSUPP, -1;  // mount(2) takes it
  const char *subtype = strncmp(m->fstype, "fuse.", 5) == 0 ? m->fstype + 5 : NULL;
  int fsfd = fsopen("fuse", FSOPEN_CLOEXEC);
  if (fsfd < 0) return -1;
  char num[32], *data = strdup(m->data);
  int rc = data ? 0 : -1;
  snprintf(num, sizeof num, "%d", fuse_fd);
  if (rc == 0) rc = set(fsfd, "fd", num);
  snprintf(num, sizeof num, "%o", rootmode);
  if (rc == 0) rc = set(fsfd, "rootmode", num);
  snprintf(num, sizeof num, "%u", getuid());
  if (rc == 0) rc = set(fsfd, "user_id", num);
  snprintf(num, sizeof num, "%u", getgid());
  if (rc == 0) rc = set(fsfd, "group_id", num);
  if (rc == 0) rc = set(fsfd, "source", m->fsname);
  if (rc == 0 && subtype) rc = set(fsfd, "subtype", subtype);
  for (char *save = NULL, *opt = data ? strtok_r(data, ",", &save) : NULL; rc == 0 && opt; opt = strtok_r(NULL, ",", &save))
    rc = set_option(fsfd, opt);
  for (size_t i = 0; rc == 0 && i < sizeof SB_FLAGS / sizeof SB_FLAGS[0]; i++)
    if (m->flags & SB_FLAGS[i].ms) rc = set(fsfd, SB_FLAGS[i].name, NULL);
  free(data);
  if (rc == 0) rc = fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
  if (rc != 0) {
    int e = errno;
    close(fsfd);
    snprintf(err, errlen, "mount(%s on %s): %s", m->fstype, m->mountpoint, strerror(e));
    return errno = e, -2;
  }
  unsigned attrs = m->flags & MS_NOATIME ? MOUNT_ATTR_NOATIME : m->flags & MS_STRICTATIME ? MOUNT_ATTR_STRICTATIME : MOUNT_ATTR_RELATIME;
  for (size_t i = 0; i < sizeof MOUNT_ATTRS / sizeof MOUNT_ATTRS[0]; i++)
    if (m->flags & MOUNT_ATTRS[i].ms) attrs |= MOUNT_ATTRS[i].attr;
  int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
  int e = errno;
  close(fsfd);
  if (mfd < 0) {
    snprintf(err, errlen, "mount(%s on %s): %s", m->fstype, m->mountpoint, strerror(e));
    return errno = e, -2;
  }
  // The device number without asking the server for the root's attributes
  // (AT_STATX_DONT_SYNC, no mask): it does not serve yet, a GETATTR now
  // would wait forever.
  struct statx stx;
  if (statx(mfd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, 0, &stx) != 0 || move_mount(mfd, "", dir, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
    e = errno;
    close(mfd);
    snprintf(err, errlen, "mount(%s on %s): %s", m->fstype, m->mountpoint, strerror(e));
    return errno = e, -2;  // the connection is set up: no second try with mount(2)
  }
  close(mfd);
  *connection = stx.stx_dev_major << 20 | stx.stx_dev_minor;  // the kernel dev_t: the name fusectl gives it
  return 0;
}
