/* The onion relay: peels one request layer (0x80, 0x81, 0x82) and passes
 * the rest to the next hop with our return path layer appended; peels one
 * return path layer off a response (0x8c, 0x8d, 0x8e) and passes it back.
 * spec/onion.md, "Relaying". */
#include <string.h>

#include "onion/onion_internal.h"

/* What node C may deliver to node D, and node A back to the client: only
 * the announce and data to route kinds, so that a path cannot be used to
 * make us send arbitrary bytes to an arbitrary address. */
static bool is_request_for_node_d(uint8_t kind) {
  return kind == TW_PACKET_ANNOUNCE_REQUEST || kind == TW_PACKET_ONION_DATA_REQUEST ||
         kind == TW_PACKET_ANNOUNCE_REQUEST_NEW;
}
static bool is_response_for_client(uint8_t kind) {
  return kind == TW_PACKET_ANNOUNCE_RESPONSE || kind == TW_PACKET_ONION_DATA_RESPONSE ||
         kind == TW_PACKET_ANNOUNCE_RESPONSE_NEW;
}

void tw_onion_rotate_return_key(tw_onion *o, tw_time_ms now) {
  o->ret_epoch++;
  tw_random_bytes(&o->env, o->ret_key[o->ret_epoch & 1], TW_SHARED_KEY_SIZE);
  o->ret_rotated_at = now;
}

/* Appends [nonce][secretbox(ip_port of prev || inner)] to w. prev is a UDP
 * address, or NULL for a TCP link. */
static void seal_return(tw_onion *o, tw_writer *w, const tw_addr *prev, uint64_t tcp_link,
                        const uint8_t *inner, size_t inner_len) {
  uint8_t plain[TW_ONION_IPPORT_SIZE + TW_ONION_RETURN_2];
  tw_writer pw = tw_writer_init(plain, sizeof plain);
  if (prev != NULL) {
    tw_onion_ipport_write(&pw, prev);
  } else {
    uint8_t *s = tw_write_span(&pw, TW_ONION_IPPORT_SIZE);
    if (s != NULL) {
      memset(s, 0, TW_ONION_IPPORT_SIZE);
      s[0] = TW_ONION_FAMILY_TCP;
      for (int i = 0; i < 8; i++) s[1 + i] = (uint8_t)(tcp_link >> (56 - 8 * i));
    }
  }
  tw_write_bytes(&pw, inner, inner_len);
  uint8_t *nonce = tw_write_span(w, TW_NONCE_SIZE);
  uint8_t *box = tw_write_span(w, pw.pos + TW_MAC_SIZE);
  if (nonce == NULL || box == NULL || !tw_writer_ok(&pw)) return;
  tw_random_bytes(&o->env, nonce, TW_NONCE_SIZE);
  nonce[0] = (uint8_t)((nonce[0] & ~1u) | (o->ret_epoch & 1));
  tw_box_seal(box, plain, pw.pos, nonce, o->ret_key[o->ret_epoch & 1]);
}

/* Opens one of our return path layers. On success *prev holds the address
 * it names (or *is_tcp and *tcp_link), and inner/inner_len the layer
 * beneath it (empty for the last). */
static int open_return(tw_onion *o, const uint8_t *ret, size_t ret_len, uint8_t *plain,
                       tw_addr *prev, bool *is_tcp, uint64_t *tcp_link) {
  const uint8_t *nonce = ret;
  if (tw_box_open(plain, ret + TW_NONCE_SIZE, ret_len - TW_NONCE_SIZE, nonce,
                  o->ret_key[nonce[0] & 1]) != TW_OK)
    return TW_E_EXPIRED; /* forged, or sealed under a key now gone */
  tw_reader r = tw_reader_init(plain, TW_ONION_IPPORT_SIZE);
  uint8_t family, raw[18];
  int rc = tw_onion_ipport_read_any(&r, &family, prev, raw);
  if (rc != TW_OK) return rc;
  *is_tcp = family == TW_ONION_FAMILY_TCP;
  *tcp_link = 0;
  for (int i = 0; i < 8; i++) *tcp_link = (*tcp_link << 8) | raw[i];
  return TW_OK;
}

/* Peels a request layer: plain receives [ip_port next][rest]. */
static int open_request_layer(tw_onion *o, const tw_onion_request *req, uint8_t *plain,
                              size_t *plain_len, tw_addr *next, tw_time_ms now) {
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_keycache_get(o->keys, &req->pk, now, shared);
  int rc = tw_box_open(plain, req->cipher, req->cipher_len, req->nonce, shared);
  tw_crypto_wipe(shared, sizeof shared);
  if (rc != TW_OK) return rc;
  *plain_len = req->cipher_len - TW_MAC_SIZE;
  tw_reader r = tw_reader_init(plain, *plain_len);
  rc = tw_onion_ipport_read(&r, next);
  if (rc != TW_OK) return rc;
  if (next->port == 0) return TW_E_ADDR;
  return TW_OK;
}

static int forward_request(tw_onion *o, const tw_addr *from, uint64_t tcp_link,
                           const tw_onion_request *req, const uint8_t *plain, size_t plain_len,
                           const tw_addr *nextp);

/* Request layers 0 and 1 forward [kind+1][nonce][rest][return]; layer 2
 * forwards [rest][return] to node D. tcp_link is used when from is NULL. */
static int relay_request(tw_onion *o, const tw_addr *from, uint64_t tcp_link,
                         const tw_onion_request *req, tw_time_ms now) {
  uint8_t plain[TW_ONION_MAX_PACKET_SIZE];
  size_t plain_len = 0; /* set once the layer opened: all there is to wipe */
  tw_addr next;
  int rc = open_request_layer(o, req, plain, &plain_len, &next, now);
  if (rc == TW_OK) rc = forward_request(o, from, tcp_link, req, plain, plain_len, &next);
  tw_crypto_wipe(plain, plain_len);
  return rc;
}

/* Sends what a peeled layer holds on to the next hop. */
static int forward_request(tw_onion *o, const tw_addr *from, uint64_t tcp_link,
                           const tw_onion_request *req, const uint8_t *plain, size_t plain_len,
                           const tw_addr *nextp) {
  tw_addr next = *nextp;
  const uint8_t *rest = plain + TW_ONION_IPPORT_SIZE;
  size_t rest_len = plain_len - TW_ONION_IPPORT_SIZE;

  uint8_t out[TW_ONION_MAX_PACKET_SIZE];
  tw_writer w = tw_writer_init(out, sizeof out);
  int layer = req->kind - TW_PACKET_ONION_REQUEST_0;
  if (layer < 2) {
    /* The next hop must be able to peel a layer off what we send. */
    if (rest_len < TW_PUBLIC_KEY_SIZE + TW_MAC_SIZE + TW_ONION_LAYER_MIN) return TW_E_SHORT;
    tw_write_u8(&w, (uint8_t)(req->kind + 1));
    tw_write_bytes(&w, req->nonce, TW_NONCE_SIZE);
  } else {
    if (!is_request_for_node_d(rest[0])) return TW_E_KIND;
  }
  tw_write_bytes(&w, rest, rest_len);
  seal_return(o, &w, from, tcp_link, req->ret, req->ret_len);
  if (!tw_writer_ok(&w)) return TW_E_LONG;
  tw_onion_send(o, &next, out, w.pos);
  o->stats.requests_relayed[layer]++;
  return TW_OK;
}

int tw_onion_handle_onion_request(tw_onion *o, const tw_addr *from, const uint8_t *pkt,
                                  size_t len, tw_time_ms now) {
  if (!o->cfg.relay) return TW_E_DISABLED;
  tw_onion_request req;
  int rc = tw_onion_request_parse(&req, pkt, len);
  if (rc != TW_OK) return rc;
  return relay_request(o, from, 0, &req, now);
}

int tw_onion_handle_tcp_request(tw_onion *o, uint64_t link, const uint8_t *data, size_t len,
                                tw_time_ms now) {
  if (!o->cfg.relay || o->cfg.tcp_send == NULL) return tw_onion_drop(o, TW_E_DISABLED);
  /* [nonce][ip_port][pk][box]: a layer-1 request without its kind byte
   * and return path, which we supply. */
  uint8_t pkt[TW_ONION_MAX_PACKET_SIZE];
  if (len + 1 > sizeof pkt) return tw_onion_drop(o, TW_E_LONG);
  if (len < TW_NONCE_SIZE + TW_ONION_IPPORT_SIZE + TW_PUBLIC_KEY_SIZE + TW_MAC_SIZE +
                TW_ONION_LAYER_MIN)
    return tw_onion_drop(o, TW_E_SHORT);
  tw_reader r = tw_reader_init(data, len);
  const uint8_t *nonce = tw_read_span(&r, TW_NONCE_SIZE);
  tw_addr next;
  int rc = tw_onion_ipport_read(&r, &next);
  if (rc != TW_OK || next.port == 0) return tw_onion_drop(o, rc != TW_OK ? rc : TW_E_ADDR);
  size_t rest_len;
  const uint8_t *rest = tw_read_rest(&r, &rest_len);
  tw_writer w = tw_writer_init(pkt, sizeof pkt);
  tw_write_u8(&w, TW_PACKET_ONION_REQUEST_1);
  tw_write_bytes(&w, nonce, TW_NONCE_SIZE);
  tw_write_bytes(&w, rest, rest_len);
  seal_return(o, &w, NULL, link, NULL, 0);
  if (!tw_writer_ok(&w)) return tw_onion_drop(o, TW_E_LONG);
  tw_onion_send(o, &next, pkt, w.pos);
  o->stats.tcp_requests++;
  (void)now;
  return TW_OK;
}

int tw_onion_handle_onion_response(tw_onion *o, const tw_addr *from, const uint8_t *pkt,
                                   size_t len, tw_time_ms now) {
  (void)from;
  (void)now;
  if (!o->cfg.relay) return TW_E_DISABLED;
  tw_onion_response resp;
  int rc = tw_onion_response_parse(&resp, pkt, len);
  if (rc != TW_OK) return rc;
  uint8_t plain[TW_ONION_IPPORT_SIZE + TW_ONION_RETURN_2];
  tw_addr prev;
  bool is_tcp;
  uint64_t link;
  rc = open_return(o, resp.ret, resp.ret_len, plain, &prev, &is_tcp, &link);
  if (rc != TW_OK) return rc;
  const uint8_t *inner = plain + TW_ONION_IPPORT_SIZE;
  size_t inner_len = resp.ret_len - TW_NONCE_SIZE - TW_MAC_SIZE - TW_ONION_IPPORT_SIZE;

  int layer = resp.kind - TW_PACKET_ONION_RESPONSE_3; /* 0: at C, 2: at A */
  if (layer == 2 && !is_response_for_client(resp.data[0])) return TW_E_KIND;
  if (is_tcp && layer != 2) return TW_E_FAMILY; /* only the first hop is a TCP relay */

  uint8_t out[TW_ONION_MAX_PACKET_SIZE];
  tw_writer w = tw_writer_init(out, sizeof out);
  if (layer < 2) {
    tw_write_u8(&w, (uint8_t)(resp.kind + 1));
    tw_write_bytes(&w, inner, inner_len);
  }
  tw_write_bytes(&w, resp.data, resp.data_len);
  if (!tw_writer_ok(&w)) return TW_E_LONG;
  if (is_tcp) {
    if (o->cfg.tcp_send == NULL) return TW_E_DISABLED;
    o->cfg.tcp_send(o->cfg.tcp_ctx, link, out, w.pos);
    o->stats.tcp_responses++;
  } else {
    tw_onion_send(o, &prev, out, w.pos);
  }
  o->stats.responses_relayed[layer]++;
  return TW_OK;
}
