/* Fuzzes every net_crypto wire decoder (src/netcrypto/nc_wire.h) and checks
 * that what decodes encodes back to the same bytes:
 *   - the cookie (opened with a fixed cookie key), cookie request (sealed
 *     to the capture key), cookie response, handshake and crypto data
 *     (opened with a fixed session key; data nonces from a fixed base);
 *   - the plain part, read from the input and from an opened data packet;
 *   - packet requests: read, write, read again gives the same numbers, and
 *     the writer's bytes are the input without its trailing zeros;
 *   - nonce arithmetic against a second, independent adder.
 *
 * TW_FUZZ_WRITE_SEEDS=DIR: write hand-made seeds for corpus/nc_wire to DIR
 * and exit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/crypto.h"
#include "fuzz_common.h"
#include "netcrypto/nc_wire.h"
#include "toxwire/error.h"

/* Throwaway keys the seeds are sealed with; they protect nothing. */
static const uint8_t FUZZ_NC_SHARED[TW_SHARED_KEY_SIZE] = {
    0x6e, 0x63, 0x2d, 0x73, 0x65, 0x73, 0x73, 0x69, 0x6f, 0x6e, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
    0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
};
static const uint8_t FUZZ_NC_COOKIE_KEY[TW_SHARED_KEY_SIZE] = {
    0x63, 0x6f, 0x6f, 0x6b, 0x69, 0x65, 0x2d, 0x6b, 0x65, 0x79, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6,
    0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf, 0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
};
/* The receiver's saved base nonce: low bytes near the 16-bit rollover. */
static const uint8_t FUZZ_NC_BASE[TW_NONCE_SIZE] = {
    0x62, 0x61, 0x73, 0x65, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xf0,
};

#define REQ_MAX 2048

static void cookie(const uint8_t *in, size_t len) {
  if (len < TW_NC_COOKIE_SIZE) return;
  tw_nc_cookie_plain c;
  int e = tw_nc_cookie_open(&c, in, FUZZ_NC_COOKIE_KEY);
  FUZZ_CHECK(e == TW_OK || e == TW_E_CRYPTO);
  if (e != TW_OK) return;
  uint8_t again[TW_NC_COOKIE_SIZE];
  tw_nc_cookie_seal(again, &c, in, FUZZ_NC_COOKIE_KEY);
  FUZZ_CHECK(memcmp(again, in, TW_NC_COOKIE_SIZE) == 0);
}

static void cookie_request(const uint8_t *in, size_t len) {
  tw_key dht;
  int e = tw_nc_cookie_request_peek(&dht, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (len == 0 || in[0] != 0x18) {
    FUZZ_CHECK(e == (len == 0 ? TW_E_SHORT : TW_E_KIND));
    return;
  }
  FUZZ_CHECK(e == (len < 145 ? TW_E_SHORT : len > 145 ? TW_E_LONG : TW_OK));
  if (e != TW_OK) return;
  FUZZ_CHECK(memcmp(dht.bytes, in + 1, 32) == 0);
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_shared_key_compute(shared, &dht, fuzz_me()->sk);
  tw_key real;
  uint64_t echo;
  e = tw_nc_cookie_request_open(&real, &echo, in, len, shared);
  FUZZ_CHECK(e == TW_OK || e == TW_E_CRYPTO);
  if (e != TW_OK) return;
  /* The padding is not checked, so only a zero-padded request re-encodes
   * to the same bytes. */
  uint8_t plain[TW_NC_COOKIE_REQUEST_PLAIN_SIZE];
  FUZZ_CHECK(tw_box_open(plain, in + 57, len - 57, in + 33, shared) == TW_OK);
  static const uint8_t zeros[32];
  uint8_t again[TW_NC_COOKIE_REQUEST_SIZE];
  tw_nc_cookie_request_encode(again, &dht, &real, echo, in + 33, shared);
  FUZZ_CHECK((memcmp(again, in, len) == 0) == (memcmp(plain + 32, zeros, 32) == 0));
}

static void cookie_response(const uint8_t *in, size_t len) {
  uint8_t c[TW_NC_COOKIE_SIZE];
  uint64_t echo;
  int e = tw_nc_cookie_response_open(c, &echo, in, len, FUZZ_NC_SHARED);
  FUZZ_CHECK(fuzz_known_error(e));
  if (len == 0 || in[0] != 0x19) {
    FUZZ_CHECK(e == (len == 0 ? TW_E_SHORT : TW_E_KIND));
    return;
  }
  if (len != 161) FUZZ_CHECK(e == (len < 161 ? TW_E_SHORT : TW_E_LONG));
  if (e != TW_OK) return;
  uint8_t again[TW_NC_COOKIE_RESPONSE_SIZE];
  tw_nc_cookie_response_encode(again, c, echo, in + 1, FUZZ_NC_SHARED);
  FUZZ_CHECK(memcmp(again, in, len) == 0);
  cookie(c, sizeof c);
}

static void handshake(const uint8_t *in, size_t len) {
  const uint8_t *outer = NULL;
  int e = tw_nc_handshake_peek(&outer, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (len == 0 || in[0] != 0x1a) {
    FUZZ_CHECK(e == (len == 0 ? TW_E_SHORT : TW_E_KIND));
    return;
  }
  FUZZ_CHECK(e == (len < 385 ? TW_E_SHORT : len > 385 ? TW_E_LONG : TW_OK));
  if (e != TW_OK) return;
  FUZZ_CHECK(outer == in + 1);
  tw_nc_handshake_plain h;
  e = tw_nc_handshake_open(&h, in, len, FUZZ_NC_SHARED);
  FUZZ_CHECK(e == TW_OK || e == TW_E_CRYPTO || e == TW_E_FORMAT);
  if (e != TW_OK) return;
  uint8_t again[TW_NC_HANDSHAKE_SIZE];
  tw_nc_handshake_encode(again, outer, &h, in + 113, FUZZ_NC_SHARED);
  FUZZ_CHECK(memcmp(again, in, len) == 0);
  cookie(outer, TW_NC_COOKIE_SIZE);
  cookie(h.other_cookie, TW_NC_COOKIE_SIZE);
}

/* 24-byte big-endian nonce + n, a different way: the low 8 bytes as one
 * integer, then a carry walked through the rest. */
static void ref_nonce_add(uint8_t n[TW_NONCE_SIZE], uint32_t add) {
  uint64_t low = 0;
  for (int i = 16; i < 24; i++) low = (low << 8) | n[i];
  uint64_t sum = low + add;
  for (int i = 23; i >= 16; i--) n[i] = (uint8_t)(sum >> (8 * (23 - i)));
  if (sum < low) /* out of the low 8 bytes */
    for (int i = 15; i >= 0 && ++n[i] == 0; i--) {
    }
}

static void nonces(const uint8_t *in, size_t len) {
  if (len < TW_NONCE_SIZE + 4) return;
  uint32_t add = ((uint32_t)in[24] << 24) | ((uint32_t)in[25] << 16) | (in[26] << 8) | in[27];
  uint8_t a[TW_NONCE_SIZE], b[TW_NONCE_SIZE];
  memcpy(a, in, sizeof a);
  memcpy(b, in, sizeof b);
  tw_nc_nonce_add(a, add);
  ref_nonce_add(b, add);
  FUZZ_CHECK(memcmp(a, b, sizeof a) == 0);

  uint16_t low = (uint16_t)((in[24] << 8) | in[25]), diff;
  uint8_t out[TW_NONCE_SIZE];
  tw_nc_nonce_for_packet(out, in, low, &diff);
  FUZZ_CHECK(((out[22] << 8) | out[23]) == low);
  FUZZ_CHECK(diff == (uint16_t)(low - ((in[22] << 8) | in[23])));
  memcpy(b, in, sizeof b);
  ref_nonce_add(b, diff);
  FUZZ_CHECK(memcmp(out, b, sizeof b) == 0);
}

/* Canonical: the input without trailing zero bytes. */
static size_t trimmed(const uint8_t *in, size_t len) {
  while (len > 1 && in[len - 1] == 0) len--;
  return len;
}

static void packet_request(const uint8_t *in, size_t len, uint32_t bs) {
  static uint32_t got[REQ_MAX], again[REQ_MAX];
  int n = tw_nc_packet_request_read(got, REQ_MAX, bs, in, len);
  FUZZ_CHECK(fuzz_known_error(n) || n > 0);
  if (len == 0) {
    FUZZ_CHECK(n == TW_E_SHORT);
    return;
  }
  if (in[0] != 1) {
    FUZZ_CHECK(n == TW_E_KIND);
    return;
  }
  size_t nonzero = 0;
  for (size_t i = 1; i < len; i++) nonzero += in[i] != 0;
  if (nonzero > REQ_MAX) {
    FUZZ_CHECK(n == TW_E_COUNT);
    return;
  }
  FUZZ_CHECK(n >= 0 && (size_t)n == nonzero);
  if (len >= (1u << 24)) return; /* past 2^32 in total the numbers wrap */
  for (int i = 1; i < n; i++) FUZZ_CHECK((uint32_t)(got[i] - bs) > (uint32_t)(got[i - 1] - bs));

  static uint8_t out[1 << 16];
  if (trimmed(in, len) > sizeof out) return;
  size_t used = 0;
  int w = tw_nc_packet_request_write(out, sizeof out, bs, got, (size_t)n, &used);
  FUZZ_CHECK(w >= 1 && used == (size_t)n);
  FUZZ_CHECK((size_t)w == trimmed(in, len) && memcmp(out, in, (size_t)w) == 0);
  FUZZ_CHECK(tw_nc_packet_request_read(again, REQ_MAX, bs, out, (size_t)w) == n);
  FUZZ_CHECK(memcmp(again, got, (size_t)n * sizeof got[0]) == 0);

  /* A short buffer: a whole prefix of the numbers, never half of one. */
  size_t small = 1 + (len > 1 ? in[1] : 0) % (size_t)w;
  used = 99999;
  w = tw_nc_packet_request_write(out, small, bs, got, (size_t)n, &used);
  FUZZ_CHECK(w >= 1 && (size_t)w <= small && used <= (size_t)n);
  FUZZ_CHECK(memcmp(out, in, (size_t)w) == 0);
  FUZZ_CHECK(tw_nc_packet_request_read(again, REQ_MAX, bs, out, (size_t)w) == (int)used);
}

static void plain(const uint8_t *in, size_t len) {
  tw_nc_plain p;
  int e = tw_nc_plain_read(&p, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (len > TW_NC_MAX_PLAIN_SIZE) {
    FUZZ_CHECK(e == TW_E_LONG);
    return;
  }
  if (len < 8) {
    FUZZ_CHECK(e == TW_E_SHORT);
    return;
  }
  size_t first = 8;
  while (first < len && in[first] == 0) first++;
  if (first == len) {
    FUZZ_CHECK(e == TW_E_FORMAT);
    return;
  }
  FUZZ_CHECK(e == TW_OK);
  FUZZ_CHECK(p.data == in + first && p.len == len - first && p.data[0] != 0);
  FUZZ_CHECK(p.buffer_start == (((uint32_t)in[0] << 24) | ((uint32_t)in[1] << 16) |
                                ((uint32_t)in[2] << 8) | in[3]));
  static uint8_t again[TW_NC_MAX_PLAIN_SIZE];
  int n = tw_nc_plain_write(again, sizeof again, p.buffer_start, p.number, first - 8, p.data,
                            p.len);
  FUZZ_CHECK(n >= 0 && (size_t)n == len && memcmp(again, in, len) == 0);
  if (p.data[0] == 1) packet_request(p.data, p.len, p.buffer_start);
}

static void data(const uint8_t *in, size_t len) {
  uint16_t low;
  int e = tw_nc_data_peek(&low, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (len == 0 || in[0] != 0x1b) {
    FUZZ_CHECK(e == (len == 0 ? TW_E_SHORT : TW_E_KIND));
    return;
  }
  FUZZ_CHECK(e == (len < TW_NC_DATA_MIN_SIZE ? TW_E_SHORT : len > 1400 ? TW_E_LONG : TW_OK));
  if (e != TW_OK) return;
  FUZZ_CHECK(low == ((in[1] << 8) | in[2]));
  uint8_t nonce[TW_NONCE_SIZE];
  uint16_t diff;
  tw_nc_nonce_for_packet(nonce, FUZZ_NC_BASE, low, &diff);
  static uint8_t p[1400], again[1400];
  int n = tw_nc_data_open(p, in, len, nonce, FUZZ_NC_SHARED);
  FUZZ_CHECK(n == TW_E_CRYPTO || (n >= 0 && (size_t)n == len - 19));
  if (n < 0) return;
  int m = tw_nc_data_seal(again, sizeof again, p, (size_t)n, nonce, FUZZ_NC_SHARED);
  FUZZ_CHECK(m >= 0 && (size_t)m == len && memcmp(again, in, len) == 0);
  plain(p, (size_t)n);
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size) {
  fuzz_me();
  uint8_t *in = malloc(size ? size : 1);
  if (in == NULL) return 0;
  memcpy(in, bytes, size);
  cookie(in, size);
  cookie_request(in, size);
  cookie_response(in, size);
  handshake(in, size);
  data(in, size);
  plain(in, size);
  packet_request(in, size, 1);
  packet_request(in, size, 0xffffff00u);
  nonces(in, size);
  free(in);
  return 0;
}

/* ---- seeds ---- */

static void seed_data(const char *dir, const char *name, uint32_t k, const uint8_t *pl,
                      size_t n) {
  uint8_t nonce[TW_NONCE_SIZE], pkt[1400];
  memcpy(nonce, FUZZ_NC_BASE, sizeof nonce);
  tw_nc_nonce_add(nonce, k);
  int m = tw_nc_data_seal(pkt, sizeof pkt, pl, n, nonce, FUZZ_NC_SHARED);
  if (m < 0) abort();
  fuzz_write_seed(dir, name, pkt, (size_t)m);
}

static void write_seeds(const char *dir) {
  if (tw_crypto_init() != TW_OK) abort();
  mkdir(dir, 0755);
  uint8_t nonce[TW_NONCE_SIZE], b[1400];

  tw_nc_cookie_plain cp = {.time = 0x0000018c00001234ULL};
  memset(cp.real_pk.bytes, 0x52, 32);
  memset(cp.dht_pk.bytes, 0x44, 32);
  uint8_t c[TW_NC_COOKIE_SIZE];
  memset(nonce, 0xc0, sizeof nonce);
  tw_nc_cookie_seal(c, &cp, nonce, FUZZ_NC_COOKIE_KEY);
  fuzz_write_seed(dir, "cookie", c, sizeof c);

  /* A cookie request to the capture key from a fixed sender. */
  fuzz_rng r = {0x18};
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &r};
  tw_keypair sender;
  tw_keypair_generate(&sender, &env);
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_shared_key_compute(shared, &fuzz_me()->pk, sender.sk);
  memset(nonce, 0x18, sizeof nonce);
  tw_nc_cookie_request_encode(b, &sender.pk, &cp.real_pk, 0x0102030405060708ULL, nonce, shared);
  fuzz_write_seed(dir, "cookie-request", b, TW_NC_COOKIE_REQUEST_SIZE);

  memset(nonce, 0x19, sizeof nonce);
  tw_nc_cookie_response_encode(b, c, 0x0102030405060708ULL, nonce, FUZZ_NC_SHARED);
  fuzz_write_seed(dir, "cookie-response", b, TW_NC_COOKIE_RESPONSE_SIZE);

  tw_nc_handshake_plain h;
  memcpy(h.base_nonce, FUZZ_NC_BASE, TW_NONCE_SIZE);
  memset(h.session_pk.bytes, 0x5e, 32);
  cp.time++;
  tw_nc_cookie_seal(h.other_cookie, &cp, nonce, FUZZ_NC_COOKIE_KEY);
  memset(nonce, 0x1a, sizeof nonce);
  tw_nc_handshake_encode(b, c, &h, nonce, FUZZ_NC_SHARED);
  fuzz_write_seed(dir, "handshake", b, TW_NC_HANDSHAKE_SIZE);

  /* Data: a packet request, a padded message past the 16-bit rollover,
   * a connection kill, a lossy packet. */
  uint8_t pl[600];
  const uint8_t req[] = {1, 3, 3, 0, 0, 0, 253};
  int n = tw_nc_plain_write(pl, sizeof pl, 1, 2, 0, req, sizeof req);
  seed_data(dir, "data-request", 0, pl, (size_t)n);
  uint8_t msg[300];
  for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 13 + 1);
  msg[0] = 64;
  n = tw_nc_plain_write(pl, sizeof pl, 0xfffffffe, 0xffffffff, 40, msg, sizeof msg);
  seed_data(dir, "data-message", 40, pl, (size_t)n);
  const uint8_t kill[] = {2};
  n = tw_nc_plain_write(pl, sizeof pl, 7, 9, 0, kill, 1);
  seed_data(dir, "data-kill", 65000, pl, (size_t)n);
  const uint8_t lossy[] = {200, 0, 0, 9};
  n = tw_nc_plain_write(pl, sizeof pl, 7, 9, 3, lossy, sizeof lossy);
  seed_data(dir, "data-lossy", 12, pl, (size_t)n);

  /* The spec's packet request examples, as plains and bare. */
  const uint8_t ex1[] = {0, 0, 0, 1, 0, 0, 0, 0, 1, 1};
  fuzz_write_seed(dir, "plain-request-1", ex1, sizeof ex1);
  const uint8_t ex2[] = {0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 3};
  fuzz_write_seed(dir, "plain-request-1-4", ex2, sizeof ex2);
  fuzz_write_seed(dir, "request-3-6-1024", req, sizeof req);
  const uint8_t wide[] = {1, 0, 255, 255, 0, 0, 1, 7, 0, 0};
  fuzz_write_seed(dir, "request-wide", wide, sizeof wide);

  /* A nonce and an addend that carries through many bytes. */
  uint8_t nn[28];
  memset(nn, 0xff, sizeof nn);
  nn[2] = 0x7f;
  fuzz_write_seed(dir, "nonce-carry", nn, sizeof nn);
}

/* TW_FUZZ_WRITE_SEEDS=DIR writes the hand-made seeds and exits. */
FUZZ_SEED_WRITER(write_seeds)
