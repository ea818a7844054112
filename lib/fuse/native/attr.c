// The attribute layout shared with lib/fuse/attr-buffer.ts: 96 bytes,
// little-endian, 64-bit fields first. Ids, sizes and times keep all 64 bits;
// the last word is the file's generation (for entries).
#include <string.h>
#include "common.h"

static uint64_t u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

void attr_decode(const uint8_t *p, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = u64(p + 0);
  st->st_size = (off_t)u64(p + 8);
  st->st_blocks = (blkcnt_t)u64(p + 16);
  st->st_atim.tv_sec = (time_t)u64(p + 24);
  st->st_mtim.tv_sec = (time_t)u64(p + 32);
  st->st_ctim.tv_sec = (time_t)u64(p + 40);
  st->st_rdev = (dev_t)u64(p + 48);
  st->st_nlink = (nlink_t)u64(p + 56);
  st->st_atim.tv_nsec = u32(p + 64);
  st->st_mtim.tv_nsec = u32(p + 68);
  st->st_ctim.tv_nsec = u32(p + 72);
  st->st_mode = u32(p + 76);
  st->st_uid = u32(p + 80);
  st->st_gid = u32(p + 84);
  st->st_blksize = u32(p + 88);
}

// The file's generation (FUSE entries carry it), at the layout's spare slot.
uint32_t attr_generation(const uint8_t *p) { return u32(p + 92); }

void attr_encode(const struct stat *st, uint8_t *p) {
  memset(p, 0, ATTR_SIZE);
  put64(p + 0, st->st_ino);
  put64(p + 8, (uint64_t)st->st_size);
  put64(p + 16, (uint64_t)st->st_blocks);
  put64(p + 24, (uint64_t)st->st_atim.tv_sec);
  put64(p + 32, (uint64_t)st->st_mtim.tv_sec);
  put64(p + 40, (uint64_t)st->st_ctim.tv_sec);
  put64(p + 48, st->st_rdev);
  put64(p + 56, st->st_nlink);
  put32(p + 64, (uint32_t)st->st_atim.tv_nsec);
  put32(p + 68, (uint32_t)st->st_mtim.tv_nsec);
  put32(p + 72, (uint32_t)st->st_ctim.tv_nsec);
  put32(p + 76, st->st_mode);
  put32(p + 80, st->st_uid);
  put32(p + 84, st->st_gid);
  put32(p + 88, (uint32_t)st->st_blksize);
}
