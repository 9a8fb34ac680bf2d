/* The environment a sans-I/O module runs in: where its randomness comes from
 * and where its log lines go. Time is passed to each call instead. */
#ifndef TOXWIRE_ENV_H
#define TOXWIRE_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fills out with len random bytes. The io driver uses libsodium's
 * randombytes_buf; a simulation uses a seeded generator so runs replay. */
typedef void tw_random_fn(void *ctx, uint8_t *out, size_t len);

typedef struct tw_env {
  tw_random_fn *random_bytes;
  void *random_ctx;
  tw_logger log;
} tw_env;

#ifdef __cplusplus
}
#endif
#endif
