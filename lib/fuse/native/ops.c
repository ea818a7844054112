// The request table: for every kernel opcode JS answers, the op JS sees, its
// name and its arguments, one kind letter each (lib/fuse/op-table.ts holds
// the same table and compares it with opTable() at load). A decoder fills
// values in the order of its letters; encode() turns them into JS values by
// the letters, so a decoder and its description cannot disagree.
//
// Kinds: s string, u uint32, n number (sizes), f file handle (number, -1 when
// the request names none), b Buffer (a copy), B bigint (u64), i bigint (i64),
// z boolean, F BigUint64Array of (node id, count) pairs.
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/file.h>
#include "common.h"

#define OP_ENDED 0
#define OP_FLOCK 1001  // not a kernel opcode: SETLK/SETLKW with FUSE_LK_FLOCK
#define MAX_ARGS 8

union val {
  const char *s;
  uint64_t u;
  int64_t i;
  double d;
  bool z;
  struct { const void *p; size_t n; } b;
};

// Reads request arguments within their bounds.
struct cursor {
  const char *p;
  size_t left;
  int bad;
};

static const void *take(struct cursor *c, size_t n) {
  if (c->bad || c->left < n) { c->bad = 1; return NULL; }
  const void *p = c->p;
  c->p += n;
  c->left -= n;
  return p;
}

// A NUL-terminated name inside the request (the kernel always ends one).
static const char *name(struct cursor *c) {
  if (c->bad) return NULL;
  const char *end = memchr(c->p, 0, c->left);
  if (!end) { c->bad = 1; return NULL; }
  return take(c, (size_t)(end - c->p) + 1);
}

#define IN(type) const struct type *in = take(c, sizeof(struct type)); if (!in) return 0

static double fh_of(uint64_t fh) { return (double)(fh & ~FH_DIRECT_FD); }

typedef int (*decode_fn)(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r);

static int d_name(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  v[0].s = name(c);
  return 1;
}
static int d_none(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) { return 1; }
static int d_getattr(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_getattr_in);
  v[0].d = (in->getattr_flags & FUSE_GETATTR_FH) ? fh_of(in->fh) : -1;
  return 1;
}
static int d_setattr(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_setattr_in);
  static __thread uint8_t buf[ATTR_SIZE];
  sf_setattr_to_buffer(in, buf);
  v[0].u = in->valid;
  v[1].d = (in->valid & FATTR_FH) ? fh_of(in->fh) : -1;
  v[2].b.p = buf;
  v[2].b.n = ATTR_SIZE;
  return 1;
}
static int d_mknod(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_mknod_in);
  r->umask = in->umask;
  v[0].s = name(c);
  v[1].u = in->mode;
  v[2].u = in->rdev;
  return 1;
}
static int d_mkdir(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_mkdir_in);
  r->umask = in->umask;
  v[0].s = name(c);
  v[1].u = in->mode;
  return 1;
}
// "name\0target\0": the new entry, then what it points to.
static int d_symlink(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  v[0].s = name(c);
  v[1].s = name(c);
  return 1;
}
static int d_rename(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_rename_in);
  v[0].s = name(c);
  v[1].u = in->newdir;
  v[2].s = name(c);
  v[3].u = 0;
  return 1;
}
static int d_rename2(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_rename2_in);
  v[0].s = name(c);
  v[1].u = in->newdir;
  v[2].s = name(c);
  v[3].u = in->flags;
  return 1;
}
// The header names the new parent; the file is oldnodeid: JS gets the file
// as ino and the new parent as its first argument.
static int d_link(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_link_in);
  r->nodeid = in->oldnodeid;
  v[0].u = h->nodeid;
  v[1].s = name(c);
  return 1;
}
// OPENDIR takes the flags only (its kinds have one letter).
static int d_open(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_open_in);
  v[0].u = in->flags;
  v[1].u = in->open_flags;
  return 1;
}
static int d_read(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_read_in);
  v[0].d = fh_of(in->fh);
  v[1].u = in->size;
  v[2].i = (int64_t)in->offset;
  return 1;
}
static int d_write(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_write_in);
  v[0].d = fh_of(in->fh);
  v[1].b.p = take(c, in->size);
  v[1].b.n = in->size;
  v[2].i = (int64_t)in->offset;
  v[3].u = in->write_flags;
  return 1;
}
static int d_release(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_release_in);
  v[0].d = fh_of(in->fh);
  return 1;
}
static int d_fsync(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_fsync_in);
  v[0].d = fh_of(in->fh);
  v[1].z = (in->fsync_flags & FUSE_FSYNC_FDATASYNC) != 0;
  return 1;
}
static int d_flush(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_flush_in);
  v[0].d = fh_of(in->fh);
  v[1].u = in->lock_owner;
  return 1;
}
static int d_setxattr(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  const struct fuse_setxattr_in *in = take(c, FUSE_COMPAT_SETXATTR_IN_SIZE);
  if (!in) return 0;
  v[0].s = name(c);
  v[1].b.p = take(c, in->size);
  v[1].b.n = in->size;
  v[2].u = in->flags;
  return 1;
}
static int d_getxattr(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_getxattr_in);
  v[0].s = name(c);
  v[1].u = in->size;
  return 1;
}
static int d_listxattr(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_getxattr_in);
  v[0].u = in->size;
  return 1;
}
static int d_access(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_access_in);
  v[0].u = in->mask;
  return 1;
}
static int d_create(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_create_in);
  r->umask = in->umask;
  v[0].s = name(c);
  v[1].u = in->mode;
  v[2].u = in->flags;
  v[3].u = in->open_flags;
  return 1;
}
// The kernel's lock range is [start, end], end OFFSET_MAX for "to the end";
// JS (as fcntl) takes start and length, 0 for "to the end".
static int64_t lock_len(const struct fuse_file_lock *lk) {
  return lk->end == (uint64_t)INT64_MAX ? 0 : (int64_t)(lk->end - lk->start + 1);
}
static int d_lock(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_lk_in);
  v[0].d = fh_of(in->fh);
  v[1].u = in->owner;
  v[2].u = in->lk.type;
  v[3].i = (int64_t)in->lk.start;
  v[4].i = lock_len(&in->lk);
  v[5].u = in->lk.pid;
  v[6].z = h->opcode == FUSE_SETLKW;
  if (in->lk_flags & FUSE_LK_FLOCK) {
    // flock(2): the lock type says which; LOCK_NB unless it may wait.
    int op = in->lk.type == F_RDLCK ? LOCK_SH : in->lk.type == F_WRLCK ? LOCK_EX : LOCK_UN;
    if (h->opcode != FUSE_SETLKW) op |= LOCK_NB;
    v[2].u = (uint64_t)op;
    return OP_FLOCK;
  }
  return 1;
}
static int d_fallocate(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_fallocate_in);
  v[0].d = fh_of(in->fh);
  v[1].u = in->mode;
  v[2].i = (int64_t)in->offset;
  v[3].i = (int64_t)in->length;
  return 1;
}
static int d_lseek(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_lseek_in);
  v[0].d = fh_of(in->fh);
  v[1].i = (int64_t)in->offset;
  v[2].u = in->whence;
  return 1;
}
static int d_copy_file_range(const struct fuse_in_header *h, struct cursor *c, union val *v, struct req *r) {
  IN(fuse_copy_file_range_in);
  v[0].d = fh_of(in->fh_in);
  v[1].i = (int64_t)in->off_in;
  v[2].d = fh_of(in->fh_out);
  v[3].i = (int64_t)in->off_out;
  v[4].u = in->len;
  v[5].u = in->flags;
  v[6].u = in->nodeid_out;
  return 1;
}

struct op_desc {
  uint32_t opcode;  // the kernel's
  uint32_t op;      // the one JS sees
  const char *name;
  const char *args;
  decode_fn decode;
};

// One row per op JS answers; the JS-side table (op-table.ts) must list the same.
static const struct op_desc OPS[] = {
  {FUSE_LOOKUP, FUSE_LOOKUP, "LOOKUP", "s", d_name},
  {FUSE_GETATTR, FUSE_GETATTR, "GETATTR", "f", d_getattr},
  {FUSE_SETATTR, FUSE_SETATTR, "SETATTR", "ufb", d_setattr},
  {FUSE_READLINK, FUSE_READLINK, "READLINK", "", d_none},
  {FUSE_SYMLINK, FUSE_SYMLINK, "SYMLINK", "ss", d_symlink},
  {FUSE_MKNOD, FUSE_MKNOD, "MKNOD", "suB", d_mknod},
  {FUSE_MKDIR, FUSE_MKDIR, "MKDIR", "su", d_mkdir},
  {FUSE_UNLINK, FUSE_UNLINK, "UNLINK", "s", d_name},
  {FUSE_RMDIR, FUSE_RMDIR, "RMDIR", "s", d_name},
  {FUSE_RENAME, FUSE_RENAME, "RENAME", "sBsu", d_rename},
  {FUSE_RENAME2, FUSE_RENAME, "RENAME", "sBsu", d_rename2},
  {FUSE_LINK, FUSE_LINK, "LINK", "Bs", d_link},
  {FUSE_OPEN, FUSE_OPEN, "OPEN", "uu", d_open},
  {FUSE_READ, FUSE_READ, "READ", "fni", d_read},
  {FUSE_WRITE, FUSE_WRITE, "WRITE", "fbiu", d_write},
  {FUSE_STATFS, FUSE_STATFS, "STATFS", "", d_none},
  {FUSE_RELEASE, FUSE_RELEASE, "RELEASE", "f", d_release},
  {FUSE_FSYNC, FUSE_FSYNC, "FSYNC", "fz", d_fsync},
  {FUSE_SETXATTR, FUSE_SETXATTR, "SETXATTR", "sbu", d_setxattr},
  {FUSE_GETXATTR, FUSE_GETXATTR, "GETXATTR", "sn", d_getxattr},
  {FUSE_LISTXATTR, FUSE_LISTXATTR, "LISTXATTR", "n", d_listxattr},
  {FUSE_REMOVEXATTR, FUSE_REMOVEXATTR, "REMOVEXATTR", "s", d_name},
  {FUSE_FLUSH, FUSE_FLUSH, "FLUSH", "fB", d_flush},
  {FUSE_OPENDIR, FUSE_OPENDIR, "OPENDIR", "u", d_open},
  {FUSE_READDIR, FUSE_READDIR, "READDIR", "fni", d_read},
  {FUSE_RELEASEDIR, FUSE_RELEASEDIR, "RELEASEDIR", "f", d_release},
  {FUSE_FSYNCDIR, FUSE_FSYNCDIR, "FSYNCDIR", "fz", d_fsync},
  {FUSE_GETLK, FUSE_GETLK, "GETLK", "fBuiiuz", d_lock},
  {FUSE_SETLK, FUSE_SETLK, "SETLK", "fBuiiuz", d_lock},
  {FUSE_SETLKW, FUSE_SETLK, "SETLK", "fBuiiuz", d_lock},
  {FUSE_ACCESS, FUSE_ACCESS, "ACCESS", "u", d_access},
  {FUSE_CREATE, FUSE_CREATE, "CREATE", "suuu", d_create},
  {FUSE_READDIRPLUS, FUSE_READDIRPLUS, "READDIRPLUS", "fni", d_read},
  {FUSE_FALLOCATE, FUSE_FALLOCATE, "FALLOCATE", "fuii", d_fallocate},
  {FUSE_LSEEK, FUSE_LSEEK, "LSEEK", "fiu", d_lseek},
  {FUSE_COPY_FILE_RANGE, FUSE_COPY_FILE_RANGE, "COPY_FILE_RANGE", "fifinuB", d_copy_file_range},
};
// Ops with no request to answer, and the ones decoders turn into.
static const struct { uint32_t op; const char *name; const char *args; } EXTRA[] = {
  {OP_ENDED, "ENDED", "n"},
  {FUSE_FORGET, "FORGET", "F"},
  {OP_FLOCK, "FLOCK", "fBuiiuz"},
};

static const struct op_desc *by_opcode[FUSE_OPCODE_LIMIT];

static void index_ops(void) {
  if (by_opcode[FUSE_LOOKUP]) return;
  for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) by_opcode[OPS[i].opcode] = &OPS[i];
}

static void encode(napi_env env, const char *kinds, const union val *v, napi_value *out) {
  for (size_t k = 0; kinds[k]; k++) {
    switch (kinds[k]) {
      case 's': napi_create_string_utf8(env, v[k].s, NAPI_AUTO_LENGTH, &out[k]); break;
      case 'u': napi_create_uint32(env, (uint32_t)v[k].u, &out[k]); break;
      case 'n': napi_create_double(env, (double)v[k].u, &out[k]); break;
      case 'f': napi_create_double(env, v[k].d, &out[k]); break;
      case 'b': napi_create_buffer_copy(env, v[k].b.n, v[k].b.p ? v[k].b.p : "", NULL, &out[k]); break;
      case 'B': napi_create_bigint_uint64(env, v[k].u, &out[k]); break;
      case 'i': napi_create_bigint_int64(env, v[k].i, &out[k]); break;
      case 'z': napi_get_boolean(env, v[k].z, &out[k]); break;
      case 'F': {
        napi_value ab;
        void *p;
        napi_create_arraybuffer(env, v[k].b.n * 16, &p, &ab);
        memcpy(p, v[k].b.p, v[k].b.n * 16);
        napi_create_typedarray(env, napi_biguint64_array, v[k].b.n * 2, ab, 0, &out[k]);
        break;
      }
    }
  }
}

static void call_handler(struct session *s, uint32_t op, double req, uint64_t ino, const char *kinds, const union val *v) {
  napi_env env = s->env;
  napi_value argv[3 + MAX_ARGS], fn, global, ignored;
  napi_create_uint32(env, op, &argv[0]);
  if (req) napi_create_double(env, req, &argv[1]);
  else napi_get_undefined(env, &argv[1]);
  napi_create_bigint_uint64(env, ino, &argv[2]);
  size_t n = strlen(kinds);
  encode(env, kinds, v, argv + 3);
  napi_get_reference_value(env, s->handler, &fn);
  napi_get_global(env, &global);
  // A throwing handler is a bug in lib/fuse (the dispatcher catches
  // everything itself); if something still escapes it becomes an uncaught
  // exception, and the request is answered here so its caller does not hang.
  if (napi_call_function(env, global, fn, 3 + n, argv, &ignored) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    if (req) {
      sf_send_err(s, (uint64_t)req, EIO);
      sf_req_remove(&s->reqs, (uint64_t)req);
    }
    napi_fatal_exception(env, err);
  }
}

void sf_dispatch(struct session *s, const struct fuse_in_header *h, const void *arg, size_t arglen) {
  index_ops();
  struct cursor c = {arg, arglen, 0};
  union val v[MAX_ARGS];
  memset(v, 0, sizeof v);
  if (h->opcode == FUSE_FORGET || h->opcode == FUSE_BATCH_FORGET) {
    uint64_t one[2];
    if (h->opcode == FUSE_FORGET) {
      const struct fuse_forget_in *in = take(&c, sizeof *in);
      if (!in) return;
      one[0] = h->nodeid;
      one[1] = in->nlookup;
      v[0].b.p = one;
      v[0].b.n = 1;
    } else {
      const struct fuse_batch_forget_in *in = take(&c, sizeof *in);
      if (!in) return;
      const void *pairs = take(&c, (size_t)in->count * sizeof(struct fuse_forget_one));
      if (!pairs) return;
      v[0].b.p = pairs;  // fuse_forget_one is (nodeid, nlookup): the pairs JS wants
      v[0].b.n = in->count;
    }
    call_handler(s, FUSE_FORGET, 0, 0, "F", v);
    return;
  }
  const struct op_desc *d = h->opcode < FUSE_OPCODE_LIMIT ? by_opcode[h->opcode] : NULL;
  if (!d) {
    sf_send_err(s, h->unique, ENOSYS);
    return;
  }
  struct req r = {.unique = h->unique, .nodeid = h->nodeid, .opcode = h->opcode, .uid = h->uid, .gid = h->gid, .pid = h->pid};
  int got = d->decode(h, &c, v, &r);
  if (!got || c.bad) {
    sf_send_err(s, h->unique, EINVAL);  // a request shorter than its own fields: never from a sane kernel
    return;
  }
  uint32_t op = got == 1 ? d->op : (uint32_t)got;
  const char *kinds = d->args;
  if (!sf_req_add(&s->reqs, &r)) {
    sf_send_err(s, h->unique, ENOMEM);
    return;
  }
  call_handler(s, op, (double)h->unique, r.nodeid, kinds, v);
}

void sf_emit_ended(struct session *s, int rc) {
  union val v[1] = {{.u = (uint64_t)(int64_t)rc}};
  call_handler(s, OP_ENDED, 0, 0, "n", v);
}

// opTable() -> [[op, name, kinds], ...]: what JS compares with its own table.
static napi_value js_op_table(napi_env env, napi_callback_info info) {
  napi_value out, row, v;
  size_t nops = sizeof OPS / sizeof OPS[0], nextra = sizeof EXTRA / sizeof EXTRA[0];
  napi_create_array(env, &out);
  uint32_t k = 0;
  for (size_t i = 0; i < nops + nextra; i++) {
    uint32_t op = i < nops ? OPS[i].op : EXTRA[i - nops].op;
    const char *nm = i < nops ? OPS[i].name : EXTRA[i - nops].name;
    const char *args = i < nops ? OPS[i].args : EXTRA[i - nops].args;
    napi_create_array_with_length(env, 3, &row);
    napi_create_uint32(env, op, &v);
    napi_set_element(env, row, 0, v);
    napi_create_string_utf8(env, nm, NAPI_AUTO_LENGTH, &v);
    napi_set_element(env, row, 1, v);
    napi_create_string_utf8(env, args, NAPI_AUTO_LENGTH, &v);
    napi_set_element(env, row, 2, v);
    napi_set_element(env, out, k++, row);
  }
  return out;
}

static napi_value js_attr_layout(napi_env env, napi_callback_info info) { return sf_attr_layout(env); }

// openFlags() -> the replyOpen flag bits replies.c reads (native.ts compares them at load).
static napi_value js_open_flags(napi_env env, napi_callback_info info) {
  static const struct named_number flags[] = {
    {"KEEP_CACHE", OPEN_KEEP_CACHE}, {"DIRECT_IO", OPEN_DIRECT_IO}, {"CACHE_DIR", OPEN_CACHE_DIR}, {"FD", OPEN_FD}, {"NOFLUSH", OPEN_NOFLUSH},
  };
  return sf_named_numbers(env, flags, sizeof flags / sizeof flags[0]);
}

napi_value sf_ops_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"opTable", NULL, js_op_table, NULL, NULL, NULL, napi_default, NULL},
    {"attrLayout", NULL, js_attr_layout, NULL, NULL, NULL, napi_default, NULL},
    {"openFlags", NULL, js_open_flags, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
