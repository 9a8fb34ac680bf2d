/* The DHT node, sans-I/O: packets and time come in through
 * tw_dht_handle_packet (dht_handlers.c) and tw_dht_on_timer (dht_timers.c);
 * packets leave through cfg.send. This file: creating a node and the
 * operations the embedder calls. See spec/dht.md. */
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "dht/dht_internal.h"

/* ---- public operations ---- */

tw_dht *tw_dht_new(const tw_dht_config *cfg, const tw_env *env, tw_time_ms now) {
  if (cfg == NULL || env == NULL || cfg->send == NULL || env->random_bytes == NULL ||
      cfg->motd_len > TW_MOTD_MAX || tw_crypto_init() != TW_OK)
    return NULL;
  tw_dht *d = calloc(1, sizeof *d);
  if (d == NULL) return NULL;
  d->cfg = *cfg;
  d->env = *env;
  if (cfg->motd_len > 0) memcpy(d->motd, cfg->motd, cfg->motd_len);
  d->cfg.motd = d->motd;
  d->keys = tw_keycache_new(cfg->key_cache_entries ? cfg->key_cache_entries : TW_DHT_DEFAULT_KEY_CACHE,
                            cfg->keys.sk, env);
  if (d->keys == NULL) {
    free(d);
    return NULL;
  }
  tw_reqtab_init(&d->nodes_req, d->nodes_slots, TW_DHT_NODES_REQ_SLOTS, TW_DHT_NODES_RESPONSE_TTL_MS);
  tw_reqtab_init(&d->ping_req, d->ping_slots, TW_DHT_PING_REQ_SLOTS, TW_DHT_PING_RESPONSE_TTL_MS);
  d->ping_window_start = now;
  d->next_lan = now;
  d->deadline = cfg->lan_discovery ? now : TW_NEVER;
  return d;
}

void tw_dht_free(tw_dht *d) {
  if (d == NULL) return;
  for (int i = 0; i < TW_DHT_BUCKETS; i++) free(d->bucket[i]);
  free(d->searches);
  tw_keycache_free(d->keys);
  tw_crypto_wipe(&d->cfg.keys, sizeof d->cfg.keys);
  free(d);
}

const tw_key *tw_dht_public_key(const tw_dht *d) { return &d->cfg.keys.pk; }

int tw_dht_bootstrap(tw_dht *d, const tw_node_info *node, tw_time_ms now) {
  if (!tw_addr_is_set(&node->addr)) return TW_E_ADDR;
  if (tw_key_equal(&node->pk, &d->cfg.keys.pk)) return TW_E_SELF;
  tw_node_info n = *node;
  n.addr = tw_addr_unmap(&node->addr);
  n.tcp = false;
  bool known = false;
  for (size_t i = 0; i < d->nboot; i++)
    if (tw_key_equal(&d->boot[i].pk, &n.pk) && tw_addr_equal(&d->boot[i].addr, &n.addr))
      known = true;
  if (!known && d->nboot < TW_DHT_MAX_BOOTSTRAP_NODES) d->boot[d->nboot++] = n;
  tw_dht_send_nodes_request(d, &n.pk, &n.addr, &d->cfg.keys.pk, now);
  d->next_boot = now + TW_DHT_BOOTSTRAP_RETRY_MS;
  tw_dht_note_deadline(d, d->next_boot);
  return TW_OK;
}

int tw_dht_search_add(tw_dht *d, const tw_key *key, tw_time_ms now) {
  if (tw_dht_find_search(d, key) != NULL) return TW_OK;
  if (d->nsearch >= TW_DHT_MAX_SEARCHES) return TW_E_FULL;
  if (d->nsearch == d->search_cap) {
    size_t cap = d->search_cap ? d->search_cap * 2 : 4;
    tw_dht_search *s = realloc(d->searches, cap * sizeof *s);
    if (s == NULL) return TW_E_NOMEM;
    d->searches = s;
    d->search_cap = cap;
  }
  tw_dht_search *s = &d->searches[d->nsearch++];
  memset(s, 0, sizeof *s);
  s->key = *key;
  s->next_random = now;
  tw_dht_note_deadline(d, now);
  return TW_OK;
}

int tw_dht_search_remove(tw_dht *d, const tw_key *key) {
  tw_dht_search *s = tw_dht_find_search(d, key);
  if (s == NULL) return TW_E_NOTFOUND;
  *s = d->searches[--d->nsearch];
  return TW_OK;
}

size_t tw_dht_search_result(tw_dht *d, const tw_key *key, tw_node_info *out, size_t max,
                            tw_node_info *found, tw_time_ms now) {
  tw_dht_search *s = tw_dht_find_search(d, key);
  if (s == NULL) return 0;
  size_t n = 0;
  for (int i = 0; i < s->list.count && n < max; i++) {
    const tw_dht_entry *e = &s->list.e[i];
    if (!tw_entry_is_good(e, now, TW_DHT_BAD_AFTER_MS)) continue;
    out[n++] = (tw_node_info){.pk = e->pk, .addr = e->addr};
  }
  if (found != NULL) {
    memset(found, 0, sizeof *found);
    if (s->found && now - s->found_at <= TW_DHT_BAD_AFTER_MS)
      *found = (tw_node_info){.pk = s->key, .addr = s->found_addr};
  }
  return n;
}

size_t tw_dht_close_nodes(const tw_dht *d, tw_node_info *out, size_t max, tw_time_ms now) {
  size_t n = 0;
  for (int i = 0; i < TW_DHT_BUCKETS; i++) {
    const tw_client_list *b = d->bucket[i];
    for (int j = 0; b != NULL && j < b->count && n < max; j++)
      if (tw_entry_is_good(&b->e[j], now, TW_DHT_BAD_AFTER_MS))
        out[n++] = (tw_node_info){.pk = b->e[j].pk, .addr = b->e[j].addr};
  }
  return n;
}

bool tw_dht_is_connected(const tw_dht *d, tw_time_ms now) {
  for (int i = 0; i < TW_DHT_BUCKETS; i++) {
    const tw_client_list *b = d->bucket[i];
    for (int j = 0; b != NULL && j < b->count; j++)
      if (tw_entry_is_good(&b->e[j], now, TW_DHT_BAD_AFTER_MS)) return true;
  }
  return false;
}

int tw_dht_send_request(tw_dht *d, const tw_key *to, const tw_addr *via, const uint8_t *plain,
                        size_t len, tw_time_ms now) {
  if (via == NULL || !tw_addr_is_set(via) || len == 0 || len > TW_DHT_PLAIN_MAX) return TW_E_INVAL;
  uint8_t shared[TW_SHARED_KEY_SIZE];
  uint8_t nonce[TW_NONCE_SIZE];
  uint8_t pkt[TW_DHT_REQUEST_MIN + TW_DHT_PLAIN_MAX];
  tw_keycache_get(d->keys, to, now, shared);
  tw_random_bytes(&d->env, nonce, sizeof nonce);
  pkt[0] = TW_PACKET_DHT_REQUEST;
  memcpy(pkt + 1, to->bytes, TW_PUBLIC_KEY_SIZE);
  int n = tw_dht_packet_seal(pkt + TW_PUBLIC_KEY_SIZE, sizeof pkt - TW_PUBLIC_KEY_SIZE,
                             TW_PACKET_DHT_REQUEST, &d->cfg.keys.pk, nonce, shared, plain, len);
  if (n < 0) return n;
  /* seal wrote the kind byte again at pkt[32]; restore the addressee. */
  memcpy(pkt + 1, to->bytes, TW_PUBLIC_KEY_SIZE);
  pkt[0] = TW_PACKET_DHT_REQUEST;
  tw_dht_send_raw(d, via, pkt, (size_t)n + TW_PUBLIC_KEY_SIZE);
  return TW_OK;
}

void tw_dht_get_stats(const tw_dht *d, tw_dht_stats *out, tw_time_ms now) {
  *out = d->stats;
  tw_keycache_stats ks = tw_keycache_get_stats(d->keys);
  out->shared_key_hits = ks.hits;
  out->shared_key_misses = ks.misses;
  out->close_nodes = d->close_count;
  uint32_t good = 0;
  for (int i = 0; i < TW_DHT_BUCKETS; i++) {
    const tw_client_list *b = d->bucket[i];
    for (int j = 0; b != NULL && j < b->count; j++)
      good += tw_entry_is_good(&b->e[j], now, TW_DHT_BAD_AFTER_MS);
  }
  out->close_good_nodes = good;
  out->searches = (uint32_t)d->nsearch;
  out->searches_punching = 0;
  for (size_t i = 0; i < d->nsearch; i++) out->searches_punching += d->searches[i].hp.punching;
}
