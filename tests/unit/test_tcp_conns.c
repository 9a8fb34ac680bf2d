/* TCP connections (tw_tcp_conns): a node's client side of TCP relays.
 * spec/tcp_relay.md, "Client: several relays".
 *
 * The harness runs real relays (tw_tcp_server) and nodes (tw_tcp_conns) in
 * one process and plays the driver between them:
 *  - a node's open(handle, addr) records a pending connection to the relay
 *    listening at addr; pump() "connects" it (tw_tcp_server_accept, then
 *    tw_tcp_conns_handle_connected) or refuses it (handle_closed), unless
 *    the test holds new connections;
 *  - pump() then moves bytes both ways until nothing moves: what a node
 *    writes goes to tw_tcp_server_handle_bytes, what a relay writes to
 *    tw_tcp_conns_handle_bytes;
 *  - a close at either end reaches the other: the node's close() closes the
 *    relay's side (after the bytes the node wrote); a relay that drops the
 *    client, or a test that closes it there, makes pump() report
 *    handle_closed to the node (after the bytes the relay wrote);
 *  - flags on a connection stand for a bad socket: broken (writes fail),
 *    slow (a few bytes per round), deaf (the relay's bytes are lost).
 * advance() steps a fake clock from deadline to deadline, calling each
 * on_timer whose deadline has come, and fails on a deadline that does not
 * move (a driver would spin). Randomness is testutil.h's seeded generator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bytebuf.h"
#include "testutil.h"
#include "toxwire/error.h"
#include "toxwire/tcp_conns.h"
#include "toxwire/tcp_relay.h"

/* The spec's numbers, written out so a wrong library constant fails. */
#define SPEC_MAX_OOB 1024
#define SPEC_RETRY_MS 5000
#define SPEC_PING_INTERVAL_MS 30000

#define T0 ((tw_time_ms)1000000)
#define MAX_RELAYS 2
#define MAX_NODES 3
#define MAX_CONNS 64
#define MAX_RECS 32


/* Takes b's bytes (callbacks may append to b while they are handled). */
static bytebuf buf_take(bytebuf *b) {
  bytebuf t = *b;
  memset(b, 0, sizeof *b);
  return t;
}

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

/* ---- the harness ---- */

/* One on_packet or on_onion call. */
typedef struct rec {
  tw_addr from;
  uint8_t data[TW_TCP_MAX_PACKET];
  size_t len;
  tw_time_ms at;
} rec;

struct harness;
struct node;

typedef struct relay_srv {
  struct harness *h;
  int idx;
  tw_tcp_server *srv;
  tw_keypair kp;
  tw_node_info info; /* what nodes are given: key, address, tcp */
  test_rng rng;
  tw_env env;
  int onion_calls;
  uint64_t onion_link;
  uint8_t onion_data[TW_TCP_MAX_PACKET];
  size_t onion_len;
} relay_srv;

typedef void node_hook(struct node *n, const tw_addr *from, tw_time_ms now);

typedef struct node {
  struct harness *h;
  int idx;
  tw_tcp_conns *tc;
  tw_keypair kp;
  tw_addr ip; /* where relays see it connect from */
  test_rng rng;
  tw_env env;
  int opens, closes, timers;
  int refuse_opens;    /* open() fails this many more times */
  int refuse_connects; /* connections refused (nobody listening) */
  tw_addr open_addr;
  uint32_t open_handle, close_handle;
  tw_time_ms open_at, close_at;
  rec pkts[MAX_RECS], onions[MAX_RECS];
  size_t npkts, nonions;
  node_hook *on_packet_hook; /* runs inside on_packet */
} node;

/* One TCP connection from a node to a relay. */
typedef struct conn {
  bool used;
  node *n;
  relay_srv *rs;     /* NULL: nothing listens at the address */
  uint32_t handle;   /* the node's */
  uint64_t id;       /* the relay's */
  bool accepted;     /* connected at both ends */
  bool node_closed;  /* the node called close() */
  bool eof_told;     /* the node was told with handle_closed */
  bool srv_closed;   /* gone at the relay */
  bool node_want, srv_want;
  bool broken;       /* the node's writes fail (-1) */
  size_t slow;       /* bytes the node may write per pump round; 0: all */
  size_t budget;     /* left this round */
  int want_ons;      /* want_write(on) calls */
  bool deaf;         /* the relay's bytes to the node are lost */
  bytebuf up, down;  /* node -> relay, relay -> node */
} conn;

typedef struct harness {
  tw_time_ms now;
  bool hold; /* pump() leaves new connections pending */
  relay_srv relays[MAX_RELAYS];
  node nodes[MAX_NODES];
  conn conns[MAX_CONNS];
  int nrelays, nnodes, nconns;
} harness;

static bool node_live(const conn *c) { return c->used && !c->node_closed && !c->eof_told; }

/* The node's open connection with this handle. */
static conn *conn_find(node *n, uint32_t handle) {
  harness *h = n->h;
  for (int i = 0; i < h->nconns; i++)
    if (h->conns[i].n == n && node_live(&h->conns[i]) && h->conns[i].handle == handle)
      return &h->conns[i];
  return NULL;
}

/* The node's connection to rs (open, connected or not). */
static conn *conn_to(harness *h, node *n, relay_srv *rs) {
  for (int i = 0; i < h->nconns; i++)
    if (h->conns[i].n == n && h->conns[i].rs == rs && node_live(&h->conns[i])) return &h->conns[i];
  return NULL;
}

static relay_srv *relay_at(harness *h, const tw_addr *addr) {
  for (int i = 0; i < h->nrelays; i++)
    if (tw_addr_equal(&h->relays[i].info.addr, addr)) return &h->relays[i];
  return NULL;
}

/* -- the driver, as the nodes see it (ctx: the node) -- */

static int drv_open(void *ctx, uint32_t handle, const tw_addr *addr) {
  node *n = ctx;
  harness *h = n->h;
  n->opens++;
  n->open_addr = *addr;
  n->open_handle = handle;
  n->open_at = h->now;
  if (conn_find(n, handle) != NULL)
    fail_msg("node %d: open() reuses live handle %#x", n->idx, handle);
  if (n->refuse_opens > 0) {
    n->refuse_opens--;
    return TW_E_IO;
  }
  assert_true(h->nconns < MAX_CONNS);
  conn *c = &h->conns[h->nconns++];
  memset(c, 0, sizeof *c);
  c->used = true;
  c->n = n;
  c->handle = handle;
  c->rs = relay_at(h, addr);
  return TW_OK;
}

static void drv_close(void *ctx, uint32_t handle) {
  node *n = ctx;
  conn *c = conn_find(n, handle);
  if (c == NULL) fail_msg("node %d: close() of handle %#x, which is not open", n->idx, handle);
  c->node_closed = true;
  buf_free(&c->down);
  n->closes++;
  n->close_handle = handle;
  n->close_at = n->h->now;
}

static long drv_write(void *ctx, uint32_t handle, const uint8_t *bytes, size_t len) {
  node *n = ctx;
  conn *c = conn_find(n, handle);
  if (c == NULL) fail_msg("node %d: write() to handle %#x, which is not open", n->idx, handle);
  if (!c->accepted) fail_msg("node %d: write() to handle %#x before it connected", n->idx, handle);
  if (c->broken) return -1;
  if (c->slow) {
    if (len > c->budget) len = c->budget;
    c->budget -= len;
  }
  buf_append(&c->up, bytes, len);
  return (long)len;
}

static void drv_want_write(void *ctx, uint32_t handle, bool on) {
  node *n = ctx;
  conn *c = conn_find(n, handle);
  if (c == NULL) fail_msg("node %d: want_write() on handle %#x, which is not open", n->idx, handle);
  c->node_want = on;
  c->want_ons += on;
}

static void record(rec *recs, size_t *n, const tw_addr *from, const uint8_t *pkt, size_t len,
                   tw_time_ms now) {
  assert_true(*n < MAX_RECS);
  assert_true(len <= sizeof recs[0].data);
  rec *r = &recs[(*n)++];
  r->from = *from;
  memcpy(r->data, pkt, len);
  r->len = len;
  r->at = now;
}

static void on_packet(void *ctx, const tw_addr *from, const uint8_t *pkt, size_t len,
                      tw_time_ms now) {
  node *n = ctx;
  record(n->pkts, &n->npkts, from, pkt, len, now);
  if (n->on_packet_hook) n->on_packet_hook(n, from, now);
}

static void on_onion(void *ctx, const tw_addr *relay_addr, const uint8_t *pkt, size_t len,
                     tw_time_ms now) {
  node *n = ctx;
  record(n->onions, &n->nonions, relay_addr, pkt, len, now);
}

/* -- the driver, as the relays see it (user: the conn) -- */

static long srv_write(void *ctx, void *user, const uint8_t *bytes, size_t len) {
  (void)ctx;
  conn *c = user;
  if (node_live(c) && !c->deaf) buf_append(&c->down, bytes, len);
  return (long)len;
}

static void srv_want_write(void *ctx, void *user, bool on) {
  (void)ctx;
  ((conn *)user)->srv_want = on;
}

static void srv_closed(void *ctx, void *user, int reason) {
  (void)ctx;
  (void)reason;
  conn *c = user;
  c->srv_closed = true;
  buf_free(&c->up);
}

static int srv_onion_request(void *octx, uint64_t link, const uint8_t *data, size_t len,
                             tw_time_ms now) {
  (void)now;
  relay_srv *rs = octx;
  rs->onion_calls++;
  rs->onion_link = link;
  assert_true(len <= sizeof rs->onion_data);
  memcpy(rs->onion_data, data, len);
  rs->onion_len = len;
  return TW_OK;
}

/* -- set-up and tear-down -- */

static harness *h_new(void **state) {
  harness *h = calloc(1, sizeof *h);
  assert_non_null(h);
  *state = h;
  h->now = T0;
  return h;
}

static relay_srv *relay_add(harness *h) {
  assert_true(h->nrelays < MAX_RELAYS);
  relay_srv *rs = &h->relays[h->nrelays];
  rs->h = h;
  rs->idx = h->nrelays++;
  rs->kp = test_keypair(900 + (uint64_t)rs->idx);
  rs->info.pk = rs->kp.pk;
  rs->info.addr = test_addr4(192, 0, 2, (uint8_t)(rs->idx + 1), 33445);
  rs->info.tcp = true;
  rs->rng.state = 300 + (uint64_t)rs->idx;
  rs->env = test_env(&rs->rng);
  tw_tcp_server_config c = {.keys = rs->kp, .write = srv_write, .want_write = srv_want_write,
                            .closed = srv_closed, .ctx = rs,
                            .onion_request = srv_onion_request, .onion_ctx = rs};
  rs->srv = tw_tcp_server_new(&c, &rs->env);
  assert_non_null(rs->srv);
  return rs;
}

static node *node_add(harness *h) {
  assert_true(h->nnodes < MAX_NODES);
  node *n = &h->nodes[h->nnodes];
  n->h = h;
  n->idx = h->nnodes++;
  n->kp = test_keypair(100 + (uint64_t)n->idx);
  n->ip = test_addr4(10, 0, 0, (uint8_t)(n->idx + 1), (uint16_t)(50000 + n->idx));
  n->rng.state = 500 + (uint64_t)n->idx;
  n->env = test_env(&n->rng);
  tw_tcp_conns_config c = {.dht_keys = n->kp, .open = drv_open, .close = drv_close,
                           .write = drv_write, .want_write = drv_want_write, .io_ctx = n,
                           .on_packet = on_packet, .on_onion = on_onion, .ctx = n};
  n->tc = tw_tcp_conns_new(&c, &n->env, h->now);
  assert_non_null(n->tc);
  return n;
}

static int teardown(void **state) {
  harness *h = *state;
  if (h == NULL) return 0;
  for (int i = 0; i < h->nnodes; i++) tw_tcp_conns_free(h->nodes[i].tc); /* close()s: conns live */
  for (int i = 0; i < h->nrelays; i++) tw_tcp_server_free(h->relays[i].srv); /* closed()s too */
  for (int i = 0; i < h->nconns; i++) {
    buf_free(&h->conns[i].up);
    buf_free(&h->conns[i].down);
  }
  free(h);
  *state = NULL;
  return 0;
}

static tw_tcp_conns_stats stats(const node *n) {
  tw_tcp_conns_stats st;
  tw_tcp_conns_get_stats(n->tc, &st);
  return st;
}

static tw_tcp_server_stats srv_stats(const relay_srv *rs) {
  tw_tcp_server_stats st;
  tw_tcp_server_get_stats(rs->srv, &st);
  return st;
}

/* -- moving bytes -- */

/* A pending connection is accepted by its relay and reported connected;
 * one to an address nobody listens at is refused. */
static void connect_pending(harness *h, conn *c) {
  if (c->rs == NULL || c->n->refuse_connects > 0) {
    if (c->rs != NULL) c->n->refuse_connects--;
    c->eof_told = true;
    tw_tcp_conns_handle_closed(c->n->tc, c->handle, h->now);
    return;
  }
  assert_int_equal(tw_tcp_server_accept(c->rs->srv, &c->n->ip, c, h->now, &c->id), TW_OK);
  c->accepted = true;
  tw_tcp_conns_handle_connected(c->n->tc, c->handle, h->now);
}

/* The node's bytes to the relay; then, if the node closed, the close. */
static bool deliver_up(harness *h, conn *c) {
  if (!c->accepted || c->srv_closed) return false;
  bool moved = false;
  if (c->up.len > 0) {
    bytebuf in = buf_take(&c->up);
    tw_tcp_server_handle_bytes(c->rs->srv, c->id, in.p, in.len, h->now);
    buf_free(&in);
    moved = true;
  }
  if (!c->srv_closed && (c->node_closed || c->eof_told)) {
    tw_tcp_server_close(c->rs->srv, c->id, h->now);
    c->srv_closed = true;
    moved = true;
  }
  if (moved) tw_tcp_server_flush(c->rs->srv, h->now);
  return moved;
}

/* The relay's bytes to the node; then, if the relay closed, the EOF. */
static bool deliver_down(harness *h, conn *c) {
  if (!node_live(c)) {
    buf_free(&c->down);
    return false;
  }
  bool moved = false;
  if (c->down.len > 0) {
    bytebuf in = buf_take(&c->down);
    tw_tcp_conns_handle_bytes(c->n->tc, c->handle, in.p, in.len, h->now);
    buf_free(&in);
    tw_tcp_conns_flush(c->n->tc, h->now);
    moved = true;
  }
  if (c->srv_closed && node_live(c)) {
    c->eof_told = true;
    tw_tcp_conns_handle_closed(c->n->tc, c->handle, h->now);
    tw_tcp_conns_flush(c->n->tc, h->now);
    moved = true;
  }
  return moved;
}

/* Moves bytes both ways until nothing moves. */
static void pump(harness *h) {
  for (int round = 0;; round++) {
    assert_true(round < 10000);
    bool moved = false;
    for (int i = 0; i < h->nconns; i++) h->conns[i].budget = h->conns[i].slow;
    for (int i = 0; i < h->nconns && !h->hold; i++) {
      conn *c = &h->conns[i];
      if (node_live(c) && !c->accepted) {
        connect_pending(h, c);
        moved = true;
      }
    }
    for (int i = 0; i < h->nconns; i++) {
      conn *c = &h->conns[i];
      if (node_live(c) && c->accepted && c->node_want)
        tw_tcp_conns_handle_writable(c->n->tc, c->handle, h->now);
      if (c->accepted && !c->srv_closed && c->srv_want)
        tw_tcp_server_handle_writable(c->rs->srv, c->id, h->now);
    }
    for (int i = 0; i < h->nnodes; i++) tw_tcp_conns_flush(h->nodes[i].tc, h->now);
    for (int i = 0; i < h->nrelays; i++) tw_tcp_server_flush(h->relays[i].srv, h->now);
    for (int i = 0; i < h->nconns; i++) moved |= deliver_up(h, &h->conns[i]);
    for (int i = 0; i < h->nconns; i++) moved |= deliver_down(h, &h->conns[i]);
    if (!moved) break;
  }
}

static tw_time_ms next_deadline(const harness *h) {
  tw_time_ms d = TW_NEVER;
  for (int i = 0; i < h->nnodes; i++) {
    tw_time_ms x = tw_tcp_conns_next_deadline(h->nodes[i].tc);
    if (x < d) d = x;
  }
  for (int i = 0; i < h->nrelays; i++) {
    tw_time_ms x = tw_tcp_server_next_deadline(h->relays[i].srv);
    if (x < d) d = x;
  }
  return d;
}

/* Runs every timer due up to until, in order, pumping after each, the way
 * the node's loop does (on_timer when now >= next_deadline). */
static void advance(harness *h, tw_time_ms until) {
  for (int guard = 0;; guard++) {
    if (guard >= 10000) fail_msg("a deadline does not move: the driver would spin at %llu",
                                 (unsigned long long)h->now);
    tw_time_ms d = next_deadline(h);
    if (d > until) break;
    if (d > h->now) h->now = d;
    for (int i = 0; i < h->nnodes; i++) {
      node *n = &h->nodes[i];
      if (h->now < tw_tcp_conns_next_deadline(n->tc)) continue;
      n->timers++;
      tw_tcp_conns_on_timer(n->tc, h->now);
      tw_tcp_conns_flush(n->tc, h->now);
    }
    for (int i = 0; i < h->nrelays; i++) {
      relay_srv *rs = &h->relays[i];
      if (h->now < tw_tcp_server_next_deadline(rs->srv)) continue;
      tw_tcp_server_on_timer(rs->srv, h->now);
      tw_tcp_server_flush(rs->srv, h->now);
    }
    pump(h);
  }
  if (until > h->now) h->now = until;
}

/* -- scenario helpers -- */

/* n keeps rs as one of its own relays, connected. */
static void own_relay(harness *h, node *n, relay_srv *rs) {
  assert_int_equal(tw_tcp_conns_add_relay(n->tc, &rs->info, h->now), TW_OK);
  pump(h);
  conn *c = conn_to(h, n, rs);
  assert_non_null(c);
  assert_true(c->accepted);
}

/* A peer address: the module's own function, checked against what
 * types.h promises (TW_AF_TCP_PEER, the first 16 bytes of the DHT key). */
static tw_addr peer_addr_of(const tw_key *pk) {
  tw_addr a = tw_tcp_conns_peer_addr(pk);
  assert_int_equal(a.family, TW_AF_TCP_PEER);
  assert_memory_equal(a.ip, pk->bytes, sizeof a.ip);
  return a;
}

static void assert_names_key(const tw_addr *a, const tw_key *pk) {
  assert_int_equal(a->family, TW_AF_TCP_PEER);
  assert_memory_equal(a->ip, pk->bytes, sizeof a->ip);
}

static void assert_addr_equal(const tw_addr *a, const tw_addr *b) {
  assert_int_equal(a->family, b->family);
  assert_int_equal(a->port, b->port);
  assert_memory_equal(a->ip, b->ip, sizeof a->ip);
}

/* a and b each add the other as a peer on rs; both must see the other
 * online. *ab: a's address for b; *ba: b's for a. */
static void befriend(harness *h, node *a, node *b, relay_srv *rs, tw_addr *ab, tw_addr *ba) {
  assert_int_equal(tw_tcp_conns_peer_add(a->tc, &b->kp.pk, ab, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_add(b->tc, &a->kp.pk, ba, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_add_relay(a->tc, ab, &rs->info, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_add_relay(b->tc, ba, &rs->info, h->now), TW_OK);
  pump(h);
  assert_true(tw_tcp_conns_peer_online(a->tc, ab));
  assert_true(tw_tcp_conns_peer_online(b->tc, ba));
}

/* from sends len pattern bytes to `to`; dest must get exactly them, from
 * the address `as`. */
static void check_send(harness *h, node *from, const tw_addr *to, node *dest, const tw_addr *as,
                       size_t len, uint8_t seed) {
  uint8_t pkt[TW_TCP_MAX_PACKET];
  fill_pattern(pkt, len, seed);
  size_t before = dest->npkts;
  assert_int_equal(tw_tcp_conns_send(from->tc, to, pkt, len, h->now), TW_OK);
  pump(h);
  assert_int_equal(dest->npkts, before + 1);
  const rec *r = &dest->pkts[dest->npkts - 1];
  assert_int_equal(r->len, len);
  assert_memory_equal(r->data, pkt, len);
  assert_addr_equal(&r->from, as);
}

/* ================================================================== */
/* Tests                                                              */
/* ================================================================== */

/* add_relay asks the driver for a socket to the relay's address at once;
 * after the handshake the relay is listed, as a TCP node. */
static void test_add_relay_opens_and_connects(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h);
  node *a = node_add(h);
  h->hold = true;
  assert_int_equal(tw_tcp_conns_add_relay(a->tc, &r0->info, h->now), TW_OK);
  assert_int_equal(a->opens, 1);
  assert_addr_equal(&a->open_addr, &r0->info.addr);
  tw_node_info got[4];
  assert_int_equal(tw_tcp_conns_connected(a->tc, got, 4), 0); /* not yet */
  tw_tcp_conns_stats st = stats(a);
  assert_int_equal(st.relays_known, 1);
  assert_int_equal(st.relays_connected, 0);

  h->hold = false;
  pump(h);
  assert_int_equal(srv_stats(r0).confirmed, 1);
  memset(got, 0, sizeof got);
  assert_int_equal(tw_tcp_conns_connected(a->tc, got, 4), 1);
  assert_memory_equal(got[0].pk.bytes, r0->kp.pk.bytes, TW_PUBLIC_KEY_SIZE);
  assert_addr_equal(&got[0].addr, &r0->info.addr);
  assert_true(got[0].tcp);
  st = stats(a);
  assert_int_equal(st.relays_connected, 1);
  assert_int_equal(st.connects, 1);

  /* The same relay again is the same relay: no second socket. */
  assert_int_equal(tw_tcp_conns_add_relay(a->tc, &r0->info, h->now), TW_OK);
  pump(h);
  assert_int_equal(a->opens, 1);
  assert_int_equal(stats(a).relays_known, 1);
  /* Our own key is no relay; neither is an address that is not set. */
  tw_node_info self = r0->info;
  self.pk = a->kp.pk;
  assert_int_equal(tw_tcp_conns_add_relay(a->tc, &self, h->now), TW_E_SELF);
  tw_node_info noaddr = {.pk = test_key_fill(0x42)};
  assert_int_equal(tw_tcp_conns_add_relay(a->tc, &noaddr, h->now), TW_E_ADDR);
  assert_int_equal(a->opens, 1);
}

/* Two nodes on one relay who both ask for each other get a linked route:
 * packets go as data and arrive byte for byte, from the address the
 * receiver's own peer_add gave for the sender. */
static void test_linked_route_carries_data(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h);
  node *a = node_add(h), *b = node_add(h);
  own_relay(h, a, r0);
  own_relay(h, b, r0);
  tw_addr ab, ba;
  befriend(h, a, b, r0, &ab, &ba);
  assert_int_equal(ab.family, TW_AF_TCP_PEER);
  assert_int_equal(ba.family, TW_AF_TCP_PEER);
  assert_int_equal(tw_tcp_conns_peer_relays(a->tc, &ab), 1);
  assert_int_equal(srv_stats(r0).links_connected, 1);
  tw_tcp_conns_stats st = stats(a);
  assert_int_equal(st.peers, 1);
  assert_int_equal(st.peers_online, 1);

  /* Adding the key again gives the same address and no second peer. */
  tw_addr again;
  assert_int_equal(tw_tcp_conns_peer_add(a->tc, &b->kp.pk, &again, h->now), TW_OK);
  assert_addr_equal(&again, &ab);
  assert_int_equal(stats(a).peers, 1);

  check_send(h, a, &ab, b, &ba, 1400, 0x11);
  check_send(h, b, &ba, a, &ab, 1400, 0x22);
  check_send(h, a, &ab, b, &ba, 2000, 0x33); /* longer than OOB allows */
  st = stats(a);
  assert_int_equal(st.data_out, 2);
  assert_int_equal(st.data_in, 1);
  assert_int_equal(st.oob_out, 0);
  st = stats(b);
  assert_int_equal(st.data_out, 1);
  assert_int_equal(st.data_in, 2);
  assert_int_equal(st.oob_in, 0);
  tw_tcp_server_stats ss = srv_stats(r0);
  assert_int_equal(ss.data_relayed, 3);
  assert_int_equal(ss.oob_relayed, 0);
}

/* Only A asked for B: the relay never calls B online, so A writes OOB to
 * B's key. B has no peer for A, yet may answer the address it got (a
 * stranger), and that address is the one B's peer_add gives for A's key. */
static void test_one_sided_peer_goes_oob_and_stranger_answers(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h);
  node *a = node_add(h), *b = node_add(h);
  own_relay(h, a, r0);
  own_relay(h, b, r0);
  tw_addr ab;
  assert_int_equal(tw_tcp_conns_peer_add(a->tc, &b->kp.pk, &ab, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_add_relay(a->tc, &ab, &r0->info, h->now), TW_OK);
  pump(h);
  assert_false(tw_tcp_conns_peer_online(a->tc, &ab));
  assert_int_equal(tw_tcp_conns_peer_relays(a->tc, &ab), 1); /* reachable OOB */

  uint8_t pkt[SPEC_MAX_OOB + 1];
  fill_pattern(pkt, 1000, 0x44);
  assert_int_equal(tw_tcp_conns_send(a->tc, &ab, pkt, 1000, h->now), TW_OK);
  pump(h);
  assert_int_equal(b->npkts, 1);
  assert_int_equal(b->pkts[0].len, 1000);
  assert_memory_equal(b->pkts[0].data, pkt, 1000);
  tw_addr stranger = b->pkts[0].from;
  assert_names_key(&stranger, &a->kp.pk);
  assert_int_equal(stats(a).oob_out, 1);
  assert_int_equal(stats(a).data_out, 0);
  assert_int_equal(stats(b).oob_in, 1);
  assert_int_equal(srv_stats(r0).oob_relayed, 1);

  /* B answers the stranger; it comes back OOB, from A's address for B. */
  check_send(h, b, &stranger, a, &ab, 500, 0x55);
  assert_int_equal(stats(b).oob_out, 1);
  assert_int_equal(stats(a).oob_in, 1);
  assert_int_equal(srv_stats(r0).oob_relayed, 2);

  /* OOB carries at most 1024 bytes, either way. */
  fill_pattern(pkt, sizeof pkt, 0x66);
  assert_int_equal(tw_tcp_conns_send(a->tc, &ab, pkt, SPEC_MAX_OOB, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_send(a->tc, &ab, pkt, SPEC_MAX_OOB + 1, h->now), TW_E_LONG);
  assert_int_equal(tw_tcp_conns_send(b->tc, &stranger, pkt, SPEC_MAX_OOB + 1, h->now), TW_E_LONG);
  pump(h);
  assert_int_equal(b->npkts, 2);
  assert_int_equal(b->pkts[1].len, SPEC_MAX_OOB);

  /* B's peer_add for A's key names the same address; once B asks for a
   * route too, the packets go as data. */
  tw_addr ba;
  assert_int_equal(tw_tcp_conns_peer_add(b->tc, &a->kp.pk, &ba, h->now), TW_OK);
  assert_addr_equal(&ba, &stranger);
  assert_int_equal(tw_tcp_conns_peer_add_relay(b->tc, &ba, &r0->info, h->now), TW_OK);
  pump(h);
  assert_true(tw_tcp_conns_peer_online(a->tc, &ab));
  assert_true(tw_tcp_conns_peer_online(b->tc, &ba));
  check_send(h, a, &ab, b, &ba, 1400, 0x77);
  assert_int_equal(stats(a).data_out, 1);
  assert_int_equal(stats(a).oob_out, 2);
}

/* A stranger is answered through the relay its packet came by, for a
 * while: long after, it is unknown again. */
static void test_stranger_answered_on_its_relay(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h), *r1 = relay_add(h);
  node *a = node_add(h), *b = node_add(h);
  own_relay(h, b, r0);
  own_relay(h, b, r1);
  own_relay(h, a, r1); /* A is on r1 only */
  tw_addr ab;
  assert_int_equal(tw_tcp_conns_peer_add(a->tc, &b->kp.pk, &ab, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_add_relay(a->tc, &ab, &r1->info, h->now), TW_OK);
  pump(h);
  uint8_t pkt[200];
  fill_pattern(pkt, sizeof pkt, 0x91);
  assert_int_equal(tw_tcp_conns_send(a->tc, &ab, pkt, sizeof pkt, h->now), TW_OK);
  pump(h);
  assert_int_equal(b->npkts, 1);
  tw_addr stranger = b->pkts[0].from;
  assert_names_key(&stranger, &a->kp.pk);
  advance(h, h->now + 5000);
  check_send(h, b, &stranger, a, &ab, 200, 0x92);
  assert_int_equal(srv_stats(r1).oob_relayed, 2);
  assert_int_equal(srv_stats(r0).oob_relayed, 0);

  advance(h, h->now + 10 * 60000);
  assert_int_equal(tw_tcp_conns_send(b->tc, &stranger, pkt, sizeof pkt, h->now), TW_E_NOROUTE);
}

/* A peer address nobody was told about, or a peer with no relay, has no
 * route; nothing reaches any relay. */
static void test_send_without_route_is_noroute(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h);
  node *a = node_add(h), *b = node_add(h);
  own_relay(h, a, r0);
  own_relay(h, b, r0);
  uint8_t pkt[100];
  fill_pattern(pkt, sizeof pkt, 1);

  tw_addr unknown = peer_addr_of(&b->kp.pk); /* B is on r0, but not A's peer */
  assert_int_equal(tw_tcp_conns_send(a->tc, &unknown, pkt, sizeof pkt, h->now), TW_E_NOROUTE);
  assert_int_equal(stats(a).dropped_noroute, 1);

  tw_addr ab; /* a peer, but on no relay yet */
  assert_int_equal(tw_tcp_conns_peer_add(a->tc, &b->kp.pk, &ab, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_relays(a->tc, &ab), 0);
  assert_int_equal(tw_tcp_conns_send(a->tc, &ab, pkt, sizeof pkt, h->now), TW_E_NOROUTE);
  assert_int_equal(stats(a).dropped_noroute, 2);

  /* Removed again: unknown again. */
  assert_int_equal(tw_tcp_conns_peer_remove(a->tc, &ab, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_remove(a->tc, &ab, h->now), TW_E_NOTFOUND);
  assert_int_equal(tw_tcp_conns_send(a->tc, &ab, pkt, sizeof pkt, h->now), TW_E_NOROUTE);
  tw_tcp_conns_stats st = stats(a);
  assert_int_equal(st.dropped_noroute, 3);
  assert_int_equal(st.oob_out + st.data_out, 0);
  pump(h);
  assert_int_equal(b->npkts, 0);
  assert_int_equal(srv_stats(r0).oob_relayed, 0);
}

/* A lost relay takes its routes with it; it is opened again after
 * TW_TCP_CONNS_RETRY_MS (not before), the routes come back, and a second
 * loss soon after waits twice as long. */
static void test_lost_relay_retried_with_backoff(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h);
  node *a = node_add(h), *b = node_add(h);
  own_relay(h, a, r0);
  own_relay(h, b, r0);
  tw_addr ab, ba;
  befriend(h, a, b, r0, &ab, &ba);
  assert_int_equal(TW_TCP_CONNS_RETRY_MS, SPEC_RETRY_MS);

  /* The relay drops A. */
  tw_time_ms t1 = h->now;
  conn *c = conn_to(h, a, r0);
  tw_tcp_server_close(r0->srv, c->id, h->now);
  c->srv_closed = true;
  pump(h);
  assert_true(c->eof_told);
  assert_int_equal(a->closes, 0); /* the driver closed it already */
  assert_false(tw_tcp_conns_peer_online(a->tc, &ab));
  assert_false(tw_tcp_conns_peer_online(b->tc, &ba)); /* the relay told B */
  assert_int_equal(tw_tcp_conns_peer_relays(a->tc, &ab), 0);
  tw_node_info got[4];
  assert_int_equal(tw_tcp_conns_connected(a->tc, got, 4), 0);
  tw_tcp_conns_stats st = stats(a);
  assert_int_equal(st.relays_connected, 0);
  assert_int_equal(st.disconnects, 1);
  assert_int_equal(st.peers_online, 0);
  uint8_t pkt[100];
  fill_pattern(pkt, sizeof pkt, 9);
  assert_int_equal(tw_tcp_conns_send(a->tc, &ab, pkt, sizeof pkt, h->now), TW_E_NOROUTE);
  assert_true(tw_tcp_conns_next_deadline(a->tc) == t1 + SPEC_RETRY_MS);

  advance(h, t1 + SPEC_RETRY_MS - 1);
  assert_int_equal(a->opens, 1);
  advance(h, t1 + SPEC_RETRY_MS);
  assert_int_equal(a->opens, 2);
  assert_true(a->open_at == t1 + SPEC_RETRY_MS);
  assert_addr_equal(&a->open_addr, &r0->info.addr);
  pump(h);
  assert_int_equal(tw_tcp_conns_connected(a->tc, got, 4), 1);
  assert_true(tw_tcp_conns_peer_online(a->tc, &ab));
  assert_true(tw_tcp_conns_peer_online(b->tc, &ba));
  check_send(h, a, &ab, b, &ba, 1400, 0x12);
  st = stats(a);
  assert_int_equal(st.connects, 2);
  assert_int_equal(st.data_out, 1);

  /* A second loss within the minute, this time the socket failing under
   * A (the driver reports it): twice the wait. */
  advance(h, h->now + 1000);
  tw_time_ms t2 = h->now;
  c = conn_to(h, a, r0);
  assert_non_null(c);
  c->eof_told = true;
  tw_tcp_conns_handle_closed(a->tc, c->handle, h->now);
  pump(h); /* the relay sees the socket close */
  assert_true(c->srv_closed);
  assert_int_equal(a->closes, 0);
  assert_false(tw_tcp_conns_peer_online(a->tc, &ab));
  assert_false(tw_tcp_conns_peer_online(b->tc, &ba));
  assert_true(tw_tcp_conns_next_deadline(a->tc) == t2 + 2 * SPEC_RETRY_MS);
  advance(h, t2 + 2 * SPEC_RETRY_MS - 1);
  assert_int_equal(a->opens, 2);
  advance(h, t2 + 2 * SPEC_RETRY_MS);
  assert_int_equal(a->opens, 3);
  assert_true(a->open_at == t2 + 2 * SPEC_RETRY_MS);
  pump(h);
  assert_true(tw_tcp_conns_peer_online(a->tc, &ab));
  assert_true(tw_tcp_conns_peer_online(b->tc, &ba));
  check_send(h, b, &ba, a, &ab, 700, 0x13);
  assert_int_equal(stats(a).disconnects, 2);
}

/* A driver that cannot open a socket, or a relay that refuses the
 * connection: retried with the same backoff, until it connects. */
static void test_failed_connects_back_off(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h);
  node *a = node_add(h);
  a->refuse_opens = 1;
  assert_int_equal(tw_tcp_conns_add_relay(a->tc, &r0->info, h->now), TW_OK);
  assert_int_equal(a->opens, 1);
  assert_null(conn_to(h, a, r0));
  assert_true(tw_tcp_conns_next_deadline(a->tc) == T0 + SPEC_RETRY_MS);
  advance(h, T0 + SPEC_RETRY_MS - 1);
  assert_int_equal(a->opens, 1);

  a->refuse_connects = 1;
  advance(h, T0 + SPEC_RETRY_MS);
  assert_int_equal(a->opens, 2);
  assert_int_equal(a->refuse_connects, 0); /* it was tried, and refused */
  assert_int_equal(stats(a).relays_connected, 0);
  assert_true(tw_tcp_conns_next_deadline(a->tc) == T0 + 3 * SPEC_RETRY_MS);
  advance(h, T0 + 3 * SPEC_RETRY_MS - 1);
  assert_int_equal(a->opens, 2);
  advance(h, T0 + 3 * SPEC_RETRY_MS);
  assert_int_equal(a->opens, 3);
  tw_node_info got[1];
  assert_int_equal(tw_tcp_conns_connected(a->tc, got, 1), 1);
  assert_int_equal(stats(a).connects, 1);
  assert_int_equal(a->closes, 0); /* refused sockets are the driver's to close */
}

/* peer_remove gives the relay its route back (the other side sees the peer
 * go offline) and closes a relay only that peer needed, keeping our own.
 * The relay it closed is not opened again. */
static void test_peer_remove_disconnects_and_closes_its_relay(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h), *r1 = relay_add(h);
  node *a = node_add(h), *b = node_add(h);
  /* A: r1 only for B (added first, so it has the lower slot), r0 its own.
   * B: both its own. */
  tw_addr ab, ba;
  assert_int_equal(tw_tcp_conns_peer_add(a->tc, &b->kp.pk, &ab, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_add_relay(a->tc, &ab, &r1->info, h->now), TW_OK);
  own_relay(h, a, r0);
  own_relay(h, b, r0);
  own_relay(h, b, r1);
  assert_int_equal(tw_tcp_conns_peer_add(b->tc, &a->kp.pk, &ba, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_add_relay(a->tc, &ab, &r0->info, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_add_relay(b->tc, &ba, &r0->info, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_add_relay(b->tc, &ba, &r1->info, h->now), TW_OK);
  pump(h);
  assert_int_equal(tw_tcp_conns_peer_relays(a->tc, &ab), 2);
  assert_true(tw_tcp_conns_peer_online(b->tc, &ba));
  assert_int_equal(srv_stats(r0).links_connected, 1);
  assert_int_equal(srv_stats(r1).links_connected, 1);
  tw_node_info got[4];
  assert_int_equal(tw_tcp_conns_connected(a->tc, got, 4), 2);
  assert_memory_equal(got[0].pk.bytes, r0->kp.pk.bytes, TW_PUBLIC_KEY_SIZE); /* ours first */
  assert_memory_equal(got[1].pk.bytes, r1->kp.pk.bytes, TW_PUBLIC_KEY_SIZE);
  conn *a_r1 = conn_to(h, a, r1);
  assert_non_null(a_r1);

  assert_int_equal(tw_tcp_conns_peer_remove(a->tc, &ab, h->now), TW_OK);
  assert_int_equal(a->closes, 1);
  assert_int_equal(a->close_handle, a_r1->handle);
  pump(h);
  assert_false(tw_tcp_conns_peer_online(b->tc, &ba));
  assert_false(tw_tcp_conns_peer_online(a->tc, &ab));
  /* r0 stays, and its link is gone there too (the disconnect), not only
   * r1's (the close). */
  assert_int_equal(srv_stats(r0).links_connected, 0);
  assert_int_equal(srv_stats(r0).clients, 2);
  assert_int_equal(srv_stats(r1).links_connected, 0);
  assert_int_equal(srv_stats(r1).clients, 1);
  assert_int_equal(tw_tcp_conns_connected(a->tc, got, 4), 1);
  assert_memory_equal(got[0].pk.bytes, r0->kp.pk.bytes, TW_PUBLIC_KEY_SIZE);
  tw_tcp_conns_stats st = stats(a);
  assert_int_equal(st.peers, 0);
  assert_int_equal(st.relays_connected, 1);

  uint8_t pkt[10] = {1};
  assert_int_equal(tw_tcp_conns_send(a->tc, &ab, pkt, sizeof pkt, h->now), TW_E_NOROUTE);
  advance(h, h->now + 10 * 60000);
  assert_int_equal(a->opens, 2); /* r0 and r1 once each */
  assert_int_equal(a->closes, 1);
  assert_int_equal(tw_tcp_conns_connected(a->tc, got, 4), 1);

  /* B again, on r1: r1 is opened at once (closing it was no failure). */
  assert_int_equal(tw_tcp_conns_peer_add(a->tc, &b->kp.pk, &ab, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_add_relay(a->tc, &ab, &r1->info, h->now), TW_OK);
  assert_int_equal(a->opens, 3);
  assert_addr_equal(&a->open_addr, &r1->info.addr);
  pump(h);
  assert_true(tw_tcp_conns_peer_online(a->tc, &ab));
  assert_true(tw_tcp_conns_peer_online(b->tc, &ba));
  /* Even at once after the removal. */
  assert_int_equal(tw_tcp_conns_peer_remove(a->tc, &ab, h->now), TW_OK);
  assert_int_equal(a->closes, 2);
  pump(h);
  assert_int_equal(tw_tcp_conns_peer_add(a->tc, &b->kp.pk, &ab, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_add_relay(a->tc, &ab, &r1->info, h->now), TW_OK);
  assert_int_equal(a->opens, 4);
  pump(h);
  assert_true(tw_tcp_conns_peer_online(a->tc, &ab));
}

/* Onion requests go to the relay by its key; the relay's response comes
 * back with the relay's address. */
static void test_onion_request_and_response(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h), *r1 = relay_add(h);
  node *a = node_add(h);
  uint8_t req[300], resp[400];
  fill_pattern(req, sizeof req, 0x80);
  fill_pattern(resp, sizeof resp, 0x8e);

  h->hold = true; /* known, not connected yet */
  assert_int_equal(tw_tcp_conns_add_relay(a->tc, &r0->info, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_send_onion(a->tc, &r0->kp.pk, req, sizeof req, h->now),
                   TW_E_NOROUTE);
  h->hold = false;
  pump(h);
  assert_int_equal(tw_tcp_conns_send_onion(a->tc, &r1->kp.pk, req, sizeof req, h->now),
                   TW_E_NOROUTE); /* a relay we are not on */
  tw_key nobody = test_key_fill(0x3c);
  assert_int_equal(tw_tcp_conns_send_onion(a->tc, &nobody, req, sizeof req, h->now), TW_E_NOROUTE);
  assert_int_equal(r1->onion_calls, 0);

  /* Through r1 (the second relay A knows): r1 gets it, r0 does not, and
   * r1's answer comes back with r1's address. */
  own_relay(h, a, r1);
  assert_int_equal(tw_tcp_conns_send_onion(a->tc, &r1->kp.pk, req, sizeof req, h->now), TW_OK);
  pump(h);
  assert_int_equal(r0->onion_calls, 0);
  assert_int_equal(r1->onion_calls, 1);
  assert_int_equal(r1->onion_len, sizeof req);
  assert_memory_equal(r1->onion_data, req, sizeof req);
  assert_int_equal(r1->onion_link, conn_to(h, a, r1)->id);
  tw_tcp_server_send_onion_response(r1->srv, r1->onion_link, resp, sizeof resp);
  pump(h);
  assert_int_equal(a->nonions, 1);
  assert_int_equal(a->onions[0].len, sizeof resp);
  assert_memory_equal(a->onions[0].data, resp, sizeof resp);
  assert_addr_equal(&a->onions[0].from, &r1->info.addr);

  /* And through r0. */
  fill_pattern(req, sizeof req, 0x90);
  fill_pattern(resp, 200, 0x9e);
  assert_int_equal(tw_tcp_conns_send_onion(a->tc, &r0->kp.pk, req, sizeof req, h->now), TW_OK);
  pump(h);
  assert_int_equal(r0->onion_calls, 1);
  assert_int_equal(r1->onion_calls, 1);
  assert_memory_equal(r0->onion_data, req, sizeof req);
  tw_tcp_server_send_onion_response(r0->srv, r0->onion_link, resp, 200);
  pump(h);
  assert_int_equal(a->nonions, 2);
  assert_int_equal(a->onions[1].len, 200);
  assert_memory_equal(a->onions[1].data, resp, 200);
  assert_addr_equal(&a->onions[1].from, &r0->info.addr);
  assert_int_equal(a->npkts, 0);
  tw_tcp_conns_stats st = stats(a);
  assert_int_equal(st.onion_out, 2);
  assert_int_equal(st.onion_in, 2);
}

/* Nothing to do: no deadline. A relay being connected: its handshake
 * timeout. Connected and idle: the keep-alive ping, no more often than the
 * ping interval, and the relay stays up. */
static void test_next_deadline_follows_ping(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h);
  node *a = node_add(h);
  assert_true(tw_tcp_conns_next_deadline(a->tc) == TW_NEVER);
  tw_addr ab; /* a peer without relays gives no work either */
  tw_key k = test_key_fill(0x21);
  assert_int_equal(tw_tcp_conns_peer_add(a->tc, &k, &ab, h->now), TW_OK);
  assert_true(tw_tcp_conns_next_deadline(a->tc) == TW_NEVER);

  h->hold = true;
  assert_int_equal(tw_tcp_conns_add_relay(a->tc, &r0->info, h->now), TW_OK);
  tw_time_ms d = tw_tcp_conns_next_deadline(a->tc);
  assert_true(d > h->now && d <= h->now + 10000);
  h->hold = false;
  pump(h);
  assert_int_equal(stats(a).relays_connected, 1);
  assert_int_equal(TW_TCP_PING_INTERVAL_MS, SPEC_PING_INTERVAL_MS);
  assert_true(tw_tcp_conns_next_deadline(a->tc) == h->now + SPEC_PING_INTERVAL_MS);

  int timers = a->timers;
  tw_time_ms start = h->now;
  for (int i = 0; i < 20; i++) {
    d = tw_tcp_conns_next_deadline(a->tc);
    assert_true(d != TW_NEVER);
    assert_true(d >= h->now + SPEC_PING_INTERVAL_MS);
    advance(h, d);
  }
  assert_true(a->timers - timers <= 20);
  assert_true(h->now >= start + 20 * SPEC_PING_INTERVAL_MS);
  tw_tcp_conns_stats st = stats(a);
  assert_int_equal(st.relays_connected, 1);
  assert_int_equal(st.connects, 1);
  assert_int_equal(st.disconnects, 0);
  assert_int_equal(a->opens, 1);
}

/* Reports for a handle that is not open (made up, or closed since) change
 * nothing. */
static void test_stale_handles_ignored(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h);
  node *a = node_add(h), *b = node_add(h);
  own_relay(h, a, r0);
  own_relay(h, b, r0);
  tw_addr ab, ba;
  befriend(h, a, b, r0, &ab, &ba);
  conn *c = conn_to(h, a, r0);
  uint32_t live = c->handle;
  tw_tcp_conns_stats before = stats(a);

  uint8_t junk[200];
  fill_pattern(junk, sizeof junk, 0xee);
  const uint32_t made_up[] = {0, 1, 0xff, 0xffffffffu, live ^ 0x100, live + 0x10000, live + 1};
  for (size_t i = 0; i < sizeof made_up / sizeof made_up[0]; i++) {
    uint32_t x = made_up[i];
    if (x == live) continue;
    tw_tcp_conns_handle_bytes(a->tc, x, junk, sizeof junk, h->now);
    tw_tcp_conns_handle_writable(a->tc, x, h->now);
    tw_tcp_conns_handle_connected(a->tc, x, h->now);
    tw_tcp_conns_handle_closed(a->tc, x, h->now);
  }
  pump(h);
  assert_int_equal(a->closes, 0);
  assert_int_equal(a->opens, 1);
  assert_true(tw_tcp_conns_peer_online(a->tc, &ab));
  tw_tcp_conns_stats after = stats(a);
  assert_int_equal(after.relays_connected, 1);
  assert_int_equal(after.disconnects, before.disconnects);
  check_send(h, a, &ab, b, &ba, 300, 0x31);

  /* The socket fails; once A has a new one, the old handle is stale. */
  c->eof_told = true;
  tw_tcp_conns_handle_closed(a->tc, live, h->now);
  pump(h);
  tw_tcp_conns_handle_closed(a->tc, live, h->now); /* twice: no second loss */
  tw_tcp_conns_handle_bytes(a->tc, live, junk, sizeof junk, h->now);
  assert_int_equal(stats(a).disconnects, 1);
  assert_true(tw_tcp_conns_next_deadline(a->tc) == h->now + SPEC_RETRY_MS);
  advance(h, h->now + SPEC_RETRY_MS);
  assert_int_equal(a->opens, 2);
  conn *c2 = conn_to(h, a, r0);
  assert_non_null(c2);
  assert_true(c2->handle != live);
  assert_true(tw_tcp_conns_peer_online(a->tc, &ab));
  tw_tcp_conns_handle_closed(a->tc, live, h->now);
  tw_tcp_conns_handle_bytes(a->tc, live, junk, sizeof junk, h->now);
  tw_tcp_conns_handle_connected(a->tc, live, h->now);
  pump(h);
  assert_int_equal(a->closes, 0);
  assert_int_equal(stats(a).disconnects, 1);
  assert_int_equal(stats(a).relays_connected, 1);
  assert_true(tw_tcp_conns_peer_online(a->tc, &ab));
  check_send(h, a, &ab, b, &ba, 300, 0x32);
}

/* The data relayed by rs so far. */
static uint64_t relayed(const relay_srv *rs) { return srv_stats(rs).data_relayed; }

/* A peer online on two relays: its packets stay on the relay that carried
 * the last one (in order), move to the other when that relay goes, and stay
 * there when the first comes back. */
static void test_packets_stay_on_one_relay_and_fail_over(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h), *r1 = relay_add(h);
  node *a = node_add(h), *b = node_add(h);
  own_relay(h, a, r0);
  own_relay(h, a, r1);
  own_relay(h, b, r0);
  own_relay(h, b, r1);
  tw_addr ab, ba;
  befriend(h, a, b, r0, &ab, &ba);
  assert_int_equal(tw_tcp_conns_peer_add_relay(a->tc, &ab, &r1->info, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_add_relay(b->tc, &ba, &r1->info, h->now), TW_OK);
  pump(h);
  assert_int_equal(tw_tcp_conns_peer_relays(a->tc, &ab), 2);
  assert_int_equal(srv_stats(r0).links_connected, 1);
  assert_int_equal(srv_stats(r1).links_connected, 1);

  check_send(h, a, &ab, b, &ba, 1200, 0x41);
  assert_int_equal(relayed(r0) + relayed(r1), 1);
  relay_srv *first = relayed(r0) == 1 ? r0 : r1, *other = first == r0 ? r1 : r0;
  for (int i = 0; i < 3; i++) check_send(h, a, &ab, b, &ba, 100, (uint8_t)(0x50 + i));
  assert_int_equal(relayed(first), 4);
  assert_int_equal(relayed(other), 0);

  /* first drops A: the packets go through the other relay, still as data. */
  tw_time_ms lost = h->now;
  conn *c = conn_to(h, a, first);
  tw_tcp_server_close(first->srv, c->id, h->now);
  c->srv_closed = true;
  pump(h);
  assert_true(tw_tcp_conns_peer_online(a->tc, &ab));
  assert_int_equal(tw_tcp_conns_peer_relays(a->tc, &ab), 1);
  check_send(h, a, &ab, b, &ba, 1200, 0x42);
  check_send(h, b, &ba, a, &ab, 1200, 0x43);
  assert_int_equal(relayed(other), 2);
  assert_int_equal(stats(a).oob_out, 0);

  /* first comes back; A's packets stay where they are. */
  advance(h, lost + SPEC_RETRY_MS);
  assert_int_equal(tw_tcp_conns_peer_relays(a->tc, &ab), 2);
  assert_int_equal(srv_stats(first).links_connected, 1);
  for (int i = 0; i < 3; i++) check_send(h, a, &ab, b, &ba, 100, (uint8_t)(0x60 + i));
  assert_int_equal(relayed(other), 5);
  assert_int_equal(relayed(first), 4);
}

/* The wait doubles with each failure, up to TW_TCP_CONNS_RETRY_MAX_MS,
 * whether open() fails (odd tries here) or the relay refuses (even). */
static void test_backoff_doubles_up_to_max(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h);
  node *a = node_add(h);
  a->refuse_opens = 1;
  assert_int_equal(tw_tcp_conns_add_relay(a->tc, &r0->info, h->now), TW_OK);
  static const tw_time_ms waits[] = {5000, 10000, 20000, 40000, 80000, 120000, 120000, 120000};
  assert_int_equal(TW_TCP_CONNS_RETRY_MAX_MS, 120000);
  for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
    assert_int_equal(a->opens, (int)i + 1);
    tw_time_ms last = a->open_at;
    assert_true(tw_tcp_conns_next_deadline(a->tc) == last + waits[i]);
    advance(h, last + waits[i] - 1);
    assert_int_equal(a->opens, (int)i + 1);
    size_t next_try = i + 2; /* the ninth connects */
    if (next_try < 9) *(next_try % 2 ? &a->refuse_opens : &a->refuse_connects) = 1;
    advance(h, last + waits[i]);
    assert_true(a->open_at == last + waits[i]);
  }
  assert_int_equal(a->opens, 9);
  assert_int_equal(stats(a).relays_connected, 1);
}

/* A relay that never answers the handshake (the TCP connect hangs) is
 * closed at the handshake timeout and tried again later. */
static void test_unanswered_handshake_closed_and_retried(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h);
  node *a = node_add(h);
  h->hold = true;
  assert_int_equal(tw_tcp_conns_add_relay(a->tc, &r0->info, h->now), TW_OK);
  uint32_t first = a->open_handle;
  advance(h, T0 + 10000 - 1);
  assert_int_equal(a->closes, 0);
  advance(h, T0 + 10000);
  assert_int_equal(a->closes, 1);
  assert_int_equal(a->close_handle, first);
  assert_int_equal(a->opens, 1);
  h->hold = false;
  advance(h, T0 + 10000 + SPEC_RETRY_MS - 1);
  assert_int_equal(a->opens, 1);
  advance(h, T0 + 10000 + SPEC_RETRY_MS);
  assert_int_equal(a->opens, 2);
  assert_true(a->open_handle != first);
  tw_tcp_conns_stats st = stats(a);
  assert_int_equal(st.relays_connected, 1);
  assert_int_equal(st.connects, 1);
  assert_int_equal(st.disconnects, 0); /* it never was up */
}

/* A relay that stops answering pings is closed when the ping times out
 * (not before), and opened again TW_TCP_CONNS_RETRY_MS later. */
static void test_silent_relay_closed_and_retried(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h);
  node *a = node_add(h);
  own_relay(h, a, r0);
  conn *c = conn_to(h, a, r0);
  c->deaf = true;
  tw_time_ms ping = T0 + TW_TCP_PING_INTERVAL_MS, dead = ping + TW_TCP_PING_TIMEOUT_MS;
  advance(h, dead - 1);
  assert_int_equal(a->closes, 0);
  assert_int_equal(stats(a).relays_connected, 1);
  advance(h, dead);
  assert_int_equal(a->closes, 1);
  assert_true(a->close_at == dead);
  assert_int_equal(a->close_handle, c->handle);
  assert_int_equal(stats(a).relays_connected, 0);
  assert_int_equal(stats(a).disconnects, 1);
  advance(h, dead + SPEC_RETRY_MS - 1);
  assert_int_equal(a->opens, 1);
  advance(h, dead + SPEC_RETRY_MS);
  assert_int_equal(a->opens, 2);
  assert_int_equal(stats(a).relays_connected, 1);
}

/* A socket whose write fails is closed (the peer goes offline) and opened
 * again later. */
static void test_write_failure_closes_and_retries(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h);
  node *a = node_add(h), *b = node_add(h);
  own_relay(h, a, r0);
  own_relay(h, b, r0);
  tw_addr ab, ba;
  befriend(h, a, b, r0, &ab, &ba);
  conn *c = conn_to(h, a, r0);
  c->broken = true;
  uint8_t pkt[100];
  fill_pattern(pkt, sizeof pkt, 0x71);
  assert_int_equal(tw_tcp_conns_send(a->tc, &ab, pkt, sizeof pkt, h->now), TW_OK); /* queued */
  tw_time_ms failed = h->now;
  pump(h);
  assert_int_equal(a->closes, 1);
  assert_int_equal(a->close_handle, c->handle);
  assert_int_equal(b->npkts, 0);
  assert_false(tw_tcp_conns_peer_online(a->tc, &ab));
  assert_false(tw_tcp_conns_peer_online(b->tc, &ba));
  advance(h, failed + SPEC_RETRY_MS);
  assert_int_equal(a->opens, 2);
  assert_true(tw_tcp_conns_peer_online(a->tc, &ab));
  check_send(h, a, &ab, b, &ba, 100, 0x72);
}

/* Relays nobody listens at, for counting what is opened. */
static tw_node_info fake_relay(int i) {
  return (tw_node_info){.pk = test_key_fill((uint8_t)(0x70 + i)),
                        .addr = test_addr4(198, 51, 100, (uint8_t)(i + 1), 443),
                        .tcp = true};
}

/* Of our own relays, TW_TCP_CONNS_OWN_RELAYS are kept connected; of a
 * peer's, TW_TCP_CONNS_PEER_CONNECT. When one fails, the next is opened. */
static void test_relays_connected_per_need_are_limited(void **state) {
  harness *h = h_new(state);
  node *a = node_add(h);
  h->hold = true; /* they all stay connecting */
  assert_int_equal(TW_TCP_CONNS_OWN_RELAYS, 3);
  assert_int_equal(TW_TCP_CONNS_PEER_CONNECT, 3);
  tw_node_info own[4], theirs[4];
  uint32_t own0 = 0;
  for (int i = 0; i < 4; i++) {
    own[i] = fake_relay(i);
    assert_int_equal(tw_tcp_conns_add_relay(a->tc, &own[i], h->now), TW_OK);
    if (i == 0) own0 = a->open_handle;
  }
  assert_int_equal(a->opens, 3);
  assert_addr_equal(&a->open_addr, &own[2].addr);
  assert_int_equal(stats(a).relays_known, 4);

  tw_addr ab;
  tw_key bk = test_key_fill(0x0b);
  assert_int_equal(tw_tcp_conns_peer_add(a->tc, &bk, &ab, h->now), TW_OK);
  for (int i = 0; i < 4; i++) {
    theirs[i] = fake_relay(10 + i);
    assert_int_equal(tw_tcp_conns_peer_add_relay(a->tc, &ab, &theirs[i], h->now), TW_OK);
  }
  assert_int_equal(a->opens, 6);
  assert_addr_equal(&a->open_addr, &theirs[2].addr);
  assert_int_equal(tw_tcp_conns_peer_relays(a->tc, &ab), 0); /* none connected yet */

  /* One of the peer's relays refuses: its fourth is opened at once. */
  conn *c = conn_find(a, a->open_handle);
  assert_non_null(c);
  c->eof_told = true;
  tw_tcp_conns_handle_closed(a->tc, c->handle, h->now);
  assert_int_equal(a->opens, 7);
  assert_addr_equal(&a->open_addr, &theirs[3].addr);

  /* One of our own refuses: the fourth of ours is opened. */
  c = conn_find(a, own0);
  assert_non_null(c);
  c->eof_told = true;
  tw_tcp_conns_handle_closed(a->tc, c->handle, h->now);
  assert_int_equal(a->opens, 8);
  assert_addr_equal(&a->open_addr, &own[3].addr);
}

/* An OOB packet from a peer we asked for, on a relay we did not know it
 * on: the relay is remembered for it and a route asked for there. */
static void test_oob_from_known_peer_links_its_relay(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h);
  node *a = node_add(h), *b = node_add(h);
  own_relay(h, a, r0);
  own_relay(h, b, r0);
  tw_addr ab, ba;
  assert_int_equal(tw_tcp_conns_peer_add(a->tc, &b->kp.pk, &ab, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_add_relay(a->tc, &ab, &r0->info, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_add(b->tc, &a->kp.pk, &ba, h->now), TW_OK);
  pump(h);
  assert_int_equal(tw_tcp_conns_peer_relays(b->tc, &ba), 0); /* B knows no relay for A */
  assert_false(tw_tcp_conns_peer_online(a->tc, &ab));

  check_send(h, a, &ab, b, &ba, 300, 0x81); /* OOB */
  assert_int_equal(stats(a).oob_out, 1);
  assert_int_equal(tw_tcp_conns_peer_relays(b->tc, &ba), 1);
  assert_true(tw_tcp_conns_peer_online(a->tc, &ab));
  assert_true(tw_tcp_conns_peer_online(b->tc, &ba));
  check_send(h, b, &ba, a, &ab, 1400, 0x82); /* data */
  assert_int_equal(stats(b).data_out, 1);
  assert_int_equal(stats(b).oob_out, 0);
}

/* A socket that takes a few bytes at a time: the module asks to be told
 * when it is writable, carries on from there, and stops asking once its
 * queue is empty. */
static void test_slow_socket_carries_everything(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h);
  node *a = node_add(h), *b = node_add(h);
  h->hold = true;
  assert_int_equal(tw_tcp_conns_add_relay(a->tc, &r0->info, h->now), TW_OK);
  conn *c = conn_to(h, a, r0);
  c->slow = 50; /* less than the handshake */
  h->hold = false;
  pump(h);
  assert_int_equal(stats(a).relays_connected, 1);
  assert_true(c->want_ons >= 1);
  own_relay(h, b, r0);
  tw_addr ab, ba;
  befriend(h, a, b, r0, &ab, &ba);
  int ons = c->want_ons;
  check_send(h, a, &ab, b, &ba, 1400, 0xa1);
  check_send(h, a, &ab, b, &ba, 2000, 0xa2);
  assert_true(c->want_ons > ons);
  assert_false(c->node_want);
}

/* A route the relay gives for a peer removed meanwhile is given back: the
 * other side, asking for us later, is never told we are online. */
static void test_route_for_removed_peer_given_back(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h);
  node *a = node_add(h), *b = node_add(h);
  own_relay(h, a, r0);
  own_relay(h, b, r0);
  tw_addr ab, ba;
  assert_int_equal(tw_tcp_conns_peer_add(a->tc, &b->kp.pk, &ab, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_add_relay(a->tc, &ab, &r0->info, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_remove(a->tc, &ab, h->now), TW_OK); /* asked, not answered */
  pump(h);
  assert_int_equal(a->closes, 0); /* r0 is ours */
  assert_int_equal(tw_tcp_conns_peer_add(b->tc, &a->kp.pk, &ba, h->now), TW_OK);
  assert_int_equal(tw_tcp_conns_peer_add_relay(b->tc, &ba, &r0->info, h->now), TW_OK);
  pump(h);
  assert_false(tw_tcp_conns_peer_online(b->tc, &ba));
  assert_int_equal(srv_stats(r0).links_connected, 0);
}

/* ---- bugs these tests found (fixed) ---- */

/* on_packet is where net_crypto learns that a friend's DHT key changed,
 * and friend_conn then removes the old key's peer. Removing the peer that
 * a relay only held for it closes that relay, from inside the relay
 * client's own handle_bytes. */
static void remove_sender(node *n, const tw_addr *from, tw_time_ms now) {
  n->on_packet_hook = NULL;
  assert_int_equal(tw_tcp_conns_peer_remove(n->tc, from, now), TW_OK);
}

static void test_peer_removed_from_on_packet(void **state) {
  harness *h = h_new(state);
  relay_srv *r0 = relay_add(h), *r1 = relay_add(h);
  node *a = node_add(h), *b = node_add(h);
  own_relay(h, a, r1);
  own_relay(h, b, r0);
  tw_addr ab, ba; /* B reaches A through r1 alone, a relay only A needs */
  befriend(h, a, b, r1, &ab, &ba);
  conn *b_r1 = conn_to(h, b, r1);
  assert_non_null(b_r1);
  b->on_packet_hook = remove_sender;
  uint8_t pkt[64];
  fill_pattern(pkt, sizeof pkt, 0x5e);
  assert_int_equal(tw_tcp_conns_send(a->tc, &ab, pkt, sizeof pkt, h->now), TW_OK);
  pump(h);
  assert_int_equal(b->npkts, 1);
  assert_int_equal(b->closes, 1);
  assert_int_equal(b->close_handle, b_r1->handle);
  assert_int_equal(stats(b).peers, 0);
  tw_node_info got[4];
  assert_int_equal(tw_tcp_conns_connected(b->tc, got, 4), 1);
}

/* More own relays than are kept connected: one whose retry time has come
 * while the others are up is not connected, and its retry time must not
 * stay the deadline (the driver would wake at once, forever). */
static void test_due_relay_not_wanted_does_not_spin(void **state) {
  harness *h = h_new(state);
  node *a = node_add(h);
  a->refuse_opens = 1; /* the first relay's first try fails */
  for (int i = 0; i <= TW_TCP_CONNS_OWN_RELAYS; i++) {
    tw_node_info r = fake_relay(i);
    assert_int_equal(tw_tcp_conns_add_relay(a->tc, &r, h->now), TW_OK);
  }
  assert_int_equal(a->opens, 1 + TW_TCP_CONNS_OWN_RELAYS);
  h->hold = true; /* the other three stay connecting */
  tw_time_ms due = T0 + SPEC_RETRY_MS;
  assert_true(tw_tcp_conns_next_deadline(a->tc) == due);
  h->now = due;
  tw_tcp_conns_on_timer(a->tc, h->now);
  assert_int_equal(a->opens, 1 + TW_TCP_CONNS_OWN_RELAYS); /* three are enough */
  assert_true(tw_tcp_conns_next_deadline(a->tc) > h->now);
}

/* relays_known counts the relays in the table (as peers counts peers): a
 * slot taken over from a relay nobody needs any more does not add one. */
static void test_relays_known_counts_the_table(void **state) {
  harness *h = h_new(state);
  node *a = node_add(h);
  h->hold = true;
  for (int pi = 0; pi < 3; pi++) { /* 3 peers x 6 relays; the first two removed */
    tw_addr x;
    tw_key k = test_key_fill((uint8_t)(0xc0 + pi));
    assert_int_equal(tw_tcp_conns_peer_add(a->tc, &k, &x, h->now), TW_OK);
    for (int i = 0; i < TW_TCP_CONNS_PEER_RELAYS; i++) {
      tw_node_info r = fake_relay(20 + pi * TW_TCP_CONNS_PEER_RELAYS + i);
      assert_int_equal(tw_tcp_conns_peer_add_relay(a->tc, &x, &r, h->now), TW_OK);
    }
    if (pi < 2) assert_int_equal(tw_tcp_conns_peer_remove(a->tc, &x, h->now), TW_OK);
  }
  assert_true(stats(a).relays_known <= TW_TCP_CONNS_MAX_RELAYS);
}

#define T(name) cmocka_unit_test_teardown(name, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_add_relay_opens_and_connects),
      T(test_linked_route_carries_data),
      T(test_one_sided_peer_goes_oob_and_stranger_answers),
      T(test_stranger_answered_on_its_relay),
      T(test_send_without_route_is_noroute),
      T(test_lost_relay_retried_with_backoff),
      T(test_failed_connects_back_off),
      T(test_peer_remove_disconnects_and_closes_its_relay),
      T(test_onion_request_and_response),
      T(test_next_deadline_follows_ping),
      T(test_stale_handles_ignored),
      T(test_packets_stay_on_one_relay_and_fail_over),
      T(test_backoff_doubles_up_to_max),
      T(test_unanswered_handshake_closed_and_retried),
      T(test_silent_relay_closed_and_retried),
      T(test_write_failure_closes_and_retries),
      T(test_relays_connected_per_need_are_limited),
      T(test_oob_from_known_peer_links_its_relay),
      T(test_slow_socket_carries_everything),
      T(test_route_for_removed_peer_given_back),
      T(test_peer_removed_from_on_packet),
      T(test_due_relay_not_wanted_does_not_spin),
      T(test_relays_known_counts_the_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
