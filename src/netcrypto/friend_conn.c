/* Friend connections: the recurring work that takes a friend from "we know
 * only its long-term key" to an established session, and back when the
 * session is lost (spec "Friend connection", spec/friend_conn.md).
 *
 *   AwaitingDHTKey        the onion searches for the friend and sends it
 *                         our DHT key; we wait for its DHT key
 *   AcquiringIPAddress    the DHT searches for that key; its node's answer
 *                         gives the address
 *   AcquiringCookie       net_crypto asks the address for a cookie; no
 *                         answer in time makes the address stale
 *   AwaitingHandshake     our handshake is out
 *   AwaitingSessionPacket the friend's handshake is in, no data yet
 *   Established           alive packets both ways; none for 32 s: lost
 *
 * The state is derived, never stored apart from what it is derived from:
 * the DHT key we hold, and net_crypto's session state.
 *
 * With TCP relays (cfg.tcp) a friend whose DHT key we know is also a
 * tw_tcp_conns peer: the relays it names go there, and net_crypto gets
 * the peer's relay address beside any UDP one. */
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/node_info.h"
#include "toxwire/friend_conn.h"

typedef struct fc_friend {
  bool used;
  tw_key pk;
  tw_fconn_state state;
  bool dht_known;
  tw_key dht_pk;
  tw_time_ms dht_at;      /* last heard of its DHT key */
  tw_addr addr;           /* last address found, for reconnecting */
  tw_time_ms addr_at;
  tw_time_ms alive_sent, last_recv;
  tw_time_ms retry_at;    /* try the known address again */
  bool tcp_known;         /* a tw_tcp_conns peer for dht_pk */
  tw_addr tcp;            /* its relay address */
  tw_time_ms relays_sent; /* our last share-relays packet */
} fc_friend;

struct tw_fconn {
  tw_fconn_config cfg;
  tw_env env;
  fc_friend *f; /* indexed by the tw_nc connection id */
  uint32_t cap;
};

tw_fconn *tw_fconn_new(const tw_fconn_config *cfg, const tw_env *env, tw_time_ms now) {
  (void)now;
  if (cfg == NULL || cfg->dht == NULL || cfg->onion == NULL || cfg->nc == NULL) return NULL;
  tw_fconn *fc = calloc(1, sizeof *fc);
  if (fc == NULL) return NULL;
  fc->cfg = *cfg;
  fc->env = *env;
  return fc;
}

void tw_fconn_free(tw_fconn *fc) {
  if (fc == NULL) return;
  free(fc->f);
  free(fc);
}

static fc_friend *get(const tw_fconn *fc, uint32_t id) {
  if (id >= fc->cap || !fc->f[id].used) return NULL;
  return &fc->f[id];
}

static void emit(tw_fconn *fc, uint32_t id, tw_fconn_event *ev) {
  ev->friend_id = id;
  ev->peer = &fc->f[id].pk;
  if (fc->cfg.on_event != NULL) fc->cfg.on_event(fc->cfg.event_ctx, ev);
}

static tw_fconn_state derive(const tw_fconn *fc, uint32_t id, const fc_friend *f) {
  switch (tw_nc_conn_state(fc->cfg.nc, id)) {
  case TW_NC_ESTABLISHED: return TW_FCONN_ESTABLISHED;
  case TW_NC_NOT_CONFIRMED: return TW_FCONN_AWAITING_SESSION_PACKET;
  case TW_NC_HANDSHAKE_SENT: return TW_FCONN_AWAITING_HANDSHAKE;
  case TW_NC_COOKIE_REQUESTING: return TW_FCONN_ACQUIRING_COOKIE;
  case TW_NC_IDLE: break;
  }
  return f->dht_known ? TW_FCONN_ACQUIRING_IP_ADDRESS : TW_FCONN_AWAITING_DHT_KEY;
}

static void update(tw_fconn *fc, uint32_t id, tw_time_ms now) {
  fc_friend *f = get(fc, id);
  if (f == NULL) return;
  tw_fconn_state s = derive(fc, id, f);
  if (s == f->state) return;
  tw_fconn_state old = f->state;
  f->state = s;
  if (s == TW_FCONN_ESTABLISHED) {
    f->last_recv = now;
    f->alive_sent = 0; /* the first alive goes out at once */
    f->relays_sent = 0; /* and our relays with it */
    tw_onion_friend_set_connected(fc->cfg.onion, &f->pk, true, now);
  } else if (old == TW_FCONN_ESTABLISHED) {
    tw_onion_friend_set_connected(fc->cfg.onion, &f->pk, false, now);
    f->dht_at = now; /* the key stays usable for reconnecting */
  }
  if (s == TW_FCONN_ACQUIRING_IP_ADDRESS) {
    /* Back to where it was at once after a lost session; otherwise wait
     * for the DHT and look again now and then. */
    tw_time_ms at = old == TW_FCONN_ESTABLISHED ? now : now + TW_FCONN_RETRY_MS;
    if (at < f->retry_at) f->retry_at = at;
  }
  tw_fconn_event ev = {.kind = TW_FCONN_EV_STATE, .time = now, .state = s, .old_state = old};
  emit(fc, id, &ev);
}

/* ---- TCP relays ---- */

/* The friend's relay peer follows its DHT key. */
static void tcp_follow_key(tw_fconn *fc, fc_friend *f, tw_time_ms now) {
  if (fc->cfg.tcp == NULL) return;
  if (f->tcp_known) {
    tw_addr want = tw_tcp_conns_peer_addr(&f->dht_pk);
    if (f->dht_known && tw_addr_equal(&want, &f->tcp)) return;
    tw_tcp_conns_peer_remove(fc->cfg.tcp, &f->tcp, now);
    f->tcp_known = false;
  }
  if (f->dht_known && tw_tcp_conns_peer_add(fc->cfg.tcp, &f->dht_pk, &f->tcp, now) == TW_OK)
    f->tcp_known = true;
}

/* Relays the friend named: remembered for it, and net_crypto may use
 * them. Returns how many were taken. */
static int tcp_add_relays(tw_fconn *fc, fc_friend *f, const tw_node_info *nodes, size_t n,
                          tw_time_ms now) {
  int taken = 0;
  if (!f->tcp_known) return 0;
  for (size_t i = 0; i < n; i++)
    if (nodes[i].tcp && tw_tcp_conns_peer_add_relay(fc->cfg.tcp, &f->tcp, &nodes[i], now) == TW_OK)
      taken++;
  return taken;
}

/* Gives net_crypto the relay address once some relay can reach the friend. */
static void tcp_offer(tw_fconn *fc, uint32_t id, fc_friend *f, tw_time_ms now) {
  if (f->tcp_known && tw_tcp_conns_peer_relays(fc->cfg.tcp, &f->tcp) > 0)
    tw_nc_conn_set_addr(fc->cfg.nc, id, &f->tcp, now);
}

/* [0x11][our connected relays, packed]: lets the friend reach us through
 * them; they are tied to the friend here too (spec "Friend connection"). */
static void share_relays(tw_fconn *fc, uint32_t id, fc_friend *f, tw_time_ms now) {
  f->relays_sent = now;
  if (fc->cfg.tcp == NULL || !f->tcp_known) return;
  tw_node_info relays[TW_FCONN_SHARE_RELAYS_COUNT];
  size_t n = tw_tcp_conns_connected(fc->cfg.tcp, relays, TW_FCONN_SHARE_RELAYS_COUNT);
  if (n == 0) return;
  uint8_t pkt[1 + TW_FCONN_SHARE_RELAYS_COUNT * TW_PACKED_NODE_SIZE_IP6];
  tw_writer w = tw_writer_init(pkt, sizeof pkt);
  tw_write_u8(&w, TW_FCONN_ID_SHARE_RELAYS);
  for (size_t i = 0; i < n; i++) {
    tw_tcp_conns_peer_add_relay(fc->cfg.tcp, &f->tcp, &relays[i], now);
    tw_node_info_pack(&w, &relays[i]);
  }
  if (tw_writer_ok(&w)) tw_nc_send_lossless(fc->cfg.nc, id, pkt, w.pos, NULL, now);
}

static void handle_share_relays(tw_fconn *fc, fc_friend *f, const uint8_t *data, size_t len,
                                tw_time_ms now) {
  if (fc->cfg.tcp == NULL || !f->tcp_known) return;
  tw_reader r = tw_reader_init(data + 1, len - 1);
  tw_node_info nodes[TW_FCONN_SHARE_RELAYS_COUNT];
  size_t n = 0;
  while (tw_reader_left(&r) > 0 && n < TW_FCONN_SHARE_RELAYS_COUNT) {
    if (tw_node_info_unpack(&r, &nodes[n]) != TW_OK) break;
    /* A LAN relay of a friend we reach from outside its LAN is best tried
     * at the friend's own address (spec "Friend connection"). */
    tw_addr *a = &nodes[n].addr;
    if (tw_addr_is_lan(a) && tw_addr_is_set(&f->addr) && !tw_addr_is_lan(&f->addr)) {
      uint16_t port = a->port;
      *a = tw_addr_unmap(&f->addr);
      a->port = port;
    }
    n++;
  }
  tcp_add_relays(fc, f, nodes, n, now);
}

static void set_dht_key(tw_fconn *fc, uint32_t id, const tw_key *dht_pk, tw_time_ms now) {
  fc_friend *f = &fc->f[id];
  f->dht_at = now;
  if (f->dht_known && tw_key_equal(&f->dht_pk, dht_pk)) return;
  if (f->dht_known) tw_dht_search_remove(fc->cfg.dht, &f->dht_pk);
  f->dht_pk = *dht_pk;
  f->dht_known = true;
  memset(&f->addr, 0, sizeof f->addr); /* the address went with the old key */
  tw_nc_conn_set_dht_key(fc->cfg.nc, id, dht_pk, now);
  tw_dht_search_add(fc->cfg.dht, dht_pk, now);
  tcp_follow_key(fc, f, now);
  /* The DHT may know the node already. */
  tw_node_info found = {0};
  tw_node_info near[1];
  tw_dht_search_result(fc->cfg.dht, dht_pk, near, 0, &found, now);
  if (tw_addr_is_set(&found.addr)) {
    f->addr = found.addr;
    f->addr_at = now;
    tw_nc_conn_set_addr(fc->cfg.nc, id, &found.addr, now);
  }
}

/* The address we last had, or the one the DHT search found. */
static void try_address(tw_fconn *fc, uint32_t id, fc_friend *f, tw_time_ms now) {
  if (!tw_addr_is_set(&f->addr) && f->dht_known) {
    tw_node_info found = {0}, near[1];
    tw_dht_search_result(fc->cfg.dht, &f->dht_pk, near, 0, &found, now);
    f->addr = found.addr;
  }
  if (tw_addr_is_set(&f->addr)) tw_nc_conn_set_addr(fc->cfg.nc, id, &f->addr, now);
  tcp_offer(fc, id, f, now);
  update(fc, id, now);
}

static void forget_dht_key(tw_fconn *fc, fc_friend *f, tw_time_ms now) {
  if (!f->dht_known) return;
  tw_dht_search_remove(fc->cfg.dht, &f->dht_pk);
  f->dht_known = false;
  memset(&f->addr, 0, sizeof f->addr);
  tcp_follow_key(fc, f, now);
}

int tw_fconn_add(tw_fconn *fc, const tw_key *pk, uint32_t *friend_id, tw_time_ms now) {
  uint32_t id;
  if (tw_fconn_find(fc, pk, friend_id) == TW_OK) return TW_OK;
  int e = tw_nc_conn_add(fc->cfg.nc, pk, &id);
  if (e != TW_OK) return e;
  if (id >= fc->cap) {
    uint32_t cap = fc->cap ? fc->cap : 8;
    while (cap <= id) cap *= 2;
    fc_friend *p = realloc(fc->f, cap * sizeof *p);
    if (p == NULL) {
      tw_nc_conn_remove(fc->cfg.nc, id, now);
      return TW_E_NOMEM;
    }
    memset(p + fc->cap, 0, (cap - fc->cap) * sizeof *p);
    fc->f = p;
    fc->cap = cap;
  }
  e = tw_onion_friend_add(fc->cfg.onion, pk, now);
  if (e != TW_OK) {
    tw_nc_conn_remove(fc->cfg.nc, id, now);
    return e;
  }
  fc_friend *f = &fc->f[id];
  memset(f, 0, sizeof *f);
  f->used = true;
  f->pk = *pk;
  f->state = TW_FCONN_AWAITING_DHT_KEY;
  f->retry_at = TW_NEVER;
  *friend_id = id;
  tw_fconn_event ev = {.kind = TW_FCONN_EV_STATE, .time = now, .state = f->state,
                       .old_state = f->state};
  emit(fc, id, &ev);
  return TW_OK;
}

int tw_fconn_remove(tw_fconn *fc, uint32_t id, tw_time_ms now) {
  fc_friend *f = get(fc, id);
  if (f == NULL) return TW_E_NOTFOUND;
  forget_dht_key(fc, f, now);
  tw_onion_friend_remove(fc->cfg.onion, &f->pk);
  f->used = false; /* before the kill: no events for a removed friend */
  tw_nc_conn_remove(fc->cfg.nc, id, now);
  return TW_OK;
}

int tw_fconn_find(const tw_fconn *fc, const tw_key *pk, uint32_t *friend_id) {
  for (uint32_t i = 0; i < fc->cap; i++)
    if (fc->f[i].used && tw_key_equal(&fc->f[i].pk, pk)) {
      *friend_id = i;
      return TW_OK;
    }
  return TW_E_NOTFOUND;
}

tw_fconn_state tw_fconn_get_state(const tw_fconn *fc, uint32_t id) {
  const fc_friend *f = get(fc, id);
  return f ? f->state : TW_FCONN_AWAITING_DHT_KEY;
}

const tw_key *tw_fconn_peer(const tw_fconn *fc, uint32_t id) {
  const fc_friend *f = get(fc, id);
  return f ? &f->pk : NULL;
}

void tw_fconn_handle_onion_event(tw_fconn *fc, const tw_onion_event *ev) {
  if (ev->kind != TW_ONION_EV_FRIEND_DHT_KEY) return;
  uint32_t id;
  if (tw_fconn_find(fc, &ev->peer, &id) != TW_OK) return;
  set_dht_key(fc, id, &ev->dht_pk, ev->time);
  if (fc->cfg.tcp != NULL && tcp_add_relays(fc, &fc->f[id], ev->nodes, ev->node_count, ev->time) > 0)
    tcp_offer(fc, id, &fc->f[id], ev->time);
  update(fc, id, ev->time);
}

void tw_fconn_handle_search_found(tw_fconn *fc, const tw_key *dht_pk, const tw_addr *addr,
                                  tw_time_ms now) {
  for (uint32_t id = 0; id < fc->cap; id++) {
    fc_friend *f = &fc->f[id];
    if (!f->used || !f->dht_known || !tw_key_equal(&f->dht_pk, dht_pk)) continue;
    f->addr = *addr;
    f->addr_at = now;
    tw_nc_conn_set_addr(fc->cfg.nc, id, addr, now);
    update(fc, id, now);
  }
}

void tw_fconn_handle_nc_event(tw_fconn *fc, const tw_nc_event *ev) {
  fc_friend *f = get(fc, ev->conn);
  if (f == NULL) return;
  uint32_t id = ev->conn;
  switch (ev->kind) {
  case TW_NC_EV_STATE:
    if (!f->dht_known && (ev->state == TW_NC_NOT_CONFIRMED || ev->state == TW_NC_ESTABLISHED)) {
      /* A session with a key we had forgotten (stale while we looked for
       * the address): net_crypto still holds it; keep it for reconnecting. */
      tw_key k;
      if (tw_nc_conn_peer_dht(fc->cfg.nc, id, &k) == TW_OK) {
        f->dht_pk = k;
        f->dht_known = true;
        f->dht_at = ev->time;
        tw_dht_search_add(fc->cfg.dht, &k, ev->time);
        tcp_follow_key(fc, f, ev->time);
      }
    }
    if (ev->state == TW_NC_IDLE && ev->old_state != TW_NC_ESTABLISHED &&
        ev->reason == TW_E_EXPIRED) {
      /* No cookie or no handshake in time: the address is stale. The DHT
       * will report the node again when it answers. */
      memset(&f->addr, 0, sizeof f->addr);
    }
    update(fc, id, ev->time);
    break;
  case TW_NC_EV_DHT_KEY: {
    /* Learned from a handshake: the friend restarted, or told us first. */
    if (f->dht_known) tw_dht_search_remove(fc->cfg.dht, &f->dht_pk);
    f->dht_pk = ev->dht_pk;
    f->dht_known = true;
    f->dht_at = ev->time;
    tw_dht_search_add(fc->cfg.dht, &ev->dht_pk, ev->time);
    tcp_follow_key(fc, f, ev->time);
    update(fc, id, ev->time);
    break;
  }
  case TW_NC_EV_ADDR:
    if (tw_addr_is_tcp_peer(&ev->addr)) break; /* the relay address is tcp_follow_key's */
    f->addr = ev->addr;
    f->addr_at = ev->time;
    break;
  case TW_NC_EV_LOSSLESS:
  case TW_NC_EV_LOSSY: {
    f->last_recv = ev->time;
    uint8_t kind = ev->data[0];
    if (kind == TW_FCONN_ID_ALIVE) break;
    if (kind == TW_FCONN_ID_SHARE_RELAYS) {
      handle_share_relays(fc, f, ev->data, ev->len, ev->time);
      break;
    }
    tw_fconn_event out = {.kind = ev->kind == TW_NC_EV_LOSSY ? TW_FCONN_EV_LOSSY
                                                             : TW_FCONN_EV_LOSSLESS,
                          .time = ev->time, .state = f->state, .data = ev->data,
                          .len = ev->len};
    emit(fc, id, &out);
    break;
  }
  case TW_NC_EV_ACKED: {
    f->last_recv = ev->time;
    tw_fconn_event out = {.kind = TW_FCONN_EV_ACKED, .time = ev->time, .state = f->state};
    emit(fc, id, &out);
    break;
  }
  }
}

static tw_time_ms friend_deadline(const fc_friend *f) {
  tw_time_ms d = f->retry_at;
  if (f->state == TW_FCONN_ESTABLISHED) {
    tw_time_ms a = f->alive_sent + TW_FCONN_ALIVE_INTERVAL_MS;
    tw_time_ms r = f->relays_sent + TW_FCONN_SHARE_RELAYS_MS;
    if (r < a) a = r;
    tw_time_ms t = f->last_recv + TW_FCONN_ALIVE_TIMEOUT_MS;
    if (a < d) d = a;
    if (t < d) d = t;
  } else if (f->dht_known && f->state == TW_FCONN_ACQUIRING_IP_ADDRESS) {
    /* Only where on_timer acts on it: a stale key found mid-handshake
     * would be a deadline in the past that nothing clears (a busy loop);
     * it is acted on once the attempt ends in AcquiringIPAddress. */
    tw_time_ms s = f->dht_at + TW_FCONN_DHT_KEY_FRESH_MS;
    if (s < d) d = s;
  }
  return d;
}

void tw_fconn_on_timer(tw_fconn *fc, tw_time_ms now) {
  for (uint32_t id = 0; id < fc->cap; id++) {
    fc_friend *f = &fc->f[id];
    if (!f->used) continue;
    if (f->retry_at <= now) {
      f->retry_at = TW_NEVER;
      if (f->state == TW_FCONN_ACQUIRING_IP_ADDRESS) {
        try_address(fc, id, f, now);
        if (f->used && f->state == TW_FCONN_ACQUIRING_IP_ADDRESS)
          f->retry_at = now + TW_FCONN_RETRY_MS;
      }
    }
    if (f->state == TW_FCONN_ESTABLISHED) {
      if (now - f->last_recv >= TW_FCONN_ALIVE_TIMEOUT_MS) {
        tw_nc_conn_kill(fc->cfg.nc, id, now); /* the state event follows */
        continue;
      }
      if (f->relays_sent == 0 || now - f->relays_sent >= TW_FCONN_SHARE_RELAYS_MS)
        share_relays(fc, id, f, now);
      if (now - f->alive_sent >= TW_FCONN_ALIVE_INTERVAL_MS) {
        static const uint8_t alive[1] = {TW_FCONN_ID_ALIVE};
        /* A full window is traffic enough: no need to queue an alive. */
        tw_nc_send_lossless(fc->cfg.nc, id, alive, 1, NULL, now);
        f->alive_sent = now;
      }
    } else if (f->dht_known && now - f->dht_at >= TW_FCONN_DHT_KEY_FRESH_MS &&
               f->state == TW_FCONN_ACQUIRING_IP_ADDRESS) {
      forget_dht_key(fc, f, now);
      update(fc, id, now);
    }
  }
}

tw_time_ms tw_fconn_next_deadline(tw_fconn *fc) {
  tw_time_ms d = TW_NEVER;
  for (uint32_t id = 0; id < fc->cap; id++) {
    if (!fc->f[id].used) continue;
    tw_time_ms t = friend_deadline(&fc->f[id]);
    if (t < d) d = t;
  }
  return d;
}

int tw_fconn_send_lossless(tw_fconn *fc, uint32_t id, const uint8_t *data, size_t len,
                           uint32_t *number, tw_time_ms now) {
  if (get(fc, id) == NULL) return TW_E_NOTFOUND;
  return tw_nc_send_lossless(fc->cfg.nc, id, data, len, number, now);
}

int tw_fconn_send_lossy(tw_fconn *fc, uint32_t id, const uint8_t *data, size_t len,
                        tw_time_ms now) {
  if (get(fc, id) == NULL) return TW_E_NOTFOUND;
  return tw_nc_send_lossy(fc->cfg.nc, id, data, len, now);
}

bool tw_fconn_delivered(const tw_fconn *fc, uint32_t id, uint32_t number) {
  return get(fc, id) != NULL && tw_nc_conn_delivered(fc->cfg.nc, id, number);
}

uint32_t tw_fconn_send_space(const tw_fconn *fc, uint32_t id) {
  return get(fc, id) != NULL ? tw_nc_conn_send_space(fc->cfg.nc, id) : 0;
}

bool tw_fconn_via_tcp(const tw_fconn *fc, uint32_t id, tw_time_ms now) {
  const fc_friend *f = get(fc, id);
  return f != NULL && f->state == TW_FCONN_ESTABLISHED && !tw_nc_conn_is_direct(fc->cfg.nc, id, now);
}

const char *tw_fconn_state_name(tw_fconn_state s) {
  switch (s) {
  case TW_FCONN_AWAITING_DHT_KEY: return "AwaitingDHTKey";
  case TW_FCONN_ACQUIRING_IP_ADDRESS: return "AcquiringIPAddress";
  case TW_FCONN_ACQUIRING_COOKIE: return "AcquiringCookie";
  case TW_FCONN_AWAITING_HANDSHAKE: return "AwaitingHandshake";
  case TW_FCONN_AWAITING_SESSION_PACKET: return "AwaitingSessionPacket";
  case TW_FCONN_ESTABLISHED: return "Established";
  }
  return "unknown";
}
