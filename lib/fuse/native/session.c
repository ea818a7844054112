// Session lifecycle: mount, the loop thread, INIT negotiation, detach and
// teardown. mount() returns at once; the loop thread ends when the kernel
// closes the connection (umount, abort) and then queues OP_ENDED to JS, which
// calls destroy() to join the thread and free everything.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>
#include "common.h"

// libfuse reports mount problems through its log; keep the last line so the
// JS error says what went wrong instead of a bare "mount failed".
static char last_log[512];
static void capture_log(enum fuse_log_level level, const char *fmt, va_list ap) {
  if (level > FUSE_LOG_ERR) return;
  vsnprintf(last_log, sizeof last_log, fmt, ap);
  size_t n = strlen(last_log);
  while (n && last_log[n - 1] == '\n') last_log[--n] = 0;
}

void queue_event(struct session *s, struct event *ev) {
  if (napi_call_threadsafe_function(s->tsfn, ev, napi_tsfn_nonblocking) != napi_ok) {
    if (ev->req) fuse_reply_err(ev->req, EIO);
    free_event(ev);
  }
}

void stableid_init(void *userdata, struct fuse_conn_info *conn) {
  struct session *s = userdata;
  // Big requests: libfuse's buffer holds 1 MiB of payload (FUSE_MAX_MAX_PAGES),
  // and the kernel grants max_pages up to its limit (256 pages by default).
  if (s->cfg.max_write) conn->max_write = s->cfg.max_write;
  // More background requests in flight (readahead, async reads): our answers
  // come from an async JS loop, so the kernel's default of 12 starves it.
  if (s->cfg.max_background) {
    conn->max_background = s->cfg.max_background;
    conn->congestion_threshold = s->cfg.max_background * 3 / 4;
  }
  if (s->cfg.writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  else conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  // Readdirplus always (ls -l, Samba and find all want the attributes).
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  // Reads on direct-fd handles go from the source file to the kernel by splice.
  if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  // The kernel clears setuid/setgid on a non-owner's write, chown and
  // truncate itself: the server writes as root, which the source never
  // clears them for (libfuse would otherwise leave it to us).
  conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
  // ACLs as on the source: the kernel checks them (not only the mode bits),
  // drops its cached mode when one is set (setfacl changes the group bits),
  // and with DONT_MASK leaves the umask to us (ops.ts: not applied under a
  // default ACL, which the source applies). Without them a named user's
  // entry grants nothing and a default ACL's group bits are lost to umask.
  if (s->cfg.posix_acl && (conn->capable & FUSE_CAP_POSIX_ACL) && (conn->capable & FUSE_CAP_DONT_MASK))
    conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
  // Kernel file handles (NFS re-export, open_by_handle_at on the mount) name
  // a node by id and generation: with export support the kernel asks us for
  // ids it does not hold (LOOKUP(id, ".") and (id, "..")) instead of ESTALE.
  if (s->cfg.export_support && (conn->capable & FUSE_CAP_EXPORT_SUPPORT)) conn->want |= FUSE_CAP_EXPORT_SUPPORT;
  else conn->want &= ~FUSE_CAP_EXPORT_SUPPORT;
  // Record locks and flock go to the server, which holds them on the source
  // (lib/backend/locks.ts): they then conflict with locks taken on SRC and
  // over 9P, not only among the mount's own users.
  if (conn->capable & FUSE_CAP_POSIX_LOCKS) conn->want |= FUSE_CAP_POSIX_LOCKS;
  if (conn->capable & FUSE_CAP_FLOCK_LOCKS) conn->want |= FUSE_CAP_FLOCK_LOCKS;
  s->negotiated_max_write = conn->max_write;
  s->negotiated_max_readahead = conn->max_readahead;
}

static void *loop_main(void *arg) {
  struct session *s = arg;
  int rc;
  if (s->cfg.threads > 1) {
    struct fuse_loop_config lc = {.clone_fd = 0, .max_idle_threads = s->cfg.threads};
    rc = fuse_session_loop_mt(s->se, &lc);
  } else {
    rc = fuse_session_loop(s->se);
  }
  struct event *ev = calloc(1, sizeof *ev);
  if (ev) {
    ev->op = OP_ENDED;
    ev->u1 = (uint64_t)(int64_t)rc;
    queue_event(s, ev);
  }
  return NULL;
}

static int get_double(napi_env env, napi_value obj, const char *key, double *out) {
  napi_value v;
  bool has;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return 0;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok) return 0;
  return napi_get_value_double(env, v, out) == napi_ok;
}

static char *get_string(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s) napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static void session_free(struct session *s) {
  free(s->mountpoint);
  free(s);
}

// mount(mountpoint, args: string[], config, handler) -> session
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct session *s = calloc(1, sizeof *s);
  if (!s) return throw_errno(env, ENOMEM, "mount");
  s->mountpoint = get_string(env, argv[0]);
  double d;
  s->cfg.entry_timeout = get_double(env, argv[2], "entryTimeout", &d) ? d : 1.0;
  s->cfg.attr_timeout = get_double(env, argv[2], "attrTimeout", &d) ? d : 1.0;
  s->cfg.max_write = get_double(env, argv[2], "maxWrite", &d) ? (unsigned)d : 0;
  s->cfg.max_background = get_double(env, argv[2], "maxBackground", &d) ? (unsigned)d : 0;
  s->cfg.writeback = get_double(env, argv[2], "writeback", &d) ? d != 0 : 0;
  s->cfg.posix_acl = get_double(env, argv[2], "posixAcl", &d) ? d != 0 : 0;
  s->cfg.export_support = get_double(env, argv[2], "exportSupport", &d) ? d != 0 : 1;
  s->cfg.threads = get_double(env, argv[2], "threads", &d) ? (unsigned)d : 1;

  uint32_t nargs = 0;
  napi_get_array_length(env, argv[1], &nargs);
  char **strs = calloc(nargs + 1, sizeof(char *));
  for (uint32_t i = 0; i < nargs; i++) {
    napi_value v;
    napi_get_element(env, argv[1], i, &v);
    strs[i] = get_string(env, v);
  }
  struct fuse_args args = FUSE_ARGS_INIT((int)nargs, strs);
  last_log[0] = 0;
  fuse_set_log_func(capture_log);
  s->se = fuse_session_new(&args, &stableid_ops, sizeof stableid_ops, s);
  fuse_opt_free_args(&args);
  for (uint32_t i = 0; i < nargs; i++) free(strs[i]);
  free(strs);
  if (!s->se) {
    char msg[600];
    snprintf(msg, sizeof msg, "fuse_session_new failed: %s", last_log[0] ? last_log : "bad options");
    session_free(s);
    napi_throw_error(env, "EINVAL", msg);
    return NULL;
  }
  if (fuse_session_mount(s->se, s->mountpoint) != 0) {
    char msg[600];
    snprintf(msg, sizeof msg, "mount failed: %s", last_log[0] ? last_log : "unknown reason");
    fuse_session_destroy(s->se);
    session_free(s);
    napi_throw_error(env, "EMOUNT", msg);
    return NULL;
  }
  napi_value name;
  napi_create_string_utf8(env, "stableid-fuse", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &s->tsfn) != napi_ok) {
    fuse_session_unmount(s->se);
    fuse_session_destroy(s->se);
    session_free(s);
    return throw_errno(env, ENOMEM, "napi_create_threadsafe_function");
  }
  if (pthread_create(&s->thread, NULL, loop_main, s) != 0) {
    int err = errno;
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
    fuse_session_unmount(s->se);
    fuse_session_destroy(s->se);
    session_free(s);
    return throw_errno(env, err, "pthread_create");
  }
  s->thread_started = 1;
  napi_value out;
  NAPI_CALL(env, napi_create_external(env, s, NULL, NULL, &out));
  return out;
}

static struct session *get_session(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

// detach(session) -> 0 or errno: lazy unmount (MNT_DETACH) as root. The loop
// ends once the last user of the mount is gone. Non-root callers get EPERM
// and run `fusermount3 -u -z` themselves.
static napi_value js_detach(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct session *s = get_session(env, argv[0]);
  int rc = 0;
  if (!s || !s->mountpoint) rc = EINVAL;
  else if (umount2(s->mountpoint, MNT_DETACH) != 0) rc = errno;
  napi_create_int32(env, rc, &out);
  return out;
}

// destroy(session): after OP_ENDED. Joins the loop thread, closes the device
// (unmounting first if the kernel still has the mount) and frees the session.
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct session *s = get_session(env, argv[0]);
  if (!s) return NULL;
  if (s->thread_started) pthread_join(s->thread, NULL);
  fuse_session_unmount(s->se);
  fuse_session_destroy(s->se);
  napi_release_threadsafe_function(s->tsfn, napi_tsfn_release);
  session_free(s);
  return NULL;
}

// info(session) -> { maxWrite, maxReadahead } as negotiated at INIT (0 before).
static napi_value js_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out, v;
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct session *s = get_session(env, argv[0]);
  if (!s) return NULL;
  napi_create_object(env, &out);
  napi_create_uint32(env, s->negotiated_max_write, &v);
  napi_set_named_property(env, out, "maxWrite", v);
  napi_create_uint32(env, s->negotiated_max_readahead, &v);
  napi_set_named_property(env, out, "maxReadahead", v);
  return out;
}

napi_value session_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL},
    {"detach", NULL, js_detach, NULL, NULL, NULL, napi_default, NULL},
    {"destroy", NULL, js_destroy, NULL, NULL, NULL, napi_default, NULL},
    {"info", NULL, js_info, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
