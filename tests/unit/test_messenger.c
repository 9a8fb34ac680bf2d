/* Scenario tests of Messenger (spec "Messenger", "Friend requests", "File
 * Transfer Related Packets"): two tw_msgr wired to each other through an
 * in-test transport and a fake clock.
 *
 * The transport queues each side's lossless packets with numbers, hands
 * them to the other side when the test says so, and confirms them on
 * demand (so receipts and back-pressure are visible); its window can be
 * shrunk or forced full. Onion data (friend requests) is captured and
 * handed over by the test. Nothing is delivered from inside a call, so
 * neither messenger is ever re-entered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "friend/msgr_wire.h"
#include "testutil.h"
#include "toxwire/error.h"
#include "toxwire/messenger.h"

/* The spec's numbers, written out so a wrong library constant fails. */
#define SPEC_CHUNK 1371
#define SPEC_REQUEST_FIRST_MS 2000

/* ---- the in-test transport ---- */

#define QCAP 4096
#define MAX_ONION 128
#define MAX_CONN 64

typedef struct qpkt {
  uint32_t number;
  uint16_t len;
  uint8_t data[TW_MSGR_MAX_PACKET];
} qpkt;

typedef struct logged {
  tw_msgr_event e; /* pointers cleared: use the copies below */
  uint8_t data[1400];
  tw_key pk;
  uint8_t file_id[32];
} logged;

typedef struct onion_sent {
  tw_key to;
  uint8_t data[1100];
  size_t len;
  tw_time_ms at;
} onion_sent;

typedef struct side side;

/* An outgoing file's bytes, pulled by tw_msgr through read(). */
typedef struct source {
  const uint8_t *data;
  uint64_t size; /* bytes available (a stream ends there) */
  int fail_at_read; /* > 0: that read fails */
  int reads;
} source;

struct side {
  const char *name;
  tw_msgr *m;
  tw_keypair kp;
  side *peer;
  tw_time_ms *now;
  /* transport */
  tw_key conn_pk[MAX_CONN];
  bool conn_live[MAX_CONN];
  uint32_t next_conn;
  int friend_add_rc;
  int removed;
  bool up;
  uint32_t window;
  bool force_full;
  int refuse_sends; /* the next sends fail TW_E_FULL whatever the space */
  uint32_t next_number, confirmed; /* numbers below confirmed arrived */
  qpkt *q;
  size_t qhead, qcount;
  qpkt lossy[16];
  int nlossy;
  onion_sent onion[MAX_ONION];
  int nonion;
  bool onion_ok;
  /* events */
  logged *log;
  size_t nlog, caplog;
  /* incoming file bytes land here, by position */
  uint8_t *sink;
  size_t sink_cap;
  uint64_t sink_bytes;
  /* re-entrance probe */
  bool try_reenter;
  int reenter_rc;
};

typedef struct net {
  tw_time_ms now;
  test_rng rng;
  tw_env env;
  side a, b;
} net;

static uint32_t conn_of(const side *s, const tw_key *pk) {
  for (uint32_t i = 0; i < s->next_conn; i++)
    if (s->conn_live[i] && tw_key_equal(&s->conn_pk[i], pk)) return 100 + i;
  fail_msg("%s has no connection for that key", s->name);
  return 0;
}

static int t_friend_add(void *ctx, const tw_key *pk, uint32_t *conn_id, tw_time_ms now) {
  side *s = ctx;
  (void)now;
  if (s->friend_add_rc != TW_OK) return s->friend_add_rc;
  if (s->next_conn == MAX_CONN) return TW_E_FULL;
  s->conn_pk[s->next_conn] = *pk;
  s->conn_live[s->next_conn] = true;
  *conn_id = 100 + s->next_conn++;
  return TW_OK;
}

static int t_friend_remove(void *ctx, uint32_t conn_id, tw_time_ms now) {
  side *s = ctx;
  (void)now;
  assert_true(conn_id >= 100 && conn_id < 100 + s->next_conn);
  s->conn_live[conn_id - 100] = false;
  s->removed++;
  return TW_OK;
}

static bool to_peer(const side *s, uint32_t conn_id) {
  return s->up && s->conn_live[conn_id - 100] && tw_key_equal(&s->conn_pk[conn_id - 100], &s->peer->kp.pk);
}

static uint32_t t_send_space(void *ctx, uint32_t conn_id) {
  side *s = ctx;
  if (!to_peer(s, conn_id) || s->force_full) return 0;
  uint32_t in_flight = s->next_number - s->confirmed;
  return in_flight >= s->window ? 0 : s->window - in_flight;
}

static int t_send_lossless(void *ctx, uint32_t conn_id, const uint8_t *data, size_t len,
                           uint32_t *number, tw_time_ms now) {
  side *s = ctx;
  (void)now;
  if (!to_peer(s, conn_id)) return TW_E_NOROUTE;
  if (t_send_space(ctx, conn_id) == 0) return TW_E_FULL;
  if (s->refuse_sends > 0) {
    s->refuse_sends--;
    return TW_E_FULL;
  }
  assert_true(len >= 1 && len <= TW_MSGR_MAX_PACKET);
  assert_true(s->qcount < QCAP);
  qpkt *p = &s->q[(s->qhead + s->qcount++) % QCAP];
  p->number = s->next_number++;
  p->len = (uint16_t)len;
  memcpy(p->data, data, len);
  *number = p->number;
  return TW_OK;
}

static int t_send_lossy(void *ctx, uint32_t conn_id, const uint8_t *data, size_t len,
                        tw_time_ms now) {
  side *s = ctx;
  (void)now;
  if (!to_peer(s, conn_id)) return TW_E_NOROUTE;
  assert_true(s->nlossy < 16);
  s->lossy[s->nlossy].len = (uint16_t)len;
  memcpy(s->lossy[s->nlossy++].data, data, len);
  return TW_OK;
}

static bool t_delivered(void *ctx, uint32_t conn_id, uint32_t number) {
  side *s = ctx;
  (void)conn_id;
  /* Wrapping arithmetic, as a real window would. */
  return s->confirmed - number - 1 < s->next_number - number;
}

static int t_send_onion(void *ctx, const tw_key *to, const uint8_t *data, size_t len,
                        tw_time_ms now) {
  side *s = ctx;
  if (!s->onion_ok) return TW_E_NOROUTE;
  assert_true(s->nonion < MAX_ONION && len <= sizeof s->onion[0].data);
  onion_sent *o = &s->onion[s->nonion++];
  o->to = *to;
  memcpy(o->data, data, len);
  o->len = len;
  o->at = now;
  return 1;
}

static void on_event(void *ctx, const tw_msgr_event *ev) {
  side *s = ctx;
  if (s->try_reenter) {
    s->reenter_rc = tw_msgr_send_message(s->m, 0, TW_MSGR_MESSAGE_NORMAL, (const uint8_t *)"x", 1,
                                         NULL, *s->now);
    s->try_reenter = false;
  }
  if (ev->kind == TW_MSGR_EV_FILE_CHUNK && s->sink != NULL) {
    assert_true(ev->position + ev->len <= s->sink_cap);
    memcpy(s->sink + ev->position, ev->data, ev->len);
    s->sink_bytes += ev->len;
  }
  if (s->nlog == s->caplog) {
    s->caplog = s->caplog ? s->caplog * 2 : 64;
    s->log = realloc(s->log, s->caplog * sizeof *s->log);
    assert_non_null(s->log);
  }
  logged *l = &s->log[s->nlog++];
  memset(l, 0, sizeof *l);
  l->e = *ev;
  assert_true(ev->len <= sizeof l->data);
  if (ev->len) memcpy(l->data, ev->data, ev->len);
  if (ev->pk) l->pk = *ev->pk;
  if (ev->file_id) memcpy(l->file_id, ev->file_id, 32);
  l->e.data = NULL;
  l->e.pk = NULL;
  l->e.file_id = NULL;
}

static int read_source(void *ctx, uint64_t position, uint8_t *buf, size_t len) {
  source *src = ctx;
  src->reads++;
  if (src->fail_at_read > 0 && src->reads == src->fail_at_read) return -1;
  if (position >= src->size) return 0;
  size_t n = src->size - position < len ? (size_t)(src->size - position) : len;
  memcpy(buf, src->data + position, n);
  return (int)n;
}

static tw_msgr *make_msgr(net *n, side *s, const char *name, const char *status) {
  tw_msgr_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.self_pk = s->kp.pk;
  cfg.nospam = 0x11223344u + (s == &n->b);
  cfg.name = (const uint8_t *)name;
  cfg.name_len = strlen(name);
  cfg.status_message = (const uint8_t *)status;
  cfg.status_message_len = strlen(status);
  cfg.user_status = TW_MSGR_USER_ONLINE;
  cfg.transport = (tw_msgr_transport){
      .ctx = s, .friend_add = t_friend_add, .friend_remove = t_friend_remove,
      .send_lossless = t_send_lossless, .send_lossy = t_send_lossy, .delivered = t_delivered,
      .send_space = t_send_space, .send_onion_data = t_send_onion};
  cfg.on_event = on_event;
  cfg.event_ctx = s;
  return tw_msgr_new(&cfg, &n->env);
}

static void side_init(net *n, side *s, const char *name, uint64_t seed) {
  s->name = name;
  s->kp = test_keypair(seed);
  s->now = &n->now;
  s->window = 256;
  /* Numbers start high so that a wrap is crossed in every long test. */
  s->next_number = s->confirmed = 0xffffff00u;
  s->q = calloc(QCAP, sizeof *s->q);
  assert_non_null(s->q);
  s->onion_ok = true;
  s->friend_add_rc = TW_OK;
}

static int setup(void **state) {
  net *n = calloc(1, sizeof *n);
  n->rng.state = 42;
  n->env = test_env(&n->rng);
  n->now = 1000000;
  side_init(n, &n->a, "alice", 1);
  side_init(n, &n->b, "bob", 2);
  n->a.peer = &n->b;
  n->b.peer = &n->a;
  n->a.m = make_msgr(n, &n->a, "Alice", "at work");
  n->b.m = make_msgr(n, &n->b, "Bob", "fishing");
  assert_non_null(n->a.m);
  assert_non_null(n->b.m);
  *state = n;
  return 0;
}

static int teardown(void **state) {
  net *n = *state;
  side *sides[2] = {&n->a, &n->b};
  for (int i = 0; i < 2; i++) {
    tw_msgr_free(sides[i]->m);
    free(sides[i]->q);
    free(sides[i]->log);
    free(sides[i]->sink);
  }
  free(n);
  return 0;
}

/* Hands everything s queued to its peer, then (with ack) confirms it. */
static void deliver(net *n, side *s, bool ack) {
  side *to = s->peer;
  while (s->qcount > 0) {
    qpkt *p = &s->q[s->qhead];
    s->qhead = (s->qhead + 1) % QCAP;
    s->qcount--;
    tw_msgr_handle_lossless(to->m, conn_of(to, &s->kp.pk), p->data, p->len, n->now);
  }
  for (int i = 0; i < s->nlossy; i++)
    tw_msgr_handle_lossy(to->m, conn_of(to, &s->kp.pk), s->lossy[i].data, s->lossy[i].len, n->now);
  s->nlossy = 0;
  if (ack && s->confirmed != s->next_number) {
    s->confirmed = s->next_number;
    assert_int_equal(tw_msgr_handle_acked(s->m, conn_of(s, &to->kp.pk), n->now), TW_OK);
  }
}

/* Until nothing moves: deliver both ways, confirm, 1 ms per round. */
static void run(net *n) {
  for (int i = 0; i < 100000; i++) {
    bool busy = n->a.qcount || n->b.qcount || n->a.nlossy || n->b.nlossy ||
                n->a.confirmed != n->a.next_number || n->b.confirmed != n->b.next_number;
    if (!busy) return;
    deliver(n, &n->a, true);
    deliver(n, &n->b, true);
    n->now += 1;
  }
  fail_msg("the two messengers never went quiet");
}

static void connect_both(net *n) {
  n->a.up = n->b.up = true;
  assert_int_equal(tw_msgr_handle_connection(n->a.m, conn_of(&n->a, &n->b.kp.pk), true, n->now), TW_OK);
  assert_int_equal(tw_msgr_handle_connection(n->b.m, conn_of(&n->b, &n->a.kp.pk), true, n->now), TW_OK);
  run(n);
}

/* The connection drops: what was in flight is lost. */
static void disconnect_both(net *n) {
  n->a.up = n->b.up = false;
  n->a.qcount = n->b.qcount = 0;
  n->a.nlossy = n->b.nlossy = 0;
  n->a.confirmed = n->a.next_number;
  n->b.confirmed = n->b.next_number;
  tw_msgr_handle_connection(n->a.m, conn_of(&n->a, &n->b.kp.pk), false, n->now);
  tw_msgr_handle_connection(n->b.m, conn_of(&n->b, &n->a.kp.pk), false, n->now);
}

/* A and B have each other (friend 0 on both sides) and are online. */
static void make_friends(net *n) {
  uint32_t fa, fb;
  assert_int_equal(tw_msgr_friend_add_norequest(n->a.m, &n->b.kp.pk, &fa, n->now), TW_OK);
  assert_int_equal(tw_msgr_friend_add_norequest(n->b.m, &n->a.kp.pk, &fb, n->now), TW_OK);
  assert_int_equal(fa, 0);
  assert_int_equal(fb, 0);
  connect_both(n);
  tw_msgr_friend_info ia, ib;
  assert_int_equal(tw_msgr_friend_get_info(n->a.m, 0, &ia), TW_OK);
  assert_int_equal(tw_msgr_friend_get_info(n->b.m, 0, &ib), TW_OK);
  assert_true(ia.online && ib.online);
}

static int count_ev(const side *s, tw_msgr_event_kind k) {
  int c = 0;
  for (size_t i = 0; i < s->nlog; i++) c += s->log[i].e.kind == k;
  return c;
}

/* The last event of kind k, or NULL. */
static const logged *last_ev(const side *s, tw_msgr_event_kind k) {
  for (size_t i = s->nlog; i > 0; i--)
    if (s->log[i - 1].e.kind == k) return &s->log[i - 1];
  return NULL;
}

static void clear_log(side *s) { s->nlog = 0; }

static uint64_t dropped(const side *s, int code) {
  tw_msgr_stats st;
  tw_msgr_get_stats(s->m, &st);
  return st.dropped[-code];
}

static uint64_t dropped_total(const side *s) {
  tw_msgr_stats st;
  tw_msgr_get_stats(s->m, &st);
  uint64_t sum = 0;
  for (int i = 0; i < TW_ERROR_COUNT; i++) sum += st.dropped[i];
  assert_true(sum == st.dropped_total);
  return st.dropped_total;
}

/* Feeds raw bytes to s as if its peer sent them. */
static int inject(net *n, side *s, const uint8_t *data, size_t len) {
  return tw_msgr_handle_lossless(s->m, conn_of(s, &s->peer->kp.pk), data, len, n->now);
}

static uint8_t *pseudo_random(size_t len, uint64_t seed) {
  uint8_t *p = malloc(len ? len : 1);
  test_rng r = {seed};
  test_rng_fill(&r, p, len);
  return p;
}

static void give_sink(side *s, size_t cap) {
  free(s->sink);
  s->sink = calloc(1, cap ? cap : 1);
  s->sink_cap = cap;
  s->sink_bytes = 0;
}

/* ---- address and adding friends ---- */

static void test_address_is_key_nospam_and_checksum(void **state) {
  net *n = *state;
  uint8_t addr[TW_TOXID_SIZE];
  tw_msgr_get_address(n->a.m, addr);
  assert_memory_equal(addr, n->a.kp.pk.bytes, 32);
  const uint8_t nospam[4] = {0x11, 0x22, 0x33, 0x44};
  assert_memory_equal(addr + 32, nospam, 4);
  uint8_t sum[2] = {0, 0};
  for (int i = 0; i < 36; i++) sum[i % 2] ^= addr[i];
  assert_memory_equal(addr + 36, sum, 2);
  tw_msgr_set_nospam(n->a.m, 0xcafebabe);
  assert_int_equal(tw_msgr_get_nospam(n->a.m), 0xcafebabe);
  tw_msgr_get_address(n->a.m, addr);
  tw_toxid id;
  assert_int_equal(tw_toxid_unpack(&id, addr, sizeof addr), TW_OK);
  assert_int_equal(id.nospam, 0xcafebabe);
}

static void test_friend_add_refuses_bad_input(void **state) {
  net *n = *state;
  uint8_t self[TW_TOXID_SIZE], bob[TW_TOXID_SIZE];
  tw_msgr_get_address(n->a.m, self);
  tw_msgr_get_address(n->b.m, bob);
  const uint8_t *hi = (const uint8_t *)"hi";
  uint32_t fn;
  assert_int_equal(tw_msgr_friend_add(n->a.m, self, 38, hi, 2, &fn, n->now), TW_E_SELF);
  assert_int_equal(tw_msgr_friend_add(n->a.m, bob, 37, hi, 2, &fn, n->now), TW_E_SHORT);
  uint8_t bad[TW_TOXID_SIZE];
  memcpy(bad, bob, sizeof bad);
  bad[37] ^= 1;
  assert_int_equal(tw_msgr_friend_add(n->a.m, bad, 38, hi, 2, &fn, n->now), TW_E_CHECKSUM);
  assert_int_equal(tw_msgr_friend_add(n->a.m, bob, 38, hi, 0, &fn, n->now), TW_E_SHORT);
  static uint8_t longmsg[1017];
  memset(longmsg, 'a', sizeof longmsg);
  assert_int_equal(tw_msgr_friend_add(n->a.m, bob, 38, longmsg, 1017, &fn, n->now), TW_E_LONG);
  assert_int_equal(tw_msgr_friend_add(n->a.m, bob, 38, longmsg, 1016, &fn, n->now), TW_OK);
  assert_int_equal(fn, 0);
  assert_int_equal(tw_msgr_friend_add(n->a.m, bob, 38, hi, 2, &fn, n->now), TW_E_REPLAY);
  assert_int_equal(tw_msgr_friend_add_norequest(n->a.m, &n->b.kp.pk, &fn, n->now), TW_E_REPLAY);
  assert_int_equal(tw_msgr_friend_add_norequest(n->a.m, &n->a.kp.pk, &fn, n->now), TW_E_SELF);
  /* Nothing half-added: one friend, one connection asked for. */
  assert_int_equal(tw_msgr_friend_list(n->a.m, NULL, 0), 1);
  assert_int_equal(n->a.next_conn, 1);
  /* The transport's refusal comes back and adds nothing. */
  n->a.friend_add_rc = TW_E_FULL;
  tw_key other = test_key_fill(0x77);
  assert_int_equal(tw_msgr_friend_add_norequest(n->a.m, &other, &fn, n->now), TW_E_FULL);
  assert_int_equal(tw_msgr_friend_list(n->a.m, NULL, 0), 1);
}

static void test_friend_add_with_new_nospam_updates_pending_request(void **state) {
  net *n = *state;
  uint8_t bob[TW_TOXID_SIZE];
  tw_msgr_get_address(n->b.m, bob);
  uint32_t fn, fn2;
  assert_int_equal(tw_msgr_friend_add(n->a.m, bob, 38, (const uint8_t *)"one", 3, &fn, n->now), TW_OK);
  tw_msgr_set_nospam(n->b.m, 0x99);
  tw_msgr_get_address(n->b.m, bob);
  assert_int_equal(tw_msgr_friend_add(n->a.m, bob, 38, (const uint8_t *)"two", 3, &fn2, n->now), TW_OK);
  assert_int_equal(fn, fn2);
  const onion_sent *o = &n->a.onion[n->a.nonion - 1];
  tw_msgr_friend_request req;
  assert_int_equal(tw_msgr_friend_request_decode(&req, o->data, o->len), TW_OK);
  assert_int_equal(req.nospam, 0x99);
  assert_memory_equal(req.message, "two", 3);
}

static void test_friend_list_and_numbers_reused(void **state) {
  net *n = *state;
  uint32_t fn, list[8];
  for (int i = 0; i < 3; i++) {
    tw_key k = test_key_fill((uint8_t)(0x40 + i));
    assert_int_equal(tw_msgr_friend_add_norequest(n->a.m, &k, &fn, n->now), TW_OK);
    assert_int_equal(fn, (uint32_t)i);
  }
  assert_int_equal(tw_msgr_friend_delete(n->a.m, 1, n->now), TW_OK);
  assert_int_equal(n->a.removed, 1);
  assert_int_equal(tw_msgr_friend_list(n->a.m, list, 8), 2);
  assert_int_equal(list[0], 0);
  assert_int_equal(list[1], 2);
  tw_msgr_friend_info info;
  assert_int_equal(tw_msgr_friend_get_info(n->a.m, 1, &info), TW_E_NOTFOUND);
  tw_key k = test_key_fill(0x50);
  assert_int_equal(tw_msgr_friend_add_norequest(n->a.m, &k, &fn, n->now), TW_OK);
  assert_int_equal(fn, 1);
  assert_int_equal(tw_msgr_friend_by_pk(n->a.m, &k, &fn), TW_OK);
  assert_int_equal(fn, 1);
  assert_int_equal(tw_msgr_friend_delete(n->a.m, 7, n->now), TW_E_NOTFOUND);
}

/* ---- friend requests ---- */

static void test_friend_request_sent_by_onion_with_doubling_interval(void **state) {
  net *n = *state;
  uint8_t bob[TW_TOXID_SIZE];
  tw_msgr_get_address(n->b.m, bob);
  uint32_t fn;
  tw_time_ms t0 = n->now;
  assert_int_equal(tw_msgr_friend_add(n->a.m, bob, 38, (const uint8_t *)"hello bob", 9, &fn, t0), TW_OK);
  /* The first goes at once: [32][Bob's nospam][message] to Bob's key. */
  assert_int_equal(n->a.nonion, 1);
  const onion_sent *o = &n->a.onion[0];
  assert_memory_equal(o->to.bytes, n->b.kp.pk.bytes, 32);
  const uint8_t want[] = {32, 0x11, 0x22, 0x33, 0x45, 'h', 'e', 'l', 'l', 'o', ' ', 'b', 'o', 'b'};
  assert_int_equal(o->len, sizeof want);
  assert_memory_equal(o->data, want, sizeof want);
  /* Then 2 s, 4 s, 8 s, 16 s apart. */
  tw_time_ms expect = t0;
  for (int i = 1; i <= 4; i++) {
    expect += (tw_time_ms)SPEC_REQUEST_FIRST_MS << (i - 1);
    assert_true(tw_msgr_next_deadline(n->a.m) == expect);
    tw_msgr_on_timer(n->a.m, expect - 1);
    assert_int_equal(n->a.nonion, i);
    tw_msgr_on_timer(n->a.m, expect);
    assert_int_equal(n->a.nonion, i + 1);
    assert_true(n->a.onion[i].at == expect);
  }
  tw_msgr_friend_info info;
  tw_msgr_friend_get_info(n->a.m, fn, &info);
  assert_true(info.request_pending);
}

static void test_friend_request_unsendable_is_retried_until_sent(void **state) {
  net *n = *state;
  uint8_t bob[TW_TOXID_SIZE];
  tw_msgr_get_address(n->b.m, bob);
  uint32_t fn;
  n->a.onion_ok = false; /* the onion has not found Bob yet */
  tw_time_ms t0 = n->now;
  assert_int_equal(tw_msgr_friend_add(n->a.m, bob, 38, (const uint8_t *)"x", 1, &fn, t0), TW_OK);
  assert_true(tw_msgr_next_deadline(n->a.m) == t0 + TW_MSGR_REQUEST_RETRY_MS);
  tw_msgr_on_timer(n->a.m, t0 + TW_MSGR_REQUEST_RETRY_MS);
  assert_true(tw_msgr_next_deadline(n->a.m) == t0 + 2 * TW_MSGR_REQUEST_RETRY_MS);
  n->a.onion_ok = true;
  tw_msgr_on_timer(n->a.m, t0 + 2 * TW_MSGR_REQUEST_RETRY_MS);
  assert_int_equal(n->a.nonion, 1);
  /* Sent now; the first interval starts from here. */
  assert_true(tw_msgr_next_deadline(n->a.m) == t0 + 2 * TW_MSGR_REQUEST_RETRY_MS + SPEC_REQUEST_FIRST_MS);
}

static void hand_over_requests(net *n, side *from, int first) {
  for (int i = first; i < from->nonion; i++)
    tw_msgr_handle_onion_data(from->peer->m, &from->kp.pk, from->onion[i].data, from->onion[i].len,
                              n->now);
}

static void test_friend_request_received_accepted_and_both_online(void **state) {
  net *n = *state;
  uint8_t bob[TW_TOXID_SIZE];
  tw_msgr_get_address(n->b.m, bob);
  uint32_t fa, fb;
  assert_int_equal(tw_msgr_friend_add(n->a.m, bob, 38, (const uint8_t *)"it's alice", 10, &fa, n->now), TW_OK);
  hand_over_requests(n, &n->a, 0);
  const logged *r = last_ev(&n->b, TW_MSGR_EV_FRIEND_REQUEST);
  assert_non_null(r);
  assert_memory_equal(r->pk.bytes, n->a.kp.pk.bytes, 32);
  assert_int_equal(r->e.len, 10);
  assert_memory_equal(r->data, "it's alice", 10);
  /* Bob accepts: both sides connect, exchange ONLINE, and are online. */
  assert_int_equal(tw_msgr_friend_add_norequest(n->b.m, &r->pk, &fb, n->now), TW_OK);
  connect_both(n);
  const logged *ca = last_ev(&n->a, TW_MSGR_EV_CONNECTION);
  const logged *cb = last_ev(&n->b, TW_MSGR_EV_CONNECTION);
  assert_non_null(ca);
  assert_non_null(cb);
  assert_true(ca->e.online && cb->e.online);
  assert_int_equal(ca->e.friend_number, fa);
  assert_memory_equal(ca->pk.bytes, n->b.kp.pk.bytes, 32);
  /* Online: Alice stops asking. */
  tw_msgr_friend_info info;
  tw_msgr_friend_get_info(n->a.m, fa, &info);
  assert_false(info.request_pending);
  assert_true(tw_msgr_next_deadline(n->a.m) == TW_NEVER);
  int sent = n->a.nonion;
  tw_msgr_on_timer(n->a.m, n->now + 100000);
  assert_int_equal(n->a.nonion, sent);
  tw_msgr_stats st;
  tw_msgr_get_stats(n->b.m, &st);
  assert_int_equal(st.requests_received, 1);
  assert_int_equal(st.friends, 1);
  assert_int_equal(st.online, 1);
}

static void test_friend_request_with_wrong_nospam_dropped(void **state) {
  net *n = *state;
  uint8_t req[] = {32, 0x11, 0x22, 0x33, 0x46, 'y', 'o'};
  assert_int_equal(tw_msgr_handle_onion_data(n->b.m, &n->a.kp.pk, req, sizeof req, n->now), TW_E_EXPIRED);
  assert_int_equal(count_ev(&n->b, TW_MSGR_EV_FRIEND_REQUEST), 0);
  assert_int_equal(dropped(&n->b, TW_E_EXPIRED), 1);
  req[4] = 0x45;
  assert_int_equal(tw_msgr_handle_onion_data(n->b.m, &n->a.kp.pk, req, sizeof req, n->now), TW_OK);
  /* After a nospam change the old Tox ID stops working. */
  tw_msgr_set_nospam(n->b.m, 7);
  tw_key carol = test_key_fill(0x33);
  assert_int_equal(tw_msgr_handle_onion_data(n->b.m, &carol, req, sizeof req, n->now), TW_E_EXPIRED);
}

static void test_friend_request_repeats_delivered_once(void **state) {
  net *n = *state;
  const uint8_t req[] = {32, 0x11, 0x22, 0x33, 0x45, 'h', 'i'};
  assert_int_equal(tw_msgr_handle_onion_data(n->b.m, &n->a.kp.pk, req, sizeof req, n->now), TW_OK);
  for (int i = 0; i < 5; i++)
    assert_int_equal(tw_msgr_handle_onion_data(n->b.m, &n->a.kp.pk, req, sizeof req, n->now), TW_E_REPLAY);
  assert_int_equal(count_ev(&n->b, TW_MSGR_EV_FRIEND_REQUEST), 1);
  assert_int_equal(dropped(&n->b, TW_E_REPLAY), 5);
  /* The list is bounded: 32 newer senders push Alice out of it. */
  for (int i = 0; i < TW_MSGR_RECENT_REQUESTS; i++) {
    tw_key k = test_key_fill((uint8_t)(0x80 + i));
    assert_int_equal(tw_msgr_handle_onion_data(n->b.m, &k, req, sizeof req, n->now), TW_OK);
  }
  assert_int_equal(tw_msgr_handle_onion_data(n->b.m, &n->a.kp.pk, req, sizeof req, n->now), TW_OK);
  assert_int_equal(count_ev(&n->b, TW_MSGR_EV_FRIEND_REQUEST), 2 + TW_MSGR_RECENT_REQUESTS);
}

static void test_friend_request_from_existing_friend_dropped(void **state) {
  net *n = *state;
  uint32_t fn;
  assert_int_equal(tw_msgr_friend_add_norequest(n->b.m, &n->a.kp.pk, &fn, n->now), TW_OK);
  const uint8_t req[] = {32, 0x11, 0x22, 0x33, 0x45, 'h', 'i'};
  assert_int_equal(tw_msgr_handle_onion_data(n->b.m, &n->a.kp.pk, req, sizeof req, n->now), TW_E_REPLAY);
  assert_int_equal(count_ev(&n->b, TW_MSGR_EV_FRIEND_REQUEST), 0);
}

static void test_malformed_onion_data_counted(void **state) {
  net *n = *state;
  static uint8_t b[1100];
  memset(b, 'z', sizeof b);
  b[0] = 32;
  b[1] = 0x11, b[2] = 0x22, b[3] = 0x33, b[4] = 0x45;
  assert_int_equal(tw_msgr_handle_onion_data(n->b.m, &n->a.kp.pk, b, 5, n->now), TW_E_SHORT);
  assert_int_equal(tw_msgr_handle_onion_data(n->b.m, &n->a.kp.pk, b, 0, n->now), TW_E_SHORT);
  assert_int_equal(tw_msgr_handle_onion_data(n->b.m, &n->a.kp.pk, b, 1022, n->now), TW_E_LONG);
  assert_int_equal(tw_msgr_handle_onion_data(n->b.m, &n->b.kp.pk, b, 10, n->now), TW_E_SELF);
  b[0] = 0x9c;
  assert_int_equal(tw_msgr_handle_onion_data(n->b.m, &n->a.kp.pk, b, 50, n->now), TW_E_KIND);
  assert_int_equal(count_ev(&n->b, TW_MSGR_EV_FRIEND_REQUEST), 0);
  assert_int_equal(dropped_total(&n->b), 5);
}

/* ---- online status ---- */

static void test_friend_online_only_after_its_online_packet(void **state) {
  net *n = *state;
  uint32_t fn;
  tw_msgr_friend_add_norequest(n->a.m, &n->b.kp.pk, &fn, n->now);
  tw_msgr_friend_add_norequest(n->b.m, &n->a.kp.pk, &fn, n->now);
  n->a.up = n->b.up = true;
  tw_msgr_handle_connection(n->a.m, conn_of(&n->a, &n->b.kp.pk), true, n->now);
  tw_msgr_handle_connection(n->b.m, conn_of(&n->b, &n->a.kp.pk), true, n->now);
  /* Connected, ONLINE sent first, then our details, and no one online yet. */
  assert_true(n->a.qcount >= 4);
  assert_int_equal(n->a.q[n->a.qhead].len, 1);
  assert_int_equal(n->a.q[n->a.qhead].data[0], 0x18);
  assert_int_equal(n->a.q[n->a.qhead + 1].data[0], 0x30);
  assert_int_equal(n->a.q[n->a.qhead + 2].data[0], 0x31);
  assert_int_equal(n->a.q[n->a.qhead + 3].data[0], 0x32);
  tw_msgr_friend_info info;
  tw_msgr_friend_get_info(n->a.m, 0, &info);
  assert_true(info.connected);
  assert_false(info.online);
  assert_int_equal(count_ev(&n->a, TW_MSGR_EV_CONNECTION), 0);
  /* Alice's packets reach Bob: Bob shows Alice online; Alice still waits. */
  deliver(n, &n->a, false);
  tw_msgr_friend_get_info(n->b.m, 0, &info);
  assert_true(info.online);
  tw_msgr_friend_get_info(n->a.m, 0, &info);
  assert_false(info.online);
  deliver(n, &n->b, false);
  tw_msgr_friend_get_info(n->a.m, 0, &info);
  assert_true(info.online);
  assert_true(info.last_seen == n->now);
}

static void test_details_seen_on_connect_and_on_change(void **state) {
  net *n = *state;
  uint32_t fn;
  tw_msgr_friend_add_norequest(n->a.m, &n->b.kp.pk, &fn, n->now);
  tw_msgr_friend_add_norequest(n->b.m, &n->a.kp.pk, &fn, n->now);
  /* Typing set before the connection: sent when it comes up. */
  assert_int_equal(tw_msgr_set_typing(n->a.m, 0, true, n->now), TW_OK);
  assert_int_equal(tw_msgr_set_user_status(n->a.m, TW_MSGR_USER_AWAY, n->now), TW_OK);
  connect_both(n);
  tw_msgr_friend_info info;
  tw_msgr_friend_get_info(n->b.m, 0, &info);
  assert_int_equal(info.name_len, 5);
  assert_memory_equal(info.name, "Alice", 5);
  assert_int_equal(info.status_message_len, 7);
  assert_memory_equal(info.status_message, "at work", 7);
  assert_int_equal(info.user_status, TW_MSGR_USER_AWAY);
  assert_true(info.typing);
  const logged *e = last_ev(&n->b, TW_MSGR_EV_NAME);
  assert_non_null(e);
  assert_memory_equal(e->data, "Alice", 5);
  assert_non_null(last_ev(&n->b, TW_MSGR_EV_STATUS_MESSAGE));
  assert_int_equal(last_ev(&n->b, TW_MSGR_EV_USER_STATUS)->e.user_status, TW_MSGR_USER_AWAY);
  assert_true(last_ev(&n->b, TW_MSGR_EV_TYPING)->e.typing);
  tw_msgr_friend_get_info(n->a.m, 0, &info);
  assert_memory_equal(info.name, "Bob", 3);
  assert_false(info.typing); /* Bob types nothing: no TYPING sent */
  assert_int_equal(count_ev(&n->a, TW_MSGR_EV_TYPING), 0);
  /* Changes while online. */
  clear_log(&n->b);
  const uint8_t longname[128] = {[0] = 'L', [127] = 'Z'};
  assert_int_equal(tw_msgr_set_name(n->a.m, longname, 128, n->now), TW_OK);
  assert_int_equal(tw_msgr_set_name(n->a.m, longname, 129, n->now), TW_E_LONG);
  assert_int_equal(tw_msgr_set_status_message(n->a.m, (const uint8_t *)"", 0, n->now), TW_OK);
  assert_int_equal(tw_msgr_set_user_status(n->a.m, TW_MSGR_USER_BUSY, n->now), TW_OK);
  assert_int_equal(tw_msgr_set_user_status(n->a.m, 3, n->now), TW_E_INVAL);
  assert_int_equal(tw_msgr_set_typing(n->a.m, 0, false, n->now), TW_OK);
  run(n);
  e = last_ev(&n->b, TW_MSGR_EV_NAME);
  assert_int_equal(e->e.len, 128);
  assert_memory_equal(e->data, longname, 128);
  assert_int_equal(last_ev(&n->b, TW_MSGR_EV_STATUS_MESSAGE)->e.len, 0);
  assert_int_equal(last_ev(&n->b, TW_MSGR_EV_USER_STATUS)->e.user_status, TW_MSGR_USER_BUSY);
  assert_false(last_ev(&n->b, TW_MSGR_EV_TYPING)->e.typing);
  tw_msgr_friend_get_info(n->b.m, 0, &info);
  assert_int_equal(info.status_message_len, 0);
  assert_false(info.typing);
}

static void test_name_change_while_window_full_sent_on_ack(void **state) {
  net *n = *state;
  make_friends(n);
  n->a.force_full = true;
  assert_int_equal(tw_msgr_set_name(n->a.m, (const uint8_t *)"Alicia", 6, n->now), TW_OK);
  assert_int_equal(n->a.qcount, 0);
  n->a.force_full = false;
  /* An ack (of anything) brings it out. */
  tw_msgr_handle_acked(n->a.m, conn_of(&n->a, &n->b.kp.pk), n->now);
  assert_int_equal(n->a.qcount, 1);
  run(n);
  tw_msgr_friend_info info;
  tw_msgr_friend_get_info(n->b.m, 0, &info);
  assert_int_equal(info.name_len, 6);
  assert_memory_equal(info.name, "Alicia", 6);
}

static void test_offline_packet_and_connection_loss_set_offline(void **state) {
  net *n = *state;
  make_friends(n);
  clear_log(&n->a);
  /* Bob deletes Alice: OFFLINE reaches her before the connection goes. */
  n->now += 5000;
  assert_int_equal(tw_msgr_friend_delete(n->b.m, 0, n->now), TW_OK);
  assert_int_equal(n->b.removed, 1);
  assert_int_equal(n->b.qcount, 1);
  assert_int_equal(n->b.q[n->b.qhead].data[0], 0x19);
  deliver(n, &n->b, false);
  const logged *c = last_ev(&n->a, TW_MSGR_EV_CONNECTION);
  assert_non_null(c);
  assert_false(c->e.online);
  tw_msgr_friend_info info;
  tw_msgr_friend_get_info(n->a.m, 0, &info);
  assert_false(info.online);
  assert_true(info.connected);
  assert_true(info.last_seen == n->now);
  /* Offline: messages and custom packets from it are dropped. */
  const uint8_t msg[] = {0x40, 'h', 'i'};
  assert_int_equal(inject(n, &n->a, msg, sizeof msg), TW_E_UNSOLICITED);
  assert_int_equal(count_ev(&n->a, TW_MSGR_EV_MESSAGE), 0);
}

static void test_connection_loss_sets_offline_once(void **state) {
  net *n = *state;
  make_friends(n);
  clear_log(&n->a);
  clear_log(&n->b);
  n->now += 777;
  disconnect_both(n);
  assert_int_equal(count_ev(&n->a, TW_MSGR_EV_CONNECTION), 1);
  assert_int_equal(count_ev(&n->b, TW_MSGR_EV_CONNECTION), 1);
  assert_false(last_ev(&n->a, TW_MSGR_EV_CONNECTION)->e.online);
  /* Repeated "down" is not news. */
  tw_msgr_handle_connection(n->a.m, conn_of(&n->a, &n->b.kp.pk), false, n->now);
  assert_int_equal(count_ev(&n->a, TW_MSGR_EV_CONNECTION), 1);
  tw_msgr_friend_info info;
  tw_msgr_friend_get_info(n->a.m, 0, &info);
  assert_false(info.online || info.connected);
  assert_true(info.last_seen == n->now);
  /* And back. */
  connect_both(n);
  tw_msgr_friend_get_info(n->a.m, 0, &info);
  assert_true(info.online);
  assert_int_equal(count_ev(&n->a, TW_MSGR_EV_CONNECTION), 2);
}

/* ---- messages ---- */

static void test_message_receipt_arrives_when_packet_is_confirmed(void **state) {
  net *n = *state;
  make_friends(n);
  uint32_t id1, id2;
  assert_int_equal(tw_msgr_send_message(n->a.m, 0, TW_MSGR_MESSAGE_NORMAL, (const uint8_t *)"hello", 5, &id1, n->now), TW_OK);
  assert_int_equal(tw_msgr_send_message(n->a.m, 0, TW_MSGR_MESSAGE_NORMAL, (const uint8_t *)"again", 5, &id2, n->now), TW_OK);
  assert_int_equal(id1, 1);
  assert_int_equal(id2, 2);
  assert_int_equal(n->a.q[n->a.qhead].data[0], 0x40);
  /* Bob has them; Alice hears nothing until the transport confirms. */
  deliver(n, &n->a, false);
  assert_int_equal(count_ev(&n->b, TW_MSGR_EV_MESSAGE), 2);
  const logged *m = last_ev(&n->b, TW_MSGR_EV_MESSAGE);
  assert_memory_equal(m->data, "again", 5);
  assert_int_equal(m->e.message_type, TW_MSGR_MESSAGE_NORMAL);
  assert_int_equal(count_ev(&n->a, TW_MSGR_EV_READ_RECEIPT), 0);
  /* Only the first confirmed: one receipt. */
  n->a.confirmed = n->a.next_number - 1;
  tw_msgr_handle_acked(n->a.m, conn_of(&n->a, &n->b.kp.pk), n->now);
  assert_int_equal(count_ev(&n->a, TW_MSGR_EV_READ_RECEIPT), 1);
  assert_int_equal(last_ev(&n->a, TW_MSGR_EV_READ_RECEIPT)->e.message_id, id1);
  n->a.confirmed = n->a.next_number;
  tw_msgr_handle_acked(n->a.m, conn_of(&n->a, &n->b.kp.pk), n->now);
  assert_int_equal(count_ev(&n->a, TW_MSGR_EV_READ_RECEIPT), 2);
  assert_int_equal(last_ev(&n->a, TW_MSGR_EV_READ_RECEIPT)->e.message_id, id2);
  tw_msgr_stats st;
  tw_msgr_get_stats(n->a.m, &st);
  assert_int_equal(st.messages_out, 2);
  assert_int_equal(st.receipts, 2);
}

static void test_action_message_and_limits(void **state) {
  net *n = *state;
  uint32_t id;
  uint32_t fn;
  tw_msgr_friend_add_norequest(n->a.m, &n->b.kp.pk, &fn, n->now);
  /* Offline: refused, not queued. */
  assert_int_equal(tw_msgr_send_message(n->a.m, 0, TW_MSGR_MESSAGE_NORMAL, (const uint8_t *)"x", 1, &id, n->now), TW_E_NOROUTE);
  tw_msgr_friend_add_norequest(n->b.m, &n->a.kp.pk, &fn, n->now);
  connect_both(n);
  static uint8_t big[1373];
  memset(big, 'b', sizeof big);
  assert_int_equal(tw_msgr_send_message(n->a.m, 0, TW_MSGR_MESSAGE_ACTION, big, 1372, &id, n->now), TW_OK);
  assert_int_equal(tw_msgr_send_message(n->a.m, 0, TW_MSGR_MESSAGE_ACTION, big, 1373, &id, n->now), TW_E_LONG);
  assert_int_equal(tw_msgr_send_message(n->a.m, 0, TW_MSGR_MESSAGE_ACTION, big, 0, &id, n->now), TW_E_SHORT);
  assert_int_equal(tw_msgr_send_message(n->a.m, 3, TW_MSGR_MESSAGE_ACTION, big, 1, &id, n->now), TW_E_NOTFOUND);
  run(n);
  const logged *m = last_ev(&n->b, TW_MSGR_EV_MESSAGE);
  assert_int_equal(m->e.message_type, TW_MSGR_MESSAGE_ACTION);
  assert_int_equal(m->e.len, 1372);
  assert_int_equal(count_ev(&n->a, TW_MSGR_EV_READ_RECEIPT), 1);
  /* An empty message from a friend is dropped. */
  const uint8_t empty[1] = {0x40};
  assert_int_equal(inject(n, &n->b, empty, 1), TW_E_SHORT);
}

static void test_message_with_window_full_refused(void **state) {
  net *n = *state;
  make_friends(n);
  n->a.force_full = true;
  uint32_t id;
  assert_int_equal(tw_msgr_send_message(n->a.m, 0, TW_MSGR_MESSAGE_NORMAL, (const uint8_t *)"x", 1, &id, n->now), TW_E_FULL);
  n->a.force_full = false;
  assert_int_equal(tw_msgr_send_message(n->a.m, 0, TW_MSGR_MESSAGE_NORMAL, (const uint8_t *)"x", 1, &id, n->now), TW_OK);
  assert_int_equal(id, 1); /* the refused one used no id */
}

static void test_unconfirmed_messages_bounded_and_receipts_in_order(void **state) {
  net *n = *state;
  make_friends(n);
  n->a.window = 10000;
  uint32_t id = 0;
  for (int i = 1; i <= TW_MSGR_MAX_PENDING_RECEIPTS; i++) {
    char text[16];
    int len = snprintf(text, sizeof text, "m%d", i);
    assert_int_equal(tw_msgr_send_message(n->a.m, 0, TW_MSGR_MESSAGE_NORMAL, (const uint8_t *)text, (size_t)len, &id, n->now), TW_OK);
    assert_int_equal(id, (uint32_t)i);
    if (i % 1000 == 0) deliver(n, &n->a, false); /* arrives, unconfirmed */
  }
  assert_int_equal(tw_msgr_send_message(n->a.m, 0, TW_MSGR_MESSAGE_NORMAL, (const uint8_t *)"x", 1, &id, n->now), TW_E_FULL);
  deliver(n, &n->a, false);
  assert_int_equal(count_ev(&n->b, TW_MSGR_EV_MESSAGE), TW_MSGR_MAX_PENDING_RECEIPTS);
  assert_int_equal(count_ev(&n->a, TW_MSGR_EV_READ_RECEIPT), 0);
  /* Confirmed in two steps: receipts come oldest first, each once. */
  n->a.confirmed = n->a.next_number - 1000;
  tw_msgr_handle_acked(n->a.m, conn_of(&n->a, &n->b.kp.pk), n->now);
  n->a.confirmed = n->a.next_number;
  tw_msgr_handle_acked(n->a.m, conn_of(&n->a, &n->b.kp.pk), n->now);
  uint32_t expect = 1;
  for (size_t i = 0; i < n->a.nlog; i++)
    if (n->a.log[i].e.kind == TW_MSGR_EV_READ_RECEIPT) assert_int_equal(n->a.log[i].e.message_id, expect++);
  assert_int_equal(expect, TW_MSGR_MAX_PENDING_RECEIPTS + 1);
  assert_int_equal(tw_msgr_send_message(n->a.m, 0, TW_MSGR_MESSAGE_NORMAL, (const uint8_t *)"x", 1, &id, n->now), TW_OK);
}

static void test_messages_in_flight_when_connection_lost_get_no_receipt(void **state) {
  net *n = *state;
  make_friends(n);
  uint32_t id;
  tw_msgr_send_message(n->a.m, 0, TW_MSGR_MESSAGE_NORMAL, (const uint8_t *)"lost", 4, &id, n->now);
  disconnect_both(n);
  connect_both(n);
  assert_int_equal(count_ev(&n->a, TW_MSGR_EV_READ_RECEIPT), 0);
  assert_int_equal(count_ev(&n->b, TW_MSGR_EV_MESSAGE), 0);
}

/* ---- custom packets ---- */

static void test_custom_lossless_and_lossy_packets(void **state) {
  net *n = *state;
  make_friends(n);
  const uint8_t ll[] = {160, 1, 2, 3}, ly[] = {254, 9}, ll_last[] = {191};
  assert_int_equal(tw_msgr_send_custom_lossless(n->a.m, 0, ll, sizeof ll, n->now), TW_OK);
  assert_int_equal(tw_msgr_send_custom_lossless(n->a.m, 0, ll_last, 1, n->now), TW_OK);
  assert_int_equal(tw_msgr_send_custom_lossy(n->a.m, 0, ly, sizeof ly, n->now), TW_OK);
  /* c-toxcore's API ranges: lossless 69 and 160..191, lossy 192..254. */
  const uint8_t bad1[] = {159}, bad2[] = {192}, bad3[] = {191}, bad4[] = {255}, ok200[] = {200};
  const uint8_t bad5[] = {68}, bad6[] = {70};
  assert_int_equal(tw_msgr_send_custom_lossless(n->a.m, 0, bad1, 1, n->now), TW_E_KIND);
  assert_int_equal(tw_msgr_send_custom_lossless(n->a.m, 0, bad2, 1, n->now), TW_E_KIND);
  assert_int_equal(tw_msgr_send_custom_lossless(n->a.m, 0, ok200, 1, n->now), TW_E_KIND);
  assert_int_equal(tw_msgr_send_custom_lossless(n->a.m, 0, bad5, 1, n->now), TW_E_KIND);
  assert_int_equal(tw_msgr_send_custom_lossless(n->a.m, 0, bad6, 1, n->now), TW_E_KIND);
  assert_int_equal(tw_msgr_send_custom_lossy(n->a.m, 0, bad3, 1, n->now), TW_E_KIND);
  assert_int_equal(tw_msgr_send_custom_lossy(n->a.m, 0, bad4, 1, n->now), TW_E_KIND);
  assert_int_equal(tw_msgr_send_custom_lossy(n->a.m, 0, ll, 1, n->now), TW_E_KIND);
  static uint8_t big[1374];
  memset(big, 170, sizeof big);
  assert_int_equal(tw_msgr_send_custom_lossless(n->a.m, 0, big, 1374, n->now), TW_E_LONG);
  assert_int_equal(tw_msgr_send_custom_lossless(n->a.m, 0, big, 1373, n->now), TW_OK);
  run(n);
  assert_int_equal(count_ev(&n->b, TW_MSGR_EV_CUSTOM_LOSSLESS), 3);
  const logged *e = &n->b.log[n->b.nlog - 4];
  assert_int_equal(e->e.kind, TW_MSGR_EV_CUSTOM_LOSSLESS);
  assert_int_equal(e->e.len, 4);
  assert_memory_equal(e->data, ll, 4);
  e = last_ev(&n->b, TW_MSGR_EV_CUSTOM_LOSSLESS);
  assert_int_equal(e->e.len, 1373);
  e = last_ev(&n->b, TW_MSGR_EV_CUSTOM_LOSSY);
  assert_non_null(e);
  assert_int_equal(e->e.len, 2);
  assert_memory_equal(e->data, ly, 2);
  /* A lossy packet of a kind that is not custom (a lossless id) is counted. */
  const uint8_t not_lossy[] = {160, 0};
  assert_int_equal(tw_msgr_handle_lossy(n->b.m, conn_of(&n->b, &n->a.kp.pk), not_lossy, 2, n->now),
                   TW_E_KIND);
  assert_int_equal(dropped(&n->b, TW_E_KIND), 1);
}

/* ---- file transfers ---- */

/* Offers size bytes from src to the peer and returns the file number. */
static uint8_t offer(net *n, side *s, source *src, uint64_t size, uint32_t type, const char *name) {
  uint8_t fnum = 0xee;
  assert_int_equal(tw_msgr_file_send(s->m, 0, type, size, NULL, (const uint8_t *)name, strlen(name),
                                     read_source, src, &fnum, n->now),
                   TW_OK);
  run(n);
  return fnum;
}

static void accept_file(net *n, side *s, uint8_t fnum) {
  assert_int_equal(tw_msgr_file_control(s->m, 0, TW_MSGR_FILE_IN, fnum, TW_MSGR_FILE_RESUME, n->now), TW_OK);
}

static void transfer_and_check(net *n, side *from, side *to, size_t size, uint64_t seed) {
  uint8_t *data = pseudo_random(size, seed);
  source src = {.data = data, .size = size};
  give_sink(to, size);
  clear_log(from);
  clear_log(to);
  uint8_t fnum = offer(n, from, &src, size, 0, "big.bin");
  const logged *req = last_ev(to, TW_MSGR_EV_FILE_REQUEST);
  assert_non_null(req);
  assert_int_equal(req->e.file_number, fnum);
  assert_true(req->e.file_size == size);
  assert_int_equal(req->e.len, 7);
  assert_memory_equal(req->data, "big.bin", 7);
  tw_msgr_file_info fi;
  assert_int_equal(tw_msgr_file_get_info(from->m, 0, TW_MSGR_FILE_OUT, fnum, &fi), TW_OK);
  assert_memory_equal(req->file_id, fi.file_id, 32);
  assert_int_equal(fi.state, TW_MSGR_FILE_PENDING);
  accept_file(n, to, fnum);
  run(n);
  assert_true(to->sink_bytes == size);
  assert_memory_equal(to->sink, data, size);
  const logged *d = last_ev(to, TW_MSGR_EV_FILE_DONE);
  assert_non_null(d);
  assert_int_equal(d->e.dir, TW_MSGR_FILE_IN);
  assert_true(d->e.position == size);
  d = last_ev(from, TW_MSGR_EV_FILE_DONE);
  assert_non_null(d);
  assert_int_equal(d->e.dir, TW_MSGR_FILE_OUT);
  /* Both sides freed the number. */
  assert_int_equal(tw_msgr_file_get_info(from->m, 0, TW_MSGR_FILE_OUT, fnum, &fi), TW_E_NOTFOUND);
  assert_int_equal(tw_msgr_file_get_info(to->m, 0, TW_MSGR_FILE_IN, fnum, &fi), TW_E_NOTFOUND);
  /* Every chunk full but the last. */
  int chunks = count_ev(to, TW_MSGR_EV_FILE_CHUNK);
  assert_int_equal(chunks, (int)((size + SPEC_CHUNK - 1) / SPEC_CHUNK));
  free(data);
}

static void test_file_of_1mb_each_way_every_byte_checked(void **state) {
  net *n = *state;
  make_friends(n);
  n->a.window = n->b.window = 64;
  transfer_and_check(n, &n->a, &n->b, 1 << 20, 7);
  transfer_and_check(n, &n->b, &n->a, 1 << 20, 8);
  tw_msgr_stats st;
  tw_msgr_get_stats(n->a.m, &st);
  assert_int_equal(st.files_sent, 1);
  assert_int_equal(st.files_received, 1);
  assert_true(st.file_bytes_sent == 1 << 20 && st.file_bytes_received == 1 << 20);
  assert_int_equal(dropped_total(&n->a), 0);
  assert_int_equal(dropped_total(&n->b), 0);
}

static void test_file_exact_multiple_of_chunk_completes_by_size(void **state) {
  net *n = *state;
  make_friends(n);
  transfer_and_check(n, &n->a, &n->b, 3 * SPEC_CHUNK, 9);
  transfer_and_check(n, &n->a, &n->b, 1, 10);
}

static void test_file_zero_size_completes_with_one_empty_chunk(void **state) {
  net *n = *state;
  make_friends(n);
  source src = {.data = NULL, .size = 0};
  uint8_t fnum = offer(n, &n->a, &src, 0, 0, "empty");
  accept_file(n, &n->b, fnum);
  /* The accept goes over; one FILE_DATA of two bytes comes back. */
  deliver(n, &n->b, true);
  assert_int_equal(n->a.qcount, 1);
  assert_int_equal(n->a.q[n->a.qhead].len, 2);
  assert_int_equal(n->a.q[n->a.qhead].data[0], 0x52);
  run(n);
  assert_int_equal(count_ev(&n->b, TW_MSGR_EV_FILE_CHUNK), 0);
  assert_int_equal(count_ev(&n->b, TW_MSGR_EV_FILE_DONE), 1);
  assert_int_equal(count_ev(&n->a, TW_MSGR_EV_FILE_DONE), 1);
  assert_int_equal(src.reads, 0);
}

static void test_file_unknown_size_stream_ends_on_short_chunk(void **state) {
  net *n = *state;
  make_friends(n);
  size_t sizes[2] = {3 * SPEC_CHUNK + 500, 2 * SPEC_CHUNK}; /* the second ends with an empty chunk */
  for (int k = 0; k < 2; k++) {
    uint8_t *data = pseudo_random(sizes[k], 20 + k);
    source src = {.data = data, .size = sizes[k]};
    give_sink(&n->b, sizes[k]);
    clear_log(&n->a);
    clear_log(&n->b);
    uint8_t fnum = offer(n, &n->a, &src, TW_MSGR_FILE_SIZE_UNKNOWN, 0, "stream");
    assert_true(last_ev(&n->b, TW_MSGR_EV_FILE_REQUEST)->e.file_size == UINT64_MAX);
    accept_file(n, &n->b, fnum);
    run(n);
    assert_true(n->b.sink_bytes == sizes[k]);
    assert_memory_equal(n->b.sink, data, sizes[k]);
    const logged *d = last_ev(&n->b, TW_MSGR_EV_FILE_DONE);
    assert_non_null(d);
    assert_true(d->e.position == sizes[k]);
    assert_int_equal(count_ev(&n->a, TW_MSGR_EV_FILE_DONE), 1);
    free(data);
  }
}

static void test_file_seek_before_accept_starts_there(void **state) {
  net *n = *state;
  make_friends(n);
  size_t size = 10000;
  uint8_t *data = pseudo_random(size, 30);
  source src = {.data = data, .size = size};
  give_sink(&n->b, size);
  uint8_t fnum = offer(n, &n->a, &src, size, 0, "resume.bin");
  assert_int_equal(tw_msgr_file_seek(n->b.m, 0, fnum, 10000, n->now), TW_E_INVAL); /* >= size */
  assert_int_equal(tw_msgr_file_seek(n->b.m, 0, fnum, 4000, n->now), TW_OK);
  accept_file(n, &n->b, fnum);
  run(n);
  const logged *seek = last_ev(&n->a, TW_MSGR_EV_FILE_CONTROL);
  assert_non_null(seek);
  assert_int_equal(seek->e.control, TW_MSGR_FILE_RESUME);
  assert_true(n->b.sink_bytes == size - 4000);
  assert_memory_equal(n->b.sink + 4000, data + 4000, size - 4000);
  /* The first chunk event says where it starts. */
  for (size_t i = 0; i < n->b.nlog; i++) {
    if (n->b.log[i].e.kind != TW_MSGR_EV_FILE_CHUNK) continue;
    assert_true(n->b.log[i].e.position == 4000);
    break;
  }
  assert_int_equal(count_ev(&n->b, TW_MSGR_EV_FILE_DONE), 1);
  free(data);
}

static void test_file_seek_after_accept_refused_both_ways(void **state) {
  net *n = *state;
  make_friends(n);
  n->a.window = 20;
  uint8_t *data = pseudo_random(100000, 31);
  source src = {.data = data, .size = 100000};
  give_sink(&n->b, 100000);
  uint8_t fnum = offer(n, &n->a, &src, 100000, 0, "f");
  accept_file(n, &n->b, fnum);
  assert_int_equal(tw_msgr_file_seek(n->b.m, 0, fnum, 10, n->now), TW_E_INVAL);
  deliver(n, &n->b, true);
  /* A seek from Bob after his accept: Alice drops it. */
  const uint8_t seek[12] = {0x51, 1, fnum, 3, 0, 0, 0, 0, 0, 0, 0, 10};
  assert_int_equal(inject(n, &n->a, seek, sizeof seek), TW_E_UNSOLICITED);
  run(n);
  assert_memory_equal(n->b.sink, data, 100000);
  free(data);
}

static void test_file_pause_by_both_sides_needs_both_resumes(void **state) {
  net *n = *state;
  make_friends(n);
  n->a.window = 32;
  size_t size = 200000;
  uint8_t *data = pseudo_random(size, 40);
  source src = {.data = data, .size = size};
  give_sink(&n->b, size);
  uint8_t fnum = offer(n, &n->a, &src, size, 0, "p");
  /* Pausing before accept is refused (spec: only accepted transfers). */
  assert_int_equal(tw_msgr_file_control(n->b.m, 0, TW_MSGR_FILE_IN, fnum, TW_MSGR_FILE_PAUSE, n->now), TW_E_INVAL);
  accept_file(n, &n->b, fnum);
  deliver(n, &n->b, true); /* the accept: Alice fills her window */
  deliver(n, &n->a, true);
  uint64_t got = n->b.sink_bytes;
  assert_true(got > 0 && got < size);
  /* Both pause. */
  assert_int_equal(tw_msgr_file_control(n->b.m, 0, TW_MSGR_FILE_IN, fnum, TW_MSGR_FILE_PAUSE, n->now), TW_OK);
  assert_int_equal(tw_msgr_file_control(n->a.m, 0, TW_MSGR_FILE_OUT, fnum, TW_MSGR_FILE_PAUSE, n->now), TW_OK);
  assert_int_equal(tw_msgr_file_control(n->a.m, 0, TW_MSGR_FILE_OUT, fnum, TW_MSGR_FILE_PAUSE, n->now), TW_E_INVAL);
  run(n);
  got = n->b.sink_bytes; /* what was on its way arrived */
  run(n);
  assert_true(n->b.sink_bytes == got);
  tw_msgr_file_info fi;
  tw_msgr_file_get_info(n->a.m, 0, TW_MSGR_FILE_OUT, fnum, &fi);
  assert_true(fi.paused_by_us && fi.paused_by_peer);
  /* Alice cannot lift Bob's pause: her resume lifts only her own. */
  assert_int_equal(tw_msgr_file_control(n->a.m, 0, TW_MSGR_FILE_OUT, fnum, TW_MSGR_FILE_RESUME, n->now), TW_OK);
  assert_int_equal(tw_msgr_file_control(n->a.m, 0, TW_MSGR_FILE_OUT, fnum, TW_MSGR_FILE_RESUME, n->now), TW_E_INVAL);
  run(n);
  assert_true(n->b.sink_bytes == got);
  tw_msgr_file_get_info(n->b.m, 0, TW_MSGR_FILE_IN, fnum, &fi);
  assert_true(fi.paused_by_us && !fi.paused_by_peer);
  /* A forged resume from Alice for Bob's pause does nothing either. */
  const uint8_t resume_as_sender[4] = {0x51, 0, fnum, 0};
  assert_int_equal(inject(n, &n->b, resume_as_sender, 4), TW_E_UNSOLICITED);
  /* Bob resumes: the rest flows. */
  assert_int_equal(tw_msgr_file_control(n->b.m, 0, TW_MSGR_FILE_IN, fnum, TW_MSGR_FILE_RESUME, n->now), TW_OK);
  run(n);
  assert_true(n->b.sink_bytes == size);
  assert_memory_equal(n->b.sink, data, size);
  assert_int_equal(count_ev(&n->b, TW_MSGR_EV_FILE_DONE), 1);
  /* Each side saw the other's pause and resume. */
  assert_true(count_ev(&n->a, TW_MSGR_EV_FILE_CONTROL) >= 3); /* accept, pause, resume */
  assert_true(count_ev(&n->b, TW_MSGR_EV_FILE_CONTROL) >= 2); /* pause, resume */
  free(data);
}

static void test_file_kill_by_either_side_and_refusal(void **state) {
  net *n = *state;
  make_friends(n);
  n->a.window = 32;
  uint8_t *data = pseudo_random(500000, 50);
  source src = {.data = data, .size = 500000};
  give_sink(&n->b, 500000);
  /* Refused: Bob kills a pending file. */
  uint8_t f1 = offer(n, &n->a, &src, 500000, 0, "no");
  assert_int_equal(tw_msgr_file_control(n->b.m, 0, TW_MSGR_FILE_IN, f1, TW_MSGR_FILE_KILL, n->now), TW_OK);
  run(n);
  const logged *c = last_ev(&n->a, TW_MSGR_EV_FILE_CLOSED);
  assert_non_null(c);
  assert_int_equal(c->e.close_reason, TW_MSGR_CLOSE_PEER_KILLED);
  assert_int_equal(c->e.dir, TW_MSGR_FILE_OUT);
  tw_msgr_file_info fi;
  assert_int_equal(tw_msgr_file_get_info(n->a.m, 0, TW_MSGR_FILE_OUT, f1, &fi), TW_E_NOTFOUND);
  /* Cancelled by the sender mid-way: the number is free again on both sides. */
  uint8_t f2 = offer(n, &n->a, &src, 500000, 0, "cancel");
  assert_int_equal(f2, f1);
  accept_file(n, &n->b, f2);
  deliver(n, &n->b, true);
  deliver(n, &n->a, true);
  assert_int_equal(tw_msgr_file_control(n->a.m, 0, TW_MSGR_FILE_OUT, f2, TW_MSGR_FILE_KILL, n->now), TW_OK);
  run(n);
  c = last_ev(&n->b, TW_MSGR_EV_FILE_CLOSED);
  assert_non_null(c);
  assert_int_equal(c->e.dir, TW_MSGR_FILE_IN);
  assert_int_equal(tw_msgr_file_get_info(n->b.m, 0, TW_MSGR_FILE_IN, f2, &fi), TW_E_NOTFOUND);
  assert_true(n->b.sink_bytes < 500000);
  /* Cancelled by the receiver mid-way: data still in flight is dropped and counted. */
  uint8_t f3 = offer(n, &n->a, &src, 500000, 0, "cancel2");
  accept_file(n, &n->b, f3);
  deliver(n, &n->b, true);
  assert_true(n->a.qcount > 0);
  assert_int_equal(tw_msgr_file_control(n->b.m, 0, TW_MSGR_FILE_IN, f3, TW_MSGR_FILE_KILL, n->now), TW_OK);
  uint64_t before = dropped(&n->b, TW_E_NOTFOUND);
  run(n);
  assert_true(dropped(&n->b, TW_E_NOTFOUND) > before);
  assert_int_equal(last_ev(&n->a, TW_MSGR_EV_FILE_CLOSED)->e.close_reason, TW_MSGR_CLOSE_PEER_KILLED);
  assert_int_equal(tw_msgr_file_get_info(n->a.m, 0, TW_MSGR_FILE_OUT, f3, &fi), TW_E_NOTFOUND);
  /* Nothing left on either side. */
  assert_int_equal(count_ev(&n->a, TW_MSGR_EV_FILE_DONE), 0);
  free(data);
}

static void test_file_window_full_back_pressure_resumes_on_acked(void **state) {
  net *n = *state;
  make_friends(n);
  n->a.window = 40;
  size_t size = 300000;
  uint8_t *data = pseudo_random(size, 60);
  source src = {.data = data, .size = size};
  give_sink(&n->b, size);
  uint8_t fnum = offer(n, &n->a, &src, size, 0, "bp");
  accept_file(n, &n->b, fnum);
  deliver(n, &n->b, true);
  /* Alice filled her window to the reserve and stopped. */
  assert_int_equal(n->a.next_number - n->a.confirmed, 40 - TW_MSGR_FILE_RESERVE_PACKETS);
  int reads = src.reads;
  /* No ack, no progress, however often she is poked by other traffic. */
  uint32_t id;
  assert_int_equal(tw_msgr_send_message(n->a.m, 0, TW_MSGR_MESSAGE_NORMAL, (const uint8_t *)"m", 1, &id, n->now), TW_OK);
  assert_int_equal(src.reads, reads);
  /* Delivered but unconfirmed: still nothing. */
  deliver(n, &n->a, false);
  assert_int_equal(n->a.qcount, 0);
  assert_int_equal(src.reads, reads);
  /* Confirmed: pumping resumes. */
  n->a.confirmed = n->a.next_number;
  tw_msgr_handle_acked(n->a.m, conn_of(&n->a, &n->b.kp.pk), n->now);
  assert_int_equal(n->a.qcount, 40 - TW_MSGR_FILE_RESERVE_PACKETS);
  /* The message still gets through while the file holds the window. */
  assert_int_equal(last_ev(&n->a, TW_MSGR_EV_READ_RECEIPT)->e.message_id, id);
  /* A send that fails FULL despite the space (the transport changed its
   * mind) loses no byte. */
  deliver(n, &n->a, true);
  n->a.refuse_sends = 1;
  int before = src.reads;
  deliver(n, &n->a, true); /* confirmed; the pump's first send is refused */
  assert_int_equal(src.reads, before + 1);
  assert_int_equal(n->a.qcount, 0);
  tw_msgr_handle_acked(n->a.m, conn_of(&n->a, &n->b.kp.pk), n->now);
  assert_int_equal(n->a.qcount, 40 - TW_MSGR_FILE_RESERVE_PACKETS); /* the same bytes read again */
  run(n);
  assert_true(n->b.sink_bytes == size);
  assert_memory_equal(n->b.sink, data, size);
  free(data);
}

static void test_file_kill_with_window_full_held_until_ack(void **state) {
  net *n = *state;
  make_friends(n);
  source src = {.data = (const uint8_t *)"abc", .size = 3};
  uint8_t fnum = offer(n, &n->a, &src, 3, 0, "k");
  n->b.force_full = true;
  assert_int_equal(tw_msgr_file_control(n->b.m, 0, TW_MSGR_FILE_IN, fnum, TW_MSGR_FILE_KILL, n->now), TW_OK);
  assert_int_equal(n->b.qcount, 0);
  n->b.force_full = false;
  /* Any ack lets the held kill out. */
  tw_msgr_handle_acked(n->b.m, conn_of(&n->b, &n->a.kp.pk), n->now);
  assert_int_equal(n->b.qcount, 1);
  run(n);
  assert_int_equal(last_ev(&n->a, TW_MSGR_EV_FILE_CLOSED)->e.close_reason, TW_MSGR_CLOSE_PEER_KILLED);
}

static void test_friend_offline_mid_transfer_clears_transfers(void **state) {
  net *n = *state;
  make_friends(n);
  n->a.window = 16;
  uint8_t *data = pseudo_random(100000, 70);
  source s1 = {.data = data, .size = 100000}, s2 = s1;
  give_sink(&n->b, 100000);
  uint8_t f1 = offer(n, &n->a, &s1, 100000, 0, "one");
  uint8_t f2 = offer(n, &n->a, &s2, 100000, 1, "avatar");
  assert_int_equal(f2, f1 + 1);
  accept_file(n, &n->b, f1);
  deliver(n, &n->b, true);
  clear_log(&n->a);
  clear_log(&n->b);
  disconnect_both(n);
  assert_int_equal(count_ev(&n->a, TW_MSGR_EV_FILE_CLOSED), 2);
  assert_int_equal(count_ev(&n->b, TW_MSGR_EV_FILE_CLOSED), 2);
  for (size_t i = 0; i < n->a.nlog; i++)
    if (n->a.log[i].e.kind == TW_MSGR_EV_FILE_CLOSED)
      assert_int_equal(n->a.log[i].e.close_reason, TW_MSGR_CLOSE_OFFLINE);
  tw_msgr_file_info fi;
  assert_int_equal(tw_msgr_file_get_info(n->a.m, 0, TW_MSGR_FILE_OUT, f1, &fi), TW_E_NOTFOUND);
  assert_int_equal(tw_msgr_file_get_info(n->b.m, 0, TW_MSGR_FILE_IN, f2, &fi), TW_E_NOTFOUND);
  /* Offline: no new files. */
  uint8_t fnum;
  assert_int_equal(tw_msgr_file_send(n->a.m, 0, 0, 5, NULL, NULL, 0, read_source, &s1, &fnum, n->now), TW_E_NOROUTE);
  /* Back online, numbering starts over and a transfer works. */
  connect_both(n);
  transfer_and_check(n, &n->a, &n->b, 5000, 71);
  free(data);
}

static void test_file_type_avatar_passed_through_and_256_outgoing_max(void **state) {
  net *n = *state;
  make_friends(n);
  source src = {.data = (const uint8_t *)"x", .size = 1};
  uint8_t id[32];
  memset(id, 0xab, sizeof id);
  uint8_t fnum;
  assert_int_equal(tw_msgr_file_send(n->a.m, 0, 1, 1, id, NULL, 0, read_source, &src, &fnum, n->now), TW_OK);
  run(n);
  const logged *r = last_ev(&n->b, TW_MSGR_EV_FILE_REQUEST);
  assert_int_equal(r->e.file_type, 1);
  assert_memory_equal(r->file_id, id, 32);
  assert_int_equal(r->e.len, 0);
  for (int i = 1; i < 256; i++) {
    assert_int_equal(tw_msgr_file_send(n->a.m, 0, 0xdeadbeef, 1, NULL, NULL, 0, read_source, &src, &fnum, n->now), TW_OK);
    assert_int_equal(fnum, i);
  }
  assert_int_equal(tw_msgr_file_send(n->a.m, 0, 0, 1, NULL, NULL, 0, read_source, &src, &fnum, n->now), TW_E_FULL);
  static uint8_t name[256];
  assert_int_equal(tw_msgr_file_send(n->a.m, 0, 0, 1, NULL, name, 256, read_source, &src, &fnum, n->now), TW_E_LONG);
  run(n);
  assert_int_equal(count_ev(&n->b, TW_MSGR_EV_FILE_REQUEST), 256);
  assert_int_equal(last_ev(&n->b, TW_MSGR_EV_FILE_REQUEST)->e.file_type, 0xdeadbeef);
}

static void test_file_read_error_kills_transfer(void **state) {
  net *n = *state;
  make_friends(n);
  uint8_t *data = pseudo_random(50000, 80);
  source src = {.data = data, .size = 50000, .fail_at_read = 5};
  give_sink(&n->b, 50000);
  uint8_t fnum = offer(n, &n->a, &src, 50000, 0, "bad disk");
  accept_file(n, &n->b, fnum);
  run(n);
  const logged *c = last_ev(&n->a, TW_MSGR_EV_FILE_CLOSED);
  assert_non_null(c);
  assert_int_equal(c->e.close_reason, TW_MSGR_CLOSE_READ_ERROR);
  assert_int_equal(last_ev(&n->b, TW_MSGR_EV_FILE_CLOSED)->e.close_reason, TW_MSGR_CLOSE_PEER_KILLED);
  assert_true(n->b.sink_bytes == 4 * SPEC_CHUNK);
  /* A known-size file whose source runs short is also an error. */
  source shortsrc = {.data = data, .size = 100};
  clear_log(&n->a);
  fnum = offer(n, &n->a, &shortsrc, 5000, 0, "short");
  accept_file(n, &n->b, fnum);
  run(n);
  assert_int_equal(last_ev(&n->a, TW_MSGR_EV_FILE_CLOSED)->e.close_reason, TW_MSGR_CLOSE_READ_ERROR);
  free(data);
}

static void test_file_malformed_and_out_of_state_input_dropped_and_counted(void **state) {
  net *n = *state;
  make_friends(n);
  /* A real transfer runs beside the junk and must come through intact. */
  size_t size = 60000;
  uint8_t *data = pseudo_random(size, 90);
  source src = {.data = data, .size = size};
  give_sink(&n->b, size);
  n->a.window = 16;
  uint8_t good = offer(n, &n->a, &src, size, 0, "good");
  accept_file(n, &n->b, good);
  deliver(n, &n->b, true);
  uint64_t base = dropped_total(&n->b);
  /* Pending incoming file 9 from "Alice", not accepted. */
  uint8_t req[46 + 3] = {0x50, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0};
  memcpy(req + 46, "j.k", 3);
  assert_int_equal(inject(n, &n->b, req, sizeof req), TW_OK);
  struct {
    const uint8_t *p;
    size_t len;
    int why;
  } junk[] = {
      {(const uint8_t[]){0x52, 200, 1, 2, 3}, 5, TW_E_NOTFOUND},          /* data, unknown file */
      {(const uint8_t[]){0x52, 9, 1, 2, 3}, 5, TW_E_UNSOLICITED},         /* data before accept */
      {(const uint8_t[]){0x51, 0, 200, 0}, 4, TW_E_NOTFOUND},             /* control, unknown file */
      {(const uint8_t[]){0x51, 1, 200, 2}, 4, TW_E_NOTFOUND},             /* kill of no file of ours */
      {(const uint8_t[]){0x51, 0, 9, 3, 0, 0, 0, 0, 0, 0, 0, 1}, 12, TW_E_UNSOLICITED}, /* seek by the sender */
      {(const uint8_t[]){0x51, 0, 9, 1}, 4, TW_E_UNSOLICITED},            /* pause before accept */
      {(const uint8_t[]){0x51, 0, 9, 0}, 4, TW_E_UNSOLICITED},            /* resume, nothing paused */
      {(const uint8_t[]){0x51, 0, 9, 4}, 4, TW_E_FORMAT},                 /* no such control */
      {(const uint8_t[]){0x51, 2, 9, 0}, 4, TW_E_FORMAT},                 /* no such side */
      {(const uint8_t[]){0x51, 0, 9}, 3, TW_E_SHORT},
      {(const uint8_t[]){0x51, 0, 9, 3, 0}, 5, TW_E_SHORT},               /* seek cut short */
      {(const uint8_t[]){0x50, 1, 2}, 3, TW_E_SHORT},
      {req, sizeof req, TW_E_REPLAY},                                      /* number in use */
      {(const uint8_t[]){0x52}, 1, TW_E_SHORT},
      {(const uint8_t[]){0x33, 7}, 2, TW_E_FORMAT},
      {(const uint8_t[]){0x32, 3}, 2, TW_E_FORMAT},
      {(const uint8_t[]){0x18, 0}, 2, TW_E_LONG},
      {(const uint8_t[]){0x63, 1}, 2, TW_E_DISABLED},
      {(const uint8_t[]){0x10}, 1, TW_E_KIND},
      {(const uint8_t[]){0xc8}, 1, TW_E_KIND},                             /* a lossy id, lossless */
      {(const uint8_t[]){0}, 0, TW_E_SHORT},
  };
  size_t nj = sizeof junk / sizeof junk[0];
  for (size_t i = 0; i < nj; i++) {
    uint64_t before = dropped(&n->b, junk[i].why);
    assert_int_equal(inject(n, &n->b, junk[i].p, junk[i].len), junk[i].why);
    assert_true(dropped(&n->b, junk[i].why) == before + 1);
  }
  /* An oversized file name (256 bytes) is refused. */
  static uint8_t bigreq[46 + 256];
  memcpy(bigreq, req, 46);
  bigreq[1] = 10;
  assert_int_equal(inject(n, &n->b, bigreq, sizeof bigreq), TW_E_LONG);
  /* A seek to or beyond the size of one of Bob's own files is refused. */
  source tiny = {.data = (const uint8_t *)"abcd", .size = 4};
  uint8_t bf;
  assert_int_equal(tw_msgr_file_send(n->b.m, 0, 0, 4, NULL, NULL, 0, read_source, &tiny, &bf, n->now), TW_OK);
  const uint8_t seek4[12] = {0x51, 1, bf, 3, 0, 0, 0, 0, 0, 0, 0, 4};
  assert_int_equal(inject(n, &n->b, seek4, 12), TW_E_FORMAT);
  assert_true(dropped_total(&n->b) == base + nj + 2);
  /* The junk left file 9 pending and the good transfer untouched. */
  tw_msgr_file_info fi;
  assert_int_equal(tw_msgr_file_get_info(n->b.m, 0, TW_MSGR_FILE_IN, 9, &fi), TW_OK);
  assert_int_equal(fi.state, TW_MSGR_FILE_PENDING);
  assert_int_equal(fi.name_len, 3);
  run(n);
  assert_true(n->b.sink_bytes == size);
  assert_memory_equal(n->b.sink, data, size);
  free(data);
}

static void test_data_beyond_size_is_kept_out(void **state) {
  net *n = *state;
  make_friends(n);
  give_sink(&n->b, 10);
  /* Alice announces 10 bytes, then sends 20. */
  uint8_t req[46] = {0x50, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10};
  assert_int_equal(inject(n, &n->b, req, sizeof req), TW_OK);
  accept_file(n, &n->b, 4);
  uint8_t d[22] = {0x52, 4};
  memset(d + 2, 'q', 20);
  assert_int_equal(inject(n, &n->b, d, sizeof d), TW_OK);
  assert_true(n->b.sink_bytes == 10);
  const logged *done = last_ev(&n->b, TW_MSGR_EV_FILE_DONE);
  assert_non_null(done);
  assert_true(done->e.position == 10);
}

/* ---- robustness ---- */

static void test_callbacks_may_not_reenter(void **state) {
  net *n = *state;
  make_friends(n);
  n->b.try_reenter = true;
  n->b.reenter_rc = 1;
  uint32_t id;
  tw_msgr_send_message(n->a.m, 0, TW_MSGR_MESSAGE_NORMAL, (const uint8_t *)"hi", 2, &id, n->now);
  run(n);
  assert_int_equal(n->b.reenter_rc, TW_E_INVAL);
  /* Outside the callback the same call works. */
  assert_int_equal(tw_msgr_send_message(n->b.m, 0, TW_MSGR_MESSAGE_NORMAL, (const uint8_t *)"x", 1, &id, n->now), TW_OK);
}

static void test_packets_for_unknown_connection_counted(void **state) {
  net *n = *state;
  const uint8_t on[1] = {0x18};
  assert_int_equal(tw_msgr_handle_lossless(n->a.m, 555, on, 1, n->now), TW_E_NOTFOUND);
  assert_int_equal(tw_msgr_handle_lossy(n->a.m, 555, on, 1, n->now), TW_E_NOTFOUND);
  assert_int_equal(tw_msgr_handle_connection(n->a.m, 555, true, n->now), TW_E_NOTFOUND);
  assert_int_equal(tw_msgr_handle_acked(n->a.m, 555, n->now), TW_E_NOTFOUND);
  assert_int_equal(dropped(&n->a, TW_E_NOTFOUND), 4);
  /* Data on a friend's connection before it is up. */
  uint32_t fn;
  tw_msgr_friend_add_norequest(n->a.m, &n->b.kp.pk, &fn, n->now);
  assert_int_equal(inject(n, &n->a, on, 1), TW_E_NOROUTE);
  assert_int_equal(dropped_total(&n->a), 5);
}

static void test_new_refuses_bad_config(void **state) {
  net *n = *state;
  tw_msgr_config cfg;
  memset(&cfg, 0, sizeof cfg);
  assert_null(tw_msgr_new(&cfg, &n->env)); /* no transport */
  cfg.transport = (tw_msgr_transport){
      .ctx = &n->a, .friend_add = t_friend_add, .friend_remove = t_friend_remove,
      .send_lossless = t_send_lossless, .send_lossy = t_send_lossy, .delivered = t_delivered,
      .send_space = t_send_space, .send_onion_data = t_send_onion};
  tw_msgr *m = tw_msgr_new(&cfg, &n->env);
  assert_non_null(m);
  tw_msgr_free(m);
  static uint8_t name[129];
  cfg.name = name;
  cfg.name_len = 129;
  assert_null(tw_msgr_new(&cfg, &n->env));
  cfg.name_len = 0;
  cfg.user_status = 3;
  assert_null(tw_msgr_new(&cfg, &n->env));
  tw_msgr_free(NULL);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_address_is_key_nospam_and_checksum),
      T(test_friend_add_refuses_bad_input),
      T(test_friend_add_with_new_nospam_updates_pending_request),
      T(test_friend_list_and_numbers_reused),
      T(test_friend_request_sent_by_onion_with_doubling_interval),
      T(test_friend_request_unsendable_is_retried_until_sent),
      T(test_friend_request_received_accepted_and_both_online),
      T(test_friend_request_with_wrong_nospam_dropped),
      T(test_friend_request_repeats_delivered_once),
      T(test_friend_request_from_existing_friend_dropped),
      T(test_malformed_onion_data_counted),
      T(test_friend_online_only_after_its_online_packet),
      T(test_details_seen_on_connect_and_on_change),
      T(test_name_change_while_window_full_sent_on_ack),
      T(test_offline_packet_and_connection_loss_set_offline),
      T(test_connection_loss_sets_offline_once),
      T(test_message_receipt_arrives_when_packet_is_confirmed),
      T(test_action_message_and_limits),
      T(test_message_with_window_full_refused),
      T(test_unconfirmed_messages_bounded_and_receipts_in_order),
      T(test_messages_in_flight_when_connection_lost_get_no_receipt),
      T(test_custom_lossless_and_lossy_packets),
      T(test_file_of_1mb_each_way_every_byte_checked),
      T(test_file_exact_multiple_of_chunk_completes_by_size),
      T(test_file_zero_size_completes_with_one_empty_chunk),
      T(test_file_unknown_size_stream_ends_on_short_chunk),
      T(test_file_seek_before_accept_starts_there),
      T(test_file_seek_after_accept_refused_both_ways),
      T(test_file_pause_by_both_sides_needs_both_resumes),
      T(test_file_kill_by_either_side_and_refusal),
      T(test_file_window_full_back_pressure_resumes_on_acked),
      T(test_file_kill_with_window_full_held_until_ack),
      T(test_friend_offline_mid_transfer_clears_transfers),
      T(test_file_type_avatar_passed_through_and_256_outgoing_max),
      T(test_file_read_error_kills_transfer),
      T(test_file_malformed_and_out_of_state_input_dropped_and_counted),
      T(test_data_beyond_size_is_kept_out),
      T(test_callbacks_may_not_reenter),
      T(test_packets_for_unknown_connection_counted),
      T(test_new_refuses_bad_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
