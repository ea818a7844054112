// What the kernel's FUSE protocol has beyond Debian 12's <linux/fuse.h>
// (minor 38): kernel passthrough (minor 40). Values are the kernel's ABI
// (include/uapi/linux/fuse.h); defined here only where the header lacks them.
#pragma once
#include <linux/fuse.h>
#include <linux/ioctl.h>
#include <stdint.h>

// The protocol version we speak: passthrough arrived in 7.40.
#define STABLEID_FUSE_MINOR 40

#ifndef FUSE_PASSTHROUGH
#define FUSE_PASSTHROUGH (1ULL << 37)
#endif
#ifndef FOPEN_PASSTHROUGH
#define FOPEN_PASSTHROUGH (1 << 7)
#endif
#ifndef FUSE_DEV_IOC_MAGIC
#define FUSE_DEV_IOC_MAGIC 229
#endif

struct stableid_backing_map {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
#define STABLEID_IOC_BACKING_OPEN _IOW(FUSE_DEV_IOC_MAGIC, 1, struct stableid_backing_map)
#define STABLEID_IOC_BACKING_CLOSE _IOW(FUSE_DEV_IOC_MAGIC, 2, uint32_t)

// fuse_init_out at minor 40: max_stack_depth takes the first unused word.
struct stableid_init_out {
  uint32_t major;
  uint32_t minor;
  uint32_t max_readahead;
  uint32_t flags;
  uint16_t max_background;
  uint16_t congestion_threshold;
  uint32_t max_write;
  uint32_t time_gran;
  uint16_t max_pages;
  uint16_t map_alignment;
  uint32_t flags2;
  uint32_t max_stack_depth;
  uint32_t unused[6];
};

// fuse_open_out at minor 40: the padding became the backing id.
struct stableid_open_out {
  uint64_t fh;
  uint32_t open_flags;
  int32_t backing_id;
};

// Opcodes we count requests by: every kernel opcode up to FUSE_STATX (52).
#define FUSE_OPCODE_LIMIT 64

// The setxattr header without FUSE_SETXATTR_EXT (which we do not ask for).
#ifndef FUSE_COMPAT_SETXATTR_IN_SIZE
#define FUSE_COMPAT_SETXATTR_IN_SIZE 8
#endif
