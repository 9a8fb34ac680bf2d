/* Scenario tests of hole punching (src/dht/holepunch.c): one tw_dht (A)
 * searching for a friend's DHT key F, and fake nodes X0..X7 near F that
 * answer A's Nodes Requests by hand, saying where F is. Every datagram A
 * sends is logged; the tests open them with the fakes' keys and assert
 * what went on the wire. Time is a counter the tests move, and A's timer
 * runs exactly at its deadlines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"
#include "core/node_info.h"
#include "dht/dht_wire.h"
#include "dht/holepunch.h"
#include "testutil.h"
#include "toxwire/dht.h"
#include "toxwire/error.h"

/* The spec's numbers ("Hole punching"), written out so a change of the
 * library's constants cannot move the tests with it. */
#define SPEC_TRIES 4
#define SPEC_NAT_PING_INTERVAL_MS 3000
#define SPEC_PUNCH_TIMEOUT_MS 6000
#define SPEC_PINGS_PER_ROUND 48
#define SPEC_ROUNDS_BEFORE_LOW_PORTS 5
#define SPEC_LOW_PORT 1024
/* The project's: a NAT ping goes through at most this many nodes. */
#define VIA_MAX 4
/* The DHT's checks of an address a node gave are at least 10 s apart. */
#define CHECK_RETRY_MS 10000

#define NX 8

typedef struct sent {
  tw_addr to;
  uint8_t *data;
  size_t len;
  tw_time_ms at;
} sent;

typedef struct world {
  tw_dht *a;
  tw_keypair ak, fk, sk; /* A, the friend F, a stranger */
  tw_keypair xk[NX];
  tw_addr xaddr[NX];
  tw_addr faddr; /* F's IP (the port varies) */
  test_rng rng;
  sent *log;
  size_t n, cap;
  tw_time_ms now;
  int found_calls;
  tw_addr found_addr;
  int requests_up; /* DHT Requests handed to on_dht_request */
} world;

static world *g;

static void on_send(void *ctx, const tw_addr *to, const uint8_t *pkt, size_t len) {
  world *w = ctx;
  if (w->n == w->cap) {
    w->cap = w->cap ? 2 * w->cap : 256;
    w->log = realloc(w->log, w->cap * sizeof *w->log);
    assert_non_null(w->log);
  }
  sent *s = &w->log[w->n++];
  memset(s, 0, sizeof *s);
  if (to) s->to = *to;
  s->data = malloc(len);
  assert_non_null(s->data);
  memcpy(s->data, pkt, len);
  s->len = len;
  s->at = w->now;
}

static void on_found(void *ctx, const tw_key *key, const tw_addr *addr, tw_time_ms now) {
  (void)now;
  world *w = ctx;
  assert_true(tw_key_equal(key, &w->fk.pk));
  w->found_calls++;
  w->found_addr = *addr;
}

static void on_request(void *ctx, const tw_key *sender, const tw_addr *from, const uint8_t *plain,
                       size_t len, tw_time_ms now) {
  (void)sender, (void)from, (void)plain, (void)len, (void)now;
  ((world *)ctx)->requests_up++;
}

static world *world_new(bool punching) {
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  g = w;
  w->now = 1000000;
  w->rng.state = 77;
  w->ak = test_keypair(1);
  w->fk = test_keypair(2);
  w->sk = test_keypair(3);
  for (int i = 0; i < NX; i++) {
    w->xk[i] = test_keypair(100 + (uint64_t)i);
    w->xaddr[i] = test_addr4(198, 51, 100, (uint8_t)(10 + i), 33445);
  }
  w->faddr = test_addr4(203, 0, 113, 7, 0);
  tw_dht_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.keys = w->ak;
  cfg.send = on_send;
  cfg.send_ctx = w;
  cfg.on_search_found = on_found;
  cfg.search_ctx = w;
  cfg.on_dht_request = on_request;
  cfg.request_ctx = w;
  cfg.no_hole_punching = !punching;
  tw_env env = test_env(&w->rng);
  w->a = tw_dht_new(&cfg, &env, w->now);
  assert_non_null(w->a);
  assert_int_equal(tw_dht_search_add(w->a, &w->fk.pk, w->now), TW_OK);
  return w;
}

static int teardown(void **state) {
  (void)state;
  if (g == NULL) return 0;
  tw_dht_free(g->a);
  for (size_t i = 0; i < g->n; i++) free(g->log[i].data);
  free(g->log);
  free(g);
  g = NULL;
  return 0;
}

static tw_addr f_at(const world *w, uint16_t port) {
  tw_addr a = w->faddr;
  a.port = port;
  return a;
}

static bool same_ip(const tw_addr *a, const tw_addr *b) {
  return a->family == b->family && memcmp(a->ip, b->ip, 4) == 0;
}

/* ---- sealing and opening ---- */

static size_t seal(world *w, const tw_keypair *from, const tw_key *to, uint8_t kind,
                   const uint8_t *plain, size_t len, uint8_t *out, size_t cap) {
  uint8_t shared[TW_SHARED_KEY_SIZE], nonce[TW_NONCE_SIZE];
  tw_shared_key_compute(shared, to, from->sk);
  test_rng_fill(&w->rng, nonce, sizeof nonce);
  int n = tw_dht_packet_seal(out, cap, kind, &from->pk, nonce, shared, plain, len);
  assert_true(n > 0);
  return (size_t)n;
}

/* Opens a logged DHT packet (of any kind but DHT Request) with the
 * receiver's key; returns the plaintext length, or -1. */
static int open_as(const sent *s, const tw_keypair *receiver, tw_key *sender, uint8_t *plain) {
  tw_dht_header h;
  if (tw_dht_header_parse(&h, s->data, s->len) != TW_OK) return -1;
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_shared_key_compute(shared, &h.sender, receiver->sk);
  if (tw_box_open(plain, h.cipher, h.cipher_len, h.nonce, shared) != TW_OK) return -1;
  if (sender) *sender = h.sender;
  return (int)(h.cipher_len - TW_MAC_SIZE);
}

/* Opens a logged DHT Request addressed to the receiver; -1 if it is not. */
static int open_request_as(const sent *s, const tw_keypair *receiver, tw_key *sender,
                           uint8_t *plain) {
  if (s->len < TW_DHT_REQUEST_MIN || s->data[0] != TW_PACKET_DHT_REQUEST ||
      memcmp(s->data + 1, receiver->pk.bytes, TW_PUBLIC_KEY_SIZE) != 0)
    return -1;
  sent inner = *s;
  uint8_t buf[TW_DHT_REQUEST_MIN + TW_DHT_PLAIN_MAX];
  buf[0] = TW_PACKET_DHT_REQUEST;
  memcpy(buf + 1, s->data + 1 + TW_PUBLIC_KEY_SIZE, s->len - 1 - TW_PUBLIC_KEY_SIZE);
  inner.data = buf;
  inner.len = s->len - TW_PUBLIC_KEY_SIZE;
  return open_as(&inner, receiver, sender, plain);
}

/* A DHT Request from `from` to A, arriving from the address `via`. */
static int send_request_to_a(world *w, const tw_keypair *from, const tw_addr *via,
                             const uint8_t *plain, size_t len) {
  uint8_t pkt[TW_DHT_REQUEST_MIN + TW_DHT_PLAIN_MAX];
  size_t n = seal(w, from, &w->ak.pk, TW_PACKET_DHT_REQUEST, plain, len, pkt + TW_PUBLIC_KEY_SIZE,
                  sizeof pkt - TW_PUBLIC_KEY_SIZE);
  pkt[0] = TW_PACKET_DHT_REQUEST;
  memcpy(pkt + 1, w->ak.pk.bytes, TW_PUBLIC_KEY_SIZE);
  return tw_dht_handle_packet(w->a, via, pkt, n + TW_PUBLIC_KEY_SIZE, w->now);
}

static int nat_ping_to_a(world *w, const tw_keypair *from, int via, uint8_t flag, uint64_t id) {
  tw_nat_ping_payload p = {.flag = flag, .id = id};
  uint8_t plain[TW_NAT_PING_PLAIN_SIZE];
  tw_nat_ping_payload_encode(plain, &p);
  return send_request_to_a(w, from, &w->xaddr[via], plain, sizeof plain);
}

/* ---- time ---- */

static void run_to(world *w, tw_time_ms t) {
  for (int guard = 0; guard < 100000; guard++) {
    tw_time_ms d = tw_dht_next_deadline(w->a);
    if (d > t) break;
    if (d > w->now) w->now = d;
    tw_dht_on_timer(w->a, w->now);
    assert_true(tw_dht_next_deadline(w->a) > w->now);
  }
  if (t > w->now) w->now = t;
}

/* ---- the nodes near F say where it is ---- */

/* The id of the last Nodes Request A sent to addr since `since`. */
static uint64_t nodes_request_id(world *w, size_t since, int x) {
  for (size_t i = w->n; i-- > since;) {
    const sent *s = &w->log[i];
    if (s->data[0] != TW_PACKET_NODES_REQUEST || !tw_addr_equal(&s->to, &w->xaddr[x])) continue;
    uint8_t plain[TW_DHT_PLAIN_MAX];
    int n = open_as(s, &w->xk[x], NULL, plain);
    assert_true(n > 0);
    tw_nodes_request_payload req;
    assert_int_equal(tw_nodes_request_payload_decode(&req, plain, (size_t)n), TW_OK);
    return req.id;
  }
  fail_msg("no Nodes Request to X%d", x);
  return 0;
}

/* A asks X (through a bootstrap) and X answers, listing F at f (or no one
 * when f is NULL). X enters A's search for F. */
static void x_answers(world *w, int x, const tw_addr *f) {
  size_t since = w->n;
  tw_node_info xi = {.pk = w->xk[x].pk, .addr = w->xaddr[x]};
  assert_int_equal(tw_dht_bootstrap(w->a, &xi, w->now), TW_OK);
  uint64_t id = nodes_request_id(w, since, x);
  tw_nodes_response_payload r = {.id = id, .count = 0};
  if (f != NULL) r.nodes[r.count++] = (tw_node_info){.pk = w->fk.pk, .addr = *f};
  uint8_t plain[TW_NODES_RESPONSE_PLAIN_MAX], pkt[TW_NODES_RESPONSE_PACKET_MAX];
  size_t n;
  if (r.count > 0) {
    int k = tw_nodes_response_payload_encode(plain, sizeof plain, &r);
    assert_true(k > 0);
    n = (size_t)k;
  } else {
    tw_writer wr = tw_writer_init(plain, sizeof plain);
    tw_write_u8(&wr, 0);
    tw_write_u64(&wr, id);
    n = wr.pos;
  }
  size_t m = seal(w, &w->xk[x], &w->ak.pk, TW_PACKET_NODES_RESPONSE, plain, n, pkt, sizeof pkt);
  assert_int_equal(tw_dht_handle_packet(w->a, &w->xaddr[x], pkt, m, w->now), TW_OK);
}

/* F behind a symmetric NAT: each node sees it on its own port. */
static const uint16_t sym_ports[NX] = {20031, 20003, 20050, 20010, 20021, 20001, 20030, 20020};

static void all_report_symmetric(world *w) {
  for (int x = 0; x < NX; x++) {
    tw_addr f = f_at(w, sym_ports[x]);
    x_answers(w, x, &f);
  }
}

/* F behind a cone NAT: everyone sees one address. Four of A's checks of it
 * go unanswered, 10 s apart. */
static void all_report_cone(world *w, uint16_t port) {
  tw_addr f = f_at(w, port);
  for (int x = 0; x < NX; x++) x_answers(w, x, &f);
  for (int k = 1; k < SPEC_TRIES; k++) {
    run_to(w, w->now + CHECK_RETRY_MS);
    x_answers(w, k, &f);
  }
}

/* ---- reading what A sent ---- */

typedef struct nat_ping_seen {
  int count;
  uint64_t id;     /* the last one's */
  tw_addr via[64]; /* where each went */
  uint8_t flag;
} nat_ping_seen;

/* NAT pings A sent to F (through anyone) since `since`. */
static nat_ping_seen nat_pings_to_f(world *w, size_t since) {
  nat_ping_seen r;
  memset(&r, 0, sizeof r);
  for (size_t i = since; i < w->n; i++) {
    uint8_t plain[TW_DHT_PLAIN_MAX];
    tw_key sender;
    int n = open_request_as(&w->log[i], &w->fk, &sender, plain);
    if (n < 0) continue;
    assert_true(tw_key_equal(&sender, &w->ak.pk));
    tw_nat_ping_payload p;
    assert_int_equal(tw_nat_ping_payload_decode(&p, plain, (size_t)n), TW_OK);
    if (r.count < 64) r.via[r.count] = w->log[i].to;
    r.count++;
    r.id = p.id;
    r.flag = p.flag;
  }
  return r;
}

/* Ping Requests A sent to F's IP since `since`: their ports in order, and
 * the last one's id. */
static size_t pings_to_f(world *w, size_t since, uint16_t *ports, size_t max, uint64_t *id) {
  size_t c = 0;
  for (size_t i = since; i < w->n; i++) {
    const sent *s = &w->log[i];
    if (s->data[0] != TW_PACKET_PING_REQUEST || !same_ip(&s->to, &w->faddr)) continue;
    uint8_t plain[TW_DHT_PLAIN_MAX];
    int n = open_as(s, &w->fk, NULL, plain);
    assert_int_equal(n, TW_PING_PLAIN_SIZE);
    tw_ping_payload p;
    assert_int_equal(tw_ping_payload_decode(&p, plain, (size_t)n), TW_OK);
    if (id) *id = p.id;
    if (c < max) ports[c] = s->to.port;
    c++;
  }
  return c;
}

/* Answers A's latest NAT Ping Request as F would, through X0. */
static void f_answers_nat_ping(world *w) {
  nat_ping_seen seen = nat_pings_to_f(w, 0);
  assert_true(seen.count > 0);
  assert_int_equal(seen.flag, TW_NAT_PING_REQUEST);
  assert_int_equal(nat_ping_to_a(w, &w->fk, 0, TW_NAT_PING_RESPONSE, seen.id), TW_OK);
}

static tw_dht_stats stats(world *w) {
  tw_dht_stats s;
  tw_dht_get_stats(w->a, &s, w->now);
  return s;
}

/* The spec's order, written out: offsets 0, +1, -1, +2, -2, ... each
 * applied to every (sorted) port in turn. */
static uint16_t spec_guess(const uint16_t *sorted, size_t n, size_t i) {
  size_t step = i / n;
  long off = step % 2 ? (long)(step + 1) / 2 : -(long)(step / 2);
  return (uint16_t)(sorted[i % n] + off);
}

/* ---- port guessing ---- */

static void test_port_guessing_follows_the_spec_example(void **state) {
  (void)state;
  /* spec "Hole punching": for 1345, 1347, 1389, 1395 it tries 1345, 1347,
   * 1389, 1395, 1346, 1348, 1390, 1396, 1344, 1346, ... */
  const uint16_t ports[] = {1345, 1347, 1389, 1395};
  const uint16_t want[] = {1345, 1347, 1389, 1395, 1346, 1348, 1390, 1396,
                           1344, 1346, 1388, 1394, 1347, 1349, 1391, 1397};
  for (uint32_t i = 0; i < sizeof want / sizeof want[0]; i++)
    assert_int_equal(tw_holepunch_guess_port(ports, 4, i), want[i]);
}

static void test_port_guessing_skips_ports_outside_the_range(void **state) {
  (void)state;
  const uint16_t low[] = {1}, high[] = {65535};
  assert_int_equal(tw_holepunch_guess_port(low, 1, 0), 1);
  assert_int_equal(tw_holepunch_guess_port(low, 1, 1), 2);
  assert_int_equal(tw_holepunch_guess_port(low, 1, 2), 0);  /* port 0 */
  assert_int_equal(tw_holepunch_guess_port(high, 1, 1), 0); /* 65536 */
  assert_int_equal(tw_holepunch_guess_port(high, 1, 2), 65534);
  assert_int_equal(tw_holepunch_guess_port(NULL, 0, 0), 0);
}

/* ---- NAT ping requests ---- */

static void test_nat_ping_request_from_a_key_we_do_not_search_is_dropped(void **state) {
  (void)state;
  world *w = world_new(true);
  all_report_symmetric(w);
  size_t since = w->n;
  assert_int_equal(nat_ping_to_a(w, &w->sk, 2, TW_NAT_PING_REQUEST, 0x1234), TW_E_NOTFOUND);
  assert_int_equal(w->n, since);
  tw_dht_stats st = stats(w);
  assert_int_equal(st.nat_ping_requests_in, 1);
  assert_int_equal(st.nat_ping_requests_answered, 0);
}

static void test_nat_ping_request_with_no_node_that_knows_the_friend_is_dropped(void **state) {
  (void)state;
  world *w = world_new(true);
  x_answers(w, 0, NULL); /* X0 is in the search but does not know F */
  size_t since = w->n;
  assert_int_equal(nat_ping_to_a(w, &w->fk, 0, TW_NAT_PING_REQUEST, 0x1234), TW_E_NOROUTE);
  assert_int_equal(w->n, since);
}

static void test_nat_ping_request_is_answered_through_the_nodes_that_know_the_friend(void **state) {
  (void)state;
  world *w = world_new(true);
  all_report_symmetric(w);
  size_t since = w->n;
  assert_int_equal(nat_ping_to_a(w, &w->fk, 3, TW_NAT_PING_REQUEST, 0xabcdef0012345678ULL), TW_OK);
  nat_ping_seen r = nat_pings_to_f(w, since);
  assert_int_equal(r.count, VIA_MAX);
  assert_int_equal(w->n - since, VIA_MAX); /* nothing else */
  assert_int_equal(r.flag, TW_NAT_PING_RESPONSE);
  assert_true(r.id == 0xabcdef0012345678ULL);
  for (int i = 0; i < r.count; i++) {
    bool known = false;
    for (int x = 0; x < NX; x++) known |= tw_addr_equal(&r.via[i], &w->xaddr[x]);
    assert_true(known);
    for (int j = 0; j < i; j++) assert_false(tw_addr_equal(&r.via[i], &r.via[j]));
  }
  /* The same request through another node: answered once already. */
  since = w->n;
  assert_int_equal(nat_ping_to_a(w, &w->fk, 5, TW_NAT_PING_REQUEST, 0xabcdef0012345678ULL),
                   TW_E_REPLAY);
  assert_int_equal(w->n, since);
  assert_int_equal(nat_ping_to_a(w, &w->fk, 5, TW_NAT_PING_REQUEST, 0x99), TW_OK);
  assert_int_equal(nat_pings_to_f(w, since).count, VIA_MAX);
  tw_dht_stats st = stats(w);
  assert_int_equal(st.nat_ping_requests_in, 3);
  assert_int_equal(st.nat_ping_requests_answered, 2);
  /* NAT pings stay in the DHT; other DHT Requests still go up. */
  assert_int_equal(w->requests_up, 0);
  const uint8_t other[] = {0x9c, 1, 2, 3};
  assert_int_equal(send_request_to_a(w, &w->fk, &w->xaddr[0], other, sizeof other), TW_OK);
  assert_int_equal(w->requests_up, 1);
}

static void test_nat_pings_start_after_four_unanswered_tries_every_three_seconds(void **state) {
  (void)state;
  world *w = world_new(true);
  size_t before = w->n;
  all_report_symmetric(w);
  /* A tried each address it was given (a check, then a ping to each other
   * one), and no answer came. */
  uint16_t ports[64];
  size_t tried = pings_to_f(w, before, ports, 64, NULL);
  size_t checks = 0; /* Nodes Requests for F's own key, to F */
  for (size_t i = before; i < w->n; i++) {
    if (w->log[i].data[0] != TW_PACKET_NODES_REQUEST || !same_ip(&w->log[i].to, &w->faddr))
      continue;
    uint8_t plain[TW_DHT_PLAIN_MAX];
    tw_nodes_request_payload req;
    int n = open_as(&w->log[i], &w->fk, NULL, plain);
    assert_int_equal(tw_nodes_request_payload_decode(&req, plain, (size_t)n), TW_OK);
    checks += tw_key_equal(&req.target, &w->fk.pk);
  }
  assert_int_equal(checks, 1);
  assert_int_equal(tried, NX - 1);
  size_t since = w->n;
  run_to(w, w->now);
  nat_ping_seen first = nat_pings_to_f(w, since);
  assert_int_equal(first.count, VIA_MAX);
  assert_int_equal(first.flag, TW_NAT_PING_REQUEST);
  /* Every 3 s, each with a new number. */
  uint64_t last = first.id;
  for (int k = 0; k < 5; k++) {
    since = w->n;
    run_to(w, w->now + SPEC_NAT_PING_INTERVAL_MS);
    nat_ping_seen r = nat_pings_to_f(w, since);
    assert_int_equal(r.count, VIA_MAX);
    assert_true(r.id != last);
    last = r.id;
  }
  assert_int_equal(stats(w).nat_ping_requests_out, 6 * VIA_MAX);
}

static void test_no_nat_pings_until_four_nodes_or_more_than_half_know_the_friend(void **state) {
  (void)state;
  world *w = world_new(true);
  for (int x = 0; x < NX; x++) {
    tw_addr f = f_at(w, sym_ports[x]);
    x_answers(w, x, x < 3 ? &f : NULL); /* 3 of 8 */
  }
  for (int k = 1; k < SPEC_TRIES; k++) { /* more tries: 4 is already enough */
    run_to(w, w->now + CHECK_RETRY_MS);
    tw_addr f = f_at(w, sym_ports[0]);
    x_answers(w, 0, &f);
  }
  size_t since = w->n;
  run_to(w, w->now + 60000);
  assert_int_equal(nat_pings_to_f(w, since).count, 0);
  /* A fourth node says so too. */
  tw_addr f = f_at(w, sym_ports[3]);
  x_answers(w, 3, &f);
  run_to(w, w->now);
  assert_int_equal(nat_pings_to_f(w, since).count, VIA_MAX);
}

static void test_nat_pings_start_when_more_than_half_of_a_short_list_knows_the_friend(
    void **state) {
  (void)state;
  world *w = world_new(true);
  tw_addr f0 = f_at(w, sym_ports[0]), f1 = f_at(w, sym_ports[1]);
  x_answers(w, 0, &f0);
  x_answers(w, 1, &f1);
  x_answers(w, 2, NULL); /* 2 of 3 */
  size_t since = w->n;
  for (int k = 0; k < SPEC_TRIES; k++) { /* the DHT's own checks: more tries */
    run_to(w, w->now + CHECK_RETRY_MS);
    x_answers(w, 0, &f0);
  }
  run_to(w, w->now + SPEC_NAT_PING_INTERVAL_MS);
  nat_ping_seen r = nat_pings_to_f(w, since);
  assert_true(r.count >= 2);
  assert_int_equal(r.count % 2, 0); /* through both nodes that know F, each time */
}

/* ---- NAT ping responses and punching ---- */

static void test_nat_ping_response_with_an_unknown_number_is_ignored(void **state) {
  (void)state;
  world *w = world_new(true);
  all_report_symmetric(w);
  size_t since = w->n;
  run_to(w, w->now);
  nat_ping_seen r = nat_pings_to_f(w, since);
  assert_int_equal(r.count, VIA_MAX);
  since = w->n;
  assert_int_equal(nat_ping_to_a(w, &w->fk, 0, TW_NAT_PING_RESPONSE, r.id ^ 1), TW_E_UNSOLICITED);
  /* The right number from someone else. */
  assert_int_equal(nat_ping_to_a(w, &w->sk, 0, TW_NAT_PING_RESPONSE, r.id), TW_E_UNSOLICITED);
  run_to(w, w->now + 2 * SPEC_NAT_PING_INTERVAL_MS);
  assert_int_equal(pings_to_f(w, since, NULL, 0, NULL), 0);
  tw_dht_stats st = stats(w);
  assert_int_equal(st.nat_ping_responses_in, 0);
  assert_int_equal(st.punch_rounds, 0);
  assert_int_equal(st.dropped[-TW_E_UNSOLICITED], 2);
}

static void test_nat_ping_response_starts_port_guessing_then_ports_from_1024(void **state) {
  (void)state;
  world *w = world_new(true);
  all_report_symmetric(w);
  run_to(w, w->now);
  f_answers_nat_ping(w);
  assert_int_equal(stats(w).nat_ping_responses_in, 1);
  uint16_t sorted[NX];
  memcpy(sorted, sym_ports, sizeof sorted);
  for (int i = 1; i < NX; i++)
    for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
      uint16_t t = sorted[j];
      sorted[j] = sorted[j - 1];
      sorted[j - 1] = t;
    }
  size_t guess = 0;
  uint64_t punch_id = 0;
  for (int round = 0; round < SPEC_ROUNDS_BEFORE_LOW_PORTS + 2; round++) {
    size_t r0 = w->n;
    /* The round runs now (the first) or within the next 3 s. */
    tw_time_ms until = round == 0 ? w->now : w->now + SPEC_NAT_PING_INTERVAL_MS;
    run_to(w, until);
    uint16_t ports[2 * SPEC_PINGS_PER_ROUND + 1];
    uint64_t id = 0;
    size_t n = pings_to_f(w, r0, ports, sizeof ports / sizeof ports[0], &id);
    bool low = round >= SPEC_ROUNDS_BEFORE_LOW_PORTS;
    assert_int_equal(n, low ? 2 * SPEC_PINGS_PER_ROUND : SPEC_PINGS_PER_ROUND);
    for (size_t i = 0; i < SPEC_PINGS_PER_ROUND; i++)
      assert_int_equal(ports[i], spec_guess(sorted, NX, guess++));
    for (size_t i = 0; low && i < SPEC_PINGS_PER_ROUND; i++)
      assert_int_equal(
          ports[SPEC_PINGS_PER_ROUND + i],
          SPEC_LOW_PORT + (round - SPEC_ROUNDS_BEFORE_LOW_PORTS) * SPEC_PINGS_PER_ROUND + i);
    if (punch_id == 0) punch_id = id;
    assert_true(id == punch_id);
    f_answers_nat_ping(w); /* keeps punching going */
  }
  tw_dht_stats st = stats(w);
  assert_int_equal(st.punch_rounds, SPEC_ROUNDS_BEFORE_LOW_PORTS + 2);
  assert_int_equal(st.punch_pings_out, (SPEC_ROUNDS_BEFORE_LOW_PORTS + 4) * SPEC_PINGS_PER_ROUND);
  assert_int_equal(st.searches_punching, 1);
}

static void test_cone_nat_gets_one_ping_a_round_to_the_address_agreed_on(void **state) {
  (void)state;
  world *w = world_new(true);
  all_report_cone(w, 40001);
  run_to(w, w->now);
  f_answers_nat_ping(w);
  for (int round = 0; round < SPEC_ROUNDS_BEFORE_LOW_PORTS + 2; round++) {
    size_t r0 = w->n;
    run_to(w, round == 0 ? w->now : w->now + SPEC_NAT_PING_INTERVAL_MS);
    uint16_t ports[4];
    assert_int_equal(pings_to_f(w, r0, ports, 4, NULL), 1);
    assert_int_equal(ports[0], 40001);
    f_answers_nat_ping(w);
  }
}

static void test_punching_stops_six_seconds_after_the_last_nat_ping_response(void **state) {
  (void)state;
  world *w = world_new(true);
  all_report_symmetric(w);
  size_t since = w->n;
  run_to(w, w->now);
  f_answers_nat_ping(w);
  tw_time_ms answered = w->now;
  since = w->n;
  run_to(w, answered + 30000);
  tw_time_ms last = 0;
  for (size_t i = since; i < w->n; i++)
    if (w->log[i].data[0] == TW_PACKET_PING_REQUEST && same_ip(&w->log[i].to, &w->faddr))
      last = w->log[i].at;
  assert_true(last >= answered + SPEC_PUNCH_TIMEOUT_MS - SPEC_NAT_PING_INTERVAL_MS);
  assert_true(last <= answered + SPEC_PUNCH_TIMEOUT_MS);
  tw_dht_stats st = stats(w);
  assert_true(st.punch_rounds >= 3 && st.punch_rounds <= 4);
  assert_int_equal(st.searches_punching, 0);
  /* The NAT pings go on; the next answer starts punching again, from the
   * first guess. */
  assert_true(nat_pings_to_f(w, since).count >= 8 * VIA_MAX);
  size_t r0 = w->n;
  f_answers_nat_ping(w);
  run_to(w, w->now);
  uint16_t ports[SPEC_PINGS_PER_ROUND];
  assert_int_equal(pings_to_f(w, r0, ports, SPEC_PINGS_PER_ROUND, NULL), SPEC_PINGS_PER_ROUND);
  assert_int_equal(ports[0], 20001);
}

static void test_an_answer_to_a_punching_ping_finds_the_friend_and_punching_ends(void **state) {
  (void)state;
  world *w = world_new(true);
  all_report_symmetric(w);
  size_t since = w->n;
  run_to(w, w->now);
  f_answers_nat_ping(w);
  size_t r0 = w->n;
  run_to(w, w->now);
  uint16_t ports[SPEC_PINGS_PER_ROUND];
  uint64_t id = 0;
  assert_int_equal(pings_to_f(w, r0, ports, SPEC_PINGS_PER_ROUND, &id), SPEC_PINGS_PER_ROUND);
  /* F's NAT lets the 12th guess through; F answers from there. A wrong id
   * first: ignored. */
  tw_addr hit = f_at(w, ports[11]);
  tw_ping_payload p = {.flag = TW_PING_FLAG_RESPONSE, .id = id ^ 2};
  uint8_t plain[TW_PING_PLAIN_SIZE], pkt[TW_PING_PACKET_SIZE];
  tw_ping_payload_encode(plain, &p);
  size_t n =
      seal(w, &w->fk, &w->ak.pk, TW_PACKET_PING_RESPONSE, plain, sizeof plain, pkt, sizeof pkt);
  assert_int_equal(tw_dht_handle_packet(w->a, &hit, pkt, n, w->now), TW_E_UNSOLICITED);
  assert_int_equal(w->found_calls, 0);
  p.id = id;
  tw_ping_payload_encode(plain, &p);
  n = seal(w, &w->fk, &w->ak.pk, TW_PACKET_PING_RESPONSE, plain, sizeof plain, pkt, sizeof pkt);
  assert_int_equal(tw_dht_handle_packet(w->a, &hit, pkt, n, w->now), TW_OK);
  assert_int_equal(w->found_calls, 1);
  assert_true(tw_addr_equal(&w->found_addr, &hit));
  tw_node_info found, near[1];
  tw_dht_search_result(w->a, &w->fk.pk, near, 0, &found, w->now);
  assert_true(tw_addr_equal(&found.addr, &hit));
  tw_dht_stats st = stats(w);
  assert_int_equal(st.punch_successes, 1);
  assert_int_equal(st.searches_punching, 0);
  /* Nothing more: no NAT pings, no punching, no guesses. */
  since = w->n;
  run_to(w, w->now + 60000);
  assert_int_equal(nat_pings_to_f(w, since).count, 0);
  size_t to_f = 0;
  for (size_t i = since; i < w->n; i++)
    to_f += same_ip(&w->log[i].to, &w->faddr) && !tw_addr_equal(&w->log[i].to, &hit);
  assert_int_equal(to_f, 0);
}

static void test_hole_punching_off_sends_and_answers_no_nat_pings(void **state) {
  (void)state;
  world *w = world_new(false);
  size_t before = w->n;
  all_report_symmetric(w);
  assert_int_equal(pings_to_f(w, before, NULL, 0, NULL), 0); /* only the DHT's own check */
  size_t since = w->n;
  assert_int_equal(nat_ping_to_a(w, &w->fk, 0, TW_NAT_PING_REQUEST, 0x77), TW_E_DISABLED);
  run_to(w, w->now + 60000);
  assert_int_equal(nat_pings_to_f(w, since).count, 0);
  tw_dht_stats st = stats(w);
  assert_int_equal(st.nat_ping_requests_out + st.nat_ping_requests_answered + st.punch_rounds, 0);
}

int main(void) {
  if (tw_crypto_init() != TW_OK) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_port_guessing_follows_the_spec_example),
      cmocka_unit_test(test_port_guessing_skips_ports_outside_the_range),
      cmocka_unit_test_teardown(test_nat_ping_request_from_a_key_we_do_not_search_is_dropped,
                                teardown),
      cmocka_unit_test_teardown(test_nat_ping_request_with_no_node_that_knows_the_friend_is_dropped,
                                teardown),
      cmocka_unit_test_teardown(
          test_nat_ping_request_is_answered_through_the_nodes_that_know_the_friend, teardown),
      cmocka_unit_test_teardown(
          test_nat_pings_start_after_four_unanswered_tries_every_three_seconds, teardown),
      cmocka_unit_test_teardown(
          test_no_nat_pings_until_four_nodes_or_more_than_half_know_the_friend, teardown),
      cmocka_unit_test_teardown(
          test_nat_pings_start_when_more_than_half_of_a_short_list_knows_the_friend, teardown),
      cmocka_unit_test_teardown(test_nat_ping_response_with_an_unknown_number_is_ignored, teardown),
      cmocka_unit_test_teardown(test_nat_ping_response_starts_port_guessing_then_ports_from_1024,
                                teardown),
      cmocka_unit_test_teardown(test_cone_nat_gets_one_ping_a_round_to_the_address_agreed_on,
                                teardown),
      cmocka_unit_test_teardown(test_punching_stops_six_seconds_after_the_last_nat_ping_response,
                                teardown),
      cmocka_unit_test_teardown(
          test_an_answer_to_a_punching_ping_finds_the_friend_and_punching_ends, teardown),
      cmocka_unit_test_teardown(test_hole_punching_off_sends_and_answers_no_nat_pings, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
