/* A Client List (spec "Client Lists"): at most TW_DHT_K nodes kept in order
 * of XOR distance from a base key, closest first. Used for every k-bucket of
 * the close list and for each search entry. */
#ifndef TW_DHT_CLIENT_LIST_H
#define TW_DHT_CLIENT_LIST_H

#include "toxwire/types.h"

#define TW_DHT_K 8

typedef struct tw_dht_entry {
  tw_key pk;
  tw_addr addr;
  tw_time_ms last_seen;  /* last valid response from the node */
  tw_time_ms last_check; /* last liveness check we sent it */
} tw_dht_entry;

typedef struct tw_client_list {
  uint8_t count;
  tw_dht_entry e[TW_DHT_K];
} tw_client_list;

typedef enum tw_list_add_result {
  TW_LIST_NOT_VIABLE = 0,
  TW_LIST_UPDATED = 1, /* the node was already there */
  TW_LIST_ADDED = 2,
} tw_list_add_result;

tw_dht_entry *tw_client_list_find(tw_client_list *l, const tw_key *pk);
/* True when adding pk would change the list: absent, and either room, a bad
 * entry to replace, or closer than the furthest entry. */
bool tw_client_list_viable(const tw_client_list *l, const tw_key *base, const tw_key *pk,
                           tw_time_ms now, tw_time_ms bad_after_ms);
/* Adds or refreshes a node that has just answered us. A full list gives up
 * a bad entry first, else its furthest if the new node is closer. */
tw_list_add_result tw_client_list_add(tw_client_list *l, const tw_key *base, const tw_key *pk,
                                      const tw_addr *addr, tw_time_ms now,
                                      tw_time_ms bad_after_ms);
void tw_client_list_remove_at(tw_client_list *l, int i);

static inline bool tw_entry_is_good(const tw_dht_entry *e, tw_time_ms now,
                                    tw_time_ms bad_after_ms) {
  return now - e->last_seen <= bad_after_ms;
}

#endif
