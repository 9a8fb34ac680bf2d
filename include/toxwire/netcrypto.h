/* net_crypto, sans-I/O: cookies, the handshake, and encrypted sessions that
 * carry lossless (ordered, retransmitted) and lossy data between two peers
 * who know each other's long-term and DHT keys. spec/netcrypto.md.
 *
 * A tw_nc holds one connection per peer the embedder adds (a friend). It
 * never allocates for a stranger: a cookie request is answered from the
 * packet alone, and a handshake is only accepted from an added peer. */
#ifndef TOXWIRE_NETCRYPTO_H
#define TOXWIRE_NETCRYPTO_H

#include "env.h"
#include "error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TW_NC_COOKIE_LIFETIME_MS 15000      /* a cookie is accepted for (spec) */
#define TW_NC_COOKIE_KEY_LIFETIME_MS 30000  /* the cookie key rotates; one old key kept */
#define TW_NC_COOKIE_REQUEST_INTERVAL_MS 1000
#define TW_NC_COOKIE_REQUEST_TRIES 8        /* then the address is stale */
#define TW_NC_HANDSHAKE_INTERVAL_MS 1000
#define TW_NC_HANDSHAKE_TRIES 8             /* unconfirmed after these: lost */
#define TW_NC_MAX_PACKET_SIZE 1400          /* largest crypto data datagram */
#define TW_NC_MAX_DATA_SIZE 1373            /* [id][payload] in one data packet */
#define TW_NC_BUFFER_PACKETS 32768          /* packets in flight / held per direction */
#define TW_NC_MAX_CONNECTIONS 1024

/* Data ids the transport itself uses; 16.. are the upper layers'. */
enum {
  TW_NC_ID_PADDING = 0,
  TW_NC_ID_PACKET_REQUEST = 1,
  TW_NC_ID_KILL = 2,
  TW_NC_ID_FIRST_USER = 16,
  TW_NC_ID_FIRST_LOSSY = 192, /* 192..254 lossy, the rest lossless */
  TW_NC_ID_LAST_LOSSY = 254,
};

typedef struct tw_nc tw_nc;

/* One connection's progress, as the spec names it. */
typedef enum tw_nc_state {
  TW_NC_IDLE = 0,          /* no address, or given up: nothing is sent */
  TW_NC_COOKIE_REQUESTING, /* cookie requests out, no answer yet */
  TW_NC_HANDSHAKE_SENT,    /* our handshake out, none received */
  TW_NC_NOT_CONFIRMED,     /* handshake received ("accepted"), no data yet */
  TW_NC_ESTABLISHED,       /* data received: "confirmed" */
} tw_nc_state;

typedef enum tw_nc_event_kind {
  TW_NC_EV_STATE = 1,     /* state changed (state, reason) */
  TW_NC_EV_LOSSLESS = 2,  /* in-order lossless data: [id][payload] */
  TW_NC_EV_LOSSY = 3,     /* lossy data: [id][payload] */
  TW_NC_EV_ACKED = 4,     /* the peer confirmed packets: send_acked grew */
  TW_NC_EV_DHT_KEY = 5,   /* a handshake came with another DHT key (dht_pk) */
  TW_NC_EV_ADDR = 6,      /* the peer's address, learned from its packets */
} tw_nc_event_kind;

typedef struct tw_nc_event {
  tw_nc_event_kind kind;
  uint32_t conn;
  tw_time_ms time;
  const tw_key *peer;      /* the peer's long-term key */
  tw_nc_state state;       /* STATE: the new state */
  tw_nc_state old_state;
  int reason;              /* STATE into IDLE: TW_OK (killed by us), TW_E_EXPIRED
                              (timeout), TW_E_NOROUTE (killed by peer),
                              TW_E_REPLAY (replaced: the peer restarted or began
                              a new session) */
  const uint8_t *data;     /* LOSSLESS / LOSSY, valid during the call */
  size_t len;
  uint32_t packet_number;  /* LOSSLESS: its number */
  uint32_t send_acked;     /* ACKED: every packet below this has arrived */
  tw_key dht_pk;           /* DHT_KEY */
  tw_addr addr;            /* ADDR */
} tw_nc_event;

typedef void tw_nc_event_fn(void *ctx, const tw_nc_event *ev);
typedef void tw_nc_send_fn(void *ctx, const tw_addr *to, const uint8_t *pkt, size_t len);

typedef struct tw_nc_config {
  tw_keypair self_keys;  /* long-term */
  tw_keypair dht_keys;   /* cookie requests are sealed with DHT keys */
  tw_nc_send_fn *send;
  void *send_ctx;
  tw_nc_event_fn *on_event;
  void *event_ctx;
} tw_nc_config;

typedef struct tw_nc_conn_stats {
  tw_nc_state state;
  uint64_t bytes_sent, bytes_received;     /* payload bytes, lossless + lossy */
  uint64_t packets_sent, packets_received; /* data packets on the wire */
  uint64_t packets_resent, requests_sent, requests_received;
  uint32_t in_flight;    /* lossless packets sent and not confirmed */
  uint32_t recv_held;    /* lossless packets held waiting for a gap */
  uint32_t window;       /* congestion window, packets */
  uint32_t rtt_ms;       /* smoothed round trip */
  uint64_t send_rate;    /* packets per second allowed */
} tw_nc_conn_stats;

typedef struct tw_nc_stats {
  uint64_t cookie_requests_in, cookie_responses_out, cookie_requests_out;
  uint64_t cookie_responses_in, handshakes_in, handshakes_out;
  uint64_t data_in, data_out;
  uint64_t dropped[TW_ERROR_COUNT]; /* indexed by -error */
  uint64_t dropped_total;
  uint32_t connections, established;
} tw_nc_stats;

tw_nc *tw_nc_new(const tw_nc_config *cfg, const tw_env *env, tw_time_ms now);
void tw_nc_free(tw_nc *nc);

/* True for the kinds tw_nc_handle_packet takes (0x18, 0x19, 0x1a, 0x1b). */
bool tw_nc_handles_kind(uint8_t kind);
int tw_nc_handle_packet(tw_nc *nc, const tw_addr *from, const uint8_t *pkt, size_t len,
                        tw_time_ms now);
void tw_nc_on_timer(tw_nc *nc, tw_time_ms now);
tw_time_ms tw_nc_next_deadline(tw_nc *nc);

/* A peer we will connect to and accept handshakes from. *conn receives its
 * id. TW_E_FULL past TW_NC_MAX_CONNECTIONS; TW_E_INVAL for our own key. */
int tw_nc_conn_add(tw_nc *nc, const tw_key *peer, uint32_t *conn);
int tw_nc_conn_remove(tw_nc *nc, uint32_t conn, tw_time_ms now);
int tw_nc_conn_find(const tw_nc *nc, const tw_key *peer, uint32_t *conn);
/* The peer's DHT key (from the onion or the DHT). A different key than the
 * one a live session uses ends that session. */
int tw_nc_conn_set_dht_key(tw_nc *nc, uint32_t conn, const tw_key *dht_pk, tw_time_ms now);
/* An address to try: starts cookie requests unless a session is live. A
 * UDP address, or a TW_AF_TCP_PEER one (tw_tcp_conns): a connection may
 * have one of each; it sends by UDP while packets arrive from there
 * (20 s, TW_NC_UDP_DIRECT_MS), else through the relays with a UDP try each
 * second, so it moves to UDP when a direct path opens. */
int tw_nc_conn_set_addr(tw_nc *nc, uint32_t conn, const tw_addr *addr, tw_time_ms now);
/* Ends the session: a kill packet if one was live, then IDLE. */
int tw_nc_conn_kill(tw_nc *nc, uint32_t conn, tw_time_ms now);
tw_nc_state tw_nc_conn_state(const tw_nc *nc, uint32_t conn);
/* True while packets arrive from the peer's UDP address (the session is
 * direct, not through TCP relays). */
bool tw_nc_conn_is_direct(const tw_nc *nc, uint32_t conn, tw_time_ms now);
/* The peer's DHT key as net_crypto knows it; TW_E_NOTFOUND when unknown. */
int tw_nc_conn_peer_dht(const tw_nc *nc, uint32_t conn, tw_key *out);
int tw_nc_conn_get_stats(const tw_nc *nc, uint32_t conn, tw_nc_conn_stats *out);

/* Sends [id][payload] (1..TW_NC_MAX_DATA_SIZE bytes, id >= 16, not lossy).
 * *number receives its packet number: the peer has it once
 * tw_nc_conn_delivered says so. TW_E_FULL when the queue is full (about
 * two congestion windows, at most TW_NC_BUFFER_PACKETS: see
 * tw_nc_conn_send_space; wait for TW_NC_EV_ACKED); TW_E_NOROUTE unless
 * ESTABLISHED. */
int tw_nc_send_lossless(tw_nc *nc, uint32_t conn, const uint8_t *data, size_t len,
                        uint32_t *number, tw_time_ms now);
/* Sends [id][payload] with id in 192..254, once, unordered. */
int tw_nc_send_lossy(tw_nc *nc, uint32_t conn, const uint8_t *data, size_t len,
                     tw_time_ms now);
/* True once the peer has confirmed packet number (sent by this session). */
bool tw_nc_conn_delivered(const tw_nc *nc, uint32_t conn, uint32_t number);
/* Lossless packets that can be queued now before TW_E_FULL. */
uint32_t tw_nc_conn_send_space(const tw_nc *nc, uint32_t conn);

void tw_nc_get_stats(const tw_nc *nc, tw_nc_stats *out);
const char *tw_nc_state_name(tw_nc_state s);

#ifdef __cplusplus
}
#endif
#endif
