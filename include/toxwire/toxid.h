/* Tox IDs: what a user shares to be added as a friend. On the wire and in
 * text it is the long-term public key, a 4-byte nospam and a 2-byte checksum
 * (the XOR of the preceding 36 bytes taken two at a time). */
#ifndef TOXWIRE_TOXID_H
#define TOXWIRE_TOXID_H

#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TW_TOXID_SIZE (TW_PUBLIC_KEY_SIZE + 4 + 2)
#define TW_TOXID_HEXLEN (2 * TW_TOXID_SIZE + 1)

typedef struct tw_toxid {
  tw_key pk;
  uint32_t nospam;
} tw_toxid;

/* 38 bytes; the checksum is computed. */
void tw_toxid_pack(const tw_toxid *id, uint8_t out[TW_TOXID_SIZE]);
/* TW_E_SHORT / TW_E_LONG on wrong length, TW_E_CHECKSUM on a bad checksum. */
int tw_toxid_unpack(tw_toxid *id, const uint8_t *in, size_t len);
/* 76 uppercase hex digits. */
const char *tw_toxid_format(const tw_toxid *id, char out[TW_TOXID_HEXLEN]);
/* Accepts either case; rejects any other length, non-hex text or a bad
 * checksum, each with its own code. */
int tw_toxid_parse(tw_toxid *id, const char *text);

#ifdef __cplusplus
}
#endif
#endif
