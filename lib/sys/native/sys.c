// stableid_sys.node: the descriptor-relative syscalls Node does not offer.
// Every call takes a directory or file descriptor and at most one name
// component; none resolves a path from the export root, and none follows a
// symlink (the backend builds on that: lib/backend/passthrough.ts).
//
// Two shapes. The hot metadata calls (statx, openat) run on the JS thread and
// return a number: >= 0 on success, -errno on failure (no exception object
// per failed lookup). Everything else runs on libuv's pool and returns a
// promise rejected with a Node-style error (err.code = 'ENOENT' ...), so
// lib/errno.ts maps both the same way. No policy here.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "listdir.h"
#include "node-error.h"

enum kind {
  MKDIRAT, MKNODAT, SYMLINKAT, UNLINKAT, RENAMEAT2, LINKAT, FCHOWNAT, FCHMOD, UTIMENSAT, READLINKAT,
  GETXATTR, LISTXATTR, SETXATTR, REMOVEXATTR, REOPEN,
  FALLOCATE, LSEEK, COPY_FILE_RANGE, OFD_SETLK, OFD_GETLK, FLOCK,
};

static const char *const syscall_names[] = {
  "mkdirat", "mknodat", "symlinkat", "unlinkat", "renameat2", "linkat", "fchownat", "chmod", "utimensat", "readlinkat",
  "getxattr", "listxattr", "setxattr", "removexattr", "open",
  "fallocate", "lseek", "copy_file_range", "fcntl(F_OFD_SETLK)", "fcntl(F_OFD_GETLK)", "flock",
};

// Who a call acts as: the FUSE caller's uid, gid and groups, so the source
// filesystem checks the caller's rights and owns new files by the caller
// (setgid directories, default ACLs: all as for the caller). Per thread.
struct creds {
  bool on;
  uid_t uid;
  gid_t gid;
  size_t n;
  gid_t groups[256];
};

struct work {
  enum kind kind;
  struct creds as;
  int fd, fd2;       // the (directory) descriptor; the second one for renameat2/linkat
  char *name;        // a single component (or the symlink target for symlinkat: see name2)
  char *name2;       // second name (renameat2 new name, symlinkat link name, xattr name)
  char *value;       // xattr value in (setxattr) or out (getxattr, listxattr, readlinkat)
  size_t len;
  struct timespec times[2];
  unsigned mode;
  dev_t rdev;
  int64_t uid, gid;
  int flags;
  int result;        // REOPEN: the new fd
  int64_t off, off2; // file offsets (fallocate, lseek, copy_file_range in/out, lock start)
  int64_t len64;     // byte count (fallocate, copy_file_range, lock length: 0 = to the end)
  int64_t result64;  // LSEEK: the offset found; COPY_FILE_RANGE: bytes copied
  int ltype, lpid;   // lock type (F_RDLCK, F_WRLCK, F_UNLCK) and, from F_OFD_GETLK, the holder's pid
  int err;
  napi_deferred deferred;
  napi_async_work work;
};

// Xattrs and chmod of an O_PATH descriptor go through its /proc magic link
// (the f* calls refuse O_PATH): it names the pinned inode itself, however the
// file was renamed or its directories replaced since.
static void proc_path(char *buf, size_t n, int fd) { snprintf(buf, n, "/proc/self/fd/%d", fd); }

// A value that grows between the size probe and the read is probed again.
static int get_sized(struct work *w, const char *path) {
  for (int tries = 0; tries < 8; tries++) {
    ssize_t n = w->kind == GETXATTR ? getxattr(path, w->name2, NULL, 0) : listxattr(path, NULL, 0);
    if (n < 0) return errno;
    free(w->value);
    w->value = malloc(n ? (size_t)n : 1);
    if (!w->value) return ENOMEM;
    ssize_t m = w->kind == GETXATTR ? getxattr(path, w->name2, w->value, (size_t)n) : listxattr(path, w->value, (size_t)n);
    if (m >= 0) {
      w->len = (size_t)m;
      return 0;
    }
    if (errno != ERANGE) return errno;
  }
  return ERANGE;
}

static int do_readlink(struct work *w) {
  for (size_t size = 256; size <= 65536; size *= 4) {
    free(w->value);
    if (!(w->value = malloc(size))) return ENOMEM;
    ssize_t n = readlinkat(w->fd, "", w->value, size);
    if (n < 0) return errno;
    if ((size_t)n < size) {
      w->len = (size_t)n;
      return 0;
    }
  }
  return ENAMETOOLONG;
}

// setfsuid/setfsgid and the raw setgroups syscall change this thread only
// (glibc's setgroups() would change every thread of the process). Dropping
// fsuid 0 drops the filesystem capabilities; restoring it gives them back.
struct saved { gid_t groups[256]; int n; };

static int become(const struct creds *c, struct saved *old) {
  if (!c->on) return 0;
  old->n = (int)syscall(SYS_getgroups, 256, old->groups);
  if (old->n < 0) return errno;
  if (syscall(SYS_setgroups, c->n, c->groups) != 0) return errno;
  syscall(SYS_setfsgid, c->gid);
  syscall(SYS_setfsuid, c->uid);
  if ((uid_t)syscall(SYS_setfsuid, -1) != c->uid || (gid_t)syscall(SYS_setfsgid, -1) != c->gid) return EPERM;
  return 0;
}

static void unbecome(const struct creds *c, const struct saved *old) {
  if (!c->on) return;
  syscall(SYS_setfsuid, 0);
  syscall(SYS_setfsgid, 0);
  syscall(SYS_setgroups, old->n, old->groups);
}

static void execute_as(napi_env env, void *data);

static void execute(napi_env env, void *data) {
  struct work *w = data;
  struct saved old;
  int err = become(&w->as, &old);
  if (err) {
    unbecome(&w->as, &old);
    w->err = err;
    return;
  }
  execute_as(env, data);
  unbecome(&w->as, &old);
}

static void execute_as(napi_env env, void *data) {
  (void)env;
  struct work *w = data;
  char proc[40];
  proc_path(proc, sizeof proc, w->fd);
  int rc = 0;
  switch (w->kind) {
    case MKDIRAT: rc = mkdirat(w->fd, w->name, w->mode); break;
    case MKNODAT: rc = mknodat(w->fd, w->name, w->mode, w->rdev); break;
    case SYMLINKAT: rc = symlinkat(w->name, w->fd, w->name2); break;
    case UNLINKAT: rc = unlinkat(w->fd, w->name, w->flags); break;
    case RENAMEAT2: rc = renameat2(w->fd, w->name, w->fd2, w->name2, (unsigned)w->flags); break;
    // AT_EMPTY_PATH links the descriptor's own inode (needs CAP_DAC_READ_SEARCH,
    // which the root server has); no name is resolved twice.
    case LINKAT: rc = linkat(w->fd, "", w->fd2, w->name2, AT_EMPTY_PATH); break;
    case FCHOWNAT: rc = fchownat(w->fd, "", (uid_t)w->uid, (gid_t)w->gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW); break;
    case FCHMOD: rc = chmod(proc, w->mode); break;
    case UTIMENSAT: rc = utimensat(w->fd, "", w->times, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW); break;
    case READLINKAT: w->err = do_readlink(w); return;
    case GETXATTR: case LISTXATTR: w->err = get_sized(w, proc); return;
    case SETXATTR: rc = setxattr(proc, w->name2, w->value, w->len, w->flags); break;
    case REMOVEXATTR: rc = removexattr(proc, w->name2); break;
    // O_NONBLOCK: a FIFO or device must never hold the JS thread (the caller
    // checked the type, but a device may still wait); cleared after.
    case REOPEN:
      rc = w->result = open(proc, (w->flags | O_NONBLOCK | O_CLOEXEC) & ~(O_CREAT | O_EXCL | O_NOFOLLOW));
      if (rc >= 0 && !(w->flags & O_NONBLOCK)) fcntl(rc, F_SETFL, w->flags & ~(O_NONBLOCK | O_CREAT | O_EXCL | O_NOFOLLOW | O_TRUNC));
      if (rc >= 0) rc = 0;
      break;
    case FALLOCATE: rc = fallocate(w->fd, w->flags, w->off, w->len64); break;
    case LSEEK: {
      off_t at = lseek(w->fd, w->off, w->flags);
      rc = at < 0 ? -1 : 0;
      w->result64 = at;
      break;
    }
    case COPY_FILE_RANGE: {
      loff_t in = w->off, out = w->off2;
      ssize_t n = w->len64 < 0 ? (errno = EINVAL, -1) : copy_file_range(w->fd, &in, w->fd2, &out, (size_t)w->len64, (unsigned)w->flags);
      rc = n < 0 ? -1 : 0;
      w->result64 = n;
      break;
    }
    // Record locks are always open-file-description locks: classic POSIX
    // locks belong to the whole server process, so any close() of any fd of
    // the file would drop them all, and locks of two clients would merge.
    // Never F_OFD_SETLKW: a waiting lock would hold the thread for as long as
    // the holder likes (lib/backend/locks.ts retries instead).
    case OFD_SETLK: case OFD_GETLK: {
      struct flock fl = {.l_type = (short)w->ltype, .l_whence = SEEK_SET, .l_start = w->off, .l_len = w->len64, .l_pid = 0};
      rc = fcntl(w->fd, w->kind == OFD_SETLK ? F_OFD_SETLK : F_OFD_GETLK, &fl);
      if (rc == 0 && w->kind == OFD_GETLK) {
        w->ltype = fl.l_type;
        w->off = fl.l_start;
        w->len64 = fl.l_len;
        w->lpid = fl.l_pid;
      }
      break;
    }
    // LOCK_NB always, for the same reason as F_OFD_SETLK.
    case FLOCK: rc = flock(w->fd, w->flags | LOCK_NB); break;
  }
  w->err = rc == 0 ? 0 : errno;
}

static void complete(napi_env env, napi_status status, void *data) {
  struct work *w = data;
  napi_value v;
  if (status == napi_ok && w->err == 0) {
    if (w->kind == GETXATTR || w->kind == LISTXATTR || w->kind == READLINKAT) napi_create_buffer_copy(env, w->len, w->value ? w->value : "", NULL, &v);
    else if (w->kind == REOPEN) napi_create_int32(env, w->result, &v);
    else if (w->kind == LSEEK) napi_create_bigint_int64(env, w->result64, &v);
    else if (w->kind == COPY_FILE_RANGE) napi_create_int64(env, w->result64, &v);
    else if (w->kind == OFD_GETLK) {
      // [type, start, length, pid]: the first lock in the way, or type F_UNLCK.
      napi_value e;
      napi_create_array_with_length(env, 4, &v);
      napi_create_int32(env, w->ltype, &e);
      napi_set_element(env, v, 0, e);
      napi_create_bigint_int64(env, w->off, &e);
      napi_set_element(env, v, 1, e);
      napi_create_bigint_int64(env, w->len64, &e);
      napi_set_element(env, v, 2, e);
      napi_create_int32(env, w->lpid, &e);
      napi_set_element(env, v, 3, e);
    }
    else napi_get_undefined(env, &v);
    napi_resolve_deferred(env, w->deferred, v);
  } else {
    const char *what = w->kind == SYMLINKAT || w->kind == GETXATTR || w->kind == SETXATTR || w->kind == REMOVEXATTR || w->kind == LINKAT ? w->name2 : w->name;
    napi_reject_deferred(env, w->deferred, node_error(env, w->err ? w->err : EIO, syscall_names[w->kind], what));
  }
  if (w->work) napi_delete_async_work(env, w->work);
  free(w->name);
  free(w->name2);
  free(w->value);
  free(w);
}

static char *get_string(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s) napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
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

static napi_value start(napi_env env, struct work *w) {
  napi_value promise, name;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, "stableid-sys", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, w, &w->work);
  napi_queue_async_work(env, w->work);
  return promise;
}

// The same promise, settled before it is returned: the syscall runs on the JS
// thread. For xattr reads on a local disk this beats a trip through libuv's
// pool (`ls -l` asks for security.selinux on every file: test/bench/e2e/
// fuse-metadata.bench.ts, ls -lR).
static napi_value run_now(napi_env env, struct work *w) {
  napi_value promise;
  napi_create_promise(env, &w->deferred, &promise);
  execute(env, w);
  complete(env, napi_ok, w);
  return promise;
}

// creds { uid, gid, groups: Uint32Array } -> struct creds (on).
static bool read_creds(napi_env env, napi_value v, struct creds *c) {
  napi_value uid, gid, groups;
  uint32_t u, g;
  napi_typedarray_type type;
  size_t n;
  void *p;
  if (napi_get_named_property(env, v, "uid", &uid) != napi_ok || napi_get_value_uint32(env, uid, &u) != napi_ok ||
      napi_get_named_property(env, v, "gid", &gid) != napi_ok || napi_get_value_uint32(env, gid, &g) != napi_ok ||
      napi_get_named_property(env, v, "groups", &groups) != napi_ok ||
      napi_get_typedarray_info(env, groups, &type, &n, &p, NULL, NULL) != napi_ok || type != napi_uint32_array || n > 256)
    return false;
  c->on = true;
  c->uid = u;
  c->gid = g;
  c->n = n;
  memcpy(c->groups, p, n * 4);
  return true;
}

// Argument shapes, one letter per argument: f = fd (number), s = name (into
// name, then name2), n = number into mode/flags/uid/gid in order given by the
// caller, b = Buffer (xattr value), C = creds to act as (optional, last).
// Throws a TypeError naming `usage`.
static struct work *parse(napi_env env, napi_callback_info info, enum kind kind, const char *shape, napi_value *argv, const char *usage) {
  size_t want = strlen(shape), argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct work *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->kind = kind;
  int fds = 0, strs = 0;
  size_t required = shape[want - 1] == 'C' ? want - 1 : want;  // a trailing C (creds) may be left out
  bool ok = argc >= required;
  for (size_t i = 0; ok && i < argc && i < want; i++) {
    napi_valuetype t;
    napi_typeof(env, argv[i], &t);
    switch (shape[i]) {
      case 'f': {
        int32_t fd;
        ok = napi_get_value_int32(env, argv[i], &fd) == napi_ok;
        if (fds++ == 0) w->fd = fd; else w->fd2 = fd;
        break;
      }
      case 's': {
        char *s = t == napi_string ? get_string(env, argv[i]) : NULL;
        ok = s != NULL;
        if (strs++ == 0) w->name = s; else w->name2 = s;
        break;
      }
      case 'b': {
        void *p;
        size_t len;
        ok = napi_get_buffer_info(env, argv[i], &p, &len) == napi_ok && (w->value = malloc(len ? len : 1)) != NULL;
        if (ok) memcpy(w->value, p, len), w->len = len;
        break;
      }
      case 'n': ok = t == napi_number || t == napi_bigint; break;  // read by the caller
      case 'C': ok = t == napi_undefined || read_creds(env, argv[i], &w->as); break;
    }
  }
  // Names of files (not xattr names) are single components.
  bool xattr = kind == GETXATTR || kind == SETXATTR || kind == REMOVEXATTR;
  bool target = kind == SYMLINKAT;  // its first string is the link's content, not a name
  if (ok && !xattr && ((w->name && !target && strchr(w->name, '/')) || (w->name2 && strchr(w->name2, '/')))) {
    free(w->name);
    free(w->name2);
    free(w->value);
    free(w);
    napi_throw_type_error(env, "EINVAL", "a name passed to stableid_sys must be one component (no '/')");
    return NULL;
  }
  if (!ok) {
    free(w->name);
    free(w->name2);
    free(w->value);
    free(w);
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  return w;
}

#define CALL(how, fn, kind, shape, usage, ...)                                 \
  static napi_value fn(napi_env env, napi_callback_info info) {                \
    napi_value argv[8];                                                        \
    struct work *w = parse(env, info, kind, shape, argv, usage);               \
    if (!w) return NULL;                                                       \
    __VA_ARGS__;                                                               \
    return how(env, w);                                                        \
  }
// On libuv's pool: calls whose time depends on the data (fallocate, copies)
// or that change a directory
// (journalled, a millisecond on a busy disk: clients' creates, renames and
// removals then overlap instead of queueing on the JS thread).
#define ASYNC(...) CALL(start, __VA_ARGS__)
// On the JS thread, as statx and openat: calls on one inode that a local
// filesystem answers in microseconds (attributes, xattrs, reopening a file),
// where a pool round trip (two thread hops) cost more than the call; the
// FUSE request is then answered with no hop at all. The price: a hung
// source filesystem stalls every request.
#define NOW(...) CALL(run_now, __VA_ARGS__)
// Both: fn on the pool and fn##_now on the JS thread; lib/sys/sys.ts runs a
// call on the JS thread when no other request is in flight (nothing to
// overlap with, so the pool's two thread hops would only add latency).
#define BOTH(fn, ...) CALL(start, fn, __VA_ARGS__) CALL(run_now, fn##_now, __VA_ARGS__)

BOTH(js_mkdirat, MKDIRAT, "fsnC", "mkdirat(dirfd, name, mode, creds?)", w->mode = (unsigned)i64(env, argv[2]))
BOTH(js_mknodat, MKNODAT, "fsnnC", "mknodat(dirfd, name, mode, rdev, creds?)", w->mode = (unsigned)i64(env, argv[2]); w->rdev = (dev_t)i64(env, argv[3]))
BOTH(js_unlinkat, UNLINKAT, "fsn", "unlinkat(dirfd, name, flags)", w->flags = (int)i64(env, argv[2]))
BOTH(js_renameat2, RENAMEAT2, "fsfsn", "renameat2(olddirfd, oldname, newdirfd, newname, flags)", w->flags = (int)i64(env, argv[4]))
NOW(js_fchownat, FCHOWNAT, "fnn", "fchownat(fd, uid, gid)", w->uid = i64(env, argv[1]); w->gid = i64(env, argv[2]))
NOW(js_fchmod, FCHMOD, "fn", "fchmod(fd, mode)", w->mode = (unsigned)i64(env, argv[1]))
NOW(js_utimensat, UTIMENSAT, "fnnnn", "utimensat(fd, atimeSec, atimeNsec, mtimeSec, mtimeNsec)",
      w->times[0].tv_sec = i64(env, argv[1]); w->times[0].tv_nsec = i64(env, argv[2]);
      w->times[1].tv_sec = i64(env, argv[3]); w->times[1].tv_nsec = i64(env, argv[4]))
NOW(js_readlinkat, READLINKAT, "f", "readlinkat(fd)", (void)0)
NOW(js_reopen, REOPEN, "fnC", "reopen(fd, flags, creds?)", w->flags = (int)i64(env, argv[1]))
NOW(js_removexattr, REMOVEXATTR, "fs", "removexattr(fd, name)", w->name2 = w->name; w->name = NULL)
NOW(js_setxattr, SETXATTR, "fsbn", "setxattr(fd, name, value, flags)", w->name2 = w->name; w->name = NULL; w->flags = (int)i64(env, argv[3]))

// Data and lock calls on an open descriptor (Node has none of them).
ASYNC(js_fallocate, FALLOCATE, "fnnn", "fallocate(fd, mode, offset, length)",
      w->flags = (int)i64(env, argv[1]); w->off = i64(env, argv[2]); w->len64 = i64(env, argv[3]))
ASYNC(js_lseek, LSEEK, "fnn", "lseek(fd, offset, whence)", w->off = i64(env, argv[1]); w->flags = (int)i64(env, argv[2]))
ASYNC(js_copy_file_range, COPY_FILE_RANGE, "fnfnnn", "copyFileRange(fdIn, offIn, fdOut, offOut, length, flags)",
      w->off = i64(env, argv[1]); w->off2 = i64(env, argv[3]); w->len64 = i64(env, argv[4]); w->flags = (int)i64(env, argv[5]))
// Locks never wait (F_OFD_SETLK, LOCK_NB: lib/backend/locks.ts retries), so
// they run on the JS thread: Samba takes one per SMB byte-range lock, and a
// pool round trip cost fifty times the call (test/bench/e2e/fuse-fileops.bench.ts).
NOW(js_ofd_setlk, OFD_SETLK, "fnnn", "ofdSetlk(fd, type, start, length)",
      w->ltype = (int)i64(env, argv[1]); w->off = i64(env, argv[2]); w->len64 = i64(env, argv[3]))
NOW(js_ofd_getlk, OFD_GETLK, "fnnn", "ofdGetlk(fd, type, start, length)",
      w->ltype = (int)i64(env, argv[1]); w->off = i64(env, argv[2]); w->len64 = i64(env, argv[3]))
NOW(js_flock, FLOCK, "fn", "flock(fd, op)", w->flags = (int)i64(env, argv[1]))

// symlinkat(target, dirfd, name, creds?): the target is stored as given, never resolved.
BOTH(js_symlinkat, SYMLINKAT, "sfsC", "symlinkat(target, dirfd, name, creds?)", (void)0)

// linkat(fd, newdirfd, newname): a new name for the descriptor's inode.
BOTH(js_linkat, LINKAT, "ffs", "linkat(fd, newdirfd, newname)", w->name2 = w->name; w->name = NULL)

static napi_value js_getxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct work *w = parse(env, info, GETXATTR, "fs", argv, "getxattr(fd, name)");
  if (!w) return NULL;
  w->name2 = w->name;
  w->name = NULL;
  return run_now(env, w);
}

static napi_value js_listxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct work *w = parse(env, info, LISTXATTR, "f", argv, "listxattr(fd)");
  return w ? run_now(env, w) : NULL;
}

static napi_value num(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

// Shared by the two synchronous calls: fd, then an optional name.
static bool sync_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, int32_t *fd, char *name, size_t cap) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  size_t len;
  if (argc < want || napi_get_value_int32(env, argv[0], fd) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], name, cap, &len) != napi_ok) return false;
  return len < cap - 1;  // a name that filled the buffer was cut: refuse it (ENAMETOOLONG below)
}

// One component only: openat/statx follow symlinks in every component but
// the last, so a name with '/' could leave the export. Only a path from the
// start (AT_FDCWD: SRC itself, /proc/self/fd/N) may have several.
static bool one_component(int dirfd, const char *name) { return dirfd == AT_FDCWD || !strchr(name, '/'); }

// statx(dirfd, name, flags, out: BigUint64Array(STATX_FIELDS)) -> 0 or -errno. JS thread.
// out = [dev, ino, mode, nlink, uid, gid, rdev, size, blksize, blocks,
//        atime sec, nsec, mtime sec, nsec, ctime sec, nsec, btime sec, nsec
//        (0, 0 when unknown)]; seconds are signed 64-bit (kept apart from
// the nanoseconds: their product overflows past 2262); dev and rdev use
// glibc's makedev(), as Node's own stat does.
#define STATX_FIELDS 18
static napi_value js_statx(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd, flags;
  char name[4096];
  if (!sync_args(env, info, 4, argv, &fd, name, sizeof name)) return num(env, -ENAMETOOLONG);
  napi_get_value_int32(env, argv[2], &flags);
  if (!one_component(fd, name)) return num(env, -EINVAL);
  napi_typedarray_type type;
  size_t n;
  void *p;
  if (napi_get_typedarray_info(env, argv[3], &type, &n, &p, NULL, NULL) != napi_ok || type != napi_biguint64_array || n < STATX_FIELDS)
    return napi_throw_type_error(env, NULL, "statx(dirfd, name, flags, out: BigUint64Array(18))"), NULL;
  struct statx sx;
  if (statx(fd, name, flags | AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT,
            STATX_BASIC_STATS | STATX_BTIME, &sx) != 0) return num(env, -errno);
  uint64_t *o = p;
  o[0] = makedev(sx.stx_dev_major, sx.stx_dev_minor);
  o[1] = sx.stx_ino;
  o[2] = sx.stx_mode;
  o[3] = sx.stx_nlink;
  o[4] = sx.stx_uid;
  o[5] = sx.stx_gid;
  o[6] = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
  o[7] = sx.stx_size;
  o[8] = sx.stx_blksize;
  o[9] = sx.stx_blocks;
  const struct statx_timestamp *ts[4] = {&sx.stx_atime, &sx.stx_mtime, &sx.stx_ctime, &sx.stx_btime};
  for (int i = 0; i < 4; i++) {
    bool known = i < 3 || (sx.stx_mask & STATX_BTIME);
    o[10 + 2 * i] = known ? (uint64_t)ts[i]->tv_sec : 0;
    o[11 + 2 * i] = known ? ts[i]->tv_nsec : 0;
  }
  return num(env, 0);
}

// openat(dirfd, name, flags, mode) -> fd or -errno, on the JS thread.
static napi_value js_openat(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd, flags, mode;
  char name[4096];
  if (!sync_args(env, info, 4, argv, &fd, name, sizeof name)) return num(env, -ENAMETOOLONG);
  napi_get_value_int32(env, argv[2], &flags);
  napi_get_value_int32(env, argv[3], &mode);
  if (!one_component(fd, name)) return num(env, -EINVAL);
  // Only opens that cannot wait: O_PATH, or O_CREAT|O_EXCL (which makes a
  // new regular file or fails, never opening a FIFO).
  // Likewise a directory opened for reading.
  bool dir_read = (flags & O_DIRECTORY) && (flags & O_ACCMODE) == O_RDONLY && !(flags & O_CREAT);
  if (!(flags & O_PATH) && (flags & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL) && !dir_read)
    return napi_throw_type_error(env, NULL, "openat() on the JS thread is for O_PATH, O_CREAT|O_EXCL or O_DIRECTORY|O_RDONLY only"), NULL;
  // A new file made as the caller (creds, the optional fifth argument).
  struct creds as = {0};
  napi_valuetype t4 = napi_undefined;
  size_t argc = 5;
  napi_value args5[5];
  napi_get_cb_info(env, info, &argc, args5, NULL, NULL);
  if (argc >= 5) napi_typeof(env, args5[4], &t4);
  if (t4 != napi_undefined && !read_creds(env, args5[4], &as)) return napi_throw_type_error(env, NULL, "openat(dirfd, name, flags, mode, creds?)"), NULL;
  struct saved old;
  int err = become(&as, &old);
  int r = err ? -1 : openat(fd, name, flags | O_CLOEXEC, (mode_t)mode);
  if (!err && r < 0) err = errno;
  unbecome(&as, &old);
  return num(env, r < 0 ? -err : r);
}

// The one argument of the calls below, a descriptor; false (a TypeError naming `usage` thrown) if missing.
static bool fd_arg(napi_env env, napi_callback_info info, int32_t *fd, const char *usage) {
  napi_value argv[1];
  size_t argc = 1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= 1 && napi_get_value_int32(env, argv[0], fd) == napi_ok) return true;
  napi_throw_type_error(env, NULL, usage);
  return false;
}

// close(fd) -> 0 or -errno: O_PATH descriptors close without I/O.
static napi_value js_close(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!fd_arg(env, info, &fd, "close(fd)")) return NULL;
  return num(env, close(fd) == 0 ? 0 : -errno);
}

// fdFlags(fd) -> fcntl(F_GETFL) (access mode and status flags) or -errno: never waits.
static napi_value js_fd_flags(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!fd_arg(env, info, &fd, "fdFlags(fd)")) return NULL;
  int r = fcntl(fd, F_GETFL);
  return num(env, r < 0 ? -errno : r);
}

// raiseNofile() -> [soft, hard] after raising the soft limit to the hard one:
// every node the kernel holds costs one descriptor.
static napi_value js_raise_nofile(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  // Root may go past the hard limit, up to fs.nr_open (CAP_SYS_RESOURCE:
  // not in every container); otherwise the hard limit is the ceiling.
  FILE *f = fopen("/proc/sys/fs/nr_open", "r");
  unsigned long long nr_open = 0;
  if (f) {
    if (fscanf(f, "%llu", &nr_open) != 1) nr_open = 0;
    fclose(f);
  }
  if (nr_open > rl.rlim_max) {
    struct rlimit want = {nr_open, nr_open};
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  if (rl.rlim_cur < rl.rlim_max) {
    struct rlimit want = {rl.rlim_max, rl.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  napi_value arr;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, num(env, rl.rlim_cur == RLIM_INFINITY ? -1 : (int64_t)rl.rlim_cur));
  napi_set_element(env, arr, 1, num(env, rl.rlim_max == RLIM_INFINITY ? -1 : (int64_t)rl.rlim_max));
  return arr;
}

// nameToHandle(fd) -> Buffer [u32 mount id, i32 handle type, handle bytes]
// or -errno: the filesystem's own name for the pinned inode, so a descriptor
// can be closed and the very same inode opened again later (never another:
// the handle carries the generation).
static napi_value js_name_to_handle(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!fd_arg(env, info, &fd, "nameToHandle(fd)")) return NULL;
  union { struct file_handle fh; char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ]; } u;
  u.fh.handle_bytes = MAX_HANDLE_SZ;
  int mount_id;
  if (name_to_handle_at(fd, "", &u.fh, &mount_id, AT_EMPTY_PATH) != 0) return num(env, -errno);
  napi_value out;
  void *p;
  napi_create_buffer(env, 8 + u.fh.handle_bytes, &p, &out);
  memcpy(p, &mount_id, 4);
  memcpy((char *)p + 4, &u.fh.handle_type, 4);
  memcpy((char *)p + 8, u.fh.f_handle, u.fh.handle_bytes);
  return out;
}

// openByHandle(mountFd, handle from nameToHandle, flags) -> fd or -errno, on
// the JS thread (an inode read at most, like lstat). mountFd must be a real
// open file (the kernel refuses O_PATH descriptors there).
static napi_value js_open_by_handle(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  size_t argc = 3;
  int32_t mfd, flags;
  void *p;
  size_t len;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3 || napi_get_value_int32(env, argv[0], &mfd) != napi_ok || napi_get_buffer_info(env, argv[1], &p, &len) != napi_ok ||
      len < 8 || len - 8 > MAX_HANDLE_SZ || napi_get_value_int32(env, argv[2], &flags) != napi_ok)
    return napi_throw_type_error(env, NULL, "openByHandle(mountFd, handle, flags)"), NULL;
  union { struct file_handle fh; char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ]; } u;
  u.fh.handle_bytes = (unsigned)(len - 8);
  memcpy(&u.fh.handle_type, (char *)p + 4, 4);
  memcpy(u.fh.f_handle, (char *)p + 8, len - 8);
  int fd = open_by_handle_at(mfd, &u.fh, flags | O_CLOEXEC);
  return num(env, fd < 0 ? -errno : fd);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"statx", NULL, js_statx, NULL, NULL, NULL, napi_default, NULL},
    {"openat", NULL, js_openat, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
    {"reopen", NULL, js_reopen, NULL, NULL, NULL, napi_default, NULL},
    {"mkdirat", NULL, js_mkdirat, NULL, NULL, NULL, napi_default, NULL},
    {"mkdiratNow", NULL, js_mkdirat_now, NULL, NULL, NULL, napi_default, NULL},
    {"mknodat", NULL, js_mknodat, NULL, NULL, NULL, napi_default, NULL},
    {"mknodatNow", NULL, js_mknodat_now, NULL, NULL, NULL, napi_default, NULL},
    {"symlinkat", NULL, js_symlinkat, NULL, NULL, NULL, napi_default, NULL},
    {"symlinkatNow", NULL, js_symlinkat_now, NULL, NULL, NULL, napi_default, NULL},
    {"unlinkat", NULL, js_unlinkat, NULL, NULL, NULL, napi_default, NULL},
    {"unlinkatNow", NULL, js_unlinkat_now, NULL, NULL, NULL, napi_default, NULL},
    {"renameat2", NULL, js_renameat2, NULL, NULL, NULL, napi_default, NULL},
    {"renameat2Now", NULL, js_renameat2_now, NULL, NULL, NULL, napi_default, NULL},
    {"linkat", NULL, js_linkat, NULL, NULL, NULL, napi_default, NULL},
    {"linkatNow", NULL, js_linkat_now, NULL, NULL, NULL, napi_default, NULL},
    {"fchownat", NULL, js_fchownat, NULL, NULL, NULL, napi_default, NULL},
    {"fchmod", NULL, js_fchmod, NULL, NULL, NULL, napi_default, NULL},
    {"utimensat", NULL, js_utimensat, NULL, NULL, NULL, napi_default, NULL},
    {"readlinkat", NULL, js_readlinkat, NULL, NULL, NULL, napi_default, NULL},
    {"getxattr", NULL, js_getxattr, NULL, NULL, NULL, napi_default, NULL},
    {"listxattr", NULL, js_listxattr, NULL, NULL, NULL, napi_default, NULL},
    {"setxattr", NULL, js_setxattr, NULL, NULL, NULL, napi_default, NULL},
    {"removexattr", NULL, js_removexattr, NULL, NULL, NULL, napi_default, NULL},
    {"nameToHandle", NULL, js_name_to_handle, NULL, NULL, NULL, napi_default, NULL},
    {"openByHandle", NULL, js_open_by_handle, NULL, NULL, NULL, napi_default, NULL},
    {"raiseNofile", NULL, js_raise_nofile, NULL, NULL, NULL, napi_default, NULL},
    {"fallocate", NULL, js_fallocate, NULL, NULL, NULL, napi_default, NULL},
    {"lseek", NULL, js_lseek, NULL, NULL, NULL, napi_default, NULL},
    {"copyFileRange", NULL, js_copy_file_range, NULL, NULL, NULL, napi_default, NULL},
    {"ofdSetlk", NULL, js_ofd_setlk, NULL, NULL, NULL, napi_default, NULL},
    {"ofdGetlk", NULL, js_ofd_getlk, NULL, NULL, NULL, napi_default, NULL},
    {"flock", NULL, js_flock, NULL, NULL, NULL, napi_default, NULL},
    {"fdFlags", NULL, js_fd_flags, NULL, NULL, NULL, napi_default, NULL},
    {"listDir", NULL, sys_listdir, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
