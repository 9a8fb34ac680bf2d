/*
 * onion_probe.c: poke a c-toxcore node (tox-bootstrapd) with hand-made onion
 * and announce packets over loopback UDP and report, as `key=value` lines,
 * what comes back.  Used by ctoxcore_onion_behaviour.sh to pin down how
 * c-toxcore 0.2.18 behaves as an onion relay (nodes A, B, C of a path) and
 * as an announce node (node D), so that toxwire can be checked against it.
 *
 * Written from the Tox specification and from watching the wire only.
 * Dependencies: libsodium and POSIX sockets.
 *
 *   gcc -O1 -g -Wall -o onion_probe onion_probe.c -lsodium
 *
 * Usage: onion_probe [-a ADDR] -p PORT -k KEY SUBCOMMAND [ARGS]
 *   -a ADDR   the node's address (default 127.0.0.1; ::1 works too)
 *   -p PORT   its UDP port
 *   -k KEY    its DHT public key: 64 hex digits, or @FILE for a
 *             tox-bootstrapd keys file (public key = first 32 bytes)
 *   -v        hex dumps of everything sent and received (stderr)
 *   -w MS     how long to wait for an answer that should come (default 700)
 *   -s MS     how long to wait before calling it silence (default 300)
 *
 * Subcommands (each prints key=value lines and exits 0 when everything it
 * saw matched what c-toxcore 0.2.18 was observed to do, 1 otherwise):
 *   announce      experiment 1: old announce request 0x83 / response 0x84
 *   route         experiment 2: data to route request 0x85 -> 0x86
 *   announce-new  experiment 3: the 0x87 / 0x88 announce form
 *   relay         experiment 4: 0x80..0x82 forwarding, 0x8c..0x8e returns
 *   path3         experiment 4: a real announce sent through the node
 *                 three times (A = B = C = D = node) and its answer back
 *   blob-hold TICKS MS
 *                 experiment 5: every tick (MS plus answer time) get a new
 *                 59-byte return blob from the node as A and replay all
 *                 blobs so far; prints which still work and when the
 *                 node's return-path key changed (run it under faketime)
 *   ping-age TICKS MS
 *                 experiment 6: get TICKS ping ids at once, then use one
 *                 per tick; prints is_stored (2 = still valid)
 *   Exploration aids (always exit 0): scan KIND, explore-new,
 *   sweep-extra KIND MAX WITH_PING FILL (FILL -1: counting bytes).
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ sizes */

enum {
    PK = 32,
    NONCE = 24,
    MAC = 16,
    IPP = 19,                     /* packed IP_Port inside onion layers */
    RET1 = NONCE + MAC + IPP,     /* 59: return blob after one hop */
    RET2 = NONCE + MAC + IPP + RET1,  /* 118 */
    RET3 = NONCE + MAC + IPP + RET2,  /* 177: what node D sees */
    SENDBACK = 8,
    MAXPKT = 4096,
};

/* ------------------------------------------------------------ globals */

static struct sockaddr_storage g_node;  /* the node under test */
static socklen_t g_node_len;
static int g_family = AF_INET;
static uint8_t g_node_pk[PK];
static int g_verbose;
static int g_wait_ms = 700;     /* answer expected */
static int g_silence_ms = 300;  /* answer not expected */
static int g_bad;               /* count of unexpected observations */

/* ------------------------------------------------------------ output */

static void out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* expect(COND, KEY, ...): print "KEY=ok" or "KEY=FAIL (details)". */
static void expect(int cond, const char *key, const char *fmt, ...)
{
    char buf[512] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
    }
    if (cond) {
        out("check.%s=ok%s%s", key, buf[0] ? " " : "", buf);
    } else {
        out("check.%s=FAIL%s%s", key, buf[0] ? " " : "", buf);
        g_bad++;
    }
}

static void hexstr(char *dst, const uint8_t *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = d[p[i] >> 4];
        dst[2 * i + 1] = d[p[i] & 15];
    }
    dst[2 * n] = 0;
}

static void dump(const char *what, const uint8_t *p, size_t n)
{
    if (!g_verbose)
        return;
    fprintf(stderr, "%s (%zu bytes):", what, n);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s%02x", i % 32 ? "" : "\n  ", p[i]);
    fprintf(stderr, "\n");
}

static int unhex(uint8_t *dst, const char *s, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        dst[i] = (uint8_t)v;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ sockets */

/* A UDP socket on the loopback address of the node's family, any port. */
static int udp_open(void)
{
    int fd = socket(g_family, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("socket");
        exit(2);
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (g_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        perror("bind");
        exit(2);
    }
    return fd;
}

static int sock_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void send_node(int fd, const uint8_t *p, size_t n)
{
    dump("sent", p, n);
    if (sendto(fd, p, n, 0, (struct sockaddr *)&g_node, g_node_len) != (ssize_t)n) {
        perror("sendto");
        exit(2);
    }
}

/* Wait up to MS for a datagram on any of FDS[0..NFD); returns its length
 * (and in *WHICH the index of the socket) or -1 on timeout.  Datagrams
 * that do not come from the node under test are reported and skipped. */
static int recv_any(const int *fds, int nfd, uint8_t *buf, int ms, int *which)
{
    double end = now_s() + ms / 1000.0;
    struct pollfd pf[8];
    for (;;) {
        int left = (int)((end - now_s()) * 1000);
        if (left < 0)
            return -1;
        for (int i = 0; i < nfd; i++) {
            pf[i].fd = fds[i];
            pf[i].events = POLLIN;
            pf[i].revents = 0;
        }
        int r = poll(pf, nfd, left);
        if (r <= 0)
            return -1;
        for (int i = 0; i < nfd; i++) {
            if (!(pf[i].revents & POLLIN))
                continue;
            struct sockaddr_storage from;
            socklen_t fl = sizeof from;
            ssize_t n = recvfrom(fds[i], buf, MAXPKT, 0, (struct sockaddr *)&from, &fl);
            if (n < 0)
                continue;
            dump("received", buf, (size_t)n);
            if (which)
                *which = i;
            return (int)n;
        }
    }
}

static int recv1(int fd, uint8_t *buf, int ms)
{
    return recv_any(&fd, 1, buf, ms, NULL);
}

/* Drop anything already queued (e.g. DHT pings the node sends us). */
static void drain(int fd)
{
    uint8_t buf[MAXPKT];
    while (recv1(fd, buf, 0) >= 0) {
    }
}

/* Like recv1 but ignores packets whose first byte is not KIND (the node
 * may send DHT get-nodes/pings to an address it has heard from). */
static int recv_kind(int fd, uint8_t kind, uint8_t *buf, int ms)
{
    double end = now_s() + ms / 1000.0;
    for (;;) {
        int left = (int)((end - now_s()) * 1000);
        if (left < 0)
            return -1;
        int n = recv1(fd, buf, left);
        if (n < 0)
            return -1;
        if (n > 0 && buf[0] == kind)
            return n;
        if (g_verbose)
            fprintf(stderr, "(ignored a packet of kind 0x%02x)\n", buf[0]);
    }
}

/* Packed IP_Port as used inside onion layers: family (2 = IPv4, 10 =
 * IPv6), 16 address bytes (IPv4 followed by 12 zeroes), port big endian. */
static void pack_ipport(uint8_t out19[IPP], int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    memset(out19, 0, IPP);
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        out19[0] = 2;
        memcpy(out19 + 1, &a->sin_addr, 4);
        memcpy(out19 + 17, &a->sin_port, 2);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        out19[0] = 10;
        memcpy(out19 + 1, &a->sin6_addr, 16);
        memcpy(out19 + 17, &a->sin6_port, 2);
    }
}

/* The node itself as a packed IP_Port (for paths that pass through it
 * more than once). */
static void pack_node_ipport(uint8_t out19[IPP])
{
    memset(out19, 0, IPP);
    if (g_node.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&g_node;
        out19[0] = 2;
        memcpy(out19 + 1, &a->sin_addr, 4);
        memcpy(out19 + 17, &a->sin_port, 2);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&g_node;
        out19[0] = 10;
        memcpy(out19 + 1, &a->sin6_addr, 16);
        memcpy(out19 + 17, &a->sin6_port, 2);
    }
}

/* ------------------------------------------------------------ crypto */

struct kp {
    uint8_t pk[PK], sk[32];
};

static void kp_new(struct kp *k)
{
    crypto_box_keypair(k->pk, k->sk);
}

/* Tox "box": xsalsa20-poly1305, MAC first; OUT gets N + 16 bytes. */
static void box(uint8_t *out, const uint8_t *in, size_t n, const uint8_t nonce[NONCE],
                const uint8_t their_pk[PK], const uint8_t our_sk[32])
{
    uint8_t k[crypto_box_BEFORENMBYTES];
    if (crypto_box_beforenm(k, their_pk, our_sk) != 0)
        memset(k, 0, sizeof k);  /* degenerate key: the node will drop it */
    crypto_box_easy_afternm(out, in, n, nonce, k);
}

static int unbox(uint8_t *out, const uint8_t *in, size_t n, const uint8_t nonce[NONCE],
                 const uint8_t their_pk[PK], const uint8_t our_sk[32])
{
    uint8_t k[crypto_box_BEFORENMBYTES];
    if (n < MAC)
        return -1;
    if (crypto_box_beforenm(k, their_pk, our_sk) != 0)
        return -1;
    return crypto_box_open_easy_afternm(out, in, n, nonce, k);
}

/* ------------------------------------------------------------ announce */

struct ann_req {
    uint8_t kind;                 /* 0x83 or 0x87 */
    const struct kp *sender;      /* key in the clear + encryption key */
    uint8_t ping[PK];
    uint8_t searched[PK];
    uint8_t data_pk[PK];
    uint8_t sendback[SENDBACK];
    const uint8_t *extra;         /* plaintext appended after the sendback */
    size_t extra_len;
    const uint8_t *blob;          /* fake return path appended in the clear */
    size_t blob_len;
    int trailing;                 /* >0: extra junk bytes; <0: cut bytes */
};

/* [kind][nonce][sender pk][box(ping, searched, data pk, sendback, extra)]
 * [return blob]; returns the length. */
static size_t ann_build(uint8_t *pkt, const struct ann_req *r)
{
    uint8_t plain[MAXPKT];
    size_t pl = 0;
    memcpy(plain + pl, r->ping, PK), pl += PK;
    memcpy(plain + pl, r->searched, PK), pl += PK;
    memcpy(plain + pl, r->data_pk, PK), pl += PK;
    memcpy(plain + pl, r->sendback, SENDBACK), pl += SENDBACK;
    if (r->extra_len)
        memcpy(plain + pl, r->extra, r->extra_len), pl += r->extra_len;
    size_t n = 0;
    pkt[n++] = r->kind;
    randombytes_buf(pkt + n, NONCE);
    const uint8_t *nonce = pkt + n;
    n += NONCE;
    memcpy(pkt + n, r->sender->pk, PK), n += PK;
    box(pkt + n, plain, pl, nonce, g_node_pk, r->sender->sk);
    n += pl + MAC;
    if (r->blob_len > 0) memcpy(pkt + n, r->blob, r->blob_len);
    n += r->blob_len;
    if (r->trailing > 0) {
        randombytes_buf(pkt + n, (size_t)r->trailing);
        n += (size_t)r->trailing;
    } else {
        n -= (size_t)(-r->trailing);
    }
    return n;
}

struct ann_resp {
    int got;            /* 1: a 0x8c came back */
    int total;          /* size of the whole datagram */
    int blob_ok;        /* the blob came back unchanged right after 0x8c */
    int inner_len;      /* size after 0x8c + blob */
    uint8_t kind;       /* first byte of the inner packet */
    int sendback_ok;
    int opened;         /* the box decrypted */
    int plain_len;
    uint8_t plain[MAXPKT];
};

/* Send R from FD and wait for the 0x8c answer. */
static void ann_do(int fd, const struct ann_req *r, struct ann_resp *a)
{
    uint8_t pkt[MAXPKT], buf[MAXPKT];
    size_t n = ann_build(pkt, r);
    memset(a, 0, sizeof *a);
    drain(fd);
    send_node(fd, pkt, n);
    int m = recv_kind(fd, 0x8c, buf, g_wait_ms);
    if (m < 0)
        return;
    a->got = 1;
    a->total = m;
    if ((size_t)m < 1 + r->blob_len + 1 + SENDBACK + NONCE + MAC)
        return;
    a->blob_ok = memcmp(buf + 1, r->blob, r->blob_len) == 0;
    const uint8_t *in = buf + 1 + r->blob_len;
    a->inner_len = m - 1 - (int)r->blob_len;
    a->kind = in[0];
    a->sendback_ok = memcmp(in + 1, r->sendback, SENDBACK) == 0;
    const uint8_t *nonce = in + 1 + SENDBACK;
    const uint8_t *c = nonce + NONCE;
    size_t cl = (size_t)a->inner_len - 1 - SENDBACK - NONCE;
    if (unbox(a->plain, c, cl, nonce, g_node_pk, r->sender->sk) == 0) {
        a->opened = 1;
        a->plain_len = (int)(cl - MAC);
    }
}

/* Send R and report whether anything at all came back. */
static int ann_silent(int fd, const struct ann_req *r)
{
    uint8_t pkt[MAXPKT], buf[MAXPKT];
    size_t n = ann_build(pkt, r);
    drain(fd);
    send_node(fd, pkt, n);
    return recv_kind(fd, 0x8c, buf, g_silence_ms) < 0;
}

static void ann_print(const char *tag, const struct ann_resp *a)
{
    char h[2 * PK + 1];
    out("%s.answer=%s", tag, a->got ? "yes" : "no");
    if (!a->got)
        return;
    out("%s.total=%d", tag, a->total);
    out("%s.blob_echoed=%d", tag, a->blob_ok);
    out("%s.inner_len=%d", tag, a->inner_len);
    out("%s.inner_kind=0x%02x", tag, a->kind);
    out("%s.sendback_echoed=%d", tag, a->sendback_ok);
    out("%s.opened=%d", tag, a->opened);
    if (!a->opened)
        return;
    out("%s.plain_len=%d", tag, a->plain_len);
    out("%s.is_stored=%d", tag, a->plain[0]);
    hexstr(h, a->plain + 1, PK);
    out("%s.id=%s", tag, h);
}

static void rand_blob(uint8_t *b, size_t n)
{
    randombytes_buf(b, n);
}

static void ann_init(struct ann_req *r, uint8_t kind, const struct kp *sender,
                     const uint8_t searched[PK], const uint8_t data_pk[PK],
                     const uint8_t *blob, size_t blob_len)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->sender = sender;
    memcpy(r->searched, searched, PK);
    if (data_pk)
        memcpy(r->data_pk, data_pk, PK);
    randombytes_buf(r->sendback, SENDBACK);
    r->blob = blob;
    r->blob_len = blob_len;
}

/* Count packed nodes (DHT packed node format) in P[0..N); -1 if the bytes
 * do not parse as a whole number of nodes. */
static int count_nodes(const uint8_t *p, int n, int print, const char *tag)
{
    int cnt = 0, i = 0;
    while (i < n) {
        int ipl;
        switch (p[i]) {
        case 2: case 130: ipl = 4; break;
        case 10: case 138: ipl = 16; break;
        default: return -1;
        }
        if (i + 1 + ipl + 2 + PK > n)
            return -1;
        if (print) {
            char h[2 * PK + 1], a[64];
            inet_ntop(ipl == 4 ? AF_INET : AF_INET6, p + i + 1, a, sizeof a);
            hexstr(h, p + i + 1 + ipl + 2, PK);
            out("%s.node%d=type%d %s %d %s", tag, cnt, p[i], a,
                (p[i + 1 + ipl] << 8) | p[i + 2 + ipl], h);
        }
        i += 1 + ipl + 2 + PK;
        cnt++;
    }
    return cnt;
}

/* ------------------------------------------------------------ experiment 1 */

static int cmd_announce(void)
{
    int s1 = udp_open(), s2 = udp_open();
    struct kp R, D, T, R2, X, Y;
    kp_new(&R), kp_new(&D), kp_new(&T), kp_new(&R2), kp_new(&X), kp_new(&Y);
    uint8_t blob1[RET3], blob2[RET3], big[2 * RET3];
    rand_blob(blob1, RET3), rand_blob(blob2, RET3), rand_blob(big, sizeof big);
    struct ann_req r;
    struct ann_resp a;
    uint8_t ping1[PK];

    out("probe.port=%d", sock_port(s1));
    /* a1: first contact, ping id zero, announcing R. */
    ann_init(&r, 0x83, &R, R.pk, D.pk, blob1, RET3);
    out("a1.sent=%zu", ann_build((uint8_t[MAXPKT]){0}, &r));
    ann_do(s1, &r, &a);
    ann_print("a1", &a);
    expect(a.got && a.blob_ok && a.kind == 0x84 && a.sendback_ok && a.opened,
           "a1_answer_0x8c_blob_0x84", NULL);
    if (!a.opened)
        return 1;
    int nn = count_nodes(a.plain + 1 + PK, a.plain_len - 1 - PK, 1, "a1");
    out("a1.nodes=%d", nn);
    expect(nn >= 0 && a.plain_len == 1 + PK + 39 * nn, "a1_plain_is_33_plus_39n",
           "plain_len=%d nodes=%d", a.plain_len, nn);
    expect(a.total == 1 + RET3 + 1 + SENDBACK + NONCE + MAC + a.plain_len,
           "a1_total_is_1+177+1+8+24+16+plain", "total=%d", a.total);
    expect(a.plain[0] == 0, "a1_is_stored_0", "is_stored=%d", a.plain[0]);
    memcpy(ping1, a.plain + 1, PK);

    /* a1b: ask again with ping zero: same ping id within the time slot? */
    ann_do(s1, &r, &a);
    out("a1b.same_ping_id=%d", a.opened && memcmp(a.plain + 1, ping1, PK) == 0);
    expect(a.opened && memcmp(a.plain + 1, ping1, PK) == 0, "ping_id_stable", NULL);

    /* a2: announce with the ping id, same blob. */
    memcpy(r.ping, ping1, PK);
    ann_do(s1, &r, &a);
    ann_print("a2", &a);
    expect(a.opened && a.plain[0] == 2, "a2_is_stored_2", "is_stored=%d", a.opened ? a.plain[0] : -1);
    expect(a.opened && memcmp(a.plain + 1, ping1, PK) == 0, "a2_returns_same_ping_id", NULL);

    /* a3: another key searches for R from the same address -> 1 + data pk. */
    ann_init(&r, 0x83, &T, R.pk, NULL, blob2, RET3);
    ann_do(s1, &r, &a);
    ann_print("a3", &a);
    expect(a.opened && a.plain[0] == 1, "a3_search_is_stored_1", NULL);
    expect(a.opened && memcmp(a.plain + 1, D.pk, PK) == 0, "a3_returns_data_pk", NULL);
    /* a4: the same search from another port. */
    ann_do(s2, &r, &a);
    ann_print("a4", &a);
    expect(a.opened && a.plain[0] == 1 && memcmp(a.plain + 1, D.pk, PK) == 0,
           "a4_search_other_port_is_stored_1", NULL);

    /* a5: R announces again with ping 0 but the same data pk -> 2 at once? */
    ann_init(&r, 0x83, &R, R.pk, D.pk, blob1, RET3);
    ann_do(s1, &r, &a);
    ann_print("a5", &a);
    out("a5.note=ping zero, already announced, same data pk");
    expect(a.opened && a.plain[0] == 2, "a5_reask_same_data_pk_is_stored_2", NULL);
    /* a6: ... and with a different data pk -> 0 (looks outdated). */
    struct kp D2;
    kp_new(&D2);
    ann_init(&r, 0x83, &R, R.pk, D2.pk, blob1, RET3);
    ann_do(s1, &r, &a);
    ann_print("a6", &a);
    expect(a.opened && a.plain[0] == 0, "a6_other_data_pk_is_stored_0", NULL);

    /* Ping id bound to the source address and not to the blob:
     * b1 gets a ping id for R2 on s1 with blob1, then b2 uses it on s1
     * with blob2 (stored: 2), b3 uses a fresh one from s1 on s2. */
    ann_init(&r, 0x83, &R2, R2.pk, D.pk, blob1, RET3);
    ann_do(s1, &r, &a);
    uint8_t p2[PK];
    memcpy(p2, a.plain + 1, PK);
    ann_init(&r, 0x83, &R2, R2.pk, D.pk, blob1, RET3);
    memcpy(r.ping, p2, PK);
    ann_do(s2, &r, &a);
    ann_print("b_other_port", &a);
    expect(a.opened && a.plain[0] == 0, "ping_id_from_other_port_rejected", NULL);
    out("b_other_port.same_ping_as_s1=%d", a.opened && memcmp(a.plain + 1, p2, PK) == 0);
    expect(a.opened && memcmp(a.plain + 1, p2, PK) != 0, "ping_id_depends_on_port", NULL);
    r.blob = blob2;
    ann_do(s1, &r, &a);
    ann_print("b_other_blob", &a);
    expect(a.opened && a.plain[0] == 2, "ping_id_independent_of_blob", NULL);

    /* Ping id bound to the key?  X gets one (searching X), Y uses it. */
    ann_init(&r, 0x83, &X, X.pk, D.pk, blob1, RET3);
    ann_do(s1, &r, &a);
    uint8_t px[PK];
    memcpy(px, a.plain + 1, PK);
    ann_init(&r, 0x83, &Y, Y.pk, D.pk, blob1, RET3);
    ann_do(s1, &r, &a);
    out("c.ping_same_for_other_key=%d", a.opened && memcmp(a.plain + 1, px, PK) == 0);
    memcpy(r.ping, px, PK);
    ann_do(s1, &r, &a);
    ann_print("c_other_key", &a);
    expect(a.opened && a.plain[0] == 0, "ping_id_depends_on_key", NULL);
    /* Ping id from searching key T for its own key, does it depend on the
     * searched key?  X asks for Y's key with ping 0. */
    ann_init(&r, 0x83, &X, Y.pk, D.pk, blob1, RET3);
    ann_do(s1, &r, &a);
    out("c.ping_same_for_other_searched=%d", a.opened && memcmp(a.plain + 1, px, PK) == 0);

    /* Lengths: the blob must be exactly 177 bytes, nothing after it. */
    struct { const char *name; size_t blob; int trailing; } L[] = {
        { "blob0", 0, 0 }, { "blob59", RET1, 0 }, { "blob118", RET2, 0 },
        { "blob176", RET3 - 1, 0 }, { "blob178", RET3 + 1, 0 },
        { "blob354", 2 * RET3, 0 },
    };
    for (size_t i = 0; i < sizeof L / sizeof L[0]; i++) {
        ann_init(&r, 0x83, &T, R.pk, NULL, big, L[i].blob);
        ann_do(s1, &r, &a);
        out("len.%s.answer=%s%s", L[i].name, a.got ? "yes" : "no",
            a.got && a.opened ? "" : "");
        if (a.got)
            out("len.%s.total=%d blob_echoed=%d", L[i].name, a.total, a.blob_ok);
    }
    /* Extra plaintext inside the box (the old kind with 0x87-style data). */
    uint8_t extra[64] = {1, 2, 3};
    ann_init(&r, 0x83, &T, R.pk, NULL, blob1, RET3);
    r.extra = extra, r.extra_len = 1;
    ann_do(s1, &r, &a);
    out("len.plain_plus1.answer=%s", a.got ? "yes" : "no");
    return g_bad != 0;
}

/* ------------------------------------------------------------ experiment 2 */

/* Announce KEY with data key DATA_PK from FD using BLOB as its return
 * path: ping-id round trip; returns the final is_stored (or -1). */
static int announce_self(int fd, uint8_t kind, const struct kp *key, const uint8_t data_pk[PK],
                         const uint8_t *blob, const uint8_t *extra, size_t extra_len)
{
    struct ann_req r;
    struct ann_resp a;
    ann_init(&r, kind, key, key->pk, data_pk, blob, RET3);
    r.extra = extra, r.extra_len = extra_len;
    ann_do(fd, &r, &a);
    if (!a.opened)
        return -1;
    memcpy(r.ping, a.plain + 1, PK);
    ann_do(fd, &r, &a);
    return a.opened ? a.plain[0] : -1;
}

/* The last datagram route_once saw (for telling which blob came back). */
static uint8_t g_last[MAXPKT];
static int g_last_len = -1;

/* 1, 2 or 3: which of the blobs follows the 0x8c in g_last (0: none). */
static int which_blob(const uint8_t *b1, const uint8_t *b2, const uint8_t *b3)
{
    if (g_last_len < 1 + RET3)
        return 0;
    if (!memcmp(g_last + 1, b1, RET3))
        return 1;
    if (!memcmp(g_last + 1, b2, RET3))
        return 2;
    if (b3 && !memcmp(g_last + 1, b3, RET3))
        return 3;
    return 0;
}

/* Send a data-to-route request for DEST from FROM with a PLEN-byte payload
 * and a BLOB_LEN return blob; wait on AT for the forwarded 0x8c.  Returns
 * the size of what arrived at AT (-1: nothing) and checks its layout
 * against EXPECT_BLOB (the announcer's blob). */
static int route_once(int from, int at, const uint8_t dest[PK], size_t plen, size_t blob_len,
                      const uint8_t *expect_blob, int *layout_ok, int ms)
{
    uint8_t pkt[MAXPKT + 64], buf[MAXPKT];
    size_t n = 0;
    uint8_t tmp_pk[PK];
    randombytes_buf(tmp_pk, PK);
    pkt[n++] = 0x85;
    memcpy(pkt + n, dest, PK), n += PK;
    uint8_t *tail = pkt + n;  /* nonce, temp pk, payload: forwarded as-is */
    randombytes_buf(pkt + n, NONCE), n += NONCE;
    memcpy(pkt + n, tmp_pk, PK), n += PK;
    randombytes_buf(pkt + n, plen), n += plen;
    size_t tail_len = NONCE + PK + plen;
    randombytes_buf(pkt + n, blob_len), n += blob_len;
    drain(at);
    if (from != at)
        drain(from);
    send_node(from, pkt, n);
    int m = recv_kind(at, 0x8c, buf, ms);
    g_last_len = m;
    if (m > 0)
        memcpy(g_last, buf, (size_t)m);
    if (layout_ok)
        *layout_ok = m == (int)(1 + RET3 + 1 + tail_len) && (!expect_blob || memcmp(buf + 1, expect_blob, RET3) == 0) &&
                     buf[1 + RET3] == 0x86 && memcmp(buf + 2 + RET3, tail, tail_len) == 0;
    return m;
}

/* Smallest N in [LO, HI] for which OK(N) holds (HI + 1 if none), OK
 * monotonic. */
#define BSEARCH_MIN(LO, HI, OKEXPR)                                     \
    ({ int lo_ = (LO), hi_ = (HI) + 1;                                  \
       while (lo_ < hi_) { int n = (lo_ + hi_) / 2;                     \
           if (OKEXPR) hi_ = n; else lo_ = n + 1; }                     \
       lo_; })

/* Largest N in [LO, HI] for which OK(N) holds, assuming OK(LO) holds and
 * OK is monotonic. */
#define BSEARCH_MAX(LO, HI, OKEXPR)                                     \
    ({ int lo_ = (LO), hi_ = (HI);                                      \
       while (lo_ < hi_) { int n = (lo_ + hi_ + 1) / 2;                 \
           if (OKEXPR) lo_ = n; else hi_ = n - 1; }                     \
       lo_; })

static int cmd_route(void)
{
    int s1 = udp_open(), s3 = udp_open();
    struct kp R, D;
    kp_new(&R), kp_new(&D);
    uint8_t blob1[RET3], blob2[RET3], blob3[RET3];
    rand_blob(blob1, RET3), rand_blob(blob2, RET3), rand_blob(blob3, RET3);
    int st = announce_self(s1, 0x83, &R, D.pk, blob1, NULL, 0);
    out("announced.is_stored=%d", st);
    expect(st == 2, "announced", NULL);

    int ok, m;
    m = route_once(s3, s1, R.pk, 100, RET3, blob1, &ok, g_wait_ms);
    out("r1.payload=100 r1.sent=%d r1.arrived=%d r1.layout_ok=%d", 1 + PK + NONCE + PK + 100 + RET3, m, ok);
    expect(m == 1 + RET3 + 1 + NONCE + PK + 100 && ok, "route_forwarded_0x8c_blob_0x86", "arrived=%d", m);
    uint8_t buf[MAXPKT];
    out("r1.answer_to_sender=%s", recv1(s3, buf, g_silence_ms) < 0 ? "none" : "yes");

    /* Which return path is used after a re-announce with another blob? */
    st = announce_self(s1, 0x83, &R, D.pk, blob2, NULL, 0);
    m = route_once(s3, s1, R.pk, 100, RET3, blob2, &ok, g_wait_ms);
    out("r2.reannounce_is_stored=%d", st);
    out("r2.arrived=%d", m);
    out("r2.blob_used=blob%d", which_blob(blob1, blob2, blob3));
    expect(which_blob(blob1, blob2, blob3) == 2, "route_uses_blob_of_latest_accepted_announce", NULL);
    /* A ping-id-zero request (answered is_stored 2) with blob3: stored? */
    {
        struct ann_req r;
        struct ann_resp a;
        ann_init(&r, 0x83, &R, R.pk, D.pk, blob3, RET3);
        ann_do(s1, &r, &a);
        m = route_once(s3, s1, R.pk, 100, RET3, blob3, &ok, g_wait_ms);
        out("r3.arrived=%d", m);
        out("r3.blob_used_after_ping0_request=blob%d", which_blob(blob1, blob2, blob3));
        expect(which_blob(blob1, blob2, blob3) == 2, "ping0_request_does_not_replace_blob", NULL);
    }

    /* Unknown destination: nothing anywhere. */
    struct kp U;
    kp_new(&U);
    m = route_once(s3, s1, U.pk, 100, RET3, blob2, &ok, g_silence_ms);
    out("r4.unknown_dest_arrived=%d", m);
    expect(m < 0, "route_unknown_dest_dropped", NULL);

    /* Blob lengths other than 177. */
    size_t bl[] = { 0, RET1, RET2, RET3 - 1, RET3 + 1 };
    for (size_t i = 0; i < sizeof bl / sizeof bl[0]; i++) {
        /* node D cannot tell where the payload ends and the blob begins:
         * it takes the last 177 bytes as the blob, whatever we meant. */
        m = route_once(s3, s1, R.pk, 100, bl[i], blob2, &ok, g_silence_ms);
        out("r5.blob%zu.arrived=%d", bl[i], m);
        /* forwarded iff what is left before the last 177 bytes is >= 17 */
        int fwd = 100 + (int)bl[i] - RET3 >= 17;
        expect(fwd ? m == 1 + RET3 + 1 + NONCE + PK + 100 + (int)bl[i] - RET3 : m < 0,
               "route_last_177_bytes_are_the_blob", "blob_len=%zu arrived=%d", bl[i], m);
    }

    /* Payload size limits (with the 177-byte blob). */
    int minp = BSEARCH_MIN(0, 64, route_once(s3, s1, R.pk, (size_t)n, RET3, NULL, &ok, 150) >= 0);
    int maxp = BSEARCH_MAX(minp < 0 ? 0 : minp, 3000,
                           route_once(s3, s1, R.pk, (size_t)n, RET3, NULL, &ok, 150) >= 0);
    out("route.min_payload=%d", minp);
    out("route.max_payload=%d", maxp);
    out("route.max_request_size=%d", 1 + PK + NONCE + PK + maxp + RET3);
    out("route.max_forwarded_size=%d", 1 + RET3 + 1 + NONCE + PK + maxp);
    expect(minp == 17, "route_min_payload_17", "min=%d", minp);
    expect(maxp == 1134, "route_max_request_1400", "max payload=%d", maxp);
    return g_bad != 0;
}

/* ------------------------------------------------------------ scan */

/* Print an answer in full (hex) for exploration. */
static void print_raw(const char *tag, const uint8_t *p, int n)
{
    char h[2 * MAXPKT + 1];
    if (n < 0) {
        out("%s=none", tag);
        return;
    }
    hexstr(h, p, (size_t)n);
    out("%s=len %d kind 0x%02x %s", tag, n, p[0], h);
}

/* scan KIND: announce-shaped packets of kind KIND with several amounts of
 * extra plaintext; prints answers and tries to open them. */
static int cmd_scan(const char *kindarg)
{
    uint8_t kind = (uint8_t)strtol(kindarg, NULL, 16);
    int s1 = udp_open();
    struct kp R, D;
    kp_new(&R), kp_new(&D);
    uint8_t blob[RET3], extra[2048], buf[MAXPKT], pkt[MAXPKT];
    rand_blob(blob, RET3);
    for (size_t i = 0; i < sizeof extra; i++)
        extra[i] = (uint8_t)(0xa0 + i);
    size_t ex[] = { 0, 1, 2, 16, 100 };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        struct ann_req r;
        ann_init(&r, kind, &R, R.pk, D.pk, blob, RET3);
        r.extra = extra, r.extra_len = ex[i];
        size_t n = ann_build(pkt, &r);
        drain(s1);
        send_node(s1, pkt, n);
        int m = recv1(s1, buf, g_silence_ms);
        char tag[64];
        snprintf(tag, sizeof tag, "scan.extra%zu.sent%zu", ex[i], n);
        print_raw(tag, buf, m);
    }
    return 0;
}

static void print_plain(const char *tag, const struct ann_resp *a)
{
    char h[2 * MAXPKT + 1];
    ann_print(tag, a);
    if (a->opened) {
        hexstr(h, a->plain, (size_t)a->plain_len);
        out("%s.plain=%s", tag, h);
    }
}

static int cmd_explore_new(void)
{
    int s1 = udp_open(), s2 = udp_open();
    struct kp R, D, T;
    kp_new(&R), kp_new(&D), kp_new(&T);
    uint8_t blob[RET3], extra[2048];
    rand_blob(blob, RET3);
    for (size_t i = 0; i < sizeof extra; i++)
        extra[i] = (uint8_t)(0xa0 + i);
    struct ann_req r;
    struct ann_resp a;
    ann_init(&r, 0x87, &R, R.pk, D.pk, blob, RET3);
    ann_do(s1, &r, &a);
    print_plain("n1", &a);
    uint8_t ping[PK];
    memcpy(ping, a.plain + 1, PK);
    memcpy(r.ping, ping, PK);
    size_t ex[] = { 0, 1, 2, 16, 100, 500 };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        char tag[32];
        r.extra = extra, r.extra_len = ex[i];
        ann_do(s1, &r, &a);
        snprintf(tag, sizeof tag, "n2.extra%zu", ex[i]);
        print_plain(tag, &a);
    }
    ann_init(&r, 0x87, &T, R.pk, NULL, blob, RET3);
    ann_do(s2, &r, &a);
    print_plain("n3.search87", &a);
    ann_init(&r, 0x83, &T, R.pk, NULL, blob, RET3);
    ann_do(s2, &r, &a);
    print_plain("n3.search83", &a);
    return 0;
}

/* sweep-extra KIND MAX: announce-shaped requests of KIND carrying 0..MAX
 * bytes of extra plaintext, all sent in bursts (the sendback carries the
 * length so answers can be matched); prints the lengths that got answers
 * and the size of each answer. */
static int cmd_sweep_extra(const char *kindarg, int max, int with_ping, int fill)
{
    uint8_t kind = (uint8_t)strtol(kindarg, NULL, 16);
    int s1 = udp_open();
    struct kp R, D;
    kp_new(&R), kp_new(&D);
    uint8_t blob[RET3], extra[4096], buf[MAXPKT], pkt[MAXPKT];
    rand_blob(blob, RET3);
    for (size_t i = 0; i < sizeof extra; i++)
        extra[i] = fill < 0 ? (uint8_t)i : (uint8_t)fill;
    struct ann_req r;
    struct ann_resp a;
    ann_init(&r, kind, &R, R.pk, D.pk, blob, RET3);
    ann_do(s1, &r, &a);
    if (with_ping && a.opened)
        memcpy(r.ping, a.plain + 1, PK);
    r.extra = extra;
    int answered = 0, first = -1, last = -1;
    for (int base = 0; base <= max; base += 40) {
        for (int i = base; i < base + 40 && i <= max; i++) {
            r.extra_len = (size_t)i;
            memset(r.sendback, 0, SENDBACK);
            r.sendback[0] = (uint8_t)(i >> 8), r.sendback[1] = (uint8_t)i;
            size_t n = ann_build(pkt, &r);
            send_node(s1, pkt, n);
        }
        int m;
        while ((m = recv1(s1, buf, 150)) >= 0) {
            if (buf[0] != 0x8c || m < 1 + RET3 + 3)
                continue;
            int i = (buf[2 + RET3] << 8) | buf[3 + RET3];
            answered++;
            if (first < 0)
                first = i;
            last = i;
            out("sweep.extra%d.answer_len=%d inner_kind=0x%02x", i, m, buf[1 + RET3]);
        }
    }
    out("sweep.answered=%d first=%d last=%d", answered, first, last);
    return 0;
}

/* ------------------------------------------------------------ experiment 4 */

/* One onion layer's plaintext is [IP_Port of next hop][pk of the next
 * layer's key][box to the next hop]; the innermost is [IP_Port][data].
 * onion_layer() writes [IP_Port NEXT][KEY->pk if KEY][INNER] into OUT. */
static size_t onion_plain(uint8_t *out_, const uint8_t next[IPP], const struct kp *key,
                          const uint8_t *inner, size_t inner_len)
{
    size_t n = 0;
    memcpy(out_ + n, next, IPP), n += IPP;
    if (key)
        memcpy(out_ + n, key->pk, PK), n += PK;
    if (inner_len > 0) memcpy(out_ + n, inner, inner_len);
    n += inner_len;
    return n;
}

/* [KIND][nonce][SENDER->pk][box(PLAIN) to the node][TAIL] */
static size_t onion_packet(uint8_t *pkt, uint8_t kind, const uint8_t nonce[NONCE], const struct kp *sender,
                           const uint8_t *plain, size_t pl, const uint8_t *tail, size_t tail_len)
{
    size_t n = 0;
    pkt[n++] = kind;
    memcpy(pkt + n, nonce, NONCE), n += NONCE;
    memcpy(pkt + n, sender->pk, PK), n += PK;
    box(pkt + n, plain, pl, nonce, g_node_pk, sender->sk);
    n += pl + MAC;
    if (tail_len > 0) memcpy(pkt + n, tail, tail_len); /* tail may be NULL */
    n += tail_len;
    return n;
}

/* Node as A: 0x80 from US carrying REST for B; returns what B got
 * (length, -1 none) into BUF. */
static int as_a(int us, int b, size_t rest_len, uint8_t *rest_out, uint8_t *buf, int ms)
{
    uint8_t nonce[NONCE], ipp[IPP], plain[MAXPKT], pkt[MAXPKT + 128];
    struct kp T, K1;
    kp_new(&T), kp_new(&K1);
    randombytes_buf(nonce, NONCE);
    randombytes_buf(rest_out, rest_len);
    pack_ipport(ipp, b);
    size_t pl = onion_plain(plain, ipp, &K1, rest_out, rest_len);
    size_t n = onion_packet(pkt, 0x80, nonce, &T, plain, pl, NULL, 0);
    drain(b);
    send_node(us, pkt, n);
    int m = recv_kind(b, 0x81, buf, ms);
    if (m >= 0 && ((size_t)m != 1 + NONCE + PK + rest_len + RET1 || memcmp(buf + 1, nonce, NONCE) != 0 ||
                   memcmp(buf + 1 + NONCE, K1.pk, PK) != 0 || memcmp(buf + 1 + NONCE + PK, rest_out, rest_len) != 0))
        return -2;  /* arrived but not as expected */
    return m;
}

/* Send [KIND][BLOB][DATA] from FROM to the node; wait on AT for anything. */
static int send_back(int from, int at, uint8_t kind, const uint8_t *blob, size_t blob_len,
                     const uint8_t *data, size_t dl, uint8_t *buf, int ms)
{
    uint8_t pkt[MAXPKT];
    size_t n = 0;
    pkt[n++] = kind;
    if (blob_len > 0) memcpy(pkt + n, blob, blob_len);
    n += blob_len;
    if (dl > 0) memcpy(pkt + n, data, dl);
    n += dl;
    drain(at);
    send_node(from, pkt, n);
    return recv1(at, buf, ms);
}

static int cmd_relay(void)
{
    int us = udp_open(), b = udp_open(), d = udp_open();
    uint8_t buf[MAXPKT], rest[MAXPKT], ret1[RET1], data[1400];
    int m;

    /* sizes of 0x80 that A forwards */
    int minr = BSEARCH_MIN(0, 400, as_a(us, b, (size_t)n, rest, buf, 150) >= 0);
    int maxr = BSEARCH_MAX(minr < 0 ? 0 : minr, 1500, as_a(us, b, (size_t)n, rest, buf, 150) >= 0);
    out("a.min_rest=%d a.min_0x80=%d", minr, 1 + NONCE + PK + MAC + IPP + PK + minr);
    out("a.max_rest=%d a.max_0x80=%d a.max_0x81=%d", maxr, 1 + NONCE + PK + MAC + IPP + PK + maxr,
        1 + NONCE + PK + maxr + RET1);

    expect(minr == 103, "A_min_0x80_is_227", "min rest %d", minr);
    expect(maxr == 1276, "A_max_0x80_is_1400", "max rest %d", maxr);
    int RL = minr > 400 ? 300 : minr + 10;
    m = as_a(us, b, (size_t)RL, rest, buf, g_wait_ms);
    out("a.to_b=%d", m);
    expect(m == 1 + NONCE + PK + RL + RET1, "A_forwards_0x81_nonce_pk1_rest_ret59",
           "got %d, expected %d", m, 1 + NONCE + PK + RL + RET1);
    if (m < 0)
        return 1;
    memcpy(ret1, buf + m - RET1, RET1);
    /* responses B -> A -> us, with several first bytes of the data */
    int kinds[] = { 0x84, 0x86, 0x88, 0x8c, 0x00, 0x83, 0x9c, 0x02 };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        randombytes_buf(data, sizeof data);
        data[0] = (uint8_t)kinds[i];
        m = send_back(b, us, 0x8e, ret1, RET1, data, 100, buf, g_silence_ms);
        int same = m == 100 && !memcmp(buf, data, 100);
        out("a.back.kind0x%02x=%s", kinds[i], m < 0 ? "dropped" : same ? "forwarded" : "changed");
        if (kinds[i] == 0x84 || kinds[i] == 0x86)
            expect(same, "A_returns_data_to_sender", "kind 0x%02x", kinds[i]);
        else
            expect(m < 0, "A_back_drops_other_kinds", "kind 0x%02x", kinds[i]);
    }
    /* garbled blob: silence */
    uint8_t bad[RET1];
    memcpy(bad, ret1, RET1);
    bad[30] ^= 1;
    data[0] = 0x84;
    m = send_back(b, us, 0x8e, bad, RET1, data, 100, buf, g_silence_ms);
    out("a.back.garbled=%s", m < 0 ? "dropped" : "forwarded");
    expect(m < 0, "A_drops_garbled_blob", NULL);
    /* the same blob used twice still works (no replay protection) */
    m = send_back(b, us, 0x8e, ret1, RET1, data, 100, buf, g_silence_ms);
    m = send_back(b, us, 0x8e, ret1, RET1, data, 100, buf, g_wait_ms);
    out("a.back.reuse=%s", m < 0 ? "dropped" : "forwarded");
    expect(m == 100, "A_accepts_blob_more_than_once", NULL);
    /* sent back from some other address than B: still accepted? */
    m = send_back(d, us, 0x8e, ret1, RET1, data, 100, buf, g_wait_ms);
    out("a.back.from_other_addr=%s", m < 0 ? "dropped" : "forwarded");
    /* data sizes on the way back */
    for (size_t dl = 0; dl <= 2; dl++) {
        m = send_back(b, us, 0x8e, ret1, RET1, data, dl, buf, g_silence_ms);
        out("a.back.data%zu=%s", dl, m < 0 ? "dropped" : "forwarded");
        expect(dl == 0 ? m < 0 : m == (int)dl, "A_back_needs_1_data_byte", "data %zu", dl);
    }
    int maxd = BSEARCH_MAX(1, 1400 - 1 - RET1 + 40,
                           send_back(b, us, 0x8e, ret1, RET1, data, (size_t)n, buf, 150) == n);
    out("a.back.max_data=%d max_packet=%d", maxd, 1 + RET1 + maxd);
    expect(maxd == 1340, "A_max_0x8e_is_1400", "max data %d", maxd);

    /* --- node as B: 0x81 with a fake 59-byte blob from "A" (us) */
    {
        uint8_t nonce[NONCE], ipp[IPP], plain[MAXPKT], pkt[MAXPKT], fake1[RET1];
        struct kp K1, K2;
        kp_new(&K1), kp_new(&K2);
        randombytes_buf(nonce, NONCE);
        randombytes_buf(rest, 100);
        randombytes_buf(fake1, RET1);
        pack_ipport(ipp, d);
        size_t pl = onion_plain(plain, ipp, &K2, rest, 100);
        size_t n = onion_packet(pkt, 0x81, nonce, &K1, plain, pl, fake1, RET1);
        drain(d);
        send_node(us, pkt, n);
        m = recv_kind(d, 0x82, buf, g_wait_ms);
        out("b.sent=%zu b.to_c=%d", n, m);
        int ok = m == 1 + NONCE + PK + 100 + RET2 && !memcmp(buf + 1, nonce, NONCE) &&
                 !memcmp(buf + 1 + NONCE, K2.pk, PK) && !memcmp(buf + 1 + NONCE + PK, rest, 100);
        expect(ok, "B_forwards_0x82_nonce_pk2_rest_ret118", "got %d", m);
        if (m > 0) {
            uint8_t ret2[RET2];
            memcpy(ret2, buf + m - RET2, RET2);
            data[0] = 0x84;
            m = send_back(d, us, 0x8d, ret2, RET2, data, 100, buf, g_wait_ms);
            ok = m == 1 + RET1 + 100 && buf[0] == 0x8e && !memcmp(buf + 1, fake1, RET1) &&
                 !memcmp(buf + 1 + RET1, data, 100);
            out("b.back=%d", m);
            expect(ok, "B_returns_0x8e_fake59_data_to_A", NULL);
            for (int k = 0x84; k <= 0x88; k += 2) {
                data[0] = (uint8_t)k;
                m = send_back(d, us, 0x8d, ret2 , RET2, data, 100, buf, g_silence_ms);
                out("b.back.kind0x%02x=%s", k, m < 0 ? "dropped" : "forwarded");
                expect(k == 0x88 ? m < 0 : m > 0, "B_back_kind_filter", "kind 0x%02x", k);
            }
            data[0] = 0x84;
            ret2[50] ^= 1;
            m = send_back(d, us, 0x8d, ret2, RET2, data, 100, buf, g_silence_ms);
            expect(m < 0, "B_drops_garbled_blob", NULL);
        }
    }

    /* --- node as C: 0x82 with a fake 118-byte blob from "B" (us) */
    {
        uint8_t nonce[NONCE], ipp[IPP], plain[MAXPKT], pkt[MAXPKT], fake2[RET2];
        struct kp K2;
        kp_new(&K2);
        randombytes_buf(nonce, NONCE);
        randombytes_buf(rest, 100);
        rest[0] = 0x83;
        randombytes_buf(fake2, RET2);
        pack_ipport(ipp, d);
        size_t pl = onion_plain(plain, ipp, NULL, rest, 100);
        size_t n = onion_packet(pkt, 0x82, nonce, &K2, plain, pl, fake2, RET2);
        drain(d);
        send_node(us, pkt, n);
        m = recv1(d, buf, g_wait_ms);
        out("c.sent=%zu c.to_d=%d", n, m);
        int ok = m == 100 + RET3 && !memcmp(buf, rest, 100);
        expect(ok, "C_forwards_data_then_ret177_to_D", "got %d", m);
        if (m > 0) {
            uint8_t ret3[RET3];
            memcpy(ret3, buf + 100, RET3);
            data[0] = 0x84;
            m = send_back(d, us, 0x8c, ret3, RET3, data, 100, buf, g_wait_ms);
            ok = m == 1 + RET2 + 100 && buf[0] == 0x8d && !memcmp(buf + 1, fake2, RET2) &&
                 !memcmp(buf + 1 + RET2, data, 100);
            out("c.back=%d", m);
            expect(ok, "C_returns_0x8d_fake118_data_to_B", NULL);
            for (int k = 0x84; k <= 0x88; k += 2) {
                data[0] = (uint8_t)k;
                m = send_back(d, us, 0x8c, ret3, RET3, data, 100, buf, g_silence_ms);
                out("c.back.kind0x%02x=%s", k, m < 0 ? "dropped" : "forwarded");
                expect(k == 0x88 ? m < 0 : m > 0, "C_back_kind_filter", "kind 0x%02x", k);
            }
        }
        /* data kinds C forwards to D */
        int dk[] = { 0x83, 0x85, 0x87, 0x00, 0x02, 0x9c };
        for (size_t i = 0; i < sizeof dk / sizeof dk[0]; i++) {
            rest[0] = (uint8_t)dk[i];
            pl = onion_plain(plain, ipp, NULL, rest, 100);
            n = onion_packet(pkt, 0x82, nonce, &K2, plain, pl, fake2, RET2);
            drain(d);
            send_node(us, pkt, n);
            m = recv1(d, buf, g_silence_ms);
            out("c.to_d.kind0x%02x=%s", dk[i], m < 0 ? "dropped" : "forwarded");
            int want = dk[i] == 0x83 || dk[i] == 0x85;
            expect(want ? m == 100 + RET3 : m < 0, "C_to_D_kind_filter", "kind 0x%02x", dk[i]);
        }
    }
    return g_bad != 0;
}

/* Full path through the node three times (A = B = C = node) ending at the
 * node itself as D with a real announce request; the 0x84 answer has to
 * come back to us through the three return layers. */
static int cmd_path3(void)
{
    int us = udp_open();
    uint8_t nonce[NONCE], me[IPP], p3[MAXPKT], p2[MAXPKT], p1[MAXPKT], c3[MAXPKT], c2[MAXPKT];
    uint8_t pkt[MAXPKT], buf[MAXPKT], ann[MAXPKT];
    struct kp T, K1, K2, R, D;
    kp_new(&T), kp_new(&K1), kp_new(&K2), kp_new(&R), kp_new(&D);
    randombytes_buf(nonce, NONCE);
    pack_node_ipport(me);
    /* the announce request for D (= node), without a blob: C adds it */
    struct ann_req r;
    ann_init(&r, 0x83, &R, R.pk, D.pk, NULL, 0);
    size_t al = ann_build(ann, &r);
    size_t l3 = onion_plain(p3, me, NULL, ann, al);          /* for C */
    box(c3, p3, l3, nonce, g_node_pk, K2.sk);
    size_t l2 = onion_plain(p2, me, &K2, c3, l3 + MAC);      /* for B */
    box(c2, p2, l2, nonce, g_node_pk, K1.sk);
    size_t l1 = onion_plain(p1, me, &K1, c2, l2 + MAC);      /* for A */
    size_t n = onion_packet(pkt, 0x80, nonce, &T, p1, l1, NULL, 0);
    out("path3.sent=%zu", n);
    drain(us);
    send_node(us, pkt, n);
    int m = recv_kind(us, 0x84, buf, g_wait_ms * 2);
    out("path3.answer=%d", m);
    int ok = m > 1 + SENDBACK + NONCE + MAC && !memcmp(buf + 1, r.sendback, SENDBACK);
    if (ok) {
        uint8_t plain[MAXPKT];
        ok = unbox(plain, buf + 1 + SENDBACK + NONCE, (size_t)m - 1 - SENDBACK - NONCE,
                   buf + 1 + SENDBACK, g_node_pk, R.sk) == 0;
        out("path3.is_stored=%d", ok ? plain[0] : -1);
    }
    expect(ok, "three_hop_announce_round_trip", "got %d", m);
    return g_bad != 0;
}

/* ------------------------------------------------------------ experiments 5, 6 */

/* blob-hold TICKS INTERVAL_MS: every tick, get a fresh 59-byte return blob
 * from the node as A, then try every blob collected so far on the way
 * back (0x8e).  One line per (tick, blob): `hold tick=T blob=B ok=0|1`.
 * Meant for a node running under faketime, so that a few real seconds
 * are hours of its clock. */
static int cmd_blob_hold(int ticks, int interval_ms)
{
    int us = udp_open(), b = udp_open();
    static uint8_t blobs[1000][RET1];
    uint8_t buf[MAXPKT], rest[MAXPKT], data[64];
    if (ticks > 1000)
        ticks = 1000;
    randombytes_buf(data, sizeof data);
    data[0] = 0x84;
    double t0 = now_s(), reset_t[16];
    int epoch = 0, resets = 0, partial = 0;
    for (int t = 0; t < ticks; t++) {
        int m = as_a(us, b, 150, rest, buf, g_wait_ms);
        if (m < 0) {
            out("hold tick=%d new_blob=none", t);
            memset(blobs[t], 0, RET1);
        } else {
            memcpy(blobs[t], buf + m - RET1, RET1);
        }
        /* replay every blob at once, data[1..2] = blob index, then
         * collect for a while (slow answers must not look like drops) */
        char line[4096];
        uint8_t seen[1000] = {0};
        drain(us);
        for (int j = 0; j <= t; j++) {
            uint8_t pkt[MAXPKT];
            data[1] = (uint8_t)(j >> 8), data[2] = (uint8_t)j;
            pkt[0] = 0x8e;
            memcpy(pkt + 1, blobs[j], RET1);
            memcpy(pkt + 1 + RET1, data, sizeof data);
            send_node(b, pkt, 1 + RET1 + sizeof data);
        }
        while ((m = recv1(us, buf, g_wait_ms)) >= 0)
            if (m == (int)sizeof data && ((buf[1] << 8) | buf[2]) <= t)
                seen[(buf[1] << 8) | buf[2]] = 1;
        int len = snprintf(line, sizeof line, "hold tick=%d t=%.1f ok=", t, now_s() - t0);
        for (int j = 0; j <= t; j++)
            len += snprintf(line + len, sizeof line - (size_t)len, "%d", seen[j]);
        /* Expected shape: blobs from the current key epoch work, all older
         * ones fail: ok = 0...01...1, with the first 1 never moving back. */
        int f = 0;
        while (f <= t && !seen[f])
            f++;
        int shape = f <= t;
        for (int j = f; j <= t; j++)
            shape &= seen[j];
        if (!shape || f < epoch)
            partial++;
        if (f > epoch && f <= t) {
            if (resets < 16)
                reset_t[resets] = now_s() - t0;
            resets++;
            epoch = f;
        }
        out("%s", line);
        sleep_ms(interval_ms);
    }
    /* key changes seen, when (real seconds since the first blob), and the
     * gaps between them */
    out("hold.resets=%d", resets);
    out("hold.bad_shape_ticks=%d", partial);
    for (int i = 0; i < resets && i < 16; i++)
        out("hold.reset%d.t=%.1f", i, reset_t[i]);
    for (int i = 1; i < resets && i < 16; i++)
        out("hold.gap%d=%.1f", i, reset_t[i] - reset_t[i - 1]);
    return partial != 0;
}

/* ping-age TICKS INTERVAL_MS: at the start get TICKS ping ids (one per
 * fresh key, all from the same address); at tick T announce key T with
 * its ping id and print the is_stored it gets. */
static int cmd_ping_age(int ticks, int interval_ms)
{
    int s = udp_open();
    static struct kp keys[1000];
    static uint8_t pings[1000][PK];
    uint8_t blob[RET3];
    struct kp D;
    kp_new(&D);
    rand_blob(blob, RET3);
    if (ticks > 1000)
        ticks = 1000;
    struct ann_req r;
    struct ann_resp a;
    for (int t = 0; t < ticks; t++) {
        kp_new(&keys[t]);
        ann_init(&r, 0x83, &keys[t], keys[t].pk, D.pk, blob, RET3);
        ann_do(s, &r, &a);
        memcpy(pings[t], a.plain + 1, PK);
    }
    double t0 = now_s();
    for (int t = 0; t < ticks; t++) {
        ann_init(&r, 0x83, &keys[t], keys[t].pk, D.pk, blob, RET3);
        memcpy(r.ping, pings[t], PK);
        ann_do(s, &r, &a);
        out("ping tick=%d t=%.1f is_stored=%d", t, now_s() - t0, a.opened ? a.plain[0] : -1);
        sleep_ms(interval_ms);
    }
    return 0;
}

/* ------------------------------------------------------------ experiment 3 */

/* The 0x87 request / 0x88 response form (not in the spec).  Seen: same
 * request layout as 0x83; the response plaintext has one extra byte, the
 * node count, between the 32-byte id and the packed nodes. */
static int cmd_announce_new(void)
{
    int s1 = udp_open(), s2 = udp_open();
    struct kp R, D, T;
    kp_new(&R), kp_new(&D), kp_new(&T);
    uint8_t blob[RET3], extra[256];
    rand_blob(blob, RET3);
    randombytes_buf(extra, sizeof extra);
    struct ann_req r;
    struct ann_resp a;
    uint8_t ping87[PK];

    ann_init(&r, 0x87, &R, R.pk, D.pk, blob, RET3);
    ann_do(s1, &r, &a);
    ann_print("n1", &a);
    expect(a.got && a.blob_ok && a.kind == 0x88 && a.sendback_ok && a.opened,
           "n1_answer_0x8c_blob_0x88", NULL);
    if (!a.opened)
        return 1;
    int cnt = a.plain_len > 1 + PK ? a.plain[1 + PK] : -1;
    int nn = count_nodes(a.plain + 2 + PK, a.plain_len - 2 - PK, 1, "n1");
    out("n1.count_byte=%d n1.nodes=%d", cnt, nn);
    expect(cnt == nn && a.plain_len == 1 + PK + 1 + 39 * nn, "n1_plain_is_34_plus_39n",
           "plain_len=%d count=%d nodes=%d", a.plain_len, cnt, nn);
    expect(a.total == 1 + RET3 + 1 + SENDBACK + NONCE + MAC + a.plain_len, "n1_total", "total=%d", a.total);
    expect(a.plain[0] == 0, "n1_is_stored_0", NULL);
    memcpy(ping87, a.plain + 1, PK);

    /* same key, same address, old kind: same ping id? */
    ann_init(&r, 0x83, &R, R.pk, D.pk, blob, RET3);
    ann_do(s1, &r, &a);
    out("n1.ping_same_as_0x83=%d", a.opened && !memcmp(a.plain + 1, ping87, PK));
    expect(a.opened && !memcmp(a.plain + 1, ping87, PK), "ping_id_shared_by_0x83_and_0x87", NULL);

    /* extra plaintext with a valid ping id: dropped (whatever it is) */
    ann_init(&r, 0x87, &R, R.pk, D.pk, blob, RET3);
    memcpy(r.ping, ping87, PK);
    size_t ex[] = { 1, 16, 100, 200 };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        r.extra = extra, r.extra_len = ex[i];
        char key[64];
        snprintf(key, sizeof key, "n2_random_extra%zu_dropped", ex[i]);
        expect(ann_silent(s1, &r), key, NULL);
    }
    r.extra_len = 0;
    ann_do(s1, &r, &a);
    ann_print("n3", &a);
    expect(a.opened && a.plain[0] == 2 && a.kind == 0x88, "n3_announce_0x87_is_stored_2", NULL);

    /* searching with either kind finds it: is_stored 1 + data pk */
    ann_init(&r, 0x87, &T, R.pk, NULL, blob, RET3);
    ann_do(s2, &r, &a);
    ann_print("n4", &a);
    expect(a.opened && a.kind == 0x88 && a.plain[0] == 1 && !memcmp(a.plain + 1, D.pk, PK) &&
           a.plain_len == 1 + PK + 1 + 39 * a.plain[1 + PK], "n4_search_0x87_is_stored_1_data_pk", NULL);
    ann_init(&r, 0x83, &T, R.pk, NULL, blob, RET3);
    ann_do(s2, &r, &a);
    expect(a.opened && a.kind == 0x84 && a.plain[0] == 1 && !memcmp(a.plain + 1, D.pk, PK),
           "n5_search_0x83_finds_0x87_announce", NULL);
    /* and a 0x87 announce can be used as a data-route target */
    int ok;
    int m = route_once(s2, s1, R.pk, 100, RET3, blob, &ok, g_wait_ms);
    expect(m > 0 && ok, "n6_route_to_0x87_announce", "arrived=%d", m);

    /* wrong blob sizes with 0x87: dropped like 0x83 */
    ann_init(&r, 0x87, &T, R.pk, NULL, blob, RET2);
    expect(ann_silent(s1, &r), "n7_0x87_with_118_blob_dropped", NULL);
    /* neighbouring kinds with the announce layout: nothing */
    uint8_t kinds[] = { 0x88, 0x89, 0x8a, 0x8b };
    for (size_t i = 0; i < sizeof kinds; i++) {
        char key[64];
        ann_init(&r, kinds[i], &T, R.pk, NULL, blob, RET3);
        snprintf(key, sizeof key, "n8_kind_0x%02x_ignored", kinds[i]);
        expect(ann_silent(s1, &r), key, NULL);
    }
    return g_bad != 0;
}

/* ------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr, "usage: onion_probe [-a ADDR] -p PORT -k HEX|@KEYSFILE [-v] [-w MS] [-s MS] "
                    "announce|route|announce-new|relay|path3|blob-hold T MS|ping-age T MS|\n"
                    "       scan KIND|explore-new|sweep-extra KIND MAX WITH_PING FILL\n");
    exit(2);
}

static void load_key(const char *arg)
{
    if (arg[0] == '@') {
        FILE *f = fopen(arg + 1, "rb");
        if (!f || fread(g_node_pk, 1, PK, f) != PK) {
            fprintf(stderr, "cannot read a public key from %s\n", arg + 1);
            exit(2);
        }
        fclose(f);
    } else if (unhex(g_node_pk, arg, PK) != 0) {
        fprintf(stderr, "bad key %s\n", arg);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1", *key = NULL;
    int port = 0, c;
    while ((c = getopt(argc, argv, "a:p:k:vw:s:")) != -1) {
        switch (c) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'k': key = optarg; break;
        case 'v': g_verbose = 1; break;
        case 'w': g_wait_ms = atoi(optarg); break;
        case 's': g_silence_ms = atoi(optarg); break;
        default: usage();
        }
    }
    if (optind >= argc || !port || !key)
        usage();
    if (sodium_init() < 0)
        return 2;
    load_key(key);
    memset(&g_node, 0, sizeof g_node);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&g_node;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&g_node;
    if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        g_node_len = sizeof *a4;
        g_family = AF_INET;
    } else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        g_node_len = sizeof *a6;
        g_family = AF_INET6;
    } else {
        fprintf(stderr, "bad address %s\n", addr);
        return 2;
    }
    const char *cmd = argv[optind];
    int rc;
    if (!strcmp(cmd, "announce"))
        rc = cmd_announce();
    else if (!strcmp(cmd, "route"))
        rc = cmd_route();
    else if (!strcmp(cmd, "announce-new"))
        rc = cmd_announce_new();
    else if (!strcmp(cmd, "blob-hold") && optind + 2 < argc)
        rc = cmd_blob_hold(atoi(argv[optind + 1]), atoi(argv[optind + 2]));
    else if (!strcmp(cmd, "ping-age") && optind + 2 < argc)
        rc = cmd_ping_age(atoi(argv[optind + 1]), atoi(argv[optind + 2]));
    else if (!strcmp(cmd, "relay"))
        rc = cmd_relay();
    else if (!strcmp(cmd, "path3"))
        rc = cmd_path3();
    else if (!strcmp(cmd, "sweep-extra") && optind + 4 < argc)
        rc = cmd_sweep_extra(argv[optind + 1], atoi(argv[optind + 2]), atoi(argv[optind + 3]), atoi(argv[optind + 4]));
    else if (!strcmp(cmd, "explore-new"))
        rc = cmd_explore_new();
    else if (!strcmp(cmd, "scan") && optind + 1 < argc)
        rc = cmd_scan(argv[optind + 1]);
    else
        usage();
    out("result=%s bad=%d", rc == 0 ? "ok" : "unexpected", g_bad);
    return rc;
}
