#include "dht/client_list.h"

#include <string.h>

tw_dht_entry *tw_client_list_find(tw_client_list *l, const tw_key *pk) {
  for (int i = 0; i < l->count; i++)
    if (tw_key_equal(&l->e[i].pk, pk)) return &l->e[i];
  return NULL;
}

static int worst_bad(const tw_client_list *l, tw_time_ms now, tw_time_ms bad_after_ms) {
  for (int i = l->count - 1; i >= 0; i--)
    if (!tw_entry_is_good(&l->e[i], now, bad_after_ms)) return i;
  return -1;
}

bool tw_client_list_viable(const tw_client_list *l, const tw_key *base, const tw_key *pk,
                           tw_time_ms now, tw_time_ms bad_after_ms) {
  if (tw_key_equal(base, pk)) return false;
  for (int i = 0; i < l->count; i++)
    if (tw_key_equal(&l->e[i].pk, pk)) return false;
  if (l->count < TW_DHT_K) return true;
  if (worst_bad(l, now, bad_after_ms) >= 0) return true;
  return tw_key_distance_cmp(base, pk, &l->e[l->count - 1].pk) < 0;
}

void tw_client_list_remove_at(tw_client_list *l, int i) {
  memmove(&l->e[i], &l->e[i + 1], (size_t)(l->count - i - 1) * sizeof l->e[0]);
  l->count--;
}

tw_list_add_result tw_client_list_add(tw_client_list *l, const tw_key *base, const tw_key *pk,
                                      const tw_addr *addr, tw_time_ms now,
                                      tw_time_ms bad_after_ms) {
  if (tw_key_equal(base, pk)) return TW_LIST_NOT_VIABLE;
  tw_dht_entry *old = tw_client_list_find(l, pk);
  if (old != NULL) {
    old->addr = *addr;
    old->last_seen = now;
    return TW_LIST_UPDATED;
  }
  tw_time_ms last_check = now;
  if (l->count == TW_DHT_K) {
    int victim = worst_bad(l, now, bad_after_ms);
    if (victim < 0) {
      if (tw_key_distance_cmp(base, pk, &l->e[l->count - 1].pk) >= 0) return TW_LIST_NOT_VIABLE;
      victim = l->count - 1;
    }
    tw_client_list_remove_at(l, victim);
  }
  int pos = l->count;
  while (pos > 0 && tw_key_distance_cmp(base, pk, &l->e[pos - 1].pk) < 0) pos--;
  memmove(&l->e[pos + 1], &l->e[pos], (size_t)(l->count - pos) * sizeof l->e[0]);
  tw_dht_entry *e = &l->e[pos];
  e->pk = *pk;
  e->addr = *addr;
  e->last_seen = now;
  e->last_check = last_check;
  l->count++;
  return TW_LIST_ADDED;
}
