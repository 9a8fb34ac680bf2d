/* Scenario tests of the sans-I/O DHT (include/toxwire/dht.h).
 *
 * A tiny in-test network wires endpoints together: an endpoint is either a
 * tw_dht instance or a "fake" peer the test speaks for, with its own key
 * pair, sealing packets by hand. Every datagram a tw_dht sends is logged, so
 * tests assert what went on the wire, to whom, and what it decodes to. Time
 * is a plain counter the tests move. */
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
#include "testutil.h"
#include "toxwire/dht.h"
#include "toxwire/error.h"

/* The numbers the tests hold the DHT to, written out rather than taken
 * from dht.h so that changing a library constant cannot move a test with
 * it. From the spec ("DHT Operation"): */
#define SPEC_PING_RESPONSE_TTL_MS 5000
#define SPEC_NODES_RESPONSE_TTL_MS 60000
#define SPEC_BAD_AFTER_MS 122000
#define SPEC_REMOVE_AFTER_MS 182000
#define SPEC_BURST_REQUESTS 5
/* c-toxcore's choice, which the spec describes: */
#define PINGS_PER_WINDOW 32
#define PING_WINDOW_MS 2000
/* The project's own (include/toxwire/dht.h, architecture.md): */
#define BOOTSTRAP_RETRY_MS 5000
#define LAN_DISCOVERY_MS 10000
#define MIN_WAKEUP_GAP_MS 1000 /* an idle node wakes at most once a second */

/* ---- the in-test network ---- */

#define MAX_EP 64
#define ANY (-1)

typedef struct pkt {
  int from; /* endpoint index */
  tw_addr to;
  bool bcast;
  uint8_t *data;
  size_t len;
  tw_time_ms at;  /* when it was sent */
  tw_time_ms due; /* when it arrives */
  bool done;      /* delivered (or skipped) */
} pkt;

struct net;

typedef struct ep {
  struct net *net;
  int idx;
  tw_dht *dht; /* NULL: a fake peer */
  tw_keypair kp;
  tw_addr addr;
  test_rng rng;
  bool deaf;        /* datagrams to it are lost */
  tw_time_ms latency_ms; /* added to each datagram it sends or receives */
  bool auto_answer; /* fake: answers Ping and Nodes Requests */
  tw_node_info answer_nodes[TW_NODES_MAX]; /* what its Nodes Responses list */
  uint8_t answer_count;
  uint64_t timer_calls;
  tw_time_ms last_timer, min_timer_gap; /* min_timer_gap: since reset_timer_stats */
  /* the last DHT Request delivered to on_dht_request */
  int requests;
  tw_key req_sender;
  tw_addr req_from;
  uint8_t req_plain[TW_DHT_PLAIN_MAX];
  size_t req_len;
} ep;

typedef struct net {
  ep ep[MAX_EP];
  int n;
  pkt *log;
  size_t nlog, cap;
  size_t delivered; /* every datagram before this index is done */
  tw_time_ms now;
} net;

static ep *ep_at(net *nt, const tw_addr *a);

static void log_append(net *nt, int from, const tw_addr *to, const uint8_t *data, size_t len) {
  if (nt->nlog == nt->cap) {
    nt->cap = nt->cap ? nt->cap * 2 : 256;
    nt->log = realloc(nt->log, nt->cap * sizeof *nt->log);
    assert_non_null(nt->log);
  }
  pkt *p = &nt->log[nt->nlog++];
  memset(p, 0, sizeof *p);
  p->from = from;
  p->bcast = to == NULL;
  if (to) p->to = *to;
  p->data = malloc(len ? len : 1);
  assert_non_null(p->data);
  memcpy(p->data, data, len);
  p->len = len;
  p->at = nt->now;
  tw_time_ms lat = nt->ep[from].latency_ms;
  if (to != NULL) {
    ep *d = ep_at(nt, to);
    if (d != NULL) lat += d->latency_ms;
  }
  p->due = nt->now + lat;
}

static void on_send(void *ctx, const tw_addr *to, const uint8_t *data, size_t len) {
  ep *e = ctx;
  assert_true(len > 0 && len <= 2048);
  log_append(e->net, e->idx, to, data, len);
}

static void on_request(void *ctx, const tw_key *sender, const tw_addr *from, const uint8_t *plain,
                       size_t len, tw_time_ms now) {
  (void)now;
  ep *e = ctx;
  e->requests++;
  e->req_sender = *sender;
  e->req_from = *from;
  assert_true(len <= sizeof e->req_plain);
  memcpy(e->req_plain, plain, len);
  e->req_len = len;
}

/* The test's network, also freed by the teardown when an assertion ends a
 * test early. */
static net *g_net;

static net *net_new(void) {
  net *nt = calloc(1, sizeof *nt);
  assert_non_null(nt);
  nt->now = 1000000; /* an arbitrary epoch, not 0 */
  g_net = nt;
  return nt;
}

static void net_free(net *nt) {
  for (int i = 0; i < nt->n; i++) tw_dht_free(nt->ep[i].dht);
  for (size_t i = 0; i < nt->nlog; i++) free(nt->log[i].data);
  free(nt->log);
  free(nt);
  if (g_net == nt) g_net = NULL;
}

static int teardown(void **state) {
  (void)state;
  if (g_net) net_free(g_net);
  return 0;
}

static ep *add_ep(net *nt, tw_addr addr, uint64_t seed) {
  assert_true(nt->n < MAX_EP);
  ep *e = &nt->ep[nt->n];
  memset(e, 0, sizeof *e);
  e->net = nt;
  e->idx = nt->n++;
  e->kp = test_keypair(seed);
  e->addr = addr;
  e->rng.state = seed ^ 0xabcdef;
  return e;
}

static int add_fake(net *nt, tw_addr addr, uint64_t seed) { return add_ep(nt, addr, seed)->idx; }

static void reset_timer_stats(net *nt) {
  for (int i = 0; i < nt->n; i++) {
    nt->ep[i].timer_calls = 0;
    nt->ep[i].min_timer_gap = TW_NEVER;
  }
}

/* tmpl may be NULL; keys, send and request callbacks are filled in. */
static int add_dht(net *nt, tw_addr addr, uint64_t seed, const tw_dht_config *tmpl) {
  ep *e = add_ep(nt, addr, seed);
  tw_dht_config cfg;
  if (tmpl)
    cfg = *tmpl;
  else
    memset(&cfg, 0, sizeof cfg);
  cfg.keys = e->kp;
  cfg.send = on_send;
  cfg.send_ctx = e;
  cfg.on_dht_request = on_request;
  cfg.request_ctx = e;
  tw_env env = test_env(&e->rng);
  e->dht = tw_dht_new(&cfg, &env, nt->now);
  assert_non_null(e->dht);
  return e->idx;
}

static ep *ep_at(net *nt, const tw_addr *a) {
  tw_addr u = tw_addr_unmap(a);
  for (int i = 0; i < nt->n; i++)
    if (tw_addr_equal(&nt->ep[i].addr, &u)) return &nt->ep[i];
  return NULL;
}

static tw_node_info info_of(net *nt, int i) {
  tw_node_info n;
  memset(&n, 0, sizeof n);
  n.pk = nt->ep[i].kp.pk;
  n.addr = nt->ep[i].addr;
  return n;
}

/* Seals plain from endpoint `from` to the key `to_pk`. */
static size_t seal_from(net *nt, int from, const tw_key *to_pk, uint8_t kind, const uint8_t *plain,
                        size_t len, uint8_t *out, size_t cap) {
  ep *f = &nt->ep[from];
  uint8_t shared[32], nonce[TW_NONCE_SIZE];
  tw_shared_key_compute(shared, to_pk, f->kp.sk);
  test_rng_fill(&f->rng, nonce, sizeof nonce);
  int n = tw_dht_packet_seal(out, cap, kind, &f->kp.pk, nonce, shared, plain, len);
  assert_true(n > 0);
  return (size_t)n;
}

/* Hands a datagram straight to a tw_dht endpoint, as if from `from_addr`. */
static int inject_from(net *nt, const tw_addr *from_addr, int to, const uint8_t *data,
                       size_t len) {
  assert_non_null(nt->ep[to].dht);
  return tw_dht_handle_packet(nt->ep[to].dht, from_addr, data, len, nt->now);
}

static int inject(net *nt, int from, int to, const uint8_t *data, size_t len) {
  return inject_from(nt, &nt->ep[from].addr, to, data, len);
}

/* A fake peer sends a sealed DHT packet to a tw_dht endpoint. */
static int fake_send(net *nt, int from, int to, uint8_t kind, const uint8_t *plain, size_t len) {
  uint8_t pkt_buf[TW_DHT_OVERHEAD + TW_DHT_PLAIN_MAX];
  size_t n = seal_from(nt, from, &nt->ep[to].kp.pk, kind, plain, len, pkt_buf, sizeof pkt_buf);
  return inject(nt, from, to, pkt_buf, n);
}

static int fake_ping(net *nt, int from, int to, uint8_t kind, uint8_t flag, uint64_t id) {
  tw_ping_payload p = {.flag = flag, .id = id};
  uint8_t plain[TW_PING_PLAIN_SIZE];
  tw_ping_payload_encode(plain, &p);
  return fake_send(nt, from, to, kind, plain, sizeof plain);
}

static int fake_nodes_request(net *nt, int from, int to, const tw_key *target, uint64_t id) {
  tw_nodes_request_payload p = {.target = *target, .id = id};
  uint8_t plain[TW_NODES_REQUEST_PLAIN_SIZE];
  tw_nodes_request_payload_encode(plain, &p);
  return fake_send(nt, from, to, TW_PACKET_NODES_REQUEST, plain, sizeof plain);
}

/* A Nodes Response plaintext, built by hand so that zero nodes can be sent. */
static size_t nodes_response_plain(uint8_t *out, size_t cap, const tw_node_info *nodes,
                                   uint8_t count, uint64_t id) {
  tw_writer w = tw_writer_init(out, cap);
  tw_write_u8(&w, count);
  for (uint8_t i = 0; i < count; i++) assert_int_equal(tw_node_info_pack(&w, &nodes[i]), TW_OK);
  tw_write_u64(&w, id);
  assert_true(tw_writer_ok(&w));
  return w.pos;
}

static int fake_nodes_response(net *nt, int from, int to, const tw_node_info *nodes,
                               uint8_t count, uint64_t id) {
  uint8_t plain[TW_NODES_RESPONSE_PLAIN_MAX + 64];
  size_t n = nodes_response_plain(plain, sizeof plain, nodes, count, id);
  return fake_send(nt, from, to, TW_PACKET_NODES_RESPONSE, plain, n);
}

/* Opens a logged sealed packet as endpoint `receiver` would. */
static int open_pkt(net *nt, const pkt *p, int receiver, tw_key *sender, uint8_t *plain,
                    size_t *plen) {
  tw_dht_header h;
  int e = tw_dht_header_parse(&h, p->data, p->len);
  if (e != TW_OK) return e;
  uint8_t shared[32];
  tw_shared_key_compute(shared, &h.sender, nt->ep[receiver].kp.sk);
  e = tw_box_open(plain, h.cipher, h.cipher_len, h.nonce, shared);
  if (e != TW_OK) return e;
  if (sender) *sender = h.sender;
  *plen = h.cipher_len - TW_MAC_SIZE;
  return TW_OK;
}

static bool pkt_matches(net *nt, const pkt *p, int from, int to, int kind) {
  if (from != ANY && p->from != from) return false;
  if (to != ANY) {
    if (p->bcast) return false;
    tw_addr dest = tw_addr_unmap(&p->to);
    if (!tw_addr_equal(&dest, &nt->ep[to].addr)) return false;
  }
  if (kind != ANY && p->data[0] != kind) return false;
  return true;
}

static size_t count_sent(net *nt, size_t since, int from, int to, int kind) {
  size_t c = 0;
  for (size_t i = since; i < nt->nlog; i++) c += pkt_matches(nt, &nt->log[i], from, to, kind);
  return c;
}

/* The nth (0-based) matching packet since `since`, or NULL. */
static pkt *find_sent(net *nt, size_t since, int from, int to, int kind, size_t nth) {
  for (size_t i = since; i < nt->nlog; i++)
    if (pkt_matches(nt, &nt->log[i], from, to, kind) && nth-- == 0) return &nt->log[i];
  return NULL;
}

/* Asserts the packet is a Nodes Request from `from`'s key to `to`, and
 * returns its decoded payload. */
static tw_nodes_request_payload open_nodes_request(net *nt, const pkt *p, int from, int to) {
  assert_non_null(p);
  assert_int_equal(p->data[0], TW_PACKET_NODES_REQUEST);
  assert_int_equal(p->len, TW_NODES_REQUEST_PACKET_SIZE);
  tw_key sender;
  uint8_t plain[TW_DHT_PLAIN_MAX];
  size_t n = 0;
  assert_int_equal(open_pkt(nt, p, to, &sender, plain, &n), TW_OK);
  assert_true(tw_key_equal(&sender, &nt->ep[from].kp.pk));
  tw_nodes_request_payload req;
  assert_int_equal(tw_nodes_request_payload_decode(&req, plain, n), TW_OK);
  return req;
}

static tw_ping_payload open_ping(net *nt, const pkt *p, int from, int to, uint8_t kind) {
  assert_non_null(p);
  assert_int_equal(p->data[0], kind);
  assert_int_equal(p->len, TW_PING_PACKET_SIZE);
  tw_key sender;
  uint8_t plain[TW_DHT_PLAIN_MAX];
  size_t n = 0;
  assert_int_equal(open_pkt(nt, p, to, &sender, plain, &n), TW_OK);
  assert_true(tw_key_equal(&sender, &nt->ep[from].kp.pk));
  tw_ping_payload ping;
  assert_int_equal(tw_ping_payload_decode(&ping, plain, n), TW_OK);
  return ping;
}

static tw_nodes_response_payload open_nodes_response(net *nt, const pkt *p, int from, int to) {
  assert_non_null(p);
  assert_int_equal(p->data[0], TW_PACKET_NODES_RESPONSE);
  tw_key sender;
  uint8_t plain[TW_DHT_PLAIN_MAX];
  size_t n = 0;
  assert_int_equal(open_pkt(nt, p, to, &sender, plain, &n), TW_OK);
  assert_true(tw_key_equal(&sender, &nt->ep[from].kp.pk));
  tw_nodes_response_payload resp;
  assert_int_equal(tw_nodes_response_payload_decode(&resp, plain, n), TW_OK);
  return resp;
}

/* Fakes that answer on their own: a Ping Response to each Ping Request and
 * a Nodes Response listing its answer_nodes (often none) to each Nodes
 * Request. */
static void fake_auto_answer(net *nt, const pkt *p, ep *dest) {
  tw_key sender;
  uint8_t plain[TW_DHT_PLAIN_MAX], out[TW_DHT_OVERHEAD + TW_DHT_PLAIN_MAX];
  size_t n;
  if (p->bcast || open_pkt(nt, p, dest->idx, &sender, plain, &n) != TW_OK) return;
  if (p->data[0] == TW_PACKET_PING_REQUEST) {
    tw_ping_payload ping;
    if (tw_ping_payload_decode(&ping, plain, n) != TW_OK) return;
    ping.flag = TW_PING_FLAG_RESPONSE;
    tw_ping_payload_encode(plain, &ping);
    size_t m = seal_from(nt, dest->idx, &sender, TW_PACKET_PING_RESPONSE, plain,
                         TW_PING_PLAIN_SIZE, out, sizeof out);
    log_append(nt, dest->idx, &nt->ep[p->from].addr, out, m);
  } else if (p->data[0] == TW_PACKET_NODES_REQUEST) {
    tw_nodes_request_payload req;
    if (tw_nodes_request_payload_decode(&req, plain, n) != TW_OK) return;
    size_t k = nodes_response_plain(plain, sizeof plain, dest->answer_nodes, dest->answer_count,
                                    req.id);
    size_t m = seal_from(nt, dest->idx, &sender, TW_PACKET_NODES_RESPONSE, plain, k, out,
                         sizeof out);
    log_append(nt, dest->idx, &nt->ep[p->from].addr, out, m);
  }
}

static void deliver_one(net *nt, size_t i) {
  pkt p = nt->log[i]; /* copy: the log may move while it is handled */
  nt->log[i].done = true;
  const tw_addr *from = &nt->ep[p.from].addr;
  if (p.bcast) {
    for (int k = 0; k < nt->n; k++)
      if (k != p.from && nt->ep[k].dht && !nt->ep[k].deaf)
        tw_dht_handle_packet(nt->ep[k].dht, from, p.data, p.len, nt->now);
    return;
  }
  ep *d = ep_at(nt, &p.to);
  if (d == NULL || d->deaf) return;
  if (d->dht)
    tw_dht_handle_packet(d->dht, from, p.data, p.len, nt->now);
  else if (d->auto_answer)
    fake_auto_answer(nt, &p, d);
}

/* Delivers every logged datagram due by now, earliest first, including
 * those sent while delivering. Broadcasts reach every other tw_dht. */
static void deliver(net *nt) {
  for (size_t guard = 0;; guard++) {
    assert_true(guard < 1000000);
    while (nt->delivered < nt->nlog && nt->log[nt->delivered].done) nt->delivered++;
    size_t best = SIZE_MAX;
    for (size_t i = nt->delivered; i < nt->nlog; i++)
      if (!nt->log[i].done && nt->log[i].due <= nt->now &&
          (best == SIZE_MAX || nt->log[i].due < nt->log[best].due))
        best = i;
    if (best == SIZE_MAX) return;
    deliver_one(nt, best);
  }
}

/* When the next undelivered datagram arrives; TW_NEVER if none. */
static tw_time_ms next_arrival(net *nt) {
  tw_time_ms t = TW_NEVER;
  for (size_t i = nt->delivered; i < nt->nlog; i++)
    if (!nt->log[i].done && nt->log[i].due < t) t = nt->log[i].due;
  return t;
}

/* Marks everything logged so far as delivered (for tests that inspect the
 * log by hand and answer for the fakes themselves). */
static void skip_delivery(net *nt) {
  for (size_t i = nt->delivered; i < nt->nlog; i++) nt->log[i].done = true;
  nt->delivered = nt->nlog;
}

/* Runs timers and deliveries until `until`: each tw_dht's on_timer is called
 * exactly at its next deadline, each datagram handled when it arrives. */
static void run_until(net *nt, tw_time_ms until) {
  deliver(nt);
  for (size_t guard = 0;; guard++) {
    assert_true(guard < 10000000);
    tw_time_ms next = next_arrival(nt);
    for (int i = 0; i < nt->n; i++)
      if (nt->ep[i].dht) {
        tw_time_ms t = tw_dht_next_deadline(nt->ep[i].dht);
        if (t < next) next = t;
      }
    if (next > until) break;
    if (next > nt->now) nt->now = next;
    for (int i = 0; i < nt->n; i++)
      if (nt->ep[i].dht && tw_dht_next_deadline(nt->ep[i].dht) <= nt->now) {
        ep *e = &nt->ep[i];
        if (e->timer_calls > 0 && nt->now - e->last_timer < e->min_timer_gap)
          e->min_timer_gap = nt->now - e->last_timer;
        e->timer_calls++;
        e->last_timer = nt->now;
        tw_dht_on_timer(e->dht, nt->now);
        assert_true(tw_dht_next_deadline(e->dht) > nt->now);
      }
    deliver(nt);
  }
  if (until > nt->now) nt->now = until;
}

static bool has_close_node(net *nt, int d, int peer);
static uint64_t ping_request_id_to(net *nt, size_t since, int a, int s);
static int fake_ping(net *nt, int from, int to, uint8_t kind, uint8_t flag, uint64_t id);

/* Makes `peer` (a fake) a good node of dht `d`'s close list the way a
 * stranger gets in: it sends a Ping Request, d checks it with a Ping
 * Request of its own, and it answers. */
static void make_known(net *nt, int d, int peer) {
  size_t since = nt->nlog;
  assert_int_equal(fake_ping(nt, peer, d, TW_PACKET_PING_REQUEST, TW_PING_FLAG_REQUEST, 0x5151),
                   TW_OK);
  uint64_t id = ping_request_id_to(nt, since, d, peer);
  assert_int_equal(fake_ping(nt, peer, d, TW_PACKET_PING_RESPONSE, TW_PING_FLAG_RESPONSE, id),
                   TW_OK);
  assert_true(has_close_node(nt, d, peer));
  skip_delivery(nt);
}

static bool has_close_node(net *nt, int d, int peer) {
  tw_node_info out[256];
  size_t n = tw_dht_close_nodes(nt->ep[d].dht, out, 256, nt->now);
  for (size_t i = 0; i < n; i++)
    if (tw_key_equal(&out[i].pk, &nt->ep[peer].kp.pk)) {
      assert_true(tw_addr_equal(&out[i].addr, &nt->ep[peer].addr));
      return true;
    }
  return false;
}

static tw_dht_stats stats_of(net *nt, int d) {
  tw_dht_stats s;
  tw_dht_get_stats(nt->ep[d].dht, &s, nt->now);
  return s;
}

static tw_addr pub(uint8_t host) { return test_addr4(198, 51, 100, host, 33445); }
static tw_addr pub2(uint8_t host) { return test_addr4(203, 0, 113, host, 33445); }

/* ---- Nodes Request ---- */

static tw_key sort_target;
static int cmp_by_distance(const void *a, const void *b) {
  return tw_key_distance_cmp(&sort_target, &((const tw_node_info *)a)->pk,
                             &((const tw_node_info *)b)->pk);
}

static void test_nodes_request_from_stranger_gets_four_closest(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int peers[10];
  tw_node_info known[10];
  for (int i = 0; i < 10; i++) {
    peers[i] = add_fake(nt, pub((uint8_t)(10 + i)), 100 + (uint64_t)i);
    make_known(nt, a, peers[i]);
    known[i] = info_of(nt, peers[i]);
  }
  int s = add_fake(nt, pub2(77), 7777);
  tw_key target = test_keypair(4242).pk;
  size_t since = nt->nlog;
  assert_int_equal(fake_nodes_request(nt, s, a, &target, 0x0123456789abcdefULL), TW_OK);

  assert_int_equal(count_sent(nt, since, a, s, TW_PACKET_NODES_RESPONSE), 1);
  assert_int_equal(count_sent(nt, since, a, ANY, TW_PACKET_NODES_RESPONSE), 1);
  tw_nodes_response_payload r =
      open_nodes_response(nt, find_sent(nt, since, a, s, TW_PACKET_NODES_RESPONSE, 0), a, s);
  assert_true(r.id == 0x0123456789abcdefULL);
  assert_int_equal(r.count, 4);

  sort_target = target;
  qsort(known, 10, sizeof known[0], cmp_by_distance);
  for (int i = 0; i < 4; i++) {
    bool found = false;
    for (int j = 0; j < 4; j++)
      if (tw_key_equal(&r.nodes[i].pk, &known[j].pk)) {
        found = true;
        assert_true(tw_addr_equal(&r.nodes[i].addr, &known[j].addr));
      }
    assert_true(found);
    assert_false(r.nodes[i].tcp);
    for (int j = 0; j < i; j++) assert_false(tw_key_equal(&r.nodes[i].pk, &r.nodes[j].pk));
  }
  net_free(nt);
}

static void test_nodes_request_with_fewer_known_gets_all(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int p1 = add_fake(nt, pub(10), 10), p2 = add_fake(nt, test_addr6(0x22, 4000), 11);
  make_known(nt, a, p1);
  make_known(nt, a, p2);
  int s = add_fake(nt, pub2(77), 7777);
  size_t since = nt->nlog;
  tw_key target = test_key_fill(0x77);
  assert_int_equal(fake_nodes_request(nt, s, a, &target, 5), TW_OK);
  tw_nodes_response_payload r =
      open_nodes_response(nt, find_sent(nt, since, a, s, TW_PACKET_NODES_RESPONSE, 0), a, s);
  assert_int_equal(r.count, 2);
  assert_true(r.id == 5);
  /* One IPv4 and one IPv6 node, each with its own address. */
  for (int i = 0; i < 2; i++) {
    int want = tw_key_equal(&r.nodes[i].pk, &nt->ep[p1].kp.pk) ? p1 : p2;
    assert_true(tw_key_equal(&r.nodes[i].pk, &nt->ep[want].kp.pk));
    assert_true(tw_addr_equal(&r.nodes[i].addr, &nt->ep[want].addr));
  }
  assert_false(tw_key_equal(&r.nodes[0].pk, &r.nodes[1].pk));
  net_free(nt);
}

static void test_nodes_request_with_no_known_nodes_gets_no_response(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int s = add_fake(nt, pub2(77), 7777);
  size_t since = nt->nlog;
  tw_key target = test_key_fill(0x10);
  assert_int_equal(fake_nodes_request(nt, s, a, &target, 5), TW_OK);
  assert_int_equal(count_sent(nt, since, a, ANY, TW_PACKET_NODES_RESPONSE), 0);
  assert_int_equal(stats_of(nt, a).nodes_requests_in, 1);
  net_free(nt);
}

static void test_nodes_response_excludes_requester(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int p[3];
  for (int i = 0; i < 3; i++) {
    p[i] = add_fake(nt, pub((uint8_t)(10 + i)), 10 + (uint64_t)i);
    make_known(nt, a, p[i]);
  }
  size_t since = nt->nlog;
  /* p0 asks for its own key: it is the closest node we know to it, but a
   * node is not told about itself. */
  assert_int_equal(fake_nodes_request(nt, p[0], a, &nt->ep[p[0]].kp.pk, 9), TW_OK);
  tw_nodes_response_payload r =
      open_nodes_response(nt, find_sent(nt, since, a, p[0], TW_PACKET_NODES_RESPONSE, 0), a, p[0]);
  assert_int_equal(r.count, 2);
  for (int i = 0; i < r.count; i++) assert_false(tw_key_equal(&r.nodes[i].pk, &nt->ep[p[0]].kp.pk));
  net_free(nt);
}

static void test_nodes_response_to_wan_requester_omits_lan_nodes(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int lan[3], wan[2];
  lan[0] = add_fake(nt, test_addr4(192, 168, 1, 10, 33445), 20);
  lan[1] = add_fake(nt, test_addr4(10, 1, 2, 3, 33445), 21);
  lan[2] = add_fake(nt, test_addr4(127, 0, 0, 1, 33446), 22);
  wan[0] = add_fake(nt, pub(30), 30);
  wan[1] = add_fake(nt, pub(31), 31);
  for (int i = 0; i < 3; i++) make_known(nt, a, lan[i]);
  for (int i = 0; i < 2; i++) make_known(nt, a, wan[i]);
  tw_key target = test_key_fill(0x42);

  int s = add_fake(nt, pub2(77), 7777);
  size_t since = nt->nlog;
  assert_int_equal(fake_nodes_request(nt, s, a, &target, 1), TW_OK);
  tw_nodes_response_payload r =
      open_nodes_response(nt, find_sent(nt, since, a, s, TW_PACKET_NODES_RESPONSE, 0), a, s);
  assert_int_equal(r.count, 2);
  for (int i = 0; i < r.count; i++) assert_false(tw_addr_is_lan(&r.nodes[i].addr));

  /* A requester on the LAN is told about LAN nodes too. */
  int l = add_fake(nt, test_addr4(192, 168, 1, 99, 33445), 8888);
  since = nt->nlog;
  assert_int_equal(fake_nodes_request(nt, l, a, &target, 2), TW_OK);
  r = open_nodes_response(nt, find_sent(nt, since, a, l, TW_PACKET_NODES_RESPONSE, 0), a, l);
  assert_int_equal(r.count, 4);
  int nlan = 0;
  for (int i = 0; i < r.count; i++) nlan += tw_addr_is_lan(&r.nodes[i].addr);
  assert_true(nlan >= 2);
  net_free(nt);
}

static void test_nodes_request_from_viable_stranger_triggers_ping_request(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int s = add_fake(nt, pub2(77), 7777);
  size_t since = nt->nlog;
  tw_key target = test_key_fill(0x10);
  assert_int_equal(fake_nodes_request(nt, s, a, &target, 5), TW_OK);
  assert_int_equal(count_sent(nt, since, a, s, TW_PACKET_PING_REQUEST), 1);
  tw_ping_payload ping =
      open_ping(nt, find_sent(nt, since, a, s, TW_PACKET_PING_REQUEST, 0), a, s,
                TW_PACKET_PING_REQUEST);
  assert_int_equal(ping.flag, TW_PING_FLAG_REQUEST);
  assert_false(has_close_node(nt, a, s));
  /* It answers and so enters the close list. */
  nt->now += 100;
  assert_int_equal(fake_ping(nt, s, a, TW_PACKET_PING_RESPONSE, TW_PING_FLAG_RESPONSE, ping.id),
                   TW_OK);
  assert_true(has_close_node(nt, a, s));
  /* Already known: no second Ping Request. */
  since = nt->nlog;
  assert_int_equal(fake_nodes_request(nt, s, a, &target, 6), TW_OK);
  assert_int_equal(count_sent(nt, since, a, s, TW_PACKET_PING_REQUEST), 0);
  net_free(nt);
}

/* ---- Ping ---- */

static void test_ping_request_gets_ping_response(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int s = add_fake(nt, pub2(77), 7777);
  size_t since = nt->nlog;
  assert_int_equal(
      fake_ping(nt, s, a, TW_PACKET_PING_REQUEST, TW_PING_FLAG_REQUEST, 0xfeedfacecafebeefULL),
      TW_OK);
  assert_int_equal(count_sent(nt, since, a, s, TW_PACKET_PING_RESPONSE), 1);
  assert_int_equal(count_sent(nt, since, a, ANY, TW_PACKET_PING_RESPONSE), 1);
  tw_ping_payload r = open_ping(nt, find_sent(nt, since, a, s, TW_PACKET_PING_RESPONSE, 0), a, s,
                                TW_PACKET_PING_RESPONSE);
  assert_int_equal(r.flag, TW_PING_FLAG_RESPONSE);
  assert_true(r.id == 0xfeedfacecafebeefULL);
  tw_dht_stats st = stats_of(nt, a);
  assert_int_equal(st.ping_requests_in, 1);
  assert_int_equal(st.ping_responses_out, 1);
  net_free(nt);
}

static void test_ping_response_reaches_ipv6_sender(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, test_addr6(1, 33445), 1, NULL);
  int s = add_fake(nt, test_addr6(0x77, 40000), 7777);
  size_t since = nt->nlog;
  assert_int_equal(fake_ping(nt, s, a, TW_PACKET_PING_REQUEST, TW_PING_FLAG_REQUEST, 1), TW_OK);
  assert_int_equal(count_sent(nt, since, a, s, TW_PACKET_PING_RESPONSE), 1);
  net_free(nt);
}

static void test_ping_with_wrong_flag_dropped(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int s = add_fake(nt, pub2(77), 7777);
  size_t since = nt->nlog;
  /* A request carrying the response flag could be a reflected response. */
  assert_int_equal(fake_ping(nt, s, a, TW_PACKET_PING_REQUEST, TW_PING_FLAG_RESPONSE, 1),
                   TW_E_FORMAT);
  assert_int_equal(fake_ping(nt, s, a, TW_PACKET_PING_REQUEST, 2, 1), TW_E_FORMAT);
  assert_int_equal(fake_ping(nt, s, a, TW_PACKET_PING_RESPONSE, TW_PING_FLAG_REQUEST, 1),
                   TW_E_FORMAT);
  assert_int_equal(count_sent(nt, since, a, ANY, ANY), 0);
  net_free(nt);
}

static uint64_t ping_request_id_to(net *nt, size_t since, int a, int s) {
  assert_int_equal(count_sent(nt, since, a, s, TW_PACKET_PING_REQUEST), 1);
  return open_ping(nt, find_sent(nt, since, a, s, TW_PACKET_PING_REQUEST, 0), a, s,
                   TW_PACKET_PING_REQUEST)
      .id;
}

static void test_ping_response_within_5s_accepted(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int s = add_fake(nt, pub2(77), 7777);
  size_t since = nt->nlog;
  assert_int_equal(fake_ping(nt, s, a, TW_PACKET_PING_REQUEST, TW_PING_FLAG_REQUEST, 1), TW_OK);
  uint64_t id = ping_request_id_to(nt, since, a, s);
  nt->now += SPEC_PING_RESPONSE_TTL_MS;
  assert_int_equal(fake_ping(nt, s, a, TW_PACKET_PING_RESPONSE, TW_PING_FLAG_RESPONSE, id), TW_OK);
  assert_true(has_close_node(nt, a, s));
  assert_int_equal(stats_of(nt, a).ping_responses_in, 1);
  net_free(nt);
}

static void test_ping_response_after_5s_dropped(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int s = add_fake(nt, pub2(77), 7777);
  size_t since = nt->nlog;
  assert_int_equal(fake_ping(nt, s, a, TW_PACKET_PING_REQUEST, TW_PING_FLAG_REQUEST, 1), TW_OK);
  uint64_t id = ping_request_id_to(nt, since, a, s);
  nt->now += SPEC_PING_RESPONSE_TTL_MS + 1;
  since = nt->nlog;
  assert_int_equal(fake_ping(nt, s, a, TW_PACKET_PING_RESPONSE, TW_PING_FLAG_RESPONSE, id),
                   TW_E_UNSOLICITED);
  assert_false(has_close_node(nt, a, s));
  tw_dht_stats st = stats_of(nt, a);
  assert_int_equal(st.ping_responses_in, 0);
  assert_int_equal(st.close_nodes, 0);
  assert_int_equal(st.dropped[-TW_E_UNSOLICITED], 1);
  assert_int_equal(count_sent(nt, since, a, ANY, ANY), 0);
  net_free(nt);
}

static void test_ping_response_accepted_only_once_and_from_asked_node(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int s = add_fake(nt, pub2(77), 7777);
  int other = add_fake(nt, pub2(78), 7778);
  size_t since = nt->nlog;
  assert_int_equal(fake_ping(nt, s, a, TW_PACKET_PING_REQUEST, TW_PING_FLAG_REQUEST, 1), TW_OK);
  uint64_t id = ping_request_id_to(nt, since, a, s);
  /* Another node echoing the id is not the node we asked. */
  assert_int_equal(fake_ping(nt, other, a, TW_PACKET_PING_RESPONSE, TW_PING_FLAG_RESPONSE, id),
                   TW_E_UNSOLICITED);
  assert_false(has_close_node(nt, a, other));
  assert_int_equal(fake_ping(nt, s, a, TW_PACKET_PING_RESPONSE, TW_PING_FLAG_RESPONSE, id), TW_OK);
  assert_int_equal(fake_ping(nt, s, a, TW_PACKET_PING_RESPONSE, TW_PING_FLAG_RESPONSE, id),
                   TW_E_UNSOLICITED);
  assert_int_equal(stats_of(nt, a).ping_responses_in, 1);
  net_free(nt);
}

static void test_ping_requests_to_strangers_rate_limited(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int s[41];
  for (int i = 0; i < 41; i++)
    s[i] = add_fake(nt, test_addr4(198, 18, 0, (uint8_t)i, 1000), 500 + (uint64_t)i);
  size_t since = nt->nlog;
  for (int i = 0; i < 40; i++)
    assert_int_equal(fake_ping(nt, s[i], a, TW_PACKET_PING_REQUEST, TW_PING_FLAG_REQUEST, 1),
                     TW_OK);
  /* Every request is answered, but we ping back at most 32 per 2 s. */
  assert_int_equal(count_sent(nt, since, a, ANY, TW_PACKET_PING_RESPONSE), 40);
  assert_int_equal(count_sent(nt, since, a, ANY, TW_PACKET_PING_REQUEST),
                   PINGS_PER_WINDOW);
  nt->now += PING_WINDOW_MS;
  since = nt->nlog;
  assert_int_equal(fake_ping(nt, s[40], a, TW_PACKET_PING_REQUEST, TW_PING_FLAG_REQUEST, 1), TW_OK);
  assert_int_equal(count_sent(nt, since, a, s[40], TW_PACKET_PING_REQUEST), 1);
  net_free(nt);
}

static void test_two_nodes_bootstrap_learn_each_other(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int b = add_dht(nt, pub2(2), 2, NULL);
  tw_node_info ai = info_of(nt, a);
  assert_int_equal(tw_dht_bootstrap(nt->ep[b].dht, &ai, nt->now), TW_OK);
  deliver(nt);
  /* B asked A for nodes; A knew none, so it checked B with a ping, and B
   * checked A the same way. */
  assert_int_equal(count_sent(nt, 0, b, a, TW_PACKET_NODES_REQUEST), 1);
  assert_int_equal(count_sent(nt, 0, a, b, TW_PACKET_NODES_RESPONSE), 0);
  assert_int_equal(count_sent(nt, 0, a, b, TW_PACKET_PING_REQUEST), 1);
  assert_int_equal(count_sent(nt, 0, b, a, TW_PACKET_PING_RESPONSE), 1);
  assert_true(has_close_node(nt, a, b));
  assert_true(has_close_node(nt, b, a));
  assert_true(tw_dht_is_connected(nt->ep[a].dht, nt->now));
  assert_true(tw_dht_is_connected(nt->ep[b].dht, nt->now));
  net_free(nt);
}

/* ---- Nodes Response ---- */

static uint64_t bootstrap_and_get_id(net *nt, int a, int p) {
  size_t since = nt->nlog;
  tw_node_info pi = info_of(nt, p);
  assert_int_equal(tw_dht_bootstrap(nt->ep[a].dht, &pi, nt->now), TW_OK);
  tw_nodes_request_payload req =
      open_nodes_request(nt, find_sent(nt, since, a, p, TW_PACKET_NODES_REQUEST, 0), a, p);
  assert_true(tw_key_equal(&req.target, &nt->ep[a].kp.pk));
  return req.id;
}

static void test_nodes_response_adds_sender_and_asks_listed_nodes(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int p = add_fake(nt, pub(10), 10);
  int x = add_fake(nt, pub(11), 11);
  int y = add_fake(nt, test_addr6(0x12, 33445), 12);
  uint64_t id = bootstrap_and_get_id(nt, a, p);
  tw_node_info listed[4] = {info_of(nt, x), info_of(nt, y)};
  /* Not worth asking: a TCP relay, ourselves, and an address with no port. */
  listed[2] = info_of(nt, add_fake(nt, pub(13), 13));
  listed[2].tcp = true;
  listed[3] = info_of(nt, a);
  size_t since = nt->nlog;
  assert_int_equal(fake_nodes_response(nt, p, a, listed, 4, id), TW_OK);
  assert_true(has_close_node(nt, a, p));
  assert_int_equal(stats_of(nt, a).nodes_responses_in, 1);
  /* x and y are asked for nodes close to us; they join only once they
   * answer. */
  tw_nodes_request_payload rx =
      open_nodes_request(nt, find_sent(nt, since, a, x, TW_PACKET_NODES_REQUEST, 0), a, x);
  tw_nodes_request_payload ry =
      open_nodes_request(nt, find_sent(nt, since, a, y, TW_PACKET_NODES_REQUEST, 0), a, y);
  assert_true(tw_key_equal(&rx.target, &nt->ep[a].kp.pk));
  assert_true(tw_key_equal(&ry.target, &nt->ep[a].kp.pk));
  assert_int_equal(count_sent(nt, since, a, ANY, TW_PACKET_NODES_REQUEST), 2);
  assert_false(has_close_node(nt, a, x));
  assert_int_equal(fake_nodes_response(nt, x, a, NULL, 0, rx.id), TW_OK);
  assert_true(has_close_node(nt, a, x));
  net_free(nt);
}

/* A Nodes Response may name an IPv4 node by its IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d). Datagrams from it arrive with the plain IPv4 address
 * (handle_packet unmaps the source), so its answer must still match the
 * request we sent it. */
static void test_node_learned_by_v4_mapped_address_can_join(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int p = add_fake(nt, pub(10), 10);
  int x = add_fake(nt, pub(11), 11);
  uint64_t id = bootstrap_and_get_id(nt, a, p);
  tw_node_info listed = info_of(nt, x);
  tw_addr v4 = listed.addr;
  memset(&listed.addr, 0, sizeof listed.addr);
  listed.addr.family = TW_AF_INET6;
  listed.addr.ip[10] = 0xff;
  listed.addr.ip[11] = 0xff;
  memcpy(listed.addr.ip + 12, v4.ip, 4);
  listed.addr.port = v4.port;
  size_t since = nt->nlog;
  assert_int_equal(fake_nodes_response(nt, p, a, &listed, 1, id), TW_OK);
  pkt *q = find_sent(nt, since, a, x, TW_PACKET_NODES_REQUEST, 0);
  assert_non_null(q);
  tw_nodes_request_payload rx = open_nodes_request(nt, q, a, x);
  /* x answers; its datagram carries its IPv4 source address. */
  assert_int_equal(fake_nodes_response(nt, x, a, NULL, 0, rx.id), TW_OK);
  assert_true(has_close_node(nt, a, x));
  net_free(nt);
}

static void test_nodes_response_with_zero_nodes_accepted(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int p = add_fake(nt, pub(10), 10);
  uint64_t id = bootstrap_and_get_id(nt, a, p);
  /* c-toxcore 0.2.18 answers like this when it knows nobody. */
  assert_int_equal(fake_nodes_response(nt, p, a, NULL, 0, id), TW_OK);
  assert_true(has_close_node(nt, a, p));
  net_free(nt);
}

static void test_unsolicited_nodes_response_is_dropped_and_counted(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int s = add_fake(nt, pub(10), 10);
  int x = add_fake(nt, pub(11), 11);
  tw_node_info listed[1] = {info_of(nt, x)};
  size_t since = nt->nlog;
  assert_int_equal(fake_nodes_response(nt, s, a, listed, 1, 0x1122334455667788ULL),
                   TW_E_UNSOLICITED);
  assert_int_equal(fake_nodes_response(nt, s, a, listed, 1, 0), TW_E_UNSOLICITED);
  tw_dht_stats st = stats_of(nt, a);
  assert_int_equal(st.dropped[-TW_E_UNSOLICITED], 2);
  assert_int_equal(st.dropped_total, 2);
  assert_int_equal(st.nodes_responses_in, 0);
  assert_int_equal(st.close_nodes, 0);
  assert_false(has_close_node(nt, a, s));
  /* Nothing was learned from it: x is not asked. */
  assert_int_equal(count_sent(nt, since, a, ANY, ANY), 0);
  net_free(nt);
}

static void test_nodes_response_accepted_only_once(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int p = add_fake(nt, pub(10), 10);
  int x = add_fake(nt, pub(11), 11);
  uint64_t id = bootstrap_and_get_id(nt, a, p);
  tw_node_info listed[1] = {info_of(nt, x)};
  uint8_t plain[64];
  size_t n = nodes_response_plain(plain, sizeof plain, listed, 1, id);
  uint8_t pkt_buf[TW_DHT_OVERHEAD + 64];
  size_t m = seal_from(nt, p, &nt->ep[a].kp.pk, TW_PACKET_NODES_RESPONSE, plain, n, pkt_buf,
                       sizeof pkt_buf);
  size_t since = nt->nlog;
  assert_int_equal(inject(nt, p, a, pkt_buf, m), TW_OK);
  assert_int_equal(count_sent(nt, since, a, x, TW_PACKET_NODES_REQUEST), 1);
  /* The same datagram replayed, and a fresh one with the same id. */
  since = nt->nlog;
  nt->now += 10;
  assert_int_equal(inject(nt, p, a, pkt_buf, m), TW_E_UNSOLICITED);
  assert_int_equal(fake_nodes_response(nt, p, a, listed, 1, id), TW_E_UNSOLICITED);
  assert_int_equal(count_sent(nt, since, a, ANY, ANY), 0);
  tw_dht_stats st = stats_of(nt, a);
  assert_int_equal(st.nodes_responses_in, 1);
  assert_int_equal(st.dropped[-TW_E_UNSOLICITED], 2);
  net_free(nt);
}

static void test_nodes_response_from_wrong_address_dropped(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int p = add_fake(nt, pub(10), 10);
  int q = add_fake(nt, pub(20), 20);
  uint64_t id = bootstrap_and_get_id(nt, a, p);
  uint8_t plain[16];
  size_t n = nodes_response_plain(plain, sizeof plain, NULL, 0, id);
  uint8_t pkt_buf[TW_DHT_OVERHEAD + 16];
  size_t m = seal_from(nt, p, &nt->ep[a].kp.pk, TW_PACKET_NODES_RESPONSE, plain, n, pkt_buf,
                       sizeof pkt_buf);
  /* Right key, right id, wrong address (and wrong port). */
  tw_addr moved = nt->ep[p].addr;
  moved.ip[3]++;
  size_t since = nt->nlog;
  assert_int_equal(inject_from(nt, &moved, a, pkt_buf, m), TW_E_UNSOLICITED);
  moved = nt->ep[p].addr;
  moved.port++;
  assert_int_equal(inject_from(nt, &moved, a, pkt_buf, m), TW_E_UNSOLICITED);
  assert_false(has_close_node(nt, a, p));
  assert_int_equal(count_sent(nt, since, a, ANY, ANY), 0);
  /* The forgeries did not use up the request: the real answer counts. */
  assert_int_equal(inject_from(nt, &nt->ep[p].addr, a, pkt_buf, m), TW_OK);
  assert_true(has_close_node(nt, a, p));
  /* Right address and id, wrong key: p answers in q's name from q's
   * address. */
  uint64_t id2 = bootstrap_and_get_id(nt, a, q);
  n = nodes_response_plain(plain, sizeof plain, NULL, 0, id2);
  m = seal_from(nt, p, &nt->ep[a].kp.pk, TW_PACKET_NODES_RESPONSE, plain, n, pkt_buf,
                sizeof pkt_buf);
  assert_int_equal(inject_from(nt, &nt->ep[q].addr, a, pkt_buf, m), TW_E_UNSOLICITED);
  assert_false(has_close_node(nt, a, q));
  assert_int_equal(stats_of(nt, a).dropped[-TW_E_UNSOLICITED], 3);
  net_free(nt);
}

static void test_nodes_response_after_60s_dropped(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int p = add_fake(nt, pub(10), 10), q = add_fake(nt, pub(11), 11);
  uint64_t idp = bootstrap_and_get_id(nt, a, p);
  uint64_t idq = bootstrap_and_get_id(nt, a, q);
  nt->now += SPEC_NODES_RESPONSE_TTL_MS;
  assert_int_equal(fake_nodes_response(nt, p, a, NULL, 0, idp), TW_OK);
  nt->now += 1;
  assert_int_equal(fake_nodes_response(nt, q, a, NULL, 0, idq), TW_E_UNSOLICITED);
  assert_true(has_close_node(nt, a, p));
  assert_false(has_close_node(nt, a, q));
  net_free(nt);
}

static void test_bootstrap_retried_every_5s_while_unanswered(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int p = add_fake(nt, pub(10), 10);
  nt->ep[p].deaf = true;
  tw_time_ms t0 = nt->now;
  tw_node_info pi = info_of(nt, p);
  assert_int_equal(tw_dht_bootstrap(nt->ep[a].dht, &pi, nt->now), TW_OK);
  run_until(nt, t0 + 3 * BOOTSTRAP_RETRY_MS + 100);
  size_t n = count_sent(nt, 0, a, p, TW_PACKET_NODES_REQUEST);
  assert_int_equal(n, 4); /* at 0, 5, 10 and 15 s */
  for (size_t i = 1; i < n; i++) {
    tw_time_ms gap = find_sent(nt, 0, a, p, TW_PACKET_NODES_REQUEST, i)->at -
                     find_sent(nt, 0, a, p, TW_PACKET_NODES_REQUEST, i - 1)->at;
    assert_true(gap >= BOOTSTRAP_RETRY_MS - MIN_WAKEUP_GAP_MS);
    assert_true(gap <= BOOTSTRAP_RETRY_MS);
  }
  /* Once it answers, the retries stop being needed: a is connected. */
  nt->ep[p].deaf = false;
  nt->ep[p].auto_answer = true;
  run_until(nt, nt->now + BOOTSTRAP_RETRY_MS + 100);
  assert_true(has_close_node(nt, a, p));
  net_free(nt);
}

static void test_new_close_list_sends_burst_of_requests(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int p = add_fake(nt, pub(10), 10);
  nt->ep[p].auto_answer = true;
  make_known(nt, a, p);
  tw_time_ms t0 = nt->now;
  size_t since = nt->nlog;
  run_until(nt, t0 + 3000);
  /* The spec's 5 Nodes Requests for our own key in quick succession. */
  size_t own = 0;
  for (size_t i = 0;; i++) {
    pkt *q = find_sent(nt, since, a, p, TW_PACKET_NODES_REQUEST, i);
    if (q == NULL) break;
    tw_nodes_request_payload r = open_nodes_request(nt, q, a, p);
    own += tw_key_equal(&r.target, &nt->ep[a].kp.pk);
  }
  assert_int_equal(own, SPEC_BURST_REQUESTS);
  net_free(nt);
}

/* ---- Bootstrap Info ---- */

static tw_dht_config info_cfg(void) {
  tw_dht_config c;
  memset(&c, 0, sizeof c);
  c.bootstrap_info = true;
  c.version = 0x00012345;
  c.motd = (const uint8_t *)"toxwire says hi";
  c.motd_len = 15;
  return c;
}

static void test_bootstrap_info_answered_with_motd(void **state) {
  (void)state;
  net *nt = net_new();
  tw_dht_config c = info_cfg();
  int a = add_dht(nt, pub2(1), 1, &c);
  int s = add_fake(nt, pub2(77), 7777);
  uint8_t req[TW_BOOTSTRAP_INFO_REQUEST_SIZE];
  memset(req, 0xaa, sizeof req); /* the rest is ignored */
  req[0] = 0xf0;
  assert_int_equal(inject(nt, s, a, req, sizeof req), TW_OK);
  assert_int_equal(count_sent(nt, 0, a, ANY, ANY), 1);
  pkt *r = find_sent(nt, 0, a, s, 0xf0, 0);
  assert_non_null(r);
  const uint8_t want[] = {0xf0, 0x00, 0x01, 0x23, 0x45, 't', 'o', 'x', 'w', 'i', 'r',
                          'e',  ' ',  's',  'a',  'y',  's', ' ', 'h', 'i'};
  assert_int_equal(r->len, sizeof want);
  assert_memory_equal(r->data, want, sizeof want);
  assert_int_equal(stats_of(nt, a).bootstrap_info_answered, 1);
  net_free(nt);
}

static void test_bootstrap_info_motd_copied_at_creation(void **state) {
  (void)state;
  net *nt = net_new();
  tw_dht_config c = info_cfg();
  char motd[16] = "original";
  c.motd = (const uint8_t *)motd;
  c.motd_len = 8;
  int a = add_dht(nt, pub2(1), 1, &c);
  strcpy(motd, "changed!"); /* the caller owns its buffer */
  int s = add_fake(nt, pub2(77), 7777);
  uint8_t req[TW_BOOTSTRAP_INFO_REQUEST_SIZE] = {0xf0};
  assert_int_equal(inject(nt, s, a, req, sizeof req), TW_OK);
  pkt *r = find_sent(nt, 0, a, s, 0xf0, 0);
  assert_non_null(r);
  assert_int_equal(r->len, 5 + 8);
  assert_memory_equal(r->data + 5, "original", 8);
  net_free(nt);
}

static void test_bootstrap_info_wrong_length_dropped(void **state) {
  (void)state;
  net *nt = net_new();
  tw_dht_config c = info_cfg();
  int a = add_dht(nt, pub2(1), 1, &c);
  int s = add_fake(nt, pub2(77), 7777);
  uint8_t req[TW_BOOTSTRAP_INFO_REQUEST_SIZE + 1] = {0xf0};
  assert_int_equal(inject(nt, s, a, req, TW_BOOTSTRAP_INFO_REQUEST_SIZE - 1), TW_E_SHORT);
  assert_int_equal(inject(nt, s, a, req, 1), TW_E_SHORT);
  assert_int_equal(inject(nt, s, a, req, TW_BOOTSTRAP_INFO_REQUEST_SIZE + 1), TW_E_LONG);
  assert_int_equal(count_sent(nt, 0, a, ANY, ANY), 0);
  tw_dht_stats st = stats_of(nt, a);
  assert_int_equal(st.bootstrap_info_answered, 0);
  assert_int_equal(st.dropped[-TW_E_SHORT], 2);
  assert_int_equal(st.dropped[-TW_E_LONG], 1);
  net_free(nt);
}

static void test_bootstrap_info_disabled_dropped(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int s = add_fake(nt, pub2(77), 7777);
  uint8_t req[TW_BOOTSTRAP_INFO_REQUEST_SIZE] = {0xf0};
  assert_int_equal(inject(nt, s, a, req, sizeof req), TW_E_DISABLED);
  assert_int_equal(count_sent(nt, 0, a, ANY, ANY), 0);
  net_free(nt);
}

/* ---- LAN discovery ---- */

static int lan_discovery_from(net *nt, int from, int to, const tw_key *announced) {
  uint8_t pkt_buf[TW_LAN_DISCOVERY_SIZE];
  tw_lan_discovery_encode(pkt_buf, announced);
  return inject(nt, from, to, pkt_buf, sizeof pkt_buf);
}

static void test_lan_discovery_off_drops(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, test_addr4(192, 168, 1, 1, 33445), 1, NULL);
  int l = add_fake(nt, test_addr4(192, 168, 1, 2, 33445), 2);
  assert_int_equal(lan_discovery_from(nt, l, a, &nt->ep[l].kp.pk), TW_E_DISABLED);
  /* Off also means we never announce ourselves. */
  run_until(nt, nt->now + 60000);
  assert_int_equal(count_sent(nt, 0, a, ANY, ANY), 0);
  assert_int_equal(stats_of(nt, a).lan_discovery_in, 0);
  net_free(nt);
}

static void test_lan_discovery_on_answers_with_nodes_request_from_lan_only(void **state) {
  (void)state;
  net *nt = net_new();
  tw_dht_config c;
  memset(&c, 0, sizeof c);
  c.lan_discovery = true;
  int a = add_dht(nt, test_addr4(192, 168, 1, 1, 33445), 1, &c);
  skip_delivery(nt);
  int l = add_fake(nt, test_addr4(192, 168, 1, 2, 33445), 2);
  int w = add_fake(nt, pub(2), 3);
  size_t since = nt->nlog;
  assert_int_equal(lan_discovery_from(nt, l, a, &nt->ep[l].kp.pk), TW_OK);
  assert_int_equal(count_sent(nt, since, a, ANY, ANY), 1);
  tw_nodes_request_payload r =
      open_nodes_request(nt, find_sent(nt, since, a, l, TW_PACKET_NODES_REQUEST, 0), a, l);
  assert_true(tw_key_equal(&r.target, &nt->ep[a].kp.pk));
  /* Not in the list until it answers. */
  assert_false(has_close_node(nt, a, l));
  assert_int_equal(fake_nodes_response(nt, l, a, NULL, 0, r.id), TW_OK);
  assert_true(has_close_node(nt, a, l));

  /* From the internet: dropped. */
  since = nt->nlog;
  assert_int_equal(lan_discovery_from(nt, w, a, &nt->ep[w].kp.pk), TW_E_ADDR);
  assert_int_equal(count_sent(nt, since, a, ANY, ANY), 0);
  /* Our own announcement echoed back: dropped. */
  assert_int_equal(lan_discovery_from(nt, l, a, &nt->ep[a].kp.pk), TW_E_SELF);
  assert_int_equal(count_sent(nt, since, a, ANY, ANY), 0);
  assert_int_equal(stats_of(nt, a).lan_discovery_in, 1);
  net_free(nt);
}

static void test_lan_discovery_on_broadcasts_our_key_every_10s(void **state) {
  (void)state;
  net *nt = net_new();
  tw_dht_config c;
  memset(&c, 0, sizeof c);
  c.lan_discovery = true;
  int a = add_dht(nt, test_addr4(192, 168, 1, 1, 33445), 1, &c);
  tw_time_ms t0 = nt->now;
  run_until(nt, t0 + 3 * LAN_DISCOVERY_MS + LAN_DISCOVERY_MS / 2);
  size_t n = 0;
  tw_time_ms prev = 0;
  for (size_t i = 0; i < nt->nlog; i++) {
    pkt *p = &nt->log[i];
    if (p->from != a || !p->bcast) continue;
    assert_int_equal(p->len, TW_LAN_DISCOVERY_SIZE);
    tw_key k;
    assert_int_equal(tw_lan_discovery_decode(&k, p->data, p->len), TW_OK);
    assert_true(tw_key_equal(&k, &nt->ep[a].kp.pk));
    if (n > 0) {
      assert_true(p->at - prev <= LAN_DISCOVERY_MS);
      assert_true(p->at - prev >= LAN_DISCOVERY_MS - MIN_WAKEUP_GAP_MS);
    }
    prev = p->at;
    n++;
  }
  assert_int_equal(n, 4); /* at 0, 10, 20 and 30 s */
  assert_int_equal(stats_of(nt, a).lan_discovery_out, n);
  net_free(nt);
}

static void test_two_nodes_find_each_other_by_lan_discovery(void **state) {
  (void)state;
  net *nt = net_new();
  tw_dht_config c;
  memset(&c, 0, sizeof c);
  c.lan_discovery = true;
  int a = add_dht(nt, test_addr4(192, 168, 1, 1, 33445), 1, &c);
  int b = add_dht(nt, test_addr4(192, 168, 1, 2, 33445), 2, &c);
  run_until(nt, nt->now + 2000);
  assert_true(has_close_node(nt, a, b));
  assert_true(has_close_node(nt, b, a));
  net_free(nt);
}

/* ---- DHT Request ---- */

/* [0x20][addressee][sender][nonce][box(plain)], sealed by fake `from`. */
static size_t build_dht_request(net *nt, int from, const tw_key *addressee, const uint8_t *plain,
                                size_t len, uint8_t *out, size_t cap) {
  uint8_t inner[TW_DHT_OVERHEAD + TW_DHT_PLAIN_MAX];
  size_t n = seal_from(nt, from, addressee, TW_PACKET_DHT_REQUEST, plain, len, inner, sizeof inner);
  assert_true(n + TW_PUBLIC_KEY_SIZE <= cap);
  out[0] = TW_PACKET_DHT_REQUEST;
  memcpy(out + 1, addressee->bytes, TW_PUBLIC_KEY_SIZE);
  memcpy(out + 1 + TW_PUBLIC_KEY_SIZE, inner + 1, n - 1);
  return n + TW_PUBLIC_KEY_SIZE;
}

static void test_dht_request_forwarded_to_close_node_unaltered(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int t = add_fake(nt, pub(10), 10);
  int s = add_fake(nt, pub2(77), 7777);
  make_known(nt, a, t);
  const uint8_t plain[] = {0xfe, 0x00, 1, 2, 3, 4, 5, 6, 7, 8}; /* a NAT ping request */
  uint8_t req[256];
  size_t n = build_dht_request(nt, s, &nt->ep[t].kp.pk, plain, sizeof plain, req, sizeof req);
  size_t since = nt->nlog;
  assert_int_equal(inject(nt, s, a, req, n), TW_OK);
  assert_int_equal(count_sent(nt, since, a, ANY, ANY), 1);
  pkt *f = find_sent(nt, since, a, t, TW_PACKET_DHT_REQUEST, 0);
  assert_non_null(f);
  assert_int_equal(f->len, n);
  assert_memory_equal(f->data, req, n);
  assert_int_equal(stats_of(nt, a).dht_requests_forwarded, 1);
  net_free(nt);
}

static void test_dht_request_to_unknown_or_bad_node_dropped(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int t = add_fake(nt, pub(10), 10);
  int stranger = add_fake(nt, pub(11), 11);
  int s = add_fake(nt, pub2(77), 7777);
  make_known(nt, a, t);
  const uint8_t plain[] = {0xfe, 0x00, 1, 2, 3, 4, 5, 6, 7, 8};
  uint8_t req[256];
  size_t n =
      build_dht_request(nt, s, &nt->ep[stranger].kp.pk, plain, sizeof plain, req, sizeof req);
  size_t since = nt->nlog;
  assert_int_equal(inject(nt, s, a, req, n), TW_E_NOTFOUND);
  /* t stops answering and goes bad: ignored for routing. */
  nt->now += SPEC_BAD_AFTER_MS + 1;
  n = build_dht_request(nt, s, &nt->ep[t].kp.pk, plain, sizeof plain, req, sizeof req);
  assert_int_equal(inject(nt, s, a, req, n), TW_E_NOTFOUND);
  assert_int_equal(count_sent(nt, since, a, ANY, ANY), 0);
  assert_int_equal(stats_of(nt, a).dht_requests_forwarded, 0);
  net_free(nt);
}

static void test_dht_request_for_us_delivered_to_callback(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int s = add_fake(nt, pub2(77), 7777);
  const uint8_t plain[] = {0x9c, 'h', 'e', 'l', 'l', 'o'};
  uint8_t req[256];
  size_t n = build_dht_request(nt, s, &nt->ep[a].kp.pk, plain, sizeof plain, req, sizeof req);
  assert_int_equal(inject(nt, s, a, req, n), TW_OK);
  ep *e = &nt->ep[a];
  assert_int_equal(e->requests, 1);
  assert_true(tw_key_equal(&e->req_sender, &nt->ep[s].kp.pk));
  assert_true(tw_addr_equal(&e->req_from, &nt->ep[s].addr));
  assert_int_equal(e->req_len, sizeof plain);
  assert_memory_equal(e->req_plain, plain, sizeof plain);
  assert_int_equal(stats_of(nt, a).dht_requests_for_us, 1);
  /* Tampered: not delivered. */
  req[n - 1] ^= 1;
  assert_int_equal(inject(nt, s, a, req, n), TW_E_CRYPTO);
  assert_int_equal(e->requests, 1);
  net_free(nt);
}

static void test_dht_request_routed_through_third_node_reaches_addressee(void **state) {
  (void)state;
  net *nt = net_new();
  int r = add_dht(nt, pub2(1), 1, NULL);
  int t = add_dht(nt, pub2(2), 2, NULL);
  int s = add_dht(nt, pub2(3), 3, NULL);
  tw_node_info ri = info_of(nt, r);
  assert_int_equal(tw_dht_bootstrap(nt->ep[t].dht, &ri, nt->now), TW_OK);
  deliver(nt);
  assert_true(has_close_node(nt, r, t));
  /* A type the DHT does not handle itself (0xfe, a NAT ping, it does). */
  const uint8_t plain[] = {0x9c, 0x01, 9, 9, 9, 9, 9, 9, 9, 9};
  size_t since = nt->nlog;
  assert_int_equal(
      tw_dht_send_request(nt->ep[s].dht, &nt->ep[t].kp.pk, &nt->ep[r].addr, plain, sizeof plain,
                          nt->now),
      TW_OK);
  assert_int_equal(
      tw_dht_send_request(nt->ep[s].dht, &nt->ep[t].kp.pk, NULL, plain, sizeof plain, nt->now),
      TW_E_INVAL); /* no route: refused, never a broadcast */
  pkt *out = find_sent(nt, since, s, r, TW_PACKET_DHT_REQUEST, 0);
  assert_non_null(out);
  assert_int_equal(out->len, TW_DHT_REQUEST_MIN + sizeof plain);
  assert_memory_equal(out->data + 1, nt->ep[t].kp.pk.bytes, 32);
  assert_memory_equal(out->data + 33, nt->ep[s].kp.pk.bytes, 32);
  deliver(nt);
  pkt *fwd = find_sent(nt, since, r, t, TW_PACKET_DHT_REQUEST, 0);
  assert_non_null(fwd);
  assert_int_equal(fwd->len, out->len);
  assert_memory_equal(fwd->data, out->data, out->len);
  ep *te = &nt->ep[t];
  assert_int_equal(te->requests, 1);
  assert_true(tw_key_equal(&te->req_sender, &nt->ep[s].kp.pk));
  assert_true(tw_addr_equal(&te->req_from, &nt->ep[r].addr));
  assert_int_equal(te->req_len, sizeof plain);
  assert_memory_equal(te->req_plain, plain, sizeof plain);
  net_free(nt);
}

/* ---- timers ---- */

static void test_node_removed_after_182s_silence(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int p = add_fake(nt, pub(10), 10);
  make_known(nt, a, p);
  tw_time_ms t0 = nt->now;
  nt->ep[p].deaf = true;
  size_t since = nt->nlog;
  run_until(nt, t0 + SPEC_BAD_AFTER_MS);
  assert_true(has_close_node(nt, a, p));
  run_until(nt, t0 + SPEC_BAD_AFTER_MS + 1);
  assert_false(has_close_node(nt, a, p)); /* bad: no longer offered */
  assert_int_equal(stats_of(nt, a).close_nodes, 1); /* but still kept */
  run_until(nt, t0 + SPEC_REMOVE_AFTER_MS);
  assert_int_equal(stats_of(nt, a).close_nodes, 1);
  /* It was checked while silent, at least once after it went bad. */
  size_t checks = 0, late = 0;
  for (size_t i = 0;; i++) {
    pkt *q = find_sent(nt, since, a, p, TW_PACKET_NODES_REQUEST, i);
    if (q == NULL) break;
    checks++;
    late += q->at > t0 + SPEC_BAD_AFTER_MS;
  }
  assert_true(checks >= 2);
  assert_true(late >= 1);
  /* The deadline is set so that it is forgotten right on time. */
  assert_true(tw_dht_next_deadline(nt->ep[a].dht) <= t0 + SPEC_REMOVE_AFTER_MS + 1);
  run_until(nt, t0 + SPEC_REMOVE_AFTER_MS + 1);
  assert_int_equal(stats_of(nt, a).close_nodes, 0);
  /* Forgotten: no more checks. */
  since = nt->nlog;
  run_until(nt, t0 + 10 * 60000);
  assert_int_equal(count_sent(nt, since, a, p, ANY), 0);
  net_free(nt);
}

static void test_node_that_answers_checks_is_kept(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int p = add_fake(nt, pub(10), 10);
  nt->ep[p].auto_answer = true;
  make_known(nt, a, p);
  tw_time_ms t0 = nt->now;
  size_t since = nt->nlog;
  run_until(nt, t0 + 10 * 60000);
  assert_true(has_close_node(nt, a, p));
  /* Checked at least once a minute. */
  assert_true(count_sent(nt, since, a, p, TW_PACKET_NODES_REQUEST) >= 10);
  net_free(nt);
}

static void test_idle_node_wakes_at_most_once_per_second(void **state) {
  (void)state;
  net *nt = net_new();
  enum { PEERS = 6 };
  /* Different path delays, so that peers answer at scattered times and the
   * node's periodic work does not line up by itself. */
  static const tw_time_ms latency[PEERS] = {7, 23, 61, 113, 173, 251};
  int d[PEERS];
  for (int i = 0; i < PEERS; i++) {
    d[i] = add_dht(nt, pub2((uint8_t)(1 + i)), 1 + (uint64_t)i, NULL);
    nt->ep[d[i]].latency_ms = latency[i];
  }
  for (int i = 1; i < PEERS; i++) {
    tw_node_info first = info_of(nt, d[0]);
    assert_int_equal(tw_dht_bootstrap(nt->ep[d[i]].dht, &first, nt->now), TW_OK);
  }
  run_until(nt, nt->now + 30000); /* everyone finds everyone */
  for (int i = 0; i < PEERS; i++)
    for (int j = 0; j < PEERS; j++)
      if (i != j) assert_true(has_close_node(nt, d[i], d[j]));

  /* Now idle: 10 simulated minutes, on_timer exactly at each deadline. */
  tw_time_ms t0 = nt->now;
  size_t since = nt->nlog;
  reset_timer_stats(nt);
  run_until(nt, t0 + 600000);
  for (int i = 0; i < PEERS; i++) {
    ep *e = &nt->ep[d[i]];
    print_message("node %d: %llu on_timer calls in 600 s, smallest gap %llu ms\n", i,
                  (unsigned long long)e->timer_calls, (unsigned long long)e->min_timer_gap);
    assert_true(e->timer_calls >= 10); /* it does have periodic work */
    assert_true(e->timer_calls <= 600);
    assert_true(e->min_timer_gap >= MIN_WAKEUP_GAP_MS);
  }
  /* And it stayed connected, checking its peers, while idle. */
  for (int j = 1; j < PEERS; j++) assert_true(has_close_node(nt, d[0], d[j]));
  assert_true(count_sent(nt, since, d[0], ANY, TW_PACKET_NODES_REQUEST) >= 10);
  net_free(nt);
}

static void test_deadline_never_in_the_past_after_on_timer(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  for (int i = 0; i < 5; i++) {
    int p = add_fake(nt, pub((uint8_t)(10 + i)), 10 + (uint64_t)i);
    nt->ep[p].auto_answer = i % 2 == 0;
    make_known(nt, a, p);
  }
  tw_time_ms end = nt->now + 400000;
  while (nt->now < end) {
    tw_time_ms next = tw_dht_next_deadline(nt->ep[a].dht);
    if (next == TW_NEVER) break;
    if (next > nt->now) nt->now = next;
    tw_dht_on_timer(nt->ep[a].dht, nt->now);
    deliver(nt);
    assert_true(tw_dht_next_deadline(nt->ep[a].dht) > nt->now);
  }
  net_free(nt);
}

/* ---- searches ---- */

static void test_search_asks_close_nodes_and_reports_results(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int p = add_fake(nt, pub(10), 10);
  int x = add_fake(nt, pub(11), 11);
  int target = add_fake(nt, pub(12), 12);
  make_known(nt, a, p);
  tw_key key = nt->ep[target].kp.pk;
  assert_int_equal(tw_dht_search_add(nt->ep[a].dht, &key, nt->now), TW_OK);
  size_t since = nt->nlog;
  tw_dht_on_timer(nt->ep[a].dht, nt->now);
  /* p is asked for the searched key. */
  tw_nodes_request_payload rq = {0};
  bool asked = false;
  for (size_t i = 0;; i++) {
    pkt *q = find_sent(nt, since, a, p, TW_PACKET_NODES_REQUEST, i);
    if (q == NULL) break;
    tw_nodes_request_payload r = open_nodes_request(nt, q, a, p);
    if (tw_key_equal(&r.target, &key)) {
      rq = r;
      asked = true;
    }
  }
  assert_true(asked);
  skip_delivery(nt);
  /* p names x and the target itself. */
  tw_node_info listed[2] = {info_of(nt, x), info_of(nt, target)};
  since = nt->nlog;
  assert_int_equal(fake_nodes_response(nt, p, a, listed, 2, rq.id), TW_OK);
  pkt *qx = NULL, *qt = NULL;
  for (size_t i = 0;; i++) {
    pkt *q = find_sent(nt, since, a, x, TW_PACKET_NODES_REQUEST, i);
    if (q == NULL) break;
    tw_nodes_request_payload r = open_nodes_request(nt, q, a, x);
    if (tw_key_equal(&r.target, &key)) qx = q;
  }
  for (size_t i = 0;; i++) {
    pkt *q = find_sent(nt, since, a, target, TW_PACKET_NODES_REQUEST, i);
    if (q == NULL) break;
    tw_nodes_request_payload r = open_nodes_request(nt, q, a, target);
    if (tw_key_equal(&r.target, &key)) qt = q;
  }
  assert_non_null(qx);
  assert_non_null(qt);
  assert_int_equal(fake_nodes_response(nt, x, a, NULL, 0, open_nodes_request(nt, qx, a, x).id),
                   TW_OK);
  assert_int_equal(
      fake_nodes_response(nt, target, a, NULL, 0, open_nodes_request(nt, qt, a, target).id), TW_OK);
  tw_node_info out[8], found;
  size_t n = tw_dht_search_result(nt->ep[a].dht, &key, out, 8, &found, nt->now);
  bool has_x = false;
  for (size_t i = 0; i < n; i++) {
    has_x |= tw_key_equal(&out[i].pk, &nt->ep[x].kp.pk);
    assert_false(tw_key_equal(&out[i].pk, &key)); /* the target is reported apart */
  }
  assert_true(has_x);
  assert_true(tw_key_equal(&found.pk, &key));
  assert_true(tw_addr_equal(&found.addr, &nt->ep[target].addr));
  assert_int_equal(stats_of(nt, a).searches, 1);
  assert_int_equal(tw_dht_search_remove(nt->ep[a].dht, &key), TW_OK);
  assert_int_equal(tw_dht_search_remove(nt->ep[a].dht, &key), TW_E_NOTFOUND);
  assert_int_equal(tw_dht_search_result(nt->ep[a].dht, &key, out, 8, NULL, nt->now), 0);
  net_free(nt);
}

/* The searched node is found, then keeps answering and keeps being named
 * by the nodes around it. The search must keep reporting it, also when it
 * does not fit in our close list (the usual case in a large network: its
 * k-bucket is full of nodes closer to us). */
static void test_search_keeps_finding_target_outside_close_list(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  const tw_key *ak = &nt->ep[a].kp.pk;
  /* Key pairs in our bucket 0: the 8 closest fill it, the furthest is the
   * target, which therefore never fits. */
  tw_keypair cand[40];
  int ncand = 0;
  for (uint64_t seed = 2000; ncand < 40; seed++) {
    tw_keypair kp = test_keypair(seed);
    if (tw_key_common_prefix(ak, &kp.pk) == 0) cand[ncand++] = kp;
  }
  for (int i = 1; i < ncand; i++)
    for (int j = i; j > 0 && tw_key_distance_cmp(ak, &cand[j].pk, &cand[j - 1].pk) < 0; j--) {
      tw_keypair t = cand[j];
      cand[j] = cand[j - 1];
      cand[j - 1] = t;
    }
  int target = add_fake(nt, pub(200), 1);
  nt->ep[target].kp = cand[ncand - 1];
  nt->ep[target].auto_answer = true;
  tw_node_info ti = info_of(nt, target);
  for (int i = 0; i < 8; i++) {
    int f = add_fake(nt, pub((uint8_t)(10 + i)), 1);
    nt->ep[f].kp = cand[i];
    make_known(nt, a, f);
    nt->ep[f].auto_answer = true;
    nt->ep[f].answer_nodes[0] = ti;
    nt->ep[f].answer_count = 1;
  }
  assert_int_equal(tw_dht_search_add(nt->ep[a].dht, &ti.pk, nt->now), TW_OK);
  tw_time_ms t0 = nt->now;
  run_until(nt, t0 + 10000);
  tw_node_info out[8], found;
  tw_dht_search_result(nt->ep[a].dht, &ti.pk, out, 8, &found, nt->now);
  assert_true(tw_key_equal(&found.pk, &ti.pk)); /* found */
  assert_false(has_close_node(nt, a, target)); /* and not in the close list */
  /* Past the time a silent node goes bad, and much later: still found. */
  const tw_time_ms later[] = {t0 + SPEC_BAD_AFTER_MS + 10000, t0 + 600000};
  for (int i = 0; i < 2; i++) {
    run_until(nt, later[i]);
    memset(&found, 0, sizeof found);
    tw_dht_search_result(nt->ep[a].dht, &ti.pk, out, 8, &found, nt->now);
    if (!tw_key_equal(&found.pk, &ti.pk))
      print_error("target lost at t0 + %llu ms\n", (unsigned long long)(nt->now - t0));
    assert_true(tw_key_equal(&found.pk, &ti.pk));
    assert_true(tw_addr_equal(&found.addr, &ti.addr));
  }
  net_free(nt);
}

static void test_closest_returns_nearest_good_nodes(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  tw_node_info known[12];
  for (int i = 0; i < 12; i++) {
    int p = add_fake(nt, pub((uint8_t)(10 + i)), 300 + (uint64_t)i);
    make_known(nt, a, p);
    known[i] = info_of(nt, p);
  }
  tw_key target = test_keypair(31337).pk;
  tw_node_info out[6];
  size_t n = tw_dht_closest(nt->ep[a].dht, &target, out, 6, false, nt->now);
  assert_int_equal(n, 6);
  sort_target = target;
  qsort(known, 12, sizeof known[0], cmp_by_distance);
  for (int i = 0; i < 6; i++) {
    bool in_top = false;
    for (int j = 0; j < 6; j++) in_top |= tw_key_equal(&out[i].pk, &known[j].pk);
    assert_true(in_top);
  }
  assert_int_equal(tw_dht_closest(nt->ep[a].dht, &target, out, 0, false, nt->now), 0);
  /* Once they are all bad, none is offered. */
  nt->now += SPEC_BAD_AFTER_MS + 1;
  assert_int_equal(tw_dht_closest(nt->ep[a].dht, &target, out, 6, false, nt->now), 0);
  assert_false(tw_dht_is_connected(nt->ep[a].dht, nt->now));
  net_free(nt);
}

/* ---- drops ---- */

static void test_packet_from_own_key_dropped(void **state) {
  (void)state;
  net *nt = net_new();
  tw_dht_config c;
  memset(&c, 0, sizeof c);
  c.lan_discovery = true;
  int a = add_dht(nt, test_addr4(192, 168, 1, 1, 33445), 1, &c);
  skip_delivery(nt);
  /* A fake that holds our own key pair. */
  int me = add_fake(nt, test_addr4(192, 168, 1, 9, 33445), 1);
  assert_true(tw_key_equal(&nt->ep[me].kp.pk, &nt->ep[a].kp.pk));
  size_t since = nt->nlog;
  assert_int_equal(fake_ping(nt, me, a, TW_PACKET_PING_REQUEST, TW_PING_FLAG_REQUEST, 1),
                   TW_E_SELF);
  tw_key target = test_key_fill(3);
  assert_int_equal(fake_nodes_request(nt, me, a, &target, 1), TW_E_SELF);
  assert_int_equal(fake_nodes_response(nt, me, a, NULL, 0, 1), TW_E_SELF);
  assert_int_equal(lan_discovery_from(nt, me, a, &nt->ep[a].kp.pk), TW_E_SELF);
  assert_int_equal(count_sent(nt, since, a, ANY, ANY), 0);
  assert_int_equal(stats_of(nt, a).dropped[-TW_E_SELF], 4);
  assert_int_equal(stats_of(nt, a).close_nodes, 0);
  net_free(nt);
}

static void test_every_drop_reason_counted(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL); /* LAN discovery and Bootstrap Info off */
  int s = add_fake(nt, pub2(77), 7777);
  int me = add_fake(nt, pub2(78), 1);
  int stranger = add_fake(nt, pub2(79), 79);
  uint8_t buf[2048];
  memset(buf, 0, sizeof buf);
  int codes[32];
  int ncodes = 0;
  size_t since = nt->nlog;

  /* TW_E_SHORT: empty, and a DHT packet cut before its MAC. */
  assert_int_equal(inject(nt, s, a, buf, 0), TW_E_SHORT);
  codes[ncodes++] = TW_E_SHORT;
  buf[0] = TW_PACKET_PING_REQUEST;
  assert_int_equal(inject(nt, s, a, buf, TW_DHT_OVERHEAD - 1), TW_E_SHORT);
  codes[ncodes++] = TW_E_SHORT;
  /* TW_E_LONG: a ping with one byte too many. */
  {
    uint8_t plain[TW_PING_PLAIN_SIZE + 1] = {0};
    assert_int_equal(fake_send(nt, s, a, TW_PACKET_PING_REQUEST, plain, sizeof plain), TW_E_LONG);
    codes[ncodes++] = TW_E_LONG;
  }
  /* TW_E_CRYPTO: a ping whose box was altered. */
  {
    uint8_t plain[TW_PING_PLAIN_SIZE] = {0};
    size_t n = seal_from(nt, s, &nt->ep[a].kp.pk, TW_PACKET_PING_REQUEST, plain, sizeof plain, buf,
                         sizeof buf);
    buf[n - 1] ^= 0x01;
    assert_int_equal(inject(nt, s, a, buf, n), TW_E_CRYPTO);
    codes[ncodes++] = TW_E_CRYPTO;
  }
  /* TW_E_FAMILY: a Nodes Response naming a node of ip type 3. */
  {
    tw_node_info x = info_of(nt, stranger);
    uint8_t plain[64];
    size_t n = nodes_response_plain(plain, sizeof plain, &x, 1, 1);
    plain[1] = 3;
    assert_int_equal(fake_send(nt, s, a, TW_PACKET_NODES_RESPONSE, plain, n), TW_E_FAMILY);
    codes[ncodes++] = TW_E_FAMILY;
  }
  /* TW_E_COUNT: a Nodes Response claiming five nodes. */
  {
    uint8_t plain[TW_NODES_RESPONSE_PLAIN_MAX] = {5};
    assert_int_equal(fake_send(nt, s, a, TW_PACKET_NODES_RESPONSE, plain, 1 + 5 * 39 + 8),
                     TW_E_COUNT);
    codes[ncodes++] = TW_E_COUNT;
  }
  /* TW_E_KIND: a kind the DHT does not handle, and one nobody knows. */
  buf[0] = TW_PACKET_COOKIE_REQUEST;
  assert_int_equal(inject(nt, s, a, buf, 100), TW_E_KIND);
  codes[ncodes++] = TW_E_KIND;
  buf[0] = 0x55;
  assert_int_equal(inject(nt, s, a, buf, 100), TW_E_KIND);
  codes[ncodes++] = TW_E_KIND;
  /* TW_E_UNSOLICITED: a Ping Response nobody asked for. */
  assert_int_equal(fake_ping(nt, s, a, TW_PACKET_PING_RESPONSE, TW_PING_FLAG_RESPONSE, 42),
                   TW_E_UNSOLICITED);
  codes[ncodes++] = TW_E_UNSOLICITED;
  /* TW_E_SELF: our own key. */
  assert_int_equal(fake_ping(nt, me, a, TW_PACKET_PING_REQUEST, TW_PING_FLAG_REQUEST, 1),
                   TW_E_SELF);
  codes[ncodes++] = TW_E_SELF;
  /* TW_E_DISABLED: Bootstrap Info and LAN discovery are off. */
  buf[0] = TW_PACKET_BOOTSTRAP_INFO;
  assert_int_equal(inject(nt, s, a, buf, TW_BOOTSTRAP_INFO_REQUEST_SIZE), TW_E_DISABLED);
  codes[ncodes++] = TW_E_DISABLED;
  {
    tw_addr lan = test_addr4(192, 168, 0, 5, 33445);
    uint8_t ld[TW_LAN_DISCOVERY_SIZE];
    tw_lan_discovery_encode(ld, &nt->ep[stranger].kp.pk);
    assert_int_equal(inject_from(nt, &lan, a, ld, sizeof ld), TW_E_DISABLED);
    codes[ncodes++] = TW_E_DISABLED;
  }
  /* TW_E_ADDR: no usable source address. */
  {
    tw_addr none;
    memset(&none, 0, sizeof none);
    uint8_t plain[TW_PING_PLAIN_SIZE] = {0};
    size_t n = seal_from(nt, s, &nt->ep[a].kp.pk, TW_PACKET_PING_REQUEST, plain, sizeof plain, buf,
                         sizeof buf);
    assert_int_equal(inject_from(nt, &none, a, buf, n), TW_E_ADDR);
    codes[ncodes++] = TW_E_ADDR;
    tw_addr port0 = nt->ep[s].addr;
    port0.port = 0;
    assert_int_equal(inject_from(nt, &port0, a, buf, n), TW_E_ADDR);
    codes[ncodes++] = TW_E_ADDR;
  }
  /* TW_E_FORMAT: a Ping Request with flag 7. */
  assert_int_equal(fake_ping(nt, s, a, TW_PACKET_PING_REQUEST, 7, 1), TW_E_FORMAT);
  codes[ncodes++] = TW_E_FORMAT;
  /* TW_E_NOTFOUND: a DHT Request for a node we do not know. */
  {
    const uint8_t plain[] = {0xfe, 0, 1, 2, 3, 4, 5, 6, 7, 8};
    size_t n = build_dht_request(nt, s, &nt->ep[stranger].kp.pk, plain, sizeof plain, buf,
                                 sizeof buf);
    assert_int_equal(inject(nt, s, a, buf, n), TW_E_NOTFOUND);
    codes[ncodes++] = TW_E_NOTFOUND;
  }

  tw_dht_stats st = stats_of(nt, a);
  uint64_t want[TW_ERROR_COUNT] = {0};
  for (int i = 0; i < ncodes; i++) want[-codes[i]]++;
  for (int i = 0; i < TW_ERROR_COUNT; i++) {
    if (st.dropped[i] != want[i])
      print_error("dropped[%d] (%s): %llu, want %llu\n", i, tw_strerror(-i),
                  (unsigned long long)st.dropped[i], (unsigned long long)want[i]);
    assert_int_equal(st.dropped[i], want[i]);
  }
  assert_int_equal(st.dropped_total, (uint64_t)ncodes);
  assert_int_equal(st.packets_in, (uint64_t)ncodes);
  /* A dropped packet is never answered. */
  assert_int_equal(count_sent(nt, since, a, ANY, ANY), 0);
  assert_int_equal(st.packets_out, 0);
  net_free(nt);
}

static void test_stats_count_traffic(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  int s = add_fake(nt, pub2(77), 7777);
  assert_int_equal(fake_ping(nt, s, a, TW_PACKET_PING_REQUEST, TW_PING_FLAG_REQUEST, 1), TW_OK);
  tw_dht_stats st = stats_of(nt, a);
  assert_int_equal(st.packets_in, 1);
  assert_int_equal(st.bytes_in, TW_PING_PACKET_SIZE);
  /* A Ping Response and our own Ping Request. */
  assert_int_equal(st.packets_out, nt->nlog);
  uint64_t bytes = 0;
  for (size_t i = 0; i < nt->nlog; i++) bytes += nt->log[i].len;
  assert_int_equal(st.bytes_out, bytes);
  assert_int_equal(st.ping_requests_out, count_sent(nt, 0, a, ANY, TW_PACKET_PING_REQUEST));
  assert_int_equal(st.shared_key_misses, 1); /* one peer, one agreement */
  assert_true(st.shared_key_hits >= 1);
  net_free(nt);
}

static void test_new_refuses_bad_config(void **state) {
  (void)state;
  test_rng r = {1};
  tw_env env = test_env(&r);
  tw_dht_config c;
  memset(&c, 0, sizeof c);
  c.keys = test_keypair(1);
  assert_null(tw_dht_new(&c, &env, 0)); /* no send callback */
  c.send = on_send;
  uint8_t motd[TW_MOTD_MAX + 1] = {0};
  c.motd = motd;
  c.motd_len = sizeof motd;
  assert_null(tw_dht_new(&c, &env, 0));
  c.motd_len = TW_MOTD_MAX;
  tw_dht *d = tw_dht_new(&c, &env, 0);
  assert_non_null(d);
  assert_true(tw_key_equal(tw_dht_public_key(d), &c.keys.pk));
  assert_true(tw_dht_next_deadline(d) == TW_NEVER); /* nothing to do yet */
  tw_dht_free(d);
  tw_env no_rng = env;
  no_rng.random_bytes = NULL;
  assert_null(tw_dht_new(&c, &no_rng, 0));
  tw_dht_free(NULL);
}

static void test_bootstrap_refuses_self_and_unset_address(void **state) {
  (void)state;
  net *nt = net_new();
  int a = add_dht(nt, pub2(1), 1, NULL);
  tw_node_info n = info_of(nt, a);
  assert_int_equal(tw_dht_bootstrap(nt->ep[a].dht, &n, nt->now), TW_E_SELF);
  n.pk = test_key_fill(9);
  n.addr.port = 0;
  assert_int_equal(tw_dht_bootstrap(nt->ep[a].dht, &n, nt->now), TW_E_ADDR);
  assert_int_equal(nt->nlog, 0);
  net_free(nt);
}

#define T(name) cmocka_unit_test_teardown(name, teardown)

int main(void) {
  assert_int_equal(tw_crypto_init(), TW_OK);
  const struct CMUnitTest tests[] = {
      T(test_nodes_request_from_stranger_gets_four_closest),
      T(test_nodes_request_with_fewer_known_gets_all),
      T(test_nodes_request_with_no_known_nodes_gets_no_response),
      T(test_nodes_response_excludes_requester),
      T(test_nodes_response_to_wan_requester_omits_lan_nodes),
      T(test_nodes_request_from_viable_stranger_triggers_ping_request),
      T(test_ping_request_gets_ping_response),
      T(test_ping_response_reaches_ipv6_sender),
      T(test_ping_with_wrong_flag_dropped),
      T(test_ping_response_within_5s_accepted),
      T(test_ping_response_after_5s_dropped),
      T(test_ping_response_accepted_only_once_and_from_asked_node),
      T(test_ping_requests_to_strangers_rate_limited),
      T(test_two_nodes_bootstrap_learn_each_other),
      T(test_nodes_response_adds_sender_and_asks_listed_nodes),
      T(test_nodes_response_with_zero_nodes_accepted),
      T(test_node_learned_by_v4_mapped_address_can_join),
      T(test_unsolicited_nodes_response_is_dropped_and_counted),
      T(test_nodes_response_accepted_only_once),
      T(test_nodes_response_from_wrong_address_dropped),
      T(test_nodes_response_after_60s_dropped),
      T(test_bootstrap_retried_every_5s_while_unanswered),
      T(test_new_close_list_sends_burst_of_requests),
      T(test_bootstrap_info_answered_with_motd),
      T(test_bootstrap_info_motd_copied_at_creation),
      T(test_bootstrap_info_wrong_length_dropped),
      T(test_bootstrap_info_disabled_dropped),
      T(test_lan_discovery_off_drops),
      T(test_lan_discovery_on_answers_with_nodes_request_from_lan_only),
      T(test_lan_discovery_on_broadcasts_our_key_every_10s),
      T(test_two_nodes_find_each_other_by_lan_discovery),
      T(test_dht_request_forwarded_to_close_node_unaltered),
      T(test_dht_request_to_unknown_or_bad_node_dropped),
      T(test_dht_request_for_us_delivered_to_callback),
      T(test_dht_request_routed_through_third_node_reaches_addressee),
      T(test_node_removed_after_182s_silence),
      T(test_node_that_answers_checks_is_kept),
      T(test_idle_node_wakes_at_most_once_per_second),
      T(test_deadline_never_in_the_past_after_on_timer),
      T(test_search_asks_close_nodes_and_reports_results),
      T(test_search_keeps_finding_target_outside_close_list),
      T(test_closest_returns_nearest_good_nodes),
      T(test_packet_from_own_key_dropped),
      T(test_every_drop_reason_counted),
      T(test_stats_count_traffic),
      T(test_new_refuses_bad_config),
      T(test_bootstrap_refuses_self_and_unset_address),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
