/* Scenario tests of net_crypto (spec "Net crypto"): cookies, the handshake,
 * sessions carrying lossless and lossy data, packet requests, congestion
 * window, kill.
 *
 * Two or three tw_nc instances talk through an in-test network. Every
 * datagram a tw_nc sends is queued with a delivery time (now + LATENCY_MS);
 * a per-test filter may drop, duplicate, delay (reorder) or hold it, and
 * the test may rewrite held bytes before releasing them. Time is a fake
 * clock that the network advances to the next delivery or the next
 * deadline a tw_nc asks for (no fixed tick). Randomness is testutil.h's
 * seeded generator, so every run is the same.
 *
 * Besides UDP addresses, the network carries packets to TW_AF_TCP_PEER
 * addresses (what tw_tcp_conns gives net_crypto for a peer behind TCP
 * relays): such a packet reaches the peer with that DHT key, from the
 * sender's relay address, as if a relay had carried it.
 *
 * Lossless payloads are generated from (index, sender, receiver), so the
 * receiver checks each one as it arrives: in order, every byte intact,
 * none twice, none from the wrong peer.
 *
 * Where a test must say something the wire alone cannot (a packet with a
 * chosen number, a packet request naming chosen packets), it seals the
 * packet with the sender's own session key and next nonce, read from
 * net_crypto's internal struct (nc_internal.h): exactly what that sender
 * would have put on the wire. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"
#include "core/packet_kind.h"
#include "netcrypto/nc_internal.h"
#include "netcrypto/nc_wire.h"
#include "testutil.h"
#include "toxwire/error.h"
#include "toxwire/netcrypto.h"
#include "toxwire/tcp_conns.h"

/* The spec's numbers, written out so a wrong library constant fails. */
#define SPEC_COOKIE_REQUEST 145
#define SPEC_COOKIE_RESPONSE 161
#define SPEC_HANDSHAKE 385
#define SPEC_MAX_PACKET 1400
#define SPEC_COOKIE_LIFETIME_MS 15000
#define SPEC_RETRY_MS 1000
#define SPEC_TRIES 8

#define LATENCY_MS 10
#define T0 ((tw_time_ms)5000000)
#define MAX_PEERS 4
#define MAX_CONNS 8
#define MAX_LOG 256
#define MAX_SENDS 256
#define MAX_LOSSY 64
#define MAX_RAW 64
#define NONE UINT32_MAX

/* ---- the in-test network ---- */

typedef struct dgram {
  int from; /* peer index */
  tw_addr src, to;
  uint8_t data[SPEC_MAX_PACKET + 64];
  size_t len;
  tw_time_ms at;
  uint64_t seq;
} dgram;

typedef enum fate { KEEP, DROP, DUP, HOLD } fate;

struct net;
struct peer;
typedef fate filter_fn(struct net *nt, dgram *d);
typedef void hook_fn(struct peer *p, const tw_nc_event *ev);

typedef struct evrec {
  tw_nc_event_kind kind;
  uint32_t conn;
  tw_time_ms time;
  tw_nc_state state, old_state;
  int reason;
  tw_key dht_pk;
  tw_addr addr;
} evrec;

typedef struct sendrec {
  uint8_t kind;
  tw_time_ms at;
  tw_addr to;
} sendrec;

typedef struct peer {
  struct net *net;
  int idx;
  tw_nc *nc;
  tw_keypair self, dht;
  tw_addr addr;
  test_rng rng;
  uint32_t conn[MAX_PEERS];      /* our connection to peer j, or NONE */
  int conn_peer[MAX_CONNS];      /* the peer a connection id is for */
  /* events other than lossless, lossy and acked */
  evrec log[MAX_LOG];
  int nlog;
  /* lossless: generated payloads checked as they come */
  bool gen_check;
  uint32_t rx_next[MAX_CONNS];   /* next generated index expected */
  uint32_t rx_pn[MAX_CONNS];     /* next packet number expected */
  uint64_t rx_total, rx_bad;
  uint32_t tx_next[MAX_CONNS];   /* next generated index to send */
  struct {
    uint32_t conn, number;
    uint8_t data[SPEC_MAX_PACKET];
    size_t len;
  } raw[MAX_RAW];                 /* the first lossless events, as they came */
  int nraw;
  struct {
    uint32_t conn;
    uint8_t data[64];
    size_t len;
  } lossy[MAX_LOSSY];
  int nlossy;
  uint64_t acked_events;
  uint32_t last_send_acked;
  /* what it sent */
  sendrec sends[MAX_SENDS];
  uint64_t nsends;
  uint64_t sent_kind[256];
  /* what became of what it received */
  uint64_t rc[TW_ERROR_COUNT];   /* by -rc */
  hook_fn *hook;
  int hook_arg;
} peer;

typedef struct net {
  peer p[MAX_PEERS];
  int n;
  tw_time_ms now;
  dgram **q; /* a binary heap by (at, seq) */
  size_t nq, capq;
  uint64_t seq;
  dgram **held;
  size_t nheld, capheld;
  filter_fn *filter;
  int fsrc, fdst;   /* the filter acts on packets from fsrc to fdst (-1: any) */
  uint8_t fkind;    /* and of this kind (0: any) */
  uint64_t fk;      /* packets the filter has matched */
  uint64_t fparam;
  uint64_t fcount[MAX_PEERS];
  uint64_t undeliverable;
  int last_rc;
  bool udp_down; /* every UDP datagram is lost (relays still carry theirs) */
  uint64_t udp_sent, tcp_sent, udp_data_sent, tcp_data_sent;
} net;

static net *g_net;

static bool dg_before(const dgram *a, const dgram *b) {
  return a->at != b->at ? a->at < b->at : a->seq < b->seq;
}

static void q_push(net *nt, dgram *d) {
  if (nt->nq == nt->capq) {
    nt->capq = nt->capq ? nt->capq * 2 : 256;
    nt->q = realloc(nt->q, nt->capq * sizeof *nt->q);
    assert_non_null(nt->q);
  }
  size_t i = nt->nq++;
  nt->q[i] = d;
  while (i > 0) {
    size_t up = (i - 1) / 2;
    if (!dg_before(nt->q[i], nt->q[up])) break;
    dgram *t = nt->q[i];
    nt->q[i] = nt->q[up];
    nt->q[up] = t;
    i = up;
  }
}

static dgram *q_pop(net *nt) {
  dgram *top = nt->q[0];
  nt->q[0] = nt->q[--nt->nq];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < nt->nq && dg_before(nt->q[l], nt->q[m])) m = l;
    if (r < nt->nq && dg_before(nt->q[r], nt->q[m])) m = r;
    if (m == i) break;
    dgram *t = nt->q[i];
    nt->q[i] = nt->q[m];
    nt->q[m] = t;
    i = m;
  }
  return top;
}

static void held_push(net *nt, dgram *d) {
  if (nt->nheld == nt->capheld) {
    nt->capheld = nt->capheld ? nt->capheld * 2 : 64;
    nt->held = realloc(nt->held, nt->capheld * sizeof *nt->held);
    assert_non_null(nt->held);
  }
  nt->held[nt->nheld++] = d;
}

static int peer_at(net *nt, const tw_addr *a) {
  for (int i = 0; i < nt->n; i++) {
    if (nt->p[i].nc == NULL) continue;
    if (tw_addr_is_tcp_peer(a)) {
      tw_addr t = tw_tcp_conns_peer_addr(&nt->p[i].dht.pk);
      if (tw_addr_equal(&t, a)) return i;
    } else if (tw_addr_equal(&nt->p[i].addr, a)) {
      return i;
    }
  }
  return -1;
}

static bool matches(net *nt, const dgram *d) {
  if (nt->fsrc >= 0 && d->from != nt->fsrc) return false;
  if (nt->fdst >= 0 && !tw_addr_equal(&d->to, &nt->p[nt->fdst].addr)) return false;
  return nt->fkind == 0 || d->data[0] == nt->fkind;
}

static void set_filter(net *nt, filter_fn *f, int src, int dst, uint8_t kind, uint64_t param) {
  nt->filter = f;
  nt->fsrc = src;
  nt->fdst = dst;
  nt->fkind = kind;
  nt->fk = 0;
  memset(nt->fcount, 0, sizeof nt->fcount);
  nt->fparam = param;
}

static void on_send(void *ctx, const tw_addr *to, const uint8_t *pkt, size_t len) {
  peer *p = ctx;
  net *nt = p->net;
  assert_non_null(to);
  assert_true(tw_addr_is_set(to) || tw_addr_is_tcp_peer(to));
  assert_true(len > 0 && len <= SPEC_MAX_PACKET);
  bool tcp = tw_addr_is_tcp_peer(to);
  if (tcp) nt->tcp_sent++, nt->tcp_data_sent += pkt[0] == TW_PACKET_CRYPTO_DATA;
  else nt->udp_sent++, nt->udp_data_sent += pkt[0] == TW_PACKET_CRYPTO_DATA;
  if (!tcp && nt->udp_down) return;
  if (p->nsends < MAX_SENDS)
    p->sends[p->nsends] = (sendrec){.kind = pkt[0], .at = nt->now, .to = *to};
  p->nsends++;
  p->sent_kind[pkt[0]]++;
  dgram *d = calloc(1, sizeof *d);
  assert_non_null(d);
  d->from = p->idx;
  d->src = tcp ? tw_tcp_conns_peer_addr(&p->dht.pk) : p->addr;
  d->to = *to;
  memcpy(d->data, pkt, len);
  d->len = len;
  d->at = nt->now + LATENCY_MS;
  d->seq = nt->seq++;
  fate f = nt->filter != NULL && matches(nt, d) ? nt->filter(nt, d) : KEEP;
  switch (f) {
  case DROP: free(d); break;
  case HOLD: held_push(nt, d); break;
  case DUP: {
    dgram *c = malloc(sizeof *c);
    assert_non_null(c);
    *c = *d;
    c->at += LATENCY_MS;
    c->seq = nt->seq++;
    q_push(nt, d);
    q_push(nt, c);
    break;
  }
  case KEEP: q_push(nt, d); break;
  }
}

/* ---- generated lossless payloads ---- */

static uint32_t salt_of(int from, int to) { return (uint32_t)(from * 16 + to) * 0x9e37u; }

static size_t gen_payload(uint32_t idx, uint32_t salt, uint8_t *out) {
  size_t len = 5 + (idx * 7919u + salt) % 120;
  out[0] = (uint8_t)(TW_NC_ID_FIRST_USER + idx % (TW_NC_ID_FIRST_LOSSY - TW_NC_ID_FIRST_USER));
  out[1] = (uint8_t)(idx >> 24);
  out[2] = (uint8_t)(idx >> 16);
  out[3] = (uint8_t)(idx >> 8);
  out[4] = (uint8_t)idx;
  for (size_t j = 5; j < len; j++) out[j] = (uint8_t)(idx * 31u + j * 7u + salt);
  return len;
}

static void on_event(void *ctx, const tw_nc_event *ev) {
  peer *p = ctx;
  assert_true(ev->conn < MAX_CONNS);
  assert_non_null(ev->peer);
  int from = p->conn_peer[ev->conn];
  switch (ev->kind) {
  case TW_NC_EV_LOSSLESS: {
    assert_true(ev->len >= 1 && ev->len <= TW_NC_MAX_DATA_SIZE);
    assert_true(ev->data[0] >= TW_NC_ID_FIRST_USER);
    assert_false(ev->data[0] >= TW_NC_ID_FIRST_LOSSY && ev->data[0] <= TW_NC_ID_LAST_LOSSY);
    p->rx_total++;
    if (p->nraw < MAX_RAW) {
      p->raw[p->nraw].conn = ev->conn;
      p->raw[p->nraw].number = ev->packet_number;
      memcpy(p->raw[p->nraw].data, ev->data, ev->len);
      p->raw[p->nraw].len = ev->len;
      p->nraw++;
    }
    if (ev->packet_number != p->rx_pn[ev->conn]) p->rx_bad++;
    p->rx_pn[ev->conn] = ev->packet_number + 1;
    if (p->gen_check) {
      uint8_t want[256];
      size_t wl = gen_payload(p->rx_next[ev->conn], salt_of(from, p->idx), want);
      if (wl != ev->len || memcmp(want, ev->data, wl) != 0) {
        if (p->rx_bad == 0)
          print_message("peer %d conn %u: lossless #%u (number %u) is not the expected one\n",
                        p->idx, ev->conn, p->rx_next[ev->conn], ev->packet_number);
        p->rx_bad++;
      }
      p->rx_next[ev->conn]++;
    }
    break;
  }
  case TW_NC_EV_LOSSY:
    assert_true(ev->data[0] >= TW_NC_ID_FIRST_LOSSY && ev->data[0] <= TW_NC_ID_LAST_LOSSY);
    if (p->nlossy < MAX_LOSSY) {
      p->lossy[p->nlossy].conn = ev->conn;
      p->lossy[p->nlossy].len = ev->len < 64 ? ev->len : 64;
      memcpy(p->lossy[p->nlossy].data, ev->data, p->lossy[p->nlossy].len);
    }
    p->nlossy++;
    break;
  case TW_NC_EV_ACKED:
    p->acked_events++;
    p->last_send_acked = ev->send_acked;
    break;
  default:
    assert_true(p->nlog < MAX_LOG);
    p->log[p->nlog++] = (evrec){.kind = ev->kind, .conn = ev->conn, .time = ev->time,
                                .state = ev->state, .old_state = ev->old_state,
                                .reason = ev->reason, .dht_pk = ev->dht_pk, .addr = ev->addr};
    if (ev->kind == TW_NC_EV_STATE && ev->state == TW_NC_NOT_CONFIRMED)
      p->rx_pn[ev->conn] = 0; /* a new session numbers from 0 */
    break;
  }
  if (p->hook != NULL) p->hook(p, ev);
}

/* ---- peers ---- */

static void peer_start(net *nt, int i) {
  peer *p = &nt->p[i];
  tw_env env = test_env(&p->rng);
  tw_nc_config cfg = {.self_keys = p->self, .dht_keys = p->dht, .send = on_send, .send_ctx = p,
                      .on_event = on_event, .event_ctx = p};
  p->nc = tw_nc_new(&cfg, &env, nt->now);
  assert_non_null(p->nc);
  for (int j = 0; j < MAX_PEERS; j++) p->conn[j] = NONE;
  for (int j = 0; j < MAX_CONNS; j++) p->conn_peer[j] = -1;
}

static net *net_new(int n) {
  net *nt = calloc(1, sizeof *nt);
  assert_non_null(nt);
  g_net = nt;
  nt->n = n;
  nt->now = T0;
  nt->fsrc = nt->fdst = -1;
  for (int i = 0; i < n; i++) {
    peer *p = &nt->p[i];
    p->net = nt;
    p->idx = i;
    p->self = test_keypair(100 + 2 * (uint64_t)i);
    p->dht = test_keypair(101 + 2 * (uint64_t)i);
    p->addr = test_addr4(10, 0, 0, (uint8_t)(i + 1), (uint16_t)(33445 + i));
    p->rng.state = 0x6e63u + (uint64_t)i;
    p->gen_check = true;
    peer_start(nt, i);
  }
  return nt;
}

static void net_free(net *nt) {
  for (int i = 0; i < nt->n; i++) tw_nc_free(nt->p[i].nc);
  for (size_t i = 0; i < nt->nq; i++) free(nt->q[i]);
  for (size_t i = 0; i < nt->nheld; i++) free(nt->held[i]);
  free(nt->q);
  free(nt->held);
  free(nt);
  if (g_net == nt) g_net = NULL;
}

static int teardown(void **state) {
  (void)state;
  if (g_net != NULL) net_free(g_net);
  return 0;
}

/* Peer i will talk to peer j (it knows j's long-term key). */
static uint32_t befriend(net *nt, int i, int j) {
  peer *p = &nt->p[i];
  uint32_t c;
  assert_int_equal(tw_nc_conn_add(p->nc, &nt->p[j].self.pk, &c), TW_OK);
  assert_true(c < MAX_CONNS);
  p->conn[j] = c;
  p->conn_peer[c] = j;
  return c;
}

/* Peer i learns j's DHT key and address: it starts asking for a cookie. */
static void introduce(net *nt, int i, int j) {
  peer *p = &nt->p[i];
  assert_int_equal(tw_nc_conn_set_dht_key(p->nc, p->conn[j], &nt->p[j].dht.pk, nt->now), TW_OK);
  assert_int_equal(tw_nc_conn_set_addr(p->nc, p->conn[j], &nt->p[j].addr, nt->now), TW_OK);
}

static tw_nc_state state_of(net *nt, int i, int j) {
  return tw_nc_conn_state(nt->p[i].nc, nt->p[i].conn[j]);
}

static tw_nc_conn_stats cstats(net *nt, int i, int j) {
  tw_nc_conn_stats s;
  assert_int_equal(tw_nc_conn_get_stats(nt->p[i].nc, nt->p[i].conn[j], &s), TW_OK);
  return s;
}

static tw_nc_stats nstats(net *nt, int i) {
  tw_nc_stats s;
  tw_nc_get_stats(nt->p[i].nc, &s);
  return s;
}

static nc_conn *internal_conn(net *nt, int i, int j) {
  return &nt->p[i].nc->conns[nt->p[i].conn[j]];
}

/* ---- running the network ---- */

static void deliver(net *nt, dgram *d) {
  int to = peer_at(nt, &d->to);
  if (to < 0) {
    nt->undeliverable++;
    return;
  }
  peer *p = &nt->p[to];
  int rc = tw_nc_handle_packet(p->nc, &d->src, d->data, d->len, nt->now);
  assert_true(rc <= 0 && rc > TW_E__LAST);
  p->rc[-rc]++;
  nt->last_rc = rc;
}

/* Delivers a datagram right now, from src to peer `to`; its verdict. */
static int inject(net *nt, int to, const tw_addr *src, const uint8_t *pkt, size_t len) {
  peer *p = &nt->p[to];
  int rc = tw_nc_handle_packet(p->nc, src, pkt, len, nt->now);
  assert_true(rc <= 0 && rc > TW_E__LAST);
  p->rc[-rc]++;
  return rc;
}

/* One event time: the clock moves to the next delivery or deadline (not
 * past until); everything due then happens. False at until. */
static bool net_step(net *nt, tw_time_ms until) {
  static int same_time;
  tw_time_ms next = TW_NEVER;
  if (nt->nq > 0) next = nt->q[0]->at;
  for (int i = 0; i < nt->n; i++) {
    if (nt->p[i].nc == NULL) continue;
    tw_time_ms d = tw_nc_next_deadline(nt->p[i].nc);
    if (d < next) next = d;
  }
  if (next > until) {
    nt->now = until;
    return false;
  }
  if (next > nt->now) {
    nt->now = next;
    same_time = 0;
  } else if (++same_time > 100000) {
    fail_msg("the network makes no progress at %llu", (unsigned long long)nt->now);
  }
  while (nt->nq > 0 && nt->q[0]->at <= nt->now) {
    dgram *d = q_pop(nt);
    deliver(nt, d);
    free(d);
  }
  for (int i = 0; i < nt->n; i++)
    if (nt->p[i].nc != NULL && tw_nc_next_deadline(nt->p[i].nc) <= nt->now)
      tw_nc_on_timer(nt->p[i].nc, nt->now);
  return true;
}

typedef bool pred_fn(net *nt);

/* Runs until pred holds (true) or ms pass (false). pred NULL: all ms. */
static bool net_run(net *nt, tw_time_ms ms, pred_fn *pred) {
  tw_time_ms until = nt->now + ms;
  if (pred != NULL && pred(nt)) return true;
  while (net_step(nt, until))
    if (pred != NULL && pred(nt)) return true;
  return pred != NULL && pred(nt);
}

/* Puts the held datagrams on the wire now, in order or reversed. */
static void release_held(net *nt, bool reverse) {
  for (size_t k = 0; k < nt->nheld; k++) {
    dgram *d = nt->held[reverse ? nt->nheld - 1 - k : k];
    d->at = nt->now + LATENCY_MS;
    d->seq = nt->seq++;
    q_push(nt, d);
  }
  nt->nheld = 0;
}

static fate f_drop(net *nt, dgram *d) {
  (void)d;
  nt->fk++;
  return DROP;
}

static fate f_hold(net *nt, dgram *d) {
  (void)d;
  nt->fk++;
  return HOLD;
}

static fate f_drop_first(net *nt, dgram *d) {
  (void)d;
  return nt->fk++ < nt->fparam ? DROP : KEEP;
}

static fate f_drop_kth(net *nt, dgram *d) {
  (void)d;
  return ++nt->fk == nt->fparam ? DROP : KEEP;
}

/* Drops every fparam-th packet, counted per sender (one counter for all
 * would fall into step with a periodic exchange and drop the same packet
 * of it forever). */
static fate f_drop_every_nth(net *nt, dgram *d) {
  nt->fk++;
  return ++nt->fcount[d->from] % nt->fparam == 0 ? DROP : KEEP;
}

/* Drops every packet it matches except those of kind fparam. */
static fate f_drop_except(net *nt, dgram *d) {
  nt->fk++;
  return d->data[0] == (uint8_t)nt->fparam ? KEEP : DROP;
}

/* Reverses each batch of 8 (by delay) and duplicates every 5th. */
static fate f_reverse_and_dup(net *nt, dgram *d) {
  uint64_t k = nt->fk++;
  d->at += (7 - k % 8) * 2;
  return k % 5 == 4 ? DUP : KEEP;
}

static bool p01_established(net *nt) {
  return state_of(nt, 0, 1) == TW_NC_ESTABLISHED && state_of(nt, 1, 0) == TW_NC_ESTABLISHED;
}

/* Peers 0 and 1 friends, 0 knows where 1 is; run to ESTABLISHED. */
static net *established_pair(void) {
  net *nt = net_new(2);
  befriend(nt, 0, 1);
  befriend(nt, 1, 0);
  introduce(nt, 0, 1);
  assert_true(net_run(nt, 1000, p01_established));
  return nt;
}

static int send_gen(net *nt, int i, int j) {
  peer *p = &nt->p[i];
  uint32_t c = p->conn[j];
  uint8_t buf[256];
  size_t len = gen_payload(p->tx_next[c], salt_of(i, j), buf);
  int e = tw_nc_send_lossless(p->nc, c, buf, len, NULL, nt->now);
  if (e == TW_OK) p->tx_next[c]++;
  return e;
}

static uint32_t rx_from(net *nt, int at, int from) {
  return nt->p[at].rx_next[nt->p[at].conn[from]];
}

/* Streams generated lossless packets from i to j until j has `total` of
 * them (counted since the session began), keeping to send_space. */
static void stream(net *nt, int i, int j, uint32_t total, tw_time_ms limit_ms) {
  peer *p = &nt->p[i];
  uint32_t c = p->conn[j];
  tw_time_ms until = nt->now + limit_ms;
  while (rx_from(nt, j, i) < total) {
    while (p->tx_next[c] < total && tw_nc_conn_send_space(p->nc, c) > 0)
      assert_int_equal(send_gen(nt, i, j), TW_OK);
    if (!net_step(nt, until)) {
      nc_conn *sc = internal_conn(nt, i, j), *rc = internal_conn(nt, j, i);
      print_message("sender: start %u next_new %u end %u in_flight %u resend_pending %u window %u "
                    "last_progress %+lld | receiver: start %u end %u ack_due %+lld\n",
                    sc->send.start, sc->next_new, sc->send.end, sc->in_flight,
                    sc->resend_pending, sc->window, (long long)(sc->last_progress - nt->now),
                    rc->recv.start, rc->recv.end,
                    rc->ack_due == TW_NEVER ? -1LL : (long long)(rc->ack_due - nt->now));
      fail_msg("stream %d->%d: %u of %u arrived in %llu ms (state %s)", i, j, rx_from(nt, j, i),
               total, (unsigned long long)limit_ms, tw_nc_state_name(state_of(nt, i, j)));
    }
  }
  assert_int_equal(nt->p[j].rx_bad, 0);
}

/* Seals [id][payload] as peer i's next data packet to j would be sealed:
 * its session key, its next nonce (which it then moves on). */
static size_t forge(net *nt, int i, int j, uint32_t buffer_start, uint32_t number,
                    const uint8_t *data, size_t len, uint8_t *out) {
  nc_conn *c = internal_conn(nt, i, j);
  uint8_t plain[TW_NC_MAX_PLAIN_SIZE];
  int pl = tw_nc_plain_write(plain, sizeof plain, buffer_start, number, 0, data, len);
  assert_true(pl > 0);
  int n = tw_nc_data_seal(out, SPEC_MAX_PACKET, plain, (size_t)pl, c->send_nonce,
                          c->session_shared);
  assert_true(n > 0);
  tw_nc_nonce_add(c->send_nonce, 1);
  return (size_t)n;
}

/* The STATE events of peer p's connection conn, in order. */
static int states_of(const peer *p, uint32_t conn, tw_nc_state *out, int *reasons, int max) {
  int n = 0;
  for (int k = 0; k < p->nlog && n < max; k++)
    if (p->log[k].kind == TW_NC_EV_STATE && p->log[k].conn == conn) {
      if (reasons != NULL) reasons[n] = p->log[k].reason;
      out[n++] = p->log[k].state;
    }
  return n;
}

static int count_kind(const peer *p, tw_nc_event_kind kind) {
  int n = 0;
  for (int k = 0; k < p->nlog; k++) n += p->log[k].kind == kind;
  return n;
}

/* A stranger's cookie request to peer `to`. */
typedef struct stranger {
  tw_keypair self, dht;
  tw_addr addr;
  uint8_t shared[TW_SHARED_KEY_SIZE]; /* with the receiver's DHT key */
} stranger;

static stranger mk_stranger(net *nt, int to) {
  stranger s;
  s.self = test_keypair(900);
  s.dht = test_keypair(901);
  s.addr = test_addr4(198, 51, 100, 77, 40000);
  tw_shared_key_compute(s.shared, &nt->p[to].dht.pk, s.dht.sk);
  return s;
}

static void stranger_cookie_request(const stranger *s, uint64_t echo,
                                    uint8_t out[SPEC_COOKIE_REQUEST]) {
  uint8_t nonce[TW_NONCE_SIZE];
  memset(nonce, 0x5a, sizeof nonce);
  tw_nc_cookie_request_encode(out, &s->dht.pk, &s->self.pk, echo, nonce, s->shared);
}

/* ---- cookies ---- */

static void test_cookie_request_from_stranger_gets_cookie_response_without_state(void **state) {
  (void)state;
  net *nt = net_new(2);
  stranger s = mk_stranger(nt, 1);
  peer *b = &nt->p[1];
  tw_nc_stats before = nstats(nt, 1);
  assert_int_equal(before.connections, 0);

  uint8_t req[SPEC_COOKIE_REQUEST];
  stranger_cookie_request(&s, 0x1122334455667788ULL, req);
  assert_int_equal(inject(nt, 1, &s.addr, req, sizeof req), TW_OK);

  /* One answer, to where the request came from, of the spec's size. */
  assert_int_equal(b->nsends, 1);
  assert_int_equal(nt->nq, 1);
  dgram *d = nt->q[0];
  assert_true(tw_addr_equal(&d->to, &s.addr));
  assert_int_equal(d->len, SPEC_COOKIE_RESPONSE);
  assert_int_equal(d->data[0], TW_PACKET_COOKIE_RESPONSE);
  uint8_t cookie[TW_NC_COOKIE_SIZE];
  uint64_t echo = 0;
  assert_int_equal(tw_nc_cookie_response_open(cookie, &echo, d->data, d->len, s.shared), TW_OK);
  assert_int_equal(echo, 0x1122334455667788ULL);
  /* The cookie names the requester's two keys and its birth time. */
  tw_nc_cookie_plain ck;
  assert_int_equal(tw_nc_cookie_check(b->nc, &ck, cookie, nt->now), TW_OK);
  assert_true(tw_key_equal(&ck.real_pk, &s.self.pk));
  assert_true(tw_key_equal(&ck.dht_pk, &s.dht.pk));
  assert_int_equal(ck.time, nt->now);

  /* Nothing kept: no connection, not even a table. */
  tw_nc_stats after = nstats(nt, 1);
  assert_int_equal(after.connections, 0);
  assert_int_equal(after.cookie_requests_in, 1);
  assert_int_equal(after.cookie_responses_out, 1);
  assert_int_equal(b->nc->conn_cap, 0);

  /* With a friend of its own it still keeps nothing for the stranger. */
  befriend(nt, 1, 0);
  for (int k = 0; k < 100; k++) {
    stranger_cookie_request(&s, (uint64_t)k, req);
    assert_int_equal(inject(nt, 1, &s.addr, req, sizeof req), TW_OK);
  }
  assert_int_equal(nstats(nt, 1).connections, 1);
  assert_int_equal(b->nsends, 101);
  assert_int_equal(state_of(nt, 1, 0), TW_NC_IDLE);
}

static void test_cookie_request_bad_box_wrong_size_or_top_bit_gets_nothing(void **state) {
  (void)state;
  net *nt = net_new(2);
  stranger s = mk_stranger(nt, 1);
  peer *b = &nt->p[1];
  uint8_t req[SPEC_COOKIE_REQUEST + 1], bad[SPEC_COOKIE_REQUEST + 1];
  stranger_cookie_request(&s, 7, req);
  req[SPEC_COOKIE_REQUEST] = 0;
  assert_int_equal(s.dht.pk.bytes[31] & 0x80, 0);

  memcpy(bad, req, sizeof bad);
  bad[SPEC_COOKIE_REQUEST - 5] ^= 0x01; /* in the box */
  assert_int_equal(inject(nt, 1, &s.addr, bad, SPEC_COOKIE_REQUEST), TW_E_CRYPTO);
  memcpy(bad, req, sizeof bad);
  bad[1 + 32 + 3] ^= 0x40; /* the nonce */
  assert_int_equal(inject(nt, 1, &s.addr, bad, SPEC_COOKIE_REQUEST), TW_E_CRYPTO);
  memcpy(bad, req, sizeof bad);
  bad[1 + 5] ^= 0x10; /* the sender's DHT key: another shared key */
  assert_int_equal(inject(nt, 1, &s.addr, bad, SPEC_COOKIE_REQUEST), TW_E_CRYPTO);

  assert_int_equal(inject(nt, 1, &s.addr, req, SPEC_COOKIE_REQUEST - 1), TW_E_SHORT);
  assert_int_equal(inject(nt, 1, &s.addr, req, SPEC_COOKIE_REQUEST + 1), TW_E_LONG);
  assert_int_equal(inject(nt, 1, &s.addr, req, 1), TW_E_SHORT);

  /* x25519 ignores the top bit: the box opens, the key is still refused. */
  memcpy(bad, req, sizeof bad);
  bad[1 + 31] |= 0x80;
  assert_int_equal(inject(nt, 1, &s.addr, bad, SPEC_COOKIE_REQUEST), TW_E_FORMAT);

  assert_int_equal(b->nsends, 0);
  tw_nc_stats st = nstats(nt, 1);
  assert_int_equal(st.cookie_responses_out, 0);
  assert_int_equal(st.dropped[-TW_E_CRYPTO], 3);
  assert_int_equal(st.dropped[-TW_E_SHORT], 2);
  assert_int_equal(st.dropped[-TW_E_LONG], 1);
  assert_int_equal(st.dropped[-TW_E_FORMAT], 1);
  assert_int_equal(st.dropped_total, 7);

  /* The untouched request is still answered. */
  assert_int_equal(inject(nt, 1, &s.addr, req, SPEC_COOKIE_REQUEST), TW_OK);
  assert_int_equal(b->nsends, 1);
}

static void test_cookie_response_that_answers_nothing_is_dropped(void **state) {
  (void)state;
  net *nt = net_new(3);
  peer *a = &nt->p[0], *b = &nt->p[1];
  uint8_t shared_ab[TW_SHARED_KEY_SIZE]; /* A's and B's DHT keys */
  tw_shared_key_compute(shared_ab, &a->dht.pk, b->dht.sk);
  uint8_t fake_cookie[TW_NC_COOKIE_SIZE], nonce[TW_NONCE_SIZE], resp[SPEC_COOKIE_RESPONSE];
  memset(fake_cookie, 0xc5, sizeof fake_cookie);
  memset(nonce, 0x33, sizeof nonce);

  /* No request pending at all. */
  befriend(nt, 0, 1);
  tw_nc_cookie_response_encode(resp, fake_cookie, 1, nonce, shared_ab);
  assert_int_equal(inject(nt, 0, &b->addr, resp, sizeof resp), TW_E_UNSOLICITED);

  /* A asks B; B's answer is held. */
  set_filter(nt, f_hold, 1, 0, TW_PACKET_COOKIE_RESPONSE, 0);
  introduce(nt, 0, 1);
  assert_int_equal(state_of(nt, 0, 1), TW_NC_COOKIE_REQUESTING);
  assert_true(net_run(nt, 100, NULL) == false);
  assert_int_equal(nt->nheld, 1);
  dgram *real = nt->held[0];
  nt->nheld = 0;

  /* B answered A's one request: its answer carries A's echo id. */
  assert_true(a->nsends == 1 && a->sends[0].kind == TW_PACKET_COOKIE_REQUEST);
  uint8_t cookie[TW_NC_COOKIE_SIZE];
  uint64_t echo;
  assert_int_equal(tw_nc_cookie_response_open(cookie, &echo, real->data, real->len, shared_ab),
                   TW_OK);

  /* The wrong echo id. */
  tw_nc_cookie_response_encode(resp, cookie, echo + 1, nonce, shared_ab);
  assert_int_equal(inject(nt, 0, &b->addr, resp, sizeof resp), TW_E_UNSOLICITED);
  /* The right answer from another address. */
  assert_int_equal(inject(nt, 0, &nt->p[2].addr, real->data, real->len), TW_E_UNSOLICITED);
  /* Not sealed with B's DHT key. */
  uint8_t other[TW_SHARED_KEY_SIZE];
  tw_shared_key_compute(other, &a->dht.pk, nt->p[2].dht.sk);
  tw_nc_cookie_response_encode(resp, cookie, echo, nonce, other);
  assert_int_equal(inject(nt, 0, &b->addr, resp, sizeof resp), TW_E_UNSOLICITED);
  assert_int_equal(state_of(nt, 0, 1), TW_NC_COOKIE_REQUESTING);
  assert_int_equal(a->sent_kind[TW_PACKET_CRYPTO_HANDSHAKE], 0);
  assert_int_equal(nstats(nt, 0).cookie_responses_in, 0);

  /* The real one is taken; a second copy answers nothing. */
  assert_int_equal(inject(nt, 0, &b->addr, real->data, real->len), TW_OK);
  assert_int_equal(state_of(nt, 0, 1), TW_NC_HANDSHAKE_SENT);
  assert_int_equal(a->sent_kind[TW_PACKET_CRYPTO_HANDSHAKE], 1);
  assert_int_equal(inject(nt, 0, &b->addr, real->data, real->len), TW_E_UNSOLICITED);
  assert_int_equal(a->sent_kind[TW_PACKET_CRYPTO_HANDSHAKE], 1);
  assert_int_equal(nstats(nt, 0).dropped[-TW_E_UNSOLICITED], 5);
  free(real);
}

/* A asks B for a cookie at `start`; B's cookie is born when B answers.
 * Returns A's first handshake (held), and the cookie's birth time. */
static dgram *first_handshake(net *nt, tw_time_ms start, tw_time_ms *born) {
  nt->now = start;
  befriend(nt, 0, 1);
  befriend(nt, 1, 0);
  set_filter(nt, f_hold, 0, 1, TW_PACKET_CRYPTO_HANDSHAKE, 0);
  introduce(nt, 0, 1);
  net_run(nt, 3 * LATENCY_MS, NULL);
  assert_int_equal(nt->nheld, 1);
  assert_int_equal(nt->held[0]->len, SPEC_HANDSHAKE);
  assert_int_equal(nt->p[1].sends[0].kind, TW_PACKET_COOKIE_RESPONSE);
  *born = nt->p[1].sends[0].at;
  dgram *d = nt->held[0];
  nt->nheld = 0;
  return d;
}

static void test_handshake_on_cookie_older_than_15_s_is_refused_expired(void **state) {
  (void)state;
  /* 15 s old: still good. */
  net *nt = net_new(2);
  tw_time_ms born;
  dgram *hs = first_handshake(nt, T0, &born);
  nt->now = born + SPEC_COOKIE_LIFETIME_MS;
  assert_int_equal(inject(nt, 1, &nt->p[0].addr, hs->data, hs->len), TW_OK);
  assert_int_equal(state_of(nt, 1, 0), TW_NC_NOT_CONFIRMED);
  free(hs);
  net_free(nt);

  /* A millisecond more: refused, and nothing changes. */
  nt = net_new(2);
  hs = first_handshake(nt, T0, &born);
  nt->now = born + SPEC_COOKIE_LIFETIME_MS + 1;
  assert_int_equal(inject(nt, 1, &nt->p[0].addr, hs->data, hs->len), TW_E_EXPIRED);
  assert_int_equal(state_of(nt, 1, 0), TW_NC_IDLE);
  assert_int_equal(nstats(nt, 1).handshakes_in, 0);
  assert_int_equal(nstats(nt, 1).dropped[-TW_E_EXPIRED], 1);
  assert_int_equal(nt->p[1].nlog, 0);
  free(hs);
}

static void test_cookie_survives_one_key_rotation_not_two(void **state) {
  (void)state;
  /* B's cookie key rotates every TW_NC_COOKIE_KEY_LIFETIME_MS from its
   * start (T0). A cookie made 1 s before the first rotation, used 1 s
   * after it, opens with the previous key. */
  net *nt = net_new(2);
  tw_time_ms born;
  dgram *hs = first_handshake(nt, T0 + TW_NC_COOKIE_KEY_LIFETIME_MS - 1000, &born);
  net_run(nt, T0 + TW_NC_COOKIE_KEY_LIFETIME_MS + 1000 - nt->now, NULL);
  assert_true(nt->p[1].nc->cookie_key_at == T0 + TW_NC_COOKIE_KEY_LIFETIME_MS);
  assert_int_equal(inject(nt, 1, &nt->p[0].addr, hs->data, hs->len), TW_OK);
  assert_int_equal(state_of(nt, 1, 0), TW_NC_NOT_CONFIRMED);
  free(hs);
  net_free(nt);

  /* After a second rotation the key that sealed it is gone: the cookie no
   * longer opens (TW_E_CRYPTO, before its age is even read). */
  nt = net_new(2);
  hs = first_handshake(nt, T0 + TW_NC_COOKIE_KEY_LIFETIME_MS - 1000, &born);
  net_run(nt, T0 + 2 * TW_NC_COOKIE_KEY_LIFETIME_MS - nt->now, NULL);
  assert_true(nt->p[1].nc->cookie_key_at == T0 + 2 * TW_NC_COOKIE_KEY_LIFETIME_MS);
  assert_int_equal(inject(nt, 1, &nt->p[0].addr, hs->data, hs->len), TW_E_CRYPTO);
  assert_int_equal(state_of(nt, 1, 0), TW_NC_IDLE);
  assert_int_equal(nstats(nt, 1).handshakes_in, 0);
  free(hs);
}

static void test_handshake_from_key_not_added_is_refused_notfound(void **state) {
  (void)state;
  net *nt = net_new(2);
  befriend(nt, 0, 1); /* B does not know A */
  introduce(nt, 0, 1);
  net_run(nt, 500, NULL);
  peer *b = &nt->p[1];
  assert_true(b->rc[-TW_E_NOTFOUND] >= 1);
  assert_int_equal(b->sent_kind[TW_PACKET_COOKIE_RESPONSE], 1); /* stateless */
  assert_int_equal(b->sent_kind[TW_PACKET_CRYPTO_HANDSHAKE], 0);
  tw_nc_stats st = nstats(nt, 1);
  assert_int_equal(st.handshakes_in, 0);
  assert_int_equal(st.connections, 0);
  assert_int_equal(b->nc->conn_cap, 0);
  assert_int_equal(state_of(nt, 0, 1), TW_NC_HANDSHAKE_SENT);
}

/* ---- connecting ---- */

static void test_connection_when_only_a_knows_b_address(void **state) {
  (void)state;
  net *nt = net_new(2);
  peer *a = &nt->p[0], *b = &nt->p[1];
  befriend(nt, 0, 1);
  befriend(nt, 1, 0);
  introduce(nt, 0, 1);
  assert_true(net_run(nt, 1000, p01_established));
  /* cookie request, response, handshake, handshake, data: five trips. */
  assert_true(nt->now - T0 <= 5 * LATENCY_MS);

  tw_nc_state st[16];
  int reasons[16];
  int n = states_of(a, a->conn[1], st, reasons, 16);
  assert_int_equal(n, 4);
  assert_int_equal(st[0], TW_NC_COOKIE_REQUESTING);
  assert_int_equal(st[1], TW_NC_HANDSHAKE_SENT);
  assert_int_equal(st[2], TW_NC_NOT_CONFIRMED);
  assert_int_equal(st[3], TW_NC_ESTABLISHED);
  for (int k = 0; k < n; k++) assert_int_equal(reasons[k], TW_OK);
  assert_int_equal(a->nlog, 4); /* no DHT key or address news for A */

  /* B learns A's DHT key and address from the handshake, then accepts. */
  assert_int_equal(b->nlog, 4);
  assert_int_equal(b->log[0].kind, TW_NC_EV_DHT_KEY);
  assert_true(tw_key_equal(&b->log[0].dht_pk, &a->dht.pk));
  assert_int_equal(b->log[1].kind, TW_NC_EV_ADDR);
  assert_true(tw_addr_equal(&b->log[1].addr, &a->addr));
  assert_int_equal(b->log[2].kind, TW_NC_EV_STATE);
  assert_int_equal(b->log[2].old_state, TW_NC_IDLE);
  assert_int_equal(b->log[2].state, TW_NC_NOT_CONFIRMED);
  assert_int_equal(b->log[3].state, TW_NC_ESTABLISHED);
  for (int k = 0; k < 4; k++) assert_int_equal(b->log[k].conn, b->conn[0]);

  assert_int_equal(nstats(nt, 0).established, 1);
  assert_int_equal(nstats(nt, 1).established, 1);
  assert_int_equal(a->sent_kind[TW_PACKET_COOKIE_REQUEST], 1);
  assert_int_equal(b->sent_kind[TW_PACKET_COOKIE_REQUEST], 0);

  /* Data both ways. */
  stream(nt, 0, 1, 20, 2000);
  stream(nt, 1, 0, 20, 2000);

  /* Once confirmed, no more handshakes. */
  uint64_t hs_a = a->sent_kind[TW_PACKET_CRYPTO_HANDSHAKE];
  uint64_t hs_b = b->sent_kind[TW_PACKET_CRYPTO_HANDSHAKE];
  net_run(nt, 20000, NULL);
  assert_int_equal(a->sent_kind[TW_PACKET_CRYPTO_HANDSHAKE], hs_a);
  assert_int_equal(b->sent_kind[TW_PACKET_CRYPTO_HANDSHAKE], hs_b);
  assert_true(p01_established(nt));
}

static void test_both_sides_start_at_once_make_one_session(void **state) {
  (void)state;
  net *nt = net_new(2);
  befriend(nt, 0, 1);
  befriend(nt, 1, 0);
  introduce(nt, 0, 1);
  introduce(nt, 1, 0);
  assert_true(net_run(nt, 1000, p01_established));
  net_run(nt, 3000, NULL);
  assert_true(p01_established(nt));
  /* Neither side ever fell back to IDLE or started over. */
  for (int i = 0; i < 2; i++) {
    tw_nc_state st[16];
    int n = states_of(&nt->p[i], nt->p[i].conn[1 - i], st, NULL, 16);
    assert_int_equal(n, 4);
    assert_int_equal(st[0], TW_NC_COOKIE_REQUESTING);
    assert_int_equal(st[3], TW_NC_ESTABLISHED);
    assert_int_equal(nstats(nt, i).established, 1);
    assert_int_equal(nstats(nt, i).connections, 1);
    assert_int_equal(count_kind(&nt->p[i], TW_NC_EV_DHT_KEY), 0);
  }
  /* One session: both hold the same session key. */
  assert_memory_equal(internal_conn(nt, 0, 1)->session_shared,
                      internal_conn(nt, 1, 0)->session_shared, TW_SHARED_KEY_SIZE);
  stream(nt, 0, 1, 100, 5000);
  stream(nt, 1, 0, 100, 5000);
}

static void test_first_data_packet_lost_still_confirms_both_sides(void **state) {
  (void)state;
  net *nt = net_new(2);
  befriend(nt, 0, 1);
  befriend(nt, 1, 0);
  /* B's first data packet (sent with its handshake) is lost: A hears B's
   * next one, sent when A's handshake repeats. */
  set_filter(nt, f_drop_first, 1, 0, TW_PACKET_CRYPTO_DATA, 1);
  introduce(nt, 0, 1);
  assert_true(net_run(nt, SPEC_TRIES * SPEC_RETRY_MS - 500, p01_established));
  stream(nt, 0, 1, 10, 1000);
  stream(nt, 1, 0, 10, 1000);
  net_free(nt);

  /* A's first data packet is lost. A became ESTABLISHED on B's data and
   * sends no more handshakes; B (NOT_CONFIRMED) repeats its handshake,
   * and A must answer it with data, or B gives up after 8 tries while A
   * believes in the session. */
  nt = net_new(2);
  befriend(nt, 0, 1);
  befriend(nt, 1, 0);
  set_filter(nt, f_drop_first, 0, 1, TW_PACKET_CRYPTO_DATA, 1);
  introduce(nt, 0, 1);
  net_run(nt, 5 * LATENCY_MS, NULL);
  assert_int_equal(state_of(nt, 0, 1), TW_NC_ESTABLISHED);
  assert_int_equal(state_of(nt, 1, 0), TW_NC_NOT_CONFIRMED);
  assert_true(net_run(nt, SPEC_TRIES * SPEC_RETRY_MS - 500, p01_established));
  stream(nt, 0, 1, 10, 1000);
  stream(nt, 1, 0, 10, 1000);
}

static void test_lost_cookie_requests_retried_every_second_then_idle_expired(void **state) {
  (void)state;
  net *nt = net_new(2);
  peer *a = &nt->p[0];
  befriend(nt, 0, 1);
  befriend(nt, 1, 0);
  set_filter(nt, f_drop, 0, 1, 0, 0);
  introduce(nt, 0, 1);
  net_run(nt, 20000, NULL);
  assert_int_equal(a->nsends, SPEC_TRIES);
  for (int k = 0; k < SPEC_TRIES; k++) {
    assert_int_equal(a->sends[k].kind, TW_PACKET_COOKIE_REQUEST);
    assert_int_equal(a->sends[k].at, T0 + (tw_time_ms)k * SPEC_RETRY_MS);
    assert_true(tw_addr_equal(&a->sends[k].to, &nt->p[1].addr));
  }
  assert_int_equal(nstats(nt, 0).cookie_requests_out, SPEC_TRIES);
  tw_nc_state st[8];
  int reasons[8];
  assert_int_equal(states_of(a, a->conn[1], st, reasons, 8), 2);
  assert_int_equal(st[1], TW_NC_IDLE);
  assert_int_equal(reasons[1], TW_E_EXPIRED);
  assert_int_equal(a->log[1].time, T0 + SPEC_TRIES * SPEC_RETRY_MS);
  assert_int_equal(nt->p[1].nsends, 0);
  /* A new address (or the same one again) starts over. */
  introduce(nt, 0, 1);
  assert_int_equal(state_of(nt, 0, 1), TW_NC_COOKIE_REQUESTING);
  assert_int_equal(a->nsends, SPEC_TRIES + 1);
}

static void test_unanswered_handshakes_retried_every_second_then_idle_expired(void **state) {
  (void)state;
  net *nt = net_new(2);
  peer *a = &nt->p[0], *b = &nt->p[1];
  befriend(nt, 0, 1);
  befriend(nt, 1, 0);
  /* B answers the cookie request; nothing else of B's gets through. */
  set_filter(nt, f_drop_except, 1, 0, 0, TW_PACKET_COOKIE_RESPONSE);
  introduce(nt, 0, 1);
  net_run(nt, 30000, NULL);
  tw_time_ms first = 0;
  int hs = 0;
  for (uint64_t k = 0; k < a->nsends; k++) {
    if (a->sends[k].kind != TW_PACKET_CRYPTO_HANDSHAKE) continue;
    if (hs == 0) first = a->sends[k].at;
    assert_int_equal(a->sends[k].at, first + (tw_time_ms)hs * SPEC_RETRY_MS);
    hs++;
  }
  assert_int_equal(hs, SPEC_TRIES);
  assert_int_equal(first, T0 + 2 * LATENCY_MS);
  assert_int_equal(a->nsends, 1 + SPEC_TRIES); /* one cookie request, eight handshakes */
  tw_nc_state st[8];
  int reasons[8];
  assert_int_equal(states_of(a, a->conn[1], st, reasons, 8), 3);
  assert_int_equal(st[1], TW_NC_HANDSHAKE_SENT);
  assert_int_equal(st[2], TW_NC_IDLE);
  assert_int_equal(reasons[2], TW_E_EXPIRED);
  assert_int_equal(a->log[2].time, first + SPEC_TRIES * SPEC_RETRY_MS);

  /* B accepted A's handshake, never heard data, and gave up the same way. */
  int n = states_of(b, b->conn[0], st, reasons, 8);
  assert_int_equal(n, 2);
  assert_int_equal(st[0], TW_NC_NOT_CONFIRMED);
  assert_int_equal(st[1], TW_NC_IDLE);
  assert_int_equal(reasons[1], TW_E_EXPIRED);
  assert_int_equal(b->sent_kind[TW_PACKET_CRYPTO_HANDSHAKE], SPEC_TRIES);
  assert_int_equal(nstats(nt, 0).established + nstats(nt, 1).established, 0);
}

static void test_late_duplicate_handshake_does_not_disturb_established(void **state) {
  (void)state;
  net *nt = net_new(2);
  befriend(nt, 0, 1);
  befriend(nt, 1, 0);
  introduce(nt, 0, 1);
  uint8_t hs[2][SPEC_HANDSHAKE];
  assert_true(net_run(nt, 1000, p01_established));
  /* A's and B's handshakes, rebuilt from what they sent: the tw_nc keeps
   * its built handshake, which is what it resends. */
  memcpy(hs[0], internal_conn(nt, 0, 1)->handshake, SPEC_HANDSHAKE);
  memcpy(hs[1], internal_conn(nt, 1, 0)->handshake, SPEC_HANDSHAKE);
  stream(nt, 0, 1, 10, 1000);
  int nlog0 = nt->p[0].nlog, nlog1 = nt->p[1].nlog;
  uint64_t hs_sent = nt->p[0].sent_kind[0x1a] + nt->p[1].sent_kind[0x1a];

  assert_int_equal(inject(nt, 1, &nt->p[0].addr, hs[0], SPEC_HANDSHAKE), TW_OK);
  assert_int_equal(inject(nt, 0, &nt->p[1].addr, hs[1], SPEC_HANDSHAKE), TW_OK);
  assert_int_equal(inject(nt, 1, &nt->p[0].addr, hs[0], SPEC_HANDSHAKE), TW_OK);
  assert_true(p01_established(nt));
  assert_int_equal(nt->p[0].nlog, nlog0);
  assert_int_equal(nt->p[1].nlog, nlog1);
  assert_int_equal(nt->p[0].sent_kind[0x1a] + nt->p[1].sent_kind[0x1a], hs_sent);
  stream(nt, 0, 1, 60, 2000);
  stream(nt, 1, 0, 60, 2000);
}

/* A drops its side (its kill packet is lost) and starts a new session with
 * the same DHT key. B, silent for longer than TW_NC_STALE_SESSION_MS,
 * takes the new session instead of holding the dead one until an alive
 * timeout; while the old one is still fresh, the new handshake is ignored. */
static void test_new_session_replaces_silent_established_one(void **state) {
  (void)state;
  net *nt = established_pair();
  peer *a = &nt->p[0], *b = &nt->p[1];
  stream(nt, 0, 1, 10, 1000);
  set_filter(nt, f_drop, 0, 1, TW_PACKET_CRYPTO_DATA, 0); /* the kill is lost */
  assert_int_equal(tw_nc_conn_kill(a->nc, a->conn[1], nt->now), TW_OK);
  net_run(nt, 100, NULL);
  set_filter(nt, NULL, 0, 0, 0, 0);
  assert_int_equal(state_of(nt, 1, 0), TW_NC_ESTABLISHED);
  introduce(nt, 0, 1); /* A starts over at once: B's session is still fresh */
  net_run(nt, 1500, NULL);
  assert_int_equal(state_of(nt, 1, 0), TW_NC_ESTABLISHED);
  assert_int_not_equal(state_of(nt, 0, 1), TW_NC_ESTABLISHED);
  /* A keeps trying; once B has heard nothing for long enough, it switches. */
  assert_true(net_run(nt, TW_NC_STALE_SESSION_MS + 10000, p01_established));
  bool replaced = false;
  for (int i = 0; i < b->nlog; i++)
    if (b->log[i].kind == TW_NC_EV_STATE && b->log[i].old_state == TW_NC_ESTABLISHED &&
        b->log[i].reason == TW_E_REPLAY)
      replaced = true;
  assert_true(replaced);
  stream(nt, 0, 1, 30, 2000);
  stream(nt, 1, 0, 30, 2000);
}

static void test_handshake_with_new_dht_key_restarts_session(void **state) {
  (void)state;
  net *nt = established_pair();
  peer *a = &nt->p[0], *b = &nt->p[1];
  stream(nt, 0, 1, 30, 2000);
  int nlog_b = b->nlog;

  /* A restarts: same long-term key, a new DHT key, the same address. */
  tw_nc_free(a->nc);
  a->nc = NULL;
  a->dht = test_keypair(555);
  memset(a->rx_next, 0, sizeof a->rx_next);
  memset(a->tx_next, 0, sizeof a->tx_next);
  a->nlog = 0;
  peer_start(nt, 0);
  befriend(nt, 0, 1);
  introduce(nt, 0, 1);
  assert_true(net_run(nt, 1000, p01_established));

  /* B: the old session ends, the new DHT key is reported, a new session. */
  assert_true(b->nlog >= nlog_b + 3);
  evrec *e = &b->log[nlog_b];
  assert_int_equal(e[0].kind, TW_NC_EV_STATE);
  assert_int_equal(e[0].old_state, TW_NC_ESTABLISHED);
  assert_int_equal(e[0].state, TW_NC_IDLE);
  assert_int_not_equal(e[0].reason, TW_OK);
  assert_int_equal(e[1].kind, TW_NC_EV_DHT_KEY);
  assert_true(tw_key_equal(&e[1].dht_pk, &a->dht.pk));
  assert_int_equal(e[2].kind, TW_NC_EV_STATE);
  assert_int_equal(e[2].state, TW_NC_NOT_CONFIRMED);
  assert_int_equal(state_of(nt, 1, 0), TW_NC_ESTABLISHED);
  assert_int_equal(nstats(nt, 1).established, 1);
  assert_int_equal(nstats(nt, 1).connections, 1);
  /* The new session's data numbers from 0 on both sides. */
  b->rx_next[b->conn[0]] = 0;
  b->tx_next[b->conn[0]] = 0;
  stream(nt, 0, 1, 50, 2000);
  stream(nt, 1, 0, 50, 2000);
}

/* ---- lossless and lossy data ---- */

static void test_lossless_in_order_when_every_third_packet_dropped(void **state) {
  (void)state;
  net *nt = established_pair();
  set_filter(nt, f_drop_every_nth, 0, 1, TW_PACKET_CRYPTO_DATA, 3);
  stream(nt, 0, 1, 400, 60000);
  assert_true(cstats(nt, 0, 1).packets_resent > 0);
  /* The acknowledgements lose every third too. */
  set_filter(nt, f_drop_every_nth, -1, -1, TW_PACKET_CRYPTO_DATA, 3);
  stream(nt, 0, 1, 800, 60000);
  stream(nt, 1, 0, 300, 60000);
  assert_int_equal(nt->p[1].rx_total, 800);
  assert_int_equal(nt->p[0].rx_total, 300);
  assert_true(p01_established(nt));
}

static void test_lossless_survives_duplicates_and_reversed_batches(void **state) {
  (void)state;
  net *nt = established_pair();
  set_filter(nt, f_reverse_and_dup, -1, -1, TW_PACKET_CRYPTO_DATA, 0);
  stream(nt, 0, 1, 500, 60000);
  stream(nt, 1, 0, 200, 60000);
  /* Each delivered exactly once: the generator checked order and bytes. */
  assert_int_equal(nt->p[1].rx_total, 500);
  assert_int_equal(nt->p[0].rx_total, 200);
  assert_true(nt->p[1].rc[-TW_E_REPLAY] > 0); /* duplicates were seen and refused */

  /* A whole batch held and put on the wire backwards. */
  set_filter(nt, f_hold, 0, 1, TW_PACKET_CRYPTO_DATA, 0);
  for (int k = 0; k < 40; k++) assert_int_equal(send_gen(nt, 0, 1), TW_OK);
  assert_true(nt->nheld >= 8); /* what the window let out; the rest follows */
  set_filter(nt, NULL, -1, -1, 0, 0);
  release_held(nt, true);
  stream(nt, 0, 1, 540, 10000);
  assert_int_equal(nt->p[1].rx_total, 540);
  assert_int_equal(cstats(nt, 1, 0).recv_held, 0);
}

static void test_packet_far_ahead_dropped_and_memory_bounded(void **state) {
  (void)state;
  net *nt = established_pair();
  peer *b = &nt->p[1];
  b->gen_check = false;
  uint8_t pkt[SPEC_MAX_PACKET], data[8] = {0x20, 1, 2, 3};
  nc_conn *bc = internal_conn(nt, 1, 0);
  uint32_t start = bc->recv.start;
  assert_int_equal(start, 0);

  size_t n = forge(nt, 0, 1, 0, start + TW_NC_BUFFER_PACKETS, data, 4, pkt);
  assert_int_equal(inject(nt, 1, &nt->p[0].addr, pkt, n), TW_E_FULL);
  /* Half the number space away reads as behind: a replay. */
  n = forge(nt, 0, 1, 0, start + 0x80000000u, data, 4, pkt);
  assert_int_equal(inject(nt, 1, &nt->p[0].addr, pkt, n), TW_E_REPLAY);
  assert_int_equal(cstats(nt, 1, 0).recv_held, 0);
  n = forge(nt, 0, 1, 0, start + TW_NC_BUFFER_PACKETS - 1, data, 4, pkt);
  assert_int_equal(inject(nt, 1, &nt->p[0].addr, pkt, n), TW_OK);
  assert_int_equal(cstats(nt, 1, 0).recv_held, 1);
  assert_true(bc->recv.cap <= TW_NC_BUFFER_PACKETS);
  /* The same number again is a replay. */
  n = forge(nt, 0, 1, 0, start + TW_NC_BUFFER_PACKETS - 1, data, 4, pkt);
  assert_int_equal(inject(nt, 1, &nt->p[0].addr, pkt, n), TW_E_REPLAY);

  /* A flood of numbers 1 .. 40000: what fits the window is held, the rest
   * refused; the ring never outgrows TW_NC_BUFFER_PACKETS. */
  uint32_t refused = 0;
  for (uint32_t k = 1; k <= 40000; k++) {
    uint8_t d[5] = {0x20, (uint8_t)(k >> 24), (uint8_t)(k >> 16), (uint8_t)(k >> 8), (uint8_t)k};
    n = forge(nt, 0, 1, 0, start + k, d, sizeof d, pkt);
    int rc = inject(nt, 1, &nt->p[0].addr, pkt, n);
    if (rc == TW_E_FULL) refused++;
    else if (k != TW_NC_BUFFER_PACKETS - 1) assert_int_equal(rc, TW_OK);
  }
  assert_int_equal(refused, 40000 - (TW_NC_BUFFER_PACKETS - 1));
  assert_int_equal(cstats(nt, 1, 0).recv_held, TW_NC_BUFFER_PACKETS - 1);
  assert_true(bc->recv.cap <= TW_NC_BUFFER_PACKETS);
  assert_int_equal(b->rx_total, 0);

  /* Number 0 fills the gap: everything held comes out in order. */
  uint8_t d0[5] = {0x20, 0, 0, 0, 0};
  n = forge(nt, 0, 1, 0, start, d0, sizeof d0, pkt);
  assert_int_equal(inject(nt, 1, &nt->p[0].addr, pkt, n), TW_OK);
  assert_int_equal(b->rx_total, TW_NC_BUFFER_PACKETS);
  assert_int_equal(b->rx_bad, 0); /* packet numbers consecutive */
  for (int k = 0; k < b->nraw; k++) {
    assert_int_equal(b->raw[k].number, (uint32_t)k);
    if (b->raw[k].number != TW_NC_BUFFER_PACKETS - 1)
      assert_int_equal(b->raw[k].data[4], (uint8_t)k);
  }
  assert_int_equal(cstats(nt, 1, 0).recv_held, 0);
  assert_int_equal(bc->recv.start, start + TW_NC_BUFFER_PACKETS);
  /* The buffers came back to the pool, within its bound. */
  assert_true(b->nc->pool_count <= 4096);
}

static void test_lossy_packets_delivered_once_each_as_they_come(void **state) {
  (void)state;
  net *nt = established_pair();
  peer *b = &nt->p[1];
  set_filter(nt, f_hold, 0, 1, TW_PACKET_CRYPTO_DATA, 0);
  for (int k = 0; k < 6; k++) {
    uint8_t d[3] = {(uint8_t)(TW_NC_ID_FIRST_LOSSY + k), 0xaa, (uint8_t)k};
    assert_int_equal(tw_nc_send_lossy(nt->p[0].nc, nt->p[0].conn[1], d, sizeof d, nt->now), TW_OK);
  }
  assert_int_equal(nt->nheld, 6);
  set_filter(nt, NULL, -1, -1, 0, 0);
  free(nt->held[2]); /* the third is lost */
  memmove(&nt->held[2], &nt->held[3], 3 * sizeof nt->held[0]);
  nt->nheld = 5;
  release_held(nt, true);
  net_run(nt, 5000, NULL);
  assert_int_equal(b->nlossy, 5);
  const int order[5] = {5, 4, 3, 1, 0};
  for (int k = 0; k < 5; k++) {
    assert_int_equal(b->lossy[k].len, 3);
    assert_int_equal(b->lossy[k].data[0], TW_NC_ID_FIRST_LOSSY + order[k]);
    assert_int_equal(b->lossy[k].data[2], order[k]);
  }
  assert_int_equal(b->rx_total, 0);
  assert_int_equal(cstats(nt, 0, 1).packets_resent, 0);
  /* Lossy and lossless side by side: the lossless still in order. */
  for (int k = 0; k < 20; k++) {
    assert_int_equal(send_gen(nt, 0, 1), TW_OK);
    uint8_t d[2] = {TW_NC_ID_LAST_LOSSY, (uint8_t)k};
    assert_int_equal(tw_nc_send_lossy(nt->p[0].nc, nt->p[0].conn[1], d, sizeof d, nt->now), TW_OK);
  }
  stream(nt, 0, 1, 20, 2000);
  net_run(nt, 1000, NULL);
  assert_int_equal(b->nlossy, 25);
}

static void test_send_refuses_reserved_ids_oversize_and_unestablished(void **state) {
  (void)state;
  net *nt = net_new(2);
  nt->p[1].gen_check = false;
  tw_nc *a = nt->p[0].nc;
  uint32_t c = befriend(nt, 0, 1);
  befriend(nt, 1, 0);
  uint8_t d[TW_NC_MAX_DATA_SIZE + 1];
  memset(d, 0x41, sizeof d);
  d[0] = 16;
  assert_int_equal(tw_nc_send_lossless(a, c, d, 10, NULL, nt->now), TW_E_NOROUTE);
  d[0] = 200;
  assert_int_equal(tw_nc_send_lossy(a, c, d, 10, nt->now), TW_E_NOROUTE);
  assert_int_equal(tw_nc_send_lossless(a, 7, d, 10, NULL, nt->now), TW_E_NOTFOUND);
  assert_int_equal(tw_nc_send_lossy(a, 7, d, 10, nt->now), TW_E_NOTFOUND);
  /* Handshaking is not enough: only ESTABLISHED sends. */
  set_filter(nt, f_drop, -1, -1, TW_PACKET_CRYPTO_DATA, 0);
  introduce(nt, 0, 1);
  net_run(nt, 4 * LATENCY_MS, NULL);
  assert_int_equal(state_of(nt, 0, 1), TW_NC_NOT_CONFIRMED);
  assert_int_equal(state_of(nt, 1, 0), TW_NC_NOT_CONFIRMED);
  d[0] = 16;
  assert_int_equal(tw_nc_send_lossless(a, c, d, 10, NULL, nt->now), TW_E_NOROUTE);
  assert_int_equal(tw_nc_conn_send_space(a, c), 0);
  set_filter(nt, NULL, -1, -1, 0, 0);
  assert_true(net_run(nt, 2000, p01_established));

  const uint8_t not_lossless[] = {0, 1, 2, 3, 15, 192, 193, 230, 254};
  for (size_t k = 0; k < sizeof not_lossless; k++) {
    d[0] = not_lossless[k];
    assert_int_equal(tw_nc_send_lossless(a, c, d, 10, NULL, nt->now), TW_E_KIND);
  }
  const uint8_t not_lossy[] = {0, 1, 2, 15, 16, 100, 191, 255};
  for (size_t k = 0; k < sizeof not_lossy; k++) {
    d[0] = not_lossy[k];
    assert_int_equal(tw_nc_send_lossy(a, c, d, 10, nt->now), TW_E_KIND);
  }
  d[0] = 16;
  assert_int_equal(tw_nc_send_lossless(a, c, d, TW_NC_MAX_DATA_SIZE + 1, NULL, nt->now), TW_E_LONG);
  assert_int_equal(tw_nc_send_lossless(a, c, d, 0, NULL, nt->now), TW_E_INVAL);
  d[0] = 192;
  assert_int_equal(tw_nc_send_lossy(a, c, d, TW_NC_MAX_DATA_SIZE + 1, nt->now), TW_E_LONG);
  assert_int_equal(tw_nc_send_lossy(a, c, d, 0, nt->now), TW_E_INVAL);

  /* The edges that are allowed, at the largest size, arrive intact. */
  const uint8_t ok_lossless[] = {16, 191, 255};
  for (size_t k = 0; k < sizeof ok_lossless; k++) {
    d[0] = ok_lossless[k];
    d[TW_NC_MAX_DATA_SIZE - 1] = (uint8_t)k;
    assert_int_equal(tw_nc_send_lossless(a, c, d, TW_NC_MAX_DATA_SIZE, NULL, nt->now), TW_OK);
  }
  d[0] = 192;
  assert_int_equal(tw_nc_send_lossy(a, c, d, TW_NC_MAX_DATA_SIZE, nt->now), TW_OK);
  d[0] = 254;
  assert_int_equal(tw_nc_send_lossy(a, c, d, 1, nt->now), TW_OK);
  net_run(nt, 1000, NULL);
  peer *b = &nt->p[1];
  assert_int_equal(b->nraw, 3);
  for (int k = 0; k < 3; k++) {
    assert_int_equal(b->raw[k].len, TW_NC_MAX_DATA_SIZE);
    assert_int_equal(b->raw[k].data[0], ok_lossless[k]);
    assert_memory_equal(b->raw[k].data + 1, d + 1, TW_NC_MAX_DATA_SIZE - 2);
    assert_int_equal(b->raw[k].data[TW_NC_MAX_DATA_SIZE - 1], k);
  }
  assert_int_equal(b->nlossy, 2);
  assert_int_equal(b->lossy[0].data[0], 192);
  assert_int_equal(b->lossy[1].data[0], 254);
  assert_int_equal(b->lossy[1].len, 1);
}

/* ---- acknowledgements, send space ---- */

static void test_delivered_and_acked_after_peer_confirms(void **state) {
  (void)state;
  net *nt = established_pair();
  peer *a = &nt->p[0];
  tw_nc *nc = a->nc;
  uint32_t c = a->conn[1];
  uint8_t d[4] = {0x40, 1, 2, 3};
  uint32_t num[3];
  for (int k = 0; k < 3; k++) {
    d[3] = (uint8_t)k;
    assert_int_equal(tw_nc_send_lossless(nc, c, d, sizeof d, &num[k], nt->now), TW_OK);
  }
  assert_int_equal(num[0], 0);
  assert_int_equal(num[1], 1);
  assert_int_equal(num[2], 2);
  nt->p[1].gen_check = false;
  for (int k = 0; k < 3; k++) assert_false(tw_nc_conn_delivered(nc, c, num[k]));
  assert_int_equal(cstats(nt, 0, 1).in_flight, 3);
  uint64_t acked_before = a->acked_events;
  net_run(nt, 3 * LATENCY_MS, NULL);
  for (int k = 0; k < 3; k++) assert_true(tw_nc_conn_delivered(nc, c, num[k]));
  assert_false(tw_nc_conn_delivered(nc, c, 3)); /* not sent yet */
  assert_true(a->acked_events > acked_before);
  assert_int_equal(a->last_send_acked, 3);
  assert_int_equal(cstats(nt, 0, 1).in_flight, 0);
  assert_int_equal(nt->p[1].rx_total, 3);
  /* The round trip was measured: two latencies. */
  assert_int_equal(cstats(nt, 0, 1).rtt_ms, 2 * LATENCY_MS);
}

static void test_send_space_shrinks_while_queued_and_grows_after_acks(void **state) {
  (void)state;
  net *nt = established_pair();
  tw_nc *nc = nt->p[0].nc;
  uint32_t c = nt->p[0].conn[1];
  uint32_t space0 = tw_nc_conn_send_space(nc, c);
  assert_true(space0 > 10);
  set_filter(nt, f_hold, 0, 1, TW_PACKET_CRYPTO_DATA, 0);
  for (uint32_t k = 1; k <= 10; k++) {
    assert_int_equal(send_gen(nt, 0, 1), TW_OK);
    assert_int_equal(tw_nc_conn_send_space(nc, c), space0 - k);
  }
  set_filter(nt, NULL, -1, -1, 0, 0);
  release_held(nt, false);
  stream(nt, 0, 1, 10, 1000);
  net_run(nt, 3 * LATENCY_MS, NULL);
  assert_true(tw_nc_conn_delivered(nc, c, 9));
  assert_true(tw_nc_conn_send_space(nc, c) >= space0 + 10); /* and the window grew */
  /* Queuing stops at send_space: the queue follows the window. */
  uint32_t space = tw_nc_conn_send_space(nc, c);
  set_filter(nt, f_hold, 0, 1, TW_PACKET_CRYPTO_DATA, 0);
  for (uint32_t k = 0; k < space; k++) assert_int_equal(send_gen(nt, 0, 1), TW_OK);
  assert_int_equal(tw_nc_conn_send_space(nc, c), 0);
  assert_int_equal(send_gen(nt, 0, 1), TW_E_FULL);
}

static void test_send_full_when_peer_never_acknowledges(void **state) {
  (void)state;
  net *nt = established_pair();
  tw_nc *nc = nt->p[0].nc;
  uint32_t c = nt->p[0].conn[1];
  set_filter(nt, f_drop, 1, 0, 0, 0);
  nt->p[1].gen_check = false;
  uint8_t d[3] = {0x30, 1, 2};
  uint32_t queued = 0, number = 0;
  int rc;
  while ((rc = tw_nc_send_lossless(nc, c, d, sizeof d, &number, nt->now)) == TW_OK) {
    assert_int_equal(number, queued);
    queued++;
    if (queued > TW_NC_BUFFER_PACKETS + 10) break;
  }
  assert_int_equal(rc, TW_E_FULL);
  /* The queue holds about two windows (never more than the peer could). */
  uint32_t window = cstats(nt, 0, 1).window;
  assert_true(queued <= 2 * window + 64 && queued <= TW_NC_BUFFER_PACKETS);
  assert_true(queued >= window);
  assert_int_equal(tw_nc_conn_send_space(nc, c), 0);
  /* Only a window's worth went out; the rest waits. */
  assert_true(cstats(nt, 0, 1).in_flight <= cstats(nt, 0, 1).window);
  /* Time passes, timers resend, nothing is confirmed: still full. */
  net_run(nt, 5000, NULL);
  assert_int_equal(tw_nc_send_lossless(nc, c, d, sizeof d, NULL, nt->now), TW_E_FULL);
  assert_false(tw_nc_conn_delivered(nc, c, 0));
  assert_int_equal(nt->p[0].acked_events, 0);
}

/* ---- kill ---- */

static void test_kill_sends_kill_packet_and_peer_goes_idle_noroute(void **state) {
  (void)state;
  net *nt = established_pair();
  peer *a = &nt->p[0], *b = &nt->p[1];
  stream(nt, 0, 1, 10, 1000);
  uint64_t sent = a->nsends;
  assert_int_equal(tw_nc_conn_kill(a->nc, a->conn[1], nt->now), TW_OK);
  assert_int_equal(a->nsends, sent + 1);
  assert_int_equal(a->sent_kind[TW_PACKET_CRYPTO_DATA] > 0, 1);
  assert_int_equal(state_of(nt, 0, 1), TW_NC_IDLE);
  evrec *e = &a->log[a->nlog - 1];
  assert_int_equal(e->kind, TW_NC_EV_STATE);
  assert_int_equal(e->state, TW_NC_IDLE);
  assert_int_equal(e->reason, TW_OK);
  net_run(nt, 3 * LATENCY_MS, NULL);
  assert_int_equal(state_of(nt, 1, 0), TW_NC_IDLE);
  e = &b->log[b->nlog - 1];
  assert_int_equal(e->state, TW_NC_IDLE);
  assert_int_equal(e->old_state, TW_NC_ESTABLISHED);
  assert_int_equal(e->reason, TW_E_NOROUTE);
  assert_int_equal(nstats(nt, 0).established, 0);
  assert_int_equal(nstats(nt, 1).established, 0);
  /* Killing an idle connection sends nothing. */
  sent = a->nsends;
  assert_int_equal(tw_nc_conn_kill(a->nc, a->conn[1], nt->now), TW_OK);
  assert_int_equal(a->nsends, sent);
  /* Both idle: the wire stays quiet. */
  uint64_t all = a->nsends + b->nsends;
  net_run(nt, 30000, NULL);
  assert_int_equal(a->nsends + b->nsends, all);
  /* And they can connect again. */
  introduce(nt, 1, 0);
  assert_true(net_run(nt, 1000, p01_established));
  a->rx_next[a->conn[1]] = b->tx_next[b->conn[0]] = 0;
  stream(nt, 1, 0, 10, 1000);
}

static void test_removed_connection_sends_nothing_more(void **state) {
  (void)state;
  net *nt = established_pair();
  peer *a = &nt->p[0], *b = &nt->p[1];
  /* Data in flight both ways, held on the way. */
  set_filter(nt, f_hold, -1, -1, TW_PACKET_CRYPTO_DATA, 0);
  for (int k = 0; k < 10; k++) assert_int_equal(send_gen(nt, 0, 1), TW_OK);
  for (int k = 0; k < 10; k++) assert_int_equal(send_gen(nt, 1, 0), TW_OK);
  set_filter(nt, NULL, -1, -1, 0, 0);
  uint64_t sent = a->nsends;
  uint32_t c = a->conn[1];
  assert_int_equal(tw_nc_conn_remove(a->nc, c, nt->now), TW_OK);
  assert_int_equal(a->nsends, sent + 1); /* the kill */
  assert_int_equal(a->sends[sent].kind, TW_PACKET_CRYPTO_DATA);
  evrec *e = &a->log[a->nlog - 1];
  assert_int_equal(e->state, TW_NC_IDLE);
  assert_int_equal(e->reason, TW_OK);
  assert_int_equal(nstats(nt, 0).connections, 0);
  assert_int_equal(nstats(nt, 0).established, 0);
  assert_int_equal(tw_nc_conn_remove(a->nc, c, nt->now), TW_E_NOTFOUND);
  uint32_t found;
  assert_int_equal(tw_nc_conn_find(a->nc, &b->self.pk, &found), TW_E_NOTFOUND);
  assert_int_equal(tw_nc_send_lossless(a->nc, c, (const uint8_t *)"\x20x", 2, NULL, nt->now),
                   TW_E_NOTFOUND);
  assert_int_equal(tw_nc_conn_kill(a->nc, c, nt->now), TW_E_NOTFOUND);
  /* B's packets still on their way, its reaction to the kill, an hour. */
  release_held(nt, false);
  net_run(nt, 3600 * 1000, NULL);
  assert_int_equal(a->nsends, sent + 1);
  assert_true(a->rc[-TW_E_NOTFOUND] >= 10);
  assert_int_equal(a->rx_total, 0);
  assert_int_equal(state_of(nt, 1, 0), TW_NC_IDLE);
  assert_int_equal(b->log[b->nlog - 1].reason, TW_E_NOROUTE);
  /* B tries again: A answers its cookie request (statelessly, as to
   * anyone) and refuses its handshake; nothing else. */
  uint64_t hs_before = a->sent_kind[TW_PACKET_CRYPTO_HANDSHAKE];
  uint64_t data_before = a->sent_kind[TW_PACKET_CRYPTO_DATA];
  uint64_t notfound = a->rc[-TW_E_NOTFOUND];
  introduce(nt, 1, 0);
  net_run(nt, 20000, NULL);
  assert_int_equal(a->sent_kind[TW_PACKET_COOKIE_RESPONSE], 1);
  assert_int_equal(a->nsends, sent + 2);
  assert_int_equal(a->sent_kind[TW_PACKET_CRYPTO_HANDSHAKE], hs_before);
  assert_int_equal(a->sent_kind[TW_PACKET_CRYPTO_DATA], data_before);
  assert_int_equal(a->rc[-TW_E_NOTFOUND], notfound + SPEC_TRIES);
  assert_int_equal(nstats(nt, 0).connections, 0);
}

/* ---- packet requests and the window ---- */

static void test_packet_request_resends_named_packets_and_settles_those_between(void **state) {
  (void)state;
  net *nt = established_pair();
  peer *a = &nt->p[0];
  set_filter(nt, f_hold, 0, 1, TW_PACKET_CRYPTO_DATA, 0);
  for (int k = 0; k < 10; k++) assert_int_equal(send_gen(nt, 0, 1), TW_OK);
  assert_int_equal(nt->nheld, 10);
  tw_nc_conn_stats s = cstats(nt, 0, 1);
  assert_int_equal(s.in_flight, 10);
  assert_int_equal(s.window, 64);
  assert_int_equal(s.packets_resent, 0);
  uint64_t requests_before = s.requests_received;
  nt->now += 1000; /* long past any reordering; no timers run */

  /* B says: nothing below 0 done; I lack 3 and 7. */
  uint8_t req[16], pkt[SPEC_MAX_PACKET];
  uint32_t missing[2] = {3, 7};
  size_t used;
  int rl = tw_nc_packet_request_write(req, sizeof req, 0, missing, 2, &used);
  assert_int_equal(rl, 3);
  assert_int_equal(req[1], 4); /* 3 - (0 - 1) */
  assert_int_equal(req[2], 4); /* 7 - 3 */
  size_t n = forge(nt, 1, 0, 0, internal_conn(nt, 1, 0)->next_new, req, (size_t)rl, pkt);
  uint64_t data_before = a->sent_kind[TW_PACKET_CRYPTO_DATA];
  assert_int_equal(inject(nt, 0, &nt->p[1].addr, pkt, n), TW_OK);
  s = cstats(nt, 0, 1);
  /* 3 and 7 went out again at once; 0-2 and 4-6 are done; 8, 9 unknown. */
  assert_int_equal(a->sent_kind[TW_PACKET_CRYPTO_DATA] - data_before, 2);
  assert_int_equal(s.packets_resent, 2);
  assert_int_equal(s.requests_received, requests_before + 1);
  /* 3 and 7 are on their way again; 8 and 9 were sent a second ago and
   * not named: counted in flight or assumed arrived, but kept. */
  assert_in_range(s.in_flight, 2, 4);
  assert_int_equal(s.window, 32); /* halved by the loss */
  assert_int_equal(nt->nheld, 12);
  nc_conn *ac = internal_conn(nt, 0, 1);
  for (uint32_t k = 0; k < 10; k++) {
    bool kept = k == 3 || k == 7 || k == 8 || k == 9;
    assert_int_equal(tw_nc_ring_at(&ac->send, k)->data != NULL, kept);
  }
  /* Asked again at once: they were just resent, and are not sent again;
   * the same loss does not halve the window twice. */
  n = forge(nt, 1, 0, 0, internal_conn(nt, 1, 0)->next_new, req, (size_t)rl, pkt);
  assert_int_equal(inject(nt, 0, &nt->p[1].addr, pkt, n), TW_OK);
  s = cstats(nt, 0, 1);
  assert_int_equal(s.packets_resent, 2);
  assert_int_equal(s.window, 32);
  assert_int_equal(a->sent_kind[TW_PACKET_CRYPTO_DATA] - data_before, 2);

  /* Everything held reaches B (twice for 3 and 7): each delivered once. */
  set_filter(nt, NULL, -1, -1, 0, 0);
  release_held(nt, true);
  stream(nt, 0, 1, 10, 2000);
  net_run(nt, 100, NULL);
  assert_int_equal(nt->p[1].rx_total, 10);
  assert_true(tw_nc_conn_delivered(a->nc, a->conn[1], 9));
  assert_int_equal(cstats(nt, 0, 1).in_flight, 0);
}

static void test_window_halves_on_loss_and_grows_on_clean_link(void **state) {
  (void)state;
  net *nt = established_pair();
  assert_int_equal(cstats(nt, 0, 1).window, 64);
  stream(nt, 0, 1, 2000, 20000);
  net_run(nt, 100, NULL);
  uint32_t w_clean = cstats(nt, 0, 1).window;
  assert_true(w_clean > 64 * 4);
  assert_int_equal(cstats(nt, 0, 1).packets_resent, 0);

  /* One loss: the window halves, once. */
  set_filter(nt, f_drop_kth, 0, 1, TW_PACKET_CRYPTO_DATA, 50);
  uint32_t w_min = w_clean, w_after = 0, prev = w_clean;
  int halvings = 0;
  peer *p = &nt->p[0];
  uint32_t c = p->conn[1];
  tw_time_ms until = nt->now + 30000;
  while (rx_from(nt, 1, 0) < 2100) {
    while (p->tx_next[c] < 2100 && tw_nc_conn_send_space(p->nc, c) > 0)
      assert_int_equal(send_gen(nt, 0, 1), TW_OK);
    assert_true(net_step(nt, until));
    uint32_t w = cstats(nt, 0, 1).window;
    if (w < prev) {
      assert_int_equal(w, prev / 2);
      halvings++;
    }
    prev = w;
    if (w < w_min) w_min = w;
  }
  assert_int_equal(cstats(nt, 0, 1).packets_resent, 1);
  assert_int_equal(halvings, 1);
  /* A clean link again: it grows. */
  stream(nt, 0, 1, 6000, 60000);
  net_run(nt, 100, NULL);
  w_after = cstats(nt, 0, 1).window;
  assert_true(w_after > w_min);
  assert_true(w_after <= TW_NC_BUFFER_PACKETS);
  assert_int_equal(nt->p[1].rx_bad, 0);
}

/* ---- nonces ---- */

/* a - b, both 24-byte big-endian numbers; UINT64_MAX when negative or
 * beyond 64 bits. */
static uint64_t nonce_minus(const uint8_t *a, const uint8_t *b) {
  uint8_t r[TW_NONCE_SIZE];
  int borrow = 0;
  for (int i = TW_NONCE_SIZE - 1; i >= 0; i--) {
    int v = a[i] - b[i] - borrow;
    borrow = v < 0;
    r[i] = (uint8_t)(borrow ? v + 256 : v);
  }
  if (borrow) return UINT64_MAX;
  for (int i = 0; i < TW_NONCE_SIZE - 8; i++)
    if (r[i] != 0) return UINT64_MAX;
  uint64_t x = 0;
  for (int i = TW_NONCE_SIZE - 8; i < TW_NONCE_SIZE; i++) x = x << 8 | r[i];
  return x;
}

static void test_more_than_65536_packets_one_way_still_decrypt(void **state) {
  (void)state;
  net *nt = established_pair();
  stream(nt, 0, 1, 70000, 600000);
  net_run(nt, 100, NULL);
  assert_int_equal(nt->p[1].rx_total, 70000);
  assert_true(cstats(nt, 0, 1).packets_sent > 65536 + 1000);
  assert_int_equal(nstats(nt, 1).dropped[-TW_E_CRYPTO], 0);
  assert_int_equal(nstats(nt, 0).dropped[-TW_E_CRYPTO], 0);
  /* B's saved base followed: A's next nonce is at most 2/3 of 2^16 (and
   * one) above it, although A is 70000 past where it began. */
  uint64_t ahead = nonce_minus(internal_conn(nt, 0, 1)->send_nonce,
                               internal_conn(nt, 1, 0)->recv_nonce);
  assert_true(ahead >= 1 && ahead <= 2 * 21845 + 1);
  /* And the other way still works. */
  stream(nt, 1, 0, 100, 5000);
}

/* ---- bad data packets ---- */

static void test_data_from_unknown_address_dropped_notfound(void **state) {
  (void)state;
  net *nt = established_pair();
  set_filter(nt, f_hold, 0, 1, TW_PACKET_CRYPTO_DATA, 0);
  assert_int_equal(send_gen(nt, 0, 1), TW_OK);
  assert_int_equal(nt->nheld, 1);
  dgram *d = nt->held[0];
  nt->nheld = 0;
  set_filter(nt, NULL, -1, -1, 0, 0);
  tw_addr other = test_addr4(10, 0, 0, 1, 9999); /* A's host, another port */
  assert_int_equal(inject(nt, 1, &other, d->data, d->len), TW_E_NOTFOUND);
  tw_addr v6 = test_addr6(1, 33445);
  assert_int_equal(inject(nt, 1, &v6, d->data, d->len), TW_E_NOTFOUND);
  assert_int_equal(nstats(nt, 1).dropped[-TW_E_NOTFOUND], 2);
  assert_int_equal(nt->p[1].rx_total, 0);
  assert_int_equal(inject(nt, 1, &nt->p[0].addr, d->data, d->len), TW_OK);
  assert_int_equal(nt->p[1].rx_total, 1);
  free(d);
  assert_true(p01_established(nt));
  stream(nt, 0, 1, 50, 2000);
}

static void test_bit_flipped_data_dropped_crypto_session_unaffected(void **state) {
  (void)state;
  net *nt = established_pair();
  set_filter(nt, f_hold, 0, 1, TW_PACKET_CRYPTO_DATA, 0);
  assert_int_equal(send_gen(nt, 0, 1), TW_OK);
  dgram *d = nt->held[0];
  nt->nheld = 0;
  set_filter(nt, NULL, -1, -1, 0, 0);
  uint8_t bad[SPEC_MAX_PACKET];
  const size_t spots[] = {1, 2, 3, 10, 18, 19, 25};
  for (size_t k = 0; k < sizeof spots / sizeof spots[0]; k++) {
    memcpy(bad, d->data, d->len);
    bad[spots[k] < d->len ? spots[k] : d->len - 1] ^= 0x04;
    assert_int_equal(inject(nt, 1, &nt->p[0].addr, bad, d->len), TW_E_CRYPTO);
  }
  memcpy(bad, d->data, d->len);
  bad[d->len - 1] ^= 0x80;
  assert_int_equal(inject(nt, 1, &nt->p[0].addr, bad, d->len), TW_E_CRYPTO);
  assert_int_equal(inject(nt, 1, &nt->p[0].addr, d->data, d->len - 1), TW_E_CRYPTO);
  assert_int_equal(nstats(nt, 1).dropped[-TW_E_CRYPTO], 9);
  assert_int_equal(nt->p[1].rx_total, 0);
  assert_int_equal(state_of(nt, 1, 0), TW_NC_ESTABLISHED);
  assert_int_equal(inject(nt, 1, &nt->p[0].addr, d->data, d->len), TW_OK);
  assert_int_equal(nt->p[1].rx_total, 1);
  free(d);
  stream(nt, 0, 1, 100, 2000);
  stream(nt, 1, 0, 100, 2000);
}

/* ---- more than two ---- */

static bool all_three_established(net *nt) {
  return state_of(nt, 0, 1) == TW_NC_ESTABLISHED && state_of(nt, 1, 0) == TW_NC_ESTABLISHED &&
         state_of(nt, 0, 2) == TW_NC_ESTABLISHED && state_of(nt, 2, 0) == TW_NC_ESTABLISHED;
}

static void test_three_peers_data_kept_apart(void **state) {
  (void)state;
  net *nt = net_new(3);
  befriend(nt, 0, 1);
  befriend(nt, 0, 2);
  befriend(nt, 1, 0);
  befriend(nt, 2, 0);
  introduce(nt, 0, 1);
  introduce(nt, 2, 0);
  assert_true(net_run(nt, 1000, all_three_established));
  assert_int_equal(nstats(nt, 0).established, 2);
  set_filter(nt, f_drop_every_nth, -1, -1, TW_PACKET_CRYPTO_DATA, 7);
  /* Interleaved streams; each receiver checks the sender by its salt. */
  for (int round = 1; round <= 30; round++) {
    for (int k = 0; k < 10; k++) {
      assert_int_equal(send_gen(nt, 0, 1), TW_OK);
      assert_int_equal(send_gen(nt, 0, 2), TW_OK);
      assert_int_equal(send_gen(nt, 2, 0), TW_OK);
    }
    net_run(nt, 50, NULL);
  }
  stream(nt, 0, 1, 300, 20000);
  stream(nt, 0, 2, 300, 20000);
  stream(nt, 2, 0, 300, 20000);
  assert_int_equal(nt->p[0].rx_bad + nt->p[1].rx_bad + nt->p[2].rx_bad, 0);
  assert_int_equal(nt->p[0].rx_total, 300);
  /* Killing one leaves the other alone. */
  assert_int_equal(tw_nc_conn_kill(nt->p[0].nc, nt->p[0].conn[1], nt->now), TW_OK);
  stream(nt, 0, 2, 350, 20000);
  assert_int_equal(state_of(nt, 0, 2), TW_NC_ESTABLISHED);
}

/* ---- event handlers that act ---- */

static void echo_then_kill(peer *p, const tw_nc_event *ev) {
  if (ev->kind != TW_NC_EV_LOSSLESS) return;
  int from = p->conn_peer[ev->conn];
  uint8_t buf[256];
  size_t len = gen_payload(p->tx_next[ev->conn], salt_of(p->idx, from), buf);
  if (tw_nc_send_lossless(p->nc, ev->conn, buf, len, NULL, ev->time) == TW_OK)
    p->tx_next[ev->conn]++;
  if (p->rx_total == (uint64_t)p->hook_arg) tw_nc_conn_kill(p->nc, ev->conn, ev->time);
}

static void test_event_handler_may_send_and_kill(void **state) {
  (void)state;
  net *nt = established_pair();
  nt->p[1].hook = echo_then_kill;
  nt->p[1].hook_arg = 150;
  set_filter(nt, f_reverse_and_dup, 0, 1, TW_PACKET_CRYPTO_DATA, 0);
  stream(nt, 0, 1, 100, 10000);
  net_run(nt, 200, NULL);
  assert_int_equal(nt->p[0].rx_total, 100); /* every echo came back */
  assert_int_equal(nt->p[0].rx_bad, 0);
  /* The 150th kills from inside its own delivery. */
  for (int k = 0; k < 100; k++) (void)send_gen(nt, 0, 1);
  net_run(nt, 2000, NULL);
  assert_int_equal(nt->p[1].rx_total, 150);
  assert_int_equal(state_of(nt, 1, 0), TW_NC_IDLE);
  assert_int_equal(state_of(nt, 0, 1), TW_NC_IDLE);
  assert_int_equal(nt->p[0].log[nt->p[0].nlog - 1].reason, TW_E_NOROUTE);
  assert_int_equal(cstats(nt, 1, 0).recv_held, 0);
}

static void remove_on_established(peer *p, const tw_nc_event *ev) {
  if (ev->kind == TW_NC_EV_STATE && ev->state == TW_NC_ESTABLISHED)
    tw_nc_conn_remove(p->nc, ev->conn, ev->time);
}

static void test_event_handler_may_remove_its_connection(void **state) {
  (void)state;
  net *nt = net_new(2);
  befriend(nt, 0, 1);
  befriend(nt, 1, 0);
  nt->p[1].hook = remove_on_established;
  introduce(nt, 0, 1);
  net_run(nt, 20000, NULL);
  assert_int_equal(nstats(nt, 1).connections, 0);
  assert_int_equal(state_of(nt, 0, 1), TW_NC_IDLE);
  assert_int_equal(nt->p[0].log[nt->p[0].nlog - 1].reason, TW_E_NOROUTE);
}

static void test_conn_add_refuses_own_key_and_finds_existing(void **state) {
  (void)state;
  net *nt = net_new(2);
  uint32_t c, c2;
  assert_int_equal(tw_nc_conn_add(nt->p[0].nc, &nt->p[0].self.pk, &c), TW_E_INVAL);
  assert_int_equal(tw_nc_conn_add(nt->p[0].nc, &nt->p[1].self.pk, &c), TW_OK);
  assert_int_equal(tw_nc_conn_add(nt->p[0].nc, &nt->p[1].self.pk, &c2), TW_OK);
  assert_int_equal(c, c2);
  assert_int_equal(nstats(nt, 0).connections, 1);
  /* No address before a DHT key: cookie requests are sealed with it. */
  assert_int_equal(tw_nc_conn_set_addr(nt->p[0].nc, c, &nt->p[1].addr, nt->now), TW_E_INVAL);
  tw_addr unset;
  memset(&unset, 0, sizeof unset);
  assert_int_equal(tw_nc_conn_set_addr(nt->p[0].nc, c, &unset, nt->now), TW_E_ADDR);
  assert_int_equal(tw_nc_conn_state(nt->p[0].nc, c), TW_NC_IDLE);
  assert_int_equal(tw_nc_handle_packet(nt->p[0].nc, &nt->p[1].addr, (const uint8_t *)"\x02", 1,
                                       nt->now),
                   TW_E_KIND);
  assert_true(tw_nc_handles_kind(0x18) && tw_nc_handles_kind(0x1b));
  assert_false(tw_nc_handles_kind(0x1c) || tw_nc_handles_kind(0x17));
}

/* ---- two routes: TCP relays and UDP ---- */

/* Peers 0 and 1 know each other's DHT key, UDP address and relay address,
 * with UDP down: they connect through the relay. */
static net *relay_pair(void) {
  net *nt = net_new(2);
  nt->udp_down = true;
  for (int i = 0; i < 2; i++) {
    int j = 1 - i;
    befriend(nt, i, j);
    tw_addr relay = tw_tcp_conns_peer_addr(&nt->p[j].dht.pk);
    introduce(nt, i, j);
    assert_int_equal(tw_nc_conn_set_addr(nt->p[i].nc, nt->p[i].conn[j], &relay, nt->now), TW_OK);
  }
  assert_true(net_run(nt, 3000, p01_established));
  return nt;
}

static bool direct(net *nt, int i, int j) {
  return tw_nc_conn_is_direct(nt->p[i].nc, nt->p[i].conn[j], nt->now);
}

static bool p01_direct(net *nt) { return direct(nt, 0, 1) && direct(nt, 1, 0); }

/* With UDP down a session comes up through the relay and carries data;
 * UDP gets at most one try a second meanwhile. */
static void test_session_through_relay_while_udp_is_down(void **state) {
  (void)state;
  net *nt = relay_pair();
  assert_false(direct(nt, 0, 1));
  assert_false(direct(nt, 1, 0));
  uint64_t udp0 = nt->udp_data_sent, tcp0 = nt->tcp_data_sent;
  tw_time_ms t0 = nt->now;
  stream(nt, 0, 1, 3000, 10000);
  stream(nt, 1, 0, 3000, 10000);
  net_run(nt, 5000, NULL);
  tw_time_ms secs = (nt->now - t0) / 1000 + 1;
  assert_true(nt->tcp_data_sent - tcp0 >= 6000);
  /* Each side tries UDP at most once a second. */
  assert_true(nt->udp_data_sent - udp0 <= 2 * secs);
  assert_true(p01_established(nt));
}

/* The same session moves to UDP once UDP packets arrive, with no new
 * handshake and no state change, and then sends nothing through the
 * relay; when UDP goes quiet it falls back to the relay, still the same
 * session. */
static void test_session_moves_to_udp_and_back_to_the_relay(void **state) {
  (void)state;
  net *nt = relay_pair();
  tw_nc_state st[16];
  int n0 = states_of(&nt->p[0], nt->p[0].conn[1], st, NULL, 16);
  int n1 = states_of(&nt->p[1], nt->p[1].conn[0], st, NULL, 16);
  uint64_t hs = nstats(nt, 0).handshakes_out + nstats(nt, 1).handshakes_out;
  stream(nt, 0, 1, 100, 5000);

  /* UDP works again: the tries that ride along with traffic (one a
   * second) now arrive, and each side answers by UDP. */
  nt->udp_down = false;
  uint32_t want = 100;
  tw_time_ms until = nt->now + 3000;
  while (!p01_direct(nt) && nt->now < until) {
    want += 20;
    stream(nt, 0, 1, want, 2000);
    stream(nt, 1, 0, want - 100, 2000);
    net_run(nt, 100, NULL);
  }
  assert_true(p01_direct(nt));
  assert_int_equal(states_of(&nt->p[0], nt->p[0].conn[1], st, NULL, 16), n0);
  assert_int_equal(states_of(&nt->p[1], nt->p[1].conn[0], st, NULL, 16), n1);
  assert_int_equal(nstats(nt, 0).handshakes_out + nstats(nt, 1).handshakes_out, hs);

  uint64_t tcp = nt->tcp_sent;
  stream(nt, 0, 1, 3000, 10000);
  stream(nt, 1, 0, 3000, 10000);
  assert_int_equal(nt->tcp_sent, tcp); /* all of it by UDP */
  assert_true(p01_direct(nt));

  /* UDP fails: once nothing came by UDP for TW_NC_UDP_DIRECT_MS, data
   * takes the relay. */
  nt->udp_down = true;
  net_run(nt, TW_NC_UDP_DIRECT_MS + 2 * LATENCY_MS, NULL);
  assert_false(direct(nt, 0, 1));
  assert_false(direct(nt, 1, 0));
  tcp = nt->tcp_data_sent;
  stream(nt, 0, 1, 3500, 10000);
  assert_true(nt->tcp_data_sent - tcp >= 500);
  assert_true(p01_established(nt));
  assert_int_equal(states_of(&nt->p[0], nt->p[0].conn[1], st, NULL, 16), n0);
  assert_int_equal(states_of(&nt->p[1], nt->p[1].conn[0], st, NULL, 16), n1);
}

/* A live UDP session keeps the address that works: a new UDP address
 * for the peer (from the DHT) does not take it over. */
static void test_live_udp_session_keeps_its_address(void **state) {
  (void)state;
  net *nt = established_pair();
  stream(nt, 0, 1, 50, 2000);
  tw_addr other = test_addr4(10, 9, 9, 9, 40000);
  assert_int_equal(tw_nc_conn_set_addr(nt->p[0].nc, nt->p[0].conn[1], &other, nt->now), TW_OK);
  stream(nt, 0, 1, 500, 5000);
  assert_int_equal(nt->undeliverable, 0);
  assert_true(direct(nt, 0, 1));
}

#define T(name) cmocka_unit_test_teardown(name, teardown)

int main(void) {
  assert_int_equal(tw_crypto_init(), TW_OK);
  const struct CMUnitTest tests[] = {
      T(test_cookie_request_from_stranger_gets_cookie_response_without_state),
      T(test_cookie_request_bad_box_wrong_size_or_top_bit_gets_nothing),
      T(test_cookie_response_that_answers_nothing_is_dropped),
      T(test_handshake_on_cookie_older_than_15_s_is_refused_expired),
      T(test_cookie_survives_one_key_rotation_not_two),
      T(test_handshake_from_key_not_added_is_refused_notfound),
      T(test_connection_when_only_a_knows_b_address),
      T(test_both_sides_start_at_once_make_one_session),
      T(test_first_data_packet_lost_still_confirms_both_sides),
      T(test_lost_cookie_requests_retried_every_second_then_idle_expired),
      T(test_unanswered_handshakes_retried_every_second_then_idle_expired),
      T(test_late_duplicate_handshake_does_not_disturb_established),
      T(test_handshake_with_new_dht_key_restarts_session),
      T(test_new_session_replaces_silent_established_one),
      T(test_lossless_in_order_when_every_third_packet_dropped),
      T(test_lossless_survives_duplicates_and_reversed_batches),
      T(test_packet_far_ahead_dropped_and_memory_bounded),
      T(test_lossy_packets_delivered_once_each_as_they_come),
      T(test_send_refuses_reserved_ids_oversize_and_unestablished),
      T(test_delivered_and_acked_after_peer_confirms),
      T(test_send_space_shrinks_while_queued_and_grows_after_acks),
      T(test_send_full_when_peer_never_acknowledges),
      T(test_kill_sends_kill_packet_and_peer_goes_idle_noroute),
      T(test_removed_connection_sends_nothing_more),
      T(test_packet_request_resends_named_packets_and_settles_those_between),
      T(test_window_halves_on_loss_and_grows_on_clean_link),
      T(test_more_than_65536_packets_one_way_still_decrypt),
      T(test_data_from_unknown_address_dropped_notfound),
      T(test_bit_flipped_data_dropped_crypto_session_unaffected),
      T(test_three_peers_data_kept_apart),
      T(test_event_handler_may_send_and_kill),
      T(test_event_handler_may_remove_its_connection),
      T(test_conn_add_refuses_own_key_and_finds_existing),
      T(test_session_through_relay_while_udp_is_down),
      T(test_session_moves_to_udp_and_back_to_the_relay),
      T(test_live_udp_session_keeps_its_address),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
