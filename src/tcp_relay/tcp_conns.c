/* TCP connections: a node's relays and the peers reached through them.
 * spec/tcp_relay.md, "Client: several relays".
 *
 * Relays live in a fixed table; a relay is connected while it is one of our
 * own (up to TW_TCP_CONNS_OWN_RELAYS) or a peer needs it. Each peer keeps
 * up to TW_TCP_CONNS_PEER_RELAYS relays it was seen on, with the route id
 * each relay gave us. A peer's packets go as data on a route the relay
 * calls online (the last one that worked first), else as OOB to its key.
 *
 * A peer's address is a TW_AF_TCP_PEER tw_addr holding the first 16 bytes
 * of its DHT key: the same whether we asked for the peer or it first wrote
 * to us out of band, so net_crypto sees one address either way. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "toxwire/tcp_conns.h"

enum { R_FREE = 0, R_IDLE, R_CONNECTING, R_HANDSHAKING, R_CONNECTED };
#define NO_RELAY 0xff
#define STRANGER_TTL_MS 30000

static const char MOD[] = "tcp";

typedef struct relay {
  struct tw_tcp_conns *tc;
  uint8_t state;
  bool own;
  bool closing; /* the client closed: reap once its call returns */
  bool want_write;
  tw_node_info info;
  tw_tcp_client *cl;
  uint32_t gen; /* handle = gen << 8 | index */
  /* by_id[id - 16]: 1 + the index of the peer a route response gave the
   * id to (0: none), so a data packet finds its peer at once. */
  uint16_t by_id[TW_TCP_MAX_LINKS];
  uint32_t failures;
  tw_time_ms retry_at, connected_at;
} relay;

typedef struct peer_link {
  uint8_t relay; /* NO_RELAY: unused */
  uint8_t conn_id; /* 0: no route yet */
  bool asked;      /* route request sent on the current connection */
  bool online;
} peer_link;

typedef struct peer {
  bool used;
  tw_key pk;
  peer_link link[TW_TCP_CONNS_PEER_RELAYS];
  uint8_t last_relay;
} peer;

typedef struct stranger {
  tw_key pk;
  uint8_t relay;
  bool used;
  tw_time_ms at;
} stranger;

struct tw_tcp_conns {
  tw_tcp_conns_config cfg;
  tw_env env;
  relay r[TW_TCP_CONNS_MAX_RELAYS];
  peer *p;
  uint32_t np, cap;
  stranger s[TW_TCP_CONNS_STRANGERS];
  uint32_t s_next;
  /* Inside a tw_tcp_client call: a client must not be freed under itself,
   * so closes wait for reap(). */
  int busy;
  tw_tcp_conns_stats stats;
};

/* ---- addresses ---- */

tw_addr tw_tcp_conns_peer_addr(const tw_key *pk) {
  tw_addr a;
  memset(&a, 0, sizeof a);
  a.family = TW_AF_TCP_PEER;
  memcpy(a.ip, pk->bytes, sizeof a.ip);
  a.port = 1;
  return a;
}

static bool names(const tw_addr *a, const tw_key *pk) {
  return a->family == TW_AF_TCP_PEER && memcmp(a->ip, pk->bytes, sizeof a->ip) == 0;
}

static peer *peer_at(tw_tcp_conns *tc, const tw_addr *a) {
  for (uint32_t i = 0; i < tc->np; i++)
    if (tc->p[i].used && names(a, &tc->p[i].pk)) return &tc->p[i];
  return NULL;
}

static stranger *stranger_at(tw_tcp_conns *tc, const tw_addr *a, tw_time_ms now) {
  for (uint32_t i = 0; i < TW_TCP_CONNS_STRANGERS; i++) {
    stranger *s = &tc->s[i];
    if (s->used && now - s->at < STRANGER_TTL_MS && names(a, &s->pk)) return s;
  }
  return NULL;
}

static peer *peer_by_key(tw_tcp_conns *tc, const tw_key *pk) {
  for (uint32_t i = 0; i < tc->np; i++)
    if (tc->p[i].used && tw_key_equal(&tc->p[i].pk, pk)) return &tc->p[i];
  return NULL;
}

static uint32_t handle_of(const tw_tcp_conns *tc, const relay *r) {
  return r->gen << 8 | (uint32_t)(r - tc->r);
}

static relay *relay_of_handle(tw_tcp_conns *tc, uint32_t handle) {
  uint32_t i = handle & 0xff;
  if (i >= TW_TCP_CONNS_MAX_RELAYS) return NULL;
  relay *r = &tc->r[i];
  return r->state >= R_CONNECTING && r->gen == handle >> 8 ? r : NULL;
}

/* ---- relays ---- */

static size_t count_state(const tw_tcp_conns *tc, uint8_t min_state) {
  size_t n = 0;
  for (int i = 0; i < TW_TCP_CONNS_MAX_RELAYS; i++) n += tc->r[i].state >= min_state;
  return n;
}

static bool relay_used_by_peers(const tw_tcp_conns *tc, uint8_t ri) {
  for (uint32_t i = 0; i < tc->np; i++) {
    if (!tc->p[i].used) continue;
    for (int k = 0; k < TW_TCP_CONNS_PEER_RELAYS; k++)
      if (tc->p[i].link[k].relay == ri) return true;
  }
  return false;
}

static relay *relay_find(tw_tcp_conns *tc, const tw_key *pk) {
  for (int i = 0; i < TW_TCP_CONNS_MAX_RELAYS; i++)
    if (tc->r[i].state != R_FREE && tw_key_equal(&tc->r[i].info.pk, pk)) return &tc->r[i];
  return NULL;
}

/* A slot for a new relay: a free one, else an idle relay nobody uses. */
static relay *relay_slot(tw_tcp_conns *tc) {
  for (int i = 0; i < TW_TCP_CONNS_MAX_RELAYS; i++)
    if (tc->r[i].state == R_FREE) return &tc->r[i];
  for (int i = 0; i < TW_TCP_CONNS_MAX_RELAYS; i++)
    if (tc->r[i].state == R_IDLE && !tc->r[i].own && !relay_used_by_peers(tc, (uint8_t)i))
      return &tc->r[i];
  return NULL;
}

static relay *relay_get(tw_tcp_conns *tc, const tw_node_info *info) {
  relay *r = relay_find(tc, &info->pk);
  if (r != NULL) return r;
  r = relay_slot(tc);
  if (r == NULL) return NULL;
  /* OOB senders seen on the slot's last relay are not on this one. */
  for (int i = 0; i < TW_TCP_CONNS_STRANGERS; i++)
    if (tc->s[i].relay == (uint8_t)(r - tc->r)) tc->s[i].used = false;
  uint32_t gen = r->gen + 1;
  memset(r, 0, sizeof *r);
  r->tc = tc;
  r->gen = gen & 0xffffff;
  r->state = R_IDLE;
  r->info = *info;
  r->info.tcp = true;
  return r;
}

static long cl_write(void *ctx, void *user, const uint8_t *bytes, size_t len);
static void cl_want_write(void *ctx, void *user, bool on);
static void cl_event(void *ctx, const tw_tcp_client_event *ev, tw_time_ms now);

static void relay_connect(tw_tcp_conns *tc, relay *r, tw_time_ms now) {
  if (r->state != R_IDLE || now < r->retry_at) return;
  if (count_state(tc, R_CONNECTING) >= TW_TCP_CONNS_MAX_CONNECTED) return;
  tw_tcp_client_config cc = {.self = tc->cfg.dht_keys, .relay_pk = r->info.pk,
                             .write = cl_write, .want_write = cl_want_write,
                             .on_event = cl_event, .ctx = r};
  r->cl = tw_tcp_client_new(&cc, &tc->env, now);
  if (r->cl == NULL) return;
  r->gen = (r->gen + 1) & 0xffffff;
  r->state = R_CONNECTING;
  r->closing = r->want_write = false;
  char a[TW_ADDR_STRLEN];
  tw_log(&tc->env.log, TW_LOG_DEBUG, MOD, "connecting to relay %s", tw_addr_format(&r->info.addr, a));
  if (tc->cfg.open(tc->cfg.io_ctx, handle_of(tc, r), &r->info.addr) != TW_OK) {
    tw_tcp_client_free(r->cl);
    r->cl = NULL;
    r->state = R_IDLE;
    r->failures++;
    tw_time_ms d = (tw_time_ms)TW_TCP_CONNS_RETRY_MS << (r->failures < 6 ? r->failures - 1 : 5);
    r->retry_at = now + (d > TW_TCP_CONNS_RETRY_MAX_MS ? TW_TCP_CONNS_RETRY_MAX_MS : d);
  }
}

/* The relay's socket is gone: its routes are too. */
static void relay_down(tw_tcp_conns *tc, relay *r, tw_time_ms now, bool tell_driver) {
  if (r->state < R_CONNECTING) return;
  uint8_t ri = (uint8_t)(r - tc->r);
  bool was_up = r->state == R_CONNECTED;
  if (tell_driver) tc->cfg.close(tc->cfg.io_ctx, handle_of(tc, r));
  tw_tcp_client_free(r->cl);
  r->cl = NULL;
  r->state = R_IDLE;
  r->closing = false;
  for (uint32_t i = 0; i < tc->np; i++)
    for (int k = 0; k < TW_TCP_CONNS_PEER_RELAYS; k++) {
      peer_link *l = &tc->p[i].link[k];
      if (tc->p[i].used && l->relay == ri) l->conn_id = 0, l->asked = false, l->online = false;
    }
  memset(r->by_id, 0, sizeof r->by_id);
  if (was_up) {
    tc->stats.disconnects++;
    /* A relay that stayed up a while is retried soon; one that keeps
     * failing backs off. */
    if (now - r->connected_at >= 60000) r->failures = 0;
  }
  r->failures++;
  tw_time_ms d = (tw_time_ms)TW_TCP_CONNS_RETRY_MS << (r->failures < 6 ? r->failures - 1 : 5);
  r->retry_at = now + (d > TW_TCP_CONNS_RETRY_MAX_MS ? TW_TCP_CONNS_RETRY_MAX_MS : d);
  char a[TW_ADDR_STRLEN];
  tw_log(&tc->env.log, TW_LOG_INFO, MOD, "relay %s %s; retry in %llu s",
         tw_addr_format(&r->info.addr, a), was_up ? "lost" : "unreachable",
         (unsigned long long)((r->retry_at - now) / 1000));
}

static void reap(tw_tcp_conns *tc, relay *r, tw_time_ms now) {
  if (!r->closing || tc->busy) return;
  relay_down(tc, r, now, true);
  if (!r->own && !relay_used_by_peers(tc, (uint8_t)(r - tc->r))) {
    r->failures = 0; /* closed because nobody needs it, not because it failed */
    r->retry_at = 0;
  }
}

static void reap_all(tw_tcp_conns *tc, tw_time_ms now) {
  for (int i = 0; i < TW_TCP_CONNS_MAX_RELAYS; i++) reap(tc, &tc->r[i], now);
}

/* How many of the peer's relays are connected (or on their way). */
static int peer_connected_relays(const tw_tcp_conns *tc, const peer *p) {
  int n = 0;
  for (int k = 0; k < TW_TCP_CONNS_PEER_RELAYS; k++)
    if (p->link[k].relay != NO_RELAY && tc->r[p->link[k].relay].state >= R_CONNECTING) n++;
  return n;
}

static void ask_route(tw_tcp_conns *tc, peer *p, peer_link *l) {
  relay *r = &tc->r[l->relay];
  if (r->state != R_CONNECTED || l->asked) return;
  if (tw_tcp_client_send_route_request(r->cl, &p->pk) == TW_OK) l->asked = true;
}

/* Connects what should be: our own relays up to their number, and enough of
 * each peer's. */
static void maintain(tw_tcp_conns *tc, tw_time_ms now) {
  size_t own_up = 0;
  for (int i = 0; i < TW_TCP_CONNS_MAX_RELAYS; i++)
    own_up += tc->r[i].own && tc->r[i].state >= R_CONNECTING;
  for (int i = 0; i < TW_TCP_CONNS_MAX_RELAYS && own_up < TW_TCP_CONNS_OWN_RELAYS; i++) {
    relay *r = &tc->r[i];
    if (!r->own || r->state != R_IDLE) continue;
    relay_connect(tc, r, now);
    own_up += r->state >= R_CONNECTING;
  }
  for (uint32_t i = 0; i < tc->np; i++) {
    peer *p = &tc->p[i];
    if (!p->used) continue;
    int up = peer_connected_relays(tc, p);
    for (int k = 0; k < TW_TCP_CONNS_PEER_RELAYS && up < TW_TCP_CONNS_PEER_CONNECT; k++) {
      if (p->link[k].relay == NO_RELAY) continue;
      relay *r = &tc->r[p->link[k].relay];
      if (r->state != R_IDLE) continue;
      relay_connect(tc, r, now);
      up += r->state >= R_CONNECTING;
    }
  }
}

/* ---- the clients' callbacks ---- */

static long cl_write(void *ctx, void *user, const uint8_t *bytes, size_t len) {
  (void)user;
  relay *r = ctx;
  if (r->state == R_CONNECTING) return 0; /* the socket is not up yet */
  return r->tc->cfg.write(r->tc->cfg.io_ctx, handle_of(r->tc, r), bytes, len);
}

static void cl_want_write(void *ctx, void *user, bool on) {
  (void)user;
  relay *r = ctx;
  r->want_write = on;
  if (r->state != R_CONNECTING) r->tc->cfg.want_write(r->tc->cfg.io_ctx, handle_of(r->tc, r), on);
}

static peer_link *link_by_id(tw_tcp_conns *tc, uint8_t ri, uint8_t conn_id, peer **out) {
  if (conn_id < TW_TCP_FIRST_CONN_ID) return NULL;
  uint16_t at = tc->r[ri].by_id[conn_id - TW_TCP_FIRST_CONN_ID];
  if (at == 0 || at > tc->np) return NULL;
  peer *p = &tc->p[at - 1];
  for (int k = 0; k < TW_TCP_CONNS_PEER_RELAYS && p->used; k++)
    if (p->link[k].relay == ri && p->link[k].conn_id == conn_id) {
      *out = p;
      return &p->link[k];
    }
  return NULL;
}

/* The route id a link holds: the relay's table follows. */
static void link_set_id(tw_tcp_conns *tc, const peer *p, peer_link *l, uint8_t conn_id) {
  uint16_t *by_id = tc->r[l->relay].by_id;
  if (l->conn_id >= TW_TCP_FIRST_CONN_ID) by_id[l->conn_id - TW_TCP_FIRST_CONN_ID] = 0;
  l->conn_id = conn_id;
  if (conn_id >= TW_TCP_FIRST_CONN_ID) by_id[conn_id - TW_TCP_FIRST_CONN_ID] = (uint16_t)(p - tc->p + 1);
}

static peer_link *link_on(peer *p, uint8_t ri) {
  for (int k = 0; k < TW_TCP_CONNS_PEER_RELAYS; k++)
    if (p->link[k].relay == ri) return &p->link[k];
  return NULL;
}

/* Remembers relay ri for p; when full, the slot of a relay that is down. */
static peer_link *link_add(tw_tcp_conns *tc, peer *p, uint8_t ri) {
  peer_link *l = link_on(p, ri);
  if (l != NULL) return l;
  for (int k = 0; k < TW_TCP_CONNS_PEER_RELAYS; k++)
    if (p->link[k].relay == NO_RELAY) l = &p->link[k];
  for (int k = 0; k < TW_TCP_CONNS_PEER_RELAYS && l == NULL; k++)
    if (tc->r[p->link[k].relay].state < R_CONNECTING) l = &p->link[k];
  if (l == NULL) return NULL;
  *l = (peer_link){.relay = ri};
  return l;
}

static void deliver(tw_tcp_conns *tc, const tw_addr *from, const uint8_t *data, size_t len,
                    tw_time_ms now) {
  if (tc->cfg.on_packet) tc->cfg.on_packet(tc->cfg.ctx, from, data, len, now);
}

/* An OOB packet from a key we do not route to: kept long enough that a
 * cookie response can go back the way the request came. */
static void note_stranger(tw_tcp_conns *tc, uint8_t ri, const tw_key *pk, tw_time_ms now) {
  for (uint32_t i = 0; i < TW_TCP_CONNS_STRANGERS; i++) {
    stranger *s = &tc->s[i];
    if (s->used && s->relay == ri && tw_key_equal(&s->pk, pk)) {
      s->at = now;
      return;
    }
  }
  stranger *s = &tc->s[tc->s_next++ % TW_TCP_CONNS_STRANGERS];
  *s = (stranger){.pk = *pk, .relay = ri, .used = true, .at = now};
}

static void cl_event(void *ctx, const tw_tcp_client_event *ev, tw_time_ms now) {
  relay *r = ctx;
  tw_tcp_conns *tc = r->tc;
  uint8_t ri = (uint8_t)(r - tc->r);
  peer *p = NULL;
  peer_link *l;
  switch (ev->kind) {
  case TW_TCP_EV_CONNECTED: {
    r->state = R_CONNECTED;
    r->connected_at = now;
    tc->stats.connects++;
    char a[TW_ADDR_STRLEN];
    tw_log(&tc->env.log, TW_LOG_INFO, MOD, "connected to relay %s", tw_addr_format(&r->info.addr, a));
    for (uint32_t i = 0; i < tc->np; i++) {
      if (!tc->p[i].used) continue;
      l = link_on(&tc->p[i], ri);
      if (l != NULL) ask_route(tc, &tc->p[i], l);
    }
    break;
  }
  case TW_TCP_EV_ROUTE_RESPONSE:
    p = peer_by_key(tc, &ev->pk);
    l = p != NULL ? link_on(p, ri) : NULL;
    if (l == NULL) {
      /* A route for a peer (or a link) we dropped meanwhile: give it back. */
      if (ev->conn_id) tw_tcp_client_send_disconnect(r->cl, ev->conn_id);
      break;
    }
    /* A peer removed and added again before the first answer came asked
     * twice: keep the newest id, give the other back. */
    if (l->conn_id && l->conn_id != ev->conn_id) tw_tcp_client_send_disconnect(r->cl, l->conn_id);
    link_set_id(tc, p, l, ev->conn_id);
    l->online = false;
    break;
  case TW_TCP_EV_CONNECT:
  case TW_TCP_EV_DISCONNECT:
    l = link_by_id(tc, ri, ev->conn_id, &p);
    if (l != NULL) l->online = ev->kind == TW_TCP_EV_CONNECT;
    break;
  case TW_TCP_EV_DATA:
    l = link_by_id(tc, ri, ev->conn_id, &p);
    if (l == NULL) break;
    tc->stats.data_in++;
    {
      tw_addr from = tw_tcp_conns_peer_addr(&p->pk);
      deliver(tc, &from, ev->data, ev->len, now);
    }
    break;
  case TW_TCP_EV_OOB: {
    tc->stats.oob_in++;
    p = peer_by_key(tc, &ev->pk);
    if (p != NULL) {
      /* The peer is on this relay: answer here, and ask for a route. */
      l = link_add(tc, p, ri);
      if (l != NULL) ask_route(tc, p, l);
    } else {
      note_stranger(tc, ri, &ev->pk, now);
    }
    tw_addr from = tw_tcp_conns_peer_addr(&ev->pk);
    deliver(tc, &from, ev->data, ev->len, now);
    break;
  }
  case TW_TCP_EV_ONION_RESPONSE:
    tc->stats.onion_in++;
    if (tc->cfg.on_onion) tc->cfg.on_onion(tc->cfg.ctx, &r->info.addr, ev->data, ev->len, now);
    break;
  case TW_TCP_EV_PONG: break;
  case TW_TCP_EV_CLOSED: r->closing = true; break;
  }
}

/* ---- lifecycle ---- */

tw_tcp_conns *tw_tcp_conns_new(const tw_tcp_conns_config *cfg, const tw_env *env, tw_time_ms now) {
  (void)now;
  if (cfg->open == NULL || cfg->close == NULL || cfg->write == NULL || cfg->want_write == NULL)
    return NULL;
  tw_tcp_conns *tc = calloc(1, sizeof *tc);
  if (tc == NULL) return NULL;
  tc->cfg = *cfg;
  tc->env = *env;
  return tc;
}

void tw_tcp_conns_free(tw_tcp_conns *tc) {
  if (tc == NULL) return;
  for (int i = 0; i < TW_TCP_CONNS_MAX_RELAYS; i++) {
    relay *r = &tc->r[i];
    if (r->state >= R_CONNECTING) tc->cfg.close(tc->cfg.io_ctx, handle_of(tc, r));
    tw_tcp_client_free(r->cl);
  }
  free(tc->p);
  free(tc);
}

int tw_tcp_conns_add_relay(tw_tcp_conns *tc, const tw_node_info *info, tw_time_ms now) {
  if (!tw_addr_is_set(&info->addr)) return TW_E_ADDR;
  if (tw_key_equal(&info->pk, &tc->cfg.dht_keys.pk)) return TW_E_SELF;
  relay *r = relay_get(tc, info);
  if (r == NULL) return TW_E_FULL;
  r->own = true;
  maintain(tc, now);
  return TW_OK;
}

size_t tw_tcp_conns_connected(const tw_tcp_conns *tc, tw_node_info *out, size_t max) {
  size_t n = 0;
  for (int own = 1; own >= 0; own--)
    for (int i = 0; i < TW_TCP_CONNS_MAX_RELAYS && n < max; i++)
      if (tc->r[i].state == R_CONNECTED && tc->r[i].own == own) out[n++] = tc->r[i].info;
  return n;
}

/* ---- peers ---- */

int tw_tcp_conns_peer_add(tw_tcp_conns *tc, const tw_key *dht_pk, tw_addr *addr, tw_time_ms now) {
  (void)now;
  peer *p = peer_by_key(tc, dht_pk);
  if (p == NULL) {
    for (uint32_t i = 0; i < tc->np && p == NULL; i++)
      if (!tc->p[i].used) p = &tc->p[i];
    if (p == NULL) {
      if (tc->np == tc->cap) {
        uint32_t cap = tc->cap ? 2 * tc->cap : 8;
        peer *np = realloc(tc->p, cap * sizeof *np);
        if (np == NULL) return TW_E_NOMEM;
        memset(np + tc->cap, 0, (cap - tc->cap) * sizeof *np);
        tc->p = np;
        tc->cap = cap;
      }
      p = &tc->p[tc->np++];
    }
    memset(p, 0, sizeof *p);
    p->used = true;
    p->pk = *dht_pk;
    p->last_relay = NO_RELAY;
    for (int k = 0; k < TW_TCP_CONNS_PEER_RELAYS; k++) p->link[k].relay = NO_RELAY;
    tc->stats.peers++;
  }
  *addr = tw_tcp_conns_peer_addr(dht_pk);
  return TW_OK;
}

int tw_tcp_conns_peer_remove(tw_tcp_conns *tc, const tw_addr *addr, tw_time_ms now) {
  peer *p = peer_at(tc, addr);
  if (p == NULL) return TW_E_NOTFOUND;
  for (int k = 0; k < TW_TCP_CONNS_PEER_RELAYS; k++) {
    peer_link *l = &p->link[k];
    if (l->relay == NO_RELAY) continue;
    relay *r = &tc->r[l->relay];
    if (r->state == R_CONNECTED && l->conn_id) tw_tcp_client_send_disconnect(r->cl, l->conn_id);
    link_set_id(tc, p, l, 0);
  }
  p->used = false;
  tc->stats.peers--;
  /* Relays only this peer needed are closed (by reap, once no client call
   * is under way: this may run from inside one, through on_packet). */
  for (int i = 0; i < TW_TCP_CONNS_MAX_RELAYS; i++) {
    relay *r = &tc->r[i];
    if (r->state >= R_CONNECTING && !r->own && !relay_used_by_peers(tc, (uint8_t)i)) {
      r->closing = true;
      reap(tc, r, now);
    }
  }
  if (!tc->busy) maintain(tc, now); /* room for a relay that waited */
  return TW_OK;
}

int tw_tcp_conns_peer_add_relay(tw_tcp_conns *tc, const tw_addr *addr, const tw_node_info *info,
                                tw_time_ms now) {
  peer *p = peer_at(tc, addr);
  if (p == NULL) return TW_E_NOTFOUND;
  if (!tw_addr_is_set(&info->addr)) return TW_E_ADDR;
  if (tw_key_equal(&info->pk, &tc->cfg.dht_keys.pk)) return TW_E_SELF;
  relay *r = relay_get(tc, info);
  if (r == NULL) return TW_E_FULL;
  peer_link *l = link_add(tc, p, (uint8_t)(r - tc->r));
  if (l == NULL) return TW_E_FULL;
  ask_route(tc, p, l);
  maintain(tc, now);
  return TW_OK;
}

size_t tw_tcp_conns_peer_relays(const tw_tcp_conns *tc, const tw_addr *addr) {
  peer *p = peer_at((tw_tcp_conns *)tc, addr);
  if (p == NULL) return 0;
  size_t n = 0;
  for (int k = 0; k < TW_TCP_CONNS_PEER_RELAYS; k++)
    n += p->link[k].relay != NO_RELAY && tc->r[p->link[k].relay].state == R_CONNECTED;
  return n;
}

bool tw_tcp_conns_peer_online(const tw_tcp_conns *tc, const tw_addr *addr) {
  peer *p = peer_at((tw_tcp_conns *)tc, addr);
  if (p == NULL) return false;
  for (int k = 0; k < TW_TCP_CONNS_PEER_RELAYS; k++)
    if (p->link[k].relay != NO_RELAY && p->link[k].online) return true;
  return false;
}

/* ---- sending ---- */

static int send_data(tw_tcp_conns *tc, peer *p, const uint8_t *pkt, size_t len) {
  int err = TW_E_NOROUTE;
  /* The relay that carried the last packet first: one relay for a stream
   * keeps its packets in order. */
  for (int pass = 0; pass < 2; pass++)
    for (int k = 0; k < TW_TCP_CONNS_PEER_RELAYS; k++) {
      peer_link *l = &p->link[k];
      if (l->relay == NO_RELAY || !l->online || !l->conn_id) continue;
      if ((pass == 0) != (l->relay == p->last_relay)) continue;
      relay *r = &tc->r[l->relay];
      if (r->state != R_CONNECTED) continue;
      int rc = tw_tcp_client_send_data(r->cl, l->conn_id, pkt, len);
      if (rc == TW_OK) {
        p->last_relay = l->relay;
        tc->stats.data_out++;
        return TW_OK;
      }
      err = rc;
    }
  return err;
}

static int send_oob(tw_tcp_conns *tc, const tw_key *to, const uint8_t *relays, size_t nrelays,
                    const uint8_t *pkt, size_t len) {
  if (len > TW_TCP_MAX_OOB_DATA) return TW_E_LONG;
  int sent = 0, err = TW_E_NOROUTE;
  for (size_t i = 0; i < nrelays; i++) {
    relay *r = &tc->r[relays[i]];
    if (r->state != R_CONNECTED) continue;
    int rc = tw_tcp_client_send_oob(r->cl, to, pkt, len);
    if (rc == TW_OK) sent++, tc->stats.oob_out++;
    else err = rc;
  }
  return sent ? TW_OK : err;
}

int tw_tcp_conns_send(tw_tcp_conns *tc, const tw_addr *to, const uint8_t *pkt, size_t len,
                      tw_time_ms now) {
  int rc;
  peer *p = peer_at(tc, to);
  if (p != NULL) {
    rc = send_data(tc, p, pkt, len);
    if (rc != TW_OK) {
      uint8_t relays[TW_TCP_CONNS_PEER_RELAYS];
      size_t n = 0;
      for (int k = 0; k < TW_TCP_CONNS_PEER_RELAYS; k++)
        if (p->link[k].relay != NO_RELAY) relays[n++] = p->link[k].relay;
      rc = send_oob(tc, &p->pk, relays, n, pkt, len);
    }
  } else {
    stranger *s = stranger_at(tc, to, now);
    rc = s == NULL ? TW_E_NOROUTE : send_oob(tc, &s->pk, &s->relay, 1, pkt, len);
  }
  if (rc == TW_E_NOROUTE) tc->stats.dropped_noroute++;
  else if (rc == TW_E_FULL) tc->stats.dropped_full++;
  return rc;
}

int tw_tcp_conns_send_onion(tw_tcp_conns *tc, const tw_key *relay_pk, const uint8_t *data,
                            size_t len, tw_time_ms now) {
  (void)now;
  relay *r = relay_find(tc, relay_pk);
  if (r == NULL || r->state != R_CONNECTED) return TW_E_NOROUTE;
  int rc = tw_tcp_client_send_onion_request(r->cl, data, len);
  if (rc == TW_OK) tc->stats.onion_out++;
  return rc;
}

/* ---- the driver's reports ---- */

void tw_tcp_conns_handle_connected(tw_tcp_conns *tc, uint32_t handle, tw_time_ms now) {
  relay *r = relay_of_handle(tc, handle);
  if (r == NULL || r->state != R_CONNECTING) return;
  r->state = R_HANDSHAKING;
  tc->busy++;
  tw_tcp_client_flush(r->cl, now); /* the handshake */
  tc->busy--;
  if (r->want_write) tc->cfg.want_write(tc->cfg.io_ctx, handle, true);
  reap_all(tc, now);
}

void tw_tcp_conns_handle_bytes(tw_tcp_conns *tc, uint32_t handle, const uint8_t *bytes, size_t len,
                               tw_time_ms now) {
  relay *r = relay_of_handle(tc, handle);
  if (r == NULL || r->state < R_HANDSHAKING) return;
  tc->busy++;
  tw_tcp_client_handle_bytes(r->cl, bytes, len, now);
  tc->busy--;
  reap_all(tc, now);
}

void tw_tcp_conns_handle_writable(tw_tcp_conns *tc, uint32_t handle, tw_time_ms now) {
  relay *r = relay_of_handle(tc, handle);
  if (r == NULL || r->state < R_HANDSHAKING) return;
  tc->busy++;
  tw_tcp_client_handle_writable(r->cl, now);
  tc->busy--;
  reap_all(tc, now);
}

void tw_tcp_conns_handle_closed(tw_tcp_conns *tc, uint32_t handle, tw_time_ms now) {
  relay *r = relay_of_handle(tc, handle);
  if (r == NULL) return;
  relay_down(tc, r, now, false);
  maintain(tc, now);
}

void tw_tcp_conns_flush(tw_tcp_conns *tc, tw_time_ms now) {
  tc->busy++;
  for (int i = 0; i < TW_TCP_CONNS_MAX_RELAYS; i++)
    if (tc->r[i].state >= R_HANDSHAKING) tw_tcp_client_flush(tc->r[i].cl, now);
  tc->busy--;
  reap_all(tc, now);
}

void tw_tcp_conns_on_timer(tw_tcp_conns *tc, tw_time_ms now) {
  tc->busy++;
  for (int i = 0; i < TW_TCP_CONNS_MAX_RELAYS; i++) {
    relay *r = &tc->r[i];
    if (r->state >= R_CONNECTING && now >= tw_tcp_client_next_deadline(r->cl))
      tw_tcp_client_on_timer(r->cl, now);
  }
  tc->busy--;
  reap_all(tc, now);
  maintain(tc, now);
  /* A retry that came due but found no room (our 3, the peer's 3, or the
   * socket limit) waits for room, not for the clock: no deadline in the
   * past. The backoff count stays. */
  for (int i = 0; i < TW_TCP_CONNS_MAX_RELAYS; i++)
    if (tc->r[i].state == R_IDLE && tc->r[i].retry_at <= now) tc->r[i].retry_at = 0;
}

tw_time_ms tw_tcp_conns_next_deadline(const tw_tcp_conns *tc) {
  tw_time_ms t = TW_NEVER;
  for (int i = 0; i < TW_TCP_CONNS_MAX_RELAYS; i++) {
    const relay *r = &tc->r[i];
    tw_time_ms d = TW_NEVER;
    if (r->state >= R_CONNECTING) d = tw_tcp_client_next_deadline(r->cl);
    else if (r->state == R_IDLE && r->retry_at != 0 && (r->own || relay_used_by_peers(tc, (uint8_t)i)))
      d = r->retry_at;
    if (d < t) t = d;
  }
  return t;
}

void tw_tcp_conns_get_stats(const tw_tcp_conns *tc, tw_tcp_conns_stats *out) {
  *out = tc->stats;
  out->relays_known = (uint32_t)count_state(tc, R_IDLE);
  out->relays_connected = (uint32_t)count_state(tc, R_CONNECTED);
  out->peers_online = 0;
  for (uint32_t i = 0; i < tc->np; i++) {
    if (!tc->p[i].used) continue;
    for (int k = 0; k < TW_TCP_CONNS_PEER_RELAYS; k++)
      if (tc->p[i].link[k].relay != NO_RELAY && tc->p[i].link[k].online) {
        out->peers_online++;
        break;
      }
  }
}
