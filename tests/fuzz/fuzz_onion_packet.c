/* Fuzzes the onion through tw_node: relay, announce store and client all on.
 *
 * Each input gets a fresh node holding the fixed capture key (so captured
 * c-toxcore onion packets, sealed to it, open), with four good DHT peers
 * (so announce answers carry nodes and the client builds paths), a friend,
 * an announcement already stored (so 0x85 routes), return paths it sealed
 * itself at each layer (so responses get past the return-path box), and
 * announce requests its client sent (so answers to them open). Then:
 *   1. the input as a datagram, from a stranger and from a DHT peer,
 *   2. the input with its first byte set to each onion kind,
 *   3. the input read as [mode][payload], the payload placed behind a valid
 *      box: 0-2 an onion request layer 0x80/0x81/0x82 sealed to us,
 *      3 an announce request (0x83/0x87; optionally with a valid ping id),
 *      4 a data to route request for the stored key, 5-7 a response layer
 *      0x8c/0x8d/0x8e with our own return path, 8 an announce response to
 *      our client's request, 9 onion data from our friend down our announce
 *      path, 10 the DHT public key packet through the DHT,
 *   4. timers at the deadline, after a return-key rotation and when
 *      announcements expire.
 * Invariants: every verdict is TW_OK or a known TW_E_*; the drop counters
 * add up and count exactly the refusals; nothing sent exceeds 1400 bytes;
 * a relayed layer is exactly as long as the spec's layouts make it (never
 * longer than what came in) and at most one datagram answers one; an
 * announce answer is at most the spec's largest; deadlines move forward.
 *
 * TW_FUZZ_WRITE_SEEDS=DIR: write hand-made seeds for corpus/onion_packet
 * to DIR and exit. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/crypto.h"
#include "dht/dht_wire.h"
#include "onion/onion_wire.h"
#include "../unit/testutil.h"
#include "fuzz_common.h"
#include "toxwire/error.h"
#include "toxwire/node.h"

#define NPEERS 4
#define T0 ((tw_time_ms)1000 * 300000 + 1234)
#define SPEC_MAX 1400
#define SPEC_RET1 59
#define SPEC_RET2 118
#define SPEC_RET3 177
#define SPEC_ANNOUNCE_RESPONSE_MAX (1 + 8 + 24 + 1 + 32 + 4 * 51 + 16)
#define MAX_LOG 64

typedef struct logged {
  tw_addr to;
  uint8_t data[SPEC_MAX];
  size_t len;
} logged;

typedef struct sink {
  logged log[MAX_LOG];
  int nlog;      /* since the last reset */
  uint64_t sent; /* in all */
  /* the datagram being handled, for the relay checks */
  uint8_t in_kind;
  size_t in_len;
  bool checking;
} sink;

static sink g_sink;
static tw_keypair g_me, g_self, g_temp, g_announcer, g_friend;
static tw_keypair g_peer[NPEERS];
static uint8_t g_peer_shared[NPEERS][TW_SHARED_KEY_SIZE]; /* peer i <-> our DHT key */
static uint8_t g_temp_shared[TW_SHARED_KEY_SIZE];         /* g_temp <-> our DHT key */
static uint8_t g_ann_shared[TW_SHARED_KEY_SIZE];          /* announcer <-> our DHT key */
static uint8_t g_friend_shared[TW_SHARED_KEY_SIZE];       /* friend <-> our long-term key */
static tw_addr g_peer_addr[NPEERS], g_wan;

static void reset_log(void) { g_sink.nlog = 0; }

static size_t relay_delta(uint8_t kind, bool *exact) {
  *exact = true;
  switch (kind) {
  case 0x80: case 0x81: return 8;   /* - ip_port - mac - pk + pk + ret1, ret2 - ret1 */
  case 0x82: return 33;              /* - kind, nonce, pk, mac, ip_port; ret3 - ret2 */
  case 0x85: return 31;              /* - dest pk; + 0x8c, ret3 - ret3, 0x86 - 0x85 */
  case 0x8c: case 0x8d: return 59;   /* one return layer peeled */
  case 0x8e: return 60;              /* and the kind byte */
  default: *exact = false; return 0;
  }
}

static void on_send(void *ctx, const tw_addr *to, const uint8_t *pkt, size_t len) {
  sink *s = ctx;
  FUZZ_CHECK(to != NULL && tw_addr_is_set(to));
  FUZZ_CHECK(len > 0 && len <= SPEC_MAX);
  s->sent++;
  if (s->nlog < MAX_LOG) {
    logged *l = &s->log[s->nlog];
    l->to = *to;
    memcpy(l->data, pkt, len);
    l->len = len;
  }
  s->nlog++;
  if (!s->checking) return;
  uint8_t k = s->in_kind;
  bool exact;
  size_t delta = relay_delta(k, &exact);
  if (exact) {
    /* A relay or the announce node sends one datagram per one received,
     * of exactly the size the layouts give: never an amplifier. */
    FUZZ_CHECK(s->nlog == 1);
    FUZZ_CHECK(s->in_len > delta && len == s->in_len - delta);
    if (k == 0x80) FUZZ_CHECK(pkt[0] == 0x81);
    if (k == 0x81) FUZZ_CHECK(pkt[0] == 0x82);
    if (k == 0x82) FUZZ_CHECK(pkt[0] == 0x83 || pkt[0] == 0x85 || pkt[0] == 0x87);
    if (k == 0x85 || k == 0x8c) FUZZ_CHECK(pkt[0] == (k == 0x85 ? 0x8c : 0x8d));
    if (k == 0x8d) FUZZ_CHECK(pkt[0] == 0x8e);
    if (k == 0x8e) FUZZ_CHECK(pkt[0] == 0x84 || pkt[0] == 0x86 || pkt[0] == 0x88);
  } else if (k == 0x83 || k == 0x87) {
    FUZZ_CHECK(s->nlog == 1);
    FUZZ_CHECK(pkt[0] == 0x8c);
    FUZZ_CHECK(len >= 1 + SPEC_RET3 + 1 + 8 + 24 + 33 + 16);
    FUZZ_CHECK(len <= 1 + SPEC_RET3 + SPEC_ANNOUNCE_RESPONSE_MAX + (k == 0x87));
    FUZZ_CHECK(pkt[1 + SPEC_RET3] == (k == 0x83 ? 0x84 : 0x88));
  }
}

static void on_event(void *ctx, const tw_onion_event *ev) {
  (void)ctx;
  FUZZ_CHECK(ev->kind == TW_ONION_EV_FRIEND_DHT_KEY || ev->kind == TW_ONION_EV_DATA ||
             ev->kind == TW_ONION_EV_ANNOUNCED);
  if (ev->kind == TW_ONION_EV_FRIEND_DHT_KEY) {
    FUZZ_CHECK(tw_key_equal(&ev->peer, &g_friend.pk));
    FUZZ_CHECK(ev->node_count <= 4);
    FUZZ_CHECK(ev->route == TW_ONION_ROUTE_ONION || ev->route == TW_ONION_ROUTE_DHT);
  }
  if (ev->kind == TW_ONION_EV_DATA) {
    FUZZ_CHECK(ev->data != NULL && ev->data_len >= 1 && ev->data_len <= SPEC_MAX);
    volatile uint8_t touch = ev->data[ev->data_len - 1];
    (void)touch;
  }
}

static void init_once(void) {
  static int done;
  if (done) return;
  done = 1;
  if (tw_crypto_init() != TW_OK) abort();
  g_me = fuzz_capture_keypair();
  fuzz_rng r = {0x0410};
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &r};
  for (int i = 0; i < NPEERS; i++) {
    tw_keypair_generate(&g_peer[i], &env);
    tw_shared_key_compute(g_peer_shared[i], &g_me.pk, g_peer[i].sk);
  }
  tw_keypair_generate(&g_self, &env);
  tw_keypair_generate(&g_temp, &env);
  tw_keypair_generate(&g_announcer, &env);
  tw_keypair_generate(&g_friend, &env);
  tw_shared_key_compute(g_temp_shared, &g_me.pk, g_temp.sk);
  tw_shared_key_compute(g_ann_shared, &g_me.pk, g_announcer.sk);
  tw_shared_key_compute(g_friend_shared, &g_self.pk, g_friend.sk);
  g_peer_addr[0] = test_addr4(198, 51, 100, 7, 33445);
  g_peer_addr[1] = test_addr4(203, 0, 113, 8, 33446);
  g_peer_addr[2] = test_addr6(0x0902, 33447);
  g_peer_addr[3] = test_addr4(192, 168, 7, 9, 40000); /* a LAN one */
  g_wan = test_addr4(203, 0, 113, 5, 33445);
}

static size_t put_ipport(uint8_t *out, const tw_addr *a) {
  tw_writer w = tw_writer_init(out, TW_ONION_IPPORT_SIZE);
  if (tw_onion_ipport_write(&w, a) != TW_OK) abort();
  return TW_ONION_IPPORT_SIZE;
}

/* [kind][nonce][g_temp pk][box(plain)][ret_len bytes of ret] */
static size_t seal_layer(uint8_t kind, const uint8_t *plain, size_t n, const uint8_t *ret,
                         size_t ret_len, uint8_t *out, size_t cap) {
  if (57 + n + TW_MAC_SIZE + ret_len > cap) return 0;
  uint8_t nonce[TW_NONCE_SIZE] = {kind, 1, 2, 3};
  out[0] = kind;
  memcpy(out + 1, nonce, TW_NONCE_SIZE);
  memcpy(out + 25, g_temp.pk.bytes, 32);
  tw_box_seal(out + 57, plain, n, nonce, g_temp_shared);
  if (ret_len) {
    if (ret)
      memcpy(out + 57 + n + TW_MAC_SIZE, ret, ret_len);
    else
      memset(out + 57 + n + TW_MAC_SIZE, 0x5c, ret_len);
  }
  return 57 + n + TW_MAC_SIZE + ret_len;
}

/* [kind][nonce][announcer pk][box(plain)] */
static size_t seal_announce(uint8_t kind, const tw_keypair *kp, const uint8_t *shared,
                            const uint8_t *plain, size_t n, uint8_t *out, size_t cap) {
  if (57 + n + TW_MAC_SIZE > cap) return 0;
  uint8_t nonce[TW_NONCE_SIZE] = {0x83, 9};
  out[0] = kind;
  memcpy(out + 1, nonce, TW_NONCE_SIZE);
  memcpy(out + 25, kp->pk.bytes, 32);
  tw_box_seal(out + 57, plain, n, nonce, shared);
  return 57 + n + TW_MAC_SIZE;
}

/* Counts refusals the onion must have counted. */
static uint64_t g_expected_drops;

static int feed(tw_node *n, const tw_addr *from, const uint8_t *pkt, size_t len, tw_time_ms now) {
  reset_log();
  bool onion = len > 0 && tw_onion_handles_kind(pkt[0]);
  g_sink.checking = onion;
  g_sink.in_kind = len ? pkt[0] : 0;
  g_sink.in_len = len;
  int rc = tw_node_handle_packet(n, from, pkt, len, now);
  g_sink.checking = false;
  FUZZ_CHECK(rc <= 0 && rc > TW_E__LAST);
  if (onion && rc != TW_OK) g_expected_drops++;
  if (rc != TW_OK && onion) FUZZ_CHECK(g_sink.nlog == 0 || pkt[0] == 0x84 || pkt[0] == 0x86);
  return rc;
}

static void make_known(tw_node *n, int i, tw_time_ms now) {
  uint8_t plain[TW_PING_PLAIN_SIZE], pkt[TW_PING_PACKET_SIZE + 16];
  uint8_t nonce[TW_NONCE_SIZE] = {1, (uint8_t)i};
  tw_ping_payload p = {.flag = TW_PING_FLAG_REQUEST, .id = 0x1111 + (uint64_t)i};
  tw_ping_payload_encode(plain, &p);
  int len = tw_dht_packet_seal(pkt, sizeof pkt, TW_PACKET_PING_REQUEST, &g_peer[i].pk, nonce,
                               g_peer_shared[i], plain, sizeof plain);
  reset_log();
  FUZZ_CHECK(tw_node_handle_packet(n, &g_peer_addr[i], pkt, (size_t)len, now) == TW_OK);
  const logged *req = NULL;
  for (int k = 0; k < g_sink.nlog && k < MAX_LOG; k++)
    if (g_sink.log[k].data[0] == TW_PACKET_PING_REQUEST) req = &g_sink.log[k];
  if (req == NULL) return;
  tw_dht_header h;
  FUZZ_CHECK(tw_dht_header_parse(&h, req->data, req->len) == TW_OK);
  uint8_t got[TW_PING_PLAIN_SIZE];
  FUZZ_CHECK(tw_box_open(got, h.cipher, h.cipher_len, h.nonce, g_peer_shared[i]) == TW_OK);
  tw_ping_payload back;
  FUZZ_CHECK(tw_ping_payload_decode(&back, got, sizeof got) == TW_OK);
  p.flag = TW_PING_FLAG_RESPONSE;
  p.id = back.id;
  tw_ping_payload_encode(plain, &p);
  nonce[0] = 2;
  len = tw_dht_packet_seal(pkt, sizeof pkt, TW_PACKET_PING_RESPONSE, &g_peer[i].pk, nonce,
                           g_peer_shared[i], plain, sizeof plain);
  FUZZ_CHECK(tw_node_handle_packet(n, &g_peer_addr[i], pkt, (size_t)len, now) == TW_OK);
}

/* What setup learned. */
typedef struct ctx {
  tw_node *node;
  uint8_t ping_id[32];          /* the announcer's, from peer 2 */
  uint8_t ret[3][SPEC_RET3];    /* our own ret1, ret2, ret3 (sealed for peer 0) */
  /* one announce request our client sent: */
  bool have_client_req;
  tw_addr hop_a;                /* where it went */
  tw_key req_pk;                /* the key it was sealed with */
  int d;                        /* the peer it was for */
  uint8_t sendback[8];
  tw_key data_pk;               /* our client's data key (self announces) */
  uint8_t client_pkt[SPEC_MAX];  /* that request as sent */
  size_t client_pkt_len;
} ctx;

/* Opens our client's [0x80] through the three fake hops it names and the
 * announce request inside, as its node D. */
static bool open_client_request(ctx *c, const logged *l) {
  if (l->len < 57 + TW_MAC_SIZE || l->data[0] != 0x80) return false;
  static uint8_t a[SPEC_MAX], b[SPEC_MAX];
  const uint8_t *nonce = l->data + 1;
  tw_key pk;
  memcpy(pk.bytes, l->data + 25, 32);
  const uint8_t *box = l->data + 57;
  size_t box_len = l->len - 57;
  int hop = -1;
  for (int i = 0; i < NPEERS; i++)
    if (tw_addr_equal(&l->to, &g_peer_addr[i])) hop = i;
  if (hop < 0) return false;
  c->hop_a = l->to;
  for (int layer = 0; layer < 3; layer++) {
    uint8_t shared[TW_SHARED_KEY_SIZE];
    tw_shared_key_compute(shared, &pk, g_peer[hop].sk);
    uint8_t *out = layer & 1 ? b : a;
    FUZZ_CHECK(tw_box_open(out, box, box_len, nonce, shared) == TW_OK);
    size_t n = box_len - TW_MAC_SIZE;
    tw_reader r = tw_reader_init(out, n);
    tw_addr next;
    FUZZ_CHECK(tw_onion_ipport_read(&r, &next) == TW_OK);
    hop = -1;
    for (int i = 0; i < NPEERS; i++)
      if (tw_addr_equal(&next, &g_peer_addr[i])) hop = i;
    FUZZ_CHECK(hop >= 0);
    if (layer < 2) {
      tw_read_bytes(&r, pk.bytes, 32);
      box = out + TW_ONION_IPPORT_SIZE + 32;
      box_len = n - TW_ONION_IPPORT_SIZE - 32;
    } else {
      box = out + TW_ONION_IPPORT_SIZE;
      box_len = n - TW_ONION_IPPORT_SIZE;
    }
  }
  /* box is now the announce request for peer `hop` */
  FUZZ_CHECK(box_len == TW_ANNOUNCE_REQUEST_SIZE && box[0] == 0x83);
  c->d = hop;
  memcpy(c->req_pk.bytes, box + 25, 32);
  uint8_t shared[TW_SHARED_KEY_SIZE], plain[TW_ANNOUNCE_REQUEST_PLAIN_SIZE];
  tw_shared_key_compute(shared, &c->req_pk, g_peer[hop].sk);
  FUZZ_CHECK(tw_box_open(plain, box + 57, box_len - 57, box + 1, shared) == TW_OK);
  tw_announce_request_plain req;
  FUZZ_CHECK(tw_announce_request_plain_decode(&req, plain, sizeof plain) == TW_OK);
  memcpy(c->sendback, req.sendback, 8);
  c->data_pk = req.data_pk;
  return tw_key_equal(&req.search, &g_self.pk); /* a self announce */
}

static void check_stats(tw_node *n, tw_time_ms now) {
  tw_onion_stats st;
  tw_onion_get_stats(tw_node_onion(n), &st, now);
  uint64_t sum = 0;
  for (int i = 0; i < TW_ERROR_COUNT; i++) sum += st.dropped[i];
  FUZZ_CHECK(st.dropped[0] == 0);
  FUZZ_CHECK(sum == st.dropped_total);
  FUZZ_CHECK(st.dropped_total == g_expected_drops);
  FUZZ_CHECK(st.announce_entries <= 8);
  FUZZ_CHECK(st.paths_alive <= 2 * TW_ONION_PATHS_PER_SET);
  FUZZ_CHECK(st.friends <= 1);
}

static void setup(ctx *c, fuzz_rng *r) {
  memset(c, 0, sizeof *c);
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = r};
  env.log = (tw_logger){.fn = fuzz_discard_log, .level = TW_LOG_TRACE};
  tw_node_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.dht.keys = g_me;
  cfg.dht.send = on_send;
  cfg.dht.send_ctx = &g_sink;
  cfg.dht.key_cache_entries = 16;
  cfg.onion_relay = true;
  cfg.announce_store = true;
  cfg.announce_entries = 8;
  cfg.onion_client = true;
  cfg.self_keys = g_self;
  cfg.on_onion_event = on_event;
  c->node = tw_node_new(&cfg, &env, T0);
  if (c->node == NULL) abort();
  g_expected_drops = 0;
  tw_onion *o = tw_node_onion(c->node);
  for (int i = 0; i < NPEERS; i++) make_known(c->node, i, T0);
  FUZZ_CHECK(tw_onion_friend_add(o, &g_friend.pk, T0) == TW_OK);

  /* The announcer announces from peer 2: a ping id, then stored. */
  uint8_t plain[TW_ANNOUNCE_REQUEST_PLAIN_SIZE], pkt[SPEC_MAX];
  tw_announce_request_plain ar;
  memset(&ar, 0, sizeof ar);
  ar.search = g_announcer.pk;
  memset(ar.data_pk.bytes, 0xda, 32);
  for (int round = 0; round < 2; round++) {
    tw_announce_request_plain_encode(plain, &ar);
    size_t n = seal_announce(0x83, &g_announcer, g_ann_shared, plain, sizeof plain, pkt, sizeof pkt);
    memset(pkt + n, 0x3c, SPEC_RET3);
    FUZZ_CHECK(feed(c->node, &g_peer_addr[2], pkt, n + SPEC_RET3, T0) == TW_OK);
    FUZZ_CHECK(g_sink.nlog == 1);
    const logged *l = &g_sink.log[0];
    const uint8_t *resp = l->data + 1 + SPEC_RET3;
    size_t rlen = l->len - 1 - SPEC_RET3;
    uint8_t rp[SPEC_ANNOUNCE_RESPONSE_MAX];
    FUZZ_CHECK(tw_box_open(rp, resp + 33, rlen - 33, resp + 9, g_ann_shared) == TW_OK);
    FUZZ_CHECK(rp[0] == (round == 0 ? 0 : 2));
    memcpy(ar.ping_id, rp + 1, 32);
    memcpy(c->ping_id, rp + 1, 32);
  }

  /* Our own return paths, one per layer, sealed for peer 0. */
  for (int layer = 0; layer < 3; layer++) {
    uint8_t lp[TW_ONION_IPPORT_SIZE + 32 + TW_MAC_SIZE + 20 + 100];
    size_t n = put_ipport(lp, layer < 2 ? &g_peer_addr[1] : &g_peer_addr[3]);
    memset(lp + n, layer < 2 ? 0x11 : 0x83, sizeof lp - n);
    static const size_t in_ret[3] = {0, SPEC_RET1, SPEC_RET2};
    size_t len = seal_layer((uint8_t)(0x80 + layer), lp, sizeof lp, NULL, in_ret[layer], pkt,
                            sizeof pkt);
    FUZZ_CHECK(feed(c->node, &g_peer_addr[0], pkt, len, T0) == TW_OK);
    FUZZ_CHECK(g_sink.nlog == 1);
    static const size_t out_ret[3] = {SPEC_RET1, SPEC_RET2, SPEC_RET3};
    const logged *l = &g_sink.log[0];
    memcpy(c->ret[layer], l->data + l->len - out_ret[layer], out_ret[layer]);
  }

  /* The client's first round: announce requests through paths of peers. */
  reset_log();
  tw_onion_on_timer(o, T0);
  int nl = g_sink.nlog < MAX_LOG ? g_sink.nlog : MAX_LOG;
  for (int i = 0; i < nl && !c->have_client_req; i++)
    if (g_sink.log[i].data[0] == 0x80) {
      c->have_client_req = open_client_request(c, &g_sink.log[i]);
      memcpy(c->client_pkt, g_sink.log[i].data, g_sink.log[i].len);
      c->client_pkt_len = g_sink.log[i].len;
    }
  check_stats(c->node, T0);
}

static int sealed(ctx *c, uint8_t mode, const uint8_t *p, size_t n, tw_time_ms now) {
  static uint8_t pkt[4096], tmp[4096];
  tw_node *node = c->node;
  size_t len = 0;
  int rc = 1; /* not sent */
  switch (mode) {
  case 0: case 1: case 2: {
    static const size_t rl[3] = {0, SPEC_RET1, SPEC_RET2};
    len = seal_layer((uint8_t)(0x80 + mode), p, n, NULL, rl[mode], pkt, sizeof pkt);
    if (len) rc = feed(node, &g_peer_addr[mode], pkt, len, now);
    break;
  }
  case 3: {
    /* [flags][104-byte plaintext]: bit 0 valid ping id (from peer 2),
     * bit 1 the newer form, bit 2 sealed by the announcer itself. */
    if (n < 1) break;
    uint8_t flags = p[0];
    memcpy(tmp, p + 1, n - 1);
    size_t pl = n - 1;
    if ((flags & 1) && pl >= 32) memcpy(tmp, c->ping_id, 32);
    const tw_keypair *kp = flags & 4 ? &g_announcer : &g_temp;
    const uint8_t *sh = flags & 4 ? g_ann_shared : g_temp_shared;
    len = seal_announce(flags & 2 ? 0x87 : 0x83, kp, sh, tmp, pl, pkt, sizeof pkt);
    if (len == 0 || len + SPEC_RET3 > sizeof pkt) break;
    memset(pkt + len, 0x77, SPEC_RET3);
    rc = feed(node, flags & 1 ? &g_peer_addr[2] : &g_wan, pkt, len + SPEC_RET3, now);
    break;
  }
  case 4:
    /* [0x85][announced key][payload] */
    if (1 + 32 + n > sizeof pkt) break;
    pkt[0] = 0x85;
    memcpy(pkt + 1, g_announcer.pk.bytes, 32);
    memcpy(pkt + 33, p, n);
    rc = feed(node, &g_wan, pkt, 33 + n, now);
    break;
  case 5: case 6: case 7: {
    static const size_t rl[3] = {SPEC_RET3, SPEC_RET2, SPEC_RET1};
    size_t r = rl[mode - 5];
    if (1 + r + n > sizeof pkt) break;
    pkt[0] = (uint8_t)(0x8c + mode - 5);
    memcpy(pkt + 1, c->ret[2 - (mode - 5)], r);
    memcpy(pkt + 1 + r, p, n);
    rc = feed(node, &g_wan, pkt, 1 + r + n, now);
    break;
  }
  case 8: {
    /* An announce response to our client: the payload is its plaintext. */
    if (!c->have_client_req || 33 + n + TW_MAC_SIZE > sizeof pkt) break;
    uint8_t shared[TW_SHARED_KEY_SIZE], nonce[TW_NONCE_SIZE] = {0x84};
    tw_shared_key_compute(shared, &c->req_pk, g_peer[c->d].sk);
    pkt[0] = 0x84;
    memcpy(pkt + 1, c->sendback, 8);
    memcpy(pkt + 9, nonce, TW_NONCE_SIZE);
    tw_box_seal(pkt + 33, p, n, nonce, shared);
    rc = feed(node, &c->hop_a, pkt, 33 + n + TW_MAC_SIZE, now);
    break;
  }
  case 9: {
    /* Onion data from our friend: [0x86][nonce][temp][box_data(friend pk,
     * box_long(payload))], down our announce path. */
    if (!c->have_client_req || 57 + 32 + n + 2 * TW_MAC_SIZE > sizeof pkt) break;
    uint8_t nonce[TW_NONCE_SIZE] = {0x86, 1};
    memcpy(tmp, g_friend.pk.bytes, 32);
    tw_box_seal(tmp + 32, p, n, nonce, g_friend_shared);
    uint8_t shared[TW_SHARED_KEY_SIZE];
    tw_shared_key_compute(shared, &c->data_pk, g_temp.sk);
    pkt[0] = 0x86;
    memcpy(pkt + 1, nonce, TW_NONCE_SIZE);
    memcpy(pkt + 25, g_temp.pk.bytes, 32);
    tw_box_seal(pkt + 57, tmp, 32 + n + TW_MAC_SIZE, nonce, shared);
    rc = feed(node, &c->hop_a, pkt, 57 + 32 + n + 2 * TW_MAC_SIZE, now);
    break;
  }
  case 10: {
    /* [0x9c][friend pk][nonce][box_long(payload)] through the DHT */
    if (57 + n + TW_MAC_SIZE > sizeof pkt) break;
    uint8_t nonce[TW_NONCE_SIZE] = {0x9c, 2};
    pkt[0] = 0x9c;
    memcpy(pkt + 1, g_friend.pk.bytes, 32);
    memcpy(pkt + 33, nonce, TW_NONCE_SIZE);
    tw_box_seal(pkt + 57, p, n, nonce, g_friend_shared);
    reset_log();
    rc = tw_onion_handle_dht_request(tw_node_onion(node), &g_peer[0].pk, &g_peer_addr[0], pkt,
                                         57 + n + TW_MAC_SIZE, now);
    FUZZ_CHECK(rc <= 0 && rc > TW_E__LAST);
    /* A 0x9c is the onion's: every refusal of it is counted (TW_E_KIND
     * too, for an inner packet of another kind). */
    if (rc != TW_OK) g_expected_drops++;
    break;
  }
  default: break;
  }
  return rc;
}

static const uint8_t KINDS[] = {0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
                                0x87, 0x88, 0x8c, 0x8d, 0x8e};

static void timer(tw_node *n, tw_time_ms now) {
  reset_log();
  tw_onion_on_timer(tw_node_onion(n), now);
  FUZZ_CHECK(tw_onion_next_deadline(tw_node_onion(n)) > now);
  check_stats(n, now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_once();
  fuzz_rng r = {0x0417};
  ctx c;
  setup(&c, &r);
  tw_time_ms now = T0 + 1;

  /* Copy, so reads past the end are caught. */
  uint8_t *in = malloc(size ? size : 1);
  if (in == NULL) abort();
  memcpy(in, data, size);
  int raw_rc = feed(c.node, &g_wan, in, size, now);
  feed(c.node, &g_peer_addr[0], in, size, now);
  if (size > 0) {
    uint8_t first = in[0];
    for (size_t k = 0; k < sizeof KINDS; k++) {
      in[0] = KINDS[k];
      feed(c.node, &g_peer_addr[1], in, size, now);
    }
    in[0] = first;
  }
  check_stats(c.node, now);
  if (size >= 1) {
    int rc = sealed(&c, (uint8_t)(in[0] % 11), in + 1, size - 1, now + 1);
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("TW_FUZZ_VERBOSE") != NULL;
    if (verbose)
      fprintf(stderr, "%zu bytes: raw %s; as mode %d: %s (client request %s)\n", size,
              tw_strerror(raw_rc), in[0] % 11, rc == 1 ? "not built" : tw_strerror(rc),
              c.have_client_req ? "seen" : "none");
  }
  free(in);
  check_stats(c.node, now + 1);

  tw_time_ms next = tw_onion_next_deadline(tw_node_onion(c.node));
  if (next < T0 + 10000) timer(c.node, next > now + 1 ? next : now + 1);
  timer(c.node, T0 + 300000);
  timer(c.node, T0 + TW_ONION_RETURN_KEY_LIFETIME_MS);
  tw_node_free(c.node);
  return 0;
}

/* ---- seeds ---- */

static void write_seeds(const char *dir) {
  init_once();
  mkdir(dir, 0755);
  fuzz_rng r = {0x0417};
  ctx c;
  setup(&c, &r);
  uint8_t s[2048];
  size_t n;
  /* mode 0: a layer for A naming B, with a layer for B inside */
  s[0] = 0;
  n = 1 + put_ipport(s + 1, &g_peer_addr[1]);
  memset(s + n, 0x21, 32 + 16 + 19 + 60);
  n += 32 + 16 + 19 + 60;
  fuzz_write_seed(dir, "sealed-80", s, n);
  s[0] = 1;
  fuzz_write_seed(dir, "sealed-81", s, n);
  /* mode 2: a layer for C delivering an announce request to D */
  s[0] = 2;
  n = 1 + put_ipport(s + 1, &g_peer_addr[3]);
  s[n] = 0x83;
  memset(s + n + 1, 0x22, 176);
  n += 177;
  fuzz_write_seed(dir, "sealed-82", s, n);
  /* mode 3: announce with and without a valid ping id, both forms */
  for (int flags = 0; flags < 8; flags += 1) {
    if (flags != 0 && flags != 5 && flags != 7 && flags != 4) continue;
    s[0] = 3;
    s[1] = (uint8_t)flags;
    tw_announce_request_plain ar;
    memset(&ar, 0, sizeof ar);
    ar.search = g_announcer.pk;
    memset(ar.data_pk.bytes, 0xda, 32);
    tw_announce_request_plain_encode(s + 2, &ar);
    char name[32];
    snprintf(name, sizeof name, "sealed-83-%d", flags);
    fuzz_write_seed(dir, name, s, 2 + TW_ANNOUNCE_REQUEST_PLAIN_SIZE);
  }
  /* mode 4: data to route for the stored key */
  s[0] = 4;
  memset(s + 1, 0x44, 24 + 32 + 16 + 40 + SPEC_RET3);
  fuzz_write_seed(dir, "sealed-85", s, 1 + 24 + 32 + 16 + 40 + SPEC_RET3);
  /* modes 5-7: responses down our own return paths */
  for (int m = 5; m <= 7; m++) {
    s[0] = (uint8_t)m;
    s[1] = 0x84;
    memset(s + 2, 0x55, 100);
    char name[32];
    snprintf(name, sizeof name, "sealed-%x", 0x8c + m - 5);
    fuzz_write_seed(dir, name, s, 102);
  }
  /* mode 8: an announce response with nodes */
  tw_announce_response_plain ap;
  memset(&ap, 0, sizeof ap);
  ap.is_stored = 2;
  memset(ap.ping_or_key, 0x99, 32);
  ap.count = 3;
  for (int i = 0; i < 3; i++) {
    ap.nodes[i].pk = g_peer[i].pk;
    ap.nodes[i].addr = g_peer_addr[i];
  }
  s[0] = 8;
  int m = tw_announce_response_plain_encode(s + 1, sizeof s - 1, &ap);
  fuzz_write_seed(dir, "sealed-84", s, 1 + (size_t)m);
  ap.is_stored = 1;
  s[1] = 1;
  fuzz_write_seed(dir, "sealed-84-found", s, 1 + (size_t)m);
  /* mode 9 and 10: a DHT public key packet by onion and by DHT; a friend
   * request by onion */
  tw_dhtpk dp;
  memset(&dp, 0, sizeof dp);
  dp.no_replay = 5;
  dp.dht_pk = g_peer[3].pk;
  dp.count = 2;
  dp.nodes[0].pk = g_peer[0].pk;
  dp.nodes[0].addr = g_peer_addr[0];
  dp.nodes[0].tcp = true;
  dp.nodes[1].pk = g_peer[2].pk;
  dp.nodes[1].addr = g_peer_addr[2];
  s[0] = 9;
  m = tw_dhtpk_encode(s + 1, sizeof s - 1, &dp);
  fuzz_write_seed(dir, "sealed-86-dhtpk", s, 1 + (size_t)m);
  s[0] = 10;
  fuzz_write_seed(dir, "sealed-dht-dhtpk", s, 1 + (size_t)m);
  s[0] = 9;
  s[1] = 0x20;
  memset(s + 2, 0x46, 60);
  fuzz_write_seed(dir, "sealed-86-friend-request", s, 62);
  /* raw: our client's own first onion packet */
  if (c.client_pkt_len) fuzz_write_seed(dir, "raw-80-client", c.client_pkt, c.client_pkt_len);
  tw_node_free(c.node);
}

/* TW_FUZZ_WRITE_SEEDS=DIR writes the hand-made seeds and exits. */
FUZZ_SEED_WRITER(write_seeds)
