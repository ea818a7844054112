// security.capability of open files, answered here on the JS thread without
// a trip into JS. The kernel asks for it before a write to a FUSE file
// (file_remove_privs): once per file when the server clears setuid itself
// (FUSE_HANDLE_KILLPRIV_V2, nosuid mounts: init.c), before every write
// otherwise; answered here that trip costs an fgetxattr on the file's own
// descriptor. The value is read at each request, never kept.
//
// Keyed by node id, for files with a passthrough backing (lib/fuse/
// passthrough.ts registers and unregisters them, one backing per file). An
// open file's inode number cannot go to another file, so one node id should
// never have two; if it ever does, the addon cannot tell which file the node
// is now and leaves that id to JS.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "common.h"

#define CAP_BUCKETS 4096
#define CAP_NAME "security.capability"

struct cap_file {
  uint64_t nodeid;
  int fd;        // our own dup of the backing descriptor; -1 while the id is ambiguous
  unsigned refs; // backings registered under this id
  struct cap_file *next;
};

struct cap_table {
  struct cap_file *buckets[CAP_BUCKETS];
};

static struct cap_file **slot(struct cap_table *t, uint64_t nodeid) {
  struct cap_file **p = &t->buckets[(nodeid * 0x9e3779b97f4a7c15ull) >> 52];
  while (*p && (*p)->nodeid != nodeid) p = &(*p)->next;
  return p;
}

void sf_caps_add(struct session *s, uint64_t nodeid, int fd) {
  if (!s->caps && !(s->caps = calloc(1, sizeof *s->caps))) return;
  struct cap_file **p = slot(s->caps, nodeid);
  if (*p) {
    (*p)->refs++;
    if ((*p)->fd >= 0) close((*p)->fd);
    (*p)->fd = -1;
    return;
  }
  struct cap_file *c = malloc(sizeof *c);
  if (!c) return;
  c->nodeid = nodeid;
  c->fd = dup(fd);
  c->refs = 1;
  c->next = NULL;
  *p = c;
}

void sf_caps_remove(struct session *s, uint64_t nodeid) {
  if (!s->caps) return;
  struct cap_file **p = slot(s->caps, nodeid);
  struct cap_file *c = *p;
  if (!c || --c->refs > 0) return;
  *p = c->next;
  if (c->fd >= 0) close(c->fd);
  free(c);
}

void sf_caps_free(struct session *s) {
  if (!s->caps) return;
  for (size_t i = 0; i < CAP_BUCKETS; i++) {
    for (struct cap_file *c = s->caps->buckets[i], *next; c; c = next) {
      next = c->next;
      if (c->fd >= 0) close(c->fd);
      free(c);
    }
  }
  free(s->caps);
  s->caps = NULL;
}

// 1 if the request was GETXATTR of security.capability on a registered file
// and is answered; 0 leaves it to JS.
int sf_caps_answer(struct session *s, const struct fuse_in_header *h, const void *arg, size_t arglen) {
  if (h->opcode != FUSE_GETXATTR || !s->caps || arglen < sizeof(struct fuse_getxattr_in) + sizeof CAP_NAME) return 0;
  const struct fuse_getxattr_in *in = arg;
  if (memcmp(in + 1, CAP_NAME, sizeof CAP_NAME) != 0) return 0;
  struct cap_file *c = *slot(s->caps, h->nodeid);
  if (!c || c->fd < 0) return 0;
  char value[256];  // a capability xattr is at most 24 bytes (VFS_CAP_REVISION_3)
  ssize_t n = fgetxattr(c->fd, CAP_NAME, value, sizeof value);
  if (n < 0) {
    // Too big for us (ERANGE) or anything unusual: JS answers it its way.
    if (errno != ENODATA) return 0;
    sf_send_err(s, h->unique, ENODATA);
  } else if (in->size == 0) {
    struct fuse_getxattr_out out = {.size = (uint32_t)n};
    sf_send_reply(s, h->unique, 0, &out, sizeof out, NULL, 0);
  } else if ((size_t)n > in->size) {
    sf_send_err(s, h->unique, ERANGE);
  } else {
    sf_send_reply(s, h->unique, 0, value, (size_t)n, NULL, 0);
  }
  return 1;
}
