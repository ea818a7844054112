// Registering a backing file (kernel passthrough) with the credentials its
// reads and writes will run under: the kernel takes the caller's at the
// ioctl and keeps them for every I/O on files opened with that backing.
//
// Under FUSE_HANDLE_KILLPRIV_V2 the kernel no longer clears setuid and
// setgid before a write to a FUSE file, and passthrough writes never reach
// the server, so the source filesystem must do it: it does for any writer
// without CAP_FSETID. So the backing is registered while this thread's
// effective set lacks CAP_FSETID (CAP_SYS_ADMIN, which the ioctl needs,
// stays), and the set is restored right after. Credentials are per thread:
// nothing else on this (the JS) thread runs in between.
#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "common.h"

static int caps_get(struct __user_cap_data_struct d[2]) {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  return (int)syscall(SYS_capget, &h, d);
}

static int caps_set(struct __user_cap_data_struct d[2]) {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  return (int)syscall(SYS_capset, &h, d);
}

int sf_backing_open(struct session *s, struct stableid_backing_map *map) {
  if (!s->killpriv_v2) return ioctl(s->fd, STABLEID_IOC_BACKING_OPEN, map);
  struct __user_cap_data_struct caps[2], without[2];
  if (caps_get(caps) != 0) return -1;
  const uint32_t bit = 1u << (CAP_FSETID % 32);
  int had = (caps[CAP_FSETID / 32].effective & bit) != 0;
  if (had) {
    without[0] = caps[0];
    without[1] = caps[1];
    without[CAP_FSETID / 32].effective &= ~bit;
    // Refused: registering with CAP_FSETID would let writes keep setuid on the source.
    if (caps_set(without) != 0) return errno = EPERM, -1;
  }
  int id = ioctl(s->fd, STABLEID_IOC_BACKING_OPEN, map);
  int err = errno;
  if (had && caps_set(caps) != 0) abort();  // the server would go on without CAP_FSETID on its main thread
  errno = err;
  return id;
}
