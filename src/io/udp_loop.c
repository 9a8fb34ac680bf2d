/* The libevent driver. One UDP socket, one timer re-armed to the protocol
 * object's next deadline after every event, signals for a clean stop.
 * Datagrams are read and sent in batches (recvmmsg/sendmmsg) so a busy
 * node pays one system call per batch, not per packet. */
#include "toxwire/io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "io/io_internal.h"

#define BATCH 32 /* datagrams per system call: 32 already amortises it */
#define MAX_DATAGRAM 2048
#define SOCKET_BUFFER_BYTES (4 * 1024 * 1024)

typedef struct out_slot {
  struct sockaddr_storage to;
  socklen_t tolen;
  size_t len;
  uint8_t data[MAX_DATAGRAM];
} out_slot;

struct tw_io {
  tw_logger log;
  struct event_base *base;
  struct event *udp_ev, *timer_ev, *sigint_ev, *sigterm_ev, *periodic_ev;
  int fd;
  bool v6;
  tw_io_handler h;
  bool have_handler;
  tw_time_ms armed_for;
  int stop_signal;

  void (*periodic_fn)(void *, tw_time_ms);
  void *periodic_ctx;

  struct event *fd_ev; /* one watched descriptor (a command stream) */
  struct {
    void (*fn)(void *, tw_time_ms);
    void *ctx;
  } hooks[16]; /* run after every event: other protocol objects' flushes */
  int nhooks;
  void (*fd_fn)(void *, int, tw_time_ms);
  void *fd_ctx;

  out_slot out[BATCH];
  size_t nout;
  uint8_t in[BATCH][MAX_DATAGRAM];
  uint8_t rnd[4096];
  size_t rnd_used;
  tw_io_stats stats;
};

static void io_log(tw_io *io, tw_log_level lvl, const char *fmt, ...) {
  if (io->log.fn == NULL || lvl < io->log.level) return;
  va_list ap;
  va_start(ap, fmt);
  io->log.fn(io->log.ctx, lvl, "io", fmt, ap);
  va_end(ap);
}

tw_time_ms tw_io_now(const tw_io *io) {
  (void)io;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (tw_time_ms)ts.tv_sec * 1000 + (tw_time_ms)ts.tv_nsec / 1000000;
}

/* libsodium's randombytes_buf is one getrandom() call per use; a node
 * needs a fresh nonce for every packet, so draw 4 KiB at a time and hand it
 * out, wiping each byte as it leaves. */
void tw_io_random(void *ctx, uint8_t *out, size_t len) {
  tw_io *io = ctx;
  if (io == NULL || len > sizeof io->rnd) {
    randombytes_buf(out, len);
    return;
  }
  if (io->rnd_used + len > sizeof io->rnd) {
    randombytes_buf(io->rnd, sizeof io->rnd);
    io->rnd_used = 0;
  }
  memcpy(out, io->rnd + io->rnd_used, len);
  sodium_memzero(io->rnd + io->rnd_used, len);
  io->rnd_used += len;
}

/* ---- address conversion ---- */

void tw_io_sockaddr_from_addr(const tw_addr *a, bool v6, struct sockaddr_storage *ss,
                              socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  if (v6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a->port);
    if (a->family == TW_AF_INET) {
      s6->sin6_addr.s6_addr[10] = 0xff;
      s6->sin6_addr.s6_addr[11] = 0xff;
      memcpy(&s6->sin6_addr.s6_addr[12], a->ip, 4);
    } else {
      memcpy(&s6->sin6_addr, a->ip, 16);
    }
    *len = sizeof *s6;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a->port);
    memcpy(&s4->sin_addr, a->ip, 4);
    *len = sizeof *s4;
  }
}

bool tw_io_addr_from_sockaddr(const struct sockaddr_storage *ss, tw_addr *a) {
  memset(a, 0, sizeof *a);
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    a->family = TW_AF_INET;
    memcpy(a->ip, &s4->sin_addr, 4);
    a->port = ntohs(s4->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    a->family = TW_AF_INET6;
    memcpy(a->ip, &s6->sin6_addr, 16);
    a->port = ntohs(s6->sin6_port);
    *a = tw_addr_unmap(a);
  } else {
    return false;
  }
  return true;
}

/* ---- sending ---- */

static void flush(tw_io *io) {
  size_t done = 0;
  while (done < io->nout) {
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    size_t n = io->nout - done;
    for (size_t i = 0; i < n; i++) {
      out_slot *s = &io->out[done + i];
      iov[i] = (struct iovec){s->data, s->len};
      msgs[i] = (struct mmsghdr){0};
      msgs[i].msg_hdr.msg_name = &s->to;
      msgs[i].msg_hdr.msg_namelen = s->tolen;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int r = sendmmsg(io->fd, msgs, (unsigned)n, 0);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      /* Skip the datagram that failed (unreachable peer, full buffer): UDP
       * is lossy by contract and the protocols retry. */
      io->stats.send_errors++;
      done++;
      continue;
    }
    io->stats.packets_out += (uint64_t)r;
    done += (size_t)r;
  }
  io->nout = 0;
}

static void queue(tw_io *io, const struct sockaddr_storage *ss, socklen_t sl, const uint8_t *pkt,
                  size_t len) {
  if (len > MAX_DATAGRAM || io->fd < 0) {
    io->stats.send_errors++;
    return;
  }
  if (io->nout == BATCH) flush(io);
  out_slot *s = &io->out[io->nout++];
  s->to = *ss;
  s->tolen = sl;
  s->len = len;
  memcpy(s->data, pkt, len);
}

static void broadcast(tw_io *io, const uint8_t *pkt, size_t len) {
  tw_addr a = {.family = TW_AF_INET, .port = 33445};
  memset(a.ip, 0xff, 4);
  struct sockaddr_storage ss;
  socklen_t sl;
  tw_io_sockaddr_from_addr(&a, io->v6, &ss, &sl);
  queue(io, &ss, sl, pkt, len);
  if (io->v6) {
    tw_addr m = {.family = TW_AF_INET6, .port = 33445};
    m.ip[0] = 0xff;
    m.ip[1] = 0x02;
    m.ip[15] = 1;
    tw_io_sockaddr_from_addr(&m, io->v6, &ss, &sl);
    queue(io, &ss, sl, pkt, len);
  }
}

void tw_io_send(tw_io *io, const tw_addr *to, const uint8_t *pkt, size_t len) {
  if (io->fd < 0) return; /* no UDP socket (--udp off): nothing leaves */
  if (to == NULL) {
    broadcast(io, pkt, len);
    return;
  }
  if (!io->v6 && to->family != TW_AF_INET) {
    io->stats.send_errors++;
    return;
  }
  struct sockaddr_storage ss;
  socklen_t sl;
  tw_io_sockaddr_from_addr(to, io->v6, &ss, &sl);
  queue(io, &ss, sl, pkt, len);
}

void tw_io_send_cb(void *io, const tw_addr *to, const uint8_t *pkt, size_t len) {
  tw_io_send((tw_io *)io, to, pkt, len);
}

/* ---- the loop ---- */

void tw_io_rearm(tw_io *io) {
  if (!io->have_handler) return;
  tw_time_ms d = io->h.next_deadline(io->h.ctx);
  if (d == io->armed_for && d != TW_NEVER) return;
  io->armed_for = d;
  if (d == TW_NEVER) {
    evtimer_del(io->timer_ev);
    return;
  }
  tw_time_ms now = tw_io_now(io);
  tw_time_ms wait = d > now ? d - now : 0;
  struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
  evtimer_add(io->timer_ev, &tv);
}

static void after_event(tw_io *io) {
  if (io->nhooks) {
    tw_time_ms now = tw_io_now(io);
    for (int i = 0; i < io->nhooks; i++) io->hooks[i].fn(io->hooks[i].ctx, now);
  }
  flush(io);
  tw_io_rearm(io);
}

static void on_readable(evutil_socket_t fd, short what, void *arg) {
  tw_io *io = arg;
  io->stats.wakeups++;
  /* A few batches per wakeup keeps a flood from starving timers. */
  for (int round = 0; round < 8; round++) {
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage from[BATCH];
    for (int i = 0; i < BATCH; i++) {
      iov[i] = (struct iovec){io->in[i], MAX_DATAGRAM};
      msgs[i] = (struct mmsghdr){0};
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) break;
    io->stats.recv_batches++;
    io->stats.packets_in += (uint64_t)n;
    tw_time_ms now = tw_io_now(io);
    for (int i = 0; i < n; i++) {
      tw_addr a;
      if (!tw_io_addr_from_sockaddr(&from[i], &a) || (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)) continue;
      if (io->have_handler) io->h.handle_packet(io->h.ctx, &a, io->in[i], msgs[i].msg_len, now);
    }
    if (n < BATCH) break;
  }
  after_event(io);
}

static void on_timer(evutil_socket_t fd, short what, void *arg) {
  tw_io *io = arg;
  io->stats.wakeups++;
  io->armed_for = TW_NEVER;
  if (io->have_handler) {
    io->stats.timer_runs++;
    io->h.on_timer(io->h.ctx, tw_io_now(io));
  }
  after_event(io);
}

static void on_periodic(evutil_socket_t fd, short what, void *arg) {
  tw_io *io = arg;
  io->stats.wakeups++;
  if (io->periodic_fn) io->periodic_fn(io->periodic_ctx, tw_io_now(io));
  after_event(io);
}

static void on_fd(evutil_socket_t fd, short what, void *arg) {
  tw_io *io = arg;
  io->stats.wakeups++;
  if (io->fd_fn) io->fd_fn(io->fd_ctx, (int)fd, tw_io_now(io));
  after_event(io);
}

int tw_io_watch_fd(tw_io *io, int fd, void (*fn)(void *ctx, int fd, tw_time_ms now), void *ctx) {
  if (io->fd_ev) {
    event_free(io->fd_ev);
    io->fd_ev = NULL;
  }
  io->fd_fn = fn;
  io->fd_ctx = ctx;
  if (fd < 0 || fn == NULL) return TW_OK;
  io->fd_ev = event_new(io->base, fd, EV_READ | EV_PERSIST, on_fd, io);
  if (io->fd_ev == NULL || event_add(io->fd_ev, NULL) != 0) return TW_E_IO;
  return TW_OK;
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
  tw_io *io = arg;
  io->stats.wakeups++;
  io->stop_signal = (int)sig;
  event_base_loopbreak(io->base);
}

tw_io *tw_io_new(tw_logger log) {
  tw_io *io = calloc(1, sizeof *io);
  if (io == NULL) return NULL;
  io->log = log;
  io->fd = -1;
  io->armed_for = TW_NEVER;
  io->rnd_used = sizeof io->rnd; /* empty: filled on first use */
  if (sodium_init() < 0 || (io->base = event_base_new()) == NULL) {
    free(io);
    return NULL;
  }
  io->timer_ev = evtimer_new(io->base, on_timer, io);
  io->sigint_ev = evsignal_new(io->base, SIGINT, on_signal, io);
  io->sigterm_ev = evsignal_new(io->base, SIGTERM, on_signal, io);
  if (!io->timer_ev || !io->sigint_ev || !io->sigterm_ev) {
    tw_io_free(io);
    return NULL;
  }
  return io;
}

void tw_io_free(tw_io *io) {
  if (io == NULL) return;
  if (io->nout) flush(io);
  if (io->udp_ev) event_free(io->udp_ev);
  if (io->timer_ev) event_free(io->timer_ev);
  if (io->sigint_ev) event_free(io->sigint_ev);
  if (io->sigterm_ev) event_free(io->sigterm_ev);
  if (io->periodic_ev) event_free(io->periodic_ev);
  if (io->fd_ev) event_free(io->fd_ev);
  if (io->fd >= 0) close(io->fd);
  sodium_memzero(io->rnd, sizeof io->rnd);
  event_base_free(io->base);
  free(io);
}

bool tw_io_bind_sockaddr(const char *ip, uint16_t port, bool v6, struct sockaddr_storage *ss,
                         socklen_t *sl) {
  memset(ss, 0, sizeof *ss);
  if (v6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    s6->sin6_addr = in6addr_any;
    if (ip && inet_pton(AF_INET6, ip, &s6->sin6_addr) != 1) {
      struct in_addr v4; /* an IPv4 address on a dual-stack socket: mapped */
      if (inet_pton(AF_INET, ip, &v4) != 1) return false;
      s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
      memcpy(&s6->sin6_addr.s6_addr[12], &v4, 4);
    }
    *sl = sizeof *s6;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    s4->sin_addr.s_addr = htonl(INADDR_ANY);
    if (ip && inet_pton(AF_INET, ip, &s4->sin_addr) != 1) return false;
    *sl = sizeof *s4;
  }
  return true;
}

static int try_bind(tw_io *io, int family, const char *ip, uint16_t port, int *err) {
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  int one = 1, zero = 0, buf = SOCKET_BUFFER_BYTES;
  setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
  /* The FORCE forms pass the system's cap when we may (root); a burst of
   * a fast session otherwise overflows the default ~200 KB. */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  struct sockaddr_storage ss;
  socklen_t sl;
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (!tw_io_bind_sockaddr(ip, port, family == AF_INET6, &ss, &sl)) {
    close(fd);
    *err = EINVAL;
    return -1;
  }
  if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
    *err = errno;
    close(fd);
    return -1;
  }
  return fd;
}

int tw_io_bind_udp(tw_io *io, const tw_io_udp_config *cfg, uint16_t *bound_port) {
  if (io->fd >= 0) return TW_E_INVAL;
  uint16_t first = cfg->port ? cfg->port : TW_IO_PORT_RANGE_START;
  uint16_t last = cfg->port ? cfg->port : TW_IO_PORT_RANGE_END;
  int families[2] = {cfg->ipv6 ? AF_INET6 : AF_INET, AF_INET};
  int nfam = cfg->ipv6 && cfg->ipv4_fallback ? 2 : 1;
  int err = 0;
  for (int f = 0; f < nfam; f++) {
    for (uint32_t p = first; p <= last; p++) {
      int fd = try_bind(io, families[f], cfg->bind_ip, (uint16_t)p, &err);
      if (fd >= 0) {
        io->fd = fd;
        io->v6 = families[f] == AF_INET6;
        io->udp_ev = event_new(io->base, fd, EV_READ | EV_PERSIST, on_readable, io);
        event_add(io->udp_ev, NULL);
        if (bound_port) *bound_port = (uint16_t)p;
        io_log(io, TW_LOG_DEBUG, "bound UDP %s port %u", io->v6 ? "IPv6 (dual-stack)" : "IPv4",
               (unsigned)p);
        return TW_OK;
      }
      if (err != EADDRINUSE) break; /* not a port problem: try the next family */
    }
    if (err == EADDRINUSE) return TW_E_ADDRINUSE;
  }
  return err == EINVAL ? TW_E_ADDR : TW_E_IO;
}

bool tw_io_is_ipv6(const tw_io *io) { return io->v6; }

void tw_io_set_handler(tw_io *io, const tw_io_handler *h) {
  io->h = *h;
  io->have_handler = true;
  io->armed_for = TW_NEVER - 1;
}

void tw_io_set_periodic(tw_io *io, tw_time_ms interval_ms, void (*fn)(void *, tw_time_ms),
                        void *ctx) {
  if (io->periodic_ev) {
    event_free(io->periodic_ev);
    io->periodic_ev = NULL;
  }
  io->periodic_fn = fn;
  io->periodic_ctx = ctx;
  if (interval_ms == 0 || fn == NULL) return;
  io->periodic_ev = event_new(io->base, -1, EV_PERSIST, on_periodic, io);
  struct timeval tv = {(time_t)(interval_ms / 1000), (suseconds_t)(interval_ms % 1000) * 1000};
  event_add(io->periodic_ev, &tv);
}

int tw_io_run(tw_io *io) {
  io->stop_signal = 0;
  evsignal_add(io->sigint_ev, NULL);
  evsignal_add(io->sigterm_ev, NULL);
  after_event(io); /* what was queued before the loop started goes out now */
  event_base_dispatch(io->base);
  flush(io);
  evsignal_del(io->sigint_ev);
  evsignal_del(io->sigterm_ev);
  return io->stop_signal;
}

/* ---- for the other drivers in src/io ---- */

struct event_base *tw_io_event_base(tw_io *io) { return io->base; }
void tw_io_note_wakeup(tw_io *io) { io->stats.wakeups++; }
void tw_io_after_event(tw_io *io) { after_event(io); }
int tw_io_add_hook(tw_io *io, void (*fn)(void *, tw_time_ms), void *ctx) {
  if (io->nhooks == (int)(sizeof io->hooks / sizeof io->hooks[0])) return TW_E_FULL;
  io->hooks[io->nhooks].fn = fn;
  io->hooks[io->nhooks++].ctx = ctx;
  return TW_OK;
}
void tw_io_remove_hook(tw_io *io, void *ctx) {
  for (int i = 0; i < io->nhooks; i++)
    if (io->hooks[i].ctx == ctx) {
      io->hooks[i] = io->hooks[--io->nhooks];
      i--;
    }
}

void tw_io_stop(tw_io *io) { event_base_loopbreak(io->base); }

tw_io_stats tw_io_get_stats(const tw_io *io) { return io->stats; }
