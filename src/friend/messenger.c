/* Messenger: lifetime, the inputs from the layer below and where each
 * packet goes, timers, counters. Friends and their packets live in
 * msgr_friend.c, friend requests in friend_request.c, files in
 * file_transfer.c. */
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "friend/msgr_internal.h"

const char tw_msgr_log_module[] = "msgr";

static bool transport_complete(const tw_msgr_transport *t) {
  return t->friend_add && t->friend_remove && t->send_lossless && t->send_lossy &&
         t->delivered && t->send_space && t->send_onion_data;
}

tw_msgr *tw_msgr_new(const tw_msgr_config *cfg, const tw_env *env) {
  if (cfg == NULL || env == NULL || !transport_complete(&cfg->transport)) return NULL;
  if (cfg->name_len > TW_MSGR_MAX_NAME_LENGTH ||
      cfg->status_message_len > TW_MSGR_MAX_STATUS_MESSAGE_LENGTH ||
      (unsigned)cfg->user_status > TW_MSGR_USER_BUSY)
    return NULL;
  if ((cfg->name_len && !cfg->name) || (cfg->status_message_len && !cfg->status_message))
    return NULL;
  tw_msgr *m = calloc(1, sizeof *m);
  if (m == NULL) return NULL;
  m->self_pk = cfg->self_pk;
  m->nospam = cfg->nospam;
  if (cfg->name_len) memcpy(m->name, cfg->name, cfg->name_len);
  m->name_len = cfg->name_len;
  if (cfg->status_message_len)
    memcpy(m->status_message, cfg->status_message, cfg->status_message_len);
  m->status_message_len = cfg->status_message_len;
  m->user_status = cfg->user_status;
  m->t = cfg->transport;
  m->on_event = cfg->on_event;
  m->event_ctx = cfg->event_ctx;
  m->env = *env;
  return m;
}

void tw_msgr_free(tw_msgr *m) {
  if (m == NULL) return;
  for (uint32_t i = 0; i < m->friend_slots; i++) tw_msgr_friend_destroy(m->friends[i]);
  free(m);
}

void tw_msgr_emit(tw_msgr *m, tw_msgr_event *ev) {
  if (m->on_event == NULL) return;
  if (ev->pk == NULL && ev->kind != TW_MSGR_EV_FRIEND_REQUEST) {
    tw_msgr_friend *f = tw_msgr_friend_at(m, ev->friend_number);
    if (f != NULL) ev->pk = &f->pk;
  }
  m->busy = true;
  m->on_event(m->event_ctx, ev);
  m->busy = false;
}

int tw_msgr_drop(tw_msgr *m, int code) {
  if (code < 0 && code > TW_E__LAST) {
    m->stats.dropped[-code]++;
    m->stats.dropped_total++;
  }
  return code;
}

tw_msgr_friend *tw_msgr_friend_at(const tw_msgr *m, uint32_t friend_number) {
  return friend_number < m->friend_slots ? m->friends[friend_number] : NULL;
}

static tw_msgr_friend *friend_by_conn(const tw_msgr *m, uint32_t conn_id, uint32_t *fn) {
  for (uint32_t i = 0; i < m->friend_slots; i++) {
    if (m->friends[i] != NULL && m->friends[i]->conn_id == conn_id) {
      *fn = i;
      return m->friends[i];
    }
  }
  return NULL;
}

int tw_msgr_send_raw(tw_msgr *m, tw_msgr_friend *f, const uint8_t *data, size_t len,
                     uint32_t *number, tw_time_ms now) {
  if (!f->connected) return TW_E_NOROUTE;
  uint32_t n = 0;
  int rc = m->t.send_lossless(m->t.ctx, f->conn_id, data, len, &n, now);
  if (rc < 0) return rc;
  m->stats.lossless_out++;
  if (number != NULL) *number = n;
  return TW_OK;
}

int tw_msgr_send_packet(tw_msgr *m, tw_msgr_friend *f, const tw_msgr_packet *p,
                        uint32_t *number, tw_time_ms now) {
  uint8_t buf[TW_MSGR_MAX_PACKET];
  int n = tw_msgr_packet_encode(buf, sizeof buf, p);
  if (n < 0) return n;
  return tw_msgr_send_raw(m, f, buf, (size_t)n, number, now);
}

/* ---- inputs from below ---- */

int tw_msgr_handle_connection(tw_msgr *m, uint32_t conn_id, bool up, tw_time_ms now) {
  TW_MSGR_GUARD(m);
  uint32_t fn;
  tw_msgr_friend *f = friend_by_conn(m, conn_id, &fn);
  if (f == NULL) return tw_msgr_drop(m, TW_E_NOTFOUND);
  if (f->connected == up) return TW_OK;
  tw_msgr_friend_connection(m, fn, f, up, now);
  return TW_OK;
}

int tw_msgr_handle_lossless(tw_msgr *m, uint32_t conn_id, const uint8_t *data, size_t len,
                            tw_time_ms now) {
  TW_MSGR_GUARD(m);
  uint32_t fn;
  tw_msgr_friend *f = friend_by_conn(m, conn_id, &fn);
  if (f == NULL) return tw_msgr_drop(m, TW_E_NOTFOUND);
  if (!f->connected) return tw_msgr_drop(m, TW_E_NOROUTE);
  m->stats.lossless_in++;
  tw_msgr_packet p;
  int rc = tw_msgr_packet_decode(&p, data, len);
  if (rc != TW_OK) return tw_msgr_drop(m, rc);
  switch (p.id) {
  case TW_MSGR_ID_FILE_SENDREQUEST:
  case TW_MSGR_ID_FILE_CONTROL:
  case TW_MSGR_ID_FILE_DATA:
    rc = tw_msgr_file_handle_packet(m, fn, f, &p, now);
    break;
  default:
    rc = tw_msgr_friend_handle_packet(m, fn, f, &p, now);
    break;
  }
  return rc == TW_OK ? TW_OK : tw_msgr_drop(m, rc);
}

int tw_msgr_handle_lossy(tw_msgr *m, uint32_t conn_id, const uint8_t *data, size_t len,
                         tw_time_ms now) {
  TW_MSGR_GUARD(m);
  uint32_t fn;
  tw_msgr_friend *f = friend_by_conn(m, conn_id, &fn);
  if (f == NULL) return tw_msgr_drop(m, TW_E_NOTFOUND);
  m->stats.lossy_in++;
  tw_msgr_packet p;
  int rc = tw_msgr_lossy_decode(&p, data, len);
  if (rc != TW_OK) return tw_msgr_drop(m, rc);
  /* Only from a friend shown online, like its lossless packets. */
  if (!f->online) return tw_msgr_drop(m, TW_E_UNSOLICITED);
  tw_msgr_event ev = {.kind = TW_MSGR_EV_CUSTOM_LOSSY, .friend_number = fn, .time = now,
                      .data = data, .len = len};
  tw_msgr_emit(m, &ev);
  return TW_OK;
}

int tw_msgr_handle_acked(tw_msgr *m, uint32_t conn_id, tw_time_ms now) {
  TW_MSGR_GUARD(m);
  uint32_t fn;
  tw_msgr_friend *f = friend_by_conn(m, conn_id, &fn);
  if (f == NULL) return tw_msgr_drop(m, TW_E_NOTFOUND);
  if (!f->connected) return TW_OK;
  tw_msgr_receipts_check(m, fn, f, now);
  tw_msgr_friend_flush(m, f, now);
  tw_msgr_files_on_acked(m, fn, f, now);
  return TW_OK;
}

int tw_msgr_handle_onion_data(tw_msgr *m, const tw_key *sender, const uint8_t *data, size_t len,
                              tw_time_ms now) {
  TW_MSGR_GUARD(m);
  int rc = tw_msgr_request_handle(m, sender, data, len, now);
  return rc == TW_OK ? TW_OK : tw_msgr_drop(m, rc);
}

void tw_msgr_on_timer(tw_msgr *m, tw_time_ms now) {
  if (m->busy) return;
  tw_msgr_requests_on_timer(m, now);
}

tw_time_ms tw_msgr_next_deadline(const tw_msgr *m) { return tw_msgr_requests_deadline(m); }

void tw_msgr_get_stats(const tw_msgr *m, tw_msgr_stats *out) {
  *out = m->stats;
  out->friends = 0;
  out->online = 0;
  for (uint32_t i = 0; i < m->friend_slots; i++) {
    if (m->friends[i] == NULL) continue;
    out->friends++;
    out->online += m->friends[i]->online;
  }
}

const char *tw_msgr_event_kind_name(tw_msgr_event_kind k) {
  switch (k) {
  case TW_MSGR_EV_FRIEND_REQUEST: return "friend_request";
  case TW_MSGR_EV_CONNECTION: return "connection";
  case TW_MSGR_EV_NAME: return "name";
  case TW_MSGR_EV_STATUS_MESSAGE: return "status_message";
  case TW_MSGR_EV_USER_STATUS: return "user_status";
  case TW_MSGR_EV_TYPING: return "typing";
  case TW_MSGR_EV_MESSAGE: return "message";
  case TW_MSGR_EV_READ_RECEIPT: return "read_receipt";
  case TW_MSGR_EV_CUSTOM_LOSSLESS: return "custom_lossless";
  case TW_MSGR_EV_CUSTOM_LOSSY: return "custom_lossy";
  case TW_MSGR_EV_FILE_REQUEST: return "file_request";
  case TW_MSGR_EV_FILE_CHUNK: return "file_chunk";
  case TW_MSGR_EV_FILE_CONTROL: return "file_control";
  case TW_MSGR_EV_FILE_DONE: return "file_done";
  case TW_MSGR_EV_FILE_CLOSED: return "file_closed";
  }
  return "?";
}
