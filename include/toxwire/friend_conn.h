/* Friend connections, sans-I/O: for each friend, the work that gets a
 * net_crypto session up and keeps it up (spec "Friend connection",
 * spec/friend_conn.md). It ties the onion (the friend's DHT key), the DHT
 * (the friend's address) and net_crypto (the session) together, and reports
 * each friend's progress as one of six states. */
#ifndef TOXWIRE_FRIEND_CONN_H
#define TOXWIRE_FRIEND_CONN_H

#include "dht.h"
#include "env.h"
#include "error.h"
#include "netcrypto.h"
#include "onion.h"
#include "tcp_conns.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TW_FCONN_ALIVE_INTERVAL_MS 8000   /* an alive packet this often */
#define TW_FCONN_ALIVE_TIMEOUT_MS 32000   /* none received for this long: lost */
#define TW_FCONN_DHT_KEY_FRESH_MS 122000  /* a DHT key is kept this long unheard */
#define TW_FCONN_RETRY_MS 5000            /* no address: look again this often */
#define TW_FCONN_SHARE_RELAYS_MS 300000
#define TW_FCONN_SHARE_RELAYS_COUNT 3 /* relays in one share-relays packet */
#define TW_FCONN_MAX_FRIENDS TW_NC_MAX_CONNECTIONS

enum {
  TW_FCONN_ID_ALIVE = 0x10,
  TW_FCONN_ID_SHARE_RELAYS = 0x11,
};

/* A friend's progress (the seed's names). */
typedef enum tw_fconn_state {
  TW_FCONN_AWAITING_DHT_KEY = 0,   /* we do not know its DHT key */
  TW_FCONN_ACQUIRING_IP_ADDRESS,   /* we know the key; the DHT is searching */
  TW_FCONN_ACQUIRING_COOKIE,       /* we have an address; asking for a cookie */
  TW_FCONN_AWAITING_HANDSHAKE,     /* our handshake is out */
  TW_FCONN_AWAITING_SESSION_PACKET,/* its handshake is in; no data yet */
  TW_FCONN_ESTABLISHED,
} tw_fconn_state;

typedef struct tw_fconn tw_fconn;

typedef enum tw_fconn_event_kind {
  TW_FCONN_EV_STATE = 1,    /* state, old_state, time */
  TW_FCONN_EV_LOSSLESS = 2, /* in-order data from the friend: [id][payload], id >= 0x12 */
  TW_FCONN_EV_LOSSY = 3,
  TW_FCONN_EV_ACKED = 4,    /* the friend confirmed lossless packets */
} tw_fconn_event_kind;

typedef struct tw_fconn_event {
  tw_fconn_event_kind kind;
  uint32_t friend_id;
  const tw_key *peer;
  tw_time_ms time;
  tw_fconn_state state, old_state;
  const uint8_t *data;
  size_t len;
} tw_fconn_event;

typedef void tw_fconn_event_fn(void *ctx, const tw_fconn_event *ev);

typedef struct tw_fconn_config {
  tw_dht *dht;     /* required */
  tw_onion *onion; /* required, with its client on */
  tw_nc *nc;       /* required */
  /* Optional: TCP relays. Friends' relays (from their DHT public key
   * packets and share-relays packets) are used to reach them, and ours are
   * shared with them once connected. */
  tw_tcp_conns *tcp;
  tw_fconn_event_fn *on_event;
  void *event_ctx;
} tw_fconn_config;

tw_fconn *tw_fconn_new(const tw_fconn_config *cfg, const tw_env *env, tw_time_ms now);
void tw_fconn_free(tw_fconn *fc);

/* The node passes the events of the layers below through these. */
void tw_fconn_handle_onion_event(tw_fconn *fc, const tw_onion_event *ev);
void tw_fconn_handle_nc_event(tw_fconn *fc, const tw_nc_event *ev);
/* The tw_dht on_search_found callback: a friend's DHT node answered. */
void tw_fconn_handle_search_found(tw_fconn *fc, const tw_key *dht_pk, const tw_addr *addr,
                                  tw_time_ms now);
void tw_fconn_on_timer(tw_fconn *fc, tw_time_ms now);
tw_time_ms tw_fconn_next_deadline(tw_fconn *fc);

/* Starts connecting to pk; *friend_id receives its id (the same number
 * the tw_nc connection has). */
int tw_fconn_add(tw_fconn *fc, const tw_key *pk, uint32_t *friend_id, tw_time_ms now);
int tw_fconn_remove(tw_fconn *fc, uint32_t friend_id, tw_time_ms now);
int tw_fconn_find(const tw_fconn *fc, const tw_key *pk, uint32_t *friend_id);
tw_fconn_state tw_fconn_get_state(const tw_fconn *fc, uint32_t friend_id);
const tw_key *tw_fconn_peer(const tw_fconn *fc, uint32_t friend_id);

/* Data to an established friend: see tw_nc_send_lossless / _lossy. */
int tw_fconn_send_lossless(tw_fconn *fc, uint32_t friend_id, const uint8_t *data, size_t len,
                           uint32_t *number, tw_time_ms now);
int tw_fconn_send_lossy(tw_fconn *fc, uint32_t friend_id, const uint8_t *data, size_t len,
                        tw_time_ms now);
bool tw_fconn_delivered(const tw_fconn *fc, uint32_t friend_id, uint32_t number);
uint32_t tw_fconn_send_space(const tw_fconn *fc, uint32_t friend_id);

/* True for an established friend whose packets go through TCP relays (no
 * direct UDP path yet). */
bool tw_fconn_via_tcp(const tw_fconn *fc, uint32_t friend_id, tw_time_ms now);
const char *tw_fconn_state_name(tw_fconn_state s);

#ifdef __cplusplus
}
#endif
#endif
