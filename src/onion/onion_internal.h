/* What the onion's files share: the state of the relay, the announce node
 * and the client. Not part of the public API. */
#ifndef TW_ONION_INTERNAL_H
#define TW_ONION_INTERNAL_H

#include "core/crypto.h"
#include "core/reqtab.h"
#include "onion/onion_wire.h"
#include "toxwire/onion.h"

#define TW_ONION_DEFAULT_KEY_CACHE 512
#define TW_ONION_SENDBACK_SLOTS 512 /* a power of two */
#define TW_ONION_SENDBACK_TTL_MS 20000
#define TW_ONION_RECENT_PINGS 64
#define TW_ONION_RECENT_PING_MS 10000
#define TW_ONION_SEARCH_GRACE_MS 10000 /* search before we are announced after */

/* ---- announce node ---- */

typedef struct tw_announce_entry {
  tw_key pk;      /* the announced long-term key */
  tw_key data_pk; /* what senders of data to route packets encrypt to */
  tw_addr ret_addr; /* node C of the announcer's path */
  uint8_t ret[TW_ONION_RETURN_3];
  tw_time_ms stored_at;
  bool used;
} tw_announce_entry;

/* ---- client ---- */

typedef struct tw_onion_path {
  uint32_t id; /* 0: slot free */
  /* hop[0].tcp: hop[0] is a TCP relay we are connected to; it gets the
   * layer for B unsealed, so temp[0] and shared[0] are unused (zero). */
  tw_node_info hop[3];
  tw_keypair temp[3]; /* one key per layer */
  uint8_t shared[3][TW_SHARED_KEY_SIZE];
  tw_time_ms created, last_success, last_sent;
  uint8_t unanswered; /* requests sent since the last response */
  bool confirmed;
} tw_onion_path;

/* A node we announce to or ask about a friend. */
typedef struct tw_onion_node {
  tw_node_info node;
  uint8_t ping_id[TW_ONION_PING_ID_SIZE];
  tw_key data_pk; /* searching: the friend's data key, when is_stored 1 */
  uint8_t is_stored;
  tw_time_ms added, last_response, last_sent;
  uint8_t unanswered;
  uint8_t quick_resends;
  uint32_t path_id; /* the path whose node C the ping id is bound to */
} tw_onion_node;

typedef struct tw_onion_list {
  tw_key target; /* nodes are kept closest to this key */
  tw_onion_node n[TW_ONION_ANNOUNCE_NODES];
  uint8_t count, max;
} tw_onion_list;

typedef struct tw_onion_friend {
  tw_key pk;
  tw_keypair search_keys; /* a temporary key for looking for this friend */
  tw_onion_list list;
  bool used, connected;
  tw_time_ms search_started, last_seen, last_round;
  bool dht_pk_known;
  tw_key dht_pk;
  uint64_t last_no_replay;
  tw_time_ms dhtpk_onion_sent, dhtpk_dht_sent;
} tw_onion_friend;

typedef struct tw_onion_recent {
  tw_key pk;
  int32_t list;
  tw_time_ms at;
} tw_onion_recent;

/* A node paths can be built through when the DHT has too few: bootstrap
 * nodes, nodes that answered us, nodes announce responses named. */
typedef struct tw_onion_path_node {
  tw_node_info node; /* UDP only */
  tw_time_ms seen;   /* added, or last named or heard from */
} tw_onion_path_node;

typedef struct tw_onion_client {
  tw_keypair self;      /* long-term */
  tw_keypair data_keys; /* what data to route senders encrypt to */
  tw_onion_path paths[2][TW_ONION_PATHS_PER_SET]; /* 0: announcing, 1: searching */
  uint32_t next_path_id;
  tw_onion_list announce;
  tw_time_ms started, announce_round, announced_at, last_response;
  uint32_t stored_on;
  tw_onion_friend *friends;
  size_t nfriends;
  /* Announce requests in flight, named by their sendback data: the node
   * asked, and as tag the list (high 32 bits) and the path (low 32). */
  tw_reqtab sendback;
  tw_reqtab_slot sendback_slots[TW_ONION_SENDBACK_SLOTS];
  tw_onion_recent recent[TW_ONION_RECENT_PINGS];
  uint32_t recent_next;
  uint64_t no_replay;
  tw_time_ms deadline;
  tw_onion_path_node pool[TW_ONION_PATH_NODES]; /* full: the oldest seen goes */
  uint32_t npool;
} tw_onion_client;

struct tw_onion {
  tw_onion_config cfg;
  tw_env env;
  tw_keycache *keys; /* shared keys with our DHT secret key */

  /* Return paths are sealed under ret_key[epoch & 1]; the low bit of each
   * return nonce says which, so opening needs one try, not two. */
  uint8_t ret_key[2][TW_SHARED_KEY_SIZE];
  uint64_t ret_epoch;
  tw_time_ms ret_rotated_at;

  uint8_t ping_secret[TW_HASH_KEY_SIZE];
  tw_announce_entry *entries;
  size_t nentries_max;

  tw_onion_client *client; /* NULL unless cfg.client */
  tw_onion_stats stats;
};

extern const char tw_onion_log_module[]; /* "onion" */

void tw_onion_send(tw_onion *o, const tw_addr *to, const uint8_t *pkt, size_t len);
int tw_onion_drop(tw_onion *o, int err);

/* onion_relay.c */
int tw_onion_handle_onion_request(tw_onion *o, const tw_addr *from, const uint8_t *pkt,
                                  size_t len, tw_time_ms now);
int tw_onion_handle_onion_response(tw_onion *o, const tw_addr *from, const uint8_t *pkt,
                                   size_t len, tw_time_ms now);
void tw_onion_rotate_return_key(tw_onion *o, tw_time_ms now);

/* announce_node.c */
int tw_onion_handle_announce_request(tw_onion *o, const tw_addr *from, const uint8_t *pkt,
                                     size_t len, tw_time_ms now);
int tw_onion_handle_data_route_request(tw_onion *o, const tw_addr *from, const uint8_t *pkt,
                                       size_t len, tw_time_ms now);
uint32_t tw_onion_count_entries(const tw_onion *o, tw_time_ms now);

/* onion_client.c and onion_client_data.c */
tw_onion_client *tw_onion_client_new(tw_onion *o, tw_time_ms now);
void tw_onion_client_free(tw_onion_client *c);
void tw_onion_client_on_timer(tw_onion *o, tw_time_ms now);
int tw_onion_handle_announce_response(tw_onion *o, const tw_addr *from, const uint8_t *pkt,
                                      size_t len, tw_time_ms now);
int tw_onion_handle_data_route_response(tw_onion *o, const tw_addr *from, const uint8_t *pkt,
                                        size_t len, tw_time_ms now);
int tw_onion_handle_dhtpk(tw_onion *o, const tw_key *sender, const uint8_t *pkt, size_t len,
                          tw_onion_route route, tw_time_ms now);
tw_onion_friend *tw_onion_find_friend(tw_onion_client *c, const tw_key *pk);
/* Sends data to node D through a path of the given set; returns TW_OK or
 * TW_E_NOROUTE. */
int tw_onion_send_via_path(tw_onion *o, tw_onion_path *p, const tw_addr *dest,
                           const uint8_t *data, size_t len, tw_time_ms now);
tw_onion_path *tw_onion_pick_path(tw_onion *o, int set, uint32_t prefer_id, tw_time_ms now);
/* The TCP relays we are connected to (cfg.tcp_relays), at most max, each
 * with tcp set; those without a usable address are left out. */
size_t tw_onion_client_relays(tw_onion *o, tw_node_info *out, size_t max);
void tw_onion_client_send_dhtpk(tw_onion *o, tw_onion_friend *f, tw_time_ms now);

#endif
