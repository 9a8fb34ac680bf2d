/* tcp_load: a load generator for a Tox TCP relay (toxwire bootstrap
 * --tcp-port, or tox-bootstrapd with enable_tcp_relay).
 *
 * One process, one thread, epoll (level-triggered): N clients of the relay,
 * each with its own key pair and its own tw_tcp_client (the sans-I/O client
 * of include/toxwire/tcp_relay.h; a write the socket does not take waits in
 * the client's queue, and the socket is watched for writability until the
 * queue drains). Clients bind source addresses spread over 127.0.x.y
 * (--per-ip per address) so a relay's per-address cap is not what limits
 * them. Each client has a role:
 *
 *   pair       2 * --pairs clients: each pair asks the relay for a route to
 *              the other, waits for both connect notifications, then streams
 *              data packets both ways (or one way with --oneway) for
 *              --duration seconds. Every packet carries a header (pair,
 *              direction, byte offset, cumulative ack of the other
 *              direction, length, checksum) and a payload cut from a
 *              pseudo-random pattern at that offset, so the receiver checks
 *              every byte and the order. At most --window bytes per
 *              direction are unacknowledged (acks ride on data packets, or
 *              go alone), so a relay that queues what it cannot write yet
 *              never has to drop; a relay that drops anyway shows up as a
 *              gap (lost), a stall, or both.
 *   slow-data  2 * --slow-data-pairs clients in pairs of their own: they read
 *              until the relay has linked them and answered their first
 *              ping, then never read again and keep sending data (at
 *              --slow-rate bytes/s each) to their partner, who never reads
 *              either. Small receive buffers (--slow-rcvbuf) make the relay's
 *              writes to them stop at once.
 *   slow-ping  --slow-ping clients: read until their first pong, then never
 *              read again and send --slow-ping-rate pings per second.
 *   silent     --silent clients: connect and never send a byte.
 *   half       --half clients: send the first 64 bytes of a real handshake
 *              (of 128) and nothing more.
 *   idle       the rest: handshake, first ping answered, then only the
 *              keep-alive pings of the client (and answers to the relay's).
 *   pinger     one extra client (with --probe-ms > 0) that pings the relay
 *              every --probe-ms and times each pong.
 *   probe      with --probe-ms > 0, every --probe-ms a fresh client (new key
 *              pair, new connection) is started: TCP connect, handshake,
 *              first ping answered; the time from connect() to that pong
 *              must stay under --probe-max-ms ("the relay never blocks").
 *
 * Slow, silent and half clients are watched for being dropped by the relay
 * (EOF or reset). With --expect-drop, at the end of the run the slow ones
 * start reading and must reach EOF within --drain-s (data the relay still
 * had for them comes first), and every one of them must have been dropped.
 *
 * Time line: clients connect at once (at most --connect-burst
 * connections or handshakes in flight); once every client that should be
 * confirmed is, and every pair is linked (or at the --connect-timeout
 * deadline, which is then an error), the pairs stream for --duration s;
 * then senders stop and the receivers get --drain-s to receive everything;
 * then the slow clients' EOF is awaited (--drain-s more at most). --hold S
 * keeps every client connected for S more seconds before the result (for
 * memory measurements; a `holding` line marks its start). --linger S keeps the connections open for up to S seconds after
 * the result line (until every one is closed by the relay, or SIGTERM).
 *
 * Output: plain lines on stdout, key=value fields, flushed per line:
 *   start ...            the configuration
 *   progress t=S ...     every --progress-ms
 *   all_confirmed t=S n=N   every client that should be confirmed is
 *   holding t=S n=N      (--hold) the hold starts with N clients up
 *   error t=S what=... ...   one per problem found (first --max-errors)
 *   summary lines        human-readable
 *   result status=ok|FAIL k=v ...   one line, the figures
 * Exit status: 0 all checks passed; 1 a check failed (data corrupted or
 * lost on a pair, a pair stalled longer than --stall-ms or never linked, a
 * client that should have been confirmed was not, a probe late or failed, a
 * slow/silent/half client not dropped with --expect-drop, an idle or pair
 * client dropped by the relay); 2 usage or setup error.
 *
 * MB/s counts verified payload bytes (10^6 per MB), not our 32-byte
 * header nor the relay's framing. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "toxwire/tcp_relay.h"
#include "toxwire/types.h"

/* ------------------------------------------------------------ options */

typedef struct opts {
  char host[64];
  uint16_t port;
  tw_key relay_pk;
  int clients, pairs, slow_data_pairs, slow_ping, silent, half;
  int per_ip; /* 0: do not bind a source address */
  double duration_s, drain_s, hold_s, linger_s, connect_timeout_s;
  int packet;       /* bytes of one data packet (our header included) */
  size_t window;    /* unacknowledged payload bytes per direction */
  size_t client_queue; /* bytes we let wait in a pair client's queue */
  bool oneway;
  int stall_ms;
  int probe_ms, probe_max_ms;
  long slow_rate;   /* bytes/s per slow-data client */
  int slow_ping_rate;
  int slow_rcvbuf;
  bool expect_drop;
  int connect_burst;
  int progress_ms;
  int max_errors;
  int inject_corrupt, inject_drop; /* self-test of the checks: 1 in N received packets */
} opts;

static opts O = {
    .host = "127.0.0.1",
    .clients = 100,
    .per_ip = 16,
    .duration_s = 10,
    .drain_s = 5,
    .connect_timeout_s = 30,
    .packet = 1024,
    .window = 64 * 1024,
    .client_queue = 64 * 1024,
    .stall_ms = 3000,
    .probe_ms = 0,
    .probe_max_ms = 1000,
    .slow_rate = 512 * 1024,
    .slow_ping_rate = 100,
    .slow_rcvbuf = 4096,
    .connect_burst = 256,
    .progress_ms = 1000,
    .max_errors = 20,
};

/* ------------------------------------------------------------ clients */

typedef enum role {
  R_IDLE,
  R_PAIR,
  R_SLOW_DATA,
  R_SLOW_PING,
  R_SILENT,
  R_HALF,
  R_PINGER,
  R_PROBE,
  R_COUNT
} role;
static const char *const role_name[R_COUNT] = {"idle",   "pair", "slow_data", "slow_ping",
                                               "silent", "half", "pinger",    "probe"};

#define HDR 32
#define MAGIC 0xA7
#define PAT_SIZE 65536
#define HALF_BYTES 64

typedef struct cl {
  int fd;
  uint32_t gen;
  role role;
  int pair;    /* pair number (pair and slow-data roles), else -1 */
  int partner; /* index of the other side, else -1 */
  uint8_t dir; /* direction this side sends in: 0 or 1 */
  tw_keypair kp;
  tw_tcp_client *c;
  bool started, connecting, tcp_up, hs_done, confirmed, linked, reading, closed, ours_closed;
  bool wantw, dead_lib, discard; /* discard: read and drop (draining a slow client) */
  uint32_t mask;
  int close_reason;
  uint64_t t_start, t_tcp, t_hs, t_pong, t_linked, t_closed;
  uint8_t conn_id;
  /* our stream (we send) */
  uint64_t tx, tx_acked;
  /* the partner's stream (we receive) */
  uint64_t rx, rx_ack_sent;
  uint64_t rx_progress; /* when rx last advanced (or the link came up) */
  uint64_t max_gap;     /* longest wait for progress with data outstanding */
  bool stalled;
  double tokens; /* slow senders: bytes allowed now */
  size_t half_written;
  uint64_t ping_at; /* pinger: when the outstanding ping went out, 0: none */
  struct cl *next_dead;
} cl;

static cl *C;      /* the N clients, then the pinger, then probe slots */
static int NC;     /* clients + pinger */
static int NPROBE; /* probe slots */
static int g_ep = -1;
static uint64_t T0;
static tw_env g_env;
static uint8_t PAT[PAT_SIZE + 4096];
static volatile sig_atomic_t g_stop;

/* ------------------------------------------------------------ stats */

static struct {
  uint64_t tcp_up, hs_done, confirmed, linked_pairs;
  uint64_t connect_failed, hs_failed;
  uint64_t bytes_sent, bytes_verified, packets_verified, acks;
  uint64_t corrupt, misdelivered, gaps, dups, bad_ack, lost, stalls, unlinked;
  uint64_t unexpected_close, unconfirmed;
  uint64_t probes_started, probes_ok, probes_late, probes_failed;
  uint64_t probe_max_total, probe_max_ping, probe_sum_total;
  uint64_t pings, pongs, ping_max, ping_late;
  uint64_t dropped_by_relay[R_COUNT], expected_drop[R_COUNT], not_dropped;
  uint64_t drop_first[R_COUNT], drop_last[R_COUNT];
  uint64_t slow_bytes_sent, slow_pings_sent;
  uint64_t errors;
  uint64_t stream_start, stream_last_rx;
} S;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
static double tsec(uint64_t t) { return (double)(t - T0) / 1000.0; }
static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The pinger's round trips, in microseconds, for percentiles. */
static uint32_t *g_rtt;
static size_t g_nrtt, g_rtt_cap;
static uint64_t g_ping_us;
static void rtt_add(uint64_t us) {
  if (g_nrtt == g_rtt_cap) {
    size_t cap = g_rtt_cap ? g_rtt_cap * 2 : 1024;
    uint32_t *n = realloc(g_rtt, cap * sizeof *n);
    if (n == NULL) return;
    g_rtt = n;
    g_rtt_cap = cap;
  }
  g_rtt[g_nrtt++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}
static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}
static double rtt_pct(double q) {
  if (g_nrtt == 0) return 0;
  size_t i = (size_t)(q * (double)(g_nrtt - 1) + 0.5);
  return (double)g_rtt[i] / 1000.0;
}

static void error_line(const char *what, const char *fmt, ...) {
  S.errors++;
  if (S.errors > (uint64_t)O.max_errors) return;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  printf("error t=%.2f what=%s %s\n", tsec(now_ms()), what, buf);
  fflush(stdout);
}

/* ------------------------------------------------------------ helpers */

static void sodium_random(void *ctx, uint8_t *out, size_t len) {
  (void)ctx;
  randombytes_buf(out, len);
}

static uint64_t checksum(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h ^ (h >> 32);
}

static void put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint16_t get_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Where in PAT the stream of (pair, dir) starts. */
static size_t pat_salt(int pair, uint8_t dir) {
  uint32_t x = (uint32_t)pair * 2654435761u ^ (uint32_t)dir * 40503u ^ 0x9e3779b9u;
  x ^= x >> 15;
  x *= 0x2c1b3c6du;
  x ^= x >> 12;
  return x & (PAT_SIZE - 1);
}
static const uint8_t *pattern_at(int pair, uint8_t dir, uint64_t off) {
  return PAT + ((off + pat_salt(pair, dir)) & (PAT_SIZE - 1));
}

static cl *cl_of(uint64_t data) {
  uint32_t idx = (uint32_t)data, gen = (uint32_t)(data >> 32);
  if (idx >= (uint32_t)(NC + NPROBE)) return NULL;
  cl *x = &C[idx];
  return x->gen == gen && x->fd >= 0 ? x : NULL;
}
static int idx_of(const cl *x) { return (int)(x - C); }

static void update_mask(cl *x) {
  if (x->fd < 0) return;
  uint32_t m = EPOLLRDHUP;
  if (x->reading) m |= EPOLLIN;
  if (x->connecting || (x->wantw && x->role != R_HALF && !x->closed)) m |= EPOLLOUT;
  if (m == x->mask) return;
  struct epoll_event ev = {.events = m, .data.u64 = (uint64_t)x->gen << 32 | (uint32_t)idx_of(x)};
  epoll_ctl(g_ep, EPOLL_CTL_MOD, x->fd, &ev);
  x->mask = m;
}

/* The relay ended this connection (EOF, reset, or a failed write), or the
 * client library gave up on it. */
static void note_closed(cl *x, int reason, uint64_t now) {
  if (x->closed) return;
  x->closed = true;
  x->close_reason = reason;
  x->t_closed = now;
  x->reading = false;
  if (x->ours_closed) return;
  S.dropped_by_relay[x->role]++;
  if (!S.drop_first[x->role]) S.drop_first[x->role] = now;
  S.drop_last[x->role] = now;
}

static void close_fd(cl *x) {
  if (x->fd >= 0) {
    close(x->fd); /* leaves the epoll set with it */
    x->fd = -1;
    x->mask = 0;
  }
}

/* ------------------------------------------------------------ client callbacks */

static long cb_write(void *ctx, void *user, const uint8_t *bytes, size_t len) {
  (void)user;
  cl *x = ctx;
  if (x->fd < 0) return -1;
  if (x->connecting) return 0;
  if (x->role == R_HALF) {
    if (x->half_written >= HALF_BYTES) return 0;
    if (len > HALF_BYTES - x->half_written) len = HALF_BYTES - x->half_written;
  }
  for (;;) {
    ssize_t w = send(x->fd, bytes, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w >= 0) {
      if (x->role == R_HALF) x->half_written += (size_t)w;
      return (long)w;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return -1;
  }
}

static void cb_want_write(void *ctx, void *user, bool on) {
  (void)user;
  cl *x = ctx;
  x->wantw = on;
  update_mask(x);
}

static void send_ack(cl *x);

/* Checks a data packet's header, checksum and addressing, and takes its
 * ack; true when the packet is sound (its payload is checked after). */
static bool on_data(cl *x, const tw_tcp_client_event *ev) {
  if (!x->linked || ev->conn_id != x->conn_id) {
    S.misdelivered++;
    error_line("misdelivered", "client=%d conn_id=%u (ours %u)", idx_of(x), ev->conn_id,
               x->conn_id);
    return false;
  }
  const uint8_t *p = ev->data;
  size_t n = ev->len;
  if (n < HDR || p[0] != MAGIC || (p[1] != 'D' && p[1] != 'A') ||
      get_u16(p + 2) != n - HDR) {
    S.corrupt++;
    error_line("corrupt", "client=%d pair=%d bad header (len %zu)", idx_of(x), x->pair, n);
    return false;
  }
  uint8_t tmp[HDR];
  memcpy(tmp, p, HDR);
  memset(tmp + 24, 0, 8);
  if ((checksum(tmp, HDR) ^ checksum(p + HDR, n - HDR)) != get_u64(p + 24)) {
    S.corrupt++;
    error_line("corrupt", "client=%d pair=%d checksum mismatch", idx_of(x), x->pair);
    return false;
  }
  int pair = (int)get_u32(p + 4);
  uint8_t dir = p[8];
  cl *peer = &C[x->partner];
  if (pair != x->pair || dir != peer->dir) {
    S.misdelivered++;
    error_line("misdelivered", "client=%d pair=%d got pair=%d dir=%u", idx_of(x), x->pair,
               pair, dir);
    return false;
  }
  uint64_t ack = get_u64(p + 16);
  if (ack > x->tx) {
    S.bad_ack++;
    error_line("bad_ack", "client=%d pair=%d ack %llu > sent %llu", idx_of(x), x->pair,
               (unsigned long long)ack, (unsigned long long)x->tx);
    return false;
  }
  if (ack > x->tx_acked) x->tx_acked = ack;
  return true;
}

/* Packet layout (little-endian), HDR = 32 bytes:
 *   0 magic  1 type 'D'|'A'  2 u16 payload length  4 u32 pair
 *   8 u8 dir  9..15 u56 seq (byte offset of the payload in the stream)
 *   16 u64 ack (bytes of the other direction received in order)
 *   24 u64 checksum over the header (this field zero) and the payload */
static uint64_t get_seq(const uint8_t *p) { return get_u64(p + 8) >> 8; }

static void on_data_verify(cl *x, const tw_tcp_client_event *ev, uint64_t now) {
  const uint8_t *p = ev->data;
  size_t n = ev->len;
  cl *peer = &C[x->partner];
  uint64_t seq = get_seq(p);
  size_t plen = n - HDR;
  if (seq != x->rx) {
    if (seq > x->rx) {
      S.gaps++;
      error_line("lost", "client=%d pair=%d expected offset %llu, got %llu (%llu bytes missing)",
                 idx_of(x), x->pair, (unsigned long long)x->rx, (unsigned long long)seq,
                 (unsigned long long)(seq - x->rx));
      x->rx = seq; /* resynchronise so one loss is one error */
    } else {
      S.dups++;
      error_line("duplicate", "client=%d pair=%d offset %llu again (at %llu)", idx_of(x),
                 x->pair, (unsigned long long)seq, (unsigned long long)x->rx);
      return;
    }
  }
  if (memcmp(p + HDR, pattern_at(x->pair, peer->dir, seq), plen) != 0) {
    S.corrupt++;
    error_line("corrupt", "client=%d pair=%d payload at offset %llu differs", idx_of(x),
               x->pair, (unsigned long long)seq);
  } else {
    S.bytes_verified += plen;
    S.packets_verified++;
  }
  x->rx = seq + plen;
  if (now - x->rx_progress > x->max_gap) x->max_gap = now - x->rx_progress;
  x->rx_progress = now;
  S.stream_last_rx = now;
  if (x->rx - x->rx_ack_sent >= O.window / 4) send_ack(x);
}

static void on_event(void *ctx, const tw_tcp_client_event *ev, tw_time_ms now_) {
  cl *x = ctx;
  uint64_t now = now_;
  switch (ev->kind) {
  case TW_TCP_EV_CONNECTED:
    x->hs_done = true;
    x->t_hs = now;
    if (x->role != R_PROBE) S.hs_done++;
    if ((x->role == R_PAIR || x->role == R_SLOW_DATA) && x->partner >= 0)
      tw_tcp_client_send_route_request(x->c, &C[x->partner].kp.pk);
    if (x->role == R_PINGER || x->role == R_PROBE) x->ping_at = now;
    break;
  case TW_TCP_EV_PONG:
    if (!x->confirmed) {
      x->confirmed = true;
      x->t_pong = now;
      if (x->role != R_PROBE) S.confirmed++;
    }
    if (x->role == R_PINGER && x->ping_at) {
      uint64_t rtt = now - x->ping_at;
      if (g_ping_us) rtt_add(now_us() - g_ping_us);
      S.pongs++;
      if (rtt > S.ping_max) S.ping_max = rtt;
      if (rtt > (uint64_t)O.probe_max_ms) {
        S.ping_late++;
        error_line("ping_late", "pinger pong after %llu ms", (unsigned long long)rtt);
      }
      x->ping_at = 0;
    }
    break;
  case TW_TCP_EV_ROUTE_RESPONSE:
    if (ev->conn_id == 0 && x->role == R_PAIR)
      error_line("route_refused", "client=%d pair=%d", idx_of(x), x->pair);
    break;
  case TW_TCP_EV_CONNECT:
    if (x->partner < 0 || !tw_key_equal(&ev->pk, &C[x->partner].kp.pk)) break;
    x->conn_id = ev->conn_id;
    x->linked = true;
    x->t_linked = now;
    x->rx_progress = now;
    if (x->role == R_PAIR && C[x->partner].linked) S.linked_pairs++;
    break;
  case TW_TCP_EV_DISCONNECT:
    if (x->role == R_PAIR && x->linked && ev->conn_id == x->conn_id) {
      x->linked = false;
      if (!g_stop) error_line("disconnect", "client=%d pair=%d: the relay unlinked the pair",
                              idx_of(x), x->pair);
      S.unexpected_close++;
    }
    break;
  case TW_TCP_EV_DATA:
    if (x->role != R_PAIR) break;
    if (O.inject_corrupt > 0 || O.inject_drop > 0) {
      /* Self-test: what a faulty relay would do, applied on arrival. */
      static uint64_t seen;
      seen++;
      if (O.inject_drop > 0 && seen % (uint64_t)O.inject_drop == 0) break;
      if (O.inject_corrupt > 0 && seen % (uint64_t)O.inject_corrupt == 0 && ev->len > HDR) {
        uint8_t copy[TW_TCP_MAX_PACKET];
        memcpy(copy, ev->data, ev->len);
        copy[HDR + (seen / 7) % (ev->len - HDR)] ^= 0x10;
        tw_tcp_client_event e2 = *ev;
        e2.data = copy;
        if (on_data(x, &e2) && copy[1] == 'D') on_data_verify(x, &e2, now);
        break;
      }
    }
    if (on_data(x, ev) && ev->data[1] == 'D') on_data_verify(x, ev, now);
    break;
  case TW_TCP_EV_CLOSED:
    x->dead_lib = true;
    if (!x->hs_done && !x->ours_closed && x->role != R_HALF) S.hs_failed++;
    note_closed(x, ev->reason, now);
    break;
  default:
    break;
  }
}

/* ------------------------------------------------------------ sending */

static int build_and_send(cl *x, char type, size_t plen) {
  uint8_t pkt[TW_TCP_MAX_PACKET];
  pkt[0] = MAGIC;
  pkt[1] = (uint8_t)type;
  put_u16(pkt + 2, (uint16_t)plen);
  put_u32(pkt + 4, (uint32_t)x->pair);
  put_u64(pkt + 8, x->tx << 8 | x->dir);
  put_u64(pkt + 16, x->rx);
  put_u64(pkt + 24, 0);
  if (plen) memcpy(pkt + HDR, pattern_at(x->pair, x->dir, x->tx), plen);
  uint64_t h = checksum(pkt, HDR) ^ checksum(pkt + HDR, plen);
  put_u64(pkt + 24, h);
  int rc = tw_tcp_client_send_data(x->c, x->conn_id, pkt, HDR + plen);
  if (rc == TW_OK) x->rx_ack_sent = x->rx;
  return rc;
}

static void send_ack(cl *x) {
  if (x->closed || !x->linked) return;
  if (build_and_send(x, 'A', 0) == TW_OK) S.acks++;
}

static bool g_streaming; /* pairs send new data */

static void pump_pair(cl *x) {
  if (x->closed || !x->linked || !C[x->partner].linked) return;
  size_t plen = (size_t)O.packet - HDR;
  if (g_streaming && !(O.oneway && x->dir == 1)) {
    while (x->tx - x->tx_acked + plen <= O.window &&
           tw_tcp_client_queued(x->c) < O.client_queue) {
      if (build_and_send(x, 'D', plen) != TW_OK) break;
      x->tx += plen;
      S.bytes_sent += plen;
    }
  }
  if (x->rx - x->rx_ack_sent >= O.window / 4) send_ack(x);
}

static void pump_slow(cl *x, double dt) {
  if (x->closed || !x->c || tw_tcp_client_state_get(x->c) != TW_TCP_CLIENT_CONNECTED) return;
  if (x->role == R_SLOW_DATA) {
    if (!x->linked) return;
    x->tokens += (double)O.slow_rate * dt;
    if (x->tokens > (double)O.slow_rate) x->tokens = (double)O.slow_rate;
    uint8_t pkt[TW_TCP_MAX_PACKET];
    memset(pkt, 0x5a, sizeof pkt);
    size_t n = (size_t)O.packet;
    while (x->tokens >= (double)n) {
      if (tw_tcp_client_send_data(x->c, x->conn_id, pkt, n) != TW_OK) break;
      x->tokens -= (double)n;
      S.slow_bytes_sent += n;
    }
  } else if (x->role == R_SLOW_PING) {
    x->tokens += (double)O.slow_ping_rate * dt;
    if (x->tokens > (double)O.slow_ping_rate) x->tokens = (double)O.slow_ping_rate;
    while (x->tokens >= 1.0) {
      if (tw_tcp_client_send_ping(x->c, now_ms()) != TW_OK) break;
      x->tokens -= 1.0;
      S.slow_pings_sent++;
    }
  }
}

/* ------------------------------------------------------------ connecting */

static struct sockaddr_in g_relay;

static int start_client(cl *x, uint64_t now, int src_a, int src_b) {
  x->gen++;
  x->started = true;
  x->t_start = now;
  x->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (x->fd < 0) {
    error_line("socket", "client=%d: %s", idx_of(x), strerror(errno));
    x->closed = x->ours_closed = true;
    return -1;
  }
  int one = 1;
  setsockopt(x->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (x->role == R_SLOW_DATA || x->role == R_SLOW_PING)
    setsockopt(x->fd, SOL_SOCKET, SO_RCVBUF, &O.slow_rcvbuf, sizeof O.slow_rcvbuf);
  if (src_a >= 0) {
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)src_a << 8 | (uint32_t)src_b);
    setsockopt(x->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(x->fd, (struct sockaddr *)&src, sizeof src) != 0) {
      error_line("bind", "client=%d 127.0.%d.%d: %s", idx_of(x), src_a, src_b, strerror(errno));
      close_fd(x);
      x->closed = x->ours_closed = true;
      return -1;
    }
  }
  if (x->role != R_SILENT) {
    tw_tcp_client_config cfg = {
        .self = x->kp,
        .relay_pk = O.relay_pk,
        .handshake_timeout_ms = (tw_time_ms)(O.connect_timeout_s * 1000),
        .write = cb_write,
        .want_write = cb_want_write,
        .on_event = on_event,
        .ctx = x,
    };
    x->c = tw_tcp_client_new(&cfg, &g_env, now);
    if (x->c == NULL) {
      error_line("client_new", "client=%d", idx_of(x));
      close_fd(x);
      x->closed = x->ours_closed = true;
      return -1;
    }
  }
  x->connecting = true;
  x->reading = true;
  x->mask = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
  struct epoll_event ev = {.events = x->mask,
                           .data.u64 = (uint64_t)x->gen << 32 | (uint32_t)idx_of(x)};
  epoll_ctl(g_ep, EPOLL_CTL_ADD, x->fd, &ev);
  if (connect(x->fd, (struct sockaddr *)&g_relay, sizeof g_relay) != 0 &&
      errno != EINPROGRESS) {
    S.connect_failed++;
    error_line("connect", "client=%d: %s", idx_of(x), strerror(errno));
    note_closed(x, TW_E_IO, now);
    close_fd(x);
    return -1;
  }
  return 0;
}

static void src_of(int i, int *a, int *b) {
  if (O.per_ip <= 0) {
    *a = *b = -1;
    return;
  }
  int ip = i / O.per_ip;
  *a = 1 + ip / 250;
  *b = 1 + ip % 250;
}

/* ------------------------------------------------------------ events */

static uint8_t g_rbuf[65536];

static void handle_io(cl *x, uint32_t evs, uint64_t now) {
  if (x->connecting && (evs & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err != 0 || (evs & EPOLLHUP)) {
      S.connect_failed++;
      if (x->role != R_PROBE)
        error_line("connect", "client=%d role=%s: %s", idx_of(x), role_name[x->role],
                   strerror(err ? err : ECONNRESET));
      note_closed(x, TW_E_IO, now);
      close_fd(x);
      return;
    }
    x->connecting = false;
    x->tcp_up = true;
    x->t_tcp = now;
    if (x->role != R_PROBE) S.tcp_up++;
    if (x->c) tw_tcp_client_handle_writable(x->c, now);
    update_mask(x);
    return;
  }
  if ((evs & EPOLLIN) && x->reading) {
    ssize_t r = recv(x->fd, g_rbuf, sizeof g_rbuf, MSG_DONTWAIT);
    if (r > 0) {
      if (x->c && !x->dead_lib && !x->discard)
        tw_tcp_client_handle_bytes(x->c, g_rbuf, (size_t)r, now);
      /* else: draining a slow client, or bytes for a silent one: discard */
    } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      if (x->c && !x->dead_lib) tw_tcp_client_handle_eof(x->c, now);
      note_closed(x, TW_E_IO, now);
      close_fd(x);
      return;
    }
  } else if (!x->reading && (evs & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))) {
    /* Not reading (a slow client), and the relay reset or closed the
     * connection (its FIN comes after every byte it sent, so it has
     * finished with us). */
    if (x->c && !x->dead_lib) tw_tcp_client_handle_eof(x->c, now);
    note_closed(x, TW_E_IO, now);
    close_fd(x);
    return;
  }
  if ((evs & EPOLLOUT) && x->c && !x->dead_lib && x->fd >= 0) {
    tw_tcp_client_handle_writable(x->c, now);
  }
  if (x->fd >= 0 && x->dead_lib && x->role != R_SILENT) {
    note_closed(x, x->close_reason, now);
    close_fd(x);
  }
}

/* Slow clients stop reading once they have what they wait for. */
static void maybe_stop_reading(cl *x) {
  if (!x->reading || x->closed) return;
  if (x->role == R_SLOW_PING && x->confirmed) x->reading = false;
  if (x->role == R_SLOW_DATA && x->confirmed && x->linked) x->reading = false;
  if (!x->reading) update_mask(x);
}

/* ------------------------------------------------------------ usage */

static void usage(FILE *f) {
  fprintf(f,
          "usage: tcp_load --relay HOST:PORT:KEYHEX [options]\n"
          "  --clients N          clients in all, every role included (default 100)\n"
          "  --pairs P            pairs streaming verified data (2P clients)\n"
          "  --slow-data-pairs K  pairs of slow clients sending data, never reading (2K)\n"
          "  --slow-ping N        slow clients sending pings, never reading\n"
          "  --silent N           clients that connect and never send\n"
          "  --half N             clients that send half a handshake\n"
          "  --per-ip N           clients per source address 127.0.x.y (default 16; 0: no bind)\n"
          "  --duration S         streaming time after the pairs are linked (default 10)\n"
          "  --drain-s S          time for the last data, and for slow clients' EOF (default 5)\n"
          "  --hold S             keep every client up S s before the result (default 0)\n"
          "  --linger S           keep connections up to S s after the result (default 0)\n"
          "  --connect-timeout S  for every client to connect and be confirmed (default 30)\n"
          "  --packet BYTES       data packet size, our 32-byte header included (default 1024)\n"
          "  --window BYTES       unacknowledged bytes per direction (default 65536)\n"
          "  --oneway             pairs stream in one direction only\n"
          "  --stall-ms MS        longest wait for data on a pair (default 3000)\n"
          "  --probe-ms MS        a fresh client, and a ping, every MS (default 0: off)\n"
          "  --probe-max-ms MS    a probe's connect+handshake+pong bound (default 1000)\n"
          "  --slow-rate B        bytes/s each slow-data client sends (default 524288)\n"
          "  --slow-ping-rate N   pings/s each slow-ping client sends (default 100)\n"
          "  --slow-rcvbuf B      SO_RCVBUF of slow clients (default 4096)\n"
          "  --expect-drop        slow, silent and half clients must be dropped by the relay\n"
          "  --connect-burst N    connections/handshakes in flight at once (default 256)\n"
          "  --progress-ms MS     progress line period (default 1000; 0: none)\n"
          "  --max-errors N       error lines printed (default 20)\n"
          "  --client-queue B     bytes a pair client lets wait in its queue (default 65536)\n"
          "  --inject-corrupt N   self-test: flip a bit in 1 of N data packets received\n"
          "  --inject-drop N      self-test: ignore 1 of N data packets received\n");
}

static int parse_relay(const char *s) {
  const char *k = strrchr(s, ':');
  if (k == NULL || k == s) return -1;
  const char *p = k - 1;
  while (p > s && *p != ':') p--;
  if (*p != ':') return -1;
  size_t hl = (size_t)(p - s);
  if (hl == 0 || hl >= sizeof O.host) return -1;
  memcpy(O.host, s, hl);
  O.host[hl] = 0;
  long port = strtol(p + 1, NULL, 10);
  if (port <= 0 || port > 65535) return -1;
  O.port = (uint16_t)port;
  return tw_key_from_hex(&O.relay_pk, k + 1, strlen(k + 1)) == TW_OK ? 0 : -1;
}

static int parse_args(int argc, char **argv) {
  enum {
    O_RELAY = 256, O_CLIENTS, O_PAIRS, O_SDP, O_SP, O_SILENT, O_HALF, O_PERIP, O_DUR, O_DRAIN,
    O_HOLD, O_LINGER, O_CT, O_PACKET, O_WINDOW, O_ONEWAY, O_STALL, O_PROBE, O_PROBEMAX,
    O_SRATE, O_SPRATE, O_SRCVBUF, O_EXPECT, O_BURST, O_PROGRESS, O_MAXERR, O_HELP, O_CQ,
    O_INJC, O_INJD
  };
  static const struct option lo[] = {
      {"relay", required_argument, 0, O_RELAY}, {"clients", required_argument, 0, O_CLIENTS},
      {"pairs", required_argument, 0, O_PAIRS},
      {"slow-data-pairs", required_argument, 0, O_SDP},
      {"slow-ping", required_argument, 0, O_SP}, {"silent", required_argument, 0, O_SILENT},
      {"half", required_argument, 0, O_HALF}, {"per-ip", required_argument, 0, O_PERIP},
      {"duration", required_argument, 0, O_DUR}, {"drain-s", required_argument, 0, O_DRAIN},
      {"hold", required_argument, 0, O_HOLD}, {"linger", required_argument, 0, O_LINGER},
      {"connect-timeout", required_argument, 0, O_CT},
      {"packet", required_argument, 0, O_PACKET}, {"window", required_argument, 0, O_WINDOW},
      {"oneway", no_argument, 0, O_ONEWAY}, {"stall-ms", required_argument, 0, O_STALL},
      {"probe-ms", required_argument, 0, O_PROBE},
      {"probe-max-ms", required_argument, 0, O_PROBEMAX},
      {"slow-rate", required_argument, 0, O_SRATE},
      {"slow-ping-rate", required_argument, 0, O_SPRATE},
      {"slow-rcvbuf", required_argument, 0, O_SRCVBUF},
      {"expect-drop", no_argument, 0, O_EXPECT},
      {"connect-burst", required_argument, 0, O_BURST},
      {"progress-ms", required_argument, 0, O_PROGRESS},
      {"max-errors", required_argument, 0, O_MAXERR}, {"help", no_argument, 0, O_HELP},
      {"client-queue", required_argument, 0, O_CQ},
      {"inject-corrupt", required_argument, 0, O_INJC},
      {"inject-drop", required_argument, 0, O_INJD},
      {0, 0, 0, 0}};
  bool have_relay = false;
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    char *end = NULL;
    double d = optarg ? strtod(optarg, &end) : 0;
    if (optarg && (end == optarg || *end || d < 0) && c != O_RELAY) {
      fprintf(stderr, "tcp_load: bad number '%s'\n", optarg);
      return -1;
    }
    int v = (int)d;
    switch (c) {
    case O_RELAY:
      if (parse_relay(optarg) != 0) {
        fprintf(stderr, "tcp_load: --relay wants HOST:PORT:KEYHEX (IPv4)\n");
        return -1;
      }
      have_relay = true;
      break;
    case O_CLIENTS: O.clients = v; break;
    case O_PAIRS: O.pairs = v; break;
    case O_SDP: O.slow_data_pairs = v; break;
    case O_SP: O.slow_ping = v; break;
    case O_SILENT: O.silent = v; break;
    case O_HALF: O.half = v; break;
    case O_PERIP: O.per_ip = v; break;
    case O_DUR: O.duration_s = d; break;
    case O_DRAIN: O.drain_s = d; break;
    case O_HOLD: O.hold_s = d; break;
    case O_LINGER: O.linger_s = d; break;
    case O_CT: O.connect_timeout_s = d; break;
    case O_PACKET: O.packet = v; break;
    case O_WINDOW: O.window = (size_t)d; break;
    case O_ONEWAY: O.oneway = true; break;
    case O_STALL: O.stall_ms = v; break;
    case O_PROBE: O.probe_ms = v; break;
    case O_PROBEMAX: O.probe_max_ms = v; break;
    case O_SRATE: O.slow_rate = (long)d; break;
    case O_SPRATE: O.slow_ping_rate = v; break;
    case O_SRCVBUF: O.slow_rcvbuf = v; break;
    case O_EXPECT: O.expect_drop = true; break;
    case O_BURST: O.connect_burst = v; break;
    case O_PROGRESS: O.progress_ms = v; break;
    case O_MAXERR: O.max_errors = v; break;
    case O_CQ: O.client_queue = (size_t)d; break;
    case O_INJC: O.inject_corrupt = v; break;
    case O_INJD: O.inject_drop = v; break;
    case O_HELP: usage(stdout); exit(0);
    default: usage(stderr); return -1;
    }
  }
  if (!have_relay) {
    usage(stderr);
    return -1;
  }
  int special = 2 * O.pairs + 2 * O.slow_data_pairs + O.slow_ping + O.silent + O.half;
  if (special > O.clients) {
    fprintf(stderr, "tcp_load: --clients %d is fewer than the roles need (%d)\n", O.clients,
            special);
    return -1;
  }
  if (O.packet < HDR + 1 || O.packet > TW_TCP_MAX_PACKET - 1) {
    fprintf(stderr, "tcp_load: --packet must be %d..%d\n", HDR + 1, TW_TCP_MAX_PACKET - 1);
    return -1;
  }
  if (O.window < (size_t)O.packet * 2) O.window = (size_t)O.packet * 2;
  if (O.connect_burst < 1) O.connect_burst = 1;
  return 0;
}

/* ------------------------------------------------------------ main */

static void on_signal(int sig) {
  (void)sig;
  g_stop = 2;
}

static bool should_confirm(const cl *x) {
  return x->role == R_IDLE || x->role == R_PAIR || x->role == R_SLOW_DATA ||
         x->role == R_SLOW_PING || x->role == R_PINGER;
}

int main(int argc, char **argv) {
  if (parse_args(argc, argv) != 0) return 2;
  if (sodium_init() < 0 || tw_crypto_init() != TW_OK) {
    fprintf(stderr, "tcp_load: libsodium init failed\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  g_env.random_bytes = sodium_random;
  uint64_t seed = 0x243f6a8885a308d3ull;
  for (size_t i = 0; i < sizeof PAT; i++) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    PAT[i] = (uint8_t)(seed >> 24);
  }
  memset(&g_relay, 0, sizeof g_relay);
  g_relay.sin_family = AF_INET;
  g_relay.sin_port = htons(O.port);
  if (inet_pton(AF_INET, O.host, &g_relay.sin_addr) != 1) {
    fprintf(stderr, "tcp_load: '%s' is not an IPv4 address\n", O.host);
    return 2;
  }

  bool probing = O.probe_ms > 0;
  NC = O.clients + (probing ? 1 : 0);
  NPROBE = probing ? 8 : 0;
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)(NC + NPROBE + 32)) {
      fprintf(stderr, "tcp_load: RLIMIT_NOFILE %llu is too low for %d clients\n",
              (unsigned long long)rl.rlim_cur, NC + NPROBE);
      return 2;
    }
  }
  C = calloc((size_t)(NC + NPROBE), sizeof *C);
  g_ep = epoll_create1(EPOLL_CLOEXEC);
  if (C == NULL || g_ep < 0) {
    fprintf(stderr, "tcp_load: out of memory or epoll\n");
    return 2;
  }

  /* Roles, interleaved so every source address carries a mix of them. */
  int n = 0, pair_no = 0;
  for (int i = 0; i < NC + NPROBE; i++) {
    C[i].fd = -1;
    C[i].pair = C[i].partner = -1;
    C[i].role = R_IDLE;
  }
  for (int p = 0; p < O.pairs; p++, pair_no++) {
    C[n] = (cl){.fd = -1, .role = R_PAIR, .pair = pair_no, .partner = n + 1, .dir = 0};
    C[n + 1] = (cl){.fd = -1, .role = R_PAIR, .pair = pair_no, .partner = n, .dir = 1};
    n += 2;
  }
  for (int p = 0; p < O.slow_data_pairs; p++, pair_no++) {
    C[n] = (cl){.fd = -1, .role = R_SLOW_DATA, .pair = pair_no, .partner = n + 1, .dir = 0};
    C[n + 1] = (cl){.fd = -1, .role = R_SLOW_DATA, .pair = pair_no, .partner = n, .dir = 1};
    n += 2;
  }
  for (int k = 0; k < O.slow_ping; k++) C[n++].role = R_SLOW_PING;
  for (int k = 0; k < O.silent; k++) C[n++].role = R_SILENT;
  for (int k = 0; k < O.half; k++) C[n++].role = R_HALF;
  if (probing) C[O.clients].role = R_PINGER;
  for (int i = 0; i < NPROBE; i++) C[NC + i].role = R_PROBE;
  for (int i = 0; i < NC; i++) {
    if (C[i].role != R_PAIR && C[i].role != R_SLOW_DATA) C[i].pair = C[i].partner = -1;
    tw_keypair_generate(&C[i].kp, &g_env);
  }
  /* Start order: a permutation, so that roles mix over time and addresses. */
  int *order = malloc(sizeof(int) * (size_t)NC);
  for (int i = 0; i < NC; i++) order[i] = i;
  uint64_t r = 0x9e3779b97f4a7c15ull;
  for (int i = NC - 1; i > 0; i--) {
    r ^= r << 13;
    r ^= r >> 7;
    r ^= r << 17;
    int j = (int)(r % (uint64_t)(i + 1));
    int t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  int expect_confirm = 0;
  for (int i = 0; i < NC; i++) expect_confirm += should_confirm(&C[i]);

  T0 = now_ms();
  printf("start clients=%d pairs=%d slow_data=%d slow_ping=%d silent=%d half=%d idle=%d "
         "pinger=%d per_ip=%d duration=%g packet=%d window=%zu oneway=%d probe_ms=%d "
         "relay=%s:%u\n",
         O.clients, O.pairs, 2 * O.slow_data_pairs, O.slow_ping, O.silent, O.half,
         O.clients - 2 * O.pairs - 2 * O.slow_data_pairs - O.slow_ping - O.silent - O.half,
         probing, O.per_ip, O.duration_s, O.packet, O.window, O.oneway, O.probe_ms, O.host,
         O.port);
  fflush(stdout);

  enum { P_CONNECT, P_STREAM, P_DRAIN, P_SLOWDRAIN, P_HOLD, P_DONE } phase = P_CONNECT;
  int next_start = 0;
  uint64_t connect_deadline = T0 + (uint64_t)(O.connect_timeout_s * 1000);
  uint64_t stream_end = 0, drain_end = 0, hold_end = 0, t_all_confirmed = 0;
  uint64_t last_tick = T0, last_progress = T0, next_probe = 0, next_ping = 0;
  int probe_rr = 0;
  struct epoll_event evs[512];

  while (phase != P_DONE) {
    uint64_t now = now_ms();
    /* start more clients, keeping at most connect_burst in progress */
    if (next_start < NC) {
      int inflight = 0;
      for (int i = 0; i < next_start; i++) {
        cl *x = &C[order[i]];
        if (!x->closed && x->role != R_SILENT && x->role != R_HALF &&
            (x->connecting || (x->c && !x->hs_done)))
          inflight++;
      }
      while (next_start < NC && inflight < O.connect_burst) {
        cl *x = &C[order[next_start]];
        int a, b;
        if (x->role == R_PINGER) {
          a = 199;
          b = 1;
          if (O.per_ip <= 0) a = b = -1;
        } else {
          src_of(order[next_start], &a, &b);
        }
        start_client(x, now, a, b);
        if (x->role != R_SILENT && x->role != R_HALF) inflight++;
        next_start++;
      }
    }

    int timeout = 20;
    int ne = epoll_wait(g_ep, evs, (int)(sizeof evs / sizeof evs[0]), timeout);
    now = now_ms();
    for (int i = 0; i < ne; i++) {
      cl *x = cl_of(evs[i].data.u64);
      if (x == NULL) continue;
      handle_io(x, evs[i].events, now);
      if (x->fd >= 0 && x->c && !x->dead_lib) {
        maybe_stop_reading(x);
        tw_tcp_client_flush(x->c, now);
        if (x->dead_lib) {
          note_closed(x, x->close_reason, now);
          close_fd(x);
        }
      }
    }
    /* pairs: send what the windows allow */
    for (int i = 0; i < NC; i++) {
      cl *x = &C[i];
      if (x->role != R_PAIR || x->fd < 0 || x->dead_lib) continue;
      pump_pair(x);
      tw_tcp_client_flush(x->c, now);
    }

    if (now - last_tick >= 20) {
      double dt = (double)(now - last_tick) / 1000.0;
      last_tick = now;
      for (int i = 0; i < NC + NPROBE; i++) {
        cl *x = &C[i];
        if (x->fd < 0 || !x->c || x->dead_lib) continue;
        if (x->role == R_SLOW_DATA || x->role == R_SLOW_PING) {
          if (!x->reading) pump_slow(x, dt);
        } else if (x->role != R_HALF) {
          if (tw_tcp_client_next_deadline(x->c) <= now) tw_tcp_client_on_timer(x->c, now);
        }
        if (x->role == R_PAIR && phase >= P_DRAIN && x->rx > x->rx_ack_sent) send_ack(x);
        if (!x->dead_lib) tw_tcp_client_flush(x->c, now);
        if (x->dead_lib && x->fd >= 0) {
          note_closed(x, x->close_reason, now);
          close_fd(x);
        }
      }
      /* stalls: a direction with data outstanding and no progress */
      for (int i = 0; i < NC; i++) {
        cl *x = &C[i];
        if (x->role != R_PAIR || !x->linked || x->stalled) continue;
        cl *peer = &C[x->partner];
        if (peer->tx > x->rx) {
          uint64_t gap = now - x->rx_progress;
          if (gap > x->max_gap) x->max_gap = gap;
          if (gap > (uint64_t)O.stall_ms) {
            x->stalled = true;
            S.stalls++;
            tw_tcp_client_stats rs, ss;
            tw_tcp_client_get_stats(x->c, &rs);
            tw_tcp_client_get_stats(peer->c, &ss);
            error_line("stall",
                       "pair=%d dir=%u: no data for %llu ms with %llu bytes outstanding "
                       "(sender: %llu bytes written, %zu queued; receiver: %llu bytes and "
                       "%llu frames read)",
                       x->pair, peer->dir, (unsigned long long)gap,
                       (unsigned long long)(peer->tx - x->rx),
                       (unsigned long long)ss.bytes_out, tw_tcp_client_queued(peer->c),
                       (unsigned long long)rs.bytes_in, (unsigned long long)rs.frames_in);
          }
        } else {
          x->rx_progress = now;
        }
      }
      /* the pinger: one ping in flight at a time, every probe_ms */
      if (probing && phase <= P_STREAM) {
        cl *pg = &C[O.clients];
        if (pg->confirmed && !pg->closed) {
          if (pg->ping_at && now - pg->ping_at > (uint64_t)O.probe_max_ms && !pg->stalled) {
            pg->stalled = true; /* reported once per ping */
            S.ping_late++;
            error_line("ping_late", "pinger: no pong after %d ms", O.probe_max_ms);
          }
          if (!pg->ping_at && now >= next_ping) {
            if (tw_tcp_client_send_ping(pg->c, now) == TW_OK) {
              pg->ping_at = now;
              g_ping_us = now_us();
              pg->stalled = false;
              S.pings++;
              tw_tcp_client_flush(pg->c, now);
            }
            next_ping = now + (uint64_t)O.probe_ms;
          }
        }
        /* probes: finished ones are judged and their slots freed */
        for (int k = 0; k < NPROBE; k++) {
          cl *x = &C[NC + k];
          if (!x->started) continue;
          bool done = x->confirmed || x->closed || now - x->t_start > (uint64_t)O.probe_max_ms;
          if (!done) continue;
          uint64_t total = x->confirmed ? x->t_pong - x->t_start : now - x->t_start;
          if (x->confirmed && total <= (uint64_t)O.probe_max_ms) {
            S.probes_ok++;
            S.probe_sum_total += total;
            if (total > S.probe_max_total) S.probe_max_total = total;
            if (x->t_pong - x->t_hs > S.probe_max_ping) S.probe_max_ping = x->t_pong - x->t_hs;
          } else if (x->confirmed || !x->closed) {
            S.probes_late++;
            if (total > S.probe_max_total) S.probe_max_total = total;
            error_line("probe_late", "fresh client: connect+handshake+pong took over %llu ms "
                       "(tcp %s, handshake %s)", (unsigned long long)total,
                       x->tcp_up ? "up" : "pending", x->hs_done ? "done" : "pending");
          } else {
            S.probes_failed++;
            error_line("probe_failed", "fresh client closed after %llu ms (tcp %s, handshake %s)",
                       (unsigned long long)total, x->tcp_up ? "up" : "failed",
                       x->hs_done ? "done" : "no");
          }
          close_fd(x);
          tw_tcp_client_free(x->c);
          uint32_t gen = x->gen;
          *x = (cl){.fd = -1, .role = R_PROBE, .pair = -1, .partner = -1, .gen = gen};
        }
        if (next_start >= NC && now >= next_probe) {
          next_probe = now + (uint64_t)O.probe_ms;
          for (int k = 0; k < NPROBE; k++) {
            cl *x = &C[NC + (probe_rr + k) % NPROBE];
            if (x->started) continue;
            tw_keypair_generate(&x->kp, &g_env);
            S.probes_started++;
            start_client(x, now, 200 + probe_rr % 50, 1 + (probe_rr / 50) % 250);
            probe_rr++;
            break;
          }
        }
      }
    }

    /* phases */
    if (phase == P_CONNECT) {
      uint64_t confirmed = 0;
      for (int i = 0; i < NC; i++) confirmed += C[i].confirmed;
      bool all_in = next_start >= NC && (int)confirmed >= expect_confirm;
      if (all_in && !t_all_confirmed) {
        t_all_confirmed = now;
        printf("all_confirmed t=%.2f n=%llu\n", tsec(now), (unsigned long long)confirmed);
        fflush(stdout);
      }
      bool pairs_in = (int)S.linked_pairs >= O.pairs;
      if ((all_in && pairs_in) || now >= connect_deadline || g_stop) {
        if (!(all_in && pairs_in) && !g_stop) {
          for (int i = 0; i < NC; i++) {
            cl *x = &C[i];
            if (should_confirm(x) && !x->confirmed) {
              S.unconfirmed++;
              error_line("unconfirmed", "client=%d role=%s tcp=%d handshake=%d closed=%d",
                         i, role_name[x->role], x->tcp_up, x->hs_done, x->closed);
            }
            if (x->role == R_PAIR && x->dir == 0 && !(x->linked && C[x->partner].linked)) {
              S.unlinked++;
              error_line("unlinked", "pair=%d not linked by the relay", x->pair);
            }
          }
        }
        phase = P_STREAM;
        g_streaming = O.pairs > 0;
        S.stream_start = now;
        stream_end = now + (uint64_t)(O.duration_s * 1000);
        if (O.pairs == 0 && O.slow_data_pairs == 0 && O.slow_ping == 0 && O.silent == 0 &&
            O.half == 0 && !probing)
          stream_end = now; /* nothing to stream: go on to the hold */
      }
    } else if (phase == P_STREAM) {
      if (now >= stream_end || g_stop) {
        g_streaming = false;
        phase = P_DRAIN;
        drain_end = now + (uint64_t)(O.drain_s * 1000);
      }
    } else if (phase == P_DRAIN) {
      bool all = true;
      for (int i = 0; i < NC && all; i++) {
        cl *x = &C[i];
        if (x->role == R_PAIR && x->linked && !x->closed && C[x->partner].tx != x->rx)
          all = false;
      }
      if (all || now >= drain_end || g_stop) {
        for (int i = 0; i < NC; i++) {
          cl *x = &C[i];
          if (x->role != R_PAIR) continue;
          cl *peer = &C[x->partner];
          if (peer->tx > x->rx) {
            S.lost += peer->tx - x->rx;
            error_line("lost", "pair=%d dir=%u: %llu bytes sent never arrived", x->pair, peer->dir,
                       (unsigned long long)(peer->tx - x->rx));
          }
        }
        /* slow clients: read from now on; the relay should have closed them */
        for (int i = 0; i < NC; i++) {
          cl *x = &C[i];
          if ((x->role == R_SLOW_DATA || x->role == R_SLOW_PING) && !x->closed && x->fd >= 0) {
            x->reading = true;
            x->discard = true; /* what comes is read and dropped: EOF is what counts */
            update_mask(x);
          }
        }
        phase = P_SLOWDRAIN;
        drain_end = now + (uint64_t)(O.drain_s * 1000);
      }
    } else if (phase == P_SLOWDRAIN) {
      bool all = true;
      for (int i = 0; i < NC && all; i++) {
        cl *x = &C[i];
        if ((x->role == R_SLOW_DATA || x->role == R_SLOW_PING || x->role == R_SILENT ||
             x->role == R_HALF) && !x->closed)
          all = false;
      }
      if (!O.expect_drop || all || now >= drain_end || g_stop) {
        for (int i = 0; i < NC; i++) {
          cl *x = &C[i];
          if (x->role == R_SLOW_DATA || x->role == R_SLOW_PING || x->role == R_SILENT ||
              x->role == R_HALF) {
            S.expected_drop[x->role]++;
            if (!x->closed && O.expect_drop) {
              S.not_dropped++;
              error_line("not_dropped", "client=%d role=%s still connected at t=%.1f", i,
                         role_name[x->role], tsec(now));
            }
          }
        }
        phase = P_HOLD;
        hold_end = now + (uint64_t)(O.hold_s * 1000);
        if (O.hold_s > 0) {
          int up = 0;
          for (int i = 0; i < NC; i++) up += !C[i].closed && C[i].confirmed;
          printf("holding t=%.2f n=%d\n", tsec(now), up);
          fflush(stdout);
        }
      }
    } else if (phase == P_HOLD) {
      if (now >= hold_end || g_stop) phase = P_DONE;
    }

    if (O.progress_ms > 0 && now - last_progress >= (uint64_t)O.progress_ms) {
      last_progress = now;
      int up = 0, slow_open = 0;
      for (int i = 0; i < NC; i++) {
        up += C[i].fd >= 0 && C[i].confirmed;
        if ((C[i].role == R_SLOW_DATA || C[i].role == R_SLOW_PING) && !C[i].closed) slow_open++;
      }
      double el = S.stream_start ? (double)(now - S.stream_start) / 1000.0 : 0;
      printf("progress t=%.1f phase=%d tcp_up=%llu handshaked=%llu confirmed=%llu up=%d "
             "linked_pairs=%llu verified_mb=%.1f mb_s=%.1f probes=%llu probe_max_ms=%llu "
             "ping_max_ms=%llu slow_open=%d dropped_slow=%llu dropped_silent=%llu "
             "dropped_half=%llu errors=%llu\n",
             tsec(now), phase, (unsigned long long)S.tcp_up, (unsigned long long)S.hs_done,
             (unsigned long long)S.confirmed, up, (unsigned long long)S.linked_pairs,
             (double)S.bytes_verified / 1e6, el > 0 ? (double)S.bytes_verified / 1e6 / el : 0,
             (unsigned long long)S.probes_started, (unsigned long long)S.probe_max_total,
             (unsigned long long)S.ping_max, slow_open,
             (unsigned long long)(S.dropped_by_relay[R_SLOW_DATA] +
                                  S.dropped_by_relay[R_SLOW_PING]),
             (unsigned long long)S.dropped_by_relay[R_SILENT],
             (unsigned long long)S.dropped_by_relay[R_HALF], (unsigned long long)S.errors);
      fflush(stdout);
    }
  }

  /* Pair and idle clients the relay dropped are failures (hold included). */
  for (int i = 0; i < NC; i++) {
    cl *x = &C[i];
    if ((x->role == R_IDLE || x->role == R_PAIR || x->role == R_PINGER) && x->closed &&
        !x->ours_closed && x->started && x->confirmed) {
      S.unexpected_close++;
      error_line("dropped", "client=%d role=%s closed by the relay at t=%.2f (reason %d)", i,
                 role_name[x->role], tsec(x->t_closed), x->close_reason);
    }
  }

  uint64_t end = now_ms();
  uint64_t t_stream = S.stream_last_rx > S.stream_start ? S.stream_last_rx - S.stream_start : 0;
  double mbps = t_stream ? (double)S.bytes_verified / 1e6 / ((double)t_stream / 1000.0) : 0;
  uint64_t max_gap = 0;
  for (int i = 0; i < NC; i++)
    if (C[i].role == R_PAIR && C[i].max_gap > max_gap) max_gap = C[i].max_gap;
  uint64_t slow_total = S.expected_drop[R_SLOW_DATA] + S.expected_drop[R_SLOW_PING];
  uint64_t slow_dropped = S.dropped_by_relay[R_SLOW_DATA] + S.dropped_by_relay[R_SLOW_PING];
  bool ok = S.corrupt == 0 && S.misdelivered == 0 && S.gaps == 0 && S.dups == 0 &&
            S.bad_ack == 0 && S.lost == 0 && S.stalls == 0 && S.unlinked == 0 &&
            S.unconfirmed == 0 && S.unexpected_close == 0 && S.probes_late == 0 &&
            S.probes_failed == 0 && S.ping_late == 0 && S.not_dropped == 0 && S.errors == 0;
  int up = 0;
  for (int i = 0; i < NC; i++) up += C[i].fd >= 0 && C[i].confirmed;
  qsort(g_rtt, g_nrtt, sizeof *g_rtt, cmp_u32);
  int probes_unfinished = 0; /* started in the last moments, not judged */
  for (int k = 0; k < NPROBE; k++) probes_unfinished += C[NC + k].started;
#define FIRST(r) (S.drop_first[r] ? tsec(S.drop_first[r]) : 0.0)
#define LAST(r) (S.drop_last[r] ? tsec(S.drop_last[r]) : 0.0)
  printf("clients_connected %llu/%d (TCP), handshakes %llu, confirmed %llu/%d, up at the end %d\n",
         (unsigned long long)S.tcp_up, NC, (unsigned long long)S.hs_done,
         (unsigned long long)S.confirmed, expect_confirm, up);
  printf("pairs_linked %llu/%d\n", (unsigned long long)S.linked_pairs, O.pairs);
  printf("bytes_sent %llu bytes_verified %llu (%.1f MB in %.2f s: %.1f MB/s), packets %llu, "
         "acks %llu\n",
         (unsigned long long)S.bytes_sent, (unsigned long long)S.bytes_verified,
         (double)S.bytes_verified / 1e6, (double)t_stream / 1000.0, mbps,
         (unsigned long long)S.packets_verified, (unsigned long long)S.acks);
  printf("data errors: corrupt %llu, misdelivered %llu, lost bytes %llu (gaps %llu), "
         "duplicates %llu, bad acks %llu, stalls %llu (longest wait %llu ms)\n",
         (unsigned long long)S.corrupt, (unsigned long long)S.misdelivered,
         (unsigned long long)S.lost, (unsigned long long)S.gaps, (unsigned long long)S.dups,
         (unsigned long long)S.bad_ack, (unsigned long long)S.stalls,
         (unsigned long long)max_gap);
  if (probing)
    printf("responsiveness: %llu fresh clients, %llu in time, %llu late, %llu failed, %d "
           "unfinished at the end, slowest "
           "%llu ms (ping part %llu ms), mean %.1f ms; pinger %llu pongs, median %.2f ms, "
           "99th percentile %.2f ms, slowest %llu ms\n",
           (unsigned long long)S.probes_started, (unsigned long long)S.probes_ok,
           (unsigned long long)S.probes_late, (unsigned long long)S.probes_failed,
           probes_unfinished, (unsigned long long)S.probe_max_total,
           (unsigned long long)S.probe_max_ping,
           S.probes_ok ? (double)S.probe_sum_total / (double)S.probes_ok : 0.0,
           (unsigned long long)S.pongs, rtt_pct(0.5), rtt_pct(0.99),
           (unsigned long long)S.ping_max);
  printf("misbehaving clients dropped by the relay: slow %llu/%llu (t=%.1f..%.1f s), silent "
         "%llu/%llu (t=%.1f..%.1f), half handshake %llu/%llu (t=%.1f..%.1f)\n",
         (unsigned long long)slow_dropped, (unsigned long long)slow_total,
         FIRST(R_SLOW_DATA) ? FIRST(R_SLOW_DATA) : FIRST(R_SLOW_PING),
         LAST(R_SLOW_DATA) > LAST(R_SLOW_PING) ? LAST(R_SLOW_DATA) : LAST(R_SLOW_PING),
         (unsigned long long)S.dropped_by_relay[R_SILENT],
         (unsigned long long)S.expected_drop[R_SILENT], FIRST(R_SILENT), LAST(R_SILENT),
         (unsigned long long)S.dropped_by_relay[R_HALF],
         (unsigned long long)S.expected_drop[R_HALF], FIRST(R_HALF), LAST(R_HALF));
  printf("slow clients sent %llu data bytes and %llu pings without reading\n",
         (unsigned long long)S.slow_bytes_sent, (unsigned long long)S.slow_pings_sent);
  printf("result status=%s clients=%d tcp_up=%llu confirmed=%llu expect_confirmed=%d up=%d "
         "connect_failed=%llu pairs=%d pairs_linked=%llu bytes_sent=%llu bytes_verified=%llu "
         "mb_s=%.2f stream_s=%.2f corrupt=%llu misdelivered=%llu lost=%llu gaps=%llu dups=%llu "
         "stalls=%llu max_wait_ms=%llu unexpected_close=%llu probes=%llu probes_late=%llu "
         "probes_failed=%llu probe_max_ms=%llu probe_mean_ms=%.1f ping_max_ms=%llu "
         "ping_p50_ms=%.3f ping_p99_ms=%.3f ping_late=%llu slow=%llu "
         "slow_dropped=%llu silent=%llu silent_dropped=%llu half=%llu half_dropped=%llu "
         "slow_drop_last_s=%.2f silent_drop_last_s=%.2f not_dropped=%llu errors=%llu "
         "elapsed_s=%.2f\n",
         ok ? "ok" : "FAIL", NC, (unsigned long long)S.tcp_up, (unsigned long long)S.confirmed,
         expect_confirm, up, (unsigned long long)S.connect_failed, O.pairs,
         (unsigned long long)S.linked_pairs, (unsigned long long)S.bytes_sent,
         (unsigned long long)S.bytes_verified, mbps, (double)t_stream / 1000.0,
         (unsigned long long)S.corrupt, (unsigned long long)S.misdelivered,
         (unsigned long long)S.lost, (unsigned long long)S.gaps, (unsigned long long)S.dups,
         (unsigned long long)S.stalls, (unsigned long long)max_gap,
         (unsigned long long)S.unexpected_close, (unsigned long long)S.probes_started,
         (unsigned long long)S.probes_late, (unsigned long long)S.probes_failed,
         (unsigned long long)S.probe_max_total,
         S.probes_ok ? (double)S.probe_sum_total / (double)S.probes_ok : 0.0,
         (unsigned long long)S.ping_max, rtt_pct(0.5), rtt_pct(0.99),
         (unsigned long long)S.ping_late, (unsigned long long)slow_total,
         (unsigned long long)slow_dropped, (unsigned long long)S.expected_drop[R_SILENT],
         (unsigned long long)S.dropped_by_relay[R_SILENT],
         (unsigned long long)S.expected_drop[R_HALF],
         (unsigned long long)S.dropped_by_relay[R_HALF],
         LAST(R_SLOW_DATA) > LAST(R_SLOW_PING) ? LAST(R_SLOW_DATA) : LAST(R_SLOW_PING),
         LAST(R_SILENT), (unsigned long long)S.not_dropped, (unsigned long long)S.errors,
         tsec(end));
  fflush(stdout);

  /* Linger: connections stay up (quietly) until the relay closes them all,
   * the time is up, or a signal. */
  if (O.linger_s > 0 && g_stop != 2) {
    uint64_t until = now_ms() + (uint64_t)(O.linger_s * 1000);
    g_stop = 1;
    while (now_ms() < until && g_stop != 2) {
      int open = 0;
      for (int i = 0; i < NC; i++) open += C[i].fd >= 0;
      if (open == 0) break;
      int ne = epoll_wait(g_ep, evs, (int)(sizeof evs / sizeof evs[0]), 50);
      uint64_t now = now_ms();
      for (int i = 0; i < ne; i++) {
        cl *x = cl_of(evs[i].data.u64);
        if (x == NULL) continue;
        x->ours_closed = true; /* nothing counts any more */
        x->reading = true;
        x->discard = true;
        handle_io(x, evs[i].events, now);
        if (x->fd >= 0 && (evs[i].events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))) close_fd(x);
        else update_mask(x);
      }
    }
    int open = 0;
    for (int i = 0; i < NC; i++) open += C[i].fd >= 0;
    printf("linger_end t=%.2f open=%d\n", tsec(now_ms()), open);
    fflush(stdout);
  }
  for (int i = 0; i < NC + NPROBE; i++) {
    C[i].ours_closed = true;
    close_fd(&C[i]);
    tw_tcp_client_free(C[i].c);
  }
  free(C);
  free(order);
  free(g_rtt);
  close(g_ep);
  return ok ? 0 : 1;
}
