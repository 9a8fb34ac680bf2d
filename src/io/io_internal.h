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

/* Socket address conversions (udp_loop.c). */
void tw_io_sockaddr_from_addr(const tw_addr *a, bool v6, struct sockaddr_storage *ss,
                              socklen_t *len);
bool tw_io_addr_from_sockaddr(const struct sockaddr_storage *ss, tw_addr *a);
/* The address to bind: ip (NULL: any; IPv4 text is mapped on a v6 socket)
 * and port. False when ip is not an address. */
bool tw_io_bind_sockaddr(const char *ip, uint16_t port, bool v6, struct sockaddr_storage *ss,
                         socklen_t *sl);

#endif
