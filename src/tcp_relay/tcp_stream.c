/* Framing of a TCP relay stream. spec/tcp_relay.md, "Frames". */
#include "tcp_relay/tcp_stream.h"

#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "tcp_relay/tcp_wire.h"

#define QUEUE_MIN_CAP 4096

void tw_tcp_stream_clear(tw_tcp_stream *st) {
  free(st->part);
  free(st->q);
  tw_crypto_wipe(st, sizeof *st);
}

bool tw_tcp_stream_partial(const tw_tcp_stream *st) {
  return st->hdr_have > 0 || (st->part != NULL && !st->part_done);
}

int tw_tcp_stream_next(tw_tcp_stream *st, const uint8_t **p, size_t *n, size_t fixed,
                       const uint8_t **msg, size_t *msg_len) {
  if (st->part_done) { /* the message handed out last time is finished with */
    free(st->part);
    st->part = NULL;
    st->part_done = false;
    st->part_need = st->part_have = 0;
  }
  if (st->part == NULL) {
    size_t need = fixed;
    if (fixed == 0) {
      while (st->hdr_have < 2 && *n > 0) {
        st->hdr[st->hdr_have++] = **p;
        (*p)++;
        (*n)--;
      }
      if (st->hdr_have < 2) return 0;
      need = (size_t)st->hdr[0] << 8 | st->hdr[1];
      if (need > TW_TCP_MAX_FRAME_CIPHER) return TW_E_LONG;
      if (need <= TW_MAC_SIZE) return TW_E_SHORT;
    }
    if (*n >= need) { /* the whole message is in this read: no copy */
      *msg = *p;
      *msg_len = need;
      *p += need;
      *n -= need;
      st->hdr_have = 0;
      return 1;
    }
    if (*n == 0) return 0;
    st->part = malloc(need);
    if (st->part == NULL) return TW_E_NOMEM;
    st->part_need = (uint16_t)need;
    st->part_have = 0;
  }
  size_t take = st->part_need - st->part_have;
  if (take > *n) take = *n;
  memcpy(st->part + st->part_have, *p, take);
  st->part_have = (uint16_t)(st->part_have + take);
  *p += take;
  *n -= take;
  if (st->part_have < st->part_need) return 0;
  st->part_done = true;
  st->hdr_have = 0;
  *msg = st->part;
  *msg_len = st->part_need;
  return 1;
}

int tw_tcp_stream_open(tw_tcp_stream *st, const uint8_t *box, size_t len, uint8_t *plain) {
  int rc = tw_box_open(plain, box, len, st->recv_nonce, st->shared);
  if (rc == TW_OK) tw_tcp_nonce_increment(st->recv_nonce);
  return rc;
}

/* Makes room for n more bytes at the tail; returns the tail or NULL. */
static uint8_t *reserve(tw_tcp_stream *st, size_t n) {
  if (st->q_head + st->q_len + n <= st->q_cap) return st->q + st->q_head + st->q_len;
  if (st->q_len + n <= st->q_cap && st->q_head >= st->q_cap / 2) {
    memmove(st->q, st->q + st->q_head, st->q_len);
    st->q_head = 0;
    return st->q + st->q_len;
  }
  size_t cap = st->q_cap ? st->q_cap : QUEUE_MIN_CAP;
  while (cap < st->q_len + n) cap *= 2;
  uint8_t *q = malloc(cap);
  if (q == NULL) return NULL;
  if (st->q_len) memcpy(q, st->q + st->q_head, st->q_len);
  free(st->q);
  st->q = q;
  st->q_cap = cap;
  st->q_head = 0;
  return q + st->q_len;
}

int tw_tcp_stream_seal(tw_tcp_stream *st, const uint8_t *plain, size_t len, size_t limit) {
  size_t box = len + TW_MAC_SIZE;
  if (box > TW_TCP_MAX_FRAME_CIPHER) return TW_E_LONG;
  if (st->q_len + 2 + box > limit) return TW_E_FULL;
  uint8_t *t = reserve(st, 2 + box);
  if (t == NULL) return TW_E_NOMEM;
  t[0] = (uint8_t)(box >> 8);
  t[1] = (uint8_t)box;
  tw_box_seal(t + 2, plain, len, st->send_nonce, st->shared);
  tw_tcp_nonce_increment(st->send_nonce);
  st->q_len += 2 + box;
  return TW_OK;
}

int tw_tcp_stream_queue_raw(tw_tcp_stream *st, const uint8_t *bytes, size_t len) {
  uint8_t *t = reserve(st, len);
  if (t == NULL) return TW_E_NOMEM;
  memcpy(t, bytes, len);
  st->q_len += len;
  return TW_OK;
}

long tw_tcp_stream_write(tw_tcp_stream *st, tw_tcp_write_fn *write, void *ctx, void *user) {
  long total = 0;
  while (st->q_len > 0) {
    long w = write(ctx, user, st->q + st->q_head, st->q_len);
    if (w < 0) return -1;
    if (w == 0) break;
    if ((size_t)w > st->q_len) w = (long)st->q_len; /* a confused writer */
    st->q_head += (size_t)w;
    st->q_len -= (size_t)w;
    total += w;
  }
  if (st->q_len == 0) { /* given back when drained: thousands of quiet clients cost little */
    free(st->q);
    st->q = NULL;
    st->q_cap = st->q_head = 0;
  }
  return total;
}
