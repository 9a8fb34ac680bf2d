/* The onion, sans-I/O: relaying onion requests and responses for others,
 * storing announcements (the announce node, "node D"), and, when given a
 * long-term key pair, the client that announces us and finds our friends'
 * DHT keys through onion paths. See spec/onion.md.
 *
 * A tw_onion sits beside a tw_dht and uses it for nodes (path hops, the
 * nodes in announce responses) and for DHT-routed requests; the embedder
 * hands it the onion packet kinds (tw_onion_handles_kind) and the DHT
 * requests the DHT passes up (tw_onion_handle_dht_request). */
#ifndef TOXWIRE_ONION_H
#define TOXWIRE_ONION_H

#include "dht.h"
#include "env.h"
#include "error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Relay and announce node (spec "Onion"; spec/onion.md says where each
 * value comes from). */
#define TW_ONION_RETURN_KEY_LIFETIME_MS 3600000 /* return-path key rotation */
#define TW_ANNOUNCE_PING_ID_PERIOD_MS 300000     /* ping ids live 300..600 s */
#define TW_ANNOUNCE_ENTRY_TIMEOUT_MS 300000      /* an announcement is kept for */
#define TW_ANNOUNCE_DEFAULT_ENTRIES 256

/* Client (spec "Onion", toxcore's timings). */
#define TW_ONION_PATHS_PER_SET 6
#define TW_ONION_PATH_UNCONFIRMED_TIMEOUT_MS 4000
#define TW_ONION_PATH_UNCONFIRMED_TRIES 2
#define TW_ONION_PATH_CONFIRMED_TIMEOUT_MS 10000
#define TW_ONION_PATH_CONFIRMED_TRIES 4
#define TW_ONION_PATH_MAX_LIFETIME_MS 1200000
#define TW_ONION_PATH_PROBE_MS 20000 /* an idle path carries a request this often */
#define TW_ONION_ANNOUNCE_NODES 12      /* nodes we announce ourselves to */
#define TW_ONION_SEARCH_NODES 8         /* nodes kept per friend searched */
#define TW_ONION_NODE_TIMEOUT_TRIES 3   /* unanswered requests: node dropped */
#define TW_ONION_ANNOUNCE_RETRY_MS 3000 /* until a node says we are stored */
#define TW_ONION_ANNOUNCE_REFRESH_MS 15000
#define TW_ONION_ANNOUNCE_STABLE_REFRESH_MS 120000
#define TW_ONION_ANNOUNCE_STABLE_AFTER_MS 90000
#define TW_ONION_SEARCH_AGGRESSIVE_MS 17000 /* after we are announced */
#define TW_ONION_SEARCH_FAST_MS 250      /* friend search rounds, while ... */
#define TW_ONION_SEARCH_FAST_FOR_MS 10000 /* ... this soon after being announced */
#define TW_ONION_SEARCH_MIN_INTERVAL_MS 15000
#define TW_ONION_SEARCH_MAX_INTERVAL_MS 2400000
#define TW_ONION_DHTPK_ONION_INTERVAL_MS 30000
#define TW_ONION_DHTPK_DHT_INTERVAL_MS 20000
#define TW_ONION_OFFLINE_AFTER_MS 75000 /* no onion response: start over */
#define TW_ONION_MAX_FRIENDS 1024
#define TW_ONION_PATH_NODES 32 /* path node pool: bootstrap and announce nodes */
#define TW_ONION_MAX_TCP_RELAYS 16 /* relays asked of tcp_relays at a time */

typedef struct tw_onion tw_onion;

/* Sends one UDP datagram. */
typedef void tw_onion_send_fn(void *ctx, const tw_addr *to, const uint8_t *pkt, size_t len);
/* Hands an onion response to the TCP client with this link id (an onion
 * request that arrived over TCP; see tw_onion_handle_tcp_request). */
typedef void tw_onion_tcp_send_fn(void *ctx, uint64_t link, const uint8_t *pkt, size_t len);

typedef enum tw_onion_route {
  TW_ONION_ROUTE_ONION = 1, /* a data to route packet through announce nodes */
  TW_ONION_ROUTE_DHT = 2,   /* a DHT request through DHT nodes */
} tw_onion_route;

typedef enum tw_onion_event_kind {
  /* A friend told us its DHT key (DHT public key packet, accepted). */
  TW_ONION_EV_FRIEND_DHT_KEY = 1,
  /* Onion data other than a DHT public key packet (e.g. a friend request,
   * kind 32); the sender need not be a friend. */
  TW_ONION_EV_DATA = 2,
  /* Our own announcement: stored on at least one node / on none. */
  TW_ONION_EV_ANNOUNCED = 3,
} tw_onion_event_kind;

typedef struct tw_onion_event {
  tw_onion_event_kind kind;
  tw_time_ms time;
  tw_key peer;   /* the friend's (sender's) long-term key */
  tw_key dht_pk; /* FRIEND_DHT_KEY: its DHT key */
  bool changed;  /* FRIEND_DHT_KEY: differs from the last one we had */
  tw_onion_route route;
  uint8_t node_count; /* FRIEND_DHT_KEY: nodes it sent (DHT and TCP relays) */
  tw_node_info nodes[4];
  const uint8_t *data; /* DATA: [kind][data...], valid during the call */
  size_t data_len;
  uint32_t stored_on; /* ANNOUNCED: nodes that say we are stored */
} tw_onion_event;

typedef void tw_onion_event_fn(void *ctx, const tw_onion_event *ev);

typedef struct tw_onion_config {
  tw_dht *dht;  /* required: our DHT key pair and nodes come from it */
  tw_keypair dht_keys; /* the DHT's key pair (layers are sealed to it) */
  tw_onion_send_fn *send;
  void *send_ctx;
  tw_onion_tcp_send_fn *tcp_send; /* optional */
  void *tcp_ctx;
  bool relay;           /* forward onion layers for others */
  bool announce_store;  /* serve announce and data to route requests */
  size_t announce_entries; /* 0: TW_ANNOUNCE_DEFAULT_ENTRIES */
  /* The client runs when client is true: announces self_keys.pk and
   * searches for friends. */
  bool client;
  tw_keypair self_keys;
  tw_onion_event_fn *on_event;
  void *event_ctx;
  /* Client over TCP relays (optional). tcp_relays fills out with the relays
   * we are connected to now (tcp = true, addr = the relay's TCP address, pk =
   * its key) and returns how many. When the DHT cannot give three nodes for
   * a UDP path, a path starts at one of these relays: its request goes
   * through tcp_onion_send as the TCP onion request payload
   * [nonce][ip_port B][temp pk B][box_B(...)] (no layer for the relay).
   * Answers come back through tw_onion_handle_packet with from = the relay's
   * addr. tcp_onion_send returns TW_OK or an error (TW_E_FULL, TW_E_NOROUTE). */
  size_t (*tcp_relays)(void *ctx, tw_node_info *out, size_t max);
  int (*tcp_onion_send)(void *ctx, const tw_key *relay_pk, const uint8_t *data, size_t len);
  void *tcp_client_ctx;
} tw_onion_config;

typedef struct tw_onion_stats {
  /* relay */
  uint64_t requests_relayed[3];  /* layers 0x80, 0x81, 0x82 forwarded */
  uint64_t responses_relayed[3]; /* 0x8c, 0x8d, 0x8e forwarded */
  uint64_t tcp_requests, tcp_responses;
  /* announce node */
  uint64_t announce_requests, announce_responses, announcements_stored;
  uint64_t data_requests_routed;
  uint32_t announce_entries;
  /* client */
  uint64_t client_announce_sent, client_announce_responses;
  uint64_t client_data_sent, client_data_received;
  uint64_t dhtpk_sent_onion, dhtpk_sent_dht, dhtpk_received_onion, dhtpk_received_dht;
  uint64_t paths_built, paths_timed_out;
  uint64_t paths_built_tcp;     /* of paths_built: first hop a TCP relay */
  uint64_t client_tcp_requests; /* onion requests handed to tcp_onion_send */
  uint32_t paths_alive, announced_on, friends;
  uint32_t path_nodes; /* nodes in the path node pool */
  uint64_t dropped[TW_ERROR_COUNT]; /* indexed by -error */
  uint64_t dropped_total;
} tw_onion_stats;

tw_onion *tw_onion_new(const tw_onion_config *cfg, const tw_env *env, tw_time_ms now);
void tw_onion_free(tw_onion *o);

/* True for the packet kinds tw_onion_handle_packet takes. */
bool tw_onion_handles_kind(uint8_t kind);
/* Feeds one received datagram of an onion kind. Returns TW_OK or why it was
 * dropped (the drop is also counted). */
int tw_onion_handle_packet(tw_onion *o, const tw_addr *from, const uint8_t *pkt, size_t len,
                           tw_time_ms now);
/* A DHT request addressed to us (the tw_dht on_dht_request callback):
 * handles the DHT public key packet (kind 0x9c); TW_E_KIND for others. */
int tw_onion_handle_dht_request(tw_onion *o, const tw_key *sender, const tw_addr *from,
                                const uint8_t *plain, size_t len, tw_time_ms now);
/* An onion packet from a TCP client: the TCP relay's onion request payload
 * [nonce][next hop ip_port][pk][box]; we act as the first hop and send the
 * answer back with tcp_send(link). */
int tw_onion_handle_tcp_request(tw_onion *o, uint64_t link, const uint8_t *data, size_t len,
                                tw_time_ms now);

void tw_onion_on_timer(tw_onion *o, tw_time_ms now);
tw_time_ms tw_onion_next_deadline(tw_onion *o);

/* Client: friends whose DHT keys we look for (and who may look for us). */
int tw_onion_friend_add(tw_onion *o, const tw_key *pk, tw_time_ms now);
int tw_onion_friend_remove(tw_onion *o, const tw_key *pk);
/* While connected the client stops searching for the friend. */
int tw_onion_friend_set_connected(tw_onion *o, const tw_key *pk, bool connected, tw_time_ms now);
/* Sends onion data [kind][data] to a friend (or anybody: friend requests)
 * through every announce node that knows them; returns how many copies went
 * out, or TW_E_NOROUTE when no node is known yet. */
int tw_onion_send_data(tw_onion *o, const tw_key *to, const uint8_t *data, size_t len,
                       tw_time_ms now);
void tw_onion_get_stats(const tw_onion *o, tw_onion_stats *out, tw_time_ms now);

/* Client: a node to build paths through and ask first when the DHT has no
 * nodes (bootstrap nodes; nodes from announce responses are added by the
 * client itself). TCP nodes are refused (TW_E_FAMILY). */
int tw_onion_add_path_node(tw_onion *o, const tw_node_info *node, tw_time_ms now);

/* The client's live onion paths, for inspection and tests. A path through a
 * TCP relay has hops[0].tcp set (the relay; it peels no layer). */
typedef struct tw_onion_path_info {
  uint32_t id;
  int set; /* 0: announcing ourselves, 1: searching for friends */
  tw_node_info hops[3];
  bool confirmed;
  tw_time_ms age_ms;
} tw_onion_path_info;
size_t tw_onion_get_paths(const tw_onion *o, tw_onion_path_info *out, size_t max, tw_time_ms now);

#ifdef __cplusplus
}
#endif
#endif
