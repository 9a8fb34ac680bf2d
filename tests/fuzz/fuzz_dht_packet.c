/* Fuzzes tw_dht_handle_packet and tw_dht_on_timer.
 *
 * Each input gets a fresh tw_dht with the fixed capture key (so the c-toxcore
 * seeds open), four peers already in its close list (so Nodes Requests are
 * answered), a search and a bootstrap node (so requests are pending). Then:
 *   1. the input as a datagram from 127.0.0.1:33445 (LAN),
 *   2. the same datagram from 203.0.113.5:33445 (not LAN),
 *   3. the input read as [kind][mode][plaintext] and sealed by a known peer,
 *      so the fuzzer reaches what is behind the box: mode 0 seals it as a
 *      DHT packet of that kind; mode 1 also sets its last 8 bytes to the id
 *      of our latest request to that peer, so responses are accepted and
 *      their nodes acted on; mode 2 wraps it in a DHT Request addressed to
 *      us, mode 3 in one addressed to another known peer (to be routed),
 *   4. on_timer at its deadline and at times when nodes go bad and are
 *      forgotten.
 * Every run frees the instance, so LeakSanitizer sees any leak. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "dht/dht_wire.h"
#include "../unit/testutil.h"
#include "fuzz_common.h"
#include "toxwire/dht.h"
#include "toxwire/error.h"

#define NPEERS 4
#define T0 ((tw_time_ms)1000000)

typedef struct sink {
  uint64_t packets, bytes;
  uint8_t last[TW_DHT_REQUEST_MIN + TW_DHT_PLAIN_MAX];
  size_t last_len;
  /* ids of our latest Ping and Nodes Requests to peer 0 */
  uint64_t ping_id, nodes_id;
} sink;

static tw_keypair g_me;
static tw_keypair g_peer[NPEERS];
static uint8_t g_peer_shared[NPEERS][TW_SHARED_KEY_SIZE];
static tw_addr g_peer_addr[NPEERS];
static uint8_t g_shared_0_to_1[TW_SHARED_KEY_SIZE]; /* peer 0 sealing for peer 1 */

static uint64_t be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

static void on_send(void *ctx, const tw_addr *to, const uint8_t *pkt, size_t len) {
  sink *s = ctx;
  /* What we send is bounded and well-formed at the outer layer. */
  FUZZ_CHECK(len > 0);
  FUZZ_CHECK(len <= sizeof s->last);
  if (to == NULL) {
    FUZZ_CHECK(len == TW_LAN_DISCOVERY_SIZE && pkt[0] == TW_PACKET_LAN_DISCOVERY);
  } else {
    FUZZ_CHECK(tw_addr_is_set(to));
  }
  s->packets++;
  s->bytes += len;
  memcpy(s->last, pkt, len);
  s->last_len = len;
  /* Remember the ids of what we ask peer 0, for mode 1 answers. */
  tw_dht_header h;
  uint8_t plain[TW_DHT_PLAIN_MAX];
  if (to != NULL && tw_addr_equal(to, &g_peer_addr[0]) &&
      (pkt[0] == TW_PACKET_PING_REQUEST || pkt[0] == TW_PACKET_NODES_REQUEST) &&
      tw_dht_header_parse(&h, pkt, len) == TW_OK &&
      tw_box_open(plain, h.cipher, h.cipher_len, h.nonce, g_peer_shared[0]) == TW_OK) {
    size_t n = h.cipher_len - TW_MAC_SIZE;
    FUZZ_CHECK(n >= 8);
    if (pkt[0] == TW_PACKET_PING_REQUEST)
      s->ping_id = be64(plain + n - 8);
    else
      s->nodes_id = be64(plain + n - 8);
  }
}

static void on_request(void *ctx, const tw_key *sender, const tw_addr *from, const uint8_t *plain,
                       size_t len, tw_time_ms now) {
  (void)ctx;
  (void)sender;
  (void)from;
  (void)now;
  FUZZ_CHECK(len >= 1 && len <= TW_DHT_PLAIN_MAX);
  volatile uint8_t touch = plain[len - 1];
  (void)touch;
}

static void init_once(void) {
  static int done;
  if (done) return;
  done = 1;
  if (tw_crypto_init() != TW_OK) abort();
  g_me = fuzz_capture_keypair();
  fuzz_rng r = {0x5eed};
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &r};
  for (int i = 0; i < NPEERS; i++) {
    tw_keypair_generate(&g_peer[i], &env);
    tw_shared_key_compute(g_peer_shared[i], &g_me.pk, g_peer[i].sk);
  }
  tw_shared_key_compute(g_shared_0_to_1, &g_peer[1].pk, g_peer[0].sk);
  g_peer_addr[0] = test_addr4(198, 51, 100, 7, 33445);
  g_peer_addr[1] = test_addr4(127, 0, 0, 2, 33445);
  g_peer_addr[2] = test_addr4(192, 168, 7, 9, 40000);
  memset(&g_peer_addr[3], 0, sizeof g_peer_addr[3]);
  g_peer_addr[3].family = TW_AF_INET6;
  g_peer_addr[3].ip[0] = 0x20;
  g_peer_addr[3].ip[1] = 0x01;
  g_peer_addr[3].ip[15] = 0x99;
  g_peer_addr[3].port = 33445;
}

/* A DHT packet from peer i to us. */
static size_t seal_from_peer(int i, uint8_t kind, const uint8_t *plain, size_t len, uint8_t *out,
                             size_t cap, uint8_t nonce_tweak) {
  uint8_t nonce[TW_NONCE_SIZE] = {0};
  nonce[0] = nonce_tweak;
  nonce[1] = (uint8_t)i;
  int n = tw_dht_packet_seal(out, cap, kind, &g_peer[i].pk, nonce, g_peer_shared[i], plain, len);
  return n > 0 ? (size_t)n : 0;
}

/* Peer i pings us; we ping it back; it answers: it is now a good node.
 * Returns how many datagrams it fed. */
static int make_known(tw_dht *d, sink *s, int i, tw_time_ms now) {
  uint8_t plain[TW_PING_PLAIN_SIZE], pkt[TW_PING_PACKET_SIZE + 16];
  tw_ping_payload p = {.flag = TW_PING_FLAG_REQUEST, .id = 0x1111 + (uint64_t)i};
  tw_ping_payload_encode(plain, &p);
  size_t n = seal_from_peer(i, TW_PACKET_PING_REQUEST, plain, sizeof plain, pkt, sizeof pkt, 1);
  s->last_len = 0;
  FUZZ_CHECK(tw_dht_handle_packet(d, &g_peer_addr[i], pkt, n, now) == TW_OK);
  /* The last datagram sent is our Ping Request to it. */
  if (s->last_len != TW_PING_PACKET_SIZE || s->last[0] != TW_PACKET_PING_REQUEST) return 1;
  tw_dht_header h;
  FUZZ_CHECK(tw_dht_header_parse(&h, s->last, s->last_len) == TW_OK);
  uint8_t got[TW_PING_PLAIN_SIZE];
  FUZZ_CHECK(tw_box_open(got, h.cipher, h.cipher_len, h.nonce, g_peer_shared[i]) == TW_OK);
  tw_ping_payload req;
  FUZZ_CHECK(tw_ping_payload_decode(&req, got, sizeof got) == TW_OK);
  p.flag = TW_PING_FLAG_RESPONSE;
  p.id = req.id;
  tw_ping_payload_encode(plain, &p);
  n = seal_from_peer(i, TW_PACKET_PING_RESPONSE, plain, sizeof plain, pkt, sizeof pkt, 2);
  FUZZ_CHECK(tw_dht_handle_packet(d, &g_peer_addr[i], pkt, n, now) == TW_OK);
  return 2;
}

static void check_stats(tw_dht *d, uint64_t fed, tw_time_ms now) {
  tw_dht_stats st;
  tw_dht_get_stats(d, &st, now);
  uint64_t sum = 0;
  for (int i = 0; i < TW_ERROR_COUNT; i++) sum += st.dropped[i];
  FUZZ_CHECK(st.dropped[0] == 0);
  FUZZ_CHECK(sum == st.dropped_total);
  FUZZ_CHECK(st.packets_in == fed);
  FUZZ_CHECK(st.close_good_nodes <= st.close_nodes);
  tw_node_info out[16];
  size_t n = tw_dht_close_nodes(d, out, 16, now);
  FUZZ_CHECK(n <= 16);
  for (size_t i = 0; i < n; i++) {
    FUZZ_CHECK(tw_addr_is_set(&out[i].addr));
    FUZZ_CHECK(!tw_key_equal(&out[i].pk, &g_me.pk));
  }
  /* The closest nodes to a key come closest first, each once. */
  tw_node_info best[8];
  n = tw_dht_closest(d, &g_peer[2].pk, best, 8, true, now);
  FUZZ_CHECK(n <= 8);
  for (size_t i = 1; i < n; i++)
    FUZZ_CHECK(tw_key_distance_cmp(&g_peer[2].pk, &best[i - 1].pk, &best[i].pk) < 0);
  FUZZ_CHECK(tw_dht_is_connected(d, now) == (st.close_good_nodes > 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_once();
  fuzz_rng r = {0xd47};
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &r};
  env.log = (tw_logger){.fn = fuzz_discard_log, .level = TW_LOG_TRACE};
  sink s = {0};
  static const uint8_t motd[] = "fuzz";
  tw_dht_config cfg = {
      .keys = g_me,
      .send = on_send,
      .send_ctx = &s,
      .on_dht_request = on_request,
      .lan_discovery = true,
      .bootstrap_info = true,
      .version = 2018,
      .motd = motd,
      .motd_len = sizeof motd - 1,
      .key_cache_entries = 16,
  };
  tw_dht *d = tw_dht_new(&cfg, &env, T0);
  if (d == NULL) abort();
  uint64_t fed = 0;
  for (int i = 0; i < NPEERS; i++) fed += (uint64_t)make_known(d, &s, i, T0);
  tw_key search_key;
  memset(search_key.bytes, 0x5a, sizeof search_key.bytes);
  tw_dht_search_add(d, &search_key, T0);
  tw_node_info boot = {.addr = test_addr4(203, 0, 113, 200, 33445)};
  memset(boot.pk.bytes, 0xb0, sizeof boot.pk.bytes);
  tw_dht_bootstrap(d, &boot, T0);
  tw_dht_on_timer(d, T0); /* pending Nodes Requests to the peers */

  tw_addr lan = test_addr4(127, 0, 0, 1, 33445), wan = test_addr4(203, 0, 113, 5, 33445);
  int e1 = tw_dht_handle_packet(d, &lan, data, size, T0 + 1);
  int e2 = tw_dht_handle_packet(d, &wan, data, size, T0 + 2);
  fed += 2;
  FUZZ_CHECK(e1 <= 0 && e1 > TW_E__LAST);
  FUZZ_CHECK(e2 <= 0 && e2 > TW_E__LAST);
  static int verbose = -1;
  if (verbose < 0) verbose = getenv("TW_FUZZ_VERBOSE") != NULL;
  if (verbose)
    fprintf(stderr, "kind 0x%02x, %zu bytes: from LAN %s, from WAN %s\n", size ? data[0] : 0, size,
            tw_strerror(e1), tw_strerror(e2));

  if (size >= 2) {
    static uint8_t plain[4096], pkt[TW_DHT_REQUEST_MIN + 4096];
    uint8_t kind = data[0], mode = data[1] & 3;
    size_t plen = size - 2 < sizeof plain ? size - 2 : sizeof plain;
    memcpy(plain, data + 2, plen);
    size_t n = 0;
    if (mode == 1 && plen >= 8) {
      uint64_t id = kind == TW_PACKET_PING_RESPONSE ? s.ping_id : s.nodes_id;
      for (int i = 0; i < 8; i++) plain[plen - 8 + (size_t)i] = (uint8_t)(id >> (56 - 8 * i));
    }
    if (mode <= 1) {
      n = seal_from_peer(0, kind, plain, plen, pkt, sizeof pkt, 3);
    } else {
      /* [0x20][addressee][sender][nonce][box]: a DHT packet behind its
       * addressee's key. */
      const tw_key *to = mode == 2 ? &g_me.pk : &g_peer[1].pk;
      const uint8_t *shared = mode == 2 ? g_peer_shared[0] : g_shared_0_to_1;
      uint8_t nonce[TW_NONCE_SIZE] = {4};
      int m = tw_dht_packet_seal(pkt + TW_PUBLIC_KEY_SIZE, sizeof pkt - TW_PUBLIC_KEY_SIZE,
                                 TW_PACKET_DHT_REQUEST, &g_peer[0].pk, nonce, shared, plain, plen);
      if (m > 0) {
        pkt[0] = TW_PACKET_DHT_REQUEST;
        memcpy(pkt + 1, to->bytes, TW_PUBLIC_KEY_SIZE);
        n = (size_t)m + TW_PUBLIC_KEY_SIZE;
      }
    }
    if (n > 0) {
      int e3 = tw_dht_handle_packet(d, &g_peer_addr[0], pkt, n, T0 + 3);
      fed++;
      FUZZ_CHECK(e3 <= 0 && e3 > TW_E__LAST);
    }
  }
  check_stats(d, fed, T0 + 3);
  tw_node_info sres[8], found;
  FUZZ_CHECK(tw_dht_search_result(d, &search_key, sres, 8, &found, T0 + 3) <= 8);

  /* Timers: at the deadline, then when silent nodes go bad and are gone. */
  tw_time_ms next = tw_dht_next_deadline(d);
  if (next != TW_NEVER && next < T0 + 10000) tw_dht_on_timer(d, next > T0 + 3 ? next : T0 + 3);
  tw_dht_on_timer(d, T0 + TW_DHT_BAD_AFTER_MS + 1);
  tw_dht_on_timer(d, T0 + TW_DHT_REMOVE_AFTER_MS + 2);
  FUZZ_CHECK(tw_dht_next_deadline(d) > T0 + TW_DHT_REMOVE_AFTER_MS + 2);
  check_stats(d, fed, T0 + TW_DHT_REMOVE_AFTER_MS + 2);
  tw_dht_free(d);
  return 0;
}
