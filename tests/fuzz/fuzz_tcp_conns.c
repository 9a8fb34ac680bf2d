/* Fuzzes a node's client side of TCP relays (include/toxwire/tcp_conns.h):
 * the relays are the attacker.
 *
 * Each input gets a fresh tw_tcp_conns with fixed keys and a fixed random
 * seed. The harness is its driver and every relay it dials: open(handle,
 * addr) gives a socket to the relay listening at addr (one of NRELAYS with
 * known key pairs, addresses 192.0.2.1.. port 33445; none listens
 * elsewhere). For a socket the harness reads the node's handshake with the
 * relay's secret key, answers it (tw_tcp_handshake_response_build) and owns
 * the relay's end of the stream, so what the fuzzer chooses is sealed as
 * frames the node opens. The first byte configures:
 *   bit 0  sockets open() asked for connect at once (else OP_CONNECT)
 *   bit 1  the relays answer handshakes at once (else OP_ANSWER)
 *   bit 2  the relays answer each route request with a fresh id
 *   bit 3  ... and a connect notification (the peer is online)
 *   bit 4  the relays answer the node's pings
 *   bit 5  set-up: own relays 0 and 1, peers 0..2 on relays 2, 3 and 0
 *   bit 6  short cuts: the relays' bytes arrive 7 bytes at a time
 * Then ops, one code byte each ([s] picks a live socket, [k] a key: bits
 * 0x80 a made-up key, 0x40 a key sharing peer k%8's first 16 bytes, else
 * peer k%8's; [r] a relay: r%NRELAYS, 0xff our own key, 0xfe no address):
 *   0 CONNECT [s]          a pending socket connects (s bit 7: refused)
 *   1 EOF [s]              the socket closes under the node
 *   2 ANSWER [s][how]      answer the handshake (how bit 0 clear: a byte
 *                          (how >> 1) is changed)
 *   3 FRAME [s][u16 n][..] plain bytes sealed as the relay's next frame
 *   4 RAW [s][u16 n][..]   raw bytes on the stream
 *   5 ROUTE [s][k][id]     route response (k & 0xc0 == 0: the k-th key the
 *                          node asked this relay for)
 *   6 NOTIFY [s][w][id]    connect (w even) / disconnect notification
 *   7 DATA [s][id][u16 n][..]
 *   8 OOB [s][k][u16 n][..]  OOB from key k
 *   9 ONION [s][u16 n][..] an onion response
 *  10 PING [s][b]  11 PONG [s][b] (b odd: answers the node's last ping)
 *  12 SEND [a][u16 n][..]  tw_tcp_conns_send to peer a%8, (a bit 7) an
 *                          address on_packet gave, (a bit 6) a made-up one
 *  13 SEND_ONION [r][u16 n][..]
 *  14 PEER [w][a][r]       add, remove, add relay r to, our relay r, remove
 *                          an address on_packet gave
 *  15 TICK [t]             time passes (t < 100: t * 50 ms, else t - 100 s);
 *                          on_timer when due
 *  16 TIMER [x]            on_timer now (x odd: at next_deadline)
 *  17 WRITABLE [s]  18 WMODE [s][m] (take all, some, none, fail)
 *  19 HOOK [m]             what on_packet does: nothing, answer, remove the
 *                          sender, remove every peer, add a relay to the
 *                          sender, add a peer, send an onion request,
 *                          answer then remove
 *  20 STALE [w][u16][u16]  a report on a closed or made-up handle
 *  21 OPENFAIL [n]  22 CUT [n]  23 FLUSH
 *  24 TRUNC [s][u16 n][..][c] a sealed frame, its last bytes never sent
 * After each op the harness pumps: connects, answers, delivers the relays'
 * bytes, reports writability, flushes, and the relays read the node.
 *
 * Invariants: the node only writes, watches and closes handles that are
 * open, connected for writes; never two sockets to one relay nor more than
 * TW_TCP_CONNS_MAX_CONNECTED; every frame the node sends opens and is a
 * packet a client may send: route requests for peers, data on an id the
 * relay gave out (while the relay never gave an id twice, to the key the
 * packet was sent to), OOB to peers or to keys that wrote through that
 * relay, payloads the harness passed to tw_tcp_conns_send / send_onion,
 * pongs for pings; on_packet's from is TW_AF_TCP_PEER and names the OOB
 * sender or the peer the id was given for, its bytes are those the relay
 * sealed; on_onion names the relay; the stats agree with the sockets
 * (relays_connected == connects - disconnects <= answered sockets);
 * after on_timer(now) the next deadline is later than now; freeing closes
 * every open handle.
 *
 * TW_FUZZ_WRITE_SEEDS=DIR: write hand-made seeds for corpus/tcp_conns to
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
#include "toxwire/tcp_conns.h"
#include "toxwire/tcp_relay.h"

#define T0 ((tw_time_ms)9000000)
#define NRELAYS 20 /* more than the table holds */
#define NPEERS 8
#define NSOCKS 24
#define MAX_OPS 1024
#define MAX_HOOKS 256
#define NEXPECT 64
#define NSENT 4096
#define NOOBFROM 2048
#define NLEARNED 8
#define NASKED 16
#define NPINGS 16
#define NDEAD 8
#define SINK_CAP (1024 * 1024)

enum { C_CONNECT = 1, C_ANSWER = 2, C_ROUTE = 4, C_ONLINE = 8, C_PONG = 16, C_SETUP = 32,
       C_CUT = 64 };
enum { OP_CONNECT, OP_EOF, OP_ANSWER, OP_FRAME, OP_RAW, OP_ROUTE, OP_NOTIFY, OP_DATA, OP_OOB,
       OP_ONION, OP_PING, OP_PONG, OP_SEND, OP_SEND_ONION, OP_PEER, OP_TICK, OP_TIMER,
       OP_WRITABLE, OP_WMODE, OP_HOOK, OP_STALE, OP_OPENFAIL, OP_CUT, OP_FLUSH, OP_TRUNC,
       OP_COUNT };
enum { W_ALL, W_SOME, W_NONE, W_FAIL };
enum { X_DATA = 1, X_OOB, X_ONION };

typedef struct buf {
  uint8_t *b;
  size_t n, cap;
} buf;

/* A packet a relay sealed that the node may hand up. */
typedef struct expect {
  uint8_t kind;
  bool named;     /* data: the id was given (once) to pk */
  tw_key pk;      /* OOB: the sender */
  uint64_t h;
  size_t len;
} expect;

typedef struct sock {
  bool used;
  uint32_t handle;
  int relay;      /* -1: nobody listens there */
  bool connected; /* handle_connected reported */
  bool hs_read, answered;
  uint8_t handshake[TW_TCP_HANDSHAKE_SIZE];
  tw_tcp_stream rs; /* the relay's end */
  buf from_node, to_node;
  bool want_write;
  uint8_t wmode;
  size_t some, budget;
  bool dishonest; /* the relay gave an id out twice */
  bool bound[TW_TCP_MAX_LINKS];
  tw_key bound_pk[TW_TCP_MAX_LINKS];
  unsigned next_id;
  tw_key asked[NASKED];
  unsigned nasked;
  uint64_t node_ping;
  uint64_t pings[NPINGS]; /* the relay's */
  unsigned npings;
  expect ex[NEXPECT];
  unsigned ex_head, ex_n;
} sock;

typedef struct sent {
  uint64_t h;
  size_t len;
  uint8_t prefix[16];
  int relay; /* onion requests: the relay; -1 for tw_tcp_conns_send */
} sent;

typedef struct oobfrom {
  int relay;
  tw_key pk;
} oobfrom;

typedef struct world {
  tw_tcp_conns *tc;
  fuzz_rng rng;
  tw_env env;
  tw_time_ms now;
  uint8_t conf;
  sock s[NSOCKS];
  int feeding; /* the socket whose bytes are being handed in, or -1 */
  uint32_t feeding_handle;
  size_t cut;
  unsigned open_fail;
  bool peer_live[NPEERS], peer_ever[NPEERS];
  tw_addr learned[NLEARNED];
  unsigned nlearned;
  uint8_t hook;
  unsigned hooks;
  sent sent[NSENT];
  size_t nsent;
  oobfrom oob[NOOBFROM];
  size_t noob;
  bool overflow; /* a table above filled: content checks off */
  uint32_t dead[NDEAD];
  unsigned ndead;
  unsigned opens, closes;
  uint64_t on_packets, on_onions, timers;
} world;

static world g;
static tw_keypair g_self, g_relays[NRELAYS], g_peers[NPEERS];
static tw_node_info g_relay_info[NRELAYS];

static void init_once(void) {
  static int done;
  if (done) return;
  done = 1;
  (void)fuzz_me();
  fuzz_rng r = {0x7463702d636f6eULL};
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &r};
  tw_keypair_generate(&g_self, &env);
  for (int i = 0; i < NRELAYS; i++) {
    tw_keypair_generate(&g_relays[i], &env);
    tw_node_info *ni = &g_relay_info[i];
    memset(ni, 0, sizeof *ni);
    ni->pk = g_relays[i].pk;
    ni->addr.family = TW_AF_INET;
    ni->addr.ip[0] = 192;
    ni->addr.ip[1] = 0;
    ni->addr.ip[2] = 2;
    ni->addr.ip[3] = (uint8_t)(i + 1);
    ni->addr.port = 33445;
    ni->tcp = true;
  }
  for (int i = 0; i < NPEERS; i++) tw_keypair_generate(&g_peers[i], &env);
}

static uint64_t hash(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

static tw_key key_arg(uint8_t k) {
  tw_key pk = g_peers[k % NPEERS].pk;
  if (k & 0x80) memset(pk.bytes, k, sizeof pk.bytes);
  else if (k & 0x40) pk.bytes[31] ^= 0xa5; /* same address as the peer */
  return pk;
}

static tw_node_info relay_arg(uint8_t r) {
  tw_node_info ni = g_relay_info[r % NRELAYS];
  if (r == 0xff) ni.pk = g_self.pk;
  if (r == 0xfe) memset(&ni.addr, 0, sizeof ni.addr);
  return ni;
}

static tw_addr peer_addr(int i) {
  tw_addr a;
  memset(&a, 0, sizeof a);
  a.family = TW_AF_TCP_PEER;
  memcpy(a.ip, g_peers[i].pk.bytes, sizeof a.ip);
  a.port = 1;
  return a;
}

/* The peer an address names, or -1. */
static int peer_of(const tw_addr *a) {
  if (a->family != TW_AF_TCP_PEER) return -1;
  for (int i = 0; i < NPEERS; i++)
    if (memcmp(a->ip, g_peers[i].pk.bytes, sizeof a->ip) == 0) return i;
  return -1;
}

static void buf_put(buf *b, const uint8_t *p, size_t len) {
  if (len == 0) return;
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
}

static void buf_free(buf *b) {
  free(b->b);
  memset(b, 0, sizeof *b);
}

/* ---- sockets ---- */

static sock *sock_of(uint32_t handle) {
  for (int i = 0; i < NSOCKS; i++)
    if (g.s[i].used && g.s[i].handle == handle) return &g.s[i];
  return NULL;
}

static int live_count(void) {
  int n = 0;
  for (int i = 0; i < NSOCKS; i++) n += g.s[i].used;
  return n;
}

/* The sel-th live socket matching (connected, answered: required when set). */
static sock *sock_pick(uint8_t sel, bool need_conn, bool need_answer) {
  int n = 0;
  for (int i = 0; i < NSOCKS; i++)
    n += g.s[i].used && (!need_conn || g.s[i].connected) && (!need_answer || g.s[i].answered);
  if (n == 0) return NULL;
  int want = sel % n;
  for (int i = 0; i < NSOCKS; i++)
    if (g.s[i].used && (!need_conn || g.s[i].connected) && (!need_answer || g.s[i].answered) &&
        want-- == 0)
      return &g.s[i];
  return NULL;
}

static void sock_drop(sock *k) {
  tw_tcp_stream_clear(&k->rs);
  buf_free(&k->from_node);
  buf_free(&k->to_node);
  g.dead[g.ndead++ % NDEAD] = k->handle;
  memset(k, 0, sizeof *k);
}

/* ---- the driver ---- */

static int drv_open(void *ctx, uint32_t handle, const tw_addr *addr) {
  FUZZ_CHECK(ctx == &g);
  FUZZ_CHECK(sock_of(handle) == NULL); /* a live handle is never reused */
  int relay = -1;
  for (int i = 0; i < NRELAYS; i++)
    if (tw_addr_equal(addr, &g_relay_info[i].addr)) relay = i;
  FUZZ_CHECK(relay >= 0); /* only relays it was given are dialled */
  for (int i = 0; i < NSOCKS; i++) FUZZ_CHECK(!g.s[i].used || g.s[i].relay != relay);
  g.opens++;
  if (g.open_fail > 0) {
    g.open_fail--;
    return TW_E_IO;
  }
  sock *k = NULL;
  for (int i = 0; i < NSOCKS && k == NULL; i++)
    if (!g.s[i].used) k = &g.s[i];
  FUZZ_CHECK(k != NULL);
  memset(k, 0, sizeof *k);
  k->used = true;
  k->handle = handle;
  k->relay = relay;
  k->some = 1;
  FUZZ_CHECK(live_count() <= TW_TCP_CONNS_MAX_CONNECTED);
  return TW_OK;
}

static void drv_close(void *ctx, uint32_t handle) {
  FUZZ_CHECK(ctx == &g);
  sock *k = sock_of(handle);
  FUZZ_CHECK(k != NULL); /* only open handles are closed, once */
  g.closes++;
  sock_drop(k);
}

static long drv_write(void *ctx, uint32_t handle, const uint8_t *bytes, size_t len) {
  FUZZ_CHECK(ctx == &g && len > 0);
  sock *k = sock_of(handle);
  FUZZ_CHECK(k != NULL && k->connected);
  size_t take = len;
  switch (k->wmode) {
  case W_ALL: break;
  case W_SOME:
    if (take > k->budget) take = k->budget;
    k->budget -= take;
    break;
  case W_NONE: return 0;
  default: return -1;
  }
  if (k->from_node.n + take > SINK_CAP) take = SINK_CAP - k->from_node.n;
  buf_put(&k->from_node, bytes, take);
  /* Nothing but the handshake before the relay answered it. */
  if (!k->answered) FUZZ_CHECK(k->from_node.n <= TW_TCP_HANDSHAKE_SIZE);
  return (long)take;
}

static void drv_want_write(void *ctx, uint32_t handle, bool on) {
  FUZZ_CHECK(ctx == &g);
  sock *k = sock_of(handle);
  FUZZ_CHECK(k != NULL && k->connected);
  k->want_write = on;
}

/* ---- what the node was sent ---- */

static void note_sent(const uint8_t *p, size_t len, const uint8_t *prefix, int relay) {
  if (g.nsent == NSENT) {
    g.overflow = true;
    return;
  }
  sent *s = &g.sent[g.nsent++];
  s->h = hash(p, len);
  s->len = len;
  memcpy(s->prefix, prefix, 16);
  s->relay = relay;
}

static bool was_sent(const uint8_t *p, size_t len, const uint8_t *prefix, int relay) {
  if (g.overflow) return true;
  uint64_t h = hash(p, len);
  for (size_t i = 0; i < g.nsent; i++) {
    const sent *s = &g.sent[i];
    if (s->h != h || s->len != len || s->relay != relay) continue;
    if (prefix == NULL || memcmp(s->prefix, prefix, 16) == 0) return true;
  }
  return false;
}

static void note_oob_from(int relay, const tw_key *pk) {
  for (size_t i = 0; i < g.noob; i++)
    if (g.oob[i].relay == relay && tw_key_equal(&g.oob[i].pk, pk)) return;
  if (g.noob == NOOBFROM) {
    g.overflow = true;
    return;
  }
  g.oob[g.noob++] = (oobfrom){.relay = relay, .pk = *pk};
}

/* May the node write to pk through relay? Peers it was given, and keys
 * that wrote to it through that relay. */
static bool oob_target_ok(int relay, const tw_key *pk) {
  if (g.overflow) return true;
  for (int i = 0; i < NPEERS; i++)
    if (g.peer_ever[i] && tw_key_equal(pk, &g_peers[i].pk)) return true;
  for (size_t i = 0; i < g.noob; i++)
    if (g.oob[i].relay == relay && tw_key_equal(&g.oob[i].pk, pk)) return true;
  return false;
}

static void learn(const tw_addr *a) {
  for (unsigned i = 0; i < g.nlearned && i < NLEARNED; i++)
    if (tw_addr_equal(&g.learned[i], a)) return;
  g.learned[g.nlearned++ % NLEARNED] = *a;
}

/* ---- the node's calls (also from inside on_packet) ---- */

static int node_send(const tw_addr *to, const uint8_t *p, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  if (copy == NULL) abort();
  memcpy(copy, p, len);
  int rc = tw_tcp_conns_send(g.tc, to, copy, len, g.now);
  FUZZ_CHECK(fuzz_known_error(rc));
  if (len == 0) FUZZ_CHECK(rc != TW_OK);
  if (to->family != TW_AF_TCP_PEER) FUZZ_CHECK(rc == TW_E_NOROUTE);
  if (rc == TW_OK) note_sent(copy, len, to->ip, -1);
  free(copy);
  return rc;
}

static void node_send_onion(uint8_t r, const uint8_t *p, size_t len) {
  tw_node_info ni = relay_arg(r);
  uint8_t *copy = malloc(len ? len : 1);
  if (copy == NULL) abort();
  memcpy(copy, p, len);
  int rc = tw_tcp_conns_send_onion(g.tc, &ni.pk, copy, len, g.now);
  FUZZ_CHECK(fuzz_known_error(rc));
  if (len == 0) FUZZ_CHECK(rc != TW_OK);
  if (rc == TW_OK) {
    FUZZ_CHECK(r != 0xff);
    note_sent(copy, len, ni.pk.bytes, r % NRELAYS);
  }
  free(copy);
}

static void node_peer_add(int i) {
  tw_addr a;
  int rc = tw_tcp_conns_peer_add(g.tc, &g_peers[i].pk, &a, g.now);
  FUZZ_CHECK(rc == TW_OK);
  tw_addr want = peer_addr(i);
  FUZZ_CHECK(a.family == TW_AF_TCP_PEER && memcmp(a.ip, want.ip, sizeof a.ip) == 0);
  g.peer_live[i] = g.peer_ever[i] = true;
}

static void node_peer_remove(const tw_addr *a) {
  int i = peer_of(a);
  bool live = i >= 0 && g.peer_live[i];
  int rc = tw_tcp_conns_peer_remove(g.tc, a, g.now);
  FUZZ_CHECK(rc == (live ? TW_OK : TW_E_NOTFOUND));
  if (live) g.peer_live[i] = false;
}

static void node_peer_add_relay(const tw_addr *a, uint8_t r) {
  tw_node_info ni = relay_arg(r);
  int i = peer_of(a);
  int rc = tw_tcp_conns_peer_add_relay(g.tc, a, &ni, g.now);
  FUZZ_CHECK(fuzz_known_error(rc));
  if (i < 0 || !g.peer_live[i]) FUZZ_CHECK(rc == TW_E_NOTFOUND);
  else if (r == 0xfe) FUZZ_CHECK(rc == TW_E_ADDR);
  else if (r == 0xff) FUZZ_CHECK(rc == TW_E_SELF);
  else FUZZ_CHECK(rc == TW_OK || rc == TW_E_FULL);
}

static void node_add_relay(uint8_t r) {
  tw_node_info ni = relay_arg(r);
  int rc = tw_tcp_conns_add_relay(g.tc, &ni, g.now);
  if (r == 0xfe) FUZZ_CHECK(rc == TW_E_ADDR);
  else if (r == 0xff) FUZZ_CHECK(rc == TW_E_SELF);
  else FUZZ_CHECK(rc == TW_OK || rc == TW_E_FULL);
}

/* ---- the node's callbacks ---- */

static sock *feeding(void) {
  FUZZ_CHECK(g.feeding >= 0); /* packets come only from handle_bytes */
  sock *k = &g.s[g.feeding];
  FUZZ_CHECK(k->used && k->handle == g.feeding_handle && k->answered);
  return k;
}

/* Would the node hand up e's bytes as coming from `from`? */
static bool expect_fits(const expect *e, const tw_addr *from, size_t len) {
  if (e->kind == X_DATA) {
    /* Data come on a route asked for a peer it still has. */
    int i = peer_of(from);
    if (i < 0 || !g.peer_live[i]) return false;
    return !e->named || memcmp(from->ip, e->pk.bytes, sizeof from->ip) == 0;
  }
  if (e->kind == X_OOB)
    return len <= TW_TCP_MAX_OOB_DATA && memcmp(from->ip, e->pk.bytes, sizeof from->ip) == 0;
  return true;
}

/* Takes the oldest packet the relay sealed that fits (kind X_ONION, or a
 * data or OOB packet from `from`) with these bytes; the ones before it were
 * dropped by the node. Aborts when there is none. */
static void take_expect(sock *k, bool onion, const tw_addr *from, const uint8_t *p, size_t len) {
  uint64_t h = hash(p, len);
  for (unsigned j = 0; j < k->ex_n; j++) {
    expect *e = &k->ex[(k->ex_head + j) % NEXPECT];
    if (e->h != h || e->len != len || (e->kind == X_ONION) != onion) continue;
    if (!onion && !expect_fits(e, from, len)) continue;
    k->ex_head = (k->ex_head + j + 1) % NEXPECT;
    k->ex_n -= j + 1;
    return;
  }
  FUZZ_CHECK(g.overflow || !"a packet the relay did not send, or from the wrong address");
}

static void hook(const tw_addr *from, const uint8_t *pkt, size_t len) {
  if (g.hook == 0 || g.hooks >= MAX_HOOKS) return;
  unsigned n = g.hooks++;
  switch (g.hook % 8) {
  case 1: node_send(from, pkt, len); break;
  case 2: node_peer_remove(from); break;
  case 3:
    for (int i = 0; i < NPEERS; i++)
      if (g.peer_live[i]) {
        tw_addr a = peer_addr(i);
        node_peer_remove(&a);
      }
    break;
  case 4: node_peer_add_relay(from, (uint8_t)(n % NRELAYS)); break;
  case 5: node_peer_add((int)(n % NPEERS)); break;
  case 6: node_send_onion((uint8_t)(n % 4), pkt, len); break;
  case 7:
    node_send(from, pkt, len);
    node_peer_remove(from);
    break;
  }
}

static void on_packet(void *ctx, const tw_addr *from, const uint8_t *pkt, size_t len,
                      tw_time_ms now) {
  FUZZ_CHECK(ctx == &g && now == g.now);
  FUZZ_CHECK(from != NULL && from->family == TW_AF_TCP_PEER);
  FUZZ_CHECK(pkt != NULL && len >= 1 && len <= TW_TCP_MAX_PACKET - 1);
  { volatile uint8_t last = pkt[len - 1]; (void)last; }
  g.on_packets++;
  take_expect(feeding(), false, from, pkt, len);
  learn(from);
  tw_addr copy = *from;
  uint8_t *p = malloc(len);
  if (p == NULL) abort();
  memcpy(p, pkt, len);
  hook(&copy, p, len);
  free(p);
}

static void on_onion(void *ctx, const tw_addr *relay_addr, const uint8_t *pkt, size_t len,
                     tw_time_ms now) {
  FUZZ_CHECK(ctx == &g && now == g.now);
  FUZZ_CHECK(pkt != NULL && len >= 1 && len <= TW_TCP_MAX_PACKET - 1);
  g.on_onions++;
  sock *k = feeding();
  FUZZ_CHECK(tw_addr_equal(relay_addr, &g_relay_info[k->relay].addr));
  take_expect(k, true, NULL, pkt, len);
  if (g.hook & 8 && g.hooks < MAX_HOOKS) {
    g.hooks++;
    for (int i = 0; i < NPEERS; i++)
      if (g.peer_live[i]) {
        tw_addr a = peer_addr(i);
        node_peer_remove(&a);
        break;
      }
  }
}

/* ---- checks ---- */

static void check(void) {
  tw_tcp_conns_stats st;
  tw_tcp_conns_get_stats(g.tc, &st);
  int live = 0, answered = 0, npeers = 0;
  for (int i = 0; i < NSOCKS; i++) {
    live += g.s[i].used;
    answered += g.s[i].used && g.s[i].answered;
  }
  for (int i = 0; i < NPEERS; i++) npeers += g.peer_live[i];
  FUZZ_CHECK(live <= TW_TCP_CONNS_MAX_CONNECTED);
  FUZZ_CHECK(st.relays_connected <= TW_TCP_CONNS_MAX_CONNECTED);
  FUZZ_CHECK(st.relays_connected <= (uint32_t)answered);
  FUZZ_CHECK(st.relays_known <= TW_TCP_CONNS_MAX_RELAYS);
  FUZZ_CHECK(st.relays_connected <= st.relays_known);
  FUZZ_CHECK(st.connects - st.disconnects == st.relays_connected);
  FUZZ_CHECK(st.peers == (uint32_t)npeers);
  FUZZ_CHECK(st.peers_online <= st.peers);
  tw_node_info out[TW_TCP_CONNS_MAX_RELAYS];
  size_t n = tw_tcp_conns_connected(g.tc, out, TW_TCP_CONNS_MAX_RELAYS);
  FUZZ_CHECK(n == st.relays_connected);
  for (size_t j = 0; j < n; j++) {
    FUZZ_CHECK(out[j].tcp);
    bool found = false;
    for (int i = 0; i < NSOCKS; i++) {
      sock *k = &g.s[i];
      if (k->used && k->answered && tw_addr_equal(&out[j].addr, &g_relay_info[k->relay].addr))
        found = tw_key_equal(&out[j].pk, &g_relay_info[k->relay].pk);
    }
    FUZZ_CHECK(found);
  }
  for (int i = 0; i < NPEERS; i++) {
    tw_addr a = peer_addr(i);
    size_t r = tw_tcp_conns_peer_relays(g.tc, &a);
    bool on = tw_tcp_conns_peer_online(g.tc, &a);
    FUZZ_CHECK(r <= TW_TCP_CONNS_PEER_RELAYS && r <= st.relays_connected);
    if (!g.peer_live[i]) FUZZ_CHECK(r == 0 && !on);
    if (on) FUZZ_CHECK(r >= 1);
  }
}

/* ---- the relays' ends ---- */

static long relay_take(void *ctx, void *user, const uint8_t *bytes, size_t len) {
  (void)user;
  buf_put(ctx, bytes, len);
  return (long)len;
}

static void relay_seal(sock *k, const uint8_t *plain, size_t len) {
  if (!k->answered) return;
  int rc = tw_tcp_stream_seal(&k->rs, plain, len, SIZE_MAX);
  FUZZ_CHECK(rc == TW_OK || (rc == TW_E_LONG && len > TW_TCP_MAX_PACKET));
  if (rc != TW_OK) return;
  size_t before = k->to_node.n;
  FUZZ_CHECK(tw_tcp_stream_write(&k->rs, relay_take, &k->to_node, NULL) >= 0);
  FUZZ_CHECK(k->rs.q_len == 0 && k->to_node.n == before + 2 + len + TW_MAC_SIZE);
  /* What the node should make of it. */
  tw_tcp_packet pk;
  if (tw_tcp_packet_parse(&pk, plain, len) != TW_OK) return;
  expect e = {0};
  switch (pk.kind) {
  case TW_TCP_ROUTE_RESPONSE:
    if (pk.conn_id >= TW_TCP_FIRST_CONN_ID) {
      unsigned i = pk.conn_id - TW_TCP_FIRST_CONN_ID;
      if (k->bound[i] && !tw_key_equal(&k->bound_pk[i], &pk.pk)) k->dishonest = true;
      k->bound[i] = true;
      k->bound_pk[i] = pk.pk;
    }
    return;
  case TW_TCP_PING:
    k->pings[k->npings++ % NPINGS] = pk.ping_id;
    return;
  case TW_TCP_OOB_RECV:
    e.kind = X_OOB;
    e.pk = pk.pk;
    note_oob_from(k->relay, &pk.pk);
    break;
  case TW_TCP_ONION_RESPONSE: e.kind = X_ONION; break;
  default:
    if (pk.kind < TW_TCP_FIRST_CONN_ID) return;
    e.kind = X_DATA;
    unsigned i = pk.conn_id - TW_TCP_FIRST_CONN_ID;
    if (k->bound[i] && !k->dishonest) {
      e.named = true;
      e.pk = k->bound_pk[i];
    }
    break;
  }
  e.h = hash(pk.data, pk.len);
  e.len = pk.len;
  if (k->ex_n == NEXPECT) {
    k->ex_head = (k->ex_head + 1) % NEXPECT;
    k->ex_n--;
    g.overflow = true;
  }
  k->ex[(k->ex_head + k->ex_n++) % NEXPECT] = e;
}

static bool read_handshake(sock *k) {
  if (k->hs_read) return true;
  if (k->from_node.n < TW_TCP_HANDSHAKE_SIZE) return false;
  memcpy(k->handshake, k->from_node.b, TW_TCP_HANDSHAKE_SIZE);
  memmove(k->from_node.b, k->from_node.b + TW_TCP_HANDSHAKE_SIZE,
          k->from_node.n - TW_TCP_HANDSHAKE_SIZE);
  k->from_node.n -= TW_TCP_HANDSHAKE_SIZE;
  k->hs_read = true;
  return true;
}

static void answer(sock *k, uint8_t how) {
  if (k->answered || !k->connected || !read_handshake(k)) return;
  const tw_keypair *rk = &g_relays[k->relay];
  tw_key pk;
  tw_tcp_handshake_client_pk(k->handshake, &pk);
  FUZZ_CHECK(tw_key_equal(&pk, &g_self.pk));
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_shared_key_compute(shared, &pk, rk->sk);
  tw_tcp_hello theirs, ours;
  FUZZ_CHECK(tw_tcp_handshake_open(k->handshake, shared, &theirs) == TW_OK);
  fuzz_rng rr = {0x5e1a0000ULL + (uint64_t)k->relay};
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &rr};
  tw_keypair temp;
  tw_keypair_generate(&temp, &env);
  ours.temp_pk = temp.pk;
  tw_random_bytes(&env, ours.base_nonce, TW_NONCE_SIZE);
  uint8_t nonce[TW_NONCE_SIZE], resp[TW_TCP_HANDSHAKE_RESPONSE_SIZE];
  tw_random_bytes(&env, nonce, sizeof nonce);
  tw_tcp_handshake_response_build(resp, shared, nonce, &ours);
  tw_shared_key_compute(k->rs.shared, &theirs.temp_pk, temp.sk);
  memcpy(k->rs.send_nonce, ours.base_nonce, TW_NONCE_SIZE);
  memcpy(k->rs.recv_nonce, theirs.base_nonce, TW_NONCE_SIZE);
  k->answered = true;
  if (!(how & 1)) resp[(how >> 1) % sizeof resp] ^= 0x20;
  buf_put(&k->to_node, resp, sizeof resp);
}

static void route_answer(sock *k, const tw_key *pk) {
  uint8_t out[64];
  unsigned id = 0;
  for (unsigned t = 0; t < TW_TCP_MAX_LINKS; t++) {
    unsigned i = (k->next_id + t) % TW_TCP_MAX_LINKS;
    if (!k->bound[i]) {
      id = i + TW_TCP_FIRST_CONN_ID;
      k->next_id = i + 1;
      break;
    }
  }
  relay_seal(k, out, tw_tcp_write_route_response(out, (uint8_t)id, pk));
  if (id != 0 && (g.conf & C_ONLINE))
    relay_seal(k, out, tw_tcp_write_notification(out, TW_TCP_CONNECT_NOTIFICATION, (uint8_t)id));
}

/* The relay reads what the node sent: each frame opens and is a packet a
 * client sends, for the right peers. */
static void relay_read(sock *k) {
  if (!k->answered || !read_handshake(k) || k->from_node.n == 0) return;
  buf in = k->from_node;
  k->from_node = (buf){0};
  const uint8_t *p = in.b;
  size_t n = in.n;
  for (;;) {
    const uint8_t *msg;
    size_t mlen;
    int got = tw_tcp_stream_next(&k->rs, &p, &n, 0, &msg, &mlen);
    FUZZ_CHECK(got == 0 || got == 1);
    if (got == 0) break;
    uint8_t plain[TW_TCP_MAX_FRAME_CIPHER];
    FUZZ_CHECK(tw_tcp_stream_open(&k->rs, msg, mlen, plain) == TW_OK);
    tw_tcp_packet pk;
    FUZZ_CHECK(tw_tcp_packet_parse(&pk, plain, mlen - TW_MAC_SIZE) == TW_OK);
    switch (pk.kind) {
    case TW_TCP_PING:
      k->node_ping = pk.ping_id;
      if (g.conf & C_PONG) {
        uint8_t out[16];
        relay_seal(k, out, tw_tcp_write_ping(out, TW_TCP_PONG, pk.ping_id));
      }
      break;
    case TW_TCP_PONG: {
      bool ok = false;
      for (unsigned i = 0; i < NPINGS && i < k->npings; i++) ok |= k->pings[i] == pk.ping_id;
      FUZZ_CHECK(ok);
      break;
    }
    case TW_TCP_ROUTE_REQUEST: {
      int i = -1;
      for (int j = 0; j < NPEERS; j++)
        if (tw_key_equal(&pk.pk, &g_peers[j].pk)) i = j;
      FUZZ_CHECK(i >= 0 && g.peer_ever[i]);
      k->asked[k->nasked++ % NASKED] = pk.pk;
      if (g.conf & C_ROUTE) route_answer(k, &pk.pk);
      break;
    }
    case TW_TCP_DISCONNECT_NOTIFICATION:
      k->bound[pk.conn_id - TW_TCP_FIRST_CONN_ID] = false;
      break;
    case TW_TCP_OOB_SEND:
      FUZZ_CHECK(oob_target_ok(k->relay, &pk.pk));
      FUZZ_CHECK(was_sent(pk.data, pk.len, pk.pk.bytes, -1));
      break;
    case TW_TCP_ONION_REQUEST:
      FUZZ_CHECK(was_sent(pk.data, pk.len, NULL, k->relay));
      break;
    default: {
      FUZZ_CHECK(pk.kind >= TW_TCP_FIRST_CONN_ID);
      unsigned i = pk.conn_id - TW_TCP_FIRST_CONN_ID;
      FUZZ_CHECK(k->bound[i]); /* an id this relay gave out */
      FUZZ_CHECK(was_sent(pk.data, pk.len, k->dishonest ? NULL : k->bound_pk[i].bytes, -1));
    }
    }
  }
  buf_free(&in);
}

/* ---- moving bytes ---- */

static void report_closed(sock *k) {
  uint32_t h = k->handle;
  sock_drop(k);
  tw_tcp_conns_handle_closed(g.tc, h, g.now);
}

static void connect_sock(sock *k, bool refuse) {
  if (k->connected) return;
  if (refuse) {
    report_closed(k);
    return;
  }
  k->connected = true;
  tw_tcp_conns_handle_connected(g.tc, k->handle, g.now);
}

static void deliver(sock *k) {
  if (!k->connected || k->to_node.n == 0) return;
  buf in = k->to_node;
  k->to_node = (buf){0};
  uint32_t h = k->handle;
  int saved = g.feeding;
  uint32_t saved_h = g.feeding_handle;
  g.feeding = (int)(k - g.s);
  g.feeding_handle = h;
  size_t step = g.cut ? g.cut : in.n;
  for (size_t off = 0; off < in.n && k->used && k->handle == h; off += step) {
    size_t len = in.n - off < step ? in.n - off : step;
    uint8_t *copy = malloc(len);
    if (copy == NULL) abort();
    memcpy(copy, in.b + off, len);
    tw_tcp_conns_handle_bytes(g.tc, h, copy, len, g.now);
    free(copy);
  }
  g.feeding = saved;
  g.feeding_handle = saved_h;
  buf_free(&in);
}

static void writable(sock *k) {
  if (!k->used || !k->connected) return;
  k->budget = k->some;
  tw_tcp_conns_handle_writable(g.tc, k->handle, g.now);
}

static void pump(void) {
  for (int round = 0; round < 8; round++) {
    for (int i = 0; i < NSOCKS; i++)
      if (g.s[i].used && !g.s[i].connected && (g.conf & C_CONNECT)) connect_sock(&g.s[i], false);
    for (int i = 0; i < NSOCKS; i++)
      if (g.s[i].used && (g.conf & C_ANSWER)) answer(&g.s[i], 1);
    for (int i = 0; i < NSOCKS; i++)
      if (g.s[i].used) deliver(&g.s[i]);
    for (int i = 0; i < NSOCKS; i++)
      if (g.s[i].used && g.s[i].want_write && g.s[i].wmode != W_NONE) writable(&g.s[i]);
    for (int i = 0; i < NSOCKS; i++) g.s[i].budget = g.s[i].some;
    tw_tcp_conns_flush(g.tc, g.now);
    for (int i = 0; i < NSOCKS; i++)
      if (g.s[i].used) relay_read(&g.s[i]);
    check();
    bool more = false;
    for (int i = 0; i < NSOCKS; i++) {
      sock *k = &g.s[i];
      if (!k->used) continue;
      if (k->connected && k->to_node.n > 0) more = true;
      if (!k->connected && (g.conf & C_CONNECT)) more = true;
      if (k->connected && !k->answered && (g.conf & C_ANSWER) &&
          k->from_node.n >= TW_TCP_HANDSHAKE_SIZE)
        more = true;
    }
    if (!more) break;
  }
}

static void timer(void) {
  tw_tcp_conns_on_timer(g.tc, g.now);
  g.timers++;
  tw_time_ms d = tw_tcp_conns_next_deadline(g.tc);
  FUZZ_CHECK(d > g.now); /* else a driver would spin */
}

static void tick(tw_time_ms dt) {
  g.now += dt;
  if (tw_tcp_conns_next_deadline(g.tc) <= g.now) timer();
}

/* ---- set-up ---- */

static void setup(uint8_t conf) {
  for (int i = 0; i < NSOCKS; i++) {
    tw_tcp_stream_clear(&g.s[i].rs);
    buf_free(&g.s[i].from_node);
    buf_free(&g.s[i].to_node);
  }
  memset(&g, 0, sizeof g);
  g.conf = conf;
  g.now = T0;
  g.feeding = -1;
  g.rng.state = 0x6e6f6465ULL;
  g.env.random_bytes = fuzz_rng_fill;
  g.env.random_ctx = &g.rng;
  g.env.log.fn = fuzz_discard_log;
  g.env.log.level = TW_LOG_DEBUG;
  if (conf & C_CUT) g.cut = 7;
  tw_tcp_conns_config c = {.dht_keys = g_self, .open = drv_open, .close = drv_close,
                           .write = drv_write, .want_write = drv_want_write, .io_ctx = &g,
                           .on_packet = on_packet, .on_onion = on_onion, .ctx = &g};
  g.tc = tw_tcp_conns_new(&c, &g.env, g.now);
  FUZZ_CHECK(g.tc != NULL);
  FUZZ_CHECK(tw_tcp_conns_next_deadline(g.tc) == TW_NEVER);
  if (conf & C_SETUP) {
    node_add_relay(0);
    node_add_relay(1);
    static const uint8_t on[3] = {2, 3, 0};
    for (int i = 0; i < 3; i++) {
      node_peer_add(i);
      tw_addr a = peer_addr(i);
      node_peer_add_relay(&a, on[i]);
    }
  }
  pump();
}

static void teardown(void) {
  tw_tcp_conns_free(g.tc);
  g.tc = NULL;
  /* Every handle it opened and the driver did not report closed. */
  FUZZ_CHECK(live_count() == 0);
}

/* ---- reading the input ---- */

static const uint8_t *get_bytes(fuzz_rd *r, size_t mod, size_t *len) {
  *len = fuzz_get16(r) % mod;
  return fuzz_getn(r, len);
}

static void run(fuzz_rd *r) {
  uint8_t out[TW_TCP_MAX_PACKET + 2];
  for (int ops = 0; r->pos < r->n && ops < MAX_OPS; ops++) {
    uint8_t code = fuzz_get8(r) % OP_COUNT;
    switch (code) {
    case OP_CONNECT: {
      uint8_t s = fuzz_get8(r);
      int n = 0;
      for (int i = 0; i < NSOCKS; i++) n += g.s[i].used && !g.s[i].connected;
      if (n == 0) break;
      int want = (s & 0x7f) % n;
      for (int i = 0; i < NSOCKS; i++)
        if (g.s[i].used && !g.s[i].connected && want-- == 0) {
          connect_sock(&g.s[i], s & 0x80);
          break;
        }
      break;
    }
    case OP_EOF: {
      sock *k = sock_pick(fuzz_get8(r), false, false);
      if (k) report_closed(k);
      break;
    }
    case OP_ANSWER: {
      sock *k = sock_pick(fuzz_get8(r), true, false);
      uint8_t how = fuzz_get8(r);
      if (k) answer(k, how);
      break;
    }
    case OP_FRAME:
    case OP_TRUNC: {
      sock *k = sock_pick(fuzz_get8(r), true, true);
      size_t len;
      const uint8_t *p = get_bytes(r, TW_TCP_MAX_PACKET + 2, &len);
      memcpy(out, p, len);
      if (code == OP_FRAME) {
        if (k) relay_seal(k, out, len);
        break;
      }
      uint8_t c = fuzz_get8(r);
      if (k == NULL || len > TW_TCP_MAX_PACKET) break;
      /* Seal it where it cannot be read as a whole: a frame cut short. */
      size_t before = k->to_node.n;
      relay_seal(k, out, len);
      size_t flen = k->to_node.n - before;
      if (flen) k->to_node.n -= 1 + c % flen;
      break;
    }
    case OP_RAW: {
      sock *k = sock_pick(fuzz_get8(r), true, false);
      size_t len;
      const uint8_t *p = get_bytes(r, 4096, &len);
      if (k) buf_put(&k->to_node, p, len);
      break;
    }
    case OP_ROUTE: {
      sock *k = sock_pick(fuzz_get8(r), true, true);
      uint8_t kk = fuzz_get8(r), id = fuzz_get8(r);
      if (k == NULL) break;
      tw_key pk = key_arg(kk);
      if ((kk & 0xc0) == 0 && k->nasked > 0)
        pk = k->asked[kk % (k->nasked < NASKED ? k->nasked : NASKED)];
      relay_seal(k, out, tw_tcp_write_route_response(out, id, &pk));
      break;
    }
    case OP_NOTIFY: {
      sock *k = sock_pick(fuzz_get8(r), true, true);
      uint8_t w = fuzz_get8(r), id = fuzz_get8(r);
      if (k)
        relay_seal(k, out, tw_tcp_write_notification(out, w & 1 ? TW_TCP_DISCONNECT_NOTIFICATION
                                                               : TW_TCP_CONNECT_NOTIFICATION,
                                                     id));
      break;
    }
    case OP_DATA: {
      sock *k = sock_pick(fuzz_get8(r), true, true);
      uint8_t id = fuzz_get8(r);
      size_t len;
      const uint8_t *p = get_bytes(r, TW_TCP_MAX_PACKET, &len);
      if (k) relay_seal(k, out, tw_tcp_write_data(out, id, p, len));
      break;
    }
    case OP_OOB: {
      sock *k = sock_pick(fuzz_get8(r), true, true);
      tw_key pk = key_arg(fuzz_get8(r));
      size_t len;
      const uint8_t *p = get_bytes(r, TW_TCP_MAX_OOB_DATA + 2, &len);
      if (k) relay_seal(k, out, tw_tcp_write_keyed(out, TW_TCP_OOB_RECV, &pk, p, len));
      break;
    }
    case OP_ONION: {
      sock *k = sock_pick(fuzz_get8(r), true, true);
      size_t len;
      const uint8_t *p = get_bytes(r, TW_TCP_MAX_PACKET, &len);
      if (k) relay_seal(k, out, tw_tcp_write_data(out, TW_TCP_ONION_RESPONSE, p, len));
      break;
    }
    case OP_PING:
    case OP_PONG: {
      sock *k = sock_pick(fuzz_get8(r), true, true);
      uint8_t b = fuzz_get8(r);
      if (k == NULL) break;
      uint64_t id = b ? 0x0101010101010101ULL * b : 0;
      if (code == OP_PONG && (b & 1)) id = k->node_ping;
      relay_seal(k, out, tw_tcp_write_ping(out, code == OP_PING ? TW_TCP_PING : TW_TCP_PONG, id));
      break;
    }
    case OP_SEND: {
      uint8_t a = fuzz_get8(r);
      size_t len;
      const uint8_t *p = get_bytes(r, TW_TCP_MAX_PACKET + 2, &len);
      tw_addr to = peer_addr(a % NPEERS);
      if ((a & 0x80) && g.nlearned > 0)
        to = g.learned[a % (g.nlearned < NLEARNED ? g.nlearned : NLEARNED)];
      else if (a & 0x40) {
        memset(to.ip, a, sizeof to.ip);
        if (a & 1) to = g_relay_info[a % NRELAYS].addr; /* not a peer address at all */
      }
      node_send(&to, p, len);
      break;
    }
    case OP_SEND_ONION: {
      uint8_t rr = fuzz_get8(r);
      size_t len;
      const uint8_t *p = get_bytes(r, TW_TCP_MAX_PACKET + 2, &len);
      node_send_onion(rr, p, len);
      break;
    }
    case OP_PEER: {
      uint8_t w = fuzz_get8(r), a = fuzz_get8(r), rr = fuzz_get8(r);
      tw_addr pa = peer_addr(a % NPEERS);
      switch (w % 5) {
      case 0: node_peer_add(a % NPEERS); break;
      case 1: node_peer_remove(&pa); break;
      case 2: node_peer_add_relay(&pa, rr); break;
      case 3: node_add_relay(rr); break;
      case 4:
        if (g.nlearned > 0) node_peer_remove(&g.learned[a % (g.nlearned < NLEARNED ? g.nlearned : NLEARNED)]);
        break;
      }
      break;
    }
    case OP_TICK: {
      uint8_t t = fuzz_get8(r);
      tick(t < 100 ? (tw_time_ms)t * 50 : (tw_time_ms)(t - 100) * 1000);
      break;
    }
    case OP_TIMER: {
      uint8_t x = fuzz_get8(r);
      tw_time_ms d = tw_tcp_conns_next_deadline(g.tc);
      if ((x & 1) && d != TW_NEVER && d > g.now) g.now = d;
      timer();
      break;
    }
    case OP_WRITABLE: {
      sock *k = sock_pick(fuzz_get8(r), true, false);
      if (k) writable(k);
      break;
    }
    case OP_WMODE: {
      sock *k = sock_pick(fuzz_get8(r), false, false);
      uint8_t m = fuzz_get8(r);
      if (k) {
        k->wmode = m & 3;
        k->some = 1 + (size_t)(m >> 2) * 37;
      }
      break;
    }
    case OP_HOOK: g.hook = fuzz_get8(r); break;
    case OP_STALE: {
      uint8_t w = fuzz_get8(r);
      uint32_t h = (uint32_t)fuzz_get16(r) << 16 | fuzz_get16(r);
      if (!(w & 0x80) && g.ndead > 0) h = g.dead[(w >> 2) % (g.ndead < NDEAD ? g.ndead : NDEAD)];
      if (sock_of(h) != NULL) break; /* live: not stale */
      switch (w & 3) {
      case 0: tw_tcp_conns_handle_connected(g.tc, h, g.now); break;
      case 1: {
        uint8_t junk[64];
        memset(junk, w, sizeof junk);
        tw_tcp_conns_handle_bytes(g.tc, h, junk, sizeof junk, g.now);
        break;
      }
      case 2: tw_tcp_conns_handle_writable(g.tc, h, g.now); break;
      case 3: tw_tcp_conns_handle_closed(g.tc, h, g.now); break;
      }
      break;
    }
    case OP_OPENFAIL: g.open_fail = fuzz_get8(r) % 4; break;
    case OP_CUT: g.cut = fuzz_get8(r); break;
    case OP_FLUSH: tw_tcp_conns_flush(g.tc, g.now); break;
    }
    pump();
  }
  /* Let it settle: from deadline to deadline. */
  for (int k = 0; k < 6; k++) {
    tw_time_ms d = tw_tcp_conns_next_deadline(g.tc);
    if (d == TW_NEVER) break;
    if (d > g.now) g.now = d;
    timer();
    pump();
  }
}

static void report(void) {
  static int verbose = -1;
  if (verbose < 0) verbose = getenv("TW_FUZZ_VERBOSE") != NULL;
  if (!verbose) return;
  tw_tcp_conns_stats st;
  tw_tcp_conns_get_stats(g.tc, &st);
  fprintf(stderr,
          "opens %u closes %u; relays known %u connected %u, connects %llu disconnects %llu; "
          "peers %u online %u; out data %llu oob %llu onion %llu; in data %llu oob %llu onion "
          "%llu; noroute %llu full %llu; on_packet %llu on_onion %llu timers %llu hooks %u%s\n",
          g.opens, g.closes, st.relays_known, st.relays_connected,
          (unsigned long long)st.connects, (unsigned long long)st.disconnects, st.peers,
          st.peers_online, (unsigned long long)st.data_out, (unsigned long long)st.oob_out,
          (unsigned long long)st.onion_out, (unsigned long long)st.data_in,
          (unsigned long long)st.oob_in, (unsigned long long)st.onion_in,
          (unsigned long long)st.dropped_noroute, (unsigned long long)st.dropped_full,
          (unsigned long long)g.on_packets, (unsigned long long)g.on_onions,
          (unsigned long long)g.timers, g.hooks, g.overflow ? " (overflow)" : "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_once();
  if (size == 0) return 0;
  setup(data[0]);
  fuzz_rd r = {data, size, 1};
  run(&r);
  check();
  report();
  teardown();
  return 0;
}

/* ---- seeds ---- */

/* An op with [a][u16 n][bytes]. */
static void op_bytes(fuzz_wr *w, uint8_t code, uint8_t a, const void *p, size_t n) {
  fuzz_op(w, code, a);
  fuzz_put16(w, (uint16_t)n);
  fuzz_putn(w, p, n);
}
static void op_data(fuzz_wr *w, uint8_t s, uint8_t id, const void *p, size_t n) {
  fuzz_op2(w, OP_DATA, s, id);
  fuzz_put16(w, (uint16_t)n);
  fuzz_putn(w, p, n);
}
static void op_oob(fuzz_wr *w, uint8_t s, uint8_t k, const void *p, size_t n) {
  fuzz_op2(w, OP_OOB, s, k);
  fuzz_put16(w, (uint16_t)n);
  fuzz_putn(w, p, n);
}

static void write_seeds(const char *dir) {
  init_once();
  mkdir(dir, 0755);
  static fuzz_wr w;
  w.n = 0;
  uint8_t payload[2100];
  for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 13 + 5);
  const uint8_t autos = C_CONNECT | C_ANSWER | C_ROUTE | C_PONG;

  /* Everything automatic: own relays and peers, routes come online, data
   * and OOB both ways, an onion round trip, a stranger answered. */
  fuzz_put8(&w, autos | C_ONLINE | C_SETUP);
  op_data(&w, 0, 16, payload, 200);
  op_data(&w, 1, 16, payload + 7, 40);
  op_oob(&w, 2, 1, payload, 100);    /* from a peer */
  op_oob(&w, 0, 0x9c, payload, 60);  /* from a stranger */
  op_bytes(&w, OP_ONION, 1, payload, 150);
  op_bytes(&w, OP_SEND, 0, payload, 300);
  op_bytes(&w, OP_SEND, 1, payload, 1100);
  op_bytes(&w, OP_SEND, 0x80, payload, 20);  /* to an address on_packet gave */
  op_bytes(&w, OP_SEND_ONION, 0, payload, 120);
  op_bytes(&w, OP_SEND_ONION, 5, payload, 120);
  fuzz_op(&w, OP_TICK, 140);
  fuzz_op(&w, OP_TIMER, 1);
  fuzz_seed(dir, "auto-online-traffic", &w);

  /* By hand: a peer's relay connects and answers when told; the route is
   * answered for the asked key, then notifications and data on it. */
  fuzz_put8(&w, 0x00);
  fuzz_op3(&w, OP_PEER, 0, 4, 0);
  fuzz_op3(&w, OP_PEER, 2, 4, 6);
  fuzz_op(&w, OP_CONNECT, 0);
  fuzz_op2(&w, OP_ANSWER, 0, 1);
  fuzz_op3(&w, OP_ROUTE, 0, 0, 16);
  fuzz_op3(&w, OP_NOTIFY, 0, 0, 16);
  op_data(&w, 0, 16, payload, 64);
  op_bytes(&w, OP_SEND, 4, payload, 64);
  fuzz_op3(&w, OP_NOTIFY, 0, 1, 16);
  op_bytes(&w, OP_SEND, 4, payload, 64);
  fuzz_op3(&w, OP_ROUTE, 0, 0x85, 17); /* a key it never asked for */
  op_data(&w, 0, 17, payload, 9);
  fuzz_op3(&w, OP_PEER, 1, 4, 0);
  op_data(&w, 0, 16, payload, 9);
  fuzz_seed(dir, "manual-route", &w);

  /* A peer removed from inside on_packet, and every peer removed; the
   * relays only they needed close. */
  fuzz_put8(&w, autos | C_ONLINE | C_SETUP);
  fuzz_op(&w, OP_HOOK, 7);
  op_data(&w, 2, 16, payload, 30);
  op_oob(&w, 1, 1, payload, 30);
  fuzz_op(&w, OP_HOOK, 3);
  op_oob(&w, 0, 2, payload, 30);
  fuzz_op(&w, OP_HOOK, 5);
  op_oob(&w, 0, 5, payload, 30);
  fuzz_op(&w, OP_HOOK, 4);
  op_oob(&w, 0, 5, payload, 30);
  fuzz_op(&w, OP_TICK, 110);
  fuzz_seed(dir, "hook-remove", &w);

  /* Relays that fail: open() refuses, a connection is refused, the answer
   * is corrupt, EOF; retries with back-off. */
  fuzz_put8(&w, C_SETUP);
  fuzz_op(&w, OP_OPENFAIL, 2);
  fuzz_op3(&w, OP_PEER, 3, 0, 7);
  fuzz_op(&w, OP_CONNECT, 0x80);
  fuzz_op(&w, OP_CONNECT, 0);
  fuzz_op2(&w, OP_ANSWER, 0, 0x10);
  fuzz_op(&w, OP_CONNECT, 0);
  fuzz_op2(&w, OP_ANSWER, 0, 1);
  fuzz_op(&w, OP_EOF, 0);
  for (int i = 0; i < 6; i++) fuzz_op(&w, OP_TIMER, 1);
  fuzz_op(&w, OP_TICK, 255);
  fuzz_seed(dir, "failures-backoff", &w);

  /* More relays than the table holds, more than may be connected. */
  fuzz_put8(&w, C_CONNECT | C_ANSWER | C_PONG);
  for (int i = 0; i < NPEERS; i++) fuzz_op3(&w, OP_PEER, 0, (uint8_t)i, 0);
  for (int i = 0; i < NRELAYS + 2; i++) fuzz_op3(&w, OP_PEER, 2, (uint8_t)i, (uint8_t)i);
  for (int i = 0; i < 5; i++) fuzz_op3(&w, OP_PEER, 3, 0, (uint8_t)(i + 10));
  fuzz_op3(&w, OP_PEER, 3, 0, 0xff);
  fuzz_op3(&w, OP_PEER, 3, 0, 0xfe);
  fuzz_op(&w, OP_TICK, 200);
  fuzz_seed(dir, "many-relays", &w);

  /* Garbage from the relay: bad kinds, short and long frames, raw bytes,
   * a frame cut short, cut reads. */
  fuzz_put8(&w, autos | C_SETUP | C_CUT);
  {
    static const uint8_t bad[][3] = {{0x0a, 1, 2}, {0x01, 5, 0}, {0x04, 0, 0},
                                     {0x00, 1, 1}, {0x08, 1, 1}, {0x06, 1, 1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) op_bytes(&w, OP_FRAME, 0, bad[i], 3);
  }
  op_bytes(&w, OP_FRAME, 1, payload, 0);
  op_bytes(&w, OP_FRAME, 1, payload, TW_TCP_MAX_PACKET);
  op_bytes(&w, OP_FRAME, 1, payload, TW_TCP_MAX_PACKET + 1);
  op_oob(&w, 0, 3, payload, TW_TCP_MAX_OOB_DATA + 1);
  op_oob(&w, 0, 3, payload, 0);
  fuzz_op2(&w, OP_PING, 0, 0);
  fuzz_op2(&w, OP_PONG, 0, 2);
  fuzz_op(&w, OP_CUT, 0);
  op_bytes(&w, OP_TRUNC, 2, payload, 50);
  fuzz_put8(&w, 40);
  op_bytes(&w, OP_RAW, 0, "\x07\xd0garbage", 9);
  op_data(&w, 1, 16, payload, 10);
  fuzz_seed(dir, "garbage", &w);

  /* Slow, stuck and failing sockets; writable reports; big sends. */
  fuzz_put8(&w, autos | C_ONLINE | C_SETUP);
  fuzz_op2(&w, OP_WMODE, 0, W_NONE);
  fuzz_op2(&w, OP_WMODE, 1, W_SOME | 5 << 2);
  for (int i = 0; i < 6; i++) op_bytes(&w, OP_SEND, (uint8_t)(i % 3), payload, 2000);
  fuzz_op(&w, OP_WRITABLE, 1);
  fuzz_op2(&w, OP_WMODE, 0, W_ALL);
  fuzz_op(&w, OP_WRITABLE, 0);
  fuzz_op2(&w, OP_WMODE, 2, W_FAIL);
  op_bytes(&w, OP_SEND, 2, payload, 100);
  fuzz_put8(&w, OP_FLUSH);
  fuzz_seed(dir, "slow-sockets", &w);

  /* Time: unanswered handshakes time out, pings unanswered, stale
   * handles reported after the close. */
  fuzz_put8(&w, C_CONNECT | C_SETUP);
  fuzz_op(&w, OP_TIMER, 1);
  fuzz_op(&w, OP_TIMER, 1);
  fuzz_op2(&w, OP_ANSWER, 0, 1);
  fuzz_op(&w, OP_TICK, 135);
  fuzz_op(&w, OP_TIMER, 1);
  fuzz_put8(&w, OP_STALE);
  fuzz_put8(&w, 0x01);
  fuzz_put16(&w, 0);
  fuzz_put16(&w, 0);
  fuzz_put8(&w, OP_STALE);
  fuzz_put8(&w, 0x03);
  fuzz_put16(&w, 0);
  fuzz_put16(&w, 0);
  fuzz_op(&w, OP_TIMER, 1);
  fuzz_op(&w, OP_TIMER, 1);
  fuzz_seed(dir, "timeouts-stale", &w);

  /* A peer removed and added again before the relay answered its route
   * request: two answers for one peer; data on the first id. */
  fuzz_put8(&w, C_CONNECT | C_ANSWER | C_PONG);
  fuzz_op3(&w, OP_PEER, 3, 0, 0);
  fuzz_op3(&w, OP_PEER, 0, 0, 0);
  fuzz_op3(&w, OP_PEER, 2, 0, 0);
  fuzz_op3(&w, OP_PEER, 1, 0, 0);
  fuzz_op3(&w, OP_PEER, 0, 0, 0);
  fuzz_op3(&w, OP_PEER, 2, 0, 0);
  fuzz_op3(&w, OP_ROUTE, 0, 0, 16);
  fuzz_op3(&w, OP_ROUTE, 0, 1, 17);
  fuzz_op3(&w, OP_NOTIFY, 0, 0, 16);
  op_data(&w, 0, 16, "x", 1);
  fuzz_op3(&w, OP_PEER, 1, 0, 0);
  fuzz_seed(dir, "readd-pending-route", &w);
}

FUZZ_SEED_WRITER(write_seeds)
