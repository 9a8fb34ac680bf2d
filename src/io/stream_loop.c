/* Outgoing TCP connections. tw_io_conn is one socket: it connects, reads
 * and writes, and reports through four callbacks. On it sit the node's
 * relay sockets (tw_io_streams, for tw_tcp_conns, which asks for a
 * connection by handle and hears back by the same handle) and the single
 * relay client of tcp_loop.c. The protocol objects never see a
 * descriptor. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/io_internal.h"
#include "toxwire/io.h"
#include "toxwire/tcp_conns.h"

#define READ_CHUNK 65536

/* ---- one connection ---- */

struct tw_io_conn {
  tw_io *io;
  int fd;
  bool connecting;
  struct event *rev, *wev;
  tw_io_conn_ops ops;
  void *ctx;
};

static uint8_t g_read_buf[READ_CHUNK]; /* one loop per thread reads at a time */

/* The callbacks are the last thing each handler does with c: the owner may
 * free it from inside them. */
static void on_read(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  tw_io_conn *c = arg;
  tw_io *io = c->io;
  tw_io_note_wakeup(io);
  tw_time_ms now = tw_io_now(io);
  ssize_t r = recv(fd, g_read_buf, sizeof g_read_buf, MSG_DONTWAIT);
  if (r > 0) c->ops.bytes(c->ctx, g_read_buf, (size_t)r, now);
  else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) c->ops.lost(c->ctx, now);
  tw_io_after_event(io);
}

static void on_write(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  tw_io_conn *c = arg;
  tw_io *io = c->io;
  tw_io_note_wakeup(io);
  tw_time_ms now = tw_io_now(io);
  if (c->connecting) {
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err != 0) {
      c->ops.lost(c->ctx, now);
    } else {
      c->connecting = false;
      event_del(c->wev);
      event_add(c->rev, NULL);
      c->ops.connected(c->ctx, now);
    }
  } else {
    c->ops.writable(c->ctx, now);
  }
  tw_io_after_event(io);
}

tw_io_conn *tw_io_conn_open(tw_io *io, const tw_addr *addr, const tw_io_conn_ops *ops, void *ctx) {
  tw_io_conn *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->io = io;
  c->ops = *ops;
  c->ctx = ctx;
  bool v6 = addr->family == TW_AF_INET6;
  c->fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    free(c);
    return NULL;
  }
  c->connecting = true;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct event_base *b = tw_io_event_base(io);
  c->rev = event_new(b, c->fd, EV_READ | EV_PERSIST, on_read, c);
  c->wev = event_new(b, c->fd, EV_WRITE | EV_PERSIST, on_write, c);
  struct sockaddr_storage ss;
  socklen_t sl;
  tw_io_sockaddr_from_addr(addr, v6, &ss, &sl);
  if (c->rev == NULL || c->wev == NULL ||
      (connect(c->fd, (struct sockaddr *)&ss, sl) != 0 && errno != EINPROGRESS)) {
    tw_io_conn_free(c);
    return NULL;
  }
  event_add(c->wev, NULL); /* writable: connected, or failed */
  return c;
}

long tw_io_conn_write(tw_io_conn *c, const uint8_t *bytes, size_t len) {
  return c->connecting ? 0 : tw_io_sock_write(c->fd, bytes, len);
}

long tw_io_sock_write(int fd, const uint8_t *bytes, size_t len) {
  for (;;) {
    ssize_t w = send(fd, bytes, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w >= 0) return (long)w;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return -1;
  }
}

void tw_io_conn_want_write(tw_io_conn *c, bool on) {
  if (c->connecting) return; /* the write event is on until connected */
  if (on) event_add(c->wev, NULL);
  else event_del(c->wev);
}

bool tw_io_conn_connecting(const tw_io_conn *c) { return c->connecting; }

void tw_io_conn_free(tw_io_conn *c) {
  if (c == NULL) return;
  if (c->rev) event_free(c->rev);
  if (c->wev) event_free(c->wev);
  if (c->fd >= 0) close(c->fd);
  free(c);
}

/* ---- the node's relay sockets, by tw_tcp_conns handle ---- */

#define MAX_STREAMS TW_TCP_CONNS_MAX_CONNECTED

typedef struct stream {
  uint32_t handle;
  tw_io_conn *conn; /* NULL: slot free */
  struct tw_io_streams *s;
} stream;

struct tw_io_streams {
  tw_io *io;
  tw_tcp_conns *tc;
  stream st[MAX_STREAMS];
};

static stream *find(tw_io_streams *s, uint32_t handle) {
  for (int i = 0; i < MAX_STREAMS; i++)
    if (s->st[i].conn != NULL && s->st[i].handle == handle) return &s->st[i];
  return NULL;
}

static void st_connected(void *ctx, tw_time_ms now) {
  stream *st = ctx;
  if (st->s->tc) tw_tcp_conns_handle_connected(st->s->tc, st->handle, now);
}
static void st_bytes(void *ctx, const uint8_t *b, size_t n, tw_time_ms now) {
  stream *st = ctx;
  if (st->s->tc) tw_tcp_conns_handle_bytes(st->s->tc, st->handle, b, n, now);
}
static void st_writable(void *ctx, tw_time_ms now) {
  stream *st = ctx;
  if (st->s->tc) tw_tcp_conns_handle_writable(st->s->tc, st->handle, now);
}
/* The socket failed or the peer closed: the owner forgets the handle (and
 * must not close it again). */
static void st_lost(void *ctx, tw_time_ms now) {
  stream *st = ctx;
  tw_io_conn_free(st->conn);
  st->conn = NULL;
  if (st->s->tc) tw_tcp_conns_handle_closed(st->s->tc, st->handle, now);
}

static int s_open(void *ctx, uint32_t handle, const tw_addr *addr) {
  tw_io_streams *s = ctx;
  stream *st = NULL;
  for (int i = 0; i < MAX_STREAMS && st == NULL; i++)
    if (s->st[i].conn == NULL) st = &s->st[i];
  if (st == NULL) return TW_E_FULL;
  static const tw_io_conn_ops ops = {st_connected, st_bytes, st_writable, st_lost};
  st->handle = handle;
  st->conn = tw_io_conn_open(s->io, addr, &ops, st);
  return st->conn != NULL ? TW_OK : TW_E_IO;
}

static void s_close(void *ctx, uint32_t handle) {
  stream *st = find(ctx, handle);
  if (st == NULL) return;
  tw_io_conn_free(st->conn);
  st->conn = NULL;
}

static long s_write(void *ctx, uint32_t handle, const uint8_t *bytes, size_t len) {
  stream *st = find(ctx, handle);
  return st != NULL ? tw_io_conn_write(st->conn, bytes, len) : -1;
}

static void s_want_write(void *ctx, uint32_t handle, bool on) {
  stream *st = find(ctx, handle);
  if (st != NULL) tw_io_conn_want_write(st->conn, on);
}

static void flush_hook(void *ctx, tw_time_ms now) {
  tw_io_streams *s = ctx;
  if (s->tc) tw_tcp_conns_flush(s->tc, now);
}

tw_io_streams *tw_io_streams_new(tw_io *io) {
  tw_io_streams *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->io = io;
  for (int i = 0; i < MAX_STREAMS; i++) s->st[i].s = s;
  if (tw_io_add_hook(io, flush_hook, s) != TW_OK) {
    free(s);
    return NULL;
  }
  return s;
}

void tw_io_streams_bind(tw_io_streams *s, tw_tcp_conns_config *cfg) {
  cfg->open = s_open;
  cfg->close = s_close;
  cfg->write = s_write;
  cfg->want_write = s_want_write;
  cfg->io_ctx = s;
}

void tw_io_streams_attach(tw_io_streams *s, tw_tcp_conns *tc) { s->tc = tc; }

void tw_io_streams_free(tw_io_streams *s) {
  if (s == NULL) return;
  tw_io_remove_hook(s->io, s);
  for (int i = 0; i < MAX_STREAMS; i++) tw_io_conn_free(s->st[i].conn);
  free(s);
}
