/* Basic value types: keys, network addresses and node infos. */
#ifndef TOXWIRE_TYPES_H
#define TOXWIRE_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TW_PUBLIC_KEY_SIZE 32
#define TW_SECRET_KEY_SIZE 32
#define TW_SHARED_KEY_SIZE 32
#define TW_NONCE_SIZE 24
#define TW_MAC_SIZE 16

/* Milliseconds since an arbitrary epoch chosen by the driver. */
typedef uint64_t tw_time_ms;
#define TW_NEVER UINT64_MAX

typedef struct tw_key {
  uint8_t bytes[TW_PUBLIC_KEY_SIZE];
} tw_key;

typedef struct tw_keypair {
  tw_key pk;
  uint8_t sk[TW_SECRET_KEY_SIZE];
} tw_keypair;

/* Address families as the packed node format numbers them. */
enum {
  TW_AF_UNSPEC = 0,
  TW_AF_INET = 2,
  TW_AF_INET6 = 10,
  /* Internal, never on the wire: a peer reached through TCP relays
   * (tw_tcp_conns); ip holds the first 16 bytes of its DHT key. */
  TW_AF_TCP_PEER = 240,
};

/* An IPv4 or IPv6 socket address. For IPv4 the four address bytes are in
 * ip[0..3] and the rest is zero. The port is in host byte order. */
typedef struct tw_addr {
  uint8_t family;
  uint8_t ip[16];
  uint16_t port;
} tw_addr;

/* A node as the packed node format describes it. */
typedef struct tw_node_info {
  tw_key pk;
  tw_addr addr;
  bool tcp;
} tw_node_info;

/* Longest text tw_addr_format writes, with the NUL: "[v6]:port". */
#define TW_ADDR_STRLEN 56

bool tw_addr_equal(const tw_addr *a, const tw_addr *b);
bool tw_addr_is_set(const tw_addr *a);
/* A TW_AF_TCP_PEER address (tw_addr_is_set is false for these). */
bool tw_addr_is_tcp_peer(const tw_addr *a);
/* Loopback, RFC 1918/6598 private, link-local, ULA: what LAN discovery and
 * the LAN rule for nodes responses count as "local". */
bool tw_addr_is_lan(const tw_addr *a);
/* An IPv4-mapped IPv6 address becomes IPv4; others are copied. */
tw_addr tw_addr_unmap(const tw_addr *a);
/* Writes "1.2.3.4:5" or "[::1]:5" into out (TW_ADDR_STRLEN bytes). */
const char *tw_addr_format(const tw_addr *a, char out[TW_ADDR_STRLEN]);
/* Text to address: tw_resolve and tw_parse_node_spec in toxwire/io.h. */

/* Keys as 64 hex digits (uppercase on output, either case on input). */
#define TW_KEY_HEXLEN (2 * TW_PUBLIC_KEY_SIZE + 1)
const char *tw_key_to_hex(const tw_key *k, char out[TW_KEY_HEXLEN]);
int tw_key_from_hex(tw_key *k, const char *hex, size_t len);
bool tw_key_equal(const tw_key *a, const tw_key *b);
/* Compares the XOR distances of a and b from base, keys read as big-endian
 * numbers: negative when a is closer, 0 when equal, positive when b is. */
int tw_key_distance_cmp(const tw_key *base, const tw_key *a, const tw_key *b);
/* Number of leading bits a and b share (256 when equal): the k-bucket index
 * of b in a's close list. */
int tw_key_common_prefix(const tw_key *a, const tw_key *b);

#ifdef __cplusplus
}
#endif
#endif
