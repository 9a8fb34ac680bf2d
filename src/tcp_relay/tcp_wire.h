/* TCP relay wire formats: the handshake, its response, and the packets
 * inside encrypted frames. Pure functions; nonces and temporary keys are
 * passed in. spec/tcp_relay.md */
#ifndef TW_TCP_WIRE_H
#define TW_TCP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "toxwire/tcp_relay.h"
#include "toxwire/types.h"

/* What each side's handshake carries inside its box. */
typedef struct tw_tcp_hello {
  tw_key temp_pk;                     /* this connection's temporary key */
  uint8_t base_nonce[TW_NONCE_SIZE];  /* the sender seals its frames from here */
} tw_tcp_hello;

/* [client pk][nonce][box(temp pk, base nonce)] sealed with shared(client,
 * server); out holds TW_TCP_HANDSHAKE_SIZE bytes. */
void tw_tcp_handshake_build(uint8_t out[TW_TCP_HANDSHAKE_SIZE], const tw_keypair *client,
                            const uint8_t shared[TW_SHARED_KEY_SIZE],
                            const uint8_t nonce[TW_NONCE_SIZE], const tw_tcp_hello *hello);
/* The client's key (readable before any crypto), to compute shared. */
void tw_tcp_handshake_client_pk(const uint8_t in[TW_TCP_HANDSHAKE_SIZE], tw_key *pk);
int tw_tcp_handshake_open(const uint8_t in[TW_TCP_HANDSHAKE_SIZE],
                          const uint8_t shared[TW_SHARED_KEY_SIZE], tw_tcp_hello *hello);

/* [nonce][box(temp pk, base nonce)]; out holds TW_TCP_HANDSHAKE_RESPONSE_SIZE. */
void tw_tcp_handshake_response_build(uint8_t out[TW_TCP_HANDSHAKE_RESPONSE_SIZE],
                                     const uint8_t shared[TW_SHARED_KEY_SIZE],
                                     const uint8_t nonce[TW_NONCE_SIZE],
                                     const tw_tcp_hello *hello);
int tw_tcp_handshake_response_open(const uint8_t in[TW_TCP_HANDSHAKE_RESPONSE_SIZE],
                                   const uint8_t shared[TW_SHARED_KEY_SIZE],
                                   tw_tcp_hello *hello);

/* One decrypted packet, parsed. Data packets have kind == conn_id >= 16. */
typedef struct tw_tcp_packet {
  uint8_t kind;
  uint8_t conn_id;      /* ROUTE_RESPONSE, CONNECT/DISCONNECT, data */
  tw_key pk;            /* ROUTE_REQUEST/RESPONSE, OOB_SEND/RECV */
  uint64_t ping_id;     /* PING, PONG */
  const uint8_t *data;  /* OOB, onion, data: points into the input */
  size_t len;
} tw_tcp_packet;

/* Checks lengths and fields (ping id 0, connection ids below 16, OOB data
 * over 1024 bytes or empty, empty data); TW_E_ codes name the fault. */
int tw_tcp_packet_parse(tw_tcp_packet *p, const uint8_t *plain, size_t len);

/* Writers: return the length written into out (TW_TCP_MAX_PACKET bytes),
 * or 0 when the data does not fit. */
size_t tw_tcp_write_route_request(uint8_t *out, const tw_key *pk);
size_t tw_tcp_write_route_response(uint8_t *out, uint8_t conn_id, const tw_key *pk);
size_t tw_tcp_write_notification(uint8_t *out, uint8_t kind, uint8_t conn_id);
size_t tw_tcp_write_ping(uint8_t *out, uint8_t kind, uint64_t ping_id);
size_t tw_tcp_write_keyed(uint8_t *out, uint8_t kind, const tw_key *pk, const uint8_t *data,
                          size_t len);
size_t tw_tcp_write_data(uint8_t *out, uint8_t kind, const uint8_t *data, size_t len);

/* Adds one to a big-endian nonce. */
void tw_tcp_nonce_increment(uint8_t nonce[TW_NONCE_SIZE]);

#endif
