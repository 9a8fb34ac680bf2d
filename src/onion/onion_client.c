/* The onion client: onion paths, announcing ourselves to the nodes closest
 * to our long-term key, and looking for the nodes that know our friends.
 * Data to route packets and DHT public key packets are in
 * onion_client_data.c. spec/onion.md, "Client". */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "onion/onion_internal.h"

enum { SET_ANNOUNCE = 0, SET_SEARCH = 1 };
#define LIST_SELF (-1)
#define QUICK_RESENDS 2 /* immediate resends with a fresh ping id */

static void note_due(tw_onion_client *c, tw_time_ms t) {
  if (t < c->deadline) c->deadline = t;
}

/* ---- paths ---- */

static bool path_is_dead(const tw_onion_path *p, tw_time_ms now) {
  if (p->id == 0) return true;
  if (now - p->created >= TW_ONION_PATH_MAX_LIFETIME_MS) return true;
  tw_time_ms since = now - (p->confirmed ? p->last_success : p->created);
  if (p->confirmed)
    return p->unanswered >= TW_ONION_PATH_CONFIRMED_TRIES &&
           since >= (tw_time_ms)TW_ONION_PATH_CONFIRMED_TIMEOUT_MS * TW_ONION_PATH_CONFIRMED_TRIES;
  return p->unanswered >= TW_ONION_PATH_UNCONFIRMED_TRIES &&
         since >= (tw_time_ms)TW_ONION_PATH_UNCONFIRMED_TIMEOUT_MS * TW_ONION_PATH_UNCONFIRMED_TRIES;
}

/* ---- path nodes and TCP relays ---- */

static void pool_add(tw_onion *o, const tw_node_info *n, tw_time_ms now) {
  tw_onion_client *c = o->client;
  if (n->tcp || !tw_addr_is_set(&n->addr) || tw_key_equal(&n->pk, tw_dht_public_key(o->cfg.dht)))
    return;
  tw_onion_path_node *e = NULL;
  for (uint32_t i = 0; i < c->npool && e == NULL; i++)
    if (tw_key_equal(&c->pool[i].node.pk, &n->pk)) e = &c->pool[i];
  if (e == NULL && c->npool < TW_ONION_PATH_NODES) e = &c->pool[c->npool++];
  if (e == NULL) {
    e = &c->pool[0];
    for (uint32_t i = 1; i < c->npool; i++)
      if (c->pool[i].seen < e->seen) e = &c->pool[i];
  }
  e->node = *n;
  e->seen = now;
  o->stats.path_nodes = c->npool;
}

int tw_onion_add_path_node(tw_onion *o, const tw_node_info *node, tw_time_ms now) {
  if (o->client == NULL) return TW_E_DISABLED;
  if (node->tcp || (node->addr.family != TW_AF_INET && node->addr.family != TW_AF_INET6))
    return TW_E_FAMILY;
  if (!tw_addr_is_set(&node->addr)) return TW_E_ADDR;
  if (tw_key_equal(&node->pk, tw_dht_public_key(o->cfg.dht))) return TW_E_SELF;
  pool_add(o, node, now);
  note_due(o->client, now);
  return TW_OK;
}

/* The pool's nodes closest to target, closest first. */
static size_t pool_closest(const tw_onion_client *c, const tw_key *target, tw_node_info *out,
                           size_t max) {
  size_t n = 0;
  for (uint32_t i = 0; i < c->npool; i++) {
    const tw_node_info *x = &c->pool[i].node;
    size_t j = n < max ? n++ : max;
    while (j > 0 && tw_key_distance_cmp(target, &x->pk, &out[j - 1].pk) < 0) {
      if (j < max) out[j] = out[j - 1];
      j--;
    }
    if (j < max) out[j] = *x;
  }
  return n;
}

size_t tw_onion_client_relays(tw_onion *o, tw_node_info *out, size_t max) {
  if (o->cfg.tcp_relays == NULL || max == 0) return 0;
  size_t n = o->cfg.tcp_relays(o->cfg.tcp_client_ctx, out, max);
  if (n > max) n = max;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!tw_addr_is_set(&out[i].addr)) continue;
    out[k] = out[i];
    out[k++].tcp = true;
  }
  return k;
}

static bool relay_listed(const tw_node_info *relays, size_t n, const tw_key *pk) {
  for (size_t i = 0; i < n; i++)
    if (tw_key_equal(&relays[i].pk, pk)) return true;
  return false;
}

/* Enough for the client to run without the DHT: a relay to start paths at
 * and two nodes to continue them through. */
static bool tcp_usable(tw_onion *o) {
  tw_node_info relays[TW_ONION_MAX_TCP_RELAYS];
  return o->client->npool >= 2 && tw_onion_client_relays(o, relays, TW_ONION_MAX_TCP_RELAYS) > 0;
}

/* ---- paths ---- */

static void path_start(tw_onion *o, tw_onion_path *p, const tw_node_info hops[3], tw_time_ms now) {
  tw_onion_client *c = o->client;
  memset(p, 0, sizeof *p);
  for (int i = 0; i < 3; i++) {
    p->hop[i] = hops[i];
    if (i == 0 && hops[0].tcp) continue; /* the relay peels no layer */
    tw_keypair_generate(&p->temp[i], &o->env);
    tw_shared_key_compute(p->shared[i], &hops[i].pk, p->temp[i].sk);
  }
  p->id = ++c->next_path_id ? c->next_path_id : ++c->next_path_id;
  p->created = now;
  o->stats.paths_built++;
}

/* A connected TCP relay, then two random pool nodes with distinct
 * addresses, neither of them the relay. */
static bool build_tcp_path(tw_onion *o, tw_onion_path *p, tw_time_ms now) {
  tw_onion_client *c = o->client;
  tw_node_info relays[TW_ONION_MAX_TCP_RELAYS];
  size_t nr = tw_onion_client_relays(o, relays, TW_ONION_MAX_TCP_RELAYS);
  if (nr == 0 || c->npool < 2) return false;
  tw_node_info hops[3];
  hops[0] = relays[tw_random_below(&o->env, (uint32_t)nr)];
  tw_node_info cand[TW_ONION_PATH_NODES];
  size_t nc = 0;
  for (uint32_t i = 0; i < c->npool; i++)
    if (!tw_key_equal(&c->pool[i].node.pk, &hops[0].pk)) cand[nc++] = c->pool[i].node;
  if (nc < 2) return false;
  size_t first = tw_random_below(&o->env, (uint32_t)nc);
  hops[1] = cand[first];
  cand[first] = cand[--nc];
  size_t k = 0;
  for (size_t i = 0; i < nc; i++)
    if (!tw_addr_equal(&cand[i].addr, &hops[1].addr)) cand[k++] = cand[i];
  if (k == 0) return false;
  hops[2] = cand[tw_random_below(&o->env, (uint32_t)k)];
  path_start(o, p, hops, now);
  o->stats.paths_built_tcp++;
  if (tw_log_wants(&o->env.log, TW_LOG_DEBUG)) {
    char a[TW_ADDR_STRLEN], b[TW_ADDR_STRLEN], d[TW_ADDR_STRLEN];
    tw_log(&o->env.log, TW_LOG_DEBUG, tw_onion_log_module,
           "path %u through TCP relay %s, then %s, %s", p->id, tw_addr_format(&hops[0].addr, a),
           tw_addr_format(&hops[1].addr, b), tw_addr_format(&hops[2].addr, d));
  }
  return true;
}

/* Three distinct random good DHT nodes, each with a fresh layer key; with
 * fewer than three in the DHT, a path through a TCP relay. */
static bool build_path(tw_onion *o, tw_onion_path *p, tw_time_ms now) {
  tw_node_info nodes[64];
  size_t n = tw_dht_close_nodes(o->cfg.dht, nodes, 64, now);
  if (n < 3) return build_tcp_path(o, p, now);
  for (int i = 0; i < 3; i++) {
    size_t j = i + tw_random_below(&o->env, (uint32_t)(n - i));
    tw_node_info t = nodes[i];
    nodes[i] = nodes[j];
    nodes[j] = t;
  }
  if (tw_addr_equal(&nodes[0].addr, &nodes[1].addr) || tw_addr_equal(&nodes[1].addr, &nodes[2].addr) ||
      tw_addr_equal(&nodes[0].addr, &nodes[2].addr))
    return false;
  path_start(o, p, nodes, now);
  return true;
}

/* Drops dead paths; a path through a TCP relay is also dead once we are no
 * longer connected to the relay, or once the DHT can give UDP paths (we
 * prefer UDP: one hop fewer to trust, no relay to share). */
static void expire_paths(tw_onion *o, int set, tw_time_ms now) {
  tw_onion_path *paths = o->client->paths[set];
  bool any_tcp = false;
  for (int i = 0; i < TW_ONION_PATHS_PER_SET; i++)
    any_tcp |= paths[i].id != 0 && paths[i].hop[0].tcp;
  tw_node_info relays[TW_ONION_MAX_TCP_RELAYS];
  size_t nr = 0;
  bool udp = false;
  if (any_tcp) {
    nr = tw_onion_client_relays(o, relays, TW_ONION_MAX_TCP_RELAYS);
    tw_node_info three[3];
    udp = tw_dht_close_nodes(o->cfg.dht, three, 3, now) >= 3;
  }
  for (int i = 0; i < TW_ONION_PATHS_PER_SET; i++) {
    tw_onion_path *p = &paths[i];
    if (p->id == 0) continue;
    const char *why = NULL;
    if (path_is_dead(p, now)) why = "unanswered or too old";
    else if (p->hop[0].tcp && !relay_listed(relays, nr, &p->hop[0].pk))
      why = "its TCP relay is gone";
    else if (p->hop[0].tcp && udp)
      why = "UDP paths are possible again";
    if (why == NULL) continue;
    if (p->unanswered && path_is_dead(p, now)) o->stats.paths_timed_out++;
    tw_log(&o->env.log, TW_LOG_DEBUG, tw_onion_log_module,
           "path %u (%s%s) dropped: %s; %u unanswered requests, age %llu s", p->id,
           set ? "search" : "announce", p->hop[0].tcp ? ", TCP" : "", why, p->unanswered,
           (unsigned long long)((now - p->created) / 1000));
    tw_crypto_wipe(p, sizeof *p);
  }
}

size_t tw_onion_get_paths(const tw_onion *o, tw_onion_path_info *out, size_t max, tw_time_ms now) {
  size_t n = 0;
  if (o->client == NULL) return 0;
  for (int s = 0; s < 2; s++)
    for (int i = 0; i < TW_ONION_PATHS_PER_SET && n < max; i++) {
      const tw_onion_path *p = &o->client->paths[s][i];
      if (p->id == 0) continue;
      out[n] = (tw_onion_path_info){.id = p->id, .set = s, .confirmed = p->confirmed,
                                    .age_ms = now - p->created};
      memcpy(out[n].hops, p->hop, sizeof p->hop);
      n++;
    }
  return n;
}

tw_onion_path *tw_onion_pick_path(tw_onion *o, int set, uint32_t prefer_id, tw_time_ms now) {
  tw_onion_client *c = o->client;
  tw_onion_path *paths = c->paths[set];
  expire_paths(o, set, now);
  if (prefer_id != 0)
    for (int i = 0; i < TW_ONION_PATHS_PER_SET; i++)
      if (paths[i].id == prefer_id) return &paths[i];
  tw_onion_path *p = &paths[tw_random_below(&o->env, TW_ONION_PATHS_PER_SET)];
  if (p->id == 0 && !build_path(o, p, now)) {
    /* Too few nodes for a new path: any live one will do. */
    for (int i = 0; i < TW_ONION_PATHS_PER_SET; i++)
      if (paths[i].id != 0) return &paths[i];
    return NULL;
  }
  return p;
}

static tw_onion_path *find_path(tw_onion_client *c, uint32_t id) {
  for (int s = 0; s < 2; s++)
    for (int i = 0; i < TW_ONION_PATHS_PER_SET; i++)
      if (id != 0 && c->paths[s][i].id == id) return &c->paths[s][i];
  return NULL;
}

/* Hands the request to the TCP relay that starts path p. */
static int send_via_relay(tw_onion *o, tw_onion_path *p, const uint8_t *payload, size_t len) {
  if (o->cfg.tcp_onion_send == NULL) return TW_E_NOROUTE;
  int rc = o->cfg.tcp_onion_send(o->cfg.tcp_client_ctx, &p->hop[0].pk, payload, len);
  if (rc != TW_OK) return rc < 0 && rc > TW_E__LAST ? rc : TW_E_NOROUTE;
  o->stats.client_tcp_requests++;
  return TW_OK;
}

/* UDP: [0x80][nonce][pk A][box_A(ip B, pk B, box_B(ip C, pk C, box_C(ip D, data)))]
 * to A. Through a TCP relay, the relay's TCP onion request instead:
 * [nonce][ip B][pk B][box_B(...)], what box_A would hold, unsealed. */
int tw_onion_send_via_path(tw_onion *o, tw_onion_path *p, const tw_addr *dest,
                           const uint8_t *data, size_t len, tw_time_ms now) {
  if (p == NULL) return TW_E_NOROUTE;
  if (len > TW_ONION_MAX_DATA_SIZE) return TW_E_LONG;
  bool tcp = p->hop[0].tcp;
  uint8_t nonce[TW_NONCE_SIZE];
  tw_random_bytes(&o->env, nonce, sizeof nonce);
  uint8_t a[TW_ONION_MAX_PACKET_SIZE], b[TW_ONION_MAX_PACKET_SIZE];
  /* Innermost first; each layer is sealed into the other buffer. */
  const tw_addr *next[3] = {&p->hop[1].addr, &p->hop[2].addr, dest};
  uint8_t *cur = a, *other = b;
  size_t cur_len = 0;
  for (int layer = 2; layer >= (tcp ? 1 : 0); layer--) {
    tw_writer w = tw_writer_init(other, sizeof a);
    if (tw_onion_ipport_write(&w, next[layer]) != TW_OK) return TW_E_FAMILY;
    if (layer == 2) {
      tw_write_bytes(&w, data, len);
    } else {
      tw_write_bytes(&w, p->temp[layer + 1].pk.bytes, TW_PUBLIC_KEY_SIZE);
      tw_write_bytes(&w, cur, cur_len);
    }
    if (!tw_writer_ok(&w) || w.pos + TW_MAC_SIZE > sizeof a) return TW_E_LONG;
    tw_box_seal(cur, other, w.pos, nonce, p->shared[layer]);
    cur_len = w.pos + TW_MAC_SIZE;
  }
  uint8_t pkt[TW_ONION_MAX_PACKET_SIZE];
  tw_writer w = tw_writer_init(pkt, sizeof pkt);
  if (tcp) {
    tw_write_bytes(&w, nonce, TW_NONCE_SIZE);
    if (tw_onion_ipport_write(&w, next[0]) != TW_OK) return TW_E_FAMILY;
    tw_write_bytes(&w, p->temp[1].pk.bytes, TW_PUBLIC_KEY_SIZE);
  } else {
    tw_write_u8(&w, TW_PACKET_ONION_REQUEST_0);
    tw_write_bytes(&w, nonce, TW_NONCE_SIZE);
    tw_write_bytes(&w, p->temp[0].pk.bytes, TW_PUBLIC_KEY_SIZE);
  }
  tw_write_bytes(&w, cur, cur_len);
  if (!tw_writer_ok(&w)) return TW_E_LONG;
  if (tcp) {
    int rc = send_via_relay(o, p, pkt, w.pos);
    if (rc != TW_OK) return rc;
  } else {
    tw_onion_send(o, &p->hop[0].addr, pkt, w.pos);
  }
  if (p->unanswered < 255) p->unanswered++;
  p->last_sent = now;
  return TW_OK;
}

/* ---- lists of announce nodes ---- */

static tw_onion_node *list_find(tw_onion_list *l, const tw_key *pk) {
  for (int i = 0; i < l->count; i++)
    if (tw_key_equal(&l->n[i].node.pk, pk)) return &l->n[i];
  return NULL;
}

static int list_furthest(const tw_onion_list *l) {
  int far = 0;
  for (int i = 1; i < l->count; i++)
    if (tw_key_distance_cmp(&l->target, &l->n[i].node.pk, &l->n[far].node.pk) > 0) far = i;
  return far;
}

static bool list_viable(const tw_onion_list *l, const tw_key *pk) {
  if (l->count < l->max) return true;
  return tw_key_distance_cmp(&l->target, pk, &l->n[list_furthest(l)].node.pk) < 0;
}

static tw_onion_node *list_add(tw_onion_list *l, const tw_node_info *node, tw_time_ms now) {
  tw_onion_node *e = list_find(l, &node->pk);
  if (e != NULL) return e;
  if (!list_viable(l, &node->pk)) return NULL;
  e = l->count < l->max ? &l->n[l->count++] : &l->n[list_furthest(l)];
  memset(e, 0, sizeof *e);
  e->node = *node;
  e->added = now;
  return e;
}

static void list_remove(tw_onion_list *l, tw_onion_node *e) {
  int i = (int)(e - l->n);
  l->n[i] = l->n[--l->count];
}

static bool recently_pinged(tw_onion_client *c, int32_t list, const tw_key *pk, tw_time_ms now) {
  for (int i = 0; i < TW_ONION_RECENT_PINGS; i++) {
    tw_onion_recent *r = &c->recent[i];
    if (r->list == list && now - r->at < TW_ONION_RECENT_PING_MS && tw_key_equal(&r->pk, pk))
      return true;
  }
  return false;
}

static void note_pinged(tw_onion_client *c, int32_t list, const tw_key *pk, tw_time_ms now) {
  tw_onion_recent *r = &c->recent[c->recent_next++ % TW_ONION_RECENT_PINGS];
  r->pk = *pk;
  r->list = list;
  r->at = now;
}

static tw_onion_list *list_of(tw_onion_client *c, int32_t list) {
  if (list == LIST_SELF) return &c->announce;
  if (list < 0 || (size_t)list >= c->nfriends || !c->friends[list].used) return NULL;
  return &c->friends[list].list;
}

/* ---- announce requests ---- */

static uint64_t sendback_add(tw_onion *o, const tw_node_info *node, int32_t list,
                             const tw_onion_path *p, tw_time_ms now) {
  uint64_t tag = (uint64_t)(uint32_t)list << 32 | p->id;
  return tw_reqtab_add(&o->client->sendback, &node->pk, &node->addr, tag, now,
                       tw_random_u64(&o->env));
}

/* Sends an announce request to node (ping_id NULL: zeroes) for our own key
 * (list LIST_SELF) or to look for a friend. */
static int send_announce_request(tw_onion *o, const tw_node_info *node, int32_t list,
                                 const uint8_t *ping_id, uint32_t prefer_path, tw_time_ms now) {
  tw_onion_client *c = o->client;
  tw_onion_friend *f = list == LIST_SELF ? NULL : &c->friends[list];
  if (node->tcp || tw_key_equal(&node->pk, tw_dht_public_key(o->cfg.dht))) return TW_E_INVAL;
  tw_onion_path *p = tw_onion_pick_path(o, f ? SET_SEARCH : SET_ANNOUNCE, prefer_path, now);
  if (p == NULL) return TW_E_NOROUTE;

  tw_announce_request_plain req;
  memset(&req, 0, sizeof req);
  if (ping_id != NULL) memcpy(req.ping_id, ping_id, TW_ONION_PING_ID_SIZE);
  req.search = f ? f->pk : c->self.pk;
  if (f == NULL) req.data_pk = c->data_keys.pk; /* searchers send zeroes */
  uint64_t id = sendback_add(o, node, list, p, now);
  for (int i = 0; i < 8; i++) req.sendback[i] = (uint8_t)(id >> (56 - 8 * i));

  const tw_keypair *kp = f ? &f->search_keys : &c->self;
  uint8_t plain[TW_ANNOUNCE_REQUEST_PLAIN_SIZE], shared[TW_SHARED_KEY_SIZE];
  tw_announce_request_plain_encode(plain, &req);
  tw_shared_key_compute(shared, &node->pk, kp->sk);
  uint8_t pkt[TW_ANNOUNCE_REQUEST_SIZE];
  tw_writer w = tw_writer_init(pkt, sizeof pkt);
  tw_write_u8(&w, TW_PACKET_ANNOUNCE_REQUEST);
  uint8_t *nonce = tw_write_span(&w, TW_NONCE_SIZE);
  tw_write_bytes(&w, kp->pk.bytes, TW_PUBLIC_KEY_SIZE);
  uint8_t *box = tw_write_span(&w, sizeof plain + TW_MAC_SIZE);
  if (!tw_writer_ok(&w)) return TW_E_LONG;
  tw_random_bytes(&o->env, nonce, TW_NONCE_SIZE);
  tw_box_seal(box, plain, sizeof plain, nonce, shared);
  tw_crypto_wipe(shared, sizeof shared);
  int rc = tw_onion_send_via_path(o, p, &node->addr, pkt, w.pos, now);
  if (rc == TW_OK) {
    o->stats.client_announce_sent++;
    note_pinged(c, list, &node->pk, now);
  }
  return rc;
}

/* Asks nodes we have not heard from, closest to the list's key first, so
 * that the list fills from the DHT's view of that key. */
static void ask_dht_nodes(tw_onion *o, int32_t list, size_t max, tw_time_ms now) {
  tw_onion_client *c = o->client;
  tw_onion_list *l = list_of(c, list);
  tw_node_info nodes[8];
  size_t n = tw_dht_closest(o->cfg.dht, &l->target, nodes, 8, true, now);
  if (n == 0) n = pool_closest(c, &l->target, nodes, 8); /* no DHT (TCP only) */
  size_t sent = 0;
  for (size_t i = 0; i < n && sent < max; i++) {
    if (list_find(l, &nodes[i].pk) || recently_pinged(c, list, &nodes[i].pk, now)) continue;
    if (send_announce_request(o, &nodes[i], list, NULL, 0, now) == TW_OK) sent++;
  }
  /* And one random node, so a list stuck on stale closest nodes escapes. */
  tw_node_info any[TW_ONION_PATH_NODES];
  n = tw_dht_close_nodes(o->cfg.dht, any, TW_ONION_PATH_NODES, now);
  for (uint32_t i = 0; n == 0 && i < c->npool; i++) any[i] = c->pool[i].node;
  if (n == 0) n = c->npool;
  if (n > 0) {
    tw_node_info *pick = &any[tw_random_below(&o->env, (uint32_t)n)];
    if (!list_find(l, &pick->pk) && !recently_pinged(c, list, &pick->pk, now))
      send_announce_request(o, pick, list, NULL, 0, now);
  }
}

/* ---- responses ---- */

static void update_stored_on(tw_onion *o, tw_time_ms now) {
  tw_onion_client *c = o->client;
  uint32_t n = 0;
  for (int i = 0; i < c->announce.count; i++) n += c->announce.n[i].is_stored == TW_ANNOUNCE_STORED;
  if ((n == 0) != (c->stored_on == 0)) {
    c->announced_at = n ? now : 0;
    tw_log(&o->env.log, TW_LOG_INFO, tw_onion_log_module,
           n ? "announced: stored on %u announce nodes" : "no longer announced (%u nodes)", n);
    if (o->cfg.on_event) {
      tw_onion_event ev = {.kind = TW_ONION_EV_ANNOUNCED, .time = now, .stored_on = n};
      ev.peer = c->self.pk;
      o->cfg.on_event(o->cfg.event_ctx, &ev);
    }
  }
  c->stored_on = n;
}

int tw_onion_handle_announce_response(tw_onion *o, const tw_addr *from, const uint8_t *pkt,
                                      size_t len, tw_time_ms now) {
  tw_onion_client *c = o->client;
  if (len < TW_ANNOUNCE_RESPONSE_MIN) return TW_E_SHORT;
  if (len > TW_ANNOUNCE_RESPONSE_MAX) return TW_E_LONG;
  tw_reader r = tw_reader_init(pkt, len);
  tw_read_u8(&r);
  uint64_t id = tw_read_u64(&r);
  const uint8_t *nonce = tw_read_span(&r, TW_NONCE_SIZE);
  size_t clen;
  const uint8_t *cipher = tw_read_rest(&r, &clen);

  const tw_reqtab_slot *s = tw_reqtab_peek(&c->sendback, id, now);
  if (s == NULL) return TW_E_UNSOLICITED;
  int32_t list = (int32_t)(uint32_t)(s->tag >> 32);
  uint32_t path_id = (uint32_t)s->tag;
  tw_onion_path *p = find_path(c, path_id);
  if (p != NULL && !tw_addr_equal(&p->hop[0].addr, from)) return TW_E_UNSOLICITED;
  tw_onion_list *l = list_of(c, list);
  if (l == NULL) return TW_E_UNSOLICITED;
  const tw_keypair *kp = list == LIST_SELF ? &c->self : &c->friends[list].search_keys;

  uint8_t shared[TW_SHARED_KEY_SIZE], plain[TW_ANNOUNCE_RESPONSE_PLAIN_MAX];
  tw_shared_key_compute(shared, &s->pk, kp->sk);
  int rc = tw_box_open(plain, cipher, clen, nonce, shared);
  tw_crypto_wipe(shared, sizeof shared);
  if (rc != TW_OK) return rc;
  tw_announce_response_plain resp;
  rc = tw_announce_response_plain_decode(&resp, plain, clen - TW_MAC_SIZE);
  if (rc != TW_OK) return rc;
  tw_node_info node = {.pk = s->pk, .addr = s->addr};
  tw_reqtab_drop(&c->sendback, id); /* answered: a replay is unsolicited */
  /* Path nodes for when the DHT has none: the node that answered and the
   * nodes it named. */
  pool_add(o, &node, now);
  for (int i = 0; i < resp.count; i++) pool_add(o, &resp.nodes[i], now);
  o->stats.client_announce_responses++;
  c->last_response = now;
  if (p != NULL) {
    p->confirmed = true;
    p->last_success = now;
    p->unanswered = 0;
  }

  tw_onion_node *e = list_add(l, &node, now);
  if (e != NULL) {
    bool fresh_id = resp.is_stored != TW_ANNOUNCE_FOUND &&
                    !tw_crypto_equal(e->ping_id, resp.ping_or_key, TW_ONION_PING_ID_SIZE);
    e->is_stored = resp.is_stored;
    e->last_response = now;
    e->unanswered = 0;
    e->path_id = path_id;
    if (resp.is_stored == TW_ANNOUNCE_FOUND)
      memcpy(e->data_pk.bytes, resp.ping_or_key, TW_PUBLIC_KEY_SIZE);
    else
      memcpy(e->ping_id, resp.ping_or_key, TW_ONION_PING_ID_SIZE);
    if (list == LIST_SELF) {
      /* A new ping id lets us announce right away instead of in 3 s. */
      if (resp.is_stored != TW_ANNOUNCE_STORED && fresh_id && e->quick_resends < QUICK_RESENDS) {
        e->quick_resends++;
        e->last_sent = now;
        if (e->unanswered < 255) e->unanswered++;
        send_announce_request(o, &e->node, list, e->ping_id, e->path_id, now);
      } else if (resp.is_stored == TW_ANNOUNCE_STORED) {
        e->quick_resends = 0;
      }
      update_stored_on(o, now);
    } else if (resp.is_stored == TW_ANNOUNCE_FOUND) {
      tw_onion_friend *f = &c->friends[list];
      f->last_seen = now;
      if (!f->connected && (f->dhtpk_onion_sent == 0 ||
                            now - f->dhtpk_onion_sent >= TW_ONION_DHTPK_ONION_INTERVAL_MS))
        tw_onion_client_send_dhtpk(o, f, now);
    }
  }

  /* Walk towards the key: ask the nodes it named that would make our list. */
  for (int i = 0; i < resp.count; i++) {
    const tw_node_info *n = &resp.nodes[i];
    if (n->tcp || list_find(l, &n->pk) || !list_viable(l, &n->pk) ||
        recently_pinged(c, list, &n->pk, now))
      continue;
    send_announce_request(o, n, list, NULL, 0, now);
  }
  note_due(c, now + TW_ONION_ANNOUNCE_RETRY_MS);
  return TW_OK;
}

/* ---- timers ---- */

/* A path that carried nothing for a while carries one request now, so a
 * dead relay on it is found before we need the path. */
static void probe_idle_paths(tw_onion *o, tw_time_ms now) {
  tw_onion_client *c = o->client;
  for (int set = 0; set < 2; set++)
    for (int i = 0; i < TW_ONION_PATHS_PER_SET; i++) {
      tw_onion_path *p = &c->paths[set][i];
      if (p->id == 0) continue;
      tw_time_ms due = (p->last_sent > p->created ? p->last_sent : p->created) + TW_ONION_PATH_PROBE_MS;
      if (now < due) {
        note_due(c, due);
        continue;
      }
      int32_t list = LIST_SELF;
      if (set == 1) {
        list = -2;
        for (size_t f = 0; f < c->nfriends && list == -2; f++)
          if (c->friends[f].used && !c->friends[f].connected && c->friends[f].list.count > 0)
            list = (int32_t)f;
        if (list == -2) continue; /* nobody to look for: nothing to probe with */
      }
      tw_onion_list *l = list_of(c, list);
      if (l->count == 0) continue;
      tw_onion_node *e = &l->n[tw_random_below(&o->env, l->count)];
      send_announce_request(o, &e->node, list, list == LIST_SELF ? e->ping_id : NULL, p->id, now);
      note_due(c, now + TW_ONION_PATH_PROBE_MS);
    }
}

/* Rounds of asking DHT nodes and announce nodes. Just after we start,
 * friends that started with us are announcing too: short rounds let the
 * lists converge and the DHT keys cross in well under a second, not after
 * several 3 s rounds. */
static tw_time_ms round_interval(const tw_onion_client *c, tw_time_ms now) {
  return now - c->started < TW_ONION_SEARCH_FAST_FOR_MS ? TW_ONION_SEARCH_FAST_MS
                                                        : TW_ONION_ANNOUNCE_RETRY_MS;
}

static tw_time_ms self_interval(const tw_onion_client *c, const tw_onion_node *e,
                                tw_time_ms now) {
  if (e->is_stored != TW_ANNOUNCE_STORED) return round_interval(c, now);
  const tw_onion_path *p = find_path((tw_onion_client *)c, e->path_id);
  bool stable = now - e->added >= TW_ONION_ANNOUNCE_STABLE_AFTER_MS && p != NULL &&
                now - p->created >= TW_ONION_ANNOUNCE_STABLE_AFTER_MS && e->unanswered == 0;
  return stable ? TW_ONION_ANNOUNCE_STABLE_REFRESH_MS : TW_ONION_ANNOUNCE_REFRESH_MS;
}

/* Re-sends to every node of a list whose interval has passed and drops the
 * ones that stopped answering. */
static void refresh_list(tw_onion *o, int32_t list, tw_time_ms friend_interval, tw_time_ms now) {
  tw_onion_client *c = o->client;
  tw_onion_list *l = list_of(c, list);
  for (int i = 0; i < l->count;) {
    tw_onion_node *e = &l->n[i];
    tw_time_ms iv = list == LIST_SELF ? self_interval(c, e, now) : friend_interval;
    tw_time_ms due = e->last_sent + iv;
    if (e->last_sent != 0 && now < due) {
      note_due(c, due);
      i++;
      continue;
    }
    if (e->unanswered >= TW_ONION_NODE_TIMEOUT_TRIES) {
      list_remove(l, e);
      continue;
    }
    e->last_sent = now;
    e->unanswered++;
    /* Our own announcements keep to the path their ping id is bound to
     * (the id depends on node C's address). Searches take any path, which
     * also keeps every search path tested. */
    send_announce_request(o, &e->node, list, e->ping_id, list == LIST_SELF ? e->path_id : 0, now);
    note_due(c, now + iv);
    i++;
  }
}

static tw_time_ms friend_interval(const tw_onion_client *c, const tw_onion_friend *f,
                                  tw_time_ms now) {
  if (!f->dht_pk_known && now - c->started < TW_ONION_SEARCH_FAST_FOR_MS)
    return TW_ONION_SEARCH_FAST_MS;
  if (f->list.count < f->list.max ||
      (c->announced_at != 0 && now - c->announced_at < TW_ONION_SEARCH_AGGRESSIVE_MS))
    return TW_ONION_ANNOUNCE_RETRY_MS;
  tw_time_ms since = f->last_seen > f->search_started ? f->last_seen : f->search_started;
  tw_time_ms iv = (now - since) / 4;
  if (iv < TW_ONION_SEARCH_MIN_INTERVAL_MS) iv = TW_ONION_SEARCH_MIN_INTERVAL_MS;
  if (iv > TW_ONION_SEARCH_MAX_INTERVAL_MS) iv = TW_ONION_SEARCH_MAX_INTERVAL_MS;
  return iv;
}

void tw_onion_client_on_timer(tw_onion *o, tw_time_ms now) {
  tw_onion_client *c = o->client;
  c->deadline = TW_NEVER;
  if (!tw_dht_is_connected(o->cfg.dht, now) && !tcp_usable(o)) {
    /* just started: the DHT (or a TCP relay) is seconds away at most */
    expire_paths(o, SET_ANNOUNCE, now); /* paths through a relay now gone */
    expire_paths(o, SET_SEARCH, now);
    note_due(c, now + round_interval(c, now));
    return;
  }
  /* No answer on any path for a while: we were offline. Start over. */
  if (c->last_response != 0 && now - c->last_response >= TW_ONION_OFFLINE_AFTER_MS) {
    c->last_response = 0;
    for (int i = 0; i < c->announce.count; i++) c->announce.n[i].last_sent = 0;
    for (size_t f = 0; f < c->nfriends; f++)
      for (int i = 0; i < c->friends[f].list.count; i++) c->friends[f].list.n[i].last_sent = 0;
    c->announced_at = 0;
  }

  expire_paths(o, SET_ANNOUNCE, now);
  expire_paths(o, SET_SEARCH, now);
  probe_idle_paths(o, now);
  refresh_list(o, LIST_SELF, 0, now);
  if (c->announce.count < c->announce.max || c->stored_on == 0) {
    tw_time_ms round = round_interval(c, now);
    if (now - c->announce_round >= round || c->announce_round == 0) {
      c->announce_round = now;
      ask_dht_nodes(o, LIST_SELF, 4, now);
    }
    note_due(c, c->announce_round + round);
  }
  update_stored_on(o, now);

  /* Friends are searched for once we are announced (so two friends that
   * start together find each other), or after a grace period. */
  bool may_search = c->stored_on > 0 || now - c->started >= TW_ONION_SEARCH_GRACE_MS;
  for (size_t i = 0; i < c->nfriends; i++) {
    tw_onion_friend *f = &c->friends[i];
    if (!f->used || f->connected) continue;
    if (!may_search) {
      note_due(c, c->started + TW_ONION_SEARCH_GRACE_MS);
      continue;
    }
    tw_time_ms iv = friend_interval(c, f, now);
    refresh_list(o, (int32_t)i, iv, now);
    if (f->list.count < f->list.max) {
      tw_time_ms round = round_interval(c, now);
      if (now - f->last_round >= round || f->last_round == 0) {
        f->last_round = now;
        ask_dht_nodes(o, (int32_t)i, 2, now);
      }
      note_due(c, f->last_round + round);
    }
    tw_onion_client_send_dhtpk(o, f, now);
  }
  if (c->deadline <= now) c->deadline = now + 100;
}

/* ---- friends ---- */

tw_onion_friend *tw_onion_find_friend(tw_onion_client *c, const tw_key *pk) {
  for (size_t i = 0; i < c->nfriends; i++)
    if (c->friends[i].used && tw_key_equal(&c->friends[i].pk, pk)) return &c->friends[i];
  return NULL;
}

int tw_onion_friend_add(tw_onion *o, const tw_key *pk, tw_time_ms now) {
  tw_onion_client *c = o->client;
  if (c == NULL) return TW_E_DISABLED;
  if (tw_key_equal(pk, &c->self.pk)) return TW_E_SELF;
  if (tw_onion_find_friend(c, pk) != NULL) return TW_OK;
  tw_onion_friend *f = NULL;
  for (size_t i = 0; i < c->nfriends && f == NULL; i++)
    if (!c->friends[i].used) f = &c->friends[i];
  if (f == NULL) {
    if (c->nfriends == TW_ONION_MAX_FRIENDS) return TW_E_FULL;
    tw_onion_friend *nf = realloc(c->friends, (c->nfriends + 1) * sizeof *nf);
    if (nf == NULL) return TW_E_NOMEM;
    c->friends = nf;
    f = &c->friends[c->nfriends++];
  }
  memset(f, 0, sizeof *f);
  f->used = true;
  f->pk = *pk;
  f->list.target = *pk;
  f->list.max = TW_ONION_SEARCH_NODES;
  tw_keypair_generate(&f->search_keys, &o->env);
  f->search_started = now;
  note_due(c, now);
  return TW_OK;
}

int tw_onion_friend_remove(tw_onion *o, const tw_key *pk) {
  if (o->client == NULL) return TW_E_DISABLED;
  tw_onion_friend *f = tw_onion_find_friend(o->client, pk);
  if (f == NULL) return TW_E_NOTFOUND;
  if (f->dht_pk_known) tw_dht_search_remove(o->cfg.dht, &f->dht_pk);
  tw_crypto_wipe(f, sizeof *f); /* slot reusable; sendbacks to it fail */
  return TW_OK;
}

int tw_onion_friend_set_connected(tw_onion *o, const tw_key *pk, bool connected, tw_time_ms now) {
  if (o->client == NULL) return TW_E_DISABLED;
  tw_onion_friend *f = tw_onion_find_friend(o->client, pk);
  if (f == NULL) return TW_E_NOTFOUND;
  if (f->connected && !connected) {
    /* Gone offline: look for it again as if we had just started. */
    f->search_started = now;
    f->last_seen = now;
    f->dhtpk_onion_sent = f->dhtpk_dht_sent = 0;
    note_due(o->client, now);
  }
  f->connected = connected;
  return TW_OK;
}

tw_onion_client *tw_onion_client_new(tw_onion *o, tw_time_ms now) {
  tw_onion_client *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->self = o->cfg.self_keys;
  tw_keypair_generate(&c->data_keys, &o->env);
  c->announce.target = c->self.pk;
  c->announce.max = TW_ONION_ANNOUNCE_NODES;
  c->started = now;
  c->deadline = now;
  tw_reqtab_init(&c->sendback, c->sendback_slots, TW_ONION_SENDBACK_SLOTS, TW_ONION_SENDBACK_TTL_MS);
  return c;
}

void tw_onion_client_free(tw_onion_client *c) {
  if (c == NULL) return;
  if (c->friends) tw_crypto_wipe(c->friends, c->nfriends * sizeof *c->friends);
  free(c->friends);
  tw_crypto_wipe(c, sizeof *c);
  free(c);
}
