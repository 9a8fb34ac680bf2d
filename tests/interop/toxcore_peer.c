/* toxcore_peer: one c-toxcore instance driven over stdin/stdout, for interop tests.
 *
 * Uses only libtoxcore's public API (tox/tox.h). Test scripts start it in
 * the background, read its event lines from a log file, and feed it
 * commands on stdin. Run with --help for the line protocol.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
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
#include <time.h>
#include <unistd.h>

#include <tox/tox.h>

#define EXIT_USAGE 2
#define EXIT_TIMEOUT 3
#define MAX_NODES 32
#define LINE_MAX_BYTES 16384 /* escaped text may be up to 4x a 1372-byte message */

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
    "  friend_status FRIEND_NUM none|away|busy\n"
    "  sent FRIEND_NUM MSGID                    (after msg/action)\n"
    "  read_receipt FRIEND_NUM MSGID\n"
    "  ok COMMAND                               (after name/status)\n"
    "  saved FILE\n"
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
    bool udp, local_discovery, ipv6, verbose;
    const char *savedata, *name;
    long timeout_s, rebootstrap_s;
};

static volatile sig_atomic_t got_signal;
static bool stdout_broken;
static Tox_Connection self_conn = TOX_CONNECTION_NONE;

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

/* Every event line goes through here so each is flushed as a whole; a test
 * script tailing the log must never see half a line. */
static void emit(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    if (fflush(stdout) != 0)
        stdout_broken = true; /* reader went away: nobody to report to */
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
           O_TIMEOUT, O_VERBOSE, O_HELP };
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
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    long v;
    int c;

    *cfg = (struct config){.port = -1, .udp = true, .timeout_s = 120};
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
    emit("friend_request %s %s", hex, text ? text : "");
    free(text);
}

static void friend_connection_cb(Tox *tox, uint32_t fn, Tox_Connection status, void *ud)
{
    (void)tox;
    (void)ud;
    emit("friend_connection %u %s", (unsigned)fn, conn_name(status));
}

static void friend_message_cb(Tox *tox, uint32_t fn, Tox_Message_Type type, const uint8_t *msg, size_t len,
                              void *ud)
{
    (void)tox;
    (void)ud;
    char *text = escape(msg, len);
    emit("friend_message %u %s %s", (unsigned)fn, type == TOX_MESSAGE_TYPE_ACTION ? "action" : "normal",
         text ? text : "");
    free(text);
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
    emit("friend_name %u %s", (unsigned)fn, text ? text : "");
    free(text);
}

static void friend_status_message_cb(Tox *tox, uint32_t fn, const uint8_t *msg, size_t len, void *ud)
{
    (void)tox;
    (void)ud;
    char *text = escape(msg, len);
    emit("friend_status_message %u %s", (unsigned)fn, text ? text : "");
    free(text);
}

static void friend_status_cb(Tox *tox, uint32_t fn, Tox_User_Status st, void *ud)
{
    (void)tox;
    (void)ud;
    emit("friend_status %u %s", (unsigned)fn,
         st == TOX_USER_STATUS_AWAY ? "away" : st == TOX_USER_STATUS_BUSY ? "busy" : "none");
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
        emit("error save %s", strerror(errno));
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
            emit("error save no --savedata given");
        else
            save_file(tox, cfg->savedata);
        return CMD_CONTINUE;
    }

    if (strcmp(cmd, "add") == 0) {
        uint8_t addr[TOX_ADDRESS_SIZE];
        char *id = next_word(&rest);
        if (id == NULL || !hex_decode(id, addr, sizeof addr)) {
            emit("error add bad Tox ID (want %d hex digits)", TOX_ADDRESS_SIZE * 2);
            return CMD_CONTINUE;
        }
        size_t mlen = unescape(rest);
        Tox_Err_Friend_Add err;
        uint32_t fn = tox_friend_add(tox, addr, (const uint8_t *)rest, mlen, &err);
        if (err != TOX_ERR_FRIEND_ADD_OK)
            emit("error add Tox_Err_Friend_Add=%d", (int)err);
        else
            emit_friend_added(fn, addr);
        return CMD_CONTINUE;
    }

    if (strcmp(cmd, "accept") == 0) {
        uint8_t pk[TOX_PUBLIC_KEY_SIZE];
        char *hex = next_word(&rest);
        if (hex == NULL || !hex_decode(hex, pk, sizeof pk)) {
            emit("error accept bad public key (want %d hex digits)", TOX_PUBLIC_KEY_SIZE * 2);
            return CMD_CONTINUE;
        }
        Tox_Err_Friend_Add err;
        uint32_t fn = tox_friend_add_norequest(tox, pk, &err);
        if (err != TOX_ERR_FRIEND_ADD_OK)
            emit("error accept Tox_Err_Friend_Add=%d", (int)err);
        else
            emit_friend_added(fn, pk);
        return CMD_CONTINUE;
    }

    if (strcmp(cmd, "msg") == 0 || strcmp(cmd, "action") == 0) {
        uint32_t fn;
        if (!parse_friend(next_word(&rest), &fn)) {
            emit("error %s bad friend number", cmd);
            return CMD_CONTINUE;
        }
        size_t mlen = unescape(rest);
        Tox_Message_Type type = cmd[0] == 'a' ? TOX_MESSAGE_TYPE_ACTION : TOX_MESSAGE_TYPE_NORMAL;
        Tox_Err_Friend_Send_Message err;
        uint32_t id = tox_friend_send_message(tox, fn, type, (const uint8_t *)rest, mlen, &err);
        if (err != TOX_ERR_FRIEND_SEND_MESSAGE_OK)
            emit("error %s Tox_Err_Friend_Send_Message=%d", cmd, (int)err);
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
            emit("error %s Tox_Err_Set_Info=%d", cmd, (int)err);
        else
            emit("ok %s", cmd);
        return CMD_CONTINUE;
    }

    char *text = escape((const uint8_t *)cmd, strlen(cmd));
    emit("error command unknown: %s", text ? text : "?");
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
                emit("error command line longer than %d bytes", LINE_MAX_BYTES - 1);
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
            emit("error bootstrap %s:%u Tox_Err_Bootstrap=%d", n->host, (unsigned)n->port, (int)err);
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
        emit("error tox_new Tox_Err_New=%d", (int)err);
        if (tox != NULL)
            tox_kill(tox);
        exit(1);
    }
    return tox;
}

int main(int argc, char **argv)
{
    struct config cfg;
    parse_args(argc, argv, &cfg);

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

    if (cfg.name != NULL) {
        Tox_Err_Set_Info err;
        if (!tox_self_set_name(tox, (const uint8_t *)cfg.name, strlen(cfg.name), &err))
            emit("error name Tox_Err_Set_Info=%d", (int)err);
    }
    for (size_t i = 0; i < cfg.n_relay; i++) {
        const struct node_arg *n = &cfg.relay[i];
        Tox_Err_Bootstrap err;
        if (!tox_add_tcp_relay(tox, n->host, n->port, n->key, &err))
            emit("error tcp_relay %s:%u Tox_Err_Bootstrap=%d", n->host, (unsigned)n->port, (int)err);
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
        if (stdout_broken) { why = "stdout"; status = 1; break; }
        if (got_signal) { why = "signal"; break; }
        uint64_t now = now_ms();
        if (now >= deadline) { why = "timeout"; status = EXIT_TIMEOUT; break; }
        if (cfg.rebootstrap_s > 0 && self_conn == TOX_CONNECTION_NONE && now >= next_rebootstrap) {
            bootstrap_all(tox, &cfg);
            next_rebootstrap = now + (uint64_t)cfg.rebootstrap_s * 1000u;
        }

        /* Sleep until libtoxcore wants to run again, waking early for a
         * command or a signal (poll returns EINTR). */
        uint64_t wait = tox_iteration_interval(tox);
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
