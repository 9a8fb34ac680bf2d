/* Packets captured from c-toxcore 0.2.18 (tests/fuzz/capture-seeds.sh: a
 * toxwire node holding the fixed fuzz key pair, with tox-bootstrapd and
 * DHT_bootstrap bootstrapping from it). These pin down what spec/dht.md
 * says c-toxcore does where the spec says otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "../fuzz/fuzz_common.h"
#include "core/crypto.h"
#include "dht/dht_wire.h"
#include "testutil.h"
#include "toxwire/dht.h"

static size_t load(const char *name, uint8_t *buf, size_t cap) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", CAPTURE_DIR, name);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

/* The spec: "If there are no nodes in the state, no reply is sent."
 * tox-bootstrapd answers anyway, with a count of zero. */
static void test_tox_bootstrapd_sends_nodes_response_with_zero_nodes(void **state) {
  (void)state;
  uint8_t pkt[2048];
  size_t len = load("04-0.bin", pkt, sizeof pkt);
  assert_int_equal(len, 82);
  tw_dht_header h;
  assert_int_equal(tw_dht_header_parse(&h, pkt, len), TW_OK);
  assert_int_equal(h.kind, TW_PACKET_NODES_RESPONSE);
  uint8_t shared[TW_SHARED_KEY_SIZE], plain[64];
  tw_shared_key_compute(shared, &h.sender, FUZZ_CAPTURE_SK);
  assert_int_equal(tw_box_open(plain, h.cipher, h.cipher_len, h.nonce, shared), TW_OK);
  tw_nodes_response_payload p;
  assert_int_equal(tw_nodes_response_payload_decode(&p, plain, h.cipher_len - TW_MAC_SIZE), TW_OK);
  assert_int_equal(p.count, 0);
}

/* Captured Nodes Responses with nodes decode, and name UDP nodes only. */
static void test_captured_nodes_responses_decode(void **state) {
  (void)state;
  const char *names[] = {"04-4.bin", "04-7.bin", "04-8.bin"};
  for (size_t i = 0; i < 3; i++) {
    uint8_t pkt[2048];
    size_t len = load(names[i], pkt, sizeof pkt);
    tw_dht_header h;
    assert_int_equal(tw_dht_header_parse(&h, pkt, len), TW_OK);
    uint8_t shared[TW_SHARED_KEY_SIZE], plain[TW_DHT_PLAIN_MAX];
    tw_shared_key_compute(shared, &h.sender, FUZZ_CAPTURE_SK);
    assert_int_equal(tw_box_open(plain, h.cipher, h.cipher_len, h.nonce, shared), TW_OK);
    tw_nodes_response_payload p;
    assert_int_equal(tw_nodes_response_payload_decode(&p, plain, h.cipher_len - TW_MAC_SIZE),
                     TW_OK);
    assert_in_range(p.count, 1, 4);
    for (int j = 0; j < p.count; j++) assert_false(p.nodes[j].tcp);
  }
}

static void count_sent(void *ctx, const tw_addr *to, const uint8_t *pkt, size_t len) {
  (void)to, (void)pkt, (void)len;
  (*(int *)ctx)++;
}

/* c-toxcore sends DHT nodes a 113-byte packet of kind 0x93, which the spec
 * does not list; toxwire counts it as an unknown kind and answers nothing. */
static void test_tox_bootstrapd_kind_0x93_is_counted_as_unknown(void **state) {
  (void)state;
  uint8_t pkt[2048];
  size_t len = load("93-0.bin", pkt, sizeof pkt);
  assert_int_equal(len, 113);
  assert_int_equal(pkt[0], 0x93);
  test_rng rng = {1};
  tw_env env = test_env(&rng);
  int sent = 0;
  tw_dht_config cfg = {.send = count_sent, .send_ctx = &sent};
  memcpy(cfg.keys.sk, FUZZ_CAPTURE_SK, TW_SECRET_KEY_SIZE);
  tw_public_key_from_secret(&cfg.keys.pk, cfg.keys.sk);
  tw_dht *d = tw_dht_new(&cfg, &env, 1000);
  assert_non_null(d);
  tw_addr from = test_addr4(127, 0, 0, 1, 33446);
  assert_int_equal(tw_dht_handle_packet(d, &from, pkt, len, 1000), TW_E_KIND);
  tw_dht_stats st;
  tw_dht_get_stats(d, &st, 1000);
  assert_int_equal(st.dropped[-TW_E_KIND], 1);
  assert_int_equal(sent, 0);
  tw_dht_free(d);
}

int main(void) {
  tw_crypto_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tox_bootstrapd_sends_nodes_response_with_zero_nodes),
      cmocka_unit_test(test_captured_nodes_responses_decode),
      cmocka_unit_test(test_tox_bootstrapd_kind_0x93_is_counted_as_unknown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
