/* Scenario tests of the onion relay and the announce node (spec "Onion"),
 * driven through tw_node (and tw_onion directly where the node does not
 * reach, e.g. TCP links), and of the client over TCP relays, whose
 * payloads the test opens with the keys it owns.
 *
 * An in-test network: an endpoint is a tw_node or a fake peer the test
 * speaks for. Every datagram a node sends is logged; tests step packets
 * from hop to hop by hand and assert what went on the wire, byte for byte.
 * The client side (building onion layers, announce requests, data to route
 * requests) is written here from the spec with the crypto primitives only,
 * not with the library's client, so the two are checked against each
 * other. Time is a plain counter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"
#include "core/node_info.h"
#include "dht/dht_wire.h"
#include "onion/onion_wire.h"
#include "testutil.h"
#include "toxwire/error.h"
#include "toxwire/node.h"
#include "toxwire/onion.h"

/* The spec's numbers, written out so a wrong library constant fails. */
#define SPEC_MAX_PACKET 1400
#define SPEC_IPPORT 19
#define SPEC_RET1 59
#define SPEC_RET2 118
#define SPEC_RET3 177
#define SPEC_ANNOUNCE_REQUEST 177 /* [0x83][nonce][pk][box(104)] */
#define SPEC_ANNOUNCE_RESPONSE_MAX (1 + 8 + 24 + 1 + 32 + 4 * 51 + 16)
#define SPEC_PING_PERIOD_MS 300000
#define SPEC_ENTRY_TIMEOUT_MS 300000
#define SPEC_RETURN_KEY_LIFETIME_MS 3600000 /* toxcore: refreshed every hour */

/* ---- the in-test network ---- */

#define MAX_EP 24
#define MAX_SENT 64

typedef struct sent {
  int from;
  tw_addr to;
  uint8_t data[2048];
  size_t len;
} sent;

struct net;

typedef struct ep {
  struct net *net;
  int idx;
  tw_node *node;   /* a tw_node, or */
  tw_dht *dht;     /* a bare tw_dht + tw_onion (for tcp_send), or neither: fake */
  tw_onion *onion; /* the node's onion, or the bare one */
  tw_keypair kp;   /* DHT keys */
  tw_keypair self; /* long-term keys */
  tw_addr addr;
  test_rng rng;
  int events;
  tw_onion_event ev;
  uint8_t ev_data[SPEC_MAX_PACKET];
  /* tcp_send */
  int tcp_sent;
  uint64_t tcp_link;
  uint8_t tcp_data[SPEC_MAX_PACKET];
  size_t tcp_len;
} ep;

typedef struct net {
  ep ep[MAX_EP];
  int n;
  sent log[MAX_SENT];
  int nlog;
  tw_time_ms now;
} net;

static net *g_net;

/* An epoch inside a ping id window, not at its start. */
#define T0 ((tw_time_ms)1000 * SPEC_PING_PERIOD_MS + 4321)

static net *net_new(void) {
  net *nt = calloc(1, sizeof *nt);
  assert_non_null(nt);
  nt->now = T0;
  g_net = nt;
  return nt;
}

static void net_free(net *nt) {
  for (int i = 0; i < nt->n; i++) {
    if (nt->ep[i].node) {
      tw_node_free(nt->ep[i].node);
    } else {
      tw_onion_free(nt->ep[i].onion);
      tw_dht_free(nt->ep[i].dht);
    }
  }
  free(nt);
  if (g_net == nt) g_net = NULL;
}

static uint8_t g_announce_kind = 0x83; /* 0x87: the newer announce form */

static int teardown(void **state) {
  (void)state;
  if (g_net) net_free(g_net);
  g_announce_kind = 0x83;
  return 0;
}

static void on_send(void *ctx, const tw_addr *to, const uint8_t *data, size_t len) {
  ep *e = ctx;
  net *nt = e->net;
  assert_non_null(to);
  assert_true(len > 0);
  /* Nothing a node sends is larger than an onion packet may be. */
  assert_true(len <= SPEC_MAX_PACKET);
  assert_true(nt->nlog < MAX_SENT);
  sent *s = &nt->log[nt->nlog++];
  s->from = e->idx;
  s->to = *to;
  memcpy(s->data, data, len);
  s->len = len;
}

static void on_tcp_send(void *ctx, uint64_t link, const uint8_t *pkt, size_t len) {
  ep *e = ctx;
  assert_true(len > 0 && len <= SPEC_MAX_PACKET);
  e->tcp_sent++;
  e->tcp_link = link;
  memcpy(e->tcp_data, pkt, len);
  e->tcp_len = len;
}

static void on_event(void *ctx, const tw_onion_event *ev) {
  ep *e = ctx;
  e->events++;
  e->ev = *ev;
  if (ev->data != NULL) {
    assert_true(ev->data_len <= sizeof e->ev_data);
    memcpy(e->ev_data, ev->data, ev->data_len);
    e->ev.data = e->ev_data;
  }
}

static ep *add_ep(net *nt, tw_addr addr, uint64_t seed) {
  assert_true(nt->n < MAX_EP);
  ep *e = &nt->ep[nt->n];
  memset(e, 0, sizeof *e);
  e->net = nt;
  e->idx = nt->n++;
  e->kp = test_keypair(seed);
  e->self = test_keypair(seed + 100000);
  e->addr = addr;
  e->rng.state = seed ^ 0x5a5a5a;
  return e;
}

static int add_fake(net *nt, tw_addr addr, uint64_t seed) { return add_ep(nt, addr, seed)->idx; }

enum { RELAY = 1, STORE = 2, CLIENT = 4 };

static int add_node_n(net *nt, tw_addr addr, uint64_t seed, int flags, size_t entries) {
  ep *e = add_ep(nt, addr, seed);
  tw_node_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.dht.keys = e->kp;
  cfg.dht.send = on_send;
  cfg.dht.send_ctx = e;
  cfg.onion_relay = flags & RELAY;
  cfg.announce_store = flags & STORE;
  cfg.announce_entries = entries;
  cfg.onion_client = flags & CLIENT;
  cfg.self_keys = e->self;
  cfg.on_onion_event = on_event;
  cfg.event_ctx = e;
  tw_env env = test_env(&e->rng);
  e->node = tw_node_new(&cfg, &env, nt->now);
  assert_non_null(e->node);
  e->onion = tw_node_onion(e->node);
  if (flags) assert_non_null(e->onion);
  return e->idx;
}

static int add_node(net *nt, tw_addr addr, uint64_t seed, int flags) {
  return add_node_n(nt, addr, seed, flags, 0);
}

/* A bare tw_dht for e, and an onion config on it that sends through e:
 * the caller sets what kind of onion it is and creates it. */
static tw_onion_config bare_onion_config(net *nt, ep *e, tw_env *env) {
  *env = test_env(&e->rng);
  tw_dht_config dc;
  memset(&dc, 0, sizeof dc);
  dc.keys = e->kp;
  dc.send = on_send;
  dc.send_ctx = e;
  e->dht = tw_dht_new(&dc, env, nt->now);
  assert_non_null(e->dht);
  tw_onion_config oc;
  memset(&oc, 0, sizeof oc);
  oc.dht = e->dht;
  oc.dht_keys = e->kp;
  oc.send = on_send;
  oc.send_ctx = e;
  return oc;
}

/* A bare tw_onion relay with a TCP send callback. */
static int add_tcp_relay(net *nt, tw_addr addr, uint64_t seed) {
  ep *e = add_ep(nt, addr, seed);
  tw_env env;
  tw_onion_config oc = bare_onion_config(nt, e, &env);
  oc.tcp_send = on_tcp_send;
  oc.tcp_ctx = e;
  oc.relay = true;
  e->onion = tw_onion_new(&oc, &env, nt->now);
  assert_non_null(e->onion);
  return e->idx;
}

static ep *ep_at(net *nt, const tw_addr *a) {
  for (int i = 0; i < nt->n; i++)
    if (tw_addr_equal(&nt->ep[i].addr, a)) return &nt->ep[i];
  return NULL;
}

static void clear_log(net *nt) { nt->nlog = 0; }

/* Feeds pkt to endpoint `to` as if sent by endpoint `from`. */
static int inject(net *nt, int from, int to, const uint8_t *pkt, size_t len) {
  ep *d = &nt->ep[to];
  clear_log(nt);
  if (d->node) return tw_node_handle_packet(d->node, &nt->ep[from].addr, pkt, len, nt->now);
  if (d->dht != NULL && !tw_onion_handles_kind(pkt[0]))
    return tw_dht_handle_packet(d->dht, &nt->ep[from].addr, pkt, len, nt->now);
  assert_non_null(d->onion);
  return tw_onion_handle_packet(d->onion, &nt->ep[from].addr, pkt, len, nt->now);
}

/* The one datagram the last step sent. */
static sent only_sent(net *nt) {
  assert_int_equal(nt->nlog, 1);
  return nt->log[0];
}

/* Delivers the one datagram the last step sent to its addressee (which
 * must be a node); returns the addressee's verdict. */
static int step(net *nt, int want_to) {
  sent s = only_sent(nt);
  ep *d = ep_at(nt, &s.to);
  assert_non_null(d);
  assert_int_equal(d->idx, want_to);
  return inject(nt, s.from, d->idx, s.data, s.len);
}

static tw_onion_stats stats_of(net *nt, int i) {
  tw_onion_stats st;
  assert_non_null(nt->ep[i].onion);
  tw_onion_get_stats(nt->ep[i].onion, &st, nt->now);
  uint64_t sum = 0;
  for (int k = 0; k < TW_ERROR_COUNT; k++) sum += st.dropped[k];
  assert_int_equal(st.dropped[0], 0);
  assert_int_equal(sum, st.dropped_total);
  return st;
}

static uint64_t dropped(net *nt, int i, int err) { return stats_of(nt, i).dropped[-err]; }

static void pattern(uint8_t *p, size_t n, uint8_t start) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(start + 13 * i);
}

/* ---- the client side, from the spec ---- */

/* [family][ip, IPv4 zero padded to 16][port BE] */
static size_t put_ipport(uint8_t *out, const tw_addr *a) {
  memset(out, 0, SPEC_IPPORT);
  out[0] = a->family;
  memcpy(out + 1, a->ip, a->family == TW_AF_INET ? 4 : 16);
  out[17] = (uint8_t)(a->port >> 8);
  out[18] = (uint8_t)a->port;
  return SPEC_IPPORT;
}

static void seal_to(uint8_t *out, const uint8_t *plain, size_t len, const uint8_t *nonce,
                    const tw_key *their_pk, const uint8_t *our_sk) {
  uint8_t k[TW_SHARED_KEY_SIZE];
  tw_shared_key_compute(k, their_pk, our_sk);
  tw_box_seal(out, plain, len, nonce, k);
}

static int open_from(uint8_t *out, const uint8_t *box, size_t len, const uint8_t *nonce,
                     const tw_key *their_pk, const uint8_t *our_sk) {
  uint8_t k[TW_SHARED_KEY_SIZE];
  tw_shared_key_compute(k, their_pk, our_sk);
  return tw_box_open(out, box, len, nonce, k);
}

typedef struct path {
  int hop[3]; /* A, B, C */
  tw_keypair temp[3];
  uint8_t nonce[TW_NONCE_SIZE];
} path;

static path make_path(net *nt, int a, int b, int c, uint64_t seed) {
  (void)nt;
  path p;
  p.hop[0] = a;
  p.hop[1] = b;
  p.hop[2] = c;
  for (int i = 0; i < 3; i++) p.temp[i] = test_keypair(seed * 3 + (uint64_t)i + 5000);
  pattern(p.nonce, TW_NONCE_SIZE, (uint8_t)seed);
  return p;
}

typedef struct onion_pkt {
  uint8_t pkt[2048];
  size_t len;
  uint8_t box_b[2048]; /* what A forwards after [0x81][nonce][pk1] */
  size_t box_b_len;
  uint8_t box_c[2048]; /* what B forwards after [0x82][nonce][pk2] */
  size_t box_c_len;
} onion_pkt;

/* [0x80][nonce][pk0][box_A(ip B, pk1, box_B(ip C, pk2, box_C(ip D, data)))] */
static void build_onion(net *nt, const path *p, const tw_addr *dest, const uint8_t *data,
                        size_t len, onion_pkt *o) {
  static uint8_t plain[2048];
  const ep *A = &nt->ep[p->hop[0]], *B = &nt->ep[p->hop[1]], *C = &nt->ep[p->hop[2]];
  size_t n = put_ipport(plain, dest);
  memcpy(plain + n, data, len);
  n += len;
  seal_to(o->box_c, plain, n, p->nonce, &C->kp.pk, p->temp[2].sk);
  o->box_c_len = n + TW_MAC_SIZE;

  n = put_ipport(plain, &C->addr);
  memcpy(plain + n, p->temp[2].pk.bytes, 32);
  n += 32;
  memcpy(plain + n, o->box_c, o->box_c_len);
  n += o->box_c_len;
  seal_to(o->box_b, plain, n, p->nonce, &B->kp.pk, p->temp[1].sk);
  o->box_b_len = n + TW_MAC_SIZE;

  n = put_ipport(plain, &B->addr);
  memcpy(plain + n, p->temp[1].pk.bytes, 32);
  n += 32;
  memcpy(plain + n, o->box_b, o->box_b_len);
  n += o->box_b_len;
  o->pkt[0] = 0x80;
  memcpy(o->pkt + 1, p->nonce, TW_NONCE_SIZE);
  memcpy(o->pkt + 25, p->temp[0].pk.bytes, 32);
  seal_to(o->pkt + 57, plain, n, p->nonce, &A->kp.pk, p->temp[0].sk);
  o->len = 57 + n + TW_MAC_SIZE;
}

/* One request layer of kind with an arbitrary plaintext, sealed to `to`,
 * followed by ret_len bytes of (fake) return path. */
static size_t build_layer(uint8_t kind, const tw_key *to, const tw_keypair *temp,
                          const uint8_t *nonce, const uint8_t *plain, size_t n, size_t ret_len,
                          uint8_t *out) {
  out[0] = kind;
  memcpy(out + 1, nonce, TW_NONCE_SIZE);
  memcpy(out + 25, temp->pk.bytes, 32);
  seal_to(out + 57, plain, n, nonce, to, temp->sk);
  pattern(out + 57 + n + TW_MAC_SIZE, ret_len, 0x42);
  return 57 + n + TW_MAC_SIZE + ret_len;
}

typedef struct announce_req {
  uint8_t ping[32];
  tw_key search, data_pk;
  uint8_t sendback[8];
  uint8_t nonce[TW_NONCE_SIZE];
} announce_req;

/* [0x83][nonce][sender pk][box(ping id, search, data pk, sendback)] */
static size_t build_announce(const tw_keypair *sender, const tw_key *d_pk, const announce_req *r,
                             uint8_t *out) {
  uint8_t plain[104];
  memcpy(plain, r->ping, 32);
  memcpy(plain + 32, r->search.bytes, 32);
  memcpy(plain + 64, r->data_pk.bytes, 32);
  memcpy(plain + 96, r->sendback, 8);
  out[0] = 0x83;
  memcpy(out + 1, r->nonce, TW_NONCE_SIZE);
  memcpy(out + 25, sender->pk.bytes, 32);
  seal_to(out + 57, plain, sizeof plain, r->nonce, d_pk, sender->sk);
  return SPEC_ANNOUNCE_REQUEST;
}

/* Opens [0x84][sendback][nonce][box] as the announcer would; also the
 * newer form [0x88]..., whose plaintext has a node count byte after the id
 * (spec/onion.md). */
static void open_announce_response(const uint8_t *data, size_t len, const tw_keypair *sender,
                                   const tw_key *d_pk, const uint8_t sendback[8],
                                   tw_announce_response_plain *out) {
  bool new_form = data[0] == 0x88;
  assert_true(len >= (size_t)(1 + 8 + 24 + 16 + 33 + new_form));
  assert_true(len <= (size_t)(SPEC_ANNOUNCE_RESPONSE_MAX + new_form));
  if (!new_form) assert_int_equal(data[0], 0x84);
  assert_memory_equal(data + 1, sendback, 8);
  uint8_t plain[SPEC_ANNOUNCE_RESPONSE_MAX + 1];
  assert_int_equal(open_from(plain, data + 33, len - 33, data + 9, d_pk, sender->sk), TW_OK);
  size_t n = len - 33 - TW_MAC_SIZE;
  if (new_form) {
    uint8_t count = plain[33];
    memmove(plain + 33, plain + 34, n - 34);
    n--;
    assert_int_equal(tw_announce_response_plain_decode(out, plain, n), TW_OK);
    assert_int_equal(out->count, count);
    return;
  }
  assert_int_equal(tw_announce_response_plain_decode(out, plain, n), TW_OK);
}

static announce_req mk_announce(const uint8_t *ping, const tw_key *search, const tw_key *data_pk,
                                uint8_t tag) {
  announce_req r;
  memset(&r, 0, sizeof r);
  if (ping) memcpy(r.ping, ping, 32);
  r.search = *search;
  r.data_pk = *data_pk;
  pattern(r.sendback, 8, tag);
  pattern(r.nonce, TW_NONCE_SIZE, (uint8_t)(tag + 1));
  return r;
}

/* The fake return path an announce request sent from `via` carries: each
 * via has its own, so the one D stores can be told apart. */
static void fake_ret(int via, uint8_t ret[SPEC_RET3]) { pattern(ret, SPEC_RET3, (uint8_t)(0x60 + via)); }

/* sender announces to (or searches at) D, the request arriving from fake
 * node `via` as node C would send it. Returns D's verdict; on TW_OK checks
 * the one response went back to via down the same return path and decodes
 * it into resp. */

static int announce_at(net *nt, int via, int d, const tw_keypair *sender, const announce_req *r,
                       tw_announce_response_plain *resp) {
  uint8_t pkt[SPEC_ANNOUNCE_REQUEST + SPEC_RET3], ret[SPEC_RET3];
  build_announce(sender, &nt->ep[d].kp.pk, r, pkt);
  pkt[0] = g_announce_kind;
  fake_ret(via, ret);
  memcpy(pkt + SPEC_ANNOUNCE_REQUEST, ret, SPEC_RET3);
  int rc = inject(nt, via, d, pkt, sizeof pkt);
  if (rc != TW_OK) {
    assert_int_equal(nt->nlog, 0);
    return rc;
  }
  sent s = only_sent(nt);
  assert_true(tw_addr_equal(&s.to, &nt->ep[via].addr));
  assert_true(s.len <= 1 + SPEC_RET3 + SPEC_ANNOUNCE_RESPONSE_MAX + (g_announce_kind == 0x87));
  assert_int_equal(s.data[0], 0x8c);
  assert_memory_equal(s.data + 1, ret, SPEC_RET3);
  assert_int_equal(s.data[1 + SPEC_RET3], g_announce_kind == 0x87 ? 0x88 : 0x84);
  open_announce_response(s.data + 1 + SPEC_RET3, s.len - 1 - SPEC_RET3, sender, &nt->ep[d].kp.pk,
                         r->sendback, resp);
  return rc;
}

/* Announces sender's long-term key at D: a request with ping id zero, then
 * one with the ping id D gave. Returns the second is_stored. */
static uint8_t announce_fully(net *nt, int via, int d, const tw_keypair *sender,
                              const tw_key *data_pk) {
  tw_announce_response_plain resp;
  announce_req r = mk_announce(NULL, &sender->pk, data_pk, 1);
  assert_int_equal(announce_at(nt, via, d, sender, &r, &resp), TW_OK);
  r = mk_announce(resp.ping_or_key, &sender->pk, data_pk, 2);
  assert_int_equal(announce_at(nt, via, d, sender, &r, &resp), TW_OK);
  return resp.is_stored;
}

/* A searcher (a throwaway key) asks D about pk. */
static uint8_t search_at(net *nt, int via, int d, const tw_key *pk, tw_key *data_pk_out) {
  tw_keypair searcher = test_keypair(777777);
  tw_key zero;
  memset(&zero, 0, sizeof zero);
  announce_req r = mk_announce(NULL, pk, &zero, 9);
  tw_announce_response_plain resp;
  assert_int_equal(announce_at(nt, via, d, &searcher, &r, &resp), TW_OK);
  if (data_pk_out) memcpy(data_pk_out->bytes, resp.ping_or_key, 32);
  return resp.is_stored;
}

static bool all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

/* Makes fake peer p a good node in node n's DHT (it pings n, answers n's
 * ping back). */
static void make_known(net *nt, int n, int p) {
  ep *P = &nt->ep[p];
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_shared_key_compute(shared, &nt->ep[n].kp.pk, P->kp.sk);
  uint8_t plain[TW_PING_PLAIN_SIZE], pkt[TW_PING_PACKET_SIZE], nonce[TW_NONCE_SIZE];
  tw_ping_payload ping = {.flag = TW_PING_FLAG_REQUEST, .id = 0x1234 + (uint64_t)p};
  tw_ping_payload_encode(plain, &ping);
  pattern(nonce, sizeof nonce, (uint8_t)p);
  int len = tw_dht_packet_seal(pkt, sizeof pkt, TW_PACKET_PING_REQUEST, &P->kp.pk, nonce, shared,
                               plain, sizeof plain);
  assert_int_equal(inject(nt, p, n, pkt, (size_t)len), TW_OK);
  /* n answered and pinged p back */
  const sent *req = NULL;
  for (int i = 0; i < nt->nlog; i++)
    if (nt->log[i].data[0] == TW_PACKET_PING_REQUEST) req = &nt->log[i];
  assert_non_null(req);
  tw_dht_header h;
  assert_int_equal(tw_dht_header_parse(&h, req->data, req->len), TW_OK);
  uint8_t got[TW_PING_PLAIN_SIZE];
  assert_int_equal(tw_box_open(got, h.cipher, h.cipher_len, h.nonce, shared), TW_OK);
  tw_ping_payload back;
  assert_int_equal(tw_ping_payload_decode(&back, got, sizeof got), TW_OK);
  ping.flag = TW_PING_FLAG_RESPONSE;
  ping.id = back.id;
  tw_ping_payload_encode(plain, &ping);
  nonce[0] ^= 0xff;
  len = tw_dht_packet_seal(pkt, sizeof pkt, TW_PACKET_PING_RESPONSE, &P->kp.pk, nonce, shared,
                           plain, sizeof plain);
  assert_int_equal(inject(nt, p, n, pkt, (size_t)len), TW_OK);
  clear_log(nt);
}

/* ---- relaying: the whole path ---- */

typedef struct world {
  int a, b, c, d, x;
  path p;
} world;

static world make_world(net *nt, const tw_addr addr[5]) {
  world w;
  w.a = add_node(nt, addr[0], 11, RELAY | STORE);
  w.b = add_node(nt, addr[1], 12, RELAY | STORE);
  w.c = add_node(nt, addr[2], 13, RELAY | STORE);
  w.d = add_node(nt, addr[3], 14, RELAY | STORE);
  w.x = add_fake(nt, addr[4], 15);
  w.p = make_path(nt, w.a, w.b, w.c, 1);
  return w;
}

static void v4_addrs(tw_addr a[5]) {
  a[0] = test_addr4(198, 51, 100, 1, 33445);
  a[1] = test_addr4(198, 51, 100, 2, 33446);
  a[2] = test_addr4(198, 51, 100, 3, 33447);
  a[3] = test_addr4(203, 0, 113, 4, 33448);
  a[4] = test_addr4(203, 0, 113, 50, 40000);
}

/* The return paths each hop appended on the way out. */
typedef struct trip {
  uint8_t ret1[SPEC_RET1], ret2[SPEC_RET2], ret3[SPEC_RET3];
  uint8_t at_d[SPEC_MAX_PACKET]; /* what C sent to D */
  size_t at_d_len;
} trip;

/* Sends data from X through A, B, C to D, checking each hop's output
 * byte for byte; D's verdict is returned (D's output is left in the log). */
static int send_through(net *nt, const world *w, const uint8_t *data, size_t len, trip *t) {
  static onion_pkt o;
  build_onion(nt, &w->p, &nt->ep[w->d].addr, data, len, &o);
  assert_true(o.len <= SPEC_MAX_PACKET);
  tw_onion_stats a0 = stats_of(nt, w->a), b0 = stats_of(nt, w->b), c0 = stats_of(nt, w->c);

  /* X -> A: A sends [0x81][nonce][pk1][box_B][ret1] to B. */
  assert_int_equal(inject(nt, w->x, w->a, o.pkt, o.len), TW_OK);
  sent s = only_sent(nt);
  assert_true(tw_addr_equal(&s.to, &nt->ep[w->b].addr));
  assert_int_equal(s.len, 1 + 24 + 32 + o.box_b_len + SPEC_RET1);
  assert_int_equal(s.data[0], 0x81);
  assert_memory_equal(s.data + 1, w->p.nonce, 24);
  assert_memory_equal(s.data + 25, w->p.temp[1].pk.bytes, 32);
  assert_memory_equal(s.data + 57, o.box_b, o.box_b_len);
  memcpy(t->ret1, s.data + s.len - SPEC_RET1, SPEC_RET1);
  assert_int_equal(stats_of(nt, w->a).requests_relayed[0], a0.requests_relayed[0] + 1);

  /* A -> B: B sends [0x82][nonce][pk2][box_C][ret2] to C. */
  assert_int_equal(step(nt, w->b), TW_OK);
  s = only_sent(nt);
  assert_true(tw_addr_equal(&s.to, &nt->ep[w->c].addr));
  assert_int_equal(s.len, 1 + 24 + 32 + o.box_c_len + SPEC_RET2);
  assert_int_equal(s.data[0], 0x82);
  assert_memory_equal(s.data + 1, w->p.nonce, 24);
  assert_memory_equal(s.data + 25, w->p.temp[2].pk.bytes, 32);
  assert_memory_equal(s.data + 57, o.box_c, o.box_c_len);
  memcpy(t->ret2, s.data + s.len - SPEC_RET2, SPEC_RET2);
  assert_int_equal(stats_of(nt, w->b).requests_relayed[1], b0.requests_relayed[1] + 1);

  /* B -> C: C sends [data][ret3] to D. */
  int rc = step(nt, w->c);
  if (rc != TW_OK) return rc;
  s = only_sent(nt);
  assert_true(tw_addr_equal(&s.to, &nt->ep[w->d].addr));
  assert_int_equal(s.len, len + SPEC_RET3);
  assert_memory_equal(s.data, data, len);
  memcpy(t->ret3, s.data + len, SPEC_RET3);
  memcpy(t->at_d, s.data, s.len);
  t->at_d_len = s.len;
  assert_int_equal(stats_of(nt, w->c).requests_relayed[2], c0.requests_relayed[2] + 1);

  /* C -> D */
  return step(nt, w->d);
}

/* Feeds a response ([0x8c][ret3][data]) from D to C and steps it back to
 * X, checking each hop; returns the first refusal, or TW_OK with X's
 * datagram in the log. */
static int return_through(net *nt, const world *w, const trip *t, const uint8_t *resp,
                          size_t resp_len) {
  assert_int_equal(resp[0], 0x8c);
  assert_memory_equal(resp + 1, t->ret3, SPEC_RET3);
  size_t len = resp_len - 1 - SPEC_RET3;
  uint8_t want[SPEC_MAX_PACKET];
  memcpy(want, resp + 1 + SPEC_RET3, len);

  int rc = inject(nt, w->d, w->c, resp, resp_len);
  if (rc != TW_OK) return rc;
  sent s = only_sent(nt);
  assert_true(tw_addr_equal(&s.to, &nt->ep[w->b].addr));
  assert_int_equal(s.len, 1 + SPEC_RET2 + len);
  assert_int_equal(s.data[0], 0x8d);
  assert_memory_equal(s.data + 1, t->ret2, SPEC_RET2);
  assert_memory_equal(s.data + 1 + SPEC_RET2, want, len);

  rc = step(nt, w->b);
  if (rc != TW_OK) return rc;
  s = only_sent(nt);
  assert_true(tw_addr_equal(&s.to, &nt->ep[w->a].addr));
  assert_int_equal(s.len, 1 + SPEC_RET1 + len);
  assert_int_equal(s.data[0], 0x8e);
  assert_memory_equal(s.data + 1, t->ret1, SPEC_RET1);
  assert_memory_equal(s.data + 1 + SPEC_RET1, want, len);

  rc = step(nt, w->a);
  if (rc != TW_OK) return rc;
  s = only_sent(nt);
  assert_true(tw_addr_equal(&s.to, &nt->ep[w->x].addr));
  assert_int_equal(s.len, len);
  assert_memory_equal(s.data, want, len);
  return TW_OK;
}

static void three_hop_announce(const tw_addr addr[5]) {
  net *nt = net_new();
  world w = make_world(nt, addr);
  tw_keypair me = nt->ep[w.x].self;
  tw_key data_pk = test_key_fill(0xd1);
  announce_req r = mk_announce(NULL, &me.pk, &data_pk, 0x10);
  uint8_t req[SPEC_ANNOUNCE_REQUEST];
  build_announce(&me, &nt->ep[w.d].kp.pk, &r, req);
  trip t;
  assert_int_equal(send_through(nt, &w, req, sizeof req, &t), TW_OK);

  /* D answers down the return path it got: [0x8c][ret3][0x84 ...] to C. */
  sent s = only_sent(nt);
  assert_true(tw_addr_equal(&s.to, &nt->ep[w.c].addr));
  assert_int_equal(s.data[0], 0x8c);
  assert_memory_equal(s.data + 1, t.ret3, SPEC_RET3);
  uint8_t from_d[SPEC_MAX_PACKET];
  size_t from_d_len = s.len - 1 - SPEC_RET3;
  memcpy(from_d, s.data + 1 + SPEC_RET3, from_d_len);
  tw_onion_stats ds = stats_of(nt, w.d);
  assert_int_equal(ds.announce_requests, 1);
  assert_int_equal(ds.announce_responses, 1);
  assert_int_equal(ds.announcements_stored, 0);

  /* ... and it reaches X byte for byte. */
  assert_int_equal(return_through(nt, &w, &t, s.data, s.len), TW_OK);
  s = only_sent(nt);
  assert_int_equal(s.len, from_d_len);
  assert_memory_equal(s.data, from_d, from_d_len);
  tw_announce_response_plain resp;
  open_announce_response(s.data, s.len, &me, &nt->ep[w.d].kp.pk, r.sendback, &resp);
  assert_int_equal(resp.is_stored, 0);
  assert_false(all_zero(resp.ping_or_key, 32));
  assert_int_equal(stats_of(nt, w.c).responses_relayed[0], 1);
  assert_int_equal(stats_of(nt, w.b).responses_relayed[1], 1);
  assert_int_equal(stats_of(nt, w.a).responses_relayed[2], 1);

  /* The ping id through the same path: stored. */
  announce_req r2 = mk_announce(resp.ping_or_key, &me.pk, &data_pk, 0x20);
  build_announce(&me, &nt->ep[w.d].kp.pk, &r2, req);
  w.p.nonce[3] ^= 1; /* a fresh nonce */
  assert_int_equal(send_through(nt, &w, req, sizeof req, &t), TW_OK);
  s = only_sent(nt);
  assert_int_equal(return_through(nt, &w, &t, s.data, s.len), TW_OK);
  s = only_sent(nt);
  open_announce_response(s.data, s.len, &me, &nt->ep[w.d].kp.pk, r2.sendback, &resp);
  assert_int_equal(resp.is_stored, 2);
  assert_int_equal(stats_of(nt, w.d).announcements_stored, 1);
  assert_int_equal(stats_of(nt, w.d).announce_entries, 1);
  for (int i = 0; i < 4; i++) assert_int_equal(stats_of(nt, i).dropped_total, 0);
  net_free(nt);
}

static void test_three_hop_announce_ipv4(void **state) {
  (void)state;
  tw_addr a[5];
  v4_addrs(a);
  three_hop_announce(a);
}

static void test_three_hop_announce_ipv6(void **state) {
  (void)state;
  tw_addr a[5];
  for (int i = 0; i < 5; i++) a[i] = test_addr6((uint16_t)(0x100 + i), (uint16_t)(33445 + i));
  three_hop_announce(a);
}

static void test_three_hop_announce_mixed_families(void **state) {
  (void)state;
  tw_addr a[5];
  v4_addrs(a);
  a[1] = test_addr6(0x200, 1);     /* B on IPv6 */
  a[3] = test_addr6(0x300, 65535); /* D on IPv6 */
  a[4] = test_addr6(0x400, 2);     /* the client on IPv6 */
  three_hop_announce(a);
}

/* ---- relaying: failures ---- */

static void test_each_layer_bad_box_dropped_crypto(void **state) {
  (void)state;
  net *nt = net_new();
  tw_addr addr[5];
  v4_addrs(addr);
  world w = make_world(nt, addr);
  uint8_t data[200];
  pattern(data, sizeof data, 1);
  data[0] = 0x85;
  static onion_pkt o;
  build_onion(nt, &w.p, &nt->ep[w.d].addr, data, sizeof data, &o);

  /* At A: a flipped box byte, a flipped nonce byte, another sender key. */
  const size_t flips[] = {1, 30, 57, 100, o.len - 1};
  for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
    uint8_t bad[2048];
    memcpy(bad, o.pkt, o.len);
    bad[flips[i]] ^= 0x20;
    assert_int_equal(inject(nt, w.x, w.a, bad, o.len), TW_E_CRYPTO);
    assert_int_equal(nt->nlog, 0);
  }
  assert_int_equal(dropped(nt, w.a, TW_E_CRYPTO), 5);
  assert_int_equal(stats_of(nt, w.a).requests_relayed[0], 0);

  /* At B: what A sent, with a flipped box byte. */
  assert_int_equal(inject(nt, w.x, w.a, o.pkt, o.len), TW_OK);
  sent s = only_sent(nt);
  s.data[60] ^= 1;
  assert_int_equal(inject(nt, w.a, w.b, s.data, s.len), TW_E_CRYPTO);
  assert_int_equal(nt->nlog, 0);
  assert_int_equal(dropped(nt, w.b, TW_E_CRYPTO), 1);
  s.data[60] ^= 1;
  assert_int_equal(inject(nt, w.a, w.b, s.data, s.len), TW_OK);

  /* At C likewise. */
  s = only_sent(nt);
  s.data[57 + 16] ^= 0x80;
  assert_int_equal(inject(nt, w.b, w.c, s.data, s.len), TW_E_CRYPTO);
  assert_int_equal(nt->nlog, 0);
  assert_int_equal(dropped(nt, w.c, TW_E_CRYPTO), 1);
  /* A bad return path does not matter on the way out (only its owner can
   * check it): the request is still relayed. */
  s.data[57 + 16] ^= 0x80;
  s.data[s.len - 1] ^= 1;
  assert_int_equal(inject(nt, w.b, w.c, s.data, s.len), TW_OK);
  assert_int_equal(nt->nlog, 1);

  /* At D: an announce request with a bad box. */
  tw_keypair me = nt->ep[w.x].self;
  tw_key dpk = test_key_fill(3);
  announce_req r = mk_announce(NULL, &me.pk, &dpk, 3);
  uint8_t pkt[SPEC_ANNOUNCE_REQUEST + SPEC_RET3];
  build_announce(&me, &nt->ep[w.d].kp.pk, &r, pkt);
  memset(pkt + SPEC_ANNOUNCE_REQUEST, 7, SPEC_RET3);
  pkt[100] ^= 4;
  assert_int_equal(inject(nt, w.c, w.d, pkt, sizeof pkt), TW_E_CRYPTO);
  assert_int_equal(nt->nlog, 0);
  assert_int_equal(dropped(nt, w.d, TW_E_CRYPTO), 1);
  assert_int_equal(stats_of(nt, w.d).announce_responses, 0);
  net_free(nt);
}

static void test_wrong_sizes_dropped(void **state) {
  (void)state;
  net *nt = net_new();
  int n = add_node(nt, test_addr4(198, 51, 100, 1, 1), 1, RELAY | STORE);
  int f = add_fake(nt, test_addr4(203, 0, 113, 9, 9), 2);
  static uint8_t pkt[1500];
  pattern(pkt, sizeof pkt, 3);
  struct {
    uint8_t kind;
    size_t len;
    int want;
  } cases[] = {
      {0x80, 1 + 24 + 32 + 16 + 19, TW_E_SHORT},         /* no byte for the next hop */
      {0x80, 1, TW_E_SHORT},
      {0x80, 1401, TW_E_LONG},
      {0x81, 1 + 24 + 32 + 16 + 20 + 58, TW_E_SHORT},    /* ret1 cut short */
      {0x81, 1401, TW_E_LONG},
      {0x82, 1 + 24 + 32 + 16 + 20 + 117, TW_E_SHORT},
      {0x82, 1401, TW_E_LONG},
      {0x8c, 1 + SPEC_RET3, TW_E_SHORT},                 /* no data */
      {0x8c, 1401, TW_E_LONG},
      {0x8d, 1 + SPEC_RET2, TW_E_SHORT},
      {0x8e, 1 + SPEC_RET1, TW_E_SHORT},
      {0x8e, 10, TW_E_SHORT},
      {0x83, SPEC_ANNOUNCE_REQUEST + SPEC_RET3 - 1, TW_E_SHORT},
      {0x83, SPEC_ANNOUNCE_REQUEST + SPEC_RET3 + 1, TW_E_LONG},
      {0x83, SPEC_ANNOUNCE_REQUEST, TW_E_SHORT},         /* without a return path */
      {0x85, 1 + 32 + 24 + 32 + 16 + SPEC_RET3, TW_E_SHORT},
      {0x85, 1401, TW_E_LONG},
  };
  uint64_t total = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pkt[0] = cases[i].kind;
    assert_int_equal(inject(nt, f, n, pkt, cases[i].len), cases[i].want);
    assert_int_equal(nt->nlog, 0);
    total++;
  }
  tw_onion_stats st = stats_of(nt, n);
  assert_int_equal(st.dropped_total, total);
  assert_int_equal(st.dropped[-TW_E_LONG], 6);
  assert_int_equal(st.dropped[-TW_E_SHORT], total - 6);
  /* An empty datagram, straight to the onion. */
  assert_int_equal(tw_onion_handle_packet(nt->ep[n].onion, &nt->ep[f].addr, pkt, 0, nt->now),
                   TW_E_SHORT);
  assert_int_equal(stats_of(nt, n).dropped_total, total + 1);
  /* The newer announce form has the 0x83 sizes. */
  pkt[0] = 0x87;
  assert_int_equal(inject(nt, f, n, pkt, SPEC_ANNOUNCE_REQUEST + SPEC_RET3 + 1), TW_E_LONG);
  assert_int_equal(inject(nt, f, n, pkt, SPEC_ANNOUNCE_REQUEST + SPEC_RET3 - 1), TW_E_SHORT);
  /* Kinds only a client takes, at a node without one. */
  pkt[0] = 0x84;
  assert_int_equal(inject(nt, f, n, pkt, 300), TW_E_DISABLED);
  pkt[0] = 0x86;
  assert_int_equal(inject(nt, f, n, pkt, 300), TW_E_DISABLED);
  assert_int_equal(nt->nlog, 0);
  net_free(nt);
}

/* A layer that opens but names an unusable next hop, or leaves the next
 * hop too little to peel. */
static void test_bad_next_hop_dropped(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_node(nt, test_addr4(198, 51, 100, 1, 1), 1, RELAY);
  int x = add_fake(nt, test_addr4(203, 0, 113, 9, 9), 2);
  tw_keypair temp = test_keypair(99);
  uint8_t nonce[24], plain[400], pkt[600];
  pattern(nonce, 24, 9);
  tw_addr b = test_addr4(198, 51, 100, 2, 2);

  /* port 0 */
  tw_addr b0 = b;
  b0.port = 0;
  size_t n = put_ipport(plain, &b0);
  memset(plain + n, 1, 100);
  size_t len = build_layer(0x80, &nt->ep[a].kp.pk, &temp, nonce, plain, n + 100, 0, pkt);
  assert_int_equal(inject(nt, x, a, pkt, len), TW_E_ADDR);
  assert_int_equal(nt->nlog, 0);
  /* an unknown family, and the TCP family (only return paths carry it) */
  const uint8_t fams[] = {0, 3, 130};
  for (size_t i = 0; i < 3; i++) {
    n = put_ipport(plain, &b);
    plain[0] = fams[i];
    len = build_layer(0x80, &nt->ep[a].kp.pk, &temp, nonce, plain, n + 100, 0, pkt);
    assert_int_equal(inject(nt, x, a, pkt, len), TW_E_FAMILY);
    assert_int_equal(nt->nlog, 0);
  }
  /* less than a layer for B: [pk][mac][ip_port][1 byte] is the least */
  n = put_ipport(plain, &b);
  len = build_layer(0x80, &nt->ep[a].kp.pk, &temp, nonce, plain, n + 32 + 16 + 19, 0, pkt);
  assert_int_equal(inject(nt, x, a, pkt, len), TW_E_SHORT);
  assert_int_equal(nt->nlog, 0);
  len = build_layer(0x80, &nt->ep[a].kp.pk, &temp, nonce, plain, n + 32 + 16 + 20, 0, pkt);
  assert_int_equal(inject(nt, x, a, pkt, len), TW_OK);
  sent s = only_sent(nt);
  assert_true(tw_addr_equal(&s.to, &b));
  assert_int_equal(s.len, 1 + 24 + 32 + 16 + 20 + SPEC_RET1);
  tw_onion_stats st = stats_of(nt, a);
  assert_int_equal(st.dropped[-TW_E_ADDR], 1);
  assert_int_equal(st.dropped[-TW_E_FAMILY], 3);
  assert_int_equal(st.dropped[-TW_E_SHORT], 1);
  net_free(nt);
}

static void test_node_c_delivers_only_announce_and_data_kinds(void **state) {
  (void)state;
  net *nt = net_new();
  int c = add_node(nt, test_addr4(198, 51, 100, 3, 3), 1, RELAY);
  int b = add_fake(nt, test_addr4(198, 51, 100, 2, 2), 2);
  tw_addr d = test_addr4(203, 0, 113, 4, 4);
  tw_keypair temp = test_keypair(98);
  uint8_t nonce[24], plain[400], pkt[700];
  pattern(nonce, 24, 8);
  uint64_t refused = 0;
  for (int kind = 0; kind < 256; kind++) {
    size_t n = put_ipport(plain, &d);
    plain[n] = (uint8_t)kind;
    memset(plain + n + 1, 0xab, 199);
    size_t len = build_layer(0x82, &nt->ep[c].kp.pk, &temp, nonce, plain, n + 200, SPEC_RET2, pkt);
    int rc = inject(nt, b, c, pkt, len);
    if (kind == 0x83 || kind == 0x85 || kind == 0x87) {
      assert_int_equal(rc, TW_OK);
      sent s = only_sent(nt);
      assert_true(tw_addr_equal(&s.to, &d));
      assert_int_equal(s.len, 200 + SPEC_RET3);
      assert_int_equal(s.data[0], kind);
    } else {
      assert_int_equal(rc, TW_E_KIND);
      assert_int_equal(nt->nlog, 0);
      refused++;
    }
  }
  assert_int_equal(dropped(nt, c, TW_E_KIND), refused);
  assert_int_equal(stats_of(nt, c).requests_relayed[2], 3);
  net_free(nt);
}

static void test_node_a_hands_back_only_response_kinds(void **state) {
  (void)state;
  net *nt = net_new();
  tw_addr addr[5];
  v4_addrs(addr);
  world w = make_world(nt, addr);
  uint8_t data[120];
  memset(data, 0x33, sizeof data);
  data[0] = 0x85;
  trip t;
  /* D drops the 0x85 (no such key), which is fine: we only want ret3. */
  assert_int_equal(send_through(nt, &w, data, sizeof data, &t), TW_E_NOROUTE);
  uint64_t refused = 0;
  for (int kind = 0; kind < 256; kind++) {
    uint8_t resp[1 + SPEC_RET3 + 50];
    resp[0] = 0x8c;
    memcpy(resp + 1, t.ret3, SPEC_RET3);
    resp[1 + SPEC_RET3] = (uint8_t)kind;
    memset(resp + 2 + SPEC_RET3, kind, 49);
    assert_int_equal(inject(nt, w.d, w.c, resp, sizeof resp), TW_OK);
    assert_int_equal(step(nt, w.b), TW_OK);
    int rc = step(nt, w.a);
    if (kind == 0x84 || kind == 0x86 || kind == 0x88) {
      assert_int_equal(rc, TW_OK);
      sent s = only_sent(nt);
      assert_true(tw_addr_equal(&s.to, &nt->ep[w.x].addr));
      assert_int_equal(s.len, 50);
      assert_memory_equal(s.data, resp + 1 + SPEC_RET3, 50);
    } else {
      assert_int_equal(rc, TW_E_KIND);
      assert_int_equal(nt->nlog, 0);
      refused++;
    }
  }
  assert_int_equal(dropped(nt, w.a, TW_E_KIND), refused);
  assert_int_equal(stats_of(nt, w.a).responses_relayed[2], 3);
  net_free(nt);
}

static void test_forged_return_path_dropped(void **state) {
  (void)state;
  net *nt = net_new();
  tw_addr addr[5];
  v4_addrs(addr);
  world w = make_world(nt, addr);
  uint8_t data[120];
  memset(data, 0x44, sizeof data);
  data[0] = 0x85;
  trip t;
  assert_int_equal(send_through(nt, &w, data, sizeof data, &t), TW_E_NOROUTE);

  uint8_t resp[1 + SPEC_RET3 + 40];
  resp[0] = 0x8c;
  memset(resp + 1 + SPEC_RET3, 0x84, 40);
  uint64_t n = 0;
  /* Every bit flip in nonce, box and MAC (including the key-select bit). */
  for (size_t i = 0; i < SPEC_RET3; i++) {
    for (int bit = 0; bit < 8; bit += 7) {
      memcpy(resp + 1, t.ret3, SPEC_RET3);
      resp[1 + i] ^= (uint8_t)(1u << bit);
      assert_int_equal(inject(nt, w.d, w.c, resp, sizeof resp), TW_E_EXPIRED);
      assert_int_equal(nt->nlog, 0);
      n++;
    }
  }
  /* Made up from nothing. */
  pattern(resp + 1, SPEC_RET3, 0x99);
  assert_int_equal(inject(nt, w.d, w.c, resp, sizeof resp), TW_E_EXPIRED);
  n++;
  assert_int_equal(dropped(nt, w.c, TW_E_EXPIRED), n);
  assert_int_equal(stats_of(nt, w.c).responses_relayed[0], 0);

  /* A genuine ret2 (sealed by B) is no ret3 for C, nor a ret for another
   * node: B's and A's paths do not open at C / B. */
  uint8_t r2[1 + SPEC_RET2 + 40];
  r2[0] = 0x8d;
  memcpy(r2 + 1, t.ret2, SPEC_RET2);
  memset(r2 + 1 + SPEC_RET2, 0x84, 40);
  assert_int_equal(inject(nt, w.d, w.c, r2, sizeof r2), TW_E_EXPIRED);
  uint8_t r1[1 + SPEC_RET1 + 40];
  r1[0] = 0x8e;
  memcpy(r1 + 1, t.ret1, SPEC_RET1);
  memset(r1 + 1 + SPEC_RET1, 0x84, 40);
  assert_int_equal(inject(nt, w.c, w.b, r1, sizeof r1), TW_E_EXPIRED);
  /* but the right ones do */
  assert_int_equal(inject(nt, w.c, w.b, r2, sizeof r2), TW_OK);
  assert_int_equal(step(nt, w.a), TW_OK);
  assert_int_equal(only_sent(nt).len, 40);
  /* a flipped ret1 at A */
  r1[5] ^= 1;
  assert_int_equal(inject(nt, w.b, w.a, r1, sizeof r1), TW_E_EXPIRED);
  assert_int_equal(nt->nlog, 0);
  net_free(nt);
}

static void rotate(net *nt, const world *w, tw_time_ms at) {
  nt->now = at;
  tw_onion_on_timer(nt->ep[w->a].onion, at);
  tw_onion_on_timer(nt->ep[w->b].onion, at);
  tw_onion_on_timer(nt->ep[w->c].onion, at);
  assert_int_equal(nt->nlog, 0);
}

static void test_return_path_survives_one_rotation_not_two(void **state) {
  (void)state;
  net *nt = net_new();
  tw_addr addr[5];
  v4_addrs(addr);
  world w = make_world(nt, addr);
  assert_int_equal(TW_ONION_RETURN_KEY_LIFETIME_MS, SPEC_RETURN_KEY_LIFETIME_MS);
  tw_time_ms t0 = nt->now;
  /* The relay wants to run when its key is due. */
  assert_true(tw_onion_next_deadline(nt->ep[w.a].onion) <= t0 + SPEC_RETURN_KEY_LIFETIME_MS);
  uint8_t data[120];
  memset(data, 0x55, sizeof data);
  data[0] = 0x85;
  trip t;
  assert_int_equal(send_through(nt, &w, data, sizeof data, &t), TW_E_NOROUTE);
  uint8_t resp[1 + SPEC_RET3 + 40];
  resp[0] = 0x8c;
  memcpy(resp + 1, t.ret3, SPEC_RET3);
  resp[1 + SPEC_RET3] = 0x86;
  memset(resp + 2 + SPEC_RET3, 0x66, 39);

  /* Just before the lifetime: no rotation. */
  rotate(nt, &w, t0 + SPEC_RETURN_KEY_LIFETIME_MS - 1);
  /* One rotation: still accepted all the way back. */
  rotate(nt, &w, t0 + SPEC_RETURN_KEY_LIFETIME_MS);
  assert_true(tw_onion_next_deadline(nt->ep[w.a].onion) > nt->now);
  assert_int_equal(return_through(nt, &w, &t, resp, sizeof resp), TW_OK);
  /* A path built after the rotation works too. */
  trip t2;
  w.p.nonce[0] ^= 1;
  assert_int_equal(send_through(nt, &w, data, sizeof data, &t2), TW_E_NOROUTE);
  /* The key bit differs from the old path's (a new key). */
  assert_int_not_equal(t2.ret3[0] & 1, t.ret3[0] & 1);
  uint8_t resp2[sizeof resp];
  memcpy(resp2, resp, sizeof resp);
  memcpy(resp2 + 1, t2.ret3, SPEC_RET3);

  /* A second rotation: the old path is refused, and nothing is sent. */
  rotate(nt, &w, t0 + 2 * (tw_time_ms)SPEC_RETURN_KEY_LIFETIME_MS);
  assert_int_equal(inject(nt, w.d, w.c, resp, sizeof resp), TW_E_EXPIRED);
  assert_int_equal(nt->nlog, 0);
  assert_int_equal(dropped(nt, w.c, TW_E_EXPIRED), 1);
  /* The newer path, sealed one rotation ago, still works. */
  assert_int_equal(return_through(nt, &w, &t2, resp2, sizeof resp2), TW_OK);
  net_free(nt);
}

/* Only the inner hop's key expired: B refuses what C passes on. */
static void test_expired_inner_layer_refused_at_that_hop(void **state) {
  (void)state;
  net *nt = net_new();
  tw_addr addr[5];
  v4_addrs(addr);
  world w = make_world(nt, addr);
  tw_time_ms t0 = nt->now;
  uint8_t data[120];
  memset(data, 0x12, sizeof data);
  data[0] = 0x85;
  trip t;
  assert_int_equal(send_through(nt, &w, data, sizeof data, &t), TW_E_NOROUTE);
  nt->now = t0 + 2 * (tw_time_ms)SPEC_RETURN_KEY_LIFETIME_MS + 10;
  tw_onion_on_timer(nt->ep[w.b].onion, t0 + SPEC_RETURN_KEY_LIFETIME_MS);
  tw_onion_on_timer(nt->ep[w.b].onion, nt->now);
  uint8_t resp[1 + SPEC_RET3 + 30];
  resp[0] = 0x8c;
  memcpy(resp + 1, t.ret3, SPEC_RET3);
  resp[1 + SPEC_RET3] = 0x84;
  memset(resp + 2 + SPEC_RET3, 1, 29);
  assert_int_equal(inject(nt, w.d, w.c, resp, sizeof resp), TW_OK);
  assert_int_equal(step(nt, w.b), TW_E_EXPIRED);
  assert_int_equal(nt->nlog, 0);
  assert_int_equal(dropped(nt, w.b, TW_E_EXPIRED), 1);
  net_free(nt);
}

/* A TCP client's request: A acts as the first hop, and the answer goes
 * back over the TCP link, not UDP. */
static void test_tcp_request_and_response(void **state) {
  (void)state;
  net *nt = net_new();
  tw_addr addr[5];
  v4_addrs(addr);
  world w;
  w.a = add_tcp_relay(nt, addr[0], 21);
  w.b = add_node(nt, addr[1], 22, RELAY);
  w.c = add_node(nt, addr[2], 23, RELAY);
  w.d = add_node(nt, addr[3], 24, STORE);
  w.x = add_fake(nt, addr[4], 25);
  w.p = make_path(nt, w.a, w.b, w.c, 2);
  tw_keypair me = nt->ep[w.x].self;
  tw_key dpk = test_key_fill(5);
  announce_req r = mk_announce(NULL, &me.pk, &dpk, 0x30);
  uint8_t req[SPEC_ANNOUNCE_REQUEST];
  build_announce(&me, &nt->ep[w.d].kp.pk, &r, req);
  static onion_pkt o;
  build_onion(nt, &w.p, &nt->ep[w.d].addr, req, sizeof req, &o);
  /* The TCP form: [nonce][ip_port B][pk1][box_B]: A's layer, unencrypted. */
  uint8_t tcp[2048];
  memcpy(tcp, w.p.nonce, 24);
  size_t n = 24 + put_ipport(tcp + 24, &nt->ep[w.b].addr);
  memcpy(tcp + n, w.p.temp[1].pk.bytes, 32);
  n += 32;
  memcpy(tcp + n, o.box_b, o.box_b_len);
  n += o.box_b_len;
  const uint64_t link = 0x0102030405060708ULL;
  clear_log(nt);
  assert_int_equal(tw_onion_handle_tcp_request(nt->ep[w.a].onion, link, tcp, n, nt->now), TW_OK);
  sent s = only_sent(nt);
  assert_true(tw_addr_equal(&s.to, &nt->ep[w.b].addr));
  assert_int_equal(s.data[0], 0x81);
  assert_memory_equal(s.data + 57, o.box_b, o.box_b_len);
  assert_int_equal(s.len, 57 + o.box_b_len + SPEC_RET1);
  assert_int_equal(step(nt, w.b), TW_OK); /* at B: 0x82 to C */
  assert_int_equal(step(nt, w.c), TW_OK); /* at C: the request to D */
  assert_int_equal(step(nt, w.d), TW_OK); /* at D: 0x8c to C */
  assert_int_equal(step(nt, w.c), TW_OK); /* at C: 0x8d to B */
  assert_int_equal(step(nt, w.b), TW_OK); /* at B: 0x8e to A */
  s = only_sent(nt);
  assert_int_equal(s.data[0], 0x8e);
  uint8_t want[SPEC_MAX_PACKET];
  size_t want_len = s.len - 1 - SPEC_RET1;
  memcpy(want, s.data + 1 + SPEC_RET1, want_len);
  assert_int_equal(step(nt, w.a), TW_OK); /* at A: out over the TCP link */
  assert_int_equal(nt->nlog, 0);
  ep *A = &nt->ep[w.a];
  assert_int_equal(A->tcp_sent, 1);
  assert_int_equal(A->tcp_link, link);
  assert_int_equal(A->tcp_len, want_len);
  assert_memory_equal(A->tcp_data, want, want_len);
  tw_announce_response_plain resp;
  open_announce_response(A->tcp_data, A->tcp_len, &me, &nt->ep[w.d].kp.pk, r.sendback, &resp);
  assert_int_equal(resp.is_stored, 0);
  tw_onion_stats st = stats_of(nt, w.a);
  assert_int_equal(st.tcp_requests, 1);
  assert_int_equal(st.tcp_responses, 1);
  /* Too short a TCP request */
  assert_int_equal(tw_onion_handle_tcp_request(A->onion, link, tcp, 24 + 19 + 32 + 16 + 19, nt->now),
                   TW_E_SHORT);
  net_free(nt);
}

/* ---- announce node ---- */

typedef struct dworld {
  int d, c, c2;
} dworld;

static dworld make_d(net *nt, size_t entries) {
  dworld w;
  w.d = add_node_n(nt, test_addr4(203, 0, 113, 4, 33445), 31, RELAY | STORE, entries);
  w.c = add_fake(nt, test_addr4(198, 51, 100, 3, 33447), 32);
  w.c2 = add_fake(nt, test_addr6(0x33, 33448), 33);
  return w;
}

static void test_announce_ping_id_zero_then_stored(void **state) {
  (void)state;
  net *nt = net_new();
  dworld w = make_d(nt, 0);
  tw_keypair me = test_keypair(501);
  tw_key dpk = test_key_fill(0x71);
  tw_announce_response_plain resp;
  announce_req r = mk_announce(NULL, &me.pk, &dpk, 1);
  assert_int_equal(announce_at(nt, w.c, w.d, &me, &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 0);
  assert_false(all_zero(resp.ping_or_key, 32));
  assert_int_equal(resp.count, 0); /* D knows no nodes */
  uint8_t ping[32];
  memcpy(ping, resp.ping_or_key, 32);
  /* Asking again in the same window gives the same id (no state kept). */
  assert_int_equal(announce_at(nt, w.c, w.d, &me, &r, &resp), TW_OK);
  assert_memory_equal(resp.ping_or_key, ping, 32);
  tw_onion_stats st = stats_of(nt, w.d);
  assert_int_equal(st.announcements_stored, 0);
  assert_int_equal(st.announce_entries, 0);
  /* A made-up ping id: not stored. */
  uint8_t bogus[32];
  memcpy(bogus, ping, 32);
  bogus[31] ^= 1;
  r = mk_announce(bogus, &me.pk, &dpk, 2);
  assert_int_equal(announce_at(nt, w.c, w.d, &me, &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 0);
  assert_int_equal(stats_of(nt, w.d).announcements_stored, 0);
  /* The real one: stored, is_stored 2, and still a ping id. */
  r = mk_announce(ping, &me.pk, &dpk, 3);
  assert_int_equal(announce_at(nt, w.c, w.d, &me, &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 2);
  assert_memory_equal(resp.ping_or_key, ping, 32);
  st = stats_of(nt, w.d);
  assert_int_equal(st.announcements_stored, 1);
  assert_int_equal(st.announce_entries, 1);
  assert_int_equal(st.announce_requests, 4);
  assert_int_equal(st.announce_responses, 4);
  /* Refreshing is another store, of the same entry. */
  assert_int_equal(announce_at(nt, w.c, w.d, &me, &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 2);
  st = stats_of(nt, w.d);
  assert_int_equal(st.announcements_stored, 2);
  assert_int_equal(st.announce_entries, 1);
  net_free(nt);
}

static void test_searcher_gets_is_stored_1_and_data_key(void **state) {
  (void)state;
  net *nt = net_new();
  dworld w = make_d(nt, 0);
  tw_keypair me = test_keypair(502);
  tw_key dpk = test_key_fill(0x72), got;
  /* Not known yet: 0, with a ping id. */
  assert_int_equal(search_at(nt, w.c2, w.d, &me.pk, &got), 0);
  assert_false(all_zero(got.bytes, 32));
  assert_int_equal(announce_fully(nt, w.c, w.d, &me, &dpk), 2);
  assert_int_equal(search_at(nt, w.c2, w.d, &me.pk, &got), 1);
  assert_true(tw_key_equal(&got, &dpk));
  /* A searcher is never stored, even with a valid ping id for its key. */
  assert_int_equal(stats_of(nt, w.d).announcements_stored, 1);
  net_free(nt);
}

static void test_restarted_announcer_with_new_data_key(void **state) {
  (void)state;
  net *nt = net_new();
  dworld w = make_d(nt, 0);
  tw_keypair me = test_keypair(503);
  tw_key dpk1 = test_key_fill(0x01), dpk2 = test_key_fill(0x02), got;
  assert_int_equal(announce_fully(nt, w.c, w.d, &me, &dpk1), 2);
  /* Restarted: a new data key and no ping id: is_stored 0 ("outdated"). */
  tw_announce_response_plain resp;
  announce_req r = mk_announce(NULL, &me.pk, &dpk2, 4);
  assert_int_equal(announce_at(nt, w.c, w.d, &me, &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 0);
  /* ... and the entry still has the old key. */
  assert_int_equal(search_at(nt, w.c2, w.d, &me.pk, &got), 1);
  assert_true(tw_key_equal(&got, &dpk1));
  /* With the ping id it is updated. */
  r = mk_announce(resp.ping_or_key, &me.pk, &dpk2, 5);
  assert_int_equal(announce_at(nt, w.c, w.d, &me, &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 2);
  assert_int_equal(search_at(nt, w.c2, w.d, &me.pk, &got), 1);
  assert_true(tw_key_equal(&got, &dpk2));
  assert_int_equal(stats_of(nt, w.d).announce_entries, 1);
  net_free(nt);
}

static void test_ping_id_bound_to_source_address_and_key(void **state) {
  (void)state;
  net *nt = net_new();
  dworld w = make_d(nt, 0);
  tw_keypair me = test_keypair(504), other = test_keypair(505);
  tw_key dpk = test_key_fill(0x73);
  tw_announce_response_plain resp;
  announce_req r = mk_announce(NULL, &me.pk, &dpk, 1);
  assert_int_equal(announce_at(nt, w.c, w.d, &me, &r, &resp), TW_OK);
  uint8_t ping[32];
  memcpy(ping, resp.ping_or_key, 32);
  /* Another path (node C at another address): refused. */
  r = mk_announce(ping, &me.pk, &dpk, 2);
  assert_int_equal(announce_at(nt, w.c2, w.d, &me, &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 0);
  assert_memory_not_equal(resp.ping_or_key, ping, 32);
  /* Same address, same port family but another port: refused. */
  int c3 = add_fake(nt, test_addr4(198, 51, 100, 3, 33449), 34);
  assert_int_equal(announce_at(nt, c3, w.d, &me, &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 0);
  /* Another key with my ping id: refused. */
  announce_req ro = mk_announce(ping, &other.pk, &dpk, 3);
  assert_int_equal(announce_at(nt, w.c, w.d, &other, &ro, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 0);
  assert_int_equal(stats_of(nt, w.d).announcements_stored, 0);
  assert_int_equal(stats_of(nt, w.d).announce_entries, 0);
  /* Announcing a key one does not own (sealed with another key): never
   * stored, even with that sender's valid ping id. */
  ro = mk_announce(NULL, &me.pk, &dpk, 4);
  assert_int_equal(announce_at(nt, w.c, w.d, &other, &ro, &resp), TW_OK);
  ro = mk_announce(resp.ping_or_key, &me.pk, &dpk, 5);
  assert_int_equal(announce_at(nt, w.c, w.d, &other, &ro, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 0);
  assert_int_equal(stats_of(nt, w.d).announcements_stored, 0);
  /* The right address and key: stored. */
  assert_int_equal(announce_at(nt, w.c, w.d, &me, &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 2);
  net_free(nt);
}

static void test_ping_id_lifetime_windows(void **state) {
  (void)state;
  net *nt = net_new();
  dworld w = make_d(nt, 0);
  assert_int_equal(TW_ANNOUNCE_PING_ID_PERIOD_MS, SPEC_PING_PERIOD_MS);
  tw_keypair k[4];
  uint8_t ping[4][32];
  tw_key dpk = test_key_fill(0x74);
  tw_time_ms t0 = nt->now;
  tw_announce_response_plain resp;
  for (int i = 0; i < 4; i++) {
    k[i] = test_keypair(511 + (uint64_t)i);
    announce_req r = mk_announce(NULL, &k[i].pk, &dpk, 1);
    assert_int_equal(announce_at(nt, w.c, w.d, &k[i], &r, &resp), TW_OK);
    memcpy(ping[i], resp.ping_or_key, 32);
  }
  tw_time_ms window_end = (t0 / SPEC_PING_PERIOD_MS + 1) * SPEC_PING_PERIOD_MS - 1;

  /* 300 s later (the next window): valid. */
  nt->now = t0 + SPEC_PING_PERIOD_MS;
  announce_req r = mk_announce(ping[0], &k[0].pk, &dpk, 2);
  assert_int_equal(announce_at(nt, w.c, w.d, &k[0], &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 2);
  /* and the id handed out now is another */
  assert_memory_not_equal(resp.ping_or_key, ping[0], 32);
  /* The last ms of the next window: valid. */
  nt->now = window_end + SPEC_PING_PERIOD_MS;
  r = mk_announce(ping[1], &k[1].pk, &dpk, 3);
  assert_int_equal(announce_at(nt, w.c, w.d, &k[1], &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 2);
  /* Two windows later: invalid. */
  nt->now = window_end + SPEC_PING_PERIOD_MS + 1;
  r = mk_announce(ping[2], &k[2].pk, &dpk, 4);
  assert_int_equal(announce_at(nt, w.c, w.d, &k[2], &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 0);
  nt->now = t0 + 2 * SPEC_PING_PERIOD_MS;
  r = mk_announce(ping[3], &k[3].pk, &dpk, 5);
  assert_int_equal(announce_at(nt, w.c, w.d, &k[3], &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 0);
  tw_onion_stats st = stats_of(nt, w.d);
  assert_int_equal(st.announcements_stored, 2);
  /* k[0]'s entry, stored at t0 + 300 s, has just timed out. */
  assert_int_equal(st.announce_entries, 1);
  net_free(nt);
}

/* A ping id handed out at the very start of a window lives the longest:
 * until the end of the next window (600 s). */
static void test_ping_id_lives_300_to_600_s(void **state) {
  (void)state;
  net *nt = net_new();
  nt->now = (tw_time_ms)2000 * SPEC_PING_PERIOD_MS; /* a window's first ms */
  dworld w = make_d(nt, 0);
  tw_key dpk = test_key_fill(0x75);
  tw_announce_response_plain resp;
  tw_keypair k = test_keypair(521);
  announce_req r = mk_announce(NULL, &k.pk, &dpk, 1);
  assert_int_equal(announce_at(nt, w.c, w.d, &k, &r, &resp), TW_OK);
  r = mk_announce(resp.ping_or_key, &k.pk, &dpk, 2);
  tw_time_ms start = nt->now;
  nt->now = start + 2 * SPEC_PING_PERIOD_MS - 1;
  assert_int_equal(announce_at(nt, w.c, w.d, &k, &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 2);
  /* Handed out at the last ms of a window: still 300 s. */
  tw_keypair k2 = test_keypair(522);
  nt->now = start + SPEC_PING_PERIOD_MS - 1;
  r = mk_announce(NULL, &k2.pk, &dpk, 3);
  assert_int_equal(announce_at(nt, w.c, w.d, &k2, &r, &resp), TW_OK);
  r = mk_announce(resp.ping_or_key, &k2.pk, &dpk, 4);
  nt->now += SPEC_PING_PERIOD_MS;
  assert_int_equal(announce_at(nt, w.c, w.d, &k2, &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 2);
  /* One ms later it would not have been: */
  tw_keypair k3 = test_keypair(523);
  nt->now = start + SPEC_PING_PERIOD_MS - 1;
  r = mk_announce(NULL, &k3.pk, &dpk, 5);
  assert_int_equal(announce_at(nt, w.c, w.d, &k3, &r, &resp), TW_OK);
  r = mk_announce(resp.ping_or_key, &k3.pk, &dpk, 6);
  nt->now += SPEC_PING_PERIOD_MS + 1;
  assert_int_equal(announce_at(nt, w.c, w.d, &k3, &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 0);
  net_free(nt);
}

static void test_entries_expire(void **state) {
  (void)state;
  net *nt = net_new();
  dworld w = make_d(nt, 0);
  assert_int_equal(TW_ANNOUNCE_ENTRY_TIMEOUT_MS, SPEC_ENTRY_TIMEOUT_MS);
  tw_keypair me = test_keypair(531);
  tw_key dpk = test_key_fill(0x76);
  tw_time_ms t0 = nt->now;
  assert_int_equal(announce_fully(nt, w.c, w.d, &me, &dpk), 2);
  nt->now = t0 + SPEC_ENTRY_TIMEOUT_MS - 1;
  assert_int_equal(search_at(nt, w.c2, w.d, &me.pk, NULL), 1);
  assert_int_equal(stats_of(nt, w.d).announce_entries, 1);
  nt->now = t0 + SPEC_ENTRY_TIMEOUT_MS;
  assert_int_equal(search_at(nt, w.c2, w.d, &me.pk, NULL), 0);
  assert_int_equal(stats_of(nt, w.d).announce_entries, 0);
  /* Data for it has nowhere to go. */
  uint8_t pkt[300];
  memset(pkt, 0x11, sizeof pkt);
  pkt[0] = 0x85;
  memcpy(pkt + 1, me.pk.bytes, 32);
  assert_int_equal(inject(nt, w.c2, w.d, pkt, sizeof pkt), TW_E_NOROUTE);
  /* A refresh before the timeout restarts it. */
  nt->now += 1000;
  assert_int_equal(announce_fully(nt, w.c, w.d, &me, &dpk), 2);
  tw_time_ms t1 = nt->now;
  nt->now = t1 + SPEC_ENTRY_TIMEOUT_MS - 1000;
  assert_int_equal(announce_fully(nt, w.c, w.d, &me, &dpk), 2);
  nt->now = t1 + SPEC_ENTRY_TIMEOUT_MS + 1000;
  assert_int_equal(search_at(nt, w.c2, w.d, &me.pk, NULL), 1);
  net_free(nt);
}

static tw_key g_base;
static tw_keypair g_cands[8];
static int cmp_dist(const void *a, const void *b) {
  return tw_key_distance_cmp(&g_base, &g_cands[*(const int *)a].pk, &g_cands[*(const int *)b].pk);
}

static void test_full_store_keeps_closest_to_dht_key(void **state) {
  (void)state;
  net *nt = net_new();
  dworld w = make_d(nt, 3);
  g_base = nt->ep[w.d].kp.pk;
  int order[8];
  for (int i = 0; i < 8; i++) {
    g_cands[i] = test_keypair(600 + (uint64_t)i);
    order[i] = i;
  }
  qsort(order, 8, sizeof order[0], cmp_dist); /* closest first */
  tw_key dpk = test_key_fill(0x77);
  /* Fill with the three furthest, furthest first. */
  for (int i = 7; i >= 5; i--) assert_int_equal(announce_fully(nt, w.c, w.d, &g_cands[order[i]], &dpk), 2);
  assert_int_equal(stats_of(nt, w.d).announce_entries, 3);
  /* Closer ones push out the furthest. */
  assert_int_equal(announce_fully(nt, w.c, w.d, &g_cands[order[0]], &dpk), 2);
  assert_int_equal(announce_fully(nt, w.c, w.d, &g_cands[order[1]], &dpk), 2);
  assert_int_equal(stats_of(nt, w.d).announce_entries, 3);
  assert_int_equal(search_at(nt, w.c2, w.d, &g_cands[order[7]].pk, NULL), 0);
  assert_int_equal(search_at(nt, w.c2, w.d, &g_cands[order[6]].pk, NULL), 0);
  assert_int_equal(search_at(nt, w.c2, w.d, &g_cands[order[5]].pk, NULL), 1);
  assert_int_equal(search_at(nt, w.c2, w.d, &g_cands[order[0]].pk, NULL), 1);
  assert_int_equal(search_at(nt, w.c2, w.d, &g_cands[order[1]].pk, NULL), 1);
  uint64_t stored = stats_of(nt, w.d).announcements_stored;
  /* One further than everything stored is refused, ping id or not. */
  assert_int_equal(announce_fully(nt, w.c, w.d, &g_cands[order[6]], &dpk), 0);
  assert_int_equal(stats_of(nt, w.d).announcements_stored, stored);
  assert_int_equal(search_at(nt, w.c2, w.d, &g_cands[order[5]].pk, NULL), 1);
  /* One between the stored ones replaces the furthest (order[5]). */
  assert_int_equal(announce_fully(nt, w.c, w.d, &g_cands[order[2]], &dpk), 2);
  assert_int_equal(search_at(nt, w.c2, w.d, &g_cands[order[5]].pk, NULL), 0);
  assert_int_equal(search_at(nt, w.c2, w.d, &g_cands[order[2]].pk, NULL), 1);
  assert_int_equal(stats_of(nt, w.d).announce_entries, 3);
  /* Once entries expire their slots are free again for anyone. */
  nt->now += SPEC_ENTRY_TIMEOUT_MS;
  assert_int_equal(announce_fully(nt, w.c, w.d, &g_cands[order[7]], &dpk), 2);
  assert_int_equal(stats_of(nt, w.d).announce_entries, 1);
  net_free(nt);
}

static void test_response_carries_four_closest_nodes_within_size(void **state) {
  (void)state;
  net *nt = net_new();
  dworld w = make_d(nt, 0);
  int peers[6];
  for (int i = 0; i < 6; i++) {
    peers[i] = add_fake(nt, test_addr6((uint16_t)(0x900 + i), (uint16_t)(40000 + i)), 700 + (uint64_t)i);
    make_known(nt, w.d, peers[i]);
  }
  tw_keypair me = test_keypair(541);
  tw_key dpk = test_key_fill(0x78);
  tw_announce_response_plain resp;
  announce_req r = mk_announce(NULL, &me.pk, &dpk, 1);
  assert_int_equal(announce_at(nt, w.c, w.d, &me, &r, &resp), TW_OK);
  /* The biggest answer: four IPv6 nodes, exactly the spec's maximum. */
  sent s = only_sent(nt);
  assert_int_equal(s.len, 1 + SPEC_RET3 + SPEC_ANNOUNCE_RESPONSE_MAX);
  assert_int_equal(resp.count, 4);
  /* the four closest to the searched key, closest first */
  tw_node_info want[4];
  assert_int_equal(tw_dht_closest(tw_node_dht(nt->ep[w.d].node), &me.pk, want, 4, false, nt->now), 4);
  for (int i = 0; i < 4; i++) {
    assert_true(tw_key_equal(&resp.nodes[i].pk, &want[i].pk));
    assert_true(tw_addr_equal(&resp.nodes[i].addr, &want[i].addr));
  }
  for (int i = 1; i < 4; i++)
    assert_true(tw_key_distance_cmp(&me.pk, &resp.nodes[i - 1].pk, &resp.nodes[i].pk) < 0);
  net_free(nt);
}

static size_t build_data_request(const tw_key *dest, const tw_key *data_pk, size_t payload,
                                 uint8_t *out);

/* The newer form (0x87/0x88, spec/onion.md): same request, a count byte in
 * the answer, shared ping ids and entries with 0x83. */
static void test_newer_announce_form(void **state) {
  (void)state;
  net *nt = net_new();
  dworld w = make_d(nt, 0);
  int s = add_fake(nt, test_addr4(203, 0, 113, 79, 5), 37);
  tw_keypair me = test_keypair(581), dk = test_keypair(582);
  tw_announce_response_plain resp;
  g_announce_kind = 0x87;
  announce_req r = mk_announce(NULL, &me.pk, &dk.pk, 1);
  assert_int_equal(announce_at(nt, w.c, w.d, &me, &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 0);
  /* 261 bytes with no nodes */
  assert_int_equal(nt->log[0].len, 261);
  /* an 0x87 ping id works in an 0x83 and the other way round */
  g_announce_kind = 0x83;
  r = mk_announce(resp.ping_or_key, &me.pk, &dk.pk, 2);
  assert_int_equal(announce_at(nt, w.c, w.d, &me, &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 2);
  g_announce_kind = 0x87;
  r = mk_announce(resp.ping_or_key, &me.pk, &dk.pk, 3);
  assert_int_equal(announce_at(nt, w.c, w.d, &me, &r, &resp), TW_OK);
  assert_int_equal(resp.is_stored, 2);
  /* searching in either form finds it */
  tw_key got;
  assert_int_equal(search_at(nt, w.c2, w.d, &me.pk, &got), 1);
  assert_true(tw_key_equal(&got, &dk.pk));
  g_announce_kind = 0x83;
  assert_int_equal(search_at(nt, w.c2, w.d, &me.pk, &got), 1);
  assert_int_equal(stats_of(nt, w.d).announcements_stored, 2);
  /* data to route reaches an 0x87 announcement */
  static uint8_t req[1500];
  size_t len = build_data_request(&me.pk, &dk.pk, 30, req);
  assert_int_equal(inject(nt, s, w.d, req, len), TW_OK);
  sent out = only_sent(nt);
  assert_true(tw_addr_equal(&out.to, &nt->ep[w.c].addr));
  /* with four nodes known the count byte says 4 */
  for (int i = 0; i < 4; i++) {
    int p = add_fake(nt, test_addr4(198, 18, 0, (uint8_t)(10 + i), (uint16_t)(2000 + i)), 800 + (uint64_t)i);
    make_known(nt, w.d, p);
  }
  g_announce_kind = 0x87;
  r = mk_announce(NULL, &me.pk, &dk.pk, 4);
  assert_int_equal(announce_at(nt, w.c, w.d, &me, &r, &resp), TW_OK);
  assert_int_equal(resp.count, 4);
  net_free(nt);
}

/* ---- data to route ---- */

static size_t build_data_request(const tw_key *dest, const tw_key *data_pk, size_t payload,
                                 uint8_t *out) {
  tw_keypair temp = test_keypair(4242);
  uint8_t nonce[24], plain[1400];
  pattern(nonce, 24, 0x17);
  pattern(plain, payload, 0x23);
  out[0] = 0x85;
  memcpy(out + 1, dest->bytes, 32);
  memcpy(out + 33, nonce, 24);
  memcpy(out + 57, temp.pk.bytes, 32);
  seal_to(out + 89, plain, payload, nonce, data_pk, temp.sk);
  size_t n = 89 + payload + TW_MAC_SIZE;
  pattern(out + n, SPEC_RET3, 0xee); /* the sender's own return path */
  return n + SPEC_RET3;
}

static void test_data_request_routed_to_announced_node(void **state) {
  (void)state;
  net *nt = net_new();
  dworld w = make_d(nt, 0);
  int s = add_fake(nt, test_addr4(203, 0, 113, 77, 5), 35);
  tw_keypair me = test_keypair(551), data_keys = test_keypair(552);
  assert_int_equal(announce_fully(nt, w.c, w.d, &me, &data_keys.pk), 2);
  uint8_t stored_ret[SPEC_RET3];
  fake_ret(w.c, stored_ret);

  const size_t payloads[] = {1, 100, 1400 - 89 - 16 - SPEC_RET3};
  for (size_t i = 0; i < 3; i++) {
    static uint8_t req[1500];
    size_t len = build_data_request(&me.pk, &data_keys.pk, payloads[i], req);
    assert_true(len <= SPEC_MAX_PACKET);
    assert_int_equal(inject(nt, s, w.d, req, len), TW_OK);
    sent out = only_sent(nt);
    /* [0x8c][stored return path][0x86][nonce][temp pk][box] to node C of
     * the announcer's path. */
    assert_true(tw_addr_equal(&out.to, &nt->ep[w.c].addr));
    assert_int_equal(out.data[0], 0x8c);
    assert_memory_equal(out.data + 1, stored_ret, SPEC_RET3);
    assert_int_equal(out.data[1 + SPEC_RET3], 0x86);
    size_t body = len - 1 - 32 - SPEC_RET3;
    assert_int_equal(out.len, 1 + SPEC_RET3 + 1 + body);
    assert_memory_equal(out.data + 2 + SPEC_RET3, req + 33, body);
    /* never bigger than what came in */
    assert_true(out.len <= len);
    /* The announcer opens it with its data key. */
    uint8_t plain[1400];
    const uint8_t *r = out.data + 2 + SPEC_RET3;
    tw_key temp;
    memcpy(temp.bytes, r + 24, 32);
    assert_int_equal(open_from(plain, r + 56, body - 56, r, &temp, data_keys.sk), TW_OK);
  }
  assert_int_equal(stats_of(nt, w.d).data_requests_routed, 3);

  /* An unknown key: dropped, counted, nothing sent. */
  tw_key stranger = test_key_fill(0x9e);
  static uint8_t req[1500];
  size_t len = build_data_request(&stranger, &data_keys.pk, 50, req);
  assert_int_equal(inject(nt, s, w.d, req, len), TW_E_NOROUTE);
  assert_int_equal(nt->nlog, 0);
  assert_int_equal(dropped(nt, w.d, TW_E_NOROUTE), 1);
  /* A searcher's key is no announcement. */
  assert_int_equal(search_at(nt, w.c2, w.d, &stranger, NULL), 0);
  len = build_data_request(&stranger, &data_keys.pk, 50, req);
  assert_int_equal(inject(nt, s, w.d, req, len), TW_E_NOROUTE);
  assert_int_equal(stats_of(nt, w.d).data_requests_routed, 3);
  net_free(nt);
}

/* The announcer's path refreshed from another C: data follows it. */
static void test_data_request_follows_latest_announce_path(void **state) {
  (void)state;
  net *nt = net_new();
  dworld w = make_d(nt, 0);
  int s = add_fake(nt, test_addr4(203, 0, 113, 78, 5), 36);
  tw_keypair me = test_keypair(561), dk = test_keypair(562);
  assert_int_equal(announce_fully(nt, w.c, w.d, &me, &dk.pk), 2);
  assert_int_equal(announce_fully(nt, w.c2, w.d, &me, &dk.pk), 2);
  static uint8_t req[1500];
  size_t len = build_data_request(&me.pk, &dk.pk, 60, req);
  assert_int_equal(inject(nt, s, w.d, req, len), TW_OK);
  sent out = only_sent(nt);
  assert_true(tw_addr_equal(&out.to, &nt->ep[w.c2].addr));
  uint8_t ret[SPEC_RET3];
  fake_ret(w.c2, ret);
  assert_memory_equal(out.data + 1, ret, SPEC_RET3);
  net_free(nt);
}

/* Data to route through the whole onion, both ways: X announces through a
 * path, Y sends data through another, X receives it down its return path. */
static void test_data_route_end_to_end(void **state) {
  (void)state;
  net *nt = net_new();
  tw_addr addr[5];
  v4_addrs(addr);
  world w = make_world(nt, addr);
  int y = add_fake(nt, test_addr4(203, 0, 113, 90, 1234), 40);
  tw_keypair me = nt->ep[w.x].self, dk = test_keypair(571);
  uint8_t req[SPEC_ANNOUNCE_REQUEST];
  trip t;
  tw_announce_response_plain resp;
  announce_req r = mk_announce(NULL, &me.pk, &dk.pk, 1);
  build_announce(&me, &nt->ep[w.d].kp.pk, &r, req);
  assert_int_equal(send_through(nt, &w, req, sizeof req, &t), TW_OK);
  sent s = only_sent(nt);
  assert_int_equal(return_through(nt, &w, &t, s.data, s.len), TW_OK);
  s = only_sent(nt);
  open_announce_response(s.data, s.len, &me, &nt->ep[w.d].kp.pk, r.sendback, &resp);
  r = mk_announce(resp.ping_or_key, &me.pk, &dk.pk, 2);
  build_announce(&me, &nt->ep[w.d].kp.pk, &r, req);
  assert_int_equal(send_through(nt, &w, req, sizeof req, &t), TW_OK);
  s = only_sent(nt);
  assert_int_equal(return_through(nt, &w, &t, s.data, s.len), TW_OK);
  s = only_sent(nt);
  open_announce_response(s.data, s.len, &me, &nt->ep[w.d].kp.pk, r.sendback, &resp);
  assert_int_equal(resp.is_stored, 2);

  /* Y's 0x85, as node C of Y's path delivers it (C appends Y's ret). */
  static uint8_t data[1500];
  size_t len = build_data_request(&me.pk, &dk.pk, 80, data);
  assert_int_equal(inject(nt, y, w.d, data, len), TW_OK);
  /* D -> C -> B -> A -> X, down X's announce path. */
  assert_int_equal(step(nt, w.c), TW_OK);
  assert_int_equal(step(nt, w.b), TW_OK);
  assert_int_equal(step(nt, w.a), TW_OK);
  s = only_sent(nt);
  assert_true(tw_addr_equal(&s.to, &nt->ep[w.x].addr));
  size_t body = len - 1 - 32 - SPEC_RET3;
  assert_int_equal(s.len, 1 + body);
  assert_int_equal(s.data[0], 0x86);
  assert_memory_equal(s.data + 1, data + 33, body);
  net_free(nt);
}

/* ---- switched off ---- */

static void test_no_onion_drops_disabled(void **state) {
  (void)state;
  net *nt = net_new();
  int n = add_node(nt, test_addr4(198, 51, 100, 1, 1), 1, 0);
  int f = add_fake(nt, test_addr4(203, 0, 113, 9, 9), 2);
  assert_null(tw_node_onion(nt->ep[n].node));
  static uint8_t pkt[600];
  pattern(pkt, sizeof pkt, 1);
  const uint8_t kinds[] = {0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x8c, 0x8d, 0x8e};
  for (size_t i = 0; i < sizeof kinds; i++) {
    pkt[0] = kinds[i];
    assert_int_equal(inject(nt, f, n, pkt, sizeof pkt), TW_E_DISABLED);
    assert_int_equal(nt->nlog, 0);
  }
  net_free(nt);
}

static void test_relay_and_store_off_drops_disabled(void **state) {
  (void)state;
  net *nt = net_new();
  /* An onion (the client is on) that neither relays nor stores. */
  int n = add_node(nt, test_addr4(198, 51, 100, 1, 1), 1, CLIENT);
  int f = add_fake(nt, test_addr4(203, 0, 113, 9, 9), 2);
  /* Genuine packets would be relayed or answered were it on. */
  tw_keypair temp = test_keypair(3), me = test_keypair(4);
  uint8_t nonce[24], plain[300], pkt[700];
  pattern(nonce, 24, 1);
  size_t k = put_ipport(plain, &nt->ep[f].addr);
  memset(plain + k, 0x83, 120);
  size_t len = build_layer(0x80, &nt->ep[n].kp.pk, &temp, nonce, plain, k + 120, 0, pkt);
  assert_int_equal(inject(nt, f, n, pkt, len), TW_E_DISABLED);
  pkt[0] = 0x81;
  assert_int_equal(inject(nt, f, n, pkt, len + SPEC_RET1), TW_E_DISABLED);
  pkt[0] = 0x82;
  assert_int_equal(inject(nt, f, n, pkt, len + SPEC_RET2), TW_E_DISABLED);
  tw_key dpk = test_key_fill(1);
  announce_req r = mk_announce(NULL, &me.pk, &dpk, 1);
  build_announce(&me, &nt->ep[n].kp.pk, &r, pkt);
  assert_int_equal(inject(nt, f, n, pkt, SPEC_ANNOUNCE_REQUEST + SPEC_RET3), TW_E_DISABLED);
  len = build_data_request(&me.pk, &dpk, 40, pkt);
  assert_int_equal(inject(nt, f, n, pkt, len), TW_E_DISABLED);
  for (uint8_t kind = 0x8c; kind <= 0x8e; kind++) {
    pkt[0] = kind;
    assert_int_equal(inject(nt, f, n, pkt, 400), TW_E_DISABLED);
  }
  assert_int_equal(nt->nlog, 0);
  assert_int_equal(dropped(nt, n, TW_E_DISABLED), 8);
  /* A relay without a store: relays, but answers no announce. */
  int m = add_node(nt, test_addr4(198, 51, 100, 2, 2), 5, RELAY);
  build_announce(&me, &nt->ep[m].kp.pk, &r, pkt);
  assert_int_equal(inject(nt, f, m, pkt, SPEC_ANNOUNCE_REQUEST + SPEC_RET3), TW_E_DISABLED);
  /* A store without relaying: answers, but relays nothing. */
  int s = add_node(nt, test_addr4(198, 51, 100, 3, 3), 6, STORE);
  build_announce(&me, &nt->ep[s].kp.pk, &r, pkt);
  assert_int_equal(inject(nt, f, s, pkt, SPEC_ANNOUNCE_REQUEST + SPEC_RET3), TW_OK);
  assert_int_equal(nt->nlog, 1);
  len = build_layer(0x80, &nt->ep[s].kp.pk, &temp, nonce, plain, k + 120, 0, pkt);
  assert_int_equal(inject(nt, f, s, pkt, len), TW_E_DISABLED);
  assert_int_equal(nt->nlog, 0);
  net_free(nt);
}

/* ---- the DHT public key packet through the DHT ---- */

/* [0x9c][sender long-term pk][nonce][box_long(dhtpk packet)] */
static size_t build_dhtpk_request(const tw_keypair *from_long, const tw_key *to_long,
                                  uint64_t no_replay, const tw_key *dht_pk, uint8_t count,
                                  uint8_t *out) {
  tw_dhtpk p;
  memset(&p, 0, sizeof p);
  p.no_replay = no_replay;
  p.dht_pk = *dht_pk;
  p.count = count;
  for (uint8_t i = 0; i < count; i++) {
    p.nodes[i].pk = test_key_fill((uint8_t)(0xa0 + i));
    p.nodes[i].addr = test_addr4(198, 51, 100, (uint8_t)(100 + i), (uint16_t)(1000 + i));
    p.nodes[i].tcp = i == 0;
  }
  uint8_t inner[SPEC_MAX_PACKET];
  int n = tw_dhtpk_encode(inner, sizeof inner, &p);
  assert_true(n > 0);
  uint8_t nonce[24];
  pattern(nonce, 24, (uint8_t)no_replay);
  out[0] = 0x9c;
  memcpy(out + 1, from_long->pk.bytes, 32);
  memcpy(out + 33, nonce, 24);
  seal_to(out + 57, inner, (size_t)n, nonce, to_long, from_long->sk);
  return 57 + (size_t)n + TW_MAC_SIZE;
}

static void test_dhtpk_via_dht_from_friend_accepted_once(void **state) {
  (void)state;
  net *nt = net_new();
  int e = add_node(nt, test_addr4(198, 51, 100, 1, 1), 1, CLIENT);
  int fr = add_fake(nt, test_addr4(203, 0, 113, 9, 9), 2);
  ep *E = &nt->ep[e], *F = &nt->ep[fr];
  assert_int_equal(tw_onion_friend_add(E->onion, &F->self.pk, nt->now), TW_OK);
  clear_log(nt);
  tw_key fdht = F->kp.pk;
  uint8_t plain[SPEC_MAX_PACKET];
  size_t len = build_dhtpk_request(&F->self, &E->self.pk, 1000, &fdht, 3, plain);
  assert_int_equal(tw_onion_handle_dht_request(E->onion, &F->kp.pk, &F->addr, plain, len, nt->now),
                   TW_OK);
  assert_int_equal(E->events, 1);
  assert_int_equal(E->ev.kind, TW_ONION_EV_FRIEND_DHT_KEY);
  assert_int_equal(E->ev.route, TW_ONION_ROUTE_DHT);
  assert_true(tw_key_equal(&E->ev.peer, &F->self.pk));
  assert_true(tw_key_equal(&E->ev.dht_pk, &fdht));
  assert_true(E->ev.changed);
  assert_int_equal(E->ev.node_count, 3);
  assert_true(E->ev.nodes[0].tcp);
  tw_key n2 = test_key_fill(0xa2);
  assert_true(tw_key_equal(&E->ev.nodes[2].pk, &n2));
  assert_int_equal(stats_of(nt, e).dhtpk_received_dht, 1);

  /* The same packet again: a replay. */
  assert_int_equal(tw_onion_handle_dht_request(E->onion, &F->kp.pk, &F->addr, plain, len, nt->now),
                   TW_E_REPLAY);
  assert_int_equal(E->events, 1);
  assert_int_equal(dropped(nt, e, TW_E_REPLAY), 1);
  /* An older one too. */
  len = build_dhtpk_request(&F->self, &E->self.pk, 999, &fdht, 0, plain);
  assert_int_equal(tw_onion_handle_dht_request(E->onion, &F->kp.pk, &F->addr, plain, len, nt->now),
                   TW_E_REPLAY);
  assert_int_equal(dropped(nt, e, TW_E_REPLAY), 2);
  /* A newer one: accepted, unchanged key. */
  len = build_dhtpk_request(&F->self, &E->self.pk, 1001, &fdht, 0, plain);
  assert_int_equal(tw_onion_handle_dht_request(E->onion, &F->kp.pk, &F->addr, plain, len, nt->now),
                   TW_OK);
  assert_int_equal(E->events, 2);
  assert_false(E->ev.changed);
  assert_int_equal(E->ev.node_count, 0);
  /* A newer one with a new DHT key: changed. */
  tw_key fdht2 = test_key_fill(0x5d);
  len = build_dhtpk_request(&F->self, &E->self.pk, 1002, &fdht2, 4, plain);
  assert_int_equal(tw_onion_handle_dht_request(E->onion, &F->kp.pk, &F->addr, plain, len, nt->now),
                   TW_OK);
  assert_int_equal(E->events, 3);
  assert_true(E->ev.changed);
  assert_true(tw_key_equal(&E->ev.dht_pk, &fdht2));
  assert_int_equal(E->ev.node_count, 4);
  /* Tampered: dropped, no event. */
  len = build_dhtpk_request(&F->self, &E->self.pk, 1003, &fdht2, 0, plain);
  plain[len - 3] ^= 1;
  assert_int_equal(tw_onion_handle_dht_request(E->onion, &F->kp.pk, &F->addr, plain, len, nt->now),
                   TW_E_CRYPTO);
  /* Signed with a key other than the one it names: dropped. */
  tw_keypair mallory = test_keypair(66);
  len = build_dhtpk_request(&mallory, &E->self.pk, 1004, &fdht2, 0, plain);
  memcpy(plain + 1, F->self.pk.bytes, 32);
  assert_int_equal(tw_onion_handle_dht_request(E->onion, &F->kp.pk, &F->addr, plain, len, nt->now),
                   TW_E_CRYPTO);
  assert_int_equal(E->events, 3);
  /* Not a 0x9c: not ours. */
  plain[0] = 0x9d;
  assert_int_equal(tw_onion_handle_dht_request(E->onion, &F->kp.pk, &F->addr, plain, len, nt->now),
                   TW_E_KIND);
  /* Too short. */
  plain[0] = 0x9c;
  assert_int_equal(tw_onion_handle_dht_request(E->onion, &F->kp.pk, &F->addr, plain,
                                               1 + 32 + 24 + 16 + 40, nt->now),
                   TW_E_SHORT);
  assert_int_equal(nt->nlog, 0);
  net_free(nt);
}

static void test_dhtpk_via_dht_from_stranger_dropped(void **state) {
  (void)state;
  net *nt = net_new();
  int e = add_node(nt, test_addr4(198, 51, 100, 1, 1), 1, CLIENT);
  int st = add_fake(nt, test_addr4(203, 0, 113, 9, 9), 2);
  int fr = add_fake(nt, test_addr4(203, 0, 113, 10, 9), 3);
  ep *E = &nt->ep[e], *S = &nt->ep[st];
  assert_int_equal(tw_onion_friend_add(E->onion, &nt->ep[fr].self.pk, nt->now), TW_OK);
  uint8_t plain[SPEC_MAX_PACKET];
  size_t len = build_dhtpk_request(&S->self, &E->self.pk, 5, &S->kp.pk, 1, plain);
  int rc = tw_onion_handle_dht_request(E->onion, &S->kp.pk, &S->addr, plain, len, nt->now);
  assert_true(rc < 0);
  assert_int_equal(E->events, 0);
  assert_int_equal(stats_of(nt, e).dropped_total, 1);
  assert_int_equal(stats_of(nt, e).dhtpk_received_dht, 0);
  /* A removed friend is a stranger again. */
  assert_int_equal(tw_onion_friend_remove(E->onion, &nt->ep[fr].self.pk), TW_OK);
  len = build_dhtpk_request(&nt->ep[fr].self, &E->self.pk, 5, &S->kp.pk, 1, plain);
  assert_true(tw_onion_handle_dht_request(E->onion, &S->kp.pk, &S->addr, plain, len, nt->now) < 0);
  assert_int_equal(E->events, 0);
  net_free(nt);
}

/* The whole way in: a DHT Request packet to the node's DHT key, which the
 * node hands to its onion. */
static void test_dhtpk_through_node_dht_request(void **state) {
  (void)state;
  net *nt = net_new();
  int e = add_node(nt, test_addr4(198, 51, 100, 1, 1), 1, CLIENT);
  int fr = add_fake(nt, test_addr4(203, 0, 113, 9, 9), 2);
  ep *E = &nt->ep[e], *F = &nt->ep[fr];
  assert_int_equal(tw_onion_friend_add(E->onion, &F->self.pk, nt->now), TW_OK);
  uint8_t plain[SPEC_MAX_PACKET];
  size_t len = build_dhtpk_request(&F->self, &E->self.pk, 77, &F->kp.pk, 2, plain);
  /* [0x20][addressee][sender][nonce][box(plain)] */
  uint8_t inner[TW_DHT_OVERHEAD + TW_DHT_PLAIN_MAX], pkt[TW_DHT_OVERHEAD + TW_DHT_PLAIN_MAX + 32];
  uint8_t shared[32], nonce[24];
  tw_shared_key_compute(shared, &E->kp.pk, F->kp.sk);
  pattern(nonce, 24, 0x44);
  int n = tw_dht_packet_seal(inner, sizeof inner, TW_PACKET_DHT_REQUEST, &F->kp.pk, nonce, shared,
                             plain, len);
  assert_true(n > 0);
  pkt[0] = TW_PACKET_DHT_REQUEST;
  memcpy(pkt + 1, E->kp.pk.bytes, 32);
  memcpy(pkt + 33, inner + 1, (size_t)n - 1);
  size_t plen = (size_t)n + 32;
  assert_int_equal(inject(nt, fr, e, pkt, plen), TW_OK);
  assert_int_equal(E->events, 1);
  assert_int_equal(E->ev.kind, TW_ONION_EV_FRIEND_DHT_KEY);
  assert_int_equal(E->ev.route, TW_ONION_ROUTE_DHT);
  assert_true(tw_key_equal(&E->ev.dht_pk, &F->kp.pk));
  assert_int_equal(E->ev.node_count, 2);
  /* Again: the DHT delivers it, the onion refuses the replay. */
  inject(nt, fr, e, pkt, plen);
  assert_int_equal(E->events, 1);
  assert_int_equal(dropped(nt, e, TW_E_REPLAY), 1);
  net_free(nt);
}

/* ---- the client over TCP relays ---- */

/* What the test's TCP client module knows and was asked to send. */
#define MAX_TCP_OUT 48
typedef struct tcp_side {
  tw_node_info relays[4];
  size_t nrelays;
  int send_rc; /* what tcp_onion_send answers */
  int calls;
  int nout;
  tw_key to[MAX_TCP_OUT];
  uint8_t out[MAX_TCP_OUT][SPEC_MAX_PACKET];
  size_t out_len[MAX_TCP_OUT];
} tcp_side;

static tcp_side g_tcp;

static size_t cb_tcp_relays(void *ctx, tw_node_info *out, size_t max) {
  tcp_side *t = ctx;
  size_t n = t->nrelays < max ? t->nrelays : max;
  memcpy(out, t->relays, n * sizeof *out);
  return n;
}

static int cb_tcp_onion_send(void *ctx, const tw_key *relay_pk, const uint8_t *data, size_t len) {
  tcp_side *t = ctx;
  t->calls++;
  if (t->send_rc != TW_OK) return t->send_rc;
  assert_true(t->nout < MAX_TCP_OUT);
  /* The TCP relay takes it as the payload of a 0x08 onion request. */
  assert_true(len + 1 <= SPEC_MAX_PACKET);
  t->to[t->nout] = *relay_pk;
  memcpy(t->out[t->nout], data, len);
  t->out_len[t->nout++] = len;
  return TW_OK;
}

/* A client (bare tw_dht + tw_onion) whose only way out may be TCP relays. */
static int add_tcp_client(net *nt, tw_addr addr, uint64_t seed) {
  ep *e = add_ep(nt, addr, seed);
  tw_env env;
  tw_onion_config oc = bare_onion_config(nt, e, &env);
  oc.client = true;
  oc.self_keys = e->self;
  oc.on_event = on_event;
  oc.event_ctx = e;
  oc.tcp_relays = cb_tcp_relays;
  oc.tcp_onion_send = cb_tcp_onion_send;
  oc.tcp_client_ctx = &g_tcp;
  e->onion = tw_onion_new(&oc, &env, nt->now);
  assert_non_null(e->onion);
  return e->idx;
}

typedef struct tworld {
  int x;    /* the client */
  int r[3]; /* TCP relays (onion relays that take TCP onion requests) */
  int n[4]; /* UDP nodes: relays and announce nodes, given as path nodes */
  int nr, nn;
} tworld;

static tworld make_tworld(net *nt, int relays, int nodes) {
  tworld w;
  memset(&w, 0, sizeof w);
  memset(&g_tcp, 0, sizeof g_tcp);
  w.x = add_tcp_client(nt, test_addr4(203, 0, 113, 50, 40000), 41);
  w.nr = relays;
  w.nn = nodes;
  for (int i = 0; i < relays; i++) {
    w.r[i] = add_tcp_relay(nt, test_addr4(198, 51, 100, (uint8_t)(10 + i), (uint16_t)(3389 + i)),
                           (uint64_t)(42 + i));
    g_tcp.relays[i] = (tw_node_info){.pk = nt->ep[w.r[i]].kp.pk, .addr = nt->ep[w.r[i]].addr,
                                     .tcp = true};
  }
  g_tcp.nrelays = (size_t)relays;
  for (int i = 0; i < nodes; i++) {
    w.n[i] = add_node(nt, test_addr4(192, 0, 2, (uint8_t)(1 + i), (uint16_t)(33445 + i)),
                      (uint64_t)(50 + i), RELAY | STORE);
    tw_node_info ni = {.pk = nt->ep[w.n[i]].kp.pk, .addr = nt->ep[w.n[i]].addr};
    assert_int_equal(tw_onion_add_path_node(nt->ep[w.x].onion, &ni, nt->now), TW_OK);
  }
  assert_int_equal(stats_of(nt, w.x).path_nodes, (uint32_t)nodes);
  return w;
}

static void get_ipport(const uint8_t *in, tw_addr *a) {
  memset(a, 0, sizeof *a);
  a->family = in[0];
  memcpy(a->ip, in + 1, in[0] == TW_AF_INET ? 4 : 16);
  a->port = (uint16_t)(in[17] << 8 | in[18]);
}

/* A TCP onion request payload opened as the relay, B and C would, with
 * the keys the test owns. */
typedef struct peeled {
  int b, c, d; /* endpoints named by the layers */
  uint8_t data[SPEC_MAX_PACKET]; /* what C hands to D */
  size_t len;
} peeled;

static void peel_tcp(net *nt, const uint8_t *pl, size_t len, peeled *out) {
  static uint8_t p1[SPEC_MAX_PACKET], p2[SPEC_MAX_PACKET];
  /* [nonce][ip_port B][pk1][box_B(ip_port C, pk2, box_C(ip_port D, data))] */
  assert_true(len > 24 + 19 + 32 + 16 + 19 + 32 + 16 + 19);
  const uint8_t *nonce = pl;
  tw_addr a;
  get_ipport(pl + 24, &a);
  ep *B = ep_at(nt, &a);
  assert_non_null(B);
  tw_key pk1;
  memcpy(pk1.bytes, pl + 43, 32);
  assert_int_equal(open_from(p1, pl + 75, len - 75, nonce, &pk1, B->kp.sk), TW_OK);
  size_t n1 = len - 75 - TW_MAC_SIZE;
  get_ipport(p1, &a);
  ep *C = ep_at(nt, &a);
  assert_non_null(C);
  tw_key pk2;
  memcpy(pk2.bytes, p1 + 19, 32);
  assert_false(tw_key_equal(&pk1, &pk2)); /* a fresh key per layer */
  assert_int_equal(open_from(p2, p1 + 51, n1 - 51, nonce, &pk2, C->kp.sk), TW_OK);
  size_t n2 = n1 - 51 - TW_MAC_SIZE;
  get_ipport(p2, &a);
  ep *D = ep_at(nt, &a);
  assert_non_null(D);
  out->b = B->idx;
  out->c = C->idx;
  out->d = D->idx;
  out->len = n2 - 19;
  memcpy(out->data, p2 + 19, out->len);
}

/* Opens an announce request [0x83][nonce][pk][box(104)] as D. */
static void open_announce_req(net *nt, int d, const uint8_t *data, size_t len,
                              tw_announce_request_plain *out) {
  assert_int_equal(len, SPEC_ANNOUNCE_REQUEST);
  assert_int_equal(data[0], 0x83);
  tw_key sender;
  memcpy(sender.bytes, data + 25, 32);
  uint8_t plain[104];
  assert_int_equal(open_from(plain, data + 57, len - 57, data + 1, &sender, nt->ep[d].kp.sk), TW_OK);
  assert_int_equal(tw_announce_request_plain_decode(out, plain, sizeof plain), TW_OK);
}

static int relay_with_key(net *nt, const tworld *w, const tw_key *pk) {
  for (int i = 0; i < w->nr; i++)
    if (tw_key_equal(&nt->ep[w->r[i]].kp.pk, pk)) return w->r[i];
  fail_msg("tcp_onion_send to a key that is no relay");
  return -1;
}

/* Hands TCP payload i to its relay as its TCP client module would and
 * steps every datagram until the answer comes back over the TCP link; the
 * answer is left in the relay's tcp_data. Returns the relay. */
static int through_relay(net *nt, const tworld *w, int i) {
  int r = relay_with_key(nt, w, &g_tcp.to[i]);
  ep *R = &nt->ep[r];
  int before = R->tcp_sent;
  clear_log(nt);
  assert_int_equal(tw_onion_handle_tcp_request(R->onion, 0x77, g_tcp.out[i], g_tcp.out_len[i],
                                               nt->now),
                   TW_OK);
  for (int hops = 0; nt->nlog > 0; hops++) {
    assert_true(hops < 8);
    sent s = only_sent(nt);
    ep *to = ep_at(nt, &s.to);
    assert_non_null(to);
    assert_int_equal(inject(nt, s.from, to->idx, s.data, s.len), TW_OK);
  }
  assert_int_equal(R->tcp_sent, before + 1);
  return r;
}

static bool path_has(const tw_onion_path_info *p, const tw_key *relay, int b, int c, net *nt) {
  return p->hops[0].tcp && tw_key_equal(&p->hops[0].pk, relay) &&
         tw_key_equal(&p->hops[1].pk, &nt->ep[b].kp.pk) &&
         tw_addr_equal(&p->hops[1].addr, &nt->ep[b].addr) &&
         tw_key_equal(&p->hops[2].pk, &nt->ep[c].kp.pk) &&
         tw_addr_equal(&p->hops[2].addr, &nt->ep[c].addr);
}

/* No UDP node in the DHT, one TCP relay and four path nodes: the client
 * announces itself through paths that start at the relay, and what it
 * hands the relay is [nonce][ip_port B][pk][box_B(...)] all the way down
 * to an announce request for its own key at node D. */
static void test_onion_client_tcp_only_path_through_relay(void **state) {
  (void)state;
  net *nt = net_new();
  tworld w = make_tworld(nt, 1, 4);
  ep *X = &nt->ep[w.x];
  clear_log(nt);
  tw_onion_on_timer(X->onion, nt->now);
  assert_int_equal(nt->nlog, 0); /* nothing over UDP */
  assert_true(g_tcp.nout >= 1);
  tw_onion_stats st = stats_of(nt, w.x);
  assert_int_equal(st.client_tcp_requests, (uint64_t)g_tcp.nout);
  assert_int_equal(st.client_announce_sent, (uint64_t)g_tcp.nout);
  assert_true(st.paths_built_tcp >= 1);
  assert_int_equal(st.paths_built_tcp, st.paths_built);

  tw_onion_path_info paths[12];
  size_t np = tw_onion_get_paths(X->onion, paths, 12, nt->now);
  assert_int_equal(np, st.paths_built);
  for (size_t i = 0; i < np; i++) {
    assert_true(paths[i].hops[0].tcp);
    assert_true(tw_key_equal(&paths[i].hops[0].pk, &g_tcp.relays[0].pk));
    assert_true(tw_addr_equal(&paths[i].hops[0].addr, &g_tcp.relays[0].addr));
    assert_false(paths[i].hops[1].tcp || paths[i].hops[2].tcp);
    assert_false(tw_addr_equal(&paths[i].hops[1].addr, &paths[i].hops[2].addr));
  }

  /* The DHT has nothing: the path nodes closest to our key are asked,
   * all four of them. */
  assert_int_equal(g_tcp.nout, 4);
  bool asked[4] = {false};
  for (int i = 0; i < g_tcp.nout; i++) {
    assert_true(tw_key_equal(&g_tcp.to[i], &g_tcp.relays[0].pk));
    /* 24 + 19 + 32 + box_B(19 + 32 + box_C(19 + 177)) */
    assert_int_equal(g_tcp.out_len[i], 24 + 19 + 32 + (19 + 32 + (19 + 177 + 16) + 16));
    peeled pl;
    peel_tcp(nt, g_tcp.out[i], g_tcp.out_len[i], &pl);
    bool on_a_path = false;
    for (size_t k = 0; k < np; k++) on_a_path |= path_has(&paths[k], &g_tcp.to[i], pl.b, pl.c, nt);
    assert_true(on_a_path);
    tw_announce_request_plain req;
    open_announce_req(nt, pl.d, pl.data, pl.len, &req);
    assert_true(tw_key_equal(&req.search, &X->self.pk));
    assert_true(all_zero(req.ping_id, 32));
    assert_false(all_zero(req.data_pk.bytes, 32));
    bool d_is_node = false;
    for (int k = 0; k < w.nn; k++) {
      d_is_node |= pl.d == w.n[k];
      if (pl.d == w.n[k]) asked[k] = true;
    }
    assert_true(d_is_node);
  }
  for (int k = 0; k < 4; k++) assert_true(asked[k]);
  net_free(nt);
}

/* The announce node's answer comes back over the TCP link and is fed in
 * with from = the relay's address: accepted, the path confirmed, and the
 * ping id it carries gets us stored, again through the relay. From any
 * other address the same answer is unsolicited. */
static void test_onion_client_tcp_answer_from_relay_confirms_path(void **state) {
  (void)state;
  net *nt = net_new();
  tworld w = make_tworld(nt, 2, 4);
  ep *X = &nt->ep[w.x];
  tw_onion_on_timer(X->onion, nt->now);
  assert_true(g_tcp.nout >= 1);
  peeled pl;
  peel_tcp(nt, g_tcp.out[0], g_tcp.out_len[0], &pl);
  int r = through_relay(nt, &w, 0);
  ep *R = &nt->ep[r];
  uint8_t answer[SPEC_MAX_PACKET];
  size_t alen = R->tcp_len;
  memcpy(answer, R->tcp_data, alen);
  assert_int_equal(answer[0], 0x84);

  /* From elsewhere (node B itself): unsolicited, nothing confirmed. */
  assert_int_equal(tw_onion_handle_packet(X->onion, &nt->ep[pl.b].addr, answer, alen, nt->now),
                   TW_E_UNSOLICITED);
  assert_int_equal(stats_of(nt, w.x).client_announce_responses, 0);

  int sent_before = g_tcp.nout;
  assert_int_equal(tw_onion_handle_packet(X->onion, &R->addr, answer, alen, nt->now), TW_OK);
  tw_onion_stats st = stats_of(nt, w.x);
  assert_int_equal(st.client_announce_responses, 1);
  tw_onion_path_info paths[12];
  size_t np = tw_onion_get_paths(X->onion, paths, 12, nt->now);
  int confirmed = 0;
  for (size_t i = 0; i < np; i++) {
    if (!paths[i].confirmed) continue;
    confirmed++;
    assert_true(path_has(&paths[i], &g_tcp.to[0], pl.b, pl.c, nt));
  }
  assert_int_equal(confirmed, 1);

  /* The fresh ping id goes out at once, down the same path. */
  assert_int_equal(g_tcp.nout, sent_before + 1);
  int k = g_tcp.nout - 1;
  assert_true(tw_key_equal(&g_tcp.to[k], &g_tcp.to[0]));
  peeled pl2;
  peel_tcp(nt, g_tcp.out[k], g_tcp.out_len[k], &pl2);
  assert_int_equal(pl2.b, pl.b);
  assert_int_equal(pl2.c, pl.c);
  assert_int_equal(pl2.d, pl.d);
  tw_announce_request_plain req;
  open_announce_req(nt, pl2.d, pl2.data, pl2.len, &req);
  assert_false(all_zero(req.ping_id, 32));
  through_relay(nt, &w, k);
  X->events = 0;
  assert_int_equal(tw_onion_handle_packet(X->onion, &R->addr, R->tcp_data, R->tcp_len, nt->now),
                   TW_OK);
  assert_int_equal(stats_of(nt, pl.d).announcements_stored, 1);
  assert_int_equal(X->events, 1);
  assert_int_equal(X->ev.kind, TW_ONION_EV_ANNOUNCED);
  assert_int_equal(X->ev.stored_on, 1);
  assert_int_equal(stats_of(nt, w.x).announced_on, 1);

  /* Y sends X onion data (a friend request, kind 32): D routes it down X's
   * announce path, which ends over the relay's TCP link. */
  int y = add_fake(nt, test_addr4(203, 0, 113, 91, 1235), 64);
  int yc = add_fake(nt, test_addr4(203, 0, 113, 92, 1236), 65); /* node C of Y's path */
  ep *Y = &nt->ep[y];
  tw_keypair temp = test_keypair(66);
  uint8_t nonce[24], msg[40], inner[200], req2[600];
  pattern(nonce, 24, 0x31);
  pattern(msg, sizeof msg, 0x20);
  msg[0] = 32;
  memcpy(inner, Y->self.pk.bytes, 32);
  seal_to(inner + 32, msg, sizeof msg, nonce, &X->self.pk, Y->self.sk);
  size_t ilen = 32 + sizeof msg + TW_MAC_SIZE;
  req2[0] = 0x85;
  memcpy(req2 + 1, X->self.pk.bytes, 32);
  memcpy(req2 + 33, nonce, 24);
  memcpy(req2 + 57, temp.pk.bytes, 32);
  seal_to(req2 + 89, inner, ilen, nonce, &req.data_pk, temp.sk);
  size_t rlen = 89 + ilen + TW_MAC_SIZE;
  pattern(req2 + rlen, SPEC_RET3, 0xee);
  rlen += SPEC_RET3;
  int tcp_before = R->tcp_sent;
  assert_int_equal(inject(nt, yc, pl.d, req2, rlen), TW_OK);
  for (int hops = 0; nt->nlog > 0; hops++) {
    assert_true(hops < 8);
    sent sd = only_sent(nt);
    ep *to = ep_at(nt, &sd.to);
    assert_non_null(to);
    assert_int_equal(inject(nt, sd.from, to->idx, sd.data, sd.len), TW_OK);
  }
  assert_int_equal(R->tcp_sent, tcp_before + 1);
  assert_int_equal(R->tcp_data[0], 0x86);
  X->events = 0;
  assert_int_equal(tw_onion_handle_packet(X->onion, &nt->ep[pl.b].addr, R->tcp_data, R->tcp_len,
                                          nt->now),
                   TW_E_UNSOLICITED);
  assert_int_equal(X->events, 0);
  assert_int_equal(tw_onion_handle_packet(X->onion, &R->addr, R->tcp_data, R->tcp_len, nt->now),
                   TW_OK);
  assert_int_equal(X->events, 1);
  assert_int_equal(X->ev.kind, TW_ONION_EV_DATA);
  assert_true(tw_key_equal(&X->ev.peer, &Y->self.pk));
  assert_int_equal(X->ev.data_len, sizeof msg);
  assert_memory_equal(X->ev.data, msg, sizeof msg);
  net_free(nt);
}

/* Nodes that answer and nodes the answers name become path nodes. */
static void test_onion_client_learns_path_nodes_from_responses(void **state) {
  (void)state;
  net *nt = net_new();
  tworld w = make_tworld(nt, 1, 3);
  /* A UDP node every announce node knows, so each names it. */
  int p = add_fake(nt, test_addr4(192, 0, 2, 99, 5000), 60);
  for (int i = 0; i < w.nn; i++) make_known(nt, w.n[i], p);
  ep *X = &nt->ep[w.x];
  tw_onion_on_timer(X->onion, nt->now);
  assert_true(g_tcp.nout >= 1);
  int r = through_relay(nt, &w, 0);
  assert_int_equal(stats_of(nt, w.x).path_nodes, 3);
  assert_int_equal(tw_onion_handle_packet(X->onion, &nt->ep[r].addr, nt->ep[r].tcp_data,
                                          nt->ep[r].tcp_len, nt->now),
                   TW_OK);
  assert_int_equal(stats_of(nt, w.x).path_nodes, 4);
  /* and the client walks to it, through the relay */
  bool asked = false;
  for (int i = 0; i < g_tcp.nout; i++) {
    peeled pl;
    peel_tcp(nt, g_tcp.out[i], g_tcp.out_len[i], &pl);
    asked |= pl.d == p;
  }
  assert_true(asked);
  net_free(nt);
}

/* Our DHT public key packet, sent while we are connected to three relays
 * and the DHT knows no node: it lists the first two relays as TCP nodes
 * (ip types 130/138 on the wire), and nothing else. The friend is found
 * and the packet sent all through the relay. */
static void test_onion_client_dhtpk_lists_tcp_relays(void **state) {
  (void)state;
  net *nt = net_new();
  tworld w = make_tworld(nt, 3, 4);
  ep *X = &nt->ep[w.x];
  int fr = add_fake(nt, test_addr4(203, 0, 113, 77, 7000), 61);
  int via = add_fake(nt, test_addr4(203, 0, 113, 78, 7001), 62);
  ep *F = &nt->ep[fr];
  tw_keypair fdata = test_keypair(63);
  for (int i = 0; i < w.nn; i++)
    assert_int_equal(announce_fully(nt, via, w.n[i], &F->self, &fdata.pk), TW_ANNOUNCE_STORED);
  assert_int_equal(tw_onion_friend_add(X->onion, &F->self.pk, nt->now), TW_OK);
  nt->now += 10000; /* searches start after 10 s when not yet announced */
  tw_onion_on_timer(X->onion, nt->now);

  /* Carry one search for the friend through the relay. */
  int search = -1;
  for (int i = 0; i < g_tcp.nout && search < 0; i++) {
    peeled pl;
    peel_tcp(nt, g_tcp.out[i], g_tcp.out_len[i], &pl);
    tw_announce_request_plain req;
    open_announce_req(nt, pl.d, pl.data, pl.len, &req);
    if (tw_key_equal(&req.search, &F->self.pk)) search = i;
  }
  assert_true(search >= 0);
  int r = through_relay(nt, &w, search);
  int before = g_tcp.nout;
  assert_int_equal(tw_onion_handle_packet(X->onion, &nt->ep[r].addr, nt->ep[r].tcp_data,
                                          nt->ep[r].tcp_len, nt->now),
                   TW_OK);
  assert_int_equal(stats_of(nt, w.x).dhtpk_sent_onion, 1);

  /* The data to route request with our DHT public key packet. */
  int found = 0;
  for (int i = before; i < g_tcp.nout; i++) {
    peeled pl;
    peel_tcp(nt, g_tcp.out[i], g_tcp.out_len[i], &pl);
    if (pl.data[0] != 0x85) continue;
    found++;
    /* [0x85][friend pk][nonce][temp pk][box_data(our pk, box_long(dhtpk))] */
    assert_memory_equal(pl.data + 1, F->self.pk.bytes, 32);
    const uint8_t *nonce = pl.data + 33;
    tw_key temp;
    memcpy(temp.bytes, pl.data + 57, 32);
    uint8_t inner[SPEC_MAX_PACKET], pkt[SPEC_MAX_PACKET];
    assert_int_equal(open_from(inner, pl.data + 89, pl.len - 89, nonce, &temp, fdata.sk), TW_OK);
    size_t ilen = pl.len - 89 - TW_MAC_SIZE;
    assert_memory_equal(inner, X->self.pk.bytes, 32);
    assert_int_equal(open_from(pkt, inner + 32, ilen - 32, nonce, &X->self.pk, F->self.sk), TW_OK);
    size_t plen = ilen - 32 - TW_MAC_SIZE;
    assert_int_equal(pkt[0], 0x9c);
    /* two IPv4 TCP nodes: ip type 130 */
    assert_int_equal(plen, 1 + 8 + 32 + 2 * 39);
    assert_int_equal(pkt[41], 130);
    assert_int_equal(pkt[41 + 39], 130);
    tw_dhtpk d;
    assert_int_equal(tw_dhtpk_decode(&d, pkt, plen), TW_OK);
    assert_true(tw_key_equal(&d.dht_pk, &X->kp.pk));
    assert_int_equal(d.count, 2);
    for (int k = 0; k < 2; k++) {
      assert_true(d.nodes[k].tcp);
      assert_true(tw_key_equal(&d.nodes[k].pk, &g_tcp.relays[k].pk));
      assert_true(tw_addr_equal(&d.nodes[k].addr, &g_tcp.relays[k].addr));
    }
  }
  assert_int_equal(found, 1);
  net_free(nt);
}

/* With good nodes in the DHT the client builds UDP paths, though relays and
 * path nodes are there; paths it built through a relay before the DHT
 * joined are dropped then. */
static void test_onion_client_prefers_udp_paths(void **state) {
  (void)state;
  net *nt = net_new();
  tworld w = make_tworld(nt, 1, 4);
  ep *X = &nt->ep[w.x];
  tw_onion_on_timer(X->onion, nt->now);
  assert_true(g_tcp.nout >= 1);
  tw_onion_path_info paths[12];
  size_t np = tw_onion_get_paths(X->onion, paths, 12, nt->now);
  assert_true(np >= 1);
  for (size_t i = 0; i < np; i++) assert_true(paths[i].hops[0].tcp);

  int fakes[4];
  for (int i = 0; i < 4; i++) {
    fakes[i] = add_fake(nt, test_addr4(198, 18, 0, (uint8_t)(1 + i), (uint16_t)(2000 + i)),
                        (uint64_t)(70 + i));
    make_known(nt, w.x, fakes[i]);
  }
  g_tcp.nout = 0;
  g_tcp.calls = 0;
  uint64_t tcp_before = stats_of(nt, w.x).client_tcp_requests;
  nt->now += 4000; /* the next round */
  clear_log(nt);
  tw_onion_on_timer(X->onion, nt->now);
  assert_int_equal(g_tcp.calls, 0);
  assert_int_equal(stats_of(nt, w.x).client_tcp_requests, tcp_before);
  np = tw_onion_get_paths(X->onion, paths, 12, nt->now);
  assert_true(np >= 1);
  for (size_t i = 0; i < np; i++) {
    assert_false(paths[i].hops[0].tcp);
    for (int h = 0; h < 3; h++) {
      bool fake = false;
      for (int k = 0; k < 4; k++) fake |= tw_key_equal(&paths[i].hops[h].pk, &nt->ep[fakes[k]].kp.pk);
      assert_true(fake);
    }
  }
  int onion = 0;
  for (int i = 0; i < nt->nlog; i++) {
    if (nt->log[i].data[0] != 0x80) continue;
    onion++;
    ep *to = ep_at(nt, &nt->log[i].to);
    assert_non_null(to);
    bool fake = false;
    for (int k = 0; k < 4; k++) fake |= to->idx == fakes[k];
    assert_true(fake);
  }
  assert_true(onion >= 1);
  net_free(nt);
}

/* A path through a relay we are no longer connected to is dropped, and a
 * relay that refuses the packet is an error, not a request sent. */
static void test_onion_client_tcp_path_dies_with_its_relay(void **state) {
  (void)state;
  net *nt = net_new();
  tworld w = make_tworld(nt, 2, 4);
  ep *X = &nt->ep[w.x];
  tw_onion_on_timer(X->onion, nt->now);
  assert_true(g_tcp.nout >= 1);
  /* Relay 0 goes: only relay 1 is left. */
  g_tcp.relays[0] = g_tcp.relays[1];
  g_tcp.nrelays = 1;
  g_tcp.nout = 0;
  nt->now += 4000;
  tw_onion_on_timer(X->onion, nt->now);
  tw_onion_path_info paths[12];
  size_t np = tw_onion_get_paths(X->onion, paths, 12, nt->now);
  assert_true(np >= 1);
  for (size_t i = 0; i < np; i++)
    assert_true(tw_key_equal(&paths[i].hops[0].pk, &nt->ep[w.r[1]].kp.pk));
  for (int i = 0; i < g_tcp.nout; i++) assert_true(tw_key_equal(&g_tcp.to[i], &nt->ep[w.r[1]].kp.pk));
  /* No relay at all: every path is gone, nothing is sent. */
  g_tcp.nrelays = 0;
  g_tcp.calls = 0;
  nt->now += 4000;
  tw_onion_on_timer(X->onion, nt->now);
  assert_int_equal(tw_onion_get_paths(X->onion, paths, 12, nt->now), 0);
  assert_int_equal(g_tcp.calls, 0);
  /* A relay that is there but refuses (its queue is full). */
  g_tcp.nrelays = 1;
  g_tcp.send_rc = TW_E_FULL;
  tw_onion_stats st0 = stats_of(nt, w.x);
  nt->now += 4000;
  clear_log(nt);
  tw_onion_on_timer(X->onion, nt->now);
  assert_true(g_tcp.calls >= 1);
  tw_onion_stats st = stats_of(nt, w.x);
  assert_int_equal(st.client_tcp_requests, st0.client_tcp_requests);
  assert_int_equal(st.client_announce_sent, st0.client_announce_sent);
  assert_int_equal(nt->nlog, 0);
  net_free(nt);
}

/* A path needs two path nodes at distinct addresses, neither of them the
 * relay itself. */
static void test_onion_client_tcp_path_needs_two_other_addresses(void **state) {
  (void)state;
  net *nt = net_new();
  tworld w = make_tworld(nt, 1, 1);
  ep *X = &nt->ep[w.x];
  /* The relay is also a UDP node: not a second hop. */
  tw_node_info r = {.pk = g_tcp.relays[0].pk, .addr = test_addr4(198, 51, 100, 10, 33445)};
  assert_int_equal(tw_onion_add_path_node(X->onion, &r, nt->now), TW_OK);
  tw_onion_on_timer(X->onion, nt->now);
  assert_int_equal(g_tcp.calls, 0);
  /* A second key at the first node's address: not a second hop either. */
  tw_node_info twin = {.pk = test_key_fill(0x61), .addr = nt->ep[w.n[0]].addr};
  assert_int_equal(tw_onion_add_path_node(X->onion, &twin, nt->now), TW_OK);
  nt->now += 4000;
  tw_onion_on_timer(X->onion, nt->now);
  assert_int_equal(g_tcp.calls, 0);
  assert_int_equal(stats_of(nt, w.x).paths_built, 0);
  /* A node elsewhere: now there is a path. */
  int n2 = add_node(nt, test_addr4(192, 0, 2, 40, 33445), 81, RELAY | STORE);
  tw_node_info other = {.pk = nt->ep[n2].kp.pk, .addr = nt->ep[n2].addr};
  assert_int_equal(tw_onion_add_path_node(X->onion, &other, nt->now), TW_OK);
  nt->now += 4000;
  tw_onion_on_timer(X->onion, nt->now);
  assert_true(g_tcp.nout >= 1);
  tw_onion_path_info paths[12];
  size_t np = tw_onion_get_paths(X->onion, paths, 12, nt->now);
  assert_true(np >= 1);
  for (size_t i = 0; i < np; i++) {
    assert_false(tw_key_equal(&paths[i].hops[1].pk, &g_tcp.relays[0].pk));
    assert_false(tw_key_equal(&paths[i].hops[2].pk, &g_tcp.relays[0].pk));
    assert_false(tw_addr_equal(&paths[i].hops[1].addr, &paths[i].hops[2].addr));
  }
  net_free(nt);
}

static void test_onion_add_path_node_refuses_tcp(void **state) {
  (void)state;
  net *nt = net_new();
  memset(&g_tcp, 0, sizeof g_tcp);
  int x = add_tcp_client(nt, test_addr4(203, 0, 113, 50, 40000), 41);
  tw_onion *o = nt->ep[x].onion;
  tw_node_info n = {.pk = test_key_fill(0x31), .addr = test_addr4(192, 0, 2, 1, 33445), .tcp = true};
  assert_int_equal(tw_onion_add_path_node(o, &n, nt->now), TW_E_FAMILY);
  assert_int_equal(stats_of(nt, x).path_nodes, 0);
  n.tcp = false;
  n.addr.family = TW_AF_TCP_PEER;
  assert_int_equal(tw_onion_add_path_node(o, &n, nt->now), TW_E_FAMILY);
  n.addr = test_addr4(192, 0, 2, 1, 0);
  assert_int_equal(tw_onion_add_path_node(o, &n, nt->now), TW_E_ADDR);
  tw_node_info self = {.pk = nt->ep[x].kp.pk, .addr = test_addr4(192, 0, 2, 9, 9)};
  assert_int_equal(tw_onion_add_path_node(o, &self, nt->now), TW_E_SELF);
  assert_int_equal(stats_of(nt, x).path_nodes, 0);
  n.addr = test_addr4(192, 0, 2, 1, 33445);
  assert_int_equal(tw_onion_add_path_node(o, &n, nt->now), TW_OK);
  assert_int_equal(tw_onion_add_path_node(o, &n, nt->now), TW_OK); /* once only */
  assert_int_equal(stats_of(nt, x).path_nodes, 1);
  /* The pool is bounded; the oldest go. */
  for (int i = 0; i < 40; i++) {
    tw_node_info m = {.pk = test_key_fill((uint8_t)(0x40 + i)),
                      .addr = test_addr4(192, 0, 2, (uint8_t)(10 + i), 1000)};
    assert_int_equal(tw_onion_add_path_node(o, &m, nt->now + 1 + (tw_time_ms)i), TW_OK);
  }
  assert_int_equal(stats_of(nt, x).path_nodes, TW_ONION_PATH_NODES);
  /* One relay and one TCP "node" refused: no path, nothing sent. */
  net_free(nt);
  nt = net_new();
  memset(&g_tcp, 0, sizeof g_tcp);
  x = add_tcp_client(nt, test_addr4(203, 0, 113, 50, 40000), 41);
  g_tcp.relays[0] = (tw_node_info){.pk = test_key_fill(0x51), .addr = test_addr4(198, 51, 100, 10, 3389),
                                   .tcp = true};
  g_tcp.nrelays = 1;
  tw_node_info u = {.pk = test_key_fill(0x52), .addr = test_addr4(192, 0, 2, 2, 33445)};
  tw_node_info t = {.pk = test_key_fill(0x53), .addr = test_addr4(192, 0, 2, 3, 33445), .tcp = true};
  assert_int_equal(tw_onion_add_path_node(nt->ep[x].onion, &u, nt->now), TW_OK);
  assert_int_equal(tw_onion_add_path_node(nt->ep[x].onion, &t, nt->now), TW_E_FAMILY);
  tw_onion_on_timer(nt->ep[x].onion, nt->now);
  assert_int_equal(g_tcp.calls, 0);
  assert_int_equal(stats_of(nt, x).paths_built, 0);
  /* Without a client there is no pool. */
  int relay = add_node(nt, test_addr4(198, 51, 100, 20, 1), 80, RELAY);
  assert_int_equal(tw_onion_add_path_node(nt->ep[relay].onion, &u, nt->now), TW_E_DISABLED);
  net_free(nt);
}

#define T(name) cmocka_unit_test_teardown(name, teardown)

int main(void) {
  assert_int_equal(tw_crypto_init(), TW_OK);
  const struct CMUnitTest tests[] = {
      T(test_three_hop_announce_ipv4),
      T(test_three_hop_announce_ipv6),
      T(test_three_hop_announce_mixed_families),
      T(test_each_layer_bad_box_dropped_crypto),
      T(test_wrong_sizes_dropped),
      T(test_bad_next_hop_dropped),
      T(test_node_c_delivers_only_announce_and_data_kinds),
      T(test_node_a_hands_back_only_response_kinds),
      T(test_forged_return_path_dropped),
      T(test_return_path_survives_one_rotation_not_two),
      T(test_expired_inner_layer_refused_at_that_hop),
      T(test_tcp_request_and_response),
      T(test_announce_ping_id_zero_then_stored),
      T(test_searcher_gets_is_stored_1_and_data_key),
      T(test_restarted_announcer_with_new_data_key),
      T(test_ping_id_bound_to_source_address_and_key),
      T(test_ping_id_lifetime_windows),
      T(test_ping_id_lives_300_to_600_s),
      T(test_entries_expire),
      T(test_full_store_keeps_closest_to_dht_key),
      T(test_response_carries_four_closest_nodes_within_size),
      T(test_newer_announce_form),
      T(test_data_request_routed_to_announced_node),
      T(test_data_request_follows_latest_announce_path),
      T(test_data_route_end_to_end),
      T(test_no_onion_drops_disabled),
      T(test_relay_and_store_off_drops_disabled),
      T(test_dhtpk_via_dht_from_friend_accepted_once),
      T(test_dhtpk_via_dht_from_stranger_dropped),
      T(test_dhtpk_through_node_dht_request),
      T(test_onion_client_tcp_only_path_through_relay),
      T(test_onion_client_tcp_answer_from_relay_confirms_path),
      T(test_onion_client_learns_path_nodes_from_responses),
      T(test_onion_client_dhtpk_lists_tcp_relays),
      T(test_onion_client_prefers_udp_paths),
      T(test_onion_client_tcp_path_dies_with_its_relay),
      T(test_onion_client_tcp_path_needs_two_other_addresses),
      T(test_onion_add_path_node_refuses_tcp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
