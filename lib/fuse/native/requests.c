// libfuse low-level op callbacks (on the loop thread) and their delivery to
// JS (on the JS thread). A callback copies what it needs into an event and
// queues it; it never waits, so one loop thread serves any number of
// requests in flight. Forgets need no answer and are acknowledged here.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common.h"

static struct event *ev_new(fuse_req_t req, enum op op, fuse_ino_t ino) {
  struct event *ev = calloc(1, sizeof *ev);
  if (!ev) return NULL;
  ev->op = op;
  ev->req = req;
  ev->ino = ino;
  return ev;
}

static void send_ev(fuse_req_t req, struct event *ev) {
  if (!ev) {
    if (req) fuse_reply_err(req, ENOMEM);
    return;
  }
  queue_event(fuse_req_userdata(req), ev);
}

static void with_fi(struct event *ev, struct fuse_file_info *fi) {
  if (fi) {
    ev->fh = fi->fh & ~FH_DIRECT_FD;
    ev->has_fh = 1;
  }
}

#define EV(op) struct event *ev = ev_new(req, op, ino); if (!ev) { fuse_reply_err(req, ENOMEM); return; }
#define EVP(op) struct event *ev = ev_new(req, op, parent); if (!ev) { fuse_reply_err(req, ENOMEM); return; }

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  EVP(OP_LOOKUP) ev->name = strdup(name);
  send_ev(req, ev);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  struct session *s = fuse_req_userdata(req);
  fuse_reply_none(req);
  struct event *ev = ev_new(NULL, OP_FORGET, 0);
  if (!ev || !(ev->pairs = malloc(2 * sizeof(uint64_t)))) { free(ev); return; }  // a lost forget only leaks a node entry
  ev->pairs[0] = ino;
  ev->pairs[1] = nlookup;
  ev->npairs = 1;
  queue_event(s, ev);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets) {
  struct session *s = fuse_req_userdata(req);
  struct event *ev = ev_new(NULL, OP_FORGET, 0);
  if (ev && (ev->pairs = malloc(2 * count * sizeof(uint64_t)))) {
    for (size_t i = 0; i < count; i++) {
      ev->pairs[2 * i] = forgets[i].ino;
      ev->pairs[2 * i + 1] = forgets[i].nlookup;
    }
    ev->npairs = count;
    queue_event(s, ev);
  } else {
    free(ev);
  }
  fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  EV(OP_GETATTR) with_fi(ev, fi);
  send_ev(req, ev);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
  EV(OP_SETATTR) with_fi(ev, fi);
  ev->st = *attr;
  ev->u1 = (uint64_t)to_set;
  send_ev(req, ev);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  EV(OP_READLINK) send_ev(req, ev);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  EVP(OP_MKNOD) ev->name = strdup(name);
  ev->u1 = mode;
  ev->u2 = rdev;
  send_ev(req, ev);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  EVP(OP_MKDIR) ev->name = strdup(name);
  ev->u1 = mode;
  send_ev(req, ev);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
  EVP(OP_UNLINK) ev->name = strdup(name);
  send_ev(req, ev);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
  EVP(OP_RMDIR) ev->name = strdup(name);
  send_ev(req, ev);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
  EVP(OP_SYMLINK) ev->name = strdup(name);
  ev->name2 = strdup(link);
  send_ev(req, ev);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname,
                      unsigned int flags) {
  EVP(OP_RENAME) ev->name = strdup(name);
  ev->ino2 = newparent;
  ev->name2 = strdup(newname);
  ev->u2 = flags;
  send_ev(req, ev);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  EV(OP_LINK) ev->ino2 = newparent;
  ev->name2 = strdup(newname);
  send_ev(req, ev);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  EV(OP_OPEN) ev->u2 = (uint64_t)fi->flags;
  send_ev(req, ev);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  if (fi->fh & FH_DIRECT_FD) {
    struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
    buf.buf[0].fd = (int)(fi->fh & 0xffffffffu);
    buf.buf[0].pos = off;
    fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
    return;
  }
  EV(OP_READ) with_fi(ev, fi);
  ev->u1 = size;
  ev->off = off;
  send_ev(req, ev);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  if (fi->fh & FH_DIRECT_FD) {
    ssize_t n = pwrite((int)(fi->fh & 0xffffffffu), buf, size, off);
    if (n < 0) fuse_reply_err(req, errno);
    else fuse_reply_write(req, (size_t)n);
    return;
  }
  EV(OP_WRITE) with_fi(ev, fi);
  ev->data = malloc(size ? size : 1);
  if (!ev->data) { free(ev); fuse_reply_err(req, ENOMEM); return; }
  memcpy(ev->data, buf, size);
  ev->len = size;
  ev->off = off;
  send_ev(req, ev);
}

static int locks_used(fuse_req_t req) {
  struct session *s = fuse_req_userdata(req);
  return __atomic_load_n(&s->locks_used, __ATOMIC_ACQUIRE);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  if (fi->fh & FH_DIRECT_FD) {
    // As close(2) would on the source: close a duplicate, which reports
    // delayed write errors (NFS), keeping the fd open.
    int fd = dup((int)(fi->fh & 0xffffffffu));
    int err = fd < 0 ? errno : (close(fd) == 0 ? 0 : errno);
    // Once the mount has seen a lock, every close goes on to JS, which drops
    // the closing process's record locks (POSIX: any close of the file does).
    if (err || !locks_used(req)) {
      fuse_reply_err(req, err);
      return;
    }
  }
  EV(OP_FLUSH) with_fi(ev, fi);
  ev->owner = fi->lock_owner;
  send_ev(req, ev);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  EV(OP_RELEASE) with_fi(ev, fi);
  send_ev(req, ev);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  EV(OP_FSYNC) with_fi(ev, fi);
  ev->u1 = (uint64_t)datasync;
  send_ev(req, ev);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  EV(OP_OPENDIR) ev->u2 = (uint64_t)fi->flags;
  send_ev(req, ev);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  EV(OP_READDIR) with_fi(ev, fi);
  ev->u1 = size;
  ev->off = off;
  send_ev(req, ev);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  EV(OP_READDIRPLUS) with_fi(ev, fi);
  ev->u1 = size;
  ev->off = off;
  send_ev(req, ev);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  EV(OP_RELEASEDIR) with_fi(ev, fi);
  send_ev(req, ev);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  EV(OP_FSYNCDIR) with_fi(ev, fi);
  ev->u1 = (uint64_t)datasync;
  send_ev(req, ev);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino) {
  EV(OP_STATFS) send_ev(req, ev);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags) {
  EV(OP_SETXATTR) ev->name = strdup(name);
  ev->data = malloc(size ? size : 1);
  if (!ev->data) { free(ev->name); free(ev); fuse_reply_err(req, ENOMEM); return; }
  memcpy(ev->data, value, size);
  ev->len = size;
  ev->u2 = (uint64_t)flags;
  send_ev(req, ev);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  EV(OP_GETXATTR) ev->name = strdup(name);
  ev->u1 = size;
  send_ev(req, ev);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  EV(OP_LISTXATTR) ev->u1 = size;
  send_ev(req, ev);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
  EV(OP_REMOVEXATTR) ev->name = strdup(name);
  send_ev(req, ev);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask) {
  EV(OP_ACCESS) ev->u1 = (uint64_t)mask;
  send_ev(req, ev);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
  EVP(OP_CREATE) ev->name = strdup(name);
  ev->u1 = mode;
  ev->u2 = (uint64_t)fi->flags;
  send_ev(req, ev);
}

// Locks: fi->lock_owner is the kernel's owner (a process for POSIX record
// locks, an open file for flock and OFD locks); JS holds them on the source.
static void lock_seen(fuse_req_t req) {
  struct session *s = fuse_req_userdata(req);
  __atomic_store_n(&s->locks_used, 1, __ATOMIC_RELEASE);
}

static void op_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock) {
  lock_seen(req);
  EV(OP_GETLK) with_fi(ev, fi);
  ev->owner = fi->lock_owner;
  ev->lk = *lock;
  send_ev(req, ev);
}

static void op_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock, int sleep) {
  lock_seen(req);
  EV(OP_SETLK) with_fi(ev, fi);
  ev->owner = fi->lock_owner;
  ev->lk = *lock;
  ev->u1 = (uint64_t)sleep;
  send_ev(req, ev);
}

static void op_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op) {
  lock_seen(req);
  EV(OP_FLOCK) with_fi(ev, fi);
  ev->owner = fi->lock_owner;
  ev->u1 = (uint64_t)op;
  send_ev(req, ev);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, struct fuse_file_info *fi) {
  EV(OP_FALLOCATE) with_fi(ev, fi);
  ev->u1 = (uint64_t)mode;
  ev->off = offset;
  ev->off2 = length;
  send_ev(req, ev);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi) {
  EV(OP_LSEEK) with_fi(ev, fi);
  ev->off = off;
  ev->u1 = (uint64_t)whence;
  send_ev(req, ev);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino, off_t off_in, struct fuse_file_info *fi_in, fuse_ino_t ino_out,
                               off_t off_out, struct fuse_file_info *fi_out, size_t len, int flags) {
  EV(OP_COPY_FILE_RANGE) with_fi(ev, fi_in);
  ev->ino2 = ino_out;
  ev->fh2 = fi_out->fh & ~FH_DIRECT_FD;
  ev->off = off_in;
  ev->off2 = off_out;
  ev->u1 = len;
  ev->u2 = (uint64_t)flags;
  send_ev(req, ev);
}

const struct fuse_lowlevel_ops stableid_ops = {
  .init = stableid_init,
  .lookup = op_lookup,
  .forget = op_forget,
  .forget_multi = op_forget_multi,
  .getattr = op_getattr,
  .setattr = op_setattr,
  .readlink = op_readlink,
  .mknod = op_mknod,
  .mkdir = op_mkdir,
  .unlink = op_unlink,
  .rmdir = op_rmdir,
  .symlink = op_symlink,
  .rename = op_rename,
  .link = op_link,
  .open = op_open,
  .read = op_read,
  .write = op_write,
  .flush = op_flush,
  .release = op_release,
  .fsync = op_fsync,
  .opendir = op_opendir,
  .readdir = op_readdir,
  .readdirplus = op_readdirplus,
  .releasedir = op_releasedir,
  .fsyncdir = op_fsyncdir,
  .statfs = op_statfs,
  .setxattr = op_setxattr,
  .getxattr = op_getxattr,
  .listxattr = op_listxattr,
  .removexattr = op_removexattr,
  .access = op_access,
  .create = op_create,
  .getlk = op_getlk,
  .setlk = op_setlk,
  .flock = op_flock,
  .fallocate = op_fallocate,
  .lseek = op_lseek,
  .copy_file_range = op_copy_file_range,
};

void free_event(struct event *ev) {
  free(ev->name);
  free(ev->name2);
  free(ev->data);
  free(ev->pairs);
  free(ev);
}

static void free_data(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

// JS side: handler(op, req, ino, a, b, c, d); the meaning of a..d per op is
// documented in lib/fuse/native.ts.
void call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  struct event *ev = data;
  if (env == NULL || js_cb == NULL) {  // the session is closing: answer so the caller does not hang
    if (ev->req) fuse_reply_err(ev->req, EIO);
    free_event(ev);
    return;
  }
  napi_value argv[7], undef;
  napi_get_undefined(env, &undef);
  for (int i = 0; i < 7; i++) argv[i] = undef;
  napi_create_uint32(env, ev->op, &argv[0]);
  if (ev->req) napi_create_external(env, ev->req, NULL, NULL, &argv[1]);
  napi_create_bigint_uint64(env, ev->ino, &argv[2]);
  napi_value *a = &argv[3];
  double fh = ev->has_fh ? (double)ev->fh : -1;
  switch (ev->op) {
    case OP_ENDED:
      napi_create_int32(env, (int32_t)ev->u1, &a[0]);
      break;
    case OP_FORGET: {
      napi_value ab;
      void *p;
      napi_create_arraybuffer(env, ev->npairs * 16, &p, &ab);
      memcpy(p, ev->pairs, ev->npairs * 16);
      napi_create_typedarray(env, napi_biguint64_array, ev->npairs * 2, ab, 0, &a[0]);
      break;
    }
    case OP_LOOKUP: case OP_UNLINK: case OP_RMDIR:
      napi_create_string_utf8(env, ev->name, NAPI_AUTO_LENGTH, &a[0]);
      break;
    case OP_GETATTR: case OP_RELEASE: case OP_RELEASEDIR:
      napi_create_double(env, fh, &a[0]);
      break;
    case OP_FLUSH:
      napi_create_double(env, fh, &a[0]);
      napi_create_bigint_uint64(env, ev->owner, &a[1]);
      break;
    case OP_SETATTR: {
      void *p;
      napi_create_uint32(env, (uint32_t)ev->u1, &a[0]);
      napi_create_double(env, fh, &a[1]);
      napi_create_buffer(env, ATTR_SIZE, &p, &a[2]);
      attr_encode(&ev->st, p);
      break;
    }
    case OP_READLINK: case OP_STATFS:
      break;
    case OP_MKNOD:
      napi_create_string_utf8(env, ev->name, NAPI_AUTO_LENGTH, &a[0]);
      napi_create_uint32(env, (uint32_t)ev->u1, &a[1]);
      napi_create_bigint_uint64(env, ev->u2, &a[2]);
      break;
    case OP_MKDIR:
      napi_create_string_utf8(env, ev->name, NAPI_AUTO_LENGTH, &a[0]);
      napi_create_uint32(env, (uint32_t)ev->u1, &a[1]);
      break;
    case OP_SYMLINK:
      napi_create_string_utf8(env, ev->name, NAPI_AUTO_LENGTH, &a[0]);
      napi_create_string_utf8(env, ev->name2, NAPI_AUTO_LENGTH, &a[1]);
      break;
    case OP_RENAME:
      napi_create_string_utf8(env, ev->name, NAPI_AUTO_LENGTH, &a[0]);
      napi_create_bigint_uint64(env, ev->ino2, &a[1]);
      napi_create_string_utf8(env, ev->name2, NAPI_AUTO_LENGTH, &a[2]);
      napi_create_uint32(env, (uint32_t)ev->u2, &a[3]);
      break;
    case OP_LINK:
      napi_create_bigint_uint64(env, ev->ino2, &a[0]);
      napi_create_string_utf8(env, ev->name2, NAPI_AUTO_LENGTH, &a[1]);
      break;
    case OP_OPEN: case OP_OPENDIR:
      napi_create_uint32(env, (uint32_t)ev->u2, &a[0]);
      break;
    case OP_READ: case OP_READDIR: case OP_READDIRPLUS:
      napi_create_double(env, fh, &a[0]);
      napi_create_double(env, (double)ev->u1, &a[1]);
      napi_create_bigint_int64(env, ev->off, &a[2]);
      break;
    case OP_WRITE:
      napi_create_double(env, fh, &a[0]);
      if (napi_create_external_buffer(env, ev->len, ev->data, free_data, NULL, &a[1]) == napi_ok) ev->data = NULL;
      else napi_create_buffer_copy(env, ev->len, ev->data, NULL, &a[1]);
      napi_create_bigint_int64(env, ev->off, &a[2]);
      break;
    case OP_FSYNC: case OP_FSYNCDIR:
      napi_create_double(env, fh, &a[0]);
      napi_get_boolean(env, ev->u1 != 0, &a[1]);
      break;
    case OP_SETXATTR:
      napi_create_string_utf8(env, ev->name, NAPI_AUTO_LENGTH, &a[0]);
      napi_create_buffer_copy(env, ev->len, ev->data, NULL, &a[1]);
      napi_create_uint32(env, (uint32_t)ev->u2, &a[2]);
      break;
    case OP_GETXATTR:
      napi_create_string_utf8(env, ev->name, NAPI_AUTO_LENGTH, &a[0]);
      napi_create_double(env, (double)ev->u1, &a[1]);
      break;
    case OP_LISTXATTR:
      napi_create_double(env, (double)ev->u1, &a[0]);
      break;
    case OP_REMOVEXATTR:
      napi_create_string_utf8(env, ev->name, NAPI_AUTO_LENGTH, &a[0]);
      break;
    case OP_ACCESS:
      napi_create_uint32(env, (uint32_t)ev->u1, &a[0]);
      break;
    case OP_CREATE:
      napi_create_string_utf8(env, ev->name, NAPI_AUTO_LENGTH, &a[0]);
      napi_create_uint32(env, (uint32_t)ev->u1, &a[1]);
      napi_create_uint32(env, (uint32_t)ev->u2, &a[2]);
      break;
    case OP_GETLK: case OP_SETLK: {
      void *p;
      napi_value ab;
      napi_create_double(env, fh, &a[0]);
      napi_create_bigint_uint64(env, ev->owner, &a[1]);
      napi_create_arraybuffer(env, 4 * sizeof(int64_t), &p, &ab);
      int64_t *v = p;
      v[0] = ev->lk.l_type;
      v[1] = ev->lk.l_start;
      v[2] = ev->lk.l_len;
      v[3] = ev->lk.l_pid;
      napi_create_typedarray(env, napi_bigint64_array, 4, ab, 0, &a[2]);
      napi_get_boolean(env, ev->u1 != 0, &a[3]);
      break;
    }
    case OP_FLOCK:
      napi_create_double(env, fh, &a[0]);
      napi_create_bigint_uint64(env, ev->owner, &a[1]);
      napi_create_uint32(env, (uint32_t)ev->u1, &a[2]);
      break;
    case OP_FALLOCATE:
      napi_create_double(env, fh, &a[0]);
      napi_create_uint32(env, (uint32_t)ev->u1, &a[1]);
      napi_create_bigint_int64(env, ev->off, &a[2]);
      napi_create_bigint_int64(env, ev->off2, &a[3]);
      break;
    case OP_LSEEK:
      napi_create_double(env, fh, &a[0]);
      napi_create_bigint_int64(env, ev->off, &a[1]);
      napi_create_uint32(env, (uint32_t)ev->u1, &a[2]);
      break;
    case OP_COPY_FILE_RANGE: {
      void *p;
      napi_value ab;
      napi_create_double(env, fh, &a[0]);
      napi_create_bigint_int64(env, ev->off, &a[1]);
      napi_create_double(env, (double)ev->fh2, &a[2]);
      napi_create_arraybuffer(env, 3 * sizeof(int64_t), &p, &ab);
      int64_t *v = p;
      v[0] = ev->off2;
      v[1] = (int64_t)ev->u1;
      v[2] = (int64_t)ev->u2;
      napi_create_typedarray(env, napi_bigint64_array, 3, ab, 0, &a[3]);
      break;
    }
  }
  free_event(ev);
  napi_value global, ignored;
  napi_get_global(env, &global);
  // A throwing handler is a bug in lib/fuse: the request would never be
  // answered, so the JS dispatcher catches everything itself. If something
  // still escapes, N-API reports it as an uncaught exception.
  napi_call_function(env, global, js_cb, 7, argv, &ignored);
}
