// stableid_lock.node: one call Node does not offer, an open-file-description
// lock (F_OFD_SETLK) on a whole file, tried without waiting, on libuv's
// thread pool (on a cluster filesystem the attempt is a network round trip).
// OFD locks, unlike classic fcntl locks, belong to the open file, so two
// openers in one process exclude each other, and closing another descriptor
// of the file does not drop the lock. Cluster filesystems (Gluster, CephFS)
// enforce them between mounts; locks on directories they do not (measured:
// flock on a Gluster directory succeeds on both mounts at once).
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>

struct work {
  int fd;
  short type;  // F_WRLCK or F_UNLCK
  int err;     // 0, or errno
  napi_deferred deferred;
  napi_async_work work;
};

static void execute(napi_env env, void *data) {
  (void)env;
  struct work *w = data;
  struct flock fl;
  memset(&fl, 0, sizeof fl);  // l_pid must be 0 for OFD locks
  fl.l_type = w->type;
  fl.l_whence = SEEK_SET;     // l_start 0, l_len 0: the whole file
  w->err = fcntl(w->fd, F_OFD_SETLK, &fl) == 0 ? 0 : errno;
}

static void complete(napi_env env, napi_status status, void *data) {
  (void)status;
  struct work *w = data;
  napi_value v;
  if (w->err == 0 || ((w->err == EAGAIN || w->err == EACCES) && w->type == F_WRLCK)) {
    // Resolves true when taken, false when another open file holds it.
    napi_get_boolean(env, w->err == 0, &v);
    napi_resolve_deferred(env, w->deferred, v);
  } else {
    napi_value code, msg;
    const char *name = strerrorname_np(w->err);
    napi_create_string_utf8(env, name ? name : "EIO", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, strerror(w->err), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &v);
    napi_set_named_property(env, v, "code", code);
    napi_reject_deferred(env, w->deferred, v);
  }
  napi_delete_async_work(env, w->work);
  free(w);
}

// ofdSetlk(fd, exclusive): exclusive=true tries to take the write lock,
// false releases it.
static napi_value js_ofd_setlk(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], promise, name;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  bool exclusive;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_bool(env, argv[1], &exclusive) != napi_ok) {
    napi_throw_type_error(env, NULL, "usage: ofdSetlk(fd: number, exclusive: boolean)");
    return NULL;
  }
  struct work *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  w->fd = fd;
  w->type = exclusive ? F_WRLCK : F_UNLCK;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, "stableid-lock", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, w, &w->work);
  napi_queue_async_work(env, w->work);
  return promise;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"ofdSetlk", NULL, js_ofd_setlk, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 1, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
