/* dht/dht_wire.h: each DHT packet's encode/decode round trip and every
 * malformed form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"
#include "core/node_info.h"
#include "dht/dht_wire.h"
#include "testutil.h"
#include "toxwire/error.h"

/* Two parties and their shared key, for sealing whole packets. */
typedef struct pair {
  tw_keypair a, b;
  uint8_t shared_ab[32], shared_ba[32];
  uint8_t nonce[TW_NONCE_SIZE];
} pair;

static pair make_pair(void) {
  pair p;
  p.a = test_keypair(101);
  p.b = test_keypair(102);
  tw_shared_key_compute(p.shared_ab, &p.b.pk, p.a.sk);
  tw_shared_key_compute(p.shared_ba, &p.a.pk, p.b.sk);
  for (int i = 0; i < TW_NONCE_SIZE; i++) p.nonce[i] = (uint8_t)(0xc0 + i);
  return p;
}

/* Seals plain from a to b, parses the header as b would, opens it, and
 * returns the plaintext length (or fails the test). */
static size_t seal_parse_open(const pair *p, uint8_t kind, const uint8_t *plain, size_t len,
                              size_t want_pkt_len, uint8_t *plain_out) {
  uint8_t pkt[TW_DHT_OVERHEAD + TW_DHT_PLAIN_MAX];
  int n = tw_dht_packet_seal(pkt, sizeof pkt, kind, &p->a.pk, p->nonce, p->shared_ab, plain, len);
  assert_int_equal(n, (int)want_pkt_len);
  assert_int_equal(pkt[0], kind);
  assert_memory_equal(pkt + 1, p->a.pk.bytes, 32);
  assert_memory_equal(pkt + 33, p->nonce, TW_NONCE_SIZE);
  tw_dht_header h;
  assert_int_equal(tw_dht_header_parse(&h, pkt, (size_t)n), TW_OK);
  assert_int_equal(h.kind, kind);
  assert_true(tw_key_equal(&h.sender, &p->a.pk));
  assert_memory_equal(h.nonce, p->nonce, TW_NONCE_SIZE);
  assert_ptr_equal(h.cipher, pkt + TW_DHT_HEADER_SIZE);
  assert_int_equal(h.cipher_len, len + TW_MAC_SIZE);
  assert_int_equal(tw_box_open(plain_out, h.cipher, h.cipher_len, h.nonce, p->shared_ba), TW_OK);
  assert_memory_equal(plain_out, plain, len);
  return h.cipher_len - TW_MAC_SIZE;
}

static tw_node_info mk_node(uint8_t family, uint8_t seed) {
  tw_node_info n;
  memset(&n, 0, sizeof n);
  if (family == TW_AF_INET)
    n.addr = test_addr4(198, 51, 100, seed, (uint16_t)(33445 + seed));
  else
    n.addr = test_addr6(seed, (uint16_t)(33445 + seed));
  n.pk = test_key_fill(seed);
  return n;
}

/* ---- sizes the spec fixes ---- */

static void test_packet_sizes(void **state) {
  (void)state;
  assert_int_equal(TW_DHT_HEADER_SIZE, 57);
  assert_int_equal(TW_PING_PACKET_SIZE, 82);
  assert_int_equal(TW_NODES_REQUEST_PACKET_SIZE, 113);
  assert_int_equal(TW_NODES_RESPONSE_PACKET_MAX, 1 + 32 + 24 + 16 + 1 + 4 * 51 + 8);
  assert_int_equal(TW_LAN_DISCOVERY_SIZE, 33);
}

/* ---- header ---- */

static void test_header_too_short(void **state) {
  (void)state;
  uint8_t pkt[TW_DHT_OVERHEAD] = {0};
  tw_dht_header h;
  for (size_t len = 0; len < TW_DHT_OVERHEAD; len++)
    assert_int_equal(tw_dht_header_parse(&h, pkt, len), TW_E_SHORT);
  /* Exactly the overhead: an empty box, which the header accepts. */
  assert_int_equal(tw_dht_header_parse(&h, pkt, TW_DHT_OVERHEAD), TW_OK);
  assert_int_equal(h.cipher_len, TW_MAC_SIZE);
}

static void test_header_too_long(void **state) {
  (void)state;
  static uint8_t pkt[TW_DHT_OVERHEAD + TW_DHT_PLAIN_MAX + 1];
  tw_dht_header h;
  assert_int_equal(tw_dht_header_parse(&h, pkt, sizeof pkt - 1), TW_OK);
  assert_int_equal(tw_dht_header_parse(&h, pkt, sizeof pkt), TW_E_LONG);
}

static void test_seal_refuses_small_buffer(void **state) {
  (void)state;
  pair p = make_pair();
  uint8_t plain[9] = {0}, out[TW_PING_PACKET_SIZE];
  assert_true(tw_dht_packet_seal(out, sizeof out - 1, 0, &p.a.pk, p.nonce, p.shared_ab, plain,
                                 sizeof plain) < 0);
  assert_int_equal(tw_dht_packet_seal(out, sizeof out, 0, &p.a.pk, p.nonce, p.shared_ab, plain,
                                      sizeof plain),
                   TW_PING_PACKET_SIZE);
}

static void test_bad_ciphertext_fails_to_open(void **state) {
  (void)state;
  pair p = make_pair();
  tw_ping_payload ping = {.flag = 0, .id = 1};
  uint8_t plain[TW_PING_PLAIN_SIZE], pkt[TW_PING_PACKET_SIZE], out[TW_PING_PLAIN_SIZE];
  tw_ping_payload_encode(plain, &ping);
  tw_dht_packet_seal(pkt, sizeof pkt, 0, &p.a.pk, p.nonce, p.shared_ab, plain, sizeof plain);
  /* Flip each byte of nonce and box in turn; the sender key too, since the
   * receiver derives the shared key from it. */
  for (size_t i = 1; i < sizeof pkt; i++) {
    uint8_t bad[sizeof pkt];
    memcpy(bad, pkt, sizeof pkt);
    bad[i] ^= 0x04;
    tw_dht_header h;
    assert_int_equal(tw_dht_header_parse(&h, bad, sizeof bad), TW_OK);
    uint8_t shared[32];
    tw_shared_key_compute(shared, &h.sender, p.b.sk);
    assert_int_equal(tw_box_open(out, h.cipher, h.cipher_len, h.nonce, shared), TW_E_CRYPTO);
  }
}

/* ---- ping ---- */

static void test_ping_request_round_trip(void **state) {
  (void)state;
  pair p = make_pair();
  tw_ping_payload in = {.flag = TW_PING_FLAG_REQUEST, .id = 0x0102030405060708ULL}, out;
  uint8_t plain[TW_PING_PLAIN_SIZE], opened[TW_DHT_PLAIN_MAX];
  assert_int_equal(tw_ping_payload_encode(plain, &in), TW_PING_PLAIN_SIZE);
  const uint8_t want[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  assert_memory_equal(plain, want, 9);
  size_t n = seal_parse_open(&p, TW_PACKET_PING_REQUEST, plain, sizeof plain,
                             TW_PING_PACKET_SIZE, opened);
  assert_int_equal(tw_ping_payload_decode(&out, opened, n), TW_OK);
  assert_int_equal(out.flag, TW_PING_FLAG_REQUEST);
  assert_true(out.id == in.id);
}

static void test_ping_response_round_trip(void **state) {
  (void)state;
  pair p = make_pair();
  tw_ping_payload in = {.flag = TW_PING_FLAG_RESPONSE, .id = 0xfedcba9876543210ULL}, out;
  uint8_t plain[TW_PING_PLAIN_SIZE], opened[TW_DHT_PLAIN_MAX];
  tw_ping_payload_encode(plain, &in);
  assert_int_equal(plain[0], 1);
  size_t n = seal_parse_open(&p, TW_PACKET_PING_RESPONSE, plain, sizeof plain,
                             TW_PING_PACKET_SIZE, opened);
  assert_int_equal(tw_ping_payload_decode(&out, opened, n), TW_OK);
  assert_int_equal(out.flag, TW_PING_FLAG_RESPONSE);
  assert_true(out.id == in.id);
}

static void test_ping_payload_wrong_size(void **state) {
  (void)state;
  uint8_t buf[16] = {0};
  tw_ping_payload out;
  for (size_t len = 0; len < TW_PING_PLAIN_SIZE; len++)
    assert_int_equal(tw_ping_payload_decode(&out, buf, len), TW_E_SHORT);
  for (size_t len = TW_PING_PLAIN_SIZE + 1; len < sizeof buf; len++)
    assert_int_equal(tw_ping_payload_decode(&out, buf, len), TW_E_LONG);
}

static void test_ping_flag_other_than_0_or_1(void **state) {
  (void)state;
  uint8_t buf[TW_PING_PLAIN_SIZE] = {0};
  tw_ping_payload out;
  for (int f = 2; f < 256; f++) {
    buf[0] = (uint8_t)f;
    assert_int_equal(tw_ping_payload_decode(&out, buf, sizeof buf), TW_E_FORMAT);
  }
}

/* ---- nodes request ---- */

static void test_nodes_request_round_trip(void **state) {
  (void)state;
  pair p = make_pair();
  tw_nodes_request_payload in = {.target = test_key_fill(0x5c), .id = 0xabcdef0123456789ULL},
                           out;
  uint8_t plain[TW_NODES_REQUEST_PLAIN_SIZE], opened[TW_DHT_PLAIN_MAX];
  assert_int_equal(tw_nodes_request_payload_encode(plain, &in), TW_NODES_REQUEST_PLAIN_SIZE);
  assert_memory_equal(plain, in.target.bytes, 32);
  assert_int_equal(plain[32], 0xab);
  assert_int_equal(plain[39], 0x89);
  size_t n = seal_parse_open(&p, TW_PACKET_NODES_REQUEST, plain, sizeof plain,
                             TW_NODES_REQUEST_PACKET_SIZE, opened);
  assert_int_equal(tw_nodes_request_payload_decode(&out, opened, n), TW_OK);
  assert_true(tw_key_equal(&out.target, &in.target));
  assert_true(out.id == in.id);
}

static void test_nodes_request_wrong_size(void **state) {
  (void)state;
  uint8_t buf[64] = {0};
  tw_nodes_request_payload out;
  for (size_t len = 0; len < TW_NODES_REQUEST_PLAIN_SIZE; len++)
    assert_int_equal(tw_nodes_request_payload_decode(&out, buf, len), TW_E_SHORT);
  for (size_t len = TW_NODES_REQUEST_PLAIN_SIZE + 1; len < sizeof buf; len++)
    assert_int_equal(tw_nodes_request_payload_decode(&out, buf, len), TW_E_LONG);
}

/* ---- nodes response ---- */

static void nodes_response_round_trip(const uint8_t *families, uint8_t count) {
  pair p = make_pair();
  tw_nodes_response_payload in, out;
  memset(&in, 0, sizeof in);
  in.count = count;
  in.id = 0x1122334455667788ULL;
  size_t want = 1 + 8;
  for (uint8_t i = 0; i < count; i++) {
    in.nodes[i] = mk_node(families[i], (uint8_t)(i + 1));
    want += families[i] == TW_AF_INET ? 39 : 51;
  }
  uint8_t plain[TW_NODES_RESPONSE_PLAIN_MAX], opened[TW_DHT_PLAIN_MAX];
  int n = tw_nodes_response_payload_encode(plain, sizeof plain, &in);
  assert_int_equal(n, (int)want);
  assert_int_equal(plain[0], count);
  assert_int_equal(plain[n - 1], 0x88);
  /* The first node's ip type follows the count. */
  assert_int_equal(plain[1], families[0] == TW_AF_INET ? 2 : 10);
  size_t m = seal_parse_open(&p, TW_PACKET_NODES_RESPONSE, plain, (size_t)n,
                             TW_DHT_OVERHEAD + (size_t)n, opened);
  memset(&out, 0xaa, sizeof out);
  assert_int_equal(tw_nodes_response_payload_decode(&out, opened, m), TW_OK);
  assert_int_equal(out.count, count);
  assert_true(out.id == in.id);
  for (uint8_t i = 0; i < count; i++) {
    assert_true(tw_key_equal(&out.nodes[i].pk, &in.nodes[i].pk));
    assert_true(tw_addr_equal(&out.nodes[i].addr, &in.nodes[i].addr));
    assert_false(out.nodes[i].tcp);
  }
  /* Canonical: encoding what was decoded gives the same bytes. */
  uint8_t again[TW_NODES_RESPONSE_PLAIN_MAX];
  assert_int_equal(tw_nodes_response_payload_encode(again, sizeof again, &out), n);
  assert_memory_equal(again, plain, (size_t)n);
}

static void test_nodes_response_one_node(void **state) {
  (void)state;
  const uint8_t f[] = {TW_AF_INET};
  nodes_response_round_trip(f, 1);
  const uint8_t g[] = {TW_AF_INET6};
  nodes_response_round_trip(g, 1);
}

static void test_nodes_response_two_nodes_mixed(void **state) {
  (void)state;
  const uint8_t f[] = {TW_AF_INET6, TW_AF_INET};
  nodes_response_round_trip(f, 2);
}

static void test_nodes_response_three_nodes_mixed(void **state) {
  (void)state;
  const uint8_t f[] = {TW_AF_INET, TW_AF_INET6, TW_AF_INET};
  nodes_response_round_trip(f, 3);
}

static void test_nodes_response_four_nodes(void **state) {
  (void)state;
  const uint8_t v4[] = {TW_AF_INET, TW_AF_INET, TW_AF_INET, TW_AF_INET};
  nodes_response_round_trip(v4, 4);
  const uint8_t v6[] = {TW_AF_INET6, TW_AF_INET6, TW_AF_INET6, TW_AF_INET6};
  nodes_response_round_trip(v6, 4); /* the largest: 1 + 204 + 8 */
  const uint8_t mix[] = {TW_AF_INET6, TW_AF_INET, TW_AF_INET6, TW_AF_INET};
  nodes_response_round_trip(mix, 4);
}

static void test_nodes_response_zero_nodes_decodes(void **state) {
  (void)state;
  /* c-toxcore 0.2.18 sends these; we accept them with count 0. */
  const uint8_t plain[9] = {0, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1};
  tw_nodes_response_payload out;
  assert_int_equal(tw_nodes_response_payload_decode(&out, plain, sizeof plain), TW_OK);
  assert_int_equal(out.count, 0);
  assert_true(out.id == 0xdeadbeef00000001ULL);
  /* Zero nodes but extra bytes: not exactly filled. */
  uint8_t longer[10] = {0};
  assert_int_equal(tw_nodes_response_payload_decode(&out, longer, sizeof longer), TW_E_LONG);
}

static void test_nodes_response_zero_nodes_encode_refused(void **state) {
  (void)state;
  tw_nodes_response_payload in;
  memset(&in, 0, sizeof in);
  in.id = 5;
  uint8_t out[TW_NODES_RESPONSE_PLAIN_MAX];
  assert_int_equal(tw_nodes_response_payload_encode(out, sizeof out, &in), TW_E_COUNT);
}

static void test_nodes_response_more_than_four(void **state) {
  (void)state;
  tw_nodes_response_payload in;
  memset(&in, 0, sizeof in);
  for (int i = 0; i < 4; i++) in.nodes[i] = mk_node(TW_AF_INET, (uint8_t)i);
  uint8_t buf[TW_NODES_RESPONSE_PLAIN_MAX + 64];
  for (int c = 5; c < 256; c += 50) {
    in.count = (uint8_t)c;
    assert_int_equal(tw_nodes_response_payload_encode(buf, sizeof buf, &in), TW_E_COUNT);
  }
  /* Decode: a count of 5 with five real nodes present is still refused. */
  tw_writer w = tw_writer_init(buf, sizeof buf);
  tw_write_u8(&w, 5);
  for (int i = 0; i < 5; i++) tw_node_info_pack(&w, &in.nodes[i % 4]);
  tw_write_u64(&w, 1);
  assert_true(tw_writer_ok(&w));
  tw_nodes_response_payload out;
  assert_int_equal(tw_nodes_response_payload_decode(&out, buf, w.pos), TW_E_COUNT);
  buf[0] = 0xff;
  assert_int_equal(tw_nodes_response_payload_decode(&out, buf, w.pos), TW_E_COUNT);
}

static int encode_n(uint8_t *buf, size_t cap, uint8_t count) {
  tw_nodes_response_payload in;
  memset(&in, 0, sizeof in);
  in.count = count;
  in.id = 0x0807060504030201ULL;
  for (uint8_t i = 0; i < count; i++)
    in.nodes[i] = mk_node(i % 2 ? TW_AF_INET6 : TW_AF_INET, (uint8_t)(i + 7));
  return tw_nodes_response_payload_encode(buf, cap, &in);
}

static void test_nodes_response_truncated_at_every_byte(void **state) {
  (void)state;
  uint8_t buf[TW_NODES_RESPONSE_PLAIN_MAX];
  for (uint8_t count = 1; count <= 4; count++) {
    int n = encode_n(buf, sizeof buf, count);
    assert_true(n > 0);
    tw_nodes_response_payload out;
    for (int len = 0; len < n; len++) {
      int e = tw_nodes_response_payload_decode(&out, buf, (size_t)len);
      /* A cut anywhere leaves the nodes short of what the count says. */
      assert_int_equal(e, TW_E_SHORT);
    }
  }
}

static void test_nodes_response_trailing_bytes(void **state) {
  (void)state;
  uint8_t buf[TW_NODES_RESPONSE_PLAIN_MAX + 8];
  int n = encode_n(buf, sizeof buf, 2);
  assert_true(n > 0);
  /* An extra byte before the id: the nodes no longer fill the gap. */
  memmove(buf + n - 8 + 1, buf + n - 8, 8);
  buf[n - 8] = 0;
  tw_nodes_response_payload out;
  assert_int_equal(tw_nodes_response_payload_decode(&out, buf, (size_t)n + 1), TW_E_LONG);
}

static void test_nodes_response_count_below_nodes_present(void **state) {
  (void)state;
  uint8_t buf[TW_NODES_RESPONSE_PLAIN_MAX];
  int n = encode_n(buf, sizeof buf, 3);
  buf[0] = 2; /* three nodes present, two announced */
  tw_nodes_response_payload out;
  assert_int_equal(tw_nodes_response_payload_decode(&out, buf, (size_t)n), TW_E_LONG);
  buf[0] = 4; /* more announced than present */
  assert_int_equal(tw_nodes_response_payload_decode(&out, buf, (size_t)n), TW_E_SHORT);
}

static void test_nodes_response_unknown_family(void **state) {
  (void)state;
  uint8_t buf[TW_NODES_RESPONSE_PLAIN_MAX];
  int n = encode_n(buf, sizeof buf, 2);
  tw_nodes_response_payload out;
  const uint8_t bad[] = {0, 1, 3, 4, 6, 11, 129, 131, 139, 255};
  for (size_t i = 0; i < sizeof bad; i++) {
    buf[1] = bad[i];
    assert_int_equal(tw_nodes_response_payload_decode(&out, buf, (size_t)n), TW_E_FAMILY);
  }
  /* The second node's type byte too. */
  buf[1] = TW_IPTYPE_UDP4;
  buf[1 + 39] = 7;
  assert_int_equal(tw_nodes_response_payload_decode(&out, buf, (size_t)n), TW_E_FAMILY);
}

static void test_nodes_response_tcp_types_round_trip(void **state) {
  (void)state;
  tw_nodes_response_payload in, out;
  memset(&in, 0, sizeof in);
  in.count = 2;
  in.nodes[0] = mk_node(TW_AF_INET, 1);
  in.nodes[0].tcp = true;
  in.nodes[1] = mk_node(TW_AF_INET6, 2);
  in.nodes[1].tcp = true;
  uint8_t buf[TW_NODES_RESPONSE_PLAIN_MAX];
  int n = tw_nodes_response_payload_encode(buf, sizeof buf, &in);
  assert_int_equal(buf[1], TW_IPTYPE_TCP4);
  assert_int_equal(buf[1 + 39], TW_IPTYPE_TCP6);
  assert_int_equal(tw_nodes_response_payload_decode(&out, buf, (size_t)n), TW_OK);
  assert_true(out.nodes[0].tcp && out.nodes[1].tcp);
}

static void test_nodes_response_encode_small_buffer_or_bad_family(void **state) {
  (void)state;
  uint8_t buf[TW_NODES_RESPONSE_PLAIN_MAX];
  int n = encode_n(buf, sizeof buf, 4);
  assert_true(n > 0);
  assert_true(encode_n(buf, (size_t)n - 1, 4) < 0);
  tw_nodes_response_payload in;
  memset(&in, 0, sizeof in);
  in.count = 1;
  in.nodes[0].addr.family = 0;
  assert_int_equal(tw_nodes_response_payload_encode(buf, sizeof buf, &in), TW_E_FAMILY);
}

/* ---- LAN discovery ---- */

static void test_lan_discovery_round_trip(void **state) {
  (void)state;
  tw_key k = test_key_fill(0x3e), back;
  uint8_t pkt[TW_LAN_DISCOVERY_SIZE];
  assert_int_equal(tw_lan_discovery_encode(pkt, &k), TW_LAN_DISCOVERY_SIZE);
  assert_int_equal(pkt[0], 0x21);
  assert_memory_equal(pkt + 1, k.bytes, 32);
  assert_int_equal(tw_lan_discovery_decode(&back, pkt, sizeof pkt), TW_OK);
  assert_true(tw_key_equal(&k, &back));
}

static void test_lan_discovery_malformed(void **state) {
  (void)state;
  tw_key k = test_key_fill(0x3e), back;
  uint8_t pkt[TW_LAN_DISCOVERY_SIZE + 4] = {0};
  tw_lan_discovery_encode(pkt, &k);
  for (size_t len = 1; len < TW_LAN_DISCOVERY_SIZE; len++)
    assert_int_equal(tw_lan_discovery_decode(&back, pkt, len), TW_E_SHORT);
  assert_int_equal(tw_lan_discovery_decode(&back, pkt, TW_LAN_DISCOVERY_SIZE + 1), TW_E_LONG);
  assert_int_not_equal(tw_lan_discovery_decode(&back, pkt, 0), TW_OK);
  pkt[0] = 0x20;
  assert_int_equal(tw_lan_discovery_decode(&back, pkt, TW_LAN_DISCOVERY_SIZE), TW_E_KIND);
}

/* ---- Bootstrap Info ---- */

/* ---- NAT ping (a DHT Request's plaintext) ---- */

static void test_nat_ping_round_trip(void **state) {
  (void)state;
  for (uint8_t flag = TW_NAT_PING_REQUEST; flag <= TW_NAT_PING_RESPONSE; flag++) {
    tw_nat_ping_payload in = {.flag = flag, .id = 0x0102030405060708ULL}, out;
    uint8_t buf[TW_NAT_PING_PLAIN_SIZE];
    assert_int_equal(tw_nat_ping_payload_encode(buf, &in), TW_NAT_PING_PLAIN_SIZE);
    const uint8_t want[] = {0xfe, flag, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(buf, want, sizeof want);
    assert_int_equal(tw_nat_ping_payload_decode(&out, buf, sizeof buf), TW_OK);
    assert_int_equal(out.flag, flag);
    assert_true(out.id == in.id);
  }
}

static void test_nat_ping_wrong_size(void **state) {
  (void)state;
  uint8_t buf[16] = {0xfe, 0x00};
  tw_nat_ping_payload out;
  for (size_t len = 0; len < TW_NAT_PING_PLAIN_SIZE; len++)
    assert_int_equal(tw_nat_ping_payload_decode(&out, buf, len), TW_E_SHORT);
  for (size_t len = TW_NAT_PING_PLAIN_SIZE + 1; len <= sizeof buf; len++)
    assert_int_equal(tw_nat_ping_payload_decode(&out, buf, len), TW_E_LONG);
}

static void test_nat_ping_wrong_kind_or_flag(void **state) {
  (void)state;
  uint8_t buf[TW_NAT_PING_PLAIN_SIZE] = {0xfe, 0x00, 1, 2, 3, 4, 5, 6, 7, 8};
  tw_nat_ping_payload out;
  buf[0] = 0x9c; /* another DHT Request's kind (a DHT public key packet) */
  assert_int_equal(tw_nat_ping_payload_decode(&out, buf, sizeof buf), TW_E_KIND);
  buf[0] = 0xff;
  assert_int_equal(tw_nat_ping_payload_decode(&out, buf, sizeof buf), TW_E_KIND);
  buf[0] = 0xfe;
  for (int flag = 2; flag < 256; flag += 51) {
    buf[1] = (uint8_t)flag;
    assert_int_equal(tw_nat_ping_payload_decode(&out, buf, sizeof buf), TW_E_FORMAT);
  }
}

static void test_bootstrap_info_round_trip(void **state) {
  (void)state;
  const char motd[] = "hello from toxwire";
  uint8_t out[TW_BOOTSTRAP_INFO_RESPONSE_MAX];
  int n = tw_bootstrap_info_response_encode(out, sizeof out, 0x0b0c0d0e, (const uint8_t *)motd,
                                            strlen(motd));
  assert_int_equal(n, 5 + (int)strlen(motd));
  assert_int_equal(out[0], 0xf0);
  assert_int_equal(out[1], 0x0b);
  assert_int_equal(out[4], 0x0e);
  uint32_t version = 0;
  const uint8_t *m = NULL;
  size_t mlen = 0;
  assert_int_equal(tw_bootstrap_info_response_decode(&version, &m, &mlen, out, (size_t)n), TW_OK);
  assert_int_equal(version, 0x0b0c0d0e);
  assert_int_equal(mlen, strlen(motd));
  assert_memory_equal(m, motd, mlen);
  /* Empty and maximal motd. */
  n = tw_bootstrap_info_response_encode(out, sizeof out, 1, NULL, 0);
  assert_int_equal(n, 5);
  assert_int_equal(tw_bootstrap_info_response_decode(&version, &m, &mlen, out, 5), TW_OK);
  assert_int_equal(mlen, 0);
  uint8_t big[TW_MOTD_MAX];
  memset(big, 'm', sizeof big);
  n = tw_bootstrap_info_response_encode(out, sizeof out, 1, big, sizeof big);
  assert_int_equal(n, TW_BOOTSTRAP_INFO_RESPONSE_MAX);
  assert_int_equal(tw_bootstrap_info_response_decode(&version, &m, &mlen, out, (size_t)n), TW_OK);
  assert_int_equal(mlen, TW_MOTD_MAX);
}

static void test_bootstrap_info_malformed(void **state) {
  (void)state;
  uint8_t big[TW_MOTD_MAX + 1];
  memset(big, 'm', sizeof big);
  uint8_t out[TW_BOOTSTRAP_INFO_RESPONSE_MAX + 1];
  assert_int_equal(tw_bootstrap_info_response_encode(out, sizeof out, 1, big, sizeof big),
                   TW_E_LONG);
  assert_true(tw_bootstrap_info_response_encode(out, 4, 1, NULL, 0) < 0);
  /* Decoding: too long, too short, wrong kind. */
  out[0] = 0xf0;
  memset(out + 1, 0, sizeof out - 1);
  uint32_t version;
  const uint8_t *m;
  size_t mlen;
  assert_int_equal(tw_bootstrap_info_response_decode(&version, &m, &mlen, out, sizeof out),
                   TW_E_LONG);
  for (size_t len = 1; len < 5; len++)
    assert_int_equal(tw_bootstrap_info_response_decode(&version, &m, &mlen, out, len),
                     TW_E_SHORT);
  out[0] = 0xf1;
  assert_int_equal(tw_bootstrap_info_response_decode(&version, &m, &mlen, out, 10), TW_E_KIND);
}

int main(void) {
  assert_int_equal(tw_crypto_init(), TW_OK);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_packet_sizes),
      cmocka_unit_test(test_header_too_short),
      cmocka_unit_test(test_header_too_long),
      cmocka_unit_test(test_seal_refuses_small_buffer),
      cmocka_unit_test(test_bad_ciphertext_fails_to_open),
      cmocka_unit_test(test_ping_request_round_trip),
      cmocka_unit_test(test_ping_response_round_trip),
      cmocka_unit_test(test_ping_payload_wrong_size),
      cmocka_unit_test(test_ping_flag_other_than_0_or_1),
      cmocka_unit_test(test_nodes_request_round_trip),
      cmocka_unit_test(test_nodes_request_wrong_size),
      cmocka_unit_test(test_nodes_response_one_node),
      cmocka_unit_test(test_nodes_response_two_nodes_mixed),
      cmocka_unit_test(test_nodes_response_three_nodes_mixed),
      cmocka_unit_test(test_nodes_response_four_nodes),
      cmocka_unit_test(test_nodes_response_zero_nodes_decodes),
      cmocka_unit_test(test_nodes_response_zero_nodes_encode_refused),
      cmocka_unit_test(test_nodes_response_more_than_four),
      cmocka_unit_test(test_nodes_response_truncated_at_every_byte),
      cmocka_unit_test(test_nodes_response_trailing_bytes),
      cmocka_unit_test(test_nodes_response_count_below_nodes_present),
      cmocka_unit_test(test_nodes_response_unknown_family),
      cmocka_unit_test(test_nodes_response_tcp_types_round_trip),
      cmocka_unit_test(test_nodes_response_encode_small_buffer_or_bad_family),
      cmocka_unit_test(test_lan_discovery_round_trip),
      cmocka_unit_test(test_lan_discovery_malformed),
      cmocka_unit_test(test_nat_ping_round_trip),
      cmocka_unit_test(test_nat_ping_wrong_size),
      cmocka_unit_test(test_nat_ping_wrong_kind_or_flag),
      cmocka_unit_test(test_bootstrap_info_round_trip),
      cmocka_unit_test(test_bootstrap_info_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
