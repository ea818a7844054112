// Session lifecycle: mount, the request loop, detach and teardown. The
// device is non-blocking and polled by libuv on the JS thread: each wake-up
// reads requests until none is left (or a batch is done, so timers and I/O
// callbacks still run), answers INIT and INTERRUPT here, queues direct-fd
// data to the data threads and hands the rest to JS, all inside one callback
// scope (promise jobs the handlers start run when it closes). When the
// kernel ends the connection (umount, abort) reads fail with ENODEV and JS
// gets ENDED; it calls destroy() once every request is answered.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <time.h>
#include <unistd.h>
#include "common.h"
#include "mount.h"

#define BATCH 64
#define SPIN_BUDGET_NS 500000

void sf_emit_ended(struct session *s, int rc);

static void end_session(struct session *s, int rc) {
  if (s->ended) return;
  s->ended = 1;
  if (s->polling) uv_poll_stop(&s->poll);
  sf_emit_ended(s, rc);
}

static void handle_request(struct session *s, size_t n) {
  const struct fuse_in_header *h = (const void *)s->buf;
  if (n < sizeof *h || h->len != n) return;  // the kernel never sends a torn request
  size_t extlen = (size_t)h->total_extlen * 8;
  if (sizeof *h + extlen > n) return;
  const void *arg = s->buf + sizeof *h;
  size_t arglen = n - sizeof *h - extlen;
  if (h->opcode < FUSE_OPCODE_LIMIT) __atomic_add_fetch(&s->counts[h->opcode], 1, __ATOMIC_RELAXED);
  if (h->opcode == FUSE_INIT) {
    if (arglen < sizeof(struct fuse_init_in) - 48) sf_send_err(s, h->unique, EINVAL);  // before 7.36 the tail is absent
    else sf_handle_init(s, h, arg);
    return;
  }
  if (!s->initialized) {
    sf_send_err(s, h->unique, EIO);
    return;
  }
  switch (h->opcode) {
    case FUSE_INTERRUPT: {
      // The caller got a signal: only blocking locks watch for it (JS asks
      // interrupted()); others finish soon enough and are answered normally.
      if (arglen < sizeof(struct fuse_interrupt_in)) return;
      struct req *r = sf_req_find(&s->reqs, ((const struct fuse_interrupt_in *)arg)->unique);
      if (r) r->interrupted = 1;
      return;
    }
    case FUSE_DESTROY:
      sf_send_err(s, h->unique, 0);
      return;
    case FUSE_NOTIFY_REPLY:
      return;
    case FUSE_GETLK: case FUSE_SETLK: case FUSE_SETLKW:
      __atomic_store_n(&s->locks_used, 1, __ATOMIC_RELEASE);
      break;
  }
  if (sf_caps_answer(s, h, arg, arglen)) return;
  if (sf_data_take(s, h, arg, arglen)) return;
  sf_dispatch(s, h, arg, arglen);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// One round: up to BATCH requests (the first may have been read already:
// `first` bytes of it are in the buffer), then the callback scope closes,
// which runs the promise jobs that answer them. Returns how many were read.
static int round_of_requests(struct session *s, ssize_t first) {
  napi_env env = s->env;
  napi_handle_scope hs;
  napi_callback_scope cs;
  napi_value resource;
  int got = 0;
  napi_open_handle_scope(env, &hs);
  napi_get_reference_value(env, s->resource, &resource);
  napi_open_callback_scope(env, resource, s->async, &cs);
  for (int i = 0; i < BATCH && !s->ended; i++) {
    ssize_t n = first;
    first = 0;
    if (n <= 0) n = read(s->fd, s->buf, s->bufsize);
    if (n < 0) {
      if (errno == EINTR || errno == ENOENT) continue;  // ENOENT: interrupted before we read it
      if (errno == EAGAIN) break;
      end_session(s, errno == ENODEV ? 0 : -errno);
      break;
    }
    napi_handle_scope rs;
    napi_open_handle_scope(env, &rs);
    handle_request(s, (size_t)n);
    napi_close_handle_scope(env, rs);
    got++;
  }
  napi_close_callback_scope(env, cs);
  napi_close_handle_scope(env, hs);
  return got;
}

// After a round that answered requests, the next one usually follows within
// microseconds (the client got its answer and asks again): waiting for it
// here for a little while (spin_ns) saves the sleep and wake-up of the event
// loop, the largest part of a metadata request's cost. Nothing else waits
// on the JS thread for longer than that.
static void on_readable(uv_poll_t *handle, int status, int events) {
  struct session *s = handle->data;
  ssize_t first = 0;
  // Back to the event loop at least every SPIN_BUDGET_NS: answers that wait
  // on libuv's pool (closes, slow syscalls) and timers run there.
  uint64_t budget_end = now_ns() + SPIN_BUDGET_NS;
  // No wait while an answer is still due (it comes from libuv's pool, which
  // only the event loop can deliver).
  while (round_of_requests(s, first) > 0 && !s->ended && s->spin_ns && s->reqs.used == 0 && now_ns() < budget_end) {
    uint64_t until = now_ns() + s->spin_ns;
    first = 0;
    do {
      ssize_t n = read(s->fd, s->buf, s->bufsize);
      if (n > 0 || (n < 0 && errno != EAGAIN && errno != EINTR && errno != ENOENT)) {
        first = n > 0 ? n : 0;
        break;
      }
    } while (now_ns() < until);
    if (first <= 0) break;
  }
}

static int get_double(napi_env env, napi_value obj, const char *key, double *out) {
  napi_value v;
  bool has;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return 0;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return 0;
  return napi_get_value_double(env, v, out) == napi_ok;
}

static char *get_string(napi_env env, napi_value obj, const char *key) {
  napi_value v;
  size_t len;
  if (key && napi_get_named_property(env, obj, key, &v) != napi_ok) return NULL;
  if (!key) v = obj;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s) napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static void session_free(struct session *s) {
  if (s->fd >= 0) close(s->fd);
  free(s->buf);
  free(s->mountpoint);
  sf_req_free_all(&s->reqs);
  sf_caps_free(s);
  free(s);
}

// mount(mountpoint, spec, config, handler) -> session. spec: { fsname,
// fstype, flags, data, fusermountOpts } (lib/fuse/mount-spec.ts).
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct session *s = calloc(1, sizeof *s);
  if (!s) return sf_throw_errno(env, ENOMEM, "mount");
  s->fd = -1;
  s->env = env;
  s->mountpoint = get_string(env, argv[0], NULL);
  double d;
  napi_value cfg = argv[2];
  s->cfg.entry_timeout = get_double(env, cfg, "entryTimeout", &d) ? d : 1.0;
  s->cfg.attr_timeout = get_double(env, cfg, "attrTimeout", &d) ? d : 1.0;
  s->cfg.max_write = get_double(env, cfg, "maxWrite", &d) ? (unsigned)d : 0;
  s->cfg.max_background = get_double(env, cfg, "maxBackground", &d) ? (unsigned)d : 0;
  s->cfg.writeback = get_double(env, cfg, "writeback", &d) ? d != 0 : 0;
  s->cfg.posix_acl = get_double(env, cfg, "posixAcl", &d) ? d != 0 : 0;
  s->cfg.export_support = get_double(env, cfg, "exportSupport", &d) ? d != 0 : 1;
  s->cfg.passthrough = get_double(env, cfg, "passthrough", &d) ? d != 0 : 1;
  s->cfg.readdirplus_auto = get_double(env, cfg, "readdirplusAuto", &d) ? d != 0 : 0;
  s->cfg.killpriv = get_double(env, cfg, "killpriv", &d) ? d != 0 : 0;
  s->cfg.threads = get_double(env, cfg, "threads", &d) ? (unsigned)d : 1;
  s->spin_ns = get_double(env, cfg, "spinMicros", &d) ? (uint64_t)(d * 1000) : 0;
  // One maximal request: 256 pages (the kernel's ceiling) plus the headers.
  s->bufsize = 256 * (size_t)sysconf(_SC_PAGESIZE) + 4096;
  s->buf = malloc(s->bufsize);
  double flags = 0;
  get_double(env, argv[1], "flags", &flags);
  char *fsname = get_string(env, argv[1], "fsname"), *fstype = get_string(env, argv[1], "fstype");
  char *data = get_string(env, argv[1], "data"), *fmo = get_string(env, argv[1], "fusermountOpts");
  char err[600] = "";
  if (s->buf && s->mountpoint && fsname && fstype && data && fmo) {
    struct mount_spec m = {s->mountpoint, fsname, fstype, (unsigned long)flags, data, fmo};
    s->fd = sf_fuse_mount_device(&m, &s->connection, err, sizeof err);
  } else {
    snprintf(err, sizeof err, "bad mount arguments");
  }
  free(fsname);
  free(fstype);
  free(data);
  free(fmo);
  if (s->fd < 0) {
    session_free(s);
    napi_throw_error(env, "EMOUNT", err);
    return NULL;
  }
  fcntl(s->fd, F_SETFL, fcntl(s->fd, F_GETFL) | O_NONBLOCK);
  uv_loop_t *loop;
  napi_value resource, name;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, "stableid-fuse", NAPI_AUTO_LENGTH, &name);
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || napi_create_reference(env, argv[3], 1, &s->handler) != napi_ok ||
      napi_create_reference(env, resource, 1, &s->resource) != napi_ok || napi_async_init(env, resource, name, &s->async) != napi_ok ||
      uv_poll_init(loop, &s->poll, s->fd) != 0) {
    sf_fuse_unmount_lazy(s->mountpoint);
    session_free(s);
    return sf_throw_errno(env, EIO, "setting up the FUSE request loop");
  }
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, on_readable);
  s->polling = 1;
  if (s->cfg.threads > 1) s->data = sf_data_start(s, s->cfg.threads);
  napi_value out;
  NAPI_CALL(env, napi_create_external(env, s, NULL, NULL, &out));
  return out;
}

struct session *sf_session_arg(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

// detach(session) -> 0 or errno: lazy unmount (MNT_DETACH) as root. The
// connection ends once the last user of the mount is gone. Non-root callers
// get EPERM and run `fusermount3 -u -z` themselves.
static napi_value js_detach(napi_env env, napi_callback_info info) {
  SESSION_ARGS(1) napi_value out;
  napi_create_int32(env, s->ended ? 0 : sf_fuse_unmount_lazy(s->mountpoint), &out);
  return out;
}

// unmountPath(mountpoint) -> 0 or errno: the same lazy unmount of a path with
// no session (a stale mount left by a killed server), reached without links.
static napi_value js_unmount_path(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[4096];
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "unmountPath(mountpoint)");
    return NULL;
  }
  napi_create_int32(env, sf_fuse_unmount_lazy(path), &out);
  return out;
}

static void on_closed(uv_handle_t *h) {
  struct session *s = h->data;
  // Here, not in destroy(): destroy() may run inside on_readable's callback
  // scope, which still uses the async context until it closes.
  napi_delete_reference(s->env, s->handler);
  napi_delete_reference(s->env, s->resource);
  napi_async_destroy(s->env, s->async);
  session_free(s);
}

// destroy(session): after ENDED, with every request answered. Stops the data
// threads and closes the device (the mount is gone already: the device said
// so). Memory goes when libuv has let go of the poll handle.
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  SESSION_ARGS(1) if (s->closing_poll) return NULL;
  s->closing_poll = 1;
  if (!s->ended) {
    s->ended = 1;
    uv_poll_stop(&s->poll);
  }
  sf_data_stop(s->data);
  s->data = NULL;
  uv_close((uv_handle_t *)&s->poll, on_closed);
  return NULL;
}

// info(session) -> what INIT settled on (zeros before it).
static napi_value js_info(napi_env env, napi_callback_info info) {
  SESSION_ARGS(1) napi_value out, v;
  napi_create_object(env, &out);
  napi_create_uint32(env, s->negotiated_max_write, &v);
  napi_set_named_property(env, out, "maxWrite", v);
  napi_create_uint32(env, s->negotiated_max_readahead, &v);
  napi_set_named_property(env, out, "maxReadahead", v);
  napi_create_uint32(env, s->proto_minor, &v);
  napi_set_named_property(env, out, "minor", v);
  napi_get_boolean(env, s->passthrough, &v);
  napi_set_named_property(env, out, "passthrough", v);
  napi_create_string_utf8(env, s->passthrough_why, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "passthroughOff", v);
  napi_get_boolean(env, s->killpriv_v2, &v);
  napi_set_named_property(env, out, "killprivV2", v);
  napi_create_uint32(env, s->connection, &v);
  napi_set_named_property(env, out, "connection", v);
  return out;
}

// counts(session) -> Float64Array: requests by kernel opcode since the mount,
// also those answered without JS (data threads, INIT, INTERRUPT).
static napi_value js_counts(napi_env env, napi_callback_info info) {
  SESSION_ARGS(1) napi_value ab, out;
  void *p;
  napi_create_arraybuffer(env, FUSE_OPCODE_LIMIT * sizeof(double), &p, &ab);
  double *d = p;
  for (int i = 0; i < FUSE_OPCODE_LIMIT; i++) d[i] = (double)__atomic_load_n(&s->counts[i], __ATOMIC_RELAXED);
  napi_create_typedarray(env, napi_float64_array, FUSE_OPCODE_LIMIT, ab, 0, &out);
  return out;
}

// backingOpen(session, fd, nodeId: bigint) -> a backing id (> 0) the kernel
// reads and writes itself for files opened with it, or a negative errno
// (EPERM without CAP_SYS_ADMIN, ELOOP for a source on a stacked filesystem
// ...). The node's security.capability is then answered here (caps.c).
static napi_value js_backing_open(napi_env env, napi_callback_info info) {
  SESSION_ARGS(3) int32_t fd = -1;
  uint64_t nodeid = 0;
  bool lossless;
  napi_get_value_int32(env, argv[1], &fd);
  napi_get_value_bigint_uint64(env, argv[2], &nodeid, &lossless);
  struct stableid_backing_map map = {.fd = fd};
  // Not for append-only or immutable files: the kernel opens the backing
  // file with the caller's flags and its asynchronous writes take the
  // caller's (O_APPEND can be dropped with fcntl on the FUSE file, whose
  // inode does not carry the flag); through the server's own descriptor
  // SRC keeps enforcing them.
  int attrs = 0;
  if (ioctl(fd, FS_IOC_GETFLAGS, &attrs) == 0 && (attrs & (FS_APPEND_FL | FS_IMMUTABLE_FL))) {
    napi_value out;
    napi_create_int32(env, -EOPNOTSUPP, &out);
    return out;
  }
  int id = s->passthrough ? sf_backing_open(s, &map) : (errno = EOPNOTSUPP, -1);
  if (id > 0 && nodeid > 1) sf_caps_add(s, nodeid, fd);
  napi_value out;
  napi_create_int32(env, id < 0 ? -errno : id, &out);
  return out;
}

// backingClose(session, id, nodeId: bigint) -> 0 or a negative errno. Files
// open with it keep it.
static napi_value js_backing_close(napi_env env, napi_callback_info info) {
  SESSION_ARGS(3) uint32_t id = 0;
  uint64_t nodeid = 0;
  bool lossless;
  napi_get_value_uint32(env, argv[1], &id);
  napi_get_value_bigint_uint64(env, argv[2], &nodeid, &lossless);
  if (nodeid > 1) sf_caps_remove(s, nodeid);
  int rc = ioctl(s->fd, STABLEID_IOC_BACKING_CLOSE, &id);
  napi_value out;
  napi_create_int32(env, rc < 0 ? -errno : 0, &out);
  return out;
}

napi_value sf_session_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
    {"detach", NULL, js_detach, NULL, NULL, NULL, napi_default, NULL},
    {"unmountPath", NULL, js_unmount_path, NULL, NULL, NULL, napi_default, NULL},
    {"destroy", NULL, js_destroy, NULL, NULL, NULL, napi_default, NULL},
    {"info", NULL, js_info, NULL, NULL, NULL, napi_default, NULL},
    {"counts", NULL, js_counts, NULL, NULL, NULL, napi_default, NULL},
    {"backingOpen", NULL, js_backing_open, NULL, NULL, NULL, napi_default, NULL},
    {"backingClose", NULL, js_backing_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
