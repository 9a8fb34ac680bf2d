/* The in-memory profile and toxwire's own profile format (spec/profile.md).
 *
 *   header    "toxwire profile" (15 bytes), version (u8), total length (u32)
 *   sections  type (u16), length (u32), body; unknown types are skipped
 *             unless their top bit marks them critical
 *   checksum  BLAKE2b-256 of everything before it
 *
 * Integers are big-endian, as everywhere else on the Tox wire. */
#include "toxwire/profile.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/node_info.h"
#include "profile/profile_internal.h"
#include "toxwire/error.h"

static const char MAGIC[] = "toxwire profile";
#define MAGIC_SIZE (sizeof MAGIC - 1) /* 15, no NUL */
#define HEADER_SIZE (MAGIC_SIZE + 1 + 4)
#define SECTION_HEADER_SIZE (2 + 4)
#define CHECKSUM_SIZE 32

enum {
  SECTION_KEYS = 0x0001,   /* pk, sk, nospam */
  SECTION_SELF = 0x0002,   /* user status, name, status message */
  SECTION_FRIEND = 0x0003, /* one friend */
  SECTION_NODES = 0x0004,  /* packed nodes: UDP nodes and TCP relays */
  SECTION_CRITICAL = 0x8000,
};

#define KEYS_BODY_SIZE (TW_PUBLIC_KEY_SIZE + TW_SECRET_KEY_SIZE + 4)
#define FRIEND_FIXED_SIZE (TW_PUBLIC_KEY_SIZE + 1 + 4 + 1 + 8 + 3 * 2)

int tw_profile_fail(char *why, int code, const char *fmt, ...) {
  if (why != NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, TW_PROFILE_WHY_SIZE, fmt, ap);
    va_end(ap);
  }
  return code;
}

/* ---- the in-memory profile ---- */

void tw_profile_init(tw_profile *p) { memset(p, 0, sizeof *p); }

void tw_profile_clear(tw_profile *p) {
  if (p->friends != NULL) {
    tw_crypto_wipe(p->friends, p->friend_cap * sizeof *p->friends);
    free(p->friends);
  }
  tw_crypto_wipe(p, sizeof *p);
}

static bool friend_fields_ok(const tw_profile_friend *f) {
  return (f->status == TW_PROFILE_FRIEND_REQUEST_SENT ||
          f->status == TW_PROFILE_FRIEND_CONFIRMED) &&
         f->user_status <= TW_PROFILE_USER_BUSY && f->name_len <= TW_PROFILE_MAX_NAME &&
         f->status_message_len <= TW_PROFILE_MAX_STATUS_MESSAGE &&
         f->request_message_len <= TW_PROFILE_MAX_REQUEST_MESSAGE;
}

tw_profile_friend *tw_profile_find_friend(const tw_profile *p, const tw_key *pk) {
  for (size_t i = 0; i < p->friend_count; i++)
    if (tw_crypto_equal(p->friends[i].pk.bytes, pk->bytes, TW_PUBLIC_KEY_SIZE))
      return &p->friends[i];
  return NULL;
}

int tw_profile_add_friend(tw_profile *p, const tw_profile_friend *f) {
  if (!friend_fields_ok(f) || tw_profile_find_friend(p, &f->pk) != NULL) return TW_E_INVAL;
  if (p->friend_count >= TW_PROFILE_MAX_FRIENDS) return TW_E_FULL;
  if (p->friend_count == p->friend_cap) {
    size_t cap = p->friend_cap ? 2 * p->friend_cap : 8;
    if (cap > TW_PROFILE_MAX_FRIENDS) cap = TW_PROFILE_MAX_FRIENDS;
    tw_profile_friend *grown = realloc(p->friends, cap * sizeof *grown);
    if (grown == NULL) return TW_E_NOMEM;
    p->friends = grown;
    p->friend_cap = cap;
  }
  p->friends[p->friend_count++] = *f;
  return TW_OK;
}

int tw_profile_remove_friend(tw_profile *p, const tw_key *pk) {
  tw_profile_friend *f = tw_profile_find_friend(p, pk);
  if (f == NULL) return TW_E_NOTFOUND;
  size_t i = (size_t)(f - p->friends);
  memmove(f, f + 1, (p->friend_count - i - 1) * sizeof *f);
  p->friend_count--;
  return TW_OK;
}

static size_t count_nodes(const tw_profile *p, bool tcp) {
  size_t n = 0;
  for (size_t i = 0; i < p->node_count; i++) n += p->nodes[i].tcp == tcp;
  return n;
}

static bool node_equal(const tw_node_info *a, const tw_node_info *b) {
  return a->tcp == b->tcp && tw_key_equal(&a->pk, &b->pk) && tw_addr_equal(&a->addr, &b->addr);
}

int tw_profile_append_node(tw_profile *p, const tw_node_info *n, char *why) {
  size_t limit = n->tcp ? TW_PROFILE_MAX_TCP_RELAYS : TW_PROFILE_MAX_UDP_NODES;
  if (count_nodes(p, n->tcp) >= limit || p->node_count >= TW_PROFILE_MAX_NODES)
    return tw_profile_fail(why, TW_E_COUNT, "more than %zu %s", limit,
                           n->tcp ? "TCP relays" : "DHT nodes");
  p->nodes[p->node_count++] = *n;
  return TW_OK;
}

int tw_profile_add_node(tw_profile *p, const tw_node_info *n) {
  if (n->addr.family != TW_AF_INET && n->addr.family != TW_AF_INET6) return TW_E_FAMILY;
  for (size_t i = 0; i < p->node_count; i++)
    if (node_equal(&p->nodes[i], n)) return TW_OK;
  return tw_profile_append_node(p, n, NULL) == TW_OK ? TW_OK : TW_E_FULL;
}

static bool text_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  return alen == blen && memcmp(a, b, alen) == 0;
}

static bool friend_equal(const tw_profile_friend *a, const tw_profile_friend *b) {
  return tw_key_equal(&a->pk, &b->pk) && a->status == b->status && a->nospam == b->nospam &&
         a->user_status == b->user_status && a->last_seen_unix == b->last_seen_unix &&
         text_equal(a->name, a->name_len, b->name, b->name_len) &&
         text_equal(a->status_message, a->status_message_len, b->status_message,
                    b->status_message_len) &&
         text_equal(a->request_message, a->request_message_len, b->request_message,
                    b->request_message_len);
}

bool tw_profile_equal(const tw_profile *a, const tw_profile *b) {
  if (!tw_key_equal(&a->keys.pk, &b->keys.pk) ||
      !tw_crypto_equal(a->keys.sk, b->keys.sk, TW_SECRET_KEY_SIZE) || a->nospam != b->nospam ||
      a->user_status != b->user_status || !text_equal(a->name, a->name_len, b->name, b->name_len) ||
      !text_equal(a->status_message, a->status_message_len, b->status_message,
                  b->status_message_len) ||
      a->friend_count != b->friend_count || a->node_count != b->node_count)
    return false;
  for (size_t i = 0; i < a->friend_count; i++)
    if (!friend_equal(&a->friends[i], &b->friends[i])) return false;
  for (size_t i = 0; i < a->node_count; i++)
    if (!node_equal(&a->nodes[i], &b->nodes[i])) return false;
  return true;
}

int tw_profile_check(const tw_profile *p, char *why) {
  tw_key pk;
  tw_public_key_from_secret(&pk, p->keys.sk);
  bool match = tw_crypto_equal(pk.bytes, p->keys.pk.bytes, TW_PUBLIC_KEY_SIZE);
  tw_crypto_wipe(&pk, sizeof pk);
  if (!match) return tw_profile_fail(why, TW_E_FORMAT, "secret key does not match public key");
  if (p->user_status > TW_PROFILE_USER_BUSY)
    return tw_profile_fail(why, TW_E_FORMAT, "user status %u unknown", p->user_status);
  if (p->name_len > TW_PROFILE_MAX_NAME)
    return tw_profile_fail(why, TW_E_LONG, "name longer than %d", TW_PROFILE_MAX_NAME);
  if (p->status_message_len > TW_PROFILE_MAX_STATUS_MESSAGE)
    return tw_profile_fail(why, TW_E_LONG, "status message longer than %d",
                           TW_PROFILE_MAX_STATUS_MESSAGE);
  if (p->friend_count > TW_PROFILE_MAX_FRIENDS)
    return tw_profile_fail(why, TW_E_COUNT, "friend list longer than %d", TW_PROFILE_MAX_FRIENDS);
  for (size_t i = 0; i < p->friend_count; i++) {
    const tw_profile_friend *f = &p->friends[i];
    if (!friend_fields_ok(f))
      return tw_profile_fail(why, TW_E_FORMAT, "friend %zu: a field is out of range", i);
    for (size_t j = 0; j < i; j++)
      if (tw_key_equal(&p->friends[j].pk, &f->pk))
        return tw_profile_fail(why, TW_E_INVAL, "friend %zu listed twice", j);
  }
  if (p->node_count > TW_PROFILE_MAX_NODES || count_nodes(p, false) > TW_PROFILE_MAX_UDP_NODES ||
      count_nodes(p, true) > TW_PROFILE_MAX_TCP_RELAYS)
    return tw_profile_fail(why, TW_E_COUNT, "too many nodes");
  for (size_t i = 0; i < p->node_count; i++)
    if (p->nodes[i].addr.family != TW_AF_INET && p->nodes[i].addr.family != TW_AF_INET6)
      return tw_profile_fail(why, TW_E_FAMILY, "node %zu has no IPv4 or IPv6 address", i);
  return TW_OK;
}

int tw_profile_read_text(tw_reader *r, uint8_t *dst, uint16_t *dst_len, size_t max,
                         const char *what, char *why) {
  uint16_t n = tw_read_u16(r);
  if (!tw_reader_ok(r)) return tw_profile_fail(why, TW_E_FORMAT, "%s cut short", what);
  if (n > max) return tw_profile_fail(why, TW_E_LONG, "%s longer than %zu (%u)", what, max, n);
  tw_read_bytes(r, dst, n);
  if (!tw_reader_ok(r)) return tw_profile_fail(why, TW_E_FORMAT, "%s cut short", what);
  *dst_len = n;
  return TW_OK;
}

/* ---- encoding ---- */

static size_t friend_body_size(const tw_profile_friend *f) {
  return FRIEND_FIXED_SIZE + f->name_len + f->status_message_len + f->request_message_len;
}

static void write_section_header(tw_writer *w, uint16_t type, size_t len) {
  tw_write_u16(w, type);
  tw_write_u32(w, (uint32_t)len);
}

int tw_profile_encode(const tw_profile *p, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  int e = tw_profile_check(p, NULL);
  if (e != TW_OK) return e;

  size_t self_size = 1 + 2 + p->name_len + 2 + p->status_message_len;
  size_t nodes_size = 0;
  for (size_t i = 0; i < p->node_count; i++) nodes_size += tw_node_info_packed_size(&p->nodes[i]);
  size_t n = HEADER_SIZE + SECTION_HEADER_SIZE + KEYS_BODY_SIZE + SECTION_HEADER_SIZE + self_size;
  for (size_t i = 0; i < p->friend_count; i++)
    n += SECTION_HEADER_SIZE + friend_body_size(&p->friends[i]);
  if (p->node_count > 0) n += SECTION_HEADER_SIZE + nodes_size;
  n += CHECKSUM_SIZE;

  uint8_t *buf = malloc(n);
  if (buf == NULL) return TW_E_NOMEM;
  tw_writer w = tw_writer_init(buf, n);
  tw_write_bytes(&w, MAGIC, MAGIC_SIZE);
  tw_write_u8(&w, TW_PROFILE_VERSION);
  tw_write_u32(&w, (uint32_t)n);

  write_section_header(&w, SECTION_KEYS, KEYS_BODY_SIZE);
  tw_write_bytes(&w, p->keys.pk.bytes, TW_PUBLIC_KEY_SIZE);
  tw_write_bytes(&w, p->keys.sk, TW_SECRET_KEY_SIZE);
  tw_write_u32(&w, p->nospam);

  write_section_header(&w, SECTION_SELF, self_size);
  tw_write_u8(&w, p->user_status);
  tw_write_u16(&w, p->name_len);
  tw_write_bytes(&w, p->name, p->name_len);
  tw_write_u16(&w, p->status_message_len);
  tw_write_bytes(&w, p->status_message, p->status_message_len);

  for (size_t i = 0; i < p->friend_count; i++) {
    const tw_profile_friend *f = &p->friends[i];
    write_section_header(&w, SECTION_FRIEND, friend_body_size(f));
    tw_write_bytes(&w, f->pk.bytes, TW_PUBLIC_KEY_SIZE);
    tw_write_u8(&w, f->status);
    tw_write_u32(&w, f->nospam);
    tw_write_u8(&w, f->user_status);
    tw_write_u64(&w, f->last_seen_unix);
    tw_write_u16(&w, f->name_len);
    tw_write_bytes(&w, f->name, f->name_len);
    tw_write_u16(&w, f->status_message_len);
    tw_write_bytes(&w, f->status_message, f->status_message_len);
    tw_write_u16(&w, f->request_message_len);
    tw_write_bytes(&w, f->request_message, f->request_message_len);
  }

  if (p->node_count > 0) {
    write_section_header(&w, SECTION_NODES, nodes_size);
    for (size_t i = 0; i < p->node_count; i++) tw_node_info_pack(&w, &p->nodes[i]);
  }

  uint8_t *sum = tw_write_span(&w, CHECKSUM_SIZE);
  if (sum == NULL || w.pos != n) { /* the size sum above is wrong: a bug */
    tw_profile_free_encoded(buf, n);
    return TW_E_INVAL;
  }
  crypto_generichash(sum, CHECKSUM_SIZE, buf, n - CHECKSUM_SIZE, NULL, 0);
  *out = buf;
  *len = n;
  return TW_OK;
}

void tw_profile_free_encoded(uint8_t *buf, size_t len) {
  if (buf == NULL) return;
  tw_crypto_wipe(buf, len);
  free(buf);
}

/* ---- decoding ---- */

static int read_keys(tw_profile *p, tw_reader *s, char *why) {
  tw_read_bytes(s, p->keys.pk.bytes, TW_PUBLIC_KEY_SIZE);
  tw_read_bytes(s, p->keys.sk, TW_SECRET_KEY_SIZE);
  p->nospam = tw_read_u32(s);
  if (!tw_reader_done(s))
    return tw_profile_fail(why, TW_E_FORMAT, "keys section is not %d bytes", KEYS_BODY_SIZE);
  tw_key pk;
  tw_public_key_from_secret(&pk, p->keys.sk);
  bool match = tw_crypto_equal(pk.bytes, p->keys.pk.bytes, TW_PUBLIC_KEY_SIZE);
  tw_crypto_wipe(&pk, sizeof pk);
  if (!match) return tw_profile_fail(why, TW_E_FORMAT, "secret key does not match public key");
  return TW_OK;
}

static int read_self(tw_profile *p, tw_reader *s, char *why) {
  p->user_status = tw_read_u8(s);
  if (p->user_status > TW_PROFILE_USER_BUSY)
    return tw_profile_fail(why, TW_E_FORMAT, "user status %u unknown", p->user_status);
  int e = tw_profile_read_text(s, p->name, &p->name_len, TW_PROFILE_MAX_NAME, "name", why);
  if (e == TW_OK)
    e = tw_profile_read_text(s, p->status_message, &p->status_message_len,
                             TW_PROFILE_MAX_STATUS_MESSAGE, "status message", why);
  if (e == TW_OK && !tw_reader_done(s))
    e = tw_profile_fail(why, TW_E_FORMAT, "self section has bytes after its fields");
  return e;
}

static int read_friend(tw_profile *p, tw_reader *s, char *why) {
  if (p->friend_count >= TW_PROFILE_MAX_FRIENDS)
    return tw_profile_fail(why, TW_E_COUNT, "friend list longer than %d", TW_PROFILE_MAX_FRIENDS);
  /* ~2 KB: on the heap, so a fuzzer's small stack is no concern */
  tw_profile_friend *f = calloc(1, sizeof *f);
  if (f == NULL) return TW_E_NOMEM;
  size_t i = p->friend_count;
  int e = TW_OK;
  tw_read_bytes(s, f->pk.bytes, TW_PUBLIC_KEY_SIZE);
  f->status = tw_read_u8(s);
  f->nospam = tw_read_u32(s);
  f->user_status = tw_read_u8(s);
  f->last_seen_unix = tw_read_u64(s);
  if (!tw_reader_ok(s))
    e = tw_profile_fail(why, TW_E_FORMAT, "friend %zu cut short", i);
  else if (f->status != TW_PROFILE_FRIEND_REQUEST_SENT && f->status != TW_PROFILE_FRIEND_CONFIRMED)
    e = tw_profile_fail(why, TW_E_FORMAT, "friend %zu: status %u unknown", i, f->status);
  else if (f->user_status > TW_PROFILE_USER_BUSY)
    e = tw_profile_fail(why, TW_E_FORMAT, "friend %zu: user status %u unknown", i,
                        f->user_status);
  if (e == TW_OK)
    e = tw_profile_read_text(s, f->name, &f->name_len, TW_PROFILE_MAX_NAME, "friend name", why);
  if (e == TW_OK)
    e = tw_profile_read_text(s, f->status_message, &f->status_message_len,
                             TW_PROFILE_MAX_STATUS_MESSAGE, "friend status message", why);
  if (e == TW_OK)
    e = tw_profile_read_text(s, f->request_message, &f->request_message_len,
                             TW_PROFILE_MAX_REQUEST_MESSAGE, "friend request message", why);
  if (e == TW_OK && !tw_reader_done(s))
    e = tw_profile_fail(why, TW_E_FORMAT, "friend %zu has bytes after its fields", i);
  if (e == TW_OK) {
    e = tw_profile_add_friend(p, f);
    if (e == TW_E_INVAL) e = tw_profile_fail(why, TW_E_FORMAT, "friend %zu listed twice", i);
    else if (e != TW_OK) e = tw_profile_fail(why, e, "friend %zu: %s", i, tw_strerror(e));
  }
  free(f);
  return e;
}

static int read_nodes(tw_profile *p, tw_reader *s, char *why) {
  while (tw_reader_left(s) > 0) {
    tw_node_info n;
    int e = tw_node_info_unpack(s, &n);
    if (e == TW_E_FAMILY)
      return tw_profile_fail(why, TW_E_FORMAT, "node with unknown address type");
    if (e != TW_OK) return tw_profile_fail(why, TW_E_FORMAT, "node cut short");
    e = tw_profile_append_node(p, &n, why);
    if (e != TW_OK) return e;
  }
  return TW_OK;
}

static int decode_own(tw_profile *p, const uint8_t *in, size_t len, char *why) {
  if (len < MAGIC_SIZE || memcmp(in, MAGIC, MAGIC_SIZE) != 0)
    return tw_profile_fail(why, TW_E_FORMAT, "not a toxwire profile");
  tw_reader r = tw_reader_init(in, len);
  tw_read_span(&r, MAGIC_SIZE);
  uint8_t version = tw_read_u8(&r);
  if (!tw_reader_ok(&r))
    return tw_profile_fail(why, TW_E_SHORT, "truncated (%zu bytes)", len);
  if (version != TW_PROFILE_VERSION)
    return tw_profile_fail(why, TW_E_FORMAT, "unknown version %u", version);
  uint32_t total = tw_read_u32(&r);
  if (!tw_reader_ok(&r))
    return tw_profile_fail(why, TW_E_SHORT, "truncated (%zu bytes)", len);
  if (total < HEADER_SIZE + CHECKSUM_SIZE)
    return tw_profile_fail(why, TW_E_FORMAT, "length field too small (%u)", total);
  if (len < total)
    return tw_profile_fail(why, TW_E_SHORT, "truncated (%zu of %u bytes)", len, total);
  if (len > total)
    return tw_profile_fail(why, TW_E_LONG, "%zu bytes after the end of the profile", len - total);

  uint8_t sum[CHECKSUM_SIZE];
  crypto_generichash(sum, sizeof sum, in, total - CHECKSUM_SIZE, NULL, 0);
  if (!tw_crypto_equal(sum, in + total - CHECKSUM_SIZE, CHECKSUM_SIZE))
    return tw_profile_fail(why, TW_E_CHECKSUM, "checksum mismatch");

  tw_reader body = tw_reader_init(in + HEADER_SIZE, total - HEADER_SIZE - CHECKSUM_SIZE);
  bool have_keys = false, have_self = false, have_nodes = false;
  while (tw_reader_left(&body) > 0) {
    uint16_t type = tw_read_u16(&body);
    uint32_t slen = tw_read_u32(&body);
    const uint8_t *span = tw_read_span(&body, slen);
    if (span == NULL)
      return tw_profile_fail(why, TW_E_FORMAT, "section 0x%04x runs past the end", type);
    tw_reader s = tw_reader_init(span, slen);
    int e = TW_OK;
    switch (type) {
    case SECTION_KEYS:
      e = have_keys ? tw_profile_fail(why, TW_E_FORMAT, "two keys sections")
                    : read_keys(p, &s, why);
      have_keys = true;
      break;
    case SECTION_SELF:
      e = have_self ? tw_profile_fail(why, TW_E_FORMAT, "two self sections")
                    : read_self(p, &s, why);
      have_self = true;
      break;
    case SECTION_FRIEND:
      e = read_friend(p, &s, why);
      break;
    case SECTION_NODES:
      e = have_nodes ? tw_profile_fail(why, TW_E_FORMAT, "two nodes sections")
                     : read_nodes(p, &s, why);
      have_nodes = true;
      break;
    default:
      /* A later version's addition: skip it, unless it says we must not. */
      if (type & SECTION_CRITICAL)
        e = tw_profile_fail(why, TW_E_FORMAT, "unknown critical section 0x%04x", type);
      break;
    }
    if (e != TW_OK) return e;
  }
  if (!have_keys) return tw_profile_fail(why, TW_E_FORMAT, "no keys section");
  return tw_profile_check(p, why);
}

int tw_profile_decode(tw_profile *p, const uint8_t *in, size_t len, char *why) {
  tw_profile_init(p);
  int e = decode_own(p, in, len, why);
  if (e != TW_OK) tw_profile_clear(p);
  return e;
}

/* 2: in starts with magic; 1: in is a proper prefix of it (cut short). */
static int starts_with(const uint8_t *in, size_t len, const void *magic, size_t mlen) {
  if (len >= mlen) return memcmp(in, magic, mlen) == 0 ? 2 : 0;
  return len > 0 && memcmp(in, magic, len) == 0 ? 1 : 0;
}

int tw_profile_decode_any(tw_profile *p, const uint8_t *in, size_t len, char *why) {
  static const uint8_t toxcore[8] = {0, 0, 0, 0, 0x1f, 0x1b, 0xed, 0x15};
  int own = starts_with(in, len, MAGIC, MAGIC_SIZE);
  int tc = starts_with(in, len, toxcore, sizeof toxcore);
  int enc = starts_with(in, len, "toxEsave", 8);
  if (own == 2) return tw_profile_decode(p, in, len, why);
  if (tc == 2) return tw_profile_decode_toxcore(p, in, len, why);
  tw_profile_init(p);
  if (enc == 2)
    return tw_profile_fail(why, TW_E_FORMAT,
                           "encrypted c-toxcore profile (toxEsave): decrypt it first");
  if (len == 0) return tw_profile_fail(why, TW_E_SHORT, "empty");
  if (own || tc || enc) return tw_profile_fail(why, TW_E_SHORT, "truncated (%zu bytes)", len);
  return tw_profile_fail(why, TW_E_FORMAT, "neither a toxwire profile nor c-toxcore savedata");
}
