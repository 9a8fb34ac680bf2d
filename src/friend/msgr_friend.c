/* Friends: the table, online status (ONLINE / OFFLINE), what we tell each
 * friend about ourselves (NICKNAME, STATUSMESSAGE, USERSTATUS, TYPING),
 * messages with receipts, and custom packets. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "friend/msgr_internal.h"

/* ---- the table ---- */

static int friend_create(tw_msgr *m, const tw_key *pk, uint32_t *out, tw_time_ms now) {
  if (tw_key_equal(pk, &m->self_pk)) return TW_E_SELF;
  uint32_t fn;
  if (tw_msgr_friend_by_pk(m, pk, &fn) == TW_OK) return TW_E_REPLAY;
  uint32_t slot = 0;
  while (slot < TW_MSGR_MAX_FRIENDS && m->friends[slot] != NULL) slot++;
  if (slot == TW_MSGR_MAX_FRIENDS) return TW_E_FULL;
  tw_msgr_friend *f = calloc(1, sizeof *f);
  if (f == NULL) return TW_E_NOMEM;
  int rc = m->t.friend_add(m->t.ctx, pk, &f->conn_id, now);
  if (rc < 0) {
    free(f);
    return rc;
  }
  f->pk = *pk;
  f->next_message_id = 1;
  m->friends[slot] = f;
  if (slot >= m->friend_slots) m->friend_slots = slot + 1;
  *out = slot;
  char hex[TW_KEY_HEXLEN];
  tw_log(&m->env.log, TW_LOG_DEBUG, tw_msgr_log_module, "friend %u added: %s", (unsigned)slot,
         tw_key_to_hex(pk, hex));
  return TW_OK;
}

void tw_msgr_friend_destroy(tw_msgr_friend *f) {
  if (f == NULL) return;
  if (f->files != NULL) {
    for (int d = 0; d < 2; d++)
      for (int i = 0; i < TW_MSGR_MAX_FILES_PER_DIRECTION; i++) free(f->files->slot[d][i]);
    free(f->files);
  }
  free(f->receipts);
  free(f);
}

int tw_msgr_friend_add(tw_msgr *m, const uint8_t *toxid, size_t toxid_len, const uint8_t *message,
                       size_t len, uint32_t *friend_number, tw_time_ms now) {
  TW_MSGR_GUARD(m);
  if (toxid == NULL || friend_number == NULL || (len > 0 && message == NULL)) return TW_E_INVAL;
  tw_toxid id;
  int rc = tw_toxid_unpack(&id, toxid, toxid_len);
  if (rc != TW_OK) return rc;
  if (len == 0) return TW_E_SHORT;
  if (len > TW_MSGR_MAX_FRIEND_REQUEST_LENGTH) return TW_E_LONG;
  if (tw_key_equal(&id.pk, &m->self_pk)) return TW_E_SELF;
  uint32_t fn;
  if (tw_msgr_friend_by_pk(m, &id.pk, &fn) == TW_OK) {
    /* Still asking: a new nospam (it changed its Tox ID) starts over. */
    tw_msgr_friend *f = m->friends[fn];
    if (!f->request_pending || f->request_nospam == id.nospam) return TW_E_REPLAY;
    tw_msgr_request_start(m, f, id.nospam, message, len, now);
    *friend_number = fn;
    return TW_OK;
  }
  rc = friend_create(m, &id.pk, &fn, now);
  if (rc != TW_OK) return rc;
  tw_msgr_request_start(m, m->friends[fn], id.nospam, message, len, now);
  *friend_number = fn;
  return TW_OK;
}

int tw_msgr_friend_add_norequest(tw_msgr *m, const tw_key *pk, uint32_t *friend_number,
                                 tw_time_ms now) {
  TW_MSGR_GUARD(m);
  if (pk == NULL || friend_number == NULL) return TW_E_INVAL;
  return friend_create(m, pk, friend_number, now);
}

int tw_msgr_friend_delete(tw_msgr *m, uint32_t friend_number, tw_time_ms now) {
  TW_MSGR_GUARD(m);
  tw_msgr_friend *f = tw_msgr_friend_at(m, friend_number);
  if (f == NULL) return TW_E_NOTFOUND;
  /* So that a peer still connected to us (a group chat) stops showing us. */
  if (f->connected) {
    uint8_t off = TW_MSGR_ID_OFFLINE;
    (void)tw_msgr_send_raw(m, f, &off, 1, NULL, now);
  }
  (void)m->t.friend_remove(m->t.ctx, f->conn_id, now);
  tw_msgr_friend_destroy(f);
  m->friends[friend_number] = NULL;
  while (m->friend_slots > 0 && m->friends[m->friend_slots - 1] == NULL) m->friend_slots--;
  return TW_OK;
}

int tw_msgr_friend_by_pk(const tw_msgr *m, const tw_key *pk, uint32_t *friend_number) {
  for (uint32_t i = 0; i < m->friend_slots; i++) {
    if (m->friends[i] != NULL && tw_key_equal(&m->friends[i]->pk, pk)) {
      if (friend_number != NULL) *friend_number = i;
      return TW_OK;
    }
  }
  return TW_E_NOTFOUND;
}

size_t tw_msgr_friend_list(const tw_msgr *m, uint32_t *out, size_t max) {
  size_t n = 0;
  for (uint32_t i = 0; i < m->friend_slots; i++) {
    if (m->friends[i] == NULL) continue;
    if (n < max && out != NULL) out[n] = i;
    n++;
  }
  return n;
}

int tw_msgr_friend_get_info(const tw_msgr *m, uint32_t friend_number, tw_msgr_friend_info *out) {
  const tw_msgr_friend *f = tw_msgr_friend_at(m, friend_number);
  if (f == NULL || out == NULL) return TW_E_NOTFOUND;
  memset(out, 0, sizeof *out);
  out->pk = f->pk;
  out->connected = f->connected;
  out->online = f->online;
  out->request_pending = f->request_pending;
  memcpy(out->name, f->name, f->name_len);
  out->name_len = f->name_len;
  memcpy(out->status_message, f->status_message, f->status_message_len);
  out->status_message_len = f->status_message_len;
  out->user_status = f->user_status;
  out->typing = f->typing;
  out->last_seen = f->last_seen;
  return TW_OK;
}

/* ---- what we tell friends ---- */

static int send_owed_one(tw_msgr *m, tw_msgr_friend *f, uint8_t bit, tw_time_ms now) {
  tw_msgr_packet p;
  memset(&p, 0, sizeof p);
  switch (bit) {
  case TW_MSGR_OWE_ONLINE: p.id = TW_MSGR_ID_ONLINE; break;
  case TW_MSGR_OWE_NAME:
    p.id = TW_MSGR_ID_NICKNAME;
    p.text = m->name;
    p.text_len = m->name_len;
    break;
  case TW_MSGR_OWE_STATUS_MESSAGE:
    p.id = TW_MSGR_ID_STATUSMESSAGE;
    p.text = m->status_message;
    p.text_len = m->status_message_len;
    break;
  case TW_MSGR_OWE_USER_STATUS:
    p.id = TW_MSGR_ID_USERSTATUS;
    p.value = (uint8_t)m->user_status;
    break;
  default:
    p.id = TW_MSGR_ID_TYPING;
    p.value = f->typing_to;
    break;
  }
  return tw_msgr_send_packet(m, f, &p, NULL, now);
}

void tw_msgr_friend_flush(tw_msgr *m, tw_msgr_friend *f, tw_time_ms now) {
  for (uint8_t bit = 1; f->connected && f->owed != 0 && bit <= TW_MSGR_OWE_TYPING; bit <<= 1) {
    if (!(f->owed & bit)) continue;
    /* The window is full: the next ack brings us back here. */
    if (send_owed_one(m, f, bit, now) != TW_OK) return;
    f->owed &= (uint8_t)~bit;
  }
}

static void owe_all(tw_msgr *m, uint8_t bit, tw_time_ms now) {
  for (uint32_t i = 0; i < m->friend_slots; i++) {
    tw_msgr_friend *f = m->friends[i];
    if (f == NULL || !f->connected) continue;
    f->owed |= bit;
    tw_msgr_friend_flush(m, f, now);
  }
}

int tw_msgr_set_name(tw_msgr *m, const uint8_t *name, size_t len, tw_time_ms now) {
  TW_MSGR_GUARD(m);
  if (len > TW_MSGR_MAX_NAME_LENGTH) return TW_E_LONG;
  if (len > 0 && name == NULL) return TW_E_INVAL;
  if (len > 0) memcpy(m->name, name, len);
  m->name_len = len;
  owe_all(m, TW_MSGR_OWE_NAME, now);
  return TW_OK;
}

int tw_msgr_set_status_message(tw_msgr *m, const uint8_t *msg, size_t len, tw_time_ms now) {
  TW_MSGR_GUARD(m);
  if (len > TW_MSGR_MAX_STATUS_MESSAGE_LENGTH) return TW_E_LONG;
  if (len > 0 && msg == NULL) return TW_E_INVAL;
  if (len > 0) memcpy(m->status_message, msg, len);
  m->status_message_len = len;
  owe_all(m, TW_MSGR_OWE_STATUS_MESSAGE, now);
  return TW_OK;
}

int tw_msgr_set_user_status(tw_msgr *m, tw_msgr_user_status status, tw_time_ms now) {
  TW_MSGR_GUARD(m);
  if ((unsigned)status > TW_MSGR_USER_BUSY) return TW_E_INVAL;
  m->user_status = status;
  owe_all(m, TW_MSGR_OWE_USER_STATUS, now);
  return TW_OK;
}

int tw_msgr_set_typing(tw_msgr *m, uint32_t friend_number, bool typing, tw_time_ms now) {
  TW_MSGR_GUARD(m);
  tw_msgr_friend *f = tw_msgr_friend_at(m, friend_number);
  if (f == NULL) return TW_E_NOTFOUND;
  if (f->typing_to == typing) return TW_OK;
  f->typing_to = typing;
  if (f->connected) {
    f->owed |= TW_MSGR_OWE_TYPING;
    tw_msgr_friend_flush(m, f, now);
  }
  return TW_OK;
}

/* ---- online and offline ---- */

static void set_online(tw_msgr *m, uint32_t fn, tw_msgr_friend *f, bool online, tw_time_ms now) {
  if (f->online == online) return;
  f->online = online;
  f->last_seen = now;
  if (online) {
    /* A friend online has us: requests are redundant now. */
    f->request_pending = false;
  } else {
    f->typing = false;
    tw_msgr_files_clear(m, fn, f, now);
  }
  tw_log(&m->env.log, TW_LOG_INFO, tw_msgr_log_module, "friend %u %s", (unsigned)fn,
         online ? "online" : "offline");
  tw_msgr_event ev = {.kind = TW_MSGR_EV_CONNECTION, .friend_number = fn, .time = now,
                      .online = online};
  tw_msgr_emit(m, &ev);
}

void tw_msgr_friend_connection(tw_msgr *m, uint32_t fn, tw_msgr_friend *f, bool up,
                               tw_time_ms now) {
  if (up) {
    f->connected = true;
    f->owed = TW_MSGR_OWE_ONLINE | TW_MSGR_OWE_NAME | TW_MSGR_OWE_STATUS_MESSAGE |
              TW_MSGR_OWE_USER_STATUS | (f->typing_to ? TW_MSGR_OWE_TYPING : 0);
    tw_msgr_friend_flush(m, f, now);
    return;
  }
  f->connected = false;
  f->owed = 0;
  f->outbox_count = 0;
  /* Unconfirmed messages get no receipt: the session that carried them is
   * gone (the application may send them again). */
  f->receipt_count = 0;
  set_online(m, fn, f, false, now);
  /* Files too, when it was connected without being online. */
  tw_msgr_files_clear(m, fn, f, now);
}

/* ---- receipts ---- */

static int receipt_push(tw_msgr_friend *f, uint32_t packet_number, uint32_t message_id) {
  if (f->receipt_count == f->receipt_cap) {
    if (f->receipt_cap >= TW_MSGR_MAX_PENDING_RECEIPTS) return TW_E_FULL;
    size_t cap = f->receipt_cap ? f->receipt_cap * 2 : 16;
    tw_msgr_receipt *r = malloc(cap * sizeof *r);
    if (r == NULL) return TW_E_NOMEM;
    for (size_t i = 0; i < f->receipt_count; i++)
      r[i] = f->receipts[(f->receipt_head + i) % f->receipt_cap];
    free(f->receipts);
    f->receipts = r;
    f->receipt_cap = cap;
    f->receipt_head = 0;
  }
  f->receipts[(f->receipt_head + f->receipt_count) % f->receipt_cap] =
      (tw_msgr_receipt){packet_number, message_id};
  f->receipt_count++;
  return TW_OK;
}

void tw_msgr_receipts_check(tw_msgr *m, uint32_t fn, tw_msgr_friend *f, tw_time_ms now) {
  /* Oldest first; stop at the first the friend does not have yet. */
  while (f->receipt_count > 0) {
    tw_msgr_receipt r = f->receipts[f->receipt_head];
    if (!m->t.delivered(m->t.ctx, f->conn_id, r.packet_number)) break;
    f->receipt_head = (f->receipt_head + 1) % f->receipt_cap;
    f->receipt_count--;
    m->stats.receipts++;
    tw_msgr_event ev = {.kind = TW_MSGR_EV_READ_RECEIPT, .friend_number = fn, .time = now,
                        .message_id = r.message_id};
    tw_msgr_emit(m, &ev);
  }
}

/* ---- messages and custom packets ---- */

int tw_msgr_send_message(tw_msgr *m, uint32_t friend_number, tw_msgr_message_type type,
                         const uint8_t *text, size_t len, uint32_t *message_id, tw_time_ms now) {
  TW_MSGR_GUARD(m);
  tw_msgr_friend *f = tw_msgr_friend_at(m, friend_number);
  if (f == NULL) return TW_E_NOTFOUND;
  if ((unsigned)type > TW_MSGR_MESSAGE_ACTION || text == NULL) return TW_E_INVAL;
  if (len == 0) return TW_E_SHORT;
  if (len > TW_MSGR_MAX_MESSAGE_LENGTH) return TW_E_LONG;
  if (!f->online) return TW_E_NOROUTE;
  if (f->receipt_count >= TW_MSGR_MAX_PENDING_RECEIPTS) return TW_E_FULL;
  tw_msgr_packet p = {.id = type == TW_MSGR_MESSAGE_ACTION ? TW_MSGR_ID_ACTION : TW_MSGR_ID_MESSAGE,
                      .text = text, .text_len = len};
  uint32_t number;
  int rc = tw_msgr_send_packet(m, f, &p, &number, now);
  if (rc != TW_OK) return rc;
  uint32_t id = f->next_message_id++;
  if (f->next_message_id == 0) f->next_message_id = 1;
  /* Room was checked above; only memory can fail here. */
  if (receipt_push(f, number, id) != TW_OK) return TW_E_NOMEM;
  m->stats.messages_out++;
  if (message_id != NULL) *message_id = id;
  return TW_OK;
}

int tw_msgr_send_custom_lossless(tw_msgr *m, uint32_t friend_number, const uint8_t *data,
                                 size_t len, tw_time_ms now) {
  TW_MSGR_GUARD(m);
  tw_msgr_friend *f = tw_msgr_friend_at(m, friend_number);
  if (f == NULL) return TW_E_NOTFOUND;
  if (data == NULL || len == 0) return TW_E_INVAL;
  if (len > TW_MSGR_MAX_CUSTOM_PACKET_SIZE) return TW_E_LONG;
  if (data[0] != TW_MSGR_ID_MSI &&
      (data[0] < TW_MSGR_CUSTOM_LOSSLESS_FIRST || data[0] > TW_MSGR_CUSTOM_LOSSLESS_LAST))
    return TW_E_KIND;
  if (!f->online) return TW_E_NOROUTE;
  return tw_msgr_send_raw(m, f, data, len, NULL, now);
}

int tw_msgr_send_custom_lossy(tw_msgr *m, uint32_t friend_number, const uint8_t *data, size_t len,
                              tw_time_ms now) {
  TW_MSGR_GUARD(m);
  tw_msgr_friend *f = tw_msgr_friend_at(m, friend_number);
  if (f == NULL) return TW_E_NOTFOUND;
  if (data == NULL || len == 0) return TW_E_INVAL;
  if (len > TW_MSGR_MAX_CUSTOM_PACKET_SIZE) return TW_E_LONG;
  if (data[0] < TW_MSGR_CUSTOM_LOSSY_FIRST || data[0] > TW_MSGR_CUSTOM_LOSSY_LAST)
    return TW_E_KIND;
  if (!f->online) return TW_E_NOROUTE;
  int rc = m->t.send_lossy(m->t.ctx, f->conn_id, data, len, now);
  if (rc < 0) return rc;
  m->stats.lossy_out++;
  return TW_OK;
}

/* ---- packets from a friend ---- */

static void emit_text(tw_msgr *m, tw_msgr_event_kind kind, uint32_t fn, const tw_msgr_packet *p,
                      tw_time_ms now) {
  tw_msgr_event ev = {.kind = kind, .friend_number = fn, .time = now, .data = p->text,
                      .len = p->text_len};
  tw_msgr_emit(m, &ev);
}

int tw_msgr_friend_handle_packet(tw_msgr *m, uint32_t fn, tw_msgr_friend *f,
                                 const tw_msgr_packet *p, tw_time_ms now) {
  switch (p->id) {
  case TW_MSGR_ID_ONLINE:
    set_online(m, fn, f, true, now);
    return TW_OK;
  case TW_MSGR_ID_OFFLINE:
    set_online(m, fn, f, false, now);
    return TW_OK;
  /* Details are kept whenever the connection is up: a friend sends them
   * right after its ONLINE, in the same ordered stream. */
  case TW_MSGR_ID_NICKNAME:
    memcpy(f->name, p->text, p->text_len);
    f->name_len = p->text_len;
    emit_text(m, TW_MSGR_EV_NAME, fn, p, now);
    return TW_OK;
  case TW_MSGR_ID_STATUSMESSAGE:
    memcpy(f->status_message, p->text, p->text_len);
    f->status_message_len = p->text_len;
    emit_text(m, TW_MSGR_EV_STATUS_MESSAGE, fn, p, now);
    return TW_OK;
  case TW_MSGR_ID_USERSTATUS: {
    f->user_status = (tw_msgr_user_status)p->value;
    tw_msgr_event ev = {.kind = TW_MSGR_EV_USER_STATUS, .friend_number = fn, .time = now,
                        .user_status = f->user_status};
    tw_msgr_emit(m, &ev);
    return TW_OK;
  }
  case TW_MSGR_ID_TYPING: {
    f->typing = p->value != 0;
    tw_msgr_event ev = {.kind = TW_MSGR_EV_TYPING, .friend_number = fn, .time = now,
                        .typing = f->typing};
    tw_msgr_emit(m, &ev);
    return TW_OK;
  }
  default:
    break;
  }
  /* Conversation needs a friend shown online. */
  if (!f->online) return TW_E_UNSOLICITED;
  if (p->id == TW_MSGR_ID_MESSAGE || p->id == TW_MSGR_ID_ACTION) {
    if (p->text_len == 0) return TW_E_SHORT; /* nothing to show */
    m->stats.messages_in++;
    tw_msgr_event ev = {.kind = TW_MSGR_EV_MESSAGE, .friend_number = fn, .time = now,
                        .data = p->text, .len = p->text_len,
                        .message_type = p->id == TW_MSGR_ID_ACTION ? TW_MSGR_MESSAGE_ACTION
                                                                   : TW_MSGR_MESSAGE_NORMAL};
    tw_msgr_emit(m, &ev);
    return TW_OK;
  }
  /* Custom lossless (the decoder let no other id through): [id][payload]. */
  tw_msgr_event ev = {.kind = TW_MSGR_EV_CUSTOM_LOSSLESS, .friend_number = fn, .time = now,
                      .data = p->text - 1, .len = p->text_len + 1};
  tw_msgr_emit(m, &ev);
  return TW_OK;
}
