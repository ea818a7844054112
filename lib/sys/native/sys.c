// stableid_sys.node: the syscalls Node does not offer, run on libuv's thread
// pool and returned as promises. Errors are Node-style: err.code is the errno
// name ('ENOENT'), so lib/errno.ts maps them. No libfuse here.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

enum kind { UTIMENSAT, MKNOD, LGETXATTR, LLISTXATTR, LSETXATTR, LREMOVEXATTR };

static const char *const syscall_names[] = {"utimensat", "mknod", "lgetxattr", "llistxattr", "lsetxattr", "lremovexattr"};

struct work {
  enum kind kind;
  char *path;
  struct timespec times[2];
  mode_t mode;
  dev_t rdev;
  char *name;      // xattr name
  char *value;     // xattr value (in for lsetxattr, out for lgetxattr/llistxattr)
  size_t len;
  int flags;
  int err;
  napi_deferred deferred;
  napi_async_work work;
};

// The xattr calls never follow symlinks (the l* variants): a symlink inside
// the export must not expose or change its target's attributes. A value that
// grows between the size probe and the read is probed again (ERANGE).
static int get_sized(struct work *w) {
  for (int tries = 0; tries < 8; tries++) {
    ssize_t n = w->kind == LGETXATTR ? lgetxattr(w->path, w->name, NULL, 0) : llistxattr(w->path, NULL, 0);
    if (n < 0) return errno;
    free(w->value);
    w->value = malloc(n ? (size_t)n : 1);
    if (!w->value) return ENOMEM;
    ssize_t m = w->kind == LGETXATTR ? lgetxattr(w->path, w->name, w->value, (size_t)n) : llistxattr(w->path, w->value, (size_t)n);
    if (m >= 0) {
      w->len = (size_t)m;
      return 0;
    }
    if (errno != ERANGE) return errno;
  }
  return ERANGE;
}

static void execute(napi_env env, void *data) {
  (void)env;
  struct work *w = data;
  int rc = 0;
  switch (w->kind) {
    case UTIMENSAT: rc = utimensat(AT_FDCWD, w->path, w->times, AT_SYMLINK_NOFOLLOW); break;
    case MKNOD: rc = mknod(w->path, w->mode, w->rdev); break;
    case LGETXATTR: case LLISTXATTR: w->err = get_sized(w); return;
    case LSETXATTR: rc = lsetxattr(w->path, w->name, w->value, w->len, w->flags); break;
    case LREMOVEXATTR: rc = lremovexattr(w->path, w->name); break;
  }
  w->err = rc == 0 ? 0 : errno;
}

static void complete(napi_env env, napi_status status, void *data) {
  struct work *w = data;
  napi_value v;
  if (status == napi_ok && w->err == 0) {
    if (w->kind == LGETXATTR || w->kind == LLISTXATTR) napi_create_buffer_copy(env, w->len, w->value ? w->value : "", NULL, &v);
    else napi_get_undefined(env, &v);
    napi_resolve_deferred(env, w->deferred, v);
  } else {
    int err = w->err ? w->err : EIO;
    const char *name = strerrorname_np(err);
    char text[4200];
    snprintf(text, sizeof text, "%s: %s, %s '%s'%s%s", name ? name : "EIO", strerror(err), syscall_names[w->kind], w->path,
             w->name ? " " : "", w->name ? w->name : "");
    napi_value code, msg, syscall, path, errnum;
    napi_create_string_utf8(env, name ? name : "EIO", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &v);
    napi_create_string_utf8(env, syscall_names[w->kind], NAPI_AUTO_LENGTH, &syscall);
    napi_set_named_property(env, v, "syscall", syscall);
    napi_create_string_utf8(env, w->path, NAPI_AUTO_LENGTH, &path);
    napi_set_named_property(env, v, "path", path);
    napi_create_int32(env, -err, &errnum);  // Node's convention: negative errno
    napi_set_named_property(env, v, "errno", errnum);
    napi_reject_deferred(env, w->deferred, v);
  }
  if (w->work) napi_delete_async_work(env, w->work);
  free(w->path);
  free(w->name);
  free(w->value);
  free(w);
}

static char *get_path(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s) napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static napi_value start(napi_env env, struct work *w) {
  napi_value promise, name;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, "stableid-sys", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, w, &w->work);
  napi_queue_async_work(env, w->work);
  return promise;
}

static struct work *new_work(napi_env env, enum kind kind, napi_value path) {
  struct work *w = calloc(1, sizeof *w);
  if (!w || !(w->path = get_path(env, path))) {
    free(w);
    napi_throw_type_error(env, NULL, "path must be a string");
    return NULL;
  }
  w->kind = kind;
  return w;
}

static int64_t i64(napi_env env, napi_value v) {
  int64_t x = 0;
  bool lossless;
  if (napi_get_value_bigint_int64(env, v, &x, &lossless) != napi_ok) {
    double d = 0;
    napi_get_value_double(env, v, &d);
    x = (int64_t)d;
  }
  return x;
}

// Reads `want` arguments (argv[0] the path; for the xattr calls argv[1] the
// name) into a new work item; throws a TypeError naming `usage` if any is missing.
static struct work *args_work(napi_env env, napi_callback_info info, enum kind kind, size_t want, napi_value *argv, const char *usage) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < want) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  struct work *w = new_work(env, kind, argv[0]);
  if (!w) return NULL;
  bool named = kind == LGETXATTR || kind == LSETXATTR || kind == LREMOVEXATTR;
  if (named && !(w->name = get_path(env, argv[1]))) {
    free(w->path);
    free(w);
    napi_throw_type_error(env, NULL, "name must be a string");
    return NULL;
  }
  return w;
}

// utimensat(path, atimeSec: bigint, atimeNsec, mtimeSec: bigint, mtimeNsec) -> Promise<void>
static napi_value js_utimensat(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  struct work *w = args_work(env, info, UTIMENSAT, 5, argv, "utimensat(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec)");
  if (!w) return NULL;
  w->times[0].tv_sec = i64(env, argv[1]);
  w->times[0].tv_nsec = i64(env, argv[2]);
  w->times[1].tv_sec = i64(env, argv[3]);
  w->times[1].tv_nsec = i64(env, argv[4]);
  return start(env, w);
}

// mknod(path, mode, rdev: bigint) -> Promise<void>
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct work *w = args_work(env, info, MKNOD, 3, argv, "mknod(path, mode, rdev)");
  if (!w) return NULL;
  w->mode = (mode_t)i64(env, argv[1]);
  w->rdev = (dev_t)i64(env, argv[2]);
  return start(env, w);
}

// The same promise, settled before it is returned: the syscall runs here, on
// the JS thread. For reads of metadata on a local disk (microseconds) this
// beats a trip through libuv's pool: two thread wake-ups per call cost more
// than the call on a 2-core VM (test/bench/e2e/fuse-metadata.bench.ts, ls -lR:
// `ls -l` asks for security.selinux on every file).
static napi_value run_now(napi_env env, struct work *w) {
  napi_value promise;
  napi_create_promise(env, &w->deferred, &promise);
  execute(env, w);
  complete(env, napi_ok, w);
  return promise;
}

// lgetxattr(path, name) -> Promise<Buffer> (run inline: see run_now)
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct work *w = args_work(env, info, LGETXATTR, 2, argv, "lgetxattr(path, name)");
  return w ? run_now(env, w) : NULL;
}

// llistxattr(path) -> Promise<Buffer> (names, each ending in NUL; run inline: see run_now)
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct work *w = args_work(env, info, LLISTXATTR, 1, argv, "llistxattr(path)");
  return w ? run_now(env, w) : NULL;
}

// lsetxattr(path, name, value: Buffer, flags) -> Promise<void>
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  struct work *w = args_work(env, info, LSETXATTR, 4, argv, "lsetxattr(path, name, value, flags)");
  if (!w) return NULL;
  void *p;
  size_t len;
  if (napi_get_buffer_info(env, argv[2], &p, &len) != napi_ok || !(w->value = malloc(len ? len : 1))) {
    free(w->path);
    free(w->name);
    free(w);
    napi_throw_type_error(env, NULL, "value must be a Buffer");
    return NULL;
  }
  memcpy(w->value, p, len);
  w->len = len;
  w->flags = (int)i64(env, argv[3]);
  return start(env, w);
}

// lremovexattr(path, name) -> Promise<void>
static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct work *w = args_work(env, info, LREMOVEXATTR, 2, argv, "lremovexattr(path, name)");
  return w ? start(env, w) : NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"utimensat", NULL, js_utimensat, NULL, NULL, NULL, napi_default, NULL},
    {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_default, NULL},
    {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_default, NULL},
    {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_default, NULL},
    {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_default, NULL},
    {"lremovexattr", NULL, js_lremovexattr, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
