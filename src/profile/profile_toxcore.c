/* c-toxcore's unencrypted savedata ("State Format" in the Tox spec), as
 * c-toxcore 0.2.18 writes it (spec/profile.md, "c-toxcore savedata as
 * observed"). Read only: toxwire saves in its own format.
 *
 * Section headers are little-endian; inside the sections the nospam, the
 * friend records and the packed nodes are big-endian. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/node_info.h"
#include "profile/profile_internal.h"
#include "toxwire/error.h"
#include "toxwire/profile.h"

#define TC_MAGIC 0x15ED1B1Fu
#define TC_SECTION_COOKIE 0x01CE
#define TC_DHT_MAGIC 0x0159000Du
#define TC_DHT_COOKIE 0x11CE
#define TC_DHT_NODES 0x0004

enum {
  TC_NOSPAMKEYS = 0x01,
  TC_DHT = 0x02,
  TC_FRIENDS = 0x03,
  TC_NAME = 0x04,
  TC_STATUS_MESSAGE = 0x05,
  TC_STATUS = 0x06,
  TC_TCP_RELAYS = 0x0A,
  TC_PATH_NODES = 0x0B,
  TC_CONFERENCES = 0x14,
  TC_EOF = 0xFF,
};

/* Sections that may appear once. */
#define KNOWN_ONCE                                                                       \
  ((1u << TC_NOSPAMKEYS) | (1u << TC_DHT) | (1u << TC_FRIENDS) | (1u << TC_NAME) |        \
   (1u << TC_STATUS_MESSAGE) | (1u << TC_STATUS) | (1u << TC_TCP_RELAYS) |                \
   (1u << TC_PATH_NODES))

/* One friend record: status, key, request (1024 bytes + 1 padding + u16
 * length), name (128 + u16), status message (1007 + 1 padding + u16), user
 * status (+ 3 padding), nospam (u32), last seen (u64). */
#define TC_FRIEND_SIZE 2216
#define TC_REQUEST_FIELD 1024

/* Friend status values in the record. */
enum {
  TC_FRIEND_NONE = 0,      /* an empty slot */
  TC_FRIEND_ADDED = 1,     /* added by Tox ID, request not sent yet */
  TC_FRIEND_REQUESTED = 2, /* request sent, not accepted yet */
  TC_FRIEND_CONFIRMED = 3,
  TC_FRIEND_ONLINE = 4,
};

static uint32_t read_u32le(tw_reader *r) {
  const uint8_t *s = tw_read_span(r, 4);
  return s ? (uint32_t)s[0] | ((uint32_t)s[1] << 8) | ((uint32_t)s[2] << 16) |
                 ((uint32_t)s[3] << 24)
           : 0;
}

static uint16_t read_u16le(tw_reader *r) {
  const uint8_t *s = tw_read_span(r, 2);
  return s ? (uint16_t)(s[0] | (s[1] << 8)) : 0;
}

static int read_keys(tw_profile *p, tw_reader *s, char *why) {
  p->nospam = tw_read_u32(s); /* big-endian, as in the Tox ID */
  tw_read_bytes(s, p->keys.pk.bytes, TW_PUBLIC_KEY_SIZE);
  tw_read_bytes(s, p->keys.sk, TW_SECRET_KEY_SIZE);
  if (!tw_reader_done(s)) return tw_profile_fail(why, TW_E_FORMAT, "keys section is not 68 bytes");
  return TW_OK;
}

/* Packed nodes are hints: duplicates are merged and those over the limit
 * dropped, but a node that cannot be parsed means a damaged file. */
static int read_nodes(tw_profile *p, tw_reader *s, const char *what, char *why) {
  while (tw_reader_left(s) > 0) {
    tw_node_info n;
    int e = tw_node_info_unpack(s, &n);
    if (e == TW_E_FAMILY)
      return tw_profile_fail(why, TW_E_FORMAT, "%s: node with unknown address type", what);
    if (e != TW_OK) return tw_profile_fail(why, TW_E_FORMAT, "%s: node cut short", what);
    (void)tw_profile_add_node(p, &n);
  }
  return TW_OK;
}

static int read_dht(tw_profile *p, tw_reader *s, char *why) {
  if (read_u32le(s) != TC_DHT_MAGIC)
    return tw_profile_fail(why, TW_E_FORMAT, "DHT section: bad magic");
  while (tw_reader_left(s) > 0) {
    uint32_t len = read_u32le(s);
    uint16_t type = read_u16le(s);
    uint16_t cookie = read_u16le(s);
    const uint8_t *span = tw_read_span(s, len);
    if (span == NULL) return tw_profile_fail(why, TW_E_FORMAT, "DHT section: cut short");
    if (cookie != TC_DHT_COOKIE)
      return tw_profile_fail(why, TW_E_FORMAT, "DHT section: bad cookie 0x%04x", cookie);
    if (type != TC_DHT_NODES) continue;
    tw_reader nodes = tw_reader_init(span, len);
    int e = read_nodes(p, &nodes, "DHT nodes", why);
    if (e != TW_OK) return e;
  }
  return TW_OK;
}

static int read_friend(tw_profile *p, tw_reader *s, size_t i, tw_profile_friend *f, char *why) {
  memset(f, 0, sizeof *f);
  uint8_t status = tw_read_u8(s);
  tw_read_bytes(s, f->pk.bytes, TW_PUBLIC_KEY_SIZE);
  const uint8_t *request = tw_read_span(s, TC_REQUEST_FIELD);
  tw_read_u8(s);
  uint16_t request_len = tw_read_u16(s);
  const uint8_t *name = tw_read_span(s, TW_PROFILE_MAX_NAME);
  uint16_t name_len = tw_read_u16(s);
  const uint8_t *message = tw_read_span(s, TW_PROFILE_MAX_STATUS_MESSAGE);
  tw_read_u8(s);
  uint16_t message_len = tw_read_u16(s);
  f->user_status = tw_read_u8(s);
  tw_read_span(s, 3);
  f->nospam = tw_read_u32(s);
  f->last_seen_unix = tw_read_u64(s);
  if (!tw_reader_ok(s)) return tw_profile_fail(why, TW_E_FORMAT, "friend %zu cut short", i);

  if (status == TC_FRIEND_NONE) return TW_OK; /* nothing to keep */
  if (status > TC_FRIEND_ONLINE)
    return tw_profile_fail(why, TW_E_FORMAT, "friend %zu: status %u unknown", i, status);
  f->status = status >= TC_FRIEND_CONFIRMED ? TW_PROFILE_FRIEND_CONFIRMED
                                            : TW_PROFILE_FRIEND_REQUEST_SENT;
  if (f->user_status > TW_PROFILE_USER_BUSY)
    return tw_profile_fail(why, TW_E_FORMAT, "friend %zu: user status %u unknown", i,
                           f->user_status);
  if (request_len > TW_PROFILE_MAX_REQUEST_MESSAGE)
    return tw_profile_fail(why, TW_E_LONG, "friend %zu: request message longer than %d", i,
                           TW_PROFILE_MAX_REQUEST_MESSAGE);
  if (name_len > TW_PROFILE_MAX_NAME)
    return tw_profile_fail(why, TW_E_LONG, "friend %zu: name longer than %d", i,
                           TW_PROFILE_MAX_NAME);
  if (message_len > TW_PROFILE_MAX_STATUS_MESSAGE)
    return tw_profile_fail(why, TW_E_LONG, "friend %zu: status message longer than %d", i,
                           TW_PROFILE_MAX_STATUS_MESSAGE);
  memcpy(f->request_message, request, request_len);
  f->request_message_len = request_len;
  memcpy(f->name, name, name_len);
  f->name_len = name_len;
  memcpy(f->status_message, message, message_len);
  f->status_message_len = message_len;

  int e = tw_profile_add_friend(p, f);
  if (e == TW_E_FULL)
    return tw_profile_fail(why, TW_E_COUNT, "friend list longer than %d", TW_PROFILE_MAX_FRIENDS);
  if (e == TW_E_INVAL) return tw_profile_fail(why, TW_E_FORMAT, "friend %zu listed twice", i);
  if (e != TW_OK) return tw_profile_fail(why, e, "friend %zu: %s", i, tw_strerror(e));
  return TW_OK;
}

static int read_friends(tw_profile *p, tw_reader *s, char *why) {
  if (tw_reader_left(s) % TC_FRIEND_SIZE != 0)
    return tw_profile_fail(why, TW_E_FORMAT, "friends section is not whole %d-byte records",
                           TC_FRIEND_SIZE);
  /* A record is ~2 KB: not on the stack, for the fuzzer's sake. */
  tw_profile_friend *f = malloc(sizeof *f);
  if (f == NULL) return TW_E_NOMEM;
  int e = TW_OK;
  for (size_t i = 0; e == TW_OK && tw_reader_left(s) > 0; i++) e = read_friend(p, s, i, f, why);
  free(f);
  return e;
}

static int read_status(tw_profile *p, tw_reader *s, char *why) {
  p->user_status = tw_read_u8(s);
  if (!tw_reader_done(s)) return tw_profile_fail(why, TW_E_FORMAT, "status section is not 1 byte");
  if (p->user_status > TW_PROFILE_USER_BUSY)
    return tw_profile_fail(why, TW_E_FORMAT, "user status %u unknown", p->user_status);
  return TW_OK;
}

static int read_text(tw_reader *s, uint8_t *dst, uint16_t *dst_len, size_t max, const char *what,
                     char *why) {
  size_t n = tw_reader_left(s);
  if (n > max) return tw_profile_fail(why, TW_E_LONG, "%s longer than %zu (%zu)", what, max, n);
  tw_read_bytes(s, dst, n);
  *dst_len = (uint16_t)n;
  return TW_OK;
}

static int read_section(tw_profile *p, uint16_t type, tw_reader *s, char *why) {
  switch (type) {
  case TC_NOSPAMKEYS: return read_keys(p, s, why);
  case TC_DHT: return read_dht(p, s, why);
  case TC_FRIENDS: return read_friends(p, s, why);
  case TC_NAME: return read_text(s, p->name, &p->name_len, TW_PROFILE_MAX_NAME, "name", why);
  case TC_STATUS_MESSAGE:
    return read_text(s, p->status_message, &p->status_message_len,
                     TW_PROFILE_MAX_STATUS_MESSAGE, "status message", why);
  case TC_STATUS: return read_status(p, s, why);
  case TC_TCP_RELAYS: return read_nodes(p, s, "TCP relays", why);
  case TC_PATH_NODES: return read_nodes(p, s, "path nodes", why);
  default: return TW_OK; /* conferences, and what later versions add */
  }
}

static int decode(tw_profile *p, const uint8_t *in, size_t len, char *why) {
  tw_reader r = tw_reader_init(in, len);
  uint32_t zero = read_u32le(&r);
  uint32_t magic = read_u32le(&r);
  if (!tw_reader_ok(&r)) return tw_profile_fail(why, TW_E_SHORT, "truncated (%zu bytes)", len);
  if (zero != 0 || magic != TC_MAGIC)
    return tw_profile_fail(why, TW_E_FORMAT, "not c-toxcore savedata");
  uint32_t seen = 0; /* bit per known section type, to refuse repeats */
  for (;;) {
    size_t at = r.pos;
    if (tw_reader_left(&r) == 0)
      return tw_profile_fail(why, TW_E_SHORT, "truncated: no EOF section");
    uint32_t slen = read_u32le(&r);
    uint16_t type = read_u16le(&r);
    uint16_t cookie = read_u16le(&r);
    if (!tw_reader_ok(&r))
      return tw_profile_fail(why, TW_E_SHORT, "truncated (section header at %zu)", at);
    if (cookie != TC_SECTION_COOKIE)
      return tw_profile_fail(why, TW_E_FORMAT, "section at %zu: bad cookie 0x%04x", at, cookie);
    const uint8_t *span = tw_read_span(&r, slen);
    if (span == NULL)
      return tw_profile_fail(why, TW_E_SHORT, "truncated (section 0x%02x at %zu)", type, at);
    if (type == TC_EOF) break; /* 0.2.18 pads with zeroes after it */
    if (type < 32 && (KNOWN_ONCE & (1u << type))) {
      if (seen & (1u << type))
        return tw_profile_fail(why, TW_E_FORMAT, "section 0x%02x appears twice", type);
      seen |= 1u << type;
    }
    tw_reader s = tw_reader_init(span, slen);
    int e = read_section(p, type, &s, why);
    if (e != TW_OK) return e;
  }
  if (!(seen & (1u << TC_NOSPAMKEYS))) return tw_profile_fail(why, TW_E_FORMAT, "no keys section");
  return tw_profile_check(p, why);
}

int tw_profile_decode_toxcore(tw_profile *p, const uint8_t *in, size_t len, char *why) {
  tw_profile_init(p);
  int e = decode(p, in, len, why);
  if (e != TW_OK) tw_profile_clear(p);
  return e;
}
