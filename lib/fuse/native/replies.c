// Answers from JS. Each reply_* consumes its request (libfuse frees it), so
// JS calls exactly one per request. They return libfuse's result: 0, or a
// negative errno when the kernel no longer waits for the answer (interrupted
// or aborted), in which case a lookup was not counted by the kernel.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"

static fuse_req_t get_req(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

static napi_value result(napi_env env, int rc) {
  napi_value out;
  napi_create_int32(env, rc, &out);
  return out;
}

// The attributes and, for entries, the file's generation (kept next to them).
static int get_attr(napi_env env, napi_value buf, struct stat *st, uint32_t *gen) {
  void *p;
  size_t len;
  if (napi_get_buffer_info(env, buf, &p, &len) != napi_ok || len < ATTR_SIZE) return 0;
  attr_decode(p, st);
  if (gen) *gen = attr_generation(p);
  return 1;
}

// The node id is the stable id (st_ino); the generation makes a kernel file
// handle of a deleted file stale when its inode number comes back (NFS).
static void fill_entry(struct session *s, const struct stat *st, uint32_t gen, struct fuse_entry_param *e) {
  memset(e, 0, sizeof *e);
  e->ino = st->st_ino;
  e->generation = gen;
  e->attr = *st;
  e->attr_timeout = s->cfg.attr_timeout;
  e->entry_timeout = s->cfg.entry_timeout;
}

#define ARGS(n)                                                       \
  size_t argc = (n);                                                  \
  napi_value argv[(n)];                                               \
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL)); \
  fuse_req_t req = get_req(env, argv[0]);                             \
  if (!req) {                                                         \
    napi_throw_type_error(env, NULL, "not a FUSE request");           \
    return NULL;                                                      \
  }

static uint32_t u32_arg(napi_env env, napi_value v) {
  uint32_t x = 0;
  napi_get_value_uint32(env, v, &x);
  return x;
}

static double dbl_arg(napi_env env, napi_value v) {
  double x = 0;
  napi_get_value_double(env, v, &x);
  return x;
}

// replyErr(req, errno): errno > 0; 0 means success with no data.
static napi_value reply_err(napi_env env, napi_callback_info info) {
  ARGS(2) return result(env, fuse_reply_err(req, (int)u32_arg(env, argv[1])));
}

static napi_value reply_none(napi_env env, napi_callback_info info) {
  ARGS(1) fuse_reply_none(req);
  return result(env, 0);
}

// replyEntry(req, attr: Buffer, nodeId?: bigint): attr.ino 0 = negative entry
// (cached for entry_timeout). nodeId, when given, is the node id (the root's
// is 1 while its st_ino is its stable id).
static napi_value reply_entry(napi_env env, napi_callback_info info) {
  ARGS(3) struct stat st;
  struct fuse_entry_param e;
  uint32_t gen;
  if (!get_attr(env, argv[1], &st, &gen)) return result(env, fuse_reply_err(req, EIO));
  fill_entry(fuse_req_userdata(req), &st, gen, &e);
  uint64_t node;
  bool lossless;
  if (napi_get_value_bigint_uint64(env, argv[2], &node, &lossless) == napi_ok) e.ino = node;
  return result(env, fuse_reply_entry(req, &e));
}

// replyAttr(req, attr: Buffer)
static napi_value reply_attr(napi_env env, napi_callback_info info) {
  ARGS(2) struct stat st;
  if (!get_attr(env, argv[1], &st, NULL)) return result(env, fuse_reply_err(req, EIO));
  struct session *s = fuse_req_userdata(req);
  return result(env, fuse_reply_attr(req, &st, s->cfg.attr_timeout));
}

// replyReadlink(req, target: string)
static napi_value reply_readlink(napi_env env, napi_callback_info info) {
  ARGS(2) size_t len;
  napi_get_value_string_utf8(env, argv[1], NULL, 0, &len);
  char *buf = malloc(len + 1);
  if (!buf) return result(env, fuse_reply_err(req, ENOMEM));
  napi_get_value_string_utf8(env, argv[1], buf, len + 1, &len);
  int rc = fuse_reply_readlink(req, buf);
  free(buf);
  return result(env, rc);
}

enum { OPEN_KEEP_CACHE = 1, OPEN_DIRECT_IO = 2, OPEN_CACHE_DIR = 4, OPEN_FD = 8 };

static void fill_fi(struct fuse_file_info *fi, double fh, uint32_t flags) {
  memset(fi, 0, sizeof *fi);
  fi->fh = (uint64_t)fh | ((flags & OPEN_FD) ? FH_DIRECT_FD : 0);
  fi->keep_cache = (flags & OPEN_KEEP_CACHE) != 0;
  fi->direct_io = (flags & OPEN_DIRECT_IO) != 0;
  fi->cache_readdir = (flags & OPEN_CACHE_DIR) != 0;
}

// replyOpen(req, fh, flags)
static napi_value reply_open(napi_env env, napi_callback_info info) {
  ARGS(3) struct fuse_file_info fi;
  fill_fi(&fi, dbl_arg(env, argv[1]), u32_arg(env, argv[2]));
  return result(env, fuse_reply_open(req, &fi));
}

// replyCreate(req, attr: Buffer, fh, flags)
static napi_value reply_create(napi_env env, napi_callback_info info) {
  ARGS(4) struct stat st;
  struct fuse_entry_param e;
  struct fuse_file_info fi;
  uint32_t gen;
  if (!get_attr(env, argv[1], &st, &gen)) return result(env, fuse_reply_err(req, EIO));
  fill_entry(fuse_req_userdata(req), &st, gen, &e);
  fill_fi(&fi, dbl_arg(env, argv[2]), u32_arg(env, argv[3]));
  return result(env, fuse_reply_create(req, &e, &fi));
}

// replyWrite(req, count)
static napi_value reply_write(napi_env env, napi_callback_info info) {
  ARGS(2) return result(env, fuse_reply_write(req, (size_t)dbl_arg(env, argv[1])));
}

// replyBuf(req, data: Buffer | Uint8Array): the kernel copies it before this returns.
static napi_value reply_buf(napi_env env, napi_callback_info info) {
  ARGS(2) void *p = NULL;
  size_t len = 0;
  bool is_buf = false;
  napi_is_buffer(env, argv[1], &is_buf);
  if (is_buf) {
    napi_get_buffer_info(env, argv[1], &p, &len);
  } else {
    napi_typedarray_type t;
    napi_value ab;
    size_t off;
    napi_get_typedarray_info(env, argv[1], &t, &len, &p, &ab, &off);
  }
  return result(env, fuse_reply_buf(req, p, len));
}

// replyXattrSize(req, size): the answer to a size probe (size 0 request).
static napi_value reply_xattr(napi_env env, napi_callback_info info) {
  ARGS(2) return result(env, fuse_reply_xattr(req, (size_t)dbl_arg(env, argv[1])));
}

// replyStatfs(req, values: BigUint64Array [bsize, frsize, blocks, bfree, bavail, files, ffree, namelen])
static napi_value reply_statfs(napi_env env, napi_callback_info info) {
  ARGS(2) napi_typedarray_type t;
  size_t n, off;
  void *p;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[1], &t, &n, &p, &ab, &off) != napi_ok || t != napi_biguint64_array || n < 8)
    return result(env, fuse_reply_err(req, EIO));
  const uint64_t *v = p;
  struct statvfs sv;
  memset(&sv, 0, sizeof sv);
  sv.f_bsize = v[0];
  sv.f_frsize = v[1];
  sv.f_blocks = v[2];
  sv.f_bfree = v[3];
  sv.f_bavail = v[4];
  sv.f_files = v[5];
  sv.f_ffree = v[6];
  sv.f_favail = v[6];
  sv.f_namemax = v[7];
  return result(env, fuse_reply_statfs(req, &sv));
}

// replyDir(req, size, names: string[], attrs: Buffer, offsets: Float64Array, plus: boolean) -> count.
// Packs names[i] (attrs at i * ATTR_SIZE; offsets[i] is the cookie the kernel
// sends back to read on after it) until `size` bytes are full, sends the
// buffer and returns how many entries went out, so JS can count the lookups
// readdirplus created.
static napi_value reply_dir(napi_env env, napi_callback_info info) {
  ARGS(6) size_t size = (size_t)dbl_arg(env, argv[1]);
  double *offsets;
  size_t noffsets;
  napi_typedarray_type otype;
  if (napi_get_typedarray_info(env, argv[4], &otype, &noffsets, (void **)&offsets, NULL, NULL) != napi_ok || otype != napi_float64_array)
    return result(env, fuse_reply_err(req, EIO));
  bool plus = false;
  napi_get_value_bool(env, argv[5], &plus);
  uint32_t n = 0;
  napi_get_array_length(env, argv[2], &n);
  uint8_t *attrs;
  size_t alen;
  if (napi_get_buffer_info(env, argv[3], (void **)&attrs, &alen) != napi_ok || alen < (size_t)n * ATTR_SIZE || noffsets < n)
    return result(env, fuse_reply_err(req, EIO));
  char *buf = malloc(size ? size : 1);
  if (!buf) return result(env, fuse_reply_err(req, ENOMEM));
  struct session *s = fuse_req_userdata(req);
  size_t used = 0;
  uint32_t i;
  char name[1024];
  for (i = 0; i < n; i++) {
    napi_value v;
    size_t nl;
    napi_get_element(env, argv[2], i, &v);
    if (napi_get_value_string_utf8(env, v, name, sizeof name, &nl) != napi_ok) break;
    struct stat st;
    attr_decode(attrs + (size_t)i * ATTR_SIZE, &st);
    uint32_t gen = attr_generation(attrs + (size_t)i * ATTR_SIZE);
    off_t next = (off_t)offsets[i];
    size_t want;
    if (plus) {
      struct fuse_entry_param e;
      fill_entry(s, &st, gen, &e);
      // '.' and '..' carry no entry: the kernel neither links nor counts them.
      if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) {
        e.ino = 0;
        e.attr_timeout = e.entry_timeout = 0;
      }
      want = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, next);
    } else {
      want = fuse_add_direntry(req, buf + used, size - used, name, &st, next);
    }
    if (want > size - used) break;
    used += want;
  }
  int rc = fuse_reply_buf(req, buf, used);
  free(buf);
  return result(env, rc < 0 ? rc : (int)i);
}

static int64_t i64_arg(napi_env env, napi_value v) {
  int64_t x = 0;
  bool lossless;
  napi_get_value_bigint_int64(env, v, &x, &lossless);
  return x;
}

// replyLock(req, type, start: bigint, len: bigint, pid): getlk's answer (type F_UNLCK: no conflict).
static napi_value reply_lock(napi_env env, napi_callback_info info) {
  ARGS(5) struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = (short)u32_arg(env, argv[1]);
  fl.l_whence = SEEK_SET;
  fl.l_start = i64_arg(env, argv[2]);
  fl.l_len = i64_arg(env, argv[3]);
  int32_t pid = 0;
  napi_get_value_int32(env, argv[4], &pid);
  fl.l_pid = pid;
  return result(env, fuse_reply_lock(req, &fl));
}

// replyLseek(req, offset: bigint)
static napi_value reply_lseek(napi_env env, napi_callback_info info) {
  ARGS(2) return result(env, fuse_reply_lseek(req, i64_arg(env, argv[1])));
}

// interrupted(req) -> the kernel asked to abandon this request (its caller
// got a signal). Only for a request not answered yet (libfuse frees it then).
static napi_value req_interrupted(napi_env env, napi_callback_info info) {
  ARGS(1) napi_value out;
  napi_get_boolean(env, fuse_req_interrupted(req) != 0, &out);
  return out;
}

// ctx(req) -> [uid, gid, pid, umask] of the calling process.
static napi_value req_ctx(napi_env env, napi_callback_info info) {
  ARGS(1) const struct fuse_ctx *c = fuse_req_ctx(req);
  napi_value out, v;
  napi_create_array_with_length(env, 4, &out);
  napi_create_uint32(env, c->uid, &v);
  napi_set_element(env, out, 0, v);
  napi_create_uint32(env, c->gid, &v);
  napi_set_element(env, out, 1, v);
  napi_create_uint32(env, (uint32_t)c->pid, &v);
  napi_set_element(env, out, 2, v);
  napi_create_uint32(env, c->umask, &v);
  napi_set_element(env, out, 3, v);
  return out;
}

// groups(req) -> Uint32Array: the caller's supplementary groups (libfuse reads
// /proc/PID/status), so files can be made as the caller.
static napi_value req_groups(napi_env env, napi_callback_info info) {
  ARGS(1) gid_t list[256];
  int n = fuse_req_getgroups(req, 256, list);
  if (n < 0) n = 0;
  if (n > 256) n = 256;  // more than we asked for: the first 256 were filled
  napi_value ab, out;
  void *p;
  napi_create_arraybuffer(env, (size_t)n * 4, &p, &ab);
  memcpy(p, list, (size_t)n * 4);
  napi_create_typedarray(env, napi_uint32_array, (size_t)n, ab, 0, &out);
  return out;
}

napi_value reply_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"replyErr", NULL, reply_err, NULL, NULL, NULL, napi_default, NULL},
    {"replyNone", NULL, reply_none, NULL, NULL, NULL, napi_default, NULL},
    {"replyEntry", NULL, reply_entry, NULL, NULL, NULL, napi_default, NULL},
    {"replyAttr", NULL, reply_attr, NULL, NULL, NULL, napi_default, NULL},
    {"replyReadlink", NULL, reply_readlink, NULL, NULL, NULL, napi_default, NULL},
    {"replyOpen", NULL, reply_open, NULL, NULL, NULL, napi_default, NULL},
    {"replyCreate", NULL, reply_create, NULL, NULL, NULL, napi_default, NULL},
    {"replyWrite", NULL, reply_write, NULL, NULL, NULL, napi_default, NULL},
    {"replyBuf", NULL, reply_buf, NULL, NULL, NULL, napi_default, NULL},
    {"replyXattrSize", NULL, reply_xattr, NULL, NULL, NULL, napi_default, NULL},
    {"replyStatfs", NULL, reply_statfs, NULL, NULL, NULL, napi_default, NULL},
    {"replyDir", NULL, reply_dir, NULL, NULL, NULL, napi_default, NULL},
    {"ctx", NULL, req_ctx, NULL, NULL, NULL, napi_default, NULL},
    {"groups", NULL, req_groups, NULL, NULL, NULL, napi_default, NULL},
    {"replyLock", NULL, reply_lock, NULL, NULL, NULL, napi_default, NULL},
    {"replyLseek", NULL, reply_lseek, NULL, NULL, NULL, napi_default, NULL},
    {"interrupted", NULL, req_interrupted, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
