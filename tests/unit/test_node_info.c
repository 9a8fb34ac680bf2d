/* core/node_info.h: the packed node format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/node_info.h"
#include "testutil.h"
#include "toxwire/error.h"

static tw_node_info node(uint8_t family, bool tcp, uint8_t seed) {
  tw_node_info n;
  memset(&n, 0, sizeof n);
  n.addr.family = family;
  size_t iplen = family == TW_AF_INET6 ? 16 : 4;
  for (size_t i = 0; i < iplen; i++) n.addr.ip[i] = (uint8_t)(seed + 17 * i);
  n.addr.port = (uint16_t)(0x8000 | seed << 4 | 0x5);
  for (int i = 0; i < TW_PUBLIC_KEY_SIZE; i++) n.pk.bytes[i] = (uint8_t)(seed ^ (i * 3));
  n.tcp = tcp;
  return n;
}

static void check_round_trip(uint8_t family, bool tcp, uint8_t want_type, size_t want_size) {
  tw_node_info n = node(family, tcp, 0x42), back;
  uint8_t buf[64];
  memset(buf, 0xee, sizeof buf);
  tw_writer w = tw_writer_init(buf, sizeof buf);
  assert_int_equal(tw_node_info_pack(&w, &n), TW_OK);
  assert_int_equal(w.pos, want_size);
  assert_int_equal(tw_node_info_packed_size(&n), want_size);
  /* Layout: [type][ip][port BE][key] */
  size_t iplen = want_size - 1 - 2 - 32;
  assert_int_equal(buf[0], want_type);
  assert_memory_equal(buf + 1, n.addr.ip, iplen);
  assert_int_equal(buf[1 + iplen], n.addr.port >> 8);
  assert_int_equal(buf[2 + iplen], n.addr.port & 0xff);
  assert_memory_equal(buf + 3 + iplen, n.pk.bytes, 32);
  assert_int_equal(buf[want_size], 0xee);

  tw_reader r = tw_reader_init(buf, w.pos);
  assert_int_equal(tw_node_info_unpack(&r, &back), TW_OK);
  assert_true(tw_reader_done(&r));
  assert_int_equal(back.addr.family, family);
  assert_true(tw_addr_equal(&back.addr, &n.addr));
  assert_true(tw_key_equal(&back.pk, &n.pk));
  assert_int_equal(back.tcp, tcp);
  /* IPv4 leaves the rest of ip[] zero, so whole structs compare equal. */
  assert_memory_equal(back.addr.ip, n.addr.ip, 16);
}

static void test_udp4_round_trip(void **state) {
  (void)state;
  check_round_trip(TW_AF_INET, false, TW_IPTYPE_UDP4, TW_PACKED_NODE_SIZE_IP4);
}
static void test_udp6_round_trip(void **state) {
  (void)state;
  check_round_trip(TW_AF_INET6, false, TW_IPTYPE_UDP6, TW_PACKED_NODE_SIZE_IP6);
}
static void test_tcp4_round_trip(void **state) {
  (void)state;
  check_round_trip(TW_AF_INET, true, TW_IPTYPE_TCP4, TW_PACKED_NODE_SIZE_IP4);
}
static void test_tcp6_round_trip(void **state) {
  (void)state;
  check_round_trip(TW_AF_INET6, true, TW_IPTYPE_TCP6, TW_PACKED_NODE_SIZE_IP6);
}

static void test_sizes_are_39_and_51(void **state) {
  (void)state;
  assert_int_equal(TW_PACKED_NODE_SIZE_IP4, 39);
  assert_int_equal(TW_PACKED_NODE_SIZE_IP6, 51);
}

static void test_unpack_unknown_ip_type(void **state) {
  (void)state;
  uint8_t buf[64];
  tw_node_info n = node(TW_AF_INET6, false, 1), back;
  tw_writer w = tw_writer_init(buf, sizeof buf);
  assert_int_equal(tw_node_info_pack(&w, &n), TW_OK);
  for (int t = 0; t < 256; t++) {
    if (t == 2 || t == 10 || t == 130 || t == 138) continue;
    buf[0] = (uint8_t)t;
    tw_reader r = tw_reader_init(buf, w.pos);
    assert_int_equal(tw_node_info_unpack(&r, &back), TW_E_FAMILY);
  }
}

static void test_pack_unknown_family_refused(void **state) {
  (void)state;
  uint8_t buf[64];
  uint8_t fams[] = {TW_AF_UNSPEC, 1, 3, 11, 255};
  for (size_t i = 0; i < sizeof fams; i++) {
    tw_node_info n = node(TW_AF_INET, false, 1);
    n.addr.family = fams[i];
    tw_writer w = tw_writer_init(buf, sizeof buf);
    assert_int_equal(tw_node_info_pack(&w, &n), TW_E_FAMILY);
    assert_int_equal(w.pos, 0);
  }
}

static void truncated_at_every_byte(uint8_t family, bool tcp) {
  uint8_t buf[64];
  tw_node_info n = node(family, tcp, 9), back;
  tw_writer w = tw_writer_init(buf, sizeof buf);
  assert_int_equal(tw_node_info_pack(&w, &n), TW_OK);
  for (size_t len = 0; len < w.pos; len++) {
    tw_reader r = tw_reader_init(buf, len);
    assert_int_equal(tw_node_info_unpack(&r, &back), TW_E_SHORT);
    assert_false(tw_reader_ok(&r));
  }
}

static void test_unpack_truncated_at_every_byte(void **state) {
  (void)state;
  truncated_at_every_byte(TW_AF_INET, false);
  truncated_at_every_byte(TW_AF_INET6, false);
  truncated_at_every_byte(TW_AF_INET, true);
  truncated_at_every_byte(TW_AF_INET6, true);
}

static void test_pack_into_short_writer_fails(void **state) {
  (void)state;
  uint8_t buf[64];
  tw_node_info n4 = node(TW_AF_INET, false, 3), n6 = node(TW_AF_INET6, false, 3);
  for (size_t cap = 0; cap < TW_PACKED_NODE_SIZE_IP6; cap++) {
    tw_writer w = tw_writer_init(buf, cap);
    assert_int_equal(tw_node_info_pack(&w, &n6), TW_E_SHORT);
    if (cap < TW_PACKED_NODE_SIZE_IP4) {
      w = tw_writer_init(buf, cap);
      assert_int_equal(tw_node_info_pack(&w, &n4), TW_E_SHORT);
    }
  }
}

static void test_unpack_sequence_leaves_reader_after_each(void **state) {
  (void)state;
  /* Mixed list as a Nodes Response carries it: v4, v6, v4. */
  uint8_t buf[200];
  tw_node_info in[3] = {node(TW_AF_INET, false, 1), node(TW_AF_INET6, false, 2),
                        node(TW_AF_INET, false, 3)};
  tw_writer w = tw_writer_init(buf, sizeof buf);
  for (int i = 0; i < 3; i++) assert_int_equal(tw_node_info_pack(&w, &in[i]), TW_OK);
  assert_int_equal(w.pos, 39 + 51 + 39);
  tw_reader r = tw_reader_init(buf, w.pos);
  for (int i = 0; i < 3; i++) {
    tw_node_info out;
    assert_int_equal(tw_node_info_unpack(&r, &out), TW_OK);
    assert_true(tw_addr_equal(&out.addr, &in[i].addr));
    assert_true(tw_key_equal(&out.pk, &in[i].pk));
  }
  assert_true(tw_reader_done(&r));
}

static void test_unpack_clears_output_on_error(void **state) {
  (void)state;
  uint8_t buf[1] = {0x7f};
  tw_node_info out;
  memset(&out, 0xaa, sizeof out);
  tw_reader r = tw_reader_init(buf, sizeof buf);
  assert_int_equal(tw_node_info_unpack(&r, &out), TW_E_FAMILY);
  assert_int_equal(out.addr.family, 0);
  assert_false(out.tcp);
}

int main(void) {
  tw_crypto_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_udp4_round_trip),
      cmocka_unit_test(test_udp6_round_trip),
      cmocka_unit_test(test_tcp4_round_trip),
      cmocka_unit_test(test_tcp6_round_trip),
      cmocka_unit_test(test_sizes_are_39_and_51),
      cmocka_unit_test(test_unpack_unknown_ip_type),
      cmocka_unit_test(test_pack_unknown_family_refused),
      cmocka_unit_test(test_unpack_truncated_at_every_byte),
      cmocka_unit_test(test_pack_into_short_writer_fails),
      cmocka_unit_test(test_unpack_sequence_leaves_reader_after_each),
      cmocka_unit_test(test_unpack_clears_output_on_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
