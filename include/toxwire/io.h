/* The event-driven driver: owns the UDP socket and the clock, feeds packets
 * to a sans-I/O protocol object and sleeps until its next deadline or the
 * next packet. The only part of toxwire that touches the OS. */
#ifndef TOXWIRE_IO_H
#define TOXWIRE_IO_H

#include "error.h"
#include "log.h"
#include "tcp_relay.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TW_IO_PORT_RANGE_START 33445
#define TW_IO_PORT_RANGE_END 33545

typedef struct tw_io tw_io;

/* What the driver drives: one object, three calls. */
typedef struct tw_io_handler {
  void *ctx;
  int (*handle_packet)(void *ctx, const tw_addr *from, const uint8_t *pkt, size_t len,
                       tw_time_ms now);
  void (*on_timer)(void *ctx, tw_time_ms now);
  tw_time_ms (*next_deadline)(void *ctx);
} tw_io_handler;

typedef struct tw_io_udp_config {
  const char *bind_ip;  /* NULL: all addresses */
  uint16_t port;        /* 0: the first free port in 33445..33545 */
  bool ipv6;            /* a dual-stack IPv6 socket */
  bool ipv4_fallback;   /* with ipv6: use IPv4 alone if IPv6 is unavailable */
} tw_io_udp_config;

typedef struct tw_io_stats {
  uint64_t wakeups;     /* times the loop woke: packets, timers, signals */
  uint64_t timer_runs;  /* times on_timer ran */
  uint64_t recv_batches, packets_in, packets_out, send_errors;
} tw_io_stats;

tw_io *tw_io_new(tw_logger log);
void tw_io_free(tw_io *io);

/* Opens the UDP socket. TW_E_ADDRINUSE when an explicit port is taken or the
 * whole default range is; *bound_port receives the port. */
int tw_io_bind_udp(tw_io *io, const tw_io_udp_config *cfg, uint16_t *bound_port);
bool tw_io_is_ipv6(const tw_io *io);
void tw_io_set_handler(tw_io *io, const tw_io_handler *h);

/* Queues a datagram; queued datagrams leave in batches when the current
 * event is done. to == NULL broadcasts to the LAN (port 33445). */
void tw_io_send(tw_io *io, const tw_addr *to, const uint8_t *pkt, size_t len);
/* Suitable as a tw_dht_send_fn with the tw_io as ctx. */
void tw_io_send_cb(void *io, const tw_addr *to, const uint8_t *pkt, size_t len);

/* Monotonic milliseconds. */
tw_time_ms tw_io_now(const tw_io *io);
/* Calls fn every interval_ms (for status lines); 0 disables. */
void tw_io_set_periodic(tw_io *io, tw_time_ms interval_ms, void (*fn)(void *ctx, tw_time_ms now),
                        void *ctx);
/* Calls fn whenever fd is readable (a command stream such as stdin); one
 * descriptor at a time, fd < 0 stops watching. */
int tw_io_watch_fd(tw_io *io, int fd, void (*fn)(void *ctx, int fd, tw_time_ms now), void *ctx);
/* Runs until tw_io_stop, SIGINT or SIGTERM. Returns the signal number that
 * stopped it, or 0. */
int tw_io_run(tw_io *io);
void tw_io_stop(tw_io *io);
/* Re-reads the handler's deadline and re-arms the timer (call after doing
 * something to the protocol object from outside the loop). */
void tw_io_rearm(tw_io *io);
tw_io_stats tw_io_get_stats(const tw_io *io);

/* Randomness for tw_env, from libsodium's randombytes, buffered in the
 * tw_io given as ctx (NULL: unbuffered). */
void tw_io_random(void *ctx, uint8_t *out, size_t len);

/* ---- TCP relay sockets (src/io/tcp_loop.c) ---- */

typedef struct tw_io_tcp_server tw_io_tcp_server;

typedef struct tw_io_tcp_listen {
  const char *bind_ip;    /* NULL: all addresses */
  const uint16_t *ports;  /* one listening socket per port */
  size_t nports;
  bool ipv6;              /* dual-stack sockets */
} tw_io_tcp_listen;

/* Listens on every port and serves the relay cfg describes (its write,
 * want_write, closed and ctx are the driver's and are filled in here).
 * Raises the open-files limit to its hard maximum. On failure *why names
 * the port and the reason. */
int tw_io_tcp_server_start(tw_io *io, const tw_io_tcp_listen *l, const tw_tcp_server_config *cfg,
                           const tw_env *env, tw_io_tcp_server **out, char *why, size_t whylen);
tw_tcp_server *tw_io_tcp_server_relay(tw_io_tcp_server *t);
void tw_io_tcp_server_free(tw_io_tcp_server *t);

typedef struct tw_io_tcp_client tw_io_tcp_client;

/* Connects to addr and runs a relay client over the socket (cfg's write,
 * want_write are filled in; on_event and ctx are the caller's). A failed
 * connection arrives as a CLOSED event. */
tw_io_tcp_client *tw_io_tcp_client_connect(tw_io *io, const tw_addr *addr,
                                           const tw_tcp_client_config *cfg, const tw_env *env);
tw_tcp_client *tw_io_tcp_client_relay(tw_io_tcp_client *t);
void tw_io_tcp_client_free(tw_io_tcp_client *t);

/* ---- outgoing TCP streams for tw_tcp_conns (src/io/stream_loop.c) ---- */
typedef struct tw_io_streams tw_io_streams;
struct tw_tcp_conns;
struct tw_tcp_conns_config;
tw_io_streams *tw_io_streams_new(tw_io *io);
/* Fills in cfg's open, close, write, want_write and io_ctx. */
void tw_io_streams_bind(tw_io_streams *s, struct tw_tcp_conns_config *cfg);
/* The tw_tcp_conns built with that config: it gets the sockets' news and
 * is flushed after every event. */
void tw_io_streams_attach(tw_io_streams *s, struct tw_tcp_conns *tc);
/* Closes every socket; free the tw_tcp_conns first (it closes through us). */
void tw_io_streams_free(tw_io_streams *s);

/* "HOST:PORT:KEY" (HOST may be a name, an IPv4 address or an IPv6 address,
 * with or without brackets). TW_E_INVAL with a reason in *why. */
int tw_parse_node_spec(const char *spec, bool allow_ipv6, tw_node_info *out, const char **why);
/* Resolves host (numeric or a name) to an address with the given port. */
int tw_resolve(const char *host, uint16_t port, bool allow_ipv6, tw_addr *out);

#ifdef __cplusplus
}
#endif
#endif
