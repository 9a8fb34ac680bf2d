/* Onion packets on the wire (spec section "Onion"): the three request
 * layers, the three response layers, announce request/response, data to
 * route request/response, onion data and the DHT public key packet. Pure
 * functions: no state, no time, no randomness (nonces are passed in).
 * spec/onion.md describes each layout in our words, with sizes. */
#ifndef TW_ONION_WIRE_H
#define TW_ONION_WIRE_H

#include "core/buf.h"
#include "core/packet_kind.h"
#include "toxwire/types.h"

/* The fixed-size address inside onion layers: [family][16 ip bytes, IPv4
 * zero padded][port BE]. Return paths also carry our own TCP link ids in
 * this shape (family TW_ONION_FAMILY_TCP), which only we ever decrypt. */
#define TW_ONION_IPPORT_SIZE 19
#define TW_ONION_FAMILY_TCP 130

/* A return path layer: [nonce][secretbox(ip_port || inner layer)]. */
#define TW_ONION_RETURN_1 (TW_NONCE_SIZE + TW_ONION_IPPORT_SIZE + TW_MAC_SIZE)     /* 59 */
#define TW_ONION_RETURN_2 (TW_NONCE_SIZE + TW_ONION_IPPORT_SIZE + TW_ONION_RETURN_1 + TW_MAC_SIZE) /* 118 */
#define TW_ONION_RETURN_3 (TW_NONCE_SIZE + TW_ONION_IPPORT_SIZE + TW_ONION_RETURN_2 + TW_MAC_SIZE) /* 177 */

/* Largest onion datagram we build or relay. */
#define TW_ONION_MAX_PACKET_SIZE 1400
/* What a layer must hold at least: the next hop and one byte for it. */
#define TW_ONION_LAYER_MIN (TW_ONION_IPPORT_SIZE + 1)
/* [kind][nonce][pk][box(layer)] */
#define TW_ONION_REQUEST_0_MIN (1 + TW_NONCE_SIZE + TW_PUBLIC_KEY_SIZE + TW_MAC_SIZE + TW_ONION_LAYER_MIN)
#define TW_ONION_REQUEST_1_MIN (TW_ONION_REQUEST_0_MIN + TW_ONION_RETURN_1)
#define TW_ONION_REQUEST_2_MIN (TW_ONION_REQUEST_0_MIN + TW_ONION_RETURN_2)
/* The most we let a sender put in front of the data for node D: the three
 * layers a client builds around it. */
#define TW_ONION_CLIENT_OVERHEAD                                                   \
  (1 + TW_NONCE_SIZE + 3 * (TW_PUBLIC_KEY_SIZE + TW_MAC_SIZE + TW_ONION_IPPORT_SIZE))
/* Longest data a client can send to node D through three hops. */
#define TW_ONION_MAX_DATA_SIZE (TW_ONION_MAX_PACKET_SIZE - TW_ONION_CLIENT_OVERHEAD)

/* Announce request: [0x83][nonce][pk][box(ping id, searched pk, data pk,
 * sendback)] followed, at node D, by the return path. */
#define TW_ONION_PING_ID_SIZE 32
#define TW_ANNOUNCE_SENDBACK_SIZE 8
#define TW_ANNOUNCE_REQUEST_PLAIN_SIZE                                              \
  (TW_ONION_PING_ID_SIZE + 2 * TW_PUBLIC_KEY_SIZE + TW_ANNOUNCE_SENDBACK_SIZE) /* 104 */
#define TW_ANNOUNCE_REQUEST_SIZE                                                    \
  (1 + TW_NONCE_SIZE + TW_PUBLIC_KEY_SIZE + TW_ANNOUNCE_REQUEST_PLAIN_SIZE + TW_MAC_SIZE) /* 177 */
/* Announce response: [0x84][sendback][nonce][box(is_stored, ping id or
 * data pk, up to 4 packed nodes)] */
#define TW_ANNOUNCE_RESPONSE_PLAIN_MIN (1 + TW_ONION_PING_ID_SIZE)
#define TW_ANNOUNCE_RESPONSE_PLAIN_MAX (TW_ANNOUNCE_RESPONSE_PLAIN_MIN + 4 * 51)
#define TW_ANNOUNCE_RESPONSE_NEW_PLAIN_MAX (TW_ANNOUNCE_RESPONSE_PLAIN_MAX + 1)
#define TW_ANNOUNCE_RESPONSE_MIN                                                    \
  (1 + TW_ANNOUNCE_SENDBACK_SIZE + TW_NONCE_SIZE + TW_ANNOUNCE_RESPONSE_PLAIN_MIN + TW_MAC_SIZE)
#define TW_ANNOUNCE_RESPONSE_MAX (TW_ANNOUNCE_RESPONSE_MIN + 4 * 51)

enum { TW_ANNOUNCE_NOT_STORED = 0, TW_ANNOUNCE_FOUND = 1, TW_ANNOUNCE_STORED = 2 };

/* Data to route request: [0x85][destination pk][nonce][temp pk][box]. */
#define TW_DATA_REQUEST_HEADER (1 + TW_PUBLIC_KEY_SIZE + TW_NONCE_SIZE + TW_PUBLIC_KEY_SIZE)
#define TW_DATA_REQUEST_MIN (TW_DATA_REQUEST_HEADER + TW_MAC_SIZE + 1)
/* Data to route response: [0x86][nonce][temp pk][box]. */
#define TW_DATA_RESPONSE_HEADER (1 + TW_NONCE_SIZE + TW_PUBLIC_KEY_SIZE)
#define TW_DATA_RESPONSE_MIN (TW_DATA_RESPONSE_HEADER + TW_MAC_SIZE + 1)
/* Onion data inside it: [sender long-term pk][box(kind, data)]. */
#define TW_ONION_DATA_MIN (TW_PUBLIC_KEY_SIZE + TW_MAC_SIZE + 1)

/* DHT public key packet: [0x9c][no_replay BE64][dht pk][up to 4 nodes]. */
#define TW_DHTPK_KIND 0x9c
#define TW_DHTPK_MIN (1 + 8 + TW_PUBLIC_KEY_SIZE)
#define TW_DHTPK_MAX (TW_DHTPK_MIN + 4 * 51)
/* The same packet sent through the DHT: [0x9c][sender pk][nonce][box(dhtpk)]. */
#define TW_DHTPK_DHT_MIN (1 + TW_PUBLIC_KEY_SIZE + TW_NONCE_SIZE + TW_MAC_SIZE + TW_DHTPK_MIN)

/* ---- addresses in layers ---- */

/* TW_E_FAMILY for an address that is neither IPv4 nor IPv6. */
int tw_onion_ipport_write(tw_writer *w, const tw_addr *a);
/* TW_E_FAMILY for a family other than IPv4/IPv6 (TCP ids are read with
 * tw_onion_ipport_read_any). */
int tw_onion_ipport_read(tw_reader *r, tw_addr *a);
/* Reads any family; *family receives it, *a the address for UDP ones, raw
 * the 18 bytes after the family byte. */
int tw_onion_ipport_read_any(tw_reader *r, uint8_t *family, tw_addr *a, uint8_t raw[18]);

/* ---- layers ---- */

/* The outer part of a request layer: [kind][nonce][pk][cipher...]. For 0x81
 * and 0x82 the return path ends the packet and is split off here. */
typedef struct tw_onion_request {
  uint8_t kind;
  const uint8_t *nonce;
  tw_key pk;
  const uint8_t *cipher;
  size_t cipher_len;
  const uint8_t *ret; /* NULL for 0x80 */
  size_t ret_len;
} tw_onion_request;

/* TW_E_SHORT/TW_E_LONG when the size does not fit the layer, TW_E_KIND. */
int tw_onion_request_parse(tw_onion_request *req, const uint8_t *pkt, size_t len);

/* A response layer [kind][return path][data]; the data is what the next
 * hop gets. */
typedef struct tw_onion_response {
  uint8_t kind;
  const uint8_t *ret;
  size_t ret_len;
  const uint8_t *data;
  size_t data_len;
} tw_onion_response;

int tw_onion_response_parse(tw_onion_response *resp, const uint8_t *pkt, size_t len);

/* Size of the return path that comes with layer kind (0x81: 59 ...). */
size_t tw_onion_return_size_for(uint8_t kind);

/* ---- announce ---- */

typedef struct tw_announce_request_plain {
  uint8_t ping_id[TW_ONION_PING_ID_SIZE];
  tw_key search;
  tw_key data_pk;
  uint8_t sendback[TW_ANNOUNCE_SENDBACK_SIZE];
} tw_announce_request_plain;

void tw_announce_request_plain_encode(uint8_t out[TW_ANNOUNCE_REQUEST_PLAIN_SIZE],
                                      const tw_announce_request_plain *p);
int tw_announce_request_plain_decode(tw_announce_request_plain *p, const uint8_t *in,
                                     size_t len);

typedef struct tw_announce_response_plain {
  uint8_t is_stored;
  uint8_t ping_or_key[TW_ONION_PING_ID_SIZE];
  uint8_t count;
  tw_node_info nodes[4];
  /* The newer form (0x88) has a node count byte before the nodes. */
  bool count_byte;
} tw_announce_response_plain;

/* Returns the encoded length or a negative error. The decoder reads the
 * spec's form (0x84) only; count_byte is for encoding 0x88. */
int tw_announce_response_plain_encode(uint8_t *out, size_t cap,
                                      const tw_announce_response_plain *p);
/* TW_E_FORMAT for is_stored > 2, TW_E_COUNT for more than 4 nodes,
 * TW_E_FAMILY/TW_E_SHORT for a bad node. */
int tw_announce_response_plain_decode(tw_announce_response_plain *p, const uint8_t *in,
                                      size_t len);

/* ---- DHT public key packet ---- */

typedef struct tw_dhtpk {
  uint64_t no_replay;
  tw_key dht_pk;
  uint8_t count;
  tw_node_info nodes[4];
} tw_dhtpk;

int tw_dhtpk_encode(uint8_t *out, size_t cap, const tw_dhtpk *p);
int tw_dhtpk_decode(tw_dhtpk *p, const uint8_t *in, size_t len);

#endif
