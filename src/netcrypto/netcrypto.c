/* net_crypto: connections, dispatch of the four packet kinds, timers. The
 * packets themselves are handled in cookie.c, handshake.c and session_*.c. */
#include <stdlib.h>
#include <string.h>

#include "core/packet_kind.h"
#include "netcrypto/nc_internal.h"

#define POOL_MAX 4096 /* free packet buffers kept for reuse */

static int count_drop(tw_nc *nc, int err) {
  if (err < 0 && err > TW_E__LAST) {
    nc->stats.dropped[-err]++;
    nc->stats.dropped_total++;
  }
  return err;
}

tw_nc *tw_nc_new(const tw_nc_config *cfg, const tw_env *env, tw_time_ms now) {
  if (cfg == NULL || env == NULL || cfg->send == NULL) return NULL;
  tw_nc *nc = calloc(1, sizeof *nc);
  if (nc == NULL) return NULL;
  nc->cfg = *cfg;
  nc->env = *env;
  nc->dht_keys = tw_keycache_new(TW_NC_KEY_CACHE, cfg->dht_keys.sk, env);
  if (nc->dht_keys == NULL) {
    free(nc);
    return NULL;
  }
  tw_random_bytes(env, nc->cookie_key[0], TW_SHARED_KEY_SIZE);
  tw_random_bytes(env, nc->cookie_key[1], TW_SHARED_KEY_SIZE);
  nc->cookie_key_at = now;
  return nc;
}

static void conn_clear(tw_nc *nc, nc_conn *c) {
  tw_nc_ring_clear(nc, &c->send);
  tw_nc_ring_clear(nc, &c->recv);
  free(c->send.slot);
  free(c->recv.slot);
  tw_crypto_wipe(c, sizeof *c);
}

void tw_nc_free(tw_nc *nc) {
  if (nc == NULL) return;
  for (uint32_t i = 0; i < nc->conn_cap; i++)
    if (nc->conns[i].used) conn_clear(nc, &nc->conns[i]);
  free(nc->conns);
  for (size_t i = 0; i < nc->pool_count; i++) free(nc->pool[i]);
  free(nc->pool);
  tw_keycache_free(nc->dht_keys);
  tw_crypto_wipe(nc, sizeof *nc);
  free(nc);
}

uint8_t *tw_nc_buf_get(tw_nc *nc) {
  if (nc->pool_count > 0) return nc->pool[--nc->pool_count];
  return malloc(TW_NC_MAX_DATA_SIZE);
}

void tw_nc_buf_put(tw_nc *nc, uint8_t *b) {
  if (b == NULL) return;
  if (nc->pool_count == nc->pool_cap && nc->pool_cap < POOL_MAX) {
    size_t cap = nc->pool_cap ? nc->pool_cap * 2 : 64;
    uint8_t **p = realloc(nc->pool, cap * sizeof *p);
    if (p != NULL) {
      nc->pool = p;
      nc->pool_cap = cap;
    }
  }
  if (nc->pool_count < nc->pool_cap)
    nc->pool[nc->pool_count++] = b;
  else
    free(b);
}

nc_conn *tw_nc_conn_get(tw_nc *nc, uint32_t id) {
  if (id >= nc->conn_cap || !nc->conns[id].used || nc->conns[id].remove_pending) return NULL;
  return &nc->conns[id];
}

void tw_nc_emit(tw_nc *nc, nc_conn *c, tw_nc_event *ev) {
  ev->conn = c->id;
  ev->peer = &c->peer;
  if (nc->cfg.on_event != NULL) nc->cfg.on_event(nc->cfg.event_ctx, ev);
}

void tw_nc_set_state(tw_nc *nc, nc_conn *c, tw_nc_state s, int reason, tw_time_ms now) {
  if (c->state == s) return;
  tw_nc_state old = c->state;
  if (old == TW_NC_ESTABLISHED) nc->stats.established--;
  if (s == TW_NC_ESTABLISHED) nc->stats.established++;
  c->state = s;
  c->stats.state = s;
  tw_nc_event ev = {.kind = TW_NC_EV_STATE, .time = now, .state = s, .old_state = old,
                    .reason = reason};
  tw_nc_emit(nc, c, &ev);
}

void tw_nc_session_reset(tw_nc *nc, nc_conn *c, int reason, tw_time_ms now) {
  tw_nc_ring_clear(nc, &c->send);
  tw_nc_ring_clear(nc, &c->recv);
  c->gen++;
  c->have_cookie = false;
  c->handshake_built = false;
  c->peer_session_known = false;
  c->session_made = false;
  c->next_new = 0;
  tw_crypto_wipe(&c->session, sizeof c->session);
  tw_crypto_wipe(c->session_shared, sizeof c->session_shared);
  tw_crypto_wipe(c->recv_nonce, sizeof c->recv_nonce);
  tw_crypto_wipe(c->send_nonce, sizeof c->send_nonce);
  c->tries = 0;
  c->next_try = TW_NEVER;
  c->ack_due = TW_NEVER;
  c->in_flight = c->resend_pending = 0;
  tw_nc_set_state(nc, c, TW_NC_IDLE, reason, now);
}

bool tw_nc_handles_kind(uint8_t kind) {
  return kind == TW_PACKET_COOKIE_REQUEST || kind == TW_PACKET_COOKIE_RESPONSE ||
         kind == TW_PACKET_CRYPTO_HANDSHAKE || kind == TW_PACKET_CRYPTO_DATA;
}

static void remove_pending(tw_nc *nc) {
  for (uint32_t i = 0; i < nc->conn_cap; i++) {
    nc_conn *c = &nc->conns[i];
    if (c->used && c->remove_pending) {
      conn_clear(nc, c);
      nc->stats.connections--;
    }
  }
}

int tw_nc_handle_packet(tw_nc *nc, const tw_addr *from, const uint8_t *pkt, size_t len,
                        tw_time_ms now) {
  if (len == 0) return count_drop(nc, TW_E_SHORT);
  nc->in_handler = true;
  int e;
  switch (pkt[0]) {
  case TW_PACKET_COOKIE_REQUEST: e = tw_nc_handle_cookie_request(nc, from, pkt, len, now); break;
  case TW_PACKET_COOKIE_RESPONSE: e = tw_nc_handle_cookie_response(nc, from, pkt, len, now); break;
  case TW_PACKET_CRYPTO_HANDSHAKE: e = tw_nc_handle_handshake(nc, from, pkt, len, now); break;
  case TW_PACKET_CRYPTO_DATA: e = tw_nc_handle_data(nc, from, pkt, len, now); break;
  default: e = TW_E_KIND;
  }
  nc->in_handler = false;
  remove_pending(nc);
  return count_drop(nc, e);
}

static void conn_timers(tw_nc *nc, nc_conn *c, tw_time_ms now) {
  if (c->next_try <= now) {
    if (c->state == TW_NC_COOKIE_REQUESTING) {
      if (c->tries >= TW_NC_COOKIE_REQUEST_TRIES) {
        tw_nc_session_reset(nc, c, TW_E_EXPIRED, now);
      } else {
        tw_nc_send_cookie_request(nc, c, now);
      }
    } else if (c->state == TW_NC_HANDSHAKE_SENT || c->state == TW_NC_NOT_CONFIRMED) {
      if (c->tries >= TW_NC_HANDSHAKE_TRIES) {
        tw_nc_session_reset(nc, c, TW_E_EXPIRED, now);
      } else {
        tw_nc_send_handshake(nc, c, now);
      }
    } else {
      c->next_try = TW_NEVER;
    }
  }
  if (c->state == TW_NC_ESTABLISHED || c->state == TW_NC_NOT_CONFIRMED)
    tw_nc_send_timers(nc, c, now);
}

void tw_nc_on_timer(tw_nc *nc, tw_time_ms now) {
  if (now >= nc->cookie_key_at + TW_NC_COOKIE_KEY_LIFETIME_MS) tw_nc_cookie_key_rotate(nc, now);
  nc->in_handler = true;
  for (uint32_t i = 0; i < nc->conn_cap; i++) {
    nc_conn *c = &nc->conns[i];
    if (c->used && !c->remove_pending) conn_timers(nc, c, now);
  }
  nc->in_handler = false;
  remove_pending(nc);
}

tw_time_ms tw_nc_next_deadline(tw_nc *nc) {
  tw_time_ms d = nc->cookie_key_at + TW_NC_COOKIE_KEY_LIFETIME_MS;
  for (uint32_t i = 0; i < nc->conn_cap; i++) {
    const nc_conn *c = &nc->conns[i];
    if (!c->used || c->remove_pending) continue;
    if (c->next_try < d) d = c->next_try;
    if (c->state == TW_NC_ESTABLISHED || c->state == TW_NC_NOT_CONFIRMED) {
      tw_time_ms s = tw_nc_send_deadline(c);
      if (s < d) d = s;
    }
  }
  return d;
}

int tw_nc_conn_add(tw_nc *nc, const tw_key *peer, uint32_t *conn) {
  if (peer == NULL || conn == NULL) return TW_E_INVAL;
  if (tw_key_equal(peer, &nc->cfg.self_keys.pk)) return TW_E_INVAL;
  if (tw_nc_conn_find(nc, peer, conn) == TW_OK) return TW_OK;
  uint32_t id = nc->conn_cap;
  for (uint32_t i = 0; i < nc->conn_cap; i++)
    if (!nc->conns[i].used) {
      id = i;
      break;
    }
  if (id == nc->conn_cap) {
    if (nc->conn_cap >= TW_NC_MAX_CONNECTIONS) return TW_E_FULL;
    uint32_t cap = nc->conn_cap ? nc->conn_cap * 2 : 8;
    if (cap > TW_NC_MAX_CONNECTIONS) cap = TW_NC_MAX_CONNECTIONS;
    nc_conn *p = realloc(nc->conns, cap * sizeof *p);
    if (p == NULL) return TW_E_NOMEM;
    memset(p + nc->conn_cap, 0, (cap - nc->conn_cap) * sizeof *p);
    nc->conns = p;
    nc->conn_cap = cap;
  }
  nc_conn *c = &nc->conns[id];
  memset(c, 0, sizeof *c);
  c->used = true;
  c->id = id;
  c->peer = *peer;
  tw_shared_key_compute(c->longterm_shared, peer, nc->cfg.self_keys.sk);
  c->state = TW_NC_IDLE;
  c->next_try = TW_NEVER;
  c->ack_due = TW_NEVER;
  c->window = TW_NC_INITIAL_WINDOW;
  c->ssthresh = TW_NC_BUFFER_PACKETS;
  nc->stats.connections++;
  *conn = id;
  return TW_OK;
}

int tw_nc_conn_remove(tw_nc *nc, uint32_t id, tw_time_ms now) {
  nc_conn *c = tw_nc_conn_get(nc, id);
  if (c == NULL) return TW_E_NOTFOUND;
  tw_nc_conn_kill(nc, id, now);
  c->remove_pending = true;
  if (!nc->in_handler) remove_pending(nc);
  return TW_OK;
}

int tw_nc_conn_find(const tw_nc *nc, const tw_key *peer, uint32_t *conn) {
  for (uint32_t i = 0; i < nc->conn_cap; i++) {
    const nc_conn *c = &nc->conns[i];
    if (c->used && !c->remove_pending && tw_key_equal(&c->peer, peer)) {
      *conn = i;
      return TW_OK;
    }
  }
  return TW_E_NOTFOUND;
}

int tw_nc_conn_set_dht_key(tw_nc *nc, uint32_t id, const tw_key *dht_pk, tw_time_ms now) {
  nc_conn *c = tw_nc_conn_get(nc, id);
  if (c == NULL) return TW_E_NOTFOUND;
  if (c->peer_dht_known && tw_key_equal(&c->peer_dht, dht_pk)) return TW_OK;
  /* A new DHT key means the peer restarted: the old session is dead. */
  if (c->state != TW_NC_IDLE) tw_nc_conn_kill(nc, id, now);
  c->peer_dht = *dht_pk;
  c->peer_dht_known = true;
  return TW_OK;
}

bool tw_nc_conn_is_from(nc_conn *c, const tw_addr *from, tw_time_ms now) {
  if (tw_addr_is_set(&c->addr) && tw_addr_equal(&c->addr, from)) {
    c->udp_recv_at = now;
    return true;
  }
  return tw_addr_is_tcp_peer(&c->tcp) && tw_addr_equal(&c->tcp, from);
}

void tw_nc_transmit(tw_nc *nc, nc_conn *c, const uint8_t *pkt, size_t len, bool every_path,
                    tw_time_ms now) {
  bool udp = tw_addr_is_set(&c->addr), tcp = tw_addr_is_tcp_peer(&c->tcp);
  bool direct = udp && c->udp_recv_at != 0 && now - c->udp_recv_at < TW_NC_UDP_DIRECT_MS;
  if (!tcp || direct) {
    if (udp) nc->cfg.send(nc->cfg.send_ctx, &c->addr, pkt, len);
    return;
  }
  nc->cfg.send(nc->cfg.send_ctx, &c->tcp, pkt, len);
  if (udp && (every_path || c->udp_probe_at == 0 || now - c->udp_probe_at >= TW_NC_UDP_PROBE_MS)) {
    c->udp_probe_at = now;
    nc->cfg.send(nc->cfg.send_ctx, &c->addr, pkt, len);
  }
}

bool tw_nc_conn_is_direct(const tw_nc *nc, uint32_t id, tw_time_ms now) {
  if (id >= nc->conn_cap || !nc->conns[id].used) return false;
  const nc_conn *c = &nc->conns[id];
  return tw_addr_is_set(&c->addr) && c->udp_recv_at != 0 && now - c->udp_recv_at < TW_NC_UDP_DIRECT_MS;
}

/* A UDP address, or a TW_AF_TCP_PEER one from tw_tcp_conns: the session
 * may use both, and prefers UDP while it works. */
int tw_nc_conn_set_addr(tw_nc *nc, uint32_t id, const tw_addr *addr, tw_time_ms now) {
  nc_conn *c = tw_nc_conn_get(nc, id);
  if (c == NULL) return TW_E_NOTFOUND;
  bool tcp = tw_addr_is_tcp_peer(addr);
  if (!tw_addr_is_set(addr) && !tcp) return TW_E_ADDR;
  if (!c->peer_dht_known) return TW_E_INVAL;
  bool live = c->state == TW_NC_ESTABLISHED || c->state == TW_NC_NOT_CONFIRMED;
  /* A live session keeps a UDP address that works (or its only one). */
  if (live && !tcp && (!tw_addr_is_tcp_peer(&c->tcp) || tw_nc_conn_is_direct(nc, id, now)))
    return TW_OK;
  tw_addr *slot = tcp ? &c->tcp : &c->addr;
  bool same = tw_addr_equal(slot, addr);
  *slot = *addr;
  if (!same && !tcp) c->udp_recv_at = 0;
  if (live) return TW_OK;
  if (c->state != TW_NC_IDLE && same) return TW_OK;
  if (c->state == TW_NC_IDLE) {
    c->tries = 0;
    tw_nc_set_state(nc, c, TW_NC_COOKIE_REQUESTING, TW_OK, now);
    tw_nc_send_cookie_request(nc, c, now);
  }
  return TW_OK;
}

int tw_nc_conn_kill(tw_nc *nc, uint32_t id, tw_time_ms now) {
  nc_conn *c = tw_nc_conn_get(nc, id);
  if (c == NULL) return TW_E_NOTFOUND;
  if (c->state == TW_NC_ESTABLISHED || c->state == TW_NC_NOT_CONFIRMED) {
    static const uint8_t kill[1] = {TW_NC_ID_KILL};
    tw_nc_send_data_packet(nc, c, c->next_new, kill, sizeof kill, now);
  }
  if (c->state != TW_NC_IDLE) tw_nc_session_reset(nc, c, TW_OK, now);
  return TW_OK;
}

tw_nc_state tw_nc_conn_state(const tw_nc *nc, uint32_t id) {
  if (id >= nc->conn_cap || !nc->conns[id].used) return TW_NC_IDLE;
  return nc->conns[id].state;
}

int tw_nc_conn_peer_dht(const tw_nc *nc, uint32_t id, tw_key *out) {
  if (id >= nc->conn_cap || !nc->conns[id].used || !nc->conns[id].peer_dht_known)
    return TW_E_NOTFOUND;
  *out = nc->conns[id].peer_dht;
  return TW_OK;
}

int tw_nc_conn_get_stats(const tw_nc *nc, uint32_t id, tw_nc_conn_stats *out) {
  if (id >= nc->conn_cap || !nc->conns[id].used) return TW_E_NOTFOUND;
  const nc_conn *c = &nc->conns[id];
  *out = c->stats;
  out->state = c->state;
  out->in_flight = c->in_flight;
  out->window = c->window;
  out->rtt_ms = c->srtt_ms;
  uint32_t held = 0;
  for (uint32_t n = c->recv.start; n != c->recv.end; n++)
    if (c->recv.slot[n & (c->recv.cap - 1)].data != NULL) held++;
  out->recv_held = held;
  return TW_OK;
}

bool tw_nc_conn_delivered(const tw_nc *nc, uint32_t id, uint32_t number) {
  if (id >= nc->conn_cap || !nc->conns[id].used) return false;
  const nc_conn *c = &nc->conns[id];
  /* Below start, within the 2^31 numbers before it. */
  return (uint32_t)(c->send.start - number - 1) < 0x80000000u;
}

uint32_t tw_nc_conn_send_space(const tw_nc *nc, uint32_t id) {
  if (id >= nc->conn_cap || !nc->conns[id].used) return 0;
  const nc_conn *c = &nc->conns[id];
  if (c->state != TW_NC_ESTABLISHED) return 0;
  /* Queue about two windows: enough to keep the link full, little memory. */
  uint32_t limit = 2 * c->window + 64;
  if (limit > TW_NC_BUFFER_PACKETS) limit = TW_NC_BUFFER_PACKETS;
  uint32_t used = c->send.end - c->send.start;
  return used >= limit ? 0 : limit - used;
}

void tw_nc_get_stats(const tw_nc *nc, tw_nc_stats *out) { *out = nc->stats; }

const char *tw_nc_state_name(tw_nc_state s) {
  switch (s) {
  case TW_NC_IDLE: return "idle";
  case TW_NC_COOKIE_REQUESTING: return "cookie_requesting";
  case TW_NC_HANDSHAKE_SENT: return "handshake_sent";
  case TW_NC_NOT_CONFIRMED: return "not_confirmed";
  case TW_NC_ESTABLISHED: return "established";
  }
  return "unknown";
}
