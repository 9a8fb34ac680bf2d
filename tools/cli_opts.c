#include "cli_opts.h"

#include <stdio.h>
#include <stdlib.h>

#include "toxwire/error.h"
#include "toxwire/io.h"

int tw_cli_add_node(const char *cmd, const char *opt, const char *arg, tw_node_info *nodes,
                    size_t *n, size_t max) {
  if (*n == max) {
    fprintf(stderr, "toxwire %s: at most %zu %s nodes\n", cmd, max, opt);
    return 2;
  }
  const char *why;
  if (tw_parse_node_spec(arg, true, &nodes[*n], &why) != TW_OK) {
    fprintf(stderr, "toxwire %s: %s '%s': %s\n", cmd, opt, arg, why);
    return 2;
  }
  (*n)++;
  return 0;
}

int tw_cli_add_bootstrap(const char *cmd, const char *arg, tw_node_info *nodes, size_t *n,
                         size_t max) {
  return tw_cli_add_node(cmd, "--bootstrap", arg, nodes, n, max);
}

int tw_cli_parse_port(const char *cmd, const char *arg, long *port) {
  char *end;
  long v = strtol(arg, &end, 10);
  if (*arg == 0 || *end || v < 1 || v > 65535) {
    fprintf(stderr, "toxwire %s: --port '%s': not a port number\n", cmd, arg);
    return 2;
  }
  *port = v;
  return 0;
}
