/* toxwire node: a full node (DHT, onion, friend connections, messenger)
 * driven by commands on stdin, printing one line per event on stdout. The
 * profile holds the keys, name and friends and is saved after each change. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_opts.h"
#include "core/crypto.h"
#include "node_cmd.h"
#include "stderr_log.h"
#include "toxwire/io.h"
#include "toxwire/node.h"
#include "toxwire/profile.h"
#include "toxwire/toxid.h"

static const char USAGE_NODE[] =
    "usage: toxwire node --profile FILE [--bootstrap HOST:PORT:KEY ...] [OPTIONS]\n"
    "\n"
    "Runs a full Tox node: DHT, onion relay and client, friend connections and\n"
    "the messenger (friend requests, messages, names, files), which c-toxcore\n"
    "clients understand. Reads commands on stdin, one per line, and prints one\n"
    "line per event on stdout. Runs until 'quit', end of input (unless --stay),\n"
    "SIGINT or SIGTERM.\n"
    "\n"
    "  --profile FILE          keys, name and friends (toxwire's profile format,\n"
    "                          spec/profile.md); created (mode 0600) if absent and\n"
    "                          saved atomically after each change. A profile that\n"
    "                          does not load is refused and never overwritten.\n"
    "  --import FILE           start a new profile from c-toxcore savedata (what\n"
    "                          tox_get_savedata writes, unencrypted): same Tox ID\n"
    "                          and friends. FILE is only read; --profile must not\n"
    "                          exist yet.\n"
    "  --bootstrap HOST:PORT:KEY  join through this node (repeatable); without one,\n"
    "                          the nodes saved in the profile are used\n"
    "  --port N                UDP port; default: the first free in 33445-33545\n"
    "  --udp on|off            off: no UDP socket at all; friends and the onion go\n"
    "                          through the --tcp-relay relays (default on)\n"
    "  --tcp-relay HOST:PORT:KEY  a TCP relay to keep connected (repeatable, at most\n"
    "                          8; up to 3 are used at once); friends we cannot reach\n"
    "                          by UDP are reached through relays, theirs or ours\n"
    "  --ipv4-only             an IPv4 socket only (default: dual-stack IPv6)\n"
    "  --bind IP               bind the UDP socket to this address (default: all)\n"
    "  --name NAME             set our name at start\n"
    "  --accept-files DIR      accept every incoming file and write it to DIR\n"
    "  --hash-files            give the SHA-256 of each received file in file_done\n"
    "  --stay                  keep running after stdin ends\n"
    "  --log-level LEVEL       trace, debug, info, warn (default), error\n"
    "\n"
    "Commands (FRIEND: a friend number, or the start of its public key):\n"
    "  id                          print our Tox ID\n"
    "  add TOXID MESSAGE           add a friend and send it a friend request\n"
    "  accept KEY                  accept a friend request (KEY: 64 hex digits)\n"
    "  delete FRIEND               remove a friend\n"
    "  friends                     list friends: number, key, state, online, name\n"
    "  msg FRIEND TEXT             send a message;  action FRIEND TEXT: a /me\n"
    "  name TEXT | status TEXT     set our name or status message\n"
    "  userstatus online|away|busy set our user status\n"
    "  typing FRIEND on|off        tell a friend we are (not) typing\n"
    "  lossless FRIEND HEX         custom lossless packet (first byte 69 or 160..191)\n"
    "  lossy FRIEND HEX            custom lossy packet (first byte 192..254)\n"
    "  sendfile FRIEND PATH        offer a file;  sendavatar FRIEND PATH: an avatar\n"
    "  file FRIEND in|out N accept|pause|resume|cancel   control a transfer\n"
    "  stats                       per-friend session counters, and with relays the\n"
    "                              TCP counters (stats lines)\n"
    "  save                        write the profile now\n"
    "  quit                        save and exit\n"
    "\n"
    "Events (stdout; FRIEND is the friend number, KEY 64 hex digits):\n"
    "  ready TOXID DHT_KEY PORT\n"
    "  friend_request KEY MESSAGE\n"
    "  friend_added FRIEND KEY\n"
    "  state FRIEND STATE SECONDS  friend connection progress: AwaitingDHTKey,\n"
    "                              AcquiringIPAddress, AcquiringCookie,\n"
    "                              AwaitingHandshake, AwaitingSessionPacket,\n"
    "                              Established (seconds since start)\n"
    "  online FRIEND | offline FRIEND\n"
    "  transport FRIEND udp|tcp    how an online friend's packets travel: direct\n"
    "                              UDP, or through TCP relays (given when it comes\n"
    "                              online and when it changes)\n"
    "  name FRIEND TEXT | status FRIEND TEXT | userstatus FRIEND S | typing FRIEND on|off\n"
    "  message FRIEND normal|action TEXT\n"
    "  sent FRIEND MSGID | receipt FRIEND MSGID\n"
    "  custom_lossless FRIEND HEX | custom_lossy FRIEND HEX\n"
    "  file_send FRIEND N SIZE NAME | file_recv FRIEND N SIZE NAME\n"
    "  file_progress FRIEND in|out N BYTES SIZE [#####.....] P%   (at most 1/s)\n"
    "  file_done FRIEND in|out N BYTES SHA256   (with --hash-files, the hash of\n"
    "                                           the bytes received; otherwise '-')\n"
    "  file_control FRIEND in|out N accept|pause|kill|seek\n"
    "  file_closed FRIEND in|out N REASON\n"
    "  ok COMMAND | error COMMAND: WHY\n";

#define MAX_FILES 64
#define LINE_MAX_BYTES 8192

typedef struct xfer {
  bool used;
  uint32_t friend_number;
  tw_msgr_file_dir dir;
  uint8_t number;
  int fd;
  uint64_t size, done;
  crypto_hash_sha256_state sha;
  tw_time_ms last_progress;
  uint8_t *buf; /* outgoing: read ahead in large blocks, not one chunk per call */
  uint64_t buf_pos;
  size_t buf_len;
} xfer;

#define READ_AHEAD (256 * 1024)

typedef struct pending_accept {
  uint32_t friend_number;
  uint8_t file_number;
} pending_accept;

typedef struct node_cli {
  tw_io *io;
  tw_node *node;
  tw_msgr *m;
  tw_profile profile;
  const char *profile_path;
  tw_time_ms start;
  const char *files_dir;
  bool stay, dirty, hash_files;
  char line[LINE_MAX_BYTES];
  size_t line_len;
  xfer x[MAX_FILES];
  pending_accept accepts[MAX_FILES];
  size_t naccepts;
  tw_io_streams *streams; /* with --tcp-relay */
  uint8_t via_tcp[TW_MSGR_MAX_FRIENDS]; /* 0: not online, 1: udp, 2: tcp */
  tw_time_ms transports_at;             /* last check_transports */
} node_cli;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

/* Text from the network, printed on one line: control bytes escaped. */
static const char *printable(const uint8_t *d, size_t n, char *buf, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n && o + 5 < cap; i++) {
    uint8_t c = d[i];
    if (c == '\\') o += (size_t)snprintf(buf + o, cap - o, "\\\\");
    else if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    else buf[o++] = (char)c;
  }
  buf[o] = 0;
  return buf;
}

static const char *hex(const uint8_t *d, size_t n, char *buf, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n && o + 2 < cap; i++) o += (size_t)snprintf(buf + o, cap - o, "%02X", d[i]);
  buf[o] = 0;
  return buf;
}

/* ---- profile ---- */

static void profile_sync(node_cli *c) {
  /* Friends as the messenger has them now. */
  tw_profile *p = &c->profile;
  tw_profile_friend *old = p->friends;
  size_t old_count = p->friend_count;
  p->friends = NULL;
  p->friend_count = 0;
  p->friend_cap = 0;
  uint32_t nums[TW_MSGR_MAX_FRIENDS];
  size_t n = tw_msgr_friend_list(c->m, nums, TW_MSGR_MAX_FRIENDS);
  for (size_t i = 0; i < n && i < TW_MSGR_MAX_FRIENDS; i++) {
    tw_msgr_friend_info fi;
    if (tw_msgr_friend_get_info(c->m, nums[i], &fi) != TW_OK) continue;
    tw_profile_friend f;
    memset(&f, 0, sizeof f);
    f.pk = fi.pk;
    f.status = fi.request_pending ? TW_PROFILE_FRIEND_REQUEST_SENT : TW_PROFILE_FRIEND_CONFIRMED;
    for (size_t j = 0; j < old_count; j++)
      if (tw_key_equal(&old[j].pk, &fi.pk)) f = old[j]; /* keeps nospam and request text */
    f.status = fi.request_pending ? TW_PROFILE_FRIEND_REQUEST_SENT : TW_PROFILE_FRIEND_CONFIRMED;
    if (fi.name_len > 0) {
      memcpy(f.name, fi.name, fi.name_len);
      f.name_len = (uint16_t)fi.name_len;
    }
    if (fi.status_message_len > 0) {
      memcpy(f.status_message, fi.status_message, fi.status_message_len);
      f.status_message_len = (uint16_t)fi.status_message_len;
    }
    f.user_status = (uint8_t)fi.user_status;
    tw_profile_add_friend(p, &f);
  }
  free(old);
  p->nospam = tw_msgr_get_nospam(c->m);
  /* Nodes to come back to. */
  tw_node_info nodes[16];
  size_t nn = tw_dht_close_nodes(tw_node_dht(c->node), nodes, 16, tw_io_now(c->io));
  if (nn > 0) {
    p->node_count = 0;
    for (size_t i = 0; i < nn; i++) tw_profile_add_node(p, &nodes[i]);
  }
}

static int profile_save(node_cli *c) {
  profile_sync(c);
  char why[TW_PROFILE_WHY_SIZE];
  int e = tw_profile_save_file_guarded(c->profile_path, &c->profile, why);
  if (e != TW_OK) fprintf(stderr, "toxwire node: cannot save %s: %s\n", c->profile_path, why);
  c->dirty = false;
  return e;
}

/* ---- files ---- */

static xfer *xfer_find(node_cli *c, uint32_t f, tw_msgr_file_dir dir, uint8_t n) {
  for (int i = 0; i < MAX_FILES; i++)
    if (c->x[i].used && c->x[i].friend_number == f && c->x[i].dir == dir && c->x[i].number == n)
      return &c->x[i];
  return NULL;
}

static xfer *xfer_new(node_cli *c) {
  for (int i = 0; i < MAX_FILES; i++)
    if (!c->x[i].used) {
      memset(&c->x[i], 0, sizeof c->x[i]);
      c->x[i].used = true;
      c->x[i].fd = -1;
      crypto_hash_sha256_init(&c->x[i].sha);
      return &c->x[i];
    }
  return NULL;
}

/* Incoming data is written in large blocks: chunks arrive in order. */
static int xfer_flush(xfer *x) {
  if (x->buf_len == 0) return 0;
  ssize_t w = pwrite(x->fd, x->buf, x->buf_len, (off_t)x->buf_pos);
  x->buf_pos += x->buf_len;
  bool ok = w == (ssize_t)x->buf_len;
  x->buf_len = 0;
  return ok ? 0 : -1;
}

static int xfer_write(xfer *x, uint64_t pos, const uint8_t *d, size_t n) {
  if (x->buf == NULL && (x->buf = malloc(READ_AHEAD)) == NULL) return -1;
  if (pos != x->buf_pos + x->buf_len || x->buf_len + n > READ_AHEAD) {
    if (xfer_flush(x) != 0) return -1;
    x->buf_pos = pos;
  }
  memcpy(x->buf + x->buf_len, d, n);
  x->buf_len += n;
  return 0;
}

static void xfer_end(xfer *x) {
  if (x->dir == TW_MSGR_FILE_IN && x->fd >= 0) xfer_flush(x);
  if (x->fd >= 0) close(x->fd);
  free(x->buf);
  x->buf = NULL;
  x->used = false;
}

static int file_read(void *ctx, uint64_t pos, uint8_t *buf, size_t len) {
  xfer *x = ctx;
  if (pos < x->buf_pos || pos + len > x->buf_pos + x->buf_len) {
    if (x->buf == NULL && (x->buf = malloc(READ_AHEAD)) == NULL) return -1;
    ssize_t r = pread(x->fd, x->buf, READ_AHEAD, (off_t)pos);
    if (r < 0) return -1;
    x->buf_pos = pos;
    x->buf_len = (size_t)r;
  }
  size_t off = (size_t)(pos - x->buf_pos);
  size_t n = x->buf_len - off < len ? x->buf_len - off : len;
  memcpy(buf, x->buf + off, n);
  x->done = pos + n;
  return (int)n;
}

static void progress(node_cli *c, xfer *x, tw_time_ms now) {
  if (now - x->last_progress < 1000 && x->done != x->size) return;
  x->last_progress = now;
  char bar[21];
  int pct = x->size && x->size != TW_MSGR_FILE_SIZE_UNKNOWN ? (int)(x->done * 100 / x->size) : 0;
  for (int i = 0; i < 20; i++) bar[i] = i < pct / 5 ? '#' : '.';
  bar[20] = 0;
  out("file_progress %u %s %u %llu %llu [%s] %d%%", x->friend_number,
      x->dir == TW_MSGR_FILE_IN ? "in" : "out", x->number, (unsigned long long)x->done,
      (unsigned long long)x->size, bar, pct);
}

/* A received file's name made safe as a file name in the download dir. */
static void safe_name(const uint8_t *d, size_t n, char *out_name, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n && o + 1 < cap; i++) {
    char ch = (char)d[i];
    bool bad = ch == '/' || ch == 0 || (o == 0 && ch == '.');
    out_name[o++] = bad ? '_' : ch;
  }
  if (o == 0) out_name[o++] = '_';
  out_name[o] = 0;
}

/* ---- events ---- */

/* "transport FRIEND udp|tcp" when an online friend's path changes. */
static void note_transport(node_cli *c, uint32_t fn, uint32_t conn, tw_time_ms now) {
  if (fn >= TW_MSGR_MAX_FRIENDS) return;
  tw_fconn *fc = tw_node_fconn(c->node);
  uint8_t v = 0;
  if (tw_fconn_get_state(fc, conn) == TW_FCONN_ESTABLISHED) v = tw_fconn_via_tcp(fc, conn, now) ? 2 : 1;
  if (v == c->via_tcp[fn]) return;
  c->via_tcp[fn] = v;
  if (v) out("transport %u %s", fn, v == 2 ? "tcp" : "udp");
}

/* After packets and timers, not per packet in full: a path changes on a
 * scale of seconds (UDP tries once a second, direct for 20 s), and a file
 * transfer brings thousands of packets a second. */
static void check_transports(node_cli *c, tw_time_ms now) {
  if (now - c->transports_at < 250) return;
  c->transports_at = now;
  tw_fconn *fc = tw_node_fconn(c->node);
  uint32_t nums[TW_MSGR_MAX_FRIENDS];
  size_t n = tw_msgr_friend_list(c->m, nums, TW_MSGR_MAX_FRIENDS);
  for (size_t i = 0; i < n; i++) {
    tw_msgr_friend_info fi;
    uint32_t conn;
    if (tw_msgr_friend_get_info(c->m, nums[i], &fi) == TW_OK && tw_fconn_find(fc, &fi.pk, &conn) == TW_OK)
      note_transport(c, nums[i], conn, now);
  }
}

static void on_fconn(void *ctx, const tw_fconn_event *ev) {
  node_cli *c = ctx;
  if (ev->kind != TW_FCONN_EV_STATE || ev->state == ev->old_state || c->m == NULL) return;
  uint32_t fn;
  if (tw_msgr_friend_by_pk(c->m, ev->peer, &fn) != TW_OK) return;
  out("state %u %s %.3f", fn, tw_fconn_state_name(ev->state), (double)(ev->time - c->start) / 1000);
  if (c->node != NULL) note_transport(c, fn, ev->friend_id, ev->time);
}

static void on_msgr(void *ctx, const tw_msgr_event *ev) {
  node_cli *c = ctx;
  char t[4 * 1400], k[TW_KEY_HEXLEN];
  const char *dir = ev->dir == TW_MSGR_FILE_IN ? "in" : "out";
  switch (ev->kind) {
  case TW_MSGR_EV_FRIEND_REQUEST:
    out("friend_request %s %s", tw_key_to_hex(ev->pk, k), printable(ev->data, ev->len, t, sizeof t));
    break;
  case TW_MSGR_EV_CONNECTION: out("%s %u", ev->online ? "online" : "offline", ev->friend_number); break;
  case TW_MSGR_EV_NAME:
    out("name %u %s", ev->friend_number, printable(ev->data, ev->len, t, sizeof t));
    c->dirty = true;
    break;
  case TW_MSGR_EV_STATUS_MESSAGE:
    out("status %u %s", ev->friend_number, printable(ev->data, ev->len, t, sizeof t));
    c->dirty = true;
    break;
  case TW_MSGR_EV_USER_STATUS:
    out("userstatus %u %s", ev->friend_number,
        ev->user_status == TW_MSGR_USER_AWAY ? "away" : ev->user_status == TW_MSGR_USER_BUSY ? "busy" : "online");
    break;
  case TW_MSGR_EV_TYPING: out("typing %u %s", ev->friend_number, ev->typing ? "on" : "off"); break;
  case TW_MSGR_EV_MESSAGE:
    out("message %u %s %s", ev->friend_number, ev->message_type == TW_MSGR_MESSAGE_ACTION ? "action" : "normal",
        printable(ev->data, ev->len, t, sizeof t));
    break;
  case TW_MSGR_EV_READ_RECEIPT: out("receipt %u %u", ev->friend_number, ev->message_id); break;
  case TW_MSGR_EV_CUSTOM_LOSSLESS:
  case TW_MSGR_EV_CUSTOM_LOSSY:
    out("custom_%s %u %s", ev->kind == TW_MSGR_EV_CUSTOM_LOSSY ? "lossy" : "lossless", ev->friend_number,
        hex(ev->data, ev->len, t, sizeof t));
    break;
  case TW_MSGR_EV_FILE_REQUEST: {
    out("file_recv %u %u %llu %s", ev->friend_number, ev->file_number, (unsigned long long)ev->file_size,
        printable(ev->data, ev->len, t, sizeof t));
    if (c->files_dir == NULL) break;
    xfer *x = xfer_new(c);
    if (x == NULL) break;
    char name[300], path[4400];
    safe_name(ev->data, ev->len, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", c->files_dir, name);
    x->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (x->fd < 0) {
      out("error file_recv: %s: %s", path, strerror(errno));
      xfer_end(x);
      break;
    }
    x->friend_number = ev->friend_number;
    x->dir = TW_MSGR_FILE_IN;
    x->number = ev->file_number;
    x->size = ev->file_size;
    /* Accepted once this event returns: the messenger may not be called
     * from inside its own callback. */
    if (c->naccepts < MAX_FILES) c->accepts[c->naccepts++] = (pending_accept){ev->friend_number, ev->file_number};
    break;
  }
  case TW_MSGR_EV_FILE_CHUNK: {
    xfer *x = xfer_find(c, ev->friend_number, TW_MSGR_FILE_IN, ev->file_number);
    if (x == NULL) break;
    if (ev->len > 0 && xfer_write(x, ev->position, ev->data, ev->len) != 0)
      out("error file_recv: write: %s", strerror(errno));
    if (c->hash_files) crypto_hash_sha256_update(&x->sha, ev->data, ev->len);
    x->done = ev->position + ev->len;
    progress(c, x, ev->time);
    break;
  }
  case TW_MSGR_EV_FILE_CONTROL: {
    static const char *names[] = {"accept", "pause", "kill", "seek"};
    out("file_control %u %s %u %s", ev->friend_number, dir, ev->file_number,
        ev->control <= TW_MSGR_FILE_SEEK ? names[ev->control] : "?");
    break;
  }
  case TW_MSGR_EV_FILE_DONE: {
    xfer *x = xfer_find(c, ev->friend_number, ev->dir, ev->file_number);
    char h[2 * crypto_hash_sha256_BYTES + 1] = "-";
    if (x != NULL && ev->dir == TW_MSGR_FILE_IN && c->hash_files) {
      uint8_t d[crypto_hash_sha256_BYTES];
      crypto_hash_sha256_final(&x->sha, d);
      hex(d, sizeof d, h, sizeof h);
    }
    if (x != NULL) {
      x->done = ev->position;
      x->last_progress = 0;
      progress(c, x, ev->time);
    }
    if (x != NULL && ev->dir == TW_MSGR_FILE_IN && xfer_flush(x) != 0)
      out("error file_recv: write: %s", strerror(errno));
    out("file_done %u %s %u %llu %s", ev->friend_number, dir, ev->file_number,
        (unsigned long long)ev->position, h);
    if (x != NULL) xfer_end(x);
    break;
  }
  case TW_MSGR_EV_FILE_CLOSED: {
    static const char *why[] = {"?", "killed_by_friend", "friend_offline", "read_error"};
    out("file_closed %u %s %u %s", ev->friend_number, dir, ev->file_number,
        ev->close_reason <= TW_MSGR_CLOSE_READ_ERROR ? why[ev->close_reason] : "?");
    xfer *x = xfer_find(c, ev->friend_number, ev->dir, ev->file_number);
    if (x != NULL) xfer_end(x);
    break;
  }
  }
}

/* ---- commands ---- */

static int friend_arg(node_cli *c, const char *s, uint32_t *fn) {
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if (*s && *end == 0 && strlen(s) < 8) {
    tw_msgr_friend_info fi;
    if (tw_msgr_friend_get_info(c->m, (uint32_t)v, &fi) == TW_OK) {
      *fn = (uint32_t)v;
      return TW_OK;
    }
    return TW_E_NOTFOUND;
  }
  uint32_t nums[TW_MSGR_MAX_FRIENDS];
  size_t n = tw_msgr_friend_list(c->m, nums, TW_MSGR_MAX_FRIENDS), hits = 0;
  for (size_t i = 0; i < n && i < TW_MSGR_MAX_FRIENDS; i++) {
    tw_msgr_friend_info fi;
    char k[TW_KEY_HEXLEN];
    tw_msgr_friend_get_info(c->m, nums[i], &fi);
    tw_key_to_hex(&fi.pk, k);
    if (strncasecmp(k, s, strlen(s)) == 0) {
      *fn = nums[i];
      hits++;
    }
  }
  return hits == 1 ? TW_OK : TW_E_NOTFOUND;
}

static int parse_hex(const char *s, uint8_t *outb, size_t cap, size_t *n) {
  size_t l = strlen(s);
  if (l == 0 || l % 2 || l / 2 > cap) return TW_E_HEX;
  for (size_t i = 0; i < l / 2; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) return TW_E_HEX;
    outb[i] = (uint8_t)v;
  }
  *n = l / 2;
  return TW_OK;
}

static void print_friends(node_cli *c) {
  uint32_t nums[TW_MSGR_MAX_FRIENDS];
  size_t n = tw_msgr_friend_list(c->m, nums, TW_MSGR_MAX_FRIENDS);
  for (size_t i = 0; i < n && i < TW_MSGR_MAX_FRIENDS; i++) {
    tw_msgr_friend_info fi;
    char k[TW_KEY_HEXLEN], t[600];
    tw_msgr_friend_get_info(c->m, nums[i], &fi);
    uint32_t id;
    tw_fconn_state st = TW_FCONN_AWAITING_DHT_KEY;
    if (tw_fconn_find(tw_node_fconn(c->node), &fi.pk, &id) == TW_OK) st = tw_fconn_get_state(tw_node_fconn(c->node), id);
    out("friend %u %s %s %s%s %s", nums[i], tw_key_to_hex(&fi.pk, k), tw_fconn_state_name(st),
        fi.online ? "online" : "offline", fi.request_pending ? " request_pending" : "",
        printable(fi.name, fi.name_len, t, sizeof t));
  }
  out("ok friends %zu", n);
}

static void print_stats(node_cli *c) {
  tw_nc *nc = tw_node_nc(c->node);
  uint32_t nums[TW_MSGR_MAX_FRIENDS];
  size_t n = tw_msgr_friend_list(c->m, nums, TW_MSGR_MAX_FRIENDS);
  for (size_t i = 0; i < n && i < TW_MSGR_MAX_FRIENDS; i++) {
    tw_msgr_friend_info fi;
    uint32_t id;
    tw_nc_conn_stats st;
    if (tw_msgr_friend_get_info(c->m, nums[i], &fi) != TW_OK ||
        tw_fconn_find(tw_node_fconn(c->node), &fi.pk, &id) != TW_OK ||
        tw_nc_conn_get_stats(nc, id, &st) != TW_OK)
      continue;
    out("stats %u session %s sent %llu received %llu packets_sent %llu packets_received %llu "
        "resent %llu requests_sent %llu requests_received %llu in_flight %u held %u window %u rtt_ms %u",
        nums[i], tw_nc_state_name(st.state), (unsigned long long)st.bytes_sent,
        (unsigned long long)st.bytes_received, (unsigned long long)st.packets_sent,
        (unsigned long long)st.packets_received, (unsigned long long)st.packets_resent,
        (unsigned long long)st.requests_sent, (unsigned long long)st.requests_received, st.in_flight,
        st.recv_held, st.window, st.rtt_ms);
  }
  tw_msgr_stats ms;
  tw_msgr_get_stats(c->m, &ms);
  tw_nc_stats ns;
  tw_nc_get_stats(nc, &ns);
  out("stats messenger in %llu out %llu dropped %llu; net_crypto data in %llu out %llu dropped %llu",
      (unsigned long long)ms.lossless_in, (unsigned long long)ms.lossless_out,
      (unsigned long long)ms.dropped_total, (unsigned long long)ns.data_in,
      (unsigned long long)ns.data_out, (unsigned long long)ns.dropped_total);
  if (tw_node_tcp(c->node) != NULL) {
    tw_tcp_conns_stats ts;
    tw_tcp_conns_get_stats(tw_node_tcp(c->node), &ts);
    out("stats tcp relays_connected %u peers_online %u data_out %llu data_in %llu oob_out %llu "
        "oob_in %llu onion_out %llu onion_in %llu dropped_noroute %llu dropped_full %llu",
        ts.relays_connected, ts.peers_online, (unsigned long long)ts.data_out,
        (unsigned long long)ts.data_in, (unsigned long long)ts.oob_out, (unsigned long long)ts.oob_in,
        (unsigned long long)ts.onion_out, (unsigned long long)ts.onion_in,
        (unsigned long long)ts.dropped_noroute, (unsigned long long)ts.dropped_full);
  }
  for (int e = 1; e < TW_ERROR_COUNT; e++) {
    if (ms.dropped[e]) out("stats messenger dropped %s %llu", tw_strerror(-e), (unsigned long long)ms.dropped[e]);
    if (ns.dropped[e]) out("stats net_crypto dropped %s %llu", tw_strerror(-e), (unsigned long long)ns.dropped[e]);
  }
}

static int start_file(node_cli *c, uint32_t fn, const char *path, uint32_t type, tw_time_ms now) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    out("error sendfile: %s: %s", path, strerror(errno));
    return TW_E_IO;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    out("error sendfile: %s: not a regular file", path);
    close(fd);
    return TW_E_INVAL;
  }
  xfer *x = xfer_new(c);
  if (x == NULL) {
    close(fd);
    out("error sendfile: too many transfers");
    return TW_E_FULL;
  }
  x->fd = fd;
  x->size = (uint64_t)st.st_size;
  x->friend_number = fn;
  x->dir = TW_MSGR_FILE_OUT;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t bl = strlen(base) > TW_MSGR_MAX_FILENAME_LENGTH ? TW_MSGR_MAX_FILENAME_LENGTH : strlen(base);
  int e = tw_msgr_file_send(c->m, fn, type, x->size, NULL, (const uint8_t *)base, bl, file_read, x,
                            &x->number, now);
  if (e != TW_OK) {
    out("error sendfile: %s", tw_strerror(e));
    xfer_end(x);
    return e;
  }
  out("file_send %u %u %llu %s", fn, x->number, (unsigned long long)x->size, base);
  return TW_OK;
}

static void run_command(node_cli *c, char *line, tw_time_ms now) {
  char *cmd = strtok(line, " \t");
  if (cmd == NULL) return;
  char *a1 = strtok(NULL, " \t");
  char *rest = a1 ? strtok(NULL, "") : NULL;
  uint32_t fn = 0;
  int e = TW_OK;
  bool changed = false;
  if (strcmp(cmd, "quit") == 0) {
    tw_io_stop(c->io);
    return;
  } else if (strcmp(cmd, "id") == 0) {
    uint8_t id[TW_TOXID_SIZE];
    char h[TW_TOXID_HEXLEN];
    tw_msgr_get_address(c->m, id);
    out("id %s", hex(id, sizeof id, h, sizeof h));
    return;
  } else if (strcmp(cmd, "friends") == 0) {
    print_friends(c);
    return;
  } else if (strcmp(cmd, "stats") == 0) {
    print_stats(c);
    return;
  } else if (strcmp(cmd, "save") == 0) {
    e = profile_save(c);
  } else if (strcmp(cmd, "add") == 0) {
    tw_toxid id;
    if (a1 == NULL || tw_toxid_parse(&id, a1) != TW_OK) {
      out("error add: '%s' is not a Tox ID (76 hex digits with a valid checksum)", a1 ? a1 : "");
      return;
    }
    uint8_t raw[TW_TOXID_SIZE];
    tw_toxid_pack(&id, raw);
    const char *msg = rest && *rest ? rest : "Hello from toxwire";
    e = tw_msgr_friend_add(c->m, raw, sizeof raw, (const uint8_t *)msg, strlen(msg), &fn, now);
    if (e == TW_OK) {
      char k[TW_KEY_HEXLEN];
      out("friend_added %u %s", fn, tw_key_to_hex(&id.pk, k));
      tw_profile_friend f = {0};
      f.pk = id.pk;
      f.nospam = id.nospam;
      size_t ml = strlen(msg) > TW_PROFILE_MAX_REQUEST_MESSAGE ? TW_PROFILE_MAX_REQUEST_MESSAGE : strlen(msg);
      memcpy(f.request_message, msg, ml);
      f.request_message_len = (uint16_t)ml;
      f.status = TW_PROFILE_FRIEND_REQUEST_SENT;
      tw_profile_remove_friend(&c->profile, &id.pk);
      tw_profile_add_friend(&c->profile, &f);
      changed = true;
    }
  } else if (strcmp(cmd, "accept") == 0) {
    tw_key pk;
    if (a1 == NULL || strlen(a1) != 64 || tw_key_from_hex(&pk, a1, 64) != TW_OK) {
      out("error accept: '%s' is not a public key (64 hex digits)", a1 ? a1 : "");
      return;
    }
    e = tw_msgr_friend_add_norequest(c->m, &pk, &fn, now);
    if (e == TW_OK) {
      char k[TW_KEY_HEXLEN];
      out("friend_added %u %s", fn, tw_key_to_hex(&pk, k));
      changed = true;
    }
  } else if (strcmp(cmd, "name") == 0 || strcmp(cmd, "status") == 0) {
    char text[1100] = "";
    if (a1) snprintf(text, sizeof text, "%s%s%s", a1, rest ? " " : "", rest ? rest : "");
    size_t l = strlen(text);
    if (cmd[0] == 'n') {
      e = tw_msgr_set_name(c->m, (const uint8_t *)text, l, now);
      if (e == TW_OK) memcpy(c->profile.name, text, l), c->profile.name_len = (uint16_t)l;
    } else {
      e = tw_msgr_set_status_message(c->m, (const uint8_t *)text, l, now);
      if (e == TW_OK) memcpy(c->profile.status_message, text, l), c->profile.status_message_len = (uint16_t)l;
    }
    changed = e == TW_OK;
  } else if (strcmp(cmd, "userstatus") == 0) {
    tw_msgr_user_status s = TW_MSGR_USER_ONLINE;
    if (a1 && strcmp(a1, "away") == 0) s = TW_MSGR_USER_AWAY;
    else if (a1 && strcmp(a1, "busy") == 0) s = TW_MSGR_USER_BUSY;
    else if (!a1 || strcmp(a1, "online") != 0) {
      out("error userstatus: use online, away or busy");
      return;
    }
    e = tw_msgr_set_user_status(c->m, s, now);
    c->profile.user_status = (uint8_t)s;
    changed = e == TW_OK;
  } else {
    /* Everything else names a friend first. */
    if (a1 == NULL || friend_arg(c, a1, &fn) != TW_OK) {
      if (strcmp(cmd, "msg") && strcmp(cmd, "action") && strcmp(cmd, "delete") && strcmp(cmd, "typing") &&
          strcmp(cmd, "lossless") && strcmp(cmd, "lossy") && strcmp(cmd, "sendfile") &&
          strcmp(cmd, "sendavatar") && strcmp(cmd, "file"))
        out("error %s: unknown command (see toxwire help node)", cmd);
      else
        out("error %s: no such friend '%s'", cmd, a1 ? a1 : "");
      return;
    }
    char *arg = rest ? rest : (char *)"";
    if (strcmp(cmd, "msg") == 0 || strcmp(cmd, "action") == 0) {
      uint32_t mid;
      e = tw_msgr_send_message(c->m, fn, cmd[0] == 'a' ? TW_MSGR_MESSAGE_ACTION : TW_MSGR_MESSAGE_NORMAL,
                               (const uint8_t *)arg, strlen(arg), &mid, now);
      if (e == TW_OK) {
        out("sent %u %u", fn, mid);
        return;
      }
    } else if (strcmp(cmd, "delete") == 0) {
      e = tw_msgr_friend_delete(c->m, fn, now);
      changed = e == TW_OK;
    } else if (strcmp(cmd, "typing") == 0) {
      e = tw_msgr_set_typing(c->m, fn, strcmp(arg, "on") == 0, now);
    } else if (strcmp(cmd, "lossless") == 0 || strcmp(cmd, "lossy") == 0) {
      uint8_t d[TW_MSGR_MAX_CUSTOM_PACKET_SIZE];
      size_t n;
      if (parse_hex(arg, d, sizeof d, &n) != TW_OK) {
        out("error %s: '%s' is not hex of 1..%d bytes", cmd, arg, TW_MSGR_MAX_CUSTOM_PACKET_SIZE);
        return;
      }
      e = cmd[4] == 'l' ? tw_msgr_send_custom_lossless(c->m, fn, d, n, now)
                        : tw_msgr_send_custom_lossy(c->m, fn, d, n, now);
    } else if (strcmp(cmd, "sendfile") == 0 || strcmp(cmd, "sendavatar") == 0) {
      start_file(c, fn, arg, cmd[4] == 'a' ? 1 : 0, now);
      return;
    } else if (strcmp(cmd, "file") == 0) {
      char *d = strtok(arg, " \t"), *num = strtok(NULL, " \t"), *what = strtok(NULL, " \t");
      tw_msgr_file_ctl ctl;
      if (!d || !num || !what || (strcmp(d, "in") && strcmp(d, "out"))) {
        out("error file: use file FRIEND in|out N accept|pause|resume|cancel");
        return;
      }
      if (strcmp(what, "accept") == 0 || strcmp(what, "resume") == 0) ctl = TW_MSGR_FILE_RESUME;
      else if (strcmp(what, "pause") == 0) ctl = TW_MSGR_FILE_PAUSE;
      else if (strcmp(what, "cancel") == 0) ctl = TW_MSGR_FILE_KILL;
      else {
        out("error file: unknown control '%s'", what);
        return;
      }
      e = tw_msgr_file_control(c->m, fn, d[0] == 'i' ? TW_MSGR_FILE_IN : TW_MSGR_FILE_OUT,
                               (uint8_t)atoi(num), ctl, now);
    } else {
      out("error %s: unknown command (see toxwire help node)", cmd);
      return;
    }
  }
  if (e != TW_OK) {
    out("error %s: %s", cmd, tw_strerror(e));
    return;
  }
  if (changed) profile_save(c);
  out("ok %s", cmd);
}

static void after_events(node_cli *c, tw_time_ms now) {
  for (size_t i = 0; i < c->naccepts; i++)
    tw_msgr_file_control(c->m, c->accepts[i].friend_number, TW_MSGR_FILE_IN, c->accepts[i].file_number,
                         TW_MSGR_FILE_RESUME, now);
  c->naccepts = 0;
  if (c->dirty) profile_save(c);
}

static void on_stdin(void *ctx, int fd, tw_time_ms now) {
  node_cli *c = ctx;
  char buf[4096];
  ssize_t r = read(fd, buf, sizeof buf);
  if (r <= 0) {
    tw_io_watch_fd(c->io, -1, NULL, NULL);
    if (!c->stay) tw_io_stop(c->io);
    return;
  }
  for (ssize_t i = 0; i < r; i++) {
    if (buf[i] == '\n') {
      c->line[c->line_len] = 0;
      run_command(c, c->line, now);
      c->line_len = 0;
    } else if (c->line_len + 1 < sizeof c->line) {
      c->line[c->line_len++] = buf[i];
    }
  }
  after_events(c, now);
}

/* The node's io handler, with the work events left for afterwards. */
static int h_packet(void *ctx, const tw_addr *from, const uint8_t *pkt, size_t len, tw_time_ms now) {
  node_cli *c = ctx;
  int e = tw_node_handle_packet(c->node, from, pkt, len, now);
  if (c->naccepts > 0) after_events(c, now);
  if (c->streams != NULL && len > 0 && tw_nc_handles_kind(pkt[0])) check_transports(c, now);
  return e;
}
static void h_timer(void *ctx, tw_time_ms now) {
  node_cli *c = ctx;
  tw_node_on_timer(c->node, now);
  after_events(c, now);
  if (c->streams != NULL) check_transports(c, now);
}
static tw_time_ms h_deadline(void *ctx) { return tw_node_next_deadline(((node_cli *)ctx)->node); }

static int load_profile(node_cli *c, const char *import) {
  char why[TW_PROFILE_WHY_SIZE];
  tw_profile_init(&c->profile);
  if (import != NULL) {
    if (access(c->profile_path, F_OK) == 0) {
      fprintf(stderr, "toxwire node: --import: %s exists already; give a new --profile path\n", c->profile_path);
      return 2;
    }
    int e = tw_profile_load_file(import, &c->profile, why);
    if (e != TW_OK) {
      fprintf(stderr, "toxwire node: --import %s: %s\n", import, why);
      return 1;
    }
    return 0;
  }
  int e = tw_profile_load_file(c->profile_path, &c->profile, why);
  if (e == TW_E_NOTFOUND) {
    tw_env env = {.random_bytes = tw_io_random, .random_ctx = c->io};
    tw_keypair_generate(&c->profile.keys, &env);
    randombytes_buf(&c->profile.nospam, sizeof c->profile.nospam);
    fprintf(stderr, "toxwire node: new profile %s\n", c->profile_path);
    return 0;
  }
  if (e != TW_OK) {
    fprintf(stderr, "toxwire node: %s: %s (the file is left as it is)\n", c->profile_path, why);
    return 1;
  }
  return 0;
}

int tw_cmd_node(int argc, char **argv) {
  static node_cli cli;
  node_cli *c = &cli;
  memset(c, 0, sizeof *c);
  const char *import = NULL, *name = NULL;
  long port = 0;
  bool ipv6 = true;
  tw_log_level level = TW_LOG_WARN;
  static tw_node_info boot[TW_DHT_MAX_BOOTSTRAP_NODES], relays[8];
  size_t nboot = 0, nrelays = 0;
  bool udp = true;
  const char *bind_ip = NULL;
  enum { O_PROFILE = 256, O_IMPORT, O_BOOT, O_PORT, O_V4, O_NAME, O_FILES, O_HASH, O_STAY, O_LEVEL, O_HELP,
         O_UDP, O_RELAY, O_BIND };
  static const struct option opts[] = {
      {"profile", required_argument, 0, O_PROFILE}, {"import", required_argument, 0, O_IMPORT},
      {"bootstrap", required_argument, 0, O_BOOT},  {"port", required_argument, 0, O_PORT},
      {"ipv4-only", no_argument, 0, O_V4},          {"name", required_argument, 0, O_NAME},
      {"accept-files", required_argument, 0, O_FILES}, {"hash-files", no_argument, 0, O_HASH},
      {"stay", no_argument, 0, O_STAY},
      {"udp", required_argument, 0, O_UDP},         {"tcp-relay", required_argument, 0, O_RELAY},
      {"bind", required_argument, 0, O_BIND},
      {"log-level", required_argument, 0, O_LEVEL}, {"help", no_argument, 0, O_HELP},
      {0, 0, 0, 0}};
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (ch) {
    case O_PROFILE: c->profile_path = optarg; break;
    case O_IMPORT: import = optarg; break;
    case O_BOOT:
      if (tw_cli_add_bootstrap("node", optarg, boot, &nboot, TW_DHT_MAX_BOOTSTRAP_NODES)) return 2;
      break;
    case O_PORT:
      if (tw_cli_parse_port("node", optarg, &port)) return 2;
      break;
    case O_V4: ipv6 = false; break;
    case O_BIND: bind_ip = optarg; break;
    case O_UDP:
      if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0) {
        fprintf(stderr, "toxwire node: --udp '%s': use on or off\n", optarg);
        return 2;
      }
      udp = strcmp(optarg, "on") == 0;
      break;
    case O_RELAY:
      if (tw_cli_add_node("node", "--tcp-relay", optarg, relays, &nrelays, 8)) return 2;
      break;
    case O_NAME:
      if (strlen(optarg) > TW_MSGR_MAX_NAME_LENGTH) {
        fprintf(stderr, "toxwire node: --name: at most %d bytes\n", TW_MSGR_MAX_NAME_LENGTH);
        return 2;
      }
      name = optarg;
      break;
    case O_FILES: {
      struct stat st;
      if (stat(optarg, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "toxwire node: --accept-files '%s': not a directory\n", optarg);
        return 2;
      }
      c->files_dir = optarg;
      break;
    }
    case O_HASH: c->hash_files = true; break;
    case O_STAY: c->stay = true; break;
    case O_LEVEL:
      if (tw_log_level_parse(optarg, &level) != 0) {
        fprintf(stderr, "toxwire node: --log-level '%s': use trace, debug, info, warn or error\n", optarg);
        return 2;
      }
      break;
    case O_HELP: fputs(USAGE_NODE, stdout); return 0;
    default: fputs(USAGE_NODE, stderr); return 2;
    }
  }
  if (c->profile_path == NULL || optind != argc) {
    fprintf(stderr, "toxwire node: --profile is required\n%s", USAGE_NODE);
    return 2;
  }
  if (!udp && nrelays == 0) {
    fprintf(stderr, "toxwire node: --udp off needs at least one --tcp-relay HOST:PORT:KEY\n");
    return 2;
  }
  if (!udp && port != 0) {
    fprintf(stderr, "toxwire node: --port is the UDP port; it means nothing with --udp off\n");
    return 2;
  }
  tw_logger lg = tw_stderr_logger(level);
  c->io = tw_io_new(lg);
  if (c->io == NULL) return 1;
  int rc = load_profile(c, import);
  if (rc != 0) {
    tw_io_free(c->io);
    return rc;
  }
  if (name != NULL) {
    memcpy(c->profile.name, name, strlen(name));
    c->profile.name_len = (uint16_t)strlen(name);
  }
  tw_io_udp_config ucfg = {bind_ip, (uint16_t)port, ipv6, true};
  uint16_t bound = 0;
  rc = udp ? tw_io_bind_udp(c->io, &ucfg, &bound) : TW_OK;
  if (rc != TW_OK) {
    fprintf(stderr, "toxwire node: cannot open the UDP socket%s%s: %s\n", bind_ip ? " on " : "",
            bind_ip ? bind_ip : "", tw_strerror(rc));
    tw_io_free(c->io);
    return 1;
  }
  tw_env env = {.random_bytes = tw_io_random, .random_ctx = c->io, .log = lg};
  tw_node_config cfg = {.onion_relay = true, .announce_store = true, .onion_client = true,
                        .friends = true, .self_keys = c->profile.keys,
                        .on_fconn_event = on_fconn, .fconn_ctx = c};
  cfg.dht.send = tw_io_send_cb;
  cfg.dht.send_ctx = c->io;
  cfg.dht.lan_discovery = udp;
  if (nrelays > 0) {
    c->streams = tw_io_streams_new(c->io);
    if (c->streams == NULL) {
      fprintf(stderr, "toxwire node: cannot set up TCP connections\n");
      tw_io_free(c->io);
      return 1;
    }
    cfg.tcp_client = true;
    tw_io_streams_bind(c->streams, &cfg.tcp);
  }
  tw_keypair_generate(&cfg.dht.keys, &env);
  cfg.msgr.nospam = c->profile.nospam;
  cfg.msgr.name = c->profile.name;
  cfg.msgr.name_len = c->profile.name_len;
  cfg.msgr.status_message = c->profile.status_message;
  cfg.msgr.status_message_len = c->profile.status_message_len;
  cfg.msgr.user_status = (tw_msgr_user_status)c->profile.user_status;
  cfg.msgr.on_event = on_msgr;
  cfg.msgr.event_ctx = c;
  c->start = tw_io_now(c->io);
  c->node = tw_node_new(&cfg, &env, c->start);
  tw_crypto_wipe(&cfg, sizeof cfg);
  if (c->node == NULL) {
    fprintf(stderr, "toxwire node: cannot create the node\n");
    tw_profile_clear(&c->profile);
    tw_io_free(c->io);
    return 1;
  }
  c->m = tw_node_msgr(c->node);
  if (c->streams != NULL) {
    tw_io_streams_attach(c->streams, tw_node_tcp(c->node));
    for (size_t i = 0; i < nrelays; i++) {
      char a[TW_ADDR_STRLEN];
      int e = tw_tcp_conns_add_relay(tw_node_tcp(c->node), &relays[i], c->start);
      if (e != TW_OK)
        fprintf(stderr, "toxwire node: --tcp-relay %s: %s\n", tw_addr_format(&relays[i].addr, a), tw_strerror(e));
    }
  }
  /* Friends from the profile: confirmed ones connect, pending ones get
   * their request again. */
  for (size_t i = 0; i < c->profile.friend_count; i++) {
    const tw_profile_friend *f = &c->profile.friends[i];
    uint32_t fn;
    if (f->status == TW_PROFILE_FRIEND_REQUEST_SENT && f->request_message_len > 0) {
      tw_toxid id = {.pk = f->pk, .nospam = f->nospam};
      uint8_t raw[TW_TOXID_SIZE];
      tw_toxid_pack(&id, raw);
      tw_msgr_friend_add(c->m, raw, sizeof raw, f->request_message, f->request_message_len, &fn, c->start);
    } else {
      tw_msgr_friend_add_norequest(c->m, &f->pk, &fn, c->start);
    }
  }
  tw_dht *dht = tw_node_dht(c->node);
  /* Bootstrap nodes are also onion path nodes: without UDP, paths start
   * at a relay and go on through them. */
  tw_onion *onion = tw_node_onion(c->node);
  for (size_t i = 0; i < nboot; i++) {
    tw_dht_bootstrap(dht, &boot[i], c->start);
    tw_onion_add_path_node(onion, &boot[i], c->start);
  }
  if (nboot == 0)
    for (size_t i = 0; i < c->profile.node_count; i++) {
      tw_dht_bootstrap(dht, &c->profile.nodes[i], c->start);
      tw_onion_add_path_node(onion, &c->profile.nodes[i], c->start);
    }
  if (profile_save(c) != TW_OK) {
    tw_node_free(c->node);
    tw_profile_clear(&c->profile);
    tw_io_free(c->io);
    return 1;
  }
  uint8_t id[TW_TOXID_SIZE];
  char h[TW_TOXID_HEXLEN], k[TW_KEY_HEXLEN];
  tw_msgr_get_address(c->m, id);
  out("ready %s %s %u", hex(id, sizeof id, h, sizeof h), tw_key_to_hex(tw_dht_public_key(dht), k), bound);
  tw_io_handler hd = {c, h_packet, h_timer, h_deadline};
  tw_io_set_handler(c->io, &hd);
  tw_io_watch_fd(c->io, STDIN_FILENO, on_stdin, c);
  tw_io_run(c->io);
  profile_save(c);
  tw_time_ms end = tw_io_now(c->io);
  tw_node_kill_sessions(c->node, end); /* sent as the io is freed */
  if (tw_node_tcp(c->node) != NULL) tw_tcp_conns_flush(tw_node_tcp(c->node), end);
  for (int i = 0; i < MAX_FILES; i++)
    if (c->x[i].used) xfer_end(&c->x[i]);
  tw_node_free(c->node);
  tw_io_streams_free(c->streams);
  tw_profile_clear(&c->profile);
  tw_io_free(c->io);
  return 0;
}
