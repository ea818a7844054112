// Shared declarations of the stableid FUSE addon. The addon speaks the
// kernel's FUSE protocol on /dev/fuse itself (no libfuse): requests are read
// on the JS thread (the device is polled by libuv), decoded by one table
// (ops.c) and handed to JS, which answers through the reply_* functions on
// the same thread. Reads and writes of direct-fd handles go to a small pool
// of threads (data.c); with kernel passthrough they never reach us at all.
// No ids, paths or policy here.
#pragma once
#define NAPI_VERSION 8
#include <linux/fuse.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <uv.h>
#include "proto.h"

// A file handle whose bit 62 is set names an OS file descriptor (its low 32
// bits): READ, WRITE and FLUSH on it are served by the data threads with
// pread/pwrite and never reach JS. JS chooses this per open (OPEN_FD) and
// sees every other request on the handle with the bit cleared.
#define FH_DIRECT_FD (1ull << 62)

// replyOpen/replyCreate flags from JS (native.ts OPEN_*, compared at load).
enum { OPEN_KEEP_CACHE = 1, OPEN_DIRECT_IO = 2, OPEN_CACHE_DIR = 4, OPEN_FD = 8, OPEN_NOFLUSH = 16 };

// Mount-time settings the TypeScript side chooses.
struct config {
  unsigned threads;  // > 1: this many data threads serve direct-fd handles
  double entry_timeout;
  double attr_timeout;
  unsigned max_write;
  unsigned max_background;
  int writeback;
  int posix_acl;       // ask for FUSE_POSIX_ACL + DONT_MASK (only with default_permissions)
  int export_support;  // ask for FUSE_EXPORT_SUPPORT
  int passthrough;     // ask for FUSE_PASSTHROUGH (reads and writes straight to the source file)
  int readdirplus_auto;  // let the kernel choose readdirplus only when the caller stats entries
  int killpriv;        // ask for FUSE_HANDLE_KILLPRIV_V2 (nosuid mounts only: init.c)
};

// A request answered from JS: what the replies and ctx() need after the
// request buffer is reused. Kept in the in-flight table (reqs.c) until
// answered; a second answer finds nothing and writes nothing.
struct req {
  uint64_t unique;
  uint64_t nodeid;
  uint32_t opcode;
  uint32_t uid, gid, pid, umask;
  int interrupted;
};

struct req_table {
  struct req *slots;  // unique 0 = free slot (the kernel never uses 0 for a request)
  size_t cap, used;
};

struct data_pool;

struct cap_table;

struct session {
  int fd;                 // /dev/fuse
  char *mountpoint;
  struct config cfg;
  napi_env env;
  napi_ref handler;
  napi_async_context async;
  napi_ref resource;
  uv_poll_t poll;
  int polling;
  int ended;              // the kernel closed the connection (ENODEV)
  int closing_poll;
  uint64_t spin_ns;       // how long to wait for the next request before sleeping in the event loop
  char *buf;              // one request at a time, on the JS thread
  size_t bufsize;
  struct req_table reqs;
  struct data_pool *data;
  // What INIT settled on (read back by JS for the start-up report).
  int initialized;
  unsigned proto_minor;
  unsigned negotiated_max_write;
  unsigned negotiated_max_readahead;
  int passthrough;        // FUSE_PASSTHROUGH granted: replies may name backing files
  char passthrough_why[120];  // why not, when it is off
  int killpriv_v2;        // FUSE_HANDLE_KILLPRIV_V2 granted: backing files are registered without CAP_FSETID
  unsigned connection;    // fusectl number, from the mount itself (0: unknown, read mountinfo)
  int locks_used;         // set (atomically) by the first lock request: from then on JS sees every FLUSH
  uint64_t counts[FUSE_OPCODE_LIMIT];  // requests by opcode, also those JS never sees (atomic adds)
  struct cap_table *caps; // open files whose security.capability is answered here (caps.c)
};

// backing.c: FUSE_DEV_IOC_BACKING_OPEN with the credentials passthrough I/O should have.
int sf_backing_open(struct session *s, struct stableid_backing_map *map);

// caps.c: security.capability of files with a passthrough backing, answered without JS.
void sf_caps_add(struct session *s, uint64_t nodeid, int fd);
void sf_caps_remove(struct session *s, uint64_t nodeid);
void sf_caps_free(struct session *s);
int sf_caps_answer(struct session *s, const struct fuse_in_header *h, const void *arg, size_t arglen);

// reqs.c
struct req *sf_req_add(struct req_table *t, const struct req *r);
struct req *sf_req_find(struct req_table *t, uint64_t unique);
void sf_req_remove(struct req_table *t, uint64_t unique);
void sf_req_free_all(struct req_table *t);

// io.c: writing answers to the device (any thread).
int sf_send_reply(struct session *s, uint64_t unique, int error, const void *a, size_t alen, const void *b, size_t blen);
int sf_send_err(struct session *s, uint64_t unique, int error);

// init.c
void sf_handle_init(struct session *s, const struct fuse_in_header *h, const void *arg);

// ops.c: decoding one request into JS arguments.
void sf_dispatch(struct session *s, const struct fuse_in_header *h, const void *arg, size_t arglen);
void sf_emit_ended(struct session *s, int rc);
napi_value sf_ops_register(napi_env env, napi_value exports);

// data.c: the direct-fd data threads.
struct data_pool *sf_data_start(struct session *s, unsigned threads);
// 1 if the pool took the request (it answers it), 0 if JS should.
int sf_data_take(struct session *s, const struct fuse_in_header *h, const void *arg, size_t arglen);
void sf_data_stop(struct data_pool *p);
// Clears setuid (and setgid when group-executable) of the file open at fd: 0 or an errno.
int sf_kill_suidgid(int fd);

// Attributes travel from JS in a fixed little-endian layout (ATTR_SIZE bytes
// per file); lib/fuse/attr-buffer.ts writes the same layout (checked at load).
#define ATTR_SIZE 96
void sf_attr_to_fuse(const uint8_t *p, struct fuse_attr *a);
uint64_t sf_attr_ino(const uint8_t *p);
uint32_t sf_attr_generation(const uint8_t *p);
void sf_setattr_to_buffer(const struct fuse_setattr_in *in, uint8_t *p);
void sf_fill_entry(const struct session *s, const uint8_t *attr, struct fuse_entry_out *e);
napi_value sf_attr_layout(napi_env env);
// { name: value, ... } from a table (layouts and flags JS checks at load).
struct named_number { const char *name; uint32_t value; };
napi_value sf_named_numbers(napi_env env, const struct named_number *list, size_t n);

napi_value sf_throw_errno(napi_env env, int err, const char *what);
#define NAPI_CALL(env, call)                                              \
  do {                                                                    \
    if ((call) != napi_ok) {                                              \
      napi_throw_error((env), NULL, "stableid fuse addon: " #call " failed"); \
      return NULL;                                                        \
    }                                                                     \
  } while (0)

napi_value sf_reply_register(napi_env env, napi_value exports);
napi_value sf_session_register(napi_env env, napi_value exports);
struct session *sf_session_arg(napi_env env, napi_value v);

// The start of a session function: its n arguments, the first the session.
#define SESSION_ARGS(n)                                                 \
  size_t argc = (n);                                                    \
  napi_value argv[(n)];                                                 \
  NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL)); \
  struct session *s = sf_session_arg(env, argv[0]);                     \
  if (!s) {                                                             \
    napi_throw_type_error(env, NULL, "not a FUSE session");             \
    return NULL;                                                        \
  }
