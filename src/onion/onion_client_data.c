/* Onion data: data to route packets to a friend's announce nodes and back
 * to us, and the DHT public key packet, by the onion or by a DHT request.
 * spec/onion.md, "Onion data" and "DHT public key packet". */
#include <string.h>

#include "core/log.h"
#include "onion/onion_internal.h"

/* [0x85][friend pk][nonce][temp pk][box_temp(our pk, box_long(data))] to
 * one announce node that knows the friend. shared_long is the long-term
 * shared key with the friend. */
static int send_data_to_node(tw_onion *o, const tw_onion_friend *f, const tw_onion_node *e,
                             const uint8_t shared_long[TW_SHARED_KEY_SIZE], const uint8_t *data,
                             size_t len, tw_time_ms now) {
  tw_onion_client *c = o->client;
  if (len > TW_ONION_MAX_DATA_SIZE - TW_DATA_REQUEST_HEADER - 2 * TW_MAC_SIZE - TW_PUBLIC_KEY_SIZE)
    return TW_E_LONG;
  uint8_t nonce[TW_NONCE_SIZE];
  tw_random_bytes(&o->env, nonce, sizeof nonce);
  uint8_t inner[TW_ONION_MAX_PACKET_SIZE];
  memcpy(inner, c->self.pk.bytes, TW_PUBLIC_KEY_SIZE);
  tw_box_seal(inner + TW_PUBLIC_KEY_SIZE, data, len, nonce, shared_long);
  size_t inner_len = TW_PUBLIC_KEY_SIZE + len + TW_MAC_SIZE;

  tw_keypair temp;
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_keypair_generate(&temp, &o->env);
  tw_shared_key_compute(shared, &e->data_pk, temp.sk);
  uint8_t pkt[TW_ONION_MAX_PACKET_SIZE];
  tw_writer w = tw_writer_init(pkt, sizeof pkt);
  tw_write_u8(&w, TW_PACKET_ONION_DATA_REQUEST);
  tw_write_bytes(&w, f->pk.bytes, TW_PUBLIC_KEY_SIZE);
  tw_write_bytes(&w, nonce, TW_NONCE_SIZE);
  tw_write_bytes(&w, temp.pk.bytes, TW_PUBLIC_KEY_SIZE);
  uint8_t *box = tw_write_span(&w, inner_len + TW_MAC_SIZE);
  if (box != NULL) tw_box_seal(box, inner, inner_len, nonce, shared);
  tw_crypto_wipe(shared, sizeof shared);
  tw_crypto_wipe(&temp, sizeof temp);
  if (!tw_writer_ok(&w)) return TW_E_LONG;
  tw_onion_path *p = tw_onion_pick_path(o, 1, 0, now);
  int rc = tw_onion_send_via_path(o, p, &e->node.addr, pkt, w.pos, now);
  if (rc == TW_OK) o->stats.client_data_sent++;
  return rc;
}

static bool knows_friend(const tw_onion_node *e, tw_time_ms now) {
  return e->is_stored == TW_ANNOUNCE_FOUND && now - e->last_response < TW_ANNOUNCE_ENTRY_TIMEOUT_MS;
}

static int send_data(tw_onion *o, tw_onion_friend *f, const uint8_t *data, size_t len,
                     tw_time_ms now) {
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_shared_key_compute(shared, &f->pk, o->client->self.sk);
  int sent = 0, err = TW_E_NOROUTE;
  for (int i = 0; i < f->list.count; i++) {
    if (!knows_friend(&f->list.n[i], now)) continue;
    int rc = send_data_to_node(o, f, &f->list.n[i], shared, data, len, now);
    if (rc == TW_OK) sent++;
    else err = rc;
  }
  tw_crypto_wipe(shared, sizeof shared);
  return sent > 0 ? sent : err;
}

int tw_onion_send_data(tw_onion *o, const tw_key *to, const uint8_t *data, size_t len,
                       tw_time_ms now) {
  if (o->client == NULL) return TW_E_DISABLED;
  if (len == 0) return TW_E_INVAL;
  tw_onion_friend *f = tw_onion_find_friend(o->client, to);
  if (f == NULL) return TW_E_NOTFOUND;
  return send_data(o, f, data, len, now);
}

/* Our DHT public key packet: our DHT key, up to 2 TCP relays we are
 * connected to (the friend can reach us through them) and DHT nodes closest
 * to our DHT key (it can find us in the DHT through them), 4 nodes at most. */
static int build_dhtpk(tw_onion *o, uint8_t *out, size_t cap, tw_time_ms now) {
  tw_onion_client *c = o->client;
  tw_dhtpk p;
  memset(&p, 0, sizeof p);
  /* Must grow across the session; the clock in ms does, and a counter
   * covers two packets in one ms. */
  c->no_replay = now > c->no_replay ? now : c->no_replay + 1;
  p.no_replay = c->no_replay;
  p.dht_pk = *tw_dht_public_key(o->cfg.dht);
  tw_node_info relays[TW_ONION_MAX_TCP_RELAYS];
  size_t nr = tw_onion_client_relays(o, relays, TW_ONION_MAX_TCP_RELAYS);
  for (size_t i = 0; i < nr && p.count < 2; i++) p.nodes[p.count++] = relays[i];
  p.count += (uint8_t)tw_dht_closest(o->cfg.dht, &p.dht_pk, p.nodes + p.count, 4 - p.count,
                                     false, now);
  return tw_dhtpk_encode(out, cap, &p);
}

void tw_onion_client_send_dhtpk(tw_onion *o, tw_onion_friend *f, tw_time_ms now) {
  uint8_t pk[TW_DHTPK_MAX];
  if (f->connected) return;
  bool found = false;
  for (int i = 0; i < f->list.count; i++) found |= knows_friend(&f->list.n[i], now);
  if (found && (f->dhtpk_onion_sent == 0 || now - f->dhtpk_onion_sent >= TW_ONION_DHTPK_ONION_INTERVAL_MS)) {
    int n = build_dhtpk(o, pk, sizeof pk, now);
    if (n > 0 && send_data(o, f, pk, (size_t)n, now) > 0) {
      o->stats.dhtpk_sent_onion++;
      f->dhtpk_onion_sent = now;
    }
  }
  if (f->dht_pk_known &&
      (f->dhtpk_dht_sent == 0 || now - f->dhtpk_dht_sent >= TW_ONION_DHTPK_DHT_INTERVAL_MS)) {
    /* [0x9c][our long-term pk][nonce][box_long(dhtpk)] as a DHT request to
     * the friend's DHT key, through the node itself once the DHT found it,
     * else through the nodes closest to it. */
    f->dhtpk_dht_sent = now;
    int n = build_dhtpk(o, pk, sizeof pk, now);
    if (n <= 0) return;
    uint8_t req[TW_DHTPK_DHT_MIN - TW_DHTPK_MIN + TW_DHTPK_MAX], shared[TW_SHARED_KEY_SIZE];
    tw_writer w = tw_writer_init(req, sizeof req);
    tw_write_u8(&w, TW_DHTPK_KIND);
    tw_write_bytes(&w, o->client->self.pk.bytes, TW_PUBLIC_KEY_SIZE);
    uint8_t *nonce = tw_write_span(&w, TW_NONCE_SIZE);
    uint8_t *box = tw_write_span(&w, (size_t)n + TW_MAC_SIZE);
    if (!tw_writer_ok(&w)) return;
    tw_random_bytes(&o->env, nonce, TW_NONCE_SIZE);
    tw_shared_key_compute(shared, &f->pk, o->client->self.sk);
    tw_box_seal(box, pk, (size_t)n, nonce, shared);
    tw_crypto_wipe(shared, sizeof shared);
    tw_node_info via[4], self;
    memset(&self, 0, sizeof self);
    size_t nv = tw_dht_search_result(o->cfg.dht, &f->dht_pk, via, 4, &self, now);
    bool sent = false;
    if (tw_addr_is_set(&self.addr)) {
      sent = tw_dht_send_request(o->cfg.dht, &f->dht_pk, &self.addr, req, w.pos, now) == TW_OK;
    } else {
      for (size_t i = 0; i < nv && i < 2; i++)
        sent |= tw_dht_send_request(o->cfg.dht, &f->dht_pk, &via[i].addr, req, w.pos, now) == TW_OK;
    }
    if (sent) o->stats.dhtpk_sent_dht++;
  }
}

int tw_onion_handle_dhtpk(tw_onion *o, const tw_key *sender, const uint8_t *pkt, size_t len,
                          tw_onion_route route, tw_time_ms now) {
  tw_onion_client *c = o->client;
  tw_onion_friend *f = tw_onion_find_friend(c, sender);
  if (f == NULL) return TW_E_NOTFOUND;
  tw_dhtpk p;
  int rc = tw_dhtpk_decode(&p, pkt, len);
  if (rc != TW_OK) return rc;
  if (p.no_replay <= f->last_no_replay) return TW_E_REPLAY;
  f->last_no_replay = p.no_replay;
  bool changed = !f->dht_pk_known || !tw_key_equal(&f->dht_pk, &p.dht_pk);
  if (changed && f->dht_pk_known) tw_dht_search_remove(o->cfg.dht, &f->dht_pk);
  if (changed && !f->connected) tw_dht_search_add(o->cfg.dht, &p.dht_pk, now);
  f->dht_pk = p.dht_pk;
  f->dht_pk_known = true;
  f->last_seen = now;
  if (changed && tw_log_wants(&o->env.log, TW_LOG_INFO)) {
    char a[TW_KEY_HEXLEN], b[TW_KEY_HEXLEN];
    tw_log(&o->env.log, TW_LOG_INFO, tw_onion_log_module, "friend %s: DHT key %s (by %s)",
           tw_key_to_hex(sender, a), tw_key_to_hex(&p.dht_pk, b),
           route == TW_ONION_ROUTE_ONION ? "onion" : "DHT");
  }
  if (route == TW_ONION_ROUTE_ONION) o->stats.dhtpk_received_onion++;
  else o->stats.dhtpk_received_dht++;
  if (o->cfg.on_event) {
    tw_onion_event ev = {.kind = TW_ONION_EV_FRIEND_DHT_KEY, .time = now, .peer = *sender,
                         .dht_pk = p.dht_pk, .changed = changed, .route = route,
                         .node_count = p.count};
    memcpy(ev.nodes, p.nodes, sizeof ev.nodes);
    o->cfg.on_event(o->cfg.event_ctx, &ev);
  }
  /* Tell it ours soon too, by whichever route works. */
  if (changed) f->dhtpk_dht_sent = 0;
  return TW_OK;
}

int tw_onion_handle_data_route_response(tw_onion *o, const tw_addr *from, const uint8_t *pkt,
                                        size_t len, tw_time_ms now) {
  tw_onion_client *c = o->client;
  if (len < TW_DATA_RESPONSE_MIN + TW_ONION_DATA_MIN) return TW_E_SHORT;
  if (len > TW_ONION_MAX_PACKET_SIZE) return TW_E_LONG;
  /* It comes back down one of our announce paths, or from a TCP relay we
   * are connected to (the path it came down may have been replaced). */
  bool ours = false;
  for (int i = 0; i < TW_ONION_PATHS_PER_SET; i++)
    ours |= c->paths[0][i].id != 0 && tw_addr_equal(&c->paths[0][i].hop[0].addr, from);
  if (!ours) {
    tw_node_info relays[TW_ONION_MAX_TCP_RELAYS];
    size_t nr = tw_onion_client_relays(o, relays, TW_ONION_MAX_TCP_RELAYS);
    for (size_t i = 0; i < nr && !ours; i++) ours = tw_addr_equal(&relays[i].addr, from);
  }
  if (!ours) return TW_E_UNSOLICITED;
  tw_reader r = tw_reader_init(pkt, len);
  tw_read_u8(&r);
  const uint8_t *nonce = tw_read_span(&r, TW_NONCE_SIZE);
  tw_key temp;
  tw_read_bytes(&r, temp.bytes, TW_PUBLIC_KEY_SIZE);
  size_t clen;
  const uint8_t *cipher = tw_read_rest(&r, &clen);
  uint8_t shared[TW_SHARED_KEY_SIZE], inner[TW_ONION_MAX_PACKET_SIZE];
  tw_shared_key_compute(shared, &temp, c->data_keys.sk);
  int rc = tw_box_open(inner, cipher, clen, nonce, shared);
  if (rc != TW_OK) goto out;
  size_t inner_len = clen - TW_MAC_SIZE;
  tw_key sender;
  memcpy(sender.bytes, inner, TW_PUBLIC_KEY_SIZE);
  uint8_t data[TW_ONION_MAX_PACKET_SIZE];
  tw_shared_key_compute(shared, &sender, c->self.sk);
  rc = tw_box_open(data, inner + TW_PUBLIC_KEY_SIZE, inner_len - TW_PUBLIC_KEY_SIZE, nonce, shared);
  if (rc != TW_OK) goto out;
  size_t data_len = inner_len - TW_PUBLIC_KEY_SIZE - TW_MAC_SIZE;
  o->stats.client_data_received++;
  c->last_response = now;
  if (data[0] == TW_DHTPK_KIND) {
    rc = tw_onion_handle_dhtpk(o, &sender, data, data_len, TW_ONION_ROUTE_ONION, now);
  } else if (o->cfg.on_event) {
    tw_onion_event ev = {.kind = TW_ONION_EV_DATA, .time = now, .peer = sender,
                         .route = TW_ONION_ROUTE_ONION, .data = data, .data_len = data_len};
    o->cfg.on_event(o->cfg.event_ctx, &ev);
  }
out:
  tw_crypto_wipe(shared, sizeof shared);
  return rc;
}
