/*
 * tcp_probe.c: drive toxwire's TCP relay client (tw_tcp_client over
 * tw_io) against one TCP relay and check every packet kind of the relay
 * protocol, one TAP line per check. Used by
 * toxwire_tcp_client_and_server.sh against `toxwire bootstrap --tcp-port`
 * and against tox-bootstrapd's relay.
 *
 * Written from the Tox specification (TCP server, TCP client, Onion) and
 * toxwire's public headers only.
 *
 * Usage:
 *   tcp_probe [options] HOST:PORT:KEY
 *   tcp_probe [options] --local-relay PORT
 *
 * Three clients A, B, C with fresh key pairs connect to the relay; then:
 *   handshake + first ping/pong (each), route requests and connect
 *   notifications, data both ways (1, 1000, 2031 bytes: the most that fits
 *   in a 2048-byte frame), OOB to a connected but unrouted client and to
 *   a key nobody holds, a disconnect notification and reuse of the freed
 *   id, a route request for one's own key, a pong with a wrong ping id, and
 *   the onion through the relay: the probe's own UDP socket plays node B,
 *   gets the 0x81 the relay makes of A's 0x08 and answers with a 0x8e whose
 *   data reaches A as a 0x09; then a full route table (240 ids, the 241st
 *   refused), a second connection with B's key (the relay must close the
 *   old one and tell A), and "pokes": packets a relay should never get
 *   (wrong lengths, server-only kinds, reserved kinds, unknown ids, ...),
 *   each on a fresh connection, reported as observations only.
 *
 * Each wait has a deadline and wakes on events (the probe never sleeps
 * blindly); "nothing arrives" checks wait the short bound (-s) and then a
 * ping/pong round trip on the sender's connection as a barrier.
 *
 * Options:
 *   -w MS              deadline for something that should arrive (3000)
 *   -s MS              bound for "nothing arrives" (500)
 *   --udp-port N       the relay's UDP (onion) port (default: its TCP port)
 *   --self-ip IP       address the relay sends node B's packets to
 *                      (127.0.0.1)
 *   --no-onion         skip the onion checks
 *   --server-pings N   also wait (up to --server-ping-wait MS, default
 *                      45000) until the relay has pinged client A N times,
 *                      then --server-ping-grace MS (11000) more, and check
 *                      that the connection is still up (the client answers
 *                      the relay's pings by itself)
 *   --local-relay PORT run toxwire's relay in this process on
 *                      127.0.0.1:PORT with a 300 ms ping interval and a
 *                      1000 ms ping timeout, and run only the handshake and
 *                      server-ping checks against it (default N = 5)
 *   -v                 toxwire's log (debug) on stderr
 *
 * Besides `ok - ` / `not ok - ` lines (each followed by `#   ` diagnostics
 * on failure) it prints `# observe KEY VALUE` lines for behaviour the spec
 * leaves open, which the calling script compares between relays. Exit
 * status: 0 all checks passed, 1 some failed, 2 usage or setup error.
 */
#include <arpa/inet.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toxwire/env.h"
#include "toxwire/error.h"
#include "toxwire/io.h"
#include "toxwire/log.h"
#include "toxwire/tcp_relay.h"
#include "toxwire/types.h"

enum {
  IPPORT_SIZE = 19,
  RETURN_1_SIZE = TW_NONCE_SIZE + IPPORT_SIZE + TW_MAC_SIZE, /* 59 */
  MAX_DATA = TW_TCP_MAX_PACKET - 1,                          /* 2031 */
  PKT_ONION_REQUEST_1 = 0x81,
  PKT_ONION_RESPONSE_1 = 0x8e,
  PKT_ANNOUNCE_REQUEST = 0x83,
  PKT_ANNOUNCE_RESPONSE = 0x84,
};

/* ------------------------------------------------------------ state */

typedef struct rec_ev {
  tw_tcp_client_event_kind kind;
  uint8_t conn_id;
  tw_key pk;
  uint8_t *data;
  size_t len;
  int reason;
  bool used;
} rec_ev;

typedef struct client {
  const char *name;
  tw_keypair kp;
  tw_io_tcp_client *t;
  rec_ev *ev;
  size_t nev, cap;
  uint64_t frame_events; /* events that came from a frame (not CONNECTED/CLOSED) */
  bool closed;
  int close_reason;
} client;

typedef struct dgram {
  tw_addr from;
  uint8_t *bytes;
  size_t len;
  bool used;
} dgram;

static struct {
  tw_io *io;
  tw_env env;
  tw_node_info relay;
  tw_addr relay_udp;
  tw_addr self_udp; /* node B's address as the relay should see it */
  tw_keypair node_b;
  tw_time_ms next_wake;
  dgram *dg;
  size_t ndg, capdg;
  int checks, fails;
  tw_time_ms wait_ms, silence_ms;
  bool verbose;
  tw_io_tcp_server *local; /* --local-relay */
} P;

/* ------------------------------------------------------------ output */

static void diag(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("#   ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
}

static void note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("# ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
  fflush(stdout);
}

static bool check(bool ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  P.checks++;
  if (!ok) P.fails++;
  fputs(ok ? "ok - " : "not ok - ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
  fflush(stdout);
  return ok;
}

static const char *kind_name(tw_tcp_client_event_kind k) {
  switch (k) {
  case TW_TCP_EV_CONNECTED: return "CONNECTED";
  case TW_TCP_EV_ROUTE_RESPONSE: return "ROUTE_RESPONSE";
  case TW_TCP_EV_CONNECT: return "CONNECT";
  case TW_TCP_EV_DISCONNECT: return "DISCONNECT";
  case TW_TCP_EV_DATA: return "DATA";
  case TW_TCP_EV_OOB: return "OOB";
  case TW_TCP_EV_ONION_RESPONSE: return "ONION_RESPONSE";
  case TW_TCP_EV_PONG: return "PONG";
  case TW_TCP_EV_CLOSED: return "CLOSED";
  }
  return "?";
}

static const char *short_key(const tw_key *k) {
  static char buf[4][TW_KEY_HEXLEN];
  static int i;
  char *b = buf[i++ & 3];
  tw_key_to_hex(k, b);
  b[12] = '\0';
  return b;
}

static void log_fn(void *ctx, tw_log_level level, const char *module, const char *fmt,
                   va_list ap) {
  (void)ctx;
  fprintf(stderr, "[%s] %s: ", tw_log_level_name(level), module);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

/* ------------------------------------------------------------ the loop */

/* Every event and datagram stops the loop so that run_until re-checks its
 * predicate; the handler's deadline is the next wake-up run_until wants. */
static int on_udp(void *ctx, const tw_addr *from, const uint8_t *pkt, size_t len, tw_time_ms now) {
  (void)ctx;
  (void)now;
  if (P.ndg == P.capdg) {
    P.capdg = P.capdg ? 2 * P.capdg : 16;
    P.dg = realloc(P.dg, P.capdg * sizeof *P.dg);
    if (P.dg == NULL) abort();
  }
  dgram *d = &P.dg[P.ndg++];
  d->from = *from;
  d->bytes = malloc(len ? len : 1);
  if (d->bytes == NULL) abort();
  memcpy(d->bytes, pkt, len);
  d->len = len;
  d->used = false;
  if (P.verbose) fprintf(stderr, "udp in: kind 0x%02x, %zu bytes\n", len ? pkt[0] : 0, len);
  tw_io_stop(P.io);
  return TW_OK;
}
static void on_timer(void *ctx, tw_time_ms now) {
  (void)ctx;
  (void)now;
  P.next_wake = TW_NEVER;
  tw_io_stop(P.io);
}
static tw_time_ms next_deadline(void *ctx) {
  (void)ctx;
  return P.next_wake;
}

static void on_event(void *ctx, const tw_tcp_client_event *ev, tw_time_ms now) {
  (void)now;
  client *c = ctx;
  if (c->nev == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 32;
    c->ev = realloc(c->ev, c->cap * sizeof *c->ev);
    if (c->ev == NULL) abort();
  }
  rec_ev *r = &c->ev[c->nev++];
  memset(r, 0, sizeof *r);
  r->kind = ev->kind;
  r->conn_id = ev->conn_id;
  r->pk = ev->pk;
  r->reason = ev->reason;
  r->len = ev->len;
  if (ev->len) {
    r->data = malloc(ev->len);
    if (r->data == NULL) abort();
    memcpy(r->data, ev->data, ev->len);
  }
  if (ev->kind != TW_TCP_EV_CONNECTED && ev->kind != TW_TCP_EV_CLOSED) c->frame_events++;
  if (ev->kind == TW_TCP_EV_CLOSED) {
    c->closed = true;
    c->close_reason = ev->reason;
  }
  if (P.verbose)
    fprintf(stderr, "%s: %s id %u pk %s len %zu\n", c->name, kind_name(ev->kind), ev->conn_id,
            short_key(&ev->pk), ev->len);
  tw_io_stop(P.io);
}

typedef bool pred_fn(void *arg);

/* Runs the loop until pred(arg) holds (true) or ms pass (false; with pred
 * NULL: true once ms have passed). The first, immediate wake-up lets the
 * clients write what was queued from outside the loop. With poll_ms the
 * predicate is also re-checked that often (for counters, which raise no
 * event). */
static bool run_until(pred_fn *pred, void *arg, tw_time_ms ms, tw_time_ms poll_ms) {
  tw_time_ms end = tw_io_now(P.io) + ms;
  P.next_wake = tw_io_now(P.io);
  if (tw_io_run(P.io) != 0) exit(2);
  for (;;) {
    if (pred && pred(arg)) return true;
    tw_time_ms now = tw_io_now(P.io);
    if (now >= end) return pred == NULL;
    P.next_wake = poll_ms && now + poll_ms < end ? now + poll_ms : end;
    if (tw_io_run(P.io) != 0) exit(2);
  }
}

static tw_tcp_client *cl(client *c) { return tw_io_tcp_client_relay(c->t); }

/* ------------------------------------------------------------ events */

typedef struct ev_want {
  client *c;
  tw_tcp_client_event_kind kind;
} ev_want;

static rec_ev *find_ev(const ev_want *w) {
  for (size_t i = 0; i < w->c->nev; i++) {
    rec_ev *r = &w->c->ev[i];
    if (!r->used && r->kind == w->kind) return r;
  }
  return NULL;
}
static bool ev_pred(void *arg) {
  ev_want *w = arg;
  return find_ev(w) != NULL || w->c->closed;
}

/* The next unused event of kind at c within ms; marked used. */
static rec_ev *await_ev(client *c, tw_tcp_client_event_kind kind, tw_time_ms ms) {
  ev_want w = {c, kind};
  run_until(ev_pred, &w, ms, 0);
  rec_ev *r = find_ev(&w);
  if (r) r->used = true;
  return r;
}

/* Whether an unused event of kind is at c now (not marked). */
static rec_ev *peek_ev(client *c, tw_tcp_client_event_kind kind) {
  ev_want w = {c, kind};
  return find_ev(&w);
}

static void why_missing(client *c, const char *what) {
  if (c->closed)
    diag("%s: the connection closed (%s)", c->name, tw_strerror(c->close_reason));
  else
    diag("%s: no %s within the deadline", c->name, what);
  tw_tcp_client_stats st;
  tw_tcp_client_get_stats(cl(c), &st);
  for (int i = 1; i < TW_ERROR_COUNT; i++)
    if (st.dropped[i]) diag("%s dropped %llu incoming packets: %s", c->name,
                            (unsigned long long)st.dropped[i], tw_strerror(-i));
}

/* A ping of ours answered by a pong: the connection is up and the relay
 * has handled everything c sent before it. */
static bool ping_round_trip(client *c) {
  if (c->closed) return false;
  int rc = tw_tcp_client_send_ping(cl(c), tw_io_now(P.io));
  if (rc != TW_OK) {
    diag("%s: send_ping: %s", c->name, tw_strerror(rc));
    return false;
  }
  if (await_ev(c, TW_TCP_EV_PONG, P.wait_ms)) return true;
  why_missing(c, "pong");
  return false;
}

/* ------------------------------------------------------------ clients */

/* Connects a client with keys (NULL: a fresh key pair). */
static void client_start(client *c, const char *name, const tw_keypair *keys) {
  memset(c, 0, sizeof *c);
  c->name = name;
  if (keys) c->kp = *keys;
  else crypto_box_keypair(c->kp.pk.bytes, c->kp.sk);
  tw_tcp_client_config cfg = {
      .self = c->kp,
      .relay_pk = P.relay.pk,
      .on_event = on_event,
      .ctx = c,
  };
  c->t = tw_io_tcp_client_connect(P.io, &P.relay.addr, &cfg, &P.env);
  if (c->t == NULL) {
    printf("Bail out! %s: tw_io_tcp_client_connect failed\n", name);
    exit(2);
  }
}

static void check_handshake(client *c) {
  rec_ev *r = await_ev(c, TW_TCP_EV_CONNECTED, P.wait_ms);
  if (!check(r != NULL, "%s: handshake completes (CONNECTED)", c->name))
    why_missing(c, "CONNECTED");
  r = await_ev(c, TW_TCP_EV_PONG, P.wait_ms);
  if (!check(r != NULL, "%s: the first ping (sent on connecting) gets a pong", c->name))
    why_missing(c, "pong");
}

static uint64_t dropped_total(client *c) {
  tw_tcp_client_stats st;
  tw_tcp_client_get_stats(cl(c), &st);
  uint64_t n = 0;
  for (int i = 0; i < TW_ERROR_COUNT; i++) n += st.dropped[i];
  return n;
}

/* Frames from the relay that raised no event and were not dropped: pings,
 * which the client answers by itself. */
static uint64_t server_pings(client *c) {
  tw_tcp_client_stats st;
  tw_tcp_client_get_stats(cl(c), &st);
  return st.frames_in - c->frame_events - dropped_total(c);
}

/* ------------------------------------------------------------ checks */

static uint8_t route_request(client *c, const tw_key *to, const char *to_name) {
  int rc = tw_tcp_client_send_route_request(cl(c), to);
  if (rc != TW_OK) {
    check(false, "%s route-requests %s: route response", c->name, to_name);
    diag("send_route_request: %s", tw_strerror(rc));
    return 0;
  }
  rec_ev *r = await_ev(c, TW_TCP_EV_ROUTE_RESPONSE, P.wait_ms);
  if (r == NULL) {
    check(false, "%s route-requests %s: route response with id >= 16 and %s's key", c->name,
          to_name, to_name);
    why_missing(c, "route response (a response echoing another key is dropped as unsolicited)");
    return 0;
  }
  bool ok = r->conn_id >= TW_TCP_FIRST_CONN_ID && tw_key_equal(&r->pk, to);
  if (!check(ok, "%s route-requests %s: route response with id >= 16 and %s's key", c->name,
             to_name, to_name))
    diag("got id %u, key %s (wanted %s)", r->conn_id, short_key(&r->pk), short_key(to));
  return ok ? r->conn_id : 0;
}

static void check_connect(client *c, uint8_t id, const tw_key *peer, const char *peer_name) {
  rec_ev *r = await_ev(c, TW_TCP_EV_CONNECT, P.wait_ms);
  bool ok = r && r->conn_id == id && tw_key_equal(&r->pk, peer);
  if (!check(ok, "%s gets a connect notification for %s with its own id %u", c->name, peer_name,
             id)) {
    if (r) diag("got id %u (key %s)", r->conn_id, short_key(&r->pk));
    else why_missing(c, "connect notification");
  }
}

static void check_data(client *from, uint8_t from_id, client *to, uint8_t to_id, size_t len) {
  uint8_t buf[MAX_DATA];
  randombytes_buf(buf, len);
  int rc = tw_tcp_client_send_data(cl(from), from_id, buf, len);
  if (rc != TW_OK) {
    check(false, "data %s->%s, %zu bytes: arrives intact with %s's id", from->name, to->name, len,
          to->name);
    diag("send_data: %s", tw_strerror(rc));
    return;
  }
  rec_ev *r = await_ev(to, TW_TCP_EV_DATA, P.wait_ms);
  bool ok = r && r->conn_id == to_id && r->len == len && memcmp(r->data, buf, len) == 0;
  if (!check(ok, "data %s->%s, %zu bytes: arrives intact with %s's id %u", from->name, to->name,
             len, to->name, to_id)) {
    if (r) diag("got id %u, %zu bytes, %s", r->conn_id, r->len,
                r->len == len && memcmp(r->data, buf, len) == 0 ? "same bytes" : "different bytes");
    else why_missing(to, "data");
  }
}

static void check_oob(client *from, client *to, size_t len) {
  uint8_t buf[TW_TCP_MAX_OOB_DATA];
  randombytes_buf(buf, len);
  int rc = tw_tcp_client_send_oob(cl(from), &to->kp.pk, buf, len);
  rec_ev *r = rc == TW_OK ? await_ev(to, TW_TCP_EV_OOB, P.wait_ms) : NULL;
  bool ok = r && tw_key_equal(&r->pk, &from->kp.pk) && r->len == len &&
            memcmp(r->data, buf, len) == 0;
  if (!check(ok, "OOB %s->%s (connected, not routed), %zu bytes: %s gets OOB recv with %s's key",
             from->name, to->name, len, to->name, from->name)) {
    if (rc != TW_OK) diag("send_oob: %s", tw_strerror(rc));
    else if (r) diag("got key %s, %zu bytes", short_key(&r->pk), r->len);
    else why_missing(to, "OOB recv");
  }
}

/* No unused event of these kinds at any of the clients. */
static bool quiet(client *const *cs, size_t n, const tw_tcp_client_event_kind *kinds, size_t nk) {
  bool ok = true;
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < nk; k++) {
      rec_ev *r;
      while ((r = peek_ev(cs[i], kinds[k])) != NULL) {
        diag("%s got %s id %u key %s (%zu bytes)", cs[i]->name, kind_name(r->kind), r->conn_id,
             short_key(&r->pk), r->len);
        r->used = true;
        ok = false;
      }
    }
  return ok;
}

/* ---- onion ---- */

static void put_ipport(uint8_t *out, const tw_addr *a) {
  memset(out, 0, IPPORT_SIZE);
  out[0] = TW_AF_INET;
  memcpy(out + 1, a->ip, 4);
  out[17] = (uint8_t)(a->port >> 8);
  out[18] = (uint8_t)a->port;
}

typedef struct dg_want {
  uint8_t kind;
} dg_want;
static dgram *find_dg(uint8_t kind) {
  for (size_t i = 0; i < P.ndg; i++)
    if (!P.dg[i].used && P.dg[i].len > 0 && P.dg[i].bytes[0] == kind) return &P.dg[i];
  return NULL;
}
static bool dg_pred(void *arg) { return find_dg(((dg_want *)arg)->kind) != NULL; }

static void send_udp(const tw_addr *to, const uint8_t *pkt, size_t len) {
  tw_io_send(P.io, to, pkt, len); /* leaves at the next wake-up (run_until's first) */
}

/* [0x8e][ret][data] to the relay's UDP port; returns the onion response A
 * got within ms, or NULL. */
static rec_ev *onion_answer(client *a, const uint8_t *ret, const uint8_t *data, size_t len,
                            tw_time_ms ms) {
  uint8_t pkt[1 + RETURN_1_SIZE + 1400];
  pkt[0] = PKT_ONION_RESPONSE_1;
  memcpy(pkt + 1, ret, RETURN_1_SIZE);
  memcpy(pkt + 1 + RETURN_1_SIZE, data, len);
  send_udp(&P.relay_udp, pkt, 1 + RETURN_1_SIZE + len);
  return await_ev(a, TW_TCP_EV_ONION_RESPONSE, ms);
}

static void check_onion(client *a) {
  /* What node C and D would be: random keys and addresses, never used. */
  tw_keypair k1, k2, node_c;
  crypto_box_keypair(k1.pk.bytes, k1.sk);
  crypto_box_keypair(k2.pk.bytes, k2.sk);
  crypto_box_keypair(node_c.pk.bytes, node_c.sk);
  tw_addr c_addr = {.family = TW_AF_INET, .ip = {127, 0, 0, 1}, .port = 9};
  tw_addr d_addr = {.family = TW_AF_INET, .ip = {127, 0, 0, 1}, .port = 10};
  uint8_t nonce[TW_NONCE_SIZE];
  randombytes_buf(nonce, sizeof nonce);

  /* Node D's data: an announce request's size and kind, random inside. */
  uint8_t d_data[177];
  randombytes_buf(d_data, sizeof d_data);
  d_data[0] = PKT_ANNOUNCE_REQUEST;
  /* Layer for C: [ip_port D][data]; layer for B: [ip_port C][PK2][box]. */
  uint8_t c_plain[IPPORT_SIZE + sizeof d_data];
  put_ipport(c_plain, &d_addr);
  memcpy(c_plain + IPPORT_SIZE, d_data, sizeof d_data);
  uint8_t c_box[sizeof c_plain + TW_MAC_SIZE];
  if (crypto_box_easy(c_box, c_plain, sizeof c_plain, nonce, node_c.pk.bytes, k2.sk) != 0)
    abort();
  uint8_t b_plain[IPPORT_SIZE + TW_PUBLIC_KEY_SIZE + sizeof c_box];
  put_ipport(b_plain, &c_addr);
  memcpy(b_plain + IPPORT_SIZE, k2.pk.bytes, TW_PUBLIC_KEY_SIZE);
  memcpy(b_plain + IPPORT_SIZE + TW_PUBLIC_KEY_SIZE, c_box, sizeof c_box);
  uint8_t b_box[sizeof b_plain + TW_MAC_SIZE];
  if (crypto_box_easy(b_box, b_plain, sizeof b_plain, nonce, P.node_b.pk.bytes, k1.sk) != 0)
    abort();
  /* The 0x08 payload: [nonce][ip_port B][PK1][box for B]. */
  uint8_t req[TW_NONCE_SIZE + IPPORT_SIZE + TW_PUBLIC_KEY_SIZE + sizeof b_box];
  memcpy(req, nonce, TW_NONCE_SIZE);
  put_ipport(req + TW_NONCE_SIZE, &P.self_udp);
  memcpy(req + TW_NONCE_SIZE + IPPORT_SIZE, k1.pk.bytes, TW_PUBLIC_KEY_SIZE);
  memcpy(req + TW_NONCE_SIZE + IPPORT_SIZE + TW_PUBLIC_KEY_SIZE, b_box, sizeof b_box);
  note("onion request 0x08: %zu payload bytes, node B = 127.0.0.1:%u", sizeof req,
       P.self_udp.port);

  int rc = tw_tcp_client_send_onion_request(cl(a), req, sizeof req);
  dg_want w = {PKT_ONION_REQUEST_1};
  bool got = rc == TW_OK && run_until(dg_pred, &w, P.wait_ms, 0);
  dgram *d = got ? find_dg(PKT_ONION_REQUEST_1) : NULL;
  if (!check(d != NULL, "onion: A's 0x08 reaches node B (our UDP socket) as a 0x81")) {
    if (rc != TW_OK) diag("send_onion_request: %s", tw_strerror(rc));
    else diag("no 0x81 datagram within %llu ms (%zu other datagrams)",
              (unsigned long long)P.wait_ms, P.ndg);
    return;
  }
  d->used = true;
  char from[TW_ADDR_STRLEN];
  tw_addr_format(&d->from, from);
  note("observe onion_0x81_source %s", tw_addr_equal(&d->from, &P.relay_udp)
                                          ? "the-relay's-udp-port" : from);
  size_t want_len = 1 + TW_NONCE_SIZE + TW_PUBLIC_KEY_SIZE + sizeof b_box + RETURN_1_SIZE;
  bool layout = d->len == want_len && memcmp(d->bytes + 1, nonce, TW_NONCE_SIZE) == 0 &&
                memcmp(d->bytes + 1 + TW_NONCE_SIZE, k1.pk.bytes, TW_PUBLIC_KEY_SIZE) == 0 &&
                memcmp(d->bytes + 1 + TW_NONCE_SIZE + TW_PUBLIC_KEY_SIZE, b_box, sizeof b_box) == 0;
  if (!check(layout, "onion: the 0x81 is [0x81][our nonce][PK1][B's layer intact][%d-byte return]",
             RETURN_1_SIZE))
    diag("got %zu bytes, wanted %zu", d->len, want_len);
  uint8_t opened[sizeof b_plain];
  bool opens = d->len >= want_len &&
               crypto_box_open_easy(opened, d->bytes + 1 + TW_NONCE_SIZE + TW_PUBLIC_KEY_SIZE,
                                    sizeof b_box, d->bytes + 1, k1.pk.bytes, P.node_b.sk) == 0 &&
               memcmp(opened, b_plain, sizeof b_plain) == 0;
  check(opens, "onion: node B opens its layer with its key (next hop C, PK2, C's layer)");
  if (d->len < RETURN_1_SIZE + 1) return;
  uint8_t ret[RETURN_1_SIZE];
  memcpy(ret, d->bytes + d->len - RETURN_1_SIZE, RETURN_1_SIZE);

  /* An announce response's shape: [0x84][sendback 8][nonce][box(1+32+...)] */
  uint8_t resp[1 + 8 + TW_NONCE_SIZE + 1 + 32 + TW_MAC_SIZE];
  randombytes_buf(resp, sizeof resp);
  resp[0] = PKT_ANNOUNCE_RESPONSE;

  /* A tampered return path first: it must not reach A. */
  uint8_t bad[RETURN_1_SIZE];
  memcpy(bad, ret, sizeof bad);
  bad[TW_NONCE_SIZE + 3] ^= 0x40;
  rec_ev *r = onion_answer(a, bad, resp, sizeof resp, P.silence_ms);
  if (!check(r == NULL, "onion: a 0x8e with a tampered return path reaches nobody"))
    diag("A got an onion response of %zu bytes", r->len);

  r = onion_answer(a, ret, resp, sizeof resp, P.wait_ms);
  bool ok = r && r->len == sizeof resp && memcmp(r->data, resp, sizeof resp) == 0;
  if (!check(ok, "onion: a 0x8e on the relay's return path reaches A as an onion response "
                 "(0x09) carrying the 0x84 data intact")) {
    if (r) diag("got %zu bytes (%s)", r->len, r->len && r->data[0] == 0x84 ? "0x84..." : "other");
    else why_missing(a, "onion response");
  }

  /* The same return path again (return paths are not single use in the
   * spec), and a 0x8e whose data is not a response kind: the spec says
   * nothing about either; observations only. */
  r = onion_answer(a, ret, resp, sizeof resp, P.wait_ms);
  note("observe onion_return_path_reused %s", r ? "delivered" : "dropped");
  uint8_t odd[sizeof resp];
  memcpy(odd, resp, sizeof odd);
  odd[0] = PKT_ANNOUNCE_REQUEST;
  r = onion_answer(a, ret, odd, sizeof odd, P.silence_ms);
  note("observe onion_response_data_kind_0x83 %s", r ? "delivered" : "dropped");
}

/* ---- packets the spec forbids or leaves open, each on a fresh client ---- */

static void client_free(client *c) {
  if (c->t) tw_io_tcp_client_free(c->t);
  c->t = NULL;
  for (size_t i = 0; i < c->nev; i++) free(c->ev[i].data);
  free(c->ev);
  c->ev = NULL;
  c->nev = c->cap = 0;
}

/* A fresh client that has completed its handshake and first ping, or NULL
 * (freed) when it could not. */
static bool fresh_client(client *x, const char *name, const tw_keypair *keys) {
  client_start(x, name, keys);
  bool ok = await_ev(x, TW_TCP_EV_CONNECTED, P.wait_ms) && await_ev(x, TW_TCP_EV_PONG, P.wait_ms);
  if (!ok) {
    why_missing(x, "CONNECTED and first pong");
    client_free(x);
  }
  return ok;
}

/* Sends one raw plain packet on a fresh connection and prints what the
 * relay did with it: `# observe poke_LABEL closed|kept[, ...]`. */
static void poke(const char *label, const uint8_t *raw, size_t len) {
  client x;
  if (!fresh_client(&x, "X", NULL)) {
    note("observe poke_%s no-connection", label);
    return;
  }
  tw_tcp_client_stats before, after;
  tw_tcp_client_get_stats(cl(&x), &before);
  int rc = tw_tcp_client_send_raw(cl(&x), raw, len);
  ev_want w = {&x, TW_TCP_EV_CLOSED};
  run_until(ev_pred, &w, P.silence_ms, 0);
  tw_tcp_client_get_stats(cl(&x), &after);
  char extra[256] = "";
  for (size_t i = 0; i < x.nev; i++) {
    rec_ev *r = &x.ev[i];
    if (!r->used && r->kind != TW_TCP_EV_CLOSED)
      snprintf(extra + strlen(extra), sizeof extra - strlen(extra), ", answered %s(id %u)",
               kind_name(r->kind), r->conn_id);
  }
  for (int i = 1; i < TW_ERROR_COUNT; i++)
    if (after.dropped[i] > before.dropped[i])
      snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
               ", answered with a packet our client drops (%s)", tw_strerror(-i));
  bool up = !x.closed && ping_round_trip(&x);
  if (rc != TW_OK) note("observe poke_%s not-sent(%s)", label, tw_strerror(rc));
  else note("observe poke_%s %s%s", label, up ? "kept" : "closed", extra);
  client_free(&x);
}

static void pokes(void) {
  uint8_t b[1 + TW_PUBLIC_KEY_SIZE + TW_TCP_MAX_OOB_DATA + 1];
  memset(b, 0, sizeof b);
  tw_keypair k;
  crypto_box_keypair(k.pk.bytes, k.sk);

  b[0] = TW_TCP_PING; /* ping id 0 */
  poke("ping_id_0", b, 9);
  b[0] = TW_TCP_PONG; /* pong id 0 (no ping outstanding) */
  poke("pong_id_0", b, 9);
  b[0] = TW_TCP_PING;
  b[8] = 1;
  poke("ping_10_bytes", b, 10);
  memset(b, 0, sizeof b);

  b[0] = TW_TCP_ROUTE_REQUEST;
  memcpy(b + 1, k.pk.bytes, TW_PUBLIC_KEY_SIZE);
  poke("route_request_34_bytes", b, 1 + TW_PUBLIC_KEY_SIZE + 1);
  poke("route_request_32_bytes", b, TW_PUBLIC_KEY_SIZE);

  b[0] = TW_TCP_ROUTE_RESPONSE; /* server-only kinds from a client */
  b[1] = 16;
  poke("client_sends_0x01", b, 2 + TW_PUBLIC_KEY_SIZE);
  b[0] = TW_TCP_CONNECT_NOTIFICATION;
  poke("client_sends_0x02", b, 2);
  b[0] = TW_TCP_OOB_RECV;
  memcpy(b + 1, k.pk.bytes, TW_PUBLIC_KEY_SIZE);
  poke("client_sends_0x07", b, 1 + TW_PUBLIC_KEY_SIZE + 4);
  b[0] = TW_TCP_ONION_RESPONSE;
  b[1] = PKT_ANNOUNCE_RESPONSE;
  poke("client_sends_0x09", b, 100);
  memset(b, 0, sizeof b);

  b[0] = TW_TCP_DISCONNECT_NOTIFICATION;
  b[1] = 0x20; /* never allocated */
  poke("disconnect_unused_id", b, 2);
  b[1] = 0x05; /* below 16 */
  poke("disconnect_id_5", b, 2);

  b[0] = TW_TCP_OOB_SEND;
  memcpy(b + 1, k.pk.bytes, TW_PUBLIC_KEY_SIZE);
  poke("oob_no_data", b, 1 + TW_PUBLIC_KEY_SIZE);
  poke("oob_1025_bytes", b, 1 + TW_PUBLIC_KEY_SIZE + TW_TCP_MAX_OOB_DATA + 1);
  memset(b, 0, sizeof b);

  b[0] = 0x0a; /* reserved kinds 10..15 */
  poke("kind_0x0a", b, 5);
  b[0] = 0x0f;
  poke("kind_0x0f", b, 5);
  b[0] = 0x30; /* data on an id never allocated */
  poke("data_unallocated_id", b, 50);
  poke("data_no_bytes", b, 1);
  b[0] = TW_TCP_ONION_REQUEST;
  poke("onion_request_10_bytes", b, 11);

  /* Data on an id routed to a key that is not online. */
  client x;
  if (fresh_client(&x, "X", NULL)) {
    uint8_t id = 0;
    if (tw_tcp_client_send_route_request(cl(&x), &k.pk) == TW_OK) {
      rec_ev *r = await_ev(&x, TW_TCP_EV_ROUTE_RESPONSE, P.wait_ms);
      if (r) id = r->conn_id;
    }
    if (id) {
      uint8_t d[50] = {0};
      tw_tcp_client_send_data(cl(&x), id, d, sizeof d);
      ev_want w = {&x, TW_TCP_EV_CLOSED};
      run_until(ev_pred, &w, P.silence_ms, 0);
      bool up = !x.closed && ping_round_trip(&x);
      note("observe poke_data_routed_offline_id %s", up ? "kept" : "closed");
    }
    client_free(&x);
  }
}

/* 240 route requests fill the table (ids 16..255, all different); the
 * 241st is refused with id 0 and its key echoed. */
static void check_route_table_full(void) {
  client x;
  if (!fresh_client(&x, "X", NULL)) {
    check(false, "X routes 240 keys (ids 16..255), the 241st is refused with id 0");
    return;
  }
  bool seen[256] = {false};
  int accepted = 0, refused_early = 0;
  tw_key keys[241];
  for (int i = 0; i < 241; i++) randombytes_buf(keys[i].bytes, TW_PUBLIC_KEY_SIZE);
  /* In batches: our client remembers 64 route requests in flight. */
  int got = 0, last_id = -1;
  for (int sent = 0; sent < 241 && got == sent;) {
    int batch = 241 - sent < 32 ? 241 - sent : 32;
    for (int i = 0; i < batch; i++) tw_tcp_client_send_route_request(cl(&x), &keys[sent + i]);
    sent += batch;
    for (; got < sent; got++) {
      rec_ev *r = await_ev(&x, TW_TCP_EV_ROUTE_RESPONSE, P.wait_ms);
      if (r == NULL || !tw_key_equal(&r->pk, &keys[got])) break; /* lost, or out of order */
      if (got < 240) {
        if (r->conn_id >= 16 && !seen[r->conn_id]) {
          seen[r->conn_id] = true;
          accepted++;
        } else if (r->conn_id == 0) {
          refused_early++;
        }
      } else {
        last_id = r->conn_id;
      }
    }
  }
  if (!check(got == 241 && accepted == 240 && last_id == 0,
             "X routes 240 keys (ids 16..255, all different), the 241st is refused with id 0"))
    diag("%d responses in order, %d distinct ids, %d refused early, 241st id %d", got, accepted,
         refused_early, last_id);
  bool up = !x.closed && ping_round_trip(&x);
  check(up, "X stays connected with a full table");
  client_free(&x);
}

/* A second connection with B's key replaces B: the relay closes the old
 * one, and A, linked with B, hears that B went away. */
static void check_replaced(client *a, client *b, uint8_t a_id) {
  client b2;
  if (!fresh_client(&b2, "B2", &b->kp)) {
    check(false, "a second connection with B's key is confirmed");
    return;
  }
  ev_want w = {b, TW_TCP_EV_CLOSED};
  bool closed = run_until(ev_pred, &w, P.wait_ms, 0) && b->closed;
  if (closed) find_ev(&w)->used = true;
  if (!check(closed, "a second connection with B's key replaces B: the relay closes the old one"))
    diag("B still connected after %llu ms", (unsigned long long)P.wait_ms);
  if (a_id) {
    rec_ev *r = await_ev(a, TW_TCP_EV_DISCONNECT, P.wait_ms);
    if (!check(r && r->conn_id == a_id,
               "A, linked with B, gets a disconnect notification for id %u when B is replaced",
               a_id)) {
      if (r) diag("got id %u", r->conn_id);
      else why_missing(a, "disconnect notification");
    }
  }
  bool up = ping_round_trip(&b2);
  check(up, "the new connection with B's key works (ping/pong)");
  client_free(&b2);
}

/* ---- the relay's pings ---- */

typedef struct pings_want {
  client *c;
  uint64_t n;
} pings_want;
static bool pings_pred(void *arg) {
  pings_want *w = arg;
  return w->c->closed || server_pings(w->c) >= w->n;
}

static void check_server_pings(client *a, uint64_t n, tw_time_ms wait_ms, tw_time_ms grace_ms) {
  uint64_t before = server_pings(a);
  pings_want w = {a, before + n};
  tw_time_ms t0 = tw_io_now(P.io);
  bool got = run_until(pings_pred, &w, wait_ms, 100) && !a->closed;
  if (!check(got, "the relay pings A %llu times within %llu ms", (unsigned long long)n,
             (unsigned long long)wait_ms))
    diag("saw %llu pings (%s)", (unsigned long long)(server_pings(a) - before),
         a->closed ? tw_strerror(a->close_reason) : "still connected");
  else
    note("observe server_ping_after_ms %llu", (unsigned long long)(tw_io_now(P.io) - t0));
  ev_want closed = {a, TW_TCP_EV_CLOSED};
  run_until(ev_pred, &closed, grace_ms, 0); /* wakes early only if A is dropped */
  bool up = !a->closed && ping_round_trip(a);
  if (!check(up, "A answers the relay's pings by itself: still connected %llu ms after the "
                 "last one, and a ping still gets its pong", (unsigned long long)grace_ms) &&
      a->closed)
    diag("A closed: %s", tw_strerror(a->close_reason));
  if (P.local) {
    tw_tcp_server_stats st;
    tw_tcp_server_get_stats(tw_io_tcp_server_relay(P.local), &st);
    check(st.closed_ping == 0 && st.confirmed == 1,
          "the local relay dropped nobody for an unanswered ping (%u confirmed, %llu closed_ping)",
          st.confirmed, (unsigned long long)st.closed_ping);
  }
}

/* The whole suite with three connected-to-be clients. */
static void run_suite(client *const *all, bool onion, long pings, long ping_wait, long ping_grace) {
  client *A = all[0], *B = all[1], *C = all[2];
  note("A %s, B %s, C %s", short_key(&A->kp.pk), short_key(&B->kp.pk), short_key(&C->kp.pk));
  for (int i = 0; i < 3; i++) check_handshake(all[i]);
  if (A->closed || B->closed || C->closed) {
    printf("Bail out! a client could not connect to the relay\n");
    exit(1);
  }

  /* ---- routes and connect notifications */
  uint8_t id_ab = route_request(A, &B->kp.pk, "B");
  uint8_t id_ba = route_request(B, &A->kp.pk, "A");
  note("observe route_ids A->B %u B->A %u", id_ab, id_ba);
  if (id_ab) check_connect(A, id_ab, &B->kp.pk, "B");
  if (id_ba) check_connect(B, id_ba, &A->kp.pk, "A");

  /* ---- data */
  static const size_t sizes[] = {1, 1000, MAX_DATA};
  if (id_ab && id_ba)
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      check_data(A, id_ab, B, id_ba, sizes[i]);
      check_data(B, id_ba, A, id_ab, sizes[i]);
    }

  /* ---- OOB */
  check_oob(A, C, 1);
  check_oob(A, C, TW_TCP_MAX_OOB_DATA);
  {
    tw_keypair nobody;
    crypto_box_keypair(nobody.pk.bytes, nobody.sk);
    uint8_t buf[100];
    randombytes_buf(buf, sizeof buf);
    int rc = tw_tcp_client_send_oob(cl(A), &nobody.pk, buf, sizeof buf);
    run_until(NULL, NULL, P.silence_ms, 0);
    bool barrier = ping_round_trip(A);
    static const tw_tcp_client_event_kind k[] = {TW_TCP_EV_OOB, TW_TCP_EV_DATA,
                                                 TW_TCP_EV_ONION_RESPONSE, TW_TCP_EV_CLOSED};
    bool q = quiet(all, 3, k, 4);
    if (!check(rc == TW_OK && barrier && q,
               "OOB to a key that is not connected: nothing arrives anywhere, A stays connected"))
      if (rc != TW_OK) diag("send_oob: %s", tw_strerror(rc));
  }

  /* ---- disconnect, and reuse of the freed id */
  uint8_t again_id = 0;
  if (id_ab && id_ba) {
    int rc = tw_tcp_client_send_disconnect(cl(A), id_ab);
    rec_ev *r = rc == TW_OK ? await_ev(B, TW_TCP_EV_DISCONNECT, P.wait_ms) : NULL;
    if (!check(r && r->conn_id == id_ba,
               "A's disconnect notification: B gets a disconnect notification for its id %u",
               id_ba)) {
      if (rc != TW_OK) diag("send_disconnect: %s", tw_strerror(rc));
      else if (r) diag("got id %u", r->conn_id);
      else why_missing(B, "disconnect notification");
    }
    uint8_t again = route_request(A, &B->kp.pk, "B again");
    if (!check(again == id_ab, "A's next route request reuses the freed id %u", id_ab))
      diag("got id %u", again);
    /* B still asks for A: the pair connects again. */
    if (again) {
      rec_ev *ca = await_ev(A, TW_TCP_EV_CONNECT, P.wait_ms);
      rec_ev *cb = await_ev(B, TW_TCP_EV_CONNECT, P.wait_ms);
      if (!check(ca && ca->conn_id == again && cb && cb->conn_id == id_ba,
                 "B still routes A: both get connect notifications again (A id %u, B id %u)",
                 again, id_ba))
        diag("A: %s %u, B: %s %u", ca ? "CONNECT" : "nothing", ca ? ca->conn_id : 0,
             cb ? "CONNECT" : "nothing", cb ? cb->conn_id : 0);
      if (ca && cb) {
        check_data(A, again, B, id_ba, 100);
        again_id = again;
        /* The same route request once more, while linked. */
        tw_tcp_client_send_route_request(cl(A), &B->kp.pk);
        rec_ev *r2 = await_ev(A, TW_TCP_EV_ROUTE_RESPONSE, P.wait_ms);
        ev_want w = {A, TW_TCP_EV_CONNECT};
        run_until(ev_pred, &w, P.silence_ms, 0);
        rec_ev *c2 = find_ev(&w);
        if (c2) c2->used = true;
        if (r2 == NULL) note("observe route_request_repeated no-answer");
        else note("observe route_request_repeated id %s%s",
                  r2->conn_id == again ? "same" : r2->conn_id == 0 ? "0(refused)" : "other",
                  c2 ? "+connect-notification" : "");
        if (r2 && r2->conn_id != again && r2->conn_id != 0) again_id = 0;
      }
    }
  }

  /* ---- a route request for one's own key */
  {
    int rc = tw_tcp_client_send_route_request(cl(C), &C->kp.pk);
    rec_ev *r = rc == TW_OK ? await_ev(C, TW_TCP_EV_ROUTE_RESPONSE, P.wait_ms) : NULL;
    bool echoed = r && tw_key_equal(&r->pk, &C->kp.pk);
    if (!check(echoed, "C route-requests its own key: the relay answers with a route response "
                       "echoing the key"))
      why_missing(C, "route response");
    if (r) {
      rec_ev *conn = NULL;
      if (r->conn_id) {
        ev_want w = {C, TW_TCP_EV_CONNECT};
        run_until(ev_pred, &w, P.silence_ms, 0);
        conn = peek_ev(C, TW_TCP_EV_CONNECT);
        if (conn) conn->used = true;
      }
      if (r->conn_id == 0) note("observe own_key_route refused");
      else note("observe own_key_route accepted%s", conn ? "+connected" : "");
      bool up = ping_round_trip(C);
      check(up, "C stays connected after routing its own key");
      if (r->conn_id) tw_tcp_client_send_disconnect(cl(C), r->conn_id);
    }
  }

  /* ---- a pong with a wrong ping id */
  {
    uint8_t pong[9] = {TW_TCP_PONG};
    randombytes_buf(pong + 1, 8);
    pong[1] |= 0x80; /* never 0 */
    int rc = tw_tcp_client_send_raw(cl(A), pong, sizeof pong);
    run_until(NULL, NULL, P.silence_ms, 0);
    bool up = rc == TW_OK && !A->closed && ping_round_trip(A);
    check(up, "a pong with a wrong id is ignored: A stays connected and its next ping gets "
              "a pong");
  }

  /* ---- the onion */
  if (onion) check_onion(A);

  /* ---- limits, replacement, and packets the spec leaves open */
  check_route_table_full();
  check_replaced(A, B, again_id);
  pokes();

  if (pings > 0)
    check_server_pings(A, (uint64_t)pings, (tw_time_ms)ping_wait, (tw_time_ms)ping_grace);

}

/* ------------------------------------------------------------ main */

static void usage(void) {
  fprintf(stderr,
          "usage: tcp_probe [-w MS] [-s MS] [--udp-port N] [--self-ip IP] [--no-onion]\n"
          "                 [--server-pings N [--server-ping-wait MS] [--server-ping-grace MS]]\n"
          "                 [-v] HOST:PORT:KEY\n"
          "       tcp_probe [options] --local-relay PORT\n");
  exit(2);
}

static long num_arg(int argc, char **argv, int *i) {
  if (*i + 1 >= argc) usage();
  char *end;
  long v = strtol(argv[++*i], &end, 10);
  if (*end != '\0' || v < 0) usage();
  return v;
}

int main(int argc, char **argv) {
  const char *spec = NULL, *self_ip = "127.0.0.1";
  long udp_port = 0, local_port = 0, pings = -1, ping_wait = 45000, ping_grace = 11000;
  bool onion = true;
  P.wait_ms = 3000;
  P.silence_ms = 500;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-w") == 0) P.wait_ms = (tw_time_ms)num_arg(argc, argv, &i);
    else if (strcmp(a, "-s") == 0) P.silence_ms = (tw_time_ms)num_arg(argc, argv, &i);
    else if (strcmp(a, "--udp-port") == 0) udp_port = num_arg(argc, argv, &i);
    else if (strcmp(a, "--self-ip") == 0 && i + 1 < argc) self_ip = argv[++i];
    else if (strcmp(a, "--no-onion") == 0) onion = false;
    else if (strcmp(a, "--server-pings") == 0) pings = num_arg(argc, argv, &i);
    else if (strcmp(a, "--server-ping-wait") == 0) ping_wait = num_arg(argc, argv, &i);
    else if (strcmp(a, "--server-ping-grace") == 0) ping_grace = num_arg(argc, argv, &i);
    else if (strcmp(a, "--local-relay") == 0) local_port = num_arg(argc, argv, &i);
    else if (strcmp(a, "-v") == 0) P.verbose = true;
    else if (a[0] == '-') usage();
    else if (spec == NULL) spec = a;
    else usage();
  }
  if ((spec == NULL) == (local_port == 0) || udp_port > 65535 || local_port > 65535) usage();
  if (sodium_init() < 0) return 2;

  tw_logger lg = {P.verbose ? log_fn : NULL, NULL, TW_LOG_DEBUG};
  P.io = tw_io_new(lg);
  if (P.io == NULL) return 2;
  P.env = (tw_env){.random_bytes = tw_io_random, .random_ctx = P.io, .log = lg};
  P.next_wake = TW_NEVER;
  tw_io_handler h = {.ctx = NULL, .handle_packet = on_udp, .on_timer = on_timer,
                     .next_deadline = next_deadline};
  tw_io_set_handler(P.io, &h);

  if (local_port) {
    tw_tcp_server_config sc = {.ping_interval_ms = 300, .ping_timeout_ms = 1000};
    crypto_box_keypair(sc.keys.pk.bytes, sc.keys.sk);
    uint16_t port = (uint16_t)local_port;
    tw_io_tcp_listen l = {"127.0.0.1", &port, 1, false};
    char why[256];
    if (tw_io_tcp_server_start(P.io, &l, &sc, &P.env, &P.local, why, sizeof why) != TW_OK) {
      printf("Bail out! local relay: %s\n", why);
      return 2;
    }
    P.relay.pk = sc.keys.pk;
    tw_resolve("127.0.0.1", port, false, &P.relay.addr);
    onion = false;
    if (pings < 0) pings = 5;
    note("local toxwire relay on 127.0.0.1:%u, ping interval 300 ms, timeout 1000 ms", port);
  } else {
    const char *why;
    if (tw_parse_node_spec(spec, true, &P.relay, &why) != TW_OK) {
      fprintf(stderr, "tcp_probe: %s: %s\n", spec, why);
      return 2;
    }
  }
  P.relay_udp = P.relay.addr;
  if (udp_port) P.relay_udp.port = (uint16_t)udp_port;

  uint16_t bound = 0;
  if (onion) {
    tw_io_udp_config uc = {.bind_ip = NULL, .port = 0, .ipv6 = false};
    int rc = tw_io_bind_udp(P.io, &uc, &bound);
    if (rc != TW_OK) {
      printf("Bail out! cannot bind a UDP socket: %s\n", tw_strerror(rc));
      return 2;
    }
    if (tw_resolve(self_ip, bound, false, &P.self_udp) != TW_OK) usage();
    crypto_box_keypair(P.node_b.pk.bytes, P.node_b.sk);
  }

  client A, B, C;
  client *all[3] = {&A, &B, &C};
  client_start(&A, "A", NULL);
  if (local_port) {
    check_handshake(&A);
    check_server_pings(&A, (uint64_t)pings, 5000, 2000);
  } else {
  client_start(&B, "B", NULL);
  client_start(&C, "C", NULL);
  run_suite(all, onion, pings, ping_wait, ping_grace);
  }
  /* Anything left unexplained (pongs to the clients' own pings aside). */
  for (int i = 0; i < (local_port ? 1 : 3); i++)
    for (size_t j = 0; j < all[i]->nev; j++) {
      rec_ev *r = &all[i]->ev[j];
      if (!r->used && r->kind != TW_TCP_EV_PONG)
        note("unexpected: %s got %s id %u key %s (%zu bytes)", all[i]->name, kind_name(r->kind),
             r->conn_id, short_key(&r->pk), r->len);
    }
  for (size_t i = 0; i < P.ndg; i++)
    if (!P.dg[i].used)
      note("unexpected: datagram kind 0x%02x, %zu bytes", P.dg[i].bytes[0], P.dg[i].len);
  printf("1..%d\n", P.checks);
  note("%d checks, %d failed", P.checks, P.fails);
  for (int i = 0; i < (local_port ? 1 : 3); i++) client_free(all[i]);
  for (size_t i = 0; i < P.ndg; i++) free(P.dg[i].bytes);
  free(P.dg);
  if (P.local) tw_io_tcp_server_free(P.local);
  tw_io_free(P.io);
  return P.fails ? 1 : 0;
}
