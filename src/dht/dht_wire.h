/* DHT packets on the wire (spec sections "DHT Packet", "Ping Service",
 * "Nodes Service", "DHT Request Packets", "LAN discovery", "DHT Bootstrap
 * Info"). Pure functions: no state, no time. spec/dht.md describes each
 * layout in our words. */
#ifndef TW_DHT_WIRE_H
#define TW_DHT_WIRE_H

#include "core/buf.h"
#include "core/packet_kind.h"
#include "toxwire/types.h"

/* [kind][sender pk][nonce][box(plain)] */
#define TW_DHT_HEADER_SIZE (1 + TW_PUBLIC_KEY_SIZE + TW_NONCE_SIZE)
#define TW_DHT_OVERHEAD (TW_DHT_HEADER_SIZE + TW_MAC_SIZE)

#define TW_PING_PLAIN_SIZE (1 + 8)
#define TW_PING_PACKET_SIZE (TW_DHT_OVERHEAD + TW_PING_PLAIN_SIZE) /* 82 */
#define TW_NODES_REQUEST_PLAIN_SIZE (TW_PUBLIC_KEY_SIZE + 8)
#define TW_NODES_REQUEST_PACKET_SIZE (TW_DHT_OVERHEAD + TW_NODES_REQUEST_PLAIN_SIZE) /* 113 */
#define TW_NODES_MAX 4
#define TW_NODES_RESPONSE_PLAIN_MIN (1 + 8) /* zero nodes: see the decoder */
#define TW_NODES_RESPONSE_PLAIN_MAX (1 + TW_NODES_MAX * 51 + 8)
#define TW_NODES_RESPONSE_PACKET_MAX (TW_DHT_OVERHEAD + TW_NODES_RESPONSE_PLAIN_MAX) /* 286 */
#define TW_LAN_DISCOVERY_SIZE (1 + TW_PUBLIC_KEY_SIZE)
#define TW_BOOTSTRAP_INFO_REQUEST_SIZE 78
#define TW_MOTD_MAX 256
#define TW_BOOTSTRAP_INFO_RESPONSE_MAX (1 + 4 + TW_MOTD_MAX)
/* [0x20][addressee pk][sender pk][nonce][box]: a DHT packet behind an addressee */
#define TW_DHT_REQUEST_MIN (1 + TW_PUBLIC_KEY_SIZE + TW_PUBLIC_KEY_SIZE + TW_NONCE_SIZE + TW_MAC_SIZE)
/* Largest DHT packet plaintext we ever build or accept. */
#define TW_DHT_PLAIN_MAX 1024

enum { TW_PING_FLAG_REQUEST = 0, TW_PING_FLAG_RESPONSE = 1 };

/* NAT ping (spec "NAT ping packets"): the plaintext of a DHT Request,
 * [0xfe][0x00 request | 0x01 response][8-byte number, echoed]. */
#define TW_DHT_REQUEST_NAT_PING 0xfe
#define TW_NAT_PING_PLAIN_SIZE (1 + 1 + 8)
enum { TW_NAT_PING_REQUEST = 0, TW_NAT_PING_RESPONSE = 1 };

/* The outer, unencrypted part of a DHT packet. */
typedef struct tw_dht_header {
  uint8_t kind;
  tw_key sender;
  const uint8_t *nonce;  /* points into the packet */
  const uint8_t *cipher; /* points into the packet */
  size_t cipher_len;
} tw_dht_header;

int tw_dht_header_parse(tw_dht_header *h, const uint8_t *pkt, size_t len);

/* Builds [kind][our pk][nonce][box(plain)] into out; returns the length or
 * a negative error when out is too small. */
int tw_dht_packet_seal(uint8_t *out, size_t cap, uint8_t kind, const tw_key *our_pk,
                       const uint8_t nonce[TW_NONCE_SIZE],
                       const uint8_t shared[TW_SHARED_KEY_SIZE], const uint8_t *plain,
                       size_t plain_len);

/* Plaintext payloads. */
typedef struct tw_ping_payload {
  uint8_t flag;
  uint64_t id;
} tw_ping_payload;

typedef struct tw_nodes_request_payload {
  tw_key target;
  uint64_t id;
} tw_nodes_request_payload;

typedef struct tw_nodes_response_payload {
  uint8_t count;
  tw_node_info nodes[TW_NODES_MAX];
  uint64_t id;
} tw_nodes_response_payload;

int tw_ping_payload_encode(uint8_t out[TW_PING_PLAIN_SIZE], const tw_ping_payload *p);
/* TW_E_SHORT/TW_E_LONG on size; TW_E_FORMAT for a flag other than 0 or 1. */
int tw_ping_payload_decode(tw_ping_payload *p, const uint8_t *in, size_t len);

int tw_nodes_request_payload_encode(uint8_t out[TW_NODES_REQUEST_PLAIN_SIZE],
                                    const tw_nodes_request_payload *p);
int tw_nodes_request_payload_decode(tw_nodes_request_payload *p, const uint8_t *in,
                                    size_t len);

/* Returns the encoded length or a negative error. */
int tw_nodes_response_payload_encode(uint8_t *out, size_t cap,
                                     const tw_nodes_response_payload *p);
/* TW_E_COUNT for more than four nodes (zero is accepted), TW_E_FAMILY for an unknown
 * ip type, TW_E_SHORT/TW_E_LONG when the nodes do not fill it exactly. */
int tw_nodes_response_payload_decode(tw_nodes_response_payload *p, const uint8_t *in,
                                     size_t len);

typedef struct tw_nat_ping_payload {
  uint8_t flag; /* TW_NAT_PING_REQUEST or TW_NAT_PING_RESPONSE */
  uint64_t id;
} tw_nat_ping_payload;

int tw_nat_ping_payload_encode(uint8_t out[TW_NAT_PING_PLAIN_SIZE], const tw_nat_ping_payload *p);
/* TW_E_KIND when the first byte is not 0xfe, TW_E_SHORT/TW_E_LONG on size,
 * TW_E_FORMAT for a flag other than 0 or 1. */
int tw_nat_ping_payload_decode(tw_nat_ping_payload *p, const uint8_t *in, size_t len);

int tw_lan_discovery_encode(uint8_t out[TW_LAN_DISCOVERY_SIZE], const tw_key *pk);
int tw_lan_discovery_decode(tw_key *pk, const uint8_t *in, size_t len);

/* Response: [0xf0][version BE32][motd, not padded]; returns its length. */
int tw_bootstrap_info_response_encode(uint8_t *out, size_t cap, uint32_t version,
                                      const uint8_t *motd, size_t motd_len);
int tw_bootstrap_info_response_decode(uint32_t *version, const uint8_t **motd,
                                      size_t *motd_len, const uint8_t *in, size_t len);

#endif
