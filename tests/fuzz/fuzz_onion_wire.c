/* Fuzzes every onion wire decoder (src/onion/onion_wire.h) directly, and
 * checks that whatever decodes encodes back to the same bytes:
 *   - ip_port (read, read_any, write back),
 *   - request and response layer parsers (the spans they return lie where
 *     the layout says), and, when a request layer's box opens with the
 *     fixed capture key, the ip_port inside (so captured c-toxcore onion
 *     packets reach it),
 *   - announce request and response plaintexts, the DHT public key packet.
 *
 * TW_FUZZ_WRITE_SEEDS=DIR: write hand-made seeds for corpus/onion_wire to
 * DIR and exit. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/crypto.h"
#include "core/node_info.h"
#include "onion/onion_wire.h"
#include "fuzz_common.h"
#include "toxwire/error.h"


static void ipport(const uint8_t *in, size_t len) {
  tw_reader r = tw_reader_init(in, len);
  uint8_t fam = 0, raw[18];
  tw_addr a;
  int e = tw_onion_ipport_read_any(&r, &fam, &a, raw);
  FUZZ_CHECK(fuzz_known_error(e));
  tw_reader r2 = tw_reader_init(in, len);
  tw_addr b;
  int e2 = tw_onion_ipport_read(&r2, &b);
  if (len < TW_ONION_IPPORT_SIZE) {
    FUZZ_CHECK(e == TW_E_SHORT && e2 == TW_E_SHORT);
    return;
  }
  FUZZ_CHECK(fam == in[0]);
  FUZZ_CHECK(memcmp(raw, in + 1, 18) == 0);
  if (fam == TW_ONION_FAMILY_TCP) {
    FUZZ_CHECK(e == TW_OK && e2 == TW_E_FAMILY);
    return;
  }
  if (fam != TW_AF_INET && fam != TW_AF_INET6) {
    FUZZ_CHECK(e == TW_E_FAMILY && e2 == TW_E_FAMILY);
    return;
  }
  FUZZ_CHECK(e == TW_OK && e2 == TW_OK);
  FUZZ_CHECK(tw_addr_equal(&a, &b));
  FUZZ_CHECK(r.pos == TW_ONION_IPPORT_SIZE);
  /* IPv4 leaves the rest of ip[] zero, whatever the padding held. */
  if (fam == TW_AF_INET)
    for (int i = 4; i < 16; i++) FUZZ_CHECK(a.ip[i] == 0);
  uint8_t out[TW_ONION_IPPORT_SIZE];
  tw_writer w = tw_writer_init(out, sizeof out);
  FUZZ_CHECK(tw_onion_ipport_write(&w, &a) == TW_OK);
  FUZZ_CHECK(out[0] == fam);
  size_t iplen = fam == TW_AF_INET ? 4 : 16;
  FUZZ_CHECK(memcmp(out + 1, in + 1, iplen) == 0);
  for (size_t i = 1 + iplen; i < 17; i++) FUZZ_CHECK(out[i] == 0); /* zero padded */
  FUZZ_CHECK(memcmp(out + 17, in + 17, 2) == 0);
}

static void request(const uint8_t *in, size_t len) {
  const tw_keypair me = *fuzz_me();
  tw_onion_request req;
  int e = tw_onion_request_parse(&req, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (e != TW_OK) return;
  FUZZ_CHECK(len <= TW_ONION_MAX_PACKET_SIZE);
  FUZZ_CHECK(req.kind == in[0] && req.kind >= 0x80 && req.kind <= 0x82);
  FUZZ_CHECK(req.nonce == in + 1);
  FUZZ_CHECK(memcmp(req.pk.bytes, in + 25, 32) == 0);
  FUZZ_CHECK(req.cipher == in + 57);
  FUZZ_CHECK(req.ret_len == tw_onion_return_size_for(req.kind));
  FUZZ_CHECK(57 + req.cipher_len + req.ret_len == len);
  FUZZ_CHECK(req.cipher_len >= TW_MAC_SIZE + TW_ONION_LAYER_MIN);
  if (req.ret_len)
    FUZZ_CHECK(req.ret == in + len - req.ret_len);
  else
    FUZZ_CHECK(req.ret == NULL);
  /* Behind the box: the next hop. */
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_shared_key_compute(shared, &req.pk, me.sk);
  static uint8_t plain[TW_ONION_MAX_PACKET_SIZE];
  if (tw_box_open(plain, req.cipher, req.cipher_len, req.nonce, shared) != TW_OK) return;
  size_t n = req.cipher_len - TW_MAC_SIZE;
  /* Sealing it again gives the same box. */
  static uint8_t again[TW_ONION_MAX_PACKET_SIZE];
  tw_box_seal(again, plain, n, req.nonce, shared);
  FUZZ_CHECK(memcmp(again, req.cipher, req.cipher_len) == 0);
  ipport(plain, n);
}

static void response(const uint8_t *in, size_t len) {
  tw_onion_response resp;
  int e = tw_onion_response_parse(&resp, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (e != TW_OK) return;
  FUZZ_CHECK(len <= TW_ONION_MAX_PACKET_SIZE);
  FUZZ_CHECK(resp.kind == in[0] && resp.kind >= 0x8c && resp.kind <= 0x8e);
  FUZZ_CHECK(resp.ret == in + 1);
  FUZZ_CHECK(resp.ret_len == tw_onion_return_size_for(resp.kind));
  FUZZ_CHECK(resp.data == in + 1 + resp.ret_len);
  FUZZ_CHECK(resp.data_len >= 1 && 1 + resp.ret_len + resp.data_len == len);
}

static void announce_request(const uint8_t *in, size_t len) {
  tw_announce_request_plain p;
  int e = tw_announce_request_plain_decode(&p, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (e != TW_OK) return;
  FUZZ_CHECK(len == TW_ANNOUNCE_REQUEST_PLAIN_SIZE);
  uint8_t out[TW_ANNOUNCE_REQUEST_PLAIN_SIZE];
  tw_announce_request_plain_encode(out, &p);
  FUZZ_CHECK(memcmp(out, in, len) == 0);
}

static void announce_response(const uint8_t *in, size_t len) {
  tw_announce_response_plain p;
  int e = tw_announce_response_plain_decode(&p, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (e != TW_OK) return;
  FUZZ_CHECK(p.is_stored <= 2 && p.count <= 4);
  FUZZ_CHECK(len <= TW_ANNOUNCE_RESPONSE_PLAIN_MAX);
  uint8_t out[TW_ANNOUNCE_RESPONSE_PLAIN_MAX];
  int n = tw_announce_response_plain_encode(out, sizeof out, &p);
  FUZZ_CHECK(n > 0 && (size_t)n == len && memcmp(out, in, len) == 0);
  for (int i = 0; i < p.count; i++)
    FUZZ_CHECK(p.nodes[i].addr.family == TW_AF_INET || p.nodes[i].addr.family == TW_AF_INET6);
}

static void dhtpk(const uint8_t *in, size_t len) {
  tw_dhtpk p;
  int e = tw_dhtpk_decode(&p, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (e != TW_OK) return;
  FUZZ_CHECK(in[0] == TW_DHTPK_KIND && p.count <= 4);
  FUZZ_CHECK(len >= TW_DHTPK_MIN && len <= TW_DHTPK_MAX);
  uint8_t out[TW_DHTPK_MAX];
  int n = tw_dhtpk_encode(out, sizeof out, &p);
  FUZZ_CHECK(n > 0 && (size_t)n == len && memcmp(out, in, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *in = malloc(size ? size : 1);
  if (in == NULL) return 0;
  memcpy(in, data, size);
  ipport(in, size);
  request(in, size);
  response(in, size);
  announce_request(in, size);
  announce_response(in, size);
  dhtpk(in, size);
  /* The same bytes behind a kind byte, as the layer that carries them. */
  if (size > 0) {
    uint8_t k = in[0];
    in[0] = 0x9c;
    dhtpk(in, size);
    in[0] = k;
  }
  free(in);
  return 0;
}

/* ---- seeds ---- */

static tw_node_info seed_node(int i, bool v6, bool tcp) {
  tw_node_info n;
  memset(&n, 0, sizeof n);
  n.addr.family = v6 ? TW_AF_INET6 : TW_AF_INET;
  n.addr.ip[0] = v6 ? 0x20 : 198;
  n.addr.ip[1] = v6 ? 0x01 : 51;
  n.addr.ip[3] = (uint8_t)(10 + i);
  n.addr.port = (uint16_t)(33445 + i);
  memset(n.pk.bytes, 0x30 + i, 32);
  n.tcp = tcp;
  return n;
}

static void write_seeds(const char *dir) {
  if (tw_crypto_init() != TW_OK) abort();
  mkdir(dir, 0755);
  uint8_t b[1500];
  tw_writer w;
  tw_addr a4 = {.family = TW_AF_INET, .ip = {198, 51, 100, 1}, .port = 33445};
  tw_addr a6 = {.family = TW_AF_INET6, .ip = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, .port = 443};
  w = tw_writer_init(b, sizeof b);
  tw_onion_ipport_write(&w, &a4);
  fuzz_write_seed(dir, "ipport-4", b, w.pos);
  w = tw_writer_init(b, sizeof b);
  tw_onion_ipport_write(&w, &a6);
  fuzz_write_seed(dir, "ipport-6", b, w.pos);
  memset(b, 0, 19);
  b[0] = TW_ONION_FAMILY_TCP;
  b[8] = 7;
  fuzz_write_seed(dir, "ipport-tcp", b, 19);

  /* A layer 0x80 sealed to the capture key, naming B: request() opens it. */
  tw_keypair me = fuzz_capture_keypair(), temp;
  fuzz_rng r = {0x11};
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &r};
  tw_keypair_generate(&temp, &env);
  uint8_t shared[TW_SHARED_KEY_SIZE], plain[400];
  tw_shared_key_compute(shared, &me.pk, temp.sk);
  w = tw_writer_init(plain, sizeof plain);
  tw_onion_ipport_write(&w, &a6);
  memset(plain + w.pos, 0x42, 32 + 16 + 19 + 40);
  size_t pl = w.pos + 32 + 16 + 19 + 40;
  const uint8_t kinds[3] = {0x80, 0x81, 0x82};
  for (int k = 0; k < 3; k++) {
    b[0] = kinds[k];
    memset(b + 1, 0x24 + k, 24);
    memcpy(b + 25, temp.pk.bytes, 32);
    tw_box_seal(b + 57, plain, pl, b + 1, shared);
    size_t ret = tw_onion_return_size_for(kinds[k]);
    memset(b + 57 + pl + 16, 0xee, ret);
    char name[32];
    snprintf(name, sizeof name, "request-%02x", kinds[k]);
    fuzz_write_seed(dir, name, b, 57 + pl + 16 + ret);
  }
  const uint8_t rkinds[3] = {0x8c, 0x8d, 0x8e};
  for (int k = 0; k < 3; k++) {
    size_t ret = tw_onion_return_size_for(rkinds[k]);
    b[0] = rkinds[k];
    memset(b + 1, 0x5a, ret);
    b[1 + ret] = 0x84;
    memset(b + 2 + ret, 0x17, 80);
    char name[32];
    snprintf(name, sizeof name, "response-%02x", rkinds[k]);
    fuzz_write_seed(dir, name, b, 2 + ret + 80);
  }
  tw_announce_request_plain ar;
  memset(&ar, 0x61, sizeof ar);
  tw_announce_request_plain_encode(b, &ar);
  fuzz_write_seed(dir, "announce-request", b, TW_ANNOUNCE_REQUEST_PLAIN_SIZE);
  tw_announce_response_plain ap;
  memset(&ap, 0, sizeof ap);
  ap.is_stored = 2;
  memset(ap.ping_or_key, 0x71, 32);
  ap.count = 4;
  for (int i = 0; i < 4; i++) ap.nodes[i] = seed_node(i, i & 1, i == 3);
  int n = tw_announce_response_plain_encode(b, sizeof b, &ap);
  fuzz_write_seed(dir, "announce-response-4", b, (size_t)n);
  ap.is_stored = 0;
  ap.count = 0;
  n = tw_announce_response_plain_encode(b, sizeof b, &ap);
  fuzz_write_seed(dir, "announce-response-0", b, (size_t)n);
  tw_dhtpk dp;
  memset(&dp, 0, sizeof dp);
  dp.no_replay = 0x0000018c12345678ULL;
  memset(dp.dht_pk.bytes, 0x81, 32);
  dp.count = 3;
  for (int i = 0; i < 3; i++) dp.nodes[i] = seed_node(i, i == 2, i == 0);
  n = tw_dhtpk_encode(b, sizeof b, &dp);
  fuzz_write_seed(dir, "dhtpk-3", b, (size_t)n);
}

/* TW_FUZZ_WRITE_SEEDS=DIR writes the hand-made seeds and exits. */
FUZZ_SEED_WRITER(write_seeds)
