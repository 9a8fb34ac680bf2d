/* The onion object: creating it, dispatching packets to the relay
 * (onion_relay.c), the announce node (announce_node.c) and the client
 * (onion_client.c, onion_client_data.c), and its timers and stats. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "onion/onion_internal.h"

const char tw_onion_log_module[] = "onion";

void tw_onion_send(tw_onion *o, const tw_addr *to, const uint8_t *pkt, size_t len) {
  o->cfg.send(o->cfg.send_ctx, to, pkt, len);
}

int tw_onion_drop(tw_onion *o, int err) {
  if (err < 0 && err > TW_E__LAST) {
    o->stats.dropped[-err]++;
    o->stats.dropped_total++;
  }
  return err;
}

tw_onion *tw_onion_new(const tw_onion_config *cfg, const tw_env *env, tw_time_ms now) {
  if (cfg == NULL || env == NULL || cfg->dht == NULL || cfg->send == NULL ||
      env->random_bytes == NULL || tw_crypto_init() != TW_OK)
    return NULL;
  tw_onion *o = calloc(1, sizeof *o);
  if (o == NULL) return NULL;
  o->cfg = *cfg;
  o->env = *env;
  o->keys = tw_keycache_new(TW_ONION_DEFAULT_KEY_CACHE, cfg->dht_keys.sk, env);
  o->nentries_max = cfg->announce_store
                        ? (cfg->announce_entries ? cfg->announce_entries : TW_ANNOUNCE_DEFAULT_ENTRIES)
                        : 0;
  o->entries = o->nentries_max ? calloc(o->nentries_max, sizeof *o->entries) : NULL;
  if (o->keys == NULL || (o->nentries_max && o->entries == NULL)) goto fail;
  tw_random_bytes(env, o->ret_key[0], TW_SHARED_KEY_SIZE);
  tw_random_bytes(env, o->ret_key[1], TW_SHARED_KEY_SIZE);
  o->ret_rotated_at = now;
  tw_random_bytes(env, o->ping_secret, sizeof o->ping_secret);
  if (cfg->client) {
    o->client = tw_onion_client_new(o, now);
    if (o->client == NULL) goto fail;
  }
  return o;
fail:
  tw_onion_free(o);
  return NULL;
}

void tw_onion_free(tw_onion *o) {
  if (o == NULL) return;
  tw_onion_client_free(o->client);
  tw_keycache_free(o->keys);
  free(o->entries);
  tw_crypto_wipe(o, sizeof *o);
  free(o);
}

bool tw_onion_handles_kind(uint8_t kind) {
  switch (kind) {
  case TW_PACKET_ONION_REQUEST_0:
  case TW_PACKET_ONION_REQUEST_1:
  case TW_PACKET_ONION_REQUEST_2:
  case TW_PACKET_ANNOUNCE_REQUEST:
  case TW_PACKET_ANNOUNCE_RESPONSE:
  case TW_PACKET_ONION_DATA_REQUEST:
  case TW_PACKET_ONION_DATA_RESPONSE:
  case TW_PACKET_ANNOUNCE_REQUEST_NEW:
  case TW_PACKET_ANNOUNCE_RESPONSE_NEW:
  case TW_PACKET_ONION_RESPONSE_3:
  case TW_PACKET_ONION_RESPONSE_2:
  case TW_PACKET_ONION_RESPONSE_1:
    return true;
  default:
    return false;
  }
}

int tw_onion_handle_packet(tw_onion *o, const tw_addr *from, const uint8_t *pkt, size_t len,
                           tw_time_ms now) {
  if (len == 0) return tw_onion_drop(o, TW_E_SHORT);
  int rc;
  switch (pkt[0]) {
  case TW_PACKET_ONION_REQUEST_0:
  case TW_PACKET_ONION_REQUEST_1:
  case TW_PACKET_ONION_REQUEST_2:
    rc = tw_onion_handle_onion_request(o, from, pkt, len, now);
    break;
  case TW_PACKET_ONION_RESPONSE_3:
  case TW_PACKET_ONION_RESPONSE_2:
  case TW_PACKET_ONION_RESPONSE_1:
    rc = tw_onion_handle_onion_response(o, from, pkt, len, now);
    break;
  case TW_PACKET_ANNOUNCE_REQUEST:
  case TW_PACKET_ANNOUNCE_REQUEST_NEW:
    rc = tw_onion_handle_announce_request(o, from, pkt, len, now);
    break;
  case TW_PACKET_ONION_DATA_REQUEST:
    rc = tw_onion_handle_data_route_request(o, from, pkt, len, now);
    break;
  case TW_PACKET_ANNOUNCE_RESPONSE:
    rc = o->client ? tw_onion_handle_announce_response(o, from, pkt, len, now) : TW_E_DISABLED;
    break;
  case TW_PACKET_ONION_DATA_RESPONSE:
    rc = o->client ? tw_onion_handle_data_route_response(o, from, pkt, len, now) : TW_E_DISABLED;
    break;
  default:
    rc = TW_E_KIND;
    break;
  }
  return rc == TW_OK ? TW_OK : tw_onion_drop(o, rc);
}

int tw_onion_handle_dht_request(tw_onion *o, const tw_key *sender, const tw_addr *from,
                                const uint8_t *plain, size_t len, tw_time_ms now) {
  (void)sender;
  (void)from;
  if (len == 0 || plain[0] != TW_DHTPK_KIND) return TW_E_KIND;
  if (o->client == NULL) return tw_onion_drop(o, TW_E_DISABLED);
  /* [0x9c][sender long-term pk][nonce][box(dhtpk packet)] */
  if (len < TW_DHTPK_DHT_MIN) return tw_onion_drop(o, TW_E_SHORT);
  tw_reader r = tw_reader_init(plain, len);
  tw_read_u8(&r);
  tw_key real;
  tw_read_bytes(&r, real.bytes, TW_PUBLIC_KEY_SIZE);
  const uint8_t *nonce = tw_read_span(&r, TW_NONCE_SIZE);
  size_t clen;
  const uint8_t *cipher = tw_read_rest(&r, &clen);
  if (clen - TW_MAC_SIZE > TW_DHTPK_MAX) return tw_onion_drop(o, TW_E_LONG);
  if (tw_onion_find_friend(o->client, &real) == NULL) return tw_onion_drop(o, TW_E_NOTFOUND);
  uint8_t shared[TW_SHARED_KEY_SIZE], inner[TW_DHTPK_MAX];
  tw_shared_key_compute(shared, &real, o->client->self.sk);
  int rc = tw_box_open(inner, cipher, clen, nonce, shared);
  tw_crypto_wipe(shared, sizeof shared);
  if (rc != TW_OK) return tw_onion_drop(o, rc);
  rc = tw_onion_handle_dhtpk(o, &real, inner, clen - TW_MAC_SIZE, TW_ONION_ROUTE_DHT, now);
  return rc == TW_OK ? TW_OK : tw_onion_drop(o, rc);
}

void tw_onion_on_timer(tw_onion *o, tw_time_ms now) {
  if (now - o->ret_rotated_at >= TW_ONION_RETURN_KEY_LIFETIME_MS) tw_onion_rotate_return_key(o, now);
  if (o->client) tw_onion_client_on_timer(o, now);
}

tw_time_ms tw_onion_next_deadline(tw_onion *o) {
  tw_time_ms t = o->ret_rotated_at + TW_ONION_RETURN_KEY_LIFETIME_MS;
  if (o->client && o->client->deadline < t) t = o->client->deadline;
  return t;
}

void tw_onion_get_stats(const tw_onion *o, tw_onion_stats *out, tw_time_ms now) {
  *out = o->stats;
  out->announce_entries = o->entries ? tw_onion_count_entries(o, now) : 0;
  if (o->client) {
    uint32_t alive = 0;
    for (int s = 0; s < 2; s++)
      for (int i = 0; i < TW_ONION_PATHS_PER_SET; i++) alive += o->client->paths[s][i].id != 0;
    out->paths_alive = alive;
    out->announced_on = o->client->stored_on;
    uint32_t nf = 0;
    for (size_t i = 0; i < o->client->nfriends; i++) nf += o->client->friends[i].used;
    out->friends = nf;
  }
}
