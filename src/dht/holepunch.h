/* Hole punching state kept per search, and the port-guessing order. The
 * operations on it (they need the whole tw_dht) are declared in
 * dht_internal.h beside the other files'. Not part of the public API. */
#ifndef TW_DHT_HOLEPUNCH_H
#define TW_DHT_HOLEPUNCH_H

#include "toxwire/dht.h"

/* A node that listed the searched key in a Nodes Response, with the
 * address it gave: where that node sees the searched node. */
typedef struct tw_hp_report {
  tw_key node;
  tw_addr node_addr; /* refreshed from the search's list when used */
  tw_addr addr;      /* the searched node's address, as that node sees it */
  tw_time_ms at;     /* when it last said so */
  bool tried;        /* we checked addr since the searched node last answered */
} tw_hp_report;

typedef struct tw_holepunch {
  tw_hp_report rep[TW_DHT_NAT_REPORTS];
  uint8_t nrep;
  uint8_t tries;        /* checks of reported addresses since it last answered */
  bool pinging;         /* NAT Ping Requests are going out */
  bool punching;        /* rounds of punching pings are going out */
  bool answered;        /* answered_id holds a number */
  uint64_t nat_ping_id; /* the number our latest NAT Ping Request carried */
  uint64_t nat_ping_prev; /* and the one before: its answers still count */
  uint64_t punch_id;    /* the id our punching Ping Requests carry; 0: none */
  uint64_t answered_id; /* the last NAT Ping Request we answered */
  tw_time_ms nat_ping_next, nat_pong_at, punch_next;
  tw_addr punch_ip;     /* the address punched (its port unused) */
  uint32_t rounds;      /* rounds since punching started */
  uint32_t guess_next;  /* position in the port-guessing order */
  uint32_t low_next;    /* ports counted up from TW_DHT_PUNCH_LOW_PORT_FIRST */
} tw_holepunch;

/* The index-th port of the guessing order around the reported ports
 * (distinct, ascending): each port as reported, then each one above it,
 * each one below, two above, two below, and so on. 0 when that guess falls
 * outside 1..65535 (skip it). */
uint16_t tw_holepunch_guess_port(const uint16_t *ports, size_t count, uint32_t index);

#endif
