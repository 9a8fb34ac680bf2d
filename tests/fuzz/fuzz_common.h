/* Shared by the fuzz targets: the fixed DHT key pair the seed corpus was
 * captured with, and a deterministic random source.
 *
 * The seeds in corpus/dht_packet and corpus/dht_wire are datagrams that
 * c-toxcore 0.2.18 (tox-bootstrapd, DHT_bootstrap) sent to a `toxwire
 * bootstrap` node holding this key pair, so a target using it can open
 * them. It is a throwaway test key; it protects nothing. */
#ifndef TW_TESTS_FUZZ_COMMON_H
#define TW_TESTS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/crypto.h"
#include "toxwire/types.h"

static const uint8_t FUZZ_CAPTURE_SK[TW_SECRET_KEY_SIZE] = {
    0xb3, 0x79, 0x3f, 0x4e, 0x36, 0xe2, 0x28, 0x90, 0xf9, 0x4f, 0xd1, 0x7a, 0x38, 0xbf, 0x89, 0xf7,
    0x32, 0x29, 0xd6, 0x03, 0xb6, 0xd9, 0xff, 0x9a, 0x2c, 0xe0, 0xb6, 0xfe, 0x45, 0x45, 0x33, 0x2d,
};

static inline tw_keypair fuzz_capture_keypair(void) {
  tw_keypair kp;
  memcpy(kp.sk, FUZZ_CAPTURE_SK, sizeof kp.sk);
  tw_public_key_from_secret(&kp.pk, kp.sk);
  return kp;
}

typedef struct fuzz_rng {
  uint64_t state;
} fuzz_rng;

static inline void fuzz_rng_fill(void *ctx, uint8_t *out, size_t len) {
  fuzz_rng *r = ctx;
  while (len > 0) {
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    size_t n = len < 8 ? len : 8;
    memcpy(out, &z, n);
    out += n;
    len -= n;
  }
}

/* Aborts with a message naming the broken property: libFuzzer reports it as
 * a crash and saves the input. */
#define FUZZ_CHECK(cond)                                                     \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, \
              #cond);                                                        \
      abort();                                                               \
    }                                                                        \
  } while (0)

#endif
