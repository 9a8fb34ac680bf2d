/* Command-line options several toxwire commands share. Each prints its
 * error on stderr, prefixed with the command's name, and returns 2 (the
 * exit status for bad usage) or 0. */
#ifndef TW_TOOLS_CLI_OPTS_H
#define TW_TOOLS_CLI_OPTS_H

#include <stddef.h>

#include "toxwire/types.h"

/* --bootstrap HOST:PORT:KEY: appends to nodes (at most max). */
int tw_cli_add_bootstrap(const char *cmd, const char *arg, tw_node_info *nodes, size_t *n,
                         size_t max);
/* An option whose value is HOST:PORT:KEY (e.g. --tcp-relay): appends to
 * nodes (at most max). */
int tw_cli_add_node(const char *cmd, const char *opt, const char *arg, tw_node_info *nodes,
                    size_t *n, size_t max);
/* --port N: 1..65535. */
int tw_cli_parse_port(const char *cmd, const char *arg, long *port);

#endif
