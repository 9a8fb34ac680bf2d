#include "core/crypto.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "toxwire/error.h"

void tw_crypto_wipe(void *p, size_t n) { sodium_memzero(p, n); }

int tw_crypto_init(void) { return sodium_init() < 0 ? TW_E_IO : TW_OK; }

void tw_random_bytes(const tw_env *env, uint8_t *out, size_t len) {
  env->random_bytes(env->random_ctx, out, len);
}

uint64_t tw_random_u64(const tw_env *env) {
  uint8_t b[8];
  tw_random_bytes(env, b, sizeof b);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | b[i];
  return v;
}

uint32_t tw_random_below(const tw_env *env, uint32_t n) {
  /* Rejection sampling keeps the result uniform. */
  uint32_t limit = UINT32_MAX - UINT32_MAX % n;
  for (;;) {
    uint32_t v = (uint32_t)tw_random_u64(env);
    if (v < limit) return v % n;
  }
}

void tw_keypair_generate(tw_keypair *kp, const tw_env *env) {
  uint8_t seed[crypto_box_SEEDBYTES];
  tw_random_bytes(env, seed, sizeof seed);
  crypto_box_seed_keypair(kp->pk.bytes, kp->sk, seed);
  sodium_memzero(seed, sizeof seed);
}

void tw_public_key_from_secret(tw_key *pk, const uint8_t sk[TW_SECRET_KEY_SIZE]) {
  crypto_scalarmult_base(pk->bytes, sk);
}

void tw_shared_key_compute(uint8_t out[TW_SHARED_KEY_SIZE], const tw_key *their_pk,
                           const uint8_t our_sk[TW_SECRET_KEY_SIZE]) {
  /* A low-order point gives an all-zero key; libsodium refuses it. Use a
   * key no honest peer shares so that such packets simply fail to open. */
  if (crypto_box_beforenm(out, their_pk->bytes, our_sk) != 0)
    memset(out, 0, TW_SHARED_KEY_SIZE);
}

void tw_box_seal(uint8_t *out, const uint8_t *plain, size_t len,
                 const uint8_t nonce[TW_NONCE_SIZE],
                 const uint8_t shared[TW_SHARED_KEY_SIZE]) {
  crypto_box_easy_afternm(out, plain, len, nonce, shared);
}

int tw_box_open(uint8_t *out, const uint8_t *in, size_t len,
                const uint8_t nonce[TW_NONCE_SIZE],
                const uint8_t shared[TW_SHARED_KEY_SIZE]) {
  if (len < TW_MAC_SIZE) return TW_E_SHORT;
  if (crypto_box_open_easy_afternm(out, in, len, nonce, shared) != 0)
    return TW_E_CRYPTO;
  return TW_OK;
}

void tw_keyed_hash(uint8_t out[TW_HASH_SIZE], const uint8_t key[TW_HASH_KEY_SIZE],
                   const uint8_t *in, size_t len) {
  crypto_generichash(out, TW_HASH_SIZE, in, len, key, TW_HASH_KEY_SIZE);
}

bool tw_crypto_equal(const uint8_t *a, const uint8_t *b, size_t n) {
  return sodium_memcmp(a, b, n) == 0;
}

/* ---- shared key cache ---- */

#define WAYS 4

typedef struct entry {
  tw_key pk;
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_time_ms used;
  bool valid;
} entry;

struct tw_keycache {
  entry *e;
  size_t sets;
  uint8_t sk[TW_SECRET_KEY_SIZE];
  uint8_t hash_key[crypto_shorthash_KEYBYTES];
  tw_keycache_stats stats;
};

tw_keycache *tw_keycache_new(size_t entries, const uint8_t our_sk[TW_SECRET_KEY_SIZE],
                             const tw_env *env) {
  tw_keycache *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->sets = entries < WAYS ? 1 : (entries + WAYS - 1) / WAYS;
  c->e = calloc(c->sets * WAYS, sizeof *c->e);
  if (c->e == NULL) {
    free(c);
    return NULL;
  }
  memcpy(c->sk, our_sk, TW_SECRET_KEY_SIZE);
  tw_random_bytes(env, c->hash_key, sizeof c->hash_key);
  return c;
}

void tw_keycache_free(tw_keycache *c) {
  if (c == NULL) return;
  sodium_memzero(c->e, c->sets * WAYS * sizeof *c->e);
  sodium_memzero(c->sk, sizeof c->sk);
  free(c->e);
  free(c);
}

void tw_keycache_get(tw_keycache *c, const tw_key *their_pk, tw_time_ms now,
                     uint8_t out[TW_SHARED_KEY_SIZE]) {
  uint8_t h[crypto_shorthash_BYTES];
  crypto_shorthash(h, their_pk->bytes, TW_PUBLIC_KEY_SIZE, c->hash_key);
  uint64_t hv;
  memcpy(&hv, h, sizeof hv);
  entry *set = &c->e[(hv % c->sets) * WAYS];
  entry *victim = &set[0];
  for (int i = 0; i < WAYS; i++) {
    entry *x = &set[i];
    if (x->valid && memcmp(x->pk.bytes, their_pk->bytes, TW_PUBLIC_KEY_SIZE) == 0) {
      x->used = now;
      memcpy(out, x->shared, TW_SHARED_KEY_SIZE);
      c->stats.hits++;
      return;
    }
    if (!x->valid || (victim->valid && x->used < victim->used)) victim = x;
  }
  c->stats.misses++;
  tw_shared_key_compute(victim->shared, their_pk, c->sk);
  victim->pk = *their_pk;
  victim->used = now;
  victim->valid = true;
  memcpy(out, victim->shared, TW_SHARED_KEY_SIZE);
}

tw_keycache_stats tw_keycache_get_stats(const tw_keycache *c) { return c->stats; }
