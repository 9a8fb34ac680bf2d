/* What the DHT's files share: the node's state and the operations on it
 * that more than one file needs. Not part of the public API. */
#ifndef TW_DHT_INTERNAL_H
#define TW_DHT_INTERNAL_H

#include "core/crypto.h"
#include "core/reqtab.h"
#include "dht/client_list.h"
#include "dht/dht_wire.h"
#include "dht/holepunch.h"
#include "toxwire/dht.h"

#define TW_DHT_BUCKETS 256
#define TW_DHT_NODES_REQ_SLOTS 1024
#define TW_DHT_PING_REQ_SLOTS 256
#define TW_DHT_DEFAULT_KEY_CACHE 1024

typedef struct tw_dht_search {
  tw_key key;
  tw_client_list list;
  tw_time_ms next_random;
  uint8_t burst;
  bool found;
  tw_addr found_addr;
  tw_time_ms found_at;      /* when the searched node last answered us */
  tw_time_ms found_checked; /* when we last asked it */
  tw_holepunch hp;          /* holepunch.c's */
} tw_dht_search;

struct tw_dht {
  tw_dht_config cfg;
  uint8_t motd[TW_MOTD_MAX];
  tw_env env;
  tw_keycache *keys;

  tw_client_list *bucket[TW_DHT_BUCKETS]; /* allocated on first use */
  uint32_t close_count;
  tw_time_ms close_next_random;
  uint8_t close_burst;

  tw_dht_search *searches;
  size_t nsearch, search_cap;

  tw_reqtab nodes_req;
  tw_reqtab ping_req;
  tw_reqtab_slot nodes_slots[TW_DHT_NODES_REQ_SLOTS];
  tw_reqtab_slot ping_slots[TW_DHT_PING_REQ_SLOTS];

  tw_node_info boot[TW_DHT_MAX_BOOTSTRAP_NODES];
  size_t nboot;
  tw_time_ms next_boot;
  tw_time_ms next_lan;

  tw_time_ms ping_window_start;
  uint32_t pings_in_window;

  tw_time_ms deadline; /* cached; recomputed by on_timer */
  tw_dht_stats stats;
};

extern const char tw_dht_log_module[]; /* "dht" */

/* dht_state.c: sending, lists, the closest nodes we know. */
void tw_dht_send_raw(tw_dht *d, const tw_addr *to, const uint8_t *pkt, size_t len);
void tw_dht_send_sealed_with(tw_dht *d, uint8_t kind, const uint8_t shared[TW_SHARED_KEY_SIZE],
                             const tw_addr *to, const uint8_t *plain, size_t plain_len);
void tw_dht_send_sealed(tw_dht *d, uint8_t kind, const tw_key *pk, const tw_addr *to,
                        const uint8_t *plain, size_t plain_len, tw_time_ms now);
void tw_dht_note_deadline(tw_dht *d, tw_time_ms t);
void tw_dht_send_nodes_request(tw_dht *d, const tw_key *pk, const tw_addr *to,
                               const tw_key *target, tw_time_ms now);
void tw_dht_send_ping_request(tw_dht *d, const tw_key *pk, const tw_addr *to, tw_time_ms now);
tw_client_list *tw_dht_bucket_for(tw_dht *d, const tw_key *pk, bool create);
tw_dht_search *tw_dht_find_search(tw_dht *d, const tw_key *key);
bool tw_dht_close_viable(tw_dht *d, const tw_key *pk, tw_time_ms now);
void tw_dht_add_to_state(tw_dht *d, const tw_key *pk, const tw_addr *from, tw_time_ms now);
void tw_dht_consider_learned_node(tw_dht *d, const tw_node_info *named, tw_time_ms now);
void tw_dht_maybe_ping(tw_dht *d, const tw_key *pk, const tw_addr *from, tw_time_ms now);
size_t tw_dht_closest_excluding(const tw_dht *d, const tw_key *target, const tw_key *exclude,
                                tw_node_info *out, size_t max, bool include_lan, tw_time_ms now);

/* holepunch.c: NAT pings and punching, per search. */
/* A Nodes Response from node listed searched keys: who says what. */
void tw_holepunch_note_nodes_response(tw_dht *d, const tw_key *node, const tw_addr *node_addr,
                                      const tw_nodes_response_payload *resp, tw_time_ms now);
/* A check went to `to`, an address a node gave for the searched node. */
void tw_holepunch_note_check(tw_dht *d, tw_dht_search *s, const tw_addr *to, tw_time_ms now);
/* The searched node answered us: nothing left to punch. */
void tw_holepunch_note_found(tw_dht_search *s);
/* A DHT Request for us whose plaintext starts with 0xfe. */
int tw_holepunch_handle_nat_ping(tw_dht *d, const tw_key *sender, const uint8_t *plain,
                                 size_t len, tw_time_ms now);
/* A Ping Response no pending request matched: TW_OK when it answers one of
 * our punching pings, else TW_E_UNSOLICITED. */
int tw_holepunch_take_ping_response(tw_dht *d, const tw_key *sender, const tw_addr *from,
                                    uint64_t id);
/* Sends what is due; returns when it next needs to run (TW_NEVER: the
 * search needs no punching). */
tw_time_ms tw_holepunch_service(tw_dht *d, tw_dht_search *s, tw_time_ms now);

#endif
