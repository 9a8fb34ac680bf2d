/* Cookies: the stateless first step of a connection. A cookie request is
 * answered from the packet alone; the cookie is sealed under a key only we
 * know, which rotates (the previous one is kept), and carries its birth
 * time so it is refused after TW_NC_COOKIE_LIFETIME_MS. */
#include <string.h>

#include "core/packet_kind.h"
#include "netcrypto/nc_internal.h"

void tw_nc_cookie_key_rotate(tw_nc *nc, tw_time_ms now) {
  memcpy(nc->cookie_key[1], nc->cookie_key[0], TW_SHARED_KEY_SIZE);
  tw_random_bytes(&nc->env, nc->cookie_key[0], TW_SHARED_KEY_SIZE);
  nc->cookie_key_at = now;
}

void tw_nc_cookie_make(tw_nc *nc, uint8_t out[TW_NC_COOKIE_SIZE], const tw_key *real_pk,
                       const tw_key *dht_pk, tw_time_ms now) {
  tw_nc_cookie_plain p = {.time = now, .real_pk = *real_pk, .dht_pk = *dht_pk};
  uint8_t nonce[TW_NONCE_SIZE];
  tw_random_bytes(&nc->env, nonce, sizeof nonce);
  tw_nc_cookie_seal(out, &p, nonce, nc->cookie_key[0]);
}

int tw_nc_cookie_check(tw_nc *nc, tw_nc_cookie_plain *out, const uint8_t in[TW_NC_COOKIE_SIZE],
                       tw_time_ms now) {
  if (tw_nc_cookie_open(out, in, nc->cookie_key[0]) != TW_OK &&
      tw_nc_cookie_open(out, in, nc->cookie_key[1]) != TW_OK)
    return TW_E_CRYPTO;
  if (out->time > now || now - out->time > TW_NC_COOKIE_LIFETIME_MS) return TW_E_EXPIRED;
  return TW_OK;
}

void tw_nc_send_cookie_request(tw_nc *nc, nc_conn *c, tw_time_ms now) {
  if (c->tries == 0) c->echo_id = tw_random_u64(&nc->env);
  uint8_t shared[TW_SHARED_KEY_SIZE], nonce[TW_NONCE_SIZE];
  tw_keycache_get(nc->dht_keys, &c->peer_dht, now, shared);
  tw_random_bytes(&nc->env, nonce, sizeof nonce);
  uint8_t pkt[TW_NC_COOKIE_REQUEST_SIZE];
  tw_nc_cookie_request_encode(pkt, &nc->cfg.dht_keys.pk, &nc->cfg.self_keys.pk, c->echo_id, nonce,
                              shared);
  tw_crypto_wipe(shared, sizeof shared);
  tw_nc_transmit(nc, c, pkt, sizeof pkt, true, now);
  nc->stats.cookie_requests_out++;
  c->tries++;
  c->next_try = now + TW_NC_COOKIE_REQUEST_INTERVAL_MS;
}

int tw_nc_handle_cookie_request(tw_nc *nc, const tw_addr *from, const uint8_t *pkt, size_t len,
                                tw_time_ms now) {
  tw_key sender_dht;
  int e = tw_nc_cookie_request_peek(&sender_dht, pkt, len);
  if (e != TW_OK) return e;
  /* x25519 ignores a key's top bit: a flipped one would still open the box
   * and put a DHT key the sender never had into the cookie. */
  if (sender_dht.bytes[TW_PUBLIC_KEY_SIZE - 1] & 0x80) return TW_E_FORMAT;
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_keycache_get(nc->dht_keys, &sender_dht, now, shared);
  tw_key sender_real;
  uint64_t echo;
  e = tw_nc_cookie_request_open(&sender_real, &echo, pkt, len, shared);
  if (e == TW_OK) {
    /* Nothing of the request is kept: the cookie holds what we need. */
    uint8_t cookie[TW_NC_COOKIE_SIZE], nonce[TW_NONCE_SIZE], out[TW_NC_COOKIE_RESPONSE_SIZE];
    tw_nc_cookie_make(nc, cookie, &sender_real, &sender_dht, now);
    tw_random_bytes(&nc->env, nonce, sizeof nonce);
    tw_nc_cookie_response_encode(out, cookie, echo, nonce, shared);
    nc->cfg.send(nc->cfg.send_ctx, from, out, sizeof out);
    nc->stats.cookie_requests_in++;
    nc->stats.cookie_responses_out++;
  }
  tw_crypto_wipe(shared, sizeof shared);
  return e;
}

int tw_nc_handle_cookie_response(tw_nc *nc, const tw_addr *from, const uint8_t *pkt,
                                 size_t len, tw_time_ms now) {
  if (len != TW_NC_COOKIE_RESPONSE_SIZE) return len < TW_NC_COOKIE_RESPONSE_SIZE ? TW_E_SHORT : TW_E_LONG;
  /* Only a connection asking this address for a cookie can be the addressee. */
  for (uint32_t i = 0; i < nc->conn_cap; i++) {
    nc_conn *c = &nc->conns[i];
    if (!c->used || c->remove_pending || c->state != TW_NC_COOKIE_REQUESTING) continue;
    if (!tw_addr_equal(&c->addr, from) && !tw_addr_equal(&c->tcp, from)) continue;
    uint8_t shared[TW_SHARED_KEY_SIZE], cookie[TW_NC_COOKIE_SIZE];
    uint64_t echo;
    tw_keycache_get(nc->dht_keys, &c->peer_dht, now, shared);
    int e = tw_nc_cookie_response_open(cookie, &echo, pkt, len, shared);
    tw_crypto_wipe(shared, sizeof shared);
    if (e != TW_OK) continue;
    if (echo != c->echo_id) return TW_E_UNSOLICITED;
    tw_nc_conn_is_from(c, from, now);
    memcpy(c->cookie, cookie, sizeof cookie);
    c->have_cookie = true;
    nc->stats.cookie_responses_in++;
    c->tries = 0;
    tw_nc_send_handshake(nc, c, now);
    tw_nc_set_state(nc, c, TW_NC_HANDSHAKE_SENT, TW_OK, now);
    return TW_OK;
  }
  return TW_E_UNSOLICITED;
}
