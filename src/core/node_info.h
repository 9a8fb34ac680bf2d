/* The packed node format: [ip type][4 or 16 address bytes][port][key]. */
#ifndef TW_CORE_NODE_INFO_H
#define TW_CORE_NODE_INFO_H

#include "core/buf.h"
#include "toxwire/types.h"

#define TW_PACKED_NODE_SIZE_IP4 (1 + 4 + 2 + TW_PUBLIC_KEY_SIZE) /* 39 */
#define TW_PACKED_NODE_SIZE_IP6 (1 + 16 + 2 + TW_PUBLIC_KEY_SIZE) /* 51 */

enum {
  TW_IPTYPE_UDP4 = 2,
  TW_IPTYPE_UDP6 = 10,
  TW_IPTYPE_TCP4 = 130,
  TW_IPTYPE_TCP6 = 138,
};

size_t tw_node_info_packed_size(const tw_node_info *n);
/* TW_E_FAMILY for an address that is neither IPv4 nor IPv6. */
int tw_node_info_pack(tw_writer *w, const tw_node_info *n);
/* TW_E_FAMILY for an unknown ip type, TW_E_SHORT when truncated. */
int tw_node_info_unpack(tw_reader *r, tw_node_info *n);

#endif
