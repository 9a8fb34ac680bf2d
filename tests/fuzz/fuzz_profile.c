/* Fuzzes the profile decoders (toxwire/profile.h): tw_profile_decode_any
 * must never crash and must leave an empty profile and a reason when it
 * refuses; what decodes must encode, and the encoding must decode to the
 * same profile and re-encode to the same bytes.
 *
 * toxwire's format ends in a checksum that random mutation almost never
 * gets right, so an input that starts with the magic is also decoded after
 * its length field and checksum are rewritten ("resealed"): that is what
 * lets the fuzzer reach the section parser.
 *
 * Seeds (corpus/profile): the c-toxcore 0.2.18 saves in tests/unit/data and
 * one toxwire profile. TW_FUZZ_WRITE_SEEDS=DIR writes the latter to DIR
 * and exits. */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "toxwire/error.h"
#include "toxwire/profile.h"

static void check_refused(const tw_profile *p, const char *why) {
  FUZZ_CHECK(p->friends == NULL && p->friend_count == 0 && p->node_count == 0);
  FUZZ_CHECK(memchr(why, '\0', TW_PROFILE_WHY_SIZE) != NULL && why[0] != '\0');
}

/* A decoded profile survives encode and decode unchanged. */
static void check_round_trip(const tw_profile *p) {
  FUZZ_CHECK(p->friend_count <= TW_PROFILE_MAX_FRIENDS);
  FUZZ_CHECK(p->node_count <= TW_PROFILE_MAX_NODES);
  uint8_t *buf = NULL, *again = NULL;
  size_t len = 0, len2 = 0;
  FUZZ_CHECK(tw_profile_encode(p, &buf, &len) == TW_OK);
  tw_profile q;
  char why[TW_PROFILE_WHY_SIZE] = "";
  FUZZ_CHECK(tw_profile_decode(&q, buf, len, why) == TW_OK);
  FUZZ_CHECK(tw_profile_equal(p, &q));
  FUZZ_CHECK(tw_profile_encode(&q, &again, &len2) == TW_OK);
  FUZZ_CHECK(len2 == len && memcmp(again, buf, len) == 0);
  tw_profile_free_encoded(again, len2);
  tw_profile_free_encoded(buf, len);
  tw_profile_clear(&q);
}

static void decode_one(const uint8_t *in, size_t len) {
  tw_profile p;
  char why[TW_PROFILE_WHY_SIZE];
  memset(why, 0, sizeof why);
  int e = tw_profile_decode_any(&p, in, len, why);
  FUZZ_CHECK(fuzz_known_error(e));
  if (e == TW_OK)
    check_round_trip(&p);
  else
    check_refused(&p, why);
  tw_profile_clear(&p);
  /* without a why buffer: the same answer */
  FUZZ_CHECK(tw_profile_decode_any(&p, in, len, NULL) == e);
  tw_profile_clear(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (tw_crypto_init() != TW_OK) abort();
  if (size > TW_PROFILE_MAX_FILE_SIZE) return 0;
  /* An exact-size copy, so reading past the end is caught. */
  uint8_t *in = malloc(size ? size : 1);
  if (in == NULL) return 0;
  memcpy(in, data, size);
  decode_one(in, size);
  if (size >= 20 + 32 && memcmp(in, "toxwire profile", 15) == 0) {
    in[16] = (uint8_t)(size >> 24);
    in[17] = (uint8_t)(size >> 16);
    in[18] = (uint8_t)(size >> 8);
    in[19] = (uint8_t)size;
    crypto_generichash(in + size - 32, 32, in, size - 32, NULL, 0);
    decode_one(in, size);
  }
  free(in);
  return 0;
}

static void write_seeds(const char *dir) {
  if (tw_crypto_init() != TW_OK) abort();
  tw_profile p;
  tw_profile_init(&p);
  p.keys = fuzz_capture_keypair();
  p.nospam = 0x01020304;
  p.user_status = TW_PROFILE_USER_BUSY;
  memcpy(p.name, "fuzz", 4);
  p.name_len = 4;
  memcpy(p.status_message, "seeding", 7);
  p.status_message_len = 7;
  for (int i = 0; i < 2; i++) {
    tw_profile_friend f;
    memset(&f, 0, sizeof f);
    memset(f.pk.bytes, 0x40 + i, sizeof f.pk.bytes);
    f.status = i ? TW_PROFILE_FRIEND_CONFIRMED : TW_PROFILE_FRIEND_REQUEST_SENT;
    f.nospam = 0xdeadbeef;
    f.user_status = (uint8_t)i;
    f.last_seen_unix = i ? 1700000000 : 0;
    memcpy(f.name, "friend", 6);
    f.name_len = 6;
    memcpy(f.request_message, "hello", 5);
    f.request_message_len = i ? 0 : 5;
    if (tw_profile_add_friend(&p, &f) != TW_OK) abort();
  }
  for (int i = 0; i < 3; i++) {
    tw_node_info n;
    memset(&n, 0, sizeof n);
    memset(n.pk.bytes, 0x70 + i, sizeof n.pk.bytes);
    n.addr.family = i == 1 ? TW_AF_INET6 : TW_AF_INET;
    n.addr.ip[0] = 127;
    n.addr.ip[3] = 1;
    n.addr.port = (uint16_t)(33445 + i);
    n.tcp = i == 2;
    if (tw_profile_add_node(&p, &n) != TW_OK) abort();
  }
  uint8_t *buf;
  size_t len;
  if (tw_profile_encode(&p, &buf, &len) != TW_OK) abort();
  fuzz_write_seed(dir, "toxwire-profile-v1.bin", buf, len);
  tw_profile_free_encoded(buf, len);
  tw_profile_clear(&p);
}

/* TW_FUZZ_WRITE_SEEDS=DIR writes the hand-made seeds and exits. */
FUZZ_SEED_WRITER(write_seeds)
