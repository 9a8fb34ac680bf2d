/* Fuzzes every DHT wire decoder directly, and checks that whatever decodes
 * encodes back to the same bytes (the forms are canonical):
 *   - DHT header parse; when the box opens with the fixed capture key, the
 *     payload decoder for its kind on the plaintext (so captured c-toxcore
 *     packets reach the decoders),
 *   - Ping, Nodes Request and Nodes Response payload decoders on the input,
 *   - packed node infos unpacked in a loop,
 *   - LAN discovery and Bootstrap Info response decoders,
 *   - the NAT ping decoder (a DHT Request's plaintext). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/node_info.h"
#include "dht/dht_wire.h"
#include "fuzz_common.h"
#include "toxwire/error.h"


static void ping(const uint8_t *in, size_t len) {
  tw_ping_payload p;
  int e = tw_ping_payload_decode(&p, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (e != TW_OK) return;
  FUZZ_CHECK(len == TW_PING_PLAIN_SIZE);
  FUZZ_CHECK(p.flag == TW_PING_FLAG_REQUEST || p.flag == TW_PING_FLAG_RESPONSE);
  uint8_t out[TW_PING_PLAIN_SIZE];
  FUZZ_CHECK(tw_ping_payload_encode(out, &p) == TW_PING_PLAIN_SIZE);
  FUZZ_CHECK(memcmp(out, in, len) == 0);
}

static void nat_ping(const uint8_t *in, size_t len) {
  tw_nat_ping_payload p;
  int e = tw_nat_ping_payload_decode(&p, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (e != TW_OK) return;
  FUZZ_CHECK(len == TW_NAT_PING_PLAIN_SIZE);
  FUZZ_CHECK(p.flag == TW_NAT_PING_REQUEST || p.flag == TW_NAT_PING_RESPONSE);
  uint8_t out[TW_NAT_PING_PLAIN_SIZE];
  FUZZ_CHECK(tw_nat_ping_payload_encode(out, &p) == TW_NAT_PING_PLAIN_SIZE);
  FUZZ_CHECK(memcmp(out, in, len) == 0);
}

static void nodes_request(const uint8_t *in, size_t len) {
  tw_nodes_request_payload p;
  int e = tw_nodes_request_payload_decode(&p, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (e != TW_OK) return;
  uint8_t out[TW_NODES_REQUEST_PLAIN_SIZE];
  FUZZ_CHECK(tw_nodes_request_payload_encode(out, &p) == TW_NODES_REQUEST_PLAIN_SIZE);
  FUZZ_CHECK(len == sizeof out && memcmp(out, in, len) == 0);
}

static void nodes_response(const uint8_t *in, size_t len) {
  tw_nodes_response_payload p;
  int e = tw_nodes_response_payload_decode(&p, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (e != TW_OK) return;
  FUZZ_CHECK(p.count <= TW_NODES_MAX);
  uint8_t out[TW_NODES_RESPONSE_PLAIN_MAX];
  int n = tw_nodes_response_payload_encode(out, sizeof out, &p);
  if (p.count == 0) {
    /* Accepted from c-toxcore, never sent by us. */
    FUZZ_CHECK(n == TW_E_COUNT);
    FUZZ_CHECK(len == TW_NODES_RESPONSE_PLAIN_MIN);
    return;
  }
  FUZZ_CHECK(n > 0 && (size_t)n == len);
  FUZZ_CHECK(memcmp(out, in, len) == 0);
  for (int i = 0; i < p.count; i++)
    FUZZ_CHECK(p.nodes[i].addr.family == TW_AF_INET || p.nodes[i].addr.family == TW_AF_INET6);
}

static void node_infos(const uint8_t *in, size_t len) {
  tw_reader r = tw_reader_init(in, len);
  while (tw_reader_left(&r) > 0) {
    size_t start = r.pos;
    tw_node_info n;
    int e = tw_node_info_unpack(&r, &n);
    FUZZ_CHECK(e == TW_OK || e == TW_E_SHORT || e == TW_E_FAMILY);
    if (e != TW_OK) break;
    size_t used = r.pos - start;
    FUZZ_CHECK(used == tw_node_info_packed_size(&n));
    uint8_t out[TW_PACKED_NODE_SIZE_IP6];
    tw_writer w = tw_writer_init(out, sizeof out);
    FUZZ_CHECK(tw_node_info_pack(&w, &n) == TW_OK);
    FUZZ_CHECK(w.pos == used && memcmp(out, in + start, used) == 0);
  }
}

static void lan_discovery(const uint8_t *in, size_t len) {
  tw_key k;
  int e = tw_lan_discovery_decode(&k, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (e != TW_OK) return;
  uint8_t out[TW_LAN_DISCOVERY_SIZE];
  FUZZ_CHECK(tw_lan_discovery_encode(out, &k) == TW_LAN_DISCOVERY_SIZE);
  FUZZ_CHECK(len == sizeof out && memcmp(out, in, len) == 0);
}

static void bootstrap_info(const uint8_t *in, size_t len) {
  uint32_t version;
  const uint8_t *motd;
  size_t motd_len;
  int e = tw_bootstrap_info_response_decode(&version, &motd, &motd_len, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (e != TW_OK) return;
  FUZZ_CHECK(motd_len <= TW_MOTD_MAX);
  FUZZ_CHECK(motd_len == 0 || (motd >= in && motd + motd_len <= in + len));
  uint8_t out[TW_BOOTSTRAP_INFO_RESPONSE_MAX];
  int n = tw_bootstrap_info_response_encode(out, sizeof out, version, motd, motd_len);
  FUZZ_CHECK(n > 0 && (size_t)n == len && memcmp(out, in, len) == 0);
}

static void header_and_box(const uint8_t *in, size_t len) {
  const tw_keypair me = *fuzz_me();
  tw_dht_header h;
  int e = tw_dht_header_parse(&h, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (e != TW_OK) return;
  FUZZ_CHECK(h.kind == in[0]);
  FUZZ_CHECK(memcmp(h.sender.bytes, in + 1, TW_PUBLIC_KEY_SIZE) == 0);
  FUZZ_CHECK(h.nonce == in + 1 + TW_PUBLIC_KEY_SIZE);
  FUZZ_CHECK(h.cipher == in + TW_DHT_HEADER_SIZE);
  FUZZ_CHECK(h.cipher_len == len - TW_DHT_HEADER_SIZE);
  FUZZ_CHECK(h.cipher_len >= TW_MAC_SIZE && h.cipher_len <= TW_DHT_PLAIN_MAX + TW_MAC_SIZE);
  /* Only the kinds whose payload we decode are worth an x25519. */
  if (h.kind != TW_PACKET_PING_REQUEST && h.kind != TW_PACKET_PING_RESPONSE &&
      h.kind != TW_PACKET_NODES_REQUEST && h.kind != TW_PACKET_NODES_RESPONSE)
    return;
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_shared_key_compute(shared, &h.sender, me.sk);
  uint8_t plain[TW_DHT_PLAIN_MAX];
  if (tw_box_open(plain, h.cipher, h.cipher_len, h.nonce, shared) != TW_OK) return;
  size_t n = h.cipher_len - TW_MAC_SIZE;
  /* Sealing the plaintext again with the same nonce gives the same box. */
  uint8_t again[TW_DHT_OVERHEAD + TW_DHT_PLAIN_MAX];
  int m = tw_dht_packet_seal(again, sizeof again, h.kind, &h.sender, h.nonce, shared, plain, n);
  FUZZ_CHECK(m > 0 && (size_t)m == len && memcmp(again, in, len) == 0);
  switch (h.kind) {
  case TW_PACKET_PING_REQUEST:
  case TW_PACKET_PING_RESPONSE: ping(plain, n); break;
  case TW_PACKET_NODES_REQUEST: nodes_request(plain, n); break;
  default: nodes_response(plain, n); break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Copy so that reads past the end are caught by ASan even when the
   * decoders are handed the whole input. */
  uint8_t *in = malloc(size ? size : 1);
  if (in == NULL) return 0;
  memcpy(in, data, size);
  header_and_box(in, size);
  ping(in, size);
  nodes_request(in, size);
  nodes_response(in, size);
  node_infos(in, size);
  lan_discovery(in, size);
  bootstrap_info(in, size);
  nat_ping(in, size);
  free(in);
  return 0;
}
