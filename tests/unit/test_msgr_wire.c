/* friend/msgr_wire.h: every Messenger packet's encode/decode round trip,
 * its bytes as the spec lays them out, and every malformed form (spec
 * "Messenger", "Friend requests"). Sizes are written out from the spec
 * rather than taken from the header, so a wrong constant fails here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "friend/msgr_wire.h"
#include "toxwire/error.h"

static void fill(uint8_t *p, size_t n, uint8_t start) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(start + i * 13);
}

/* Encodes p, checks the length, decodes it back and checks every field. */
static void round_trip(const tw_msgr_packet *p, size_t expect_len, bool lossy) {
  uint8_t buf[1500];
  int n = tw_msgr_packet_encode(buf, sizeof buf, p);
  assert_int_equal(n, (int)expect_len);
  tw_msgr_packet q;
  int rc = lossy ? tw_msgr_lossy_decode(&q, buf, (size_t)n) : tw_msgr_packet_decode(&q, buf, (size_t)n);
  assert_int_equal(rc, TW_OK);
  assert_int_equal(q.id, p->id);
  assert_int_equal(q.text_len, p->text_len);
  if (p->text_len) assert_memory_equal(q.text, p->text, p->text_len);
  assert_int_equal(q.value, p->value);
  assert_int_equal(q.file_number, p->file_number);
  assert_int_equal(q.file_type, p->file_type);
  assert_true(q.file_size == p->file_size);
  if (p->file_id) assert_memory_equal(q.file_id, p->file_id, 32);
  assert_int_equal(q.send_receive, p->send_receive);
  assert_int_equal(q.control, p->control);
  assert_true(q.seek == p->seek);
  /* Encoding the decoded packet gives the same bytes. */
  uint8_t again[1500];
  assert_int_equal(tw_msgr_packet_encode(again, sizeof again, &q), n);
  assert_memory_equal(again, buf, (size_t)n);
}

static int dec(const uint8_t *in, size_t len) {
  tw_msgr_packet p;
  return tw_msgr_packet_decode(&p, in, len);
}

static int dec_lossy(const uint8_t *in, size_t len) {
  tw_msgr_packet p;
  return tw_msgr_lossy_decode(&p, in, len);
}

/* ---- sizes ---- */

static void test_sizes_match_spec(void **state) {
  (void)state;
  assert_int_equal(TW_MSGR_MAX_NAME_LENGTH, 128);
  assert_int_equal(TW_MSGR_MAX_STATUS_MESSAGE_LENGTH, 1007);
  assert_int_equal(TW_MSGR_MAX_MESSAGE_LENGTH, 1372);
  assert_int_equal(TW_MSGR_MAX_FILENAME_LENGTH, 255);
  assert_int_equal(TW_MSGR_FILE_CHUNK_SIZE, 1371);
  assert_int_equal(TW_MSGR_FILE_SENDREQUEST_MIN, 1 + 1 + 4 + 8 + 32);
  assert_int_equal(TW_MSGR_FILE_SENDREQUEST_MAX, 1 + 1 + 4 + 8 + 32 + 255);
  assert_int_equal(TW_MSGR_FILE_CONTROL_SIZE, 4);
  assert_int_equal(TW_MSGR_FILE_CONTROL_SEEK_SIZE, 12);
  assert_int_equal(TW_MSGR_FILE_DATA_MAX, 1373);
  assert_int_equal(TW_MSGR_MAX_PACKET, 1373);
  /* Onion data carries at most 1021 bytes of [kind][data] (spec/onion.md). */
  assert_int_equal(TW_MSGR_FRIEND_REQUEST_MAX, 1021);
}

/* ---- round trips ---- */

static void test_online_offline_are_one_byte(void **state) {
  (void)state;
  tw_msgr_packet p = {.id = TW_MSGR_ID_ONLINE};
  round_trip(&p, 1, false);
  p.id = TW_MSGR_ID_OFFLINE;
  round_trip(&p, 1, false);
  const uint8_t on[1] = {0x18}, off[1] = {0x19};
  assert_int_equal(dec(on, 1), TW_OK);
  assert_int_equal(dec(off, 1), TW_OK);
}

static void test_nickname_0_to_128_round_trip(void **state) {
  (void)state;
  uint8_t text[128];
  fill(text, sizeof text, 1);
  size_t lens[] = {0, 1, 127, 128};
  for (size_t i = 0; i < 4; i++) {
    tw_msgr_packet p = {.id = TW_MSGR_ID_NICKNAME, .text = text, .text_len = lens[i]};
    round_trip(&p, 1 + lens[i], false);
  }
}

static void test_status_message_0_to_1007_round_trip(void **state) {
  (void)state;
  uint8_t text[1007];
  fill(text, sizeof text, 2);
  size_t lens[] = {0, 5, 1007};
  for (size_t i = 0; i < 3; i++) {
    tw_msgr_packet p = {.id = TW_MSGR_ID_STATUSMESSAGE, .text = text, .text_len = lens[i]};
    round_trip(&p, 1 + lens[i], false);
  }
}

static void test_userstatus_and_typing_values_round_trip(void **state) {
  (void)state;
  for (uint8_t v = 0; v <= 2; v++) {
    tw_msgr_packet p = {.id = TW_MSGR_ID_USERSTATUS, .value = v};
    round_trip(&p, 2, false);
  }
  for (uint8_t v = 0; v <= 1; v++) {
    tw_msgr_packet p = {.id = TW_MSGR_ID_TYPING, .value = v};
    round_trip(&p, 2, false);
  }
  const uint8_t busy[2] = {0x32, 2}, typing[2] = {0x33, 1};
  tw_msgr_packet q;
  assert_int_equal(tw_msgr_packet_decode(&q, busy, 2), TW_OK);
  assert_int_equal(q.value, TW_MSGR_USER_BUSY);
  assert_int_equal(tw_msgr_packet_decode(&q, typing, 2), TW_OK);
  assert_int_equal(q.value, 1);
}

static void test_message_and_action_up_to_1372_round_trip(void **state) {
  (void)state;
  uint8_t text[1372];
  fill(text, sizeof text, 3);
  size_t lens[] = {0, 1, 1372};
  for (size_t i = 0; i < 3; i++) {
    tw_msgr_packet p = {.id = TW_MSGR_ID_MESSAGE, .text = text, .text_len = lens[i]};
    round_trip(&p, 1 + lens[i], false);
    p.id = TW_MSGR_ID_ACTION;
    round_trip(&p, 1 + lens[i], false);
  }
}

static void test_file_sendrequest_round_trip_and_layout(void **state) {
  (void)state;
  uint8_t id[32], name[255];
  fill(id, 32, 9);
  fill(name, 255, 11);
  size_t lens[] = {0, 7, 255};
  for (size_t i = 0; i < 3; i++) {
    tw_msgr_packet p = {.id = TW_MSGR_ID_FILE_SENDREQUEST, .file_number = 255, .file_type = 1,
                        .file_size = UINT64_MAX, .file_id = id, .text = name, .text_len = lens[i]};
    round_trip(&p, 46 + lens[i], false);
  }
  /* Type and size big endian, then the id, then the name. */
  tw_msgr_packet p = {.id = TW_MSGR_ID_FILE_SENDREQUEST, .file_number = 7,
                      .file_type = 0x01020304, .file_size = 0x1122334455667788ULL, .file_id = id,
                      .text = (const uint8_t *)"a.txt", .text_len = 5};
  uint8_t buf[64];
  assert_int_equal(tw_msgr_packet_encode(buf, sizeof buf, &p), 51);
  const uint8_t head[14] = {0x50, 7, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
  assert_memory_equal(buf, head, 14);
  assert_memory_equal(buf + 14, id, 32);
  assert_memory_equal(buf + 46, "a.txt", 5);
}

static void test_file_control_each_type_round_trip_and_layout(void **state) {
  (void)state;
  for (uint8_t sr = 0; sr <= 1; sr++) {
    for (uint8_t c = 0; c <= 2; c++) {
      tw_msgr_packet p = {.id = TW_MSGR_ID_FILE_CONTROL, .send_receive = sr, .file_number = 42,
                          .control = c};
      round_trip(&p, 4, false);
    }
    tw_msgr_packet p = {.id = TW_MSGR_ID_FILE_CONTROL, .send_receive = sr, .file_number = 42,
                        .control = 3, .seek = 0x0102030405060708ULL};
    round_trip(&p, 12, false);
  }
  tw_msgr_packet p = {.id = TW_MSGR_ID_FILE_CONTROL, .send_receive = 1, .file_number = 5,
                      .control = 3, .seek = 1371};
  uint8_t buf[16];
  assert_int_equal(tw_msgr_packet_encode(buf, sizeof buf, &p), 12);
  const uint8_t want[12] = {0x51, 1, 5, 3, 0, 0, 0, 0, 0, 0, 0x05, 0x5b};
  assert_memory_equal(buf, want, 12);
  /* A seek value outside a seek control is not written. */
  p.control = 1;
  p.seek = 99;
  assert_int_equal(tw_msgr_packet_encode(buf, sizeof buf, &p), 4);
}

static void test_file_data_0_to_1371_round_trip(void **state) {
  (void)state;
  uint8_t chunk[1371];
  fill(chunk, sizeof chunk, 5);
  size_t lens[] = {0, 1, 1370, 1371};
  for (size_t i = 0; i < 4; i++) {
    tw_msgr_packet p = {.id = TW_MSGR_ID_FILE_DATA, .file_number = 3, .text = chunk,
                        .text_len = lens[i]};
    round_trip(&p, 2 + lens[i], false);
  }
}

static void test_custom_packets_round_trip_every_id(void **state) {
  (void)state;
  uint8_t payload[1372];
  fill(payload, sizeof payload, 7);
  for (int id = 160; id <= 191; id++) {
    tw_msgr_packet p = {.id = (uint8_t)id, .text = payload, .text_len = id == 191 ? 1372 : 3};
    round_trip(&p, 1 + p.text_len, false);
    assert_int_equal(dec_lossy((const uint8_t[]){(uint8_t)id}, 1), TW_E_KIND);
  }
  for (int id = 200; id <= 254; id++) {
    tw_msgr_packet p = {.id = (uint8_t)id, .text = payload, .text_len = id == 254 ? 1372 : 0};
    round_trip(&p, 1 + p.text_len, true);
    assert_int_equal(dec((const uint8_t[]){(uint8_t)id}, 1), TW_E_KIND);
  }
}

static void test_friend_request_round_trip_and_layout(void **state) {
  (void)state;
  uint8_t msg[1016];
  fill(msg, sizeof msg, 4);
  size_t lens[] = {1, 100, 1016};
  for (size_t i = 0; i < 3; i++) {
    tw_msgr_friend_request req = {.nospam = 0xdeadbeef, .message = msg, .message_len = lens[i]};
    uint8_t buf[1100];
    int n = tw_msgr_friend_request_encode(buf, sizeof buf, &req);
    assert_int_equal(n, (int)(5 + lens[i]));
    const uint8_t head[5] = {32, 0xde, 0xad, 0xbe, 0xef};
    assert_memory_equal(buf, head, 5);
    tw_msgr_friend_request q;
    assert_int_equal(tw_msgr_friend_request_decode(&q, buf, (size_t)n), TW_OK);
    assert_int_equal(q.nospam, 0xdeadbeef);
    assert_int_equal(q.message_len, lens[i]);
    assert_memory_equal(q.message, msg, lens[i]);
  }
}

/* ---- malformed ---- */

static void test_empty_and_oversized_packets_refused(void **state) {
  (void)state;
  static uint8_t big[1374];
  memset(big, 0, sizeof big);
  assert_int_equal(dec(big, 0), TW_E_SHORT);
  assert_int_equal(dec_lossy(big, 0), TW_E_SHORT);
  big[0] = TW_MSGR_ID_MESSAGE;
  assert_int_equal(dec(big, 1374), TW_E_LONG); /* a 1373-byte message */
  big[0] = 200;
  assert_int_equal(dec_lossy(big, 1374), TW_E_LONG);
  big[0] = 160;
  assert_int_equal(dec(big, 1374), TW_E_LONG);
  assert_int_equal(dec(big, 1373), TW_OK);
}

static void test_fixed_size_packets_with_wrong_length_refused(void **state) {
  (void)state;
  const uint8_t on2[2] = {0x18, 0}, off2[2] = {0x19, 0};
  assert_int_equal(dec(on2, 2), TW_E_LONG);
  assert_int_equal(dec(off2, 2), TW_E_LONG);
  const uint8_t us[3] = {0x32, 0, 0}, ty[3] = {0x33, 0, 0};
  assert_int_equal(dec(us, 1), TW_E_SHORT);
  assert_int_equal(dec(us, 3), TW_E_LONG);
  assert_int_equal(dec(ty, 1), TW_E_SHORT);
  assert_int_equal(dec(ty, 3), TW_E_LONG);
}

static void test_field_values_out_of_range_refused(void **state) {
  (void)state;
  const uint8_t us3[2] = {0x32, 3}, usff[2] = {0x32, 0xff}, ty2[2] = {0x33, 2};
  assert_int_equal(dec(us3, 2), TW_E_FORMAT);
  assert_int_equal(dec(usff, 2), TW_E_FORMAT);
  assert_int_equal(dec(ty2, 2), TW_E_FORMAT);
  const uint8_t sr2[4] = {0x51, 2, 0, 0}, c4[4] = {0x51, 0, 0, 4};
  assert_int_equal(dec(sr2, 4), TW_E_FORMAT);
  assert_int_equal(dec(c4, 4), TW_E_FORMAT);
}

static void test_text_over_its_limit_refused(void **state) {
  (void)state;
  static uint8_t b[1400];
  memset(b, 'x', sizeof b);
  b[0] = TW_MSGR_ID_NICKNAME;
  assert_int_equal(dec(b, 1 + 128), TW_OK);
  assert_int_equal(dec(b, 1 + 129), TW_E_LONG);
  b[0] = TW_MSGR_ID_STATUSMESSAGE;
  assert_int_equal(dec(b, 1 + 1007), TW_OK);
  assert_int_equal(dec(b, 1 + 1008), TW_E_LONG);
}

static void test_file_sendrequest_wrong_length_refused(void **state) {
  (void)state;
  static uint8_t b[400];
  memset(b, 0, sizeof b);
  b[0] = TW_MSGR_ID_FILE_SENDREQUEST;
  assert_int_equal(dec(b, 45), TW_E_SHORT);
  assert_int_equal(dec(b, 46), TW_OK);
  assert_int_equal(dec(b, 46 + 255), TW_OK);
  assert_int_equal(dec(b, 46 + 256), TW_E_LONG); /* a 256-byte file name */
  assert_int_equal(dec(b, 2), TW_E_SHORT);
}

static void test_file_control_wrong_length_refused(void **state) {
  (void)state;
  uint8_t b[16] = {0x51, 0, 0, 1};
  assert_int_equal(dec(b, 3), TW_E_SHORT);
  assert_int_equal(dec(b, 2), TW_E_SHORT);
  assert_int_equal(dec(b, 5), TW_E_LONG);
  assert_int_equal(dec(b, 12), TW_E_LONG); /* pause with a seek value */
  b[3] = 3;
  assert_int_equal(dec(b, 4), TW_E_SHORT); /* seek without its value */
  assert_int_equal(dec(b, 11), TW_E_SHORT);
  assert_int_equal(dec(b, 13), TW_E_LONG);
  assert_int_equal(dec(b, 12), TW_OK);
}

static void test_file_data_without_number_refused(void **state) {
  (void)state;
  const uint8_t b[2] = {0x52, 0};
  assert_int_equal(dec(b, 1), TW_E_SHORT);
  assert_int_equal(dec(b, 2), TW_OK);
}

static void test_unknown_and_unimplemented_ids(void **state) {
  (void)state;
  /* Known to the spec, not implemented here: group chats. */
  const uint8_t disabled[] = {0x60, 0x61, 0x62, 0x63};
  for (size_t i = 0; i < sizeof disabled; i++)
    assert_int_equal(dec(&disabled[i], 1), TW_E_DISABLED);
  /* c-toxcore's API lets applications send 69 (MSI) and 199 (its lossy
   * conference id) as custom packets: they reach the application. */
  const uint8_t msi[] = {0x45, 1}, gl[] = {0xc7, 1};
  assert_int_equal(dec(msi, 2), TW_OK);
  assert_int_equal(dec_lossy(gl, 2), TW_OK);
  /* Everything else that is not Messenger's, in either decoder. */
  int known = 0;
  for (int id = 0; id < 256; id++) {
    uint8_t b[12] = {(uint8_t)id};
    int e = dec(b, 2);
    bool mine = id == 0x30 || id == 0x31 || id == 0x32 || id == 0x33 || id == 0x40 ||
                id == 0x41 || id == 0x52 || id == 0x45 || (id >= 160 && id <= 191);
    if (mine) {
      assert_int_equal(e, TW_OK);
      known++;
    } else if (id != 0x18 && id != 0x19 && id != 0x50 && id != 0x51 &&
               !(id >= 0x60 && id <= 0x63)) {
      assert_int_equal(e, TW_E_KIND);
    }
    int el = dec_lossy(b, 2);
    if (id >= 192 && id <= 254)
      assert_int_equal(el, TW_OK);
    else
      assert_int_equal(el, TW_E_KIND);
  }
  assert_int_equal(known, 8 + 32);
}

static void test_friend_request_malformed_refused(void **state) {
  (void)state;
  static uint8_t b[1100];
  memset(b, 'm', sizeof b);
  tw_msgr_friend_request q;
  assert_int_equal(tw_msgr_friend_request_decode(&q, b, 0), TW_E_SHORT);
  b[0] = 33;
  assert_int_equal(tw_msgr_friend_request_decode(&q, b, 20), TW_E_KIND);
  b[0] = 32;
  assert_int_equal(tw_msgr_friend_request_decode(&q, b, 5), TW_E_SHORT); /* no message */
  assert_int_equal(tw_msgr_friend_request_decode(&q, b, 4), TW_E_SHORT);
  assert_int_equal(tw_msgr_friend_request_decode(&q, b, 6), TW_OK);
  assert_int_equal(tw_msgr_friend_request_decode(&q, b, 1021), TW_OK);
  assert_int_equal(tw_msgr_friend_request_decode(&q, b, 1022), TW_E_LONG);
}

static void test_encoder_refuses_what_decoder_would(void **state) {
  (void)state;
  uint8_t buf[1500], text[1400];
  memset(text, 'x', sizeof text);
  tw_msgr_packet p = {.id = TW_MSGR_ID_NICKNAME, .text = text, .text_len = 129};
  assert_int_equal(tw_msgr_packet_encode(buf, sizeof buf, &p), TW_E_LONG);
  p = (tw_msgr_packet){.id = TW_MSGR_ID_MESSAGE, .text = text, .text_len = 1373};
  assert_int_equal(tw_msgr_packet_encode(buf, sizeof buf, &p), TW_E_LONG);
  p = (tw_msgr_packet){.id = TW_MSGR_ID_USERSTATUS, .value = 3};
  assert_int_equal(tw_msgr_packet_encode(buf, sizeof buf, &p), TW_E_FORMAT);
  p = (tw_msgr_packet){.id = TW_MSGR_ID_TYPING, .value = 2};
  assert_int_equal(tw_msgr_packet_encode(buf, sizeof buf, &p), TW_E_FORMAT);
  p = (tw_msgr_packet){.id = TW_MSGR_ID_FILE_CONTROL, .control = 4};
  assert_int_equal(tw_msgr_packet_encode(buf, sizeof buf, &p), TW_E_FORMAT);
  p = (tw_msgr_packet){.id = TW_MSGR_ID_FILE_CONTROL, .send_receive = 2};
  assert_int_equal(tw_msgr_packet_encode(buf, sizeof buf, &p), TW_E_FORMAT);
  p = (tw_msgr_packet){.id = TW_MSGR_ID_FILE_SENDREQUEST};
  assert_int_equal(tw_msgr_packet_encode(buf, sizeof buf, &p), TW_E_INVAL); /* no file id */
  p = (tw_msgr_packet){.id = TW_MSGR_ID_FILE_DATA, .text = text, .text_len = 1372};
  assert_int_equal(tw_msgr_packet_encode(buf, sizeof buf, &p), TW_E_LONG);
  p = (tw_msgr_packet){.id = 0x10};
  assert_int_equal(tw_msgr_packet_encode(buf, sizeof buf, &p), TW_E_KIND);
  p = (tw_msgr_packet){.id = TW_MSGR_ID_ONLINE, .text = text, .text_len = 1};
  assert_int_equal(tw_msgr_packet_encode(buf, sizeof buf, &p), TW_E_LONG);
  p = (tw_msgr_packet){.id = TW_MSGR_ID_MESSAGE, .text = NULL, .text_len = 4};
  assert_int_equal(tw_msgr_packet_encode(buf, sizeof buf, &p), TW_E_INVAL);
  /* Too small a buffer. */
  p = (tw_msgr_packet){.id = TW_MSGR_ID_MESSAGE, .text = text, .text_len = 10};
  assert_int_equal(tw_msgr_packet_encode(buf, 10, &p), TW_E_LONG);
  tw_msgr_friend_request r = {.nospam = 1, .message = text, .message_len = 0};
  assert_int_equal(tw_msgr_friend_request_encode(buf, sizeof buf, &r), TW_E_SHORT);
  r.message_len = 1017;
  assert_int_equal(tw_msgr_friend_request_encode(buf, sizeof buf, &r), TW_E_LONG);
  r.message_len = 10;
  assert_int_equal(tw_msgr_friend_request_encode(buf, 14, &r), TW_E_LONG);
}

/* Every id at every length up to a few bytes past its format: whatever
 * decodes encodes back to the same bytes. */
static void test_every_short_input_decodes_consistently(void **state) {
  (void)state;
  uint8_t b[64], out[1500];
  for (int id = 0; id < 256; id++) {
    for (size_t len = 1; len <= 60; len++) {
      fill(b, sizeof b, (uint8_t)(id + len));
      b[0] = (uint8_t)id;
      if (len > 1) b[1] &= 1;  /* make send_receive / values plausible */
      if (len > 3) b[3] &= 3;
      for (int lossy = 0; lossy < 2; lossy++) {
        tw_msgr_packet p;
        int e = lossy ? tw_msgr_lossy_decode(&p, b, len) : tw_msgr_packet_decode(&p, b, len);
        assert_true(e <= 0 && e > TW_E__LAST);
        if (e != TW_OK) continue;
        int n = tw_msgr_packet_encode(out, sizeof out, &p);
        assert_int_equal(n, (int)len);
        assert_memory_equal(out, b, len);
      }
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sizes_match_spec),
      cmocka_unit_test(test_online_offline_are_one_byte),
      cmocka_unit_test(test_nickname_0_to_128_round_trip),
      cmocka_unit_test(test_status_message_0_to_1007_round_trip),
      cmocka_unit_test(test_userstatus_and_typing_values_round_trip),
      cmocka_unit_test(test_message_and_action_up_to_1372_round_trip),
      cmocka_unit_test(test_file_sendrequest_round_trip_and_layout),
      cmocka_unit_test(test_file_control_each_type_round_trip_and_layout),
      cmocka_unit_test(test_file_data_0_to_1371_round_trip),
      cmocka_unit_test(test_custom_packets_round_trip_every_id),
      cmocka_unit_test(test_friend_request_round_trip_and_layout),
      cmocka_unit_test(test_empty_and_oversized_packets_refused),
      cmocka_unit_test(test_fixed_size_packets_with_wrong_length_refused),
      cmocka_unit_test(test_field_values_out_of_range_refused),
      cmocka_unit_test(test_text_over_its_limit_refused),
      cmocka_unit_test(test_file_sendrequest_wrong_length_refused),
      cmocka_unit_test(test_file_control_wrong_length_refused),
      cmocka_unit_test(test_file_data_without_number_refused),
      cmocka_unit_test(test_unknown_and_unimplemented_ids),
      cmocka_unit_test(test_friend_request_malformed_refused),
      cmocka_unit_test(test_encoder_refuses_what_decoder_would),
      cmocka_unit_test(test_every_short_input_decodes_consistently),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
