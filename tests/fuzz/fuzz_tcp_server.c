/* Fuzzes the TCP relay server (include/toxwire/tcp_relay.h): a stranger's
 * bytes on its TCP port, and clients that got past the handshake.
 *
 * Each input gets a fresh server with a fixed key and a fixed random seed.
 * The first byte chooses the mode and the configuration:
 *   bit 0      0: raw mode, 1: op mode
 *   bits 1-2   per-client queue limit: default, 2048, 6000, 20000 bytes
 *   bits 3-4   total queue limit: default, 4096, 16384, 65536 bytes
 *   bit 5      an onion request handler is set
 *   bit 6      short timeouts (handshake 2 s, stall 1.5 s, ping 3 s / 1 s)
 *   bit 7      few clients (4, 2 per address) instead of 8 (8 per address)
 *
 * Raw mode: four connections are accepted, then records
 *   [sel][len][len bytes]   sel bits 0-1: the connection; bits 2-3: what:
 *                           0 the bytes arrive, 1 the bytes arrive and
 *                           (sel >> 4) * 700 ms pass, 2 the connection
 *                           closes and another is accepted from address
 *                           sel >> 4, 3 the socket's write behaviour
 *                           becomes sel >> 4 (take all, some, none, fail)
 *
 * Op mode: up to 8 connections; a connection may be driven by a real
 * tw_tcp_client (deterministic keys, four possible key pairs so that pairs
 * link, and the same key twice replaces the older one) whose handshake and
 * frames go to the server, and whose received bytes are what the server
 * wrote. Ops, one code byte each:
 *   0 ACCEPT [b]             b bit 0: with a client; bits 1-2: address;
 *                            bits 3-4: the client's key pair
 *   1 RAW [c][u16 len][bytes]   raw bytes on connection c
 *   2 PLAIN [c][u16 len][plain] the client seals plain as its next frame
 *                               (tw_tcp_client_send_raw): any packet with
 *                               valid crypto
 *   3 ROUTE [c][k]           route request for key pair k (k & 0x80: for
 *                            a key nobody has; k & 0xc0: a new one each
 *                            time)
 *   4 DATA [c][id][u16 len][bytes]
 *   5 OOB [c][k][u16 len][bytes]
 *   6 DISCONNECT [c][id]
 *   7 ONION [c][rc][u16 len][bytes]  an onion request; the handler then
 *                            returns -((rc & 0x7f) % TW_ERROR_COUNT), and
 *                            with rc & 0x80 sends the request back as the
 *                            response at once, from inside the call
 *   8 ONION_RESP [i][u16 len][bytes] the server sends an onion response to
 *                            the i-th link seen by the handler (or a stale
 *                            or made-up id)
 *   9 TICK [t]               t ms pass (t >= 200: (t - 200) s); due timers
 *                            run (odd t: the server's also when not due)
 *  10 WMODE [c][m]           the server's writes to c: m & 3 = take all,
 *                            take up to 1 + (m >> 2) * 37 bytes per event,
 *                            take none, fail
 *  11 WRITABLE [c]           c's socket is writable again
 *  12 CLOSE [c]              c's socket closes (EOF)
 *  13 PING [c]               the client pings
 *  14 HOLD [c][f]            f bit 0: what the server wrote to c waits;
 *                            bit 1: what the client wrote waits (8 KiB
 *                            fill the client's socket)
 *  15 CUT [c][n]             the client's bytes reach the server n at a
 *                            time (0: all at once)
 *  16 STALE [i]              calls with the id of a closed connection
 * After each op everything not held is delivered both ways. Data and OOB
 * packets whose first byte is 0xec are echoed by the receiving client from
 * inside its event callback.
 *
 * Invariants: clients == confirmed + pending == the connections the harness
 * holds open; accepted matches; at most one link per pair of confirmed
 * clients; the queues stay within their limits; closed() comes once per
 * connection, only for open ones, and exactly when handle_bytes or
 * handle_writable say the connection was dropped; want_write toggles;
 * calls with stale ids find nothing; after on_timer the next deadline is in
 * the future; every verdict is TW_OK or a known TW_E_*; what reaches the
 * real clients makes sense (ids in range, data on connected ids, senders'
 * keys among the clients').
 *
 * TW_FUZZ_WRITE_SEEDS=DIR: write hand-made seeds for corpus/tcp_server to
 * DIR and exit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/crypto.h"
#include "fuzz_common.h"
#include "tcp_relay/tcp_wire.h"
#include "toxwire/error.h"
#include "toxwire/tcp_relay.h"

#define T0 ((tw_time_ms)5000000)
#define NCONN 8
#define NKEYS 4
#define MAX_OPS 2048
#define MAX_STALE 16
#define MAX_LINKS_SEEN 16
#define SINK_CAP (512 * 1024) /* what the server wrote, waiting for a client */
#define UP_CAP (8 * 1024)     /* what a client wrote: its socket fills sooner */
#define CONTROL_EXTRA (64 * 1024) /* the server's allowance for control frames */

enum { OP_ACCEPT, OP_RAW, OP_PLAIN, OP_ROUTE, OP_DATA, OP_OOB, OP_DISCONNECT, OP_ONION,
       OP_ONION_RESP, OP_TICK, OP_WMODE, OP_WRITABLE, OP_CLOSE, OP_PING, OP_HOLD, OP_CUT,
       OP_STALE, OP_COUNT };
enum { W_ALL, W_SOME, W_NONE, W_FAIL };

typedef struct buf {
  uint8_t *b;
  size_t n, cap;
} buf;

typedef struct hconn {
  int index;
  bool live;           /* accepted and not yet closed */
  uint64_t id;
  uint8_t wmode;
  size_t some, budget; /* W_SOME: bytes per event, and what is left now */
  bool want_write;     /* the server's, for this socket */
  uint8_t hold;
  size_t cut;
  /* The client driving it, if any. */
  tw_tcp_client *cl;
  fuzz_rng rng;
  int key;
  bool cl_want_write, cl_connected, cl_closed;
  bool raw_sent; /* it sent packets behind its own back (send_raw) */
  bool online[TW_TCP_MAX_LINKS];
  buf to_client, to_server;
} hconn;

typedef struct world {
  tw_tcp_server *s;
  tw_tcp_server_config cfg;
  fuzz_rng rng;
  tw_time_ms now;
  hconn c[NCONN];
  uint64_t accepted, closed_by_us, closed_by_server;
  uint64_t stale[MAX_STALE];
  int nstale;
  uint64_t links_seen[MAX_LINKS_SEEN];
  int nlinks_seen;
  int onion_rc;
  bool onion_sync; /* the handler answers at once, from inside the call */
  bool teardown;
  int accepts; /* for the clients' random seeds */
  uint16_t fresh; /* made-up keys handed out */
  uint64_t events[10]; /* the clients', by kind (TW_FUZZ_VERBOSE) */
} world;

static world g_w;
static tw_keypair g_relay, g_keys[NKEYS];
static tw_addr g_addrs[4];

static void init_once(void) {
  static int done;
  if (done) return;
  done = 1;
  g_relay = *fuzz_me();
  fuzz_rng r = {0x7463702d73};
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &r};
  for (int i = 0; i < NKEYS; i++) tw_keypair_generate(&g_keys[i], &env);
  memset(g_addrs, 0, sizeof g_addrs);
  for (int i = 0; i < 4; i++) {
    g_addrs[i].family = i == 3 ? TW_AF_INET6 : TW_AF_INET;
    g_addrs[i].ip[0] = 10;
    g_addrs[i].ip[3] = (uint8_t)(1 + i % 3);
    g_addrs[i].port = (uint16_t)(40000 + i);
  }
}

static int key_of(const tw_key *pk) {
  for (int i = 0; i < NKEYS; i++)
    if (tw_key_equal(pk, &g_keys[i].pk)) return i;
  return -1;
}

/* Appends up to len bytes, no more than cap in all; returns how many. */
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

static void buf_free(buf *b) {
  free(b->b);
  memset(b, 0, sizeof *b);
}

static hconn *hconn_of_user(void *user) {
  hconn *h = user;
  FUZZ_CHECK(h >= g_w.c && h < g_w.c + NCONN);
  return h;
}

/* ---- server callbacks ---- */

static long srv_write(void *ctx, void *user, const uint8_t *bytes, size_t len) {
  FUZZ_CHECK(ctx == &g_w && len > 0);
  hconn *h = hconn_of_user(user);
  FUZZ_CHECK(h->live);
  size_t take = len;
  switch (h->wmode) {
  case W_ALL: break;
  case W_SOME:
    if (take > h->budget) take = h->budget;
    h->budget -= take;
    break;
  case W_NONE: return 0;
  default: return -1;
  }
  if (h->cl != NULL) take = buf_put(&h->to_client, bytes, take, SINK_CAP);
  { volatile uint8_t last = bytes[len - 1]; (void)last; }
  return (long)take;
}

static void srv_want_write(void *ctx, void *user, bool on) {
  FUZZ_CHECK(ctx == &g_w);
  hconn *h = hconn_of_user(user);
  FUZZ_CHECK(h->live && on != h->want_write);
  h->want_write = on;
}

static void srv_closed(void *ctx, void *user, int reason) {
  FUZZ_CHECK(ctx == &g_w);
  hconn *h = hconn_of_user(user);
  FUZZ_CHECK(h->live);
  FUZZ_CHECK(fuzz_known_error(reason));
  FUZZ_CHECK(reason != TW_OK || g_w.teardown);
  h->live = false;
  h->want_write = false;
  if (!g_w.teardown) {
    g_w.closed_by_server++;
    if (g_w.nstale < MAX_STALE) g_w.stale[g_w.nstale++] = h->id;
  }
}

static hconn *hconn_of_id(uint64_t id) {
  for (int i = 0; i < NCONN; i++)
    if (g_w.c[i].live && g_w.c[i].id == id) return &g_w.c[i];
  return NULL;
}

static int srv_onion(void *ctx, uint64_t link, const uint8_t *data, size_t len, tw_time_ms now) {
  FUZZ_CHECK(ctx == &g_w && now == g_w.now);
  FUZZ_CHECK(hconn_of_id(link) != NULL);
  FUZZ_CHECK(data != NULL && len >= 1 && len < TW_TCP_MAX_PACKET);
  { volatile uint8_t last = data[len - 1]; (void)last; }
  if (g_w.nlinks_seen < MAX_LINKS_SEEN) g_w.links_seen[g_w.nlinks_seen++] = link;
  if (g_w.onion_sync) tw_tcp_server_send_onion_response(g_w.s, link, data, len);
  return g_w.onion_rc;
}

/* ---- client callbacks ---- */

static long cl_write(void *ctx, void *user, const uint8_t *bytes, size_t len) {
  hconn *h = hconn_of_user(ctx);
  FUZZ_CHECK(user == NULL && len > 0 && h->cl != NULL);
  return (long)buf_put(&h->to_server, bytes, len, UP_CAP);
}

static void cl_want_write(void *ctx, void *user, bool on) {
  hconn *h = hconn_of_user(ctx);
  FUZZ_CHECK(user == NULL && on != h->cl_want_write);
  h->cl_want_write = on;
}

/* Data and OOB starting with ECHO go back from inside the event callback
 * (which may send), marked so they are not echoed again. */
#define ECHO 0xec
static void echo(hconn *h, const tw_tcp_client_event *ev, bool oob) {
  uint8_t back[TW_TCP_MAX_PACKET];
  memcpy(back, ev->data, ev->len);
  back[0] = ECHO + 1;
  int rc = oob ? tw_tcp_client_send_oob(h->cl, &ev->pk, back, ev->len)
               : tw_tcp_client_send_data(h->cl, ev->conn_id, back, ev->len);
  FUZZ_CHECK(rc == TW_OK || rc == TW_E_FULL);
}

static void cl_event(void *ctx, const tw_tcp_client_event *ev, tw_time_ms now) {
  hconn *h = hconn_of_user(ctx);
  FUZZ_CHECK(now == g_w.now && !h->cl_closed);
  unsigned i = ev->conn_id >= TW_TCP_FIRST_CONN_ID ? ev->conn_id - TW_TCP_FIRST_CONN_ID : 0;
  if ((unsigned)ev->kind < 10) g_w.events[ev->kind]++;
  switch (ev->kind) {
  case TW_TCP_EV_CONNECTED:
    FUZZ_CHECK(!h->cl_connected);
    h->cl_connected = true;
    break;
  case TW_TCP_EV_ROUTE_RESPONSE:
    FUZZ_CHECK(h->cl_connected);
    FUZZ_CHECK(ev->conn_id == 0 || ev->conn_id >= TW_TCP_FIRST_CONN_ID);
    /* No link to oneself. */
    if (tw_key_equal(&ev->pk, &g_keys[h->key].pk)) FUZZ_CHECK(ev->conn_id == 0);
    break;
  case TW_TCP_EV_CONNECT:
    FUZZ_CHECK(ev->conn_id >= TW_TCP_FIRST_CONN_ID);
    /* (Raw route requests and disconnects leave the client's idea of
     * which key an id stands for behind the server's.) */
    if (!h->raw_sent) FUZZ_CHECK(key_of(&ev->pk) >= 0 && key_of(&ev->pk) != h->key);
    h->online[i] = true;
    break;
  case TW_TCP_EV_DISCONNECT:
    FUZZ_CHECK(ev->conn_id >= TW_TCP_FIRST_CONN_ID);
    h->online[i] = false;
    break;
  case TW_TCP_EV_DATA:
    FUZZ_CHECK(ev->conn_id >= TW_TCP_FIRST_CONN_ID);
    /* The server announces a link before it relays anything over it. */
    if (!h->raw_sent) FUZZ_CHECK(h->online[i] && key_of(&ev->pk) >= 0);
    FUZZ_CHECK(ev->data != NULL && ev->len >= 1 && ev->len <= TW_TCP_MAX_PACKET - 1);
    { volatile uint8_t last = ev->data[ev->len - 1]; (void)last; }
    if (ev->data[0] == ECHO) echo(h, ev, false);
    break;
  case TW_TCP_EV_OOB:
    FUZZ_CHECK(key_of(&ev->pk) >= 0 && key_of(&ev->pk) != h->key);
    FUZZ_CHECK(ev->data != NULL && ev->len >= 1 && ev->len <= TW_TCP_MAX_OOB_DATA);
    { volatile uint8_t last = ev->data[ev->len - 1]; (void)last; }
    if (ev->data[0] == ECHO) echo(h, ev, true);
    break;
  case TW_TCP_EV_ONION_RESPONSE:
    FUZZ_CHECK(ev->data != NULL && ev->len >= 1 && ev->len <= TW_TCP_MAX_PACKET - 1);
    break;
  case TW_TCP_EV_PONG:
    break;
  case TW_TCP_EV_CLOSED:
    FUZZ_CHECK(fuzz_known_error(ev->reason) && ev->reason != TW_OK);
    h->cl_closed = true;
    break;
  default:
    FUZZ_CHECK(!"unknown client event");
  }
}

/* ---- checks ---- */

static void check(void) {
  tw_tcp_server_stats st;
  tw_tcp_server_get_stats(g_w.s, &st);
  uint32_t live = 0;
  for (int i = 0; i < NCONN; i++) live += g_w.c[i].live;
  FUZZ_CHECK(st.clients == st.confirmed + st.pending);
  FUZZ_CHECK(st.clients == live);
  FUZZ_CHECK(st.clients <= g_w.cfg.max_clients);
  FUZZ_CHECK(st.accepted == g_w.accepted);
  FUZZ_CHECK(g_w.accepted - g_w.closed_by_us - g_w.closed_by_server == st.clients);
  FUZZ_CHECK(st.links_connected <= (uint64_t)st.confirmed * (st.confirmed - (st.confirmed > 0)) / 2);
  FUZZ_CHECK(st.handshakes_ok + st.handshakes_bad <= st.accepted);
  FUZZ_CHECK(st.confirmed <= st.handshakes_ok);
  FUZZ_CHECK(st.closed_timeout + st.closed_ping + st.closed_stalled + st.closed_bad +
                 st.closed_replaced <=
             g_w.closed_by_server);
  FUZZ_CHECK(st.dropped[0] == 0);
  size_t qb = g_w.cfg.queue_bytes ? g_w.cfg.queue_bytes : 256 * 1024;
  FUZZ_CHECK(st.queued_bytes <= (uint64_t)st.clients * (qb + CONTROL_EXTRA + 2 * TW_TCP_MAX_FRAME_CIPHER +
                                                         TW_TCP_HANDSHAKE_RESPONSE_SIZE));
  FUZZ_CHECK(st.clients > 0 || st.queued_bytes == 0);
  for (int i = 0; i < NCONN; i++) {
    hconn *h = &g_w.c[i];
    if (h->cl == NULL) continue;
    tw_tcp_client_state cs = tw_tcp_client_state_get(h->cl);
    FUZZ_CHECK(cs == TW_TCP_CLIENT_HANDSHAKING || cs == TW_TCP_CLIENT_CONNECTED ||
               cs == TW_TCP_CLIENT_CLOSED);
    FUZZ_CHECK((cs == TW_TCP_CLIENT_CLOSED) == h->cl_closed);
    FUZZ_CHECK(h->cl_closed || (cs == TW_TCP_CLIENT_CONNECTED) == h->cl_connected);
    FUZZ_CHECK(tw_tcp_client_queued(h->cl) <= 256 * 1024 + CONTROL_EXTRA + TW_TCP_HANDSHAKE_SIZE);
  }
}

/* ---- driving the server ---- */

static void flush_server(void) {
  tw_tcp_server_flush(g_w.s, g_w.now);
}

static void feed_server(hconn *h, const uint8_t *p, size_t len) {
  if (!h->live) return;
  /* A copy of its own, so reads past the end are caught. */
  uint8_t *copy = malloc(len ? len : 1);
  if (copy == NULL) abort();
  memcpy(copy, p, len);
  int rc = tw_tcp_server_handle_bytes(g_w.s, h->id, copy, len, g_w.now);
  free(copy);
  FUZZ_CHECK(fuzz_known_error(rc));
  FUZZ_CHECK((rc == TW_OK) == h->live);
  flush_server();
}

static void writable(hconn *h) {
  if (!h->live) return;
  h->budget = h->some;
  int rc = tw_tcp_server_handle_writable(g_w.s, h->id, g_w.now);
  FUZZ_CHECK(fuzz_known_error(rc));
  FUZZ_CHECK((rc == TW_OK) == h->live);
  flush_server();
}

static void client_free(hconn *h) {
  tw_tcp_client_free(h->cl);
  h->cl = NULL;
  buf_free(&h->to_client);
  buf_free(&h->to_server);
}

/* Our side of connection h closes. */
static void close_conn(hconn *h) {
  if (h->live) {
    tw_tcp_server_close(g_w.s, h->id, g_w.now);
    h->live = false;
    h->want_write = false;
    g_w.closed_by_us++;
    if (g_w.nstale < MAX_STALE) g_w.stale[g_w.nstale++] = h->id;
    flush_server();
  }
  client_free(h);
}

static hconn *accept_conn(int addr, bool with_client, int key) {
  hconn *h = NULL;
  for (int i = 0; i < NCONN && h == NULL; i++)
    if (!g_w.c[i].live && g_w.c[i].cl == NULL) h = &g_w.c[i];
  if (h == NULL) return NULL;
  int idx = h->index;
  memset(h, 0, sizeof *h);
  h->index = idx;
  h->some = 1;
  int rc = tw_tcp_server_accept(g_w.s, &g_addrs[addr & 3], h, g_w.now, &h->id);
  FUZZ_CHECK(rc == TW_OK || rc == TW_E_FULL || rc == TW_E_RATE);
  if (rc != TW_OK) return NULL;
  FUZZ_CHECK(hconn_of_id(h->id) == NULL);
  for (int i = 0; i < g_w.nstale; i++) FUZZ_CHECK(g_w.stale[i] != h->id);
  h->live = true;
  g_w.accepted++;
  flush_server();
  if (!with_client) return h;
  h->key = key % NKEYS;
  h->rng.state = 0xc11e47000ULL + (uint64_t)g_w.accepts++;
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &h->rng};
  tw_tcp_client_config cc = {
      .self = g_keys[h->key],
      .relay_pk = g_relay.pk,
      .write = cl_write,
      .want_write = cl_want_write,
      .on_event = cl_event,
      .ctx = h,
  };
  h->cl = tw_tcp_client_new(&cc, &env, g_w.now);
  FUZZ_CHECK(h->cl != NULL);
  tw_tcp_client_flush(h->cl, g_w.now);
  return h;
}

/* Delivers what waits, both ways, until nothing moves. */
static void pump(void) {
  for (int round = 0; round < 8; round++) {
    bool moved = false;
    for (int i = 0; i < NCONN; i++) g_w.c[i].budget = g_w.c[i].some;
    for (int i = 0; i < NCONN; i++) {
      hconn *h = &g_w.c[i];
      if (h->live && h->want_write && h->wmode != W_NONE) {
        writable(h);
        moved = true;
      }
      if (h->cl == NULL) continue;
      /* What the server wrote arrives (before its EOF, if it closed). */
      if ((!(h->hold & 1) || !h->live) && h->to_client.n > 0 && !h->cl_closed) {
        size_t n = h->to_client.n;
        uint8_t *b = h->to_client.b;
        h->to_client = (buf){0};
        int rc = tw_tcp_client_handle_bytes(h->cl, b, n, g_w.now);
        free(b);
        FUZZ_CHECK(fuzz_known_error(rc));
        FUZZ_CHECK((rc == TW_OK) == !h->cl_closed);
        moved = true;
      }
      if (!h->live || h->cl_closed) { /* one side is gone: so is the socket */
        if (!h->cl_closed) tw_tcp_client_handle_eof(h->cl, g_w.now);
        FUZZ_CHECK(h->cl_closed);
        close_conn(h);
        moved = true;
        continue;
      }
      if (h->cl_want_write) {
        FUZZ_CHECK(tw_tcp_client_handle_writable(h->cl, g_w.now) == TW_OK);
      } else {
        tw_tcp_client_flush(h->cl, g_w.now);
      }
      if (!(h->hold & 2) && h->to_server.n > 0) {
        size_t n = h->to_server.n;
        uint8_t *b = h->to_server.b;
        h->to_server = (buf){0};
        size_t step = h->cut ? h->cut : n;
        for (size_t off = 0; off < n && h->live; off += step)
          feed_server(h, b + off, n - off < step ? n - off : step);
        free(b);
        moved = true;
      }
    }
    check();
    if (!moved) break;
  }
}

static void timers(bool force) {
  if (force || tw_tcp_server_next_deadline(g_w.s) <= g_w.now) {
    tw_tcp_server_on_timer(g_w.s, g_w.now);
    FUZZ_CHECK(tw_tcp_server_next_deadline(g_w.s) > g_w.now);
    flush_server();
  }
  for (int i = 0; i < NCONN; i++) {
    hconn *h = &g_w.c[i];
    if (h->cl != NULL && tw_tcp_client_next_deadline(h->cl) <= g_w.now) {
      tw_tcp_client_on_timer(h->cl, g_w.now);
      if (!h->cl_closed) tw_tcp_client_flush(h->cl, g_w.now);
    }
  }
  check();
}

static void setup(uint8_t conf) {
  memset(&g_w, 0, sizeof g_w);
  for (int i = 0; i < NCONN; i++) g_w.c[i].index = i;
  g_w.now = T0;
  g_w.rng.state = 0x5e7e4;
  static const size_t qb[4] = {0, 2048, 6000, 20000};
  static const size_t tq[4] = {0, 4096, 16384, 65536};
  tw_tcp_server_config *c = &g_w.cfg;
  c->keys = g_relay;
  c->queue_bytes = qb[(conf >> 1) & 3];
  c->total_queue_bytes = tq[(conf >> 3) & 3];
  if (conf & 0x20) {
    c->onion_request = srv_onion;
    c->onion_ctx = &g_w;
  }
  if (conf & 0x40) {
    c->handshake_timeout_ms = 2000;
    c->stall_timeout_ms = 1500;
    c->ping_interval_ms = 3000;
    c->ping_timeout_ms = 1000;
  }
  c->max_clients = conf & 0x80 ? 4 : 8;
  c->max_per_addr = conf & 0x80 ? 2 : 8;
  c->write = srv_write;
  c->want_write = srv_want_write;
  c->closed = srv_closed;
  c->ctx = &g_w;
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &g_w.rng};
  g_w.s = tw_tcp_server_new(c, &env);
  FUZZ_CHECK(g_w.s != NULL);
  FUZZ_CHECK(tw_key_equal(tw_tcp_server_public_key(g_w.s), &g_relay.pk));
  FUZZ_CHECK(tw_tcp_server_next_deadline(g_w.s) == TW_NEVER);
}

static void teardown(void) {
  g_w.teardown = true;
  tw_tcp_server_free(g_w.s);
  g_w.s = NULL;
  for (int i = 0; i < NCONN; i++) {
    FUZZ_CHECK(!g_w.c[i].live); /* free told us about each */
    client_free(&g_w.c[i]);
  }
}

/* ---- reading the input ---- */

static void set_wmode(hconn *h, uint8_t m) {
  h->wmode = m & 3;
  h->some = 1 + (size_t)(m >> 2) * 37;
  h->budget = h->some;
}

static void run_raw(fuzz_rd *r) {
  hconn *h[4] = {NULL};
  static const int addr[4] = {0, 0, 1, 3};
  for (int i = 0; i < 4; i++) h[i] = accept_conn(addr[i], false, 0);
  check();
  for (int ops = 0; r->pos < r->n && ops < MAX_OPS; ops++) {
    uint8_t sel = fuzz_get8(r);
    size_t len = fuzz_get8(r);
    const uint8_t *p = fuzz_getn(r, &len);
    hconn *c = h[sel & 3];
    switch ((sel >> 2) & 3) {
    case 0:
    case 1:
      if (c != NULL) feed_server(c, p, len);
      if ((sel >> 2) & 1) {
        g_w.now += (tw_time_ms)(sel >> 4) * 700;
        timers((sel >> 4) & 1);
      }
      break;
    case 2:
      if (c != NULL) close_conn(c);
      h[sel & 3] = accept_conn(sel >> 4, false, 0);
      if (h[sel & 3] != NULL && len > 0) feed_server(h[sel & 3], p, len);
      break;
    case 3:
      if (c != NULL) {
        set_wmode(c, sel >> 4);
        if (c->want_write) writable(c);
      }
      break;
    }
    check();
  }
}

static hconn *conn_arg(fuzz_rd *r) {
  hconn *h = &g_w.c[fuzz_get8(r) % NCONN];
  return h;
}

static void run_ops(fuzz_rd *r) {
  for (int ops = 0; r->pos < r->n && ops < MAX_OPS; ops++) {
    uint8_t code = fuzz_get8(r) % OP_COUNT;
    switch (code) {
    case OP_ACCEPT: {
      uint8_t b = fuzz_get8(r);
      accept_conn((b >> 1) & 3, b & 1, (b >> 3) & 3);
      break;
    }
    case OP_RAW: {
      hconn *h = conn_arg(r);
      size_t len = fuzz_get16(r) % 4096;
      const uint8_t *p = fuzz_getn(r, &len);
      feed_server(h, p, len);
      break;
    }
    case OP_PLAIN: {
      hconn *h = conn_arg(r);
      size_t len = fuzz_get16(r) % (TW_TCP_MAX_PACKET + 2);
      const uint8_t *p = fuzz_getn(r, &len);
      if (h->cl == NULL || h->cl_closed) break;
      int rc = tw_tcp_client_send_raw(h->cl, p, len);
      FUZZ_CHECK(fuzz_known_error(rc));
      if (rc == TW_OK) h->raw_sent = true;
      break;
    }
    case OP_ROUTE: {
      hconn *h = conn_arg(r);
      uint8_t k = fuzz_get8(r);
      if (h->cl == NULL || h->cl_closed) break;
      tw_key pk = g_keys[k % NKEYS].pk;
      if (k & 0x80) memset(pk.bytes, k, sizeof pk.bytes);
      if ((k & 0xc0) == 0xc0) {
        pk.bytes[1] = (uint8_t)(g_w.fresh >> 8);
        pk.bytes[2] = (uint8_t)g_w.fresh++;
      }
      int rc = tw_tcp_client_send_route_request(h->cl, &pk);
      FUZZ_CHECK(rc == TW_OK || rc == TW_E_FULL || (rc == TW_E_INVAL && !h->cl_connected));
      break;
    }
    case OP_DATA: {
      hconn *h = conn_arg(r);
      uint8_t id = fuzz_get8(r);
      size_t len = fuzz_get16(r) % (TW_TCP_MAX_PACKET + 2);
      const uint8_t *p = fuzz_getn(r, &len);
      if (h->cl == NULL || h->cl_closed) break;
      int rc = tw_tcp_client_send_data(h->cl, id, p, len);
      FUZZ_CHECK(fuzz_known_error(rc));
      break;
    }
    case OP_OOB: {
      hconn *h = conn_arg(r);
      uint8_t k = fuzz_get8(r);
      size_t len = fuzz_get16(r) % (TW_TCP_MAX_OOB_DATA + 2);
      const uint8_t *p = fuzz_getn(r, &len);
      if (h->cl == NULL || h->cl_closed) break;
      tw_key pk = g_keys[k % NKEYS].pk;
      if (k & 0x80) memset(pk.bytes, k, sizeof pk.bytes);
      int rc = tw_tcp_client_send_oob(h->cl, &pk, p, len);
      FUZZ_CHECK(fuzz_known_error(rc));
      break;
    }
    case OP_DISCONNECT: {
      hconn *h = conn_arg(r);
      uint8_t id = fuzz_get8(r);
      if (h->cl == NULL || h->cl_closed) break;
      int rc = tw_tcp_client_send_disconnect(h->cl, id);
      FUZZ_CHECK(fuzz_known_error(rc));
      if (rc == TW_OK) h->online[id - TW_TCP_FIRST_CONN_ID] = false;
      break;
    }
    case OP_ONION: {
      hconn *h = conn_arg(r);
      uint8_t rc_byte = fuzz_get8(r);
      g_w.onion_rc = -(int)((rc_byte & 0x7f) % TW_ERROR_COUNT);
      g_w.onion_sync = rc_byte & 0x80;
      size_t len = fuzz_get16(r) % (TW_TCP_MAX_PACKET + 2);
      const uint8_t *p = fuzz_getn(r, &len);
      if (h->cl == NULL || h->cl_closed) break;
      int rc = tw_tcp_client_send_onion_request(h->cl, p, len);
      FUZZ_CHECK(fuzz_known_error(rc));
      break;
    }
    case OP_ONION_RESP: {
      uint8_t i = fuzz_get8(r);
      size_t len = fuzz_get16(r) % (TW_TCP_MAX_PACKET + 2);
      const uint8_t *p = fuzz_getn(r, &len);
      uint64_t link;
      if (g_w.nlinks_seen > 0 && i < 0x80) link = g_w.links_seen[i % g_w.nlinks_seen];
      else if (g_w.nstale > 0 && i < 0xc0) link = g_w.stale[i % g_w.nstale];
      else link = (uint64_t)i << 32 | (i & 7);
      uint8_t *copy = malloc(len ? len : 1);
      if (copy == NULL) abort();
      memcpy(copy, p, len);
      tw_tcp_server_send_onion_response(g_w.s, link, copy, len);
      free(copy);
      flush_server();
      break;
    }
    case OP_TICK: {
      uint8_t t = fuzz_get8(r);
      g_w.now += t < 200 ? t : (tw_time_ms)(t - 200) * 1000;
      timers(t & 1);
      break;
    }
    case OP_WMODE: {
      hconn *h = conn_arg(r);
      set_wmode(h, fuzz_get8(r));
      break;
    }
    case OP_WRITABLE: writable(conn_arg(r)); break;
    case OP_CLOSE: close_conn(conn_arg(r)); break;
    case OP_PING: {
      hconn *h = conn_arg(r);
      if (h->cl == NULL || h->cl_closed) break;
      int rc = tw_tcp_client_send_ping(h->cl, g_w.now);
      FUZZ_CHECK(rc == TW_OK || rc == TW_E_FULL || (rc == TW_E_INVAL && !h->cl_connected));
      break;
    }
    case OP_HOLD: {
      hconn *h = conn_arg(r);
      h->hold = fuzz_get8(r) & 3;
      break;
    }
    case OP_CUT: {
      hconn *h = conn_arg(r);
      h->cut = fuzz_get8(r);
      break;
    }
    case OP_STALE: {
      uint8_t i = fuzz_get8(r);
      if (g_w.nstale == 0) break;
      uint64_t id = g_w.stale[i % g_w.nstale];
      FUZZ_CHECK(hconn_of_id(id) == NULL);
      uint8_t junk[4] = {1, 2, 3, 4};
      FUZZ_CHECK(tw_tcp_server_handle_bytes(g_w.s, id, junk, sizeof junk, g_w.now) ==
                 TW_E_NOTFOUND);
      FUZZ_CHECK(tw_tcp_server_handle_writable(g_w.s, id, g_w.now) == TW_E_NOTFOUND);
      tw_tcp_server_close(g_w.s, id, g_w.now);
      flush_server();
      break;
    }
    }
    pump();
  }
  /* Let it settle: time passes, everything due happens. */
  for (int k = 0; k < 3; k++) {
    g_w.now += 4000;
    timers(false);
    pump();
  }
}

static void report(void) {
  static int verbose = -1;
  if (verbose < 0) verbose = getenv("TW_FUZZ_VERBOSE") != NULL;
  if (!verbose) return;
  tw_tcp_server_stats st;
  tw_tcp_server_get_stats(g_w.s, &st);
  fprintf(stderr,
          "server: clients %u (confirmed %u), links %u, accepted %llu, refused %llu+%llu, "
          "handshakes %llu ok %llu bad; closed timeout %llu ping %llu stalled %llu bad %llu "
          "replaced %llu; relayed data %llu oob %llu, onion %llu/%llu, pings %llu, "
          "queue full %llu; drops:",
          st.clients, st.confirmed, st.links_connected, (unsigned long long)st.accepted,
          (unsigned long long)st.refused_full, (unsigned long long)st.refused_addr,
          (unsigned long long)st.handshakes_ok, (unsigned long long)st.handshakes_bad,
          (unsigned long long)st.closed_timeout, (unsigned long long)st.closed_ping,
          (unsigned long long)st.closed_stalled, (unsigned long long)st.closed_bad,
          (unsigned long long)st.closed_replaced, (unsigned long long)st.data_relayed,
          (unsigned long long)st.oob_relayed, (unsigned long long)st.onion_requests,
          (unsigned long long)st.onion_responses, (unsigned long long)st.pings_answered,
          (unsigned long long)st.dropped_queue_full);
  for (int k = 1; k < TW_ERROR_COUNT; k++)
    if (st.dropped[k])
      fprintf(stderr, " %s %llu", tw_strerror(-k), (unsigned long long)st.dropped[k]);
  static const char *const names[10] = {"",     "connected", "route", "connect", "disconnect",
                                        "data", "oob",       "onion", "pong",    "closed"};
  fprintf(stderr, "; client events:");
  for (int k = 1; k < 10; k++)
    if (g_w.events[k]) fprintf(stderr, " %s %llu", names[k], (unsigned long long)g_w.events[k]);
  fprintf(stderr, "\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_once();
  if (size == 0) return 0;
  setup(data[0]);
  fuzz_rd r = {data, size, 1};
  if (data[0] & 1) run_ops(&r);
  else run_raw(&r);
  check();
  report();
  teardown();
  return 0;
}

/* ---- seeds ---- */

static void op_bytes(fuzz_wr *w, uint8_t code, uint8_t c, const void *p, size_t n) {
  fuzz_put8(w, code);
  fuzz_put8(w, c);
  fuzz_put16(w, (uint16_t)n);
  fuzz_putn(w, p, n);
}

/* Two clients (connections 0 and 1, keys 0 and 1) that link to each other. */
static void linked_pair(fuzz_wr *w) {
  fuzz_op(w, OP_ACCEPT, 0x01);          /* client, address 0, key 0 */
  fuzz_op(w, OP_ACCEPT, 0x01 | 2 << 1 | 1 << 3); /* client, address 2, key 1 */
  fuzz_op2(w, OP_ROUTE, 0, 1);
  fuzz_op2(w, OP_ROUTE, 1, 0);
}

static void write_seeds(const char *dir) {
  init_once();
  mkdir(dir, 0755);
  fuzz_wr w = {.n = 0};
  uint8_t payload[1100];
  for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 13 + 1);

  /* Raw mode: half a handshake, a whole one of garbage, a frame header,
   * time passing, a closed and reopened connection. */
  fuzz_put8(&w, 0x00);
  fuzz_put8(&w, 0x00);
  fuzz_put8(&w, 100);
  fuzz_putn(&w, payload, 100);
  fuzz_put8(&w, 0x01);
  fuzz_put8(&w, 128);
  fuzz_putn(&w, payload, 128);
  fuzz_put8(&w, 0x02 | 1 << 2 | 3 << 4);
  fuzz_put8(&w, 2);
  fuzz_put8(&w, 0x08);
  fuzz_put8(&w, 0x00);
  fuzz_put8(&w, 0x03 | 2 << 2 | 1 << 4);
  fuzz_put8(&w, 0);
  fuzz_put8(&w, 0x00 | 1 << 2 | 15 << 4);
  fuzz_put8(&w, 28);
  fuzz_putn(&w, payload + 100, 28);
  fuzz_seed(dir, "raw-handshakes", &w);

  fuzz_put8(&w, 0xc0); /* raw, few clients, short timeouts */
  for (int i = 0; i < 6; i++) {
    fuzz_put8(&w, (uint8_t)(i & 3) | 2 << 2 | (uint8_t)(i << 4));
    fuzz_put8(&w, 0);
  }
  fuzz_put8(&w, 0x01 | 3 << 2 | 2 << 4);
  fuzz_put8(&w, 0);
  fuzz_put8(&w, 0x01 | 1 << 2 | 4 << 4);
  fuzz_put8(&w, 0);
  fuzz_seed(dir, "raw-accept-limits", &w);

  /* Op mode: a pair links, data both ways, OOB, disconnect, relink. */
  fuzz_put8(&w, 0x21);
  linked_pair(&w);
  fuzz_put8(&w, OP_DATA);
  fuzz_put8(&w, 0);
  fuzz_put8(&w, 16);
  fuzz_put16(&w, 40);
  fuzz_putn(&w, payload, 40);
  fuzz_put8(&w, OP_DATA);
  fuzz_put8(&w, 1);
  fuzz_put8(&w, 16);
  fuzz_put16(&w, 2000);
  fuzz_putn(&w, payload, 1100);
  fuzz_putn(&w, payload, 900);
  fuzz_put8(&w, OP_OOB);
  fuzz_put8(&w, 1);
  fuzz_put8(&w, 0);
  fuzz_put16(&w, 1024);
  fuzz_putn(&w, payload, 1024);
  /* Echoed from inside the receiver's callback. */
  fuzz_put8(&w, OP_DATA);
  fuzz_put8(&w, 0);
  fuzz_put8(&w, 16);
  fuzz_put16(&w, 4);
  fuzz_putn(&w, "\xec" "ech", 4);
  fuzz_put8(&w, OP_OOB);
  fuzz_put8(&w, 0);
  fuzz_put8(&w, 1);
  fuzz_put16(&w, 4);
  fuzz_putn(&w, "\xec" "oob", 4);
  fuzz_op2(&w, OP_DISCONNECT, 0, 16);
  fuzz_put8(&w, OP_DATA);
  fuzz_put8(&w, 1);
  fuzz_put8(&w, 16);
  fuzz_put16(&w, 3);
  fuzz_putn(&w, "abc", 3);
  fuzz_op2(&w, OP_ROUTE, 0, 1);
  fuzz_op2(&w, OP_ROUTE, 0, 0);    /* oneself */
  fuzz_op2(&w, OP_ROUTE, 0, 0x85); /* nobody */
  fuzz_seed(dir, "ops-link-data", &w);

  /* Onion requests and responses, pings, time. */
  fuzz_put8(&w, 0x21);
  fuzz_op(&w, OP_ACCEPT, 0x01 | 1 << 3);
  fuzz_put8(&w, OP_ONION);
  fuzz_put8(&w, 0);
  fuzz_put8(&w, 0);
  fuzz_put16(&w, 200);
  fuzz_putn(&w, payload, 200);
  fuzz_put8(&w, OP_ONION);
  fuzz_put8(&w, 0);
  fuzz_put8(&w, 18);
  fuzz_put16(&w, 10);
  fuzz_putn(&w, payload, 10);
  fuzz_put8(&w, OP_ONION);
  fuzz_put8(&w, 0);
  fuzz_put8(&w, 0x80);
  fuzz_put16(&w, 12);
  fuzz_putn(&w, payload, 12);
  op_bytes(&w, OP_ONION_RESP, 0, payload, 300);
  op_bytes(&w, OP_ONION_RESP, 0, payload, 0);
  fuzz_op(&w, OP_PING, 0);
  fuzz_op(&w, OP_TICK, 231);
  fuzz_op(&w, OP_TICK, 231);
  fuzz_op(&w, OP_TICK, 215);
  fuzz_seed(dir, "ops-onion-ping", &w);

  /* Any packet with valid crypto, through send_raw. */
  fuzz_put8(&w, 0x01);
  fuzz_op(&w, OP_ACCEPT, 0x01);
  fuzz_op(&w, OP_ACCEPT, 0x01 | 1 << 3);
  {
    uint8_t pkt[TW_TCP_MAX_PACKET];
    size_t n = tw_tcp_write_route_request(pkt, &g_keys[1].pk);
    op_bytes(&w, OP_PLAIN, 0, pkt, n);
    n = tw_tcp_write_route_request(pkt, &g_keys[0].pk);
    op_bytes(&w, OP_PLAIN, 1, pkt, n);
    n = tw_tcp_write_data(pkt, 16, payload, 20);
    op_bytes(&w, OP_PLAIN, 0, pkt, n);
    n = tw_tcp_write_notification(pkt, TW_TCP_DISCONNECT_NOTIFICATION, 16);
    op_bytes(&w, OP_PLAIN, 1, pkt, n);
    n = tw_tcp_write_notification(pkt, TW_TCP_DISCONNECT_NOTIFICATION, 200);
    op_bytes(&w, OP_PLAIN, 1, pkt, n);
    n = tw_tcp_write_ping(pkt, TW_TCP_PING, 99);
    op_bytes(&w, OP_PLAIN, 0, pkt, n);
    n = tw_tcp_write_ping(pkt, TW_TCP_PONG, 99);
    op_bytes(&w, OP_PLAIN, 0, pkt, n);
    n = tw_tcp_write_keyed(pkt, TW_TCP_OOB_SEND, &g_keys[1].pk, payload, 5);
    op_bytes(&w, OP_PLAIN, 0, pkt, n);
    n = tw_tcp_write_keyed(pkt, TW_TCP_OOB_RECV, &g_keys[1].pk, payload, 5);
    op_bytes(&w, OP_PLAIN, 0, pkt, n);
    n = tw_tcp_write_route_response(pkt, 16, &g_keys[1].pk);
    op_bytes(&w, OP_PLAIN, 0, pkt, n);
    n = tw_tcp_write_data(pkt, TW_TCP_ONION_REQUEST, payload, 30);
    op_bytes(&w, OP_PLAIN, 0, pkt, n);
    pkt[0] = 0x0b;
    op_bytes(&w, OP_PLAIN, 0, pkt, 1);
  }
  fuzz_seed(dir, "ops-plain-packets", &w);

  /* Sockets that take some, none, or fail; stalls and held queues. */
  fuzz_put8(&w, 0x43 | 1 << 3); /* short timeouts, small queues */
  linked_pair(&w);
  fuzz_op2(&w, OP_WMODE, 1, 1 | 2 << 2);
  for (int i = 0; i < 8; i++) {
    fuzz_put8(&w, OP_DATA);
    fuzz_put8(&w, 0);
    fuzz_put8(&w, 16);
    fuzz_put16(&w, 1000);
    fuzz_putn(&w, payload, 1000);
  }
  fuzz_op(&w, OP_WRITABLE, 1);
  fuzz_op2(&w, OP_WMODE, 1, W_NONE);
  fuzz_op2(&w, OP_HOLD, 0, 1);
  for (int i = 0; i < 6; i++) {
    fuzz_put8(&w, OP_DATA);
    fuzz_put8(&w, 0);
    fuzz_put8(&w, 16);
    fuzz_put16(&w, 1500);
    fuzz_putn(&w, payload, 1100);
    fuzz_putn(&w, payload, 400);
  }
  fuzz_op(&w, OP_TICK, 201);
  fuzz_op(&w, OP_TICK, 201);
  fuzz_op2(&w, OP_WMODE, 0, W_FAIL);
  fuzz_op2(&w, OP_HOLD, 0, 0);
  fuzz_op(&w, OP_TICK, 10);
  fuzz_op(&w, OP_STALE, 0);
  fuzz_op(&w, OP_STALE, 1);
  fuzz_seed(dir, "ops-slow-sockets", &w);

  /* The total queue limit before the per-client one; a client whose own
   * socket fills up while its bytes are held. */
  fuzz_put8(&w, 0x01 | 3 << 1 | 1 << 3);
  linked_pair(&w);
  fuzz_op2(&w, OP_WMODE, 1, W_NONE);
  for (int i = 0; i < 4; i++) {
    fuzz_put8(&w, OP_DATA);
    fuzz_put8(&w, 0);
    fuzz_put8(&w, 16);
    fuzz_put16(&w, 1500);
    fuzz_putn(&w, payload, 1100);
    fuzz_putn(&w, payload, 400);
  }
  fuzz_op2(&w, OP_WMODE, 1, W_ALL);
  fuzz_op(&w, OP_WRITABLE, 1);
  fuzz_op2(&w, OP_HOLD, 0, 2);
  for (int i = 0; i < 8; i++) {
    fuzz_put8(&w, OP_DATA);
    fuzz_put8(&w, 0);
    fuzz_put8(&w, 16);
    fuzz_put16(&w, 2000);
    fuzz_putn(&w, payload, 1100);
    fuzz_putn(&w, payload, 900);
  }
  fuzz_op2(&w, OP_HOLD, 0, 0);
  fuzz_seed(dir, "ops-queue-limits", &w);

  /* The same key twice: the newer replaces the older; cut reads. */
  fuzz_put8(&w, 0x01);
  linked_pair(&w);
  fuzz_op2(&w, OP_CUT, 2, 3);
  fuzz_op(&w, OP_ACCEPT, 0x01 | 3 << 1);
  fuzz_op2(&w, OP_ROUTE, 2, 1);
  fuzz_op2(&w, OP_CUT, 3, 1);
  fuzz_op2(&w, OP_HOLD, 3, 2);
  fuzz_op(&w, OP_ACCEPT, 0x01 | 1 << 1 | 1 << 3);
  fuzz_op2(&w, OP_HOLD, 3, 0);
  fuzz_op(&w, OP_CLOSE, 2);
  fuzz_op(&w, OP_STALE, 0);
  fuzz_seed(dir, "ops-replace-cut", &w);

  /* Many links, stray bytes on a live stream. */
  fuzz_put8(&w, 0x01);
  fuzz_op(&w, OP_ACCEPT, 0x01);
  for (int k = 0; k < 40; k++) fuzz_op2(&w, OP_ROUTE, 0, (uint8_t)(0x80 | k));
  op_bytes(&w, OP_RAW, 0, payload, 7);
  fuzz_op(&w, OP_ACCEPT, 0x00);
  op_bytes(&w, OP_RAW, 1, payload, 130);
  fuzz_seed(dir, "ops-many-links-stray", &w);

  /* Every link id taken: route requests refused. */
  fuzz_put8(&w, 0x01);
  fuzz_op(&w, OP_ACCEPT, 0x01);
  for (int k = 0; k < TW_TCP_MAX_LINKS + 3; k++) fuzz_op2(&w, OP_ROUTE, 0, 0xc0);
  fuzz_op2(&w, OP_DISCONNECT, 0, 100);
  fuzz_op2(&w, OP_ROUTE, 0, 0xc0);
  fuzz_seed(dir, "ops-links-full", &w);

  /* Few clients, two per address: refusals; a silent one times out. */
  fuzz_put8(&w, 0xc1);
  for (int k = 0; k < 3; k++) fuzz_op(&w, OP_ACCEPT, 0x00);
  fuzz_op(&w, OP_ACCEPT, 0x01 | 1 << 1);
  fuzz_op(&w, OP_ACCEPT, 0x01 | 2 << 1 | 2 << 3);
  fuzz_op(&w, OP_ACCEPT, 0x01 | 3 << 1 | 3 << 3);
  fuzz_op(&w, OP_TICK, 203);
  fuzz_seed(dir, "ops-accept-limits", &w);
}

FUZZ_SEED_WRITER(write_seeds)
