/* The sending half of a session: numbering and sealing data packets, the
 * send ring, what the peer's acknowledgements and packet requests tell us,
 * retransmission, and the congestion window.
 *
 * Congestion control is ours (the wire does not fix it): a window of
 * packets in flight that doubles per round trip (slow start) until a loss
 * or until the round trip shows a queue, then grows by an eighth per round
 * trip, and halves once per loss episode (a requested packet sent after
 * the last halving). Requested packets go out whatever the window; a
 * timeout resends the oldest and doubles while nothing is confirmed.
 * spec/netcrypto.md says why each rule is there. c-toxcore peers only see
 * the packet requests and acknowledgements the spec defines. */
#include <string.h>

#include "netcrypto/nc_internal.h"

static bool is_lossy_id(uint8_t id) { return id >= TW_NC_ID_FIRST_LOSSY && id <= TW_NC_ID_LAST_LOSSY; }

int tw_nc_send_data_packet(tw_nc *nc, nc_conn *c, uint32_t number, const uint8_t *data,
                           size_t len, tw_time_ms now) {
  uint8_t plain[TW_NC_MAX_PLAIN_SIZE];
  int pl = tw_nc_plain_write(plain, sizeof plain, c->recv.start, number, 0, data, len);
  if (pl < 0) return pl;
  uint8_t pkt[TW_NC_MAX_PACKET_SIZE];
  int n = tw_nc_data_seal(pkt, sizeof pkt, plain, (size_t)pl, c->send_nonce, c->session_shared);
  if (n < 0) return n;
  tw_nc_nonce_add(c->send_nonce, 1);
  tw_nc_transmit(nc, c, pkt, (size_t)n, false, now);
  nc->stats.data_out++;
  c->stats.packets_sent++;
  /* Every data packet carries our buffer start: a pending plain
   * acknowledgement is paid, unless there are gaps to ask for. */
  if (c->recv.start == c->recv.end) c->ack_due = TW_NEVER;
  return TW_OK;
}

/* Writes [1][numbers missing from the receive ring] and sends it. */
void tw_nc_send_packet_request(tw_nc *nc, nc_conn *c, tw_time_ms now) {
  uint32_t missing[TW_NC_MAX_DATA_SIZE];
  size_t count = 0;
  for (uint32_t n = c->recv.start; n != c->recv.end && count < TW_NC_MAX_DATA_SIZE - 1; n++)
    if (tw_nc_ring_at(&c->recv, n)->data == NULL) missing[count++] = n;
  uint8_t data[TW_NC_MAX_DATA_SIZE];
  size_t used;
  int len = tw_nc_packet_request_write(data, sizeof data, c->recv.start, missing, count, &used);
  if (len < 0) return;
  tw_nc_send_data_packet(nc, c, c->next_new, data, (size_t)len, now);
  c->stats.requests_sent++;
  c->last_request_sent = now;
  c->ack_due = TW_NEVER;
}

static void send_slot(tw_nc *nc, nc_conn *c, uint32_t number, tw_time_ms now) {
  nc_slot *s = tw_nc_ring_at(&c->send, number);
  if (tw_nc_send_data_packet(nc, c, number, s->data, s->len, now) != TW_OK) return;
  if (s->sends > 0) c->stats.packets_resent++;
  if (s->sends < UINT8_MAX) s->sends++;
  s->sent_at = now;
  if (!s->counted) {
    s->counted = true;
    c->in_flight++;
  }
  if (c->send.start + 1 == c->next_new && c->last_progress < now) c->last_progress = now;
}

/* Sends what the window allows: resends first, then new packets. */
void tw_nc_flush(tw_nc *nc, nc_conn *c, tw_time_ms now) {
  if (c->state != TW_NC_ESTABLISHED && c->state != TW_NC_NOT_CONFIRMED) return;
  uint32_t gen = c->gen;
  /* Packets the peer asked for go at once, whatever the window: they
   * replace packets that left the network, and a window still counting
   * packets a request cannot name would otherwise hold them back for a
   * timeout each (seen against c-toxcore, whose requests come every 50 ms). */
  for (uint32_t n = c->send.start; c->resend_pending > 0 && n != c->next_new; n++) {
    nc_slot *s = tw_nc_ring_at(&c->send, n);
    if (s->data == NULL || !s->resend) continue;
    s->resend = false;
    c->resend_pending--;
    send_slot(nc, c, n, now);
    if (c->gen != gen) return;
  }
  while (c->next_new != c->send.end && c->in_flight < c->window) {
    send_slot(nc, c, c->next_new++, now);
    if (c->gen != gen) return;
  }
}

int tw_nc_send_lossless(tw_nc *nc, uint32_t id, const uint8_t *data, size_t len,
                        uint32_t *number, tw_time_ms now) {
  nc_conn *c = tw_nc_conn_get(nc, id);
  if (c == NULL) return TW_E_NOTFOUND;
  if (data == NULL || len == 0) return TW_E_INVAL;
  if (len > TW_NC_MAX_DATA_SIZE) return TW_E_LONG;
  if (data[0] < TW_NC_ID_FIRST_USER || is_lossy_id(data[0])) return TW_E_KIND;
  if (c->state != TW_NC_ESTABLISHED) return TW_E_NOROUTE;
  /* The queue follows the window (about two), not the 32768 packets the
   * peer could hold: a sender that fills it as fast as it can (a flood of
   * custom packets) keeps its memory to what the link can carry. */
  if (tw_nc_conn_send_space(nc, id) == 0) return TW_E_FULL;
  uint32_t n = c->send.end;
  int e = tw_nc_ring_reserve(&c->send, n);
  if (e != TW_OK) return e;
  uint8_t *b = tw_nc_buf_get(nc);
  if (b == NULL) return TW_E_NOMEM;
  memcpy(b, data, len);
  nc_slot *s = tw_nc_ring_at(&c->send, n);
  *s = (nc_slot){.data = b, .len = (uint16_t)len};
  c->send.end = n + 1;
  c->stats.bytes_sent += len;
  if (number != NULL) *number = n;
  tw_nc_flush(nc, c, now);
  return TW_OK;
}

int tw_nc_send_lossy(tw_nc *nc, uint32_t id, const uint8_t *data, size_t len, tw_time_ms now) {
  nc_conn *c = tw_nc_conn_get(nc, id);
  if (c == NULL) return TW_E_NOTFOUND;
  if (data == NULL || len == 0) return TW_E_INVAL;
  if (len > TW_NC_MAX_DATA_SIZE) return TW_E_LONG;
  if (!is_lossy_id(data[0])) return TW_E_KIND;
  if (c->state != TW_NC_ESTABLISHED) return TW_E_NOROUTE;
  c->stats.bytes_sent += len;
  return tw_nc_send_data_packet(nc, c, c->next_new, data, len, now);
}

static void rtt_sample(nc_conn *c, uint32_t sample) {
  if (c->srtt_ms == 0 && c->rttvar_ms == 0) {
    c->srtt_ms = sample;
    c->rttvar_ms = sample / 2;
    c->min_rtt_ms = sample;
    return;
  }
  uint32_t dev = sample > c->srtt_ms ? sample - c->srtt_ms : c->srtt_ms - sample;
  c->rttvar_ms = (3 * c->rttvar_ms + dev) / 4;
  c->srtt_ms = (7 * c->srtt_ms + sample) / 8;
  if (sample < c->min_rtt_ms) c->min_rtt_ms = sample;
}

static void grow_window(nc_conn *c, uint32_t acked) {
  if (c->window < c->ssthresh) {
    /* Slow start ends early when the round trip grows well past the
     * smallest seen: a queue (a socket buffer) is filling, and doubling
     * on would lose a burst. */
    if (c->srtt_ms > 2 * c->min_rtt_ms + TW_NC_QUEUE_DELAY_MS) {
      c->ssthresh = c->window;
    } else {
      c->window += acked;
    }
  } else {
    /* One packet per 8 confirmed: the window grows by an eighth a round
     * trip, so a peer that answers in bursts (c-toxcore polls every 50 ms,
     * which looks like a long, jumpy round trip) still gets a full link
     * within a second or two. */
    c->grow_acc += acked;
    c->window += c->grow_acc / TW_NC_GROWTH_DIVISOR;
    c->grow_acc %= TW_NC_GROWTH_DIVISOR;
  }
  if (c->window > TW_NC_BUFFER_PACKETS) c->window = TW_NC_BUFFER_PACKETS;
}

/* Takes a packet out of the in-flight count (arrived, lost or assumed
 * arrived). */
static void uncount(nc_conn *c, nc_slot *s) {
  if (s->counted) {
    s->counted = false;
    c->in_flight--;
  }
}

static void mark_resend(nc_conn *c, nc_slot *s) {
  if (s->resend) return;
  s->resend = true;
  c->resend_pending++;
  uncount(c, s);
}

/* One packet confirmed: frees it and settles the window's accounting. */
static void settle(tw_nc *nc, nc_conn *c, nc_slot *s) {
  if (s->resend) c->resend_pending--;
  uncount(c, s);
  tw_nc_buf_put(nc, s->data);
  *s = (nc_slot){.acked = true};
}

void tw_nc_handle_acks(tw_nc *nc, nc_conn *c, uint32_t buffer_start, tw_time_ms now) {
  uint32_t advance = buffer_start - c->send.start;
  /* Only numbers we sent can be confirmed; anything else is ignored. */
  if (advance == 0 || advance > c->next_new - c->send.start) return;
  uint32_t acked = 0;
  /* A round trip is measured only over a range sent once and confirmed in
   * one go: a hole filled late would count its repair time as delay. */
  bool clean = true;
  tw_time_ms newest = 0;
  for (uint32_t n = c->send.start; n != buffer_start; n++) {
    nc_slot *s = tw_nc_ring_at(&c->send, n);
    if (s->data != NULL) {
      acked++;
      if (s->sends != 1) clean = false;
      newest = s->sent_at;
      settle(nc, c, s);
    } else {
      clean = false;
    }
    *s = (nc_slot){0};
  }
  c->send.start = buffer_start;
  c->last_progress = now;
  c->rto_backoff = 0;
  if (clean && newest != 0) rtt_sample(c, (uint32_t)(now - newest));
  grow_window(c, acked);
  tw_nc_event ev = {.kind = TW_NC_EV_ACKED, .time = now, .send_acked = c->send.start};
  uint32_t gen = c->gen;
  tw_nc_emit(nc, c, &ev);
  if (c->gen == gen) tw_nc_flush(nc, c, now);
}

static tw_time_ms reorder_window(const nc_conn *c) {
  tw_time_ms spread = 4 * (tw_time_ms)c->rttvar_ms;
  return (tw_time_ms)c->srtt_ms + (spread > 2 ? spread : 2);
}

void tw_nc_handle_packet_request(tw_nc *nc, nc_conn *c, uint32_t buffer_start,
                                 const uint8_t *data, size_t len, tw_time_ms now) {
  c->stats.requests_received++;
  /* A request is news from the peer: not a reason to time out. */
  if (c->send.start != c->next_new) c->last_progress = now;
  uint32_t req[TW_NC_MAX_DATA_SIZE];
  int count = tw_nc_packet_request_read(req, TW_NC_MAX_DATA_SIZE, buffer_start, data, len);
  if (count <= 0) return;
  uint32_t outstanding = c->next_new - c->send.start;
  uint32_t prev = c->send.start; /* numbers in [prev, req[i]) have arrived */
  bool loss = false;
  for (int i = 0; i < count; i++) {
    uint32_t r = req[i];
    if (r - c->send.start >= 0x80000000u) continue; /* already confirmed */
    if (r - c->send.start >= outstanding) break;    /* past what we sent */
    for (uint32_t n = prev; n != r; n++) {
      nc_slot *s = tw_nc_ring_at(&c->send, n);
      if (s->data != NULL) settle(nc, c, s);
    }
    prev = r + 1;
    nc_slot *s = tw_nc_ring_at(&c->send, r);
    if (s->data == NULL || s->resend || s->sent_at == 0) continue;
    /* A packet sent less than a round trip (and some reordering) ago may
     * still be on its way: the next request will say. */
    if (now - s->sent_at < reorder_window(c)) continue;
    mark_resend(c, s);
    if (r - c->recovery_point < 0x80000000u) loss = true;
  }
  /* Packets past the last one asked for cannot be named by a request. Those
   * sent a round trip ago have most likely arrived; they leave the count
   * (their data stays until confirmed: a lost tail is resent on timeout). */
  tw_time_ms old_enough = now - reorder_window(c);
  for (uint32_t n = prev; n != c->next_new; n++) {
    nc_slot *s = tw_nc_ring_at(&c->send, n);
    if (s->data == NULL || !s->counted) continue;
    if (s->sent_at > old_enough) break;
    uncount(c, s);
  }
  if (loss) {
    c->window = c->window / 2 > TW_NC_MIN_WINDOW ? c->window / 2 : TW_NC_MIN_WINDOW;
    c->ssthresh = c->window;
    c->recovery_point = c->next_new;
  }
  tw_nc_flush(nc, c, now);
}

/* Doubled for each timeout in a row: a peer that acknowledges rarely
 * (c-toxcore asks for packets about once a second when little arrives)
 * must not be taken for a lost link every 50 ms. */
static tw_time_ms rto(const nc_conn *c) {
  tw_time_ms t = (tw_time_ms)c->srtt_ms * 2 + 4 * (tw_time_ms)c->rttvar_ms;
  if (t < TW_NC_MIN_RTO_MS) t = TW_NC_MIN_RTO_MS;
  t <<= c->rto_backoff;
  if (t > TW_NC_MAX_RTO_MS) t = TW_NC_MAX_RTO_MS;
  return t;
}

static tw_time_ms hole_interval(const nc_conn *c) {
  tw_time_ms t = 2 * (tw_time_ms)c->srtt_ms + 10;
  return t > TW_NC_REQUEST_INTERVAL_MS ? TW_NC_REQUEST_INTERVAL_MS : t;
}

tw_time_ms tw_nc_send_deadline(const nc_conn *c) {
  tw_time_ms d = c->ack_due;
  if (c->recv.start != c->recv.end) {
    tw_time_ms h = c->last_request_sent + hole_interval(c);
    if (h < d) d = h;
  }
  if (c->send.start != c->next_new) {
    tw_time_ms r = c->last_progress + rto(c);
    if (r < d) d = r;
  }
  return d;
}

void tw_nc_send_timers(tw_nc *nc, nc_conn *c, tw_time_ms now) {
  uint32_t gen = c->gen;
  if (c->ack_due <= now ||
      (c->recv.start != c->recv.end && c->last_request_sent + hole_interval(c) <= now)) {
    tw_nc_send_packet_request(nc, c, now);
    if (c->gen != gen) return;
  }
  if (c->send.start != c->next_new && c->last_progress + rto(c) <= now) {
    /* Nothing confirmed for a while: the oldest packet (or the tail) was
     * lost with nobody to ask for it. */
    /* One backoff per episode: a peer slow to fill a hole (c-toxcore asks
     * every 50-100 ms) must not halve the window at every timeout. */
    if (c->send.start - c->recovery_point < 0x80000000u) {
      c->window = c->window / 2 > TW_NC_MIN_WINDOW ? c->window / 2 : TW_NC_MIN_WINDOW;
      c->ssthresh = c->window;
      c->recovery_point = c->next_new;
    }
    c->last_progress = now;
    if (c->rto_backoff < 5) c->rto_backoff++;
    /* Our packet request carries our next number, so the peer learns what
     * it lacks at the tail and asks for all of it; the oldest unconfirmed
     * packet goes now, whatever the window says. */
    tw_nc_send_packet_request(nc, c, now);
    if (c->gen != gen) return;
    for (uint32_t n = c->send.start; n != c->next_new; n++) {
      nc_slot *s = tw_nc_ring_at(&c->send, n);
      if (s->data == NULL) continue;
      if (s->resend) {
        s->resend = false;
        c->resend_pending--;
      }
      send_slot(nc, c, n, now);
      break;
    }
    if (c->gen == gen) tw_nc_flush(nc, c, now);
  }
}
