// The requests JS has not answered yet, by the kernel's unique id: an open
// addressing table (linear probing, backward-shift deletion). Only the JS
// thread touches it. A reply to a unique not in the table (answered already,
// or never asked) writes nothing, so no answer can go to the wrong request.
#include <stdlib.h>
#include <string.h>
#include "common.h"

static size_t slot_of(const struct req_table *t, uint64_t unique) {
  // Uniques step by 2 (the low bit marks interrupts): mix before masking.
  uint64_t x = unique * 0x9E3779B97F4A7C15ull;
  return (size_t)(x >> 32) & (t->cap - 1);
}

static int grow(struct req_table *t) {
  size_t cap = t->cap ? t->cap * 2 : 256;
  struct req *slots = calloc(cap, sizeof *slots);
  if (!slots) return -1;
  struct req *old = t->slots;
  size_t oldcap = t->cap;
  t->slots = slots;
  t->cap = cap;
  t->used = 0;
  for (size_t i = 0; i < oldcap; i++)
    if (old[i].unique) sf_req_add(t, &old[i]);
  free(old);
  return 0;
}

struct req *sf_req_add(struct req_table *t, const struct req *r) {
  if ((t->used + 1) * 2 > t->cap && grow(t) != 0) return NULL;
  size_t i = slot_of(t, r->unique);
  while (t->slots[i].unique && t->slots[i].unique != r->unique) i = (i + 1) & (t->cap - 1);
  if (!t->slots[i].unique) t->used++;
  t->slots[i] = *r;
  return &t->slots[i];
}

struct req *sf_req_find(struct req_table *t, uint64_t unique) {
  if (!t->cap || !unique) return NULL;
  for (size_t i = slot_of(t, unique);; i = (i + 1) & (t->cap - 1)) {
    if (t->slots[i].unique == unique) return &t->slots[i];
    if (!t->slots[i].unique) return NULL;
  }
}

void sf_req_remove(struct req_table *t, uint64_t unique) {
  struct req *r = sf_req_find(t, unique);
  if (!r) return;
  size_t i = (size_t)(r - t->slots);
  size_t mask = t->cap - 1;
  // Shift later members of the probe run back so lookups never stop early.
  for (size_t j = (i + 1) & mask; t->slots[j].unique; j = (j + 1) & mask) {
    size_t home = slot_of(t, t->slots[j].unique);
    if (((j - home) & mask) >= ((j - i) & mask)) {
      t->slots[i] = t->slots[j];
      i = j;
    }
  }
  memset(&t->slots[i], 0, sizeof t->slots[i]);
  t->used--;
}

void sf_req_free_all(struct req_table *t) {
  free(t->slots);
  memset(t, 0, sizeof *t);
}
