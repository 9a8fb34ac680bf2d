/* Fuzzes Messenger (src/friend/): the wire decoders directly, and a tw_msgr
 * with one friend online behind an in-harness transport.
 *
 *   1. The whole input through every decoder: whatever decodes encodes back
 *      to the same bytes (lossless, lossy, friend request).
 *   2. A fresh tw_msgr per input with friend 0 connected and online (its
 *      ONLINE already handled), then the input read as records
 *      [op][len hi][len lo][len bytes]:
 *        0 lossless data from the friend, 1 lossy data,
 *        2 onion data from the friend, a stranger or ourselves (first byte
 *          picks), with our nospam written in when the byte says so,
 *        3 the transport confirms everything (handle_acked), or (odd
 *          first byte) its window turns full / not full,
 *        4 the connection drops and comes back (ONLINE handled again),
 *        5 an application action picked by the bytes: accept / pause /
 *          resume / kill / seek an incoming file, pause / resume / kill an
 *          outgoing one, offer a file, send a message, set name / typing,
 *          add / delete a friend,
 *        6 time passes and timers run,
 *        7 the record's bytes as a FILE_DATA / FILE_CONTROL for a live
 *          incoming file (so data reaches accepted transfers).
 * Invariants: every verdict is TW_OK or a known TW_E_*; the drop counters
 * add up and count exactly the refusals; every event carries what its kind
 * promises (lengths within the spec's limits, chunks inside the file, a
 * transfer ends once); nothing sent exceeds 1373 bytes or the window; a
 * file's bytes reach the receiver in order; the transfers tw_msgr reports
 * are exactly those the events (and our own calls) left open.
 *
 * TW_FUZZ_WRITE_SEEDS=DIR: write hand-made seeds for corpus/messenger to
 * DIR and exit. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "friend/msgr_wire.h"
#include "fuzz_common.h"
#include "toxwire/error.h"
#include "toxwire/messenger.h"

#define WINDOW 48
#define MAX_OPS 256
#define NOSPAM 0x0a0b0c0du

/* ---- decoders ---- */

static void wire(const uint8_t *in, size_t len) {
  uint8_t out[TW_MSGR_MAX_PACKET + 16];
  tw_msgr_packet p;
  int e = tw_msgr_packet_decode(&p, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (e == TW_OK) {
    FUZZ_CHECK(len >= 1 && len <= TW_MSGR_MAX_PACKET && p.id == in[0]);
    int n = tw_msgr_packet_encode(out, sizeof out, &p);
    FUZZ_CHECK(n > 0 && (size_t)n == len && memcmp(out, in, len) == 0);
  }
  e = tw_msgr_lossy_decode(&p, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (e == TW_OK) {
    FUZZ_CHECK(p.id >= TW_MSGR_CUSTOM_LOSSY_FIRST && p.id <= TW_MSGR_CUSTOM_LOSSY_LAST);
    int n = tw_msgr_packet_encode(out, sizeof out, &p);
    FUZZ_CHECK(n > 0 && (size_t)n == len && memcmp(out, in, len) == 0);
  }
  tw_msgr_friend_request req;
  uint8_t rout[TW_MSGR_FRIEND_REQUEST_MAX];
  e = tw_msgr_friend_request_decode(&req, in, len);
  FUZZ_CHECK(fuzz_known_error(e));
  if (e == TW_OK) {
    FUZZ_CHECK(req.message_len >= 1 && req.message_len <= TW_MSGR_MAX_FRIEND_REQUEST_LENGTH);
    int n = tw_msgr_friend_request_encode(rout, sizeof rout, &req);
    FUZZ_CHECK(n > 0 && (size_t)n == len && memcmp(rout, in, len) == 0);
  }
}

/* ---- the harness's transport and application ---- */

typedef struct in_file {
  bool live;
  uint64_t size, next; /* next byte expected */
} in_file;

typedef struct harness {
  tw_msgr *m;
  tw_time_ms now;
  tw_key self, friend_pk, stranger;
  uint32_t conn;
  bool up;
  bool full; /* the window says full whatever is in flight */
  uint32_t next_number, confirmed;
  in_file in[256];
  bool out_live[256];
  uint64_t events;
} harness;

static int h_friend_add(void *ctx, const tw_key *pk, uint32_t *conn_id, tw_time_ms now) {
  harness *h = ctx;
  (void)now;
  *conn_id = tw_key_equal(pk, &h->friend_pk) ? h->conn : 900 + pk->bytes[0];
  return TW_OK;
}

static int h_friend_remove(void *ctx, uint32_t conn_id, tw_time_ms now) {
  (void)ctx;
  (void)conn_id;
  (void)now;
  return TW_OK;
}

static uint32_t h_send_space(void *ctx, uint32_t conn_id) {
  harness *h = ctx;
  if (!h->up || conn_id != h->conn || h->full) return 0;
  uint32_t used = h->next_number - h->confirmed;
  FUZZ_CHECK(used <= WINDOW);
  return WINDOW - used;
}

static int h_send_lossless(void *ctx, uint32_t conn_id, const uint8_t *data, size_t len,
                           uint32_t *number, tw_time_ms now) {
  harness *h = ctx;
  (void)now;
  FUZZ_CHECK(len >= 1 && len <= TW_MSGR_MAX_PACKET);
  FUZZ_CHECK(data[0] >= 0x10 && data[0] < 192);
  if (!h->up || conn_id != h->conn) return TW_E_NOROUTE;
  if (h_send_space(ctx, conn_id) == 0) return TW_E_FULL;
  /* What we send must be what our own decoder takes. */
  tw_msgr_packet p;
  FUZZ_CHECK(tw_msgr_packet_decode(&p, data, len) == TW_OK);
  *number = h->next_number++;
  return TW_OK;
}

static int h_send_lossy(void *ctx, uint32_t conn_id, const uint8_t *data, size_t len,
                        tw_time_ms now) {
  harness *h = ctx;
  (void)now;
  FUZZ_CHECK(len >= 1 && len <= TW_MSGR_MAX_PACKET);
  return h->up && conn_id == h->conn ? TW_OK : TW_E_NOROUTE;
}

static bool h_delivered(void *ctx, uint32_t conn_id, uint32_t number) {
  harness *h = ctx;
  (void)conn_id;
  return h->confirmed - number - 1 < h->next_number - number;
}

static int h_send_onion(void *ctx, const tw_key *to, const uint8_t *data, size_t len,
                        tw_time_ms now) {
  (void)ctx;
  (void)to;
  (void)now;
  FUZZ_CHECK(len >= TW_MSGR_FRIEND_REQUEST_MIN && len <= TW_MSGR_FRIEND_REQUEST_MAX);
  FUZZ_CHECK(data[0] == TW_MSGR_ONION_FRIEND_REQUEST);
  return 1;
}

static void h_event(void *ctx, const tw_msgr_event *ev) {
  harness *h = ctx;
  h->events++;
  FUZZ_CHECK(ev->len == 0 || ev->data != NULL);
  switch (ev->kind) {
  case TW_MSGR_EV_FRIEND_REQUEST:
    FUZZ_CHECK(ev->pk != NULL && ev->len >= 1 && ev->len <= TW_MSGR_MAX_FRIEND_REQUEST_LENGTH);
    FUZZ_CHECK(!tw_key_equal(ev->pk, &h->self) && !tw_key_equal(ev->pk, &h->friend_pk));
    break;
  case TW_MSGR_EV_NAME: FUZZ_CHECK(ev->len <= TW_MSGR_MAX_NAME_LENGTH); break;
  case TW_MSGR_EV_STATUS_MESSAGE: FUZZ_CHECK(ev->len <= TW_MSGR_MAX_STATUS_MESSAGE_LENGTH); break;
  case TW_MSGR_EV_USER_STATUS: FUZZ_CHECK(ev->user_status <= TW_MSGR_USER_BUSY); break;
  case TW_MSGR_EV_MESSAGE:
    FUZZ_CHECK(ev->len >= 1 && ev->len <= TW_MSGR_MAX_MESSAGE_LENGTH);
    break;
  case TW_MSGR_EV_CUSTOM_LOSSLESS:
    FUZZ_CHECK(ev->len >= 1 && (ev->data[0] == 69 || (ev->data[0] >= 160 && ev->data[0] <= 191)));
    break;
  case TW_MSGR_EV_CUSTOM_LOSSY:
    FUZZ_CHECK(ev->len >= 1 && ev->data[0] >= 192 && ev->data[0] <= 254);
    break;
  case TW_MSGR_EV_FILE_REQUEST: {
    FUZZ_CHECK(ev->dir == TW_MSGR_FILE_IN && ev->len <= TW_MSGR_MAX_FILENAME_LENGTH);
    in_file *f = &h->in[ev->file_number];
    FUZZ_CHECK(!f->live);
    *f = (in_file){.live = true, .size = ev->file_size, .next = 0};
    break;
  }
  case TW_MSGR_EV_FILE_CHUNK: {
    in_file *f = &h->in[ev->file_number];
    FUZZ_CHECK(f->live && ev->len >= 1 && ev->len <= TW_MSGR_FILE_CHUNK_SIZE);
    /* In order, without gaps, inside the file (after a seek: from there). */
    FUZZ_CHECK(ev->position >= f->next);
    if (f->next > 0) FUZZ_CHECK(ev->position == f->next);
    if (f->size != TW_MSGR_FILE_SIZE_UNKNOWN) FUZZ_CHECK(ev->position + ev->len <= f->size);
    f->next = ev->position + ev->len;
    break;
  }
  case TW_MSGR_EV_FILE_DONE:
  case TW_MSGR_EV_FILE_CLOSED:
    if (ev->dir == TW_MSGR_FILE_IN) {
      FUZZ_CHECK(h->in[ev->file_number].live);
      h->in[ev->file_number].live = false;
    } else {
      FUZZ_CHECK(h->out_live[ev->file_number]);
      h->out_live[ev->file_number] = false;
    }
    break;
  default:
    break;
  }
  /* No re-entry, whatever we try. */
  FUZZ_CHECK(tw_msgr_set_typing(h->m, 0, true, h->now) == TW_E_INVAL);
}

static int h_read(void *ctx, uint64_t position, uint8_t *buf, size_t len) {
  harness *h = ctx;
  FUZZ_CHECK(len >= 1 && len <= TW_MSGR_FILE_CHUNK_SIZE);
  for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(position + i);
  /* A stream of unknown size ends somewhere the clock decides. */
  if (position > 20000 + (h->now & 0xffff)) return (int)(len / 2);
  return (int)len;
}

/* ---- driving it ---- */

static void check_verdict(harness *h, int rc, uint64_t before) {
  FUZZ_CHECK(fuzz_known_error(rc));
  tw_msgr_stats st;
  tw_msgr_get_stats(h->m, &st);
  uint64_t sum = 0;
  for (int i = 0; i < TW_ERROR_COUNT; i++) sum += st.dropped[i];
  FUZZ_CHECK(sum == st.dropped_total);
  FUZZ_CHECK(st.dropped[0] == 0);
  FUZZ_CHECK(st.dropped_total == before + (rc != TW_OK));
  FUZZ_CHECK(st.friends >= 1 && st.online <= st.friends);
}

static uint64_t drops(harness *h) {
  tw_msgr_stats st;
  tw_msgr_get_stats(h->m, &st);
  return st.dropped_total;
}

static void go_online(harness *h) {
  h->up = true;
  FUZZ_CHECK(tw_msgr_handle_connection(h->m, h->conn, true, h->now) == TW_OK);
  const uint8_t online = TW_MSGR_ID_ONLINE;
  FUZZ_CHECK(tw_msgr_handle_lossless(h->m, h->conn, &online, 1, h->now) == TW_OK);
  tw_msgr_friend_info fi;
  FUZZ_CHECK(tw_msgr_friend_get_info(h->m, 0, &fi) == TW_OK && fi.online);
}

/* What tw_msgr holds is what the events left open. */
static void check_files(harness *h) {
  for (int i = 0; i < 256; i++) {
    tw_msgr_file_info fi;
    int in = tw_msgr_file_get_info(h->m, 0, TW_MSGR_FILE_IN, (uint8_t)i, &fi);
    FUZZ_CHECK((in == TW_OK) == h->in[i].live);
    if (in == TW_OK) {
      FUZZ_CHECK(fi.state == TW_MSGR_FILE_PENDING || fi.state == TW_MSGR_FILE_TRANSFERRING);
      FUZZ_CHECK(fi.size == TW_MSGR_FILE_SIZE_UNKNOWN || fi.position <= fi.size);
      FUZZ_CHECK(fi.name_len <= TW_MSGR_MAX_FILENAME_LENGTH);
    }
    int out = tw_msgr_file_get_info(h->m, 0, TW_MSGR_FILE_OUT, (uint8_t)i, &fi);
    FUZZ_CHECK((out == TW_OK) == h->out_live[i]);
    if (out == TW_OK) {
      FUZZ_CHECK(fi.state >= TW_MSGR_FILE_PENDING && fi.state <= TW_MSGR_FILE_FINISHING);
      FUZZ_CHECK(fi.size == TW_MSGR_FILE_SIZE_UNKNOWN || fi.position <= fi.size);
    }
  }
}

static void app_action(harness *h, const uint8_t *d, size_t n) {
  if (n < 2) return;
  uint8_t num = d[1];
  uint64_t arg = 0;
  for (size_t i = 2; i < n && i < 10; i++) arg = (arg << 8) | d[i];
  int rc;
  switch (d[0] % 14) {
  case 0: rc = tw_msgr_file_control(h->m, 0, TW_MSGR_FILE_IN, num, TW_MSGR_FILE_RESUME, h->now); break;
  case 1: rc = tw_msgr_file_control(h->m, 0, TW_MSGR_FILE_IN, num, TW_MSGR_FILE_PAUSE, h->now); break;
  case 2:
    rc = tw_msgr_file_control(h->m, 0, TW_MSGR_FILE_IN, num, TW_MSGR_FILE_KILL, h->now);
    if (rc == TW_OK || rc == TW_E_FULL) h->in[num].live = false;
    break;
  case 3: rc = tw_msgr_file_seek(h->m, 0, num, arg, h->now); break;
  case 4: rc = tw_msgr_file_control(h->m, 0, TW_MSGR_FILE_OUT, num, TW_MSGR_FILE_PAUSE, h->now); break;
  case 5: rc = tw_msgr_file_control(h->m, 0, TW_MSGR_FILE_OUT, num, TW_MSGR_FILE_RESUME, h->now); break;
  case 6:
    rc = tw_msgr_file_control(h->m, 0, TW_MSGR_FILE_OUT, num, TW_MSGR_FILE_KILL, h->now);
    if (rc == TW_OK || rc == TW_E_FULL) h->out_live[num] = false;
    break;
  case 7: {
    uint8_t fnum;
    uint64_t size = (num & 1) ? TW_MSGR_FILE_SIZE_UNKNOWN : arg % 100000;
    rc = tw_msgr_file_send(h->m, 0, num, size, NULL, d + 2, n - 2 > 255 ? 255 : n - 2, h_read, h,
                           &fnum, h->now);
    if (rc == TW_OK) {
      FUZZ_CHECK(!h->out_live[fnum]);
      h->out_live[fnum] = true;
    }
    break;
  }
  case 8: {
    uint32_t id;
    rc = tw_msgr_send_message(h->m, 0, num & 1, d + 2, n - 2, &id, h->now);
    break;
  }
  case 9: rc = tw_msgr_set_name(h->m, d + 2, n - 2, h->now); break;
  case 10: rc = tw_msgr_set_typing(h->m, 0, num & 1, h->now); break;
  case 11: rc = tw_msgr_send_custom_lossless(h->m, 0, d + 1, n - 1, h->now); break;
  case 12: {
    /* Another friend comes and goes; friend 0 stays. */
    tw_key k = h->stranger;
    k.bytes[1] = num;
    uint32_t fn;
    rc = tw_msgr_friend_add_norequest(h->m, &k, &fn, h->now);
    if (rc == TW_OK) FUZZ_CHECK(fn != 0 && tw_msgr_friend_delete(h->m, fn, h->now) == TW_OK);
    break;
  }
  default: {
    uint8_t id[TW_TOXID_SIZE];
    tw_toxid t = {.pk = h->stranger, .nospam = (uint32_t)arg};
    t.pk.bytes[2] = num;
    tw_toxid_pack(&t, id);
    uint32_t fn;
    rc = tw_msgr_friend_add(h->m, id, sizeof id, d + 2, n - 2, &fn, h->now);
    break;
  }
  }
  FUZZ_CHECK(fuzz_known_error(rc));
}

static void session(const uint8_t *in, size_t size) {
  harness h;
  memset(&h, 0, sizeof h);
  h.now = 5000000;
  h.conn = 7;
  h.next_number = h.confirmed = 0xfffffff0u; /* wraps early */
  memset(h.self.bytes, 0x51, 32);
  memset(h.friend_pk.bytes, 0x52, 32);
  memset(h.stranger.bytes, 0x53, 32);
  fuzz_rng rng = {size};
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &rng};
  env.log.fn = fuzz_discard_log;
  env.log.level = TW_LOG_TRACE;
  tw_msgr_config cfg = {
      .self_pk = h.self, .nospam = NOSPAM,
      .name = (const uint8_t *)"fuzz", .name_len = 4,
      .transport = {.ctx = &h, .friend_add = h_friend_add, .friend_remove = h_friend_remove,
                    .send_lossless = h_send_lossless, .send_lossy = h_send_lossy,
                    .delivered = h_delivered, .send_space = h_send_space,
                    .send_onion_data = h_send_onion},
      .on_event = h_event, .event_ctx = &h};
  h.m = tw_msgr_new(&cfg, &env);
  FUZZ_CHECK(h.m != NULL);
  uint32_t fn;
  FUZZ_CHECK(tw_msgr_friend_add_norequest(h.m, &h.friend_pk, &fn, h.now) == TW_OK && fn == 0);
  go_online(&h);

  tw_reader r = tw_reader_init(in, size);
  static uint8_t buf[2048];
  for (int ops = 0; ops < MAX_OPS && tw_reader_left(&r) >= 3; ops++) {
    uint8_t op = tw_read_u8(&r);
    size_t len = tw_read_u16(&r) % 1500;
    if (len > tw_reader_left(&r)) len = tw_reader_left(&r);
    const uint8_t *d = tw_read_span(&r, len);
    uint64_t before = drops(&h);
    int rc;
    switch (op % 8) {
    case 0:
      rc = tw_msgr_handle_lossless(h.m, h.conn, d, len, h.now);
      check_verdict(&h, rc, before);
      break;
    case 1:
      rc = tw_msgr_handle_lossy(h.m, h.conn, d, len, h.now);
      check_verdict(&h, rc, before);
      break;
    case 2: {
      const tw_key *from = &h.stranger;
      size_t n = len > sizeof buf ? sizeof buf : len;
      if (n > 0) memcpy(buf, d, n);
      if (n > 0 && (buf[0] & 3) == 1) from = &h.friend_pk;
      if (n > 0 && (buf[0] & 3) == 2) from = &h.self;
      if (n >= 5 && (buf[0] & 4)) {
        buf[0] = TW_MSGR_ONION_FRIEND_REQUEST;
        buf[1] = 0x0a, buf[2] = 0x0b, buf[3] = 0x0c, buf[4] = 0x0d;
      }
      rc = tw_msgr_handle_onion_data(h.m, from, buf, n, h.now);
      check_verdict(&h, rc, before);
      break;
    }
    case 3:
      if (len > 0 && (d[0] & 1)) {
        h.full = !h.full;
        break;
      }
      h.confirmed = h.next_number;
      rc = tw_msgr_handle_acked(h.m, h.conn, h.now);
      check_verdict(&h, rc, before);
      break;
    case 4:
      h.up = false;
      h.confirmed = h.next_number;
      FUZZ_CHECK(tw_msgr_handle_connection(h.m, h.conn, false, h.now) == TW_OK);
      /* Everything of the friend's ended. */
      for (int i = 0; i < 256; i++) FUZZ_CHECK(!h.in[i].live && !h.out_live[i]);
      go_online(&h);
      break;
    case 5:
      app_action(&h, d, len);
      break;
    case 6: {
      h.now += (len > 0 ? d[0] : 1) * 1000u;
      tw_msgr_on_timer(h.m, h.now);
      FUZZ_CHECK(tw_msgr_next_deadline(h.m) > h.now); /* nothing due is left */
      break;
    }
    default: {
      /* A FILE_DATA or FILE_CONTROL for a live incoming file. */
      int pick = -1;
      for (int i = 0; i < 256 && pick < 0; i++)
        if (h.in[(i + (len ? d[0] : 0)) % 256].live) pick = (i + (len ? d[0] : 0)) % 256;
      if (pick < 0 || len < 1) break;
      size_t n = len + 1 > sizeof buf ? sizeof buf - 1 : len;
      buf[0] = (d[0] & 0x80) ? TW_MSGR_ID_FILE_CONTROL : TW_MSGR_ID_FILE_DATA;
      memcpy(buf + 1, d, n);
      buf[1] = (uint8_t)pick;
      if (buf[0] == TW_MSGR_ID_FILE_CONTROL && n >= 3) {
        buf[1] = 0, buf[2] = (uint8_t)pick, buf[3] &= 3;
      }
      rc = tw_msgr_handle_lossless(h.m, h.conn, buf, n + 1, h.now);
      check_verdict(&h, rc, before);
      break;
    }
    }
    check_files(&h);
  }
  tw_msgr_free(h.m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_me(); /* libsodium */
  uint8_t *in = malloc(size ? size : 1);
  if (in == NULL) return 0;
  memcpy(in, data, size);
  wire(in, size);
  session(in, size);
  free(in);
  return 0;
}

/* ---- seeds ---- */

typedef struct seedbuf {
  uint8_t b[8192];
  size_t n;
} seedbuf;

static void rec(seedbuf *s, uint8_t op, const void *p, size_t len) {
  if (s->n + 3 + len > sizeof s->b) abort();
  s->b[s->n++] = op;
  s->b[s->n++] = (uint8_t)(len >> 8);
  s->b[s->n++] = (uint8_t)len;
  memcpy(s->b + s->n, p, len);
  s->n += len;
}

static void write_seeds(const char *dir) {
  mkdir(dir, 0755);
  uint8_t p[1400];
  tw_writer w;
  seedbuf s;
  /* Details and a conversation. */
  s.n = 0;
  rec(&s, 0, "\x30" "Bob", 4);
  rec(&s, 0, "\x31" "fishing", 8);
  rec(&s, 0, "\x32\x01", 2);
  rec(&s, 0, "\x33\x01", 2);
  rec(&s, 0, "\x40" "hello there", 12);
  rec(&s, 0, "\x41" "waves", 6);
  rec(&s, 0, "\xa0\x01\x02", 3);
  rec(&s, 1, "\xc8\x09", 2);
  rec(&s, 5, "\x08\x00hi back", 9);
  rec(&s, 3, "", 0);
  rec(&s, 0, "\x19", 1);
  rec(&s, 0, "\x18", 1);
  fuzz_write_seed(dir, "chat", s.b, s.n);
  /* A file offered to us, accepted, data, done; then a stream. */
  s.n = 0;
  uint8_t id[32];
  memset(id, 0x21, sizeof id);
  tw_msgr_packet fr = {.id = TW_MSGR_ID_FILE_SENDREQUEST, .file_number = 3, .file_type = 0,
                       .file_size = 3000, .file_id = id, .text = (const uint8_t *)"a.bin",
                       .text_len = 5};
  int n = tw_msgr_packet_encode(p, sizeof p, &fr);
  rec(&s, 0, p, (size_t)n);
  rec(&s, 5, "\x03\x03\x00\x00\x00\x00\x00\x00\x00\x64", 10); /* seek to 100 */
  rec(&s, 5, "\x00\x03", 2);                                     /* accept */
  memset(p, 0x5a, sizeof p);
  p[0] = TW_MSGR_ID_FILE_DATA;
  p[1] = 3;
  rec(&s, 0, p, 2 + 1371);
  rec(&s, 5, "\x01\x03", 2);                                     /* pause */
  rec(&s, 0, "\x51\x00\x03\x01", 4);                             /* sender pauses too */
  rec(&s, 5, "\x00\x03", 2);
  rec(&s, 0, "\x51\x00\x03\x00", 4);
  rec(&s, 0, p, 2 + 500);
  fr.file_number = 4;
  fr.file_size = UINT64_MAX;
  fr.file_type = 1;
  n = tw_msgr_packet_encode(p, sizeof p, &fr);
  rec(&s, 0, p, (size_t)n);
  rec(&s, 5, "\x00\x04", 2);
  rec(&s, 7, "\x04\x01\x02\x03", 4);
  rec(&s, 7, "\x84\x00\x04\x02", 4);
  fuzz_write_seed(dir, "file-in", s.b, s.n);
  /* We offer files; the friend accepts, seeks, pauses, kills; acks pump. */
  s.n = 0;
  rec(&s, 5, "\x07\x00\x00\x00\x00\x00\x00\x00\x27\x10" "doc", 13); /* 10000 bytes */
  rec(&s, 5, "\x07\x01\x00\x00\x00\x00\x00\x00\x00\x00" "stream", 16);
  rec(&s, 5, "\x07\x02\x00\x00\x00\x00\x00\x00\x00\x00", 10); /* zero size */
  rec(&s, 0, "\x51\x01\x00\x03\x00\x00\x00\x00\x00\x00\x00\x10", 12);
  rec(&s, 0, "\x51\x01\x00\x00", 4);
  rec(&s, 0, "\x51\x01\x01\x00", 4);
  rec(&s, 0, "\x51\x01\x02\x00", 4);
  rec(&s, 3, "", 0);
  rec(&s, 0, "\x51\x01\x01\x01", 4);
  rec(&s, 3, "", 0);
  rec(&s, 0, "\x51\x01\x01\x00", 4);
  rec(&s, 5, "\x04\x00", 2);
  rec(&s, 3, "", 0);
  rec(&s, 5, "\x05\x00", 2);
  rec(&s, 3, "", 0);
  rec(&s, 3, "", 0);
  rec(&s, 0, "\x51\x01\x01\x02", 4);
  rec(&s, 4, "", 0);
  fuzz_write_seed(dir, "file-out", s.b, s.n);
  /* Friend requests: good, repeated, wrong nospam, from the friend. */
  s.n = 0;
  w = tw_writer_init(p, sizeof p);
  tw_write_u8(&w, 0x04 | 0x00); /* harness writes [32][nospam] over the first five bytes */
  tw_write_u32(&w, 0);
  tw_write_bytes(&w, "add me please", 13);
  rec(&s, 2, p, w.pos);
  rec(&s, 2, p, w.pos);
  p[0] = 32;
  p[1] = 9;
  rec(&s, 2, p, w.pos);
  p[0] = 0x05;
  rec(&s, 2, p, w.pos);
  rec(&s, 5, "\x0d\x01\x01\x02\x03\x04" "hello", 11); /* we add someone by Tox ID */
  rec(&s, 6, "\x03", 1);
  rec(&s, 6, "\x05", 1);
  rec(&s, 6, "\x40", 1);
  rec(&s, 5, "\x0c\x07", 2);
  fuzz_write_seed(dir, "requests", s.b, s.n);
  /* Single packets of every kind, for the decoders. */
  const char *const singles[][2] = {
      {"online", "\x18"}, {"nickname", "\x30" "n"}, {"typing", "\x33\x01"},
      {"control-seek", "\x51\x01\x05\x03\x00\x00\x00\x00\x00\x00\x01\x00"},
      {"custom", "\xbf" "c"}, {"lossy", "\xfe" "l"}, {"request", "\x20\x01\x02\x03\x04" "m"},
  };
  const size_t lens[] = {1, 2, 2, 12, 2, 2, 6};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
    fuzz_write_seed(dir, singles[i][0], (const uint8_t *)singles[i][1], lens[i]);
}

/* TW_FUZZ_WRITE_SEEDS=DIR writes the hand-made seeds and exits. */
FUZZ_SEED_WRITER(write_seeds)
