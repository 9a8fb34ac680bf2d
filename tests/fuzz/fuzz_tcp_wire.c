/* Fuzzes the TCP relay wire formats and the stream framing
 * (src/tcp_relay/tcp_wire.h, tcp_stream.h).
 *
 * Input: [flags][cut lengths][stream S]
 *   flags bits 0-1  what S starts with: 1 a client handshake (128 bytes),
 *                   2 a handshake response (96 bytes), 0 or 3 frames only
 *   flags bits 2-7  how many cut lengths follow (at most 16)
 *   cut lengths     S is fed to tw_tcp_stream_next in chunks of these
 *                   sizes, cycled (0: an empty read); none: one read
 * Each chunk is a buffer of its own, freed after the call, so a message
 * handed out must lie inside the chunk or the stream's own buffer.
 *
 * Checked:
 *   - tw_tcp_packet_parse on S, on the whole input and on every opened
 *     frame gives exactly the verdict of an independent model of the
 *     formats; what parses has its fields in range (OOB data 1..1024 bytes,
 *     connection ids 0 or >= 16, ping ids not 0), its data inside the input
 *     and ending with it, and the writers rebuild the same bytes;
 *   - the messages the chunked reads hand out are those an independent
 *     one-pass reader finds in S, the same bytes, with the same error
 *     (TW_E_LONG / TW_E_SHORT) at the same offset, and the stream reports a
 *     partial message exactly when S ends inside one;
 *   - a handshake or response that opens rebuilds to the same bytes; one
 *     built from input bytes always opens to the same hello;
 *   - frames sealed with the fixed frame key open, advance the receive
 *     nonce by one (a frame that does not open leaves it alone), and sealed
 *     again by a second stream come out byte for byte the same through a
 *     writer that takes a few bytes at a time (or none).
 *
 * TW_FUZZ_WRITE_SEEDS=DIR: write hand-made seeds for corpus/tcp_wire to DIR
 * and exit. */
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
#include "toxwire/tcp_relay.h"

#define MAX_CUTS 16

/* Throwaway frame key and receive base nonce (near a carry) for the frames
 * in the seeds; they protect nothing. */
static const uint8_t FRAME_SHARED[TW_SHARED_KEY_SIZE] = {
    0x74, 0x63, 0x70, 0x2d, 0x66, 0x72, 0x61, 0x6d, 0x65, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
};
static const uint8_t FRAME_BASE[TW_NONCE_SIZE] = {
    0x62, 0x61, 0x73, 0x65, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xfe,
};

static tw_keypair g_server, g_client;
static uint8_t g_hs_shared[TW_SHARED_KEY_SIZE]; /* g_client with g_server */

static void init_once(void) {
  static int done;
  if (done) return;
  done = 1;
  g_server = *fuzz_me();
  fuzz_rng r = {0x746370};
  tw_env env = {.random_bytes = fuzz_rng_fill, .random_ctx = &r};
  tw_keypair_generate(&g_client, &env);
  tw_shared_key_compute(g_hs_shared, &g_server.pk, g_client.sk);
}

/* ---- packets ---- */

/* The verdict tw_tcp_packet_parse must give, from the format alone. */
static int model_parse(const uint8_t *b, size_t n) {
  if (n == 0) return TW_E_SHORT;
  if (n > TW_TCP_MAX_PACKET) return TW_E_LONG;
  size_t want;
  switch (b[0]) {
  case TW_TCP_ROUTE_REQUEST: want = 1 + 32; break;
  case TW_TCP_ROUTE_RESPONSE:
    want = 2 + 32;
    if (n == want && b[1] != 0 && b[1] < 16) return TW_E_FORMAT;
    break;
  case TW_TCP_CONNECT_NOTIFICATION:
  case TW_TCP_DISCONNECT_NOTIFICATION:
    want = 2;
    if (n == want && b[1] < 16) return TW_E_FORMAT;
    break;
  case TW_TCP_PING:
  case TW_TCP_PONG: {
    want = 9;
    static const uint8_t zero[8];
    if (n == want && memcmp(b + 1, zero, 8) == 0) return TW_E_FORMAT;
    break;
  }
  case TW_TCP_OOB_SEND:
  case TW_TCP_OOB_RECV:
    if (n <= 1 + 32) return TW_E_SHORT;
    return n - 33 > TW_TCP_MAX_OOB_DATA ? TW_E_LONG : TW_OK;
  case TW_TCP_ONION_REQUEST:
  case TW_TCP_ONION_RESPONSE:
    return n == 1 ? TW_E_SHORT : TW_OK;
  default:
    if (b[0] < TW_TCP_FIRST_CONN_ID) return TW_E_KIND;
    return n == 1 ? TW_E_SHORT : TW_OK;
  }
  return n < want ? TW_E_SHORT : n > want ? TW_E_LONG : TW_OK;
}

static void check_packet(const uint8_t *in, size_t n) {
  /* A copy of its own, so reads past the end are caught. */
  uint8_t *b = malloc(n ? n : 1);
  if (b == NULL) abort();
  memcpy(b, in, n);
  tw_tcp_packet p;
  int rc = tw_tcp_packet_parse(&p, b, n);
  FUZZ_CHECK(fuzz_known_error(rc));
  FUZZ_CHECK(rc == model_parse(b, n));
  if (rc != TW_OK) {
    free(b);
    return;
  }
  FUZZ_CHECK(p.kind == b[0]);
  if (p.data != NULL) {
    FUZZ_CHECK(p.data > b && p.len < n && p.data + p.len == b + n);
    { volatile uint8_t last = p.data[p.len - 1]; (void)last; }
  }
  uint8_t out[TW_TCP_MAX_PACKET];
  size_t w = 0;
  switch (p.kind) {
  case TW_TCP_ROUTE_REQUEST:
    FUZZ_CHECK(p.data == NULL && memcmp(p.pk.bytes, b + 1, 32) == 0);
    w = tw_tcp_write_route_request(out, &p.pk);
    break;
  case TW_TCP_ROUTE_RESPONSE:
    FUZZ_CHECK(p.conn_id == 0 || p.conn_id >= TW_TCP_FIRST_CONN_ID);
    FUZZ_CHECK(p.data == NULL && memcmp(p.pk.bytes, b + 2, 32) == 0);
    w = tw_tcp_write_route_response(out, p.conn_id, &p.pk);
    break;
  case TW_TCP_CONNECT_NOTIFICATION:
  case TW_TCP_DISCONNECT_NOTIFICATION:
    FUZZ_CHECK(p.conn_id >= TW_TCP_FIRST_CONN_ID && p.data == NULL);
    w = tw_tcp_write_notification(out, p.kind, p.conn_id);
    break;
  case TW_TCP_PING:
  case TW_TCP_PONG:
    FUZZ_CHECK(p.ping_id != 0 && p.data == NULL);
    w = tw_tcp_write_ping(out, p.kind, p.ping_id);
    break;
  case TW_TCP_OOB_SEND:
  case TW_TCP_OOB_RECV:
    FUZZ_CHECK(p.len >= 1 && p.len <= TW_TCP_MAX_OOB_DATA);
    FUZZ_CHECK(p.data == b + 33 && memcmp(p.pk.bytes, b + 1, 32) == 0);
    w = tw_tcp_write_keyed(out, p.kind, &p.pk, p.data, p.len);
    break;
  case TW_TCP_ONION_REQUEST:
  case TW_TCP_ONION_RESPONSE:
    FUZZ_CHECK(p.data == b + 1 && p.len >= 1);
    w = tw_tcp_write_data(out, p.kind, p.data, p.len);
    break;
  default:
    FUZZ_CHECK(p.kind >= TW_TCP_FIRST_CONN_ID && p.conn_id == p.kind);
    FUZZ_CHECK(p.data == b + 1 && p.len >= 1);
    w = tw_tcp_write_data(out, p.kind, p.data, p.len);
    break;
  }
  FUZZ_CHECK(w == n && memcmp(out, b, n) == 0);
  free(b);
}

/* ---- handshakes ---- */

static void check_handshake(const uint8_t *msg) {
  uint8_t in[TW_TCP_HANDSHAKE_SIZE];
  memcpy(in, msg, sizeof in);
  tw_key pk;
  tw_tcp_handshake_client_pk(in, &pk);
  FUZZ_CHECK(memcmp(pk.bytes, in, 32) == 0);
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_shared_key_compute(shared, &pk, g_server.sk);
  tw_tcp_hello h;
  int rc = tw_tcp_handshake_open(in, shared, &h);
  FUZZ_CHECK(rc == TW_OK || rc == TW_E_CRYPTO);
  if (rc != TW_OK) return;
  tw_keypair kp = {.pk = pk};
  uint8_t again[TW_TCP_HANDSHAKE_SIZE];
  tw_tcp_handshake_build(again, &kp, shared, in + 32, &h);
  FUZZ_CHECK(memcmp(again, in, sizeof in) == 0);
}

static void check_response(const uint8_t *msg) {
  uint8_t in[TW_TCP_HANDSHAKE_RESPONSE_SIZE];
  memcpy(in, msg, sizeof in);
  tw_tcp_hello h;
  int rc = tw_tcp_handshake_response_open(in, g_hs_shared, &h);
  FUZZ_CHECK(rc == TW_OK || rc == TW_E_CRYPTO);
  if (rc != TW_OK) return;
  uint8_t again[TW_TCP_HANDSHAKE_RESPONSE_SIZE];
  tw_tcp_handshake_response_build(again, g_hs_shared, in, &h);
  FUZZ_CHECK(memcmp(again, in, sizeof in) == 0);
}

/* A hello taken from the input survives build and open both ways. */
static void check_hello_roundtrip(const uint8_t *b, size_t n) {
  if (n < 32 + 24 + 24) return;
  tw_tcp_hello h, got;
  memcpy(h.temp_pk.bytes, b, 32);
  memcpy(h.base_nonce, b + 32, 24);
  const uint8_t *nonce = b + 56;
  uint8_t hs[TW_TCP_HANDSHAKE_SIZE];
  tw_tcp_handshake_build(hs, &g_client, g_hs_shared, nonce, &h);
  FUZZ_CHECK(memcmp(hs, g_client.pk.bytes, 32) == 0 && memcmp(hs + 32, nonce, 24) == 0);
  memset(&got, 0, sizeof got);
  FUZZ_CHECK(tw_tcp_handshake_open(hs, g_hs_shared, &got) == TW_OK);
  FUZZ_CHECK(memcmp(&got, &h, sizeof h) == 0);
  uint8_t resp[TW_TCP_HANDSHAKE_RESPONSE_SIZE];
  tw_tcp_handshake_response_build(resp, g_hs_shared, nonce, &h);
  memset(&got, 0, sizeof got);
  FUZZ_CHECK(tw_tcp_handshake_response_open(resp, g_hs_shared, &got) == TW_OK);
  FUZZ_CHECK(memcmp(&got, &h, sizeof h) == 0);
  /* A changed byte makes both fail. */
  size_t at = b[0] % sizeof hs;
  if (at >= 32) { /* the key is read in the clear; the rest is sealed */
    hs[at] ^= 0x40;
    FUZZ_CHECK(tw_tcp_handshake_open(hs, g_hs_shared, &got) == TW_E_CRYPTO);
  }
  resp[b[1] % sizeof resp] ^= 0x40;
  FUZZ_CHECK(tw_tcp_handshake_response_open(resp, g_hs_shared, &got) == TW_E_CRYPTO);
}

/* ---- nonces ---- */

static void add_one(uint8_t n[TW_NONCE_SIZE]) {
  unsigned carry = 1;
  for (int i = TW_NONCE_SIZE - 1; i >= 0 && carry; i--) {
    unsigned v = n[i] + carry;
    n[i] = (uint8_t)v;
    carry = v >> 8;
  }
}

/* ---- the one-pass model of the stream ---- */

typedef struct model {
  size_t *off, *len; /* messages: offsets into S */
  size_t n;
  int err;           /* TW_OK or the error */
  size_t err_at;     /* bytes consumed when it came */
  bool partial;      /* S ends inside a message */
} model;

static void model_read(model *m, const uint8_t *s, size_t n, size_t fixed) {
  size_t pos = 0;
  m->n = 0;
  m->err = TW_OK;
  m->partial = false;
  if (fixed) {
    if (n < fixed) {
      m->partial = n > 0;
      return;
    }
    m->off[m->n] = 0;
    m->len[m->n++] = fixed;
    pos = fixed;
  }
  while (pos < n) {
    if (n - pos < 2) {
      m->partial = true;
      return;
    }
    size_t len = (size_t)s[pos] << 8 | s[pos + 1];
    pos += 2;
    if (len > TW_TCP_MAX_FRAME_CIPHER || len <= TW_MAC_SIZE) {
      m->err = len > TW_TCP_MAX_FRAME_CIPHER ? TW_E_LONG : TW_E_SHORT;
      m->err_at = pos;
      return;
    }
    if (n - pos < len) {
      m->partial = true;
      return;
    }
    m->off[m->n] = pos;
    m->len[m->n++] = len;
    pos += len;
  }
}

/* ---- the writer side ---- */

typedef struct sink {
  uint8_t *b;
  size_t n, cap;
  const uint8_t *steps; /* how much each write takes (cycled), 0: none */
  size_t nsteps, step;
  bool take_all;
} sink;

static long sink_write(void *ctx, void *user, const uint8_t *bytes, size_t len) {
  sink *k = ctx;
  FUZZ_CHECK(user == NULL && len > 0);
  size_t take = len;
  if (!k->take_all && k->nsteps > 0) {
    take = k->steps[k->step++ % k->nsteps];
    if (take > len) take = len;
  }
  FUZZ_CHECK(k->n + take <= k->cap);
  memcpy(k->b + k->n, bytes, take);
  k->n += take;
  return (long)take;
}

/* ---- the run ---- */

typedef struct run_state {
  tw_tcp_stream rx, tx;
  uint8_t *expect; /* what tx must write: the frames that opened */
  size_t expect_n;
  sink out;
} run_state;

static void on_frame(run_state *r, const uint8_t *msg, size_t mlen) {
  FUZZ_CHECK(mlen > TW_MAC_SIZE && mlen <= TW_TCP_MAX_FRAME_CIPHER);
  size_t plen = mlen - TW_MAC_SIZE;
  uint8_t *plain = malloc(plen);
  if (plain == NULL) abort();
  uint8_t before[TW_NONCE_SIZE];
  memcpy(before, r->rx.recv_nonce, sizeof before);
  int rc = tw_tcp_stream_open(&r->rx, msg, mlen, plain);
  FUZZ_CHECK(rc == TW_OK || rc == TW_E_CRYPTO);
  if (rc != TW_OK) {
    FUZZ_CHECK(memcmp(before, r->rx.recv_nonce, sizeof before) == 0);
    free(plain);
    return;
  }
  add_one(before);
  FUZZ_CHECK(memcmp(before, r->rx.recv_nonce, sizeof before) == 0);
  check_packet(plain, plen);
  /* Sealed again, it must be the same frame. */
  size_t q_before = r->tx.q_len;
  FUZZ_CHECK(tw_tcp_stream_seal(&r->tx, plain, plen, q_before + 1 + mlen) == TW_E_FULL);
  FUZZ_CHECK(r->tx.q_len == q_before);
  FUZZ_CHECK(tw_tcp_stream_seal(&r->tx, plain, plen, q_before + 2 + mlen) == TW_OK);
  FUZZ_CHECK(r->tx.q_len == q_before + 2 + mlen);
  r->expect[r->expect_n++] = (uint8_t)(mlen >> 8);
  r->expect[r->expect_n++] = (uint8_t)mlen;
  memcpy(r->expect + r->expect_n, msg, mlen);
  r->expect_n += mlen;
  free(plain);
  /* Some of it goes out now. */
  long w = tw_tcp_stream_write(&r->tx, sink_write, &r->out, NULL);
  FUZZ_CHECK(w >= 0);
  FUZZ_CHECK(r->out.n + r->tx.q_len == r->expect_n);
  FUZZ_CHECK(memcmp(r->out.b, r->expect, r->out.n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_once();
  check_packet(data, size);
  if (size == 0) return 0;
  uint8_t flags = data[0];
  size_t fixed = (flags & 3) == 1 ? TW_TCP_HANDSHAKE_SIZE
                 : (flags & 3) == 2 ? TW_TCP_HANDSHAKE_RESPONSE_SIZE
                                    : 0;
  size_t ncuts = flags >> 2;
  if (ncuts > MAX_CUTS) ncuts = MAX_CUTS;
  if (ncuts > size - 1) ncuts = size - 1;
  const uint8_t *cuts = data + 1;
  size_t sum = 0;
  for (size_t i = 0; i < ncuts; i++) sum += cuts[i];
  if (sum == 0) ncuts = 0;
  const uint8_t *s = data + 1 + ncuts;
  size_t n = size - 1 - ncuts;

  check_packet(s, n);
  check_hello_roundtrip(s, n);

  model m;
  size_t maxmsg = n / 3 + 2;
  m.off = malloc(maxmsg * sizeof *m.off);
  m.len = malloc(maxmsg * sizeof *m.len);
  if (m.off == NULL || m.len == NULL) abort();
  model_read(&m, s, n, fixed);

  run_state r;
  memset(&r, 0, sizeof r);
  memcpy(r.rx.shared, FRAME_SHARED, sizeof FRAME_SHARED);
  memcpy(r.rx.recv_nonce, FRAME_BASE, sizeof FRAME_BASE);
  memcpy(r.tx.shared, FRAME_SHARED, sizeof FRAME_SHARED);
  memcpy(r.tx.send_nonce, FRAME_BASE, sizeof FRAME_BASE);
  r.expect = malloc(n + 1);
  r.out.b = malloc(n + 1);
  if (r.expect == NULL || r.out.b == NULL) abort();
  r.out.cap = n + 1;
  r.out.steps = cuts;
  r.out.nsteps = ncuts;

  size_t consumed = 0, k = 0, ci = 0;
  int err = TW_OK;
  size_t err_at = 0;
  while (consumed < n) {
    size_t clen = ncuts ? cuts[ci++ % ncuts] : n;
    if (clen > n - consumed) clen = n - consumed;
    uint8_t *chunk = malloc(clen ? clen : 1);
    if (chunk == NULL) abort();
    memcpy(chunk, s + consumed, clen);
    const uint8_t *p = chunk;
    size_t left = clen;
    for (;;) {
      size_t fx = fixed && k == 0 ? fixed : 0;
      const uint8_t *msg = NULL;
      size_t mlen = 0;
      int got = tw_tcp_stream_next(&r.rx, &p, &left, fx, &msg, &mlen);
      FUZZ_CHECK(left <= clen && p == chunk + (clen - left));
      if (got == 0) {
        FUZZ_CHECK(left == 0);
        break;
      }
      if (got < 0) {
        err = got;
        err_at = consumed + (clen - left);
        break;
      }
      FUZZ_CHECK(got == 1);
      FUZZ_CHECK(k < m.n);
      bool in_chunk = msg >= chunk && mlen <= clen && msg <= chunk + clen - mlen &&
                      msg + mlen <= p;
      bool in_part = r.rx.part != NULL && msg == r.rx.part && mlen == r.rx.part_need;
      FUZZ_CHECK(in_chunk || in_part);
      FUZZ_CHECK(mlen == m.len[k] && memcmp(msg, s + m.off[k], mlen) == 0);
      if (fx == TW_TCP_HANDSHAKE_SIZE) check_handshake(msg);
      else if (fx == TW_TCP_HANDSHAKE_RESPONSE_SIZE) check_response(msg);
      else on_frame(&r, msg, mlen);
      k++;
    }
    free(chunk);
    if (err != TW_OK) break;
    consumed += clen;
  }
  FUZZ_CHECK(fuzz_known_error(err));
  FUZZ_CHECK(err == m.err);
  if (err != TW_OK) {
    FUZZ_CHECK(err_at == m.err_at && k == m.n);
  } else {
    FUZZ_CHECK(k == m.n);
    FUZZ_CHECK(tw_tcp_stream_partial(&r.rx) == m.partial);
  }

  /* The rest goes out; all of it is what came in. */
  r.out.take_all = true;
  FUZZ_CHECK(tw_tcp_stream_write(&r.tx, sink_write, &r.out, NULL) >= 0);
  FUZZ_CHECK(r.tx.q_len == 0);
  FUZZ_CHECK(r.out.n == r.expect_n && memcmp(r.out.b, r.expect, r.out.n) == 0);

  tw_tcp_stream_clear(&r.rx);
  tw_tcp_stream_clear(&r.tx);
  free(r.expect);
  free(r.out.b);
  free(m.off);
  free(m.len);
  return 0;
}

/* ---- seeds ---- */

typedef struct wr {
  uint8_t b[8192];
  size_t n;
} wr;

static void putn(wr *w, const void *p, size_t n) {
  if (n == 0) return;
  if (w->n + n > sizeof w->b) abort();
  memcpy(w->b + w->n, p, n);
  w->n += n;
}
static void put8(wr *w, uint8_t v) { putn(w, &v, 1); }

/* Seals plains with the frame key, from the base nonce on. */
static void frames(wr *w, const uint8_t *const *plains, const size_t *lens, size_t count) {
  tw_tcp_stream tx;
  memset(&tx, 0, sizeof tx);
  memcpy(tx.shared, FRAME_SHARED, sizeof FRAME_SHARED);
  memcpy(tx.send_nonce, FRAME_BASE, sizeof FRAME_BASE);
  for (size_t i = 0; i < count; i++)
    if (tw_tcp_stream_seal(&tx, plains[i], lens[i], SIZE_MAX) != TW_OK) abort();
  putn(w, tx.q + tx.q_head, tx.q_len);
  tw_tcp_stream_clear(&tx);
}

static void header(wr *w, uint8_t mode, const uint8_t *cuts, size_t ncuts) {
  w->n = 0;
  put8(w, (uint8_t)(mode | ncuts << 2));
  putn(w, cuts, ncuts);
}

static void write_seeds(const char *dir) {
  init_once();
  mkdir(dir, 0755);
  wr w;
  uint8_t pkt[8][TW_TCP_MAX_PACKET];
  const uint8_t *pl[8];
  size_t ln[8];
  for (int i = 0; i < 8; i++) pl[i] = pkt[i];
  tw_key other;
  memset(other.bytes, 0x42, sizeof other.bytes);
  uint8_t payload[1100];
  for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 7);

  /* A client handshake, then a ping and a route request, in one read. */
  {
    tw_tcp_hello h;
    memset(&h, 0, sizeof h);
    memset(h.temp_pk.bytes, 0x11, 32);
    memset(h.base_nonce, 0x22, 24);
    uint8_t nonce[TW_NONCE_SIZE] = {9, 8, 7};
    uint8_t hs[TW_TCP_HANDSHAKE_SIZE];
    tw_tcp_handshake_build(hs, &g_client, g_hs_shared, nonce, &h);
    header(&w, 1, NULL, 0);
    putn(&w, hs, sizeof hs);
    ln[0] = tw_tcp_write_ping(pkt[0], TW_TCP_PING, 0x0102030405060708ULL);
    ln[1] = tw_tcp_write_route_request(pkt[1], &other);
    frames(&w, pl, ln, 2);
    fuzz_write_seed(dir, "handshake-frames", w.b, w.n);

    /* The same cut into small reads. */
    static const uint8_t cuts[] = {1, 0, 5, 64, 127, 2};
    wr w2;
    header(&w2, 1, cuts, sizeof cuts);
    putn(&w2, w.b + 1, w.n - 1);
    fuzz_write_seed(dir, "handshake-frames-cut", w2.b, w2.n);
  }
  /* A handshake response, then every server packet, in odd reads. */
  {
    tw_tcp_hello h;
    memset(h.temp_pk.bytes, 0x33, 32);
    memset(h.base_nonce, 0x44, 24);
    uint8_t nonce[TW_NONCE_SIZE] = {1};
    uint8_t resp[TW_TCP_HANDSHAKE_RESPONSE_SIZE];
    tw_tcp_handshake_response_build(resp, g_hs_shared, nonce, &h);
    static const uint8_t cuts[] = {3, 200, 17};
    header(&w, 2, cuts, sizeof cuts);
    putn(&w, resp, sizeof resp);
    ln[0] = tw_tcp_write_route_response(pkt[0], 16, &other);
    ln[1] = tw_tcp_write_notification(pkt[1], TW_TCP_CONNECT_NOTIFICATION, 16);
    ln[2] = tw_tcp_write_data(pkt[2], 16, payload, 300);
    ln[3] = tw_tcp_write_keyed(pkt[3], TW_TCP_OOB_RECV, &other, payload, 1024);
    ln[4] = tw_tcp_write_data(pkt[4], TW_TCP_ONION_RESPONSE, payload, 150);
    ln[5] = tw_tcp_write_ping(pkt[5], TW_TCP_PONG, 77);
    ln[6] = tw_tcp_write_notification(pkt[6], TW_TCP_DISCONNECT_NOTIFICATION, 255);
    frames(&w, pl, ln, 7);
    fuzz_write_seed(dir, "response-frames", w.b, w.n);
  }
  /* Frames only, client packets, one the largest there is. */
  {
    static const uint8_t cuts[] = {255, 255, 1};
    header(&w, 0, cuts, sizeof cuts);
    ln[0] = tw_tcp_write_keyed(pkt[0], TW_TCP_OOB_SEND, &other, payload, 1);
    ln[1] = tw_tcp_write_data(pkt[1], TW_TCP_ONION_REQUEST, payload, 1000);
    ln[2] = tw_tcp_write_data(pkt[2], 200, payload, 1);
    memset(pkt[3], 0xee, TW_TCP_MAX_PACKET);
    ln[3] = TW_TCP_MAX_PACKET;
    frames(&w, pl, ln, 4);
    fuzz_write_seed(dir, "frames-large", w.b, w.n);
  }
  /* Malformed packets, well sealed: bad ids, lengths, kinds. */
  {
    header(&w, 0, NULL, 0);
    ln[0] = tw_tcp_write_route_response(pkt[0], 5, &other);
    ln[1] = tw_tcp_write_ping(pkt[1], TW_TCP_PING, 0);
    ln[2] = tw_tcp_write_keyed(pkt[2], TW_TCP_OOB_RECV, &other, payload, 1025);
    pkt[3][0] = 0x0c;
    pkt[3][1] = 0;
    ln[3] = 2;
    ln[4] = tw_tcp_write_notification(pkt[4], TW_TCP_CONNECT_NOTIFICATION, 3);
    pkt[4][ln[4]++] = 0;
    pkt[5][0] = TW_TCP_ROUTE_REQUEST;
    ln[5] = 20;
    memset(pkt[5] + 1, 1, 19);
    frames(&w, pl, ln, 6);
    fuzz_write_seed(dir, "frames-malformed", w.b, w.n);
  }
  /* A frame that does not open, and lengths out of range. */
  {
    static const uint8_t cuts[] = {1};
    header(&w, 0, cuts, sizeof cuts);
    ln[0] = tw_tcp_write_ping(pkt[0], TW_TCP_PING, 1);
    frames(&w, pl, ln, 1);
    w.b[w.n - 1] ^= 1;
    put8(&w, 0x08);
    put8(&w, 0x01);
    fuzz_write_seed(dir, "frame-bad-long", w.b, w.n);
    header(&w, 3, NULL, 0);
    put8(&w, 0);
    put8(&w, 16);
    putn(&w, payload, 16);
    fuzz_write_seed(dir, "frame-short", w.b, w.n);
  }
  /* Plain packets read as they are (the whole of S parsed). */
  {
    header(&w, 0, NULL, 0);
    ln[0] = tw_tcp_write_keyed(pkt[0], TW_TCP_OOB_SEND, &other, payload, 40);
    putn(&w, pkt[0], ln[0]);
    fuzz_write_seed(dir, "plain-oob", w.b, w.n);
    header(&w, 0, NULL, 0);
    ln[0] = tw_tcp_write_route_response(pkt[0], 0, &other);
    putn(&w, pkt[0], ln[0]);
    fuzz_write_seed(dir, "plain-route-response", w.b, w.n);
  }
}

FUZZ_SEED_WRITER(write_seeds)
