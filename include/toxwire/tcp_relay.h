/* The TCP relay, sans-I/O: the server that relays between clients who
 * cannot reach each other over UDP, and the client of one relay.
 *
 * Neither touches a socket. The driver (src/io/tcp_loop.c) feeds bytes it
 * read, and the module writes through a callback that may take fewer bytes
 * than offered; what the socket does not take waits in a bounded queue.
 * spec/tcp_relay.md describes the wire format and the policies here. */
#ifndef TOXWIRE_TCP_RELAY_H
#define TOXWIRE_TCP_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TW_TCP_HANDSHAKE_SIZE 128          /* client -> server */
#define TW_TCP_HANDSHAKE_RESPONSE_SIZE 96  /* server -> client */
#define TW_TCP_MAX_FRAME_CIPHER 2048       /* encrypted part of one frame */
#define TW_TCP_MAX_PACKET (TW_TCP_MAX_FRAME_CIPHER - TW_MAC_SIZE) /* 2032 plain bytes */
#define TW_TCP_FIRST_CONN_ID 16
#define TW_TCP_MAX_LINKS 240               /* connection ids 16..255 */
#define TW_TCP_MAX_OOB_DATA 1024
#define TW_TCP_PING_INTERVAL_MS 30000
#define TW_TCP_PING_TIMEOUT_MS 10000

/* Packet kinds inside the encrypted frames; 16 and up are data packets
 * whose kind is the connection id. */
typedef enum tw_tcp_kind {
  TW_TCP_ROUTE_REQUEST = 0x00,
  TW_TCP_ROUTE_RESPONSE = 0x01,
  TW_TCP_CONNECT_NOTIFICATION = 0x02,
  TW_TCP_DISCONNECT_NOTIFICATION = 0x03,
  TW_TCP_PING = 0x04,
  TW_TCP_PONG = 0x05,
  TW_TCP_OOB_SEND = 0x06,
  TW_TCP_OOB_RECV = 0x07,
  TW_TCP_ONION_REQUEST = 0x08,
  TW_TCP_ONION_RESPONSE = 0x09,
} tw_tcp_kind;

/* ------------------------------------------------------------------ */
/* Server                                                             */
/* ------------------------------------------------------------------ */

typedef struct tw_tcp_server tw_tcp_server;

/* Writes up to len bytes to the client's socket now. Returns the number
 * taken (0 when the socket is full), or -1 when the socket failed. */
typedef long tw_tcp_write_fn(void *ctx, void *user, const uint8_t *bytes, size_t len);

typedef struct tw_tcp_server_config {
  tw_keypair keys;            /* the relay's long-term (DHT) key pair */
  size_t max_clients;         /* 0: TW_TCP_SERVER_DEFAULT_MAX_CLIENTS */
  size_t max_per_addr;        /* connections from one IP; 0: default 32 */
  size_t queue_bytes;         /* per client, data packets; 0: 256 KiB */
  size_t total_queue_bytes;   /* all clients, data packets; 0: 256 MiB */
  tw_time_ms handshake_timeout_ms; /* to finish the handshake and confirm; 0: 10 s */
  tw_time_ms stall_timeout_ms; /* a queue with no write progress; 0: 10 s */
  tw_time_ms ping_interval_ms; /* 0: TW_TCP_PING_INTERVAL_MS */
  tw_time_ms ping_timeout_ms;  /* 0: TW_TCP_PING_TIMEOUT_MS */

  tw_tcp_write_fn *write;
  /* The client's queue holds bytes the socket refused: watch the socket
   * for writability (on) or stop (off). */
  void (*want_write)(void *ctx, void *user, bool on);
  /* The server dropped the client (reason: a TW_E_ code): close the
   * socket and forget user. Never called for tw_tcp_server_close. */
  void (*closed)(void *ctx, void *user, int reason);
  void *ctx; /* for write, want_write and closed */
  /* An onion request from client link (the 0x08 payload); optional. */
  int (*onion_request)(void *onion_ctx, uint64_t link, const uint8_t *data, size_t len,
                       tw_time_ms now);
  void *onion_ctx;
} tw_tcp_server_config;

#define TW_TCP_SERVER_DEFAULT_MAX_CLIENTS 16384

typedef struct tw_tcp_server_stats {
  uint32_t clients, confirmed, pending;  /* now */
  uint32_t links_connected;              /* now, counted once per pair */
  uint64_t queued_bytes;                 /* now, over all clients */
  uint64_t accepted, refused_full, refused_addr;
  uint64_t handshakes_ok, handshakes_bad;
  uint64_t closed_timeout, closed_ping, closed_stalled, closed_bad, closed_replaced;
  uint64_t data_relayed, data_bytes_relayed, oob_relayed, onion_requests, onion_responses;
  uint64_t pings_answered, dropped_queue_full;
  uint64_t dropped[TW_ERROR_COUNT]; /* packets dropped, by -reason */
} tw_tcp_server_stats;

tw_tcp_server *tw_tcp_server_new(const tw_tcp_server_config *cfg, const tw_env *env);
void tw_tcp_server_free(tw_tcp_server *s);

/* A TCP connection came in from addr. TW_OK with *id, or TW_E_FULL (too
 * many clients) or TW_E_RATE (too many from addr): close the socket. */
int tw_tcp_server_accept(tw_tcp_server *s, const tw_addr *addr, void *user, tw_time_ms now,
                         uint64_t *id);
/* Bytes read from client id. Returns TW_OK, or the reason the client was
 * dropped (closed() has then been called for it). */
int tw_tcp_server_handle_bytes(tw_tcp_server *s, uint64_t id, const uint8_t *bytes, size_t len,
                               tw_time_ms now);
/* The socket of client id can take bytes again. */
int tw_tcp_server_handle_writable(tw_tcp_server *s, uint64_t id, tw_time_ms now);
/* The socket closed (EOF or error): forget the client, tell its peers. */
void tw_tcp_server_close(tw_tcp_server *s, uint64_t id, tw_time_ms now);
/* Writes what this event queued (call once after each event). */
void tw_tcp_server_flush(tw_tcp_server *s, tw_time_ms now);
/* An onion response for client link (tw_onion_tcp_send_fn shape). */
void tw_tcp_server_send_onion_response(void *server, uint64_t link, const uint8_t *pkt,
                                       size_t len);
void tw_tcp_server_on_timer(tw_tcp_server *s, tw_time_ms now);
tw_time_ms tw_tcp_server_next_deadline(const tw_tcp_server *s);
void tw_tcp_server_get_stats(const tw_tcp_server *s, tw_tcp_server_stats *out);
const tw_key *tw_tcp_server_public_key(const tw_tcp_server *s);

/* ------------------------------------------------------------------ */
/* Client of one relay                                                */
/* ------------------------------------------------------------------ */

typedef struct tw_tcp_client tw_tcp_client;

typedef enum tw_tcp_client_state {
  TW_TCP_CLIENT_HANDSHAKING = 1, /* handshake sent, no answer yet */
  TW_TCP_CLIENT_CONNECTED = 2,   /* answer checked, first ping sent */
  TW_TCP_CLIENT_CLOSED = 3,      /* failed or timed out: drop the socket */
} tw_tcp_client_state;

typedef enum tw_tcp_client_event_kind {
  TW_TCP_EV_CONNECTED = 1,       /* the relay answered the handshake */
  TW_TCP_EV_ROUTE_RESPONSE = 2,  /* pk, conn_id (0: refused) */
  TW_TCP_EV_CONNECT = 3,         /* conn_id (and its pk) is now online */
  TW_TCP_EV_DISCONNECT = 4,      /* conn_id went offline */
  TW_TCP_EV_DATA = 5,            /* conn_id, data */
  TW_TCP_EV_OOB = 6,             /* pk (sender), data */
  TW_TCP_EV_ONION_RESPONSE = 7,  /* data: an onion response packet */
  TW_TCP_EV_PONG = 8,            /* our ping was answered */
  TW_TCP_EV_CLOSED = 9,          /* reason: why the client gave up */
} tw_tcp_client_event_kind;

typedef struct tw_tcp_client_event {
  tw_tcp_client_event_kind kind;
  uint8_t conn_id;
  tw_key pk;
  const uint8_t *data; /* valid during the call */
  size_t len;
  int reason;
} tw_tcp_client_event;

typedef struct tw_tcp_client_config {
  tw_keypair self;         /* our DHT key pair */
  tw_key relay_pk;         /* the relay's public key */
  size_t queue_bytes;      /* data packets waiting for the socket; 0: 256 KiB */
  tw_time_ms handshake_timeout_ms; /* 0: 10 s */
  tw_time_ms ping_interval_ms; /* 0: TW_TCP_PING_INTERVAL_MS */
  tw_time_ms ping_timeout_ms;  /* 0: TW_TCP_PING_TIMEOUT_MS */
  /* Writes to the relay's socket; user is NULL. */
  tw_tcp_write_fn *write;
  void (*want_write)(void *ctx, void *user, bool on);
  /* Events; the callback may send, but must not free the client. */
  void (*on_event)(void *ctx, const tw_tcp_client_event *ev, tw_time_ms now);
  void *ctx;
} tw_tcp_client_config;

typedef struct tw_tcp_client_stats {
  uint64_t frames_in, frames_out, bytes_in, bytes_out;
  uint64_t pings_sent, pongs_received, dropped_queue_full;
  uint64_t dropped[TW_ERROR_COUNT];
} tw_tcp_client_stats;

/* Queues the handshake; flush to send it once the socket is connected. */
tw_tcp_client *tw_tcp_client_new(const tw_tcp_client_config *cfg, const tw_env *env,
                                 tw_time_ms now);
void tw_tcp_client_free(tw_tcp_client *c);
tw_tcp_client_state tw_tcp_client_state_get(const tw_tcp_client *c);

/* Bytes read from the socket. TW_OK, or the reason the client closed (a
 * CLOSED event has been emitted). */
int tw_tcp_client_handle_bytes(tw_tcp_client *c, const uint8_t *bytes, size_t len,
                               tw_time_ms now);
int tw_tcp_client_handle_writable(tw_tcp_client *c, tw_time_ms now);
/* The socket closed under us. */
void tw_tcp_client_handle_eof(tw_tcp_client *c, tw_time_ms now);
void tw_tcp_client_flush(tw_tcp_client *c, tw_time_ms now);

/* Sending. Control packets (route requests, disconnects, pings) always
 * queue; data, OOB and onion packets return TW_E_FULL when the queue is
 * full, and TW_E_INVAL before the handshake completes. */
int tw_tcp_client_send_route_request(tw_tcp_client *c, const tw_key *pk);
int tw_tcp_client_send_disconnect(tw_tcp_client *c, uint8_t conn_id);
int tw_tcp_client_send_data(tw_tcp_client *c, uint8_t conn_id, const uint8_t *data, size_t len);
int tw_tcp_client_send_oob(tw_tcp_client *c, const tw_key *to, const uint8_t *data, size_t len);
int tw_tcp_client_send_onion_request(tw_tcp_client *c, const uint8_t *data, size_t len);
int tw_tcp_client_send_ping(tw_tcp_client *c, tw_time_ms now);
/* Sends an arbitrary plain packet: for conformance tests only. */
int tw_tcp_client_send_raw(tw_tcp_client *c, const uint8_t *plain, size_t len);

void tw_tcp_client_on_timer(tw_tcp_client *c, tw_time_ms now);
tw_time_ms tw_tcp_client_next_deadline(const tw_tcp_client *c);
void tw_tcp_client_get_stats(const tw_tcp_client *c, tw_tcp_client_stats *out);
/* Bytes queued for the socket. */
size_t tw_tcp_client_queued(const tw_tcp_client *c);

#ifdef __cplusplus
}
#endif
#endif
