/* core/crypto.h: the box, key derivation, randomness helpers and the shared
 * key cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/crypto.h"
#include "testutil.h"
#include "toxwire/error.h"

static void test_keypair_is_deterministic_from_env(void **state) {
  (void)state;
  tw_keypair a = test_keypair(1), b = test_keypair(1), c = test_keypair(2);
  assert_memory_equal(a.pk.bytes, b.pk.bytes, 32);
  assert_memory_equal(a.sk, b.sk, 32);
  assert_memory_not_equal(a.pk.bytes, c.pk.bytes, 32);
  tw_key pk;
  tw_public_key_from_secret(&pk, a.sk);
  assert_memory_equal(pk.bytes, a.pk.bytes, 32);
}

static void test_shared_key_is_symmetric_and_matches_libsodium(void **state) {
  (void)state;
  tw_keypair a = test_keypair(10), b = test_keypair(11);
  uint8_t ab[32], ba[32], direct[32];
  tw_shared_key_compute(ab, &b.pk, a.sk);
  tw_shared_key_compute(ba, &a.pk, b.sk);
  assert_memory_equal(ab, ba, 32);
  assert_int_equal(crypto_box_beforenm(direct, b.pk.bytes, a.sk), 0);
  assert_memory_equal(ab, direct, 32);
}

static void test_low_order_key_gives_zero_shared_key(void **state) {
  (void)state;
  tw_keypair a = test_keypair(12);
  tw_key zero;
  memset(&zero, 0, sizeof zero);
  uint8_t out[32], z[32] = {0};
  memset(out, 0x5a, sizeof out);
  tw_shared_key_compute(out, &zero, a.sk);
  assert_memory_equal(out, z, 32);
}

static void test_box_round_trip(void **state) {
  (void)state;
  tw_keypair a = test_keypair(20), b = test_keypair(21);
  uint8_t sa[32], sb[32];
  tw_shared_key_compute(sa, &b.pk, a.sk);
  tw_shared_key_compute(sb, &a.pk, b.sk);
  uint8_t nonce[TW_NONCE_SIZE];
  for (int i = 0; i < TW_NONCE_SIZE; i++) nonce[i] = (uint8_t)i;
  for (size_t len = 0; len < 300; len += 37) {
    uint8_t plain[300], box[300 + TW_MAC_SIZE], back[300];
    for (size_t i = 0; i < len; i++) plain[i] = (uint8_t)(i * 13);
    tw_box_seal(box, plain, len, nonce, sa);
    /* Interoperable with libsodium's crypto_box_open_easy. */
    uint8_t ref[300];
    assert_int_equal(crypto_box_open_easy(ref, box, len + TW_MAC_SIZE, nonce, a.pk.bytes, b.sk),
                     0);
    assert_memory_equal(ref, plain, len);
    assert_int_equal(tw_box_open(back, box, len + TW_MAC_SIZE, nonce, sb), TW_OK);
    assert_memory_equal(back, plain, len);
  }
}

static void test_box_tamper_detected(void **state) {
  (void)state;
  tw_keypair a = test_keypair(30), b = test_keypair(31);
  uint8_t s[32];
  tw_shared_key_compute(s, &b.pk, a.sk);
  uint8_t nonce[TW_NONCE_SIZE] = {1};
  uint8_t plain[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  uint8_t box[sizeof plain + TW_MAC_SIZE], back[sizeof plain];
  tw_box_seal(box, plain, sizeof plain, nonce, s);
  for (size_t i = 0; i < sizeof box; i++) {
    uint8_t bad[sizeof box];
    memcpy(bad, box, sizeof box);
    bad[i] ^= 1;
    assert_int_equal(tw_box_open(back, bad, sizeof bad, nonce, s), TW_E_CRYPTO);
  }
  uint8_t nonce2[TW_NONCE_SIZE] = {2};
  assert_int_equal(tw_box_open(back, box, sizeof box, nonce2, s), TW_E_CRYPTO);
  uint8_t wrong[32];
  memcpy(wrong, s, 32);
  wrong[0] ^= 0x80;
  assert_int_equal(tw_box_open(back, box, sizeof box, nonce, wrong), TW_E_CRYPTO);
  /* Truncated by one byte: the MAC no longer matches. */
  assert_int_equal(tw_box_open(back, box, sizeof box - 1, nonce, s), TW_E_CRYPTO);
}

static void test_box_open_shorter_than_mac(void **state) {
  (void)state;
  uint8_t s[32] = {0}, nonce[24] = {0}, in[TW_MAC_SIZE] = {0}, out[1];
  for (size_t len = 0; len < TW_MAC_SIZE; len++)
    assert_int_equal(tw_box_open(out, in, len, nonce, s), TW_E_SHORT);
}

static void test_random_helpers(void **state) {
  (void)state;
  test_rng r1 = {5}, r2 = {5};
  tw_env e1 = test_env(&r1), e2 = test_env(&r2);
  assert_true(tw_random_u64(&e1) == tw_random_u64(&e2));
  for (int i = 0; i < 2000; i++) {
    uint32_t n = (uint32_t)(i % 17) + 1;
    assert_true(tw_random_below(&e1, n) < n);
  }
  assert_int_equal(tw_random_below(&e1, 1), 0);
  /* Every value of a small range shows up. */
  int seen[6] = {0};
  for (int i = 0; i < 600; i++) seen[tw_random_below(&e1, 6)]++;
  for (int i = 0; i < 6; i++) assert_true(seen[i] > 50);
}

/* ---- shared key cache ---- */

static void test_keycache_miss_then_hit_counts(void **state) {
  (void)state;
  test_rng r = {99};
  tw_env env = test_env(&r);
  tw_keypair me = test_keypair(40), p = test_keypair(41), q = test_keypair(42);
  tw_keycache *c = tw_keycache_new(64, me.sk, &env);
  assert_non_null(c);
  uint8_t k1[32], k2[32], k3[32];
  tw_keycache_get(c, &p.pk, 1, k1);
  tw_keycache_stats s = tw_keycache_get_stats(c);
  assert_int_equal(s.misses, 1);
  assert_int_equal(s.hits, 0);
  tw_keycache_get(c, &p.pk, 2, k2);
  s = tw_keycache_get_stats(c);
  assert_int_equal(s.misses, 1);
  assert_int_equal(s.hits, 1);
  assert_memory_equal(k1, k2, 32);
  tw_keycache_get(c, &q.pk, 3, k3);
  s = tw_keycache_get_stats(c);
  assert_int_equal(s.misses, 2);
  assert_int_equal(s.hits, 1);
  assert_memory_not_equal(k1, k3, 32);
  tw_keycache_free(c);
}

static void test_keycache_matches_direct_computation(void **state) {
  (void)state;
  test_rng r = {7};
  tw_env env = test_env(&r);
  tw_keypair me = test_keypair(50);
  tw_keycache *c = tw_keycache_new(8, me.sk, &env);
  for (uint64_t i = 0; i < 40; i++) {
    tw_keypair p = test_keypair(1000 + i % 13);
    uint8_t cached[32], direct[32];
    tw_keycache_get(c, &p.pk, i, cached);
    tw_shared_key_compute(direct, &p.pk, me.sk);
    assert_memory_equal(cached, direct, 32);
  }
  tw_keycache_stats s = tw_keycache_get_stats(c);
  assert_int_equal(s.hits + s.misses, 40);
  assert_true(s.misses >= 13);
  tw_keycache_free(c);
}

static void test_keycache_single_set_evicts_least_recently_used(void **state) {
  (void)state;
  test_rng r = {8};
  tw_env env = test_env(&r);
  tw_keypair me = test_keypair(60);
  /* Four entries: one set of four ways, so placement does not depend on
   * the secret hash key. */
  tw_keycache *c = tw_keycache_new(4, me.sk, &env);
  tw_keypair p[5];
  uint8_t out[32];
  for (int i = 0; i < 5; i++) p[i] = test_keypair(600 + (uint64_t)i);
  for (int i = 0; i < 4; i++) tw_keycache_get(c, &p[i].pk, 10 + (uint64_t)i, out);
  tw_keycache_get(c, &p[0].pk, 20, out); /* p0 used recently; p1 is now oldest */
  assert_int_equal(tw_keycache_get_stats(c).hits, 1);
  tw_keycache_get(c, &p[4].pk, 21, out); /* evicts p1 */
  assert_int_equal(tw_keycache_get_stats(c).misses, 5);
  tw_keycache_get(c, &p[0].pk, 22, out);
  tw_keycache_get(c, &p[2].pk, 23, out);
  tw_keycache_get(c, &p[3].pk, 24, out);
  tw_keycache_get(c, &p[4].pk, 25, out);
  tw_keycache_stats s = tw_keycache_get_stats(c);
  assert_int_equal(s.hits, 5);
  assert_int_equal(s.misses, 5);
  tw_keycache_get(c, &p[1].pk, 26, out); /* was evicted */
  s = tw_keycache_get_stats(c);
  assert_int_equal(s.misses, 6);
  uint8_t direct[32];
  tw_shared_key_compute(direct, &p[1].pk, me.sk);
  assert_memory_equal(out, direct, 32);
  tw_keycache_free(c);
}

static void test_keycache_tiny_sizes(void **state) {
  (void)state;
  test_rng r = {9};
  tw_env env = test_env(&r);
  tw_keypair me = test_keypair(70), p = test_keypair(71);
  size_t sizes[] = {0, 1, 3, 5};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    tw_keycache *c = tw_keycache_new(sizes[i], me.sk, &env);
    assert_non_null(c);
    uint8_t a[32], b[32];
    tw_keycache_get(c, &p.pk, 0, a);
    tw_keycache_get(c, &p.pk, 1, b);
    assert_memory_equal(a, b, 32);
    assert_int_equal(tw_keycache_get_stats(c).hits, 1);
    tw_keycache_free(c);
  }
  tw_keycache_free(NULL);
}

int main(void) {
  assert_int_equal(tw_crypto_init(), TW_OK);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keypair_is_deterministic_from_env),
      cmocka_unit_test(test_shared_key_is_symmetric_and_matches_libsodium),
      cmocka_unit_test(test_low_order_key_gives_zero_shared_key),
      cmocka_unit_test(test_box_round_trip),
      cmocka_unit_test(test_box_tamper_detected),
      cmocka_unit_test(test_box_open_shorter_than_mac),
      cmocka_unit_test(test_random_helpers),
      cmocka_unit_test(test_keycache_miss_then_hit_counts),
      cmocka_unit_test(test_keycache_matches_direct_computation),
      cmocka_unit_test(test_keycache_single_set_evicts_least_recently_used),
      cmocka_unit_test(test_keycache_tiny_sizes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
