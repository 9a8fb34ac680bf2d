/* Reads tox-bootstrapd's configuration format (libconfig syntax) so that an
 * operator can swap the binary and keep the config and the keys file. */
#ifndef TW_TOOLS_BOOTSTRAPD_CONFIG_H
#define TW_TOOLS_BOOTSTRAPD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "toxwire/types.h"

#define TW_CONFIG_MAX_NODES 64
#define TW_CONFIG_MAX_WARNINGS 16
#define TW_CONFIG_MAX_TCP_PORTS 8

typedef struct tw_bootstrapd_node {
  char address[256];
  uint16_t port;
  tw_key pk;
  int line;
} tw_bootstrapd_node;

typedef struct tw_bootstrapd_config {
  uint16_t port;
  char keys_file_path[1024];
  char pid_file_path[1024]; /* empty: none */
  bool enable_ipv6, enable_ipv4_fallback, enable_lan_discovery, enable_motd;
  char motd[257];
  bool enable_tcp_relay;       /* tox-bootstrapd's default: true */
  uint16_t tcp_ports[TW_CONFIG_MAX_TCP_PORTS];
  size_t ntcp_ports;
  tw_bootstrapd_node nodes[TW_CONFIG_MAX_NODES];
  size_t nnodes;
  char warnings[TW_CONFIG_MAX_WARNINGS][256];
  size_t nwarnings;
} tw_bootstrapd_config;

/* TW_OK, or TW_E_CONFIG with "FILE:LINE: what" in err. */
int tw_bootstrapd_config_read(const char *path, tw_bootstrapd_config *cfg, char *err,
                              size_t errlen);

#endif
