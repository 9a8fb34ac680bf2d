/* One handler per DHT packet kind, as the spec names them, and the
 * dispatcher that feeds them. See spec/dht.md. */
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "dht/dht_internal.h"

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
  tw_dht_send_sealed_with(d, TW_PACKET_PING_RESPONSE, shared, from, plain, sizeof plain);
  d->stats.ping_responses_out++;
  tw_dht_maybe_ping(d, &h->sender, from, now);
  return TW_OK;
}

static int handle_ping_response(tw_dht *d, const tw_addr *from, const tw_dht_header *h,
                                tw_time_ms now) {
  tw_ping_payload p;
  uint8_t shared[TW_SHARED_KEY_SIZE];
  int e = open_ping(d, h, TW_PING_FLAG_RESPONSE, &p, shared, now);
  if (e != TW_OK) return e;
  if ((e = tw_reqtab_take(&d->ping_req, p.id, &h->sender, from, now, NULL)) != TW_OK &&
      tw_holepunch_take_ping_response(d, &h->sender, from, p.id) != TW_OK)
    return e;
  d->stats.ping_responses_in++;
  tw_dht_add_to_state(d, &h->sender, from, now);
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
  resp.count = (uint8_t)tw_dht_closest_excluding(d, &req.target, &h->sender, resp.nodes, TW_NODES_MAX,
                                tw_addr_is_lan(from), now);
  if (resp.count > 0) {
    uint8_t out[TW_NODES_RESPONSE_PLAIN_MAX];
    int n = tw_nodes_response_payload_encode(out, sizeof out, &resp);
    if (n > 0) {
      tw_dht_send_sealed_with(d, TW_PACKET_NODES_RESPONSE, shared, from, out, (size_t)n);
      d->stats.nodes_responses_out++;
    }
  }
  tw_dht_maybe_ping(d, &h->sender, from, now);
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
  tw_dht_add_to_state(d, &h->sender, from, now);
  tw_holepunch_note_nodes_response(d, &h->sender, from, &resp, now);
  for (int i = 0; i < resp.count; i++) tw_dht_consider_learned_node(d, &resp.nodes[i], now);
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
    if (plain[0] == TW_DHT_REQUEST_NAT_PING)
      return tw_holepunch_handle_nat_ping(d, &h.sender, plain, h.cipher_len - TW_MAC_SIZE, now);
    if (d->cfg.on_dht_request == NULL) return TW_E_DISABLED;
    d->cfg.on_dht_request(d->cfg.request_ctx, &h.sender, from, plain,
                          h.cipher_len - TW_MAC_SIZE, now);
    return TW_OK;
  }
  /* Route it on, unaltered, if the addressee is in our close list. */
  tw_client_list *b = tw_dht_bucket_for(d, &addressee, false);
  tw_dht_entry *e = b ? tw_client_list_find(b, &addressee) : NULL;
  if (e == NULL || !tw_entry_is_good(e, now, TW_DHT_BAD_AFTER_MS)) return TW_E_NOTFOUND;
  tw_dht_send_raw(d, &e->addr, pkt, len);
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
  tw_dht_send_nodes_request(d, &pk, from, &d->cfg.keys.pk, now);
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
  tw_dht_send_raw(d, from, out, (size_t)n);
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
      tw_log(&d->env.log, TW_LOG_TRACE, tw_dht_log_module, "dropped %s (kind 0x%02x, %zu bytes) from %s: %s",
             tw_packet_kind_name(len ? pkt[0] : -1), len ? pkt[0] : 0, len, tw_addr_format(&from, a),
             tw_strerror(e));
    }
  }
  return e;
}
