/* toxwire_peer: one toxwire node driven over stdin/stdout in the line
 * protocol of tests/interop/toxcore_peer (the part of it bench/session
 * uses, and a little more), so the session benchmark can pair toxwire
 * with toxwire or with c-toxcore.
 *
 * Built on toxwire's public API only: a tw_node with friends (onion
 * client, relay and announce store on, like a c-toxcore client), run by
 * the tw_io driver. Event-driven: it sleeps until a packet, a deadline of
 * the node or a command arrives (--loop-ms is accepted and ignored). Work
 * that calls the messenger (echoes, accepting files, refilling a flood) is
 * queued in the event callbacks and done after the node's handler returns,
 * as the messenger's re-entrance rule requires (tools/node_cmd.c does the
 * same). Run with --help for the protocol. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "toxwire/io.h"
#include "toxwire/node.h"
#include "toxwire/toxid.h"

#define EXIT_USAGE 2
#define EXIT_TIMEOUT 3
#define MAX_BOOT 32
#define LINE_MAX_BYTES 16384 /* escaped text may be up to 4x a 1372-byte message */
#define MAX_XFERS 64         /* file transfers tracked at once (both directions) */
#define MAX_ECHOES 64        /* messages waiting to be sent back */
#define MAX_ACCEPTS 64       /* incoming files waiting to be accepted */
#define MAX_FLOODS 8
#define BULK_ID 0xBF         /* custom lossless id of flood data packets */
#define BULK_END_ID 0xBE     /* custom lossless id of the packet ending a flood */
#define IO_BLOCK (256 * 1024) /* file read-ahead / write-behind block */

static const char usage_text[] =
    "usage: toxwire_peer [OPTION]...\n"
    "Run one toxwire node (DHT, onion, friend connections, messenger) with\n"
    "fresh keys; print events on stdout and read commands on stdin, one per\n"
    "line. Speaks the line protocol of tests/interop/toxcore_peer (the part\n"
    "bench/session uses), so the two can stand in for each other.\n"
    "\n"
    "Options:\n"
    "  --bootstrap HOST:PORT:KEYHEX   join the DHT through this node (repeatable;\n"
    "                                 the only nodes used)\n"
    "  --port N                       bind UDP port N only (default: first free\n"
    "                                 port in 33445..33545)\n"
    "  --ipv6 on|off                  dual-stack IPv6 socket (default off: IPv4)\n"
    "  --timeout SECONDS              exit with status 3 after SECONDS\n"
    "                                 (default 120; 0 = never)\n"
    "  --loop-ms auto|spin|N          accepted for toxcore_peer compatibility and\n"
    "                                 ignored: toxwire is event-driven and sleeps\n"
    "                                 until a packet, a deadline or a command\n"
    "  --accept-files DIR             accept every incoming file transfer and\n"
    "                                 write it to DIR/NAME (NAME: the sender's\n"
    "                                 file name, '/' and leading dots replaced)\n"
    "  --echo                         send every friend message back to its\n"
    "                                 sender (same type and text) on receipt\n"
    "  --progress-ms N                at most one file_*_progress and one\n"
    "                                 bulk_progress line per transfer per N ms\n"
    "                                 (default 1000; 0 = none)\n"
    "  --flood-pace buffer|space      how far ahead the flood command queues:\n"
    "                                 buffer (default): until the messenger says\n"
    "                                 TW_E_FULL (net_crypto's send buffer, 32768\n"
    "                                 packets); space: while the connection's\n"
    "                                 send space (about two congestion windows,\n"
    "                                 what file transfers use) is not zero\n"
    "  --log-level LEVEL              toxwire's log on stderr: trace, debug, info,\n"
    "                                 warn (default), error, off\n"
    "  --help                         print this help and exit\n"
    "\n"
    "Events (stdout, one per line, flushed after each; hex is upper case):\n"
    "  ready ADDRESS_HEX DHT_KEY_HEX UDP_PORT\n"
    "  friend_request PUBKEY_HEX MESSAGE\n"
    "  friend_added FRIEND_NUM PUBKEY_HEX       (after add/accept)\n"
    "  friend_connection FRIEND_NUM UDP|NONE    (the friend came online / went\n"
    "                                            offline; toxwire has no TCP)\n"
    "  friend_message FRIEND_NUM normal|action TEXT\n"
    "  friend_name FRIEND_NUM NAME\n"
    "  friend_status_message FRIEND_NUM TEXT\n"
    "  friend_status FRIEND_NUM none|away|busy\n"
    "  friend_typing FRIEND_NUM on|off\n"
    "  custom_lossless FRIEND_NUM HEX | custom_lossy FRIEND_NUM HEX\n"
    "                                           (lossless ids 190 and 191 are the\n"
    "                                            bulk ids below, not printed)\n"
    "  sent FRIEND_NUM MSGID                    (after msg/action)\n"
    "  read_receipt FRIEND_NUM MSGID\n"
    "  ok COMMAND                               (after nop, lossless, lossy,\n"
    "                                            file_control)\n"
    "  file_send FRIEND_NUM FILE_NUM SIZE NAME  (after sendfile)\n"
    "  file_send_progress FRIEND_NUM FILE_NUM POSITION SIZE   (rate-limited)\n"
    "  file_send_done FRIEND_NUM FILE_NUM       (the friend confirmed the last\n"
    "                                            chunk)\n"
    "  file_recv FRIEND_NUM FILE_NUM SIZE NAME  (incoming transfer offered;\n"
    "                                            FILE_NUM is (n+1)<<16 for the\n"
    "                                            friend's file n, as c-toxcore\n"
    "                                            numbers incoming files)\n"
    "  file_recv_progress FRIEND_NUM FILE_NUM BYTES SIZE      (rate-limited)\n"
    "  file_done FRIEND_NUM FILE_NUM SIZE SHA256_HEX   (all received; SIZE is\n"
    "                                            the bytes received)\n"
    "  file_recv_control FRIEND_NUM FILE_NUM resume|pause|cancel|seek\n"
    "  file_broken FRIEND_NUM FILE_NUM          (friend went offline mid-way)\n"
    "  flood_queued FRIEND_NUM BYTES PACKETS    (a flood is all handed to\n"
    "                                            toxwire, end packet included)\n"
    "  bulk_progress FRIEND_NUM BYTES PACKETS   (flood data received so far;\n"
    "                                            rate-limited)\n"
    "  bulk_done FRIEND_NUM BYTES PACKETS       (a flood's end packet arrived)\n"
    "  stats ...                                (after the stats command)\n"
    "  error WHAT DETAIL\n"
    "  exit quit|signal|timeout|stdout\n"
    "\n"
    "Commands (stdin):\n"
    "  add TOXID_HEX MESSAGE     add a friend and send it friend requests\n"
    "  accept PUBKEY_HEX         add a friend without a request\n"
    "  msg FRIEND_NUM TEXT       send a normal message\n"
    "  action FRIEND_NUM TEXT    send an action message\n"
    "  lossless FRIEND_NUM HEX   custom lossless packet (first byte 160..191)\n"
    "  lossy FRIEND_NUM HEX      custom lossy packet (first byte 200..254)\n"
    "  flood FRIEND_NUM BYTES [SIZE]\n"
    "                            send BYTES of custom lossless packets of SIZE\n"
    "                            bytes (default and max 1373; id 191) as fast\n"
    "                            as toxwire takes them (see --flood-pace; more\n"
    "                            after each acknowledgement), then one end\n"
    "                            packet (id 190). The receiver counts them\n"
    "                            (bulk_* events).\n"
    "  sendfile FRIEND_NUM PATH  offer the file PATH (no spaces); its data is\n"
    "                            read as the friend's window takes it\n"
    "  file_control FRIEND_NUM FILE_NUM accept|resume|pause|cancel\n"
    "                            (accept = resume); accepting a transfer\n"
    "                            without --accept-files hashes the data and\n"
    "                            throws it away\n"
    "  stats                     session counters per friend (stats lines)\n"
    "  nop                       just answer 'ok nop' (a driver's round trip)\n"
    "  quit                      end the sessions (kill packets) and exit 0\n"
    "MESSAGE/TEXT are the rest of the line. In both directions a backslash\n"
    "escapes: \\\\ \\n \\r \\t \\xHH; events escape every control byte and\n"
    "backslash, other bytes (UTF-8) pass through.\n"
    "End of stdin only stops command reading; the peer runs until quit,\n"
    "SIGTERM/SIGINT (exit 0) or --timeout (exit 3). On exit, the session\n"
    "counters are also written to stderr.\n";

typedef struct config {
  tw_node_info boot[MAX_BOOT];
  size_t nboot;
  long port; /* 0: default range */
  bool ipv6, echo;
  bool flood_space; /* --flood-pace space */
  const char *accept_dir;
  long timeout_s, progress_ms;
  tw_log_level log_level;
} config;

/* One transfer in either direction. Incoming data is hashed as it arrives
 * in order and written behind in large blocks; outgoing data is read ahead
 * in large blocks. */
typedef struct xfer {
  bool used;
  uint32_t fn;
  tw_msgr_file_dir dir;
  uint8_t number;
  int fd; /* -1: receiving without --accept-files (hash only) */
  uint64_t size, bytes, hashed;
  bool rehash; /* data arrived out of order: hash the file at the end */
  crypto_hash_sha256_state sha;
  tw_time_ms last_progress;
  uint8_t *buf;
  uint64_t buf_pos;
  size_t buf_len;
} xfer;

typedef struct echo_item {
  uint32_t fn;
  tw_msgr_message_type type;
  size_t len;
  uint8_t text[TW_MSGR_MAX_MESSAGE_LENGTH];
} echo_item;

typedef struct flood {
  bool active;
  uint32_t fn;
  bool have_conn; /* --flood-pace space: conn is the friend's connection */
  uint32_t conn;
  uint64_t left, bytes, packets;
  size_t size;
} flood;

typedef struct bulk_rx {
  bool active;
  uint32_t fn;
  uint64_t bytes, packets;
  tw_time_ms last_progress;
} bulk_rx;

typedef struct peer {
  config cfg;
  tw_io *io;
  tw_node *node;
  tw_msgr *m;
  tw_time_ms start, deadline;
  int status;
  const char *why;
  bool stdout_broken;
  /* Work for after the handler. */
  bool work;       /* any of the below pending */
  bool flood_kick; /* acked / connection change: refill floods */
  echo_item *echoes;
  size_t nechoes;
  struct { uint32_t fn; uint8_t number; } accepts[MAX_ACCEPTS];
  size_t naccepts;
  /* State. */
  flood floods[MAX_FLOODS];
  bulk_rx bulk[MAX_FLOODS];
  xfer x[MAX_XFERS];
  char line[LINE_MAX_BYTES];
  size_t line_len;
  bool discarding;
} peer;

static peer P;
static FILE *g_out; /* event lines: stdout (stderr for the counters at exit) */

/* ---- output ---- */

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(g_out, fmt, ap);
  va_end(ap);
  fputc('\n', g_out);
  if (fflush(g_out) != 0 && !P.stdout_broken) {
    P.stdout_broken = true; /* the reader went away: nobody to report to */
    P.why = "stdout";
    P.status = 1;
    if (P.io != NULL) tw_io_stop(P.io);
  }
}

/* Bytes as one line of text: control bytes and backslash escaped. */
static char *escape(const uint8_t *p, size_t n) {
  char *o0 = malloc(n * 4 + 1), *o = o0;
  if (o0 == NULL) return NULL;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    if (c == '\\') { *o++ = '\\'; *o++ = '\\'; }
    else if (c == '\n') { *o++ = '\\'; *o++ = 'n'; }
    else if (c == '\r') { *o++ = '\\'; *o++ = 'r'; }
    else if (c == '\t') { *o++ = '\\'; *o++ = 't'; }
    else if (c < 0x20 || c == 0x7f) o += sprintf(o, "\\x%02x", c);
    else *o++ = (char)c;
  }
  *o = 0;
  return o0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes escapes in place; returns the length. Unknown escapes stay. */
static size_t unescape(char *s) {
  char *o = s;
  const char *i = s;
  while (*i) {
    if (i[0] == '\\' && i[1]) {
      int h1, h2;
      switch (i[1]) {
      case '\\': *o++ = '\\'; i += 2; continue;
      case 'n': *o++ = '\n'; i += 2; continue;
      case 'r': *o++ = '\r'; i += 2; continue;
      case 't': *o++ = '\t'; i += 2; continue;
      case 'x':
        if ((h1 = hexval((unsigned char)i[2])) >= 0 && (h2 = hexval((unsigned char)i[3])) >= 0) {
          *o++ = (char)(h1 * 16 + h2);
          i += 4;
          continue;
        }
        break;
      default: break;
      }
    }
    *o++ = *i++;
  }
  *o = 0;
  return (size_t)(o - s);
}

static bool hex_decode(const char *h, uint8_t *outb, size_t cap, size_t *n) {
  size_t l = strlen(h);
  if (l == 0 || l % 2 || l / 2 > cap) return false;
  for (size_t i = 0; i < l / 2; i++) {
    int a = hexval((unsigned char)h[2 * i]), b = hexval((unsigned char)h[2 * i + 1]);
    if (a < 0 || b < 0) return false;
    outb[i] = (uint8_t)(a * 16 + b);
  }
  *n = l / 2;
  return true;
}

static void hex_encode(const uint8_t *p, size_t n, char *o) {
  static const char digits[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    o[2 * i] = digits[p[i] >> 4];
    o[2 * i + 1] = digits[p[i] & 15];
  }
  o[2 * n] = 0;
}

/* The file number shown for a transfer: ours as is, the friend's as
 * c-toxcore numbers received files. */
static uint32_t shown_file(tw_msgr_file_dir dir, uint8_t number) {
  return dir == TW_MSGR_FILE_IN ? ((uint32_t)number + 1) << 16 : number;
}

/* ---- log ---- */

static void log_line(void *ctx, tw_log_level level, const char *module, const char *fmt, va_list ap) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  fprintf(stderr, "%ld.%03ld %-5s %s: %s\n", (long)ts.tv_sec, ts.tv_nsec / 1000000L,
          tw_log_level_name(level), module, msg);
}

/* ---- file transfers ---- */

static xfer *xfer_find(uint32_t fn, tw_msgr_file_dir dir, uint8_t number) {
  for (int i = 0; i < MAX_XFERS; i++)
    if (P.x[i].used && P.x[i].fn == fn && P.x[i].dir == dir && P.x[i].number == number) return &P.x[i];
  return NULL;
}

static xfer *xfer_new(uint32_t fn, tw_msgr_file_dir dir, tw_time_ms now) {
  for (int i = 0; i < MAX_XFERS; i++)
    if (!P.x[i].used) {
      xfer *x = &P.x[i];
      memset(x, 0, sizeof *x);
      x->used = true;
      x->fn = fn;
      x->dir = dir;
      x->fd = -1;
      x->last_progress = now;
      crypto_hash_sha256_init(&x->sha);
      return x;
    }
  return NULL;
}

static int xfer_flush(xfer *x) {
  if (x->buf_len == 0 || x->fd < 0) {
    x->buf_len = 0;
    return 0;
  }
  ssize_t w = pwrite(x->fd, x->buf, x->buf_len, (off_t)x->buf_pos);
  bool ok = w == (ssize_t)x->buf_len;
  x->buf_pos += x->buf_len;
  x->buf_len = 0;
  return ok ? 0 : -1;
}

/* Write-behind: chunks arrive in order, so they gather into big writes. */
static int xfer_write(xfer *x, uint64_t pos, const uint8_t *d, size_t n) {
  if (x->fd < 0) return 0;
  if (x->buf == NULL && (x->buf = malloc(IO_BLOCK)) == NULL) return -1;
  if (pos != x->buf_pos + x->buf_len || x->buf_len + n > IO_BLOCK) {
    if (xfer_flush(x) != 0) return -1;
    x->buf_pos = pos;
  }
  memcpy(x->buf + x->buf_len, d, n);
  x->buf_len += n;
  return 0;
}

static void xfer_free(xfer *x) {
  if (x->fd >= 0) close(x->fd);
  free(x->buf);
  x->buf = NULL;
  x->used = false;
}

static bool progress_due(tw_time_ms *last, tw_time_ms now) {
  if (P.cfg.progress_ms <= 0 || now - *last < (tw_time_ms)P.cfg.progress_ms) return false;
  *last = now;
  return true;
}

/* The messenger's read callback: read ahead in large blocks. */
static int file_read(void *ctx, uint64_t pos, uint8_t *buf, size_t len) {
  xfer *x = ctx;
  if (x->buf == NULL && (x->buf = malloc(IO_BLOCK)) == NULL) return -1;
  if (pos < x->buf_pos || pos + len > x->buf_pos + x->buf_len) {
    ssize_t r = pread(x->fd, x->buf, IO_BLOCK, (off_t)pos);
    if (r < 0) return -1;
    x->buf_pos = pos;
    x->buf_len = (size_t)r;
  }
  size_t off = (size_t)(pos - x->buf_pos);
  size_t n = x->buf_len - off < len ? x->buf_len - off : len;
  memcpy(buf, x->buf + off, n);
  if (pos + n > x->bytes) x->bytes = pos + n;
  tw_time_ms now = tw_io_now(P.io);
  if (progress_due(&x->last_progress, now))
    out("file_send_progress %u %u %llu %llu", x->fn, shown_file(x->dir, x->number),
        (unsigned long long)x->bytes, (unsigned long long)x->size);
  return (int)n;
}

static void safe_name(const uint8_t *d, size_t n, char *o, size_t cap) {
  size_t k = 0;
  for (size_t i = 0; i < n && k + 1 < cap; i++) {
    char c = (char)d[i];
    if (c == '/' || c == 0 || (k == 0 && c == '.')) c = '_';
    o[k++] = c;
  }
  o[k] = 0;
  if (k == 0) snprintf(o, cap, "file");
}

static void file_done_in(xfer *x) {
  char h[2 * crypto_hash_sha256_BYTES + 1] = "-";
  if (xfer_flush(x) != 0) out("error file_recv %u %u write: %s", x->fn, shown_file(x->dir, x->number), strerror(errno));
  if (x->rehash && x->fd >= 0) {
    /* Out of order (a seek): hash the file as written. */
    uint8_t *b = malloc(IO_BLOCK);
    ssize_t n;
    off_t off = 0;
    crypto_hash_sha256_init(&x->sha);
    while (b != NULL && (n = pread(x->fd, b, IO_BLOCK, off)) > 0) {
      crypto_hash_sha256_update(&x->sha, b, (unsigned long long)n);
      off += n;
    }
    free(b);
    x->rehash = b == NULL;
  }
  if (!x->rehash) {
    uint8_t d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&x->sha, d);
    hex_encode(d, sizeof d, h);
  }
  out("file_done %u %u %llu %s", x->fn, shown_file(x->dir, x->number), (unsigned long long)x->bytes, h);
}

static void xfers_drop_friend(uint32_t fn) {
  for (int i = 0; i < MAX_XFERS; i++)
    if (P.x[i].used && P.x[i].fn == fn) {
      out("file_broken %u %u", fn, shown_file(P.x[i].dir, P.x[i].number));
      xfer_free(&P.x[i]);
    }
}

/* ---- floods (sender) ---- */

/* Hands the messenger flood packets until its send buffer is full; called
 * after the flood command and, while a flood lasts, after each handler
 * call that saw an acknowledgement (only acknowledgements free room). */
static void flood_pump(tw_time_ms now) {
  static uint8_t data[TW_MSGR_MAX_CUSTOM_PACKET_SIZE];
  if (data[0] != BULK_ID) {
    data[0] = BULK_ID;
    for (size_t j = 1; j < sizeof data; j++) data[j] = (uint8_t)(j * 7);
  }
  for (int i = 0; i < MAX_FLOODS; i++) {
    flood *f = &P.floods[i];
    while (f->active) {
      uint8_t end[64];
      const uint8_t *pkt = data;
      size_t len;
      if (f->left > 0) {
        len = f->left < f->size ? (size_t)f->left : f->size;
      } else {
        end[0] = BULK_END_ID;
        len = 1 + (size_t)snprintf((char *)end + 1, sizeof end - 1, "%llu %llu",
                                   (unsigned long long)f->bytes, (unsigned long long)f->packets);
        pkt = end;
      }
      if (P.cfg.flood_space && f->have_conn && tw_fconn_send_space(tw_node_fconn(P.node), f->conn) == 0)
        break; /* about two windows queued: more after the next acknowledgement */
      int e = tw_msgr_send_custom_lossless(P.m, f->fn, pkt, len, now);
      if (e == TW_E_FULL) break; /* more after the next acknowledgement */
      if (e != TW_OK) {
        out("error flood %u %s after %llu bytes", f->fn, tw_strerror(e), (unsigned long long)f->bytes);
        f->active = false;
        break;
      }
      if (pkt == end) {
        f->active = false;
        out("flood_queued %u %llu %llu", f->fn, (unsigned long long)f->bytes, (unsigned long long)f->packets);
        break;
      }
      f->left -= len;
      f->bytes += len;
      f->packets++;
    }
  }
}

static bool flooding(void) {
  for (int i = 0; i < MAX_FLOODS; i++)
    if (P.floods[i].active) return true;
  return false;
}

/* ---- floods (receiver) ---- */

static bulk_rx *bulk_for(uint32_t fn, tw_time_ms now) {
  bulk_rx *free_slot = NULL;
  for (int i = 0; i < MAX_FLOODS; i++) {
    if (P.bulk[i].active && P.bulk[i].fn == fn) return &P.bulk[i];
    if (!P.bulk[i].active && free_slot == NULL) free_slot = &P.bulk[i];
  }
  if (free_slot != NULL) *free_slot = (bulk_rx){.active = true, .fn = fn, .last_progress = now};
  return free_slot;
}

static void on_custom_lossless(const tw_msgr_event *ev) {
  const uint8_t *d = ev->data;
  bulk_rx *b = bulk_for(ev->friend_number, ev->time);
  if (b == NULL) return;
  if (d[0] == BULK_END_ID) {
    out("bulk_done %u %llu %llu", ev->friend_number, (unsigned long long)b->bytes,
        (unsigned long long)b->packets);
    b->active = false;
    return;
  }
  b->bytes += ev->len;
  b->packets++;
  if (progress_due(&b->last_progress, ev->time))
    out("bulk_progress %u %llu %llu", ev->friend_number, (unsigned long long)b->bytes,
        (unsigned long long)b->packets);
}

/* ---- events ---- */

static void on_fconn(void *ctx, const tw_fconn_event *ev) {
  (void)ctx;
  if (ev->kind == TW_FCONN_EV_ACKED && flooding()) {
    P.flood_kick = true;
    P.work = true;
  }
}

static void on_msgr(void *ctx, const tw_msgr_event *ev) {
  (void)ctx;
  uint32_t fn = ev->friend_number;
  char *t = NULL;
  switch (ev->kind) {
  case TW_MSGR_EV_FRIEND_REQUEST: {
    char k[TW_KEY_HEXLEN];
    t = escape(ev->data, ev->len);
    out("friend_request %s %s", tw_key_to_hex(ev->pk, k), t ? t : "");
    break;
  }
  case TW_MSGR_EV_CONNECTION:
    out("friend_connection %u %s", fn, ev->online ? "UDP" : "NONE");
    if (!ev->online) xfers_drop_friend(fn);
    if (flooding()) P.flood_kick = P.work = true; /* offline: the flood fails */
    break;
  case TW_MSGR_EV_NAME:
    t = escape(ev->data, ev->len);
    out("friend_name %u %s", fn, t ? t : "");
    break;
  case TW_MSGR_EV_STATUS_MESSAGE:
    t = escape(ev->data, ev->len);
    out("friend_status_message %u %s", fn, t ? t : "");
    break;
  case TW_MSGR_EV_USER_STATUS:
    out("friend_status %u %s", fn,
        ev->user_status == TW_MSGR_USER_AWAY ? "away" : ev->user_status == TW_MSGR_USER_BUSY ? "busy" : "none");
    break;
  case TW_MSGR_EV_TYPING: out("friend_typing %u %s", fn, ev->typing ? "on" : "off"); break;
  case TW_MSGR_EV_MESSAGE:
    t = escape(ev->data, ev->len);
    out("friend_message %u %s %s", fn, ev->message_type == TW_MSGR_MESSAGE_ACTION ? "action" : "normal",
        t ? t : "");
    if (P.cfg.echo) {
      if (P.nechoes == MAX_ECHOES || ev->len > TW_MSGR_MAX_MESSAGE_LENGTH) {
        out("error echo too many messages waiting");
        break;
      }
      echo_item *e = &P.echoes[P.nechoes++];
      e->fn = fn;
      e->type = ev->message_type;
      e->len = ev->len;
      memcpy(e->text, ev->data, ev->len);
      P.work = true;
    }
    break;
  case TW_MSGR_EV_READ_RECEIPT: out("read_receipt %u %u", fn, ev->message_id); break;
  case TW_MSGR_EV_CUSTOM_LOSSLESS:
    if (ev->len > 0 && (ev->data[0] == BULK_ID || ev->data[0] == BULK_END_ID)) {
      on_custom_lossless(ev);
      break;
    }
    /* fall through */
  case TW_MSGR_EV_CUSTOM_LOSSY: {
    char h[2 * TW_MSGR_MAX_CUSTOM_PACKET_SIZE + 1];
    size_t n = ev->len > TW_MSGR_MAX_CUSTOM_PACKET_SIZE ? TW_MSGR_MAX_CUSTOM_PACKET_SIZE : ev->len;
    hex_encode(ev->data, n, h);
    out("custom_%s %u %s", ev->kind == TW_MSGR_EV_CUSTOM_LOSSY ? "lossy" : "lossless", fn, h);
    break;
  }
  case TW_MSGR_EV_FILE_REQUEST: {
    uint32_t shown = shown_file(TW_MSGR_FILE_IN, ev->file_number);
    t = escape(ev->data, ev->len);
    out("file_recv %u %u %llu %s", fn, shown, (unsigned long long)ev->file_size, t ? t : "");
    xfer *x = xfer_new(fn, TW_MSGR_FILE_IN, ev->time);
    if (x == NULL) {
      out("error file_recv too many transfers");
      break; /* left pending: the friend may cancel it */
    }
    x->number = ev->file_number;
    x->size = ev->file_size;
    if (P.cfg.accept_dir == NULL) break; /* pending until a file_control command */
    char name[TW_MSGR_MAX_FILENAME_LENGTH + 1], path[PATH_MAX];
    safe_name(ev->data, ev->len, name, sizeof name);
    if (snprintf(path, sizeof path, "%s/%s", P.cfg.accept_dir, name) >= (int)sizeof path ||
        (x->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
      out("error file_recv %u %u cannot write %s: %s", fn, shown, path, strerror(errno));
      xfer_free(x);
      break;
    }
    /* Accepted once the handler has returned. */
    if (P.naccepts < MAX_ACCEPTS) {
      P.accepts[P.naccepts].fn = fn;
      P.accepts[P.naccepts].number = ev->file_number;
      P.naccepts++;
      P.work = true;
    } else {
      out("error file_recv %u %u too many waiting to be accepted", fn, shown);
    }
    break;
  }
  case TW_MSGR_EV_FILE_CHUNK: {
    xfer *x = xfer_find(fn, TW_MSGR_FILE_IN, ev->file_number);
    if (x == NULL) break;
    if (xfer_write(x, ev->position, ev->data, ev->len) != 0)
      out("error file_recv %u %u write: %s", fn, shown_file(x->dir, x->number), strerror(errno));
    x->bytes += ev->len;
    if (!x->rehash && ev->position == x->hashed) {
      crypto_hash_sha256_update(&x->sha, ev->data, ev->len);
      x->hashed += ev->len;
    } else {
      x->rehash = true;
    }
    if (progress_due(&x->last_progress, ev->time))
      out("file_recv_progress %u %u %llu %llu", fn, shown_file(x->dir, x->number), (unsigned long long)x->bytes,
          (unsigned long long)x->size);
    break;
  }
  case TW_MSGR_EV_FILE_CONTROL: {
    static const char *names[] = {"resume", "pause", "cancel", "seek"};
    out("file_recv_control %u %u %s", fn, shown_file(ev->dir, ev->file_number),
        ev->control <= TW_MSGR_FILE_SEEK ? names[ev->control] : "?");
    break;
  }
  case TW_MSGR_EV_FILE_DONE: {
    xfer *x = xfer_find(fn, ev->dir, ev->file_number);
    if (ev->dir == TW_MSGR_FILE_OUT) {
      out("file_send_done %u %u", fn, shown_file(ev->dir, ev->file_number));
    } else if (x != NULL) {
      file_done_in(x);
    }
    if (x != NULL) xfer_free(x);
    break;
  }
  case TW_MSGR_EV_FILE_CLOSED: {
    uint32_t shown = shown_file(ev->dir, ev->file_number);
    if (ev->close_reason == TW_MSGR_CLOSE_PEER_KILLED) out("file_recv_control %u %u cancel", fn, shown);
    else if (ev->close_reason == TW_MSGR_CLOSE_OFFLINE) out("file_broken %u %u", fn, shown);
    else out("error sendfile %u %u read error", fn, shown);
    xfer *x = xfer_find(fn, ev->dir, ev->file_number);
    if (x != NULL) xfer_free(x);
    break;
  }
  }
  free(t);
}

/* What the events left to do, now that the messenger may be called. */
static void after_events(tw_time_ms now) {
  if (!P.work) return;
  P.work = false;
  for (size_t i = 0; i < P.naccepts; i++) {
    int e = tw_msgr_file_control(P.m, P.accepts[i].fn, TW_MSGR_FILE_IN, P.accepts[i].number, TW_MSGR_FILE_RESUME,
                                 now);
    if (e != TW_OK) {
      out("error file_recv %u %u accept: %s", P.accepts[i].fn, shown_file(TW_MSGR_FILE_IN, P.accepts[i].number),
          tw_strerror(e));
      xfer *x = xfer_find(P.accepts[i].fn, TW_MSGR_FILE_IN, P.accepts[i].number);
      if (x != NULL) xfer_free(x);
    }
  }
  P.naccepts = 0;
  for (size_t i = 0; i < P.nechoes; i++) {
    echo_item *it = &P.echoes[i];
    uint32_t id;
    int e = tw_msgr_send_message(P.m, it->fn, it->type, it->text, it->len, &id, now);
    if (e != TW_OK) out("error echo %s", tw_strerror(e));
  }
  P.nechoes = 0;
  if (P.flood_kick) {
    P.flood_kick = false;
    flood_pump(now);
  }
}

/* ---- commands ---- */

static char *next_word(char **rest) {
  char *s = *rest;
  while (*s == ' ') s++;
  if (*s == 0) return NULL;
  char *w = s;
  while (*s && *s != ' ') s++;
  if (*s) *s++ = 0;
  *rest = s;
  return w;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *v) {
  if (s == NULL || *s < '0' || *s > '9') return false;
  char *end;
  errno = 0;
  unsigned long long x = strtoull(s, &end, 10);
  if (errno != 0 || *end != 0 || x > max) return false;
  *v = x;
  return true;
}

static bool parse_friend(const char *s, uint32_t *fn) {
  uint64_t v;
  if (!parse_u64(s, UINT32_MAX, &v)) return false;
  *fn = (uint32_t)v;
  return true;
}

static void print_stats(void) {
  tw_nc *nc = tw_node_nc(P.node);
  uint32_t nums[64];
  size_t n = tw_msgr_friend_list(P.m, nums, 64);
  for (size_t i = 0; i < n && i < 64; i++) {
    tw_msgr_friend_info fi;
    uint32_t id;
    tw_nc_conn_stats st;
    if (tw_msgr_friend_get_info(P.m, nums[i], &fi) != TW_OK ||
        tw_fconn_find(tw_node_fconn(P.node), &fi.pk, &id) != TW_OK || tw_nc_conn_get_stats(nc, id, &st) != TW_OK)
      continue;
    out("stats %u session %s sent %llu received %llu packets_sent %llu packets_received %llu resent %llu "
        "requests_sent %llu requests_received %llu in_flight %u held %u window %u rtt_ms %u send_rate %llu",
        nums[i], tw_nc_state_name(st.state), (unsigned long long)st.bytes_sent,
        (unsigned long long)st.bytes_received, (unsigned long long)st.packets_sent,
        (unsigned long long)st.packets_received, (unsigned long long)st.packets_resent,
        (unsigned long long)st.requests_sent, (unsigned long long)st.requests_received, st.in_flight, st.recv_held,
        st.window, st.rtt_ms, (unsigned long long)st.send_rate);
  }
  tw_msgr_stats ms;
  tw_msgr_get_stats(P.m, &ms);
  tw_nc_stats ns;
  tw_nc_get_stats(nc, &ns);
  tw_io_stats is = tw_io_get_stats(P.io);
  out("stats messenger in %llu out %llu dropped %llu; net_crypto data in %llu out %llu dropped %llu; "
      "io wakeups %llu timer_runs %llu packets_in %llu packets_out %llu send_errors %llu",
      (unsigned long long)ms.lossless_in, (unsigned long long)ms.lossless_out, (unsigned long long)ms.dropped_total,
      (unsigned long long)ns.data_in, (unsigned long long)ns.data_out, (unsigned long long)ns.dropped_total,
      (unsigned long long)is.wakeups, (unsigned long long)is.timer_runs, (unsigned long long)is.packets_in,
      (unsigned long long)is.packets_out, (unsigned long long)is.send_errors);
  tw_time_ms now = tw_io_now(P.io);
  tw_dht_stats ds;
  tw_dht_get_stats(tw_node_dht(P.node), &ds, now);
  tw_onion_stats os;
  tw_onion_get_stats(tw_node_onion(P.node), &os, now);
  out("stats dht close_nodes %u good %u; onion paths_built %llu paths_alive %u paths_timed_out %llu "
      "announced_on %u announce_sent %llu responses %llu dhtpk_received_onion %llu dhtpk_received_dht %llu",
      ds.close_nodes, ds.close_good_nodes, (unsigned long long)os.paths_built, os.paths_alive,
      (unsigned long long)os.paths_timed_out, os.announced_on, (unsigned long long)os.client_announce_sent,
      (unsigned long long)os.client_announce_responses, (unsigned long long)os.dhtpk_received_onion,
      (unsigned long long)os.dhtpk_received_dht);
  for (int e = 1; e < TW_ERROR_COUNT; e++) {
    if (ms.dropped[e]) out("stats messenger dropped %s %llu", tw_strerror(-e), (unsigned long long)ms.dropped[e]);
    if (ns.dropped[e]) out("stats net_crypto dropped %s %llu", tw_strerror(-e), (unsigned long long)ns.dropped[e]);
  }
}

static void cmd_flood(char *rest, tw_time_ms now) {
  uint32_t fn;
  uint64_t bytes, size = TW_MSGR_MAX_CUSTOM_PACKET_SIZE;
  char *w;
  if (!parse_friend(next_word(&rest), &fn) || !parse_u64(next_word(&rest), UINT64_MAX / 2, &bytes) ||
      ((w = next_word(&rest)) != NULL && (!parse_u64(w, TW_MSGR_MAX_CUSTOM_PACKET_SIZE, &size) || size < 2))) {
    out("error flood want FRIEND_NUM BYTES [SIZE 2..%d]", TW_MSGR_MAX_CUSTOM_PACKET_SIZE);
    return;
  }
  flood *f = NULL;
  for (int i = 0; i < MAX_FLOODS; i++)
    if (P.floods[i].active && P.floods[i].fn == fn) {
      out("error flood %u already flooding", fn);
      return;
    }
  for (int i = 0; i < MAX_FLOODS && f == NULL; i++)
    if (!P.floods[i].active) f = &P.floods[i];
  if (f == NULL) {
    out("error flood too many floods");
    return;
  }
  *f = (flood){.active = true, .fn = fn, .left = bytes, .size = (size_t)size};
  tw_msgr_friend_info fi;
  if (P.cfg.flood_space && tw_msgr_friend_get_info(P.m, fn, &fi) == TW_OK &&
      tw_fconn_find(tw_node_fconn(P.node), &fi.pk, &f->conn) == TW_OK)
    f->have_conn = true;
  flood_pump(now);
}

static void cmd_sendfile(char *rest, tw_time_ms now) {
  uint32_t fn;
  char *path;
  if (!parse_friend(next_word(&rest), &fn) || (path = next_word(&rest)) == NULL) {
    out("error sendfile want FRIEND_NUM PATH");
    return;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    out("error sendfile %s: %s", path, fd < 0 ? strerror(errno) : "not a regular file");
    if (fd >= 0) close(fd);
    return;
  }
  xfer *x = xfer_new(fn, TW_MSGR_FILE_OUT, now);
  if (x == NULL) {
    out("error sendfile too many transfers");
    close(fd);
    return;
  }
  x->fd = fd;
  x->size = (uint64_t)st.st_size;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t bl = strlen(base) > TW_MSGR_MAX_FILENAME_LENGTH ? TW_MSGR_MAX_FILENAME_LENGTH : strlen(base);
  int e = tw_msgr_file_send(P.m, fn, 0, x->size, NULL, (const uint8_t *)base, bl, file_read, x, &x->number, now);
  if (e != TW_OK) {
    out("error sendfile %s", tw_strerror(e));
    xfer_free(x);
    return;
  }
  char *t = escape((const uint8_t *)base, bl);
  out("file_send %u %u %llu %s", fn, shown_file(x->dir, x->number), (unsigned long long)x->size, t ? t : "");
  free(t);
}

static void cmd_file_control(char *rest, tw_time_ms now) {
  uint32_t fn;
  uint64_t file;
  char *w;
  if (!parse_friend(next_word(&rest), &fn) || !parse_u64(next_word(&rest), UINT32_MAX, &file) ||
      (w = next_word(&rest)) == NULL) {
    out("error file_control want FRIEND_NUM FILE_NUM accept|resume|pause|cancel");
    return;
  }
  tw_msgr_file_dir dir = file >= 0x10000 ? TW_MSGR_FILE_IN : TW_MSGR_FILE_OUT;
  uint64_t num = dir == TW_MSGR_FILE_IN ? (file >> 16) - 1 : file;
  tw_msgr_file_ctl c;
  if (strcmp(w, "accept") == 0 || strcmp(w, "resume") == 0) c = TW_MSGR_FILE_RESUME;
  else if (strcmp(w, "pause") == 0) c = TW_MSGR_FILE_PAUSE;
  else if (strcmp(w, "cancel") == 0) c = TW_MSGR_FILE_KILL;
  else {
    out("error file_control want accept|resume|pause|cancel");
    return;
  }
  if (num > 255 || (dir == TW_MSGR_FILE_IN && (file & 0xffff) != 0)) {
    out("error file_control no such file %llu", (unsigned long long)file);
    return;
  }
  int e = tw_msgr_file_control(P.m, fn, dir, (uint8_t)num, c, now);
  if (e != TW_OK) {
    out("error file_control %s", tw_strerror(e));
    return;
  }
  if (c == TW_MSGR_FILE_KILL) {
    xfer *x = xfer_find(fn, dir, (uint8_t)num);
    if (x != NULL) xfer_free(x);
  }
  out("ok file_control");
}

/* Returns false on quit. */
static bool run_command(char *line, tw_time_ms now) {
  char *rest = line;
  char *cmd = next_word(&rest);
  if (cmd == NULL) return true;
  if (strcmp(cmd, "quit") == 0) return false;
  if (strcmp(cmd, "nop") == 0) {
    out("ok nop");
  } else if (strcmp(cmd, "accept") == 0 || strcmp(cmd, "add") == 0) {
    char *h = next_word(&rest);
    uint32_t fn;
    tw_key pk;
    int e;
    if (cmd[1] == 'c') {
      if (h == NULL || strlen(h) != 64 || tw_key_from_hex(&pk, h, 64) != TW_OK) {
        out("error accept bad public key (want 64 hex digits)");
        return true;
      }
      e = tw_msgr_friend_add_norequest(P.m, &pk, &fn, now);
    } else {
      tw_toxid id;
      if (h == NULL || tw_toxid_parse(&id, h) != TW_OK) {
        out("error add bad Tox ID (want 76 hex digits with a valid checksum)");
        return true;
      }
      uint8_t raw[TW_TOXID_SIZE];
      tw_toxid_pack(&id, raw);
      pk = id.pk;
      size_t ml = unescape(rest);
      e = tw_msgr_friend_add(P.m, raw, sizeof raw, (const uint8_t *)rest, ml, &fn, now);
    }
    if (e != TW_OK) {
      out("error %s %s", cmd, tw_strerror(e));
    } else {
      char k[TW_KEY_HEXLEN];
      out("friend_added %u %s", fn, tw_key_to_hex(&pk, k));
    }
  } else if (strcmp(cmd, "msg") == 0 || strcmp(cmd, "action") == 0) {
    uint32_t fn, id;
    if (!parse_friend(next_word(&rest), &fn)) {
      out("error %s bad friend number", cmd);
      return true;
    }
    size_t ml = unescape(rest);
    int e = tw_msgr_send_message(P.m, fn, cmd[0] == 'a' ? TW_MSGR_MESSAGE_ACTION : TW_MSGR_MESSAGE_NORMAL,
                                 (const uint8_t *)rest, ml, &id, now);
    if (e != TW_OK) out("error %s %s", cmd, tw_strerror(e));
    else out("sent %u %u", fn, id);
  } else if (strcmp(cmd, "lossless") == 0 || strcmp(cmd, "lossy") == 0) {
    uint32_t fn;
    uint8_t d[TW_MSGR_MAX_CUSTOM_PACKET_SIZE];
    size_t n;
    char *h;
    if (!parse_friend(next_word(&rest), &fn) || (h = next_word(&rest)) == NULL || !hex_decode(h, d, sizeof d, &n)) {
      out("error %s want FRIEND_NUM HEX (1..%d bytes)", cmd, TW_MSGR_MAX_CUSTOM_PACKET_SIZE);
      return true;
    }
    int e = cmd[4] == 'l' ? tw_msgr_send_custom_lossless(P.m, fn, d, n, now)
                          : tw_msgr_send_custom_lossy(P.m, fn, d, n, now);
    if (e != TW_OK) out("error %s %s", cmd, tw_strerror(e));
    else out("ok %s", cmd);
  } else if (strcmp(cmd, "flood") == 0) {
    cmd_flood(rest, now);
  } else if (strcmp(cmd, "sendfile") == 0) {
    cmd_sendfile(rest, now);
  } else if (strcmp(cmd, "file_control") == 0) {
    cmd_file_control(rest, now);
  } else if (strcmp(cmd, "stats") == 0) {
    print_stats();
  } else {
    char *t = escape((const uint8_t *)cmd, strlen(cmd));
    out("error command unknown: %s", t ? t : "?");
    free(t);
  }
  return true;
}

static void on_stdin(void *ctx, int fd, tw_time_ms now) {
  (void)ctx;
  char buf[4096];
  ssize_t r = read(fd, buf, sizeof buf);
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (r <= 0) {
    tw_io_watch_fd(P.io, -1, NULL, NULL); /* EOF: keep running, stop reading */
    return;
  }
  for (ssize_t i = 0; i < r; i++) {
    char c = buf[i];
    if (c == '\n') {
      if (P.discarding) {
        out("error command line longer than %d bytes", LINE_MAX_BYTES - 1);
      } else {
        P.line[P.line_len] = 0;
        if (P.line_len > 0 && P.line[P.line_len - 1] == '\r') P.line[P.line_len - 1] = 0;
        if (!run_command(P.line, now)) {
          P.why = "quit";
          tw_io_stop(P.io);
          return;
        }
        after_events(now);
      }
      P.line_len = 0;
      P.discarding = false;
    } else if (!P.discarding) {
      if (P.line_len + 1 >= sizeof P.line) P.discarding = true;
      else P.line[P.line_len++] = c;
    }
  }
}

/* ---- the node's io handler, with the queued work and --timeout ---- */

static int h_packet(void *ctx, const tw_addr *from, const uint8_t *pkt, size_t len, tw_time_ms now) {
  (void)ctx;
  int e = tw_node_handle_packet(P.node, from, pkt, len, now);
  if (P.work) after_events(now);
  return e;
}

static void h_timer(void *ctx, tw_time_ms now) {
  (void)ctx;
  if (now >= P.deadline) {
    P.why = "timeout";
    P.status = EXIT_TIMEOUT;
    tw_io_stop(P.io);
    return;
  }
  tw_node_on_timer(P.node, now);
  after_events(now);
}

static tw_time_ms h_deadline(void *ctx) {
  (void)ctx;
  tw_time_ms d = tw_node_next_deadline(P.node);
  return d < P.deadline ? d : P.deadline;
}

/* ---- options ---- */

static void usage_error(const char *msg, const char *arg) {
  fprintf(stderr, "toxwire_peer: %s%s%s\nTry --help.\n", msg, arg ? ": " : "", arg ? arg : "");
  exit(EXIT_USAGE);
}

static bool parse_long(const char *s, long lo, long hi, long *v) {
  char *end;
  errno = 0;
  long x = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != 0 || x < lo || x > hi) return false;
  *v = x;
  return true;
}

static void parse_args(int argc, char **argv, config *cfg) {
  enum { O_BOOT = 256, O_PORT, O_IPV6, O_TIMEOUT, O_LOOP, O_ACCEPT, O_ECHO, O_PROGRESS, O_PACE, O_LEVEL, O_HELP };
  static const struct option opts[] = {
      {"bootstrap", required_argument, NULL, O_BOOT},
      {"port", required_argument, NULL, O_PORT},
      {"ipv6", required_argument, NULL, O_IPV6},
      {"timeout", required_argument, NULL, O_TIMEOUT},
      {"loop-ms", required_argument, NULL, O_LOOP},
      {"accept-files", required_argument, NULL, O_ACCEPT},
      {"echo", no_argument, NULL, O_ECHO},
      {"progress-ms", required_argument, NULL, O_PROGRESS},
      {"flood-pace", required_argument, NULL, O_PACE},
      {"log-level", required_argument, NULL, O_LEVEL},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0},
  };
  *cfg = (config){.timeout_s = 120, .progress_ms = 1000, .log_level = TW_LOG_WARN};
  long v;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case O_BOOT: {
      const char *why = "";
      if (cfg->nboot == MAX_BOOT) usage_error("too many --bootstrap", optarg);
      if (tw_parse_node_spec(optarg, true, &cfg->boot[cfg->nboot], &why) != TW_OK) {
        fprintf(stderr, "toxwire_peer: --bootstrap %s: %s\n", optarg, why);
        exit(EXIT_USAGE);
      }
      cfg->nboot++;
      break;
    }
    case O_PORT:
      if (!parse_long(optarg, 1, 65535, &cfg->port)) usage_error("bad --port", optarg);
      break;
    case O_IPV6:
      if (strcmp(optarg, "on") == 0) cfg->ipv6 = true;
      else if (strcmp(optarg, "off") == 0) cfg->ipv6 = false;
      else usage_error("--ipv6 wants on|off", optarg);
      break;
    case O_TIMEOUT:
      if (!parse_long(optarg, 0, LONG_MAX / 1000, &cfg->timeout_s)) usage_error("bad --timeout", optarg);
      break;
    case O_LOOP:
      if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "spin") != 0 && !parse_long(optarg, 0, 60000, &v))
        usage_error("--loop-ms wants auto, spin or 0..60000", optarg);
      break;
    case O_ACCEPT: {
      struct stat st;
      if (stat(optarg, &st) != 0 || !S_ISDIR(st.st_mode)) usage_error("--accept-files wants an existing directory", optarg);
      cfg->accept_dir = optarg;
      break;
    }
    case O_ECHO: cfg->echo = true; break;
    case O_PROGRESS:
      if (!parse_long(optarg, 0, 3600000, &cfg->progress_ms)) usage_error("bad --progress-ms", optarg);
      break;
    case O_PACE:
      if (strcmp(optarg, "buffer") == 0) cfg->flood_space = false;
      else if (strcmp(optarg, "space") == 0) cfg->flood_space = true;
      else usage_error("--flood-pace wants buffer or space", optarg);
      break;
    case O_LEVEL: {
      static const char *const names[] = {"trace", "debug", "info", "warn", "error", "off"};
      int i = 0;
      while (i < 6 && strcmp(optarg, names[i]) != 0) i++;
      if (i == 6) usage_error("--log-level wants trace, debug, info, warn, error or off", optarg);
      cfg->log_level = (tw_log_level)i;
      break;
    }
    case O_HELP: fputs(usage_text, stdout); exit(0);
    default: usage_error("unknown option", NULL);
    }
  }
  if (optind != argc) usage_error("unexpected argument", argv[optind]);
}

/* ---- main ---- */

int main(int argc, char **argv) {
  g_out = stdout;
  parse_args(argc, argv, &P.cfg);
  signal(SIGPIPE, SIG_IGN); /* a closed stdout shows up as a write error */
  P.why = "signal";
  P.echoes = calloc(MAX_ECHOES, sizeof *P.echoes);
  tw_logger lg = {P.cfg.log_level < TW_LOG_OFF ? log_line : NULL, NULL, P.cfg.log_level};
  P.io = tw_io_new(lg);
  if (P.io == NULL || P.echoes == NULL) {
    fprintf(stderr, "toxwire_peer: cannot start the io driver\n");
    return 1;
  }
  tw_io_udp_config ucfg = {NULL, (uint16_t)P.cfg.port, P.cfg.ipv6, true};
  uint16_t bound = 0;
  int rc = tw_io_bind_udp(P.io, &ucfg, &bound);
  if (rc != TW_OK) {
    out("error bind %s", tw_strerror(rc));
    return 1;
  }
  tw_env env = {.random_bytes = tw_io_random, .random_ctx = P.io, .log = lg};
  tw_node_config cfg = {.onion_relay = true, .announce_store = true, .onion_client = true, .friends = true,
                        .on_fconn_event = on_fconn, .fconn_ctx = &P};
  /* Fresh keys each start: long-term and DHT. */
  crypto_box_keypair(cfg.self_keys.pk.bytes, cfg.self_keys.sk);
  crypto_box_keypair(cfg.dht.keys.pk.bytes, cfg.dht.keys.sk);
  cfg.dht.send = tw_io_send_cb;
  cfg.dht.send_ctx = P.io;
  cfg.dht.lan_discovery = false; /* like toxcore_peer's default */
  randombytes_buf(&cfg.msgr.nospam, sizeof cfg.msgr.nospam);
  cfg.msgr.on_event = on_msgr;
  cfg.msgr.event_ctx = &P;
  P.start = tw_io_now(P.io);
  P.deadline = P.cfg.timeout_s > 0 ? P.start + (tw_time_ms)P.cfg.timeout_s * 1000 : TW_NEVER;
  P.node = tw_node_new(&cfg, &env, P.start);
  sodium_memzero(&cfg, sizeof cfg);
  if (P.node == NULL) {
    out("error node cannot create the node");
    return 1;
  }
  P.m = tw_node_msgr(P.node);
  tw_dht *dht = tw_node_dht(P.node);
  for (size_t i = 0; i < P.cfg.nboot; i++) {
    int e = tw_dht_bootstrap(dht, &P.cfg.boot[i], P.start);
    if (e != TW_OK) {
      char a[TW_ADDR_STRLEN];
      out("error bootstrap %s %s", tw_addr_format(&P.cfg.boot[i].addr, a), tw_strerror(e));
    }
  }
  uint8_t id[TW_TOXID_SIZE];
  char idh[TW_TOXID_HEXLEN], k[TW_KEY_HEXLEN];
  tw_msgr_get_address(P.m, id);
  hex_encode(id, sizeof id, idh);
  out("ready %s %s %u", idh, tw_key_to_hex(tw_dht_public_key(dht), k), bound);

  tw_io_handler hd = {&P, h_packet, h_timer, h_deadline};
  tw_io_set_handler(P.io, &hd);
  tw_io_watch_fd(P.io, STDIN_FILENO, on_stdin, &P);
  tw_io_run(P.io);

  /* Counters for whoever reads the log. */
  bool broken = P.stdout_broken;
  P.stdout_broken = true; /* out() must not stop anything now */
  g_out = stderr;
  print_stats();
  g_out = stdout;
  P.stdout_broken = broken;
  tw_node_kill_sessions(P.node, tw_io_now(P.io)); /* sent as the io is freed */
  if (!broken) out("exit %s", P.why);
  for (int i = 0; i < MAX_XFERS; i++)
    if (P.x[i].used) {
      if (P.x[i].dir == TW_MSGR_FILE_IN) xfer_flush(&P.x[i]);
      xfer_free(&P.x[i]);
    }
  tw_node_free(P.node);
  tw_io_free(P.io);
  free(P.echoes);
  return P.status;
}
