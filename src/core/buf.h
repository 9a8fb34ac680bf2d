/* Bounds-checked reading and writing of wire bytes.
 *
 * Every parser of untrusted input reads through tw_reader. A read past the
 * end does not happen: it sets the reader's error flag, returns zeroes, and
 * every later read fails too, so a parser may read a whole structure and
 * check tw_reader_ok() once at the end. The writer works the same way. */
#ifndef TW_CORE_BUF_H
#define TW_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct tw_reader {
  const uint8_t *p;
  size_t len;
  size_t pos;
  bool failed;
} tw_reader;

typedef struct tw_writer {
  uint8_t *p;
  size_t cap;
  size_t pos;
  bool failed;
} tw_writer;

static inline tw_reader tw_reader_init(const uint8_t *p, size_t len) {
  tw_reader r = {p, len, 0, false};
  return r;
}
static inline size_t tw_reader_left(const tw_reader *r) {
  return r->failed ? 0 : r->len - r->pos;
}
static inline bool tw_reader_ok(const tw_reader *r) { return !r->failed; }
/* True when everything was read and nothing failed. */
static inline bool tw_reader_done(const tw_reader *r) {
  return !r->failed && r->pos == r->len;
}

/* Returns a pointer to the next n bytes and advances, or NULL (and fails). */
static inline const uint8_t *tw_read_span(tw_reader *r, size_t n) {
  if (r->failed || r->len - r->pos < n) {
    r->failed = true;
    return NULL;
  }
  const uint8_t *s = r->p + r->pos;
  r->pos += n;
  return s;
}
static inline void tw_read_bytes(tw_reader *r, void *out, size_t n) {
  const uint8_t *s = tw_read_span(r, n);
  if (s != NULL)
    memcpy(out, s, n);
  else
    memset(out, 0, n);
}
static inline uint8_t tw_read_u8(tw_reader *r) {
  const uint8_t *s = tw_read_span(r, 1);
  return s ? s[0] : 0;
}
static inline uint16_t tw_read_u16(tw_reader *r) {
  const uint8_t *s = tw_read_span(r, 2);
  return s ? (uint16_t)((s[0] << 8) | s[1]) : 0;
}
static inline uint32_t tw_read_u32(tw_reader *r) {
  const uint8_t *s = tw_read_span(r, 4);
  return s ? ((uint32_t)s[0] << 24) | ((uint32_t)s[1] << 16) |
                 ((uint32_t)s[2] << 8) | s[3]
           : 0;
}
static inline uint64_t tw_read_u64(tw_reader *r) {
  const uint8_t *s = tw_read_span(r, 8); /* one span: all or nothing */
  uint64_t v = 0;
  for (int i = 0; s != NULL && i < 8; i++) v = (v << 8) | s[i];
  return v;
}
/* The rest of the input, as a span. */
static inline const uint8_t *tw_read_rest(tw_reader *r, size_t *n) {
  *n = tw_reader_left(r);
  return tw_read_span(r, *n);
}

static inline tw_writer tw_writer_init(uint8_t *p, size_t cap) {
  tw_writer w = {p, cap, 0, false};
  return w;
}
static inline bool tw_writer_ok(const tw_writer *w) { return !w->failed; }
/* Reserves n bytes and returns where they start, or NULL (and fails). */
static inline uint8_t *tw_write_span(tw_writer *w, size_t n) {
  if (w->failed || w->cap - w->pos < n) {
    w->failed = true;
    return NULL;
  }
  uint8_t *s = w->p + w->pos;
  w->pos += n;
  return s;
}
static inline void tw_write_bytes(tw_writer *w, const void *in, size_t n) {
  uint8_t *s = tw_write_span(w, n);
  if (s != NULL && n > 0)
    memcpy(s, in, n);
}
static inline void tw_write_u8(tw_writer *w, uint8_t v) {
  uint8_t *s = tw_write_span(w, 1);
  if (s) s[0] = v;
}
static inline void tw_write_u16(tw_writer *w, uint16_t v) {
  uint8_t *s = tw_write_span(w, 2);
  if (s) { s[0] = (uint8_t)(v >> 8); s[1] = (uint8_t)v; }
}
static inline void tw_write_u32(tw_writer *w, uint32_t v) {
  uint8_t *s = tw_write_span(w, 4);
  if (s) {
    s[0] = (uint8_t)(v >> 24); s[1] = (uint8_t)(v >> 16);
    s[2] = (uint8_t)(v >> 8); s[3] = (uint8_t)v;
  }
}
static inline void tw_write_u64(tw_writer *w, uint64_t v) {
  tw_write_u32(w, (uint32_t)(v >> 32));
  tw_write_u32(w, (uint32_t)v);
}

#endif
