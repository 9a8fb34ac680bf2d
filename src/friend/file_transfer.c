/* File transfers (spec "File Transfer Related Packets"): FILE_SENDREQUEST,
 * FILE_CONTROL and FILE_DATA, one state machine per transfer
 * (tw_msgr_file_state, pauses as two flags beside it).
 *
 *   out: PENDING --peer RESUME--> TRANSFERRING --last chunk sent-->
 *        FINISHING --last chunk confirmed--> done (freed)
 *   in:  PENDING --our RESUME--> TRANSFERRING --size reached or short
 *        chunk--> done (freed)
 *   either, any state: KILL by either side, or the friend offline --> freed
 *
 * The sender pulls data through the application's read callback while the
 * friend's window has room (after the accept and on every ack), so nothing
 * waits in memory. */
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "friend/msgr_internal.h"

static bool size_known(const tw_msgr_file *x) { return x->size != TW_MSGR_FILE_SIZE_UNKNOWN; }

static tw_msgr_files *files_get(tw_msgr_friend *f) {
  if (f->files == NULL) f->files = calloc(1, sizeof *f->files);
  return f->files;
}

static tw_msgr_file *file_find(const tw_msgr_friend *f, tw_msgr_file_dir dir, uint8_t number) {
  if (f->files == NULL || (unsigned)dir > TW_MSGR_FILE_IN) return NULL;
  return f->files->slot[dir][number];
}

static void file_free(tw_msgr_friend *f, tw_msgr_file *x) {
  f->files->slot[x->dir][x->number] = NULL;
  f->files->count--;
  free(x);
}

static void emit_file(tw_msgr *m, tw_msgr_event_kind kind, uint32_t fn, const tw_msgr_file *x,
                      tw_time_ms now, tw_msgr_event *ev) {
  ev->kind = kind;
  ev->friend_number = fn;
  ev->time = now;
  ev->dir = x->dir;
  ev->file_number = x->number;
  ev->file_type = x->type;
  ev->file_size = x->size;
  ev->file_id = x->id;
  if (kind != TW_MSGR_EV_FILE_CHUNK) ev->position = x->position;
  tw_msgr_emit(m, ev);
}

static void close_file(tw_msgr *m, uint32_t fn, tw_msgr_friend *f, tw_msgr_file *x,
                       tw_msgr_file_close_reason why, tw_time_ms now) {
  tw_msgr_event ev = {.close_reason = why};
  emit_file(m, TW_MSGR_EV_FILE_CLOSED, fn, x, now, &ev);
  file_free(f, x);
}

/* The send_receive byte naming a file of ours in a control we send. */
static uint8_t our_side(tw_msgr_file_dir dir) {
  return dir == TW_MSGR_FILE_OUT ? TW_MSGR_SR_SENDING : TW_MSGR_SR_RECEIVING;
}

/* ---- controls, in order, held while the window is full ---- */

static void outbox_flush(tw_msgr *m, tw_msgr_friend *f, tw_time_ms now) {
  while (f->outbox_count > 0) {
    tw_msgr_outpkt *o = &f->outbox[f->outbox_head];
    if (tw_msgr_send_raw(m, f, o->data, o->len, NULL, now) != TW_OK) return;
    f->outbox_head = (uint8_t)((f->outbox_head + 1) % TW_MSGR_OUTBOX_PACKETS);
    f->outbox_count--;
  }
}

int tw_msgr_file_send_control(tw_msgr *m, tw_msgr_friend *f, uint8_t send_receive,
                              uint8_t number, uint8_t control, uint64_t seek, tw_time_ms now) {
  tw_msgr_packet p = {.id = TW_MSGR_ID_FILE_CONTROL, .send_receive = send_receive,
                      .file_number = number, .control = control, .seek = seek};
  tw_msgr_outpkt o;
  int n = tw_msgr_packet_encode(o.data, sizeof o.data, &p);
  if (n < 0) return n;
  o.len = (uint8_t)n;
  if (!f->connected) return TW_E_NOROUTE;
  outbox_flush(m, f, now);
  if (f->outbox_count == 0) {
    int rc = tw_msgr_send_raw(m, f, o.data, o.len, NULL, now);
    if (rc != TW_E_FULL) return rc;
  }
  if (f->outbox_count == TW_MSGR_OUTBOX_PACKETS) return TW_E_FULL;
  f->outbox[(f->outbox_head + f->outbox_count) % TW_MSGR_OUTBOX_PACKETS] = o;
  f->outbox_count++;
  return TW_OK;
}

/* ---- sending data ---- */

static bool sendable(const tw_msgr_file *x) {
  return x != NULL && x->state == TW_MSGR_FILE_TRANSFERRING && !x->paused_by_us &&
         !x->paused_by_peer;
}

/* One FILE_DATA for x. A read error kills the transfer (TW_OK: go on with
 * the other files); a send error leaves the position where it was, so the
 * same bytes are read again next time. */
static int send_chunk(tw_msgr *m, uint32_t fn, tw_msgr_friend *f, tw_msgr_file *x,
                      tw_time_ms now) {
  uint8_t buf[TW_MSGR_FILE_DATA_MAX];
  buf[0] = TW_MSGR_ID_FILE_DATA;
  buf[1] = x->number;
  size_t want = TW_MSGR_FILE_CHUNK_SIZE;
  if (size_known(x) && x->size - x->position < want) want = (size_t)(x->size - x->position);
  int n = 0;
  if (want > 0) {
    m->busy = true;
    n = x->read(x->read_ctx, x->position, buf + 2, want);
    m->busy = false;
  }
  if (n < 0 || (size_t)n > want || (size_known(x) && (size_t)n != want)) {
    tw_log(&m->env.log, TW_LOG_WARN, tw_msgr_log_module,
           "friend %u file %u: read at %llu gave %d of %zu", (unsigned)fn, x->number,
           (unsigned long long)x->position, n, want);
    (void)tw_msgr_file_send_control(m, f, TW_MSGR_SR_SENDING, x->number, TW_MSGR_FILE_KILL, 0,
                                    now);
    close_file(m, fn, f, x, TW_MSGR_CLOSE_READ_ERROR, now);
    return TW_OK;
  }
  uint32_t number;
  int rc = tw_msgr_send_raw(m, f, buf, 2 + (size_t)n, &number, now);
  if (rc != TW_OK) return rc;
  x->position += (uint64_t)n;
  m->stats.file_bytes_sent += (uint64_t)n;
  /* Known size: the last byte; a stream: a short chunk (maybe empty). */
  bool last = size_known(x) ? x->position == x->size : (size_t)n < TW_MSGR_FILE_CHUNK_SIZE;
  if (last) {
    x->state = TW_MSGR_FILE_FINISHING;
    x->last_number = number;
  }
  return TW_OK;
}

/* Chunks while the window has room beyond the reserve kept for messages and
 * controls, one per file in turn. */
static void pump(tw_msgr *m, uint32_t fn, tw_msgr_friend *f, tw_time_ms now) {
  if (!f->online || f->files == NULL || f->outbox_count > 0) return;
  tw_msgr_files *fs = f->files;
  while (m->t.send_space(m->t.ctx, f->conn_id) > TW_MSGR_FILE_RESERVE_PACKETS) {
    int found = -1;
    for (int k = 0; k < TW_MSGR_MAX_FILES_PER_DIRECTION && found < 0; k++) {
      int i = (fs->next_pump + k) % TW_MSGR_MAX_FILES_PER_DIRECTION;
      if (sendable(fs->slot[TW_MSGR_FILE_OUT][i])) found = i;
    }
    if (found < 0) return;
    fs->next_pump = (uint16_t)((found + 1) % TW_MSGR_MAX_FILES_PER_DIRECTION);
    if (send_chunk(m, fn, f, fs->slot[TW_MSGR_FILE_OUT][found], now) != TW_OK) return;
  }
}

void tw_msgr_files_on_acked(tw_msgr *m, uint32_t fn, tw_msgr_friend *f, tw_time_ms now) {
  outbox_flush(m, f, now);
  if (f->files == NULL) return;
  for (int i = 0; i < TW_MSGR_MAX_FILES_PER_DIRECTION; i++) {
    tw_msgr_file *x = f->files->slot[TW_MSGR_FILE_OUT][i];
    if (x == NULL || x->state != TW_MSGR_FILE_FINISHING) continue;
    if (!m->t.delivered(m->t.ctx, f->conn_id, x->last_number)) continue;
    m->stats.files_sent++;
    tw_msgr_event ev = {0};
    emit_file(m, TW_MSGR_EV_FILE_DONE, fn, x, now, &ev);
    file_free(f, x);
  }
  pump(m, fn, f, now);
}

void tw_msgr_files_clear(tw_msgr *m, uint32_t fn, tw_msgr_friend *f, tw_time_ms now) {
  f->outbox_count = 0;
  if (f->files == NULL) return;
  for (int d = 0; d < 2; d++) {
    for (int i = 0; i < TW_MSGR_MAX_FILES_PER_DIRECTION; i++) {
      tw_msgr_file *x = f->files->slot[d][i];
      if (x != NULL) close_file(m, fn, f, x, TW_MSGR_CLOSE_OFFLINE, now);
    }
  }
  free(f->files);
  f->files = NULL;
}

/* ---- the application's side ---- */

int tw_msgr_file_send(tw_msgr *m, uint32_t friend_number, uint32_t file_type, uint64_t size,
                      const uint8_t *file_id, const uint8_t *name, size_t name_len,
                      tw_msgr_file_read_fn *read, void *read_ctx, uint8_t *file_number,
                      tw_time_ms now) {
  TW_MSGR_GUARD(m);
  tw_msgr_friend *f = tw_msgr_friend_at(m, friend_number);
  if (f == NULL) return TW_E_NOTFOUND;
  if ((read == NULL && size != 0) || (name_len > 0 && name == NULL) || file_number == NULL)
    return TW_E_INVAL;
  if (name_len > TW_MSGR_MAX_FILENAME_LENGTH) return TW_E_LONG;
  if (!f->online) return TW_E_NOROUTE;
  /* A held kill may name the number we would pick: it must go first. */
  if (f->outbox_count > 0) return TW_E_FULL;
  tw_msgr_files *fs = files_get(f);
  if (fs == NULL) return TW_E_NOMEM;
  int number = 0;
  while (number < TW_MSGR_MAX_FILES_PER_DIRECTION && fs->slot[TW_MSGR_FILE_OUT][number] != NULL)
    number++;
  if (number == TW_MSGR_MAX_FILES_PER_DIRECTION) return TW_E_FULL;
  tw_msgr_file *x = calloc(1, sizeof *x);
  if (x == NULL) return TW_E_NOMEM;
  x->state = TW_MSGR_FILE_PENDING;
  x->dir = TW_MSGR_FILE_OUT;
  x->number = (uint8_t)number;
  x->type = file_type;
  x->size = size;
  if (file_id != NULL)
    memcpy(x->id, file_id, TW_MSGR_FILE_ID_LENGTH);
  else
    tw_random_bytes(&m->env, x->id, TW_MSGR_FILE_ID_LENGTH);
  if (name_len > 0) memcpy(x->name, name, name_len);
  x->name_len = name_len;
  x->read = read;
  x->read_ctx = read_ctx;
  tw_msgr_packet p = {.id = TW_MSGR_ID_FILE_SENDREQUEST, .file_number = x->number,
                      .file_type = file_type, .file_size = size, .file_id = x->id,
                      .text = x->name, .text_len = name_len};
  int rc = tw_msgr_send_packet(m, f, &p, NULL, now);
  if (rc != TW_OK) {
    free(x);
    return rc;
  }
  fs->slot[TW_MSGR_FILE_OUT][number] = x;
  fs->count++;
  *file_number = x->number;
  return TW_OK;
}

int tw_msgr_file_control(tw_msgr *m, uint32_t friend_number, tw_msgr_file_dir dir,
                         uint8_t file_number, tw_msgr_file_ctl control, tw_time_ms now) {
  TW_MSGR_GUARD(m);
  tw_msgr_friend *f = tw_msgr_friend_at(m, friend_number);
  if (f == NULL) return TW_E_NOTFOUND;
  tw_msgr_file *x = file_find(f, dir, file_number);
  if (x == NULL) return TW_E_NOTFOUND;
  int rc;
  switch (control) {
  case TW_MSGR_FILE_RESUME:
    if (x->state == TW_MSGR_FILE_PENDING && dir == TW_MSGR_FILE_IN) {
      rc = tw_msgr_file_send_control(m, f, our_side(dir), file_number, (uint8_t)control, 0, now);
      if (rc == TW_OK) x->state = TW_MSGR_FILE_TRANSFERRING;
      return rc;
    }
    if (x->state != TW_MSGR_FILE_TRANSFERRING || !x->paused_by_us) return TW_E_INVAL;
    rc = tw_msgr_file_send_control(m, f, our_side(dir), file_number, (uint8_t)control, 0, now);
    if (rc != TW_OK) return rc;
    x->paused_by_us = false;
    if (dir == TW_MSGR_FILE_OUT) pump(m, friend_number, f, now);
    return TW_OK;
  case TW_MSGR_FILE_PAUSE:
    /* Only an accepted transfer pauses (spec). */
    if (x->state != TW_MSGR_FILE_TRANSFERRING || x->paused_by_us) return TW_E_INVAL;
    rc = tw_msgr_file_send_control(m, f, our_side(dir), file_number, (uint8_t)control, 0, now);
    if (rc == TW_OK) x->paused_by_us = true;
    return rc;
  case TW_MSGR_FILE_KILL:
    /* Ours is gone either way; the friend learns when the window allows. */
    rc = tw_msgr_file_send_control(m, f, our_side(dir), file_number, (uint8_t)control, 0, now);
    file_free(f, x);
    return rc == TW_E_NOROUTE ? TW_OK : rc;
  default:
    return TW_E_INVAL;
  }
}

int tw_msgr_file_seek(tw_msgr *m, uint32_t friend_number, uint8_t file_number, uint64_t position,
                      tw_time_ms now) {
  TW_MSGR_GUARD(m);
  tw_msgr_friend *f = tw_msgr_friend_at(m, friend_number);
  if (f == NULL) return TW_E_NOTFOUND;
  tw_msgr_file *x = file_find(f, TW_MSGR_FILE_IN, file_number);
  if (x == NULL) return TW_E_NOTFOUND;
  if (x->state != TW_MSGR_FILE_PENDING || position >= x->size) return TW_E_INVAL;
  int rc = tw_msgr_file_send_control(m, f, TW_MSGR_SR_RECEIVING, file_number, TW_MSGR_FILE_SEEK,
                                     position, now);
  if (rc == TW_OK) x->position = position;
  return rc;
}

int tw_msgr_file_get_info(const tw_msgr *m, uint32_t friend_number, tw_msgr_file_dir dir,
                          uint8_t file_number, tw_msgr_file_info *out) {
  memset(out, 0, sizeof *out);
  const tw_msgr_friend *f = tw_msgr_friend_at(m, friend_number);
  if (f == NULL) return TW_E_NOTFOUND;
  const tw_msgr_file *x = file_find(f, dir, file_number);
  if (x == NULL) return TW_E_NOTFOUND;
  out->state = x->state;
  out->paused_by_us = x->paused_by_us;
  out->paused_by_peer = x->paused_by_peer;
  out->file_type = x->type;
  out->size = x->size;
  out->position = x->position;
  memcpy(out->file_id, x->id, sizeof x->id);
  memcpy(out->name, x->name, x->name_len);
  out->name_len = x->name_len;
  return TW_OK;
}

/* ---- packets from the friend ---- */

static int handle_sendrequest(tw_msgr *m, uint32_t fn, tw_msgr_friend *f, const tw_msgr_packet *p,
                              tw_time_ms now) {
  tw_msgr_files *fs = files_get(f);
  if (fs == NULL) return TW_E_NOMEM;
  /* A number is reused only after its transfer ended on both sides. */
  if (fs->slot[TW_MSGR_FILE_IN][p->file_number] != NULL) return TW_E_REPLAY;
  tw_msgr_file *x = calloc(1, sizeof *x);
  if (x == NULL) return TW_E_NOMEM;
  x->state = TW_MSGR_FILE_PENDING;
  x->dir = TW_MSGR_FILE_IN;
  x->number = p->file_number;
  x->type = p->file_type;
  x->size = p->file_size;
  memcpy(x->id, p->file_id, TW_MSGR_FILE_ID_LENGTH);
  memcpy(x->name, p->text, p->text_len);
  x->name_len = p->text_len;
  fs->slot[TW_MSGR_FILE_IN][x->number] = x;
  fs->count++;
  tw_msgr_event ev = {.data = x->name, .len = x->name_len};
  emit_file(m, TW_MSGR_EV_FILE_REQUEST, fn, x, now, &ev);
  return TW_OK;
}

static int handle_control(tw_msgr *m, uint32_t fn, tw_msgr_friend *f, const tw_msgr_packet *p,
                          tw_time_ms now) {
  /* send_receive is the friend's view: the file it sends is one we receive. */
  tw_msgr_file_dir dir = p->send_receive == TW_MSGR_SR_SENDING ? TW_MSGR_FILE_IN : TW_MSGR_FILE_OUT;
  tw_msgr_file *x = file_find(f, dir, p->file_number);
  if (x == NULL) return TW_E_NOTFOUND;
  tw_msgr_event ev = {.control = (tw_msgr_file_ctl)p->control};
  switch (p->control) {
  case TW_MSGR_FILE_RESUME:
    if (x->state == TW_MSGR_FILE_PENDING && dir == TW_MSGR_FILE_OUT)
      x->state = TW_MSGR_FILE_TRANSFERRING; /* accepted */
    else if (x->state == TW_MSGR_FILE_TRANSFERRING && x->paused_by_peer)
      x->paused_by_peer = false;
    else
      return TW_E_UNSOLICITED;
    emit_file(m, TW_MSGR_EV_FILE_CONTROL, fn, x, now, &ev);
    if (dir == TW_MSGR_FILE_OUT) pump(m, fn, f, now);
    return TW_OK;
  case TW_MSGR_FILE_PAUSE:
    if (x->state != TW_MSGR_FILE_TRANSFERRING || x->paused_by_peer) return TW_E_UNSOLICITED;
    x->paused_by_peer = true;
    emit_file(m, TW_MSGR_EV_FILE_CONTROL, fn, x, now, &ev);
    return TW_OK;
  case TW_MSGR_FILE_KILL:
    close_file(m, fn, f, x, TW_MSGR_CLOSE_PEER_KILLED, now);
    return TW_OK;
  default: /* SEEK: the receiver, before it accepts our file */
    if (dir != TW_MSGR_FILE_OUT || x->state != TW_MSGR_FILE_PENDING) return TW_E_UNSOLICITED;
    if (p->seek >= x->size) return TW_E_FORMAT;
    x->position = p->seek;
    emit_file(m, TW_MSGR_EV_FILE_CONTROL, fn, x, now, &ev);
    return TW_OK;
  }
}

static int handle_data(tw_msgr *m, uint32_t fn, tw_msgr_friend *f, const tw_msgr_packet *p,
                       tw_time_ms now) {
  tw_msgr_file *x = file_find(f, TW_MSGR_FILE_IN, p->file_number);
  if (x == NULL) return TW_E_NOTFOUND;
  /* Data before our accept: the sender skipped a step. Data after a pause
   * is fine: it was on its way. */
  if (x->state != TW_MSGR_FILE_TRANSFERRING) return TW_E_UNSOLICITED;
  size_t n = p->text_len;
  /* Beyond the announced size: kept out (spec). */
  if (size_known(x) && x->size - x->position < n) n = (size_t)(x->size - x->position);
  if (n > 0) {
    tw_msgr_event ev = {.position = x->position, .data = p->text, .len = n};
    emit_file(m, TW_MSGR_EV_FILE_CHUNK, fn, x, now, &ev);
    x->position += n;
    m->stats.file_bytes_received += n;
  }
  if ((size_known(x) && x->position == x->size) || p->text_len < TW_MSGR_FILE_CHUNK_SIZE) {
    m->stats.files_received++;
    tw_msgr_event ev = {0};
    emit_file(m, TW_MSGR_EV_FILE_DONE, fn, x, now, &ev);
    file_free(f, x);
  }
  return TW_OK;
}

int tw_msgr_file_handle_packet(tw_msgr *m, uint32_t fn, tw_msgr_friend *f,
                               const tw_msgr_packet *p, tw_time_ms now) {
  if (!f->online) return TW_E_UNSOLICITED;
  switch (p->id) {
  case TW_MSGR_ID_FILE_SENDREQUEST: return handle_sendrequest(m, fn, f, p, now);
  case TW_MSGR_ID_FILE_CONTROL: return handle_control(m, fn, f, p, now);
  default: return handle_data(m, fn, f, p, now);
  }
}
