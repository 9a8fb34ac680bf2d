/* Outgoing TCP streams for tw_tcp_conns: it asks for a connection by
 * handle, and this file connects, reads, writes and reports back by the
 * same handle. The protocol object never sees a descriptor. */
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

#define MAX_STREAMS TW_TCP_CONNS_MAX_CONNECTED
#define READ_CHUNK 65536

typedef struct stream {
  bool used, connecting;
  uint32_t handle;
  int fd;
  struct event *rev, *wev;
  struct tw_io_streams *s;
} stream;

struct tw_io_streams {
  tw_io *io;
  tw_tcp_conns *tc;
  stream st[MAX_STREAMS];
  uint8_t buf[READ_CHUNK];
};

static stream *find(tw_io_streams *s, uint32_t handle) {
  for (int i = 0; i < MAX_STREAMS; i++)
    if (s->st[i].used && s->st[i].handle == handle) return &s->st[i];
  return NULL;
}

static void drop(stream *st) {
  if (st->rev) event_free(st->rev);
  if (st->wev) event_free(st->wev);
  if (st->fd >= 0) close(st->fd);
  tw_io_streams *s = st->s;
  memset(st, 0, sizeof *st);
  st->s = s;
  st->fd = -1;
}

/* The socket failed or the peer closed: tell the owner, who forgets the
 * handle (and must not close it again). */
static void lost(stream *st, tw_time_ms now) {
  uint32_t h = st->handle;
  tw_io_streams *s = st->s;
  drop(st);
  if (s->tc) tw_tcp_conns_handle_closed(s->tc, h, now);
}

static void on_read(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  stream *st = arg;
  tw_io_streams *s = st->s;
  tw_io_note_wakeup(s->io);
  tw_time_ms now = tw_io_now(s->io);
  ssize_t r = recv(fd, s->buf, sizeof s->buf, MSG_DONTWAIT);
  if (r > 0) {
    if (s->tc) tw_tcp_conns_handle_bytes(s->tc, st->handle, s->buf, (size_t)r, now);
  } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    lost(st, now);
  }
  tw_io_after_event(s->io);
}

static void on_write(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  stream *st = arg;
  tw_io_streams *s = st->s;
  tw_io_note_wakeup(s->io);
  tw_time_ms now = tw_io_now(s->io);
  if (st->connecting) {
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err != 0) {
      lost(st, now);
      tw_io_after_event(s->io);
      return;
    }
    st->connecting = false;
    event_del(st->wev);
    event_add(st->rev, NULL);
    if (s->tc) tw_tcp_conns_handle_connected(s->tc, st->handle, now);
  } else if (s->tc) {
    tw_tcp_conns_handle_writable(s->tc, st->handle, now);
  }
  tw_io_after_event(s->io);
}

static int s_open(void *ctx, uint32_t handle, const tw_addr *addr) {
  tw_io_streams *s = ctx;
  stream *st = NULL;
  for (int i = 0; i < MAX_STREAMS && st == NULL; i++)
    if (!s->st[i].used) st = &s->st[i];
  if (st == NULL) return TW_E_FULL;
  bool v6 = addr->family == TW_AF_INET6;
  st->fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (st->fd < 0) return TW_E_IO;
  st->used = st->connecting = true;
  st->handle = handle;
  int one = 1;
  setsockopt(st->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct event_base *b = tw_io_event_base(s->io);
  st->rev = event_new(b, st->fd, EV_READ | EV_PERSIST, on_read, st);
  st->wev = event_new(b, st->fd, EV_WRITE | EV_PERSIST, on_write, st);
  struct sockaddr_storage ss;
  socklen_t sl;
  tw_io_sockaddr_from_addr(addr, v6, &ss, &sl);
  if (st->rev == NULL || st->wev == NULL ||
      (connect(st->fd, (struct sockaddr *)&ss, sl) != 0 && errno != EINPROGRESS)) {
    drop(st);
    return TW_E_IO;
  }
  event_add(st->wev, NULL); /* writable: connected, or failed */
  return TW_OK;
}

static void s_close(void *ctx, uint32_t handle) {
  stream *st = find(ctx, handle);
  if (st != NULL) drop(st);
}

static long s_write(void *ctx, uint32_t handle, const uint8_t *bytes, size_t len) {
  stream *st = find(ctx, handle);
  if (st == NULL) return -1;
  if (st->connecting) return 0;
  for (;;) {
    ssize_t w = send(st->fd, bytes, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w >= 0) return (long)w;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return -1;
  }
}

static void s_want_write(void *ctx, uint32_t handle, bool on) {
  stream *st = find(ctx, handle);
  if (st == NULL || st->connecting) return; /* the write event is on until connected */
  if (on) event_add(st->wev, NULL);
  else event_del(st->wev);
}

static void flush_hook(void *ctx, tw_time_ms now) {
  tw_io_streams *s = ctx;
  if (s->tc) tw_tcp_conns_flush(s->tc, now);
}

tw_io_streams *tw_io_streams_new(tw_io *io) {
  tw_io_streams *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->io = io;
  for (int i = 0; i < MAX_STREAMS; i++) {
    s->st[i].s = s;
    s->st[i].fd = -1;
  }
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
  for (int i = 0; i < MAX_STREAMS; i++)
    if (s->st[i].used) drop(&s->st[i]);
  free(s);
}
