// The attribute layout shared with lib/fuse/attr-buffer.ts: 96 bytes,
// little-endian, 64-bit fields first. Ids, sizes and times keep all 64 bits;
// the last word is the file's generation (for entries). sf_attr_layout() hands
// the offsets to JS, which checks them against its own at load.
#include <string.h>
#include "common.h"

enum {
  A_INO = 0, A_SIZE = 8, A_BLOCKS = 16, A_ATIME = 24, A_MTIME = 32, A_CTIME = 40, A_RDEV = 48, A_NLINK = 56,
  A_ATIMENS = 64, A_MTIMENS = 68, A_CTIMENS = 72, A_MODE = 76, A_UID = 80, A_GID = 84, A_BLKSIZE = 88, A_GEN = 92,
};

static uint64_t u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

void sf_attr_to_fuse(const uint8_t *p, struct fuse_attr *a) {
  memset(a, 0, sizeof *a);
  a->ino = u64(p + A_INO);
  a->size = u64(p + A_SIZE);
  a->blocks = u64(p + A_BLOCKS);
  a->atime = u64(p + A_ATIME);
  a->mtime = u64(p + A_MTIME);
  a->ctime = u64(p + A_CTIME);
  a->atimensec = u32(p + A_ATIMENS);
  a->mtimensec = u32(p + A_MTIMENS);
  a->ctimensec = u32(p + A_CTIMENS);
  a->mode = u32(p + A_MODE);
  uint64_t nlink = u64(p + A_NLINK);
  a->nlink = nlink > UINT32_MAX ? UINT32_MAX : (uint32_t)nlink;
  a->uid = u32(p + A_UID);
  a->gid = u32(p + A_GID);
  // The kernel decodes a 32-bit device number (new_decode_dev): glibc's
  // makedev layout agrees with it in the low 32 bits.
  a->rdev = (uint32_t)u64(p + A_RDEV);
  a->blksize = u32(p + A_BLKSIZE);
}

uint64_t sf_attr_ino(const uint8_t *p) { return u64(p + A_INO); }
uint32_t sf_attr_generation(const uint8_t *p) { return u32(p + A_GEN); }

// SETATTR's values in the same layout (lib/fuse/attr-buffer.ts readSetattr).
void sf_setattr_to_buffer(const struct fuse_setattr_in *in, uint8_t *p) {
  memset(p, 0, ATTR_SIZE);
  put64(p + A_SIZE, in->size);
  put64(p + A_ATIME, in->atime);
  put64(p + A_MTIME, in->mtime);
  put64(p + A_CTIME, in->ctime);
  put32(p + A_ATIMENS, in->atimensec);
  put32(p + A_MTIMENS, in->mtimensec);
  put32(p + A_CTIMENS, in->ctimensec);
  put32(p + A_MODE, in->mode);
  put32(p + A_UID, in->uid);
  put32(p + A_GID, in->gid);
}

static void split(double secs, uint64_t *s, uint32_t *ns) {
  if (secs < 0) secs = 0;
  *s = (uint64_t)secs;
  *ns = (uint32_t)((secs - (double)*s) * 1e9);
}

// The node id is the stable id (st_ino); the generation makes a kernel file
// handle of a deleted file stale when its inode number comes back (NFS).
void sf_fill_entry(const struct session *s, const uint8_t *attr, struct fuse_entry_out *e) {
  memset(e, 0, sizeof *e);
  e->nodeid = sf_attr_ino(attr);
  e->generation = sf_attr_generation(attr);
  split(s->cfg.entry_timeout, &e->entry_valid, &e->entry_valid_nsec);
  split(s->cfg.attr_timeout, &e->attr_valid, &e->attr_valid_nsec);
  sf_attr_to_fuse(attr, &e->attr);
}

napi_value sf_named_numbers(napi_env env, const struct named_number *list, size_t n) {
  napi_value out, v;
  napi_create_object(env, &out);
  for (size_t i = 0; i < n; i++) {
    napi_create_uint32(env, list[i].value, &v);
    napi_set_named_property(env, out, list[i].name, v);
  }
  return out;
}

napi_value sf_attr_layout(napi_env env) {
  static const struct named_number fields[] = {
    {"ino", A_INO}, {"size", A_SIZE}, {"blocks", A_BLOCKS}, {"atime", A_ATIME}, {"mtime", A_MTIME},
    {"ctime", A_CTIME}, {"rdev", A_RDEV}, {"nlink", A_NLINK}, {"atimeNs", A_ATIMENS}, {"mtimeNs", A_MTIMENS},
    {"ctimeNs", A_CTIMENS}, {"mode", A_MODE}, {"uid", A_UID}, {"gid", A_GID}, {"blksize", A_BLKSIZE},
    {"generation", A_GEN}, {"size_of_layout", ATTR_SIZE},
  };
  return sf_named_numbers(env, fields, sizeof fields / sizeof fields[0]);
}
