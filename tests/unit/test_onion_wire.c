/* onion/onion_wire.h: every onion encoder/decoder, its round trip and
 * every malformed form (spec "Onion"). Sizes are written out from the spec
 * rather than taken from the header, so a wrong constant fails here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/node_info.h"
#include "onion/onion_wire.h"
#include "testutil.h"
#include "toxwire/error.h"

/* From the spec: */
#define SPEC_IPPORT 19
#define SPEC_RET1 (24 + 19 + 16)        /* nonce, box(ip_port) */
#define SPEC_RET2 (24 + 19 + 59 + 16)   /* nonce, box(ip_port, ret1) */
#define SPEC_RET3 (24 + 19 + 118 + 16)  /* nonce, box(ip_port, ret2) */
#define SPEC_ANNOUNCE_PLAIN (32 + 32 + 32 + 8)
#define SPEC_ANNOUNCE_REQUEST (1 + 24 + 32 + SPEC_ANNOUNCE_PLAIN + 16)
#define SPEC_ANNOUNCE_RESPONSE_PLAIN_MAX (1 + 32 + 4 * 51)
#define SPEC_DHTPK_MIN (1 + 8 + 32)
#define SPEC_DHTPK_MAX (SPEC_DHTPK_MIN + 4 * 51)

static tw_node_info mk_node(uint8_t family, uint8_t seed, bool tcp) {
  tw_node_info n;
  memset(&n, 0, sizeof n);
  if (family == TW_AF_INET)
    n.addr = test_addr4(198, 51, 100, seed, (uint16_t)(33445 + seed));
  else
    n.addr = test_addr6(seed, (uint16_t)(33445 + seed));
  n.pk = test_key_fill(seed);
  n.tcp = tcp;
  return n;
}

static void fill_pattern(uint8_t *p, size_t n, uint8_t start) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(start + i * 7);
}

/* ---- sizes ---- */

static void test_sizes_match_spec(void **state) {
  (void)state;
  assert_int_equal(TW_ONION_IPPORT_SIZE, SPEC_IPPORT);
  assert_int_equal(TW_ONION_RETURN_1, 59);
  assert_int_equal(TW_ONION_RETURN_1, SPEC_RET1);
  assert_int_equal(TW_ONION_RETURN_2, 118);
  assert_int_equal(TW_ONION_RETURN_2, SPEC_RET2);
  assert_int_equal(TW_ONION_RETURN_3, 177);
  assert_int_equal(TW_ONION_RETURN_3, SPEC_RET3);
  assert_int_equal(TW_ANNOUNCE_REQUEST_PLAIN_SIZE, SPEC_ANNOUNCE_PLAIN);
  assert_int_equal(TW_ANNOUNCE_REQUEST_SIZE, SPEC_ANNOUNCE_REQUEST);
  assert_int_equal(TW_ANNOUNCE_RESPONSE_PLAIN_MAX, SPEC_ANNOUNCE_RESPONSE_PLAIN_MAX);
  assert_int_equal(TW_ANNOUNCE_RESPONSE_MAX, 1 + 8 + 24 + SPEC_ANNOUNCE_RESPONSE_PLAIN_MAX + 16);
  assert_int_equal(TW_DHTPK_MIN, SPEC_DHTPK_MIN);
  assert_int_equal(TW_DHTPK_MAX, SPEC_DHTPK_MAX);
  assert_int_equal(TW_DHTPK_DHT_MIN, 1 + 32 + 24 + 16 + SPEC_DHTPK_MIN);
  assert_int_equal(TW_DATA_REQUEST_HEADER, 1 + 32 + 24 + 32);
  assert_int_equal(TW_DATA_RESPONSE_HEADER, 1 + 24 + 32);
  assert_int_equal(TW_ONION_MAX_PACKET_SIZE, 1400);
  /* A client packet of the largest data still fits each layer. */
  assert_int_equal(TW_ONION_MAX_DATA_SIZE + 1 + 24 + 32 + 3 * (16 + 19) + 2 * 32, 1400);
}

/* ---- ip_port ---- */

static void test_ipport_ipv4_written_zero_padded(void **state) {
  (void)state;
  tw_addr a = test_addr4(192, 0, 2, 33, 0x1234);
  /* Garbage beyond the four IPv4 bytes must not reach the wire. */
  memset(a.ip + 4, 0xee, 12);
  uint8_t out[SPEC_IPPORT + 5];
  memset(out, 0xaa, sizeof out);
  tw_writer w = tw_writer_init(out, sizeof out);
  assert_int_equal(tw_onion_ipport_write(&w, &a), TW_OK);
  assert_int_equal(w.pos, SPEC_IPPORT);
  const uint8_t want[SPEC_IPPORT] = {2, 192, 0, 2, 33, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34};
  assert_memory_equal(out, want, SPEC_IPPORT);
  assert_int_equal(out[SPEC_IPPORT], 0xaa); /* nothing written past it */

  tw_reader r = tw_reader_init(out, SPEC_IPPORT);
  tw_addr b;
  memset(&b, 0x55, sizeof b);
  assert_int_equal(tw_onion_ipport_read(&r, &b), TW_OK);
  assert_true(tw_reader_done(&r));
  tw_addr clean = test_addr4(192, 0, 2, 33, 0x1234);
  assert_int_equal(b.family, TW_AF_INET);
  assert_memory_equal(b.ip, clean.ip, 16);
  assert_int_equal(b.port, 0x1234);
  assert_true(tw_addr_equal(&b, &clean));

  /* Padding someone else filled is not read into the address. */
  for (int i = 5; i < 17; i++) out[i] = 0xee;
  r = tw_reader_init(out, SPEC_IPPORT);
  memset(&b, 0x55, sizeof b);
  assert_int_equal(tw_onion_ipport_read(&r, &b), TW_OK);
  assert_true(tw_addr_equal(&b, &clean));
  assert_memory_equal(b.ip, clean.ip, 16);
}

static void test_ipport_ipv6_round_trip(void **state) {
  (void)state;
  tw_addr a = test_addr6(0xbeef, 65535);
  for (int i = 4; i < 14; i++) a.ip[i] = (uint8_t)(0x10 + i);
  uint8_t out[SPEC_IPPORT];
  tw_writer w = tw_writer_init(out, sizeof out);
  assert_int_equal(tw_onion_ipport_write(&w, &a), TW_OK);
  assert_int_equal(out[0], 10);
  assert_memory_equal(out + 1, a.ip, 16);
  assert_int_equal(out[17], 0xff);
  assert_int_equal(out[18], 0xff);
  tw_reader r = tw_reader_init(out, sizeof out);
  tw_addr b;
  assert_int_equal(tw_onion_ipport_read(&r, &b), TW_OK);
  assert_true(tw_addr_equal(&a, &b));
  assert_memory_equal(b.ip, a.ip, 16);
}

static void test_ipport_write_refuses_unknown_family_and_short_buffer(void **state) {
  (void)state;
  tw_addr a = test_addr4(1, 2, 3, 4, 5);
  a.family = TW_AF_UNSPEC;
  uint8_t out[SPEC_IPPORT];
  tw_writer w = tw_writer_init(out, sizeof out);
  assert_int_equal(tw_onion_ipport_write(&w, &a), TW_E_FAMILY);
  a.family = 130;
  w = tw_writer_init(out, sizeof out);
  assert_int_equal(tw_onion_ipport_write(&w, &a), TW_E_FAMILY);
  a.family = TW_AF_INET;
  w = tw_writer_init(out, SPEC_IPPORT - 1);
  assert_int_equal(tw_onion_ipport_write(&w, &a), TW_E_SHORT);
  assert_false(tw_writer_ok(&w));
}

static void test_ipport_read_short(void **state) {
  (void)state;
  uint8_t in[SPEC_IPPORT] = {2, 1, 2, 3, 4};
  for (size_t len = 0; len < SPEC_IPPORT; len++) {
    tw_reader r = tw_reader_init(in, len);
    tw_addr a;
    assert_int_equal(tw_onion_ipport_read(&r, &a), TW_E_SHORT);
    r = tw_reader_init(in, len);
    uint8_t fam, raw[18];
    assert_int_equal(tw_onion_ipport_read_any(&r, &fam, &a, raw), TW_E_SHORT);
  }
}

static void test_ipport_read_refuses_bad_families(void **state) {
  (void)state;
  const uint8_t bad[] = {0, 1, 3, 9, 11, 130, 138, 255};
  for (size_t i = 0; i < sizeof bad; i++) {
    uint8_t in[SPEC_IPPORT] = {0};
    in[0] = bad[i];
    in[1] = 10;
    in[18] = 1;
    tw_reader r = tw_reader_init(in, sizeof in);
    tw_addr a;
    assert_int_equal(tw_onion_ipport_read(&r, &a), TW_E_FAMILY);
  }
}

static void test_ipport_read_any_tcp_family(void **state) {
  (void)state;
  uint8_t in[SPEC_IPPORT];
  in[0] = TW_ONION_FAMILY_TCP;
  fill_pattern(in + 1, 18, 0x31);
  assert_int_equal(TW_ONION_FAMILY_TCP, 130);
  tw_reader r = tw_reader_init(in, sizeof in);
  uint8_t fam = 0, raw[18];
  tw_addr a;
  memset(&a, 0x77, sizeof a);
  assert_int_equal(tw_onion_ipport_read_any(&r, &fam, &a, raw), TW_OK);
  assert_int_equal(fam, 130);
  assert_memory_equal(raw, in + 1, 18);
  assert_true(tw_reader_done(&r));
  /* Not a UDP address: left unset. */
  assert_false(tw_addr_is_set(&a));
  /* raw may be NULL. */
  r = tw_reader_init(in, sizeof in);
  assert_int_equal(tw_onion_ipport_read_any(&r, &fam, &a, NULL), TW_OK);
  /* read (UDP only) refuses it. */
  r = tw_reader_init(in, sizeof in);
  assert_int_equal(tw_onion_ipport_read(&r, &a), TW_E_FAMILY);
  /* Other unknown families: read_any reports the family and refuses. */
  in[0] = 138;
  r = tw_reader_init(in, sizeof in);
  assert_int_equal(tw_onion_ipport_read_any(&r, &fam, &a, raw), TW_E_FAMILY);
  assert_int_equal(fam, 138);
}

static void test_ipport_read_any_udp(void **state) {
  (void)state;
  uint8_t in[SPEC_IPPORT];
  tw_writer w = tw_writer_init(in, sizeof in);
  tw_addr a6 = test_addr6(7, 4242);
  assert_int_equal(tw_onion_ipport_write(&w, &a6), TW_OK);
  tw_reader r = tw_reader_init(in, sizeof in);
  uint8_t fam, raw[18];
  tw_addr b;
  assert_int_equal(tw_onion_ipport_read_any(&r, &fam, &b, raw), TW_OK);
  assert_int_equal(fam, TW_AF_INET6);
  assert_true(tw_addr_equal(&a6, &b));
  assert_memory_equal(raw, in + 1, 18);
}

/* ---- request layers ---- */

static size_t req_min(uint8_t kind) {
  size_t base = 1 + 24 + 32 + 16 + SPEC_IPPORT + 1;
  return kind == 0x80 ? base : kind == 0x81 ? base + SPEC_RET1 : base + SPEC_RET2;
}

static void test_return_size_for_each_kind(void **state) {
  (void)state;
  assert_int_equal(tw_onion_return_size_for(0x80), 0);
  assert_int_equal(tw_onion_return_size_for(0x81), SPEC_RET1);
  assert_int_equal(tw_onion_return_size_for(0x82), SPEC_RET2);
  assert_int_equal(tw_onion_return_size_for(0x8c), SPEC_RET3);
  assert_int_equal(tw_onion_return_size_for(0x8d), SPEC_RET2);
  assert_int_equal(tw_onion_return_size_for(0x8e), SPEC_RET1);
  for (int k = 0; k < 256; k++) {
    if (k == 0x81 || k == 0x82 || (k >= 0x8c && k <= 0x8e)) continue;
    assert_int_equal(tw_onion_return_size_for((uint8_t)k), 0);
  }
}

static void test_request_parse_each_layer(void **state) {
  (void)state;
  static uint8_t pkt[1400];
  const uint8_t kinds[] = {0x80, 0x81, 0x82};
  for (size_t k = 0; k < 3; k++) {
    size_t ret = kinds[k] == 0x80 ? 0 : kinds[k] == 0x81 ? SPEC_RET1 : SPEC_RET2;
    const size_t lens[] = {req_min(kinds[k]), req_min(kinds[k]) + 1, 700, 1400};
    for (size_t l = 0; l < 4; l++) {
      size_t len = lens[l];
      fill_pattern(pkt, len, (uint8_t)l);
      pkt[0] = kinds[k];
      tw_onion_request req;
      assert_int_equal(tw_onion_request_parse(&req, pkt, len), TW_OK);
      assert_int_equal(req.kind, kinds[k]);
      assert_ptr_equal(req.nonce, pkt + 1);
      assert_memory_equal(req.pk.bytes, pkt + 25, 32);
      assert_ptr_equal(req.cipher, pkt + 57);
      assert_int_equal(req.cipher_len, len - 57 - ret);
      assert_int_equal(req.ret_len, ret);
      if (ret == 0)
        assert_null(req.ret);
      else
        assert_ptr_equal(req.ret, pkt + len - ret);
    }
  }
}

static void test_request_parse_too_short(void **state) {
  (void)state;
  static uint8_t pkt[1400];
  const uint8_t kinds[] = {0x80, 0x81, 0x82};
  tw_onion_request req;
  assert_int_equal(tw_onion_request_parse(&req, pkt, 0), TW_E_SHORT);
  for (size_t k = 0; k < 3; k++) {
    memset(pkt, 0, sizeof pkt);
    pkt[0] = kinds[k];
    for (size_t len = 1; len < req_min(kinds[k]); len++)
      assert_int_equal(tw_onion_request_parse(&req, pkt, len), TW_E_SHORT);
  }
}

static void test_request_parse_too_long(void **state) {
  (void)state;
  static uint8_t pkt[1500];
  const uint8_t kinds[] = {0x80, 0x81, 0x82};
  tw_onion_request req;
  for (size_t k = 0; k < 3; k++) {
    pkt[0] = kinds[k];
    assert_int_equal(tw_onion_request_parse(&req, pkt, 1400), TW_OK);
    assert_int_equal(tw_onion_request_parse(&req, pkt, 1401), TW_E_LONG);
    assert_int_equal(tw_onion_request_parse(&req, pkt, 1500), TW_E_LONG);
  }
}

static void test_request_parse_wrong_kind(void **state) {
  (void)state;
  static uint8_t pkt[400];
  tw_onion_request req;
  for (int k = 0; k < 256; k++) {
    if (k >= 0x80 && k <= 0x82) continue;
    pkt[0] = (uint8_t)k;
    assert_int_equal(tw_onion_request_parse(&req, pkt, sizeof pkt), TW_E_KIND);
  }
}

/* ---- response layers ---- */

static void test_response_parse_each_layer(void **state) {
  (void)state;
  static uint8_t pkt[1400];
  const uint8_t kinds[] = {0x8c, 0x8d, 0x8e};
  const size_t rets[] = {SPEC_RET3, SPEC_RET2, SPEC_RET1};
  for (size_t k = 0; k < 3; k++) {
    const size_t lens[] = {1 + rets[k] + 1, 1 + rets[k] + 2, 1400};
    for (size_t l = 0; l < 3; l++) {
      size_t len = lens[l];
      fill_pattern(pkt, len, (uint8_t)(k * 3 + l));
      pkt[0] = kinds[k];
      tw_onion_response resp;
      assert_int_equal(tw_onion_response_parse(&resp, pkt, len), TW_OK);
      assert_int_equal(resp.kind, kinds[k]);
      assert_ptr_equal(resp.ret, pkt + 1);
      assert_int_equal(resp.ret_len, rets[k]);
      assert_ptr_equal(resp.data, pkt + 1 + rets[k]);
      assert_int_equal(resp.data_len, len - 1 - rets[k]);
    }
  }
}

static void test_response_parse_malformed(void **state) {
  (void)state;
  static uint8_t pkt[1500];
  const uint8_t kinds[] = {0x8c, 0x8d, 0x8e};
  const size_t rets[] = {SPEC_RET3, SPEC_RET2, SPEC_RET1};
  tw_onion_response resp;
  assert_int_equal(tw_onion_response_parse(&resp, pkt, 0), TW_E_SHORT);
  for (size_t k = 0; k < 3; k++) {
    pkt[0] = kinds[k];
    /* No data after the return path: nothing to hand on. */
    for (size_t len = 1; len <= 1 + rets[k]; len++)
      assert_int_equal(tw_onion_response_parse(&resp, pkt, len), TW_E_SHORT);
    assert_int_equal(tw_onion_response_parse(&resp, pkt, 1401), TW_E_LONG);
  }
  /* Request kinds carry return paths too but are no responses. */
  for (int k = 0; k < 256; k++) {
    if (k >= 0x8c && k <= 0x8e) continue;
    pkt[0] = (uint8_t)k;
    assert_int_equal(tw_onion_response_parse(&resp, pkt, 400), TW_E_KIND);
  }
}

/* ---- announce request ---- */

static void test_announce_request_plain_round_trip(void **state) {
  (void)state;
  tw_announce_request_plain in, out;
  fill_pattern(in.ping_id, 32, 1);
  in.search = test_key_fill(0x22);
  in.data_pk = test_key_fill(0x33);
  fill_pattern(in.sendback, 8, 0x90);
  uint8_t buf[SPEC_ANNOUNCE_PLAIN + 1];
  buf[SPEC_ANNOUNCE_PLAIN] = 0xcd;
  tw_announce_request_plain_encode(buf, &in);
  assert_int_equal(buf[SPEC_ANNOUNCE_PLAIN], 0xcd);
  /* Layout: ping id, searched key, data key, sendback. */
  assert_memory_equal(buf, in.ping_id, 32);
  assert_memory_equal(buf + 32, in.search.bytes, 32);
  assert_memory_equal(buf + 64, in.data_pk.bytes, 32);
  assert_memory_equal(buf + 96, in.sendback, 8);
  assert_int_equal(tw_announce_request_plain_decode(&out, buf, SPEC_ANNOUNCE_PLAIN), TW_OK);
  assert_memory_equal(&out, &in, sizeof in);
}

static void test_announce_request_plain_wrong_sizes(void **state) {
  (void)state;
  uint8_t buf[SPEC_ANNOUNCE_PLAIN + 8] = {0};
  tw_announce_request_plain out;
  for (size_t len = 0; len < SPEC_ANNOUNCE_PLAIN; len++)
    assert_int_equal(tw_announce_request_plain_decode(&out, buf, len), TW_E_SHORT);
  assert_int_equal(tw_announce_request_plain_decode(&out, buf, SPEC_ANNOUNCE_PLAIN + 1), TW_E_LONG);
  assert_int_equal(tw_announce_request_plain_decode(&out, buf, sizeof buf), TW_E_LONG);
}

/* ---- announce response ---- */

static void test_announce_response_plain_round_trip(void **state) {
  (void)state;
  for (uint8_t stored = 0; stored <= 2; stored++) {
    for (uint8_t count = 0; count <= 4; count++) {
      tw_announce_response_plain in, out;
      memset(&in, 0, sizeof in);
      in.is_stored = stored;
      fill_pattern(in.ping_or_key, 32, (uint8_t)(stored * 16 + count));
      in.count = count;
      size_t want = 1 + 32;
      for (uint8_t i = 0; i < count; i++) {
        /* a mix of UDP/TCP and IPv4/IPv6 */
        in.nodes[i] = mk_node(i & 1 ? TW_AF_INET6 : TW_AF_INET, (uint8_t)(i + 1), i == 2);
        want += i & 1 ? 51 : 39;
      }
      uint8_t buf[SPEC_ANNOUNCE_RESPONSE_PLAIN_MAX];
      int n = tw_announce_response_plain_encode(buf, sizeof buf, &in);
      assert_int_equal(n, (int)want);
      assert_int_equal(buf[0], stored);
      assert_memory_equal(buf + 1, in.ping_or_key, 32);
      memset(&out, 0x5a, sizeof out);
      assert_int_equal(tw_announce_response_plain_decode(&out, buf, (size_t)n), TW_OK);
      assert_int_equal(out.is_stored, stored);
      assert_memory_equal(out.ping_or_key, in.ping_or_key, 32);
      assert_int_equal(out.count, count);
      for (uint8_t i = 0; i < count; i++) {
        assert_true(tw_key_equal(&out.nodes[i].pk, &in.nodes[i].pk));
        assert_true(tw_addr_equal(&out.nodes[i].addr, &in.nodes[i].addr));
        assert_int_equal(out.nodes[i].tcp, in.nodes[i].tcp);
      }
      /* and encodes back to the same bytes */
      uint8_t again[SPEC_ANNOUNCE_RESPONSE_PLAIN_MAX];
      assert_int_equal(tw_announce_response_plain_encode(again, sizeof again, &out), n);
      assert_memory_equal(again, buf, (size_t)n);
    }
  }
}

static void test_announce_response_plain_max_is_four_ipv6(void **state) {
  (void)state;
  tw_announce_response_plain in;
  memset(&in, 0, sizeof in);
  in.count = 4;
  for (int i = 0; i < 4; i++) in.nodes[i] = mk_node(TW_AF_INET6, (uint8_t)(i + 9), false);
  uint8_t buf[SPEC_ANNOUNCE_RESPONSE_PLAIN_MAX];
  assert_int_equal(tw_announce_response_plain_encode(buf, sizeof buf, &in),
                   SPEC_ANNOUNCE_RESPONSE_PLAIN_MAX);
  /* One byte less room: refused, not truncated. */
  assert_int_equal(tw_announce_response_plain_encode(buf, sizeof buf - 1, &in), TW_E_SHORT);
}

static void test_announce_response_plain_decode_malformed(void **state) {
  (void)state;
  tw_announce_response_plain in, out;
  memset(&in, 0, sizeof in);
  in.is_stored = 2;
  in.count = 4;
  for (int i = 0; i < 4; i++) in.nodes[i] = mk_node(TW_AF_INET, (uint8_t)(i + 1), false);
  uint8_t buf[SPEC_ANNOUNCE_RESPONSE_PLAIN_MAX + 64];
  int n = tw_announce_response_plain_encode(buf, sizeof buf, &in);
  assert_int_equal(n, 1 + 32 + 4 * 39);

  /* too short: less than is_stored and the id */
  for (size_t len = 0; len < 33; len++)
    assert_int_equal(tw_announce_response_plain_decode(&out, buf, len), TW_E_SHORT);
  /* a node cut short */
  assert_int_equal(tw_announce_response_plain_decode(&out, buf, 33 + 38), TW_E_SHORT);
  assert_int_equal(tw_announce_response_plain_decode(&out, buf, 33 + 39 + 1), TW_E_SHORT);
  /* is_stored 3 and up */
  for (int s = 3; s < 256; s += 50) {
    buf[0] = (uint8_t)s;
    assert_int_equal(tw_announce_response_plain_decode(&out, buf, (size_t)n), TW_E_FORMAT);
  }
  buf[0] = 2;
  /* more than 4 nodes */
  tw_writer w = tw_writer_init(buf + n, sizeof buf - (size_t)n);
  tw_node_info extra = mk_node(TW_AF_INET, 77, false);
  assert_int_equal(tw_node_info_pack(&w, &extra), TW_OK);
  assert_int_equal(tw_announce_response_plain_decode(&out, buf, (size_t)n + w.pos), TW_E_COUNT);
  /* a trailing byte after 4 nodes is a fifth node, so also too many */
  assert_int_equal(tw_announce_response_plain_decode(&out, buf, (size_t)n + 1), TW_E_COUNT);
  /* a bad node family */
  buf[33 + 39] = 3;
  assert_int_equal(tw_announce_response_plain_decode(&out, buf, (size_t)n), TW_E_FAMILY);
  buf[33 + 39] = 0;
  assert_int_equal(tw_announce_response_plain_decode(&out, buf, (size_t)n), TW_E_FAMILY);
}

static void test_announce_response_plain_encode_refuses_bad(void **state) {
  (void)state;
  tw_announce_response_plain in;
  memset(&in, 0, sizeof in);
  uint8_t buf[SPEC_ANNOUNCE_RESPONSE_PLAIN_MAX + 51];
  in.is_stored = 3;
  assert_int_equal(tw_announce_response_plain_encode(buf, sizeof buf, &in), TW_E_FORMAT);
  in.is_stored = 0;
  in.count = 5;
  for (int i = 0; i < 5 && i < 4; i++) in.nodes[i] = mk_node(TW_AF_INET, (uint8_t)(i + 1), false);
  assert_int_equal(tw_announce_response_plain_encode(buf, sizeof buf, &in), TW_E_COUNT);
  in.count = 2;
  in.nodes[1].addr.family = TW_AF_UNSPEC;
  assert_int_equal(tw_announce_response_plain_encode(buf, sizeof buf, &in), TW_E_FAMILY);
  in.count = 1;
  assert_int_equal(tw_announce_response_plain_encode(buf, 32, &in), TW_E_SHORT);
  assert_int_equal(tw_announce_response_plain_encode(buf, 33 + 38, &in), TW_E_SHORT);
  assert_int_equal(tw_announce_response_plain_encode(buf, 33 + 39, &in), 33 + 39);
}

/* ---- DHT public key packet ---- */

static void test_dhtpk_round_trip(void **state) {
  (void)state;
  for (uint8_t count = 0; count <= 4; count++) {
    tw_dhtpk in, out;
    memset(&in, 0, sizeof in);
    in.no_replay = 0x0102030405060708ULL + count;
    in.dht_pk = test_key_fill((uint8_t)(0x40 + count));
    in.count = count;
    size_t want = SPEC_DHTPK_MIN;
    for (uint8_t i = 0; i < count; i++) {
      in.nodes[i] = mk_node(i & 1 ? TW_AF_INET : TW_AF_INET6, (uint8_t)(i + 3), i < 2);
      want += i & 1 ? 39 : 51;
    }
    uint8_t buf[SPEC_DHTPK_MAX];
    int n = tw_dhtpk_encode(buf, sizeof buf, &in);
    assert_int_equal(n, (int)want);
    const uint8_t head[9] = {0x9c, 1, 2, 3, 4, 5, 6, 7, (uint8_t)(8 + count)};
    assert_memory_equal(buf, head, 9);
    assert_memory_equal(buf + 9, in.dht_pk.bytes, 32);
    assert_int_equal(tw_dhtpk_decode(&out, buf, (size_t)n), TW_OK);
    assert_int_equal(out.no_replay, in.no_replay);
    assert_true(tw_key_equal(&out.dht_pk, &in.dht_pk));
    assert_int_equal(out.count, count);
    for (uint8_t i = 0; i < count; i++) {
      assert_true(tw_addr_equal(&out.nodes[i].addr, &in.nodes[i].addr));
      assert_true(tw_key_equal(&out.nodes[i].pk, &in.nodes[i].pk));
      assert_int_equal(out.nodes[i].tcp, in.nodes[i].tcp);
    }
    uint8_t again[SPEC_DHTPK_MAX];
    assert_int_equal(tw_dhtpk_encode(again, sizeof again, &out), n);
    assert_memory_equal(again, buf, (size_t)n);
  }
}

static void test_dhtpk_sizes(void **state) {
  (void)state;
  tw_dhtpk in, out;
  memset(&in, 0, sizeof in);
  in.count = 4;
  for (int i = 0; i < 4; i++) in.nodes[i] = mk_node(TW_AF_INET6, (uint8_t)(i + 1), false);
  uint8_t buf[SPEC_DHTPK_MAX + 64];
  int n = tw_dhtpk_encode(buf, sizeof buf, &in);
  assert_int_equal(n, SPEC_DHTPK_MAX);
  assert_int_equal(tw_dhtpk_decode(&out, buf, SPEC_DHTPK_MAX), TW_OK);
  /* too long */
  assert_int_equal(tw_dhtpk_decode(&out, buf, SPEC_DHTPK_MAX + 1), TW_E_LONG);
  assert_int_equal(tw_dhtpk_decode(&out, buf, sizeof buf), TW_E_LONG);
  /* too short */
  for (size_t len = 0; len < SPEC_DHTPK_MIN; len++)
    assert_int_equal(tw_dhtpk_decode(&out, buf, len), TW_E_SHORT);
  /* a node cut short */
  assert_int_equal(tw_dhtpk_decode(&out, buf, SPEC_DHTPK_MIN + 50), TW_E_SHORT);
  assert_int_equal(tw_dhtpk_decode(&out, buf, SPEC_DHTPK_MIN + 51 + 1), TW_E_SHORT);
  /* encoding needs room */
  assert_int_equal(tw_dhtpk_encode(buf, SPEC_DHTPK_MAX - 1, &in), TW_E_SHORT);
  in.count = 0;
  assert_int_equal(tw_dhtpk_encode(buf, SPEC_DHTPK_MIN - 1, &in), TW_E_SHORT);
  assert_int_equal(tw_dhtpk_encode(buf, SPEC_DHTPK_MIN, &in), SPEC_DHTPK_MIN);
}

static void test_dhtpk_malformed(void **state) {
  (void)state;
  tw_dhtpk in, out;
  memset(&in, 0, sizeof in);
  in.count = 4;
  for (int i = 0; i < 4; i++) in.nodes[i] = mk_node(TW_AF_INET, (uint8_t)(i + 1), false);
  uint8_t buf[SPEC_DHTPK_MAX];
  int n = tw_dhtpk_encode(buf, sizeof buf, &in);
  assert_int_equal(n, SPEC_DHTPK_MIN + 4 * 39);
  /* wrong kind */
  buf[0] = 0x9d;
  assert_int_equal(tw_dhtpk_decode(&out, buf, (size_t)n), TW_E_KIND);
  buf[0] = 0x9c;
  /* a fifth node */
  tw_writer w = tw_writer_init(buf + n, sizeof buf - (size_t)n);
  tw_node_info extra = mk_node(TW_AF_INET, 66, false);
  assert_int_equal(tw_node_info_pack(&w, &extra), TW_OK);
  assert_int_equal(tw_dhtpk_decode(&out, buf, (size_t)n + 39), TW_E_COUNT);
  /* bad node family */
  buf[SPEC_DHTPK_MIN + 39 * 2] = 0x07;
  assert_int_equal(tw_dhtpk_decode(&out, buf, (size_t)n), TW_E_FAMILY);
  /* the encoder refuses what the decoder would */
  in.count = 5;
  assert_int_equal(tw_dhtpk_encode(buf, sizeof buf, &in), TW_E_COUNT);
  in.count = 1;
  in.nodes[0].addr.family = 0;
  assert_int_equal(tw_dhtpk_encode(buf, sizeof buf, &in), TW_E_FAMILY);
}

int main(void) {
  assert_int_equal(tw_crypto_init(), TW_OK);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sizes_match_spec),
      cmocka_unit_test(test_ipport_ipv4_written_zero_padded),
      cmocka_unit_test(test_ipport_ipv6_round_trip),
      cmocka_unit_test(test_ipport_write_refuses_unknown_family_and_short_buffer),
      cmocka_unit_test(test_ipport_read_short),
      cmocka_unit_test(test_ipport_read_refuses_bad_families),
      cmocka_unit_test(test_ipport_read_any_tcp_family),
      cmocka_unit_test(test_ipport_read_any_udp),
      cmocka_unit_test(test_return_size_for_each_kind),
      cmocka_unit_test(test_request_parse_each_layer),
      cmocka_unit_test(test_request_parse_too_short),
      cmocka_unit_test(test_request_parse_too_long),
      cmocka_unit_test(test_request_parse_wrong_kind),
      cmocka_unit_test(test_response_parse_each_layer),
      cmocka_unit_test(test_response_parse_malformed),
      cmocka_unit_test(test_announce_request_plain_round_trip),
      cmocka_unit_test(test_announce_request_plain_wrong_sizes),
      cmocka_unit_test(test_announce_response_plain_round_trip),
      cmocka_unit_test(test_announce_response_plain_max_is_four_ipv6),
      cmocka_unit_test(test_announce_response_plain_decode_malformed),
      cmocka_unit_test(test_announce_response_plain_encode_refuses_bad),
      cmocka_unit_test(test_dhtpk_round_trip),
      cmocka_unit_test(test_dhtpk_sizes),
      cmocka_unit_test(test_dhtpk_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
