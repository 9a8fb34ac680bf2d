/* Friend requests (spec "Friend requests"): our nospam and address; sending
 * requests by onion with a doubling interval until the friend comes
 * online; receiving them with the nospam checked and repeats dropped. */
#include <string.h>

#include "core/log.h"
#include "friend/msgr_internal.h"

void tw_msgr_get_address(const tw_msgr *m, uint8_t out[TW_TOXID_SIZE]) {
  tw_toxid id = {.pk = m->self_pk, .nospam = m->nospam};
  tw_toxid_pack(&id, out);
}

void tw_msgr_set_nospam(tw_msgr *m, uint32_t nospam) { m->nospam = nospam; }

uint32_t tw_msgr_get_nospam(const tw_msgr *m) { return m->nospam; }

/* ---- sending ---- */

/* One attempt. Sent: the next waits the current interval, which doubles.
 * Not sent (the onion has not found the friend): try again soon, as the
 * interval is a minimum, not a promise. */
static void request_send(tw_msgr *m, tw_msgr_friend *f, tw_time_ms now) {
  uint8_t buf[TW_MSGR_FRIEND_REQUEST_MAX];
  tw_msgr_friend_request req = {.nospam = f->request_nospam, .message = f->request_message,
                                .message_len = f->request_len};
  int n = tw_msgr_friend_request_encode(buf, sizeof buf, &req);
  int rc = n < 0 ? n : m->t.send_onion_data(m->t.ctx, &f->pk, buf, (size_t)n, now);
  if (rc < 0) {
    f->request_next = now + TW_MSGR_REQUEST_RETRY_MS;
    return;
  }
  m->stats.requests_sent++;
  f->request_next = now + f->request_interval;
  if (f->request_interval < TW_MSGR_REQUEST_MAX_INTERVAL_MS) f->request_interval *= 2;
}

void tw_msgr_request_start(tw_msgr *m, tw_msgr_friend *f, uint32_t nospam, const uint8_t *msg,
                           size_t len, tw_time_ms now) {
  f->request_pending = true;
  f->request_nospam = nospam;
  memcpy(f->request_message, msg, len);
  f->request_len = len;
  f->request_interval = TW_MSGR_REQUEST_FIRST_INTERVAL_MS;
  request_send(m, f, now);
}

void tw_msgr_requests_on_timer(tw_msgr *m, tw_time_ms now) {
  for (uint32_t i = 0; i < m->friend_slots; i++) {
    tw_msgr_friend *f = m->friends[i];
    if (f != NULL && f->request_pending && f->request_next <= now) request_send(m, f, now);
  }
}

tw_time_ms tw_msgr_requests_deadline(const tw_msgr *m) {
  tw_time_ms next = TW_NEVER;
  for (uint32_t i = 0; i < m->friend_slots; i++) {
    const tw_msgr_friend *f = m->friends[i];
    if (f != NULL && f->request_pending && f->request_next < next) next = f->request_next;
  }
  return next;
}

/* ---- receiving ---- */

static bool recently_seen(const tw_msgr *m, const tw_key *pk) {
  for (int i = 0; i < m->recent_count; i++)
    if (tw_key_equal(&m->recent[i], pk)) return true;
  return false;
}

static void remember(tw_msgr *m, const tw_key *pk) {
  m->recent[m->recent_next] = *pk;
  m->recent_next = (uint8_t)((m->recent_next + 1) % TW_MSGR_RECENT_REQUESTS);
  if (m->recent_count < TW_MSGR_RECENT_REQUESTS) m->recent_count++;
}

int tw_msgr_request_handle(tw_msgr *m, const tw_key *sender, const uint8_t *data, size_t len,
                           tw_time_ms now) {
  tw_msgr_friend_request req;
  int rc = tw_msgr_friend_request_decode(&req, data, len);
  if (rc != TW_OK) return rc;
  if (tw_key_equal(sender, &m->self_pk)) return TW_E_SELF;
  /* A nospam we did not (or no longer) hand out. */
  if (req.nospam != m->nospam) return TW_E_EXPIRED;
  /* Already a friend, or asked already: requests are sent again and again. */
  if (tw_msgr_friend_by_pk(m, sender, NULL) == TW_OK) return TW_E_REPLAY;
  if (recently_seen(m, sender)) return TW_E_REPLAY;
  remember(m, sender);
  m->stats.requests_received++;
  char hex[TW_KEY_HEXLEN];
  tw_log(&m->env.log, TW_LOG_INFO, tw_msgr_log_module, "friend request from %s",
         tw_key_to_hex(sender, hex));
  tw_msgr_event ev = {.kind = TW_MSGR_EV_FRIEND_REQUEST, .time = now, .pk = sender,
                      .data = req.message, .len = req.message_len};
  tw_msgr_emit(m, &ev);
  return TW_OK;
}
