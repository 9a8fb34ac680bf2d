/* What the drivers in src/io share with the main loop (udp_loop.c). */
#ifndef TW_IO_INTERNAL_H
#define TW_IO_INTERNAL_H

#include <event2/event.h>
#include <sys/socket.h>

#include "toxwire/io.h"

struct event_base *tw_io_event_base(tw_io *io);
void tw_io_note_wakeup(tw_io *io);
/* Runs the hooks, sends queued datagrams and re-arms the timer: call at
 * the end of every event a driver handles. */
void tw_io_after_event(tw_io *io);
/* fn runs after every event (a flush of queued output and re-arming of
 * another object's timer). */
int tw_io_add_hook(tw_io *io, void (*fn)(void *ctx, tw_time_ms now), void *ctx);
void tw_io_remove_hook(tw_io *io, void *ctx);

/* An outgoing TCP connection (stream_loop.c): connects, reads, writes and
 * reports; the owner may free it from inside any of its callbacks. lost:
 * the connect failed, the peer closed, or the socket broke. */
typedef struct tw_io_conn tw_io_conn;
typedef struct tw_io_conn_ops {
  void (*connected)(void *ctx, tw_time_ms now);
  void (*bytes)(void *ctx, const uint8_t *b, size_t n, tw_time_ms now);
  void (*writable)(void *ctx, tw_time_ms now);
  void (*lost)(void *ctx, tw_time_ms now);
} tw_io_conn_ops;
tw_io_conn *tw_io_conn_open(tw_io *io, const tw_addr *addr, const tw_io_conn_ops *ops, void *ctx);
/* Bytes taken (0 while connecting or when the socket is full), -1 on error. */
long tw_io_conn_write(tw_io_conn *c, const uint8_t *bytes, size_t len);
void tw_io_conn_want_write(tw_io_conn *c, bool on);
bool tw_io_conn_connecting(const tw_io_conn *c);
/* A non-blocking write to a stream socket: bytes taken, 0 when it is
 * full, -1 when it failed (the TCP relay's accepted clients use it too). */
long tw_io_sock_write(int fd, const uint8_t *bytes, size_t len);
void tw_io_conn_free(tw_io_conn *c);
/* Socket address conversions (udp_loop.c). */
void tw_io_sockaddr_from_addr(const tw_addr *a, bool v6, struct sockaddr_storage *ss,
                              socklen_t *len);
bool tw_io_addr_from_sockaddr(const struct sockaddr_storage *ss, tw_addr *a);
/* The address to bind: ip (NULL: any; IPv4 text is mapped on a v6 socket)
 * and port. False when ip is not an address. */
bool tw_io_bind_sockaddr(const char *ip, uint16_t port, bool v6, struct sockaddr_storage *ss,
                         socklen_t *sl);

#endif
