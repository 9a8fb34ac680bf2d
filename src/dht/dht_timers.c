/* The DHT's periodic work: liveness checks, the periodic and refresh
 * Nodes Requests, bootstrap retries, LAN discovery; and when to run next.
 * See spec/dht.md, "Lists and timing". */
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "dht/dht_internal.h"

/* ---- timers ---- */

/* Checks and prunes one list; returns the earliest time it needs us again. */
static tw_time_ms service_list(tw_dht *d, tw_client_list *l, const tw_key *base,
                               tw_time_ms now, uint32_t *removed) {
  tw_time_ms next = TW_NEVER;
  tw_time_ms horizon = now + TW_DHT_TIMER_SLACK_MS;
  for (int i = 0; i < l->count;) {
    tw_dht_entry *e = &l->e[i];
    if (now - e->last_seen > TW_DHT_REMOVE_AFTER_MS) {
      tw_client_list_remove_at(l, i);
      if (removed) (*removed)++;
      continue;
    }
    /* Checked 60 s after it last answered; a check that got no answer is
     * repeated every 10 s, so one lost datagram does not make it bad. */
    tw_time_ms due = e->last_seen + TW_DHT_CHECK_INTERVAL_MS;
    if (e->last_check + TW_DHT_CHECK_RETRY_MS > due) due = e->last_check + TW_DHT_CHECK_RETRY_MS;
    if (due <= horizon) {
      tw_dht_send_nodes_request(d, &e->pk, &e->addr, base, now);
      e->last_check = now;
      due = now + TW_DHT_CHECK_RETRY_MS;
      if (e->last_seen + TW_DHT_CHECK_INTERVAL_MS > due) due = e->last_seen + TW_DHT_CHECK_INTERVAL_MS;
    }
    tw_time_ms gone = e->last_seen + TW_DHT_REMOVE_AFTER_MS + 1;
    if (due < next) next = due;
    if (gone < next) next = gone;
    i++;
  }
  return next;
}

/* A key sharing the first `depth` bits with base and random after them
 * (bit `depth` flipped when flip is set). */
static tw_key key_in_range(tw_dht *d, const tw_key *base, int depth, bool flip) {
  tw_key k;
  tw_random_bytes(&d->env, k.bytes, sizeof k.bytes);
  for (int bit = 0; bit < depth && bit < 256; bit++) {
    uint8_t m = (uint8_t)(0x80 >> (bit % 8));
    k.bytes[bit / 8] = (uint8_t)((k.bytes[bit / 8] & ~m) | (base->bytes[bit / 8] & m));
  }
  if (flip && depth < 256) {
    uint8_t m = (uint8_t)(0x80 >> (depth % 8));
    k.bytes[depth / 8] = (uint8_t)((k.bytes[depth / 8] & ~m) | (~base->bytes[depth / 8] & m));
  }
  return k;
}

/* Asks the closest good node we know to `target` for nodes near it. */
static void send_refresh(tw_dht *d, const tw_key *target, tw_time_ms now) {
  tw_node_info n;
  if (tw_dht_closest_excluding(d, target, NULL, &n, 1, true, now) == 1)
    tw_dht_send_nodes_request(d, &n.pk, &n.addr, target, now);
}

/* The periodic work of one list: the spec's Nodes Request for the base key
 * to a random good node, and a refresh. The refresh looks up a random key
 * near the base key: a Nodes Response holds only 4 nodes, and those closest
 * to us answer with each other, so without it our 5th-8th closest may never
 * be named to us (spec/dht.md, "Refresh"). */
static tw_time_ms service_random(tw_dht *d, tw_time_ms *next_random, uint8_t *burst,
                                 const tw_dht_entry *const *good, size_t n, const tw_key *base,
                                 const tw_key *refresh, tw_time_ms now) {
  if (n == 0) return TW_NEVER;
  if (*next_random <= now + TW_DHT_TIMER_SLACK_MS) {
    const tw_dht_entry *e = good[tw_random_below(&d->env, (uint32_t)n)];
    tw_dht_send_nodes_request(d, &e->pk, &e->addr, base, now);
    send_refresh(d, refresh, now);
    if (!tw_key_equal(base, &d->cfg.keys.pk) && n > 1) {
      /* A search also asks one of its nodes for that node's own neighbours:
       * they sit at the edge of the set it is trying to complete. */
      const tw_dht_entry *m = good[tw_random_below(&d->env, (uint32_t)n)];
      tw_dht_send_nodes_request(d, &m->pk, &m->addr, &m->pk, now);
    }
    if (*burst > 0) (*burst)--;
    *next_random = now + (*burst > 0 ? TW_DHT_BURST_INTERVAL_MS : TW_DHT_RANDOM_REQUEST_MS);
  }
  return *next_random;
}

/* A random key in the range of one of our k-buckets, up to one past the
 * deepest we have. */
static tw_key close_refresh_target(tw_dht *d) {
  int deepest = 0;
  for (int i = TW_DHT_BUCKETS - 1; i >= 0; i--)
    if (d->bucket[i] != NULL && d->bucket[i]->count > 0) {
      deepest = i;
      break;
    }
  int top = deepest + 1 < TW_DHT_BUCKETS ? deepest + 1 : TW_DHT_BUCKETS - 1;
  int i = (int)tw_random_below(&d->env, (uint32_t)top + 1);
  return key_in_range(d, &d->cfg.keys.pk, i, true);
}

/* A random key among the search's current closest: inside the subtree the
 * furthest of them shares with the searched key. */
static tw_key search_refresh_target(tw_dht *d, const tw_dht_search *s) {
  if (s->list.count < TW_DHT_K) return s->key;
  int depth = tw_key_common_prefix(&s->key, &s->list.e[s->list.count - 1].pk);
  return key_in_range(d, &s->key, depth, false);
}

static tw_time_ms min_t(tw_time_ms a, tw_time_ms b) { return a < b ? a : b; }

/* The searched node, once found, is checked like a list entry: it usually
 * fits none of our lists, and nothing else would ask it again. */
static tw_time_ms service_found(tw_dht *d, tw_dht_search *s, tw_time_ms now) {
  if (!s->found) return TW_NEVER;
  if (now - s->found_at > TW_DHT_REMOVE_AFTER_MS) {
    s->found = false;
    return TW_NEVER;
  }
  tw_time_ms due = s->found_at + TW_DHT_CHECK_INTERVAL_MS;
  if (s->found_checked + TW_DHT_CHECK_RETRY_MS > due) due = s->found_checked + TW_DHT_CHECK_RETRY_MS;
  if (due <= now + TW_DHT_TIMER_SLACK_MS) {
    tw_dht_send_nodes_request(d, &s->key, &s->found_addr, &s->key, now);
    s->found_checked = now;
    due = now + TW_DHT_CHECK_RETRY_MS;
  }
  tw_time_ms gone = s->found_at + TW_DHT_REMOVE_AFTER_MS + 1;
  return due < gone ? due : gone;
}

void tw_dht_on_timer(tw_dht *d, tw_time_ms now) {
  tw_time_ms next = TW_NEVER;
  const tw_dht_entry *good[TW_DHT_BUCKETS * TW_DHT_K];
  size_t ngood = 0;

  for (int i = 0; i < TW_DHT_BUCKETS; i++) {
    tw_client_list *b = d->bucket[i];
    if (b == NULL) continue;
    uint32_t removed = 0;
    next = min_t(next, service_list(d, b, &d->cfg.keys.pk, now, &removed));
    d->close_count -= removed;
    for (int j = 0; j < b->count; j++)
      if (tw_entry_is_good(&b->e[j], now, TW_DHT_BAD_AFTER_MS)) good[ngood++] = &b->e[j];
  }
  if (ngood > 0 && d->close_next_random <= now + TW_DHT_TIMER_SLACK_MS) {
    tw_key target = close_refresh_target(d);
    next = min_t(next, service_random(d, &d->close_next_random, &d->close_burst, good, ngood,
                                      &d->cfg.keys.pk, &target, now));
  } else if (ngood > 0) {
    next = min_t(next, d->close_next_random);
  }

  for (size_t i = 0; i < d->nsearch; i++) {
    tw_dht_search *s = &d->searches[i];
    next = min_t(next, service_list(d, &s->list, &s->key, now, NULL));
    next = min_t(next, service_found(d, s, now));
    next = min_t(next, tw_holepunch_service(d, s, now));
    const tw_dht_entry *sg[TW_DHT_K];
    size_t n = 0;
    for (int j = 0; j < s->list.count; j++)
      if (tw_entry_is_good(&s->list.e[j], now, TW_DHT_BAD_AFTER_MS)) sg[n++] = &s->list.e[j];
    if (n == 0 && s->list.count == 0) {
      /* An empty search asks the close list instead, so it can start. */
      if (s->next_random <= now + TW_DHT_TIMER_SLACK_MS && ngood > 0) {
        tw_node_info seed[TW_DHT_K];
        size_t k = tw_dht_closest_excluding(d, &s->key, NULL, seed, TW_DHT_K, true, now);
        for (size_t j = 0; j < k; j++) tw_dht_send_nodes_request(d, &seed[j].pk, &seed[j].addr, &s->key, now);
        s->next_random = now + TW_DHT_BOOTSTRAP_RETRY_MS;
      }
      if (ngood > 0) next = min_t(next, s->next_random);
      continue;
    }
    tw_key target = search_refresh_target(d, s);
    next = min_t(next, service_random(d, &s->next_random, &s->burst, sg, n, &s->key, &target, now));
  }

  /* Keep asking the bootstrap nodes while nobody answers. */
  if (d->nboot > 0 && ngood == 0) {
    if (d->next_boot <= now + TW_DHT_TIMER_SLACK_MS) {
      for (size_t i = 0; i < d->nboot; i++)
        tw_dht_send_nodes_request(d, &d->boot[i].pk, &d->boot[i].addr, &d->cfg.keys.pk, now);
      d->next_boot = now + TW_DHT_BOOTSTRAP_RETRY_MS;
    }
    next = min_t(next, d->next_boot);
  }

  if (d->cfg.lan_discovery) {
    if (d->next_lan <= now + TW_DHT_TIMER_SLACK_MS) {
      uint8_t pkt[TW_LAN_DISCOVERY_SIZE];
      tw_lan_discovery_encode(pkt, &d->cfg.keys.pk);
      tw_dht_send_raw(d, NULL, pkt, sizeof pkt);
      d->stats.lan_discovery_out++;
      d->next_lan = now + TW_DHT_LAN_DISCOVERY_MS;
    }
    next = min_t(next, d->next_lan);
  }
  d->deadline = next;
}

tw_time_ms tw_dht_next_deadline(tw_dht *d) { return d->deadline; }
