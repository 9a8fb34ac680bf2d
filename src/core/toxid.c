#include "toxwire/toxid.h"

#include <sodium.h>
#include <string.h>

#include "core/buf.h"
#include "toxwire/error.h"

static void checksum(const uint8_t *in, uint8_t out[2]) {
  out[0] = out[1] = 0;
  for (size_t i = 0; i < TW_PUBLIC_KEY_SIZE + 4; i++) out[i % 2] ^= in[i];
}

void tw_toxid_pack(const tw_toxid *id, uint8_t out[TW_TOXID_SIZE]) {
  tw_writer w = tw_writer_init(out, TW_TOXID_SIZE);
  tw_write_bytes(&w, id->pk.bytes, TW_PUBLIC_KEY_SIZE);
  tw_write_u32(&w, id->nospam);
  checksum(out, out + TW_PUBLIC_KEY_SIZE + 4);
}

int tw_toxid_unpack(tw_toxid *id, const uint8_t *in, size_t len) {
  if (len < TW_TOXID_SIZE) return TW_E_SHORT;
  if (len > TW_TOXID_SIZE) return TW_E_LONG;
  uint8_t sum[2];
  checksum(in, sum);
  if (sum[0] != in[TW_TOXID_SIZE - 2] || sum[1] != in[TW_TOXID_SIZE - 1])
    return TW_E_CHECKSUM;
  tw_reader r = tw_reader_init(in, len);
  tw_read_bytes(&r, id->pk.bytes, TW_PUBLIC_KEY_SIZE);
  id->nospam = tw_read_u32(&r);
  return TW_OK;
}

static const char HEX[] = "0123456789ABCDEF";

static void hex_upper(char *out, const uint8_t *in, size_t n) {
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = HEX[in[i] >> 4];
    out[2 * i + 1] = HEX[in[i] & 15];
  }
  out[2 * n] = '\0';
}

const char *tw_toxid_format(const tw_toxid *id, char out[TW_TOXID_HEXLEN]) {
  uint8_t raw[TW_TOXID_SIZE];
  tw_toxid_pack(id, raw);
  hex_upper(out, raw, sizeof raw);
  return out;
}

int tw_toxid_parse(tw_toxid *id, const char *text) {
  size_t n = strlen(text);
  if (n < 2 * TW_TOXID_SIZE) return TW_E_SHORT;
  if (n > 2 * TW_TOXID_SIZE) return TW_E_LONG;
  uint8_t raw[TW_TOXID_SIZE];
  size_t got = 0;
  const char *end = NULL;
  if (sodium_hex2bin(raw, sizeof raw, text, n, NULL, &got, &end) != 0 ||
      got != sizeof raw || end != text + n)
    return TW_E_HEX;
  return tw_toxid_unpack(id, raw, sizeof raw);
}

/* Key hex helpers live here too: they share the encoder. */
const char *tw_key_to_hex(const tw_key *k, char out[TW_KEY_HEXLEN]) {
  hex_upper(out, k->bytes, TW_PUBLIC_KEY_SIZE);
  return out;
}

int tw_key_from_hex(tw_key *k, const char *hex, size_t len) {
  if (len < 2 * TW_PUBLIC_KEY_SIZE) return TW_E_SHORT;
  if (len > 2 * TW_PUBLIC_KEY_SIZE) return TW_E_LONG;
  size_t got = 0;
  const char *end = NULL;
  if (sodium_hex2bin(k->bytes, TW_PUBLIC_KEY_SIZE, hex, len, NULL, &got, &end) != 0 ||
      got != TW_PUBLIC_KEY_SIZE || end != hex + len)
    return TW_E_HEX;
  return TW_OK;
}

bool tw_key_equal(const tw_key *a, const tw_key *b) {
  return memcmp(a->bytes, b->bytes, TW_PUBLIC_KEY_SIZE) == 0;
}

int tw_key_distance_cmp(const tw_key *base, const tw_key *a, const tw_key *b) {
  for (int i = 0; i < TW_PUBLIC_KEY_SIZE; i++) {
    uint8_t da = a->bytes[i] ^ base->bytes[i];
    uint8_t db = b->bytes[i] ^ base->bytes[i];
    if (da != db) return da < db ? -1 : 1;
  }
  return 0;
}

int tw_key_common_prefix(const tw_key *a, const tw_key *b) {
  for (int i = 0; i < TW_PUBLIC_KEY_SIZE; i++) {
    uint8_t x = a->bytes[i] ^ b->bytes[i];
    if (x != 0) return i * 8 + __builtin_clz(x) - 24;
  }
  return 8 * TW_PUBLIC_KEY_SIZE;
}
