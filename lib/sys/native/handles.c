// stableid_handles.node: opening files by inode number, for NFS export
// support (docs/nfs.md). Every call runs on libuv's thread pool (opening by
// handle may read the inode from disk) and settles a promise; errors are
// Node-style (err.code is the errno name) so lib/errno.ts maps them.
//
// What each filesystem needs is decided in lib/sys/handles.ts; this file only
// makes the syscalls (name_to_handle_at and open_by_handle_at themselves are
// in sys.c, shared with the descriptor budget):
//   getVersion     FS_IOC_GETVERSION: the inode's generation (ext4, xfs, btrfs;
//                  not tmpfs); needs a real open, not O_PATH
//   fsType         fstatfs(2) f_type: which handle format to build
//   xfsGeneration  XFS_IOC_BULKSTAT of one inode number: xfs refuses a handle
//                  without the right generation, and this is the only way to
//                  learn it from the number alone
//   openBeneath    openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: a
//                  mount point inside the export, opened without following a
//                  symlink planted on the way
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>
#include "node-error.h"

// XFS_IOC_BULKSTAT (Linux 5.4+), from the kernel's uapi xfs_fs.h: a 64-byte
// request header followed by 192-byte records. Only bs_ino and bs_gen are read.
struct xfs_bulk_ireq {
  uint64_t ino;
  uint32_t flags;
  uint32_t icount;
  uint32_t ocount;
  uint32_t agno;
  uint64_t reserved[5];
};
struct xfs_bulkstat_head {
  uint64_t bs_ino;
  uint64_t bs_size, bs_blocks, bs_xflags;
  int64_t bs_atime, bs_mtime, bs_ctime, bs_btime;
  uint32_t bs_gen;
};
#define XFS_BULKSTAT_SIZE 192
_Static_assert(sizeof(struct xfs_bulk_ireq) == 64, "xfs_bulk_ireq is 64 bytes");
_Static_assert(offsetof(struct xfs_bulkstat_head, bs_gen) == 64, "bs_gen at offset 64");
#define XFS_IOC_BULKSTAT _IOR('X', 127, struct xfs_bulk_ireq)

enum kind { GET_VERSION, FS_TYPE, XFS_GENERATION, OPEN_BENEATH };
static const char *const names[] = {"ioctl(FS_IOC_GETVERSION)", "fstatfs", "ioctl(XFS_IOC_BULKSTAT)", "openat2"};

struct work {
  enum kind kind;
  int fd;
  char *path;
  int flags;
  uint64_t ino;
  int64_t result;  // fd, generation, f_type; -1 from xfsGeneration: no such inode
  int err;
  napi_deferred deferred;
  napi_async_work work;
};

static int xfs_generation(struct work *w) {
  unsigned char buf[sizeof(struct xfs_bulk_ireq) + XFS_BULKSTAT_SIZE];
  memset(buf, 0, sizeof buf);
  struct xfs_bulk_ireq *req = (struct xfs_bulk_ireq *)buf;
  req->ino = w->ino;
  req->icount = 1;
  if (ioctl(w->fd, XFS_IOC_BULKSTAT, buf) < 0) return errno;
  struct xfs_bulkstat_head *bs = (struct xfs_bulkstat_head *)(buf + sizeof *req);
  // Bulkstat returns the first allocated inode at or after ino: a free number gives another (or none).
  w->result = req->ocount == 1 && bs->bs_ino == w->ino ? (int64_t)bs->bs_gen : -1;
  return 0;
}

static void execute(napi_env env, void *data) {
  (void)env;
  struct work *w = data;
  int rc = 0;
  switch (w->kind) {
    case GET_VERSION: {
      int gen = 0;
      rc = ioctl(w->fd, FS_IOC_GETVERSION, &gen);
      w->result = (uint32_t)gen;
      break;
    }
    case FS_TYPE: {
      struct statfs sf;
      rc = fstatfs(w->fd, &sf);
      w->result = (uint32_t)sf.f_type;
      break;
    }
    case XFS_GENERATION: w->err = xfs_generation(w); return;
    case OPEN_BENEATH: {
      struct open_how how = {.flags = (uint64_t)(w->flags | O_CLOEXEC | O_NOFOLLOW),
                             .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
      long fd = syscall(SYS_openat2, w->fd, w->path, &how, sizeof how);
      if (fd < 0) rc = -1;
      else w->result = fd;
      break;
    }
  }
  w->err = rc == 0 ? 0 : errno;
}

static void complete(napi_env env, napi_status status, void *data) {
  struct work *w = data;
  napi_value v;
  if (status == napi_ok && w->err == 0) {
    napi_create_int64(env, w->result, &v);
    napi_resolve_deferred(env, w->deferred, v);
  } else {
    napi_reject_deferred(env, w->deferred, node_error(env, w->err ? w->err : EIO, names[w->kind], w->path));
  }
  napi_delete_async_work(env, w->work);
  free(w->path);
  free(w);
}

// Reads `want` arguments; argv[0] is always a descriptor. Throws a TypeError naming `usage`.
static struct work *args_work(napi_env env, napi_callback_info info, enum kind kind, size_t want, napi_value *argv, const char *usage) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct work *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  w->kind = kind;
  if (argc < want || napi_get_value_int32(env, argv[0], &w->fd) != napi_ok) {
    free(w);
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  return w;
}

static bool get_string(napi_env env, napi_value v, char **out) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return false;
  *out = malloc(len + 1);
  if (!*out) return false;
  napi_get_value_string_utf8(env, v, *out, len + 1, &len);
  return true;
}

static napi_value start(napi_env env, struct work *w) {
  napi_value promise, name;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, "stableid-handles", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, w, &w->work);
  napi_queue_async_work(env, w->work);
  return promise;
}

static napi_value fail(napi_env env, struct work *w, const char *usage) {
  free(w->path);
  free(w);
  napi_throw_type_error(env, NULL, usage);
  return NULL;
}

// getVersion(fd) -> Promise<number>
static napi_value js_get_version(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct work *w = args_work(env, info, GET_VERSION, 1, argv, "getVersion(fd)");
  return w ? start(env, w) : NULL;
}

// fsType(fd) -> Promise<number>
static napi_value js_fs_type(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct work *w = args_work(env, info, FS_TYPE, 1, argv, "fsType(fd)");
  return w ? start(env, w) : NULL;
}

// xfsGeneration(fd, ino: bigint) -> Promise<number> (-1: no such inode)
static napi_value js_xfs_generation(napi_env env, napi_callback_info info) {
  static const char usage[] = "xfsGeneration(fd, ino)";
  napi_value argv[2];
  struct work *w = args_work(env, info, XFS_GENERATION, 2, argv, usage);
  if (!w) return NULL;
  bool lossless;
  if (napi_get_value_bigint_uint64(env, argv[1], &w->ino, &lossless) != napi_ok || !lossless) return fail(env, w, usage);
  return start(env, w);
}

// openBeneath(dirfd, path, flags) -> Promise<fd>
static napi_value js_open_beneath(napi_env env, napi_callback_info info) {
  static const char usage[] = "openBeneath(dirfd, path, flags)";
  napi_value argv[3];
  struct work *w = args_work(env, info, OPEN_BENEATH, 3, argv, usage);
  if (!w) return NULL;
  if (!get_string(env, argv[1], &w->path) || napi_get_value_int32(env, argv[2], &w->flags) != napi_ok) return fail(env, w, usage);
  return start(env, w);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"getVersion", NULL, js_get_version, NULL, NULL, NULL, napi_default, NULL},
    {"fsType", NULL, js_fs_type, NULL, NULL, NULL, napi_default, NULL},
    {"xfsGeneration", NULL, js_xfs_generation, NULL, NULL, NULL, napi_default, NULL},
    {"openBeneath", NULL, js_open_beneath, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
