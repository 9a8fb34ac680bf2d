/* TCP relay sockets: listening sockets and accepted clients for a
 * tw_tcp_server, and outgoing connections for tw_tcp_client. The protocol
 * objects never see a descriptor; this file turns readiness into calls. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>


#include "io/io_internal.h"
#include "toxwire/io.h"

#define READ_CHUNK 65536
#define MAX_LISTEN 8
#define ACCEPTS_PER_WAKEUP 64

static uint8_t g_read_buf[READ_CHUNK]; /* one loop per thread reads at a time */

static void set_timer(struct event *ev, tw_time_ms deadline, tw_time_ms now) {
  if (deadline == TW_NEVER) {
    evtimer_del(ev);
    return;
  }
  tw_time_ms wait = deadline > now ? deadline - now : 0;
  struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
  evtimer_add(ev, &tv);
}

/* ------------------------------------------------------------------ */
/* Server                                                             */
/* ------------------------------------------------------------------ */

typedef struct iconn {
  int fd;
  uint64_t id;
  struct event *rev, *wev;
  struct tw_io_tcp_server *t;
} iconn;

struct tw_io_tcp_server {
  tw_io *io;
  tw_tcp_server *srv;
  int lfd[MAX_LISTEN];
  struct event *lev[MAX_LISTEN];
  size_t nl;
  struct event *timer;
  tw_time_ms armed_for;
};

static void iconn_free(iconn *c) {
  if (c->rev) event_free(c->rev);
  if (c->wev) event_free(c->wev);
  close(c->fd);
  free(c);
}

static long srv_write(void *ctx, void *user, const uint8_t *bytes, size_t len) {
  (void)ctx;
  return tw_io_sock_write(((iconn *)user)->fd, bytes, len);
}
static void srv_want_write(void *ctx, void *user, bool on) {
  (void)ctx;
  iconn *c = user;
  if (on) event_add(c->wev, NULL);
  else event_del(c->wev);
}
static void srv_closed(void *ctx, void *user, int reason) {
  (void)ctx;
  (void)reason;
  iconn_free(user);
}

static void on_conn_read(evutil_socket_t fd, short what, void *arg) {
  iconn *c = arg;
  tw_io_tcp_server *t = c->t;
  tw_io_note_wakeup(t->io);
  tw_time_ms now = tw_io_now(t->io);
  ssize_t r = recv(fd, g_read_buf, sizeof g_read_buf, MSG_DONTWAIT);
  if (r > 0) {
    tw_tcp_server_handle_bytes(t->srv, c->id, g_read_buf, (size_t)r, now); /* may free c */
  } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    tw_tcp_server_close(t->srv, c->id, now);
    iconn_free(c);
  }
  tw_io_after_event(t->io);
}

static void on_conn_write(evutil_socket_t fd, short what, void *arg) {
  iconn *c = arg;
  tw_io_tcp_server *t = c->t;
  tw_io_note_wakeup(t->io);
  tw_tcp_server_handle_writable(t->srv, c->id, tw_io_now(t->io)); /* may free c */
  tw_io_after_event(t->io);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg) {
  tw_io_tcp_server *t = arg;
  tw_io_note_wakeup(t->io);
  tw_time_ms now = tw_io_now(t->io);
  for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) break; /* EAGAIN, or out of descriptors: try again on the next wakeup */
    tw_addr a;
    if (!tw_io_addr_from_sockaddr(&ss, &a)) {
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    iconn *c = calloc(1, sizeof *c);
    if (c == NULL) {
      close(fd);
      continue;
    }
    c->fd = fd;
    c->t = t;
    c->rev = event_new(tw_io_event_base(t->io), fd, EV_READ | EV_PERSIST, on_conn_read, c);
    c->wev = event_new(tw_io_event_base(t->io), fd, EV_WRITE | EV_PERSIST, on_conn_write, c);
    if (c->rev == NULL || c->wev == NULL ||
        tw_tcp_server_accept(t->srv, &a, c, now, &c->id) != TW_OK) {
      iconn_free(c); /* refused: too many clients, or too many from a */
      continue;
    }
    event_add(c->rev, NULL);
  }
  tw_io_after_event(t->io);
}

static void on_server_timer(evutil_socket_t fd, short what, void *arg) {
  tw_io_tcp_server *t = arg;
  tw_io_note_wakeup(t->io);
  t->armed_for = TW_NEVER;
  tw_tcp_server_on_timer(t->srv, tw_io_now(t->io));
  tw_io_after_event(t->io);
}

static void server_hook(void *ctx, tw_time_ms now) {
  tw_io_tcp_server *t = ctx;
  tw_tcp_server_flush(t->srv, now);
  tw_time_ms d = tw_tcp_server_next_deadline(t->srv);
  if (d != t->armed_for) {
    t->armed_for = d;
    set_timer(t->timer, d, now);
  }
}

static int listen_on(const char *ip, uint16_t port, bool v6, char *why, size_t whylen) {
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(why, whylen, "TCP port %u: %s", port, strerror(errno));
    return -1;
  }
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  struct sockaddr_storage ss;
  socklen_t sl;
  if (!tw_io_bind_sockaddr(ip, port, v6, &ss, &sl)) {
    snprintf(why, whylen, "'%s' is not an IP address", ip);
    close(fd);
    return -1;
  }
  if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 1024) != 0) {
    snprintf(why, whylen, "TCP port %u: %s", port, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

/* Thousands of clients need thousands of descriptors. */
static void raise_file_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int tw_io_tcp_server_start(tw_io *io, const tw_io_tcp_listen *l, const tw_tcp_server_config *cfg,
                           const tw_env *env, tw_io_tcp_server **out, char *why, size_t whylen) {
  if (l->nports == 0 || l->nports > MAX_LISTEN) {
    snprintf(why, whylen, "between 1 and %d TCP ports", MAX_LISTEN);
    return TW_E_INVAL;
  }
  tw_io_tcp_server *t = calloc(1, sizeof *t);
  if (t == NULL) return TW_E_NOMEM;
  t->io = io;
  t->armed_for = TW_NEVER;
  tw_tcp_server_config c = *cfg;
  c.write = srv_write;
  c.want_write = srv_want_write;
  c.closed = srv_closed;
  c.ctx = t;
  raise_file_limit();
  t->srv = tw_tcp_server_new(&c, env);
  t->timer = evtimer_new(tw_io_event_base(io), on_server_timer, t);
  if (t->srv == NULL || t->timer == NULL) {
    snprintf(why, whylen, "out of memory");
    tw_io_tcp_server_free(t);
    return TW_E_NOMEM;
  }
  for (size_t i = 0; i < l->nports; i++) {
    int fd = listen_on(l->bind_ip, l->ports[i], l->ipv6, why, whylen);
    if (fd < 0) {
      tw_io_tcp_server_free(t);
      return TW_E_IO;
    }
    t->lfd[t->nl] = fd;
    t->lev[t->nl] = event_new(tw_io_event_base(io), fd, EV_READ | EV_PERSIST, on_accept, t);
    event_add(t->lev[t->nl], NULL);
    t->nl++;
  }
  tw_io_add_hook(io, server_hook, t);
  *out = t;
  return TW_OK;
}

tw_tcp_server *tw_io_tcp_server_relay(tw_io_tcp_server *t) { return t->srv; }

void tw_io_tcp_server_free(tw_io_tcp_server *t) {
  if (t == NULL) return;
  tw_io_remove_hook(t->io, t);
  for (size_t i = 0; i < t->nl; i++) {
    event_free(t->lev[i]);
    close(t->lfd[i]);
  }
  if (t->timer) event_free(t->timer);
  /* The server's clients: their iconn structs are reached through it. */
  if (t->srv) {
    tw_tcp_server_stats st;
    tw_tcp_server_get_stats(t->srv, &st);
    (void)st;
    tw_tcp_server_free(t->srv); /* sockets close with the process */
  }
  free(t);
}

/* ------------------------------------------------------------------ */
/* Client                                                             */
/* ------------------------------------------------------------------ */

struct tw_io_tcp_client {
  tw_io *io;
  tw_tcp_client *cl;
  tw_io_conn *conn; /* NULL once the client closed or the socket was lost */
  struct event *timer;
  tw_time_ms armed_for;
  void (*user_event)(void *, const tw_tcp_client_event *, tw_time_ms);
  void *user_ctx;
};

static long cl_write(void *ctx, void *user, const uint8_t *bytes, size_t len) {
  (void)user;
  tw_io_tcp_client *t = ctx;
  return t->conn != NULL ? tw_io_conn_write(t->conn, bytes, len) : -1;
}
static void cl_want_write(void *ctx, void *user, bool on) {
  (void)user;
  tw_io_tcp_client *t = ctx;
  if (t->conn != NULL) tw_io_conn_want_write(t->conn, on);
}
static void cl_event(void *ctx, const tw_tcp_client_event *ev, tw_time_ms now) {
  tw_io_tcp_client *t = ctx;
  if (ev->kind == TW_TCP_EV_CLOSED) {
    tw_io_conn_free(t->conn); /* may be inside its callback: allowed */
    t->conn = NULL;
  }
  if (t->user_event) t->user_event(t->user_ctx, ev, now);
}

static void on_cl_connected(void *ctx, tw_time_ms now) {
  tw_io_tcp_client *t = ctx;
  tw_tcp_client_handle_writable(t->cl, now); /* the handshake */
}
static void on_cl_bytes(void *ctx, const uint8_t *b, size_t n, tw_time_ms now) {
  tw_io_tcp_client *t = ctx;
  tw_tcp_client_handle_bytes(t->cl, b, n, now);
}
static void on_cl_writable(void *ctx, tw_time_ms now) {
  tw_io_tcp_client *t = ctx;
  tw_tcp_client_handle_writable(t->cl, now);
}
static void on_cl_lost(void *ctx, tw_time_ms now) {
  tw_io_tcp_client *t = ctx;
  tw_tcp_client_handle_eof(t->cl, now);
}

static void on_cl_timer(evutil_socket_t fd, short what, void *arg) {
  tw_io_tcp_client *t = arg;
  tw_io_note_wakeup(t->io);
  t->armed_for = TW_NEVER;
  tw_tcp_client_on_timer(t->cl, tw_io_now(t->io));
  tw_io_after_event(t->io);
}

static void client_hook(void *ctx, tw_time_ms now) {
  tw_io_tcp_client *t = ctx;
  if (t->conn != NULL && !tw_io_conn_connecting(t->conn)) tw_tcp_client_flush(t->cl, now);
  tw_time_ms d = tw_tcp_client_next_deadline(t->cl);
  if (d != t->armed_for) {
    t->armed_for = d;
    set_timer(t->timer, d, now);
  }
}

tw_io_tcp_client *tw_io_tcp_client_connect(tw_io *io, const tw_addr *addr,
                                           const tw_tcp_client_config *cfg, const tw_env *env) {
  tw_io_tcp_client *t = calloc(1, sizeof *t);
  if (t == NULL) return NULL;
  t->io = io;
  t->armed_for = TW_NEVER;
  t->user_event = cfg->on_event;
  t->user_ctx = cfg->ctx;
  tw_tcp_client_config c = *cfg;
  c.write = cl_write;
  c.want_write = cl_want_write;
  c.on_event = cl_event;
  c.ctx = t;
  tw_time_ms now = tw_io_now(io);
  t->cl = tw_tcp_client_new(&c, env, now);
  t->timer = evtimer_new(tw_io_event_base(io), on_cl_timer, t);
  static const tw_io_conn_ops ops = {on_cl_connected, on_cl_bytes, on_cl_writable, on_cl_lost};
  if (t->cl != NULL && t->timer != NULL) t->conn = tw_io_conn_open(io, addr, &ops, t);
  if (t->conn == NULL) {
    tw_io_tcp_client_free(t);
    return NULL;
  }
  tw_io_add_hook(io, client_hook, t);
  client_hook(t, now);
  return t;
}

tw_tcp_client *tw_io_tcp_client_relay(tw_io_tcp_client *t) { return t->cl; }

void tw_io_tcp_client_free(tw_io_tcp_client *t) {
  if (t == NULL) return;
  tw_io_remove_hook(t->io, t);
  if (t->timer) event_free(t->timer);
  tw_io_conn_free(t->conn);
  tw_tcp_client_free(t->cl);
  free(t);
}
