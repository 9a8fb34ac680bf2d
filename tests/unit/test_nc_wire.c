/* netcrypto/nc_wire.h: the net_crypto packets (spec "Net crypto"): each
 * round trip, every wrong size, bit flips in boxed packets, nonce
 * arithmetic, the plain part and the packet request encoding, with the
 * spec's own examples verbatim. Sizes are written out from the spec rather
 * than taken from the header, so a wrong constant fails here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "netcrypto/nc_wire.h"
#include "testutil.h"
#include "toxwire/error.h"

/* From the spec: */
#define SPEC_COOKIE (24 + 8 + 32 + 32 + 16)
#define SPEC_COOKIE_REQUEST 145
#define SPEC_COOKIE_RESPONSE 161
#define SPEC_HANDSHAKE (1 + SPEC_COOKIE + 24 + 24 + 32 + 64 + SPEC_COOKIE + 16)
#define SPEC_MAX_DATA 1400
#define SPEC_MAX_PLAIN (SPEC_MAX_DATA - 1 - 2 - 16)

static void fill_pattern(uint8_t *p, size_t n, uint8_t start) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(start + i * 7);
}

static tw_key key_fill(uint8_t b) { return test_key_fill(b); }

/* Two peers with their DHT (or long-term) key pairs and the shared key each
 * side computes. */
typedef struct pair {
  tw_keypair a, b;
  uint8_t ab[TW_SHARED_KEY_SIZE]; /* a's view */
  uint8_t ba[TW_SHARED_KEY_SIZE]; /* b's view */
} pair;

static pair mk_pair(uint64_t seed) {
  pair p;
  p.a = test_keypair(seed);
  p.b = test_keypair(seed + 1000);
  tw_shared_key_compute(p.ab, &p.b.pk, p.a.sk);
  tw_shared_key_compute(p.ba, &p.a.pk, p.b.sk);
  return p;
}

static void mk_cookie(uint8_t out[TW_NC_COOKIE_SIZE], uint8_t seed) {
  tw_nc_cookie_plain c = {.time = 0x0102030405060708ULL + seed};
  c.real_pk = key_fill((uint8_t)(0x40 + seed));
  c.dht_pk = key_fill((uint8_t)(0x80 + seed));
  uint8_t nonce[TW_NONCE_SIZE], key[TW_SHARED_KEY_SIZE];
  fill_pattern(nonce, sizeof nonce, seed);
  memset(key, 0xc0 + seed, sizeof key);
  tw_nc_cookie_seal(out, &c, nonce, key);
}

/* ---- sizes ---- */

static void test_sizes_match_spec(void **state) {
  (void)state;
  assert_int_equal(TW_NC_COOKIE_SIZE, 112);
  assert_int_equal(TW_NC_COOKIE_SIZE, SPEC_COOKIE);
  assert_int_equal(TW_NC_COOKIE_REQUEST_SIZE, SPEC_COOKIE_REQUEST);
  assert_int_equal(TW_NC_COOKIE_REQUEST_SIZE, 1 + 32 + 24 + 32 + 32 + 8 + 16);
  assert_int_equal(TW_NC_COOKIE_RESPONSE_SIZE, SPEC_COOKIE_RESPONSE);
  assert_int_equal(TW_NC_COOKIE_RESPONSE_SIZE, 1 + 24 + SPEC_COOKIE + 8 + 16);
  assert_int_equal(TW_NC_HANDSHAKE_SIZE, 385);
  assert_int_equal(TW_NC_HANDSHAKE_SIZE, SPEC_HANDSHAKE);
  assert_int_equal(TW_NC_MAX_PLAIN_SIZE, SPEC_MAX_PLAIN);
  assert_int_equal(TW_NC_DATA_MIN_SIZE, 1 + 2 + 16 + 4 + 4 + 1);
}

/* ---- cookie ---- */

static void test_cookie_round_trip(void **state) {
  (void)state;
  tw_nc_cookie_plain c = {.time = 0xfedcba9876543210ULL};
  c.real_pk = key_fill(0x11);
  c.dht_pk = key_fill(0x22);
  uint8_t nonce[TW_NONCE_SIZE], key[TW_SHARED_KEY_SIZE], out[SPEC_COOKIE];
  fill_pattern(nonce, sizeof nonce, 3);
  memset(key, 0x5c, sizeof key);
  tw_nc_cookie_seal(out, &c, nonce, key);
  assert_memory_equal(out, nonce, 24); /* the nonce rides in front */

  /* The box is a secretbox of [time BE64][real pk][dht pk]. */
  uint8_t plain[72];
  assert_int_equal(crypto_secretbox_open_easy(plain, out + 24, 72 + 16, nonce, key), 0);
  const uint8_t time_be[8] = {0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
  assert_memory_equal(plain, time_be, 8);
  assert_memory_equal(plain + 8, c.real_pk.bytes, 32);
  assert_memory_equal(plain + 40, c.dht_pk.bytes, 32);

  tw_nc_cookie_plain d;
  memset(&d, 0, sizeof d);
  assert_int_equal(tw_nc_cookie_open(&d, out, key), TW_OK);
  assert_true(d.time == c.time);
  assert_memory_equal(d.real_pk.bytes, c.real_pk.bytes, 32);
  assert_memory_equal(d.dht_pk.bytes, c.dht_pk.bytes, 32);
}

static void test_cookie_opened_with_the_wrong_key_is_refused(void **state) {
  (void)state;
  tw_nc_cookie_plain c = {.time = 1};
  uint8_t nonce[TW_NONCE_SIZE] = {0}, key[TW_SHARED_KEY_SIZE], out[SPEC_COOKIE];
  memset(key, 0x5c, sizeof key);
  tw_nc_cookie_seal(out, &c, nonce, key);
  key[31] ^= 1;
  tw_nc_cookie_plain d;
  assert_int_equal(tw_nc_cookie_open(&d, out, key), TW_E_CRYPTO);
}

static void test_cookie_with_any_bit_flipped_is_refused(void **state) {
  (void)state;
  uint8_t key[TW_SHARED_KEY_SIZE], out[SPEC_COOKIE];
  memset(key, 0xc3, sizeof key); /* mk_cookie(.., 3)'s key */
  mk_cookie(out, 3);
  tw_nc_cookie_plain d;
  assert_int_equal(tw_nc_cookie_open(&d, out, key), TW_OK);
  for (size_t i = 0; i < SPEC_COOKIE * 8; i++) {
    out[i / 8] ^= (uint8_t)(1u << (i % 8));
    assert_int_equal(tw_nc_cookie_open(&d, out, key), TW_E_CRYPTO);
    out[i / 8] ^= (uint8_t)(1u << (i % 8));
  }
}

/* ---- cookie request ---- */

static void mk_request(uint8_t out[SPEC_COOKIE_REQUEST], const pair *p, uint64_t echo) {
  tw_key real = key_fill(0x77);
  uint8_t nonce[TW_NONCE_SIZE];
  fill_pattern(nonce, sizeof nonce, 0x21);
  tw_nc_cookie_request_encode(out, &p->a.pk, &real, echo, nonce, p->ab);
}

static void test_cookie_request_round_trip(void **state) {
  (void)state;
  pair p = mk_pair(1);
  uint8_t pkt[SPEC_COOKIE_REQUEST];
  mk_request(pkt, &p, 0x1122334455667788ULL);
  assert_int_equal(pkt[0], 24);
  assert_memory_equal(pkt + 1, p.a.pk.bytes, 32);
  uint8_t nonce[TW_NONCE_SIZE];
  fill_pattern(nonce, sizeof nonce, 0x21);
  assert_memory_equal(pkt + 33, nonce, 24);

  /* The receiver finds the sender's DHT key, then the shared key. */
  tw_key dht;
  assert_int_equal(tw_nc_cookie_request_peek(&dht, pkt, sizeof pkt), TW_OK);
  assert_memory_equal(dht.bytes, p.a.pk.bytes, 32);
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_shared_key_compute(shared, &dht, p.b.sk);
  tw_key real;
  uint64_t echo = 0;
  assert_int_equal(tw_nc_cookie_request_open(&real, &echo, pkt, sizeof pkt, shared), TW_OK);
  tw_key want = key_fill(0x77);
  assert_memory_equal(real.bytes, want.bytes, 32);
  assert_true(echo == 0x1122334455667788ULL);

  /* Inside: [real pk][32 zero bytes][echo id BE64]. */
  uint8_t plain[72];
  assert_int_equal(tw_box_open(plain, pkt + 57, 88, pkt + 33, shared), TW_OK);
  uint8_t zeros[32] = {0};
  assert_memory_equal(plain + 32, zeros, 32);
  const uint8_t echo_be[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
  assert_memory_equal(plain + 64, echo_be, 8);
}

static void test_cookie_request_of_wrong_size_is_refused(void **state) {
  (void)state;
  pair p = mk_pair(2);
  uint8_t pkt[SPEC_COOKIE_REQUEST + 40];
  mk_request(pkt, &p, 5);
  memset(pkt + SPEC_COOKIE_REQUEST, 0, 40);
  tw_key k, real;
  uint64_t echo;
  for (size_t len = 0; len < sizeof pkt; len++) {
    int want = len < SPEC_COOKIE_REQUEST ? TW_E_SHORT : len > SPEC_COOKIE_REQUEST ? TW_E_LONG : TW_OK;
    assert_int_equal(tw_nc_cookie_request_peek(&k, pkt, len), want);
    assert_int_equal(tw_nc_cookie_request_open(&real, &echo, pkt, len, p.ba), want);
  }
}

static void test_cookie_request_of_another_kind_is_refused(void **state) {
  (void)state;
  pair p = mk_pair(3);
  uint8_t pkt[SPEC_COOKIE_REQUEST];
  mk_request(pkt, &p, 5);
  tw_key k, real;
  uint64_t echo;
  for (int kind = 0; kind < 256; kind++) {
    if (kind == 24) continue;
    pkt[0] = (uint8_t)kind;
    assert_int_equal(tw_nc_cookie_request_peek(&k, pkt, sizeof pkt), TW_E_KIND);
    assert_int_equal(tw_nc_cookie_request_open(&real, &echo, pkt, sizeof pkt, p.ba), TW_E_KIND);
  }
}

static void test_cookie_request_with_any_bit_flipped_is_refused(void **state) {
  (void)state;
  pair p = mk_pair(4);
  uint8_t pkt[SPEC_COOKIE_REQUEST];
  mk_request(pkt, &p, 9);
  /* Every bit, as the receiver handles it: the shared key comes from the
   * DHT key in the packet, so a flip there is refused too, except in the
   * key's top bit, which X25519 ignores (RFC 7748): the box cannot see it. */
  const size_t top_bit = (1 + 31) * 8 + 7;
  for (size_t i = 8; i < SPEC_COOKIE_REQUEST * 8; i++) {
    pkt[i / 8] ^= (uint8_t)(1u << (i % 8));
    tw_key dht, real;
    uint64_t echo;
    assert_int_equal(tw_nc_cookie_request_peek(&dht, pkt, sizeof pkt), TW_OK);
    uint8_t shared[TW_SHARED_KEY_SIZE];
    tw_shared_key_compute(shared, &dht, p.b.sk);
    assert_int_equal(tw_nc_cookie_request_open(&real, &echo, pkt, sizeof pkt, shared),
                     i == top_bit ? TW_OK : TW_E_CRYPTO);
    pkt[i / 8] ^= (uint8_t)(1u << (i % 8));
  }
  for (int bit = 0; bit < 8; bit++) {
    pkt[0] ^= (uint8_t)(1u << bit);
    tw_key dht;
    assert_int_equal(tw_nc_cookie_request_peek(&dht, pkt, sizeof pkt), TW_E_KIND);
    pkt[0] ^= (uint8_t)(1u << bit);
  }
}

static void test_cookie_request_padding_is_not_checked(void **state) {
  (void)state;
  pair p = mk_pair(5);
  /* Old peers may put anything in the padding. */
  uint8_t plain[72], pkt[SPEC_COOKIE_REQUEST];
  memset(plain, 0x33, 32);
  memset(plain + 32, 0xa5, 32);
  memset(plain + 64, 0, 8);
  plain[71] = 42;
  pkt[0] = 24;
  memcpy(pkt + 1, p.a.pk.bytes, 32);
  fill_pattern(pkt + 33, 24, 9);
  tw_box_seal(pkt + 57, plain, sizeof plain, pkt + 33, p.ab);
  tw_key real;
  uint64_t echo;
  assert_int_equal(tw_nc_cookie_request_open(&real, &echo, pkt, sizeof pkt, p.ba), TW_OK);
  assert_true(echo == 42);
  tw_key want = key_fill(0x33);
  assert_memory_equal(real.bytes, want.bytes, 32);
}

/* ---- cookie response ---- */

static void test_cookie_response_round_trip(void **state) {
  (void)state;
  pair p = mk_pair(6);
  uint8_t cookie[SPEC_COOKIE], nonce[TW_NONCE_SIZE], pkt[SPEC_COOKIE_RESPONSE];
  mk_cookie(cookie, 1);
  fill_pattern(nonce, sizeof nonce, 0x44);
  tw_nc_cookie_response_encode(pkt, cookie, 0x8000000000000001ULL, nonce, p.ba);
  assert_int_equal(pkt[0], 25);
  assert_memory_equal(pkt + 1, nonce, 24);
  uint8_t got[SPEC_COOKIE];
  uint64_t echo = 0;
  assert_int_equal(tw_nc_cookie_response_open(got, &echo, pkt, sizeof pkt, p.ab), TW_OK);
  assert_memory_equal(got, cookie, SPEC_COOKIE);
  assert_true(echo == 0x8000000000000001ULL);
  /* Inside: [cookie][echo id BE64]. */
  uint8_t plain[120];
  assert_int_equal(tw_box_open(plain, pkt + 25, 136, nonce, p.ab), TW_OK);
  assert_int_equal(plain[112], 0x80);
  assert_int_equal(plain[119], 0x01);
}

static void test_cookie_response_of_wrong_size_or_kind_is_refused(void **state) {
  (void)state;
  pair p = mk_pair(7);
  uint8_t cookie[SPEC_COOKIE], nonce[TW_NONCE_SIZE] = {1}, pkt[SPEC_COOKIE_RESPONSE + 40];
  mk_cookie(cookie, 2);
  tw_nc_cookie_response_encode(pkt, cookie, 7, nonce, p.ba);
  memset(pkt + SPEC_COOKIE_RESPONSE, 0, 40);
  uint8_t got[SPEC_COOKIE];
  uint64_t echo;
  for (size_t len = 0; len < sizeof pkt; len++) {
    int want = len < SPEC_COOKIE_RESPONSE ? TW_E_SHORT : len > SPEC_COOKIE_RESPONSE ? TW_E_LONG : TW_OK;
    assert_int_equal(tw_nc_cookie_response_open(got, &echo, pkt, len, p.ab), want);
  }
  pkt[0] = 24;
  assert_int_equal(tw_nc_cookie_response_open(got, &echo, pkt, SPEC_COOKIE_RESPONSE, p.ab), TW_E_KIND);
}

static void test_cookie_response_with_any_bit_flipped_is_refused(void **state) {
  (void)state;
  pair p = mk_pair(8);
  uint8_t cookie[SPEC_COOKIE], nonce[TW_NONCE_SIZE] = {2}, pkt[SPEC_COOKIE_RESPONSE];
  mk_cookie(cookie, 3);
  tw_nc_cookie_response_encode(pkt, cookie, 7, nonce, p.ba);
  uint8_t got[SPEC_COOKIE];
  uint64_t echo;
  for (size_t i = 0; i < SPEC_COOKIE_RESPONSE * 8; i++) {
    pkt[i / 8] ^= (uint8_t)(1u << (i % 8));
    int want = i < 8 ? TW_E_KIND : TW_E_CRYPTO;
    assert_int_equal(tw_nc_cookie_response_open(got, &echo, pkt, sizeof pkt, p.ab), want);
    pkt[i / 8] ^= (uint8_t)(1u << (i % 8));
  }
}

static void test_cookie_response_under_another_key_is_refused(void **state) {
  (void)state;
  pair p = mk_pair(9), q = mk_pair(10);
  uint8_t cookie[SPEC_COOKIE], nonce[TW_NONCE_SIZE] = {3}, pkt[SPEC_COOKIE_RESPONSE];
  mk_cookie(cookie, 4);
  tw_nc_cookie_response_encode(pkt, cookie, 7, nonce, p.ba);
  uint8_t got[SPEC_COOKIE];
  uint64_t echo;
  assert_int_equal(tw_nc_cookie_response_open(got, &echo, pkt, sizeof pkt, q.ab), TW_E_CRYPTO);
}

/* ---- handshake ---- */

static tw_nc_handshake_plain mk_hs_plain(void) {
  tw_nc_handshake_plain h;
  fill_pattern(h.base_nonce, sizeof h.base_nonce, 0x90);
  h.session_pk = key_fill(0x5e);
  mk_cookie(h.other_cookie, 9);
  return h;
}

static void mk_handshake(uint8_t pkt[SPEC_HANDSHAKE], const pair *p) {
  uint8_t cookie[SPEC_COOKIE], nonce[TW_NONCE_SIZE];
  mk_cookie(cookie, 5);
  fill_pattern(nonce, sizeof nonce, 0x13);
  tw_nc_handshake_plain h = mk_hs_plain();
  tw_nc_handshake_encode(pkt, cookie, &h, nonce, p->ab);
}

static void test_handshake_round_trip(void **state) {
  (void)state;
  pair p = mk_pair(11);
  uint8_t pkt[SPEC_HANDSHAKE], cookie[SPEC_COOKIE], nonce[TW_NONCE_SIZE];
  mk_handshake(pkt, &p);
  mk_cookie(cookie, 5);
  fill_pattern(nonce, sizeof nonce, 0x13);
  assert_int_equal(pkt[0], 26);
  assert_memory_equal(pkt + 1, cookie, SPEC_COOKIE);
  assert_memory_equal(pkt + 1 + SPEC_COOKIE, nonce, 24);

  const uint8_t *outer = NULL;
  assert_int_equal(tw_nc_handshake_peek(&outer, pkt, sizeof pkt), TW_OK);
  assert_ptr_equal(outer, pkt + 1);
  tw_nc_handshake_plain h, want = mk_hs_plain();
  assert_int_equal(tw_nc_handshake_open(&h, pkt, sizeof pkt, p.ba), TW_OK);
  assert_memory_equal(h.base_nonce, want.base_nonce, 24);
  assert_memory_equal(h.session_pk.bytes, want.session_pk.bytes, 32);
  assert_memory_equal(h.other_cookie, want.other_cookie, SPEC_COOKIE);

  /* Inside: [base nonce][session pk][sha512(outer cookie)][other cookie]. */
  uint8_t plain[24 + 32 + 64 + SPEC_COOKIE], hash[64];
  assert_int_equal(tw_box_open(plain, pkt + 137, SPEC_HANDSHAKE - 137, nonce, p.ba), TW_OK);
  crypto_hash_sha512(hash, cookie, SPEC_COOKIE);
  assert_memory_equal(plain + 56, hash, 64);
  assert_memory_equal(plain + 120, want.other_cookie, SPEC_COOKIE);
}

static void test_handshake_of_wrong_size_or_kind_is_refused(void **state) {
  (void)state;
  pair p = mk_pair(12);
  uint8_t pkt[SPEC_HANDSHAKE + 40];
  mk_handshake(pkt, &p);
  memset(pkt + SPEC_HANDSHAKE, 0, 40);
  const uint8_t *c;
  tw_nc_handshake_plain h;
  for (size_t len = 0; len < sizeof pkt; len++) {
    int want = len < SPEC_HANDSHAKE ? TW_E_SHORT : len > SPEC_HANDSHAKE ? TW_E_LONG : TW_OK;
    assert_int_equal(tw_nc_handshake_peek(&c, pkt, len), want);
    assert_int_equal(tw_nc_handshake_open(&h, pkt, len, p.ba), want);
  }
  pkt[0] = 27;
  assert_int_equal(tw_nc_handshake_peek(&c, pkt, SPEC_HANDSHAKE), TW_E_KIND);
  assert_int_equal(tw_nc_handshake_open(&h, pkt, SPEC_HANDSHAKE, p.ba), TW_E_KIND);
}

static void test_handshake_with_any_bit_flipped_is_refused(void **state) {
  (void)state;
  pair p = mk_pair(13);
  uint8_t pkt[SPEC_HANDSHAKE];
  mk_handshake(pkt, &p);
  tw_nc_handshake_plain h;
  for (size_t i = 0; i < SPEC_HANDSHAKE * 8; i++) {
    pkt[i / 8] ^= (uint8_t)(1u << (i % 8));
    size_t byte = i / 8;
    /* The outer cookie is outside the box: its hash inside catches it. */
    int want = byte == 0 ? TW_E_KIND : byte <= SPEC_COOKIE ? TW_E_FORMAT : TW_E_CRYPTO;
    assert_int_equal(tw_nc_handshake_open(&h, pkt, sizeof pkt, p.ba), want);
    pkt[i / 8] ^= (uint8_t)(1u << (i % 8));
  }
}

static void test_handshake_with_wrong_cookie_hash_is_refused(void **state) {
  (void)state;
  pair p = mk_pair(14);
  uint8_t old_cookie[SPEC_COOKIE], new_cookie[SPEC_COOKIE], pkt[SPEC_HANDSHAKE];
  mk_cookie(old_cookie, 6);
  mk_cookie(new_cookie, 7);
  uint8_t nonce[TW_NONCE_SIZE] = {4};
  tw_nc_handshake_plain h = mk_hs_plain(), got;
  tw_nc_handshake_encode(pkt, old_cookie, &h, nonce, p.ab);
  assert_int_equal(tw_nc_handshake_open(&got, pkt, sizeof pkt, p.ba), TW_OK);
  /* A replayed box with a fresher cookie swapped in. */
  memcpy(pkt + 1, new_cookie, SPEC_COOKIE);
  assert_int_equal(tw_nc_handshake_open(&got, pkt, sizeof pkt, p.ba), TW_E_FORMAT);

  /* A box that hashes something else, sealed by the right key. */
  uint8_t plain[24 + 32 + 64 + SPEC_COOKIE];
  memcpy(plain, h.base_nonce, 24);
  memcpy(plain + 24, h.session_pk.bytes, 32);
  crypto_hash_sha512(plain + 56, old_cookie, SPEC_COOKIE);
  memcpy(plain + 120, h.other_cookie, SPEC_COOKIE);
  pkt[0] = 26;
  memcpy(pkt + 1, new_cookie, SPEC_COOKIE);
  memcpy(pkt + 113, nonce, 24);
  tw_box_seal(pkt + 137, plain, sizeof plain, nonce, p.ab);
  memset(&got, 0x55, sizeof got);
  assert_int_equal(tw_nc_handshake_open(&got, pkt, sizeof pkt, p.ba), TW_E_FORMAT);
  /* Nothing of a refused handshake is left to use by mistake. */
  tw_nc_handshake_plain zero;
  memset(&zero, 0, sizeof zero);
  assert_memory_equal(&got, &zero, sizeof got);
  /* The right hash makes the same box acceptable. */
  crypto_hash_sha512(plain + 56, new_cookie, SPEC_COOKIE);
  tw_box_seal(pkt + 137, plain, sizeof plain, nonce, p.ab);
  assert_int_equal(tw_nc_handshake_open(&got, pkt, sizeof pkt, p.ba), TW_OK);
}

static void test_handshake_under_another_key_is_refused(void **state) {
  (void)state;
  pair p = mk_pair(15), q = mk_pair(16);
  uint8_t pkt[SPEC_HANDSHAKE];
  mk_handshake(pkt, &p);
  tw_nc_handshake_plain h;
  assert_int_equal(tw_nc_handshake_open(&h, pkt, sizeof pkt, q.ba), TW_E_CRYPTO);
}

/* ---- crypto data ---- */

static void test_data_round_trip(void **state) {
  (void)state;
  pair p = mk_pair(17);
  static uint8_t plain[SPEC_MAX_PLAIN], pkt[SPEC_MAX_DATA], got[SPEC_MAX_DATA];
  uint8_t nonce[TW_NONCE_SIZE];
  fill_pattern(nonce, sizeof nonce, 0x61);
  const size_t lens[] = {9, 10, 100, 1000, SPEC_MAX_PLAIN};
  for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
    fill_pattern(plain, lens[l], (uint8_t)l);
    int n = tw_nc_data_seal(pkt, sizeof pkt, plain, lens[l], nonce, p.ab);
    assert_int_equal(n, 1 + 2 + 16 + (int)lens[l]);
    assert_int_equal(pkt[0], 27);
    assert_int_equal(pkt[1], nonce[22]);
    assert_int_equal(pkt[2], nonce[23]);
    uint16_t low = 0;
    assert_int_equal(tw_nc_data_peek(&low, pkt, (size_t)n), TW_OK);
    assert_int_equal(low, (nonce[22] << 8) | nonce[23]);
    assert_int_equal(tw_nc_data_open(got, pkt, (size_t)n, nonce, p.ba), (int)lens[l]);
    assert_memory_equal(got, plain, lens[l]);
  }
}

static void test_data_of_wrong_size_or_kind_is_refused(void **state) {
  (void)state;
  pair p = mk_pair(18);
  static uint8_t pkt[SPEC_MAX_DATA + 2], plain[SPEC_MAX_DATA];
  uint8_t nonce[TW_NONCE_SIZE] = {0};
  uint16_t low;
  memset(pkt, 0, sizeof pkt);
  pkt[0] = 27;
  for (size_t len = 0; len < 1 + 2 + 16 + 8 + 1; len++) {
    assert_int_equal(tw_nc_data_peek(&low, pkt, len), TW_E_SHORT);
    assert_int_equal(tw_nc_data_open(plain, pkt, len, nonce, p.ba), TW_E_SHORT);
  }
  assert_int_equal(tw_nc_data_peek(&low, pkt, TW_NC_DATA_MIN_SIZE), TW_OK);
  assert_int_equal(tw_nc_data_peek(&low, pkt, SPEC_MAX_DATA), TW_OK);
  assert_int_equal(tw_nc_data_peek(&low, pkt, SPEC_MAX_DATA + 1), TW_E_LONG);
  assert_int_equal(tw_nc_data_open(plain, pkt, SPEC_MAX_DATA + 1, nonce, p.ba), TW_E_LONG);
  pkt[0] = 26;
  assert_int_equal(tw_nc_data_peek(&low, pkt, 100), TW_E_KIND);
  assert_int_equal(tw_nc_data_open(plain, pkt, 100, nonce, p.ba), TW_E_KIND);
}

static void test_data_seal_refuses_what_no_receiver_accepts(void **state) {
  (void)state;
  pair p = mk_pair(19);
  static uint8_t plain[SPEC_MAX_PLAIN + 1], pkt[SPEC_MAX_DATA + 100];
  uint8_t nonce[TW_NONCE_SIZE] = {0};
  memset(plain, 1, sizeof plain);
  assert_int_equal(tw_nc_data_seal(pkt, sizeof pkt, plain, SPEC_MAX_PLAIN + 1, nonce, p.ab),
                   TW_E_LONG);
  assert_int_equal(tw_nc_data_seal(pkt, sizeof pkt, plain, 8, nonce, p.ab), TW_E_SHORT);
  /* cap too small by one */
  assert_int_equal(tw_nc_data_seal(pkt, 1 + 2 + 16 + 50 - 1, plain, 50, nonce, p.ab), TW_E_LONG);
  assert_int_equal(tw_nc_data_seal(pkt, 1 + 2 + 16 + 50, plain, 50, nonce, p.ab), 69);
}

static void test_data_with_any_bit_flipped_is_refused(void **state) {
  (void)state;
  pair p = mk_pair(20);
  uint8_t base[TW_NONCE_SIZE], nonce[TW_NONCE_SIZE], plain[40], pkt[100], got[100];
  fill_pattern(base, sizeof base, 0x70);
  memcpy(nonce, base, sizeof nonce);
  tw_nc_nonce_add(nonce, 5); /* the sixth packet */
  fill_pattern(plain, sizeof plain, 1);
  int n = tw_nc_data_seal(pkt, sizeof pkt, plain, sizeof plain, nonce, p.ab);
  assert_int_equal(n, 59);
  for (size_t i = 0; i < (size_t)n * 8; i++) {
    pkt[i / 8] ^= (uint8_t)(1u << (i % 8));
    /* As the receiver does it: the nonce from the two bytes on the packet. */
    uint16_t low, diff;
    int e = tw_nc_data_peek(&low, pkt, (size_t)n);
    if (i < 8) {
      assert_int_equal(e, TW_E_KIND);
    } else {
      assert_int_equal(e, TW_OK);
      uint8_t guess[TW_NONCE_SIZE];
      tw_nc_nonce_for_packet(guess, base, low, &diff);
      assert_int_equal(tw_nc_data_open(got, pkt, (size_t)n, guess, p.ba), TW_E_CRYPTO);
    }
    pkt[i / 8] ^= (uint8_t)(1u << (i % 8));
  }
  uint16_t low, diff;
  assert_int_equal(tw_nc_data_peek(&low, pkt, (size_t)n), TW_OK);
  uint8_t guess[TW_NONCE_SIZE];
  tw_nc_nonce_for_packet(guess, base, low, &diff);
  assert_int_equal(diff, 5);
  assert_int_equal(tw_nc_data_open(got, pkt, (size_t)n, guess, p.ba), 40);
}

static void test_data_opened_with_another_nonce_is_refused(void **state) {
  (void)state;
  pair p = mk_pair(21);
  uint8_t nonce[TW_NONCE_SIZE] = {0}, plain[20] = {0, 0, 0, 1, 0, 0, 0, 2, 16}, pkt[64], got[64];
  int n = tw_nc_data_seal(pkt, sizeof pkt, plain, sizeof plain, nonce, p.ab);
  assert_true(n > 0);
  tw_nc_nonce_add(nonce, 65536); /* same low bytes, next round */
  assert_int_equal(tw_nc_data_open(got, pkt, (size_t)n, nonce, p.ba), TW_E_CRYPTO);
}

/* ---- plain ---- */

static void test_plain_round_trip_with_and_without_padding(void **state) {
  (void)state;
  uint8_t data[50], out[200];
  fill_pattern(data, sizeof data, 3);
  data[0] = 16;
  const size_t pads[] = {0, 1, 7, 100};
  for (size_t i = 0; i < 4; i++) {
    memset(out, 0xee, sizeof out);
    int n = tw_nc_plain_write(out, sizeof out, 0xa1b2c3d4, 0x01020304, pads[i], data, sizeof data);
    assert_int_equal(n, 8 + (int)pads[i] + 50);
    const uint8_t hdr[8] = {0xa1, 0xb2, 0xc3, 0xd4, 1, 2, 3, 4};
    assert_memory_equal(out, hdr, 8);
    for (size_t j = 0; j < pads[i]; j++) assert_int_equal(out[8 + j], 0);
    tw_nc_plain pl;
    assert_int_equal(tw_nc_plain_read(&pl, out, (size_t)n), TW_OK);
    assert_true(pl.buffer_start == 0xa1b2c3d4);
    assert_true(pl.number == 0x01020304);
    assert_ptr_equal(pl.data, out + 8 + pads[i]);
    assert_int_equal(pl.len, 50);
    assert_memory_equal(pl.data, data, 50);
  }
}

static void test_plain_read_skips_padding_to_the_data_id(void **state) {
  (void)state;
  uint8_t in[8 + 5 + 3] = {0, 0, 0, 9, 0, 0, 0, 7, 0, 0, 0, 0, 0, 192, 0, 5};
  tw_nc_plain pl;
  assert_int_equal(tw_nc_plain_read(&pl, in, sizeof in), TW_OK);
  assert_true(pl.buffer_start == 9);
  assert_true(pl.number == 7);
  assert_ptr_equal(pl.data, in + 13);
  assert_int_equal(pl.len, 3);
  assert_int_equal(pl.data[0], 192);
  /* Zeros after the id are payload, not padding. */
  assert_int_equal(pl.data[1], 0);
}

static void test_plain_with_only_padding_is_refused(void **state) {
  (void)state;
  uint8_t in[100] = {0, 0, 0, 1, 0, 0, 0, 2};
  tw_nc_plain pl;
  assert_int_equal(tw_nc_plain_read(&pl, in, 8), TW_E_FORMAT); /* nothing */
  assert_int_equal(tw_nc_plain_read(&pl, in, 9), TW_E_FORMAT);
  assert_int_equal(tw_nc_plain_read(&pl, in, sizeof in), TW_E_FORMAT);
  in[99] = 1;
  assert_int_equal(tw_nc_plain_read(&pl, in, sizeof in), TW_OK);
  assert_int_equal(pl.len, 1);
}

static void test_plain_without_a_header_is_refused(void **state) {
  (void)state;
  uint8_t in[8] = {1, 1, 1, 1, 1, 1, 1, 1};
  tw_nc_plain pl;
  for (size_t len = 0; len < 8; len++)
    assert_int_equal(tw_nc_plain_read(&pl, in, len), TW_E_SHORT);
}

static void test_plain_longer_than_a_packet_holds_is_refused(void **state) {
  (void)state;
  static uint8_t in[SPEC_MAX_PLAIN + 1];
  memset(in, 1, sizeof in);
  tw_nc_plain pl;
  assert_int_equal(tw_nc_plain_read(&pl, in, SPEC_MAX_PLAIN), TW_OK);
  assert_int_equal(tw_nc_plain_read(&pl, in, SPEC_MAX_PLAIN + 1), TW_E_LONG);
}

static void test_plain_write_refuses_bad_input(void **state) {
  (void)state;
  static uint8_t out[SPEC_MAX_PLAIN + 10], data[SPEC_MAX_PLAIN];
  memset(data, 3, sizeof data);
  /* the whole plain must fit a packet */
  assert_int_equal(tw_nc_plain_write(out, sizeof out, 0, 0, 0, data, SPEC_MAX_PLAIN - 8),
                   SPEC_MAX_PLAIN);
  assert_int_equal(tw_nc_plain_write(out, sizeof out, 0, 0, 1, data, SPEC_MAX_PLAIN - 8),
                   TW_E_LONG);
  assert_int_equal(tw_nc_plain_write(out, sizeof out, 0, 0, SIZE_MAX, data, 1), TW_E_LONG);
  assert_int_equal(tw_nc_plain_write(out, sizeof out, 0, 0, 0, data, SIZE_MAX), TW_E_LONG);
  /* and the buffer */
  assert_int_equal(tw_nc_plain_write(out, 8 + 2 + 9, 0, 0, 2, data, 10), TW_E_LONG);
  assert_int_equal(tw_nc_plain_write(out, 8 + 2 + 10, 0, 0, 2, data, 10), 20);
  /* an id of 0 would read as padding; nothing at all is no packet */
  data[0] = 0;
  assert_int_equal(tw_nc_plain_write(out, sizeof out, 0, 0, 0, data, 10), TW_E_FORMAT);
  assert_int_equal(tw_nc_plain_write(out, sizeof out, 0, 0, 0, data, 0), TW_E_FORMAT);
}

/* ---- nonces ---- */

static void test_nonce_add_is_big_endian(void **state) {
  (void)state;
  uint8_t n[TW_NONCE_SIZE] = {0};
  tw_nc_nonce_add(n, 1);
  assert_int_equal(n[23], 1);
  tw_nc_nonce_add(n, 0x01020304);
  uint8_t want[TW_NONCE_SIZE] = {0};
  want[20] = 1;
  want[21] = 2;
  want[22] = 3;
  want[23] = 5;
  assert_memory_equal(n, want, 24);
  tw_nc_nonce_add(n, 0);
  assert_memory_equal(n, want, 24);
}

static void test_nonce_add_carries_across_many_bytes(void **state) {
  (void)state;
  uint8_t n[TW_NONCE_SIZE], want[TW_NONCE_SIZE];
  memset(n, 0xff, sizeof n);
  n[0] = 0x12;
  n[3] = 0x7f;
  tw_nc_nonce_add(n, 1);
  memset(want, 0, sizeof want);
  want[0] = 0x12;
  want[1] = 0xff;
  want[2] = 0xff;
  want[3] = 0x80;
  assert_memory_equal(n, want, 24);

  /* A 32-bit add whose carry runs beyond the four bytes it touches. */
  memset(n, 0, sizeof n);
  n[19] = 0xff;
  n[18] = 0xff;
  n[20] = 0xff;
  n[21] = 0xff;
  n[22] = 0xff;
  n[23] = 0xff;
  tw_nc_nonce_add(n, 0xffffffff);
  memset(want, 0, sizeof want);
  want[17] = 1;
  want[20] = 0xff;
  want[21] = 0xff;
  want[22] = 0xff;
  want[23] = 0xfe;
  assert_memory_equal(n, want, 24);
}

static void test_nonce_add_wraps_at_2_to_the_192(void **state) {
  (void)state;
  uint8_t n[TW_NONCE_SIZE], want[TW_NONCE_SIZE];
  memset(n, 0xff, sizeof n);
  tw_nc_nonce_add(n, 1);
  memset(want, 0, sizeof want);
  assert_memory_equal(n, want, 24);
  memset(n, 0xff, sizeof n);
  tw_nc_nonce_add(n, 0x100);
  want[23] = 0xff;
  assert_memory_equal(n, want, 24);
}

static void test_nonce_add_equals_repeated_increments(void **state) {
  (void)state;
  test_rng r = {77};
  for (int round = 0; round < 50; round++) {
    uint8_t a[TW_NONCE_SIZE], b[TW_NONCE_SIZE];
    test_rng_fill(&r, a, sizeof a);
    /* Near a carry boundary often. */
    if (round & 1) memset(a + 20, 0xff, 4);
    memcpy(b, a, sizeof a);
    uint32_t k = (uint32_t)(test_rng_next(&r) % 3000);
    tw_nc_nonce_add(a, k);
    for (uint32_t i = 0; i < k; i++) tw_nc_nonce_add(b, 1);
    assert_memory_equal(a, b, 24);
  }
}

static void test_nonce_for_packet_with_the_base_low_bytes_is_the_base(void **state) {
  (void)state;
  uint8_t base[TW_NONCE_SIZE], out[TW_NONCE_SIZE];
  fill_pattern(base, sizeof base, 0x33);
  uint16_t diff = 99;
  tw_nc_nonce_for_packet(out, base, (uint16_t)((base[22] << 8) | base[23]), &diff);
  assert_int_equal(diff, 0);
  assert_memory_equal(out, base, 24);
}

static void test_nonce_for_packet_rolls_over_like_the_spec_example(void **state) {
  (void)state;
  /* Spec: "diff = (10 - 65536) means diff is equal to 11" — the saved base
   * ends in 0xffff (65535) and the packet carries 10. */
  uint8_t base[TW_NONCE_SIZE] = {0}, out[TW_NONCE_SIZE], want[TW_NONCE_SIZE] = {0};
  base[20] = 0x42;
  base[21] = 0xff;
  base[22] = 0xff;
  base[23] = 0xff;
  uint16_t diff;
  tw_nc_nonce_for_packet(out, base, 10, &diff);
  assert_int_equal(diff, 11);
  want[20] = 0x43; /* the carry runs into the upper bytes */
  want[23] = 10;
  assert_memory_equal(out, want, 24);
  /* The low two bytes of the result are what the packet carried. */
  assert_int_equal((out[22] << 8) | out[23], 10);
}

static void test_nonce_for_packet_behind_the_base_counts_forward(void **state) {
  (void)state;
  uint8_t base[TW_NONCE_SIZE] = {0}, out[TW_NONCE_SIZE], want[TW_NONCE_SIZE];
  base[23] = 100;
  uint16_t diff;
  tw_nc_nonce_for_packet(out, base, 90, &diff);
  assert_int_equal(diff, 65526);
  memcpy(want, base, sizeof want);
  tw_nc_nonce_add(want, 65526);
  assert_memory_equal(out, want, 24);
  assert_int_equal(out[21], 1);
  assert_int_equal(out[23], 90);
}

static void test_nonce_for_packet_may_write_over_the_base(void **state) {
  (void)state;
  uint8_t base[TW_NONCE_SIZE] = {0}, want[TW_NONCE_SIZE] = {0};
  base[23] = 3;
  want[23] = 8;
  uint16_t diff;
  tw_nc_nonce_for_packet(base, base, 8, &diff);
  assert_int_equal(diff, 5);
  assert_memory_equal(base, want, 24);
}

static void test_sender_and_receiver_agree_on_nonces_over_many_packets(void **state) {
  (void)state;
  /* The sender adds 1 per packet; the receiver recovers each packet's
   * nonce from its two low bytes while the gap stays below 2^16. */
  uint8_t base[TW_NONCE_SIZE], sent[TW_NONCE_SIZE];
  memset(base, 0xab, sizeof base);
  base[22] = 0xff;
  base[23] = 0xf0;
  memcpy(sent, base, sizeof sent);
  for (uint32_t k = 0; k < 70000; k += 7) {
    uint8_t got[TW_NONCE_SIZE];
    uint16_t diff;
    tw_nc_nonce_for_packet(got, base, (uint16_t)((sent[22] << 8) | sent[23]), &diff);
    assert_int_equal(diff, k % 65536);
    if (k < 65536) assert_memory_equal(got, sent, 24);
    tw_nc_nonce_add(sent, 7);
  }
}

/* ---- packet request ---- */

static int request(uint8_t *out, size_t cap, uint32_t buffer_start, const uint32_t *m,
                   size_t count) {
  size_t used = 999;
  int n = tw_nc_packet_request_write(out, cap, buffer_start, m, count, &used);
  if (n >= 0) assert_int_equal(used, count);
  return n;
}

static void test_packet_request_spec_example_for_packet_1(void **state) {
  (void)state;
  /* Spec: buffer_start 1 (packet 0 processed), 1 missing:
   * [uint32_t 1][uint32_t 0][uint8_t 1][uint8_t 1] */
  const uint32_t m[] = {1};
  uint8_t req[16], plain[32];
  int n = request(req, sizeof req, 1, m, 1);
  const uint8_t want_req[] = {1, 1};
  assert_int_equal(n, 2);
  assert_memory_equal(req, want_req, 2);
  int pn = tw_nc_plain_write(plain, sizeof plain, 1, 0, 0, req, (size_t)n);
  const uint8_t want[] = {0, 0, 0, 1, 0, 0, 0, 0, 1, 1};
  assert_int_equal(pn, sizeof want);
  assert_memory_equal(plain, want, sizeof want);
  tw_nc_plain pl;
  assert_int_equal(tw_nc_plain_read(&pl, plain, (size_t)pn), TW_OK);
  uint32_t got[4];
  assert_int_equal(tw_nc_packet_request_read(got, 4, pl.buffer_start, pl.data, pl.len), 1);
  assert_true(got[0] == 1);
}

static void test_packet_request_spec_example_for_packets_1_and_4(void **state) {
  (void)state;
  /* Spec: [uint32_t 1][uint32_t 0][uint8_t 1][uint8_t 1][uint8_t 3] */
  const uint32_t m[] = {1, 4};
  uint8_t req[16];
  int n = request(req, sizeof req, 1, m, 2);
  const uint8_t want[] = {1, 1, 3};
  assert_int_equal(n, 3);
  assert_memory_equal(req, want, 3);
  uint32_t got[4];
  assert_int_equal(tw_nc_packet_request_read(got, 4, 1, want, sizeof want), 2);
  assert_true(got[0] == 1 && got[1] == 4);
}

static void test_packet_request_spec_example_for_packets_3_6_and_1024(void **state) {
  (void)state;
  /* Spec: [uint32_t 1][uint32_t 2][uint8_t 1][uint8_t 3][uint8_t 3]
   * [uint8_t 0][uint8_t 0][uint8_t 0][uint8_t 253] */
  const uint32_t m[] = {3, 6, 1024};
  uint8_t req[16], plain[32];
  int n = request(req, sizeof req, 1, m, 3);
  const uint8_t want_req[] = {1, 3, 3, 0, 0, 0, 253};
  assert_int_equal(n, 7);
  assert_memory_equal(req, want_req, 7);
  int pn = tw_nc_plain_write(plain, sizeof plain, 1, 2, 0, req, (size_t)n);
  const uint8_t want[] = {0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 0, 0, 0, 253};
  assert_int_equal(pn, sizeof want);
  assert_memory_equal(plain, want, sizeof want);
  tw_nc_plain pl;
  assert_int_equal(tw_nc_plain_read(&pl, want, sizeof want), TW_OK);
  uint32_t got[4];
  assert_int_equal(tw_nc_packet_request_read(got, 4, pl.buffer_start, pl.data, pl.len), 3);
  assert_true(got[0] == 3 && got[1] == 6 && got[2] == 1024);
}

static void test_packet_request_gap_of_a_multiple_of_255_ends_in_255(void **state) {
  (void)state;
  uint8_t req[16];
  uint32_t got[4];
  const uint32_t a[] = {255}; /* distance 255 from buffer_start - 1 = 0 */
  assert_int_equal(request(req, sizeof req, 1, a, 1), 2);
  assert_int_equal(req[1], 255);
  const uint32_t b[] = {510};
  assert_int_equal(request(req, sizeof req, 1, b, 1), 3);
  const uint8_t want_b[] = {1, 0, 255};
  assert_memory_equal(req, want_b, 3);
  assert_int_equal(tw_nc_packet_request_read(got, 4, 1, req, 3), 1);
  assert_true(got[0] == 510);
  const uint32_t c[] = {256};
  assert_int_equal(request(req, sizeof req, 1, c, 1), 3);
  const uint8_t want_c[] = {1, 0, 1};
  assert_memory_equal(req, want_c, 3);
  const uint32_t d[] = {10, 10 + 765};
  assert_int_equal(request(req, sizeof req, 1, d, 2), 5);
  const uint8_t want_d[] = {1, 10, 0, 0, 255};
  assert_memory_equal(req, want_d, 5);
  assert_int_equal(tw_nc_packet_request_read(got, 4, 1, req, 5), 2);
  assert_true(got[0] == 10 && got[1] == 775);
}

static void test_packet_request_round_trips_random_sets(void **state) {
  (void)state;
  test_rng r = {2024};
  static uint32_t m[400], got[400];
  static uint8_t req[4096];
  for (int round = 0; round < 300; round++) {
    uint32_t bs = (uint32_t)test_rng_next(&r);
    if (round % 3 == 0) bs = 0xffffffffu - (uint32_t)(test_rng_next(&r) % 600);
    size_t count = (size_t)(test_rng_next(&r) % 400);
    uint32_t v = bs - 1;
    for (size_t i = 0; i < count; i++) {
      uint64_t pick = test_rng_next(&r);
      /* mostly close together, some gaps past 255, some multiples of 255 */
      uint32_t d = pick % 10 == 0 ? (uint32_t)(1 + pick % 2000)
                   : pick % 10 == 1 ? 255u * (uint32_t)(1 + (pick >> 8) % 4)
                                    : (uint32_t)(1 + (pick >> 8) % 6);
      v += d;
      m[i] = v;
    }
    size_t used = 0;
    int n = tw_nc_packet_request_write(req, sizeof req, bs, m, count, &used);
    assert_true(n >= 1);
    assert_int_equal(used, count);
    assert_int_equal(req[0], 1);
    if (count > 0) assert_int_not_equal(req[n - 1], 0);
    int k = tw_nc_packet_request_read(got, 400, bs, req, (size_t)n);
    assert_int_equal(k, (int)count);
    for (size_t i = 0; i < count; i++) assert_true(got[i] == m[i]);
  }
}

static void test_packet_request_numbers_wrap_past_0xffffffff(void **state) {
  (void)state;
  uint8_t req[32];
  uint32_t got[8];
  const uint32_t m[] = {0xfffffff5u, 0xffffffffu, 0, 3, 300};
  int n = request(req, sizeof req, 0xfffffff0u, m, 5);
  /* from 0xffffffef: 6, 10, 1, 3, 297 = [0][42] */
  const uint8_t want[] = {1, 6, 10, 1, 3, 0, 42};
  assert_int_equal(n, (int)sizeof want);
  assert_memory_equal(req, want, sizeof want);
  assert_int_equal(tw_nc_packet_request_read(got, 8, 0xfffffff0u, req, (size_t)n), 5);
  for (int i = 0; i < 5; i++) assert_true(got[i] == m[i]);

  /* buffer_start 0: the reference is 0xffffffff, so 0 is one away. */
  const uint32_t z[] = {0};
  assert_int_equal(request(req, sizeof req, 0, z, 1), 2);
  assert_int_equal(req[1], 1);
  assert_int_equal(tw_nc_packet_request_read(got, 8, 0, req, 2), 1);
  assert_true(got[0] == 0);
  /* buffer_start 0xffffffff: 0xffffffff is one away, 0 two. */
  const uint32_t w[] = {0xffffffffu, 0};
  assert_int_equal(request(req, sizeof req, 0xffffffffu, w, 2), 3);
  assert_int_equal(req[1], 1);
  assert_int_equal(req[2], 1);
}

static void test_packet_request_write_stops_early_when_cap_runs_out(void **state) {
  (void)state;
  const uint32_t m[] = {1, 2, 600, 601}; /* [1][1][1][0][0][88][1] */
  uint8_t req[16];
  const size_t fit[] = {0, 0, 1, 2, 2, 2, 3, 4}; /* numbers that fit cap = index */
  for (size_t cap = 1; cap <= 7; cap++) {
    size_t used = 99;
    memset(req, 0xee, sizeof req);
    int n = tw_nc_packet_request_write(req, cap, 1, m, 4, &used);
    assert_int_equal(used, fit[cap]);
    const int len[] = {0, 1, 2, 3, 3, 3, 6, 7};
    assert_int_equal(n, len[cap]);
    /* Never half a number: what was written decodes to what was used. */
    uint32_t got[8];
    assert_int_equal(tw_nc_packet_request_read(got, 8, 1, req, (size_t)n), (int)used);
    for (size_t i = 0; i < used; i++) assert_true(got[i] == m[i]);
    assert_int_equal(req[n], 0xee);
  }
  size_t used = 99;
  assert_int_equal(tw_nc_packet_request_write(req, 0, 1, m, 4, &used), TW_E_LONG);
  assert_int_equal(used, 0);
}

static void test_packet_request_write_refuses_unordered_numbers(void **state) {
  (void)state;
  uint8_t req[16];
  size_t used = 99;
  const uint32_t down[] = {5, 4};
  assert_int_equal(tw_nc_packet_request_write(req, sizeof req, 1, down, 2, &used), TW_E_INVAL);
  assert_int_equal(used, 0);
  const uint32_t twice[] = {5, 5};
  assert_int_equal(tw_nc_packet_request_write(req, sizeof req, 1, twice, 2, &used), TW_E_INVAL);
  /* buffer_start - 1 is already handled: no distance reaches it. */
  const uint32_t handled[] = {0};
  assert_int_equal(tw_nc_packet_request_write(req, sizeof req, 1, handled, 1, &used), TW_E_INVAL);
  /* Ascending in uint32 order from buffer_start, across the wrap, is fine. */
  const uint32_t wrap[] = {0xfffffffeu, 1};
  assert_int_equal(tw_nc_packet_request_write(req, sizeof req, 0xfffffff0u, wrap, 2, &used), 3);
  assert_int_equal(used, 2);
}

static void test_packet_request_with_nothing_missing_is_the_id_alone(void **state) {
  (void)state;
  uint8_t req[4];
  size_t used = 99;
  assert_int_equal(tw_nc_packet_request_write(req, sizeof req, 7, NULL, 0, &used), 1);
  assert_int_equal(used, 0);
  assert_int_equal(req[0], 1);
  uint32_t got[1];
  assert_int_equal(tw_nc_packet_request_read(got, 1, 7, req, 1), 0);
}

static void test_packet_request_trailing_zeros_request_nothing(void **state) {
  (void)state;
  const uint8_t in[] = {1, 2, 0, 0, 0};
  uint32_t got[4];
  assert_int_equal(tw_nc_packet_request_read(got, 4, 10, in, sizeof in), 1);
  assert_true(got[0] == 11);
  const uint8_t zeros[] = {1, 0, 0};
  assert_int_equal(tw_nc_packet_request_read(got, 4, 10, zeros, sizeof zeros), 0);
}

static void test_packet_request_read_past_max_is_refused(void **state) {
  (void)state;
  const uint8_t in[] = {1, 1, 1, 1, 1, 1, 0, 0};
  uint32_t got[5];
  assert_int_equal(tw_nc_packet_request_read(got, 5, 0, in, sizeof in), 5);
  assert_int_equal(tw_nc_packet_request_read(got, 4, 0, in, sizeof in), TW_E_COUNT);
  assert_int_equal(tw_nc_packet_request_read(NULL, 0, 0, in, sizeof in), TW_E_COUNT);
  const uint8_t none[] = {1, 0};
  assert_int_equal(tw_nc_packet_request_read(NULL, 0, 0, none, sizeof none), 0);
}

static void test_packet_request_read_needs_data_id_1(void **state) {
  (void)state;
  uint32_t got[4];
  uint8_t in[] = {1, 1};
  for (int id = 0; id < 256; id++) {
    if (id == 1) continue;
    in[0] = (uint8_t)id;
    assert_int_equal(tw_nc_packet_request_read(got, 4, 0, in, sizeof in), TW_E_KIND);
  }
  assert_int_equal(tw_nc_packet_request_read(got, 4, 0, in, 0), TW_E_SHORT);
}

int main(void) {
  assert_int_equal(tw_crypto_init(), TW_OK);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sizes_match_spec),
      cmocka_unit_test(test_cookie_round_trip),
      cmocka_unit_test(test_cookie_opened_with_the_wrong_key_is_refused),
      cmocka_unit_test(test_cookie_with_any_bit_flipped_is_refused),
      cmocka_unit_test(test_cookie_request_round_trip),
      cmocka_unit_test(test_cookie_request_of_wrong_size_is_refused),
      cmocka_unit_test(test_cookie_request_of_another_kind_is_refused),
      cmocka_unit_test(test_cookie_request_with_any_bit_flipped_is_refused),
      cmocka_unit_test(test_cookie_request_padding_is_not_checked),
      cmocka_unit_test(test_cookie_response_round_trip),
      cmocka_unit_test(test_cookie_response_of_wrong_size_or_kind_is_refused),
      cmocka_unit_test(test_cookie_response_with_any_bit_flipped_is_refused),
      cmocka_unit_test(test_cookie_response_under_another_key_is_refused),
      cmocka_unit_test(test_handshake_round_trip),
      cmocka_unit_test(test_handshake_of_wrong_size_or_kind_is_refused),
      cmocka_unit_test(test_handshake_with_any_bit_flipped_is_refused),
      cmocka_unit_test(test_handshake_with_wrong_cookie_hash_is_refused),
      cmocka_unit_test(test_handshake_under_another_key_is_refused),
      cmocka_unit_test(test_data_round_trip),
      cmocka_unit_test(test_data_of_wrong_size_or_kind_is_refused),
      cmocka_unit_test(test_data_seal_refuses_what_no_receiver_accepts),
      cmocka_unit_test(test_data_with_any_bit_flipped_is_refused),
      cmocka_unit_test(test_data_opened_with_another_nonce_is_refused),
      cmocka_unit_test(test_plain_round_trip_with_and_without_padding),
      cmocka_unit_test(test_plain_read_skips_padding_to_the_data_id),
      cmocka_unit_test(test_plain_with_only_padding_is_refused),
      cmocka_unit_test(test_plain_without_a_header_is_refused),
      cmocka_unit_test(test_plain_longer_than_a_packet_holds_is_refused),
      cmocka_unit_test(test_plain_write_refuses_bad_input),
      cmocka_unit_test(test_nonce_add_is_big_endian),
      cmocka_unit_test(test_nonce_add_carries_across_many_bytes),
      cmocka_unit_test(test_nonce_add_wraps_at_2_to_the_192),
      cmocka_unit_test(test_nonce_add_equals_repeated_increments),
      cmocka_unit_test(test_nonce_for_packet_with_the_base_low_bytes_is_the_base),
      cmocka_unit_test(test_nonce_for_packet_rolls_over_like_the_spec_example),
      cmocka_unit_test(test_nonce_for_packet_behind_the_base_counts_forward),
      cmocka_unit_test(test_nonce_for_packet_may_write_over_the_base),
      cmocka_unit_test(test_sender_and_receiver_agree_on_nonces_over_many_packets),
      cmocka_unit_test(test_packet_request_spec_example_for_packet_1),
      cmocka_unit_test(test_packet_request_spec_example_for_packets_1_and_4),
      cmocka_unit_test(test_packet_request_spec_example_for_packets_3_6_and_1024),
      cmocka_unit_test(test_packet_request_gap_of_a_multiple_of_255_ends_in_255),
      cmocka_unit_test(test_packet_request_round_trips_random_sets),
      cmocka_unit_test(test_packet_request_numbers_wrap_past_0xffffffff),
      cmocka_unit_test(test_packet_request_write_stops_early_when_cap_runs_out),
      cmocka_unit_test(test_packet_request_write_refuses_unordered_numbers),
      cmocka_unit_test(test_packet_request_with_nothing_missing_is_the_id_alone),
      cmocka_unit_test(test_packet_request_trailing_zeros_request_nothing),
      cmocka_unit_test(test_packet_request_read_past_max_is_refused),
      cmocka_unit_test(test_packet_request_read_needs_data_id_1),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
