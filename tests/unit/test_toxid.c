/* toxwire/toxid.h and the key hex helpers in types.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "toxwire/error.h"
#include "toxwire/toxid.h"

static tw_toxid sample_id(void) {
  tw_toxid id;
  for (int i = 0; i < TW_PUBLIC_KEY_SIZE; i++) id.pk.bytes[i] = (uint8_t)(i * 7 + 3);
  id.nospam = 0xa1b2c3d4u;
  return id;
}

static void test_pack_layout_and_checksum(void **state) {
  (void)state;
  tw_toxid id = sample_id();
  uint8_t raw[TW_TOXID_SIZE];
  tw_toxid_pack(&id, raw);
  assert_memory_equal(raw, id.pk.bytes, TW_PUBLIC_KEY_SIZE);
  /* nospam big-endian after the key */
  assert_int_equal(raw[32], 0xa1);
  assert_int_equal(raw[33], 0xb2);
  assert_int_equal(raw[34], 0xc3);
  assert_int_equal(raw[35], 0xd4);
  /* checksum: XOR of the 36 bytes, even offsets into byte 0, odd into 1 */
  uint8_t c0 = 0, c1 = 0;
  for (int i = 0; i < 36; i += 2) {
    c0 ^= raw[i];
    c1 ^= raw[i + 1];
  }
  assert_int_equal(raw[36], c0);
  assert_int_equal(raw[37], c1);
}

static void test_unpack_round_trip(void **state) {
  (void)state;
  tw_toxid id = sample_id(), back;
  uint8_t raw[TW_TOXID_SIZE];
  tw_toxid_pack(&id, raw);
  memset(&back, 0, sizeof back);
  assert_int_equal(tw_toxid_unpack(&back, raw, sizeof raw), TW_OK);
  assert_memory_equal(back.pk.bytes, id.pk.bytes, TW_PUBLIC_KEY_SIZE);
  assert_int_equal(back.nospam, id.nospam);
}

static void test_unpack_bad_checksum_rejected(void **state) {
  (void)state;
  tw_toxid id = sample_id(), back;
  uint8_t raw[TW_TOXID_SIZE];
  tw_toxid_pack(&id, raw);
  /* Any single flipped bit anywhere breaks the checksum. */
  for (size_t i = 0; i < TW_TOXID_SIZE; i++) {
    uint8_t bad[TW_TOXID_SIZE];
    memcpy(bad, raw, sizeof bad);
    bad[i] ^= 0x10;
    assert_int_equal(tw_toxid_unpack(&back, bad, sizeof bad), TW_E_CHECKSUM);
  }
}

static void test_unpack_wrong_length(void **state) {
  (void)state;
  tw_toxid id = sample_id(), back;
  uint8_t raw[TW_TOXID_SIZE + 1];
  tw_toxid_pack(&id, raw);
  raw[TW_TOXID_SIZE] = 0;
  assert_int_equal(tw_toxid_unpack(&back, raw, TW_TOXID_SIZE - 1), TW_E_SHORT);
  assert_int_equal(tw_toxid_unpack(&back, raw, 0), TW_E_SHORT);
  assert_int_equal(tw_toxid_unpack(&back, raw, TW_TOXID_SIZE + 1), TW_E_LONG);
}

static void test_format_parse_round_trip(void **state) {
  (void)state;
  tw_toxid id = sample_id(), back;
  char text[TW_TOXID_HEXLEN];
  assert_ptr_equal(tw_toxid_format(&id, text), text);
  assert_int_equal(strlen(text), 76);
  for (size_t i = 0; i < 76; i++)
    assert_true((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'A' && text[i] <= 'F'));
  assert_int_equal(tw_toxid_parse(&back, text), TW_OK);
  assert_memory_equal(back.pk.bytes, id.pk.bytes, TW_PUBLIC_KEY_SIZE);
  assert_int_equal(back.nospam, id.nospam);
}

static void test_parse_known_text(void **state) {
  (void)state;
  /* key 00..1f, nospam 0x01020304: checksum computed by hand below */
  tw_toxid id;
  for (int i = 0; i < 32; i++) id.pk.bytes[i] = (uint8_t)i;
  id.nospam = 0x01020304;
  uint8_t c0 = 0, c1 = 0;
  for (int i = 0; i < 32; i += 2) {
    c0 ^= (uint8_t)i;
    c1 ^= (uint8_t)(i + 1);
  }
  c0 ^= 0x01 ^ 0x03;
  c1 ^= 0x02 ^ 0x04;
  char want[80];
  char *o = want;
  for (int i = 0; i < 32; i++) o += sprintf(o, "%02X", i);
  o += sprintf(o, "01020304%02X%02X", c0, c1);
  char text[TW_TOXID_HEXLEN];
  tw_toxid_format(&id, text);
  assert_string_equal(text, want);
}

static void test_parse_accepts_lowercase(void **state) {
  (void)state;
  tw_toxid id = sample_id(), back;
  char text[TW_TOXID_HEXLEN];
  tw_toxid_format(&id, text);
  for (char *p = text; *p; p++)
    if (*p >= 'A' && *p <= 'F') *p = (char)(*p - 'A' + 'a');
  assert_int_equal(tw_toxid_parse(&back, text), TW_OK);
  assert_int_equal(back.nospam, id.nospam);
}

static void test_parse_bad_checksum(void **state) {
  (void)state;
  tw_toxid id = sample_id(), back;
  char text[TW_TOXID_HEXLEN];
  tw_toxid_format(&id, text);
  text[75] = text[75] == '0' ? '1' : '0';
  assert_int_equal(tw_toxid_parse(&back, text), TW_E_CHECKSUM);
  tw_toxid_format(&id, text);
  text[0] = text[0] == '0' ? '1' : '0';
  assert_int_equal(tw_toxid_parse(&back, text), TW_E_CHECKSUM);
}

static void test_parse_wrong_length(void **state) {
  (void)state;
  tw_toxid id = sample_id(), back;
  char text[TW_TOXID_HEXLEN + 2];
  tw_toxid_format(&id, text);
  text[75] = '\0';
  assert_int_equal(tw_toxid_parse(&back, text), TW_E_SHORT);
  assert_int_equal(tw_toxid_parse(&back, ""), TW_E_SHORT);
  tw_toxid_format(&id, text);
  strcat(text, "0");
  assert_int_equal(tw_toxid_parse(&back, text), TW_E_LONG);
}

static void test_parse_non_hex(void **state) {
  (void)state;
  tw_toxid id = sample_id(), back;
  const char bad[] = {'G', 'g', ' ', ':', '-', 'Z', '\x80'};
  for (size_t j = 0; j < sizeof bad; j++) {
    for (size_t pos = 0; pos < 76; pos += 25) {
      char text[TW_TOXID_HEXLEN];
      tw_toxid_format(&id, text);
      text[pos] = bad[j];
      assert_int_equal(tw_toxid_parse(&back, text), TW_E_HEX);
    }
  }
}

static void test_key_hex_round_trip_and_errors(void **state) {
  (void)state;
  tw_key k, back;
  for (int i = 0; i < 32; i++) k.bytes[i] = (uint8_t)(0xff - i);
  char hex[TW_KEY_HEXLEN];
  tw_key_to_hex(&k, hex);
  assert_int_equal(strlen(hex), 64);
  assert_string_equal(hex + 60, "E1E0");
  assert_int_equal(tw_key_from_hex(&back, hex, 64), TW_OK);
  assert_true(tw_key_equal(&k, &back));
  assert_int_equal(tw_key_from_hex(&back, hex, 63), TW_E_SHORT);
  char longer[70];
  memcpy(longer, hex, 64);
  memcpy(longer + 64, "00", 3);
  assert_int_equal(tw_key_from_hex(&back, longer, 66), TW_E_LONG);
  hex[10] = 'x';
  assert_int_equal(tw_key_from_hex(&back, hex, 64), TW_E_HEX);
}

static void test_key_distance_and_prefix(void **state) {
  (void)state;
  tw_key base, a, b;
  memset(&base, 0, sizeof base);
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  a.bytes[31] = 1;
  b.bytes[0] = 0x80;
  assert_true(tw_key_distance_cmp(&base, &a, &b) < 0);
  assert_true(tw_key_distance_cmp(&base, &b, &a) > 0);
  assert_int_equal(tw_key_distance_cmp(&base, &a, &a), 0);
  /* Distance is XOR, not numeric difference: from base 0x80.., 0xff.. is
   * closer than 0x00... */
  base.bytes[0] = 0x80;
  a.bytes[0] = 0xff;
  b.bytes[0] = 0x00;
  a.bytes[31] = b.bytes[31] = 0;
  assert_true(tw_key_distance_cmp(&base, &a, &b) < 0);

  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  assert_int_equal(tw_key_common_prefix(&a, &b), 256);
  b.bytes[0] = 0x80;
  assert_int_equal(tw_key_common_prefix(&a, &b), 0);
  b.bytes[0] = 0x01;
  assert_int_equal(tw_key_common_prefix(&a, &b), 7);
  b.bytes[0] = 0;
  b.bytes[5] = 0x20;
  assert_int_equal(tw_key_common_prefix(&a, &b), 42);
  b.bytes[5] = 0;
  b.bytes[31] = 1;
  assert_int_equal(tw_key_common_prefix(&a, &b), 255);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pack_layout_and_checksum),
      cmocka_unit_test(test_unpack_round_trip),
      cmocka_unit_test(test_unpack_bad_checksum_rejected),
      cmocka_unit_test(test_unpack_wrong_length),
      cmocka_unit_test(test_format_parse_round_trip),
      cmocka_unit_test(test_parse_known_text),
      cmocka_unit_test(test_parse_accepts_lowercase),
      cmocka_unit_test(test_parse_bad_checksum),
      cmocka_unit_test(test_parse_wrong_length),
      cmocka_unit_test(test_parse_non_hex),
      cmocka_unit_test(test_key_hex_round_trip_and_errors),
      cmocka_unit_test(test_key_distance_and_prefix),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
