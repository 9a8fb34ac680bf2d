/* TCP relay handshake and packet formats. spec/tcp_relay.md */
#include "tcp_relay/tcp_wire.h"

#include <string.h>

#include "core/buf.h"
#include "core/crypto.h"

#define HELLO_SIZE (TW_PUBLIC_KEY_SIZE + TW_NONCE_SIZE)

void tw_tcp_nonce_increment(uint8_t nonce[TW_NONCE_SIZE]) {
  for (int i = TW_NONCE_SIZE - 1; i >= 0; i--)
    if (++nonce[i] != 0) break;
}

static void hello_write(uint8_t out[HELLO_SIZE], const tw_tcp_hello *h) {
  memcpy(out, h->temp_pk.bytes, TW_PUBLIC_KEY_SIZE);
  memcpy(out + TW_PUBLIC_KEY_SIZE, h->base_nonce, TW_NONCE_SIZE);
}

static void hello_read(const uint8_t in[HELLO_SIZE], tw_tcp_hello *h) {
  memcpy(h->temp_pk.bytes, in, TW_PUBLIC_KEY_SIZE);
  memcpy(h->base_nonce, in + TW_PUBLIC_KEY_SIZE, TW_NONCE_SIZE);
}

void tw_tcp_handshake_build(uint8_t out[TW_TCP_HANDSHAKE_SIZE], const tw_keypair *client,
                            const uint8_t shared[TW_SHARED_KEY_SIZE],
                            const uint8_t nonce[TW_NONCE_SIZE], const tw_tcp_hello *hello) {
  uint8_t plain[HELLO_SIZE];
  hello_write(plain, hello);
  memcpy(out, client->pk.bytes, TW_PUBLIC_KEY_SIZE);
  memcpy(out + TW_PUBLIC_KEY_SIZE, nonce, TW_NONCE_SIZE);
  tw_box_seal(out + TW_PUBLIC_KEY_SIZE + TW_NONCE_SIZE, plain, sizeof plain, nonce, shared);
  tw_crypto_wipe(plain, sizeof plain);
}

void tw_tcp_handshake_client_pk(const uint8_t in[TW_TCP_HANDSHAKE_SIZE], tw_key *pk) {
  memcpy(pk->bytes, in, TW_PUBLIC_KEY_SIZE);
}

int tw_tcp_handshake_open(const uint8_t in[TW_TCP_HANDSHAKE_SIZE],
                          const uint8_t shared[TW_SHARED_KEY_SIZE], tw_tcp_hello *hello) {
  uint8_t plain[HELLO_SIZE];
  const uint8_t *nonce = in + TW_PUBLIC_KEY_SIZE;
  int rc = tw_box_open(plain, nonce + TW_NONCE_SIZE, HELLO_SIZE + TW_MAC_SIZE, nonce, shared);
  if (rc == TW_OK) hello_read(plain, hello);
  tw_crypto_wipe(plain, sizeof plain);
  return rc;
}

void tw_tcp_handshake_response_build(uint8_t out[TW_TCP_HANDSHAKE_RESPONSE_SIZE],
                                     const uint8_t shared[TW_SHARED_KEY_SIZE],
                                     const uint8_t nonce[TW_NONCE_SIZE],
                                     const tw_tcp_hello *hello) {
  uint8_t plain[HELLO_SIZE];
  hello_write(plain, hello);
  memcpy(out, nonce, TW_NONCE_SIZE);
  tw_box_seal(out + TW_NONCE_SIZE, plain, sizeof plain, nonce, shared);
  tw_crypto_wipe(plain, sizeof plain);
}

int tw_tcp_handshake_response_open(const uint8_t in[TW_TCP_HANDSHAKE_RESPONSE_SIZE],
                                   const uint8_t shared[TW_SHARED_KEY_SIZE],
                                   tw_tcp_hello *hello) {
  uint8_t plain[HELLO_SIZE];
  int rc = tw_box_open(plain, in + TW_NONCE_SIZE, HELLO_SIZE + TW_MAC_SIZE, in, shared);
  if (rc == TW_OK) hello_read(plain, hello);
  tw_crypto_wipe(plain, sizeof plain);
  return rc;
}

int tw_tcp_packet_parse(tw_tcp_packet *p, const uint8_t *plain, size_t len) {
  memset(p, 0, sizeof *p);
  if (len == 0) return TW_E_SHORT;
  if (len > TW_TCP_MAX_PACKET) return TW_E_LONG;
  tw_reader r = tw_reader_init(plain, len);
  p->kind = tw_read_u8(&r);
  switch (p->kind) {
  case TW_TCP_ROUTE_REQUEST:
    tw_read_bytes(&r, p->pk.bytes, TW_PUBLIC_KEY_SIZE);
    break;
  case TW_TCP_ROUTE_RESPONSE:
    p->conn_id = tw_read_u8(&r);
    tw_read_bytes(&r, p->pk.bytes, TW_PUBLIC_KEY_SIZE);
    if (tw_reader_done(&r) && p->conn_id != 0 && p->conn_id < TW_TCP_FIRST_CONN_ID)
      return TW_E_FORMAT;
    break;
  case TW_TCP_CONNECT_NOTIFICATION:
  case TW_TCP_DISCONNECT_NOTIFICATION:
    p->conn_id = tw_read_u8(&r);
    if (tw_reader_done(&r) && p->conn_id < TW_TCP_FIRST_CONN_ID) return TW_E_FORMAT;
    break;
  case TW_TCP_PING:
  case TW_TCP_PONG:
    p->ping_id = tw_read_u64(&r);
    if (tw_reader_done(&r) && p->ping_id == 0) return TW_E_FORMAT;
    break;
  case TW_TCP_OOB_SEND:
  case TW_TCP_OOB_RECV:
    tw_read_bytes(&r, p->pk.bytes, TW_PUBLIC_KEY_SIZE);
    p->data = tw_read_rest(&r, &p->len);
    if (!tw_reader_ok(&r)) return TW_E_SHORT;
    if (p->len == 0) return TW_E_SHORT;
    if (p->len > TW_TCP_MAX_OOB_DATA) return TW_E_LONG;
    return TW_OK;
  case TW_TCP_ONION_REQUEST:
  case TW_TCP_ONION_RESPONSE:
    p->data = tw_read_rest(&r, &p->len);
    return p->len == 0 ? TW_E_SHORT : TW_OK;
  default:
    if (p->kind < TW_TCP_FIRST_CONN_ID) return TW_E_KIND;
    p->conn_id = p->kind;
    p->data = tw_read_rest(&r, &p->len);
    return p->len == 0 ? TW_E_SHORT : TW_OK;
  }
  if (!tw_reader_ok(&r)) return TW_E_SHORT;
  if (!tw_reader_done(&r)) return TW_E_LONG;
  return TW_OK;
}

size_t tw_tcp_write_route_request(uint8_t *out, const tw_key *pk) {
  out[0] = TW_TCP_ROUTE_REQUEST;
  memcpy(out + 1, pk->bytes, TW_PUBLIC_KEY_SIZE);
  return 1 + TW_PUBLIC_KEY_SIZE;
}

size_t tw_tcp_write_route_response(uint8_t *out, uint8_t conn_id, const tw_key *pk) {
  out[0] = TW_TCP_ROUTE_RESPONSE;
  out[1] = conn_id;
  memcpy(out + 2, pk->bytes, TW_PUBLIC_KEY_SIZE);
  return 2 + TW_PUBLIC_KEY_SIZE;
}

size_t tw_tcp_write_notification(uint8_t *out, uint8_t kind, uint8_t conn_id) {
  out[0] = kind;
  out[1] = conn_id;
  return 2;
}

size_t tw_tcp_write_ping(uint8_t *out, uint8_t kind, uint64_t ping_id) {
  tw_writer w = tw_writer_init(out, 9);
  tw_write_u8(&w, kind);
  tw_write_u64(&w, ping_id);
  return w.pos;
}

size_t tw_tcp_write_keyed(uint8_t *out, uint8_t kind, const tw_key *pk, const uint8_t *data,
                          size_t len) {
  if (len > TW_TCP_MAX_PACKET - 1 - TW_PUBLIC_KEY_SIZE) return 0;
  out[0] = kind;
  memcpy(out + 1, pk->bytes, TW_PUBLIC_KEY_SIZE);
  memcpy(out + 1 + TW_PUBLIC_KEY_SIZE, data, len);
  return 1 + TW_PUBLIC_KEY_SIZE + len;
}

size_t tw_tcp_write_data(uint8_t *out, uint8_t kind, const uint8_t *data, size_t len) {
  if (len > TW_TCP_MAX_PACKET - 1) return 0;
  out[0] = kind;
  memcpy(out + 1, data, len);
  return 1 + len;
}
