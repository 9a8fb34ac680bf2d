/* A growable byte buffer for the unit tests' in-memory sockets (the TCP
 * relay and tcp_conns harnesses). Header-only, like testutil.h. */
#ifndef TW_TESTS_UNIT_BYTEBUF_H
#define TW_TESTS_UNIT_BYTEBUF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct bytebuf {
  uint8_t *p;
  size_t len, cap;
} bytebuf;

static inline void buf_append(bytebuf *b, const uint8_t *p, size_t n) {
  if (n == 0) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    uint8_t *np = realloc(b->p, cap);
    if (np == NULL) abort();
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static inline void buf_free(bytebuf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

#endif
