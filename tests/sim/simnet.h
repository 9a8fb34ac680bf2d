/* A deterministic virtual network for simulating many sans-I/O nodes in one
 * process. Each endpoint is driven through the same tw_io_handler the real
 * driver uses. Packets are delayed, lost, duplicated and reordered from a
 * seeded generator, so a run is replayed exactly from its seed; a running
 * hash of every delivery (the trace hash) shows whether two runs agree.
 *
 * Time is simulated: run_until jumps from event to event, so an idle
 * network costs nothing and 10,000 nodes run as fast as their work allows. */
#ifndef TW_SIMNET_H
#define TW_SIMNET_H

#include <stdbool.h>
#include <stdint.h>

#include "toxwire/io.h"
#include "toxwire/types.h"

typedef struct tw_simnet tw_simnet;

typedef struct tw_simnet_config {
  uint64_t seed;
  double loss;            /* probability a datagram is dropped */
  double duplicate;       /* probability it is delivered twice */
  uint32_t delay_min_ms;  /* one-way delay, uniform in [min, max]: */
  uint32_t delay_max_ms;  /* different delays reorder packets */
} tw_simnet_config;

typedef struct tw_simnet_stats {
  uint64_t sent, delivered, lost, duplicated, undeliverable, timer_runs;
  uint64_t nat_filtered; /* arrived at a NAT that let it not through */
  uint64_t blocked;      /* sent from or to an endpoint whose UDP is blocked */
} tw_simnet_stats;

/* NATs (spec "NATs"). An endpoint behind one keeps its own address but is
 * seen by everyone as 12.x.y.z (x.y.z as in its own 11.x.y.z) with a port
 * the NAT chose; nothing reaches its own address from outside.
 *  - restricted cone: one public port (first_port) for everything it
 *    sends; a datagram comes in only from an IP:port it has sent to;
 *  - symmetric: a new public port for each IP:port it sends to, taken in
 *    sequence from first_port; a datagram comes in on such a port only from
 *    that IP:port.
 * The filter is applied on arrival, so a datagram sent before the endpoint
 * sent out but arriving after gets through, as through a real NAT.
 * Mappings never expire. */
typedef enum tw_simnet_nat_type {
  TW_SIMNET_NAT_NONE = 0,
  TW_SIMNET_NAT_RESTRICTED_CONE,
  TW_SIMNET_NAT_SYMMETRIC,
} tw_simnet_nat_type;

tw_simnet *tw_simnet_new(const tw_simnet_config *cfg);
void tw_simnet_free(tw_simnet *net);

/* Adds an endpoint and returns its index; *addr receives its address.
 * The handler may be set later (nodes need their address to be built). */
int tw_simnet_add_endpoint(tw_simnet *net, tw_addr *addr);
void tw_simnet_set_handler(tw_simnet *net, int endpoint, const tw_io_handler *h);
/* Puts an endpoint behind a NAT (before it sends anything); returns 0, or
 * -1 for an endpoint that already sent or a first_port of 0. */
int tw_simnet_set_nat(tw_simnet *net, int endpoint, tw_simnet_nat_type type, uint16_t first_port);
/* The address others see an endpoint's datagrams to `to` come from (its own
 * address without a NAT); false when a symmetric NAT has no mapping for `to`
 * yet. */
bool tw_simnet_public_addr(const tw_simnet *net, int endpoint, const tw_addr *to, tw_addr *out);
/* The public ports a NAT has handed out so far (one for a cone NAT). */
uint32_t tw_simnet_nat_ports_used(const tw_simnet *net, int endpoint);
/* A down endpoint neither sends nor receives nor runs timers. */
void tw_simnet_set_down(tw_simnet *net, int endpoint, bool down);
/* An endpoint whose UDP is blocked keeps running (timers, and whatever a
 * simulation models beside UDP, e.g. TCP streams) but no datagram leaves
 * it or reaches it: what it sends, what is sent to it, and what was in
 * flight to it when it arrives, is dropped (stats.blocked) until the block
 * is lifted. Its NAT, if any, records nothing while blocked. */
void tw_simnet_set_udp_blocked(tw_simnet *net, int endpoint, bool blocked);
bool tw_simnet_udp_blocked(const tw_simnet *net, int endpoint);

/* Queues a datagram from an endpoint (use as a node's send callback through
 * tw_simnet_sender). to == NULL (broadcast) is dropped. */
void tw_simnet_send(tw_simnet *net, int from, const tw_addr *to, const uint8_t *pkt, size_t len);

/* A ready-made send callback: ctx is a tw_simnet_sender. */
typedef struct tw_simnet_sender {
  tw_simnet *net;
  int endpoint;
} tw_simnet_sender;
void tw_simnet_send_cb(void *sender, const tw_addr *to, const uint8_t *pkt, size_t len);

/* Re-reads an endpoint's deadline (after calling into its node from outside
 * the simulation, e.g. to start a search). */
void tw_simnet_rearm(tw_simnet *net, int endpoint);

/* Runs every event up to and including time t. */
void tw_simnet_run_until(tw_simnet *net, tw_time_ms t);
tw_time_ms tw_simnet_now(const tw_simnet *net);

/* Per-endpoint deterministic randomness for tw_env: ctx from
 * tw_simnet_random_ctx. */
void tw_simnet_random(void *ctx, uint8_t *out, size_t len);
void *tw_simnet_random_ctx(tw_simnet *net, int endpoint);

uint64_t tw_simnet_trace_hash(const tw_simnet *net);
tw_simnet_stats tw_simnet_get_stats(const tw_simnet *net);

#endif
