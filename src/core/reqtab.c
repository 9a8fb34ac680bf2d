#include "core/reqtab.h"

#include <string.h>

#include "toxwire/error.h"

void tw_reqtab_init(tw_reqtab *t, tw_reqtab_slot *slots, uint32_t count, tw_time_ms ttl_ms) {
  memset(slots, 0, count * sizeof *slots);
  t->slots = slots;
  t->count = count;
  t->next = 0;
  t->ttl_ms = ttl_ms;
}

uint64_t tw_reqtab_add(tw_reqtab *t, const tw_key *pk, const tw_addr *addr,
                       uint64_t tag, tw_time_ms now, uint64_t random) {
  uint32_t i = t->next++ & (t->count - 1);
  uint64_t mask = t->count - 1;
  uint64_t id = (random & ~mask) | i;
  if (id == 0) id = (uint64_t)1 << 63 | i;
  tw_reqtab_slot *s = &t->slots[i];
  s->id = id;
  s->pk = *pk;
  s->addr = *addr;
  s->sent = now;
  s->tag = tag;
  return id;
}

const tw_reqtab_slot *tw_reqtab_peek(const tw_reqtab *t, uint64_t id, tw_time_ms now) {
  if (id == 0) return NULL;
  const tw_reqtab_slot *s = &t->slots[id & (t->count - 1)];
  return s->id == id && now - s->sent <= t->ttl_ms ? s : NULL;
}

void tw_reqtab_drop(tw_reqtab *t, uint64_t id) {
  tw_reqtab_slot *s = &t->slots[id & (t->count - 1)];
  if (id != 0 && s->id == id) s->id = 0;
}

int tw_reqtab_take(tw_reqtab *t, uint64_t id, const tw_key *pk, const tw_addr *addr,
                   tw_time_ms now, uint64_t *tag) {
  const tw_reqtab_slot *s = tw_reqtab_peek(t, id, now);
  if (s == NULL || !tw_key_equal(&s->pk, pk) || !tw_addr_equal(&s->addr, addr))
    return TW_E_UNSOLICITED;
  if (tag) *tag = s->tag;
  tw_reqtab_drop(t, id);
  return TW_OK;
}
