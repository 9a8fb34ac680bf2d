/* The DHT node's state: sending, the close list and searches, and the
 * closest nodes we know to a key. See spec/dht.md. */
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "dht/dht_internal.h"

const char tw_dht_log_module[] = "dht";

/* ---- sending ---- */

void tw_dht_send_raw(tw_dht *d, const tw_addr *to, const uint8_t *pkt, size_t len) {
  d->stats.packets_out++;
  d->stats.bytes_out += len;
  d->cfg.send(d->cfg.send_ctx, to, pkt, len);
}

/* Seals plain with an already known shared key and sends it as a DHT
 * packet of the given kind. */
void tw_dht_send_sealed_with(tw_dht *d, uint8_t kind, const uint8_t shared[TW_SHARED_KEY_SIZE],
                             const tw_addr *to, const uint8_t *plain, size_t plain_len) {
  uint8_t nonce[TW_NONCE_SIZE];
  uint8_t pkt[TW_DHT_OVERHEAD + TW_DHT_PLAIN_MAX];
  tw_random_bytes(&d->env, nonce, sizeof nonce);
  int n = tw_dht_packet_seal(pkt, sizeof pkt, kind, &d->cfg.keys.pk, nonce, shared, plain,
                             plain_len);
  if (n > 0) tw_dht_send_raw(d, to, pkt, (size_t)n);
}

/* Seals plain for pk and sends it as a DHT packet of the given kind. */
void tw_dht_send_sealed(tw_dht *d, uint8_t kind, const tw_key *pk, const tw_addr *to,
                        const uint8_t *plain, size_t plain_len, tw_time_ms now) {
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_keycache_get(d->keys, pk, now, shared);
  tw_dht_send_sealed_with(d, kind, shared, to, plain, plain_len);
}

void tw_dht_note_deadline(tw_dht *d, tw_time_ms t) {
  if (t < d->deadline) d->deadline = t;
}

void tw_dht_send_nodes_request(tw_dht *d, const tw_key *pk, const tw_addr *to,
                               const tw_key *target, tw_time_ms now) {
  tw_nodes_request_payload p = {.target = *target};
  p.id = tw_reqtab_add(&d->nodes_req, pk, to, 0, now, tw_random_u64(&d->env));
  uint8_t plain[TW_NODES_REQUEST_PLAIN_SIZE];
  tw_nodes_request_payload_encode(plain, &p);
  tw_dht_send_sealed(d, TW_PACKET_NODES_REQUEST, pk, to, plain, sizeof plain, now);
  d->stats.nodes_requests_out++;
}

void tw_dht_send_ping_request(tw_dht *d, const tw_key *pk, const tw_addr *to, tw_time_ms now) {
  tw_ping_payload p = {.flag = TW_PING_FLAG_REQUEST};
  p.id = tw_reqtab_add(&d->ping_req, pk, to, 0, now, tw_random_u64(&d->env));
  uint8_t plain[TW_PING_PLAIN_SIZE];
  tw_ping_payload_encode(plain, &p);
  tw_dht_send_sealed(d, TW_PACKET_PING_REQUEST, pk, to, plain, sizeof plain, now);
  d->stats.ping_requests_out++;
}

/* ---- lists ---- */

tw_client_list *tw_dht_bucket_for(tw_dht *d, const tw_key *pk, bool create) {
  int i = tw_key_common_prefix(&d->cfg.keys.pk, pk);
  if (i >= TW_DHT_BUCKETS) return NULL; /* our own key */
  if (d->bucket[i] == NULL && create) d->bucket[i] = calloc(1, sizeof(tw_client_list));
  return d->bucket[i];
}

tw_dht_search *tw_dht_find_search(tw_dht *d, const tw_key *key) {
  for (size_t i = 0; i < d->nsearch; i++)
    if (tw_key_equal(&d->searches[i].key, key)) return &d->searches[i];
  return NULL;
}

bool tw_dht_close_viable(tw_dht *d, const tw_key *pk, tw_time_ms now) {
  tw_client_list *b = tw_dht_bucket_for(d, pk, false);
  if (b == NULL) return !tw_key_equal(pk, &d->cfg.keys.pk);
  return tw_client_list_viable(b, &d->cfg.keys.pk, pk, now, TW_DHT_BAD_AFTER_MS);
}

/* A node proved itself by answering us: add it to every list it fits. */
void tw_dht_add_to_state(tw_dht *d, const tw_key *pk, const tw_addr *from, tw_time_ms now) {
  tw_client_list *b = tw_dht_bucket_for(d, pk, true);
  if (b != NULL) {
    uint8_t before = b->count;
    tw_list_add_result r =
        tw_client_list_add(b, &d->cfg.keys.pk, pk, from, now, TW_DHT_BAD_AFTER_MS);
    if (r == TW_LIST_ADDED) {
      d->close_count += (uint32_t)(b->count - before);
      tw_dht_note_deadline(d, now + TW_DHT_CHECK_INTERVAL_MS);
      if (d->close_count == 1) {
        d->close_burst = TW_DHT_BURST_REQUESTS;
        d->close_next_random = now;
        tw_dht_note_deadline(d, now);
      }
    }
  }
  for (size_t i = 0; i < d->nsearch; i++) {
    tw_dht_search *s = &d->searches[i];
    if (tw_key_equal(&s->key, pk)) {
      bool news = !s->found || !tw_addr_equal(&s->found_addr, from);
      s->found = true;
      s->found_addr = *from;
      s->found_at = now;
      tw_holepunch_note_found(s);
      if (news) {
        tw_log(&d->env.log, TW_LOG_DEBUG, tw_dht_log_module, "search found its node");
        if (d->cfg.on_search_found != NULL)
          d->cfg.on_search_found(d->cfg.search_ctx, pk, from, now);
      }
      tw_dht_note_deadline(d, now + TW_DHT_CHECK_INTERVAL_MS);
      continue;
    }
    uint8_t before = s->list.count;
    if (tw_client_list_add(&s->list, &s->key, pk, from, now, TW_DHT_BAD_AFTER_MS) ==
        TW_LIST_ADDED) {
      tw_dht_note_deadline(d, now + TW_DHT_CHECK_INTERVAL_MS);
      if (before == 0) {
        s->burst = TW_DHT_BURST_REQUESTS;
        s->next_random = now;
        tw_dht_note_deadline(d, now);
      }
    }
  }
}

/* A node told us about: ask it, for each list it could improve. It enters
 * a list only when it answers. */
void tw_dht_consider_learned_node(tw_dht *d, const tw_node_info *named, tw_time_ms now) {
  /* Datagrams arrive with unmapped sources, so requests must go to the
   * unmapped address for their answers to match. */
  tw_node_info unmapped = *named;
  unmapped.addr = tw_addr_unmap(&named->addr);
  const tw_node_info *n = &unmapped;
  if (n->tcp || !tw_addr_is_set(&n->addr) || tw_key_equal(&n->pk, &d->cfg.keys.pk)) return;
  if (tw_dht_close_viable(d, &n->pk, now)) tw_dht_send_nodes_request(d, &n->pk, &n->addr, &d->cfg.keys.pk, now);
  for (size_t i = 0; i < d->nsearch; i++) {
    tw_dht_search *s = &d->searches[i];
    bool is_target = tw_key_equal(&s->key, &n->pk);
    bool target_stale = !s->found || !tw_addr_equal(&s->found_addr, &n->addr) ||
                        now - s->found_at > TW_DHT_CHECK_INTERVAL_MS;
    if ((is_target && target_stale && now - s->found_checked >= TW_DHT_CHECK_RETRY_MS) ||
        (!is_target && tw_client_list_viable(&s->list, &s->key, &n->pk, now, TW_DHT_BAD_AFTER_MS))) {
      tw_dht_send_nodes_request(d, &n->pk, &n->addr, &s->key, now);
      if (is_target) {
        s->found_checked = now;
        tw_holepunch_note_check(d, s, &n->addr, now);
      }
    }
  }
}

/* Someone contacted us: if they would improve our close list, check them. */
void tw_dht_maybe_ping(tw_dht *d, const tw_key *pk, const tw_addr *from, tw_time_ms now) {
  tw_client_list *b = tw_dht_bucket_for(d, pk, false);
  if (b != NULL && tw_client_list_find(b, pk) != NULL) return;
  if (!tw_dht_close_viable(d, pk, now)) return;
  if (now - d->ping_window_start >= TW_DHT_PING_WINDOW_MS) {
    d->ping_window_start = now;
    d->pings_in_window = 0;
  }
  if (d->pings_in_window >= TW_DHT_PINGS_PER_WINDOW) return;
  d->pings_in_window++;
  tw_dht_send_ping_request(d, pk, from, now);
}

/* ---- closest nodes ---- */

typedef struct topk {
  const tw_key *target;
  const tw_key *exclude;
  tw_node_info *out;
  size_t max, n;
  bool include_lan;
  tw_time_ms now;
} topk;

static void topk_offer(topk *t, const tw_dht_entry *e) {
  if (!tw_entry_is_good(e, t->now, TW_DHT_BAD_AFTER_MS)) return;
  if (t->exclude && tw_key_equal(&e->pk, t->exclude)) return;
  if (!t->include_lan && tw_addr_is_lan(&e->addr)) return;
  for (size_t i = 0; i < t->n; i++)
    if (tw_key_equal(&t->out[i].pk, &e->pk)) return;
  size_t pos = t->n;
  while (pos > 0 && tw_key_distance_cmp(t->target, &e->pk, &t->out[pos - 1].pk) < 0) pos--;
  if (pos >= t->max) return;
  size_t last = t->n < t->max ? t->n : t->max - 1;
  memmove(&t->out[pos + 1], &t->out[pos], (last - pos) * sizeof t->out[0]);
  t->out[pos] = (tw_node_info){.pk = e->pk, .addr = e->addr, .tcp = false};
  if (t->n < t->max) t->n++;
}

static void topk_offer_list(topk *t, const tw_client_list *l) {
  if (l == NULL) return;
  for (int i = 0; i < l->count; i++) topk_offer(t, &l->e[i]);
}

size_t tw_dht_closest_excluding(const tw_dht *d, const tw_key *target, const tw_key *exclude,
                      tw_node_info *out, size_t max, bool include_lan, tw_time_ms now) {
  topk t = {target, exclude, out, max, 0, include_lan, now};
  if (max == 0) return 0;
  /* With c the bucket index of target, every node in bucket c is closer to
   * target than any in buckets above c, which are closer than any in
   * bucket c-1, then c-2, ... So walk in that order, stopping once full. */
  int c = tw_key_common_prefix(&d->cfg.keys.pk, target);
  if (c < TW_DHT_BUCKETS) topk_offer_list(&t, d->bucket[c]);
  if (t.n < max)
    for (int i = c + 1; i < TW_DHT_BUCKETS; i++) topk_offer_list(&t, d->bucket[i]);
  for (int i = (c < TW_DHT_BUCKETS ? c : TW_DHT_BUCKETS) - 1; i >= 0 && t.n < max; i--)
    topk_offer_list(&t, d->bucket[i]);
  for (size_t i = 0; i < d->nsearch; i++) topk_offer_list(&t, &d->searches[i].list);
  return t.n;
}

size_t tw_dht_closest(const tw_dht *d, const tw_key *target, tw_node_info *out, size_t max,
                      bool include_lan, tw_time_ms now) {
  return tw_dht_closest_excluding(d, target, NULL, out, max, include_lan, now);
}
