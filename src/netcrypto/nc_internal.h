/* What net_crypto's files share: the connection and its two packet
 * buffers. Not part of the public API. */
#ifndef TW_NC_INTERNAL_H
#define TW_NC_INTERNAL_H

#include "core/crypto.h"
#include "netcrypto/nc_wire.h"
#include "toxwire/netcrypto.h"

#define TW_NC_KEY_CACHE 256
#define TW_NC_MIN_WINDOW 32       /* packets; also the floor after a loss */
#define TW_NC_INITIAL_WINDOW 64
#define TW_NC_MIN_RTO_MS 50       /* retransmit the oldest packet after */
#define TW_NC_QUEUE_DELAY_MS 4    /* round trip growth that ends slow start */
#define TW_NC_GROWTH_DIVISOR 8    /* after slow start: +1 packet per 8 confirmed */
#define TW_NC_STALE_SESSION_MS 4000 /* silent this long: a new handshake replaces it */
#define TW_NC_MAX_RTO_MS 2000
#define TW_NC_REQUEST_INTERVAL_MS 1000 /* a packet request at least this often while data is held */
#define TW_NC_INITIAL_RING 64     /* slots; rings grow by doubling */
/* A UDP address is "direct" while packets arrived from it this recently;
 * otherwise a session with a TCP route sends there and tries UDP once a
 * second, so a direct path that opens is found. An idle session hears an
 * alive packet every 8 s (TW_FCONN_ALIVE_INTERVAL_MS): 20 s lets one be
 * lost without a trip through the relay, and is still well inside the
 * 32 s alive timeout when UDP really fails. */
#define TW_NC_UDP_DIRECT_MS 20000
#define TW_NC_UDP_PROBE_MS 1000

/* One lossless packet held for sending or for in-order delivery. */
typedef struct nc_slot {
  uint8_t *data;        /* [id][payload]; NULL: empty slot */
  uint16_t len;
  bool acked;           /* sender: confirmed by a packet request */
  bool resend;          /* sender: queued for resending */
  bool counted;         /* sender: counted in in_flight */
  uint8_t sends;        /* sender: times sent */
  tw_time_ms sent_at;   /* sender: last sent; 0: never */
} nc_slot;

/* Packets numbered [start, end) in a power-of-two ring. */
typedef struct nc_ring {
  nc_slot *slot;
  uint32_t cap;
  uint32_t start, end;
} nc_ring;

typedef struct nc_conn {
  bool used;
  bool remove_pending;
  uint32_t id;
  uint32_t gen; /* grows each time the session is reset */
  tw_key peer, peer_dht;
  bool peer_dht_known;
  tw_addr addr; /* UDP */
  tw_addr tcp;  /* TW_AF_TCP_PEER, through relays (tw_tcp_conns) */
  tw_time_ms udp_recv_at, udp_probe_at;
  uint8_t longterm_shared[TW_SHARED_KEY_SIZE];
  tw_nc_state state;

  /* cookie and handshake */
  uint64_t echo_id;
  uint8_t tries;
  tw_time_ms next_try;
  bool have_cookie;
  uint8_t cookie[TW_NC_COOKIE_SIZE]; /* the peer's, for our handshake */
  bool handshake_built;
  uint8_t handshake[TW_NC_HANDSHAKE_SIZE];
  bool session_made;  /* our session key pair and base nonce exist */
  tw_keypair session;
  /* Each side seals with the base nonce of the handshake it sent (so says
   * c-toxcore 0.2.18 on the wire; spec/netcrypto.md). */
  uint8_t send_nonce[TW_NONCE_SIZE]; /* our base nonce, + packets sent */
  uint8_t recv_nonce[TW_NONCE_SIZE]; /* the peer's base nonce, moved on as it advances */
  tw_key peer_session;
  bool peer_session_known;
  uint8_t session_shared[TW_SHARED_KEY_SIZE];

  /* data */
  nc_ring send, recv;
  uint32_t next_new;       /* first never-sent number in send */
  uint32_t resend_pending; /* slots with resend set */
  uint32_t window;         /* packets allowed in flight */
  uint32_t ssthresh;
  uint32_t grow_acc;       /* packets confirmed toward the next window step */
  uint32_t recovery_point; /* losses below this belong to the last backoff */
  uint32_t in_flight;      /* sent and, as far as we know, still on its way */
  uint32_t srtt_ms, rttvar_ms, min_rtt_ms;
  uint8_t rto_backoff;       /* timeouts in a row: the timeout doubles */
  tw_time_ms last_progress;  /* send.start last advanced (or first send) */
  tw_time_ms ack_due;        /* TW_NEVER: no packet request owed */
  tw_time_ms last_request_sent;
  uint32_t recv_highest;     /* one past the highest number the peer says it sent */
  tw_time_ms last_recv;

  tw_nc_conn_stats stats;
} nc_conn;

struct tw_nc {
  tw_nc_config cfg;
  tw_env env;
  tw_keycache *dht_keys; /* shared keys with DHT keys (cookie requests) */
  uint8_t cookie_key[2][TW_SHARED_KEY_SIZE]; /* [0] current, [1] previous */
  tw_time_ms cookie_key_at;
  nc_conn *conns;
  uint32_t conn_cap;
  uint32_t last_hit; /* the connection the last data packet was for */
  uint8_t **pool;    /* free packet buffers */
  size_t pool_count, pool_cap;
  bool in_handler;
  tw_nc_stats stats;
};

/* netcrypto.c */
nc_conn *tw_nc_conn_get(tw_nc *nc, uint32_t id);
void tw_nc_emit(tw_nc *nc, nc_conn *c, tw_nc_event *ev);
/* Sends a packet of the session: by UDP while it is direct, else through
 * the relays (with a UDP try now and then); setup packets (every_path)
 * go both ways. */
void tw_nc_transmit(tw_nc *nc, nc_conn *c, const uint8_t *pkt, size_t len, bool every_path,
                    tw_time_ms now);
/* The connection a packet from this address belongs to: its UDP or TCP
 * address; notes when UDP last worked. */
bool tw_nc_conn_is_from(nc_conn *c, const tw_addr *from, tw_time_ms now);
void tw_nc_set_state(tw_nc *nc, nc_conn *c, tw_nc_state s, int reason, tw_time_ms now);
uint8_t *tw_nc_buf_get(tw_nc *nc);
void tw_nc_buf_put(tw_nc *nc, uint8_t *b);
/* Ends the session: buffers emptied, keys wiped, state IDLE. */
void tw_nc_session_reset(tw_nc *nc, nc_conn *c, int reason, tw_time_ms now);

/* cookie.c */
void tw_nc_cookie_key_rotate(tw_nc *nc, tw_time_ms now);
void tw_nc_send_cookie_request(tw_nc *nc, nc_conn *c, tw_time_ms now);
int tw_nc_handle_cookie_request(tw_nc *nc, const tw_addr *from, const uint8_t *pkt, size_t len,
                                tw_time_ms now);
int tw_nc_handle_cookie_response(tw_nc *nc, const tw_addr *from, const uint8_t *pkt,
                                 size_t len, tw_time_ms now);
void tw_nc_cookie_make(tw_nc *nc, uint8_t out[TW_NC_COOKIE_SIZE], const tw_key *real_pk,
                       const tw_key *dht_pk, tw_time_ms now);
int tw_nc_cookie_check(tw_nc *nc, tw_nc_cookie_plain *out, const uint8_t in[TW_NC_COOKIE_SIZE],
                       tw_time_ms now);

/* handshake.c */
void tw_nc_send_handshake(tw_nc *nc, nc_conn *c, tw_time_ms now);
int tw_nc_handle_handshake(tw_nc *nc, const tw_addr *from, const uint8_t *pkt, size_t len,
                           tw_time_ms now);

/* session_send.c */
int tw_nc_send_data_packet(tw_nc *nc, nc_conn *c, uint32_t number, const uint8_t *data,
                           size_t len, tw_time_ms now);
void tw_nc_send_packet_request(tw_nc *nc, nc_conn *c, tw_time_ms now);
void tw_nc_flush(tw_nc *nc, nc_conn *c, tw_time_ms now);
void tw_nc_handle_acks(tw_nc *nc, nc_conn *c, uint32_t buffer_start, tw_time_ms now);
void tw_nc_handle_packet_request(tw_nc *nc, nc_conn *c, uint32_t buffer_start,
                                 const uint8_t *data, size_t len, tw_time_ms now);
void tw_nc_send_timers(tw_nc *nc, nc_conn *c, tw_time_ms now);
tw_time_ms tw_nc_send_deadline(const nc_conn *c);

/* session_recv.c */
int tw_nc_handle_data(tw_nc *nc, const tw_addr *from, const uint8_t *pkt, size_t len,
                      tw_time_ms now);

/* ring.c */
int tw_nc_ring_reserve(nc_ring *r, uint32_t number); /* grows to hold number */
static inline nc_slot *tw_nc_ring_at(nc_ring *r, uint32_t number) {
  return &r->slot[number & (r->cap - 1)];
}
void tw_nc_ring_clear(tw_nc *nc, nc_ring *r);

#endif
