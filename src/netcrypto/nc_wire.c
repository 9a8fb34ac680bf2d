#include "netcrypto/nc_wire.h"

#include <limits.h>
#include <string.h>

#include <sodium.h>

#include "core/crypto.h"
#include "core/packet_kind.h"
#include "toxwire/error.h"

/* The whole crypto data datagram, as the spec bounds it. */
#define DATA_MAX_SIZE (TW_NC_DATA_HEADER_SIZE + TW_MAC_SIZE + TW_NC_MAX_PLAIN_SIZE)

/* Offsets inside the fixed-size packets. */
#define REQ_NONCE (1 + TW_PUBLIC_KEY_SIZE)
#define REQ_BOX (REQ_NONCE + TW_NONCE_SIZE)
#define RESP_BOX (1 + TW_NONCE_SIZE)
#define HS_NONCE (1 + TW_NC_COOKIE_SIZE)
#define HS_BOX (HS_NONCE + TW_NONCE_SIZE)

/* Kind first, then exact size: a packet of another kind is not "short". */
static int check_fixed(const uint8_t *in, size_t len, uint8_t kind, size_t size) {
  if (len == 0) return TW_E_SHORT;
  if (in[0] != kind) return TW_E_KIND;
  if (len < size) return TW_E_SHORT;
  return len > size ? TW_E_LONG : TW_OK;
}

/* ---- cookie ---- */

void tw_nc_cookie_seal(uint8_t out[TW_NC_COOKIE_SIZE], const tw_nc_cookie_plain *c,
                       const uint8_t nonce[TW_NONCE_SIZE], const uint8_t key[TW_SHARED_KEY_SIZE]) {
  uint8_t plain[TW_NC_COOKIE_PLAIN_SIZE];
  tw_writer w = tw_writer_init(plain, sizeof plain);
  tw_write_u64(&w, c->time);
  tw_write_bytes(&w, c->real_pk.bytes, TW_PUBLIC_KEY_SIZE);
  tw_write_bytes(&w, c->dht_pk.bytes, TW_PUBLIC_KEY_SIZE);
  memcpy(out, nonce, TW_NONCE_SIZE);
  tw_box_seal(out + TW_NONCE_SIZE, plain, sizeof plain, nonce, key);
}

int tw_nc_cookie_open(tw_nc_cookie_plain *c, const uint8_t in[TW_NC_COOKIE_SIZE],
                      const uint8_t key[TW_SHARED_KEY_SIZE]) {
  uint8_t plain[TW_NC_COOKIE_PLAIN_SIZE];
  int e = tw_box_open(plain, in + TW_NONCE_SIZE, TW_NC_COOKIE_SIZE - TW_NONCE_SIZE, in, key);
  if (e != TW_OK) return e;
  tw_reader r = tw_reader_init(plain, sizeof plain);
  c->time = tw_read_u64(&r);
  tw_read_bytes(&r, c->real_pk.bytes, TW_PUBLIC_KEY_SIZE);
  tw_read_bytes(&r, c->dht_pk.bytes, TW_PUBLIC_KEY_SIZE);
  return TW_OK;
}

/* ---- cookie request and response ---- */

void tw_nc_cookie_request_encode(uint8_t out[TW_NC_COOKIE_REQUEST_SIZE],
                                 const tw_key *sender_dht_pk, const tw_key *sender_real_pk,
                                 uint64_t echo_id, const uint8_t nonce[TW_NONCE_SIZE],
                                 const uint8_t shared[TW_SHARED_KEY_SIZE]) {
  uint8_t plain[TW_NC_COOKIE_REQUEST_PLAIN_SIZE];
  tw_writer pw = tw_writer_init(plain, sizeof plain);
  tw_write_bytes(&pw, sender_real_pk->bytes, TW_PUBLIC_KEY_SIZE);
  uint8_t *pad = tw_write_span(&pw, TW_PUBLIC_KEY_SIZE); /* kept for old peers */
  memset(pad, 0, TW_PUBLIC_KEY_SIZE);
  tw_write_u64(&pw, echo_id);

  tw_writer w = tw_writer_init(out, TW_NC_COOKIE_REQUEST_SIZE);
  tw_write_u8(&w, TW_PACKET_COOKIE_REQUEST);
  tw_write_bytes(&w, sender_dht_pk->bytes, TW_PUBLIC_KEY_SIZE);
  tw_write_bytes(&w, nonce, TW_NONCE_SIZE);
  tw_box_seal(tw_write_span(&w, sizeof plain + TW_MAC_SIZE), plain, sizeof plain, nonce, shared);
}

int tw_nc_cookie_request_peek(tw_key *sender_dht_pk, const uint8_t *in, size_t len) {
  int e = check_fixed(in, len, TW_PACKET_COOKIE_REQUEST, TW_NC_COOKIE_REQUEST_SIZE);
  if (e != TW_OK) return e;
  memcpy(sender_dht_pk->bytes, in + 1, TW_PUBLIC_KEY_SIZE);
  return TW_OK;
}

int tw_nc_cookie_request_open(tw_key *sender_real_pk, uint64_t *echo_id, const uint8_t *in,
                              size_t len, const uint8_t shared[TW_SHARED_KEY_SIZE]) {
  int e = check_fixed(in, len, TW_PACKET_COOKIE_REQUEST, TW_NC_COOKIE_REQUEST_SIZE);
  if (e != TW_OK) return e;
  uint8_t plain[TW_NC_COOKIE_REQUEST_PLAIN_SIZE];
  e = tw_box_open(plain, in + REQ_BOX, len - REQ_BOX, in + REQ_NONCE, shared);
  if (e != TW_OK) return e;
  tw_reader r = tw_reader_init(plain, sizeof plain);
  tw_read_bytes(&r, sender_real_pk->bytes, TW_PUBLIC_KEY_SIZE);
  tw_read_span(&r, TW_PUBLIC_KEY_SIZE); /* padding: any content is accepted */
  *echo_id = tw_read_u64(&r);
  return TW_OK;
}

void tw_nc_cookie_response_encode(uint8_t out[TW_NC_COOKIE_RESPONSE_SIZE],
                                  const uint8_t cookie[TW_NC_COOKIE_SIZE], uint64_t echo_id,
                                  const uint8_t nonce[TW_NONCE_SIZE],
                                  const uint8_t shared[TW_SHARED_KEY_SIZE]) {
  uint8_t plain[TW_NC_COOKIE_RESPONSE_PLAIN_SIZE];
  tw_writer pw = tw_writer_init(plain, sizeof plain);
  tw_write_bytes(&pw, cookie, TW_NC_COOKIE_SIZE);
  tw_write_u64(&pw, echo_id);

  tw_writer w = tw_writer_init(out, TW_NC_COOKIE_RESPONSE_SIZE);
  tw_write_u8(&w, TW_PACKET_COOKIE_RESPONSE);
  tw_write_bytes(&w, nonce, TW_NONCE_SIZE);
  tw_box_seal(tw_write_span(&w, sizeof plain + TW_MAC_SIZE), plain, sizeof plain, nonce, shared);
}

int tw_nc_cookie_response_open(uint8_t cookie[TW_NC_COOKIE_SIZE], uint64_t *echo_id,
                               const uint8_t *in, size_t len,
                               const uint8_t shared[TW_SHARED_KEY_SIZE]) {
  int e = check_fixed(in, len, TW_PACKET_COOKIE_RESPONSE, TW_NC_COOKIE_RESPONSE_SIZE);
  if (e != TW_OK) return e;
  uint8_t plain[TW_NC_COOKIE_RESPONSE_PLAIN_SIZE];
  e = tw_box_open(plain, in + RESP_BOX, len - RESP_BOX, in + 1, shared);
  if (e != TW_OK) return e;
  tw_reader r = tw_reader_init(plain, sizeof plain);
  tw_read_bytes(&r, cookie, TW_NC_COOKIE_SIZE);
  *echo_id = tw_read_u64(&r);
  return TW_OK;
}

/* ---- handshake ---- */

void tw_nc_handshake_encode(uint8_t out[TW_NC_HANDSHAKE_SIZE], const uint8_t cookie[TW_NC_COOKIE_SIZE],
                            const tw_nc_handshake_plain *h, const uint8_t nonce[TW_NONCE_SIZE],
                            const uint8_t shared[TW_SHARED_KEY_SIZE]) {
  uint8_t plain[TW_NC_HANDSHAKE_PLAIN_SIZE];
  tw_writer pw = tw_writer_init(plain, sizeof plain);
  tw_write_bytes(&pw, h->base_nonce, TW_NONCE_SIZE);
  tw_write_bytes(&pw, h->session_pk.bytes, TW_PUBLIC_KEY_SIZE);
  /* Binds the box to this cookie, so an old box cannot ride a newer one. */
  crypto_hash_sha512(tw_write_span(&pw, TW_NC_SHA512_SIZE), cookie, TW_NC_COOKIE_SIZE);
  tw_write_bytes(&pw, h->other_cookie, TW_NC_COOKIE_SIZE);

  tw_writer w = tw_writer_init(out, TW_NC_HANDSHAKE_SIZE);
  tw_write_u8(&w, TW_PACKET_CRYPTO_HANDSHAKE);
  tw_write_bytes(&w, cookie, TW_NC_COOKIE_SIZE);
  tw_write_bytes(&w, nonce, TW_NONCE_SIZE);
  tw_box_seal(tw_write_span(&w, sizeof plain + TW_MAC_SIZE), plain, sizeof plain, nonce, shared);
}

int tw_nc_handshake_peek(const uint8_t **cookie, const uint8_t *in, size_t len) {
  int e = check_fixed(in, len, TW_PACKET_CRYPTO_HANDSHAKE, TW_NC_HANDSHAKE_SIZE);
  if (e != TW_OK) return e;
  *cookie = in + 1;
  return TW_OK;
}

int tw_nc_handshake_open(tw_nc_handshake_plain *h, const uint8_t *in, size_t len,
                         const uint8_t shared[TW_SHARED_KEY_SIZE]) {
  int e = check_fixed(in, len, TW_PACKET_CRYPTO_HANDSHAKE, TW_NC_HANDSHAKE_SIZE);
  if (e != TW_OK) return e;
  uint8_t plain[TW_NC_HANDSHAKE_PLAIN_SIZE];
  e = tw_box_open(plain, in + HS_BOX, len - HS_BOX, in + HS_NONCE, shared);
  if (e != TW_OK) return e;
  uint8_t hash[TW_NC_SHA512_SIZE];
  crypto_hash_sha512(hash, in + 1, TW_NC_COOKIE_SIZE);
  tw_reader r = tw_reader_init(plain, sizeof plain);
  tw_read_bytes(&r, h->base_nonce, TW_NONCE_SIZE);
  tw_read_bytes(&r, h->session_pk.bytes, TW_PUBLIC_KEY_SIZE);
  const uint8_t *got = tw_read_span(&r, TW_NC_SHA512_SIZE);
  tw_read_bytes(&r, h->other_cookie, TW_NC_COOKIE_SIZE);
  if (!tw_crypto_equal(got, hash, TW_NC_SHA512_SIZE)) {
    memset(h, 0, sizeof *h); /* a refused handshake must not look usable */
    return TW_E_FORMAT;
  }
  return TW_OK;
}

/* ---- crypto data ---- */

int tw_nc_data_seal(uint8_t *out, size_t cap, const uint8_t *plain, size_t plain_len,
                    const uint8_t nonce[TW_NONCE_SIZE], const uint8_t shared[TW_SHARED_KEY_SIZE]) {
  /* Refuse what no receiver would accept. */
  if (plain_len < TW_NC_PLAIN_HEADER_SIZE + 1) return TW_E_SHORT;
  if (plain_len > TW_NC_MAX_PLAIN_SIZE) return TW_E_LONG;
  tw_writer w = tw_writer_init(out, cap);
  tw_write_u8(&w, TW_PACKET_CRYPTO_DATA);
  tw_write_u16(&w, (uint16_t)((nonce[TW_NONCE_SIZE - 2] << 8) | nonce[TW_NONCE_SIZE - 1]));
  uint8_t *box = tw_write_span(&w, plain_len + TW_MAC_SIZE);
  if (box == NULL) return TW_E_LONG;
  tw_box_seal(box, plain, plain_len, nonce, shared);
  return (int)w.pos;
}

int tw_nc_data_peek(uint16_t *low, const uint8_t *in, size_t len) {
  if (len == 0) return TW_E_SHORT;
  if (in[0] != TW_PACKET_CRYPTO_DATA) return TW_E_KIND;
  if (len < TW_NC_DATA_MIN_SIZE) return TW_E_SHORT;
  if (len > DATA_MAX_SIZE) return TW_E_LONG;
  tw_reader r = tw_reader_init(in + 1, 2);
  *low = tw_read_u16(&r);
  return TW_OK;
}

int tw_nc_data_open(uint8_t *plain, const uint8_t *in, size_t len,
                    const uint8_t nonce[TW_NONCE_SIZE], const uint8_t shared[TW_SHARED_KEY_SIZE]) {
  uint16_t low;
  int e = tw_nc_data_peek(&low, in, len);
  if (e != TW_OK) return e;
  e = tw_box_open(plain, in + TW_NC_DATA_HEADER_SIZE, len - TW_NC_DATA_HEADER_SIZE, nonce, shared);
  if (e != TW_OK) return e;
  return (int)(len - TW_NC_DATA_HEADER_SIZE - TW_MAC_SIZE);
}

int tw_nc_plain_write(uint8_t *out, size_t cap, uint32_t buffer_start, uint32_t number,
                      size_t pad, const uint8_t *data, size_t len) {
  /* An id of 0 would read back as padding. */
  if (len == 0 || data[0] == 0) return TW_E_FORMAT;
  if (pad > TW_NC_MAX_PLAIN_SIZE || len > TW_NC_MAX_PLAIN_SIZE ||
      TW_NC_PLAIN_HEADER_SIZE + pad + len > TW_NC_MAX_PLAIN_SIZE)
    return TW_E_LONG;
  tw_writer w = tw_writer_init(out, cap);
  tw_write_u32(&w, buffer_start);
  tw_write_u32(&w, number);
  uint8_t *zeros = tw_write_span(&w, pad);
  if (zeros != NULL) memset(zeros, 0, pad);
  tw_write_bytes(&w, data, len);
  return tw_writer_ok(&w) ? (int)w.pos : TW_E_LONG;
}

int tw_nc_plain_read(tw_nc_plain *p, const uint8_t *in, size_t len) {
  if (len > TW_NC_MAX_PLAIN_SIZE) return TW_E_LONG;
  tw_reader r = tw_reader_init(in, len);
  p->buffer_start = tw_read_u32(&r);
  p->number = tw_read_u32(&r);
  if (!tw_reader_ok(&r)) return TW_E_SHORT;
  size_t pos = TW_NC_PLAIN_HEADER_SIZE;
  while (pos < len && in[pos] == 0) pos++;
  if (pos == len) return TW_E_FORMAT;
  p->data = in + pos;
  p->len = len - pos;
  return TW_OK;
}

/* ---- nonces ---- */

void tw_nc_nonce_add(uint8_t nonce[TW_NONCE_SIZE], uint32_t n) {
  uint64_t carry = n;
  for (int i = TW_NONCE_SIZE - 1; i >= 0 && carry != 0; i--) {
    carry += nonce[i];
    nonce[i] = (uint8_t)carry;
    carry >>= 8;
  }
}

void tw_nc_nonce_for_packet(uint8_t out[TW_NONCE_SIZE], const uint8_t base[TW_NONCE_SIZE],
                            uint16_t low, uint16_t *diff) {
  uint16_t base_low = (uint16_t)((base[TW_NONCE_SIZE - 2] << 8) | base[TW_NONCE_SIZE - 1]);
  uint16_t d = (uint16_t)(low - base_low); /* rolls over by design */
  memmove(out, base, TW_NONCE_SIZE);
  tw_nc_nonce_add(out, d);
  *diff = d;
}

/* ---- packet request ---- */

int tw_nc_packet_request_write(uint8_t *out, size_t cap, uint32_t buffer_start,
                               const uint32_t *missing, size_t count, size_t *used) {
  *used = 0;
  for (size_t i = 1; i < count; i++)
    if ((uint32_t)(missing[i] - buffer_start) <= (uint32_t)(missing[i - 1] - buffer_start))
      return TW_E_INVAL;
  /* buffer_start - 1 is already handled: its distance, 0, has no encoding. */
  if (count > 0 && missing[0] == (uint32_t)(buffer_start - 1)) return TW_E_INVAL;

  /* The length is returned as an int. */
  tw_writer w = tw_writer_init(out, cap > INT_MAX ? INT_MAX : cap);
  tw_write_u8(&w, 1);
  if (!tw_writer_ok(&w)) return TW_E_LONG;
  uint32_t prev = buffer_start - 1;
  size_t i = 0;
  for (; i < count; i++) {
    uint32_t d = missing[i] - prev;
    /* d = 255 * zeros + last, last in 1..255: a multiple of 255 ends in 255. */
    uint32_t zeros = (d - 1) / 255;
    uint8_t last = (uint8_t)(d - 255 * zeros);
    if (w.cap - w.pos < (size_t)zeros + 1) break; /* never half a number */
    memset(tw_write_span(&w, zeros), 0, zeros);
    tw_write_u8(&w, last);
    prev = missing[i];
  }
  *used = i;
  return (int)w.pos;
}

int tw_nc_packet_request_read(uint32_t *out, size_t max, uint32_t buffer_start,
                              const uint8_t *data, size_t len) {
  tw_reader r = tw_reader_init(data, len);
  uint8_t id = tw_read_u8(&r);
  if (!tw_reader_ok(&r)) return TW_E_SHORT;
  if (id != 1) return TW_E_KIND;
  uint32_t v = buffer_start - 1;
  size_t n = 0;
  while (tw_reader_left(&r) > 0) {
    uint8_t k = tw_read_u8(&r);
    if (k == 0) {
      v += 255;
      continue;
    }
    v += k;
    if (n == max || n == INT_MAX) return TW_E_COUNT;
    out[n++] = v;
  }
  return (int)n;
}
