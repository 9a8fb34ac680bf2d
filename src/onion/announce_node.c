/* The announce node ("node D"): answers announce requests, stores the
 * announcements of nodes that prove they own their key, and routes data to
 * route requests to the node announced under a key. Ping ids are a keyed
 * hash of the time window, the requester's key and the address the request
 * came from, so no state is kept per request. spec/onion.md, "Announce
 * node". The newer announce form (0x87/0x88) c-toxcore 0.2.18 serves is
 * answered the same way with a node count byte added to the reply; extra
 * request data, which c-toxcore refuses, is refused here too. */
#include <string.h>

#include "core/node_info.h"
#include "onion/onion_internal.h"

/* The ping id for one 300 s window. */
static void ping_id_for(tw_onion *o, uint64_t window, const tw_key *pk, const tw_addr *from,
                        uint8_t out[TW_ONION_PING_ID_SIZE]) {
  uint8_t in[8 + TW_PUBLIC_KEY_SIZE + TW_ONION_IPPORT_SIZE];
  tw_writer w = tw_writer_init(in, sizeof in);
  tw_write_u64(&w, window);
  tw_write_bytes(&w, pk->bytes, TW_PUBLIC_KEY_SIZE);
  if (tw_onion_ipport_write(&w, from) != TW_OK) memset(in + 8 + TW_PUBLIC_KEY_SIZE, 0, TW_ONION_IPPORT_SIZE);
  tw_keyed_hash(out, o->ping_secret, in, sizeof in);
}

static tw_announce_entry *find_entry(tw_onion *o, const tw_key *pk, tw_time_ms now) {
  for (size_t i = 0; i < o->nentries_max; i++) {
    tw_announce_entry *e = &o->entries[i];
    if (e->used && now - e->stored_at >= TW_ANNOUNCE_ENTRY_TIMEOUT_MS) e->used = false;
    if (e->used && tw_key_equal(&e->pk, pk)) return e;
  }
  return NULL;
}

uint32_t tw_onion_count_entries(const tw_onion *o, tw_time_ms now) {
  uint32_t n = 0;
  for (size_t i = 0; i < o->nentries_max; i++)
    if (o->entries[i].used && now - o->entries[i].stored_at < TW_ANNOUNCE_ENTRY_TIMEOUT_MS) n++;
  return n;
}

/* A free slot, else the entry furthest from our DHT key if pk is closer
 * than it: the store keeps the announcements closest to us. */
static tw_announce_entry *slot_for(tw_onion *o, const tw_key *pk, tw_time_ms now) {
  tw_announce_entry *far = NULL;
  const tw_key *base = &o->cfg.dht_keys.pk;
  for (size_t i = 0; i < o->nentries_max; i++) {
    tw_announce_entry *e = &o->entries[i];
    if (!e->used || now - e->stored_at >= TW_ANNOUNCE_ENTRY_TIMEOUT_MS) return e;
    if (far == NULL || tw_key_distance_cmp(base, &e->pk, &far->pk) > 0) far = e;
  }
  if (far != NULL && tw_key_distance_cmp(base, pk, &far->pk) < 0) return far;
  return NULL;
}

int tw_onion_handle_announce_request(tw_onion *o, const tw_addr *from, const uint8_t *pkt,
                                     size_t len, tw_time_ms now) {
  if (!o->cfg.announce_store) return TW_E_DISABLED;
  if (len < TW_ANNOUNCE_REQUEST_SIZE + TW_ONION_RETURN_3) return TW_E_SHORT;
  if (len > TW_ANNOUNCE_REQUEST_SIZE + TW_ONION_RETURN_3) return TW_E_LONG;
  tw_reader r = tw_reader_init(pkt, len);
  tw_read_u8(&r);
  const uint8_t *nonce = tw_read_span(&r, TW_NONCE_SIZE);
  tw_key pk;
  tw_read_bytes(&r, pk.bytes, TW_PUBLIC_KEY_SIZE);
  const uint8_t *cipher = tw_read_span(&r, TW_ANNOUNCE_REQUEST_PLAIN_SIZE + TW_MAC_SIZE);
  const uint8_t *ret = tw_read_span(&r, TW_ONION_RETURN_3);
  if (!tw_reader_done(&r)) return TW_E_SHORT;

  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_keycache_get(o->keys, &pk, now, shared);
  uint8_t plain[TW_ANNOUNCE_REQUEST_PLAIN_SIZE];
  int rc = tw_box_open(plain, cipher, TW_ANNOUNCE_REQUEST_PLAIN_SIZE + TW_MAC_SIZE, nonce, shared);
  if (rc != TW_OK) {
    tw_crypto_wipe(shared, sizeof shared);
    return rc;
  }
  tw_announce_request_plain req;
  tw_announce_request_plain_decode(&req, plain, sizeof plain);
  o->stats.announce_requests++;

  /* Ids for this window and the next: the one we hand out lives 300-600 s. */
  uint64_t window = now / TW_ANNOUNCE_PING_ID_PERIOD_MS;
  uint8_t id_now[TW_ONION_PING_ID_SIZE], id_next[TW_ONION_PING_ID_SIZE];
  ping_id_for(o, window, &pk, from, id_now);
  ping_id_for(o, window + 1, &pk, from, id_next);
  bool proven = tw_crypto_equal(req.ping_id, id_now, sizeof id_now) ||
                tw_crypto_equal(req.ping_id, id_next, sizeof id_next);

  tw_announce_entry *e = find_entry(o, &req.search, now);
  if (proven && tw_key_equal(&pk, &req.search)) {
    /* The sender owns the key it announces (it sealed with it) and can
     * receive on this path (it has our ping id): store or refresh. */
    if (e == NULL) e = slot_for(o, &pk, now);
    if (e != NULL) {
      e->pk = pk;
      e->data_pk = req.data_pk;
      e->ret_addr = *from;
      memcpy(e->ret, ret, TW_ONION_RETURN_3);
      e->stored_at = now;
      e->used = true;
      o->stats.announcements_stored++;
    }
  }

  tw_announce_response_plain resp = {.is_stored = TW_ANNOUNCE_NOT_STORED};
  memcpy(resp.ping_or_key, id_next, sizeof id_next);
  if (e != NULL && !tw_key_equal(&pk, &req.search)) {
    resp.is_stored = TW_ANNOUNCE_FOUND; /* a searcher: give it the data key */
    memcpy(resp.ping_or_key, e->data_pk.bytes, TW_PUBLIC_KEY_SIZE);
  } else if (e != NULL && tw_key_equal(&e->data_pk, &req.data_pk)) {
    resp.is_stored = TW_ANNOUNCE_STORED;
  }
  resp.count = (uint8_t)tw_dht_closest(o->cfg.dht, &req.search, resp.nodes, 4,
                                       tw_addr_is_lan(from), now);

  bool new_form = pkt[0] == TW_PACKET_ANNOUNCE_REQUEST_NEW;
  resp.count_byte = new_form; /* observed from c-toxcore 0.2.18; spec/onion.md */
  uint8_t rplain[TW_ANNOUNCE_RESPONSE_NEW_PLAIN_MAX];
  int plen = tw_announce_response_plain_encode(rplain, sizeof rplain, &resp);
  if (plen < 0) return plen;
  uint8_t out[1 + TW_ONION_RETURN_3 + TW_ANNOUNCE_RESPONSE_MAX + 1];
  tw_writer w = tw_writer_init(out, sizeof out);
  tw_write_u8(&w, TW_PACKET_ONION_RESPONSE_3);
  tw_write_bytes(&w, ret, TW_ONION_RETURN_3);
  tw_write_u8(&w, new_form ? TW_PACKET_ANNOUNCE_RESPONSE_NEW : TW_PACKET_ANNOUNCE_RESPONSE);
  tw_write_bytes(&w, req.sendback, TW_ANNOUNCE_SENDBACK_SIZE);
  uint8_t *rnonce = tw_write_span(&w, TW_NONCE_SIZE);
  uint8_t *box = tw_write_span(&w, (size_t)plen + TW_MAC_SIZE);
  if (!tw_writer_ok(&w)) return TW_E_LONG;
  tw_random_bytes(&o->env, rnonce, TW_NONCE_SIZE);
  tw_box_seal(box, rplain, (size_t)plen, rnonce, shared); /* the request's key, reused */
  tw_crypto_wipe(shared, sizeof shared);
  tw_onion_send(o, from, out, w.pos);
  o->stats.announce_responses++;
  return TW_OK;
}

int tw_onion_handle_data_route_request(tw_onion *o, const tw_addr *from, const uint8_t *pkt,
                                       size_t len, tw_time_ms now) {
  (void)from;
  if (!o->cfg.announce_store) return TW_E_DISABLED;
  if (len < TW_DATA_REQUEST_MIN + TW_ONION_RETURN_3) return TW_E_SHORT;
  if (len > TW_ONION_MAX_PACKET_SIZE) return TW_E_LONG;
  tw_key dest;
  memcpy(dest.bytes, pkt + 1, TW_PUBLIC_KEY_SIZE);
  tw_announce_entry *e = find_entry(o, &dest, now);
  if (e == NULL) return TW_E_NOROUTE;
  /* [0x86][nonce][temp pk][box]: the request minus its destination key and
   * its own return path, sent down the announcer's return path. */
  const uint8_t *body = pkt + 1 + TW_PUBLIC_KEY_SIZE;
  size_t body_len = len - 1 - TW_PUBLIC_KEY_SIZE - TW_ONION_RETURN_3;
  uint8_t out[TW_ONION_MAX_PACKET_SIZE];
  tw_writer w = tw_writer_init(out, sizeof out);
  tw_write_u8(&w, TW_PACKET_ONION_RESPONSE_3);
  tw_write_bytes(&w, e->ret, TW_ONION_RETURN_3);
  tw_write_u8(&w, TW_PACKET_ONION_DATA_RESPONSE);
  tw_write_bytes(&w, body, body_len);
  if (!tw_writer_ok(&w)) return TW_E_LONG;
  tw_onion_send(o, &e->ret_addr, out, w.pos);
  o->stats.data_requests_routed++;
  return TW_OK;
}
