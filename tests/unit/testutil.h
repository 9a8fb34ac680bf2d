/* Helpers shared by the unit tests: a deterministic random source, key
 * pairs derived from it, and address constructors. Header-only so each test
 * executable stays one .c file. */
#ifndef TW_TESTS_UNIT_TESTUTIL_H
#define TW_TESTS_UNIT_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/crypto.h"
#include "toxwire/env.h"
#include "toxwire/types.h"

/* splitmix64 over a counter: reproducible, good enough for ids and nonces. */
typedef struct test_rng {
  uint64_t state;
} test_rng;

static inline uint64_t test_rng_next(test_rng *r) {
  uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static inline void test_rng_fill(void *ctx, uint8_t *out, size_t len) {
  test_rng *r = ctx;
  while (len > 0) {
    uint64_t v = test_rng_next(r);
    size_t n = len < 8 ? len : 8;
    memcpy(out, &v, n);
    out += n;
    len -= n;
  }
}

static inline tw_env test_env(test_rng *r) {
  tw_env env;
  memset(&env, 0, sizeof env);
  env.random_bytes = test_rng_fill;
  env.random_ctx = r;
  env.log.fn = NULL;
  env.log.level = TW_LOG_OFF;
  return env;
}

static inline tw_keypair test_keypair(uint64_t seed) {
  test_rng r = {seed * 0x1000193ULL + 7};
  tw_env env = test_env(&r);
  tw_keypair kp;
  tw_keypair_generate(&kp, &env);
  return kp;
}

static inline tw_addr test_addr4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  tw_addr x;
  memset(&x, 0, sizeof x);
  x.family = TW_AF_INET;
  x.ip[0] = a;
  x.ip[1] = b;
  x.ip[2] = c;
  x.ip[3] = d;
  x.port = port;
  return x;
}

static inline tw_addr test_addr6(uint16_t last_group, uint16_t port) {
  tw_addr x;
  memset(&x, 0, sizeof x);
  x.family = TW_AF_INET6;
  x.ip[0] = 0x20;
  x.ip[1] = 0x01;
  x.ip[2] = 0x0d;
  x.ip[3] = 0xb8;
  x.ip[14] = (uint8_t)(last_group >> 8);
  x.ip[15] = (uint8_t)last_group;
  x.port = port;
  return x;
}

static inline tw_key test_key_fill(uint8_t byte) {
  tw_key k;
  memset(k.bytes, byte, sizeof k.bytes);
  return k;
}

#endif
