/* Every top-level packet kind the spec lists, by its spec name. */
#ifndef TW_CORE_PACKET_KIND_H
#define TW_CORE_PACKET_KIND_H

enum tw_packet_kind {
  TW_PACKET_PING_REQUEST = 0x00,
  TW_PACKET_PING_RESPONSE = 0x01,
  TW_PACKET_NODES_REQUEST = 0x02,
  TW_PACKET_NODES_RESPONSE = 0x04,
  TW_PACKET_COOKIE_REQUEST = 0x18,
  TW_PACKET_COOKIE_RESPONSE = 0x19,
  TW_PACKET_CRYPTO_HANDSHAKE = 0x1a,
  TW_PACKET_CRYPTO_DATA = 0x1b,
  TW_PACKET_DHT_REQUEST = 0x20,
  TW_PACKET_LAN_DISCOVERY = 0x21,
  TW_PACKET_ONION_REQUEST_0 = 0x80,
  TW_PACKET_ONION_REQUEST_1 = 0x81,
  TW_PACKET_ONION_REQUEST_2 = 0x82,
  TW_PACKET_ANNOUNCE_REQUEST = 0x83,
  TW_PACKET_ANNOUNCE_RESPONSE = 0x84,
  TW_PACKET_ONION_DATA_REQUEST = 0x85,
  TW_PACKET_ONION_DATA_RESPONSE = 0x86,
  /* Not in the spec: the newer announce form c-toxcore 0.2.18 also
   * serves (spec/onion.md, "The newer announce form"). */
  TW_PACKET_ANNOUNCE_REQUEST_NEW = 0x87,
  TW_PACKET_ANNOUNCE_RESPONSE_NEW = 0x88,
  TW_PACKET_ONION_RESPONSE_3 = 0x8c,
  TW_PACKET_ONION_RESPONSE_2 = 0x8d,
  TW_PACKET_ONION_RESPONSE_1 = 0x8e,
  TW_PACKET_BOOTSTRAP_INFO = 0xf0,
};

/* The spec's name for a kind, e.g. "Nodes Request"; "unknown" otherwise. */
const char *tw_packet_kind_name(int kind);

#endif
