// listDir(fd) -> Promise<[names: string[] (NUL between names), inos: BigUint64Array,
// types: Uint8Array, fsType: number]>: every name of the directory but '.'
// and '..', with the inode number and type getdents64 gave for it, and the
// directory's statfs f_type (lib/backend/passthrough.ts decides on which
// filesystems d_ino is the name's st_ino). A listing's cost grows with the
// directory, and a user can make one of a million names: past its first
// buffer it is read on libuv's pool.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include "listdir.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>
#include "node-error.h"

#define NAMES_CHUNK (64u << 20)

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

struct listing {
  int fd;
  int dfd;    // the directory opened for reading, -1 before and after
  char *buf;  // the getdents64 records, back to back
  size_t used, cap;
  size_t count;
  int64_t fs_type;
  bool done;
  int err;
  napi_deferred deferred;
  napi_async_work work;
};

static bool dots(const char *n) { return n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0)); }

// Reads to the end, or (limit > 0) until no more than `limit` bytes of records fit;
// done once the end or an error is reached.
static void step(struct listing *l, size_t limit) {
  if (l->dfd < 0) {
    // A descriptor of its own (the caller's is O_PATH, which getdents
    // refuses), opened through the pinned inode, never by a path from the
    // export root.
    l->dfd = openat(l->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (l->dfd < 0) {
      l->err = errno;
      l->done = true;
      return;
    }
    struct statfs sf;
    l->fs_type = fstatfs(l->dfd, &sf) == 0 ? (int64_t)sf.f_type : 0;
  }
  while (!l->done) {
    if (limit && l->used + 4096 > limit) return;  // more may follow: the rest on the pool
    // Grown when less than a page is free (one record is at most 280 bytes):
    // most listings then fit the first 64 KiB, which stays below malloc's
    // mmap threshold.
    if (l->cap - l->used < 4096) {
      size_t cap = l->cap ? l->cap * 2 : 65536;
      char *p = realloc(l->buf, cap);
      if (!p) {
        l->err = ENOMEM;
        break;
      }
      l->buf = p;
      l->cap = cap;
    }
    long n = syscall(SYS_getdents64, l->dfd, l->buf + l->used, l->cap - l->used);
    if (n < 0) {
      l->err = errno;
      break;
    }
    if (n == 0) break;
    for (long at = 0; at < n;) {
      struct linux_dirent64 *d = (void *)(l->buf + l->used + at);
      if (!dots(d->d_name)) l->count++;
      at += d->d_reclen;
    }
    l->used += (size_t)n;
  }
  l->done = true;
  close(l->dfd);
  l->dfd = -1;
}

static void execute(napi_env env, void *data) {
  (void)env;
  step(data, 0);
}

static void complete(napi_env env, napi_status status, void *data) {
  struct listing *l = data;
  if (status != napi_ok || l->err) {
    napi_reject_deferred(env, l->deferred, node_error(env, l->err ? l->err : EIO, "getdents64", NULL));
  } else {
    // The names as a few strings, NUL between names (no name holds one): a
    // split in JS costs a fraction of a string per name. A string is at most
    // NAMES_CHUNK bytes, far below V8's limit (2^29 characters), which a
    // directory of two million long names would pass.
    napi_value out, names, inos, types, ab, v;
    uint64_t *ino;
    uint8_t *type;
    char *joined = malloc(l->used < NAMES_CHUNK ? l->used + 1 : NAMES_CHUNK);
    if (!joined || napi_create_array(env, &names) != napi_ok) {
      free(joined);
      napi_reject_deferred(env, l->deferred, node_error(env, ENOMEM, "getdents64", NULL));
      goto done;
    }
    napi_create_arraybuffer(env, l->count * 8, (void **)&ino, &ab);
    napi_create_typedarray(env, napi_biguint64_array, l->count, ab, 0, &inos);
    napi_create_arraybuffer(env, l->count, (void **)&type, &ab);
    napi_create_typedarray(env, napi_uint8_array, l->count, ab, 0, &types);
    size_t len = 0, i = 0, chunks = 0;
    bool ok = true;
    for (size_t at = 0; ok && at < l->used && i < l->count;) {
      struct linux_dirent64 *d = (void *)(l->buf + at);
      at += d->d_reclen;
      if (dots(d->d_name)) continue;
      size_t n = strlen(d->d_name);
      if (len > 0 && len + 1 + n > NAMES_CHUNK) {
        ok = napi_create_string_utf8(env, joined, len, &v) == napi_ok && napi_set_element(env, names, (uint32_t)chunks++, v) == napi_ok;
        len = 0;
      }
      if (len > 0) joined[len++] = 0;
      memcpy(joined + len, d->d_name, n);
      len += n;
      ino[i] = d->d_ino;
      type[i] = d->d_type;
      i++;
    }
    if (ok && len > 0) ok = napi_create_string_utf8(env, joined, len, &v) == napi_ok && napi_set_element(env, names, (uint32_t)chunks, v) == napi_ok;
    free(joined);
    if (!ok) {
      napi_reject_deferred(env, l->deferred, node_error(env, ENOMEM, "getdents64", NULL));
      goto done;
    }
    napi_create_array_with_length(env, 4, &out);
    napi_set_element(env, out, 0, names);
    napi_set_element(env, out, 1, inos);
    napi_set_element(env, out, 2, types);
    napi_create_int64(env, l->fs_type, &v);
    napi_set_element(env, out, 3, v);
    napi_resolve_deferred(env, l->deferred, out);
  }
done:
  if (l->work) napi_delete_async_work(env, l->work);
  free(l->buf);
  free(l);
}

// listDir(fd): the first buffer (64 KiB, about a thousand names) is read on
// the JS thread, so a directory that fits is answered with no hop to the
// pool (a listing's cost is then bounded as a stat's is); the rest of a
// bigger one is read there.
napi_value sys_listdir(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], promise, name;
  int32_t fd;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "listDir(dirfd)");
    return NULL;
  }
  struct listing *l = calloc(1, sizeof *l);
  if (!l) {
    napi_throw_error(env, "ENOMEM", "listDir: out of memory");
    return NULL;
  }
  l->fd = fd;
  l->dfd = -1;
  napi_create_promise(env, &l->deferred, &promise);
  step(l, 65536);
  if (l->done) {
    complete(env, napi_ok, l);
    return promise;
  }
  napi_create_string_utf8(env, "stableid-listdir", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, l, &l->work);
  napi_queue_async_work(env, l->work);
  return promise;
}
