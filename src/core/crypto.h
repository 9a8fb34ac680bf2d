/* Crypto helpers over libsodium: key pairs, the Tox "box" (xsalsa20-poly1305
 * with a precomputed shared key, MAC first), and a bounded cache of shared
 * keys so that a busy peer costs one x25519 agreement, not one per packet. */
#ifndef TW_CORE_CRYPTO_H
#define TW_CORE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "toxwire/env.h"
#include "toxwire/types.h"

/* Overwrites secrets so they do not linger in freed memory. */
void tw_crypto_wipe(void *p, size_t n);

/* Must be called once before any other crypto call (idempotent). */
int tw_crypto_init(void);

void tw_random_bytes(const tw_env *env, uint8_t *out, size_t len);
uint64_t tw_random_u64(const tw_env *env);
/* Uniform in [0, n); n > 0. */
uint32_t tw_random_below(const tw_env *env, uint32_t n);

/* Derives a key pair from the environment's randomness, so a seeded
 * simulation gets the same keys every run. */
void tw_keypair_generate(tw_keypair *kp, const tw_env *env);
/* Recomputes pk from sk; used to check a loaded keys file. */
void tw_public_key_from_secret(tw_key *pk, const uint8_t sk[TW_SECRET_KEY_SIZE]);

void tw_shared_key_compute(uint8_t out[TW_SHARED_KEY_SIZE], const tw_key *their_pk,
                           const uint8_t our_sk[TW_SECRET_KEY_SIZE]);

/* out receives len + TW_MAC_SIZE bytes. */
void tw_box_seal(uint8_t *out, const uint8_t *plain, size_t len,
                 const uint8_t nonce[TW_NONCE_SIZE],
                 const uint8_t shared[TW_SHARED_KEY_SIZE]);
/* in holds len >= TW_MAC_SIZE bytes; out receives len - TW_MAC_SIZE.
 * Returns TW_OK or TW_E_CRYPTO (or TW_E_SHORT). */
int tw_box_open(uint8_t *out, const uint8_t *in, size_t len,
                const uint8_t nonce[TW_NONCE_SIZE],
                const uint8_t shared[TW_SHARED_KEY_SIZE]);

/* A 32-byte keyed hash (BLAKE2b) of in: tokens we can recompute instead
 * of storing, such as announce ping ids. */
#define TW_HASH_KEY_SIZE 32
#define TW_HASH_SIZE 32
void tw_keyed_hash(uint8_t out[TW_HASH_SIZE], const uint8_t key[TW_HASH_KEY_SIZE],
                   const uint8_t *in, size_t len);
/* Constant-time comparison of n bytes; true when equal. */
bool tw_crypto_equal(const uint8_t *a, const uint8_t *b, size_t n);

/* Shared key cache: set-associative, keyed by a secret-keyed hash of the
 * peer's key so a stranger cannot aim all their keys at one set; the least
 * recently used entry of a set is replaced. */
typedef struct tw_keycache tw_keycache;

/* entries is rounded up to a multiple of the associativity. */
tw_keycache *tw_keycache_new(size_t entries, const uint8_t our_sk[TW_SECRET_KEY_SIZE],
                             const tw_env *env);
void tw_keycache_free(tw_keycache *c);
/* Copies the shared key with their_pk into out, computing it on a miss. */
void tw_keycache_get(tw_keycache *c, const tw_key *their_pk, tw_time_ms now,
                     uint8_t out[TW_SHARED_KEY_SIZE]);
typedef struct tw_keycache_stats {
  uint64_t hits, misses;
} tw_keycache_stats;
tw_keycache_stats tw_keycache_get_stats(const tw_keycache *c);

#endif
