/* Shared by the two profile decoders (profile.c: toxwire's format,
 * profile_toxcore.c: c-toxcore's savedata). */
#ifndef TW_PROFILE_INTERNAL_H
#define TW_PROFILE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "toxwire/profile.h"

/* Writes the reason into why (if not NULL) and returns code. */
int tw_profile_fail(char *why, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks what no single field shows: the secret key gives the public key,
 * every status is known, every text and list within its limit, no friend
 * listed twice. TW_OK or the code and reason. */
int tw_profile_check(const tw_profile *p, char *why);

/* Reads a big-endian u16 length and then that many bytes into dst (max
 * bytes at most). what names the field in why. */
int tw_profile_read_text(tw_reader *r, uint8_t *dst, uint16_t *dst_len, size_t max,
                         const char *what, char *why);

/* Appends n without looking for duplicates (a decoded list is kept as it
 * was written). TW_E_COUNT and why when its kind is full. */
int tw_profile_append_node(tw_profile *p, const tw_node_info *n, char *why);

#endif
