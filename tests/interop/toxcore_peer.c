/* toxcore_peer: one c-toxcore instance driven over stdin/stdout, for interop
 * tests and for bench/session (the c-toxcore side of its peer pairs).
 *
 * Uses only libtoxcore's public API (tox/tox.h). Test scripts start it in
 * the background, read its event lines from a log file, and feed it
 * commands on stdin. Run with --help for the line protocol.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tox/tox.h>

#define EXIT_USAGE 2
#define EXIT_TIMEOUT 3
#define MAX_NODES 32
#define LINE_MAX_BYTES 16384 /* escaped text may be up to 4x a 1372-byte message */
#define MAX_XFERS 64         /* file transfers tracked at once (both directions) */
#define BULK_ID 0xBF         /* custom lossless id of flood data packets */
#define BULK_END_ID 0xBE     /* custom lossless id of the packet ending a flood */

static const char usage_text[] =
    "usage: toxcore_peer [OPTION]...\n"
    "Run one c-toxcore (libtoxcore) instance; print events on stdout and\n"
    "read commands on stdin, one per line.\n"
    "\n"
    "Options:\n"
    "  --bootstrap HOST:PORT:KEYHEX   tox_bootstrap() from this node (repeatable;\n"
    "                                 the only nodes used). HOST may be [v6addr].\n"
    "  --tcp-relay HOST:PORT:KEYHEX   tox_add_tcp_relay() this relay (repeatable)\n"
    "  --port N                       bind UDP port N only (default: first free\n"
    "                                 port in 33445..33545, libtoxcore's default)\n"
    "  --tcp-port N                   also run a TCP relay server on port N\n"
    "                                 (default 0: none)\n"
    "  --udp on|off                   UDP enabled (default on)\n"
    "  --local-discovery on|off       LAN discovery (default off)\n"
    "  --ipv6 on|off                  IPv6 socket, dual-stack (default off)\n"
    "  --savedata FILE                load FILE if it exists; write it on exit\n"
    "                                 and on the 'save' command\n"
    "  --name NAME                    set own name at start\n"
    "  --rebootstrap SECONDS          while self_connection is NONE, call\n"
    "                                 tox_bootstrap() again every SECONDS\n"
    "                                 (default 0: only once at start)\n"
    "  --timeout SECONDS              exit with status 3 after SECONDS\n"
    "                                 (default 120; 0 = never)\n"
    "  --loop-ms auto|spin|N          how the main loop sleeps between\n"
    "                                 tox_iterate() calls: auto (default) for\n"
    "                                 tox_iteration_interval() ms, as clients do;\n"
    "                                 spin: not at all (busy loop); N: N ms.\n"
    "                                 A command on stdin always wakes it early.\n"
    "  --accept-files DIR             accept every incoming file transfer and\n"
    "                                 write it to DIR/NAME (NAME: the sender's\n"
    "                                 file name, '/' and leading dots replaced)\n"
    "  --echo                         send every friend message back to its\n"
    "                                 sender (same type and text) on receipt\n"
    "  --progress-ms N                at most one file_*_progress and one\n"
    "                                 bulk_progress line per transfer per N ms\n"
    "                                 (default 1000; 0 = none)\n"
    "  --timestamps                   end event lines with ' t_ms=N' (ms since\n"
    "                                 start), except lines ending in free text:\n"
    "                                 friend_request, friend_message, friend_name,\n"
    "                                 friend_status_message, file_send, file_recv,\n"
    "                                 error\n"
    "  --verbose                      print libtoxcore log messages on stderr\n"
    "  --help                         print this help and exit\n"
    "\n"
    "Events (stdout, one per line, flushed after each; hex is upper case):\n"
    "  ready ADDRESS_HEX DHT_KEY_HEX UDP_PORT   (UDP_PORT 0 if UDP is off)\n"
    "  self_connection NONE|TCP|UDP\n"
    "  friend_request PUBKEY_HEX MESSAGE\n"
    "  friend_added FRIEND_NUM PUBKEY_HEX       (after add/accept)\n"
    "  friend_connection FRIEND_NUM NONE|TCP|UDP\n"
    "  friend_message FRIEND_NUM normal|action TEXT\n"
    "  friend_name FRIEND_NUM NAME\n"
    "  friend_status_message FRIEND_NUM TEXT\n"
    "  friend_status FRIEND_NUM none|away|busy  (user status)\n"
    "  friend_typing FRIEND_NUM on|off\n"
    "  custom_lossless FRIEND_NUM HEX           (custom packet, first byte\n"
    "  custom_lossy FRIEND_NUM HEX               included; lossless ids 190\n"
    "                                            and 191 are the bulk ids below)\n"
    "  sent FRIEND_NUM MSGID                    (after msg/action)\n"
    "  read_receipt FRIEND_NUM MSGID\n"
    "  ok COMMAND                               (after name, status, typing,\n"
    "                                            userstatus, lossless, lossy,\n"
    "                                            file_control, seek, nop)\n"
    "  saved FILE\n"
    "  file_send FRIEND_NUM FILE_NUM SIZE NAME  (after sendfile)\n"
    "  file_send_progress FRIEND_NUM FILE_NUM POSITION SIZE   (rate-limited)\n"
    "  file_send_done FRIEND_NUM FILE_NUM       (last chunk handed to toxcore)\n"
    "  file_recv FRIEND_NUM FILE_NUM SIZE NAME  (incoming transfer offered)\n"
    "  file_recv_progress FRIEND_NUM FILE_NUM BYTES SIZE      (rate-limited)\n"
    "  file_done FRIEND_NUM FILE_NUM SIZE SHA256_HEX   (all received; SIZE is\n"
    "                                            the bytes received; the hash\n"
    "                                            is of the data from 0, or '-'\n"
    "                                            after a seek with no file)\n"
    "  file_recv_control FRIEND_NUM FILE_NUM resume|pause|cancel  (from friend)\n"
    "  file_broken FRIEND_NUM FILE_NUM          (friend went offline mid-way;\n"
    "                                            toxcore dropped the transfer)\n"
    "  flood_queued FRIEND_NUM BYTES PACKETS    (a flood is all handed to\n"
    "                                            toxcore, end packet included)\n"
    "  bulk_progress FRIEND_NUM BYTES PACKETS   (flood data received so far;\n"
    "                                            rate-limited)\n"
    "  bulk_done FRIEND_NUM BYTES PACKETS       (a flood's end packet arrived;\n"
    "                                            counts of its data packets)\n"
    "  error WHAT DETAIL\n"
    "  exit quit|signal|timeout|stdout\n"
    "\n"
    "Commands (stdin):\n"
    "  add TOXID_HEX MESSAGE     tox_friend_add\n"
    "  accept PUBKEY_HEX         tox_friend_add_norequest\n"
    "  msg FRIEND_NUM TEXT       send a normal message\n"
    "  action FRIEND_NUM TEXT    send an action message\n"
    "  name NAME                 set own name\n"
    "  status TEXT               set own status message\n"
    "  userstatus 0|1|2          set own user status (none|away|busy; the\n"
    "                            words work too)\n"
    "  typing FRIEND_NUM on|off  tox_self_set_typing\n"
    "  lossless FRIEND_NUM HEX   tox_friend_send_lossless_packet (first byte\n"
    "                            69 or 160..191)\n"
    "  lossy FRIEND_NUM HEX      tox_friend_send_lossy_packet (192..254)\n"
    "  flood FRIEND_NUM BYTES [SIZE]\n"
    "                            send BYTES of custom lossless packets of SIZE\n"
    "                            bytes (default and max 1373; id 191) as fast\n"
    "                            as toxcore takes them, then one end packet\n"
    "                            (id 190). The receiver counts them (bulk_*\n"
    "                            events) instead of printing each.\n"
    "  sendfile FRIEND_NUM PATH [KIND]\n"
    "                            tox_file_send PATH (no spaces; kind 0 = data,\n"
    "                            default); chunks are read from PATH as\n"
    "                            toxcore asks for them\n"
    "  file_control FRIEND_NUM FILE_NUM accept|resume|pause|cancel\n"
    "                            tox_file_control (accept = resume); accepting\n"
    "                            a transfer without --accept-files hashes the\n"
    "                            data and throws it away\n"
    "  seek FRIEND_NUM FILE_NUM POSITION   tox_file_seek (before accepting)\n"
    "  nop                       just answer 'ok nop' (a driver's round trip)\n"
    "  save                      write --savedata FILE now\n"
    "  quit                      exit with status 0\n"
    "MESSAGE/TEXT/NAME are the rest of the line. In both directions a backslash\n"
    "escapes: \\\\ \\n \\r \\t \\xHH; events escape every control byte and\n"
    "backslash, other bytes (UTF-8) pass through.\n"
    "End of stdin only stops command reading; the peer runs until quit,\n"
    "SIGTERM/SIGINT (exit 0) or --timeout (exit 3).\n";

struct node_arg {
    char host[256];
    uint16_t port;
    uint8_t key[TOX_PUBLIC_KEY_SIZE];
};

struct config {
    struct node_arg bootstrap[MAX_NODES];
    size_t n_bootstrap;
    struct node_arg relay[MAX_NODES];
    size_t n_relay;
    int port; /* -1: libtoxcore default range */
    int tcp_port;
    bool udp, local_discovery, ipv6, verbose, echo, timestamps;
    const char *savedata, *name, *accept_dir;
    long timeout_s, rebootstrap_s;
    long loop_ms; /* LOOP_AUTO, LOOP_SPIN (0) or a fixed sleep in ms */
    long progress_ms;
};

#define LOOP_AUTO (-1L)
#define LOOP_SPIN 0L

static volatile sig_atomic_t got_signal;
static bool stdout_broken;
static Tox_Connection self_conn = TOX_CONNECTION_NONE;
static const struct config *g_cfg; /* for the callbacks */

static void xfers_drop_friend(uint32_t fn);

static void on_signal(int sig)
{
    (void)sig;
    got_signal = 1;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool g_timestamps;   /* --timestamps */
static uint64_t g_start_ms; /* now_ms() at the start of main */

/* Every event line goes through here so each is flushed as a whole; a test
 * script tailing the log must never see half a line. With --timestamps the
 * line ends in " t_ms=N" unless `stamp` is false (lines ending in free
 * text, where a field appended would be read as part of the text). */
static void vemit(bool stamp, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void vemit(bool stamp, const char *fmt, va_list ap)
{
    vfprintf(stdout, fmt, ap);
    if (stamp && g_timestamps)
        fprintf(stdout, " t_ms=%llu", (unsigned long long)(now_ms() - g_start_ms));
    fputc('\n', stdout);
    if (fflush(stdout) != 0)
        stdout_broken = true; /* reader went away: nobody to report to */
}

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit(true, fmt, ap);
    va_end(ap);
}

/* For events whose last field is free text: never timestamped. */
static void emit_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit_text(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit(false, fmt, ap);
    va_end(ap);
}

/* Escape bytes so any payload fits on one line; the harness output is
 * parsed line by line. */
static char *escape(const uint8_t *p, size_t n)
{
    char *out = malloc(n * 4 + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '\\') { *o++ = '\\'; *o++ = '\\'; }
        else if (c == '\n') { *o++ = '\\'; *o++ = 'n'; }
        else if (c == '\r') { *o++ = '\\'; *o++ = 'r'; }
        else if (c == '\t') { *o++ = '\\'; *o++ = 't'; }
        else if (c < 0x20 || c == 0x7f) o += sprintf(o, "\\x%02x", c);
        else *o++ = (char)c;
    }
    *o = '\0';
    return out;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode escapes in place; returns the decoded length. Unknown escapes are
 * kept literally so a stray backslash is not lost. */
static size_t unescape(char *s)
{
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
    *o = '\0';
    return (size_t)(o - s);
}

static bool hex_decode(const char *hex, uint8_t *out, size_t n)
{
    if (strlen(hex) != n * 2)
        return false;
    for (size_t i = 0; i < n; i++) {
        int a = hexval((unsigned char)hex[2 * i]), b = hexval((unsigned char)hex[2 * i + 1]);
        if (a < 0 || b < 0)
            return false;
        out[i] = (uint8_t)(a * 16 + b);
    }
    return true;
}

static void hex_encode(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static const char *conn_name(Tox_Connection c)
{
    switch (c) {
    case TOX_CONNECTION_UDP: return "UDP";
    case TOX_CONNECTION_TCP: return "TCP";
    default: return "NONE";
    }
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_onoff(const char *s, bool *out)
{
    if (strcmp(s, "on") == 0) { *out = true; return true; }
    if (strcmp(s, "off") == 0) { *out = false; return true; }
    return false;
}

/* HOST:PORT:KEYHEX, split from the right so IPv6 literals with colons work. */
static bool parse_node(const char *arg, struct node_arg *n)
{
    char buf[512];
    long port;
    if (strlen(arg) >= sizeof buf)
        return false;
    strcpy(buf, arg);
    char *k = strrchr(buf, ':');
    if (k == NULL)
        return false;
    *k++ = '\0';
    char *p = strrchr(buf, ':');
    if (p == NULL)
        return false;
    *p++ = '\0';
    char *host = buf;
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        host++;
    }
    if (*host == '\0' || strlen(host) >= sizeof n->host || !parse_long(p, 1, 65535, &port) ||
        !hex_decode(k, n->key, TOX_PUBLIC_KEY_SIZE))
        return false;
    strcpy(n->host, host);
    n->port = (uint16_t)port;
    return true;
}

static void usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "toxcore_peer: %s%s%s\nTry --help.\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(EXIT_USAGE);
}

static void parse_args(int argc, char **argv, struct config *cfg)
{
    enum { O_BOOT = 256, O_RELAY, O_PORT, O_TCPPORT, O_UDP, O_LAN, O_IPV6, O_SAVE, O_NAME, O_REBOOT,
           O_TIMEOUT, O_VERBOSE, O_HELP, O_LOOP, O_ACCEPT, O_ECHO, O_PROGRESS, O_STAMPS };
    static const struct option opts[] = {
        {"bootstrap", required_argument, NULL, O_BOOT},
        {"tcp-relay", required_argument, NULL, O_RELAY},
        {"port", required_argument, NULL, O_PORT},
        {"tcp-port", required_argument, NULL, O_TCPPORT},
        {"udp", required_argument, NULL, O_UDP},
        {"local-discovery", required_argument, NULL, O_LAN},
        {"ipv6", required_argument, NULL, O_IPV6},
        {"savedata", required_argument, NULL, O_SAVE},
        {"name", required_argument, NULL, O_NAME},
        {"rebootstrap", required_argument, NULL, O_REBOOT},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"verbose", no_argument, NULL, O_VERBOSE},
        {"loop-ms", required_argument, NULL, O_LOOP},
        {"accept-files", required_argument, NULL, O_ACCEPT},
        {"echo", no_argument, NULL, O_ECHO},
        {"progress-ms", required_argument, NULL, O_PROGRESS},
        {"timestamps", no_argument, NULL, O_STAMPS},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    long v;
    int c;

    *cfg = (struct config){.port = -1, .udp = true, .timeout_s = 120, .loop_ms = LOOP_AUTO,
                           .progress_ms = 1000};
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_BOOT:
            if (cfg->n_bootstrap == MAX_NODES || !parse_node(optarg, &cfg->bootstrap[cfg->n_bootstrap]))
                usage_error("bad or too many --bootstrap", optarg);
            cfg->n_bootstrap++;
            break;
        case O_RELAY:
            if (cfg->n_relay == MAX_NODES || !parse_node(optarg, &cfg->relay[cfg->n_relay]))
                usage_error("bad or too many --tcp-relay", optarg);
            cfg->n_relay++;
            break;
        case O_PORT:
            if (!parse_long(optarg, 1, 65535, &v)) usage_error("bad --port", optarg);
            cfg->port = (int)v;
            break;
        case O_TCPPORT:
            if (!parse_long(optarg, 0, 65535, &v)) usage_error("bad --tcp-port", optarg);
            cfg->tcp_port = (int)v;
            break;
        case O_UDP:
            if (!parse_onoff(optarg, &cfg->udp)) usage_error("--udp wants on|off", optarg);
            break;
        case O_LAN:
            if (!parse_onoff(optarg, &cfg->local_discovery)) usage_error("--local-discovery wants on|off", optarg);
            break;
        case O_IPV6:
            if (!parse_onoff(optarg, &cfg->ipv6)) usage_error("--ipv6 wants on|off", optarg);
            break;
        case O_SAVE: cfg->savedata = optarg; break;
        case O_NAME: cfg->name = optarg; break;
        case O_REBOOT:
            if (!parse_long(optarg, 0, 86400, &cfg->rebootstrap_s)) usage_error("bad --rebootstrap", optarg);
            break;
        case O_TIMEOUT:
            if (!parse_long(optarg, 0, LONG_MAX / 1000, &cfg->timeout_s)) usage_error("bad --timeout", optarg);
            break;
        case O_VERBOSE: cfg->verbose = true; break;
        case O_LOOP:
            if (strcmp(optarg, "auto") == 0)
                cfg->loop_ms = LOOP_AUTO;
            else if (strcmp(optarg, "spin") == 0)
                cfg->loop_ms = LOOP_SPIN;
            else if (!parse_long(optarg, 0, 60000, &cfg->loop_ms))
                usage_error("--loop-ms wants auto, spin or 0..60000", optarg);
            break;
        case O_ACCEPT: {
            struct stat st;
            if (stat(optarg, &st) != 0 || !S_ISDIR(st.st_mode))
                usage_error("--accept-files wants an existing directory", optarg);
            cfg->accept_dir = optarg;
            break;
        }
        case O_ECHO: cfg->echo = true; break;
        case O_PROGRESS:
            if (!parse_long(optarg, 0, 3600000, &cfg->progress_ms)) usage_error("bad --progress-ms", optarg);
            break;
        case O_STAMPS: cfg->timestamps = true; break;
        case O_HELP: fputs(usage_text, stdout); exit(0);
        default: usage_error("unknown option", NULL);
        }
    }
    if (optind != argc)
        usage_error("unexpected argument", argv[optind]);
}

/* ---- libtoxcore callbacks: each turns into one event line ---- */

static void log_cb(Tox *tox, Tox_Log_Level level, const char *file, uint32_t line, const char *func,
                   const char *message, void *user_data)
{
    (void)tox;
    (void)user_data;
    static const char *names[] = {"TRACE", "DEBUG", "INFO", "WARNING", "ERROR"};
    const char *ln = (unsigned)level < 5 ? names[level] : "?";
    fprintf(stderr, "toxcore %s %s:%u %s: %s\n", ln, file, (unsigned)line, func, message);
}

static void self_connection_cb(Tox *tox, Tox_Connection status, void *ud)
{
    (void)tox;
    (void)ud;
    self_conn = status;
    emit("self_connection %s", conn_name(status));
}

static void friend_request_cb(Tox *tox, const uint8_t *pk, const uint8_t *msg, size_t len, void *ud)
{
    (void)tox;
    (void)ud;
    char hex[TOX_PUBLIC_KEY_SIZE * 2 + 1];
    char *text = escape(msg, len);
    hex_encode(pk, TOX_PUBLIC_KEY_SIZE, hex);
    emit_text("friend_request %s %s", hex, text ? text : "");
    free(text);
}

static void friend_connection_cb(Tox *tox, uint32_t fn, Tox_Connection status, void *ud)
{
    (void)tox;
    (void)ud;
    emit("friend_connection %u %s", (unsigned)fn, conn_name(status));
    if (status == TOX_CONNECTION_NONE)
        xfers_drop_friend(fn);
}

static void friend_message_cb(Tox *tox, uint32_t fn, Tox_Message_Type type, const uint8_t *msg, size_t len,
                              void *ud)
{
    (void)tox;
    (void)ud;
    char *text = escape(msg, len);
    emit_text("friend_message %u %s %s", (unsigned)fn, type == TOX_MESSAGE_TYPE_ACTION ? "action" : "normal",
         text ? text : "");
    free(text);
    if (g_cfg->echo) {
        Tox_Err_Friend_Send_Message err;
        tox_friend_send_message(tox, fn, type, msg, len, &err);
        if (err != TOX_ERR_FRIEND_SEND_MESSAGE_OK)
            emit_text("error echo Tox_Err_Friend_Send_Message=%d", (int)err);
    }
}

static void read_receipt_cb(Tox *tox, uint32_t fn, uint32_t msgid, void *ud)
{
    (void)tox;
    (void)ud;
    emit("read_receipt %u %u", (unsigned)fn, (unsigned)msgid);
}

static void friend_name_cb(Tox *tox, uint32_t fn, const uint8_t *name, size_t len, void *ud)
{
    (void)tox;
    (void)ud;
    char *text = escape(name, len);
    emit_text("friend_name %u %s", (unsigned)fn, text ? text : "");
    free(text);
}

static void friend_status_message_cb(Tox *tox, uint32_t fn, const uint8_t *msg, size_t len, void *ud)
{
    (void)tox;
    (void)ud;
    char *text = escape(msg, len);
    emit_text("friend_status_message %u %s", (unsigned)fn, text ? text : "");
    free(text);
}

static void friend_status_cb(Tox *tox, uint32_t fn, Tox_User_Status st, void *ud)
{
    (void)tox;
    (void)ud;
    emit("friend_status %u %s", (unsigned)fn,
         st == TOX_USER_STATUS_AWAY ? "away" : st == TOX_USER_STATUS_BUSY ? "busy" : "none");
}

static void friend_typing_cb(Tox *tox, uint32_t fn, bool typing, void *ud)
{
    (void)tox;
    (void)ud;
    emit("friend_typing %u %s", (unsigned)fn, typing ? "on" : "off");
}

/* ---- SHA-256 (FIPS 180-4), for file_done: libtoxcore's API has no
 * streaming hash and this program links only libtoxcore. ---- */

struct sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t n;
};

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR32(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_init(struct sha256 *s)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->len = 0;
    s->n = 0;
}

static void sha256_block(struct sha256 *s, const uint8_t *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, h;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR32(w[i - 15], 7) ^ ROR32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR32(w[i - 2], 17) ^ ROR32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
    e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR32(e, 6) ^ ROR32(e, 11) ^ ROR32(e, 25)) + ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
        uint32_t t2 = (ROR32(a, 2) ^ ROR32(a, 13) ^ ROR32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
    s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha256_update(struct sha256 *s, const uint8_t *p, size_t n)
{
    s->len += n;
    if (s->n > 0) {
        size_t take = 64 - s->n < n ? 64 - s->n : n;
        memcpy(s->buf + s->n, p, take);
        s->n += take;
        p += take;
        n -= take;
        if (s->n < 64)
            return;
        sha256_block(s, s->buf);
        s->n = 0;
    }
    for (; n >= 64; p += 64, n -= 64)
        sha256_block(s, p);
    memcpy(s->buf, p, n);
    s->n = n;
}

static void sha256_final(struct sha256 *s, uint8_t out[32])
{
    uint64_t bits = s->len * 8;
    uint8_t pad[72] = {0x80};
    size_t padlen = (s->n < 56 ? 56 : 120) - s->n;
    for (int i = 0; i < 8; i++)
        pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(s, pad, padlen + 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

/* ---- file transfers ---- */

/* One transfer in either direction. A received file is hashed as its chunks
 * arrive in order; after a seek or an out-of-order chunk the hash is
 * recomputed from the written file at the end (or reported as '-' when
 * nothing is written). */
struct xfer {
    bool used, sending;
    uint32_t fn, file;
    int fd; /* -1: receiving without --accept-files (hash only) */
    uint64_t size, bytes, hashed;
    bool rehash;
    struct sha256 sha;
    uint64_t last_progress;
};

static struct xfer xfers[MAX_XFERS];

static struct xfer *xfer_find(uint32_t fn, uint32_t file, bool sending)
{
    for (size_t i = 0; i < MAX_XFERS; i++)
        if (xfers[i].used && xfers[i].fn == fn && xfers[i].file == file && xfers[i].sending == sending)
            return &xfers[i];
    return NULL;
}

static struct xfer *xfer_new(uint32_t fn, uint32_t file, bool sending)
{
    for (size_t i = 0; i < MAX_XFERS; i++)
        if (!xfers[i].used) {
            xfers[i] = (struct xfer){.used = true, .sending = sending, .fn = fn, .file = file, .fd = -1,
                                     .last_progress = now_ms()};
            sha256_init(&xfers[i].sha);
            return &xfers[i];
        }
    return NULL;
}

static void xfer_free(struct xfer *x)
{
    if (x->fd >= 0)
        close(x->fd);
    x->used = false;
}

static bool progress_due(struct xfer *x)
{
    if (g_cfg->progress_ms <= 0)
        return false;
    uint64_t now = now_ms();
    if (now - x->last_progress < (uint64_t)g_cfg->progress_ms)
        return false;
    x->last_progress = now;
    return true;
}

static void file_chunk_request_cb(Tox *tox, uint32_t fn, uint32_t file, uint64_t pos, size_t len, void *ud)
{
    (void)ud;
    struct xfer *x = xfer_find(fn, file, true);
    if (x == NULL)
        return;
    if (len == 0) {
        emit("file_send_done %u %u", (unsigned)fn, (unsigned)file);
        xfer_free(x);
        return;
    }
    uint8_t buf[65536];
    uint8_t *data = len <= sizeof buf ? buf : malloc(len);
    if (data == NULL)
        return;
    ssize_t got = pread(x->fd, data, len, (off_t)pos);
    if (got != (ssize_t)len) {
        emit_text("error sendfile %u %u read at %llu: %s", (unsigned)fn, (unsigned)file,
                  (unsigned long long)pos, got < 0 ? strerror(errno) : "short read");
        tox_file_control(tox, fn, file, TOX_FILE_CONTROL_CANCEL, NULL);
        xfer_free(x);
    } else {
        Tox_Err_File_Send_Chunk err;
        if (!tox_file_send_chunk(tox, fn, file, pos, data, len, &err))
            emit_text("error sendfile %u %u Tox_Err_File_Send_Chunk=%d", (unsigned)fn, (unsigned)file, (int)err);
        else if (pos + len > x->bytes)
            x->bytes = pos + len;
        if (progress_due(x))
            emit("file_send_progress %u %u %llu %llu", (unsigned)fn, (unsigned)file,
                 (unsigned long long)x->bytes, (unsigned long long)x->size);
    }
    if (data != buf)
        free(data);
}

/* A file name from a friend, made safe to use inside DIR. */
static void safe_name(const uint8_t *name, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        char c = (char)name[i];
        if (c == '/' || c == '\0' || (o == 0 && c == '.'))
            c = '_';
        out[o++] = c;
    }
    out[o] = '\0';
    if (o == 0)
        snprintf(out, cap, "file");
}

static bool xfer_accept(Tox *tox, struct xfer *x)
{
    Tox_Err_File_Control err;
    if (!tox_file_control(tox, x->fn, x->file, TOX_FILE_CONTROL_RESUME, &err)) {
        emit_text("error file_recv %u %u Tox_Err_File_Control=%d", (unsigned)x->fn, (unsigned)x->file, (int)err);
        return false;
    }
    return true;
}

static void file_recv_cb(Tox *tox, uint32_t fn, uint32_t file, uint32_t kind, uint64_t size, const uint8_t *name,
                         size_t name_len, void *ud)
{
    (void)ud;
    (void)kind;
    char *text = escape(name, name_len);
    emit_text("file_recv %u %u %llu %s", (unsigned)fn, (unsigned)file, (unsigned long long)size, text ? text : "");
    free(text);
    struct xfer *x = xfer_new(fn, file, false);
    if (x == NULL) {
        emit_text("error file_recv too many transfers");
        tox_file_control(tox, fn, file, TOX_FILE_CONTROL_CANCEL, NULL);
        return;
    }
    x->size = size;
    if (g_cfg->accept_dir == NULL)
        return; /* paused until a file_control command */
    char fname[TOX_MAX_FILENAME_LENGTH + 1], path[PATH_MAX];
    safe_name(name, name_len, fname, sizeof fname);
    if (snprintf(path, sizeof path, "%s/%s", g_cfg->accept_dir, fname) >= (int)sizeof path ||
        (x->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        emit_text("error file_recv %u %u cannot write %s: %s", (unsigned)fn, (unsigned)file, path, strerror(errno));
        tox_file_control(tox, fn, file, TOX_FILE_CONTROL_CANCEL, NULL);
        xfer_free(x);
        return;
    }
    if (!xfer_accept(tox, x))
        xfer_free(x);
}

static void file_recv_chunk_cb(Tox *tox, uint32_t fn, uint32_t file, uint64_t pos, const uint8_t *data, size_t len,
                               void *ud)
{
    (void)tox;
    (void)ud;
    struct xfer *x = xfer_find(fn, file, false);
    if (x == NULL)
        return;
    if (len == 0) {
        uint8_t digest[32];
        char hex[65] = "-";
        if (x->rehash && x->fd >= 0) {
            /* Chunks came out of order (or after a seek): hash the file. */
            uint8_t buf[65536];
            ssize_t n;
            off_t off = 0;
            sha256_init(&x->sha);
            while ((n = pread(x->fd, buf, sizeof buf, off)) > 0) {
                sha256_update(&x->sha, buf, (size_t)n);
                off += n;
            }
            x->rehash = false;
        }
        if (!x->rehash) {
            sha256_final(&x->sha, digest);
            hex_encode(digest, 32, hex);
        }
        emit("file_done %u %u %llu %s", (unsigned)fn, (unsigned)file, (unsigned long long)x->bytes, hex);
        xfer_free(x);
        return;
    }
    if (x->fd >= 0 && pwrite(x->fd, data, len, (off_t)pos) != (ssize_t)len) {
        emit_text("error file_recv %u %u write: %s", (unsigned)fn, (unsigned)file, strerror(errno));
        tox_file_control(tox, fn, file, TOX_FILE_CONTROL_CANCEL, NULL);
        xfer_free(x);
        return;
    }
    x->bytes += len;
    if (!x->rehash && pos == x->hashed) {
        sha256_update(&x->sha, data, len);
        x->hashed += len;
    } else {
        x->rehash = true;
    }
    if (progress_due(x))
        emit("file_recv_progress %u %u %llu %llu", (unsigned)fn, (unsigned)file, (unsigned long long)x->bytes,
             (unsigned long long)x->size);
}

static const char *control_name(Tox_File_Control c)
{
    switch (c) {
    case TOX_FILE_CONTROL_RESUME: return "resume";
    case TOX_FILE_CONTROL_PAUSE: return "pause";
    default: return "cancel";
    }
}

static void file_recv_control_cb(Tox *tox, uint32_t fn, uint32_t file, Tox_File_Control control, void *ud)
{
    (void)tox;
    (void)ud;
    emit("file_recv_control %u %u %s", (unsigned)fn, (unsigned)file, control_name(control));
    if (control == TOX_FILE_CONTROL_CANCEL) {
        struct xfer *x;
        if ((x = xfer_find(fn, file, true)) != NULL)
            xfer_free(x);
        if ((x = xfer_find(fn, file, false)) != NULL)
            xfer_free(x);
    }
}

/* toxcore drops a friend's transfers when the friend goes offline. */
static void xfers_drop_friend(uint32_t fn)
{
    for (size_t i = 0; i < MAX_XFERS; i++)
        if (xfers[i].used && xfers[i].fn == fn) {
            emit("file_broken %u %u", (unsigned)fn, (unsigned)xfers[i].file);
            xfer_free(&xfers[i]);
        }
}

/* ---- custom packets and the bulk (flood) protocol ---- */

struct bulk_rx {
    uint32_t fn;
    uint64_t bytes, packets, last_progress;
    bool active;
};

static struct bulk_rx bulk_rx[MAX_NODES];

static struct bulk_rx *bulk_for(uint32_t fn)
{
    struct bulk_rx *free_slot = NULL;
    for (size_t i = 0; i < MAX_NODES; i++) {
        if (bulk_rx[i].active && bulk_rx[i].fn == fn)
            return &bulk_rx[i];
        if (!bulk_rx[i].active && free_slot == NULL)
            free_slot = &bulk_rx[i];
    }
    if (free_slot != NULL)
        *free_slot = (struct bulk_rx){.fn = fn, .active = true, .last_progress = now_ms()};
    return free_slot;
}

static void emit_custom(const char *what, uint32_t fn, const uint8_t *data, size_t len)
{
    char hex[TOX_MAX_CUSTOM_PACKET_SIZE * 2 + 1];
    if (len > TOX_MAX_CUSTOM_PACKET_SIZE)
        len = TOX_MAX_CUSTOM_PACKET_SIZE;
    hex_encode(data, len, hex);
    emit("%s %u %s", what, (unsigned)fn, hex);
}

static void lossless_cb(Tox *tox, uint32_t fn, const uint8_t *data, size_t len, void *ud)
{
    (void)tox;
    (void)ud;
    if (len > 0 && (data[0] == BULK_ID || data[0] == BULK_END_ID)) {
        struct bulk_rx *b = bulk_for(fn);
        if (b == NULL)
            return;
        if (data[0] == BULK_END_ID) {
            emit("bulk_done %u %llu %llu", (unsigned)fn, (unsigned long long)b->bytes,
                 (unsigned long long)b->packets);
            b->active = false;
            return;
        }
        b->bytes += len;
        b->packets++;
        if (g_cfg->progress_ms > 0) {
            uint64_t now = now_ms();
            if (now - b->last_progress >= (uint64_t)g_cfg->progress_ms) {
                b->last_progress = now;
                emit("bulk_progress %u %llu %llu", (unsigned)fn, (unsigned long long)b->bytes,
                     (unsigned long long)b->packets);
            }
        }
        return;
    }
    emit_custom("custom_lossless", fn, data, len);
}

static void lossy_cb(Tox *tox, uint32_t fn, const uint8_t *data, size_t len, void *ud)
{
    (void)tox;
    (void)ud;
    emit_custom("custom_lossy", fn, data, len);
}

/* Floods being sent, one per friend at most. */
struct flood {
    bool active;
    uint32_t fn;
    uint64_t left, bytes, packets;
    size_t size;
};

static struct flood floods[MAX_NODES];

/* Hands toxcore as many flood packets as it takes now (until its send
 * queue is full); called after each tox_iterate and right after the flood
 * command. */
static void flood_pump(Tox *tox)
{
    static uint8_t data[TOX_MAX_CUSTOM_PACKET_SIZE];
    if (data[0] != BULK_ID) {
        data[0] = BULK_ID;
        for (size_t j = 1; j < sizeof data; j++)
            data[j] = (uint8_t)(j * 7);
    }
    for (size_t i = 0; i < MAX_NODES; i++) {
        struct flood *f = &floods[i];
        while (f->active) {
            uint8_t end[64];
            const uint8_t *pkt = data;
            size_t len;
            Tox_Err_Friend_Custom_Packet err;
            if (f->left > 0) {
                len = f->left < f->size ? (size_t)f->left : f->size;
            } else {
                end[0] = BULK_END_ID;
                len = 1 + (size_t)snprintf((char *)end + 1, sizeof end - 1, "%llu %llu",
                                           (unsigned long long)f->bytes, (unsigned long long)f->packets);
                pkt = end;
            }
            if (!tox_friend_send_lossless_packet(tox, f->fn, pkt, len, &err)) {
                if (err != TOX_ERR_FRIEND_CUSTOM_PACKET_SENDQ) {
                    emit_text("error flood %u Tox_Err_Friend_Custom_Packet=%d after %llu bytes", (unsigned)f->fn,
                              (int)err, (unsigned long long)f->bytes);
                    f->active = false;
                }
                break; /* queue full: more after the next tox_iterate */
            }
            if (pkt == end) {
                f->active = false;
                emit("flood_queued %u %llu %llu", (unsigned)f->fn, (unsigned long long)f->bytes,
                     (unsigned long long)f->packets);
                break;
            }
            f->left -= len;
            f->bytes += len;
            f->packets++;
        }
    }
}

static bool flooding(void)
{
    for (size_t i = 0; i < MAX_NODES; i++)
        if (floods[i].active)
            return true;
    return false;
}

/* ---- savedata ---- */

/* Returns a malloc'd buffer, NULL with *len == 0 if the file does not
 * exist, or exits on a read error (a test must not silently get a fresh
 * identity). */
static uint8_t *load_file(const char *path, size_t *len)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (errno == ENOENT)
            return NULL;
        fprintf(stderr, "toxcore_peer: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    uint8_t *buf = NULL;
    size_t cap = 0, n;
    do {
        if (*len == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *nb = realloc(buf, cap);
            if (nb == NULL) { fprintf(stderr, "toxcore_peer: out of memory\n"); exit(1); }
            buf = nb;
        }
        n = fread(buf + *len, 1, cap - *len, f);
        *len += n;
    } while (n > 0);
    if (ferror(f)) {
        fprintf(stderr, "toxcore_peer: %s: read error\n", path);
        exit(1);
    }
    fclose(f);
    return buf;
}

/* Write to FILE.tmp then rename, so a kill mid-write never leaves a
 * truncated save behind. */
static bool save_file(const Tox *tox, const char *path)
{
    size_t len = tox_get_savedata_size(tox);
    uint8_t *buf = malloc(len ? len : 1);
    char tmp[PATH_MAX];
    bool ok = false;
    if (buf == NULL || snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        goto out;
    tox_get_savedata(tox, buf);
    FILE *f = fopen(tmp, "wb");
    if (f == NULL)
        goto out;
    ok = fwrite(buf, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    ok = ok && rename(tmp, path) == 0;
out:
    free(buf);
    if (ok)
        emit("saved %s", path);
    else
        emit_text("error save %s", strerror(errno));
    return ok;
}

/* ---- commands ---- */

enum cmd_result { CMD_CONTINUE, CMD_QUIT };

/* Splits off the next space-separated word; *rest points after it. */
static char *next_word(char **rest)
{
    char *s = *rest;
    while (*s == ' ')
        s++;
    if (*s == '\0')
        return NULL;
    char *w = s;
    while (*s && *s != ' ')
        s++;
    if (*s)
        *s++ = '\0';
    *rest = s;
    return w;
}

static bool parse_friend(const char *s, uint32_t *fn)
{
    long v;
    if (s == NULL || !parse_long(s, 0, UINT32_MAX, &v))
        return false;
    *fn = (uint32_t)v;
    return true;
}

static void emit_friend_added(uint32_t fn, const uint8_t *pk)
{
    char hex[TOX_PUBLIC_KEY_SIZE * 2 + 1];
    hex_encode(pk, TOX_PUBLIC_KEY_SIZE, hex);
    emit("friend_added %u %s", (unsigned)fn, hex);
}

static enum cmd_result run_command(Tox *tox, const struct config *cfg, char *line)
{
    char *rest = line;
    char *cmd = next_word(&rest);
    if (cmd == NULL)
        return CMD_CONTINUE; /* blank line */
    /* `rest` now starts at the argument(s); the text argument is taken
     * verbatim after exactly one separating space. */

    if (strcmp(cmd, "quit") == 0)
        return CMD_QUIT;

    if (strcmp(cmd, "save") == 0) {
        if (cfg->savedata == NULL)
            emit_text("error save no --savedata given");
        else
            save_file(tox, cfg->savedata);
        return CMD_CONTINUE;
    }

    if (strcmp(cmd, "add") == 0) {
        uint8_t addr[TOX_ADDRESS_SIZE];
        char *id = next_word(&rest);
        if (id == NULL || !hex_decode(id, addr, sizeof addr)) {
            emit_text("error add bad Tox ID (want %d hex digits)", (int)TOX_ADDRESS_SIZE * 2);
            return CMD_CONTINUE;
        }
        size_t mlen = unescape(rest);
        Tox_Err_Friend_Add err;
        uint32_t fn = tox_friend_add(tox, addr, (const uint8_t *)rest, mlen, &err);
        if (err != TOX_ERR_FRIEND_ADD_OK)
            emit_text("error add Tox_Err_Friend_Add=%d", (int)err);
        else
            emit_friend_added(fn, addr);
        return CMD_CONTINUE;
    }

    if (strcmp(cmd, "accept") == 0) {
        uint8_t pk[TOX_PUBLIC_KEY_SIZE];
        char *hex = next_word(&rest);
        if (hex == NULL || !hex_decode(hex, pk, sizeof pk)) {
            emit_text("error accept bad public key (want %d hex digits)", TOX_PUBLIC_KEY_SIZE * 2);
            return CMD_CONTINUE;
        }
        Tox_Err_Friend_Add err;
        uint32_t fn = tox_friend_add_norequest(tox, pk, &err);
        if (err != TOX_ERR_FRIEND_ADD_OK)
            emit_text("error accept Tox_Err_Friend_Add=%d", (int)err);
        else
            emit_friend_added(fn, pk);
        return CMD_CONTINUE;
    }

    if (strcmp(cmd, "msg") == 0 || strcmp(cmd, "action") == 0) {
        uint32_t fn;
        if (!parse_friend(next_word(&rest), &fn)) {
            emit_text("error %s bad friend number", cmd);
            return CMD_CONTINUE;
        }
        size_t mlen = unescape(rest);
        Tox_Message_Type type = cmd[0] == 'a' ? TOX_MESSAGE_TYPE_ACTION : TOX_MESSAGE_TYPE_NORMAL;
        Tox_Err_Friend_Send_Message err;
        uint32_t id = tox_friend_send_message(tox, fn, type, (const uint8_t *)rest, mlen, &err);
        if (err != TOX_ERR_FRIEND_SEND_MESSAGE_OK)
            emit_text("error %s Tox_Err_Friend_Send_Message=%d", cmd, (int)err);
        else
            emit("sent %u %u", (unsigned)fn, (unsigned)id);
        return CMD_CONTINUE;
    }

    if (strcmp(cmd, "name") == 0 || strcmp(cmd, "status") == 0) {
        size_t len = unescape(rest);
        Tox_Err_Set_Info err;
        if (cmd[0] == 'n')
            tox_self_set_name(tox, (const uint8_t *)rest, len, &err);
        else
            tox_self_set_status_message(tox, (const uint8_t *)rest, len, &err);
        if (err != TOX_ERR_SET_INFO_OK)
            emit_text("error %s Tox_Err_Set_Info=%d", cmd, (int)err);
        else
            emit("ok %s", cmd);
        return CMD_CONTINUE;
    }

    if (strcmp(cmd, "nop") == 0) {
        emit("ok nop");
        return CMD_CONTINUE;
    }

    if (strcmp(cmd, "userstatus") == 0) {
        char *w = next_word(&rest);
        Tox_User_Status st;
        if (w != NULL && (strcmp(w, "0") == 0 || strcmp(w, "none") == 0))
            st = TOX_USER_STATUS_NONE;
        else if (w != NULL && (strcmp(w, "1") == 0 || strcmp(w, "away") == 0))
            st = TOX_USER_STATUS_AWAY;
        else if (w != NULL && (strcmp(w, "2") == 0 || strcmp(w, "busy") == 0))
            st = TOX_USER_STATUS_BUSY;
        else {
            emit_text("error userstatus want 0|1|2 (none|away|busy)");
            return CMD_CONTINUE;
        }
        tox_self_set_status(tox, st);
        emit("ok userstatus");
        return CMD_CONTINUE;
    }

    if (strcmp(cmd, "typing") == 0) {
        uint32_t fn;
        bool on;
        char *w;
        if (!parse_friend(next_word(&rest), &fn) || (w = next_word(&rest)) == NULL || !parse_onoff(w, &on)) {
            emit_text("error typing want FRIEND_NUM on|off");
            return CMD_CONTINUE;
        }
        Tox_Err_Set_Typing err;
        if (!tox_self_set_typing(tox, fn, on, &err))
            emit_text("error typing Tox_Err_Set_Typing=%d", (int)err);
        else
            emit("ok typing");
        return CMD_CONTINUE;
    }

    if (strcmp(cmd, "lossless") == 0 || strcmp(cmd, "lossy") == 0) {
        uint32_t fn;
        uint8_t pkt[TOX_MAX_CUSTOM_PACKET_SIZE + 1];
        char *hex;
        if (!parse_friend(next_word(&rest), &fn) || (hex = next_word(&rest)) == NULL || strlen(hex) % 2 != 0 ||
            strlen(hex) / 2 > sizeof pkt || !hex_decode(hex, pkt, strlen(hex) / 2)) {
            emit_text("error %s want FRIEND_NUM HEX (at most %d bytes)", cmd, TOX_MAX_CUSTOM_PACKET_SIZE + 1);
            return CMD_CONTINUE;
        }
        Tox_Err_Friend_Custom_Packet err;
        bool ok = cmd[5] == '\0' ? tox_friend_send_lossy_packet(tox, fn, pkt, strlen(hex) / 2, &err)
                                 : tox_friend_send_lossless_packet(tox, fn, pkt, strlen(hex) / 2, &err);
        if (!ok)
            emit_text("error %s Tox_Err_Friend_Custom_Packet=%d", cmd, (int)err);
        else
            emit("ok %s", cmd);
        return CMD_CONTINUE;
    }

    if (strcmp(cmd, "flood") == 0) {
        uint32_t fn;
        long long bytes;
        long size = TOX_MAX_CUSTOM_PACKET_SIZE;
        char *w = NULL, *end;
        if (!parse_friend(next_word(&rest), &fn) || (w = next_word(&rest)) == NULL ||
            (errno = 0, bytes = strtoll(w, &end, 10), errno != 0 || *end != '\0' || bytes < 0) ||
            ((w = next_word(&rest)) != NULL && !parse_long(w, 2, TOX_MAX_CUSTOM_PACKET_SIZE, &size))) {
            emit_text("error flood want FRIEND_NUM BYTES [SIZE 2..%d]", TOX_MAX_CUSTOM_PACKET_SIZE);
            return CMD_CONTINUE;
        }
        struct flood *f = NULL;
        for (size_t i = 0; i < MAX_NODES && f == NULL; i++)
            if (floods[i].active && floods[i].fn == fn)
                f = &floods[i];
        if (f != NULL) {
            emit_text("error flood %u already flooding", (unsigned)fn);
            return CMD_CONTINUE;
        }
        for (size_t i = 0; i < MAX_NODES && f == NULL; i++)
            if (!floods[i].active)
                f = &floods[i];
        if (f == NULL) {
            emit_text("error flood too many floods");
            return CMD_CONTINUE;
        }
        *f = (struct flood){.active = true, .fn = fn, .left = (uint64_t)bytes, .size = (size_t)size};
        flood_pump(tox);
        return CMD_CONTINUE;
    }

    if (strcmp(cmd, "sendfile") == 0) {
        uint32_t fn;
        long kind = TOX_FILE_KIND_DATA;
        char *path, *w;
        if (!parse_friend(next_word(&rest), &fn) || (path = next_word(&rest)) == NULL ||
            ((w = next_word(&rest)) != NULL && !parse_long(w, 0, UINT32_MAX, &kind))) {
            emit_text("error sendfile want FRIEND_NUM PATH [KIND]");
            return CMD_CONTINUE;
        }
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            emit_text("error sendfile %s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return CMD_CONTINUE;
        }
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        Tox_Err_File_Send err;
        uint32_t file = tox_file_send(tox, fn, (uint32_t)kind, (uint64_t)st.st_size, NULL, (const uint8_t *)base,
                                      strlen(base), &err);
        struct xfer *x = NULL;
        if (err != TOX_ERR_FILE_SEND_OK) {
            emit_text("error sendfile Tox_Err_File_Send=%d", (int)err);
        } else if ((x = xfer_new(fn, file, true)) == NULL) {
            emit_text("error sendfile too many transfers");
            tox_file_control(tox, fn, file, TOX_FILE_CONTROL_CANCEL, NULL);
        }
        if (x == NULL) {
            close(fd);
            return CMD_CONTINUE;
        }
        x->fd = fd;
        x->size = (uint64_t)st.st_size;
        char *text = escape((const uint8_t *)base, strlen(base));
        emit_text("file_send %u %u %llu %s", (unsigned)fn, (unsigned)file, (unsigned long long)x->size,
                  text ? text : "");
        free(text);
        return CMD_CONTINUE;
    }

    if (strcmp(cmd, "file_control") == 0 || strcmp(cmd, "seek") == 0) {
        uint32_t fn, file;
        char *w;
        if (!parse_friend(next_word(&rest), &fn) || !parse_friend(next_word(&rest), &file) ||
            (w = next_word(&rest)) == NULL) {
            emit_text("error %s want FRIEND_NUM FILE_NUM %s", cmd,
                      cmd[0] == 's' ? "POSITION" : "accept|resume|pause|cancel");
            return CMD_CONTINUE;
        }
        if (cmd[0] == 's') {
            char *end;
            errno = 0;
            unsigned long long pos = strtoull(w, &end, 10);
            Tox_Err_File_Seek err;
            if (errno != 0 || *end != '\0')
                emit_text("error seek bad position");
            else if (!tox_file_seek(tox, fn, file, pos, &err))
                emit_text("error seek Tox_Err_File_Seek=%d", (int)err);
            else
                emit("ok seek");
            return CMD_CONTINUE;
        }
        Tox_File_Control c;
        if (strcmp(w, "accept") == 0 || strcmp(w, "resume") == 0)
            c = TOX_FILE_CONTROL_RESUME;
        else if (strcmp(w, "pause") == 0)
            c = TOX_FILE_CONTROL_PAUSE;
        else if (strcmp(w, "cancel") == 0)
            c = TOX_FILE_CONTROL_CANCEL;
        else {
            emit_text("error file_control want accept|resume|pause|cancel");
            return CMD_CONTINUE;
        }
        Tox_Err_File_Control err;
        if (!tox_file_control(tox, fn, file, c, &err)) {
            emit_text("error file_control Tox_Err_File_Control=%d", (int)err);
            return CMD_CONTINUE;
        }
        if (c == TOX_FILE_CONTROL_CANCEL) {
            struct xfer *x;
            if ((x = xfer_find(fn, file, true)) != NULL)
                xfer_free(x);
            if ((x = xfer_find(fn, file, false)) != NULL)
                xfer_free(x);
        }
        emit("ok file_control");
        return CMD_CONTINUE;
    }

    char *text = escape((const uint8_t *)cmd, strlen(cmd));
    emit_text("error command unknown: %s", text ? text : "?");
    free(text);
    return CMD_CONTINUE;
}

/* Line assembly for stdin. Reads whatever is available (poll said so) and
 * runs each complete line; an overlong line is reported and skipped. */
struct linebuf {
    char buf[LINE_MAX_BYTES];
    size_t len;
    bool discarding;
};

/* Returns -1 on EOF/error (stop polling stdin), 1 if quit was requested. */
static int read_commands(Tox *tox, const struct config *cfg, struct linebuf *lb)
{
    char chunk[4096];
    ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
    if (n < 0)
        return (errno == EINTR || errno == EAGAIN) ? 0 : -1;
    if (n == 0)
        return -1;
    for (ssize_t i = 0; i < n; i++) {
        char c = chunk[i];
        if (c == '\n') {
            if (lb->discarding) {
                emit_text("error command line longer than %d bytes", LINE_MAX_BYTES - 1);
            } else {
                lb->buf[lb->len] = '\0';
                if (lb->len > 0 && lb->buf[lb->len - 1] == '\r')
                    lb->buf[lb->len - 1] = '\0';
                if (run_command(tox, cfg, lb->buf) == CMD_QUIT)
                    return 1;
            }
            lb->len = 0;
            lb->discarding = false;
        } else if (!lb->discarding) {
            if (lb->len + 1 >= sizeof lb->buf)
                lb->discarding = true;
            else
                lb->buf[lb->len++] = c;
        }
    }
    return 0;
}

static void bootstrap_all(Tox *tox, const struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_bootstrap; i++) {
        const struct node_arg *n = &cfg->bootstrap[i];
        Tox_Err_Bootstrap err;
        if (!tox_bootstrap(tox, n->host, n->port, n->key, &err))
            emit_text("error bootstrap %s:%u Tox_Err_Bootstrap=%d", n->host, (unsigned)n->port, (int)err);
    }
}

static Tox *create_tox(const struct config *cfg)
{
    Tox_Err_Options_New oerr;
    struct Tox_Options *o = tox_options_new(&oerr);
    if (o == NULL) {
        fprintf(stderr, "toxcore_peer: tox_options_new failed (%d)\n", (int)oerr);
        exit(1);
    }
    tox_options_set_udp_enabled(o, cfg->udp);
    tox_options_set_ipv6_enabled(o, cfg->ipv6);
    tox_options_set_local_discovery_enabled(o, cfg->local_discovery);
    tox_options_set_tcp_port(o, (uint16_t)cfg->tcp_port);
    if (cfg->port > 0) {
        tox_options_set_start_port(o, (uint16_t)cfg->port);
        tox_options_set_end_port(o, (uint16_t)cfg->port);
    }
    if (cfg->verbose)
        tox_options_set_log_callback(o, log_cb);

    size_t slen = 0;
    uint8_t *sdata = cfg->savedata ? load_file(cfg->savedata, &slen) : NULL;
    if (sdata != NULL) {
        tox_options_set_savedata_type(o, TOX_SAVEDATA_TYPE_TOX_SAVE);
        tox_options_set_savedata_data(o, sdata, slen);
    }

    Tox_Err_New err;
    Tox *tox = tox_new(o, &err);
    tox_options_free(o);
    free(sdata);
    /* A partially loaded save still returns an instance; refuse it anyway,
     * since a test relying on a saved identity would be misled. */
    if (tox == NULL || err != TOX_ERR_NEW_OK) {
        emit_text("error tox_new Tox_Err_New=%d", (int)err);
        if (tox != NULL)
            tox_kill(tox);
        exit(1);
    }
    return tox;
}

int main(int argc, char **argv)
{
    g_start_ms = now_ms();
    struct config cfg;
    parse_args(argc, argv, &cfg);
    g_cfg = &cfg;
    g_timestamps = cfg.timestamps;

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed stdout shows up as a write error instead */

    Tox *tox = create_tox(&cfg);

    tox_callback_self_connection_status(tox, self_connection_cb);
    tox_callback_friend_request(tox, friend_request_cb);
    tox_callback_friend_connection_status(tox, friend_connection_cb);
    tox_callback_friend_message(tox, friend_message_cb);
    tox_callback_friend_read_receipt(tox, read_receipt_cb);
    tox_callback_friend_name(tox, friend_name_cb);
    tox_callback_friend_status_message(tox, friend_status_message_cb);
    tox_callback_friend_status(tox, friend_status_cb);
    tox_callback_friend_typing(tox, friend_typing_cb);
    tox_callback_friend_lossless_packet(tox, lossless_cb);
    tox_callback_friend_lossy_packet(tox, lossy_cb);
    tox_callback_file_chunk_request(tox, file_chunk_request_cb);
    tox_callback_file_recv(tox, file_recv_cb);
    tox_callback_file_recv_chunk(tox, file_recv_chunk_cb);
    tox_callback_file_recv_control(tox, file_recv_control_cb);

    if (cfg.name != NULL) {
        Tox_Err_Set_Info err;
        if (!tox_self_set_name(tox, (const uint8_t *)cfg.name, strlen(cfg.name), &err))
            emit_text("error name Tox_Err_Set_Info=%d", (int)err);
    }
    for (size_t i = 0; i < cfg.n_relay; i++) {
        const struct node_arg *n = &cfg.relay[i];
        Tox_Err_Bootstrap err;
        if (!tox_add_tcp_relay(tox, n->host, n->port, n->key, &err))
            emit_text("error tcp_relay %s:%u Tox_Err_Bootstrap=%d", n->host, (unsigned)n->port, (int)err);
    }
    bootstrap_all(tox, &cfg);

    uint8_t addr[TOX_ADDRESS_SIZE], dht[TOX_PUBLIC_KEY_SIZE];
    char addr_hex[TOX_ADDRESS_SIZE * 2 + 1], dht_hex[TOX_PUBLIC_KEY_SIZE * 2 + 1];
    tox_self_get_address(tox, addr);
    tox_self_get_dht_id(tox, dht);
    hex_encode(addr, sizeof addr, addr_hex);
    hex_encode(dht, sizeof dht, dht_hex);
    Tox_Err_Get_Port perr;
    uint16_t udp_port = tox_self_get_udp_port(tox, &perr);
    emit("ready %s %s %u", addr_hex, dht_hex, perr == TOX_ERR_GET_PORT_OK ? (unsigned)udp_port : 0u);

    const uint64_t start = now_ms();
    const uint64_t deadline = cfg.timeout_s > 0 ? start + (uint64_t)cfg.timeout_s * 1000u : UINT64_MAX;
    uint64_t next_rebootstrap = start + (uint64_t)cfg.rebootstrap_s * 1000u;
    struct linebuf lb = {.len = 0};
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    const char *why = "quit";
    int status = 0;

    for (;;) {
        tox_iterate(tox, NULL);
        if (flooding())
            flood_pump(tox);
        if (stdout_broken) { why = "stdout"; status = 1; break; }
        if (got_signal) { why = "signal"; break; }
        uint64_t now = now_ms();
        if (now >= deadline) { why = "timeout"; status = EXIT_TIMEOUT; break; }
        if (cfg.rebootstrap_s > 0 && self_conn == TOX_CONNECTION_NONE && now >= next_rebootstrap) {
            bootstrap_all(tox, &cfg);
            next_rebootstrap = now + (uint64_t)cfg.rebootstrap_s * 1000u;
        }

        /* Sleep until libtoxcore wants to run again (--loop-ms auto), a
         * fixed time, or not at all (spin), waking early for a command or a
         * signal (poll returns EINTR). */
        uint64_t wait = cfg.loop_ms == LOOP_AUTO ? tox_iteration_interval(tox) : (uint64_t)cfg.loop_ms;
        if (deadline - now < wait)
            wait = deadline - now;
        int r = poll(&pfd, 1, (int)wait);
        if (r > 0 && pfd.fd >= 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
            int rc = read_commands(tox, &cfg, &lb);
            if (rc > 0)
                break; /* quit */
            if (rc < 0)
                pfd.fd = -1; /* EOF: keep running, stop watching stdin */
        }
    }

    if (cfg.savedata != NULL)
        save_file(tox, cfg.savedata);
    emit("exit %s", why);
    tox_kill(tox);
    return status;
}
