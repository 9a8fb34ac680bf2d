/* core/addr.c: address comparison, the LAN rule, v4-mapped unmapping and
 * formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "toxwire/error.h"
#include "toxwire/types.h"

static tw_addr v6(const uint8_t ip[16], uint16_t port) {
  tw_addr a;
  memset(&a, 0, sizeof a);
  a.family = TW_AF_INET6;
  memcpy(a.ip, ip, 16);
  a.port = port;
  return a;
}

static void test_equal_compares_family_ip_port(void **state) {
  (void)state;
  tw_addr a = test_addr4(1, 2, 3, 4, 5), b = a;
  assert_true(tw_addr_equal(&a, &b));
  b.port = 6;
  assert_false(tw_addr_equal(&a, &b));
  b = a;
  b.ip[3] = 9;
  assert_false(tw_addr_equal(&a, &b));
  b = a;
  b.family = TW_AF_INET6;
  assert_false(tw_addr_equal(&a, &b));
  /* Bytes past the IPv4 address do not matter for IPv4. */
  b = a;
  b.ip[10] = 0x55;
  assert_true(tw_addr_equal(&a, &b));
  tw_addr c = test_addr6(1, 33445), d = test_addr6(2, 33445);
  assert_false(tw_addr_equal(&c, &d));
}

static void test_is_set(void **state) {
  (void)state;
  tw_addr a = test_addr4(1, 2, 3, 4, 5);
  assert_true(tw_addr_is_set(&a));
  a.port = 0;
  assert_false(tw_addr_is_set(&a));
  tw_addr z;
  memset(&z, 0, sizeof z);
  z.port = 1;
  assert_false(tw_addr_is_set(&z));
  z.family = 7;
  assert_false(tw_addr_is_set(&z));
}

static void test_is_lan_v4(void **state) {
  (void)state;
  struct { uint8_t a, b; bool lan; } cases[] = {
      {127, 0, true},   {10, 200, true},  {172, 16, true},  {172, 31, true},
      {172, 15, false}, {172, 32, false}, {192, 168, true}, {192, 169, false},
      {169, 254, true}, {169, 253, false}, {100, 64, true}, {100, 127, true},
      {100, 128, false}, {100, 63, false}, {8, 8, false},   {1, 1, false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tw_addr a = test_addr4(cases[i].a, cases[i].b, 1, 1, 1);
    assert_int_equal(tw_addr_is_lan(&a), cases[i].lan);
  }
}

static void test_is_lan_v6(void **state) {
  (void)state;
  uint8_t loop[16] = {[15] = 1};
  uint8_t ll[16] = {0xfe, 0x80, [15] = 1};
  uint8_t ula[16] = {0xfd, 0x12, [15] = 1};
  uint8_t glob[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
  uint8_t mapped_lan[16] = {[10] = 0xff, [11] = 0xff, [12] = 192, [13] = 168, [14] = 1, [15] = 1};
  uint8_t mapped_wan[16] = {[10] = 0xff, [11] = 0xff, [12] = 8, [13] = 8, [14] = 8, [15] = 8};
  tw_addr a;
  a = v6(loop, 1);
  assert_true(tw_addr_is_lan(&a));
  a = v6(ll, 1);
  assert_true(tw_addr_is_lan(&a));
  a = v6(ula, 1);
  assert_true(tw_addr_is_lan(&a));
  a = v6(glob, 1);
  assert_false(tw_addr_is_lan(&a));
  a = v6(mapped_lan, 1);
  assert_true(tw_addr_is_lan(&a));
  a = v6(mapped_wan, 1);
  assert_false(tw_addr_is_lan(&a));
}

static void test_unmap(void **state) {
  (void)state;
  uint8_t mapped[16] = {[10] = 0xff, [11] = 0xff, [12] = 1, [13] = 2, [14] = 3, [15] = 4};
  tw_addr m = v6(mapped, 777);
  tw_addr u = tw_addr_unmap(&m);
  tw_addr want = test_addr4(1, 2, 3, 4, 777);
  assert_int_equal(u.family, TW_AF_INET);
  assert_true(tw_addr_equal(&u, &want));
  assert_memory_equal(u.ip, want.ip, 16);
  tw_addr g = test_addr6(9, 1);
  u = tw_addr_unmap(&g);
  assert_true(tw_addr_equal(&u, &g));
}

static void test_format(void **state) {
  (void)state;
  char out[TW_ADDR_STRLEN];
  tw_addr a = test_addr4(127, 0, 0, 1, 33445);
  assert_string_equal(tw_addr_format(&a, out), "127.0.0.1:33445");
  a = test_addr4(255, 255, 255, 255, 65535);
  assert_string_equal(tw_addr_format(&a, out), "255.255.255.255:65535");
  uint8_t loop[16] = {[15] = 1};
  a = v6(loop, 1);
  assert_string_equal(tw_addr_format(&a, out), "[::1]:1");
  uint8_t zero[16] = {0};
  a = v6(zero, 0);
  assert_string_equal(tw_addr_format(&a, out), "[::]:0");
  a = test_addr6(0xabcd, 5);
  assert_string_equal(tw_addr_format(&a, out), "[2001:db8::abcd]:5");
  /* A single zero group is not compressed. */
  uint8_t one0[16] = {0, 1, 0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7};
  a = v6(one0, 9);
  assert_string_equal(tw_addr_format(&a, out), "[1:0:2:3:4:5:6:7]:9");
  /* The longest run wins; the first of equal runs wins. */
  uint8_t runs[16] = {0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3};
  a = v6(runs, 9);
  assert_string_equal(tw_addr_format(&a, out), "[1:0:0:2::3]:9");
  uint8_t tie[16] = {0, 1, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 0, 0, 4};
  a = v6(tie, 9);
  assert_string_equal(tw_addr_format(&a, out), "[1::2:3:0:0:4]:9");
  uint8_t full[16];
  memset(full, 0xff, 16);
  a = v6(full, 65535);
  assert_string_equal(tw_addr_format(&a, out),
                      "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
  assert_true(strlen(out) < TW_ADDR_STRLEN);
  tw_addr none;
  memset(&none, 0, sizeof none);
  assert_string_equal(tw_addr_format(&none, out), "(none)");
}

static void test_strerror_names_every_code(void **state) {
  (void)state;
  for (int e = 0; e > TW_E__LAST; e--) {
    const char *s = tw_strerror(e);
    assert_non_null(s);
    assert_string_not_equal(s, "unknown error");
  }
  assert_string_equal(tw_strerror(TW_E__LAST), "unknown error");
  assert_string_equal(tw_strerror(1), "unknown error");
  assert_string_equal(tw_strerror(-1000), "unknown error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_equal_compares_family_ip_port),
      cmocka_unit_test(test_is_set),
      cmocka_unit_test(test_is_lan_v4),
      cmocka_unit_test(test_is_lan_v6),
      cmocka_unit_test(test_unmap),
      cmocka_unit_test(test_format),
      cmocka_unit_test(test_strerror_names_every_code),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
