// The data threads: READ, WRITE and FLUSH on direct-fd handles (FH_DIRECT_FD)
// are answered here with pread/pwrite on the source descriptor, so a slow
// disk never stalls the JS thread and the bytes never enter JS. The JS
// thread reads the request and queues it; a WRITE's payload stays in the
// buffer it was read into, which the job takes (the reader gets another).
// With kernel passthrough these requests do not reach the server at all.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "common.h"

// A write the kernel leaves clearing setuid/setgid to the server (direct_io,
// and every write under FUSE_HANDLE_KILLPRIV_V2): FUSE_WRITE_KILL_SUIDGID
// says the writer lacks CAP_FSETID. The rule of lib/fuse/kill-priv.ts, for
// the writes the data threads serve: setuid always, setgid when
// group-executable (otherwise it is a mandatory-locking mark).
int sf_kill_suidgid(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return 0;
  // And file capabilities, as kill-priv.ts: under KILLPRIV_V2 the kernel's
  // own removal is not carried out for callers other than root or the owner.
  if (fremovexattr(fd, "security.capability") != 0 && errno != ENODATA && errno != ENOTSUP) return errno;
  mode_t kill = (st.st_mode & S_ISUID) | ((st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) ? S_ISGID : 0);
  if (!kill || !S_ISREG(st.st_mode)) return 0;
  return fchmod(fd, st.st_mode & 07777 & ~kill) == 0 ? 0 : errno;
}

struct job {
  struct job *next;
  uint32_t opcode;
  uint64_t unique;
  int fd;
  uint64_t off;
  uint32_t size;
  uint32_t write_flags;
  char *buf;          // WRITE: the request buffer (payload at data); READ: NULL
  const char *data;
};

struct data_pool {
  struct session *s;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct job *head, *tail;
  char *spare[8];     // request buffers given back by finished writes
  unsigned nspare;
  int stopping;
  unsigned nthreads;
  pthread_t threads[64];
};

static char *buffer_get(struct data_pool *p) {
  pthread_mutex_lock(&p->mu);
  char *b = p->nspare ? p->spare[--p->nspare] : NULL;
  pthread_mutex_unlock(&p->mu);
  return b ? b : malloc(p->s->bufsize);
}

static void buffer_put(struct data_pool *p, char *b) {
  pthread_mutex_lock(&p->mu);
  if (p->nspare < sizeof p->spare / sizeof p->spare[0]) {
    p->spare[p->nspare++] = b;
    b = NULL;
  }
  pthread_mutex_unlock(&p->mu);
  free(b);
}

static void serve(struct data_pool *p, struct job *j, char **rbuf) {
  struct session *s = p->s;
  switch (j->opcode) {
    case FUSE_READ: {
      if (!*rbuf) *rbuf = malloc(s->bufsize);
      if (!*rbuf) { sf_send_err(s, j->unique, ENOMEM); break; }
      size_t want = j->size < s->bufsize ? j->size : s->bufsize;
      size_t got = 0;
      // A short read is the end of the file only when pread says 0.
      while (got < want) {
        ssize_t n = pread(j->fd, *rbuf + got, want - got, (off_t)(j->off + got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          if (!got) { sf_send_err(s, j->unique, errno); return; }
          break;
        }
        if (n == 0) break;
        got += (size_t)n;
      }
      sf_send_reply(s, j->unique, 0, *rbuf, got, NULL, 0);
      break;
    }
    case FUSE_WRITE: {
      int err = (j->write_flags & FUSE_WRITE_KILL_SUIDGID) ? sf_kill_suidgid(j->fd) : 0;
      if (err) {
        sf_send_err(s, j->unique, err);
        buffer_put(p, j->buf);
        break;
      }
      ssize_t n;
      do n = pwrite(j->fd, j->data, j->size, (off_t)j->off); while (n < 0 && errno == EINTR);
      if (n < 0) sf_send_err(s, j->unique, errno);
      else {
        struct fuse_write_out out = {.size = (uint32_t)n};
        sf_send_reply(s, j->unique, 0, &out, sizeof out, NULL, 0);
      }
      buffer_put(p, j->buf);
      break;
    }
    case FUSE_FLUSH: {
      // As close(2) would on the source: close a duplicate, which reports
      // delayed write errors (NFS), keeping the descriptor open.
      int fd = dup(j->fd);
      int err = fd < 0 ? errno : (close(fd) == 0 ? 0 : errno);
      sf_send_err(s, j->unique, err);
      break;
    }
  }
}

static void *worker(void *arg) {
  struct data_pool *p = arg;
  char *rbuf = NULL;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->head && !p->stopping) pthread_cond_wait(&p->cv, &p->mu);
    if (!p->head) break;
    struct job *j = p->head;
    p->head = j->next;
    if (!p->head) p->tail = NULL;
    pthread_mutex_unlock(&p->mu);
    serve(p, j, &rbuf);
    free(j);
    pthread_mutex_lock(&p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  free(rbuf);
  return NULL;
}

struct data_pool *sf_data_start(struct session *s, unsigned threads) {
  if (threads < 1) return NULL;
  if (threads > 64) threads = 64;
  struct data_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->s = s;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  for (unsigned i = 0; i < threads; i++) {
    if (pthread_create(&p->threads[i], NULL, worker, p) != 0) break;
    p->nthreads++;
  }
  if (!p->nthreads) {
    free(p);
    return NULL;
  }
  return p;
}

static void enqueue(struct data_pool *p, struct job *j) {
  pthread_mutex_lock(&p->mu);
  if (p->tail) p->tail->next = j;
  else p->head = j;
  p->tail = j;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

int sf_data_take(struct session *s, const struct fuse_in_header *h, const void *arg, size_t arglen) {
  struct data_pool *p = s->data;
  if (!p) return 0;
  uint64_t fh;
  switch (h->opcode) {
    case FUSE_READ: case FUSE_WRITE: {
      if (arglen < sizeof(struct fuse_read_in)) return 0;
      fh = ((const struct fuse_read_in *)arg)->fh;  // fh, offset, size lead both structs
      break;
    }
    case FUSE_FLUSH:
      if (arglen < sizeof(struct fuse_flush_in)) return 0;
      fh = ((const struct fuse_flush_in *)arg)->fh;
      // Once the mount has seen a lock, closes go to JS, which drops the
      // closing process's record locks (POSIX: any close of the file does).
      if (__atomic_load_n(&s->locks_used, __ATOMIC_ACQUIRE)) return 0;
      break;
    default:
      return 0;
  }
  if (!(fh & FH_DIRECT_FD)) return 0;
  struct job *j = calloc(1, sizeof *j);
  if (!j) return 0;
  j->opcode = h->opcode;
  j->unique = h->unique;
  j->fd = (int)(fh & 0xffffffffu);
  if (h->opcode == FUSE_READ) {
    const struct fuse_read_in *in = arg;
    j->off = in->offset;
    j->size = in->size;
  } else if (h->opcode == FUSE_WRITE) {
    const struct fuse_write_in *in = arg;
    if (arglen < sizeof *in + in->size) { free(j); return 0; }
    char *fresh = buffer_get(p);
    if (!fresh) { free(j); return 0; }
    j->off = in->offset;
    j->size = in->size;
    j->write_flags = in->write_flags;
    j->buf = s->buf;
    j->data = (const char *)(in + 1);
    s->buf = fresh;
  }
  enqueue(p, j);
  return 1;
}

void sf_data_stop(struct data_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stopping = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (unsigned i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
  for (unsigned i = 0; i < p->nspare; i++) free(p->spare[i]);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p);
}
