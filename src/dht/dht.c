/* The DHT node: close list, searches, the Ping and Nodes services, DHT
 * Request routing, LAN discovery and Bootstrap Info. Sans-I/O: packets and
 * time come in through tw_dht_handle_packet/tw_dht_on_timer, packets leave
 * through cfg.send. See spec/dht.md. */
#include "toxwire/dht.h"

#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/reqtab.h"
#include "dht/client_list.h"
#include "dht/dht_wire.h"

#define BUCKETS 256
#define NODES_REQ_SLOTS 1024
#define PING_REQ_SLOTS 256
#define DEFAULT_KEY_CACHE 1024

typedef struct search {
  tw_key key;
  tw_client_list list;
  tw_time_ms next_random;
  uint8_t burst;
  bool found;
  tw_addr found_addr;
  tw_time_ms found_at;      /* when the searched node last answered us */
  tw_time_ms found_checked; /* when we last asked it */
} search;

struct tw_dht {
  tw_dht_config cfg;
  uint8_t motd[TW_MOTD_MAX];
  tw_env env;
  tw_keycache *keys;

  tw_client_list *bucket[BUCKETS]; /* allocated on first use */
  uint32_t close_count;
  tw_time_ms close_next_random;
  uint8_t close_burst;

  search *searches;
  size_t nsearch, search_cap;

  tw_reqtab nodes_req;
  tw_reqtab ping_req;
  tw_reqtab_slot nodes_slots[NODES_REQ_SLOTS];
  tw_reqtab_slot ping_slots[PING_REQ_SLOTS];

  tw_node_info boot[TW_DHT_MAX_BOOTSTRAP_NODES];
  size_t nboot;
  tw_time_ms next_boot;
  tw_time_ms next_lan;

  tw_time_ms ping_window_start;
  uint32_t pings_in_window;

  tw_time_ms deadline; /* cached; recomputed by on_timer */
  tw_dht_stats stats;
};

static const char MOD[] = "dht";

/* ---- sending ---- */

static void send_raw(tw_dht *d, const tw_addr *to, const uint8_t *pkt, size_t len) {
  d->stats.packets_out++;
  d->stats.bytes_out += len;
  d->cfg.send(d->cfg.send_ctx, to, pkt, len);
}

/* Seals plain with an already known shared key and sends it as a DHT
 * packet of the given kind. */
static void send_sealed_with(tw_dht *d, uint8_t kind, const uint8_t shared[TW_SHARED_KEY_SIZE],
                             const tw_addr *to, const uint8_t *plain, size_t plain_len) {
  uint8_t nonce[TW_NONCE_SIZE];
  uint8_t pkt[TW_DHT_OVERHEAD + TW_DHT_PLAIN_MAX];
  tw_random_bytes(&d->env, nonce, sizeof nonce);
  int n = tw_dht_packet_seal(pkt, sizeof pkt, kind, &d->cfg.keys.pk, nonce, shared, plain,
                             plain_len);
  if (n > 0) send_raw(d, to, pkt, (size_t)n);
}

/* Seals plain for pk and sends it as a DHT packet of the given kind. */
static void send_sealed(tw_dht *d, uint8_t kind, const tw_key *pk, const tw_addr *to,
                        const uint8_t *plain, size_t plain_len, tw_time_ms now) {
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_keycache_get(d->keys, pk, now, shared);
  send_sealed_with(d, kind, shared, to, plain, plain_len);
}

static void note_deadline(tw_dht *d, tw_time_ms t) {
  if (t < d->deadline) d->deadline = t;
}

static void send_nodes_request(tw_dht *d, const tw_key *pk, const tw_addr *to,
                               const tw_key *target, tw_time_ms now) {
  tw_nodes_request_payload p = {.target = *target};
  p.id = tw_reqtab_add(&d->nodes_req, pk, to, 0, now, tw_random_u64(&d->env));
  uint8_t plain[TW_NODES_REQUEST_PLAIN_SIZE];
  tw_nodes_request_payload_encode(plain, &p);
  send_sealed(d, TW_PACKET_NODES_REQUEST, pk, to, plain, sizeof plain, now);
  d->stats.nodes_requests_out++;
}

static void send_ping_request(tw_dht *d, const tw_key *pk, const tw_addr *to, tw_time_ms now) {
  tw_ping_payload p = {.flag = TW_PING_FLAG_REQUEST};
  p.id = tw_reqtab_add(&d->ping_req, pk, to, 0, now, tw_random_u64(&d->env));
  uint8_t plain[TW_PING_PLAIN_SIZE];
  tw_ping_payload_encode(plain, &p);
  send_sealed(d, TW_PACKET_PING_REQUEST, pk, to, plain, sizeof plain, now);
  d->stats.ping_requests_out++;
}

/* ---- lists ---- */

static tw_client_list *bucket_for(tw_dht *d, const tw_key *pk, bool create) {
  int i = tw_key_common_prefix(&d->cfg.keys.pk, pk);
  if (i >= BUCKETS) return NULL; /* our own key */
  if (d->bucket[i] == NULL && create) d->bucket[i] = calloc(1, sizeof(tw_client_list));
  return d->bucket[i];
}

static search *find_search(tw_dht *d, const tw_key *key) {
  for (size_t i = 0; i < d->nsearch; i++)
    if (tw_key_equal(&d->searches[i].key, key)) return &d->searches[i];
  return NULL;
}

static bool close_viable(tw_dht *d, const tw_key *pk, tw_time_ms now) {
  tw_client_list *b = bucket_for(d, pk, false);
  if (b == NULL) return !tw_key_equal(pk, &d->cfg.keys.pk);
  return tw_client_list_viable(b, &d->cfg.keys.pk, pk, now, TW_DHT_BAD_AFTER_MS);
}

/* A node proved itself by answering us: add it to every list it fits. */
static void add_to_state(tw_dht *d, const tw_key *pk, const tw_addr *from, tw_time_ms now) {
  tw_client_list *b = bucket_for(d, pk, true);
  if (b != NULL) {
    uint8_t before = b->count;
    tw_list_add_result r =
        tw_client_list_add(b, &d->cfg.keys.pk, pk, from, now, TW_DHT_BAD_AFTER_MS);
    if (r == TW_LIST_ADDED) {
      d->close_count += (uint32_t)(b->count - before);
      note_deadline(d, now + TW_DHT_CHECK_INTERVAL_MS);
      if (d->close_count == 1) {
        d->close_burst = TW_DHT_BURST_REQUESTS;
        d->close_next_random = now;
        note_deadline(d, now);
      }
    }
  }
  for (size_t i = 0; i < d->nsearch; i++) {
    search *s = &d->searches[i];
    if (tw_key_equal(&s->key, pk)) {
      if (!s->found || !tw_addr_equal(&s->found_addr, from))
        tw_log(&d->env.log, TW_LOG_DEBUG, MOD, "search found its node");
      s->found = true;
      s->found_addr = *from;
      s->found_at = now;
      note_deadline(d, now + TW_DHT_CHECK_INTERVAL_MS);
      continue;
    }
    uint8_t before = s->list.count;
    if (tw_client_list_add(&s->list, &s->key, pk, from, now, TW_DHT_BAD_AFTER_MS) ==
        TW_LIST_ADDED) {
      note_deadline(d, now + TW_DHT_CHECK_INTERVAL_MS);
      if (before == 0) {
        s->burst = TW_DHT_BURST_REQUESTS;
        s->next_random = now;
        note_deadline(d, now);
      }
    }
  }
}

/* A node told us about: ask it, for each list it could improve. It enters
 * a list only when it answers. */
static void consider_learned_node(tw_dht *d, const tw_node_info *named, tw_time_ms now) {
  /* Datagrams arrive with unmapped sources, so requests must go to the
   * unmapped address for their answers to match. */
  tw_node_info unmapped = *named;
  unmapped.addr = tw_addr_unmap(&named->addr);
  const tw_node_info *n = &unmapped;
  if (n->tcp || !tw_addr_is_set(&n->addr) || tw_key_equal(&n->pk, &d->cfg.keys.pk)) return;
  if (close_viable(d, &n->pk, now)) send_nodes_request(d, &n->pk, &n->addr, &d->cfg.keys.pk, now);
  for (size_t i = 0; i < d->nsearch; i++) {
    search *s = &d->searches[i];
    bool is_target = tw_key_equal(&s->key, &n->pk);
    bool target_stale = !s->found || !tw_addr_equal(&s->found_addr, &n->addr) ||
                        now - s->found_at > TW_DHT_CHECK_INTERVAL_MS;
    if ((is_target && target_stale && now - s->found_checked >= TW_DHT_CHECK_RETRY_MS) ||
        (!is_target && tw_client_list_viable(&s->list, &s->key, &n->pk, now, TW_DHT_BAD_AFTER_MS))) {
      send_nodes_request(d, &n->pk, &n->addr, &s->key, now);
      if (is_target) s->found_checked = now;
    }
  }
}

/* Someone contacted us: if they would improve our close list, check them. */
static void maybe_ping(tw_dht *d, const tw_key *pk, const tw_addr *from, tw_time_ms now) {
  tw_client_list *b = bucket_for(d, pk, false);
  if (b != NULL && tw_client_list_find(b, pk) != NULL) return;
  if (!close_viable(d, pk, now)) return;
  if (now - d->ping_window_start >= TW_DHT_PING_WINDOW_MS) {
    d->ping_window_start = now;
    d->pings_in_window = 0;
  }
  if (d->pings_in_window >= TW_DHT_PINGS_PER_WINDOW) return;
  d->pings_in_window++;
  send_ping_request(d, pk, from, now);
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

static size_t closest(const tw_dht *d, const tw_key *target, const tw_key *exclude,
                      tw_node_info *out, size_t max, bool include_lan, tw_time_ms now) {
  topk t = {target, exclude, out, max, 0, include_lan, now};
  if (max == 0) return 0;
  /* With c the bucket index of target, every node in bucket c is closer to
   * target than any in buckets above c, which are closer than any in
   * bucket c-1, then c-2, ... So walk in that order, stopping once full. */
  int c = tw_key_common_prefix(&d->cfg.keys.pk, target);
  if (c < BUCKETS) topk_offer_list(&t, d->bucket[c]);
  if (t.n < max)
    for (int i = c + 1; i < BUCKETS; i++) topk_offer_list(&t, d->bucket[i]);
  for (int i = (c < BUCKETS ? c : BUCKETS) - 1; i >= 0 && t.n < max; i--)
    topk_offer_list(&t, d->bucket[i]);
  for (size_t i = 0; i < d->nsearch; i++) topk_offer_list(&t, &d->searches[i].list);
  return t.n;
}

size_t tw_dht_closest(const tw_dht *d, const tw_key *target, tw_node_info *out, size_t max,
                      bool include_lan, tw_time_ms now) {
  return closest(d, target, NULL, out, max, include_lan, now);
}

/* ---- handlers, one per packet kind ---- */

/* Opens a DHT packet; shared receives the key, so an answer needs no
 * second cache lookup. */
static int open_dht_packet(tw_dht *d, const tw_dht_header *h, uint8_t *plain,
                           uint8_t shared[TW_SHARED_KEY_SIZE], tw_time_ms now) {
  if (tw_key_equal(&h->sender, &d->cfg.keys.pk)) return TW_E_SELF;
  tw_keycache_get(d->keys, &h->sender, now, shared);
  return tw_box_open(plain, h->cipher, h->cipher_len, h->nonce, shared);
}

/* Opens a packet whose payload has exactly `size` bytes; the length is
 * checked before any cryptography. */
static int open_exact(tw_dht *d, const tw_dht_header *h, uint8_t *plain, size_t size,
                      uint8_t shared[TW_SHARED_KEY_SIZE], tw_time_ms now) {
  if (h->cipher_len != size + TW_MAC_SIZE)
    return h->cipher_len < size + TW_MAC_SIZE ? TW_E_SHORT : TW_E_LONG;
  return open_dht_packet(d, h, plain, shared, now);
}

/* A Ping Request or Response: the flag must match the kind, or a request
 * could be bounced back to us as a response. */
static int open_ping(tw_dht *d, const tw_dht_header *h, uint8_t want_flag, tw_ping_payload *p,
                     uint8_t shared[TW_SHARED_KEY_SIZE], tw_time_ms now) {
  uint8_t plain[TW_PING_PLAIN_SIZE];
  int e = open_exact(d, h, plain, sizeof plain, shared, now);
  if (e == TW_OK) e = tw_ping_payload_decode(p, plain, sizeof plain);
  if (e == TW_OK && p->flag != want_flag) e = TW_E_FORMAT;
  return e;
}

static int handle_ping_request(tw_dht *d, const tw_addr *from, const tw_dht_header *h,
                               tw_time_ms now) {
  tw_ping_payload p;
  uint8_t shared[TW_SHARED_KEY_SIZE];
  int e = open_ping(d, h, TW_PING_FLAG_REQUEST, &p, shared, now);
  if (e != TW_OK) return e;
  d->stats.ping_requests_in++;
  p.flag = TW_PING_FLAG_RESPONSE;
  uint8_t plain[TW_PING_PLAIN_SIZE];
  tw_ping_payload_encode(plain, &p);
  send_sealed_with(d, TW_PACKET_PING_RESPONSE, shared, from, plain, sizeof plain);
  d->stats.ping_responses_out++;
  maybe_ping(d, &h->sender, from, now);
  return TW_OK;
}

static int handle_ping_response(tw_dht *d, const tw_addr *from, const tw_dht_header *h,
                                tw_time_ms now) {
  tw_ping_payload p;
  uint8_t shared[TW_SHARED_KEY_SIZE];
  int e = open_ping(d, h, TW_PING_FLAG_RESPONSE, &p, shared, now);
  if (e != TW_OK) return e;
  if ((e = tw_reqtab_take(&d->ping_req, p.id, &h->sender, from, now, NULL)) != TW_OK) return e;
  d->stats.ping_responses_in++;
  add_to_state(d, &h->sender, from, now);
  return TW_OK;
}

static int handle_nodes_request(tw_dht *d, const tw_addr *from, const tw_dht_header *h,
                                tw_time_ms now) {
  uint8_t plain[TW_NODES_REQUEST_PLAIN_SIZE];
  uint8_t shared[TW_SHARED_KEY_SIZE];
  int e = open_exact(d, h, plain, sizeof plain, shared, now);
  if (e != TW_OK) return e;
  tw_nodes_request_payload req;
  if ((e = tw_nodes_request_payload_decode(&req, plain, sizeof plain)) != TW_OK) return e;
  d->stats.nodes_requests_in++;
  tw_nodes_response_payload resp = {.id = req.id};
  resp.count = (uint8_t)closest(d, &req.target, &h->sender, resp.nodes, TW_NODES_MAX,
                                tw_addr_is_lan(from), now);
  if (resp.count > 0) {
    uint8_t out[TW_NODES_RESPONSE_PLAIN_MAX];
    int n = tw_nodes_response_payload_encode(out, sizeof out, &resp);
    if (n > 0) {
      send_sealed_with(d, TW_PACKET_NODES_RESPONSE, shared, from, out, (size_t)n);
      d->stats.nodes_responses_out++;
    }
  }
  maybe_ping(d, &h->sender, from, now);
  return TW_OK;
}

static int handle_nodes_response(tw_dht *d, const tw_addr *from, const tw_dht_header *h,
                                 tw_time_ms now) {
  uint8_t plain[TW_NODES_RESPONSE_PLAIN_MAX];
  uint8_t shared[TW_SHARED_KEY_SIZE];
  if (h->cipher_len < TW_NODES_RESPONSE_PLAIN_MIN + TW_MAC_SIZE) return TW_E_SHORT;
  if (h->cipher_len > sizeof plain + TW_MAC_SIZE) return TW_E_LONG;
  int e = open_dht_packet(d, h, plain, shared, now);
  if (e != TW_OK) return e;
  tw_nodes_response_payload resp;
  e = tw_nodes_response_payload_decode(&resp, plain, h->cipher_len - TW_MAC_SIZE);
  if (e != TW_OK) return e;
  if ((e = tw_reqtab_take(&d->nodes_req, resp.id, &h->sender, from, now, NULL)) != TW_OK)
    return e;
  d->stats.nodes_responses_in++;
  add_to_state(d, &h->sender, from, now);
  for (int i = 0; i < resp.count; i++) consider_learned_node(d, &resp.nodes[i], now);
  return TW_OK;
}

static int handle_dht_request(tw_dht *d, const tw_addr *from, const uint8_t *pkt, size_t len,
                              tw_time_ms now) {
  if (len < TW_DHT_REQUEST_MIN) return TW_E_SHORT;
  if (len > TW_DHT_REQUEST_MIN + TW_DHT_PLAIN_MAX) return TW_E_LONG;
  tw_reader r = tw_reader_init(pkt + 1, len - 1);
  tw_key addressee;
  tw_read_bytes(&r, addressee.bytes, TW_PUBLIC_KEY_SIZE);
  if (tw_key_equal(&addressee, &d->cfg.keys.pk)) {
    /* [sender pk][nonce][box] follows, as in a DHT packet without the kind. */
    tw_dht_header h;
    uint8_t shifted[TW_DHT_REQUEST_MIN + TW_DHT_PLAIN_MAX];
    shifted[0] = TW_PACKET_DHT_REQUEST;
    memcpy(shifted + 1, pkt + 1 + TW_PUBLIC_KEY_SIZE, len - 1 - TW_PUBLIC_KEY_SIZE);
    int e = tw_dht_header_parse(&h, shifted, len - TW_PUBLIC_KEY_SIZE);
    if (e != TW_OK) return e;
    uint8_t plain[TW_DHT_PLAIN_MAX], shared[TW_SHARED_KEY_SIZE];
    if ((e = open_dht_packet(d, &h, plain, shared, now)) != TW_OK) return e;
    if (h.cipher_len - TW_MAC_SIZE < 1) return TW_E_SHORT;
    d->stats.dht_requests_for_us++;
    if (d->cfg.on_dht_request == NULL) return TW_E_DISABLED;
    d->cfg.on_dht_request(d->cfg.request_ctx, &h.sender, from, plain,
                          h.cipher_len - TW_MAC_SIZE, now);
    return TW_OK;
  }
  /* Route it on, unaltered, if the addressee is in our close list. */
  tw_client_list *b = bucket_for(d, &addressee, false);
  tw_dht_entry *e = b ? tw_client_list_find(b, &addressee) : NULL;
  if (e == NULL || !tw_entry_is_good(e, now, TW_DHT_BAD_AFTER_MS)) return TW_E_NOTFOUND;
  send_raw(d, &e->addr, pkt, len);
  d->stats.dht_requests_forwarded++;
  return TW_OK;
}

static int handle_lan_discovery(tw_dht *d, const tw_addr *from, const uint8_t *pkt, size_t len,
                                tw_time_ms now) {
  tw_key pk;
  int e = tw_lan_discovery_decode(&pk, pkt, len);
  if (e != TW_OK) return e;
  if (!d->cfg.lan_discovery) return TW_E_DISABLED;
  if (!tw_addr_is_lan(from)) return TW_E_ADDR;
  if (tw_key_equal(&pk, &d->cfg.keys.pk)) return TW_E_SELF;
  d->stats.lan_discovery_in++;
  /* No proof of the key yet: ask it, and add it only when it answers. */
  send_nodes_request(d, &pk, from, &d->cfg.keys.pk, now);
  return TW_OK;
}

static int handle_bootstrap_info(tw_dht *d, const tw_addr *from, size_t len) {
  if (!d->cfg.bootstrap_info) return TW_E_DISABLED;
  if (len != TW_BOOTSTRAP_INFO_REQUEST_SIZE)
    return len < TW_BOOTSTRAP_INFO_REQUEST_SIZE ? TW_E_SHORT : TW_E_LONG;
  uint8_t out[TW_BOOTSTRAP_INFO_RESPONSE_MAX];
  int n = tw_bootstrap_info_response_encode(out, sizeof out, d->cfg.version, d->cfg.motd,
                                            d->cfg.motd_len);
  if (n < 0) return n;
  send_raw(d, from, out, (size_t)n);
  d->stats.bootstrap_info_answered++;
  return TW_OK;
}

static int dispatch(tw_dht *d, const tw_addr *from, const uint8_t *pkt, size_t len,
                    tw_time_ms now) {
  if (len == 0) return TW_E_SHORT;
  if (!tw_addr_is_set(from)) return TW_E_ADDR;
  switch (pkt[0]) {
  case TW_PACKET_PING_REQUEST:
  case TW_PACKET_PING_RESPONSE:
  case TW_PACKET_NODES_REQUEST:
  case TW_PACKET_NODES_RESPONSE: {
    tw_dht_header h;
    int e = tw_dht_header_parse(&h, pkt, len);
    if (e != TW_OK) return e;
    switch (pkt[0]) {
    case TW_PACKET_PING_REQUEST: return handle_ping_request(d, from, &h, now);
    case TW_PACKET_PING_RESPONSE: return handle_ping_response(d, from, &h, now);
    case TW_PACKET_NODES_REQUEST: return handle_nodes_request(d, from, &h, now);
    default: return handle_nodes_response(d, from, &h, now);
    }
  }
  case TW_PACKET_DHT_REQUEST: return handle_dht_request(d, from, pkt, len, now);
  case TW_PACKET_LAN_DISCOVERY: return handle_lan_discovery(d, from, pkt, len, now);
  case TW_PACKET_BOOTSTRAP_INFO: return handle_bootstrap_info(d, from, len);
  default: return TW_E_KIND;
  }
}

int tw_dht_handle_packet(tw_dht *d, const tw_addr *from_raw, const uint8_t *pkt, size_t len,
                         tw_time_ms now) {
  tw_addr from = tw_addr_unmap(from_raw);
  d->stats.packets_in++;
  d->stats.bytes_in += len;
  int e = dispatch(d, &from, pkt, len, now);
  if (e != TW_OK) {
    d->stats.dropped[-e]++;
    d->stats.dropped_total++;
    if (tw_log_wants(&d->env.log, TW_LOG_TRACE)) {
      char a[TW_ADDR_STRLEN];
      tw_log(&d->env.log, TW_LOG_TRACE, MOD, "dropped %s (kind 0x%02x, %zu bytes) from %s: %s",
             tw_packet_kind_name(len ? pkt[0] : -1), len ? pkt[0] : 0, len, tw_addr_format(&from, a),
             tw_strerror(e));
    }
  }
  return e;
}

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
      send_nodes_request(d, &e->pk, &e->addr, base, now);
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
  if (closest(d, target, NULL, &n, 1, true, now) == 1)
    send_nodes_request(d, &n.pk, &n.addr, target, now);
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
    send_nodes_request(d, &e->pk, &e->addr, base, now);
    send_refresh(d, refresh, now);
    if (!tw_key_equal(base, &d->cfg.keys.pk) && n > 1) {
      /* A search also asks one of its nodes for that node's own neighbours:
       * they sit at the edge of the set it is trying to complete. */
      const tw_dht_entry *m = good[tw_random_below(&d->env, (uint32_t)n)];
      send_nodes_request(d, &m->pk, &m->addr, &m->pk, now);
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
  for (int i = BUCKETS - 1; i >= 0; i--)
    if (d->bucket[i] != NULL && d->bucket[i]->count > 0) {
      deepest = i;
      break;
    }
  int top = deepest + 1 < BUCKETS ? deepest + 1 : BUCKETS - 1;
  int i = (int)tw_random_below(&d->env, (uint32_t)top + 1);
  return key_in_range(d, &d->cfg.keys.pk, i, true);
}

/* A random key among the search's current closest: inside the subtree the
 * furthest of them shares with the searched key. */
static tw_key search_refresh_target(tw_dht *d, const search *s) {
  if (s->list.count < TW_DHT_K) return s->key;
  int depth = tw_key_common_prefix(&s->key, &s->list.e[s->list.count - 1].pk);
  return key_in_range(d, &s->key, depth, false);
}

static tw_time_ms min_t(tw_time_ms a, tw_time_ms b) { return a < b ? a : b; }

/* The searched node, once found, is checked like a list entry: it usually
 * fits none of our lists, and nothing else would ask it again. */
static tw_time_ms service_found(tw_dht *d, search *s, tw_time_ms now) {
  if (!s->found) return TW_NEVER;
  if (now - s->found_at > TW_DHT_REMOVE_AFTER_MS) {
    s->found = false;
    return TW_NEVER;
  }
  tw_time_ms due = s->found_at + TW_DHT_CHECK_INTERVAL_MS;
  if (s->found_checked + TW_DHT_CHECK_RETRY_MS > due) due = s->found_checked + TW_DHT_CHECK_RETRY_MS;
  if (due <= now + TW_DHT_TIMER_SLACK_MS) {
    send_nodes_request(d, &s->key, &s->found_addr, &s->key, now);
    s->found_checked = now;
    due = now + TW_DHT_CHECK_RETRY_MS;
  }
  tw_time_ms gone = s->found_at + TW_DHT_REMOVE_AFTER_MS + 1;
  return due < gone ? due : gone;
}

void tw_dht_on_timer(tw_dht *d, tw_time_ms now) {
  tw_time_ms next = TW_NEVER;
  const tw_dht_entry *good[BUCKETS * TW_DHT_K];
  size_t ngood = 0;

  for (int i = 0; i < BUCKETS; i++) {
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
    search *s = &d->searches[i];
    next = min_t(next, service_list(d, &s->list, &s->key, now, NULL));
    next = min_t(next, service_found(d, s, now));
    const tw_dht_entry *sg[TW_DHT_K];
    size_t n = 0;
    for (int j = 0; j < s->list.count; j++)
      if (tw_entry_is_good(&s->list.e[j], now, TW_DHT_BAD_AFTER_MS)) sg[n++] = &s->list.e[j];
    if (n == 0 && s->list.count == 0) {
      /* An empty search asks the close list instead, so it can start. */
      if (s->next_random <= now + TW_DHT_TIMER_SLACK_MS && ngood > 0) {
        tw_node_info seed[TW_DHT_K];
        size_t k = closest(d, &s->key, NULL, seed, TW_DHT_K, true, now);
        for (size_t j = 0; j < k; j++) send_nodes_request(d, &seed[j].pk, &seed[j].addr, &s->key, now);
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
        send_nodes_request(d, &d->boot[i].pk, &d->boot[i].addr, &d->cfg.keys.pk, now);
      d->next_boot = now + TW_DHT_BOOTSTRAP_RETRY_MS;
    }
    next = min_t(next, d->next_boot);
  }

  if (d->cfg.lan_discovery) {
    if (d->next_lan <= now + TW_DHT_TIMER_SLACK_MS) {
      uint8_t pkt[TW_LAN_DISCOVERY_SIZE];
      tw_lan_discovery_encode(pkt, &d->cfg.keys.pk);
      send_raw(d, NULL, pkt, sizeof pkt);
      d->stats.lan_discovery_out++;
      d->next_lan = now + TW_DHT_LAN_DISCOVERY_MS;
    }
    next = min_t(next, d->next_lan);
  }
  d->deadline = next;
}

tw_time_ms tw_dht_next_deadline(tw_dht *d) { return d->deadline; }

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
  d->keys = tw_keycache_new(cfg->key_cache_entries ? cfg->key_cache_entries : DEFAULT_KEY_CACHE,
                            cfg->keys.sk, env);
  if (d->keys == NULL) {
    free(d);
    return NULL;
  }
  tw_reqtab_init(&d->nodes_req, d->nodes_slots, NODES_REQ_SLOTS, TW_DHT_NODES_RESPONSE_TTL_MS);
  tw_reqtab_init(&d->ping_req, d->ping_slots, PING_REQ_SLOTS, TW_DHT_PING_RESPONSE_TTL_MS);
  d->ping_window_start = now;
  d->next_lan = now;
  d->deadline = cfg->lan_discovery ? now : TW_NEVER;
  return d;
}

void tw_dht_free(tw_dht *d) {
  if (d == NULL) return;
  for (int i = 0; i < BUCKETS; i++) free(d->bucket[i]);
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
  send_nodes_request(d, &n.pk, &n.addr, &d->cfg.keys.pk, now);
  d->next_boot = now + TW_DHT_BOOTSTRAP_RETRY_MS;
  note_deadline(d, d->next_boot);
  return TW_OK;
}

int tw_dht_search_add(tw_dht *d, const tw_key *key, tw_time_ms now) {
  if (find_search(d, key) != NULL) return TW_OK;
  if (d->nsearch >= TW_DHT_MAX_SEARCHES) return TW_E_FULL;
  if (d->nsearch == d->search_cap) {
    size_t cap = d->search_cap ? d->search_cap * 2 : 4;
    search *s = realloc(d->searches, cap * sizeof *s);
    if (s == NULL) return TW_E_NOMEM;
    d->searches = s;
    d->search_cap = cap;
  }
  search *s = &d->searches[d->nsearch++];
  memset(s, 0, sizeof *s);
  s->key = *key;
  s->next_random = now;
  note_deadline(d, now);
  return TW_OK;
}

int tw_dht_search_remove(tw_dht *d, const tw_key *key) {
  search *s = find_search(d, key);
  if (s == NULL) return TW_E_NOTFOUND;
  *s = d->searches[--d->nsearch];
  return TW_OK;
}

size_t tw_dht_search_result(tw_dht *d, const tw_key *key, tw_node_info *out, size_t max,
                            tw_node_info *found, tw_time_ms now) {
  search *s = find_search(d, key);
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
  for (int i = 0; i < BUCKETS; i++) {
    const tw_client_list *b = d->bucket[i];
    for (int j = 0; b != NULL && j < b->count && n < max; j++)
      if (tw_entry_is_good(&b->e[j], now, TW_DHT_BAD_AFTER_MS))
        out[n++] = (tw_node_info){.pk = b->e[j].pk, .addr = b->e[j].addr};
  }
  return n;
}

bool tw_dht_is_connected(const tw_dht *d, tw_time_ms now) {
  for (int i = 0; i < BUCKETS; i++) {
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
  send_raw(d, via, pkt, (size_t)n + TW_PUBLIC_KEY_SIZE);
  return TW_OK;
}

void tw_dht_get_stats(const tw_dht *d, tw_dht_stats *out, tw_time_ms now) {
  *out = d->stats;
  tw_keycache_stats ks = tw_keycache_get_stats(d->keys);
  out->shared_key_hits = ks.hits;
  out->shared_key_misses = ks.misses;
  out->close_nodes = d->close_count;
  uint32_t good = 0;
  for (int i = 0; i < BUCKETS; i++) {
    const tw_client_list *b = d->bucket[i];
    for (int j = 0; b != NULL && j < b->count; j++)
      good += tw_entry_is_good(&b->e[j], now, TW_DHT_BAD_AFTER_MS);
  }
  out->close_good_nodes = good;
  out->searches = (uint32_t)d->nsearch;
}
