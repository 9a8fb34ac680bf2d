/* The TCP relay (spec "TCP server", "TCP client"): wire formats, stream
 * framing, and a server relaying between clients.
 *
 * Wire and stream tests call tcp_wire.h / tcp_stream.h directly. Scenario
 * tests run one tw_tcp_server and several tw_tcp_client in one process: each
 * "side" is one client and its connection on the server, with a byte buffer
 * per direction. pump() moves bytes until nothing moves, optionally in
 * chunks of a few bytes so every read is partial; advance() steps the fake
 * clock from deadline to deadline. Flags on a side stand for a broken
 * socket: stuck (the server's writes take nothing), deaf / mute (bytes to /
 * from the client are lost). A "raw" side has no tw_tcp_client: the test
 * writes its handshake and frames itself, to send what a good client never
 * would. Randomness is testutil.h's seeded generator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/crypto.h"
#include "tcp_relay/tcp_stream.h"
#include "tcp_relay/tcp_wire.h"
#include "bytebuf.h"
#include "testutil.h"
#include "toxwire/error.h"
#include "toxwire/tcp_relay.h"

/* The spec's numbers, written out so a wrong library constant fails. */
#define SPEC_HANDSHAKE 128
#define SPEC_HANDSHAKE_RESPONSE 96
#define SPEC_MAX_CIPHER 2048
#define SPEC_MAX_PLAIN (SPEC_MAX_CIPHER - 16)
#define SPEC_MAX_OOB 1024
#define SPEC_FIRST_ID 16
#define SPEC_MAX_LINKS 240

#define T0 ((tw_time_ms)1000000)
#define MAX_SIDES 8


static void fill_pattern(uint8_t *p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

static tw_key key_n(unsigned n) {
  tw_key k = test_key_fill(0x5a);
  k.bytes[0] = (uint8_t)n;
  k.bytes[1] = (uint8_t)(n >> 8);
  return k;
}

/* ================================================================== */
/* Wire formats                                                       */
/* ================================================================== */

static void hello_fill(tw_tcp_hello *h, uint8_t seed) {
  h->temp_pk = test_key_fill(seed);
  memset(h->base_nonce, seed + 1, sizeof h->base_nonce);
}

static void assert_hello_equal(const tw_tcp_hello *a, const tw_tcp_hello *b) {
  assert_memory_equal(a->temp_pk.bytes, b->temp_pk.bytes, TW_PUBLIC_KEY_SIZE);
  assert_memory_equal(a->base_nonce, b->base_nonce, TW_NONCE_SIZE);
}

/* The server learns the client's key from the clear prefix, derives the
 * shared key, and opens what the client sealed; any changed byte fails. */
static void test_handshake_round_trip_and_tamper_refused(void **state) {
  (void)state;
  assert_int_equal(TW_TCP_HANDSHAKE_SIZE, SPEC_HANDSHAKE);
  tw_keypair client = test_keypair(1), server = test_keypair(2);
  uint8_t cs[TW_SHARED_KEY_SIZE], nonce[TW_NONCE_SIZE], hs[SPEC_HANDSHAKE];
  tw_shared_key_compute(cs, &server.pk, client.sk);
  memset(nonce, 0x33, sizeof nonce);
  tw_tcp_hello sent, got;
  hello_fill(&sent, 0x40);
  tw_tcp_handshake_build(hs, &client, cs, nonce, &sent);
  assert_memory_equal(hs, client.pk.bytes, 32); /* [client pk][nonce][box] */
  assert_memory_equal(hs + 32, nonce, 24);

  for (int i = -1; i < SPEC_HANDSHAKE; i++) {
    uint8_t in[SPEC_HANDSHAKE], ss[TW_SHARED_KEY_SIZE];
    memcpy(in, hs, sizeof in);
    if (i >= 0) in[i] ^= 0x01;
    tw_key pk;
    tw_tcp_handshake_client_pk(in, &pk);
    tw_shared_key_compute(ss, &pk, server.sk);
    int rc = tw_tcp_handshake_open(in, ss, &got);
    if (i < 0) {
      assert_int_equal(rc, TW_OK);
      assert_memory_equal(pk.bytes, client.pk.bytes, 32);
      assert_hello_equal(&got, &sent);
    } else {
      assert_int_equal(rc, TW_E_CRYPTO);
    }
  }
}

static void test_handshake_response_round_trip_and_tamper_refused(void **state) {
  (void)state;
  assert_int_equal(TW_TCP_HANDSHAKE_RESPONSE_SIZE, SPEC_HANDSHAKE_RESPONSE);
  uint8_t shared[TW_SHARED_KEY_SIZE], nonce[TW_NONCE_SIZE], out[SPEC_HANDSHAKE_RESPONSE];
  memset(shared, 0x21, sizeof shared);
  memset(nonce, 0x77, sizeof nonce);
  tw_tcp_hello sent, got;
  hello_fill(&sent, 0x90);
  tw_tcp_handshake_response_build(out, shared, nonce, &sent);
  assert_memory_equal(out, nonce, 24); /* [nonce][box] */
  assert_int_equal(tw_tcp_handshake_response_open(out, shared, &got), TW_OK);
  assert_hello_equal(&got, &sent);
  for (int i = 0; i < SPEC_HANDSHAKE_RESPONSE; i++) {
    out[i] ^= 0x80;
    assert_int_equal(tw_tcp_handshake_response_open(out, shared, &got), TW_E_CRYPTO);
    out[i] ^= 0x80;
  }
  shared[0] ^= 1; /* answered with another key */
  assert_int_equal(tw_tcp_handshake_response_open(out, shared, &got), TW_E_CRYPTO);
}

static void parse_ok(tw_tcp_packet *p, const uint8_t *b, size_t n) {
  assert_int_equal(tw_tcp_packet_parse(p, b, n), TW_OK);
}

static void test_every_packet_kind_parsed(void **state) {
  (void)state;
  uint8_t b[SPEC_MAX_PLAIN];
  tw_tcp_packet p;
  tw_key k = test_key_fill(0xab);
  uint8_t data[SPEC_MAX_OOB];
  fill_pattern(data, sizeof data, 3);

  assert_int_equal(tw_tcp_write_route_request(b, &k), 33);
  assert_int_equal(b[0], 0x00);
  parse_ok(&p, b, 33);
  assert_int_equal(p.kind, TW_TCP_ROUTE_REQUEST);
  assert_memory_equal(p.pk.bytes, k.bytes, 32);

  assert_int_equal(tw_tcp_write_route_response(b, 200, &k), 34);
  assert_int_equal(b[0], 0x01);
  parse_ok(&p, b, 34);
  assert_int_equal(p.kind, TW_TCP_ROUTE_RESPONSE);
  assert_int_equal(p.conn_id, 200);
  assert_memory_equal(p.pk.bytes, k.bytes, 32);
  tw_tcp_write_route_response(b, 0, &k); /* 0: refused, still well formed */
  parse_ok(&p, b, 34);
  assert_int_equal(p.conn_id, 0);

  static const uint8_t notes[] = {TW_TCP_CONNECT_NOTIFICATION, TW_TCP_DISCONNECT_NOTIFICATION};
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(tw_tcp_write_notification(b, notes[i], 16), 2);
    assert_int_equal(b[0], notes[i]);
    parse_ok(&p, b, 2);
    assert_int_equal(p.kind, notes[i]);
    assert_int_equal(p.conn_id, 16);
  }

  static const uint8_t pings[] = {TW_TCP_PING, TW_TCP_PONG};
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(tw_tcp_write_ping(b, pings[i], 0x0102030405060708ULL), 9);
    assert_int_equal(b[0], 0x04 + i);
    assert_int_equal(b[1], 0x01); /* big-endian */
    assert_int_equal(b[8], 0x08);
    parse_ok(&p, b, 9);
    assert_int_equal(p.kind, pings[i]);
    assert_int_equal(p.ping_id, 0x0102030405060708ULL);
  }

  static const uint8_t oobs[] = {TW_TCP_OOB_SEND, TW_TCP_OOB_RECV};
  for (size_t i = 0; i < 2; i++) {
    size_t lens[] = {1, SPEC_MAX_OOB};
    for (size_t j = 0; j < 2; j++) {
      size_t n = tw_tcp_write_keyed(b, oobs[i], &k, data, lens[j]);
      assert_int_equal(n, 33 + lens[j]);
      parse_ok(&p, b, n);
      assert_int_equal(p.kind, oobs[i]);
      assert_memory_equal(p.pk.bytes, k.bytes, 32);
      assert_int_equal(p.len, lens[j]);
      assert_memory_equal(p.data, data, lens[j]);
    }
  }

  static const uint8_t onions[] = {TW_TCP_ONION_REQUEST, TW_TCP_ONION_RESPONSE};
  for (size_t i = 0; i < 2; i++) {
    size_t n = tw_tcp_write_data(b, onions[i], data, 300);
    assert_int_equal(n, 301);
    assert_int_equal(b[0], 0x08 + i);
    parse_ok(&p, b, n);
    assert_int_equal(p.kind, onions[i]);
    assert_int_equal(p.len, 300);
    assert_memory_equal(p.data, data, 300);
  }

  /* Data: the first byte is the connection id, 16..255; up to 2031 bytes. */
  static const uint8_t ids[] = {16, 17, 128, 255};
  uint8_t big[SPEC_MAX_PLAIN];
  fill_pattern(big, sizeof big, 9);
  for (size_t i = 0; i < sizeof ids; i++) {
    size_t n = tw_tcp_write_data(b, ids[i], big, SPEC_MAX_PLAIN - 1);
    assert_int_equal(n, SPEC_MAX_PLAIN);
    parse_ok(&p, b, n);
    assert_int_equal(p.kind, ids[i]);
    assert_int_equal(p.conn_id, ids[i]);
    assert_int_equal(p.len, SPEC_MAX_PLAIN - 1);
    assert_memory_equal(p.data, big, SPEC_MAX_PLAIN - 1);
  }
  /* Writers refuse what would not fit one frame. */
  assert_int_equal(tw_tcp_write_data(b, 16, big, SPEC_MAX_PLAIN), 0);
  assert_int_equal(tw_tcp_write_keyed(b, TW_TCP_OOB_SEND, &k, big, SPEC_MAX_PLAIN - 32), 0);
}

/* Builds [kind][fill...] of n bytes. */
static size_t mk(uint8_t *b, uint8_t kind, size_t n, uint8_t fill) {
  memset(b, fill, n);
  if (n > 0) b[0] = kind;
  return n;
}

static void expect_parse(const uint8_t *b, size_t n, int code, const char *what) {
  tw_tcp_packet p;
  int rc = tw_tcp_packet_parse(&p, b, n);
  if (rc != code) fail_msg("%s (%zu bytes): got %d, want %d", what, n, rc, code);
}

static void test_every_malformed_packet_refused_with_its_code(void **state) {
  (void)state;
  uint8_t b[SPEC_MAX_PLAIN + 8] = {0};

  expect_parse(b, mk(b, 0, 0, 0), TW_E_SHORT, "empty");
  expect_parse(b, mk(b, 16, SPEC_MAX_PLAIN + 1, 1), TW_E_LONG, "over 2032 bytes");

  expect_parse(b, mk(b, 0x00, 32, 1), TW_E_SHORT, "route request short");
  expect_parse(b, mk(b, 0x00, 34, 1), TW_E_LONG, "route request long");
  expect_parse(b, mk(b, 0x01, 33, 16), TW_E_SHORT, "route response short");
  expect_parse(b, mk(b, 0x01, 35, 16), TW_E_LONG, "route response long");
  for (uint8_t id = 1; id < SPEC_FIRST_ID; id++) {
    mk(b, 0x01, 34, 7);
    b[1] = id;
    expect_parse(b, 34, TW_E_FORMAT, "route response id 1..15");
  }

  for (uint8_t kind = 0x02; kind <= 0x03; kind++) {
    expect_parse(b, mk(b, kind, 1, 0), TW_E_SHORT, "notification short");
    expect_parse(b, mk(b, kind, 3, 16), TW_E_LONG, "notification long");
    for (uint8_t id = 0; id < SPEC_FIRST_ID; id++) {
      b[0] = kind;
      b[1] = id;
      expect_parse(b, 2, TW_E_FORMAT, "notification id < 16");
    }
  }

  for (uint8_t kind = 0x04; kind <= 0x05; kind++) {
    expect_parse(b, mk(b, kind, 8, 1), TW_E_SHORT, "ping short");
    expect_parse(b, mk(b, kind, 10, 1), TW_E_LONG, "ping long");
    expect_parse(b, mk(b, kind, 9, 0), TW_E_FORMAT, "ping id 0");
  }

  for (uint8_t kind = 0x06; kind <= 0x07; kind++) {
    expect_parse(b, mk(b, kind, 32, 1), TW_E_SHORT, "oob without whole key");
    expect_parse(b, mk(b, kind, 33, 1), TW_E_SHORT, "oob empty");
    expect_parse(b, mk(b, kind, 33 + SPEC_MAX_OOB + 1, 1), TW_E_LONG, "oob over 1024");
    expect_parse(b, mk(b, kind, 33 + SPEC_MAX_OOB, 1), TW_OK, "oob of 1024");
  }

  expect_parse(b, mk(b, 0x08, 1, 0), TW_E_SHORT, "onion request empty");
  expect_parse(b, mk(b, 0x09, 1, 0), TW_E_SHORT, "onion response empty");
  expect_parse(b, mk(b, 16, 1, 0), TW_E_SHORT, "data empty");
  expect_parse(b, mk(b, 255, 1, 0), TW_E_SHORT, "data empty");

  for (uint8_t kind = 0x0a; kind <= 0x0f; kind++) {
    expect_parse(b, mk(b, kind, 1, 0), TW_E_KIND, "reserved kind");
    expect_parse(b, mk(b, kind, 40, 1), TW_E_KIND, "reserved kind");
  }
}

static void test_nonce_increment_is_big_endian_with_carry(void **state) {
  (void)state;
  uint8_t n[TW_NONCE_SIZE], want[TW_NONCE_SIZE];
  memset(n, 0, sizeof n);
  memset(want, 0, sizeof want);
  tw_tcp_nonce_increment(n);
  want[23] = 1;
  assert_memory_equal(n, want, 24);

  memset(n, 0, sizeof n);
  n[20] = 0x41;
  n[21] = n[22] = n[23] = 0xff;
  memset(want, 0, sizeof want);
  want[20] = 0x42;
  tw_tcp_nonce_increment(n);
  assert_memory_equal(n, want, 24);

  memset(n, 0xff, sizeof n); /* wraps to zero, no byte outside touched */
  tw_tcp_nonce_increment(n);
  memset(want, 0, sizeof want);
  assert_memory_equal(n, want, 24);
}

/* ================================================================== */
/* Stream framing                                                     */
/* ================================================================== */

/* A sender and a receiver stream sharing a key, nonces lined up. */
static void stream_pair(tw_tcp_stream *tx, tw_tcp_stream *rx) {
  memset(tx, 0, sizeof *tx);
  memset(rx, 0, sizeof *rx);
  memset(tx->shared, 0x5c, sizeof tx->shared);
  memcpy(rx->shared, tx->shared, sizeof rx->shared);
  memset(tx->send_nonce, 0xfe, sizeof tx->send_nonce); /* carries soon */
  memcpy(rx->recv_nonce, tx->send_nonce, sizeof rx->recv_nonce);
}

static long write_to_buf(void *ctx, void *user, const uint8_t *bytes, size_t len) {
  (void)user;
  buf_append(ctx, bytes, len);
  return (long)len;
}

/* Seals each payload (payload i: lens[i] bytes of pattern i) and returns
 * the stream bytes. */
static bytebuf seal_frames(tw_tcp_stream *tx, const size_t *lens, size_t n) {
  bytebuf out = {0};
  uint8_t plain[SPEC_MAX_PLAIN];
  for (size_t i = 0; i < n; i++) {
    fill_pattern(plain, lens[i], (uint8_t)i);
    assert_int_equal(tw_tcp_stream_seal(tx, plain, lens[i], SIZE_MAX), TW_OK);
  }
  assert_true(tw_tcp_stream_write(tx, write_to_buf, &out, NULL) > 0);
  assert_int_equal(tx->q_len, 0);
  return out;
}

/* Feeds one piece (copied to an exact-size heap block, so ASan sees any
 * read past it), opening and checking each whole frame against the
 * pattern. Returns frames seen so far. */
static size_t feed_frames(tw_tcp_stream *rx, const uint8_t *bytes, size_t len, const size_t *lens,
                          size_t seen) {
  uint8_t *copy = malloc(len ? len : 1);
  assert_non_null(copy);
  memcpy(copy, bytes, len);
  const uint8_t *p = copy;
  size_t n = len;
  for (;;) {
    const uint8_t *msg;
    size_t mlen;
    int got = tw_tcp_stream_next(rx, &p, &n, 0, &msg, &mlen);
    assert_true(got >= 0);
    if (got == 0) break;
    assert_int_equal(mlen, lens[seen] + TW_MAC_SIZE);
    uint8_t plain[SPEC_MAX_PLAIN], want[SPEC_MAX_PLAIN];
    assert_int_equal(tw_tcp_stream_open(rx, msg, mlen, plain), TW_OK);
    fill_pattern(want, lens[seen], (uint8_t)seen);
    assert_memory_equal(plain, want, lens[seen]);
    seen++;
  }
  assert_int_equal(n, 0);
  free(copy);
  return seen;
}

static void test_frames_split_at_every_byte_reassembled(void **state) {
  (void)state;
  static const size_t lens[] = {1, 300, SPEC_MAX_PLAIN};
  tw_tcp_stream tx, rx;
  stream_pair(&tx, &rx);
  bytebuf all = seal_frames(&tx, lens, 3);
  assert_int_equal(all.len, 3 * 18 + 1 + 300 + SPEC_MAX_PLAIN);
  uint8_t base[TW_NONCE_SIZE];
  memcpy(base, rx.recv_nonce, sizeof base);

  for (size_t cut = 0; cut <= all.len; cut++) {
    memcpy(rx.recv_nonce, base, sizeof base);
    size_t seen = feed_frames(&rx, all.p, cut, lens, 0);
    bool at_boundary = cut == 0 || cut == 19 || cut == 19 + 318 || cut == all.len;
    assert_int_equal(tw_tcp_stream_partial(&rx), !at_boundary);
    seen = feed_frames(&rx, all.p + cut, all.len - cut, lens, seen);
    assert_int_equal(seen, 3);
    assert_false(tw_tcp_stream_partial(&rx));
  }
  /* And one byte per read. */
  memcpy(rx.recv_nonce, base, sizeof base);
  size_t seen = 0;
  for (size_t i = 0; i < all.len; i++) seen = feed_frames(&rx, all.p + i, 1, lens, seen);
  assert_int_equal(seen, 3);
  buf_free(&all);
  tw_tcp_stream_clear(&tx);
  tw_tcp_stream_clear(&rx);
}

static void test_many_frames_in_one_read(void **state) {
  (void)state;
  size_t lens[200];
  for (size_t i = 0; i < 200; i++) lens[i] = 1 + (i * 37) % 700;
  tw_tcp_stream tx, rx;
  stream_pair(&tx, &rx);
  bytebuf all = seal_frames(&tx, lens, 200);
  assert_int_equal(feed_frames(&rx, all.p, all.len, lens, 0), 200);
  buf_free(&all);
  tw_tcp_stream_clear(&tx);
  tw_tcp_stream_clear(&rx);
}

static int next_of(const uint8_t *bytes, size_t len) {
  tw_tcp_stream rx;
  memset(&rx, 0, sizeof rx);
  const uint8_t *p = bytes, *msg;
  size_t n = len, mlen;
  int got = tw_tcp_stream_next(&rx, &p, &n, 0, &msg, &mlen);
  tw_tcp_stream_clear(&rx);
  return got;
}

static void test_frame_length_out_of_range_refused(void **state) {
  (void)state;
  uint8_t b[2 + SPEC_MAX_CIPHER + 2];
  memset(b, 0x11, sizeof b);
  for (unsigned len = 0; len <= TW_MAC_SIZE; len++) {
    b[0] = (uint8_t)(len >> 8);
    b[1] = (uint8_t)len;
    assert_int_equal(next_of(b, sizeof b), TW_E_SHORT);
  }
  static const unsigned longs[] = {SPEC_MAX_CIPHER + 1, 0x1000, 0xffff};
  for (size_t i = 0; i < 3; i++) {
    b[0] = (uint8_t)(longs[i] >> 8);
    b[1] = (uint8_t)longs[i];
    assert_int_equal(next_of(b, sizeof b), TW_E_LONG);
  }
  /* The bounds themselves are frames. */
  b[0] = 0;
  b[1] = TW_MAC_SIZE + 1;
  assert_int_equal(next_of(b, sizeof b), 1);
  b[0] = SPEC_MAX_CIPHER >> 8;
  b[1] = SPEC_MAX_CIPHER & 0xff;
  assert_int_equal(next_of(b, 2 + SPEC_MAX_CIPHER), 1);
  assert_int_equal(next_of(b, 2 + SPEC_MAX_CIPHER - 1), 0); /* waits for the rest */
}

static void test_frame_with_skipped_nonce_does_not_open(void **state) {
  (void)state;
  tw_tcp_stream tx, rx;
  stream_pair(&tx, &rx);
  static const size_t one[] = {20};
  bytebuf a = seal_frames(&tx, one, 1);
  assert_int_equal(feed_frames(&rx, a.p, a.len, one, 0), 1);
  tw_tcp_nonce_increment(tx.send_nonce); /* a frame went missing */
  bytebuf b = seal_frames(&tx, one, 1);
  const uint8_t *p = b.p, *msg;
  size_t n = b.len, mlen;
  assert_int_equal(tw_tcp_stream_next(&rx, &p, &n, 0, &msg, &mlen), 1);
  uint8_t plain[64];
  uint8_t before[TW_NONCE_SIZE];
  memcpy(before, rx.recv_nonce, sizeof before);
  assert_int_equal(tw_tcp_stream_open(&rx, msg, mlen, plain), TW_E_CRYPTO);
  assert_memory_equal(rx.recv_nonce, before, sizeof before); /* not counted */
  buf_free(&a);
  buf_free(&b);
  tw_tcp_stream_clear(&tx);
  tw_tcp_stream_clear(&rx);
}

/* Frames past the limit are refused whole; a partial write keeps the rest
 * in order. */
static long write_some(void *ctx, void *user, const uint8_t *bytes, size_t len) {
  (void)user;
  if (len > 5) len = 5;
  buf_append(ctx, bytes, len);
  return (long)len;
}

static void test_stream_queue_limit_and_partial_writes(void **state) {
  (void)state;
  tw_tcp_stream tx, rx;
  stream_pair(&tx, &rx);
  uint8_t plain[SPEC_MAX_PLAIN + 1];
  fill_pattern(plain, sizeof plain, 0);
  assert_int_equal(tw_tcp_stream_seal(&tx, plain, 100, 300), TW_OK); /* 118 */
  assert_int_equal(tw_tcp_stream_seal(&tx, plain, 100, 300), TW_OK); /* 236 */
  assert_int_equal(tw_tcp_stream_seal(&tx, plain, 100, 300), TW_E_FULL);
  assert_int_equal(tx.q_len, 236);
  assert_int_equal(tw_tcp_stream_seal(&tx, plain, SPEC_MAX_PLAIN + 1, SIZE_MAX), TW_E_LONG);
  bytebuf out = {0};
  assert_int_equal(tw_tcp_stream_write(&tx, write_some, &out, NULL), 236); /* 5 at a time */
  const uint8_t *p = out.p, *msg;
  size_t n = out.len, mlen;
  for (int i = 0; i < 2; i++) { /* both frames carry the same 100 bytes */
    assert_int_equal(tw_tcp_stream_next(&rx, &p, &n, 0, &msg, &mlen), 1);
    uint8_t got[100];
    assert_int_equal(mlen, 100 + TW_MAC_SIZE);
    assert_int_equal(tw_tcp_stream_open(&rx, msg, mlen, got), TW_OK);
    assert_memory_equal(got, plain, 100);
  }
  assert_int_equal(n, 0);
  buf_free(&out);
  tw_tcp_stream_clear(&tx);
  tw_tcp_stream_clear(&rx);
}

/* ================================================================== */
/* The in-test relay                                                  */
/* ================================================================== */

typedef struct evrec {
  tw_tcp_client_event_kind kind;
  uint8_t conn_id;
  tw_key pk;
  uint8_t *data;
  size_t len;
  int reason;
} evrec;

struct harness;

typedef struct side {
  struct harness *h;
  int idx;
  tw_keypair kp;
  tw_addr addr;
  test_rng rng;
  tw_env env;
  tw_tcp_client *cl;   /* NULL: a raw side the test drives itself */
  tw_tcp_stream raw;   /* a raw side's stream */
  uint64_t id;         /* its id on the server */
  bytebuf up, down;    /* client -> server, server -> client */
  bool stuck;          /* the server's writes to it take only budget bytes */
  size_t budget;
  bool deaf, mute;     /* bytes to / from the client are lost */
  bool up_stuck;       /* the client's own writes take nothing */
  bool srv_want, cli_want;
  bool srv_closed;     /* the server dropped it */
  int closed_reason, closed_calls;
  evrec *ev;
  size_t nev, ev_cap;
} side;

typedef struct harness {
  tw_tcp_server *srv;
  tw_keypair relay;
  test_rng rng;
  tw_env env;
  tw_time_ms now;
  size_t chunk;       /* bytes per read; 0: all at once */
  size_t write_chunk; /* bytes per server write; 0: all */
  side sides[MAX_SIDES];
  int n;
  /* onion requests seen */
  int onion_calls;
  uint64_t onion_link;
  uint8_t onion_data[SPEC_MAX_PLAIN];
  size_t onion_len;
} harness;

/* -- server callbacks (user: the side) -- */

static long srv_write(void *ctx, void *user, const uint8_t *bytes, size_t len) {
  harness *h = ctx;
  side *s = user;
  if (s == NULL) return (long)len; /* accepted without a side */
  if (s->stuck) {
    if (len > s->budget) len = s->budget;
    s->budget -= len;
  }
  if (h->write_chunk && len > h->write_chunk) len = h->write_chunk;
  if (!s->deaf) buf_append(&s->down, bytes, len);
  return (long)len;
}

static void srv_want_write(void *ctx, void *user, bool on) {
  (void)ctx;
  if (user) ((side *)user)->srv_want = on;
}

static void srv_closed(void *ctx, void *user, int reason) {
  (void)ctx;
  side *s = user;
  if (s == NULL) return;
  s->srv_closed = true;
  s->closed_reason = reason;
  s->closed_calls++;
  buf_free(&s->up); /* the socket is gone */
}

static int srv_onion_request(void *octx, uint64_t link, const uint8_t *data, size_t len,
                             tw_time_ms now) {
  (void)now;
  harness *h = octx;
  h->onion_calls++;
  h->onion_link = link;
  assert_true(len <= sizeof h->onion_data);
  memcpy(h->onion_data, data, len);
  h->onion_len = len;
  return TW_OK;
}

/* -- client callbacks (ctx: the side) -- */

static long cli_write(void *ctx, void *user, const uint8_t *bytes, size_t len) {
  (void)user;
  side *s = ctx;
  if (s->up_stuck) return 0;
  if (!s->mute && !s->srv_closed) buf_append(&s->up, bytes, len);
  return (long)len;
}

static void cli_want_write(void *ctx, void *user, bool on) {
  (void)user;
  ((side *)ctx)->cli_want = on;
}

static void cli_event(void *ctx, const tw_tcp_client_event *ev, tw_time_ms now) {
  (void)now;
  side *s = ctx;
  if (s->nev == s->ev_cap) {
    s->ev_cap = s->ev_cap ? s->ev_cap * 2 : 16;
    s->ev = realloc(s->ev, s->ev_cap * sizeof *s->ev);
    assert_non_null(s->ev);
  }
  evrec *r = &s->ev[s->nev++];
  memset(r, 0, sizeof *r);
  r->kind = ev->kind;
  r->conn_id = ev->conn_id;
  r->pk = ev->pk;
  r->reason = ev->reason;
  r->len = ev->len;
  if (ev->len) {
    r->data = malloc(ev->len);
    assert_non_null(r->data);
    memcpy(r->data, ev->data, ev->len);
  }
}

static void ev_clear(side *s) {
  for (size_t i = 0; i < s->nev; i++) free(s->ev[i].data);
  s->nev = 0;
}

static size_t ev_count(const side *s, tw_tcp_client_event_kind kind) {
  size_t n = 0;
  for (size_t i = 0; i < s->nev; i++) n += s->ev[i].kind == kind;
  return n;
}

static const evrec *ev_last(const side *s, tw_tcp_client_event_kind kind) {
  for (size_t i = s->nev; i-- > 0;)
    if (s->ev[i].kind == kind) return &s->ev[i];
  return NULL;
}

static const evrec *ev_must(const side *s, tw_tcp_client_event_kind kind) {
  const evrec *r = ev_last(s, kind);
  if (r == NULL) fail_msg("side %d: no event of kind %d", s->idx, (int)kind);
  return r;
}

/* -- set-up and tear-down -- */

/* cfg: limits and timers; keys and callbacks are filled in here. */
static harness *h_new(void **state, const tw_tcp_server_config *cfg) {
  harness *h = calloc(1, sizeof *h);
  assert_non_null(h);
  *state = h;
  h->rng.state = 1;
  h->env = test_env(&h->rng);
  h->now = T0;
  h->relay = test_keypair(999);
  tw_tcp_server_config c;
  if (cfg) c = *cfg;
  else memset(&c, 0, sizeof c);
  c.keys = h->relay;
  c.write = srv_write;
  c.want_write = srv_want_write;
  c.closed = srv_closed;
  c.ctx = h;
  c.onion_request = srv_onion_request;
  c.onion_ctx = h;
  h->srv = tw_tcp_server_new(&c, &h->env);
  assert_non_null(h->srv);
  return h;
}

static int teardown(void **state) {
  harness *h = *state;
  if (h == NULL) return 0;
  tw_tcp_server_free(h->srv); /* calls closed() for the rest: sides still live */
  for (int i = 0; i < h->n; i++) {
    side *s = &h->sides[i];
    tw_tcp_client_free(s->cl);
    tw_tcp_stream_clear(&s->raw);
    buf_free(&s->up);
    buf_free(&s->down);
    ev_clear(s);
    free(s->ev);
  }
  free(h);
  *state = NULL;
  return 0;
}

static tw_tcp_server_stats stats(const harness *h) {
  tw_tcp_server_stats st;
  tw_tcp_server_get_stats(h->srv, &st);
  return st;
}

static tw_tcp_client_stats cstats(const side *s) {
  tw_tcp_client_stats st;
  tw_tcp_client_get_stats(s->cl, &st);
  return st;
}

static side *side_alloc(harness *h, uint8_t ip, const tw_keypair *kp) {
  assert_true(h->n < MAX_SIDES);
  side *s = &h->sides[h->n];
  memset(s, 0, sizeof *s);
  s->h = h;
  s->idx = h->n++;
  s->kp = kp ? *kp : test_keypair(1000 + (uint64_t)s->idx);
  s->addr = test_addr4(127, 0, 0, ip, (uint16_t)(40000 + s->idx));
  s->rng.state = 100 + (uint64_t)s->idx;
  s->env = test_env(&s->rng);
  return s;
}

static void side_accept(harness *h, side *s) {
  assert_int_equal(tw_tcp_server_accept(h->srv, &s->addr, s, h->now, &s->id), TW_OK);
}

/* A client and its accepted connection; nothing sent yet. ccfg (may be
 * NULL) sets its queue and timers. */
static side *h_add_ex(harness *h, uint8_t ip, const tw_keypair *kp,
                      const tw_tcp_client_config *ccfg) {
  side *s = side_alloc(h, ip, kp);
  side_accept(h, s);
  tw_tcp_client_config c;
  if (ccfg) c = *ccfg;
  else memset(&c, 0, sizeof c);
  c.self = s->kp;
  c.relay_pk = h->relay.pk;
  c.write = cli_write;
  c.want_write = cli_want_write;
  c.on_event = cli_event;
  c.ctx = s;
  s->cl = tw_tcp_client_new(&c, &s->env, h->now);
  assert_non_null(s->cl);
  return s;
}

static side *h_add(harness *h, uint8_t ip) { return h_add_ex(h, ip, NULL, NULL); }

/* -- moving bytes -- */

/* Hands the bytes in b to fn in chunks, each in an exact-size heap block. */
static void feed(harness *h, bytebuf *b, bool to_server, side *s) {
  bytebuf in = *b; /* taken: callbacks may append to / free b meanwhile */
  memset(b, 0, sizeof *b);
  for (size_t off = 0; off < in.len;) {
    size_t n = in.len - off;
    if (h->chunk && n > h->chunk) n = h->chunk;
    uint8_t *piece = malloc(n);
    assert_non_null(piece);
    memcpy(piece, in.p + off, n);
    if (to_server) tw_tcp_server_handle_bytes(h->srv, s->id, piece, n, h->now);
    else tw_tcp_client_handle_bytes(s->cl, piece, n, h->now);
    free(piece);
    off += n;
    if (to_server && s->srv_closed) break;
    if (!to_server && tw_tcp_client_state_get(s->cl) == TW_TCP_CLIENT_CLOSED) break;
  }
  buf_free(&in);
}

static bool deliver_up(harness *h, side *s) {
  if (s->srv_closed || s->up.len == 0) return false;
  feed(h, &s->up, true, s);
  tw_tcp_server_flush(h->srv, h->now);
  return true;
}

static bool deliver_down(harness *h, side *s) {
  if (s->cl == NULL) return false;
  bool moved = false;
  if (s->down.len > 0) {
    feed(h, &s->down, false, s);
    tw_tcp_client_flush(s->cl, h->now);
    moved = true;
  }
  /* What the server wrote before closing arrives first, then EOF. */
  if (s->srv_closed && tw_tcp_client_state_get(s->cl) != TW_TCP_CLIENT_CLOSED) {
    tw_tcp_client_handle_eof(s->cl, h->now);
    moved = true;
  }
  return moved;
}

/* Moves bytes both ways until nothing moves. */
static void pump(harness *h) {
  tw_tcp_server_flush(h->srv, h->now);
  for (int round = 0;; round++) {
    assert_true(round < 100000);
    bool moved = false;
    for (int i = 0; i < h->n; i++) {
      side *s = &h->sides[i];
      if (s->cl == NULL || tw_tcp_client_state_get(s->cl) == TW_TCP_CLIENT_CLOSED) continue;
      if (s->cli_want && !s->up_stuck) tw_tcp_client_handle_writable(s->cl, h->now);
      tw_tcp_client_flush(s->cl, h->now);
    }
    for (int i = 0; i < h->n; i++) {
      side *s = &h->sides[i];
      if (s->srv_want && !s->stuck && !s->srv_closed)
        tw_tcp_server_handle_writable(h->srv, s->id, h->now);
    }
    for (int i = 0; i < h->n; i++) moved |= deliver_up(h, &h->sides[i]);
    for (int i = 0; i < h->n; i++) moved |= deliver_down(h, &h->sides[i]);
    if (!moved) break;
  }
}

/* Runs every timer due up to until, in order, pumping after each. */
static void advance(harness *h, tw_time_ms until) {
  for (int guard = 0;; guard++) {
    assert_true(guard < 100000);
    tw_time_ms d = tw_tcp_server_next_deadline(h->srv);
    for (int i = 0; i < h->n; i++) {
      tw_tcp_client *cl = h->sides[i].cl;
      if (cl == NULL) continue;
      tw_time_ms cd = tw_tcp_client_next_deadline(cl);
      if (cd < d) d = cd;
    }
    if (d > until) break;
    if (d > h->now) h->now = d;
    tw_tcp_server_on_timer(h->srv, h->now);
    for (int i = 0; i < h->n; i++)
      if (h->sides[i].cl) tw_tcp_client_on_timer(h->sides[i].cl, h->now);
    pump(h);
  }
  h->now = until;
}

/* A client through its handshake and confirmed. */
static side *h_connect(harness *h, uint8_t ip) {
  side *s = h_add(h, ip);
  pump(h);
  assert_int_equal(tw_tcp_client_state_get(s->cl), TW_TCP_CLIENT_CONNECTED);
  assert_non_null(ev_last(s, TW_TCP_EV_CONNECTED));
  assert_false(s->srv_closed);
  return s;
}

/* a asks for b's key; returns the connection id the relay gave. */
static uint8_t h_route(harness *h, side *a, const tw_key *pk) {
  size_t before = ev_count(a, TW_TCP_EV_ROUTE_RESPONSE);
  assert_int_equal(tw_tcp_client_send_route_request(a->cl, pk), TW_OK);
  pump(h);
  assert_int_equal(ev_count(a, TW_TCP_EV_ROUTE_RESPONSE), before + 1);
  const evrec *r = ev_last(a, TW_TCP_EV_ROUTE_RESPONSE);
  assert_memory_equal(r->pk.bytes, pk->bytes, 32);
  return r->conn_id;
}

/* a and b ask for each other; both must be told the other is online. */
static void h_link(harness *h, side *a, side *b, uint8_t *a_id, uint8_t *b_id) {
  *a_id = h_route(h, a, &b->kp.pk);
  *b_id = h_route(h, b, &a->kp.pk);
  assert_true(*a_id >= SPEC_FIRST_ID && *b_id >= SPEC_FIRST_ID);
  const evrec *ca = ev_last(a, TW_TCP_EV_CONNECT), *cb = ev_last(b, TW_TCP_EV_CONNECT);
  assert_non_null(ca);
  assert_non_null(cb);
  assert_int_equal(ca->conn_id, *a_id);
  assert_memory_equal(ca->pk.bytes, b->kp.pk.bytes, 32);
  assert_int_equal(cb->conn_id, *b_id);
  assert_memory_equal(cb->pk.bytes, a->kp.pk.bytes, 32);
}

/* from sends len pattern bytes on its id; to must get them on its own id. */
static void check_relay(harness *h, side *from, uint8_t from_id, side *to, uint8_t to_id,
                        size_t len, uint8_t seed) {
  uint8_t data[SPEC_MAX_PLAIN];
  fill_pattern(data, len, seed);
  size_t before = ev_count(to, TW_TCP_EV_DATA);
  assert_int_equal(tw_tcp_client_send_data(from->cl, from_id, data, len), TW_OK);
  pump(h);
  assert_int_equal(ev_count(to, TW_TCP_EV_DATA), before + 1);
  const evrec *r = ev_last(to, TW_TCP_EV_DATA);
  assert_int_equal(r->conn_id, to_id);
  assert_memory_equal(r->pk.bytes, from->kp.pk.bytes, 32);
  assert_int_equal(r->len, len);
  assert_memory_equal(r->data, data, len);
}

/* -- raw sides: the test plays the client -- */

static long raw_write(void *ctx, void *user, const uint8_t *bytes, size_t len) {
  (void)user;
  buf_append(&((side *)ctx)->up, bytes, len);
  return (long)len;
}

/* An accepted connection that completes the handshake by hand. */
static side *h_raw_connect(harness *h, uint8_t ip) {
  side *s = side_alloc(h, ip, NULL);
  side_accept(h, s);
  tw_keypair temp;
  tw_keypair_generate(&temp, &s->env);
  tw_tcp_hello ours = {.temp_pk = temp.pk}, theirs;
  tw_random_bytes(&s->env, ours.base_nonce, TW_NONCE_SIZE);
  memcpy(s->raw.send_nonce, ours.base_nonce, TW_NONCE_SIZE);
  uint8_t shared[TW_SHARED_KEY_SIZE], nonce[TW_NONCE_SIZE], hs[SPEC_HANDSHAKE];
  tw_shared_key_compute(shared, &h->relay.pk, s->kp.sk);
  tw_random_bytes(&s->env, nonce, sizeof nonce);
  tw_tcp_handshake_build(hs, &s->kp, shared, nonce, &ours);
  buf_append(&s->up, hs, sizeof hs);
  pump(h);
  assert_int_equal(s->down.len, SPEC_HANDSHAKE_RESPONSE);
  assert_int_equal(tw_tcp_handshake_response_open(s->down.p, shared, &theirs), TW_OK);
  tw_shared_key_compute(s->raw.shared, &theirs.temp_pk, temp.sk);
  memcpy(s->raw.recv_nonce, theirs.base_nonce, TW_NONCE_SIZE);
  buf_free(&s->down);
  return s;
}

static void raw_send(harness *h, side *s, const uint8_t *plain, size_t len) {
  assert_int_equal(tw_tcp_stream_seal(&s->raw, plain, len, SIZE_MAX), TW_OK);
  assert_true(tw_tcp_stream_write(&s->raw, raw_write, s, NULL) > 0);
  pump(h);
}

/* ================================================================== */
/* Server and clients                                                 */
/* ================================================================== */

static void test_handshake_then_confirmed_by_first_frame(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_add(h, 1);
  tw_tcp_server_stats st = stats(h);
  assert_int_equal(st.clients, 1);
  assert_int_equal(st.pending, 1);

  tw_tcp_client_flush(a->cl, h->now); /* the handshake */
  assert_int_equal(a->up.len, SPEC_HANDSHAKE);
  deliver_up(h, a);
  st = stats(h);
  assert_int_equal(st.handshakes_ok, 1);
  assert_int_equal(st.confirmed, 0);
  assert_int_equal(a->down.len, SPEC_HANDSHAKE_RESPONSE);

  deliver_down(h, a); /* the answer: the client is connected, sends a ping */
  assert_int_equal(tw_tcp_client_state_get(a->cl), TW_TCP_CLIENT_CONNECTED);
  assert_int_equal(ev_count(a, TW_TCP_EV_CONNECTED), 1);
  assert_true(a->up.len > 0);
  st = stats(h);
  assert_int_equal(st.confirmed, 0); /* nothing encrypted has come yet */
  assert_int_equal(st.pending, 1);

  deliver_up(h, a);
  st = stats(h);
  assert_int_equal(st.confirmed, 1);
  assert_int_equal(st.pending, 0);
  assert_int_equal(st.pings_answered, 1);
  pump(h);
  assert_int_equal(ev_count(a, TW_TCP_EV_PONG), 1);
}

static void test_tampered_handshake_dropped_by_server(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_add(h, 1);
  tw_tcp_client_flush(a->cl, h->now);
  a->up.p[70] ^= 0x04;
  deliver_up(h, a);
  assert_true(a->srv_closed);
  assert_int_equal(a->closed_reason, TW_E_CRYPTO);
  assert_int_equal(a->down.len, 0); /* no answer */
  tw_tcp_server_stats st = stats(h);
  assert_int_equal(st.handshakes_bad, 1);
  assert_int_equal(st.clients, 0);
}

static void test_tampered_handshake_response_closes_client(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_add(h, 1);
  tw_tcp_client_flush(a->cl, h->now);
  deliver_up(h, a);
  assert_int_equal(a->down.len, SPEC_HANDSHAKE_RESPONSE);
  a->down.p[40] ^= 0x10;
  deliver_down(h, a);
  assert_int_equal(tw_tcp_client_state_get(a->cl), TW_TCP_CLIENT_CLOSED);
  assert_int_equal(ev_count(a, TW_TCP_EV_CONNECTED), 0);
  const evrec *c = ev_last(a, TW_TCP_EV_CLOSED);
  assert_non_null(c);
  assert_int_equal(c->reason, TW_E_CRYPTO);
}

static void test_route_request_gets_id_from_16(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_connect(h, 1);
  tw_key x = key_n(1), y = key_n(2);
  uint8_t ix = h_route(h, a, &x), iy = h_route(h, a, &y);
  assert_int_equal(ix, SPEC_FIRST_ID);
  assert_int_equal(iy, SPEC_FIRST_ID + 1);
  assert_int_equal(h_route(h, a, &x), ix); /* asking again: the same id */
  assert_int_equal(ev_count(a, TW_TCP_EV_CONNECT), 0); /* nobody there */
}

static void test_both_ask_then_both_notified(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_connect(h, 1), *b = h_connect(h, 2);
  uint8_t ia = h_route(h, a, &b->kp.pk);
  /* Only a asked: b must not learn that a is here. */
  assert_int_equal(ev_count(a, TW_TCP_EV_CONNECT), 0);
  assert_int_equal(ev_count(b, TW_TCP_EV_CONNECT), 0);
  assert_int_equal(stats(h).links_connected, 0);
  uint8_t ib = h_route(h, b, &a->kp.pk);
  assert_int_equal(ev_count(a, TW_TCP_EV_CONNECT), 1);
  assert_int_equal(ev_count(b, TW_TCP_EV_CONNECT), 1);
  assert_int_equal(ev_must(a, TW_TCP_EV_CONNECT)->conn_id, ia);
  assert_memory_equal(ev_must(a, TW_TCP_EV_CONNECT)->pk.bytes, b->kp.pk.bytes, 32);
  assert_int_equal(ev_must(b, TW_TCP_EV_CONNECT)->conn_id, ib);
  assert_memory_equal(ev_must(b, TW_TCP_EV_CONNECT)->pk.bytes, a->kp.pk.bytes, 32);
  assert_int_equal(stats(h).links_connected, 1);
}

/* a's id for b differs from b's id for a, so a relay that forwarded the
 * sender's id would fail here. Small reads and small writes throughout. */
static void test_data_relayed_both_ways_with_own_ids(void **state) {
  static const size_t chunks[] = {0, 1, 7, 1000};
  for (size_t c = 0; c < 4; c++) {
    teardown(state);
    harness *h = h_new(state, NULL);
    h->chunk = chunks[c];
    h->write_chunk = chunks[c] ? chunks[c] + 3 : 0;
    side *a = h_connect(h, 1), *b = h_connect(h, 2);
    tw_key other = key_n(7);
    assert_int_equal(h_route(h, a, &other), SPEC_FIRST_ID);
    uint8_t ia, ib;
    h_link(h, a, b, &ia, &ib);
    assert_int_equal(ia, SPEC_FIRST_ID + 1);
    assert_int_equal(ib, SPEC_FIRST_ID);
    check_relay(h, a, ia, b, ib, 1, 1);
    check_relay(h, b, ib, a, ia, 1, 2);
    check_relay(h, a, ia, b, ib, SPEC_MAX_PLAIN - 1, 3);
    check_relay(h, b, ib, a, ia, SPEC_MAX_PLAIN - 1, 4);
    for (uint8_t i = 0; i < 20; i++) check_relay(h, a, ia, b, ib, 100 + i * 50u, i);
    tw_tcp_server_stats st = stats(h);
    assert_int_equal(st.data_relayed, 24);
    assert_int_equal(st.queued_bytes, 0);
  }
}

static void test_disconnect_tells_peer_and_frees_id(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_connect(h, 1), *b = h_connect(h, 2);
  uint8_t ia, ib;
  h_link(h, a, b, &ia, &ib);
  assert_int_equal(tw_tcp_client_send_disconnect(a->cl, ia), TW_OK);
  pump(h);
  const evrec *d = ev_last(b, TW_TCP_EV_DISCONNECT);
  assert_non_null(d);
  assert_int_equal(d->conn_id, ib);
  assert_int_equal(ev_count(a, TW_TCP_EV_DISCONNECT), 0); /* a asked for it */
  assert_int_equal(stats(h).links_connected, 0);

  /* b's data now goes nowhere. */
  uint8_t x = 1;
  assert_int_equal(tw_tcp_client_send_data(b->cl, ib, &x, 1), TW_OK);
  pump(h);
  assert_int_equal(ev_count(a, TW_TCP_EV_DATA), 0);
  assert_int_equal(stats(h).dropped[-TW_E_NOROUTE], 1);

  /* The id is free again. */
  tw_key other = key_n(3);
  assert_int_equal(h_route(h, a, &other), ia);

  /* b still waits for a: a asking again links them again. */
  uint8_t ia2 = h_route(h, a, &b->kp.pk);
  assert_int_equal(ev_count(b, TW_TCP_EV_CONNECT), 2);
  assert_int_equal(ev_must(b, TW_TCP_EV_CONNECT)->conn_id, ib);
  check_relay(h, a, ia2, b, ib, 10, 5);
}

static void test_route_request_for_own_key_refused(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_connect(h, 1);
  assert_int_equal(h_route(h, a, &a->kp.pk), 0);
  assert_int_equal(ev_count(a, TW_TCP_EV_CONNECT), 0);
  tw_key x = key_n(9); /* no id was used up */
  assert_int_equal(h_route(h, a, &x), SPEC_FIRST_ID);
}

static void test_240_links_then_refused(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_connect(h, 1);
  bool seen[256] = {false};
  for (unsigned i = 0; i < SPEC_MAX_LINKS; i++) {
    tw_key k = key_n(i + 1);
    uint8_t id = h_route(h, a, &k);
    assert_true(id >= SPEC_FIRST_ID);
    assert_false(seen[id]);
    seen[id] = true;
  }
  tw_key extra = key_n(5000);
  assert_int_equal(h_route(h, a, &extra), 0);
  /* A key already held still gets its id. */
  tw_key k1 = key_n(1);
  assert_int_equal(h_route(h, a, &k1), SPEC_FIRST_ID);
  /* Freeing one makes room for exactly one. */
  assert_int_equal(tw_tcp_client_send_disconnect(a->cl, 100), TW_OK);
  assert_int_equal(h_route(h, a, &extra), 100);
  tw_key extra2 = key_n(5001);
  assert_int_equal(h_route(h, a, &extra2), 0);
}

static void test_oob_to_connected_key_arrives_with_sender_key(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_connect(h, 1), *b = h_connect(h, 2);
  uint8_t data[SPEC_MAX_OOB];
  size_t lens[] = {1, SPEC_MAX_OOB};
  for (size_t i = 0; i < 2; i++) {
    fill_pattern(data, lens[i], (uint8_t)i);
    assert_int_equal(tw_tcp_client_send_oob(a->cl, &b->kp.pk, data, lens[i]), TW_OK);
    pump(h);
    assert_int_equal(ev_count(b, TW_TCP_EV_OOB), i + 1);
    const evrec *r = ev_last(b, TW_TCP_EV_OOB);
    assert_memory_equal(r->pk.bytes, a->kp.pk.bytes, 32);
    assert_int_equal(r->len, lens[i]);
    assert_memory_equal(r->data, data, lens[i]);
  }
  assert_int_equal(ev_count(a, TW_TCP_EV_OOB), 0);
  assert_int_equal(stats(h).oob_relayed, 2);
  assert_int_equal(tw_tcp_client_send_oob(a->cl, &b->kp.pk, data, SPEC_MAX_OOB + 1), TW_E_LONG);
}

static void test_oob_to_unknown_key_dropped(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_connect(h, 1), *b = h_connect(h, 2);
  tw_key nobody = key_n(77);
  uint8_t x[4] = {1, 2, 3, 4};
  assert_int_equal(tw_tcp_client_send_oob(a->cl, &nobody, x, 4), TW_OK);
  assert_int_equal(tw_tcp_client_send_oob(a->cl, &a->kp.pk, x, 4), TW_OK); /* to itself */
  pump(h);
  assert_int_equal(ev_count(a, TW_TCP_EV_OOB), 0);
  assert_int_equal(ev_count(b, TW_TCP_EV_OOB), 0);
  tw_tcp_server_stats st = stats(h);
  assert_int_equal(st.oob_relayed, 0);
  assert_int_equal(st.dropped[-TW_E_NOROUTE], 2);
  assert_false(a->srv_closed);
}

static void test_client_ping_answered_with_pong(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_connect(h, 1); /* its first frame was a ping */
  assert_int_equal(ev_count(a, TW_TCP_EV_PONG), 1);
  h->now += 1000;
  assert_int_equal(tw_tcp_client_send_ping(a->cl, h->now), TW_OK);
  pump(h);
  assert_int_equal(ev_count(a, TW_TCP_EV_PONG), 2);
  assert_int_equal(cstats(a).pongs_received, 2);
  assert_int_equal(stats(h).pings_answered, 2);
}

/* Builds a plain pong with id. */
static size_t pong(uint8_t out[9], uint64_t id) { return tw_tcp_write_ping(out, TW_TCP_PONG, id); }

static void test_server_ignores_pong_with_wrong_id(void **state) {
  tw_tcp_server_config cfg = {.ping_interval_ms = 2000, .ping_timeout_ms = 1000};
  harness *h = h_new(state, &cfg);
  side *a = h_connect(h, 1);
  a->deaf = true; /* it never sees the server's ping */
  advance(h, T0 + 2000);
  uint8_t p[9];
  assert_int_equal(tw_tcp_client_send_raw(a->cl, p, pong(p, 0x1234)), TW_OK);
  pump(h);
  assert_int_equal(stats(h).dropped[-TW_E_UNSOLICITED], 1);
  advance(h, T0 + 4000); /* the ping is still unanswered */
  assert_true(a->srv_closed);
  assert_int_equal(a->closed_reason, TW_E_EXPIRED);
  assert_int_equal(stats(h).closed_ping, 1);
}

/* The client sends a ping of its own making; the relay echoes its id in a
 * pong the client never asked for. */
static void test_client_ignores_pong_with_wrong_id(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_connect(h, 1);
  ev_clear(a);
  uint8_t p[9];
  assert_int_equal(tw_tcp_client_send_raw(a->cl, p, tw_tcp_write_ping(p, TW_TCP_PING, 0x4242)),
                   TW_OK);
  assert_int_equal(tw_tcp_client_send_ping(a->cl, h->now), TW_OK);
  pump(h);
  assert_int_equal(stats(h).pings_answered, 3);
  assert_int_equal(ev_count(a, TW_TCP_EV_PONG), 1);
  assert_int_equal(cstats(a).pongs_received, 2);
  assert_int_equal(cstats(a).dropped[-TW_E_UNSOLICITED], 1);
}

/* Pings from the server keep an answering client; the client's own pings
 * are at the default 30 s so what it receives are the server's. */
static void test_server_pings_after_interval(void **state) {
  tw_tcp_server_config cfg = {.ping_interval_ms = 1000, .ping_timeout_ms = 500};
  harness *h = h_new(state, &cfg);
  side *a = h_connect(h, 1);
  uint64_t frames = cstats(a).frames_in;
  advance(h, T0 + 999 - 250); /* nothing due yet (the server runs timers 250 ms early) */
  assert_int_equal(cstats(a).frames_in, frames);
  advance(h, T0 + 10500);
  assert_false(a->srv_closed);
  assert_int_equal(tw_tcp_client_state_get(a->cl), TW_TCP_CLIENT_CONNECTED);
  uint64_t pings = cstats(a).frames_in - frames;
  assert_in_range(pings, 9, 11);
  assert_int_equal(stats(h).closed_ping, 0);
}

static void test_server_drops_client_not_answering_ping(void **state) {
  tw_tcp_server_config cfg = {.ping_interval_ms = 2000, .ping_timeout_ms = 1000};
  harness *h = h_new(state, &cfg);
  side *a = h_connect(h, 1), *b = h_connect(h, 2);
  uint8_t ia, ib;
  h_link(h, a, b, &ia, &ib);
  a->deaf = true;
  advance(h, T0 + 2000 + 500);
  assert_false(a->srv_closed);
  advance(h, T0 + 3000);
  assert_true(a->srv_closed);
  assert_int_equal(a->closed_reason, TW_E_EXPIRED);
  assert_int_equal(a->closed_calls, 1);
  assert_int_equal(stats(h).closed_ping, 1);
  assert_false(b->srv_closed); /* it answered */
  assert_int_equal(ev_must(b, TW_TCP_EV_DISCONNECT)->conn_id, ib);
}

static void test_client_without_handshake_dropped_after_timeout(void **state) {
  tw_tcp_server_config cfg = {.handshake_timeout_ms = 3000};
  harness *h = h_new(state, &cfg);
  side *a = side_alloc(h, 1, NULL); /* a socket that says nothing */
  side_accept(h, a);
  advance(h, T0 + 2000);
  assert_false(a->srv_closed);
  advance(h, T0 + 3000);
  assert_true(a->srv_closed);
  assert_int_equal(a->closed_reason, TW_E_EXPIRED);
  tw_tcp_server_stats st = stats(h);
  assert_int_equal(st.closed_timeout, 1);
  assert_int_equal(st.clients, 0);
  assert_int_equal(st.pending, 0);
}

static void test_client_without_first_frame_dropped_after_timeout(void **state) {
  tw_tcp_server_config cfg = {.handshake_timeout_ms = 3000};
  harness *h = h_new(state, &cfg);
  side *a = h_add(h, 1);
  tw_tcp_client_flush(a->cl, h->now);
  deliver_up(h, a); /* the handshake only */
  a->mute = true;
  pump(h);
  assert_int_equal(tw_tcp_client_state_get(a->cl), TW_TCP_CLIENT_CONNECTED);
  assert_int_equal(stats(h).handshakes_ok, 1);
  advance(h, T0 + 2000);
  assert_false(a->srv_closed);
  assert_int_equal(stats(h).pending, 1);
  advance(h, T0 + 3000);
  assert_true(a->srv_closed);
  assert_int_equal(a->closed_reason, TW_E_EXPIRED);
  assert_int_equal(stats(h).closed_timeout, 1);
  assert_int_equal(stats(h).confirmed, 0);
}

static void test_same_key_replaces_first_connection(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_connect(h, 1), *b = h_connect(h, 2);
  uint8_t ia, ib;
  h_link(h, a, b, &ia, &ib);
  side *a2 = h_add_ex(h, 3, &a->kp, NULL);
  pump(h);
  assert_true(a->srv_closed);
  assert_int_equal(a->closed_reason, TW_E_REPLAY);
  assert_int_equal(tw_tcp_client_state_get(a->cl), TW_TCP_CLIENT_CLOSED);
  assert_false(a2->srv_closed);
  assert_int_equal(ev_must(b, TW_TCP_EV_DISCONNECT)->conn_id, ib);
  tw_tcp_server_stats st = stats(h);
  assert_int_equal(st.closed_replaced, 1);
  assert_int_equal(st.clients, 2);
  assert_int_equal(st.confirmed, 2);
  assert_int_equal(st.links_connected, 0);
  /* b still asks for that key: the new connection links at once. */
  uint8_t ia2 = h_route(h, a2, &b->kp.pk);
  assert_int_equal(ev_count(b, TW_TCP_EV_CONNECT), 2);
  check_relay(h, b, ib, a2, ia2, 33, 8);
  check_relay(h, a2, ia2, b, ib, 44, 9);
}

static void test_max_per_addr_refuses_only_that_ip(void **state) {
  tw_tcp_server_config cfg = {.max_per_addr = 2};
  harness *h = h_new(state, &cfg);
  tw_addr one = test_addr4(127, 0, 0, 1, 1000), two = test_addr4(127, 0, 0, 2, 1000);
  uint64_t id[4];
  assert_int_equal(tw_tcp_server_accept(h->srv, &one, NULL, h->now, &id[0]), TW_OK);
  one.port++; /* the port does not make it another address */
  assert_int_equal(tw_tcp_server_accept(h->srv, &one, NULL, h->now, &id[1]), TW_OK);
  one.port++;
  assert_int_equal(tw_tcp_server_accept(h->srv, &one, NULL, h->now, &id[2]), TW_E_RATE);
  assert_int_equal(tw_tcp_server_accept(h->srv, &two, NULL, h->now, &id[2]), TW_OK);
  assert_int_equal(stats(h).refused_addr, 1);
  tw_tcp_server_close(h->srv, id[0], h->now); /* room again */
  assert_int_equal(tw_tcp_server_accept(h->srv, &one, NULL, h->now, &id[3]), TW_OK);
  assert_int_equal(stats(h).clients, 3);
  /* Closing by id frees exactly that one; an old id is unknown. */
  assert_int_equal(tw_tcp_server_handle_bytes(h->srv, id[0], (const uint8_t *)"x", 1, h->now),
                   TW_E_NOTFOUND);
}

static void test_max_clients_refuses_full(void **state) {
  tw_tcp_server_config cfg = {.max_clients = 3};
  harness *h = h_new(state, &cfg);
  uint64_t id[4];
  for (uint8_t i = 0; i < 3; i++) {
    tw_addr a = test_addr4(127, 0, 0, (uint8_t)(i + 1), 1);
    assert_int_equal(tw_tcp_server_accept(h->srv, &a, NULL, h->now, &id[i]), TW_OK);
  }
  tw_addr d = test_addr4(127, 0, 0, 9, 1);
  assert_int_equal(tw_tcp_server_accept(h->srv, &d, NULL, h->now, &id[3]), TW_E_FULL);
  assert_int_equal(stats(h).refused_full, 1);
  tw_tcp_server_close(h->srv, id[1], h->now);
  assert_int_equal(tw_tcp_server_accept(h->srv, &d, NULL, h->now, &id[3]), TW_OK);
}

/* b stops reading. Data for it is dropped once its queue is full, it is
 * dropped after stall_timeout, and c -> d keeps flowing meanwhile. */
static void test_stuck_reader_loses_data_then_dropped_others_unaffected(void **state) {
  tw_tcp_server_config cfg = {.queue_bytes = 8192, .stall_timeout_ms = 3000};
  harness *h = h_new(state, &cfg);
  side *a = h_connect(h, 1), *b = h_connect(h, 2), *c = h_connect(h, 3), *d = h_connect(h, 4);
  uint8_t ia, ib, ic, id;
  h_link(h, a, b, &ia, &ib);
  h_link(h, c, d, &ic, &id);
  b->stuck = true;
  uint8_t data[2000];
  fill_pattern(data, sizeof data, 0);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(tw_tcp_client_send_data(a->cl, ia, data, sizeof data), TW_OK);
    pump(h);
  }
  tw_tcp_server_stats st = stats(h);
  /* Each frame is 2 + 1 + 2000 + 16 bytes: four fit in 8192. */
  assert_int_equal(st.data_relayed, 4);
  assert_int_equal(st.dropped_queue_full, 6);
  assert_int_equal(st.dropped[-TW_E_FULL], 6);
  assert_int_equal(st.queued_bytes, 4 * 2019);
  assert_true(b->srv_want);

  advance(h, T0 + 1500);
  check_relay(h, c, ic, d, id, 500, 1);
  assert_false(b->srv_closed);
  advance(h, T0 + 3000);
  assert_true(b->srv_closed);
  assert_int_equal(b->closed_reason, TW_E_FULL);
  st = stats(h);
  assert_int_equal(st.closed_stalled, 1);
  assert_int_equal(st.queued_bytes, 0);
  assert_int_equal(ev_must(a, TW_TCP_EV_DISCONNECT)->conn_id, ia);
  check_relay(h, d, id, c, ic, 600, 2);
  assert_false(a->srv_closed || c->srv_closed || d->srv_closed);
}

/* The limit over all clients holds even when each queue is under its own. */
static void test_total_queue_limit_shared_by_all_clients(void **state) {
  tw_tcp_server_config cfg = {.queue_bytes = 8192, .total_queue_bytes = 5000};
  harness *h = h_new(state, &cfg);
  side *a = h_connect(h, 1), *b = h_connect(h, 2), *c = h_connect(h, 3);
  uint8_t iab, iba, iac, ica;
  h_link(h, a, b, &iab, &iba);
  h_link(h, a, c, &iac, &ica);
  b->stuck = c->stuck = true;
  uint8_t data[2000];
  fill_pattern(data, sizeof data, 0);
  /* 2019 bytes per frame: b takes two (4038), then c's first would pass 5000. */
  assert_int_equal(tw_tcp_client_send_data(a->cl, iab, data, sizeof data), TW_OK);
  assert_int_equal(tw_tcp_client_send_data(a->cl, iab, data, sizeof data), TW_OK);
  assert_int_equal(tw_tcp_client_send_data(a->cl, iac, data, sizeof data), TW_OK);
  pump(h);
  tw_tcp_server_stats st = stats(h);
  assert_int_equal(st.data_relayed, 2);
  assert_int_equal(st.dropped_queue_full, 1);
  assert_int_equal(st.queued_bytes, 2 * 2019);
  /* Once b reads, there is room again. */
  b->stuck = false;
  pump(h);
  assert_int_equal(ev_count(b, TW_TCP_EV_DATA), 2);
  assert_int_equal(stats(h).queued_bytes, 0);
  assert_int_equal(tw_tcp_client_send_data(a->cl, iac, data, sizeof data), TW_OK);
  pump(h);
  assert_int_equal(stats(h).data_relayed, 3);
}

/* A slow reader that keeps taking bytes is not "stalled". */
static void test_slow_reader_not_dropped(void **state) {
  tw_tcp_server_config cfg = {.stall_timeout_ms = 2000};
  harness *h = h_new(state, &cfg);
  side *a = h_connect(h, 1), *b = h_connect(h, 2);
  uint8_t ia, ib;
  h_link(h, a, b, &ia, &ib);
  b->stuck = true;
  uint8_t data[1500];
  fill_pattern(data, sizeof data, 0);
  for (int i = 0; i < 20; i++) {
    assert_int_equal(tw_tcp_client_send_data(a->cl, ia, data, sizeof data), TW_OK);
    pump(h);
  }
  /* Every 800 ms the socket takes 1000 bytes: 30 kB take 24 s. */
  for (tw_time_ms t = 800; t <= 8000; t += 800) {
    advance(h, T0 + t);
    b->budget = 1000;
    assert_int_equal(tw_tcp_server_handle_writable(h->srv, b->id, h->now), TW_OK);
    assert_false(b->srv_closed);
  }
  assert_int_equal(stats(h).closed_stalled, 0);
  b->stuck = false;
  pump(h);
  assert_int_equal(ev_count(b, TW_TCP_EV_DATA), 20);
}

static void test_onion_request_and_response_through_relay(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_connect(h, 1), *b = h_connect(h, 2);
  uint8_t req[300], resp[400];
  fill_pattern(req, sizeof req, 0x80);
  fill_pattern(resp, sizeof resp, 0x8e);
  assert_int_equal(tw_tcp_client_send_onion_request(b->cl, req, sizeof req), TW_OK);
  pump(h);
  assert_int_equal(h->onion_calls, 1);
  assert_int_equal(h->onion_link, b->id);
  assert_int_equal(h->onion_len, sizeof req);
  assert_memory_equal(h->onion_data, req, sizeof req);

  tw_tcp_server_send_onion_response(h->srv, h->onion_link, resp, sizeof resp);
  pump(h);
  const evrec *r = ev_last(b, TW_TCP_EV_ONION_RESPONSE);
  assert_non_null(r);
  assert_int_equal(r->len, sizeof resp);
  assert_memory_equal(r->data, resp, sizeof resp);
  assert_int_equal(ev_count(a, TW_TCP_EV_ONION_RESPONSE), 0);
  tw_tcp_server_stats st = stats(h);
  assert_int_equal(st.onion_requests, 1);
  assert_int_equal(st.onion_responses, 1);

  /* A response for a link that has gone is dropped quietly. */
  uint64_t gone = b->id;
  tw_tcp_server_close(h->srv, gone, h->now);
  tw_tcp_server_send_onion_response(h->srv, gone, resp, sizeof resp);
  pump(h);
  assert_int_equal(stats(h).onion_responses, 1);
}

static void test_next_deadline(void **state) {
  tw_tcp_server_config cfg = {.handshake_timeout_ms = 5000};
  harness *h = h_new(state, &cfg);
  assert_true(tw_tcp_server_next_deadline(h->srv) == TW_NEVER);
  side *a = h_add(h, 1);
  assert_true(tw_tcp_server_next_deadline(h->srv) == T0 + 5000);
  pump(h);
  tw_tcp_server_on_timer(h->srv, h->now);
  tw_time_ms d = tw_tcp_server_next_deadline(h->srv);
  assert_true(d > h->now && d <= T0 + TW_TCP_PING_INTERVAL_MS);
  tw_tcp_server_close(h->srv, a->id, h->now);
  tw_tcp_server_on_timer(h->srv, h->now);
  assert_true(tw_tcp_server_next_deadline(h->srv) == TW_NEVER);
}

/* A confirmed client is pinged at ping_interval even when that is shorter
 * than the handshake timeout that set the previous deadline, and even when
 * its first frame (here an OOB to nobody) gets no answer. */
static void test_next_deadline_follows_confirmation(void **state) {
  tw_tcp_server_config cfg = {.ping_interval_ms = 1000, .handshake_timeout_ms = 10000};
  harness *h = h_new(state, &cfg);
  side *r = h_raw_connect(h, 1);
  uint8_t p[40], x = 1;
  tw_key nobody = key_n(3);
  raw_send(h, r, p, tw_tcp_write_keyed(p, TW_TCP_OOB_SEND, &nobody, &x, 1));
  assert_int_equal(stats(h).confirmed, 1);
  assert_true(tw_tcp_server_next_deadline(h->srv) <= T0 + 1000);
  advance(h, T0 + 1000);
  assert_true(r->down.len > 0); /* the ping */
}

/* The client sends a route request the client API did not record (raw),
 * so the relay's answer is one it never asked for. */
static void test_unrequested_route_response_ignored_by_client(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_connect(h, 1);
  tw_key x = key_n(4);
  uint8_t p[33];
  assert_int_equal(tw_tcp_client_send_raw(a->cl, p, tw_tcp_write_route_request(p, &x)), TW_OK);
  pump(h);
  assert_int_equal(ev_count(a, TW_TCP_EV_ROUTE_RESPONSE), 0);
  assert_int_equal(cstats(a).dropped[-TW_E_UNSOLICITED], 1);
  assert_int_equal(tw_tcp_client_state_get(a->cl), TW_TCP_CLIENT_CONNECTED);
}

/* A relay may send a connect notification (or data) for an id the client
 * never had: the client must drop it, also before its first route request. */
static void test_client_drops_notification_for_unknown_id(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_connect(h, 1), *b = h_connect(h, 2);
  uint8_t p[33];
  /* a asks for b behind its own back (raw): it holds no ids at all. */
  assert_int_equal(tw_tcp_client_send_raw(a->cl, p, tw_tcp_write_route_request(p, &b->kp.pk)),
                   TW_OK);
  pump(h);
  uint8_t ib = h_route(h, b, &a->kp.pk); /* the relay links them */
  assert_true(ib >= SPEC_FIRST_ID);
  assert_int_equal(ev_count(b, TW_TCP_EV_CONNECT), 1);
  assert_int_equal(ev_count(a, TW_TCP_EV_CONNECT), 0);
  uint8_t x = 7;
  assert_int_equal(tw_tcp_client_send_data(b->cl, ib, &x, 1), TW_OK);
  pump(h);
  assert_int_equal(ev_count(a, TW_TCP_EV_DATA), 0);
  assert_int_equal(cstats(a).dropped[-TW_E_NOTFOUND], 2);
  assert_int_equal(tw_tcp_client_state_get(a->cl), TW_TCP_CLIENT_CONNECTED);
}

/* Packets only a server sends are dropped when a client sends them; the
 * client stays. */
static void test_server_drops_server_only_kinds(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_connect(h, 1);
  uint8_t p[64], five[5] = {1, 2, 3, 4, 5};
  tw_key k = key_n(1);
  tw_tcp_client_send_raw(a->cl, p, tw_tcp_write_route_response(p, 16, &k));
  tw_tcp_client_send_raw(a->cl, p, tw_tcp_write_notification(p, TW_TCP_CONNECT_NOTIFICATION, 16));
  tw_tcp_client_send_raw(a->cl, p, tw_tcp_write_keyed(p, TW_TCP_OOB_RECV, &k, five, 1));
  tw_tcp_client_send_raw(a->cl, p, tw_tcp_write_data(p, TW_TCP_ONION_RESPONSE, five, 5));
  p[0] = 0x0c;
  tw_tcp_client_send_raw(a->cl, p, 3);
  pump(h);
  assert_int_equal(stats(h).dropped[-TW_E_KIND], 5);
  assert_false(a->srv_closed);
}

/* ---- frames the server must refuse, from a raw client ---- */

static void test_server_drops_client_on_skipped_nonce(void **state) {
  harness *h = h_new(state, NULL);
  side *r = h_raw_connect(h, 1);
  uint8_t p[9];
  raw_send(h, r, p, tw_tcp_write_ping(p, TW_TCP_PING, 5));
  assert_int_equal(stats(h).confirmed, 1);
  assert_false(r->srv_closed);
  tw_tcp_nonce_increment(r->raw.send_nonce); /* one frame lost */
  raw_send(h, r, p, tw_tcp_write_ping(p, TW_TCP_PING, 6));
  assert_true(r->srv_closed);
  assert_int_equal(r->closed_reason, TW_E_CRYPTO);
  assert_int_equal(r->closed_calls, 1);
  tw_tcp_server_stats st = stats(h);
  assert_int_equal(st.closed_bad, 1);
  assert_int_equal(st.clients, 0);
  assert_int_equal(st.confirmed, 0);
}

static void test_server_drops_client_on_bad_frame_length(void **state) {
  static const uint8_t bad[][2] = {{0, 0}, {0, 16}, {0x08, 0x01}, {0xff, 0xff}};
  static const int why[] = {TW_E_SHORT, TW_E_SHORT, TW_E_LONG, TW_E_LONG};
  for (size_t i = 0; i < 4; i++) {
    teardown(state);
    harness *h = h_new(state, NULL);
    side *r = h_raw_connect(h, 1);
    buf_append(&r->up, bad[i], 2);
    pump(h);
    assert_true(r->srv_closed);
    assert_int_equal(r->closed_reason, why[i]);
  }
}

/* ---- the client alone ---- */

static void test_client_handshake_timeout_closes(void **state) {
  harness *h = h_new(state, NULL);
  tw_tcp_client_config cc = {.handshake_timeout_ms = 4000};
  side *a = h_add_ex(h, 1, NULL, &cc);
  a->mute = true; /* the handshake never arrives */
  pump(h);
  assert_true(tw_tcp_client_next_deadline(a->cl) == T0 + 4000);
  tw_tcp_client_on_timer(a->cl, T0 + 3999);
  assert_int_equal(tw_tcp_client_state_get(a->cl), TW_TCP_CLIENT_HANDSHAKING);
  tw_tcp_client_on_timer(a->cl, T0 + 4000);
  assert_int_equal(tw_tcp_client_state_get(a->cl), TW_TCP_CLIENT_CLOSED);
  const evrec *c = ev_last(a, TW_TCP_EV_CLOSED);
  assert_non_null(c);
  assert_int_equal(c->reason, TW_E_EXPIRED);
  assert_true(tw_tcp_client_next_deadline(a->cl) == TW_NEVER);
  assert_int_equal(ev_count(a, TW_TCP_EV_CLOSED), 1);
}

static void test_client_ping_timeout_closes(void **state) {
  harness *h = h_new(state, NULL);
  tw_tcp_client_config cc = {.ping_interval_ms = 2000, .ping_timeout_ms = 1000};
  side *a = h_add_ex(h, 1, NULL, &cc);
  pump(h);
  assert_int_equal(ev_count(a, TW_TCP_EV_PONG), 1);
  a->deaf = true; /* the relay's answers stop coming */
  advance(h, T0 + 2000);
  assert_int_equal(cstats(a).pings_sent, 2);
  assert_int_equal(tw_tcp_client_state_get(a->cl), TW_TCP_CLIENT_CONNECTED);
  advance(h, T0 + 2999);
  assert_int_equal(tw_tcp_client_state_get(a->cl), TW_TCP_CLIENT_CONNECTED);
  advance(h, T0 + 3000);
  assert_int_equal(tw_tcp_client_state_get(a->cl), TW_TCP_CLIENT_CLOSED);
  assert_int_equal(ev_must(a, TW_TCP_EV_CLOSED)->reason, TW_E_EXPIRED);
}

static void test_client_control_queues_when_data_full(void **state) {
  harness *h = h_new(state, NULL);
  tw_tcp_client_config cc = {.queue_bytes = 4096};
  side *a = h_add_ex(h, 1, NULL, &cc);
  pump(h);
  a->up_stuck = true;
  uint8_t data[1000];
  fill_pattern(data, sizeof data, 0);
  int sent = 0, rc;
  while ((rc = tw_tcp_client_send_data(a->cl, 16, data, sizeof data)) == TW_OK) sent++;
  assert_int_equal(rc, TW_E_FULL);
  assert_int_equal(sent, 4); /* 4 x 1019 bytes fit in 4096 */
  assert_int_equal(cstats(a).dropped_queue_full, 1);
  assert_int_equal(tw_tcp_client_send_oob(a->cl, &a->kp.pk, data, 200), TW_E_FULL);
  size_t q = tw_tcp_client_queued(a->cl);
  tw_key k = key_n(1);
  assert_int_equal(tw_tcp_client_send_route_request(a->cl, &k), TW_OK);
  assert_int_equal(tw_tcp_client_send_disconnect(a->cl, 17), TW_OK);
  assert_int_equal(tw_tcp_client_send_ping(a->cl, h->now), TW_OK);
  assert_true(tw_tcp_client_queued(a->cl) > q);
  /* Once the socket takes bytes again, all of it arrives in order. */
  a->up_stuck = false;
  pump(h);
  assert_int_equal(tw_tcp_client_queued(a->cl), 0);
  assert_int_equal(ev_must(a, TW_TCP_EV_ROUTE_RESPONSE)->conn_id, SPEC_FIRST_ID);
  assert_false(a->srv_closed);
  assert_int_equal(stats(h).dropped[-TW_E_NOROUTE], 4); /* the data had no link */
}

static void test_client_refuses_sending_before_handshake(void **state) {
  harness *h = h_new(state, NULL);
  side *a = h_add(h, 1);
  uint8_t x = 1;
  tw_key k = key_n(1);
  assert_int_equal(tw_tcp_client_send_data(a->cl, 16, &x, 1), TW_E_INVAL);
  assert_int_equal(tw_tcp_client_send_oob(a->cl, &k, &x, 1), TW_E_INVAL);
  assert_int_equal(tw_tcp_client_send_route_request(a->cl, &k), TW_E_INVAL);
  assert_int_equal(tw_tcp_client_queued(a->cl), SPEC_HANDSHAKE);
}

#define T(name) cmocka_unit_test_teardown(name, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_handshake_round_trip_and_tamper_refused),
      T(test_handshake_response_round_trip_and_tamper_refused),
      T(test_every_packet_kind_parsed),
      T(test_every_malformed_packet_refused_with_its_code),
      T(test_nonce_increment_is_big_endian_with_carry),
      T(test_frames_split_at_every_byte_reassembled),
      T(test_many_frames_in_one_read),
      T(test_frame_length_out_of_range_refused),
      T(test_frame_with_skipped_nonce_does_not_open),
      T(test_stream_queue_limit_and_partial_writes),
      T(test_handshake_then_confirmed_by_first_frame),
      T(test_tampered_handshake_dropped_by_server),
      T(test_tampered_handshake_response_closes_client),
      T(test_route_request_gets_id_from_16),
      T(test_both_ask_then_both_notified),
      T(test_data_relayed_both_ways_with_own_ids),
      T(test_disconnect_tells_peer_and_frees_id),
      T(test_route_request_for_own_key_refused),
      T(test_240_links_then_refused),
      T(test_oob_to_connected_key_arrives_with_sender_key),
      T(test_oob_to_unknown_key_dropped),
      T(test_client_ping_answered_with_pong),
      T(test_server_ignores_pong_with_wrong_id),
      T(test_client_ignores_pong_with_wrong_id),
      T(test_server_pings_after_interval),
      T(test_server_drops_client_not_answering_ping),
      T(test_client_without_handshake_dropped_after_timeout),
      T(test_client_without_first_frame_dropped_after_timeout),
      T(test_same_key_replaces_first_connection),
      T(test_max_per_addr_refuses_only_that_ip),
      T(test_max_clients_refuses_full),
      T(test_stuck_reader_loses_data_then_dropped_others_unaffected),
      T(test_total_queue_limit_shared_by_all_clients),
      T(test_slow_reader_not_dropped),
      T(test_onion_request_and_response_through_relay),
      T(test_next_deadline),
      T(test_next_deadline_follows_confirmation),
      T(test_unrequested_route_response_ignored_by_client),
      T(test_client_drops_notification_for_unknown_id),
      T(test_server_drops_server_only_kinds),
      T(test_server_drops_client_on_skipped_nonce),
      T(test_server_drops_client_on_bad_frame_length),
      T(test_client_handshake_timeout_closes),
      T(test_client_ping_timeout_closes),
      T(test_client_control_queues_when_data_full),
      T(test_client_refuses_sending_before_handshake),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
