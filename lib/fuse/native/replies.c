// Answers from JS. Every reply takes (session, req, ...), where req is the
// request's unique id: the request must still be in the in-flight table (it
// leaves it when answered), so a second answer writes nothing and returns
// -EALREADY. Otherwise a reply returns 0, or a negative errno when the
// kernel stopped waiting (-ENOENT: the caller was interrupted).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"

static napi_value result(napi_env env, int rc) {
  napi_value v;
  napi_create_int32(env, rc, &v);
  return v;
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

static int64_t i64_arg(napi_env env, napi_value v) {
  int64_t x = 0;
  bool lossless;
  napi_get_value_bigint_int64(env, v, &x, &lossless);
  return x;
}

// The request a reply answers, or NULL (answered already, or unknown).
static struct req *req_arg(struct session *s, napi_env env, napi_value v) {
  double u = 0;
  if (napi_get_value_double(env, v, &u) != napi_ok || u <= 0) return NULL;
  return sf_req_find(&s->reqs, (uint64_t)u);
}

// A reply's start: the session, then the request it answers (argv[1]).
#define ARGS(n)                                                         \
  SESSION_ARGS(n)                                                       \
  struct req *r = req_arg(s, env, argv[1]);                             \
  if (!r) return result(env, -EALREADY);                                \
  uint64_t unique = r->unique;

// Sends and takes the request out of the table.
static napi_value answer(napi_env env, struct session *s, uint64_t unique, int error, const void *a, size_t alen, const void *b, size_t blen) {
  int rc = sf_send_reply(s, unique, error, a, alen, b, blen);
  sf_req_remove(&s->reqs, unique);
  return result(env, rc);
}

static const uint8_t *attr_arg(napi_env env, napi_value v) {
  void *p;
  size_t len;
  if (napi_get_buffer_info(env, v, &p, &len) != napi_ok || len < ATTR_SIZE) return NULL;
  return p;
}

// replyErr(s, req, errno): errno > 0; 0 means success with no data.
static napi_value reply_err(napi_env env, napi_callback_info info) {
  ARGS(3) return answer(env, s, unique, (int)u32_arg(env, argv[2]), NULL, 0, NULL, 0);
}

// replyEntry(s, req, attr: Buffer, nodeId?: bigint): attr.ino 0 = negative
// entry (cached for entry_timeout). nodeId, when given, is the node id (the
// root's is 1 while its st_ino is its stable id).
static napi_value reply_entry(napi_env env, napi_callback_info info) {
  ARGS(4) const uint8_t *attr = attr_arg(env, argv[2]);
  if (!attr) return answer(env, s, unique, EIO, NULL, 0, NULL, 0);
  struct fuse_entry_out e;
  sf_fill_entry(s, attr, &e);
  uint64_t node;
  bool lossless;
  if (napi_get_value_bigint_uint64(env, argv[3], &node, &lossless) == napi_ok) e.nodeid = node;
  return answer(env, s, unique, 0, &e, sizeof e, NULL, 0);
}

// replyAttr(s, req, attr: Buffer)
static napi_value reply_attr(napi_env env, napi_callback_info info) {
  ARGS(3) const uint8_t *attr = attr_arg(env, argv[2]);
  if (!attr) return answer(env, s, unique, EIO, NULL, 0, NULL, 0);
  struct fuse_attr_out out;
  memset(&out, 0, sizeof out);
  out.attr_valid = (uint64_t)s->cfg.attr_timeout;
  out.attr_valid_nsec = (uint32_t)((s->cfg.attr_timeout - (double)out.attr_valid) * 1e9);
  sf_attr_to_fuse(attr, &out.attr);
  return answer(env, s, unique, 0, &out, sizeof out, NULL, 0);
}

// replyReadlink(s, req, target: string)
static napi_value reply_readlink(napi_env env, napi_callback_info info) {
  ARGS(3) size_t len;
  napi_get_value_string_utf8(env, argv[2], NULL, 0, &len);
  char *buf = malloc(len + 1);
  if (!buf) return answer(env, s, unique, ENOMEM, NULL, 0, NULL, 0);
  napi_get_value_string_utf8(env, argv[2], buf, len + 1, &len);
  napi_value rc = answer(env, s, unique, 0, buf, len, NULL, 0);
  free(buf);
  return rc;
}

// backing > 0: the kernel reads and writes the registered backing file itself.
static void fill_open(struct stableid_open_out *o, double fh, uint32_t flags, int32_t backing) {
  memset(o, 0, sizeof *o);
  o->fh = (uint64_t)fh | ((flags & OPEN_FD) ? FH_DIRECT_FD : 0);
  if (flags & OPEN_KEEP_CACHE) o->open_flags |= FOPEN_KEEP_CACHE;
  if (flags & OPEN_DIRECT_IO) o->open_flags |= FOPEN_DIRECT_IO;
  if (flags & OPEN_CACHE_DIR) o->open_flags |= FOPEN_CACHE_DIR;
  if (flags & OPEN_NOFLUSH) o->open_flags |= FOPEN_NOFLUSH;
  if (backing > 0) {
    o->open_flags |= FOPEN_PASSTHROUGH;
    o->backing_id = backing;
  }
}

static int32_t backing_arg(napi_env env, size_t argc, napi_value *argv, size_t i) {
  int32_t id = 0;
  if (argc > i) napi_get_value_int32(env, argv[i], &id);
  return id;
}

// replyOpen(s, req, fh, flags, backingId?)
static napi_value reply_open(napi_env env, napi_callback_info info) {
  ARGS(5) struct stableid_open_out o;
  fill_open(&o, dbl_arg(env, argv[2]), u32_arg(env, argv[3]), backing_arg(env, argc, argv, 4));
  return answer(env, s, unique, 0, &o, sizeof o, NULL, 0);
}

// replyCreate(s, req, attr: Buffer, fh, flags, backingId?)
static napi_value reply_create(napi_env env, napi_callback_info info) {
  ARGS(6) const uint8_t *attr = attr_arg(env, argv[2]);
  if (!attr) return answer(env, s, unique, EIO, NULL, 0, NULL, 0);
  struct fuse_entry_out e;
  struct stableid_open_out o;
  sf_fill_entry(s, attr, &e);
  fill_open(&o, dbl_arg(env, argv[3]), u32_arg(env, argv[4]), backing_arg(env, argc, argv, 5));
  return answer(env, s, unique, 0, &e, sizeof e, &o, sizeof o);
}

// replyWrite(s, req, count): WRITE's and COPY_FILE_RANGE's answer.
static napi_value reply_write(napi_env env, napi_callback_info info) {
  ARGS(3) struct fuse_write_out out = {.size = (uint32_t)dbl_arg(env, argv[2])};
  return answer(env, s, unique, 0, &out, sizeof out, NULL, 0);
}

// replyBuf(s, req, data: Buffer | Uint8Array): the kernel copies it before this returns.
static napi_value reply_buf(napi_env env, napi_callback_info info) {
  ARGS(3) void *p = NULL;
  size_t len = 0;
  bool is_buf = false;
  napi_is_buffer(env, argv[2], &is_buf);
  if (is_buf) {
    napi_get_buffer_info(env, argv[2], &p, &len);
  } else {
    napi_typedarray_type t;
    napi_value ab;
    size_t off;
    napi_get_typedarray_info(env, argv[2], &t, &len, &p, &ab, &off);
  }
  return answer(env, s, unique, 0, p, len, NULL, 0);
}

// replyXattrSize(s, req, size): the answer to a size probe (size 0 request).
static napi_value reply_xattr(napi_env env, napi_callback_info info) {
  ARGS(3) struct fuse_getxattr_out out = {.size = (uint32_t)dbl_arg(env, argv[2])};
  return answer(env, s, unique, 0, &out, sizeof out, NULL, 0);
}

// replyStatfs(s, req, values: BigUint64Array [bsize, frsize, blocks, bfree, bavail, files, ffree, namelen])
static napi_value reply_statfs(napi_env env, napi_callback_info info) {
  ARGS(3) napi_typedarray_type t;
  size_t n, off;
  void *p;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[2], &t, &n, &p, &ab, &off) != napi_ok || t != napi_biguint64_array || n < 8)
    return answer(env, s, unique, EIO, NULL, 0, NULL, 0);
  const uint64_t *v = p;
  struct fuse_statfs_out out;
  memset(&out, 0, sizeof out);
  out.st.bsize = (uint32_t)v[0];
  out.st.frsize = (uint32_t)v[1];
  out.st.blocks = v[2];
  out.st.bfree = v[3];
  out.st.bavail = v[4];
  out.st.files = v[5];
  out.st.ffree = v[6];
  out.st.namelen = (uint32_t)v[7];
  return answer(env, s, unique, 0, &out, sizeof out, NULL, 0);
}

static size_t dirent_size(size_t namelen, int plus) {
  size_t fixed = plus ? offsetof(struct fuse_direntplus, dirent) + offsetof(struct fuse_dirent, name) : offsetof(struct fuse_dirent, name);
  return (fixed + namelen + 7) & ~(size_t)7;
}

// replyDir(s, req, size, names: string[], attrs: Buffer, offsets: Float64Array, plus: boolean, full?: Uint8Array) -> count.
// Packs names[i] (attrs at i * ATTR_SIZE; offsets[i] is the cookie the kernel
// sends back to read on after it) until `size` bytes are full, sends the
// buffer and returns how many entries went out, so JS can count the lookups
// readdirplus created. With plus, an entry whose full[i] is 0 carries no node
// (node id 0: the kernel lists the name and looks it up when asked).
static napi_value reply_dir(napi_env env, napi_callback_info info) {
  ARGS(8) size_t size = (size_t)dbl_arg(env, argv[2]);
  uint8_t *full = NULL;
  size_t nfull = 0;
  napi_typedarray_type ftype;
  if (argc > 7 && napi_get_typedarray_info(env, argv[7], &ftype, &nfull, (void **)&full, NULL, NULL) == napi_ok && ftype != napi_uint8_array) full = NULL;
  double *offsets;
  size_t noffsets;
  napi_typedarray_type otype;
  if (napi_get_typedarray_info(env, argv[5], &otype, &noffsets, (void **)&offsets, NULL, NULL) != napi_ok || otype != napi_float64_array)
    return answer(env, s, unique, EIO, NULL, 0, NULL, 0);
  bool plus = false;
  napi_get_value_bool(env, argv[6], &plus);
  uint32_t n = 0;
  napi_get_array_length(env, argv[3], &n);
  uint8_t *attrs;
  size_t alen;
  if (napi_get_buffer_info(env, argv[4], (void **)&attrs, &alen) != napi_ok || alen < (size_t)n * ATTR_SIZE || noffsets < n)
    return answer(env, s, unique, EIO, NULL, 0, NULL, 0);
  char *buf = calloc(1, size ? size : 1);
  if (!buf) return answer(env, s, unique, ENOMEM, NULL, 0, NULL, 0);
  size_t used = 0;
  uint32_t i;
  char name[1024];
  for (i = 0; i < n; i++) {
    napi_value v;
    size_t nl;
    napi_get_element(env, argv[3], i, &v);
    if (napi_get_value_string_utf8(env, v, name, sizeof name, &nl) != napi_ok) break;
    size_t want = dirent_size(nl, plus);
    if (want > size - used) break;
    const uint8_t *attr = attrs + (size_t)i * ATTR_SIZE;
    struct fuse_dirent *d;
    if (plus) {
      struct fuse_direntplus *dp = (void *)(buf + used);
      sf_fill_entry(s, attr, &dp->entry_out);
      // '.' and '..' carry no entry: the kernel neither links nor counts them.
      if ((name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) || (full && (i >= nfull || !full[i]))) {
        struct fuse_attr a = dp->entry_out.attr;
        memset(&dp->entry_out, 0, sizeof dp->entry_out);
        dp->entry_out.attr = a;
      }
      d = &dp->dirent;
    } else {
      d = (void *)(buf + used);
    }
    struct fuse_attr a;
    sf_attr_to_fuse(attr, &a);
    d->ino = a.ino;
    d->off = (uint64_t)offsets[i];
    d->namelen = (uint32_t)nl;
    d->type = (a.mode & S_IFMT) >> 12;
    memcpy(d->name, name, nl);
    used += want;
  }
  napi_value rc = answer(env, s, unique, 0, buf, used, NULL, 0);
  free(buf);
  int32_t sent;
  napi_get_value_int32(env, rc, &sent);
  return result(env, sent < 0 ? sent : (int)i);
}

// replyLock(s, req, type, start: bigint, len: bigint, pid): GETLK's answer (type F_UNLCK: no conflict).
static napi_value reply_lock(napi_env env, napi_callback_info info) {
  ARGS(6) struct fuse_lk_out out;
  memset(&out, 0, sizeof out);
  int64_t start = i64_arg(env, argv[3]), len = i64_arg(env, argv[4]);
  int32_t pid = 0;
  napi_get_value_int32(env, argv[5], &pid);
  out.lk.type = u32_arg(env, argv[2]);
  out.lk.start = (uint64_t)start;
  out.lk.end = len ? (uint64_t)(start + len - 1) : (uint64_t)INT64_MAX;
  out.lk.pid = (uint32_t)pid;
  return answer(env, s, unique, 0, &out, sizeof out, NULL, 0);
}

// replyLseek(s, req, offset: bigint)
static napi_value reply_lseek(napi_env env, napi_callback_info info) {
  ARGS(3) struct fuse_lseek_out out = {.offset = (uint64_t)i64_arg(env, argv[2])};
  return answer(env, s, unique, 0, &out, sizeof out, NULL, 0);
}

// interrupted(s, req) -> the kernel asked to abandon this request (its caller got a signal).
static napi_value req_interrupted(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct session *s = sf_session_arg(env, argv[0]);
  struct req *r = s ? req_arg(s, env, argv[1]) : NULL;
  napi_get_boolean(env, r && r->interrupted, &out);
  return out;
}

// ctx(s, req) -> [uid, gid, pid, umask] of the calling process (umask only
// for requests that carry one: CREATE, MKNOD, MKDIR); undefined once answered.
static napi_value req_ctx(napi_env env, napi_callback_info info) {
  ARGS(2) (void)unique;
  napi_value out, v;
  uint32_t vals[4] = {r->uid, r->gid, r->pid, r->umask};
  napi_create_array_with_length(env, 4, &out);
  for (uint32_t i = 0; i < 4; i++) {
    napi_create_uint32(env, vals[i], &v);
    napi_set_element(env, out, i, v);
  }
  return out;
}

// groups(s, req) -> Uint32Array: the caller's supplementary groups, read from
// /proc/PID/status (the protocol carries only uid and gid), so files can be
// made as the caller. Empty, which grants least, unless that file is the
// caller's: the process is gone, or PID is 0 (a caller in a PID namespace
// the mount's cannot see), or names another process (a PID reused, a /proc
// of another namespace) -- told apart by its fsuid and fsgid (the 4th field
// of Uid: and Gid:, what the kernel put in the request) not being the
// request's. A reused PID of the same user with other groups remains
// possible in principle; a caller waiting on its request cannot exit, so
// the PID is reused only for requests nobody waits on.
static int status_ids_match(const char *line, uint32_t want) {
  unsigned long v[4];
  return sscanf(line, "%*s %lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]) == 4 && v[3] == want;
}

static napi_value req_groups(napi_env env, napi_callback_info info) {
  ARGS(2) (void)unique;
  gid_t list[256];
  int n = 0, uid_ok = 0, gid_ok = 0;
  char path[64], line[4096];
  snprintf(path, sizeof path, "/proc/%u/status", r->pid);
  FILE *f = r->pid ? fopen(path, "re") : NULL;
  if (f) {
    while (fgets(line, sizeof line, f)) {
      if (strncmp(line, "Uid:", 4) == 0) uid_ok = status_ids_match(line, r->uid);
      if (strncmp(line, "Gid:", 4) == 0) gid_ok = status_ids_match(line, r->gid);
      if (strncmp(line, "Groups:", 7) != 0) continue;
      char *p = line + 7, *end;
      for (;;) {
        unsigned long g = strtoul(p, &end, 10);
        if (end == p || n >= 256) break;
        list[n++] = (gid_t)g;
        p = end;
      }
      break;
    }
    fclose(f);
  }
  if (!uid_ok || !gid_ok) n = 0;  // Uid: and Gid: come before Groups: in the file
  napi_value ab, out;
  void *p;
  napi_create_arraybuffer(env, (size_t)n * 4, &p, &ab);
  memcpy(p, list, (size_t)n * 4);
  napi_create_typedarray(env, napi_uint32_array, (size_t)n, ab, 0, &out);
  return out;
}

napi_value sf_reply_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"replyErr", NULL, reply_err, NULL, NULL, NULL, napi_default, NULL},
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
    {"replyLock", NULL, reply_lock, NULL, NULL, NULL, napi_default, NULL},
    {"replyLseek", NULL, reply_lseek, NULL, NULL, NULL, napi_default, NULL},
    {"ctx", NULL, req_ctx, NULL, NULL, NULL, napi_default, NULL},
    {"groups", NULL, req_groups, NULL, NULL, NULL, napi_default, NULL},
    {"interrupted", NULL, req_interrupted, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
