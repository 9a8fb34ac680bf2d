/* The DHT, sans-I/O: hand it packets with their source address and the time;
 * it sends through a callback and says when it next needs to run. */
#ifndef TOXWIRE_DHT_H
#define TOXWIRE_DHT_H

#include "env.h"
#include "error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Timings (spec "DHT Operation"; spec/dht.md says where they come from). */
#define TW_DHT_CHECK_INTERVAL_MS 60000      /* liveness check of every node */
#define TW_DHT_CHECK_RETRY_MS 10000         /* again, while a check is unanswered */
#define TW_DHT_RANDOM_REQUEST_MS 20000      /* a random node per list */
#define TW_DHT_BURST_INTERVAL_MS 500        /* the 5 requests of a new list */
#define TW_DHT_BURST_REQUESTS 5
#define TW_DHT_BAD_AFTER_MS 122000          /* no answer: bad */
#define TW_DHT_REMOVE_AFTER_MS 182000       /* no answer: forgotten */
#define TW_DHT_NODES_RESPONSE_TTL_MS 60000  /* a Nodes Response is accepted for */
#define TW_DHT_PING_RESPONSE_TTL_MS 5000    /* a Ping Response is accepted for */
#define TW_DHT_BOOTSTRAP_RETRY_MS 5000      /* while no node answers */
#define TW_DHT_LAN_DISCOVERY_MS 10000
#define TW_DHT_LAN_DISCOVERY_PORT 33445
#define TW_DHT_TIMER_SLACK_MS 1000          /* periodic work batched to <= 1 wakeup/s */
#define TW_DHT_PINGS_PER_WINDOW 32          /* unsolicited-contact pings we send */
#define TW_DHT_PING_WINDOW_MS 2000
#define TW_DHT_MAX_SEARCHES 1024
#define TW_DHT_MAX_BOOTSTRAP_NODES 64

/* Hole punching to a searched node behind a NAT (spec "NAT ping packets",
 * "Hole punching"; spec/dht.md "Hole punching"). */
#define TW_DHT_NAT_REPORTS 8              /* per search: nodes that told us its address */
#define TW_DHT_NAT_REPORT_TTL_MS 122000   /* a node's word on the address holds for */
#define TW_DHT_NAT_MIN_REPORTS 4          /* nodes giving an address (or more than half) */
#define TW_DHT_NAT_PING_AFTER_TRIES 4     /* unanswered checks of reported addresses */
#define TW_DHT_NAT_PING_INTERVAL_MS 3000  /* NAT Ping Requests while it is unreachable */
#define TW_DHT_NAT_PING_VIA 4             /* nodes each NAT ping is sent through */
#define TW_DHT_PUNCH_INTERVAL_MS 3000     /* one round of punching pings */
#define TW_DHT_PUNCH_TIMEOUT_MS 6000      /* no NAT Ping Response for this long: stop */
#define TW_DHT_PUNCH_PINGS_PER_ROUND 48   /* port guesses per round */
#define TW_DHT_PUNCH_LOW_PORTS_AFTER_ROUNDS 5 /* then 48 more a round, counting up from */
#define TW_DHT_PUNCH_LOW_PORT_FIRST 1024

typedef struct tw_dht tw_dht;

/* Sends one UDP datagram. For LAN discovery the driver is asked to
 * broadcast: `to` is then NULL. */
typedef void tw_dht_send_fn(void *ctx, const tw_addr *to, const uint8_t *pkt, size_t len);

/* A DHT Request addressed to us, decrypted: [type][data...]. */
typedef void tw_dht_request_fn(void *ctx, const tw_key *sender, const tw_addr *from,
                               const uint8_t *plain, size_t len, tw_time_ms now);

/* A searched key answered us itself, from addr (first time, or a new
 * address). */
typedef void tw_dht_search_found_fn(void *ctx, const tw_key *key, const tw_addr *addr,
                                    tw_time_ms now);

typedef struct tw_dht_config {
  tw_keypair keys;
  tw_dht_send_fn *send;
  void *send_ctx;
  tw_dht_request_fn *on_dht_request; /* optional */
  void *request_ctx;
  tw_dht_search_found_fn *on_search_found; /* optional */
  void *search_ctx;
  bool lan_discovery;
  bool bootstrap_info; /* answer Bootstrap Info requests */
  uint32_t version;    /* sent in the Bootstrap Info response */
  const uint8_t *motd; /* copied; at most 256 bytes */
  size_t motd_len;
  size_t key_cache_entries; /* 0: a default */
  /* Hole punching is on unless this is set: NAT pings are then neither
   * sent nor answered, and no punching pings go out. */
  bool no_hole_punching;
} tw_dht_config;

typedef struct tw_dht_stats {
  uint64_t packets_in, bytes_in, packets_out, bytes_out;
  uint64_t ping_requests_in, ping_responses_in, nodes_requests_in, nodes_responses_in;
  uint64_t ping_requests_out, ping_responses_out, nodes_requests_out, nodes_responses_out;
  uint64_t dht_requests_forwarded, dht_requests_for_us;
  uint64_t lan_discovery_in, lan_discovery_out, bootstrap_info_answered;
  uint64_t shared_key_hits, shared_key_misses;
  /* Hole punching: NAT Ping Requests sent (one per node they go through),
   * received, answered; NAT Ping Responses that matched ours; rounds of
   * punching pings, the pings, and punching pings the searched node
   * answered. */
  uint64_t nat_ping_requests_out, nat_ping_requests_in, nat_ping_requests_answered;
  uint64_t nat_ping_responses_in;
  uint64_t punch_rounds, punch_pings_out, punch_successes;
  uint64_t dropped[TW_ERROR_COUNT]; /* indexed by -error */
  uint64_t dropped_total;
  uint32_t close_nodes, close_good_nodes, searches;
  uint32_t searches_punching; /* searches now sending punching pings */
} tw_dht_stats;

tw_dht *tw_dht_new(const tw_dht_config *cfg, const tw_env *env, tw_time_ms now);
void tw_dht_free(tw_dht *dht);

const tw_key *tw_dht_public_key(const tw_dht *dht);

/* Feeds one received datagram. Returns TW_OK or why it was dropped (the drop
 * is also counted in the stats). */
int tw_dht_handle_packet(tw_dht *dht, const tw_addr *from, const uint8_t *pkt, size_t len,
                         tw_time_ms now);
void tw_dht_on_timer(tw_dht *dht, tw_time_ms now);
/* When on_timer must next run; TW_NEVER when nothing is scheduled. */
tw_time_ms tw_dht_next_deadline(tw_dht *dht);

/* Asks node for the nodes closest to us, and keeps it to ask again while no
 * node answers. */
int tw_dht_bootstrap(tw_dht *dht, const tw_node_info *node, tw_time_ms now);

/* Searches: the DHT keeps the 8 closest responsive nodes to key. */
int tw_dht_search_add(tw_dht *dht, const tw_key *key, tw_time_ms now);
int tw_dht_search_remove(tw_dht *dht, const tw_key *key);
/* The search's current closest good nodes, closest first; returns count.
 * found (optional) receives the searched node itself once it answered. */
size_t tw_dht_search_result(tw_dht *dht, const tw_key *key, tw_node_info *out, size_t max,
                            tw_node_info *found, tw_time_ms now);

/* Good nodes in the close list, in bucket order; returns how many. */
size_t tw_dht_close_nodes(const tw_dht *dht, tw_node_info *out, size_t max, tw_time_ms now);
/* The closest good nodes we know to target (what a Nodes Response holds). */
size_t tw_dht_closest(const tw_dht *dht, const tw_key *target, tw_node_info *out, size_t max,
                      bool include_lan, tw_time_ms now);
/* True when at least one node in the close list is good. */
bool tw_dht_is_connected(const tw_dht *dht, tw_time_ms now);

/* Sends a DHT Request carrying plain to the node with key to, by way of the
 * node at via (which may be the addressee itself). Used by later layers.
 * TW_E_INVAL when via is NULL or unset, or plain is empty or too long. */
int tw_dht_send_request(tw_dht *dht, const tw_key *to, const tw_addr *via,
                        const uint8_t *plain, size_t len, tw_time_ms now);

void tw_dht_get_stats(const tw_dht *dht, tw_dht_stats *out, tw_time_ms now);

#ifdef __cplusplus
}
#endif
#endif
