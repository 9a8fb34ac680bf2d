#include "dht/dht_wire.h"

#include "core/crypto.h"
#include "core/node_info.h"
#include "toxwire/error.h"

int tw_dht_header_parse(tw_dht_header *h, const uint8_t *pkt, size_t len) {
  tw_reader r = tw_reader_init(pkt, len);
  h->kind = tw_read_u8(&r);
  tw_read_bytes(&r, h->sender.bytes, TW_PUBLIC_KEY_SIZE);
  h->nonce = tw_read_span(&r, TW_NONCE_SIZE);
  if (!tw_reader_ok(&r) || tw_reader_left(&r) < TW_MAC_SIZE) return TW_E_SHORT;
  h->cipher = tw_read_rest(&r, &h->cipher_len);
  if (h->cipher_len > TW_DHT_PLAIN_MAX + TW_MAC_SIZE) return TW_E_LONG;
  return TW_OK;
}

int tw_dht_packet_seal(uint8_t *out, size_t cap, uint8_t kind, const tw_key *our_pk,
                       const uint8_t nonce[TW_NONCE_SIZE],
                       const uint8_t shared[TW_SHARED_KEY_SIZE], const uint8_t *plain,
                       size_t plain_len) {
  tw_writer w = tw_writer_init(out, cap);
  tw_write_u8(&w, kind);
  tw_write_bytes(&w, our_pk->bytes, TW_PUBLIC_KEY_SIZE);
  tw_write_bytes(&w, nonce, TW_NONCE_SIZE);
  uint8_t *box = tw_write_span(&w, plain_len + TW_MAC_SIZE);
  if (box == NULL) return TW_E_LONG;
  tw_box_seal(box, plain, plain_len, nonce, shared);
  return (int)w.pos;
}

static int check_end(const tw_reader *r) {
  if (!tw_reader_ok(r)) return TW_E_SHORT;
  return tw_reader_left(r) == 0 ? TW_OK : TW_E_LONG;
}

int tw_ping_payload_encode(uint8_t out[TW_PING_PLAIN_SIZE], const tw_ping_payload *p) {
  tw_writer w = tw_writer_init(out, TW_PING_PLAIN_SIZE);
  tw_write_u8(&w, p->flag);
  tw_write_u64(&w, p->id);
  return (int)w.pos;
}

int tw_ping_payload_decode(tw_ping_payload *p, const uint8_t *in, size_t len) {
  tw_reader r = tw_reader_init(in, len);
  p->flag = tw_read_u8(&r);
  p->id = tw_read_u64(&r);
  int e = check_end(&r);
  if (e != TW_OK) return e;
  return p->flag <= TW_PING_FLAG_RESPONSE ? TW_OK : TW_E_FORMAT;
}

int tw_nodes_request_payload_encode(uint8_t out[TW_NODES_REQUEST_PLAIN_SIZE],
                                    const tw_nodes_request_payload *p) {
  tw_writer w = tw_writer_init(out, TW_NODES_REQUEST_PLAIN_SIZE);
  tw_write_bytes(&w, p->target.bytes, TW_PUBLIC_KEY_SIZE);
  tw_write_u64(&w, p->id);
  return (int)w.pos;
}

int tw_nodes_request_payload_decode(tw_nodes_request_payload *p, const uint8_t *in,
                                    size_t len) {
  tw_reader r = tw_reader_init(in, len);
  tw_read_bytes(&r, p->target.bytes, TW_PUBLIC_KEY_SIZE);
  p->id = tw_read_u64(&r);
  return check_end(&r);
}

int tw_nodes_response_payload_encode(uint8_t *out, size_t cap,
                                     const tw_nodes_response_payload *p) {
  if (p->count == 0 || p->count > TW_NODES_MAX) return TW_E_COUNT;
  tw_writer w = tw_writer_init(out, cap);
  tw_write_u8(&w, p->count);
  for (int i = 0; i < p->count; i++) {
    int e = tw_node_info_pack(&w, &p->nodes[i]);
    if (e != TW_OK) return e;
  }
  tw_write_u64(&w, p->id);
  return tw_writer_ok(&w) ? (int)w.pos : TW_E_LONG;
}

int tw_nodes_response_payload_decode(tw_nodes_response_payload *p, const uint8_t *in,
                                     size_t len) {
  tw_reader r = tw_reader_init(in, len);
  p->count = tw_read_u8(&r);
  if (!tw_reader_ok(&r)) return TW_E_SHORT;
  /* Zero nodes is accepted: c-toxcore 0.2.18 answers that way when it knows
   * nobody (spec/dht.md), though the spec says to send no reply. */
  if (p->count > TW_NODES_MAX) return TW_E_COUNT;
  /* The request id is the last 8 bytes; the nodes must fill what is
   * between exactly. */
  if (len < 1 + 8) return TW_E_SHORT;
  tw_reader nodes = tw_reader_init(in + 1, len - 1 - 8);
  for (int i = 0; i < p->count; i++) {
    int e = tw_node_info_unpack(&nodes, &p->nodes[i]);
    if (e != TW_OK) return e;
  }
  if (tw_reader_left(&nodes) != 0) return TW_E_LONG;
  tw_reader id = tw_reader_init(in + len - 8, 8);
  p->id = tw_read_u64(&id);
  return TW_OK;
}

int tw_nat_ping_payload_encode(uint8_t out[TW_NAT_PING_PLAIN_SIZE], const tw_nat_ping_payload *p) {
  tw_writer w = tw_writer_init(out, TW_NAT_PING_PLAIN_SIZE);
  tw_write_u8(&w, TW_DHT_REQUEST_NAT_PING);
  tw_write_u8(&w, p->flag);
  tw_write_u64(&w, p->id);
  return (int)w.pos;
}

int tw_nat_ping_payload_decode(tw_nat_ping_payload *p, const uint8_t *in, size_t len) {
  tw_reader r = tw_reader_init(in, len);
  uint8_t kind = tw_read_u8(&r);
  if (!tw_reader_ok(&r)) return TW_E_SHORT;
  if (kind != TW_DHT_REQUEST_NAT_PING) return TW_E_KIND;
  p->flag = tw_read_u8(&r);
  p->id = tw_read_u64(&r);
  int e = check_end(&r);
  if (e != TW_OK) return e;
  return p->flag <= TW_NAT_PING_RESPONSE ? TW_OK : TW_E_FORMAT;
}

int tw_lan_discovery_encode(uint8_t out[TW_LAN_DISCOVERY_SIZE], const tw_key *pk) {
  tw_writer w = tw_writer_init(out, TW_LAN_DISCOVERY_SIZE);
  tw_write_u8(&w, TW_PACKET_LAN_DISCOVERY);
  tw_write_bytes(&w, pk->bytes, TW_PUBLIC_KEY_SIZE);
  return (int)w.pos;
}

int tw_lan_discovery_decode(tw_key *pk, const uint8_t *in, size_t len) {
  tw_reader r = tw_reader_init(in, len);
  if (tw_read_u8(&r) != TW_PACKET_LAN_DISCOVERY) return TW_E_KIND;
  tw_read_bytes(&r, pk->bytes, TW_PUBLIC_KEY_SIZE);
  return check_end(&r);
}

int tw_bootstrap_info_response_encode(uint8_t *out, size_t cap, uint32_t version,
                                      const uint8_t *motd, size_t motd_len) {
  if (motd_len > TW_MOTD_MAX) return TW_E_LONG;
  tw_writer w = tw_writer_init(out, cap);
  tw_write_u8(&w, TW_PACKET_BOOTSTRAP_INFO);
  tw_write_u32(&w, version);
  tw_write_bytes(&w, motd, motd_len);
  return tw_writer_ok(&w) ? (int)w.pos : TW_E_LONG;
}

int tw_bootstrap_info_response_decode(uint32_t *version, const uint8_t **motd,
                                      size_t *motd_len, const uint8_t *in, size_t len) {
  tw_reader r = tw_reader_init(in, len);
  if (tw_read_u8(&r) != TW_PACKET_BOOTSTRAP_INFO) return TW_E_KIND;
  *version = tw_read_u32(&r);
  if (!tw_reader_ok(&r)) return TW_E_SHORT;
  if (tw_reader_left(&r) > TW_MOTD_MAX) return TW_E_LONG;
  *motd = tw_read_rest(&r, motd_len);
  return TW_OK;
}
