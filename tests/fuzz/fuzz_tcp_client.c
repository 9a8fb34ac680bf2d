/* Fuzzes the client of a TCP relay (include/toxwire/tcp_relay.h): the relay
 * is the attacker.
 *
 * Each input gets a fresh tw_tcp_client with fixed keys and a fixed random
 * seed. The harness plays the relay: it reads the client's handshake with
 * the relay's key, answers it (tw_tcp_handshake_response_build) and owns
 * the relay's end of the encrypted stream, so what the fuzzer writes can be
 * sealed as frames the client opens. The first byte chooses:
 *   bit 0      0: raw mode, 1: sealed mode
 *   bits 1-2   the client's queue limit: default, 2048, 8192, 65536 bytes
 *   bit 3      short timeouts (handshake 2 s, ping 3 s / 1 s)
 *   bit 4      sealed mode: the handshake is not answered until ANSWER
 *
 * Raw mode: records [sel][len][len bytes]: the bytes reach the client;
 * then sel bit 0: (sel >> 4) * 700 ms pass; bit 1: the socket takes
 * nothing until bit 2 says it is writable again; bit 3: EOF.
 *
 * Sealed mode ops, one code byte each:
 *   0 FRAME [u16 len][plain]   plain sealed as the relay's next frame
 *   1 RAW [u16 len][bytes]     raw bytes on the stream
 *   2 ROUTE_RESP [k][id]       a route response for key k (the client asked
 *                              for keys 0..7, or other keys)
 *   3 NOTIFY [w][id]           connect (w even) or disconnect notification
 *   4 DATA [id][u16 len][bytes]
 *   5 OOB [k][u16 len][bytes]  an OOB packet from key k
 *   6 ONION [u16 len][bytes]   an onion response
 *   7 PING [b]                 a ping (b == 0: id 0)
 *   8 PONG [b]                 b odd: answers the client's last ping;
 *                              even: a pong with id b
 *   9 API [w][a][u16 len][bytes]  the client sends: route request (key a),
 *                              disconnect (a), data (a), OOB (key a),
 *                              onion request, ping
 *  10 TICK [t]                 t ms pass (t >= 200: (t - 200) s); due
 *                              timers run
 *  11 WMODE [m]                the client's socket: take all, some
 *                              (1 + (m >> 2) * 29 bytes per event), none, fail
 *  12 WRITABLE                 the socket is writable again
 *  13 HOLD [f]                 bit 0: the relay's frames wait; bit 1: the
 *                              relay does not read what the client sent
 *  14 CUT [n]                  the relay's bytes arrive n at a time (0: all)
 *  15 EOF
 *  16 ANSWER [how]             the handshake is answered: how bit 0 clear:
 *                              a byte (how >> 2) is changed; bit 1: in two
 *                              reads
 *  17 REPLAY [i]               one of the last frames, again
 * After each op what the relay wrote reaches the client and the relay
 * reads what the client wrote (unless held). Data and OOB packets whose
 * first byte is 0xec are echoed from inside the event callback.
 *
 * Invariants: the client's handshake opens with the relay's key; every
 * frame the client sends opens in order and is a well-formed packet a
 * client may send; the state only moves forward; handle_bytes says OK
 * exactly while the client is not closed; CONNECTED and CLOSED come once,
 * nothing after CLOSED; route responses are for keys the client asked for,
 * connect, disconnect and data events carry the key the route response for
 * that id named; OOB data is 1..1024 bytes; the queue stays within its
 * limit; after on_timer the next deadline is in the future.
 *
 * TW_FUZZ_WRITE_SEEDS=DIR: write hand-made seeds for corpus/tcp_client to
 * DIR and exit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/crypto.h"
#include "fuzz_common.h"
#include "tcp_relay/tcp_stream.h"
#include "tcp_relay/tcp_wire.h"
#include "toxwire/error.h"
#include "toxwire/tcp_relay.h"

#define T0 ((tw_time_ms)9000000)
#define NPKS 8
#define MAX_OPS 2048
#define SINK_CAP (512 * 1024)
#define CONTROL_EXTRA (64 * 1024)
#define RECENT 4

enum { OP_FRAME, OP_RAW, OP_ROUTE_RESP, OP_NOTIFY, OP_DATA, OP_OOB, OP_ONION, OP_PING, OP_PONG,
       OP_API, OP_TICK, OP_WMODE, OP_WRITABLE, OP_HOLD, OP_CUT, OP_EOF, OP_ANSWER, OP_REPLAY,
       OP_COUNT };
enum { W_ALL, W_SOME, W_NONE, W_FAIL };

typedef struct buf {
  uint8_t *b;
  size_t n, cap;
} buf;

typedef struct world {
  tw_tcp_client *cl;
  tw_tcp_client_config cfg;
  fuzz_rng cl_rng, relay_rng;
  tw_time_ms now;
  /* the client's socket */
  uint8_t wmode;
  size_t some, budget;
  bool want_write;
  buf from_client; /* what the client wrote, not yet read by the relay */
  uint64_t bytes_written;
  /* the relay's end */
  bool answered, hs_read;
  uint8_t handshake[TW_TCP_HANDSHAKE_SIZE];
  tw_tcp_stream relay; /* seals toward the client, opens what it sends */
  buf to_client;       /* sealed, not yet delivered */
  uint8_t hold;
  size_t cut;
  uint64_t last_ping; /* the client's, as read */
  uint8_t recent[RECENT][TW_TCP_MAX_FRAME_CIPHER + 2];
  size_t recent_len[RECENT];
  int nrecent;
  uint64_t fed; /* bytes given to handle_bytes */
  /* what the client was told and asked */
  tw_tcp_client_state state;
  bool connected_seen, closed_seen;
  bool requested[NPKS];
  bool any_other_requested;
  bool id_known[TW_TCP_MAX_LINKS];
  tw_key id_pk[TW_TCP_MAX_LINKS];
  uint64_t events[10]; /* by kind (TW_FUZZ_VERBOSE) */
} world;

static world g_w;
static tw_keypair g_self, g_relay, g_pks[NPKS];

static void init_once(void) {
  static int done;
  if (done) return;
  done = 1;
  g_relay = *fuzz_me();
  fuzz_rng r = {0x7463702d636c};
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &r};
  tw_keypair_generate(&g_self, &env);
  for (int i = 0; i < NPKS; i++) tw_keypair_generate(&g_pks[i], &env);
}

/* The key k stands for: one of the eight, or (k & 0x80) a made-up one. */
static tw_key key_arg(uint8_t k) {
  tw_key pk = g_pks[k % NPKS].pk;
  if (k & 0x80) memset(pk.bytes, k, sizeof pk.bytes);
  return pk;
}

static size_t buf_put(buf *b, const uint8_t *p, size_t len, size_t cap) {
  if (b->n + len > cap) len = cap - b->n;
  if (len == 0) return 0;
  if (b->n + len > b->cap) {
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->n + len) nc *= 2;
    uint8_t *q = realloc(b->b, nc);
    if (q == NULL) abort();
    b->b = q;
    b->cap = nc;
  }
  memcpy(b->b + b->n, p, len);
  b->n += len;
  return len;
}

static void buf_drop(buf *b, size_t n) {
  memmove(b->b, b->b + n, b->n - n);
  b->n -= n;
}

static void buf_free(buf *b) {
  free(b->b);
  memset(b, 0, sizeof *b);
}

/* ---- client callbacks ---- */

static long cl_write(void *ctx, void *user, const uint8_t *bytes, size_t len) {
  FUZZ_CHECK(ctx == &g_w && user == NULL && len > 0);
  size_t take = len;
  switch (g_w.wmode) {
  case W_ALL: break;
  case W_SOME:
    if (take > g_w.budget) take = g_w.budget;
    g_w.budget -= take;
    break;
  case W_NONE: return 0;
  default: return -1;
  }
  take = buf_put(&g_w.from_client, bytes, take, SINK_CAP);
  g_w.bytes_written += take;
  return (long)take;
}

static void cl_want_write(void *ctx, void *user, bool on) {
  FUZZ_CHECK(ctx == &g_w && user == NULL && on != g_w.want_write);
  g_w.want_write = on;
}

static int pk_index(const tw_key *pk) {
  for (int i = 0; i < NPKS; i++)
    if (tw_key_equal(pk, &g_pks[i].pk)) return i;
  return -1;
}

/* Data and OOB starting with ECHO go back from inside the event callback
 * (which may send). */
#define ECHO 0xec
static void echo(const tw_tcp_client_event *ev, bool oob) {
  uint8_t back[TW_TCP_MAX_PACKET];
  memcpy(back, ev->data, ev->len);
  int rc = oob ? tw_tcp_client_send_oob(g_w.cl, &ev->pk, back, ev->len)
               : tw_tcp_client_send_data(g_w.cl, ev->conn_id, back, ev->len);
  FUZZ_CHECK(rc == TW_OK || rc == TW_E_FULL);
}

static void cl_event(void *ctx, const tw_tcp_client_event *ev, tw_time_ms now) {
  FUZZ_CHECK(ctx == &g_w && now == g_w.now);
  FUZZ_CHECK(!g_w.closed_seen);
  unsigned i = ev->conn_id >= TW_TCP_FIRST_CONN_ID ? ev->conn_id - TW_TCP_FIRST_CONN_ID : 0;
  if ((unsigned)ev->kind < 10) g_w.events[ev->kind]++;
  switch (ev->kind) {
  case TW_TCP_EV_CONNECTED:
    FUZZ_CHECK(!g_w.connected_seen && g_w.answered);
    g_w.connected_seen = true;
    break;
  case TW_TCP_EV_ROUTE_RESPONSE: {
    FUZZ_CHECK(g_w.connected_seen);
    FUZZ_CHECK(ev->conn_id == 0 || ev->conn_id >= TW_TCP_FIRST_CONN_ID);
    int k = pk_index(&ev->pk);
    FUZZ_CHECK(k >= 0 ? g_w.requested[k] : g_w.any_other_requested);
    if (ev->conn_id != 0) {
      g_w.id_known[i] = true;
      g_w.id_pk[i] = ev->pk;
    }
    break;
  }
  case TW_TCP_EV_CONNECT:
  case TW_TCP_EV_DISCONNECT:
  case TW_TCP_EV_DATA:
    FUZZ_CHECK(ev->conn_id >= TW_TCP_FIRST_CONN_ID);
    FUZZ_CHECK(g_w.id_known[i] && tw_key_equal(&ev->pk, &g_w.id_pk[i]));
    if (ev->kind == TW_TCP_EV_DATA) {
      FUZZ_CHECK(ev->data != NULL && ev->len >= 1 && ev->len <= TW_TCP_MAX_PACKET - 1);
      { volatile uint8_t last = ev->data[ev->len - 1]; (void)last; }
      if (ev->data[0] == ECHO) echo(ev, false);
    }
    break;
  case TW_TCP_EV_OOB:
    FUZZ_CHECK(ev->data != NULL && ev->len >= 1 && ev->len <= TW_TCP_MAX_OOB_DATA);
    { volatile uint8_t last = ev->data[ev->len - 1]; (void)last; }
    if (ev->data[0] == ECHO) echo(ev, true);
    break;
  case TW_TCP_EV_ONION_RESPONSE:
    FUZZ_CHECK(ev->data != NULL && ev->len >= 1 && ev->len <= TW_TCP_MAX_PACKET - 1);
    { volatile uint8_t last = ev->data[ev->len - 1]; (void)last; }
    break;
  case TW_TCP_EV_PONG: {
    tw_tcp_client_stats st;
    tw_tcp_client_get_stats(g_w.cl, &st);
    FUZZ_CHECK(st.pings_sent > 0);
    break;
  }
  case TW_TCP_EV_CLOSED:
    FUZZ_CHECK(fuzz_known_error(ev->reason) && ev->reason != TW_OK);
    g_w.closed_seen = true;
    break;
  default:
    FUZZ_CHECK(!"unknown client event");
  }
}

/* ---- checks ---- */

static void check(void) {
  tw_tcp_client_state s = tw_tcp_client_state_get(g_w.cl);
  FUZZ_CHECK(s == TW_TCP_CLIENT_HANDSHAKING || s == TW_TCP_CLIENT_CONNECTED ||
             s == TW_TCP_CLIENT_CLOSED);
  FUZZ_CHECK(s >= g_w.state); /* only forward */
  g_w.state = s;
  FUZZ_CHECK((s == TW_TCP_CLIENT_CLOSED) == g_w.closed_seen);
  FUZZ_CHECK(s != TW_TCP_CLIENT_CONNECTED || g_w.connected_seen);
  size_t qb = g_w.cfg.queue_bytes ? g_w.cfg.queue_bytes : 256 * 1024;
  FUZZ_CHECK(tw_tcp_client_queued(g_w.cl) <= qb + CONTROL_EXTRA + TW_TCP_HANDSHAKE_SIZE);
  tw_tcp_client_stats st;
  tw_tcp_client_get_stats(g_w.cl, &st);
  FUZZ_CHECK(st.dropped[0] == 0);
  FUZZ_CHECK(st.bytes_in == g_w.fed);
  FUZZ_CHECK(st.bytes_out == g_w.bytes_written);
  FUZZ_CHECK(st.pongs_received <= st.pings_sent);
  if (s == TW_TCP_CLIENT_CLOSED) FUZZ_CHECK(tw_tcp_client_next_deadline(g_w.cl) == TW_NEVER);
}

/* ---- the relay's end ---- */

static void feed_client(const uint8_t *p, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  if (copy == NULL) abort();
  memcpy(copy, p, len);
  bool was_closed = g_w.closed_seen;
  g_w.fed += len;
  int rc = tw_tcp_client_handle_bytes(g_w.cl, copy, len, g_w.now);
  free(copy);
  FUZZ_CHECK(fuzz_known_error(rc));
  FUZZ_CHECK((rc == TW_OK) == !g_w.closed_seen);
  if (was_closed) FUZZ_CHECK(rc == TW_E_INVAL);
}

/* Delivers what the relay wrote, g_w.cut bytes at a time. */
static void deliver(void) {
  if (g_w.to_client.n == 0) return;
  size_t n = g_w.to_client.n;
  uint8_t *b = g_w.to_client.b;
  g_w.to_client = (buf){0};
  size_t step = g_w.cut ? g_w.cut : n;
  for (size_t off = 0; off < n; off += step) feed_client(b + off, n - off < step ? n - off : step);
  free(b);
}

static long relay_take(void *ctx, void *user, const uint8_t *bytes, size_t len) {
  (void)user;
  return (long)buf_put(ctx, bytes, len, SIZE_MAX);
}

/* Seals plain as the relay's next frame, for delivery. */
static void relay_send(const uint8_t *plain, size_t len) {
  if (!g_w.answered) return;
  int rc = tw_tcp_stream_seal(&g_w.relay, plain, len, SIZE_MAX);
  FUZZ_CHECK(rc == TW_OK || (rc == TW_E_LONG && len > TW_TCP_MAX_PACKET));
  if (rc != TW_OK) return;
  size_t before = g_w.to_client.n;
  FUZZ_CHECK(tw_tcp_stream_write(&g_w.relay, relay_take, &g_w.to_client, NULL) >= 0);
  FUZZ_CHECK(g_w.relay.q_len == 0 && g_w.to_client.n == before + 2 + len + TW_MAC_SIZE);
  int k = g_w.nrecent++ % RECENT;
  memcpy(g_w.recent[k], g_w.to_client.b + before, 2 + len + TW_MAC_SIZE);
  g_w.recent_len[k] = 2 + len + TW_MAC_SIZE;
}

/* Reads the client's handshake (once): it must open with the relay's key. */
static bool read_handshake(void) {
  if (g_w.hs_read) return true;
  if (g_w.from_client.n < TW_TCP_HANDSHAKE_SIZE) return false;
  memcpy(g_w.handshake, g_w.from_client.b, TW_TCP_HANDSHAKE_SIZE);
  buf_drop(&g_w.from_client, TW_TCP_HANDSHAKE_SIZE);
  g_w.hs_read = true;
  return true;
}

/* Answers the client's handshake; how bit 0 clear: with a changed byte. */
static void answer(uint8_t how) {
  if (g_w.answered || !read_handshake()) return;
  tw_key pk;
  tw_tcp_handshake_client_pk(g_w.handshake, &pk);
  FUZZ_CHECK(tw_key_equal(&pk, &g_self.pk));
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_shared_key_compute(shared, &pk, g_relay.sk);
  tw_tcp_hello theirs, ours;
  FUZZ_CHECK(tw_tcp_handshake_open(g_w.handshake, shared, &theirs) == TW_OK);
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &g_w.relay_rng};
  tw_keypair temp;
  tw_keypair_generate(&temp, &env);
  ours.temp_pk = temp.pk;
  tw_random_bytes(&env, ours.base_nonce, TW_NONCE_SIZE);
  uint8_t nonce[TW_NONCE_SIZE], resp[TW_TCP_HANDSHAKE_RESPONSE_SIZE];
  tw_random_bytes(&env, nonce, sizeof nonce);
  tw_tcp_handshake_response_build(resp, shared, nonce, &ours);
  tw_shared_key_compute(g_w.relay.shared, &theirs.temp_pk, temp.sk);
  memcpy(g_w.relay.send_nonce, ours.base_nonce, TW_NONCE_SIZE);
  memcpy(g_w.relay.recv_nonce, theirs.base_nonce, TW_NONCE_SIZE);
  g_w.answered = true;
  if (!(how & 1)) resp[(how >> 2) % sizeof resp] ^= 0x20;
  /* What waits goes first: the answer is the first thing on the stream. */
  deliver();
  if (how & 2) {
    feed_client(resp, 40);
    feed_client(resp + 40, sizeof resp - 40);
  } else {
    feed_client(resp, sizeof resp);
  }
}

/* The relay reads the client's frames: each must open and be a packet a
 * client sends. */
static void relay_read(void) {
  if (!g_w.answered || !read_handshake()) return;
  const uint8_t *p = g_w.from_client.b;
  size_t n = g_w.from_client.n;
  for (;;) {
    const uint8_t *msg;
    size_t mlen;
    int got = tw_tcp_stream_next(&g_w.relay, &p, &n, 0, &msg, &mlen);
    FUZZ_CHECK(got == 0 || got == 1);
    if (got == 0) break;
    uint8_t plain[TW_TCP_MAX_FRAME_CIPHER];
    FUZZ_CHECK(tw_tcp_stream_open(&g_w.relay, msg, mlen, plain) == TW_OK);
    tw_tcp_packet pk;
    FUZZ_CHECK(tw_tcp_packet_parse(&pk, plain, mlen - TW_MAC_SIZE) == TW_OK);
    switch (pk.kind) {
    case TW_TCP_PING: g_w.last_ping = pk.ping_id; break;
    case TW_TCP_ROUTE_REQUEST:
    case TW_TCP_DISCONNECT_NOTIFICATION:
    case TW_TCP_PONG:
    case TW_TCP_OOB_SEND:
    case TW_TCP_ONION_REQUEST:
      break;
    default:
      FUZZ_CHECK(pk.kind >= TW_TCP_FIRST_CONN_ID);
    }
  }
  g_w.from_client.n = 0;
}

static void client_flush(void) {
  g_w.budget = g_w.some;
  if (g_w.want_write) {
    int rc = tw_tcp_client_handle_writable(g_w.cl, g_w.now);
    FUZZ_CHECK(rc == TW_OK || rc == TW_E_INVAL || rc == TW_E_IO);
    FUZZ_CHECK((rc == TW_OK) == !g_w.closed_seen);
  } else {
    tw_tcp_client_flush(g_w.cl, g_w.now);
  }
}

static void pump(void) {
  for (int round = 0; round < 4; round++) {
    if (!(g_w.hold & 1)) deliver();
    if (g_w.wmode != W_NONE) client_flush();
    if (!(g_w.hold & 2)) relay_read();
    check();
    if (g_w.to_client.n == 0 || (g_w.hold & 1)) break;
  }
}

static void timers(void) {
  if (tw_tcp_client_next_deadline(g_w.cl) <= g_w.now) {
    tw_tcp_client_on_timer(g_w.cl, g_w.now);
    FUZZ_CHECK(tw_tcp_client_next_deadline(g_w.cl) > g_w.now);
  }
  check();
}

static void setup(uint8_t conf) {
  memset(&g_w, 0, sizeof g_w);
  g_w.now = T0;
  g_w.cl_rng.state = 0xc1;
  g_w.relay_rng.state = 0x7e1a4;
  g_w.some = 1;
  g_w.state = TW_TCP_CLIENT_HANDSHAKING;
  static const size_t qb[4] = {0, 2048, 8192, 65536};
  tw_tcp_client_config *c = &g_w.cfg;
  c->self = g_self;
  c->relay_pk = g_relay.pk;
  c->queue_bytes = qb[(conf >> 1) & 3];
  if (conf & 8) {
    c->handshake_timeout_ms = 2000;
    c->ping_interval_ms = 3000;
    c->ping_timeout_ms = 1000;
  }
  c->write = cl_write;
  c->want_write = cl_want_write;
  c->on_event = cl_event;
  c->ctx = &g_w;
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &g_w.cl_rng};
  g_w.cl = tw_tcp_client_new(c, &env, g_w.now);
  FUZZ_CHECK(g_w.cl != NULL);
  FUZZ_CHECK(tw_tcp_client_state_get(g_w.cl) == TW_TCP_CLIENT_HANDSHAKING);
  FUZZ_CHECK(tw_tcp_client_queued(g_w.cl) == TW_TCP_HANDSHAKE_SIZE);
  /* Not connected: packets that need the relay are refused. */
  uint8_t x = 1;
  tw_key pk = g_pks[0].pk;
  FUZZ_CHECK(tw_tcp_client_send_data(g_w.cl, 16, &x, 1) == TW_E_INVAL);
  FUZZ_CHECK(tw_tcp_client_send_oob(g_w.cl, &pk, &x, 1) == TW_E_INVAL);
  FUZZ_CHECK(tw_tcp_client_send_route_request(g_w.cl, &pk) == TW_E_INVAL);
  tw_tcp_client_flush(g_w.cl, g_w.now);
  check();
}

static void teardown(void) {
  tw_tcp_client_free(g_w.cl);
  g_w.cl = NULL;
  tw_tcp_stream_clear(&g_w.relay);
  buf_free(&g_w.from_client);
  buf_free(&g_w.to_client);
}

/* ---- reading the input ---- */

static void run_raw(fuzz_rd *r) {
  for (int ops = 0; r->pos < r->n && ops < MAX_OPS; ops++) {
    uint8_t sel = fuzz_get8(r);
    size_t len = fuzz_get8(r);
    const uint8_t *p = fuzz_getn(r, &len);
    feed_client(p, len);
    if (sel & 1) {
      g_w.now += (tw_time_ms)(sel >> 4) * 700;
      timers();
    }
    if (sel & 2) g_w.wmode = W_NONE;
    if (sel & 4) {
      g_w.wmode = W_ALL;
      client_flush();
    }
    if (sel & 8) tw_tcp_client_handle_eof(g_w.cl, g_w.now);
    check();
  }
}

static void api(fuzz_rd *r) {
  uint8_t what = fuzz_get8(r), a = fuzz_get8(r);
  size_t len = fuzz_get16(r) % (TW_TCP_MAX_PACKET + 2);
  const uint8_t *p = fuzz_getn(r, &len);
  uint8_t *copy = malloc(len ? len : 1);
  if (copy == NULL) abort();
  memcpy(copy, p, len);
  bool connected = tw_tcp_client_state_get(g_w.cl) == TW_TCP_CLIENT_CONNECTED;
  int rc = TW_OK;
  switch (what % 6) {
  case 0: {
    tw_key pk = key_arg(a);
    rc = tw_tcp_client_send_route_request(g_w.cl, &pk);
    if (rc == TW_OK) {
      if (a & 0x80) g_w.any_other_requested = true;
      else g_w.requested[a % NPKS] = true;
    }
    FUZZ_CHECK(rc == TW_OK || rc == TW_E_FULL || (rc == TW_E_INVAL && !connected));
    break;
  }
  case 1:
    rc = tw_tcp_client_send_disconnect(g_w.cl, a);
    if (a < TW_TCP_FIRST_CONN_ID) FUZZ_CHECK(rc == TW_E_INVAL);
    if (rc == TW_OK) g_w.id_known[a - TW_TCP_FIRST_CONN_ID] = false;
    break;
  case 2:
    rc = tw_tcp_client_send_data(g_w.cl, a, copy, len);
    if (a < TW_TCP_FIRST_CONN_ID || len == 0) FUZZ_CHECK(rc == TW_E_INVAL);
    break;
  case 3: {
    tw_key pk = key_arg(a);
    size_t l = len % (TW_TCP_MAX_OOB_DATA + 2);
    rc = tw_tcp_client_send_oob(g_w.cl, &pk, copy, l);
    if (l == 0) FUZZ_CHECK(rc == TW_E_INVAL);
    if (l > TW_TCP_MAX_OOB_DATA) FUZZ_CHECK(rc == TW_E_LONG);
    break;
  }
  case 4:
    rc = tw_tcp_client_send_onion_request(g_w.cl, copy, len);
    if (len == 0) FUZZ_CHECK(rc == TW_E_INVAL);
    if (len > TW_TCP_MAX_PACKET - 1) FUZZ_CHECK(rc == TW_E_LONG || rc == TW_E_INVAL);
    break;
  case 5:
    rc = tw_tcp_client_send_ping(g_w.cl, g_w.now);
    FUZZ_CHECK(rc == TW_OK || rc == TW_E_FULL || (rc == TW_E_INVAL && !connected));
    break;
  }
  FUZZ_CHECK(fuzz_known_error(rc));
  if (!connected) FUZZ_CHECK(rc != TW_OK);
  free(copy);
}

static void run_sealed(fuzz_rd *r, bool late) {
  pump();
  if (!late) answer(1);
  uint8_t out[TW_TCP_MAX_PACKET + 2];
  for (int ops = 0; r->pos < r->n && ops < MAX_OPS; ops++) {
    uint8_t code = fuzz_get8(r) % OP_COUNT;
    switch (code) {
    case OP_FRAME: {
      size_t len = fuzz_get16(r) % (TW_TCP_MAX_PACKET + 2);
      const uint8_t *p = fuzz_getn(r, &len);
      memcpy(out, p, len);
      relay_send(out, len);
      break;
    }
    case OP_RAW: {
      size_t len = fuzz_get16(r) % 4096;
      const uint8_t *p = fuzz_getn(r, &len);
      buf_put(&g_w.to_client, p, len, SIZE_MAX);
      break;
    }
    case OP_ROUTE_RESP: {
      tw_key pk = key_arg(fuzz_get8(r));
      uint8_t id = fuzz_get8(r);
      relay_send(out, tw_tcp_write_route_response(out, id, &pk));
      break;
    }
    case OP_NOTIFY: {
      uint8_t w = fuzz_get8(r), id = fuzz_get8(r);
      relay_send(out, tw_tcp_write_notification(out, w & 1 ? TW_TCP_DISCONNECT_NOTIFICATION
                                                           : TW_TCP_CONNECT_NOTIFICATION,
                                                id));
      break;
    }
    case OP_DATA: {
      uint8_t id = fuzz_get8(r);
      size_t len = fuzz_get16(r) % TW_TCP_MAX_PACKET;
      const uint8_t *p = fuzz_getn(r, &len);
      relay_send(out, tw_tcp_write_data(out, id, p, len));
      break;
    }
    case OP_OOB: {
      tw_key pk = key_arg(fuzz_get8(r));
      size_t len = fuzz_get16(r) % (TW_TCP_MAX_OOB_DATA + 2);
      const uint8_t *p = fuzz_getn(r, &len);
      relay_send(out, tw_tcp_write_keyed(out, TW_TCP_OOB_RECV, &pk, p, len));
      break;
    }
    case OP_ONION: {
      size_t len = fuzz_get16(r) % TW_TCP_MAX_PACKET;
      const uint8_t *p = fuzz_getn(r, &len);
      relay_send(out, tw_tcp_write_data(out, TW_TCP_ONION_RESPONSE, p, len));
      break;
    }
    case OP_PING: {
      uint8_t b = fuzz_get8(r);
      uint64_t id = b ? 0x0101010101010101ULL * b : 0;
      relay_send(out, tw_tcp_write_ping(out, TW_TCP_PING, id));
      break;
    }
    case OP_PONG: {
      uint8_t b = fuzz_get8(r);
      uint64_t id = b & 1 ? g_w.last_ping : b;
      relay_send(out, tw_tcp_write_ping(out, TW_TCP_PONG, id));
      break;
    }
    case OP_API: api(r); break;
    case OP_TICK: {
      uint8_t t = fuzz_get8(r);
      g_w.now += t < 200 ? t : (tw_time_ms)(t - 200) * 1000;
      timers();
      break;
    }
    case OP_WMODE: {
      uint8_t m = fuzz_get8(r);
      g_w.wmode = m & 3;
      g_w.some = 1 + (size_t)(m >> 2) * 29;
      break;
    }
    case OP_WRITABLE: client_flush(); break;
    case OP_HOLD: g_w.hold = fuzz_get8(r) & 3; break;
    case OP_CUT: g_w.cut = fuzz_get8(r); break;
    case OP_EOF: tw_tcp_client_handle_eof(g_w.cl, g_w.now); break;
    case OP_ANSWER: {
      uint8_t how = fuzz_get8(r);
      client_flush();
      answer(how);
      break;
    }
    case OP_REPLAY: {
      uint8_t i = fuzz_get8(r);
      int have = g_w.nrecent < RECENT ? g_w.nrecent : RECENT;
      if (have > 0) {
        int k = i % have;
        buf_put(&g_w.to_client, g_w.recent[k], g_w.recent_len[k], SIZE_MAX);
      }
      break;
    }
    }
    pump();
  }
  /* Let it settle. */
  for (int k = 0; k < 3; k++) {
    g_w.now += 4000;
    timers();
    pump();
  }
}

static void report(void) {
  static int verbose = -1;
  if (verbose < 0) verbose = getenv("TW_FUZZ_VERBOSE") != NULL;
  if (!verbose) return;
  tw_tcp_client_stats st;
  tw_tcp_client_get_stats(g_w.cl, &st);
  static const char *const names[10] = {"",     "connected", "route", "connect", "disconnect",
                                        "data", "oob",       "onion", "pong",    "closed"};
  fprintf(stderr, "client state %d, frames in %llu out %llu, pings %llu pongs %llu; events:",
          (int)tw_tcp_client_state_get(g_w.cl), (unsigned long long)st.frames_in,
          (unsigned long long)st.frames_out, (unsigned long long)st.pings_sent,
          (unsigned long long)st.pongs_received);
  for (int k = 1; k < 10; k++)
    if (g_w.events[k]) fprintf(stderr, " %s %llu", names[k], (unsigned long long)g_w.events[k]);
  fprintf(stderr, "; drops:");
  for (int k = 1; k < TW_ERROR_COUNT; k++)
    if (st.dropped[k])
      fprintf(stderr, " %s %llu", tw_strerror(-k), (unsigned long long)st.dropped[k]);
  fprintf(stderr, "\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_once();
  if (size == 0) return 0;
  setup(data[0]);
  fuzz_rd r = {data, size, 1};
  if (data[0] & 1) run_sealed(&r, data[0] & 0x10);
  else run_raw(&r);
  check();
  report();
  teardown();
  return 0;
}

/* ---- seeds ---- */

static void api_op(fuzz_wr *w, uint8_t what, uint8_t a, const void *p, size_t n) {
  fuzz_put8(w, OP_API);
  fuzz_put8(w, what);
  fuzz_put8(w, a);
  fuzz_put16(w, (uint16_t)n);
  fuzz_putn(w, p, n);
}

static void write_seeds(const char *dir) {
  init_once();
  mkdir(dir, 0755);
  fuzz_wr w = {.n = 0};
  uint8_t payload[1100];
  for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 11 + 3);

  /* Raw: a short answer, a wrong one, then EOF. */
  fuzz_put8(&w, 0x00);
  fuzz_put8(&w, 0x00);
  fuzz_put8(&w, 50);
  fuzz_putn(&w, payload, 50);
  fuzz_put8(&w, 0x01 | 2 << 4);
  fuzz_put8(&w, 46);
  fuzz_putn(&w, payload + 50, 46);
  fuzz_put8(&w, 0x08);
  fuzz_put8(&w, 0);
  fuzz_seed(dir, "raw-answer", &w);

  /* Raw: nothing comes; the handshake times out. */
  fuzz_put8(&w, 0x08);
  for (int i = 0; i < 4; i++) {
    fuzz_put8(&w, 0x01 | 15 << 4);
    fuzz_put8(&w, 0);
  }
  fuzz_seed(dir, "raw-timeout", &w);

  /* Sealed: ask for a route, get it, the peer connects, data, OOB, onion,
   * disconnect. */
  fuzz_put8(&w, 0x01);
  api_op(&w, 0, 1, NULL, 0);
  api_op(&w, 0, 2, NULL, 0);
  fuzz_op2(&w, OP_ROUTE_RESP, 1, 16);
  fuzz_op2(&w, OP_ROUTE_RESP, 2, 0);
  fuzz_op2(&w, OP_NOTIFY, 0, 16);
  fuzz_put8(&w, OP_DATA);
  fuzz_put8(&w, 16);
  fuzz_put16(&w, 100);
  fuzz_putn(&w, payload, 100);
  fuzz_put8(&w, OP_OOB);
  fuzz_put8(&w, 3);
  fuzz_put16(&w, 1024);
  fuzz_putn(&w, payload, 1024);
  fuzz_put8(&w, OP_ONION);
  fuzz_put16(&w, 200);
  fuzz_putn(&w, payload, 200);
  fuzz_put8(&w, OP_DATA);
  fuzz_put8(&w, 16);
  fuzz_put16(&w, 3);
  fuzz_putn(&w, "\xec" "hi", 3);
  fuzz_put8(&w, OP_OOB);
  fuzz_put8(&w, 5);
  fuzz_put16(&w, 3);
  fuzz_putn(&w, "\xec" "yo", 3);
  api_op(&w, 2, 16, payload, 300);
  api_op(&w, 3, 1, payload, 30);
  api_op(&w, 4, 0, payload, 150);
  fuzz_op2(&w, OP_NOTIFY, 1, 16);
  api_op(&w, 1, 16, NULL, 0);
  fuzz_put8(&w, OP_DATA);
  fuzz_put8(&w, 16);
  fuzz_put16(&w, 5);
  fuzz_putn(&w, payload, 5);
  fuzz_seed(dir, "sealed-route-data", &w);

  /* Sealed: more route requests in flight than the client remembers; the
   * answer to a forgotten one is unsolicited. */
  fuzz_put8(&w, 0x01);
  for (int k = 0; k < TW_TCP_MAX_LINKS + 5; k++) api_op(&w, 0, (uint8_t)(0x80 | k % 128), NULL, 0);
  fuzz_op2(&w, OP_ROUTE_RESP, 0x80, 16);
  fuzz_op2(&w, OP_ROUTE_RESP, 0x80 | 127, 17);
  fuzz_seed(dir, "sealed-pending-overflow", &w);

  /* Sealed: server packets without a route request first. */
  fuzz_put8(&w, 0x01);
  fuzz_op2(&w, OP_NOTIFY, 0, 20);
  fuzz_put8(&w, OP_DATA);
  fuzz_put8(&w, 17);
  fuzz_put16(&w, 3);
  fuzz_putn(&w, "abc", 3);
  fuzz_seed(dir, "sealed-unasked", &w);

  /* Sealed: pings both ways, pongs right and wrong, time. */
  fuzz_put8(&w, 0x09);
  fuzz_op(&w, OP_PING, 7);
  fuzz_op(&w, OP_PING, 0);
  fuzz_op(&w, OP_PONG, 1);
  fuzz_op(&w, OP_PONG, 2);
  fuzz_op(&w, OP_TICK, 204);
  fuzz_op(&w, OP_PONG, 1);
  fuzz_op(&w, OP_TICK, 202);
  fuzz_op(&w, OP_TICK, 202);
  fuzz_seed(dir, "sealed-pings", &w);

  /* Sealed: malformed packets, a frame of every length class, cut reads. */
  fuzz_put8(&w, 0x01);
  fuzz_op(&w, OP_CUT, 3);
  {
    static const uint8_t bad[][3] = {{0x0a, 1, 2}, {0x01, 5, 0}, {0x04, 0, 0}, {0x00, 1, 1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      fuzz_put8(&w, OP_FRAME);
      fuzz_put16(&w, 3);
      fuzz_putn(&w, bad[i], 3);
    }
  }
  fuzz_put8(&w, OP_FRAME);
  fuzz_put16(&w, TW_TCP_MAX_PACKET);
  fuzz_putn(&w, payload, 1100);
  fuzz_putn(&w, payload, TW_TCP_MAX_PACKET - 1100);
  fuzz_op(&w, OP_CUT, 0);
  fuzz_op2(&w, OP_ROUTE_RESP, 0x85, 16);
  fuzz_op(&w, OP_REPLAY, 0);
  fuzz_seed(dir, "sealed-malformed-replay", &w);

  /* Sealed, answered late, in two reads; slow socket, queue limits. */
  fuzz_put8(&w, 0x13);
  fuzz_op(&w, OP_WMODE, W_NONE);
  fuzz_op(&w, OP_ANSWER, 3);
  for (int i = 0; i < 4; i++) api_op(&w, 4, 0, payload, 1000);
  fuzz_op(&w, OP_WMODE, W_SOME | 3 << 2);
  fuzz_put8(&w, OP_WRITABLE);
  fuzz_op(&w, OP_HOLD, 2);
  for (int i = 0; i < 3; i++) api_op(&w, 2, 16, payload, 900);
  fuzz_op(&w, OP_HOLD, 0);
  fuzz_op(&w, OP_WMODE, W_FAIL);
  api_op(&w, 5, 0, NULL, 0);
  fuzz_seed(dir, "sealed-late-slow", &w);

  /* Sealed, a corrupted answer. */
  fuzz_put8(&w, 0x11);
  fuzz_op(&w, OP_ANSWER, 0x10 << 2);
  fuzz_seed(dir, "sealed-bad-answer", &w);
}

FUZZ_SEED_WRITER(write_seeds)
