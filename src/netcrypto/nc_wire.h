/* net_crypto packets on the wire (spec "Net crypto"): cookie request and
 * response, the cookie itself, the handshake, the crypto data packet, the
 * plain data inside it, and the packet request. Pure functions: no state, no
 * time, no randomness (nonces and keys are passed in). spec/netcrypto.md
 * gives each layout in our words. */
#ifndef TW_NC_WIRE_H
#define TW_NC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "toxwire/netcrypto.h"
#include "toxwire/types.h"

#define TW_NC_SHA512_SIZE 64
#define TW_NC_COOKIE_PLAIN_SIZE (8 + 2 * TW_PUBLIC_KEY_SIZE)                 /* 72 */
#define TW_NC_COOKIE_SIZE (TW_NONCE_SIZE + TW_NC_COOKIE_PLAIN_SIZE + TW_MAC_SIZE) /* 112 */
#define TW_NC_COOKIE_REQUEST_PLAIN_SIZE (2 * TW_PUBLIC_KEY_SIZE + 8)         /* 72 */
#define TW_NC_COOKIE_REQUEST_SIZE                                           \
  (1 + TW_PUBLIC_KEY_SIZE + TW_NONCE_SIZE + TW_NC_COOKIE_REQUEST_PLAIN_SIZE + TW_MAC_SIZE) /* 145 */
#define TW_NC_COOKIE_RESPONSE_PLAIN_SIZE (TW_NC_COOKIE_SIZE + 8)             /* 120 */
#define TW_NC_COOKIE_RESPONSE_SIZE                                          \
  (1 + TW_NONCE_SIZE + TW_NC_COOKIE_RESPONSE_PLAIN_SIZE + TW_MAC_SIZE)       /* 161 */
#define TW_NC_HANDSHAKE_PLAIN_SIZE                                          \
  (TW_NONCE_SIZE + TW_PUBLIC_KEY_SIZE + TW_NC_SHA512_SIZE + TW_NC_COOKIE_SIZE) /* 232 */
#define TW_NC_HANDSHAKE_SIZE                                                \
  (1 + TW_NC_COOKIE_SIZE + TW_NONCE_SIZE + TW_NC_HANDSHAKE_PLAIN_SIZE + TW_MAC_SIZE) /* 385 */

/* Crypto data: [0x1b][low 2 bytes of the nonce, BE][box(plain)], at most
 * TW_NC_MAX_PACKET_SIZE bytes. plain: [buffer_start BE32][number BE32]
 * [zero padding][id][payload]. */
#define TW_NC_DATA_HEADER_SIZE 3
#define TW_NC_PLAIN_HEADER_SIZE 8
#define TW_NC_DATA_MIN_SIZE (TW_NC_DATA_HEADER_SIZE + TW_MAC_SIZE + TW_NC_PLAIN_HEADER_SIZE + 1)
#define TW_NC_MAX_PLAIN_SIZE (1400 - TW_NC_DATA_HEADER_SIZE - TW_MAC_SIZE)  /* 1381 */

/* ---- cookie ---- */

typedef struct tw_nc_cookie_plain {
  uint64_t time;    /* creation time in the creator's own units */
  tw_key real_pk;   /* the requester's long-term key */
  tw_key dht_pk;    /* the requester's DHT key */
} tw_nc_cookie_plain;

/* [nonce][secretbox(time BE64, real pk, dht pk)] under key. */
void tw_nc_cookie_seal(uint8_t out[TW_NC_COOKIE_SIZE], const tw_nc_cookie_plain *c,
                       const uint8_t nonce[TW_NONCE_SIZE], const uint8_t key[TW_SHARED_KEY_SIZE]);
/* TW_E_CRYPTO when key did not seal it. */
int tw_nc_cookie_open(tw_nc_cookie_plain *c, const uint8_t in[TW_NC_COOKIE_SIZE],
                      const uint8_t key[TW_SHARED_KEY_SIZE]);

/* ---- cookie request (0x18) and response (0x19) ---- */

/* [0x18][sender dht pk][nonce][box(real pk, 32 zero bytes, echo id BE64)],
 * sealed with the shared key of the two DHT keys. */
void tw_nc_cookie_request_encode(uint8_t out[TW_NC_COOKIE_REQUEST_SIZE],
                                 const tw_key *sender_dht_pk, const tw_key *sender_real_pk,
                                 uint64_t echo_id, const uint8_t nonce[TW_NONCE_SIZE],
                                 const uint8_t shared[TW_SHARED_KEY_SIZE]);
/* Checks kind and size and gives the sender's DHT key (to find the shared
 * key) without decrypting. TW_E_KIND, TW_E_SHORT, TW_E_LONG. */
int tw_nc_cookie_request_peek(tw_key *sender_dht_pk, const uint8_t *in, size_t len);
/* Opens a request that passed peek. The padding is not checked. */
int tw_nc_cookie_request_open(tw_key *sender_real_pk, uint64_t *echo_id, const uint8_t *in,
                              size_t len, const uint8_t shared[TW_SHARED_KEY_SIZE]);

/* [0x19][nonce][box(cookie, echo id BE64)] under the request's shared key. */
void tw_nc_cookie_response_encode(uint8_t out[TW_NC_COOKIE_RESPONSE_SIZE],
                                  const uint8_t cookie[TW_NC_COOKIE_SIZE], uint64_t echo_id,
                                  const uint8_t nonce[TW_NONCE_SIZE],
                                  const uint8_t shared[TW_SHARED_KEY_SIZE]);
int tw_nc_cookie_response_open(uint8_t cookie[TW_NC_COOKIE_SIZE], uint64_t *echo_id,
                               const uint8_t *in, size_t len,
                               const uint8_t shared[TW_SHARED_KEY_SIZE]);

/* ---- handshake (0x1a) ---- */

typedef struct tw_nc_handshake_plain {
  uint8_t base_nonce[TW_NONCE_SIZE];           /* the nonce the other side sends with */
  tw_key session_pk;
  uint8_t other_cookie[TW_NC_COOKIE_SIZE];     /* for the other side's handshake */
} tw_nc_handshake_plain;

/* [0x1a][cookie][nonce][box(base nonce, session pk, sha512(cookie), other
 * cookie)], sealed with the shared key of the two long-term keys. */
void tw_nc_handshake_encode(uint8_t out[TW_NC_HANDSHAKE_SIZE], const uint8_t cookie[TW_NC_COOKIE_SIZE],
                            const tw_nc_handshake_plain *h, const uint8_t nonce[TW_NONCE_SIZE],
                            const uint8_t shared[TW_SHARED_KEY_SIZE]);
/* Checks kind and size; *cookie points at the outer cookie inside in. */
int tw_nc_handshake_peek(const uint8_t **cookie, const uint8_t *in, size_t len);
/* Opens a handshake that passed peek; TW_E_CRYPTO when the box does not
 * open, TW_E_FORMAT when the hash is not that of the outer cookie. */
int tw_nc_handshake_open(tw_nc_handshake_plain *h, const uint8_t *in, size_t len,
                         const uint8_t shared[TW_SHARED_KEY_SIZE]);

/* ---- crypto data (0x1b) ---- */

/* Writes [0x1b][nonce[22..23]][box(plain)] into out (cap bytes);
 * returns the length, TW_E_LONG past TW_NC_MAX_PLAIN_SIZE / cap, or
 * TW_E_SHORT for a plain no receiver accepts (under 9 bytes). The open
 * functions below repeat the kind and size checks of their peeks. */
int tw_nc_data_seal(uint8_t *out, size_t cap, const uint8_t *plain, size_t plain_len,
                    const uint8_t nonce[TW_NONCE_SIZE], const uint8_t shared[TW_SHARED_KEY_SIZE]);
/* Kind and size checks; *low receives the nonce's two low bytes. */
int tw_nc_data_peek(uint16_t *low, const uint8_t *in, size_t len);
/* Opens into plain (at least len - TW_NC_DATA_HEADER_SIZE - TW_MAC_SIZE
 * bytes); returns the plain length or TW_E_CRYPTO. */
int tw_nc_data_open(uint8_t *plain, const uint8_t *in, size_t len,
                    const uint8_t nonce[TW_NONCE_SIZE], const uint8_t shared[TW_SHARED_KEY_SIZE]);

/* The plain part. */
typedef struct tw_nc_plain {
  uint32_t buffer_start; /* the sender has every packet below this */
  uint32_t number;       /* lossless: this packet's number; lossy: the next lossless number */
  const uint8_t *data;   /* [id][payload], padding skipped */
  size_t len;
} tw_nc_plain;

/* Writes the header, pad zero bytes, then data; returns the length,
 * TW_E_LONG, or TW_E_FORMAT for data that is empty or starts with 0 (it
 * would read back as padding). */
int tw_nc_plain_write(uint8_t *out, size_t cap, uint32_t buffer_start, uint32_t number,
                      size_t pad, const uint8_t *data, size_t len);
/* TW_E_SHORT without a header; TW_E_FORMAT when only padding follows;
 * TW_E_LONG past TW_NC_MAX_PLAIN_SIZE. */
int tw_nc_plain_read(tw_nc_plain *p, const uint8_t *in, size_t len);

/* ---- nonces ---- */

/* nonce += n, the nonce read as a 24-byte big-endian number. */
void tw_nc_nonce_add(uint8_t nonce[TW_NONCE_SIZE], uint32_t n);
/* The nonce a packet carrying low was sealed with, given the receiver's
 * saved base (spec: base + (uint16)(low - base's low two bytes)). *diff
 * receives that difference. */
void tw_nc_nonce_for_packet(uint8_t out[TW_NONCE_SIZE], const uint8_t base[TW_NONCE_SIZE],
                            uint16_t low, uint16_t *diff);

/* ---- packet request (data id 1) ---- */

/* [1][offsets]: each requested number as the distance from the previous
 * (the first from buffer_start - 1), a 0 byte adding 255. missing must be
 * ascending (in uint32 order from buffer_start). Returns the length
 * written; stops early (returning what fits, never half a number) when
 * cap runs out. *used receives how many numbers were written (0 on
 * error). TW_E_INVAL when missing is not strictly ascending from
 * buffer_start; TW_E_LONG when cap is 0. */
int tw_nc_packet_request_write(uint8_t *out, size_t cap, uint32_t buffer_start,
                               const uint32_t *missing, size_t count, size_t *used);
/* Reads the numbers requested by data = [1][offsets...] (the plain's data
 * span) relative to buffer_start; up to max into out. Returns how many, or
 * TW_E_SHORT (empty) / TW_E_KIND / TW_E_COUNT (more than max). Trailing
 * zero bytes request nothing. */
int tw_nc_packet_request_read(uint32_t *out, size_t max, uint32_t buffer_start,
                              const uint8_t *data, size_t len);

#endif
