// FUSE_INIT: what we ask of the kernel. Answered here, on the JS thread,
// before any other request (the kernel sends nothing else until then).
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "common.h"

// The kernel refuses a read buffer smaller than one maximal WRITE plus its
// headers; 256 pages is its ceiling for one request (FUSE_MAX_MAX_PAGES).
#define MAX_PAGES 256

void sf_handle_init(struct session *s, const struct fuse_in_header *h, const void *arg) {
  const struct fuse_init_in *in = arg;
  struct stableid_init_out out;
  memset(&out, 0, sizeof out);
  out.major = FUSE_KERNEL_VERSION;
  if (in->major != FUSE_KERNEL_VERSION) {
    // A different major: answer with ours, the kernel then fails the mount.
    sf_send_reply(s, h->unique, 0, &out, sizeof out, NULL, 0);
    return;
  }
  out.minor = in->minor < STABLEID_FUSE_MINOR ? in->minor : STABLEID_FUSE_MINOR;
  uint64_t offered = in->flags;
  if (in->flags & FUSE_INIT_EXT) offered |= (uint64_t)in->flags2 << 32;
  uint64_t want = 0;
#define WANT(flag) if (offered & (flag)) want |= (flag)
  // As libfuse's defaults: concurrent reads, parallel lookups in one
  // directory, O_TRUNC within OPEN, page cache dropped when mtime changes.
  WANT(FUSE_ASYNC_READ);
  WANT(FUSE_PARALLEL_DIROPS);
  WANT(FUSE_AUTO_INVAL_DATA);
  WANT(FUSE_ASYNC_DIO);
  WANT(FUSE_ATOMIC_O_TRUNC);
  WANT(FUSE_BIG_WRITES);
  WANT(FUSE_MAX_PAGES);
  WANT(FUSE_INIT_EXT);
  // Readdirplus (ls -l, Samba and NFS want the attributes); with auto the
  // kernel asks for it only once the caller stats what it lists (find does not).
  WANT(FUSE_DO_READDIRPLUS);
  if (s->cfg.readdirplus_auto) WANT(FUSE_READDIRPLUS_AUTO);
  // Record locks and flock go to the server, which holds them on the source
  // (lib/backend/locks.ts): they then conflict with locks taken on SRC and
  // over 9P, not only among the mount's own users.
  WANT(FUSE_POSIX_LOCKS);
  WANT(FUSE_FLOCK_LOCKS);
  // ACLs as on the source: the kernel checks them (not only the mode bits),
  // drops its cached mode when one is set, and with DONT_MASK leaves the
  // umask to us (ops.ts: not applied under a default ACL, which the source
  // applies).
  if (s->cfg.posix_acl && (offered & FUSE_POSIX_ACL) && (offered & FUSE_DONT_MASK)) want |= FUSE_POSIX_ACL | FUSE_DONT_MASK;
  // Kernel file handles (NFS re-export, open_by_handle_at on the mount) name
  // a node by id and generation: with export support the kernel asks us for
  // ids it does not hold (LOOKUP(id, ".") and (id, "..")) instead of ESTALE.
  if (s->cfg.export_support) WANT(FUSE_EXPORT_SUPPORT);
  // Setuid and setgid: without FUSE_HANDLE_KILLPRIV_V2 the kernel clears them
  // itself before a write, asking for security.capability first, one round
  // trip per write(2) (caps.c makes it a short one). With it the kernel
  // stops asking (SB_NOSEC) and says when to clear them (kill-priv.ts:
  // writes, truncates and chowns through the server), and passthrough
  // writes clear them on the source itself (backing.c). Its cached mode
  // may then show them for up to attr_timeout after a passthrough write,
  // so only on nosuid mounts, where that mode never makes anyone root.
  if (s->cfg.killpriv) WANT(FUSE_HANDLE_KILLPRIV_V2);
  s->killpriv_v2 = (want & FUSE_HANDLE_KILLPRIV_V2) != 0;
  if (s->cfg.writeback) WANT(FUSE_WRITEBACK_CACHE);
  // Passthrough: the kernel reads and writes the source file itself. It
  // needs CAP_SYS_ADMIN for every backing file and excludes the writeback
  // cache; the source may itself be stacked once (max_stack_depth 1 means
  // the backing file's filesystem is not a stacking one).
  s->passthrough = 0;
  if (!s->cfg.passthrough) snprintf(s->passthrough_why, sizeof s->passthrough_why, "turned off");
  else if (!(offered & FUSE_PASSTHROUGH) || out.minor < 40)
    snprintf(s->passthrough_why, sizeof s->passthrough_why, "the kernel does not offer it (FUSE protocol 7.%u, passthrough needs 7.40 and CONFIG_FUSE_PASSTHROUGH)", in->minor);
  else if (want & FUSE_WRITEBACK_CACHE) snprintf(s->passthrough_why, sizeof s->passthrough_why, "not with -o writeback_cache");
  else if (geteuid() != 0) snprintf(s->passthrough_why, sizeof s->passthrough_why, "needs root (CAP_SYS_ADMIN) to register backing files");
  else {
    want |= FUSE_PASSTHROUGH;
    out.max_stack_depth = 1;
    s->passthrough = 1;
    s->passthrough_why[0] = 0;
  }
#undef WANT
  out.flags = (uint32_t)want;
  out.flags2 = (uint32_t)(want >> 32);
  out.max_readahead = in->max_readahead;
  // max_pages counts the kernel's pages (64 KiB on some arm64 and ppc64
  // kernels): the read buffers hold 256 of them (session.c).
  unsigned page = (unsigned)sysconf(_SC_PAGESIZE);
  unsigned max_write = s->cfg.max_write ? s->cfg.max_write : 128 * 1024;
  if (max_write > MAX_PAGES * page) max_write = MAX_PAGES * page;
  out.max_write = max_write;
  out.max_pages = (uint16_t)((max_write + page - 1) / page);
  // More background requests in flight (readahead, async reads): the
  // kernel's default of 12 starves a server that answers asynchronously.
  unsigned bg = s->cfg.max_background ? s->cfg.max_background : 12;
  out.max_background = (uint16_t)bg;
  out.congestion_threshold = (uint16_t)(bg * 3 / 4);
  out.time_gran = 1;
  s->proto_minor = out.minor;
  s->negotiated_max_write = out.max_write;
  s->negotiated_max_readahead = out.max_readahead;
  // Before 7.23 the kernel reads the short (24-byte) answer; we never speak older.
  size_t len = out.minor < 23 ? 24 : sizeof out;
  if (sf_send_reply(s, h->unique, 0, &out, len, NULL, 0) == 0) s->initialized = 1;
}
