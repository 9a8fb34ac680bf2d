/* Shared by the fuzz targets: the fixed DHT key pair the seed corpus was
 * captured with, and a deterministic random source.
 *
 * The seeds in corpus/dht_packet and corpus/dht_wire are datagrams that
 * c-toxcore 0.2.18 (tox-bootstrapd, DHT_bootstrap) sent to a `toxwire
 * bootstrap` node holding this key pair, so a target using it can open
 * them. It is a throwaway test key; it protects nothing. */
#ifndef TW_TESTS_FUZZ_COMMON_H
#define TW_TESTS_FUZZ_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "toxwire/error.h"
#include "toxwire/log.h"
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

/* The capture key pair, with libsodium initialised on first use. */
static inline const tw_keypair *fuzz_me(void) {
  static tw_keypair me;
  static int init;
  if (!init) {
    if (tw_crypto_init() != TW_OK) abort();
    me = fuzz_capture_keypair();
    init = 1;
  }
  return &me;
}

/* True for TW_OK and every TW_E_* code. */
static inline bool fuzz_known_error(int e) { return e <= 0 && e > TW_E__LAST; }

/* A tw_logger callback that formats each line (so formatting runs on what
 * the fuzzer sends) and throws it away. */
static inline void fuzz_discard_log(void *ctx, tw_log_level level, const char *module,
                                    const char *fmt, va_list ap) {
  (void)ctx;
  (void)level;
  (void)module;
  char line[512];
  vsnprintf(line, sizeof line, fmt, ap);
}

/* Writes one seed file DIR/NAME (TW_FUZZ_WRITE_SEEDS modes); exits on error. */
static inline void fuzz_write_seed(const char *dir, const char *name, const uint8_t *p, size_t n) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(p, 1, n, f) != n) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    exit(1);
  }
  fclose(f);
}

/* Defines LLVMFuzzerInitialize so that TW_FUZZ_WRITE_SEEDS=DIR runs
 * write(DIR) (the target's seed writer) and exits instead of fuzzing. */
#define FUZZ_SEED_WRITER(write)                                   \
  int LLVMFuzzerInitialize(int *argc, char ***argv) {             \
    (void)argc;                                                   \
    (void)argv;                                                   \
    const char *dir_ = getenv("TW_FUZZ_WRITE_SEEDS");             \
    if (dir_ != NULL) {                                           \
      write(dir_);                                                \
      exit(0);                                                    \
    }                                                             \
    return 0;                                                     \
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

/* The fuzzer's input, read a field at a time; past its end every read
 * gives zeroes (getn: fewer bytes), so a harness never runs off it. */
typedef struct fuzz_rd {
  const uint8_t *p;
  size_t n, pos;
} fuzz_rd;

static inline uint8_t fuzz_get8(fuzz_rd *r) { return r->pos < r->n ? r->p[r->pos++] : 0; }
static inline uint16_t fuzz_get16(fuzz_rd *r) {
  uint16_t hi = fuzz_get8(r);
  return (uint16_t)(hi << 8 | fuzz_get8(r));
}
/* Up to *len bytes (fewer at the end of the input). */
static inline const uint8_t *fuzz_getn(fuzz_rd *r, size_t *len) {
  size_t left = r->n - r->pos;
  if (*len > left) *len = left;
  const uint8_t *p = r->p + r->pos;
  r->pos += *len;
  return p;
}

/* A seed being written (the seed writers' buffer); overflowing it is a bug
 * in the seed writer. */
typedef struct fuzz_wr {
  uint8_t b[32768];
  size_t n;
} fuzz_wr;

static inline void fuzz_put8(fuzz_wr *w, uint8_t v) {
  if (w->n >= sizeof w->b) abort();
  w->b[w->n++] = v;
}
static inline void fuzz_put16(fuzz_wr *w, uint16_t v) {
  fuzz_put8(w, (uint8_t)(v >> 8));
  fuzz_put8(w, (uint8_t)v);
}
static inline void fuzz_putn(fuzz_wr *w, const void *p, size_t n) {
  for (size_t i = 0; i < n; i++) fuzz_put8(w, ((const uint8_t *)p)[i]);
}
/* An operation of a target's little language: its code and 1..3 bytes. */
static inline void fuzz_op(fuzz_wr *w, uint8_t code, uint8_t a) {
  fuzz_put8(w, code);
  fuzz_put8(w, a);
}
static inline void fuzz_op2(fuzz_wr *w, uint8_t code, uint8_t a, uint8_t b) {
  fuzz_op(w, code, a);
  fuzz_put8(w, b);
}
static inline void fuzz_op3(fuzz_wr *w, uint8_t code, uint8_t a, uint8_t b, uint8_t c) {
  fuzz_op2(w, code, a, b);
  fuzz_put8(w, c);
}
/* Writes the seed into dir and starts the next one. */
static inline void fuzz_seed(const char *dir, const char *name, fuzz_wr *w) {
  fuzz_write_seed(dir, name, w->b, w->n);
  w->n = 0;
}

#endif
