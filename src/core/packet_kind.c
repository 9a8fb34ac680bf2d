#include "core/packet_kind.h"

const char *tw_packet_kind_name(int kind) {
  switch (kind) {
  case TW_PACKET_PING_REQUEST: return "Ping Request";
  case TW_PACKET_PING_RESPONSE: return "Ping Response";
  case TW_PACKET_NODES_REQUEST: return "Nodes Request";
  case TW_PACKET_NODES_RESPONSE: return "Nodes Response";
  case TW_PACKET_COOKIE_REQUEST: return "Cookie Request";
  case TW_PACKET_COOKIE_RESPONSE: return "Cookie Response";
  case TW_PACKET_CRYPTO_HANDSHAKE: return "Crypto Handshake";
  case TW_PACKET_CRYPTO_DATA: return "Crypto Data";
  case TW_PACKET_DHT_REQUEST: return "DHT Request";
  case TW_PACKET_LAN_DISCOVERY: return "LAN Discovery";
  case TW_PACKET_ONION_REQUEST_0: return "Onion Request 0";
  case TW_PACKET_ONION_REQUEST_1: return "Onion Request 1";
  case TW_PACKET_ONION_REQUEST_2: return "Onion Request 2";
  case TW_PACKET_ANNOUNCE_REQUEST: return "Announce Request";
  case TW_PACKET_ANNOUNCE_RESPONSE: return "Announce Response";
  case TW_PACKET_ONION_DATA_REQUEST: return "Onion Data Request";
  case TW_PACKET_ONION_DATA_RESPONSE: return "Onion Data Response";
  case TW_PACKET_ANNOUNCE_REQUEST_NEW: return "Announce Request (new form)";
  case TW_PACKET_ANNOUNCE_RESPONSE_NEW: return "Announce Response (new form)";
  case TW_PACKET_ONION_RESPONSE_3: return "Onion Response 3";
  case TW_PACKET_ONION_RESPONSE_2: return "Onion Response 2";
  case TW_PACKET_ONION_RESPONSE_1: return "Onion Response 1";
  case TW_PACKET_BOOTSTRAP_INFO: return "Bootstrap Info";
  default: return "unknown";
  }
}
