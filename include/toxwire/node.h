/* A toxwire node, sans-I/O: the DHT and the onion composed into one object
 * that a driver (src/io) or a simulation feeds packets and time. Later
 * layers (net_crypto, friends) join here. */
#ifndef TOXWIRE_NODE_H
#define TOXWIRE_NODE_H

#include "dht.h"
#include "friend_conn.h"
#include "io.h"
#include "messenger.h"
#include "netcrypto.h"
#include "onion.h"
#include "tcp_conns.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tw_node tw_node;

typedef struct tw_node_config {
  /* The DHT's configuration; its send callback is used by every layer.
   * on_dht_request is taken by the node (DHT requests go to the onion). */
  tw_dht_config dht;
  bool onion_relay;       /* relay onion layers for others */
  /* With a TCP relay server: where onion responses for its clients go
   * (tw_tcp_server_send_onion_response). */
  tw_onion_tcp_send_fn *onion_tcp_send;
  void *onion_tcp_ctx;
  bool announce_store;    /* be an announce node */
  size_t announce_entries; /* 0: default */
  bool onion_client;      /* announce self_keys.pk and look for friends */
  tw_keypair self_keys;   /* long-term keys (onion_client) */
  tw_onion_event_fn *on_onion_event;
  void *event_ctx;
  /* Friends: connections (net_crypto sessions) and the messenger on top;
   * needs onion_client. msgr gives our nospam, name, status and the
   * application's event callback; the node fills in the key and transport. */
  bool friends;
  tw_fconn_event_fn *on_fconn_event; /* optional: each friend's progress */
  void *fconn_ctx;
  tw_msgr_config msgr;
  /* TCP relays as a client (needs onion_client): when tcp_client is set,
   * tcp.open/close/write/want_write/io_ctx are the driver's
   * (tw_io_streams_bind) and the node fills in the rest. Add relays with
   * tw_tcp_conns_add_relay(tw_node_tcp(n), ...). */
  bool tcp_client;
  tw_tcp_conns_config tcp;
} tw_node_config;

tw_node *tw_node_new(const tw_node_config *cfg, const tw_env *env, tw_time_ms now);
void tw_node_free(tw_node *n);

tw_dht *tw_node_dht(tw_node *n);
tw_onion *tw_node_onion(tw_node *n);
tw_nc *tw_node_nc(tw_node *n);       /* NULL without cfg.friends */
tw_fconn *tw_node_fconn(tw_node *n); /* NULL without cfg.friends */
tw_msgr *tw_node_msgr(tw_node *n);   /* NULL without cfg.friends */
tw_tcp_conns *tw_node_tcp(tw_node *n); /* NULL without cfg.tcp_client */
/* Sends a kill packet on every live session (before shutting down), so
 * friends see us go offline at once rather than after their timeout. */
void tw_node_kill_sessions(tw_node *n, tw_time_ms now);

int tw_node_handle_packet(tw_node *n, const tw_addr *from, const uint8_t *pkt, size_t len,
                          tw_time_ms now);
void tw_node_on_timer(tw_node *n, tw_time_ms now);
tw_time_ms tw_node_next_deadline(tw_node *n);
/* The three calls above as a tw_io_handler for the driver or a simulation. */
tw_io_handler tw_node_io_handler(tw_node *n);

#ifdef __cplusplus
}
#endif
#endif
