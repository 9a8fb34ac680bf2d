#include "onion/onion_wire.h"

#include <string.h>

#include "core/node_info.h"
#include "toxwire/error.h"

/* ---- addresses in layers ---- */

int tw_onion_ipport_write(tw_writer *w, const tw_addr *a) {
  uint8_t *s = tw_write_span(w, TW_ONION_IPPORT_SIZE);
  if (s == NULL) return TW_E_SHORT;
  memset(s, 0, TW_ONION_IPPORT_SIZE); /* IPv4 padding must not leak memory */
  if (a->family == TW_AF_INET) {
    memcpy(s + 1, a->ip, 4);
  } else if (a->family == TW_AF_INET6) {
    memcpy(s + 1, a->ip, 16);
  } else {
    return TW_E_FAMILY;
  }
  s[0] = a->family;
  s[17] = (uint8_t)(a->port >> 8);
  s[18] = (uint8_t)a->port;
  return TW_OK;
}

int tw_onion_ipport_read_any(tw_reader *r, uint8_t *family, tw_addr *a, uint8_t raw[18]) {
  const uint8_t *s = tw_read_span(r, TW_ONION_IPPORT_SIZE);
  if (s == NULL) return TW_E_SHORT;
  *family = s[0];
  if (raw != NULL) memcpy(raw, s + 1, 18);
  memset(a, 0, sizeof *a);
  if (s[0] == TW_AF_INET) {
    memcpy(a->ip, s + 1, 4);
  } else if (s[0] == TW_AF_INET6) {
    memcpy(a->ip, s + 1, 16);
  } else {
    return s[0] == TW_ONION_FAMILY_TCP ? TW_OK : TW_E_FAMILY;
  }
  a->family = s[0];
  a->port = (uint16_t)((s[17] << 8) | s[18]);
  return TW_OK;
}

int tw_onion_ipport_read(tw_reader *r, tw_addr *a) {
  uint8_t family;
  int rc = tw_onion_ipport_read_any(r, &family, a, NULL);
  if (rc == TW_OK && family == TW_ONION_FAMILY_TCP) return TW_E_FAMILY;
  return rc;
}

/* ---- layers ---- */

size_t tw_onion_return_size_for(uint8_t kind) {
  switch (kind) {
  case TW_PACKET_ONION_REQUEST_1: return TW_ONION_RETURN_1;
  case TW_PACKET_ONION_REQUEST_2: return TW_ONION_RETURN_2;
  case TW_PACKET_ONION_RESPONSE_3: return TW_ONION_RETURN_3;
  case TW_PACKET_ONION_RESPONSE_2: return TW_ONION_RETURN_2;
  case TW_PACKET_ONION_RESPONSE_1: return TW_ONION_RETURN_1;
  default: return 0;
  }
}

int tw_onion_request_parse(tw_onion_request *req, const uint8_t *pkt, size_t len) {
  if (len == 0) return TW_E_SHORT;
  uint8_t kind = pkt[0];
  size_t ret_len;
  if (kind == TW_PACKET_ONION_REQUEST_0)
    ret_len = 0;
  else if (kind == TW_PACKET_ONION_REQUEST_1 || kind == TW_PACKET_ONION_REQUEST_2)
    ret_len = tw_onion_return_size_for(kind);
  else
    return TW_E_KIND;
  if (len < TW_ONION_REQUEST_0_MIN + ret_len) return TW_E_SHORT;
  if (len > TW_ONION_MAX_PACKET_SIZE) return TW_E_LONG;
  tw_reader r = tw_reader_init(pkt, len - ret_len);
  req->kind = tw_read_u8(&r);
  req->nonce = tw_read_span(&r, TW_NONCE_SIZE);
  tw_read_bytes(&r, req->pk.bytes, TW_PUBLIC_KEY_SIZE);
  req->cipher = tw_read_rest(&r, &req->cipher_len);
  req->ret = ret_len ? pkt + len - ret_len : NULL;
  req->ret_len = ret_len;
  return tw_reader_ok(&r) ? TW_OK : TW_E_SHORT;
}

int tw_onion_response_parse(tw_onion_response *resp, const uint8_t *pkt, size_t len) {
  if (len == 0) return TW_E_SHORT;
  size_t ret_len = tw_onion_return_size_for(pkt[0]);
  if (ret_len == 0 || pkt[0] < TW_PACKET_ONION_RESPONSE_3) return TW_E_KIND;
  if (len < 1 + ret_len + 1) return TW_E_SHORT;
  if (len > TW_ONION_MAX_PACKET_SIZE) return TW_E_LONG;
  resp->kind = pkt[0];
  resp->ret = pkt + 1;
  resp->ret_len = ret_len;
  resp->data = pkt + 1 + ret_len;
  resp->data_len = len - 1 - ret_len;
  return TW_OK;
}

/* ---- announce ---- */

void tw_announce_request_plain_encode(uint8_t out[TW_ANNOUNCE_REQUEST_PLAIN_SIZE],
                                      const tw_announce_request_plain *p) {
  tw_writer w = tw_writer_init(out, TW_ANNOUNCE_REQUEST_PLAIN_SIZE);
  tw_write_bytes(&w, p->ping_id, TW_ONION_PING_ID_SIZE);
  tw_write_bytes(&w, p->search.bytes, TW_PUBLIC_KEY_SIZE);
  tw_write_bytes(&w, p->data_pk.bytes, TW_PUBLIC_KEY_SIZE);
  tw_write_bytes(&w, p->sendback, TW_ANNOUNCE_SENDBACK_SIZE);
}

int tw_announce_request_plain_decode(tw_announce_request_plain *p, const uint8_t *in,
                                     size_t len) {
  if (len < TW_ANNOUNCE_REQUEST_PLAIN_SIZE) return TW_E_SHORT;
  tw_reader r = tw_reader_init(in, TW_ANNOUNCE_REQUEST_PLAIN_SIZE);
  tw_read_bytes(&r, p->ping_id, TW_ONION_PING_ID_SIZE);
  tw_read_bytes(&r, p->search.bytes, TW_PUBLIC_KEY_SIZE);
  tw_read_bytes(&r, p->data_pk.bytes, TW_PUBLIC_KEY_SIZE);
  tw_read_bytes(&r, p->sendback, TW_ANNOUNCE_SENDBACK_SIZE);
  return len == TW_ANNOUNCE_REQUEST_PLAIN_SIZE ? TW_OK : TW_E_LONG;
}

int tw_announce_response_plain_encode(uint8_t *out, size_t cap,
                                      const tw_announce_response_plain *p) {
  if (p->is_stored > TW_ANNOUNCE_STORED) return TW_E_FORMAT;
  if (p->count > 4) return TW_E_COUNT;
  tw_writer w = tw_writer_init(out, cap);
  tw_write_u8(&w, p->is_stored);
  tw_write_bytes(&w, p->ping_or_key, TW_ONION_PING_ID_SIZE);
  if (p->count_byte) tw_write_u8(&w, p->count);
  for (int i = 0; i < p->count; i++) {
    int rc = tw_node_info_pack(&w, &p->nodes[i]);
    if (rc != TW_OK) return rc;
  }
  return tw_writer_ok(&w) ? (int)w.pos : TW_E_SHORT;
}

static int decode_nodes(tw_reader *r, tw_node_info *nodes, uint8_t *count) {
  *count = 0;
  while (tw_reader_left(r) > 0) {
    if (*count == 4) return TW_E_COUNT;
    int rc = tw_node_info_unpack(r, &nodes[*count]);
    if (rc != TW_OK) return rc;
    (*count)++;
  }
  return tw_reader_ok(r) ? TW_OK : TW_E_SHORT;
}

int tw_announce_response_plain_decode(tw_announce_response_plain *p, const uint8_t *in,
                                      size_t len) {
  if (len < TW_ANNOUNCE_RESPONSE_PLAIN_MIN) return TW_E_SHORT;
  p->is_stored = in[0];
  p->count_byte = false;
  memcpy(p->ping_or_key, in + 1, TW_ONION_PING_ID_SIZE);
  if (p->is_stored > TW_ANNOUNCE_STORED) return TW_E_FORMAT;
  tw_reader r = tw_reader_init(in + TW_ANNOUNCE_RESPONSE_PLAIN_MIN, len - TW_ANNOUNCE_RESPONSE_PLAIN_MIN);
  return decode_nodes(&r, p->nodes, &p->count);
}

/* ---- DHT public key packet ---- */

int tw_dhtpk_encode(uint8_t *out, size_t cap, const tw_dhtpk *p) {
  if (p->count > 4) return TW_E_COUNT;
  tw_writer w = tw_writer_init(out, cap);
  tw_write_u8(&w, TW_DHTPK_KIND);
  tw_write_u64(&w, p->no_replay);
  tw_write_bytes(&w, p->dht_pk.bytes, TW_PUBLIC_KEY_SIZE);
  for (int i = 0; i < p->count; i++) {
    int rc = tw_node_info_pack(&w, &p->nodes[i]);
    if (rc != TW_OK) return rc;
  }
  return tw_writer_ok(&w) ? (int)w.pos : TW_E_SHORT;
}

int tw_dhtpk_decode(tw_dhtpk *p, const uint8_t *in, size_t len) {
  if (len < TW_DHTPK_MIN) return TW_E_SHORT;
  if (len > TW_DHTPK_MAX) return TW_E_LONG;
  tw_reader r = tw_reader_init(in, len);
  if (tw_read_u8(&r) != TW_DHTPK_KIND) return TW_E_KIND;
  p->no_replay = tw_read_u64(&r);
  tw_read_bytes(&r, p->dht_pk.bytes, TW_PUBLIC_KEY_SIZE);
  return decode_nodes(&r, p->nodes, &p->count);
}
