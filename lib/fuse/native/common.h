// Shared declarations of the stableid FUSE addon. The addon is a thin bridge:
// libfuse's low-level session loop runs on its own thread and turns every
// request into an event queued to JavaScript (never waiting for it); JS
// answers later through the reply_* functions. No ids, paths or policy here.
#pragma once
#define FUSE_USE_VERSION 34
#define NAPI_VERSION 8
#include <fuse_lowlevel.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

// Operation codes shared with lib/fuse/native.ts (keep the two lists equal).
enum op {
  OP_ENDED = 0, OP_LOOKUP, OP_FORGET, OP_GETATTR, OP_SETATTR, OP_READLINK, OP_MKNOD, OP_MKDIR,
  OP_UNLINK, OP_RMDIR, OP_SYMLINK, OP_RENAME, OP_LINK, OP_OPEN, OP_READ, OP_WRITE, OP_FLUSH,
  OP_RELEASE, OP_FSYNC, OP_OPENDIR, OP_READDIR, OP_READDIRPLUS, OP_RELEASEDIR, OP_FSYNCDIR,
  OP_STATFS, OP_SETXATTR, OP_GETXATTR, OP_LISTXATTR, OP_REMOVEXATTR, OP_ACCESS, OP_CREATE,
  OP_GETLK, OP_SETLK, OP_FLOCK, OP_FALLOCATE, OP_LSEEK, OP_COPY_FILE_RANGE,
};

// One request on its way from the loop thread to JS. Strings and data are
// copies (libfuse's buffer is reused as soon as the op callback returns).
struct event {
  enum op op;
  fuse_req_t req;
  uint64_t ino;   // node id (the parent for name ops)
  uint64_t ino2;  // new parent (rename, link)
  char *name;     // name; or the link target for symlink
  char *name2;    // new name (rename, link); the link name for symlink
  uint64_t fh;
  int has_fh;
  uint64_t u1;    // size, mode, mask, datasync, to_set ...
  uint64_t u2;    // rdev, flags ...
  int64_t off;
  char *data;     // write data / xattr value (malloc'd; handed to JS as an external buffer)
  size_t len;
  struct stat st; // setattr values
  uint64_t *pairs; // forget: (ino, nlookup) pairs
  size_t npairs;
  uint64_t owner;  // the kernel's lock owner (locks, flush)
  struct flock lk; // getlk/setlk: the range and type
  uint64_t fh2;    // copy_file_range: the destination handle
  int64_t off2;    // fallocate length; copy_file_range destination offset
};

// A file handle whose bit 62 is set names an OS file descriptor (its low 32
// bits): READ and WRITE on it are served here, on libfuse's worker threads,
// with pread/pwrite (or a splice), and never reach JS. JS chooses this per
// open (replyOpen flag OPEN_FD) and sees every other request on the handle
// with the bit cleared.
#define FH_DIRECT_FD (1ull << 62)

// Mount-time settings the TypeScript side chooses.
struct config {
  unsigned threads;  // > 1: libfuse's multi-threaded loop with this many idle workers
  double entry_timeout;
  double attr_timeout;
  unsigned max_write;
  unsigned max_background;
  int writeback;
  int posix_acl;  // ask for FUSE_POSIX_ACL (only with default_permissions, which it implies)
  int export_support;  // ask for FUSE_EXPORT_SUPPORT
};

struct session {
  struct fuse_session *se;
  napi_threadsafe_function tsfn;
  pthread_t thread;
  int thread_started;
  int loop_rc;
  char *mountpoint;
  struct config cfg;
  unsigned negotiated_max_write; // what INIT settled on (read back by JS for the report)
  unsigned negotiated_max_readahead;
  int locks_used; // set (atomically) by the first lock request: from then on JS sees every FLUSH
};

extern const struct fuse_lowlevel_ops stableid_ops;
void stableid_init(void *userdata, struct fuse_conn_info *conn);
void queue_event(struct session *s, struct event *ev);
void call_js(napi_env env, napi_value js_cb, void *context, void *data);
void free_event(struct event *ev);

// Attributes travel from JS in a fixed little-endian layout (ATTR_SIZE bytes
// per file); lib/fuse/attr-buffer.ts writes the same layout.
#define ATTR_SIZE 96
void attr_decode(const uint8_t *p, struct stat *st);
void attr_encode(const struct stat *st, uint8_t *p);
uint32_t attr_generation(const uint8_t *p);

napi_value throw_errno(napi_env env, int err, const char *what);
#define NAPI_CALL(env, call)                                              \
  do {                                                                    \
    if ((call) != napi_ok) {                                              \
      napi_throw_error((env), NULL, "stableid fuse addon: " #call " failed"); \
      return NULL;                                                        \
    }                                                                     \
  } while (0)

napi_value reply_register(napi_env env, napi_value exports);
napi_value session_register(napi_env env, napi_value exports);
