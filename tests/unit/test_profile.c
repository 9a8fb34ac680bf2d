/* toxwire/profile.h: toxwire's profile format, c-toxcore savedata, and the
 * profile files (src/io/profile_file.c).
 *
 * The c-toxcore fixtures in data/ were written by c-toxcore 0.2.18 through
 * make_toxcore_save.c, which also wrote data/toxcore_expected.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "data/toxcore_expected.h"
#include "testutil.h"
#include "toxwire/error.h"
#include "toxwire/profile.h"

#ifndef PROFILE_DATA_DIR
#define PROFILE_DATA_DIR "tests/unit/data"
#endif

#define HEADER 20 /* magic (15), version (1), total length (4) */
#define CHECKSUM 32
#define KEYS_AT HEADER
#define SELF_AT (KEYS_AT + 6 + 68)

/* ---- helpers ---- */

static void fill_text(uint8_t *dst, uint16_t *len, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; i++) dst[i] = (uint8_t)('a' + (seed + i) % 26);
  *len = (uint16_t)n;
}

static tw_profile_friend make_friend(test_rng *rng, bool full) {
  tw_profile_friend f;
  memset(&f, 0, sizeof f);
  test_rng_fill(rng, f.pk.bytes, sizeof f.pk.bytes);
  uint8_t b = (uint8_t)test_rng_next(rng);
  f.status = (b & 1) ? TW_PROFILE_FRIEND_CONFIRMED : TW_PROFILE_FRIEND_REQUEST_SENT;
  f.nospam = (uint32_t)test_rng_next(rng);
  f.user_status = b % 3;
  f.last_seen_unix = test_rng_next(rng) >> 20;
  fill_text(f.name, &f.name_len, full ? TW_PROFILE_MAX_NAME : b % 9, b);
  fill_text(f.status_message, &f.status_message_len, full ? TW_PROFILE_MAX_STATUS_MESSAGE : b % 5,
            b + 1);
  fill_text(f.request_message, &f.request_message_len,
            full ? TW_PROFILE_MAX_REQUEST_MESSAGE : b % 7, b + 2);
  return f;
}

/* A profile with keys from seed, n friends and the given node counts. */
static tw_profile *make_profile(uint64_t seed, size_t friends, size_t udp, size_t tcp, bool full) {
  tw_profile *p = malloc(sizeof *p);
  assert_non_null(p);
  tw_profile_init(p);
  p->keys = test_keypair(seed);
  p->nospam = 0xa1b2c3d4u ^ (uint32_t)seed;
  p->user_status = TW_PROFILE_USER_AWAY;
  fill_text(p->name, &p->name_len, full ? TW_PROFILE_MAX_NAME : 5, 1);
  fill_text(p->status_message, &p->status_message_len,
            full ? TW_PROFILE_MAX_STATUS_MESSAGE : 11, 2);
  test_rng rng = {seed};
  for (size_t i = 0; i < friends; i++) {
    tw_profile_friend f = make_friend(&rng, full);
    assert_int_equal(tw_profile_add_friend(p, &f), TW_OK);
  }
  for (size_t i = 0; i < udp + tcp; i++) {
    tw_node_info n;
    memset(&n, 0, sizeof n);
    test_rng_fill(&rng, n.pk.bytes, sizeof n.pk.bytes);
    n.addr = i % 2 ? test_addr6((uint16_t)i, (uint16_t)(33445 + i))
                   : test_addr4(10, 0, (uint8_t)(i >> 8), (uint8_t)i, (uint16_t)(33445 + i));
    n.tcp = i >= udp;
    assert_int_equal(tw_profile_add_node(p, &n), TW_OK);
  }
  return p;
}

static void free_profile(tw_profile *p) {
  tw_profile_clear(p);
  free(p);
}

static uint8_t *encode_ok(const tw_profile *p, size_t *len) {
  uint8_t *buf = NULL;
  assert_int_equal(tw_profile_encode(p, &buf, len), TW_OK);
  assert_non_null(buf);
  return buf;
}

static bool is_empty(const tw_profile *p) {
  tw_profile e;
  tw_profile_init(&e);
  return p->friends == NULL && p->friend_count == 0 && p->node_count == 0 &&
         memcmp(&p->keys, &e.keys, sizeof e.keys) == 0 && p->name_len == 0;
}

/* Rewrites the total length and the checksum, as a writer of the format
 * would (spec/profile.md), so a test can build files the encoder won't. */
static void reseal(uint8_t *buf, size_t len) {
  buf[16] = (uint8_t)(len >> 24);
  buf[17] = (uint8_t)(len >> 16);
  buf[18] = (uint8_t)(len >> 8);
  buf[19] = (uint8_t)len;
  crypto_generichash(buf + len - CHECKSUM, CHECKSUM, buf, len - CHECKSUM, NULL, 0);
}

/* Replaces del bytes at `at` with ins (ins_len bytes) and reseals. */
static uint8_t *splice_bytes(const uint8_t *buf, size_t len, size_t at, size_t del,
                             const uint8_t *ins, size_t ins_len, size_t *out_len) {
  *out_len = len - del + ins_len;
  uint8_t *out = malloc(*out_len);
  assert_non_null(out);
  memcpy(out, buf, at);
  if (ins_len) memcpy(out + at, ins, ins_len);
  memcpy(out + at + ins_len, buf + at + del, len - at - del);
  reseal(out, *out_len);
  return out;
}

static size_t section(uint8_t *out, uint16_t type, const uint8_t *body, uint32_t len) {
  out[0] = (uint8_t)(type >> 8);
  out[1] = (uint8_t)type;
  out[2] = (uint8_t)(len >> 24);
  out[3] = (uint8_t)(len >> 16);
  out[4] = (uint8_t)(len >> 8);
  out[5] = (uint8_t)len;
  if (len) memcpy(out + 6, body, len);
  return 6 + len;
}

/* Decoding buf must fail with code and exactly this reason. */
static void expect_refused(const uint8_t *buf, size_t len, int code, const char *reason) {
  tw_profile p;
  char why[TW_PROFILE_WHY_SIZE] = "";
  assert_int_equal(tw_profile_decode_any(&p, buf, len, why), code);
  assert_string_equal(why, reason);
  assert_true(is_empty(&p));
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  uint8_t *buf = malloc(TW_PROFILE_MAX_FILE_SIZE);
  assert_non_null(buf);
  *len = fread(buf, 1, TW_PROFILE_MAX_FILE_SIZE, f);
  fclose(f);
  return buf;
}

static uint8_t *read_fixture(const char *name, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", PROFILE_DATA_DIR, name);
  return read_file(path, len);
}

static void write_file(const char *path, const uint8_t *p, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static bool has_node(const tw_profile *p, const uint8_t pk[32], uint16_t port, bool tcp) {
  for (size_t i = 0; i < p->node_count; i++)
    if (memcmp(p->nodes[i].pk.bytes, pk, 32) == 0 && p->nodes[i].addr.port == port &&
        p->nodes[i].tcp == tcp && p->nodes[i].addr.family == TW_AF_INET &&
        memcmp(p->nodes[i].addr.ip, "\x7f\x00\x00\x01", 4) == 0)
      return true;
  return false;
}

static bool text_is(const uint8_t *t, size_t len, const char *s) {
  return len == strlen(s) && memcmp(t, s, len) == 0;
}

static void round_trip(const tw_profile *p) {
  size_t len;
  uint8_t *buf = encode_ok(p, &len);
  tw_profile back;
  char why[TW_PROFILE_WHY_SIZE] = "";
  assert_int_equal(tw_profile_decode(&back, buf, len, why), TW_OK);
  assert_string_equal(why, "");
  assert_true(tw_profile_equal(p, &back));
  tw_profile_clear(&back);
  assert_int_equal(tw_profile_decode_any(&back, buf, len, NULL), TW_OK);
  assert_true(tw_profile_equal(p, &back));
  tw_profile_clear(&back);
  tw_profile_free_encoded(buf, len);
}

/* ---- the in-memory profile ---- */

static int setup(void **state) {
  (void)state;
  return tw_crypto_init() == TW_OK ? 0 : -1;
}

static void test_friend_list_add_find_remove(void **state) {
  (void)state;
  tw_profile *p = make_profile(1, 3, 0, 0, false);
  tw_profile_friend f = p->friends[1];
  assert_ptr_equal(tw_profile_find_friend(p, &f.pk), &p->friends[1]);
  assert_int_equal(tw_profile_add_friend(p, &f), TW_E_INVAL); /* already there */
  tw_key third = p->friends[2].pk;
  assert_int_equal(tw_profile_remove_friend(p, &f.pk), TW_OK);
  assert_int_equal(p->friend_count, 2);
  assert_null(tw_profile_find_friend(p, &f.pk));
  assert_true(tw_key_equal(&p->friends[1].pk, &third)); /* order kept */
  assert_int_equal(tw_profile_remove_friend(p, &f.pk), TW_E_NOTFOUND);
  f.status = 3;
  assert_int_equal(tw_profile_add_friend(p, &f), TW_E_INVAL);
  f.status = TW_PROFILE_FRIEND_CONFIRMED;
  f.name_len = TW_PROFILE_MAX_NAME + 1;
  assert_int_equal(tw_profile_add_friend(p, &f), TW_E_INVAL);
  free_profile(p);
}

static void test_friend_list_stops_at_1024(void **state) {
  (void)state;
  tw_profile *p = make_profile(2, TW_PROFILE_MAX_FRIENDS, 0, 0, false);
  test_rng rng = {99};
  tw_profile_friend f = make_friend(&rng, false);
  assert_int_equal(tw_profile_add_friend(p, &f), TW_E_FULL);
  free_profile(p);
}

static void test_nodes_deduplicated_and_capped_per_kind(void **state) {
  (void)state;
  tw_profile *p = make_profile(3, 0, TW_PROFILE_MAX_UDP_NODES, 0, false);
  tw_node_info n = p->nodes[0];
  assert_int_equal(tw_profile_add_node(p, &n), TW_OK); /* a duplicate: not added */
  assert_int_equal(p->node_count, TW_PROFILE_MAX_UDP_NODES);
  n.addr.port++;
  assert_int_equal(tw_profile_add_node(p, &n), TW_E_FULL); /* a 65th UDP node */
  n.tcp = true;
  assert_int_equal(tw_profile_add_node(p, &n), TW_OK); /* TCP relays count apart */
  n.addr.family = 7;
  n.pk.bytes[0] ^= 1;
  assert_int_equal(tw_profile_add_node(p, &n), TW_E_FAMILY);
  free_profile(p);
}

static void test_clear_wipes_secret_key(void **state) {
  (void)state;
  tw_profile *p = make_profile(4, 2, 1, 1, false);
  tw_profile_clear(p);
  assert_true(is_empty(p));
  for (size_t i = 0; i < sizeof p->keys.sk; i++) assert_int_equal(p->keys.sk[i], 0);
  tw_profile_clear(p); /* twice is fine */
  free(p);
}

/* ---- toxwire's format ---- */

static void test_round_trip_no_friends(void **state) {
  (void)state;
  tw_profile *p = make_profile(5, 0, 0, 0, false);
  round_trip(p);
  p->name_len = p->status_message_len = 0;
  p->user_status = TW_PROFILE_USER_ONLINE;
  round_trip(p);
  free_profile(p);
}

static void test_round_trip_one_friend_and_nodes(void **state) {
  (void)state;
  tw_profile *p = make_profile(6, 1, 3, 2, false);
  round_trip(p);
  free_profile(p);
}

static void test_round_trip_1024_friends_every_text_at_its_limit(void **state) {
  (void)state;
  tw_profile *p = make_profile(7, TW_PROFILE_MAX_FRIENDS, TW_PROFILE_MAX_UDP_NODES,
                               TW_PROFILE_MAX_TCP_RELAYS, true);
  round_trip(p);
  size_t len;
  uint8_t *buf = encode_ok(p, &len);
  assert_true(len < TW_PROFILE_MAX_FILE_SIZE);
  tw_profile_free_encoded(buf, len);
  free_profile(p);
}

static void test_layout_magic_version_length_checksum(void **state) {
  (void)state;
  tw_profile *p = make_profile(8, 1, 1, 0, false);
  size_t len;
  uint8_t *buf = encode_ok(p, &len);
  assert_memory_equal(buf, "toxwire profile", 15);
  assert_int_equal(buf[15], TW_PROFILE_VERSION);
  assert_int_equal(((size_t)buf[16] << 24) | (buf[17] << 16) | (buf[18] << 8) | buf[19], len);
  uint8_t sum[32];
  crypto_generichash(sum, sizeof sum, buf, len - 32, NULL, 0);
  assert_memory_equal(buf + len - 32, sum, 32);
  /* keys first: type 1, 68 bytes, pk, sk, nospam big-endian */
  assert_memory_equal(buf + KEYS_AT, "\x00\x01\x00\x00\x00\x44", 6);
  assert_memory_equal(buf + KEYS_AT + 6, p->keys.pk.bytes, 32);
  assert_memory_equal(buf + KEYS_AT + 38, p->keys.sk, 32);
  assert_int_equal(buf[KEYS_AT + 70], p->nospam >> 24);
  assert_int_equal(buf[SELF_AT + 1], 2); /* then the self section */
  tw_profile_free_encoded(buf, len);
  free_profile(p);
}

static void test_every_truncation_is_refused(void **state) {
  (void)state;
  tw_profile *p = make_profile(9, 2, 2, 1, false);
  size_t len;
  uint8_t *buf = encode_ok(p, &len);
  for (size_t n = 0; n < len; n++) {
    tw_profile q;
    char why[TW_PROFILE_WHY_SIZE] = "";
    int e = tw_profile_decode_any(&q, buf, n, why);
    assert_int_equal(e, TW_E_SHORT);
    assert_true(is_empty(&q));
    assert_true(strncmp(why, n ? "truncated" : "empty", 5) == 0);
    assert_int_not_equal(tw_profile_decode(&q, buf, n, NULL), TW_OK);
  }
  char want[TW_PROFILE_WHY_SIZE];
  snprintf(want, sizeof want, "truncated (%zu of %zu bytes)", len - 1, len);
  expect_refused(buf, len - 1, TW_E_SHORT, want);
  tw_profile_free_encoded(buf, len);
  free_profile(p);
}

static void test_every_single_byte_corruption_is_refused(void **state) {
  (void)state;
  tw_profile *p = make_profile(10, 1, 1, 1, false);
  size_t len;
  uint8_t *buf = encode_ok(p, &len);
  for (size_t i = 0; i < len; i++) {
    uint8_t keep = buf[i];
    for (int x = 1; x < 256; x++) {
      buf[i] = (uint8_t)(keep ^ x);
      tw_profile q;
      char why[TW_PROFILE_WHY_SIZE] = "";
      assert_int_not_equal(tw_profile_decode_any(&q, buf, len, why), TW_OK);
      assert_true(is_empty(&q));
      assert_true(why[0] != '\0');
    }
    buf[i] = keep;
  }
  buf[HEADER + 100] ^= 1;
  expect_refused(buf, len, TW_E_CHECKSUM, "checksum mismatch");
  tw_profile_free_encoded(buf, len);
  free_profile(p);
}

static void test_bytes_after_the_end_are_refused(void **state) {
  (void)state;
  tw_profile *p = make_profile(11, 0, 0, 0, false);
  size_t len;
  uint8_t *buf = encode_ok(p, &len);
  uint8_t *longer = calloc(1, len + 1);
  memcpy(longer, buf, len);
  expect_refused(longer, len + 1, TW_E_LONG, "1 bytes after the end of the profile");
  free(longer);
  tw_profile_free_encoded(buf, len);
  free_profile(p);
}

static void test_unknown_version_is_refused(void **state) {
  (void)state;
  tw_profile *p = make_profile(12, 0, 0, 0, false);
  size_t len;
  uint8_t *buf = encode_ok(p, &len);
  buf[15] = 2;
  reseal(buf, len); /* even with a good checksum */
  expect_refused(buf, len, TW_E_FORMAT, "unknown version 2");
  buf[15] = 0;
  expect_refused(buf, len, TW_E_FORMAT, "unknown version 0");
  tw_profile_free_encoded(buf, len);
  free_profile(p);
}

static void test_unknown_section_is_skipped_unless_critical(void **state) {
  (void)state;
  tw_profile *p = make_profile(13, 2, 1, 1, false);
  size_t len, n2;
  uint8_t *buf = encode_ok(p, &len);
  uint8_t sec[16];
  size_t sl = section(sec, 0x0042, (const uint8_t *)"later", 5);
  /* between keys and self, and at the very end */
  uint8_t *a = splice_bytes(buf, len, SELF_AT, 0, sec, sl, &n2);
  tw_profile q;
  assert_int_equal(tw_profile_decode(&q, a, n2, NULL), TW_OK);
  assert_true(tw_profile_equal(p, &q));
  tw_profile_clear(&q);
  free(a);
  a = splice_bytes(buf, len, len - CHECKSUM, 0, sec, sl, &n2);
  assert_int_equal(tw_profile_decode(&q, a, n2, NULL), TW_OK);
  assert_true(tw_profile_equal(p, &q));
  tw_profile_clear(&q);
  free(a);
  sl = section(sec, 0x8042, (const uint8_t *)"later", 5);
  a = splice_bytes(buf, len, SELF_AT, 0, sec, sl, &n2);
  expect_refused(a, n2, TW_E_FORMAT, "unknown critical section 0x8042");
  free(a);
  /* a section whose length runs past the checksum */
  sl = section(sec, 0x0042, (const uint8_t *)"later", 5);
  sec[5] = 200;
  a = splice_bytes(buf, len, len - CHECKSUM, 0, sec, sl, &n2);
  expect_refused(a, n2, TW_E_FORMAT, "section 0x0042 runs past the end");
  free(a);
  tw_profile_free_encoded(buf, len);
  free_profile(p);
}

static void test_secret_key_not_matching_public_key_is_refused(void **state) {
  (void)state;
  tw_profile *p = make_profile(14, 0, 0, 0, false);
  size_t len;
  uint8_t *buf = encode_ok(p, &len);
  buf[KEYS_AT + 6 + 32] ^= 0x40; /* one secret key bit */
  reseal(buf, len);
  expect_refused(buf, len, TW_E_FORMAT, "secret key does not match public key");
  tw_profile_free_encoded(buf, len);
  /* and the encoder will not write such a profile */
  p->keys.pk.bytes[3] ^= 1;
  uint8_t *out = (uint8_t *)1;
  assert_int_equal(tw_profile_encode(p, &out, &len), TW_E_FORMAT);
  assert_null(out);
  free_profile(p);
}

static void test_missing_or_repeated_sections_are_refused(void **state) {
  (void)state;
  tw_profile *p = make_profile(15, 0, 0, 0, false);
  size_t len, n2;
  uint8_t *buf = encode_ok(p, &len);
  uint8_t *a = splice_bytes(buf, len, KEYS_AT, 6 + 68, NULL, 0, &n2);
  expect_refused(a, n2, TW_E_FORMAT, "no keys section");
  free(a);
  a = splice_bytes(buf, len, SELF_AT, 0, buf + KEYS_AT, 6 + 68, &n2);
  expect_refused(a, n2, TW_E_FORMAT, "two keys sections");
  free(a);
  tw_profile_free_encoded(buf, len);
  free_profile(p);
}

static void test_fields_over_their_limits_are_refused(void **state) {
  (void)state;
  tw_profile *p = make_profile(16, 1, 0, 0, false);
  size_t len, n2;
  uint8_t *buf = encode_ok(p, &len);
  size_t self_len = 6 + 1 + 2 + p->name_len + 2 + p->status_message_len;
  uint8_t body[4096], sec[4200];
  memset(body, 'x', sizeof body);

  /* name of 129 bytes */
  body[0] = 0;
  body[1] = 0;
  body[2] = 129;
  body[3 + 129] = 0;
  body[3 + 130] = 0;
  size_t sl = section(sec, 2, body, 3 + 129 + 2);
  uint8_t *a = splice_bytes(buf, len, SELF_AT, self_len, sec, sl, &n2);
  expect_refused(a, n2, TW_E_LONG, "name longer than 128 (129)");
  free(a);

  /* status message of 1008 bytes */
  body[2] = 0;
  body[3] = 0x03;
  body[4] = 0xf0;
  sl = section(sec, 2, body, 3 + 2 + 1008);
  a = splice_bytes(buf, len, SELF_AT, self_len, sec, sl, &n2);
  expect_refused(a, n2, TW_E_LONG, "status message longer than 1007 (1008)");
  free(a);

  /* user status 3 */
  memset(body, 0, 5);
  body[0] = 3;
  sl = section(sec, 2, body, 5);
  a = splice_bytes(buf, len, SELF_AT, self_len, sec, sl, &n2);
  expect_refused(a, n2, TW_E_FORMAT, "user status 3 unknown");
  free(a);

  /* a self section with a byte too many */
  body[0] = 0;
  sl = section(sec, 2, body, 6);
  a = splice_bytes(buf, len, SELF_AT, self_len, sec, sl, &n2);
  expect_refused(a, n2, TW_E_FORMAT, "self section has bytes after its fields");
  free(a);

  /* friend: status 3, then a request message of 1017 bytes, then twice */
  size_t friend_at = SELF_AT + self_len;
  size_t friend_len = len - CHECKSUM - friend_at;
  memcpy(sec, buf + friend_at, friend_len);
  sec[6 + 32] = 3;
  a = splice_bytes(buf, len, friend_at, friend_len, sec, friend_len, &n2);
  expect_refused(a, n2, TW_E_FORMAT, "friend 0: status 3 unknown");
  free(a);
  memset(body, 0, 32 + 1 + 4 + 1 + 8 + 4);
  body[32] = TW_PROFILE_FRIEND_CONFIRMED;
  body[50] = 0x03;
  body[51] = 0xf9;
  sl = section(sec, 3, body, 52 + 1017);
  a = splice_bytes(buf, len, friend_at, 0, sec, sl, &n2);
  expect_refused(a, n2, TW_E_LONG, "friend request message longer than 1016 (1017)");
  free(a);
  a = splice_bytes(buf, len, friend_at, 0, buf + friend_at, friend_len, &n2);
  expect_refused(a, n2, TW_E_FORMAT, "friend 1 listed twice");
  free(a);
  tw_profile_free_encoded(buf, len);
  free_profile(p);
}

static void test_friend_list_longer_than_1024_is_refused(void **state) {
  (void)state;
  tw_profile *p = make_profile(17, TW_PROFILE_MAX_FRIENDS, 0, 0, false);
  size_t len, n2;
  uint8_t *buf = encode_ok(p, &len);
  uint8_t body[64], sec[80];
  memset(body, 0, sizeof body);
  memset(body, 0xee, 32);
  body[32] = TW_PROFILE_FRIEND_CONFIRMED;
  size_t sl = section(sec, 3, body, 52);
  uint8_t *a = splice_bytes(buf, len, len - CHECKSUM, 0, sec, sl, &n2);
  expect_refused(a, n2, TW_E_COUNT, "friend list longer than 1024");
  free(a);
  tw_profile_free_encoded(buf, len);
  /* The encoder refuses it too. */
  tw_profile_friend *grown = realloc(p->friends, (TW_PROFILE_MAX_FRIENDS + 1) * sizeof *grown);
  assert_non_null(grown);
  p->friends = grown;
  p->friend_cap = TW_PROFILE_MAX_FRIENDS + 1;
  p->friends[TW_PROFILE_MAX_FRIENDS] = p->friends[0];
  p->friends[TW_PROFILE_MAX_FRIENDS].pk.bytes[0] ^= 0x55;
  p->friend_count++;
  uint8_t *out;
  assert_int_equal(tw_profile_encode(p, &out, &len), TW_E_COUNT);
  free_profile(p);
}

static void test_more_than_64_nodes_of_a_kind_are_refused(void **state) {
  (void)state;
  tw_profile *p = make_profile(18, 0, 0, 0, false);
  size_t len, n2;
  uint8_t *buf = encode_ok(p, &len);
  uint8_t sec[6 + 65 * 39];
  uint8_t body[65 * 39];
  for (int i = 0; i < 65; i++) {
    uint8_t *n = body + 39 * i;
    memset(n, i + 1, 39);
    n[0] = 130; /* TCP over IPv4 */
  }
  size_t sl = section(sec, 4, body, 64 * 39);
  uint8_t *a = splice_bytes(buf, len, len - CHECKSUM, 0, sec, sl, &n2);
  tw_profile q;
  assert_int_equal(tw_profile_decode(&q, a, n2, NULL), TW_OK);
  assert_int_equal(q.node_count, 64);
  tw_profile_clear(&q);
  free(a);
  sl = section(sec, 4, body, 65 * 39);
  a = splice_bytes(buf, len, len - CHECKSUM, 0, sec, sl, &n2);
  expect_refused(a, n2, TW_E_COUNT, "more than 64 TCP relays");
  free(a);
  body[0] = 7;
  sl = section(sec, 4, body, 39);
  a = splice_bytes(buf, len, len - CHECKSUM, 0, sec, sl, &n2);
  expect_refused(a, n2, TW_E_FORMAT, "node with unknown address type");
  free(a);
  tw_profile_free_encoded(buf, len);
  free_profile(p);
}

static void test_decode_any_refuses_strangers(void **state) {
  (void)state;
  static const uint8_t enc[] = "toxEsave\x01\x02\x03\x04 and some ciphertext";
  expect_refused(enc, sizeof enc - 1, TW_E_FORMAT,
                 "encrypted c-toxcore profile (toxEsave): decrypt it first");
  expect_refused((const uint8_t *)"toxE", 4, TW_E_SHORT, "truncated (4 bytes)");
  expect_refused((const uint8_t *)"", 0, TW_E_SHORT, "empty");
  expect_refused((const uint8_t *)"hello, world", 12, TW_E_FORMAT,
                 "neither a toxwire profile nor c-toxcore savedata");
  tw_profile q;
  char why[TW_PROFILE_WHY_SIZE];
  assert_int_equal(tw_profile_decode(&q, enc, sizeof enc - 1, why), TW_E_FORMAT);
  assert_string_equal(why, "not a toxwire profile");
  assert_int_equal(tw_profile_decode_toxcore(&q, enc, sizeof enc - 1, why), TW_E_FORMAT);
  assert_string_equal(why, "not c-toxcore savedata");
}

/* ---- c-toxcore savedata ---- */

static uint32_t le32(const uint8_t *p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Offset of the first section of this type in a c-toxcore save. */
static size_t tc_find(const uint8_t *d, size_t len, uint16_t type) {
  size_t at = 8;
  while (at + 8 <= len) {
    uint16_t t = (uint16_t)(d[at + 4] | (d[at + 5] << 8));
    if (t == type) return at;
    at += 8 + le32(d + at);
  }
  fail_msg("no section 0x%02x", type);
  return 0;
}

/* The layout facts spec/profile.md records, read straight off the bytes. */
static void test_toxcore_savedata_layout_as_observed(void **state) {
  (void)state;
  size_t len;
  uint8_t *d = read_fixture("toxcore_friends.save", &len);
  /* header: four zero bytes, then 0x15ED1B1F little-endian */
  assert_memory_equal(d, "\0\0\0\0\x1f\x1b\xed\x15", 8);
  /* section header: length u32 LE, type u16 LE, 0x01CE u16 LE */
  assert_int_equal(le32(d + 8), 68);
  assert_memory_equal(d + 12, "\x01\x00\xce\x01", 4);
  /* the nospam is big-endian (the Tox ID's byte order), not LE */
  assert_memory_equal(d + 16, "\x1a\x2b\x3c\x4d", 4);
  assert_memory_equal(d + 20, toxcore_self_pk, 32);
  assert_memory_equal(d + 52, toxcore_self_sk, 32);
  /* DHT section: 0x0159000D LE, then a nodes subsection with cookie 0x11CE
   * holding the same node three times */
  size_t at = tc_find(d, len, 2);
  assert_int_equal(at, 84);
  assert_int_equal(le32(d + at), 129);
  assert_int_equal(le32(d + at + 8), 0x0159000D);
  assert_int_equal(le32(d + at + 12), 3 * 39);
  assert_memory_equal(d + at + 16, "\x04\x00\xce\x11", 4);
  assert_memory_equal(d + at + 20, d + at + 20 + 39, 39);
  assert_memory_equal(d + at + 20, "\x02\x7f\x00\x00\x01\x83\xa4", 7); /* UDP4, port BE */
  /* friends: two records of 2216 bytes */
  at = tc_find(d, len, 3);
  assert_int_equal(le32(d + at), 2 * 2216);
  assert_int_equal(d[at + 4], 3);
  const uint8_t *f = d + at + 8;
  assert_int_equal(f[0], 1); /* tox_friend_add: "added", request not yet sent */
  assert_memory_equal(f + 1, toxcore_friend_pending_pk, 32);
  assert_memory_equal(f + 33, "hello", 5);
  assert_memory_equal(f + 1057, "\x00\x00\x05", 3); /* padding, then u16 BE length */
  assert_memory_equal(f + 2204, "\xca\xfe\xf0\x0d", 4); /* friend nospam, BE */
  assert_memory_equal(f + 2208, "\0\0\0\0\0\0\0\0", 8); /* never seen */
  assert_int_equal(f[2216], 3); /* tox_friend_add_norequest: confirmed */
  /* TCP relays: one packed node of type 130 (TCP over IPv4) */
  at = tc_find(d, len, 0x0a);
  assert_int_equal(le32(d + at), 39);
  assert_int_equal(d[at + 4], 0x0a);
  assert_int_equal(d[at + 8], 130);
  /* EOF at 4915, then zeroes up to the size tox_get_savedata_size gave */
  assert_int_equal(tc_find(d, len, 0xff), 4915);
  assert_memory_equal(d + 4915, "\0\0\0\0\xff\x00\xce\x01", 8);
  for (size_t i = 4923; i < len; i++) assert_int_equal(d[i], 0);
  assert_int_equal(len, 5622);
  free(d);

  /* A delivered request is status 2; an online friend is saved as 3, and
   * its last seen time is a u64 BE of unix seconds. */
  d = read_fixture("toxcore_online.save", &len);
  at = tc_find(d, len, 3);
  assert_int_equal(d[at + 4], 3);
  f = d + at + 8;
  assert_int_equal(f[0], 2);
  assert_int_equal(f[2216], 3);
  uint64_t seen = 0;
  for (int i = 0; i < 8; i++) seen = seen << 8 | f[2216 + 2208 + i];
  assert_int_equal(seen, TOXCORE_ONLINE_SAVED_UNIX);
  assert_int_equal(f[2216 + 2200], TOXCORE_DAVE_USER_STATUS);
  free(d);
}

static void test_toxcore_save_with_friends_loads(void **state) {
  (void)state;
  size_t len;
  uint8_t *d = read_fixture("toxcore_friends.save", &len);
  tw_profile p;
  char why[TW_PROFILE_WHY_SIZE] = "";
  assert_int_equal(tw_profile_decode_any(&p, d, len, why), TW_OK);
  assert_string_equal(why, "");
  assert_memory_equal(p.keys.pk.bytes, toxcore_self_pk, 32);
  assert_memory_equal(p.keys.sk, toxcore_self_sk, 32);
  assert_int_equal(p.nospam, TOXCORE_NOSPAM);
  assert_true(text_is(p.name, p.name_len, TOXCORE_NAME));
  assert_true(text_is(p.status_message, p.status_message_len, TOXCORE_STATUS_MESSAGE));
  assert_int_equal(p.user_status, TOXCORE_USER_STATUS);
  assert_int_equal(p.friend_count, 2);
  const tw_profile_friend *a = &p.friends[0], *b = &p.friends[1];
  assert_memory_equal(a->pk.bytes, toxcore_friend_pending_pk, 32);
  assert_int_equal(a->status, TW_PROFILE_FRIEND_REQUEST_SENT);
  assert_int_equal(a->nospam, TOXCORE_FRIEND_NOSPAM);
  assert_true(text_is(a->request_message, a->request_message_len, TOXCORE_REQUEST));
  assert_int_equal(a->name_len, 0);
  assert_int_equal(a->last_seen_unix, 0);
  assert_memory_equal(b->pk.bytes, toxcore_friend_confirmed_pk, 32);
  assert_int_equal(b->status, TW_PROFILE_FRIEND_CONFIRMED);
  assert_int_equal(b->nospam, 0);
  assert_int_equal(b->request_message_len, 0);
  /* The DHT node (saved three times) once; the TCP relay; and the path
   * nodes: the peer again and our own DHT key (which we cannot tell). */
  assert_true(has_node(&p, toxcore_peer_dht_pk, TOXCORE_PEER_PORT, false));
  assert_true(has_node(&p, toxcore_peer_dht_pk, TOXCORE_TCP_PORT, true));
  assert_int_equal(p.node_count, 3);
  /* It converts to toxwire's format and back unchanged. */
  round_trip(&p);
  tw_profile q;
  assert_int_equal(tw_profile_decode_toxcore(&q, d, len, NULL), TW_OK);
  assert_true(tw_profile_equal(&p, &q));
  tw_profile_clear(&q);
  tw_profile_clear(&p);
  free(d);
}

static void test_toxcore_save_without_friends_loads(void **state) {
  (void)state;
  size_t len;
  uint8_t *d = read_fixture("toxcore_nofriends.save", &len);
  tw_profile p;
  assert_int_equal(tw_profile_decode_any(&p, d, len, NULL), TW_OK);
  assert_memory_equal(p.keys.pk.bytes, toxcore_self_pk, 32);
  assert_memory_equal(p.keys.sk, toxcore_self_sk, 32);
  assert_int_equal(p.nospam, TOXCORE_NOSPAM);
  assert_int_equal(p.name_len, 0);
  assert_int_equal(p.status_message_len, 0);
  assert_int_equal(p.user_status, TW_PROFILE_USER_ONLINE);
  assert_int_equal(p.friend_count, 0);
  assert_int_equal(p.node_count, 0);
  round_trip(&p);
  tw_profile_clear(&p);
  free(d);
}

static void test_toxcore_save_from_a_live_network_loads(void **state) {
  (void)state;
  size_t len;
  uint8_t *d = read_fixture("toxcore_online.save", &len);
  tw_profile p;
  assert_int_equal(tw_profile_decode_any(&p, d, len, NULL), TW_OK);
  assert_memory_equal(p.keys.pk.bytes, toxcore_online_self_pk, 32);
  assert_int_equal(p.nospam, TOXCORE_ONLINE_NOSPAM);
  assert_int_equal(p.friend_count, 2);
  const tw_profile_friend *carol = &p.friends[0], *dave = &p.friends[1];
  assert_memory_equal(carol->pk.bytes, toxcore_carol_pk, 32);
  assert_int_equal(carol->status, TW_PROFILE_FRIEND_REQUEST_SENT);
  assert_int_equal(carol->nospam, TOXCORE_CAROL_NOSPAM);
  assert_true(text_is(carol->request_message, carol->request_message_len, TOXCORE_CAROL_REQUEST));
  assert_memory_equal(dave->pk.bytes, toxcore_dave_pk, 32);
  assert_int_equal(dave->status, TW_PROFILE_FRIEND_CONFIRMED);
  assert_true(text_is(dave->name, dave->name_len, TOXCORE_DAVE_NAME));
  assert_true(text_is(dave->status_message, dave->status_message_len,
                      TOXCORE_DAVE_STATUS_MESSAGE));
  assert_int_equal(dave->user_status, TOXCORE_DAVE_USER_STATUS);
  assert_int_equal(dave->last_seen_unix, TOXCORE_ONLINE_SAVED_UNIX);
  /* 15 DHT node entries, 5 different (the helpers, Carol, Dave); the path
   * nodes add our own DHT node (port 34400) */
  assert_int_equal(p.node_count, 6);
  round_trip(&p);
  tw_profile_clear(&p);
  free(d);
}

static void test_toxcore_every_truncation_is_refused(void **state) {
  (void)state;
  static const struct {
    const char *name;
    size_t content; /* where the EOF section ends */
  } fixtures[] = {
      {"toxcore_friends.save", 4923},
      {"toxcore_nofriends.save", 169},
      {"toxcore_online.save", 5420},
  };
  for (size_t k = 0; k < sizeof fixtures / sizeof fixtures[0]; k++) {
    size_t len;
    uint8_t *d = read_fixture(fixtures[k].name, &len);
    for (size_t n = 0; n <= len; n++) {
      tw_profile p;
      char why[TW_PROFILE_WHY_SIZE] = "";
      int e = tw_profile_decode_any(&p, d, n, why);
      if (n < fixtures[k].content) {
        assert_int_equal(e, TW_E_SHORT);
        assert_true(is_empty(&p));
        assert_true(why[0] != '\0');
      } else {
        /* the zero padding after EOF is not content */
        assert_int_equal(e, TW_OK);
        tw_profile_clear(&p);
      }
    }
    free(d);
  }
}

static void expect_toxcore_refused(uint8_t *d, size_t len, int code, const char *reason) {
  tw_profile p;
  char why[TW_PROFILE_WHY_SIZE] = "";
  assert_int_equal(tw_profile_decode_toxcore(&p, d, len, why), code);
  assert_string_equal(why, reason);
  assert_true(is_empty(&p));
}

static void test_toxcore_damaged_sections_are_refused(void **state) {
  (void)state;
  size_t len;
  uint8_t *d = read_fixture("toxcore_friends.save", &len);
  const size_t keys = tc_find(d, len, 1), dht = tc_find(d, len, 2);
  const size_t friends = tc_find(d, len, 3), name = tc_find(d, len, 4);
  assert_int_equal(le32(d + name), 16);

  d[keys + 6] = 0xcf;
  expect_toxcore_refused(d, len, TW_E_FORMAT, "section at 8: bad cookie 0x01cf");
  d[keys + 6] = 0xce;
  /* (not the low three bits of the first byte: X25519 ignores them) */
  d[keys + 8 + 4 + 32 + 5] ^= 1; /* the secret key */
  expect_toxcore_refused(d, len, TW_E_FORMAT, "secret key does not match public key");
  d[keys + 8 + 4 + 32 + 5] ^= 1;
  d[keys + 4] = 0x30; /* keys section becomes an unknown type: skipped */
  expect_toxcore_refused(d, len, TW_E_FORMAT, "no keys section");
  d[keys + 4] = 1;
  d[dht + 4] = 1; /* two keys sections */
  expect_toxcore_refused(d, len, TW_E_FORMAT, "section 0x01 appears twice");
  d[dht + 4] = 2;
  d[dht + 8] = 0x0e;
  expect_toxcore_refused(d, len, TW_E_FORMAT, "DHT section: bad magic");
  d[dht + 8] = 0x0d;
  d[dht + 8 + 4 + 8] = 9; /* first DHT node's ip type */
  expect_toxcore_refused(d, len, TW_E_FORMAT, "DHT nodes: node with unknown address type");
  d[dht + 8 + 4 + 8] = 2;
  d[friends + 8] = 5;
  expect_toxcore_refused(d, len, TW_E_FORMAT, "friend 0: status 5 unknown");
  d[friends + 8] = 0; /* an empty slot is skipped */
  tw_profile p;
  assert_int_equal(tw_profile_decode_toxcore(&p, d, len, NULL), TW_OK);
  assert_int_equal(p.friend_count, 1);
  tw_profile_clear(&p);
  d[friends + 8] = 1;
  d[friends + 8 + 1058] = 0x04; /* request length 0x0405 */
  expect_toxcore_refused(d, len, TW_E_LONG, "friend 0: request message longer than 1016");
  d[friends + 8 + 1058] = 0;
  d[friends + 8 + 1188] = 1; /* name length 0x0100 */
  expect_toxcore_refused(d, len, TW_E_LONG, "friend 0: name longer than 128");
  d[friends + 8 + 1188] = 0;
  d[friends + 8 + 2200] = 3;
  expect_toxcore_refused(d, len, TW_E_FORMAT, "friend 0: user status 3 unknown");
  d[friends + 8 + 2200] = 0;
  memcpy(d + friends + 8 + 2216 + 1, d + friends + 8 + 1, 32); /* same key twice */
  expect_toxcore_refused(d, len, TW_E_FORMAT, "friend 1 listed twice");
  memcpy(d + friends + 8 + 2216 + 1, toxcore_friend_confirmed_pk, 32);
  d[friends] = 0x51; /* 4433 bytes */
  expect_toxcore_refused(d, len, TW_E_FORMAT, "friends section is not whole 2216-byte records");
  d[friends] = 0x50;
  d[name] = 129; /* the name section grows over the next sections' bytes */
  expect_toxcore_refused(d, len, TW_E_LONG, "name longer than 128 (129)");
  d[name] = 16; /* whole again */
  assert_int_equal(tw_profile_decode_toxcore(&p, d, len, NULL), TW_OK);
  tw_profile_clear(&p);
  free(d);
}

static void test_toxcore_unknown_sections_and_conferences_are_skipped(void **state) {
  (void)state;
  size_t len;
  uint8_t *d = read_fixture("toxcore_nofriends.save", &len);
  /* insert an unknown section (type 0x30, 3 bytes) after the keys */
  uint8_t *e = malloc(len + 11);
  memcpy(e, d, 84);
  memcpy(e + 84, "\x03\x00\x00\x00\x30\x00\xce\x01xyz", 11);
  memcpy(e + 95, d + 84, len - 84);
  tw_profile p, q;
  assert_int_equal(tw_profile_decode_toxcore(&p, d, len, NULL), TW_OK);
  assert_int_equal(tw_profile_decode_toxcore(&q, e, len + 11, NULL), TW_OK);
  assert_true(tw_profile_equal(&p, &q));
  tw_profile_clear(&p);
  tw_profile_clear(&q);
  free(e);
  free(d);
}

/* ---- files ---- */

static char *make_temp_dir(void) {
  char *dir = strdup("/tmp/tw-profile-test-XXXXXX");
  assert_non_null(mkdtemp(dir));
  return dir;
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  closedir(d);
  return n;
}

static void remove_temp_dir(char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  char path[1024];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (unlink(path) != 0) rmdir(path);
  }
  closedir(d);
  rmdir(dir);
  free(dir);
}

static void test_file_saved_with_mode_0600_and_loads_back(void **state) {
  (void)state;
  char *dir = make_temp_dir();
  char path[1024];
  snprintf(path, sizeof path, "%s/profile", dir);
  tw_profile *p = make_profile(20, 3, 2, 2, false);
  char why[TW_PROFILE_WHY_SIZE] = "";
  mode_t old_umask = umask(0);
  int e = tw_profile_save_file(path, p, why);
  umask(old_umask);
  assert_int_equal(e, TW_OK);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_int_equal(count_entries(dir), 1); /* no temporary file left */
  tw_profile q;
  assert_int_equal(tw_profile_load_file(path, &q, why), TW_OK);
  assert_true(tw_profile_equal(p, &q));
  tw_profile_clear(&q);
  /* saving again replaces it */
  p->name_len = 1;
  assert_int_equal(tw_profile_save_file(path, p, why), TW_OK);
  assert_int_equal(tw_profile_load_file(path, &q, why), TW_OK);
  assert_true(tw_profile_equal(p, &q));
  assert_int_equal(count_entries(dir), 1);
  tw_profile_clear(&q);
  free_profile(p);
  remove_temp_dir(dir);
}

static void test_file_missing_is_not_found(void **state) {
  (void)state;
  char *dir = make_temp_dir();
  char path[1024];
  snprintf(path, sizeof path, "%s/nothing", dir);
  tw_profile p;
  char why[TW_PROFILE_WHY_SIZE] = "";
  assert_int_equal(tw_profile_load_file(path, &p, why), TW_E_NOTFOUND);
  assert_string_equal(why, "no such file");
  assert_true(is_empty(&p));
  assert_int_equal(tw_profile_load_file(dir, &p, why), TW_E_IO);
  assert_string_equal(why, "not a regular file");
  remove_temp_dir(dir);
}

static void test_file_failed_write_leaves_the_old_profile(void **state) {
  (void)state;
  char *dir = make_temp_dir();
  char path[1024];
  snprintf(path, sizeof path, "%s/profile", dir);
  tw_profile *old = make_profile(21, 0, 0, 0, false);
  tw_profile *big = make_profile(22, 50, 4, 4, false);
  char why[TW_PROFILE_WHY_SIZE] = "";
  assert_int_equal(tw_profile_save_file(path, old, why), TW_OK);

  /* A file size limit makes the write fail half way, as a full disk would. */
  struct rlimit saved, small = {1000, 0};
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
  small.rlim_max = saved.rlim_max;
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
  int e = tw_profile_save_file(path, big, why);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
  signal(SIGXFSZ, old_handler);
  assert_int_equal(e, TW_E_IO);
  assert_true(strncmp(why, "cannot write: ", 14) == 0);
  assert_int_equal(count_entries(dir), 1); /* the temporary file is gone */
  tw_profile q;
  assert_int_equal(tw_profile_load_file(path, &q, why), TW_OK);
  assert_true(tw_profile_equal(old, &q));
  tw_profile_clear(&q);

  /* A rename that fails (the target is a directory) cleans up too. */
  char sub[1100];
  snprintf(sub, sizeof sub, "%s/sub", dir);
  assert_int_equal(mkdir(sub, 0700), 0);
  assert_int_equal(tw_profile_save_file(sub, old, why), TW_E_IO);
  assert_int_equal(count_entries(dir), 2);
  /* A directory that does not exist: nothing to create the file in. */
  snprintf(sub, sizeof sub, "%s/none/profile", dir);
  assert_int_equal(tw_profile_save_file(sub, old, why), TW_E_IO);
  assert_true(strncmp(why, "cannot create temporary file: ", 30) == 0);

  /* An invalid profile is not written at all. */
  big->keys.pk.bytes[0] ^= 1;
  assert_int_equal(tw_profile_save_file(path, big, why), TW_E_FORMAT);
  assert_string_equal(why, "secret key does not match public key");
  assert_int_equal(tw_profile_load_file(path, &q, why), TW_OK);
  assert_true(tw_profile_equal(old, &q));
  tw_profile_clear(&q);
  free_profile(old);
  free_profile(big);
  remove_temp_dir(dir);
}

static void test_file_corrupt_profile_is_refused_and_never_overwritten(void **state) {
  (void)state;
  char *dir = make_temp_dir();
  char path[1024];
  snprintf(path, sizeof path, "%s/profile", dir);
  tw_profile *p = make_profile(23, 2, 1, 1, false);
  tw_profile *other = make_profile(24, 0, 0, 0, false);
  char why[TW_PROFILE_WHY_SIZE] = "";
  /* guarded save: a missing file is created, a good one replaced */
  assert_int_equal(tw_profile_save_file_guarded(path, other, why), TW_OK);
  assert_int_equal(tw_profile_save_file_guarded(path, p, why), TW_OK);
  size_t len;
  uint8_t *good = read_file(path, &len);

  /* damaged: one byte flipped */
  good[len / 2] ^= 0x20;
  write_file(path, good, len);
  tw_profile q;
  assert_int_equal(tw_profile_load_file(path, &q, why), TW_E_CHECKSUM);
  assert_string_equal(why, "checksum mismatch");
  assert_true(is_empty(&q));
  assert_int_equal(tw_profile_save_file_guarded(path, other, why), TW_E_CHECKSUM);
  assert_string_equal(why, "will not overwrite: checksum mismatch");
  size_t now_len;
  uint8_t *now = read_file(path, &now_len);
  assert_int_equal(now_len, len);
  assert_memory_equal(now, good, len);
  free(now);

  /* truncated */
  good[len / 2] ^= 0x20;
  write_file(path, good, len - 10);
  assert_int_equal(tw_profile_load_file(path, &q, why), TW_E_SHORT);
  assert_int_equal(tw_profile_save_file_guarded(path, other, why), TW_E_SHORT);
  assert_true(strncmp(why, "will not overwrite: truncated", 29) == 0);
  now = read_file(path, &now_len);
  assert_int_equal(now_len, len - 10);
  free(now);

  /* a file that is too big */
  int fd = open(path, O_WRONLY | O_TRUNC);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, TW_PROFILE_MAX_FILE_SIZE + 1), 0);
  close(fd);
  assert_int_equal(tw_profile_load_file(path, &q, why), TW_E_LONG);
  assert_int_equal(tw_profile_save_file_guarded(path, other, why), TW_E_LONG);

  /* a c-toxcore save loads, so the guarded save may replace it */
  size_t tlen;
  uint8_t *tc = read_fixture("toxcore_friends.save", &tlen);
  write_file(path, tc, tlen);
  assert_int_equal(tw_profile_load_file(path, &q, why), TW_OK);
  assert_int_equal(q.friend_count, 2);
  assert_int_equal(tw_profile_save_file_guarded(path, &q, why), TW_OK);
  tw_profile r;
  assert_int_equal(tw_profile_load_file(path, &r, why), TW_OK);
  assert_true(tw_profile_equal(&q, &r));
  now = read_file(path, &now_len);
  assert_memory_equal(now, "toxwire profile", 15);
  free(now);
  tw_profile_clear(&q);
  tw_profile_clear(&r);
  free(tc);
  free(good);
  free_profile(p);
  free_profile(other);
  remove_temp_dir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_friend_list_add_find_remove),
      cmocka_unit_test(test_friend_list_stops_at_1024),
      cmocka_unit_test(test_nodes_deduplicated_and_capped_per_kind),
      cmocka_unit_test(test_clear_wipes_secret_key),
      cmocka_unit_test(test_round_trip_no_friends),
      cmocka_unit_test(test_round_trip_one_friend_and_nodes),
      cmocka_unit_test(test_round_trip_1024_friends_every_text_at_its_limit),
      cmocka_unit_test(test_layout_magic_version_length_checksum),
      cmocka_unit_test(test_every_truncation_is_refused),
      cmocka_unit_test(test_every_single_byte_corruption_is_refused),
      cmocka_unit_test(test_bytes_after_the_end_are_refused),
      cmocka_unit_test(test_unknown_version_is_refused),
      cmocka_unit_test(test_unknown_section_is_skipped_unless_critical),
      cmocka_unit_test(test_secret_key_not_matching_public_key_is_refused),
      cmocka_unit_test(test_missing_or_repeated_sections_are_refused),
      cmocka_unit_test(test_fields_over_their_limits_are_refused),
      cmocka_unit_test(test_friend_list_longer_than_1024_is_refused),
      cmocka_unit_test(test_more_than_64_nodes_of_a_kind_are_refused),
      cmocka_unit_test(test_decode_any_refuses_strangers),
      cmocka_unit_test(test_toxcore_savedata_layout_as_observed),
      cmocka_unit_test(test_toxcore_save_with_friends_loads),
      cmocka_unit_test(test_toxcore_save_without_friends_loads),
      cmocka_unit_test(test_toxcore_save_from_a_live_network_loads),
      cmocka_unit_test(test_toxcore_every_truncation_is_refused),
      cmocka_unit_test(test_toxcore_damaged_sections_are_refused),
      cmocka_unit_test(test_toxcore_unknown_sections_and_conferences_are_skipped),
      cmocka_unit_test(test_file_saved_with_mode_0600_and_loads_back),
      cmocka_unit_test(test_file_missing_is_not_found),
      cmocka_unit_test(test_file_failed_write_leaves_the_old_profile),
      cmocka_unit_test(test_file_corrupt_profile_is_refused_and_never_overwritten),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
