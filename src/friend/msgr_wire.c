/* Messenger packet layouts (spec "Messenger", "Friend requests"). Every
 * byte from a friend is read through tw_reader; the decoder checks lengths
 * and field ranges, the handlers check state. */
#include "friend/msgr_wire.h"

#include <string.h>

#include "core/buf.h"
#include "toxwire/error.h"

/* The ids c-toxcore's API lets an application send (tox.h: lossless 69
 * and 160..191, lossy 192..254). 69 is MSI and 199 the lossy conference id
 * in c-toxcore; we implement neither, so they reach the application. */
static bool is_custom_lossless(uint8_t id) {
  return id == TW_MSGR_ID_MSI ||
         (id >= TW_MSGR_CUSTOM_LOSSLESS_FIRST && id <= TW_MSGR_CUSTOM_LOSSLESS_LAST);
}
static bool is_custom_lossy(uint8_t id) {
  return id >= TW_MSGR_CUSTOM_LOSSY_FIRST && id <= TW_MSGR_CUSTOM_LOSSY_LAST;
}

/* The rest of the input as text of at most max bytes. */
static int read_text(tw_reader *r, tw_msgr_packet *p, size_t max) {
  if (tw_reader_left(r) > max) return TW_E_LONG;
  p->text = tw_read_rest(r, &p->text_len);
  return TW_OK;
}

/* A packet of exactly n bytes. */
static int exact(size_t len, size_t n) {
  return len < n ? TW_E_SHORT : len > n ? TW_E_LONG : TW_OK;
}

static int decode_file_sendrequest(tw_reader *r, tw_msgr_packet *p, size_t len) {
  if (len < TW_MSGR_FILE_SENDREQUEST_MIN) return TW_E_SHORT;
  if (len > TW_MSGR_FILE_SENDREQUEST_MAX) return TW_E_LONG;
  p->file_number = tw_read_u8(r);
  p->file_type = tw_read_u32(r);
  p->file_size = tw_read_u64(r);
  p->file_id = tw_read_span(r, TW_MSGR_FILE_ID_LENGTH);
  p->text = tw_read_rest(r, &p->text_len);
  return tw_reader_ok(r) ? TW_OK : TW_E_SHORT;
}

static int decode_file_control(tw_reader *r, tw_msgr_packet *p, size_t len) {
  if (len < TW_MSGR_FILE_CONTROL_SIZE) return TW_E_SHORT;
  p->send_receive = tw_read_u8(r);
  p->file_number = tw_read_u8(r);
  p->control = tw_read_u8(r);
  if (p->control == TW_MSGR_FILE_SEEK) {
    int e = exact(len, TW_MSGR_FILE_CONTROL_SEEK_SIZE);
    if (e != TW_OK) return e;
    p->seek = tw_read_u64(r);
  } else if (len > TW_MSGR_FILE_CONTROL_SIZE) {
    return TW_E_LONG;
  }
  if (!tw_reader_done(r)) return TW_E_SHORT;
  if (p->send_receive > TW_MSGR_SR_RECEIVING || p->control > TW_MSGR_FILE_SEEK)
    return TW_E_FORMAT;
  return TW_OK;
}

int tw_msgr_packet_decode(tw_msgr_packet *p, const uint8_t *in, size_t len) {
  memset(p, 0, sizeof *p);
  if (len == 0) return TW_E_SHORT;
  if (len > TW_MSGR_MAX_PACKET) return TW_E_LONG;
  tw_reader r = tw_reader_init(in, len);
  p->id = tw_read_u8(&r);
  switch (p->id) {
  case TW_MSGR_ID_ONLINE:
  case TW_MSGR_ID_OFFLINE:
    return exact(len, 1);
  case TW_MSGR_ID_NICKNAME:
    return read_text(&r, p, TW_MSGR_MAX_NAME_LENGTH);
  case TW_MSGR_ID_STATUSMESSAGE:
    return read_text(&r, p, TW_MSGR_MAX_STATUS_MESSAGE_LENGTH);
  case TW_MSGR_ID_USERSTATUS:
  case TW_MSGR_ID_TYPING: {
    int e = exact(len, 2);
    if (e != TW_OK) return e;
    p->value = tw_read_u8(&r);
    uint8_t max = p->id == TW_MSGR_ID_USERSTATUS ? TW_MSGR_USER_BUSY : 1;
    return p->value > max ? TW_E_FORMAT : TW_OK;
  }
  case TW_MSGR_ID_MESSAGE:
  case TW_MSGR_ID_ACTION:
    return read_text(&r, p, TW_MSGR_MAX_MESSAGE_LENGTH);
  case TW_MSGR_ID_FILE_SENDREQUEST:
    return decode_file_sendrequest(&r, p, len);
  case TW_MSGR_ID_FILE_CONTROL:
    return decode_file_control(&r, p, len);
  case TW_MSGR_ID_FILE_DATA:
    if (len < TW_MSGR_FILE_DATA_MIN) return TW_E_SHORT;
    p->file_number = tw_read_u8(&r);
    return read_text(&r, p, TW_MSGR_FILE_CHUNK_SIZE);
  case TW_MSGR_ID_INVITE_GROUPCHAT:
  case TW_MSGR_ID_ONLINE_PACKET:
  case TW_MSGR_ID_DIRECT_GROUPCHAT:
  case TW_MSGR_ID_MESSAGE_GROUPCHAT:
    return TW_E_DISABLED;
  default:
    if (!is_custom_lossless(p->id)) return TW_E_KIND;
    return read_text(&r, p, TW_MSGR_MAX_PACKET - 1);
  }
}

int tw_msgr_lossy_decode(tw_msgr_packet *p, const uint8_t *in, size_t len) {
  memset(p, 0, sizeof *p);
  if (len == 0) return TW_E_SHORT;
  if (len > TW_MSGR_MAX_PACKET) return TW_E_LONG;
  tw_reader r = tw_reader_init(in, len);
  p->id = tw_read_u8(&r);
  if (!is_custom_lossy(p->id)) return TW_E_KIND;
  return read_text(&r, p, TW_MSGR_MAX_PACKET - 1);
}

/* The largest text each text-carrying id allows; 0 for the others. */
static size_t text_max(uint8_t id) {
  switch (id) {
  case TW_MSGR_ID_NICKNAME: return TW_MSGR_MAX_NAME_LENGTH;
  case TW_MSGR_ID_STATUSMESSAGE: return TW_MSGR_MAX_STATUS_MESSAGE_LENGTH;
  case TW_MSGR_ID_MESSAGE:
  case TW_MSGR_ID_ACTION: return TW_MSGR_MAX_MESSAGE_LENGTH;
  case TW_MSGR_ID_FILE_SENDREQUEST: return TW_MSGR_MAX_FILENAME_LENGTH;
  case TW_MSGR_ID_FILE_DATA: return TW_MSGR_FILE_CHUNK_SIZE;
  default:
    return is_custom_lossless(id) || is_custom_lossy(id) ? TW_MSGR_MAX_PACKET - 1 : 0;
  }
}

int tw_msgr_packet_encode(uint8_t *out, size_t cap, const tw_msgr_packet *p) {
  if (p->text_len > text_max(p->id)) return TW_E_LONG;
  if (p->text_len > 0 && p->text == NULL) return TW_E_INVAL;
  tw_writer w = tw_writer_init(out, cap);
  tw_write_u8(&w, p->id);
  switch (p->id) {
  case TW_MSGR_ID_ONLINE:
  case TW_MSGR_ID_OFFLINE:
    break;
  case TW_MSGR_ID_USERSTATUS:
  case TW_MSGR_ID_TYPING:
    if (p->value > (p->id == TW_MSGR_ID_USERSTATUS ? TW_MSGR_USER_BUSY : 1)) return TW_E_FORMAT;
    tw_write_u8(&w, p->value);
    break;
  case TW_MSGR_ID_FILE_SENDREQUEST:
    if (p->file_id == NULL) return TW_E_INVAL;
    tw_write_u8(&w, p->file_number);
    tw_write_u32(&w, p->file_type);
    tw_write_u64(&w, p->file_size);
    tw_write_bytes(&w, p->file_id, TW_MSGR_FILE_ID_LENGTH);
    tw_write_bytes(&w, p->text, p->text_len);
    break;
  case TW_MSGR_ID_FILE_CONTROL:
    if (p->send_receive > TW_MSGR_SR_RECEIVING || p->control > TW_MSGR_FILE_SEEK)
      return TW_E_FORMAT;
    tw_write_u8(&w, p->send_receive);
    tw_write_u8(&w, p->file_number);
    tw_write_u8(&w, p->control);
    if (p->control == TW_MSGR_FILE_SEEK) tw_write_u64(&w, p->seek);
    break;
  case TW_MSGR_ID_FILE_DATA:
    tw_write_u8(&w, p->file_number);
    tw_write_bytes(&w, p->text, p->text_len);
    break;
  default:
    if (text_max(p->id) == 0) return TW_E_KIND;
    tw_write_bytes(&w, p->text, p->text_len);
    break;
  }
  return tw_writer_ok(&w) ? (int)w.pos : TW_E_LONG;
}

int tw_msgr_friend_request_decode(tw_msgr_friend_request *req, const uint8_t *in, size_t len) {
  memset(req, 0, sizeof *req);
  if (len == 0) return TW_E_SHORT;
  tw_reader r = tw_reader_init(in, len);
  if (tw_read_u8(&r) != TW_MSGR_ONION_FRIEND_REQUEST) return TW_E_KIND;
  if (len < TW_MSGR_FRIEND_REQUEST_MIN) return TW_E_SHORT;
  if (len > TW_MSGR_FRIEND_REQUEST_MAX) return TW_E_LONG;
  /* The same four bytes as in the sender's copy of our Tox ID. */
  req->nospam = tw_read_u32(&r);
  req->message = tw_read_rest(&r, &req->message_len);
  return tw_reader_ok(&r) ? TW_OK : TW_E_SHORT;
}

int tw_msgr_friend_request_encode(uint8_t *out, size_t cap, const tw_msgr_friend_request *req) {
  if (req->message_len == 0 || req->message == NULL) return TW_E_SHORT;
  if (req->message_len > TW_MSGR_MAX_FRIEND_REQUEST_LENGTH) return TW_E_LONG;
  tw_writer w = tw_writer_init(out, cap);
  tw_write_u8(&w, TW_MSGR_ONION_FRIEND_REQUEST);
  tw_write_u32(&w, req->nospam);
  tw_write_bytes(&w, req->message, req->message_len);
  return tw_writer_ok(&w) ? (int)w.pos : TW_E_LONG;
}
