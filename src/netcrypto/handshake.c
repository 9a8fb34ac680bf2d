/* The handshake: each side sends one, built once per session, carrying its
 * base nonce, a session key and a cookie for the other's reply. Receiving
 * the peer's makes the connection "accepted" (NOT_CONFIRMED); its first
 * data packet confirms it (session_recv.c). */
#include <string.h>

#include "netcrypto/nc_internal.h"

static void session_start(tw_nc *nc, nc_conn *c) {
  tw_keypair_generate(&c->session, &nc->env);
  tw_random_bytes(&nc->env, c->send_nonce, sizeof c->send_nonce);
  c->session_made = true;
}

static void build_handshake(tw_nc *nc, nc_conn *c, tw_time_ms now) {
  if (!c->session_made) session_start(nc, c);
  tw_nc_handshake_plain h;
  memcpy(h.base_nonce, c->send_nonce, TW_NONCE_SIZE);
  h.session_pk = c->session.pk;
  tw_nc_cookie_make(nc, h.other_cookie, &c->peer, &c->peer_dht, now);
  uint8_t nonce[TW_NONCE_SIZE];
  tw_random_bytes(&nc->env, nonce, sizeof nonce);
  tw_nc_handshake_encode(c->handshake, c->cookie, &h, nonce, c->longterm_shared);
  tw_crypto_wipe(&h, sizeof h);
  c->handshake_built = true;
}

void tw_nc_send_handshake(tw_nc *nc, nc_conn *c, tw_time_ms now) {
  if (!c->handshake_built) {
    if (!c->have_cookie) return;
    build_handshake(nc, c, now);
  }
  tw_nc_transmit(nc, c, c->handshake, TW_NC_HANDSHAKE_SIZE, true, now);
  nc->stats.handshakes_out++;
  c->tries++;
  c->next_try = now + TW_NC_HANDSHAKE_INTERVAL_MS;
  /* An accepted session also sends data: that is what confirms it at the
   * peer once our handshake is there. */
  if (c->state == TW_NC_NOT_CONFIRMED) tw_nc_send_packet_request(nc, c, now);
}

static void learn_addr(tw_nc *nc, nc_conn *c, const tw_addr *from, tw_time_ms now) {
  tw_addr *slot = tw_addr_is_tcp_peer(from) ? &c->tcp : &c->addr;
  tw_nc_conn_is_from(c, from, now);
  if (tw_addr_equal(slot, from)) return;
  *slot = *from;
  tw_nc_event ev = {.kind = TW_NC_EV_ADDR, .time = now, .addr = *from};
  tw_nc_emit(nc, c, &ev);
}

int tw_nc_handle_handshake(tw_nc *nc, const tw_addr *from, const uint8_t *pkt, size_t len,
                           tw_time_ms now) {
  const uint8_t *outer;
  int e = tw_nc_handshake_peek(&outer, pkt, len);
  if (e != TW_OK) return e;
  tw_nc_cookie_plain ck;
  e = tw_nc_cookie_check(nc, &ck, outer, now);
  if (e != TW_OK) return e;
  uint32_t id;
  if (tw_nc_conn_find(nc, &ck.real_pk, &id) != TW_OK) return TW_E_NOTFOUND;
  nc_conn *c = &nc->conns[id];
  tw_nc_handshake_plain h;
  e = tw_nc_handshake_open(&h, pkt, len, c->longterm_shared);
  if (e != TW_OK) return e;
  nc->stats.handshakes_in++;
  uint32_t gen = c->gen;

  bool new_dht = !c->peer_dht_known || !tw_key_equal(&c->peer_dht, &ck.dht_pk);
  if (new_dht) {
    /* The peer restarted (or we learn its DHT key here first). */
    if (c->state != TW_NC_IDLE) tw_nc_session_reset(nc, c, TW_E_REPLAY, now);
    c->peer_dht = ck.dht_pk;
    c->peer_dht_known = true;
    tw_nc_event ev = {.kind = TW_NC_EV_DHT_KEY, .time = now, .dht_pk = ck.dht_pk};
    tw_nc_emit(nc, c, &ev);
    if (!c->used || c->remove_pending) goto out;
    gen = c->gen;
  } else if (c->state == TW_NC_ESTABLISHED) {
    /* A late copy must not disturb a live session. But a peer repeating
     * its handshake has not had our data yet (the packet that confirmed us
     * was not answered, or ours was lost): data tells it, or it gives up
     * after TW_NC_HANDSHAKE_TRIES while we hold on to the session. */
    if (c->peer_session_known && tw_key_equal(&c->peer_session, &h.session_pk)) {
      tw_nc_send_packet_request(nc, c, now);
      goto out;
    }
    /* A new session from the same peer while ours has heard nothing for a
     * while: ours is dead on the peer's side (it timed out, or our kill
     * was lost). Take the new one rather than wait for the alive timeout. */
    if (now - c->last_recv < TW_NC_STALE_SESSION_MS) goto out;
    tw_nc_session_reset(nc, c, TW_E_REPLAY, now);
    if (!c->used || c->remove_pending) goto out;
    gen = c->gen;
  }
  if (c->state == TW_NC_NOT_CONFIRMED && c->peer_session_known &&
      tw_key_equal(&c->peer_session, &h.session_pk)) {
    /* A repeat: the peer has not seen our data yet. */
    tw_nc_send_packet_request(nc, c, now);
    goto out;
  }
  if (c->state == TW_NC_NOT_CONFIRMED) {
    /* The peer began a new session: ours starts over with it. */
    tw_nc_ring_clear(nc, &c->send);
    tw_nc_ring_clear(nc, &c->recv);
    c->next_new = 0;
    c->in_flight = c->resend_pending = 0;
  }
  if (!c->session_made) session_start(nc, c);
  c->peer_session = h.session_pk;
  c->peer_session_known = true;
  memcpy(c->recv_nonce, h.base_nonce, TW_NONCE_SIZE);
  tw_shared_key_compute(c->session_shared, &c->peer_session, c->session.sk);
  if (!c->handshake_built) {
    memcpy(c->cookie, h.other_cookie, TW_NC_COOKIE_SIZE);
    c->have_cookie = true;
  }
  learn_addr(nc, c, from, now);
  if (c->gen != gen || !c->used) goto out;
  c->window = TW_NC_INITIAL_WINDOW;
  c->ssthresh = TW_NC_BUFFER_PACKETS;
  c->srtt_ms = c->rttvar_ms = c->min_rtt_ms = 0;
  c->ack_due = TW_NEVER;
  c->last_recv = now;
  c->tries = 0;
  tw_nc_set_state(nc, c, TW_NC_NOT_CONFIRMED, TW_OK, now);
  if (c->gen == gen && c->state == TW_NC_NOT_CONFIRMED) tw_nc_send_handshake(nc, c, now);
out:
  tw_crypto_wipe(&h, sizeof h);
  return TW_OK;
}
