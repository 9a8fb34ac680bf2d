/* Fuzzes net_crypto with a live session (spec "Net crypto").
 *
 * Each input gets two fresh tw_nc, A (the target) and B (its friend), with
 * fixed keys and a fixed random seed, connected through a small in-harness
 * queue until both are ESTABLISHED. The input is then read as a sequence of
 * operations, one code byte each:
 *   0 [u16 len][bytes]   a datagram to A from B's address
 *   1 [u16 len][bytes]   a datagram to A from a stranger's address
 *   2 [u16 len][plain]   plain part sealed as B's next data packet (B's
 *                        session key and next nonce), to A from B
 *   3 [flags][u16 bs][u16 num][u16 len][data]  a plain part built by the
 *                        harness: buffer_start = A's send start + bs and
 *                        number = A's receive start + num (raw values with
 *                        flags bit 0), (flags >> 4) padding bytes, then
 *                        data; sealed as in 2. Reaches packet requests,
 *                        kill, lossless numbering, lossy, padding.
 *   4 [u16 skip][u16 len][plain]  as 2, B's nonce moved on by skip first
 *   5 [t]                time passes (t ms, or (t - 200) s past 200); due
 *                        timers run
 *   6 [mask]             up to 8 queued datagrams delivered (bit set: lost)
 *   7 [id][u16 len][data] A sends lossless (id even) or lossy (odd)
 *   8 [id][u16 len][data] B sends, likewise (queued for A)
 *   9 [idx][u16 pos][xor] a queued datagram for A, one byte changed, delivered
 *  10 [idx]              one of the last datagrams A took, again
 *  11 [u16 pos][xor]     B's handshake to A (late copy), a byte changed if xor
 *  12 [what]             A's embedder: kill, reconnect, set B's address
 *                        again, a new DHT key for B, or B kills
 * Invariants: every verdict is TW_OK or a known TW_E_*; the drop counters
 * add up; the state is one of five, the connection stays until removed;
 * in-flight, held, ring sizes and the window stay within
 * TW_NC_BUFFER_PACKETS; nothing sent exceeds 1400 bytes; lossless events
 * come numbered one after the other, with ids of their range, lossy ones
 * with lossy ids; a packet B sealed for a session both share, within 2^16
 * nonces of A's saved base, always opens; after on_timer the next deadline
 * is in the future.
 *
 * TW_FUZZ_WRITE_SEEDS=DIR: write hand-made seeds for corpus/nc_packet to
 * DIR and exit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/crypto.h"
#include "core/packet_kind.h"
#include "fuzz_common.h"
#include "netcrypto/nc_internal.h"
#include "netcrypto/nc_wire.h"
#include "toxwire/error.h"
#include "toxwire/netcrypto.h"

#define T0 ((tw_time_ms)7000000)
#define SPEC_MAX 1400
#define QMAX 64
#define RECENT 8
#define MAX_OPS 4096

enum { OP_RAW_PEER, OP_RAW_STRANGER, OP_PLAIN, OP_PLAIN_BUILT, OP_PLAIN_SKIP, OP_TICK, OP_PUMP,
       OP_SEND_A, OP_SEND_B, OP_MUTATE, OP_REPLAY, OP_HANDSHAKE, OP_API, OP_COUNT };

typedef struct dgram {
  int to; /* 0: A, 1: B */
  tw_addr src;
  uint8_t data[SPEC_MAX];
  size_t len;
} dgram;

typedef struct side {
  tw_nc *nc;
  uint32_t conn;
  fuzz_rng rng;
  uint32_t next_pn; /* next lossless number expected this session */
  bool pn_known;
} side;

typedef struct world {
  side s[2];
  tw_time_ms now;
  dgram q[QMAX];
  int nq;
  dgram recent[RECENT]; /* what A took last */
  int nrecent;
  uint64_t events[8]; /* A's, by kind (TW_FUZZ_VERBOSE) */
} world;

static world g_w;
static tw_keypair g_self[2], g_dht[2], g_dht_alt;
static tw_addr g_addr[2], g_stranger;

static void init_once(void) {
  static int done;
  if (done) return;
  done = 1;
  if (tw_crypto_init() != TW_OK) abort();
  fuzz_rng r = {0x6e63};
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &r};
  for (int i = 0; i < 2; i++) {
    tw_keypair_generate(&g_self[i], &env);
    tw_keypair_generate(&g_dht[i], &env);
  }
  tw_keypair_generate(&g_dht_alt, &env);
  memset(&g_addr, 0, sizeof g_addr);
  for (int i = 0; i < 2; i++) {
    g_addr[i].family = TW_AF_INET;
    g_addr[i].ip[0] = 10;
    g_addr[i].ip[3] = (uint8_t)(i + 1);
    g_addr[i].port = (uint16_t)(33445 + i);
  }
  g_stranger = g_addr[0];
  g_stranger.ip[3] = 99;
}

static void on_send(void *ctx, const tw_addr *to, const uint8_t *pkt, size_t len) {
  int from = (int)(intptr_t)ctx;
  FUZZ_CHECK(to != NULL && tw_addr_is_set(to));
  FUZZ_CHECK(len > 0 && len <= SPEC_MAX);
  FUZZ_CHECK(tw_nc_handles_kind(pkt[0]));
  int dest = tw_addr_equal(to, &g_addr[0]) ? 0 : tw_addr_equal(to, &g_addr[1]) ? 1 : -1;
  if (dest < 0 || dest == from || g_w.nq == QMAX) return; /* lost */
  dgram *d = &g_w.q[g_w.nq++];
  d->to = dest;
  d->src = g_addr[from];
  memcpy(d->data, pkt, len);
  d->len = len;
}

static void on_event(void *ctx, const tw_nc_event *ev) {
  side *s = &g_w.s[(int)(intptr_t)ctx];
  FUZZ_CHECK(ev->conn == s->conn && ev->peer != NULL);
  if (s == &g_w.s[0] && (unsigned)ev->kind < 8) g_w.events[ev->kind]++;
  switch (ev->kind) {
  case TW_NC_EV_STATE:
    FUZZ_CHECK(ev->state != ev->old_state);
    FUZZ_CHECK(ev->state <= TW_NC_ESTABLISHED && ev->old_state <= TW_NC_ESTABLISHED);
    if (ev->state == TW_NC_IDLE)
      FUZZ_CHECK(ev->reason <= 0 && ev->reason > TW_E__LAST);
    if (ev->state == TW_NC_ESTABLISHED) FUZZ_CHECK(ev->old_state == TW_NC_NOT_CONFIRMED);
    if (ev->state == TW_NC_NOT_CONFIRMED || ev->state == TW_NC_IDLE) s->pn_known = false;
    break;
  case TW_NC_EV_LOSSLESS:
    FUZZ_CHECK(ev->data != NULL && ev->len >= 1 && ev->len <= TW_NC_MAX_DATA_SIZE);
    FUZZ_CHECK(ev->data[0] >= TW_NC_ID_FIRST_USER);
    FUZZ_CHECK(ev->data[0] < TW_NC_ID_FIRST_LOSSY || ev->data[0] > TW_NC_ID_LAST_LOSSY);
    /* One after the other, none twice, none skipped. */
    if (s->pn_known) FUZZ_CHECK(ev->packet_number == s->next_pn);
    s->next_pn = ev->packet_number + 1;
    s->pn_known = true;
    { volatile uint8_t last = ev->data[ev->len - 1]; (void)last; }
    break;
  case TW_NC_EV_LOSSY:
    FUZZ_CHECK(ev->data != NULL && ev->len >= 1 && ev->len <= TW_NC_MAX_DATA_SIZE);
    FUZZ_CHECK(ev->data[0] >= TW_NC_ID_FIRST_LOSSY && ev->data[0] <= TW_NC_ID_LAST_LOSSY);
    { volatile uint8_t last = ev->data[ev->len - 1]; (void)last; }
    break;
  case TW_NC_EV_ACKED:
  case TW_NC_EV_DHT_KEY:
  case TW_NC_EV_ADDR:
    break;
  default:
    FUZZ_CHECK(!"unknown event kind");
  }
}

static nc_conn *conn_of(int i) {
  side *s = &g_w.s[i];
  if (s->conn >= s->nc->conn_cap || !s->nc->conns[s->conn].used) return NULL;
  return &s->nc->conns[s->conn];
}

static void check_ring(const nc_ring *r) {
  FUZZ_CHECK(r->end - r->start <= TW_NC_BUFFER_PACKETS);
  FUZZ_CHECK(r->cap <= TW_NC_BUFFER_PACKETS);
  FUZZ_CHECK((r->cap & (r->cap - 1)) == 0);
  if (r->end != r->start) FUZZ_CHECK(r->end - r->start <= r->cap);
}

static void check(int i) {
  side *s = &g_w.s[i];
  tw_nc_stats st;
  tw_nc_get_stats(s->nc, &st);
  uint64_t sum = 0;
  for (int k = 0; k < TW_ERROR_COUNT; k++) sum += st.dropped[k];
  FUZZ_CHECK(st.dropped[0] == 0);
  FUZZ_CHECK(sum == st.dropped_total);
  FUZZ_CHECK(st.connections <= 1);
  FUZZ_CHECK(st.established <= st.connections);
  FUZZ_CHECK(s->nc->pool_count <= 4096);
  nc_conn *c = conn_of(i);
  if (c == NULL) {
    FUZZ_CHECK(st.connections == 0);
    return;
  }
  FUZZ_CHECK(st.connections == 1);
  FUZZ_CHECK(st.established == (c->state == TW_NC_ESTABLISHED));
  tw_nc_conn_stats cs;
  FUZZ_CHECK(tw_nc_conn_get_stats(s->nc, s->conn, &cs) == TW_OK);
  FUZZ_CHECK(cs.state <= TW_NC_ESTABLISHED);
  FUZZ_CHECK(cs.in_flight <= TW_NC_BUFFER_PACKETS);
  FUZZ_CHECK(cs.recv_held <= TW_NC_BUFFER_PACKETS);
  FUZZ_CHECK(cs.window >= TW_NC_MIN_WINDOW && cs.window <= TW_NC_BUFFER_PACKETS);
  FUZZ_CHECK(tw_nc_conn_send_space(s->nc, s->conn) <= TW_NC_BUFFER_PACKETS);
  check_ring(&c->send);
  check_ring(&c->recv);
  uint32_t queued = c->send.end - c->send.start;
  FUZZ_CHECK(c->next_new - c->send.start <= queued);
  FUZZ_CHECK(c->in_flight <= c->next_new - c->send.start);
  FUZZ_CHECK(c->resend_pending <= queued);
  if (c->state != TW_NC_ESTABLISHED && c->state != TW_NC_NOT_CONFIRMED) {
    FUZZ_CHECK(queued == 0);
    FUZZ_CHECK(c->recv.end == c->recv.start);
  }
}

static void check_all(void) {
  check(0);
  check(1);
}

static int handle(int to, const tw_addr *src, const uint8_t *pkt, size_t len) {
  if (to == 0 && len <= SPEC_MAX) {
    dgram *r = &g_w.recent[g_w.nrecent++ % RECENT];
    r->to = 0;
    r->src = *src;
    memcpy(r->data, pkt, len);
    r->len = len;
  }
  int rc = tw_nc_handle_packet(g_w.s[to].nc, src, pkt, len, g_w.now);
  FUZZ_CHECK(fuzz_known_error(rc));
  check_all();
  return rc;
}

static void timers(void) {
  for (int i = 0; i < 2; i++) {
    tw_nc *nc = g_w.s[i].nc;
    if (tw_nc_next_deadline(nc) <= g_w.now) {
      tw_nc_on_timer(nc, g_w.now);
      FUZZ_CHECK(tw_nc_next_deadline(nc) > g_w.now);
    }
  }
  check_all();
}

/* Delivers up to max queued datagrams, oldest first; bit k of lose drops
 * the k-th. */
static void pump(int max, uint32_t lose) {
  for (int k = 0; k < max && g_w.nq > 0; k++) {
    dgram d = g_w.q[0];
    memmove(&g_w.q[0], &g_w.q[1], (size_t)(g_w.nq - 1) * sizeof g_w.q[0]);
    g_w.nq--;
    if (lose & (1u << (k & 31))) continue;
    handle(d.to, &d.src, d.data, d.len);
  }
}

static bool both_established(void) {
  return tw_nc_conn_state(g_w.s[0].nc, g_w.s[0].conn) == TW_NC_ESTABLISHED &&
         tw_nc_conn_state(g_w.s[1].nc, g_w.s[1].conn) == TW_NC_ESTABLISHED;
}

static void setup(void) {
  memset(&g_w, 0, sizeof g_w);
  g_w.now = T0;
  for (int i = 0; i < 2; i++) {
    side *s = &g_w.s[i];
    s->rng.state = 0x1b00u + (uint64_t)i;
    tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &s->rng};
    env.log = (tw_logger){.fn = fuzz_discard_log, .level = TW_LOG_TRACE};
    tw_nc_config cfg = {.self_keys = g_self[i], .dht_keys = g_dht[i], .send = on_send,
                        .send_ctx = (void *)(intptr_t)i, .on_event = on_event,
                        .event_ctx = (void *)(intptr_t)i};
    s->nc = tw_nc_new(&cfg, &env, g_w.now);
    if (s->nc == NULL) abort();
    FUZZ_CHECK(tw_nc_conn_add(s->nc, &g_self[1 - i].pk, &s->conn) == TW_OK);
  }
  FUZZ_CHECK(tw_nc_conn_set_dht_key(g_w.s[0].nc, g_w.s[0].conn, &g_dht[1].pk, g_w.now) == TW_OK);
  FUZZ_CHECK(tw_nc_conn_set_addr(g_w.s[0].nc, g_w.s[0].conn, &g_addr[1], g_w.now) == TW_OK);
  for (int k = 0; k < 16 && !both_established(); k++) {
    g_w.now += 5;
    pump(QMAX, 0);
  }
  FUZZ_CHECK(both_established());
  g_w.nrecent = 0;
  check_all();
}

static void teardown(void) {
  tw_nc_free(g_w.s[0].nc);
  tw_nc_free(g_w.s[1].nc);
  g_w.s[0].nc = g_w.s[1].nc = NULL;
}

/* ---- reading the input ---- */

/* a - b over 24-byte big-endian numbers, UINT64_MAX unless 0 <= a - b < 2^64. */
static uint64_t nonce_minus(const uint8_t *a, const uint8_t *b) {
  uint8_t d[TW_NONCE_SIZE];
  int borrow = 0;
  for (int i = TW_NONCE_SIZE - 1; i >= 0; i--) {
    int v = a[i] - b[i] - borrow;
    borrow = v < 0;
    d[i] = (uint8_t)(borrow ? v + 256 : v);
  }
  if (borrow) return UINT64_MAX;
  for (int i = 0; i < TW_NONCE_SIZE - 8; i++)
    if (d[i]) return UINT64_MAX;
  uint64_t x = 0;
  for (int i = TW_NONCE_SIZE - 8; i < TW_NONCE_SIZE; i++) x = x << 8 | d[i];
  return x;
}

/* Seals plain as B's next data packet to A and delivers it. */
static void deliver_sealed(const uint8_t *plain, size_t len, uint32_t skip) {
  nc_conn *b = conn_of(1), *a = conn_of(0);
  if (b == NULL) return;
  tw_nc_nonce_add(b->send_nonce, skip);
  uint8_t pkt[SPEC_MAX];
  int n = tw_nc_data_seal(pkt, sizeof pkt, plain, len, b->send_nonce, b->session_shared);
  if (n < 0) return;
  /* Is this one A must be able to open? */
  bool must_open = a != NULL && a->state == TW_NC_ESTABLISHED &&
                   b->state == TW_NC_ESTABLISHED &&
                   tw_crypto_equal(a->session_shared, b->session_shared, TW_SHARED_KEY_SIZE) &&
                   tw_addr_equal(&a->addr, &g_addr[1]) &&
                   nonce_minus(b->send_nonce, a->recv_nonce) < 0x10000;
  tw_nc_nonce_add(b->send_nonce, 1);
  int rc = handle(0, &g_addr[1], pkt, (size_t)n);
  if (must_open) FUZZ_CHECK(rc != TW_E_CRYPTO);
}

static void op_plain_built(fuzz_rd *r) {
  uint8_t flags = fuzz_get8(r);
  uint16_t bs = fuzz_get16(r), num = fuzz_get16(r);
  size_t len = fuzz_get16(r) % (TW_NC_MAX_DATA_SIZE + 1);
  const uint8_t *data = fuzz_getn(r, &len);
  nc_conn *a = conn_of(0);
  uint32_t buffer_start = bs, number = num;
  if (!(flags & 1) && a != NULL) {
    buffer_start = a->send.start + (flags & 2 ? (uint32_t)(int16_t)bs : bs);
    number = a->recv.start + (flags & 4 ? (uint32_t)(int16_t)num : num);
  }
  size_t pad = flags >> 4;
  uint8_t plain[TW_NC_MAX_PLAIN_SIZE];
  int pl = tw_nc_plain_write(plain, sizeof plain, buffer_start, number, pad, data, len);
  if (pl < 0) return;
  deliver_sealed(plain, (size_t)pl, 0);
}

static void op_send(fuzz_rd *r, int i) {
  uint8_t id = fuzz_get8(r);
  size_t len = fuzz_get16(r) % (TW_NC_MAX_DATA_SIZE + 2);
  uint8_t buf[TW_NC_MAX_DATA_SIZE + 2];
  size_t got = len ? len - 1 : 0;
  const uint8_t *p = fuzz_getn(r, &got);
  memcpy(buf + 1, p, got);
  memset(buf + 1 + got, 0x5a, len ? len - 1 - got : 0);
  side *s = &g_w.s[i];
  int rc;
  if (id & 1) {
    buf[0] = (uint8_t)(TW_NC_ID_FIRST_LOSSY +
                       (id >> 1) % (TW_NC_ID_LAST_LOSSY - TW_NC_ID_FIRST_LOSSY + 1));
    if (id & 0x80) buf[0] = id; /* sometimes any id */
    rc = tw_nc_send_lossy(s->nc, s->conn, buf, len, g_w.now);
  } else {
    buf[0] = (uint8_t)(TW_NC_ID_FIRST_USER + (id >> 1) % (256 - TW_NC_ID_FIRST_USER));
    if (buf[0] >= TW_NC_ID_FIRST_LOSSY && buf[0] <= TW_NC_ID_LAST_LOSSY) buf[0] = 255;
    if (id & 0x80) buf[0] = id;
    uint32_t number;
    rc = tw_nc_send_lossless(s->nc, s->conn, buf, len, &number, g_w.now);
    if (rc == TW_OK) FUZZ_CHECK(!tw_nc_conn_delivered(s->nc, s->conn, number));
  }
  FUZZ_CHECK(fuzz_known_error(rc));
  check_all();
}

static void op_api(fuzz_rd *r) {
  uint8_t what = fuzz_get8(r);
  side *a = &g_w.s[0], *b = &g_w.s[1];
  switch (what % 6) {
  case 0: FUZZ_CHECK(tw_nc_conn_kill(a->nc, a->conn, g_w.now) == TW_OK); break;
  case 1: FUZZ_CHECK(tw_nc_conn_kill(b->nc, b->conn, g_w.now) == TW_OK); break;
  case 2: /* A tries again (a no-op while a session is live) */
    FUZZ_CHECK(tw_nc_conn_set_addr(a->nc, a->conn, &g_addr[1], g_w.now) == TW_OK);
    break;
  case 3: /* B tries too */
    FUZZ_CHECK(tw_nc_conn_set_dht_key(b->nc, b->conn, &g_dht[0].pk, g_w.now) == TW_OK);
    FUZZ_CHECK(tw_nc_conn_set_addr(b->nc, b->conn, &g_addr[0], g_w.now) == TW_OK);
    break;
  case 4: /* A hears of another DHT key for B: the session ends */
    FUZZ_CHECK(tw_nc_conn_set_dht_key(a->nc, a->conn, what & 0x80 ? &g_dht_alt.pk : &g_dht[1].pk,
                                      g_w.now) == TW_OK);
    break;
  case 5: /* A's address for B changes under a handshake */
    FUZZ_CHECK(tw_nc_conn_set_addr(a->nc, a->conn, what & 0x80 ? &g_stranger : &g_addr[1],
                                   g_w.now) == TW_OK);
    break;
  }
  check_all();
}

static void run(const uint8_t *data, size_t size) {
  fuzz_rd r = {data, size, 0};
  for (int ops = 0; r.pos < r.n && ops < MAX_OPS; ops++) {
    uint8_t code = fuzz_get8(&r) % OP_COUNT;
    switch (code) {
    case OP_RAW_PEER:
    case OP_RAW_STRANGER: {
      size_t len = fuzz_get16(&r);
      const uint8_t *p = fuzz_getn(&r, &len);
      /* A copy of its own, so reads past the end are caught. */
      uint8_t *copy = malloc(len ? len : 1);
      if (copy == NULL) abort();
      memcpy(copy, p, len);
      handle(0, code == OP_RAW_PEER ? &g_addr[1] : &g_stranger, copy, len);
      free(copy);
      break;
    }
    case OP_PLAIN:
    case OP_PLAIN_SKIP: {
      uint32_t skip = code == OP_PLAIN_SKIP ? fuzz_get16(&r) : 0;
      size_t len = fuzz_get16(&r) % (TW_NC_MAX_PLAIN_SIZE + 1);
      const uint8_t *p = fuzz_getn(&r, &len);
      deliver_sealed(p, len, skip);
      break;
    }
    case OP_PLAIN_BUILT: op_plain_built(&r); break;
    case OP_TICK: {
      uint8_t t = fuzz_get8(&r);
      g_w.now += t < 200 ? t : (tw_time_ms)(t - 200) * 1000;
      timers();
      break;
    }
    case OP_PUMP: pump(8, fuzz_get8(&r)); break;
    case OP_SEND_A: op_send(&r, 0); break;
    case OP_SEND_B: op_send(&r, 1); break;
    case OP_MUTATE: {
      uint8_t idx = fuzz_get8(&r);
      uint16_t pos = fuzz_get16(&r);
      uint8_t x = fuzz_get8(&r);
      int seen = 0;
      for (int k = 0; k < g_w.nq; k++) {
        if (g_w.q[k].to != 0 || seen++ != idx % 8) continue;
        dgram d = g_w.q[k];
        d.data[pos % d.len] ^= x ? x : 1;
        handle(0, &d.src, d.data, d.len);
        break;
      }
      break;
    }
    case OP_REPLAY: {
      uint8_t idx = fuzz_get8(&r);
      int have = g_w.nrecent < RECENT ? g_w.nrecent : RECENT;
      if (have == 0) break;
      dgram d = g_w.recent[idx % have];
      handle(0, &d.src, d.data, d.len);
      break;
    }
    case OP_HANDSHAKE: {
      uint16_t pos = fuzz_get16(&r);
      uint8_t x = fuzz_get8(&r);
      nc_conn *b = conn_of(1);
      if (b == NULL || !b->handshake_built) break;
      uint8_t hs[TW_NC_HANDSHAKE_SIZE];
      memcpy(hs, b->handshake, sizeof hs);
      hs[pos % sizeof hs] ^= x;
      handle(0, &g_addr[1], hs, sizeof hs);
      break;
    }
    case OP_API: op_api(&r); break;
    }
  }
  /* Let it settle: everything due happens, the queue drains. */
  for (int k = 0; k < 4; k++) {
    pump(QMAX, 0);
    g_w.now += 1000;
    timers();
  }
}

static void report(void) {
  static int verbose = -1;
  if (verbose < 0) verbose = getenv("TW_FUZZ_VERBOSE") != NULL;
  if (!verbose) return;
  tw_nc_stats st;
  tw_nc_get_stats(g_w.s[0].nc, &st);
  tw_nc_conn_stats cs;
  tw_nc_conn_get_stats(g_w.s[0].nc, g_w.s[0].conn, &cs);
  fprintf(stderr, "A %s: data in %llu out %llu, events state %llu lossless %llu lossy %llu "
                  "acked %llu; requests in %llu, resent %llu; drops:",
          tw_nc_state_name(cs.state), (unsigned long long)st.data_in,
          (unsigned long long)st.data_out, (unsigned long long)g_w.events[TW_NC_EV_STATE],
          (unsigned long long)g_w.events[TW_NC_EV_LOSSLESS],
          (unsigned long long)g_w.events[TW_NC_EV_LOSSY],
          (unsigned long long)g_w.events[TW_NC_EV_ACKED],
          (unsigned long long)cs.requests_received, (unsigned long long)cs.packets_resent);
  for (int k = 1; k < TW_ERROR_COUNT; k++)
    if (st.dropped[k])
      fprintf(stderr, " %s %llu", tw_strerror(-k), (unsigned long long)st.dropped[k]);
  fprintf(stderr, "\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_once();
  setup();
  run(data, size);
  report();
  teardown();
  return 0;
}

/* ---- seeds ---- */


/* OP_PLAIN_BUILT relative to A's state, no padding. */
static void built(fuzz_wr *w, uint8_t flags, uint16_t bs, uint16_t num, const void *data, size_t n) {
  fuzz_put8(w, OP_PLAIN_BUILT);
  fuzz_put8(w, flags);
  fuzz_put16(w, bs);
  fuzz_put16(w, num);
  fuzz_put16(w, (uint16_t)n);
  fuzz_putn(w, data, n);
}

static void tick(fuzz_wr *w, uint8_t t) {
  fuzz_put8(w, OP_TICK);
  fuzz_put8(w, t);
}

static void pump_op(fuzz_wr *w, uint8_t lose) {
  fuzz_put8(w, OP_PUMP);
  fuzz_put8(w, lose);
}

static void send_op(fuzz_wr *w, int side, uint8_t id, const char *text) {
  fuzz_put8(w, side == 0 ? OP_SEND_A : OP_SEND_B);
  fuzz_put8(w, id);
  size_t n = strlen(text);
  fuzz_put16(w, (uint16_t)(n + 1));
  fuzz_putn(w, text, n);
}


static void write_seeds(const char *dir) {
  init_once();
  mkdir(dir, 0755);
  fuzz_wr w = {.n = 0};

  /* Lossless in order (each at A's next number), then out of order by
   * absolute numbers (flags bit 0), with a repeat. */
  for (uint16_t k = 0; k < 3; k++) built(&w, 0, 0, 0, "\x20hello", 6);
  tick(&w, 10);
  fuzz_seed(dir, "lossless-in-order", &w);
  built(&w, 1, 0, 2, "\x21two", 4);
  built(&w, 1, 0, 0, "\x21zero", 5);
  built(&w, 1, 0, 2, "\x21two", 4);
  built(&w, 1, 0, 1, "\x21one", 4);
  tick(&w, 1);
  pump_op(&w, 0);
  fuzz_seed(dir, "lossless-reordered", &w);

  /* A hole held, asked for, then filled: a packet request goes out. */
  built(&w, 0, 0, 5, "\x30later", 6);
  tick(&w, 50);
  pump_op(&w, 0);
  built(&w, 0x34, 0, 0, "\x30padded", 7);
  fuzz_seed(dir, "lossless-hole-padding", &w);

  /* A sends five; B's request names 1 and 3; then acknowledges all. */
  for (int k = 0; k < 5; k++) send_op(&w, 0, 0x20, "data");
  tick(&w, 100);
  const uint8_t req[] = {TW_NC_ID_PACKET_REQUEST, 2, 2};
  built(&w, 0, 0, 0, req, sizeof req);
  tick(&w, 5);
  built(&w, 0, 5, 0, "\x40" "ack", 4);
  pump_op(&w, 0);
  fuzz_seed(dir, "packet-request", &w);

  /* Requests with 255-steps and trailing zeros; one past what was sent. */
  send_op(&w, 0, 0x22, "x");
  const uint8_t req2[] = {TW_NC_ID_PACKET_REQUEST, 0, 0, 3, 1, 0, 0};
  built(&w, 0, 0, 0, req2, sizeof req2);
  const uint8_t req3[] = {TW_NC_ID_PACKET_REQUEST, 1, 1, 1, 1, 1, 1, 1, 1};
  built(&w, 2, 0xffff, 0, req3, sizeof req3);
  fuzz_seed(dir, "packet-request-far", &w);

  /* Kill, then both try again. */
  const uint8_t kill[] = {TW_NC_ID_KILL};
  built(&w, 0, 0, 0, kill, 1);
  fuzz_put8(&w, OP_API);
  fuzz_put8(&w, 1);
  fuzz_put8(&w, OP_API);
  fuzz_put8(&w, 2);
  for (int k = 0; k < 6; k++) {
    tick(&w, 5);
    pump_op(&w, 0);
  }
  fuzz_seed(dir, "kill-reconnect", &w);

  /* Lossy: in range, far ahead (a hole the size of the buffer). */
  built(&w, 0, 0, 0, "\xc0lossy", 6);
  built(&w, 0, 0, 0x7fff, "\xfe" "ahead", 6);
  built(&w, 0, 0, 0x8000, "\xfe" "beyond", 7);
  tick(&w, 20);
  fuzz_seed(dir, "lossy", &w);

  /* Raw plain parts: too short, only padding, reserved ids. */
  fuzz_put8(&w, OP_PLAIN);
  fuzz_put16(&w, 9);
  fuzz_putn(&w, "\0\0\0\0\0\0\0\0\x03", 9);
  fuzz_put8(&w, OP_PLAIN);
  fuzz_put16(&w, 12);
  fuzz_putn(&w, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
  fuzz_put8(&w, OP_PLAIN);
  fuzz_put16(&w, 10);
  fuzz_putn(&w, "\0\0\0\0\0\0\0\x01\x0f!", 10);
  fuzz_seed(dir, "plain-raw", &w);

  /* Nonces: skips that move A's saved base, one beyond reach. */
  for (int k = 0; k < 4; k++) {
    fuzz_put8(&w, OP_PLAIN_SKIP);
    fuzz_put16(&w, 20000);
    fuzz_put16(&w, 10);
    fuzz_putn(&w, "\0\0\0\0\0\0\0\0\xc1x", 10);
  }
  fuzz_put8(&w, OP_PLAIN_SKIP);
  fuzz_put16(&w, 0xffff);
  fuzz_put16(&w, 10);
  fuzz_putn(&w, "\0\0\0\0\0\0\0\0\xc1y", 10);
  fuzz_seed(dir, "nonce-skips", &w);

  /* Both send, some lost, timers resend. */
  for (int k = 0; k < 6; k++) {
    send_op(&w, 0, (uint8_t)(2 * k), "from a");
    send_op(&w, 1, (uint8_t)(2 * k), "from b");
    send_op(&w, 1, (uint8_t)(2 * k + 1), "lossy b");
  }
  pump_op(&w, 0x55);
  tick(&w, 250);
  pump_op(&w, 0);
  tick(&w, 210);
  pump_op(&w, 0x0f);
  fuzz_seed(dir, "exchange-lossy-link", &w);

  /* Changed bytes in B's packets; replays of what A took. */
  send_op(&w, 1, 0x20, "mutate me");
  fuzz_put8(&w, OP_MUTATE);
  fuzz_put8(&w, 0);
  fuzz_put16(&w, 5);
  fuzz_put8(&w, 0x10);
  pump_op(&w, 0);
  fuzz_put8(&w, OP_REPLAY);
  fuzz_put8(&w, 0);
  fuzz_put8(&w, OP_REPLAY);
  fuzz_put8(&w, 1);
  fuzz_seed(dir, "mutate-replay", &w);

  /* Late handshakes: intact, and with a changed byte. */
  fuzz_put8(&w, OP_HANDSHAKE);
  fuzz_put16(&w, 0);
  fuzz_put8(&w, 0);
  fuzz_put8(&w, OP_HANDSHAKE);
  fuzz_put16(&w, 200);
  fuzz_put8(&w, 0x01);
  fuzz_seed(dir, "handshake-late", &w);

  /* Embedder calls: a new DHT key, a changed address, B kills. */
  fuzz_put8(&w, OP_API);
  fuzz_put8(&w, 0x84);
  tick(&w, 10);
  pump_op(&w, 0);
  fuzz_put8(&w, OP_API);
  fuzz_put8(&w, 0x85);
  fuzz_put8(&w, OP_API);
  fuzz_put8(&w, 3);
  for (int k = 0; k < 4; k++) {
    tick(&w, 5);
    pump_op(&w, 0);
  }
  fuzz_put8(&w, OP_API);
  fuzz_put8(&w, 1);
  pump_op(&w, 0);
  fuzz_seed(dir, "api-calls", &w);

  /* Time: key rotations, handshake and cookie timeouts. */
  fuzz_put8(&w, OP_API);
  fuzz_put8(&w, 0);
  fuzz_put8(&w, OP_API);
  fuzz_put8(&w, 2);
  for (int k = 0; k < 12; k++) tick(&w, 201);
  tick(&w, 255);
  fuzz_seed(dir, "timeouts", &w);

  /* Raw datagrams: a stranger's cookie request to A, short and long
   * packets of each kind, from B and from a stranger. */
  {
    uint8_t shared[TW_SHARED_KEY_SIZE], nonce[TW_NONCE_SIZE] = {1, 2, 3};
    tw_shared_key_compute(shared, &g_dht[0].pk, g_dht_alt.sk);
    uint8_t reqp[TW_NC_COOKIE_REQUEST_SIZE];
    tw_nc_cookie_request_encode(reqp, &g_dht_alt.pk, &g_self[1].pk, 42, nonce, shared);
    fuzz_put8(&w, OP_RAW_STRANGER);
    fuzz_put16(&w, sizeof reqp);
    fuzz_putn(&w, reqp, sizeof reqp);
    fuzz_seed(dir, "raw-cookie-request", &w);
  }
  static const uint8_t kinds[] = {0x18, 0x19, 0x1a, 0x1b};
  for (size_t k = 0; k < sizeof kinds; k++) {
    fuzz_put8(&w, OP_RAW_PEER);
    fuzz_put16(&w, 40);
    fuzz_put8(&w, kinds[k]);
    for (int j = 1; j < 40; j++) fuzz_put8(&w, (uint8_t)(j * 13));
    fuzz_put8(&w, OP_RAW_STRANGER);
    fuzz_put16(&w, 3);
    fuzz_put8(&w, kinds[k]);
    fuzz_put16(&w, 0);
  }
  fuzz_seed(dir, "raw-kinds", &w);
}

/* TW_FUZZ_WRITE_SEEDS=DIR writes the hand-made seeds and exits. */
FUZZ_SEED_WRITER(write_seeds)
