#include "core/node_info.h"

#include <string.h>

#include "toxwire/error.h"

size_t tw_node_info_packed_size(const tw_node_info *n) {
  return n->addr.family == TW_AF_INET6 ? TW_PACKED_NODE_SIZE_IP6 : TW_PACKED_NODE_SIZE_IP4;
}

int tw_node_info_pack(tw_writer *w, const tw_node_info *n) {
  size_t iplen;
  uint8_t type;
  if (n->addr.family == TW_AF_INET) {
    iplen = 4;
    type = n->tcp ? TW_IPTYPE_TCP4 : TW_IPTYPE_UDP4;
  } else if (n->addr.family == TW_AF_INET6) {
    iplen = 16;
    type = n->tcp ? TW_IPTYPE_TCP6 : TW_IPTYPE_UDP6;
  } else {
    return TW_E_FAMILY;
  }
  tw_write_u8(w, type);
  tw_write_bytes(w, n->addr.ip, iplen);
  tw_write_u16(w, n->addr.port);
  tw_write_bytes(w, n->pk.bytes, TW_PUBLIC_KEY_SIZE);
  return tw_writer_ok(w) ? TW_OK : TW_E_SHORT;
}

int tw_node_info_unpack(tw_reader *r, tw_node_info *n) {
  memset(n, 0, sizeof *n);
  uint8_t type = tw_read_u8(r);
  if (!tw_reader_ok(r)) return TW_E_SHORT;
  switch (type) {
  case TW_IPTYPE_UDP4: case TW_IPTYPE_TCP4: n->addr.family = TW_AF_INET; break;
  case TW_IPTYPE_UDP6: case TW_IPTYPE_TCP6: n->addr.family = TW_AF_INET6; break;
  default: return TW_E_FAMILY;
  }
  n->tcp = (type & 0x80) != 0;
  tw_read_bytes(r, n->addr.ip, n->addr.family == TW_AF_INET ? 4 : 16);
  n->addr.port = tw_read_u16(r);
  tw_read_bytes(r, n->pk.bytes, TW_PUBLIC_KEY_SIZE);
  return tw_reader_ok(r) ? TW_OK : TW_E_SHORT;
}
