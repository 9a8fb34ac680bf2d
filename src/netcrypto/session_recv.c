/* The receiving half of a session: finding the connection a crypto data
 * packet belongs to, its nonce, confirmation, and in-order delivery of
 * lossless data through the receive ring. */
#include <string.h>

#include "netcrypto/nc_internal.h"

#define NONCE_STEP 21845 /* a third of the 16-bit nonce space (spec) */

static bool in_session(const nc_conn *c) {
  return c->used && !c->remove_pending &&
         (c->state == TW_NC_ESTABLISHED || c->state == TW_NC_NOT_CONFIRMED);
}

static bool has_addr(const nc_conn *c, const tw_addr *from) {
  return tw_addr_equal(&c->addr, from) || tw_addr_equal(&c->tcp, from);
}

/* Data packets carry no key: the source address (UDP, or the relays' name
 * for the peer) names the session. */
static nc_conn *find_by_addr(tw_nc *nc, const tw_addr *from) {
  if (nc->last_hit < nc->conn_cap) {
    nc_conn *c = &nc->conns[nc->last_hit];
    if (in_session(c) && has_addr(c, from)) return c;
  }
  for (uint32_t i = 0; i < nc->conn_cap; i++) {
    nc_conn *c = &nc->conns[i];
    if (in_session(c) && has_addr(c, from)) {
      nc->last_hit = i;
      return c;
    }
  }
  return NULL;
}

static void deliver(tw_nc *nc, nc_conn *c, uint32_t number, const uint8_t *data, size_t len,
                    tw_time_ms now) {
  c->stats.bytes_received += len;
  tw_nc_event ev = {.kind = TW_NC_EV_LOSSLESS, .time = now, .data = data, .len = len,
                    .packet_number = number};
  tw_nc_emit(nc, c, &ev);
}

static int receive_lossless(tw_nc *nc, nc_conn *c, uint32_t number, const uint8_t *data,
                            size_t len, tw_time_ms now) {
  /* Acknowledged once per batch; a repeat too, since it means the sender
   * missed our acknowledgement. */
  if (c->ack_due == TW_NEVER) c->ack_due = now;
  uint32_t ahead = number - c->recv.start;
  if (ahead >= 0x80000000u) return TW_E_REPLAY;      /* delivered already */
  if (ahead >= TW_NC_BUFFER_PACKETS) return TW_E_FULL; /* beyond the window */
  uint32_t gen = c->gen;
  if (ahead == 0 && c->recv.start == c->recv.end) {
    /* In order with nothing held: straight through, no copy. */
    c->recv.start = c->recv.end = number + 1;
    deliver(nc, c, number, data, len, now);
    return TW_OK;
  }
  int e = tw_nc_ring_reserve(&c->recv, number);
  if (e != TW_OK) return e;
  nc_slot *s = tw_nc_ring_at(&c->recv, number);
  if (s->data != NULL) return TW_E_REPLAY;
  s->data = tw_nc_buf_get(nc);
  if (s->data == NULL) return TW_E_NOMEM;
  memcpy(s->data, data, len);
  s->len = (uint16_t)len;
  if (number - c->recv.start >= c->recv.end - c->recv.start) c->recv.end = number + 1;
  uint8_t buf[TW_NC_MAX_DATA_SIZE];
  while (c->gen == gen && c->recv.start != c->recv.end) {
    nc_slot *h = tw_nc_ring_at(&c->recv, c->recv.start);
    if (h->data == NULL) break;
    /* Copy out first: the handler may send, and the slot is reused. */
    size_t hl = h->len;
    uint32_t hn = c->recv.start;
    memcpy(buf, h->data, hl);
    tw_nc_buf_put(nc, h->data);
    *h = (nc_slot){0};
    c->recv.start++;
    deliver(nc, c, hn, buf, hl, now);
  }
  return TW_OK;
}

/* A lossy packet's number is the sender's next lossless number: anything
 * below it we lack was lost, and is asked for. */
static void note_sender_end(nc_conn *c, uint32_t end, tw_time_ms now) {
  uint32_t ahead = end - c->recv.start;
  if (ahead == 0 || ahead > TW_NC_BUFFER_PACKETS) return;
  if (ahead > c->recv.end - c->recv.start) {
    if (tw_nc_ring_reserve(&c->recv, end - 1) != TW_OK) return;
    c->recv.end = end;
    if (c->ack_due == TW_NEVER) c->ack_due = now;
  }
}

int tw_nc_handle_data(tw_nc *nc, const tw_addr *from, const uint8_t *pkt, size_t len,
                      tw_time_ms now) {
  uint16_t low;
  int e = tw_nc_data_peek(&low, pkt, len);
  if (e != TW_OK) return e;
  nc_conn *c = find_by_addr(nc, from);
  if (c == NULL) return TW_E_NOTFOUND;
  uint8_t nonce[TW_NONCE_SIZE];
  uint16_t diff;
  tw_nc_nonce_for_packet(nonce, c->recv_nonce, low, &diff);
  uint8_t plain[TW_NC_MAX_PLAIN_SIZE];
  int pl = tw_nc_data_open(plain, pkt, len, nonce, c->session_shared);
  if (pl < 0) return pl;
  if (diff > 2 * NONCE_STEP) tw_nc_nonce_add(c->recv_nonce, NONCE_STEP);
  tw_nc_plain p;
  e = tw_nc_plain_read(&p, plain, (size_t)pl);
  if (e != TW_OK) return e;
  nc->stats.data_in++;
  c->stats.packets_received++;
  tw_nc_conn_is_from(c, from, now);
  c->last_recv = now;
  uint32_t gen = c->gen;
  if (c->state == TW_NC_NOT_CONFIRMED) {
    c->next_try = TW_NEVER; /* no more handshakes */
    tw_nc_set_state(nc, c, TW_NC_ESTABLISHED, TW_OK, now);
    if (c->gen != gen || !in_session(c)) return TW_OK;
  }
  tw_nc_handle_acks(nc, c, p.buffer_start, now);
  if (c->gen != gen || !in_session(c)) return TW_OK;
  uint8_t id = p.data[0];
  if (id == TW_NC_ID_PACKET_REQUEST) {
    note_sender_end(c, p.number, now);
    tw_nc_handle_packet_request(nc, c, p.buffer_start, p.data, p.len, now);
    return TW_OK;
  }
  if (id == TW_NC_ID_KILL) {
    tw_nc_session_reset(nc, c, TW_E_NOROUTE, now);
    return TW_OK;
  }
  if (id < TW_NC_ID_FIRST_USER) return TW_E_KIND;
  if (id >= TW_NC_ID_FIRST_LOSSY && id <= TW_NC_ID_LAST_LOSSY) {
    note_sender_end(c, p.number, now);
    c->stats.bytes_received += p.len;
    tw_nc_event ev = {.kind = TW_NC_EV_LOSSY, .time = now, .data = p.data, .len = p.len};
    tw_nc_emit(nc, c, &ev);
    return TW_OK;
  }
  return receive_lossless(nc, c, p.number, p.data, p.len, now);
}
