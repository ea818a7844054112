// Answers to the device. One writev per answer: the kernel takes it whole
// or refuses it (ENOENT: the request was interrupted and is gone). Safe from
// any thread: the device serialises writes.
#include <errno.h>
#include <sys/uio.h>
#include "common.h"

int sf_send_reply(struct session *s, uint64_t unique, int error, const void *a, size_t alen, const void *b, size_t blen) {
  struct fuse_out_header out = {.len = (uint32_t)(sizeof out + alen + blen), .error = -error, .unique = unique};
  struct iovec iov[3] = {{&out, sizeof out}, {(void *)a, alen}, {(void *)b, blen}};
  int n = 1 + (alen > 0) + (blen > 0);
  if (!alen && blen) iov[1] = iov[2];
  for (;;) {
    ssize_t w = writev(s->fd, iov, n);
    if (w >= 0) return 0;
    if (errno == EINTR) continue;
    return -errno;
  }
}

int sf_send_err(struct session *s, uint64_t unique, int error) {
  return sf_send_reply(s, unique, error, NULL, 0, NULL, 0);
}
