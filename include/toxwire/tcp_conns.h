/* TCP connections, sans-I/O: the client side of TCP relays for a node (spec
 * "TCP connections"). It keeps a few relays connected, asks them for routes
 * to the peers (friends' DHT keys) it is told about, and gives net_crypto
 * one address per peer whatever relay carries the packets: data packets on
 * a linked route when the relay says the peer is online, OOB packets to the
 * peer's key otherwise. It also carries onion requests for paths whose
 * first hop is a relay. spec/tcp_relay.md, "Client: several relays".
 *
 * The driver opens the sockets: the module asks for one with open(handle,
 * address), and the driver reports back with tw_tcp_conns_handle_*(handle). */
#ifndef TOXWIRE_TCP_CONNS_H
#define TOXWIRE_TCP_CONNS_H

#include "env.h"
#include "error.h"
#include "tcp_relay.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TW_TCP_CONNS_MAX_RELAYS 16   /* relays known (connected or not) */
#define TW_TCP_CONNS_MAX_CONNECTED 8 /* sockets open at once */
#define TW_TCP_CONNS_OWN_RELAYS 3    /* of our own relays, kept connected */
#define TW_TCP_CONNS_PEER_RELAYS 6   /* relays remembered per peer */
#define TW_TCP_CONNS_PEER_CONNECT 3  /* of those, connected for the peer */
#define TW_TCP_CONNS_RETRY_MS 5000   /* first reconnect delay, doubling */
#define TW_TCP_CONNS_RETRY_MAX_MS 120000
#define TW_TCP_CONNS_STRANGERS 32    /* OOB senders we may answer (cookies) */

typedef struct tw_tcp_conns tw_tcp_conns;

typedef struct tw_tcp_conns_config {
  tw_keypair dht_keys; /* relays know us by our DHT key */
  /* The driver: open a TCP connection to addr for handle (TW_OK, or an
   * error and the relay is retried later); close it; write up to len bytes
   * now (bytes taken, 0 when full, -1 when the socket failed); watch it
   * for writability. */
  int (*open)(void *ctx, uint32_t handle, const tw_addr *addr);
  void (*close)(void *ctx, uint32_t handle);
  long (*write)(void *ctx, uint32_t handle, const uint8_t *bytes, size_t len);
  void (*want_write)(void *ctx, uint32_t handle, bool on);
  void *io_ctx;
  /* A net_crypto packet from a peer; from is its TW_AF_TCP_PEER address,
   * good for tw_tcp_conns_send. */
  void (*on_packet)(void *ctx, const tw_addr *from, const uint8_t *pkt, size_t len,
                    tw_time_ms now);
  /* An onion response from the relay at relay_addr (an announce or data
   * response: the relay stripped the onion layers). */
  void (*on_onion)(void *ctx, const tw_addr *relay_addr, const uint8_t *pkt, size_t len,
                   tw_time_ms now);
  void *ctx;
} tw_tcp_conns_config;

typedef struct tw_tcp_conns_stats {
  uint32_t relays_known, relays_connected, peers, peers_online;
  uint64_t connects, disconnects;
  uint64_t data_out, oob_out, onion_out, data_in, oob_in, onion_in;
  uint64_t dropped_noroute, dropped_full;
} tw_tcp_conns_stats;

tw_tcp_conns *tw_tcp_conns_new(const tw_tcp_conns_config *cfg, const tw_env *env, tw_time_ms now);
void tw_tcp_conns_free(tw_tcp_conns *tc);

/* One of our own relays (from the command line, a bootstrap list, a saved
 * profile): up to TW_TCP_CONNS_OWN_RELAYS are kept connected. */
int tw_tcp_conns_add_relay(tw_tcp_conns *tc, const tw_node_info *relay, tw_time_ms now);
/* The relays connected now (tcp = true), ours first: for DHT public key
 * packets, share-relays packets and onion paths. */
size_t tw_tcp_conns_connected(const tw_tcp_conns *tc, tw_node_info *out, size_t max);

/* A peer to reach through relays, by its DHT key; *addr receives the
 * TW_AF_TCP_PEER address net_crypto uses for it. Adding a key twice gives
 * the same address. */
int tw_tcp_conns_peer_add(tw_tcp_conns *tc, const tw_key *dht_pk, tw_addr *addr, tw_time_ms now);
/* The TW_AF_TCP_PEER address for a DHT key (what peer_add gives, and what
 * on_packet says for OOB packets from that key). */
tw_addr tw_tcp_conns_peer_addr(const tw_key *dht_pk);
int tw_tcp_conns_peer_remove(tw_tcp_conns *tc, const tw_addr *addr, tw_time_ms now);
/* A relay the peer says it uses (DHT public key packet, share relays):
 * remembered, connected if the peer has fewer than
 * TW_TCP_CONNS_PEER_CONNECT connected, and asked for a route. */
int tw_tcp_conns_peer_add_relay(tw_tcp_conns *tc, const tw_addr *addr, const tw_node_info *relay,
                                tw_time_ms now);
/* Relays the peer can be reached through now (a route or OOB). */
size_t tw_tcp_conns_peer_relays(const tw_tcp_conns *tc, const tw_addr *addr);
/* True when a relay reports the peer online on a linked route. */
bool tw_tcp_conns_peer_online(const tw_tcp_conns *tc, const tw_addr *addr);

/* A net_crypto packet to a TW_AF_TCP_PEER address: a data packet on a
 * route where the peer is online, else OOB through every relay it is known
 * on. TW_E_NOROUTE when there is none, TW_E_FULL when every queue is. */
int tw_tcp_conns_send(tw_tcp_conns *tc, const tw_addr *to, const uint8_t *pkt, size_t len,
                      tw_time_ms now);
/* An onion request payload (see tw_onion_config.tcp_onion_send) through
 * the connected relay with this key. */
int tw_tcp_conns_send_onion(tw_tcp_conns *tc, const tw_key *relay_pk, const uint8_t *data,
                            size_t len, tw_time_ms now);

/* The driver's reports for a handle open() gave it. */
void tw_tcp_conns_handle_connected(tw_tcp_conns *tc, uint32_t handle, tw_time_ms now);
void tw_tcp_conns_handle_bytes(tw_tcp_conns *tc, uint32_t handle, const uint8_t *bytes, size_t len,
                               tw_time_ms now);
void tw_tcp_conns_handle_writable(tw_tcp_conns *tc, uint32_t handle, tw_time_ms now);
/* The connection failed or closed (the driver has closed its socket). */
void tw_tcp_conns_handle_closed(tw_tcp_conns *tc, uint32_t handle, tw_time_ms now);
/* Writes what the clients queued during this event; call once per event. */
void tw_tcp_conns_flush(tw_tcp_conns *tc, tw_time_ms now);

void tw_tcp_conns_on_timer(tw_tcp_conns *tc, tw_time_ms now);
tw_time_ms tw_tcp_conns_next_deadline(const tw_tcp_conns *tc);
void tw_tcp_conns_get_stats(const tw_tcp_conns *tc, tw_tcp_conns_stats *out);

#ifdef __cplusplus
}
#endif
#endif
