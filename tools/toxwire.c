/* The toxwire command: `id` and `bootstrap` (more subcommands come with
 * later layers). Everything here is glue: parse arguments, load keys, build
 * the sans-I/O DHT and hand it to the io driver. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstrapd_config.h"
#include "core/crypto.h"
#include "keys_file.h"
#include "lookup.h"
#include "node_cmd.h"
#include "stderr_log.h"
#include "toxwire/dht.h"
#include "toxwire/io.h"
#include "toxwire/node.h"
#include "toxwire/onion.h"

#define TOXWIRE_VERSION "0.1.0"
/* Bootstrap Info version, in tox-bootstrapd's layout 1MMMmmmppp. */
#define TOXWIRE_BOOTSTRAP_VERSION 1000001000u

static const char USAGE[] =
    "usage: toxwire COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  id         print the DHT public key of a keys file (creating the file if absent)\n"
    "  bootstrap  run a DHT bootstrap node and onion relay until SIGINT or SIGTERM\n"
    "  lookup     announce a long-term key through the onion and learn friends'\n"
    "             DHT keys\n"
    "  node       run a full node with friends: requests, messages, names, files\n"
    "  help       show this text, or `toxwire help COMMAND` for a command's options\n"
    "\n"
    "toxwire " TOXWIRE_VERSION " - a clean-room implementation of the Tox protocol.\n";

static const char USAGE_ID[] =
    "usage: toxwire id --keys FILE\n"
    "\n"
    "Prints the DHT public key stored in FILE as 64 uppercase hex digits. If FILE\n"
    "does not exist, a new key pair is created and written to it (mode 0600,\n"
    "atomically). The file holds 64 bytes, public key then secret key: the same\n"
    "layout tox-bootstrapd uses, so either program can read the other's file.\n";

static const char USAGE_BOOTSTRAP[] =
    "usage: toxwire bootstrap --keys FILE [--port N] [OPTIONS]\n"
    "       toxwire bootstrap --config FILE [OPTIONS]\n"
    "\n"
    "Runs a DHT bootstrap node: answers Ping, Nodes and Bootstrap Info requests,\n"
    "keeps a close list, forwards DHT requests, relays onion packets and stores\n"
    "announcements (an onion announce node), until SIGINT or SIGTERM.\n"
    "\n"
    "  --keys FILE             DHT keys file; created (mode 0600) if absent\n"
    "  --port N                UDP port; default: the first free in 33445-33545\n"
    "  --config FILE           read tox-bootstrapd's config file (port, keys_file_path,\n"
    "                          enable_ipv6, enable_ipv4_fallback, enable_lan_discovery,\n"
    "                          enable_motd, motd, bootstrap_nodes); options toxwire\n"
    "                          does not support yet are named in a warning.\n"
    "                          Other command-line options override the file.\n"
    "  --motd TEXT             message of the day in Bootstrap Info answers (<= 256\n"
    "                          bytes); with enable_motd = false in a config file,\n"
    "                          Bootstrap Info requests are not answered\n"
    "  --bootstrap HOST:PORT:KEY  join the network through this node (repeatable)\n"
    "  --lan-discovery         send and answer LAN discovery packets (default: off)\n"
    "  --no-onion              do not relay onion packets or store announcements\n"
    "                          (default: both on, as tox-bootstrapd does)\n"
    "  --tcp-port P[,P2...]    also serve as a TCP relay on these ports (at most 8);\n"
    "                          from a config file: enable_tcp_relay, tcp_relay_ports\n"
    "  --tcp-max-clients N     TCP relay clients held at once (default 16384)\n"
    "  --tcp-max-per-ip N      TCP relay connections from one IP address (default 32)\n"
    "  --no-tcp                no TCP relay, whatever the config file says\n"
    "  --ipv4-only             IPv4 sockets only (default: dual-stack IPv6)\n"
    "  --bind IP               bind to this address only\n"
    "  --status-interval SECS  log a status line this often (default 60; 0: never)\n"
    "  --status-file FILE      with each status line, write the stats and the close\n"
    "                          list to FILE (replaced atomically)\n"
    "  --capture DIR           save each received datagram (up to 20 per packet kind)\n"
    "                          as DIR/KIND-N.bin, e.g. for fuzzing seeds\n"
    "  --log-level LEVEL       trace, debug, info (default), warn, error\n";

typedef struct bootstrap_opts {
  const char *keys;
  const char *config;
  const char *motd;
  const char *bind;
  const char *status_file;
  const char *capture;
  int port;
  bool lan, ipv6, ipv4_fallback, motd_on, no_onion, no_tcp;
  uint16_t tcp_ports[TW_CONFIG_MAX_TCP_PORTS];
  size_t ntcp_ports;
  long tcp_max_clients, tcp_max_per_ip;
  long status_interval;
  tw_log_level level;
  tw_node_info nodes[TW_DHT_MAX_BOOTSTRAP_NODES];
  char node_names[TW_DHT_MAX_BOOTSTRAP_NODES][300];
  size_t nnodes;
} bootstrap_opts;

typedef struct runner {
  tw_node *node;
  tw_io_tcp_server *tcp;
  tw_dht *dht;
  tw_onion *onion;
  tw_io *io;
  tw_logger log;
  const char *status_file;
  const char *capture;
  unsigned captured[256];
  uint16_t port;
  uint32_t last_good;
} runner;

static void info(tw_logger *lg, tw_log_level lvl, const char *fmt, ...) {
  if (lg->fn == NULL || lvl < lg->level) return;
  va_list ap;
  va_start(ap, fmt);
  lg->fn(lg->ctx, lvl, "toxwire", fmt, ap);
  va_end(ap);
}

/* ---- toxwire id ---- */

static int cmd_id(int argc, char **argv) {
  const char *keys = NULL;
  static const struct option opts[] = {{"keys", required_argument, 0, 'k'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "k:h", opts, NULL)) != -1) {
    if (c == 'k') keys = optarg;
    else if (c == 'h') { fputs(USAGE_ID, stdout); return 0; }
    else { fputs(USAGE_ID, stderr); return 2; }
  }
  if (keys == NULL || optind != argc) {
    fprintf(stderr, "toxwire id: --keys FILE is required\n%s", USAGE_ID);
    return 2;
  }
  tw_keypair kp;
  bool created;
  char err[512];
  if (tw_keys_file_load_or_create(keys, &kp, &created, err, sizeof err) != TW_OK) {
    fprintf(stderr, "toxwire id: %s\n", err);
    return 1;
  }
  char hex[TW_KEY_HEXLEN];
  printf("%s\n", tw_key_to_hex(&kp.pk, hex));
  if (created) fprintf(stderr, "toxwire id: created new keys file %s\n", keys);
  return 0;
}

/* ---- toxwire bootstrap ---- */

#define CAPTURE_PER_KIND 20

static void capture(runner *r, const uint8_t *pkt, size_t len) {
  if (len == 0 || r->captured[pkt[0]] >= CAPTURE_PER_KIND) return;
  char path[4200];
  snprintf(path, sizeof path, "%s/%02x-%u.bin", r->capture, pkt[0], r->captured[pkt[0]]++);
  FILE *f = fopen(path, "wb");
  if (f == NULL) return;
  fwrite(pkt, 1, len, f);
  fclose(f);
}

static int io_handle(void *ctx, const tw_addr *from, const uint8_t *pkt, size_t len,
                     tw_time_ms now) {
  runner *r = ctx;
  if (r->capture) capture(r, pkt, len);
  return tw_node_handle_packet(r->node, from, pkt, len, now);
}
static void io_timer(void *ctx, tw_time_ms now) { tw_node_on_timer(((runner *)ctx)->node, now); }
static tw_time_ms io_deadline(void *ctx) { return tw_node_next_deadline(((runner *)ctx)->node); }

static void write_onion_status(FILE *f, const tw_onion *o, tw_time_ms now) {
  tw_onion_stats os;
  tw_onion_get_stats(o, &os, now);
  unsigned long long relayed = os.requests_relayed[0] + os.requests_relayed[1] + os.requests_relayed[2];
  unsigned long long back = os.responses_relayed[0] + os.responses_relayed[1] + os.responses_relayed[2];
  fprintf(f, "onion_requests_relayed %llu\nonion_requests_relayed_by_layer %llu %llu %llu\n", relayed,
          (unsigned long long)os.requests_relayed[0], (unsigned long long)os.requests_relayed[1],
          (unsigned long long)os.requests_relayed[2]);
  fprintf(f, "onion_responses_relayed %llu\n", back);
  fprintf(f, "announce_requests %llu\nannouncements_stored %llu\nannounce_entries %u\n",
          (unsigned long long)os.announce_requests, (unsigned long long)os.announcements_stored,
          os.announce_entries);
  fprintf(f, "data_requests_routed %llu\n", (unsigned long long)os.data_requests_routed);
  for (int i = 1; i < TW_ERROR_COUNT; i++)
    if (os.dropped[i])
      fprintf(f, "onion_dropped \"%s\" %llu\n", tw_strerror(-i), (unsigned long long)os.dropped[i]);
}

static void write_tcp_status(FILE *f, const tw_tcp_server *srv) {
  tw_tcp_server_stats t;
  tw_tcp_server_get_stats(srv, &t);
  fprintf(f, "tcp_clients %u\ntcp_confirmed %u\ntcp_pending %u\ntcp_links_connected %u\n",
          t.clients, t.confirmed, t.pending, t.links_connected);
  fprintf(f, "tcp_queued_bytes %llu\n", (unsigned long long)t.queued_bytes);
  const struct { const char *name; uint64_t v; } rows[] = {
      {"tcp_accepted", t.accepted}, {"tcp_refused_full", t.refused_full},
      {"tcp_refused_addr", t.refused_addr}, {"tcp_handshakes_ok", t.handshakes_ok},
      {"tcp_handshakes_bad", t.handshakes_bad}, {"tcp_closed_timeout", t.closed_timeout},
      {"tcp_closed_ping", t.closed_ping}, {"tcp_closed_stalled", t.closed_stalled},
      {"tcp_closed_bad", t.closed_bad}, {"tcp_closed_replaced", t.closed_replaced},
      {"tcp_data_relayed", t.data_relayed}, {"tcp_data_bytes_relayed", t.data_bytes_relayed},
      {"tcp_oob_relayed", t.oob_relayed}, {"tcp_onion_requests", t.onion_requests},
      {"tcp_onion_responses", t.onion_responses}, {"tcp_pings_answered", t.pings_answered},
      {"tcp_dropped_queue_full", t.dropped_queue_full}};
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    fprintf(f, "%s %llu\n", rows[i].name, (unsigned long long)rows[i].v);
  for (int i = 1; i < TW_ERROR_COUNT; i++)
    if (t.dropped[i])
      fprintf(f, "tcp_dropped \"%s\" %llu\n", tw_strerror(-i), (unsigned long long)t.dropped[i]);
}

static void write_status_file(runner *r, const tw_dht_stats *st, tw_time_ms now) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", r->status_file);
  FILE *f = fopen(tmp, "w");
  if (f == NULL) return;
  char hex[TW_KEY_HEXLEN], a[TW_ADDR_STRLEN];
  fprintf(f, "public_key %s\nport %u\n", tw_key_to_hex(tw_dht_public_key(r->dht), hex), r->port);
  fprintf(f, "close_nodes %u\nclose_good_nodes %u\n", st->close_nodes, st->close_good_nodes);
  fprintf(f, "packets_in %llu\npackets_out %llu\n", (unsigned long long)st->packets_in,
          (unsigned long long)st->packets_out);
  fprintf(f, "ping_requests_in %llu\nnodes_requests_in %llu\nnodes_responses_in %llu\n",
          (unsigned long long)st->ping_requests_in, (unsigned long long)st->nodes_requests_in,
          (unsigned long long)st->nodes_responses_in);
  fprintf(f, "bootstrap_info_answered %llu\ndht_requests_forwarded %llu\n",
          (unsigned long long)st->bootstrap_info_answered,
          (unsigned long long)st->dht_requests_forwarded);
  for (int i = 1; i < TW_ERROR_COUNT; i++)
    if (st->dropped[i])
      fprintf(f, "dropped \"%s\" %llu\n", tw_strerror(-i), (unsigned long long)st->dropped[i]);
  if (r->onion) write_onion_status(f, r->onion, now);
  if (r->tcp) write_tcp_status(f, tw_io_tcp_server_relay(r->tcp));
  tw_node_info nodes[512];
  size_t n = tw_dht_close_nodes(r->dht, nodes, 512, now);
  for (size_t i = 0; i < n; i++)
    fprintf(f, "node %s %s\n", tw_key_to_hex(&nodes[i].pk, hex), tw_addr_format(&nodes[i].addr, a));
  if (fclose(f) == 0) rename(tmp, r->status_file);
}

static void status(void *ctx, tw_time_ms now) {
  runner *r = ctx;
  tw_dht_stats st;
  tw_dht_get_stats(r->dht, &st, now);
  info(&r->log, TW_LOG_INFO,
       "peers: %u in close list (%u good); packets in %llu, out %llu, dropped %llu",
       st.close_nodes, st.close_good_nodes, (unsigned long long)st.packets_in,
       (unsigned long long)st.packets_out, (unsigned long long)st.dropped_total);
  if (r->onion) {
    tw_onion_stats os;
    tw_onion_get_stats(r->onion, &os, now);
    info(&r->log, TW_LOG_INFO,
         "onion: relayed %llu requests, %llu responses; %u announcements stored; dropped %llu",
         (unsigned long long)(os.requests_relayed[0] + os.requests_relayed[1] + os.requests_relayed[2]),
         (unsigned long long)(os.responses_relayed[0] + os.responses_relayed[1] + os.responses_relayed[2]),
         os.announce_entries, (unsigned long long)os.dropped_total);
  }
  if (r->tcp) {
    tw_tcp_server_stats t;
    tw_tcp_server_get_stats(tw_io_tcp_server_relay(r->tcp), &t);
    info(&r->log, TW_LOG_INFO,
         "tcp: %u clients (%u confirmed), %u linked pairs; relayed %llu data packets, %llu OOB, "
         "%llu onion requests",
         t.clients, t.confirmed, t.links_connected, (unsigned long long)t.data_relayed,
         (unsigned long long)t.oob_relayed, (unsigned long long)t.onion_requests);
  }
  if (r->status_file) write_status_file(r, &st, now);
  r->last_good = st.close_good_nodes;
}

static int add_node_spec(bootstrap_opts *o, const char *spec, const char *who) {
  if (o->nnodes >= TW_DHT_MAX_BOOTSTRAP_NODES) {
    fprintf(stderr, "toxwire bootstrap: at most %d bootstrap nodes\n", TW_DHT_MAX_BOOTSTRAP_NODES);
    return -1;
  }
  const char *why;
  if (tw_parse_node_spec(spec, o->ipv6, &o->nodes[o->nnodes], &why) != TW_OK) {
    fprintf(stderr, "toxwire bootstrap: %s '%s': %s\n", who, spec, why);
    return -1;
  }
  snprintf(o->node_names[o->nnodes], sizeof o->node_names[0], "%s", spec);
  o->nnodes++;
  return 0;
}

/* "443,33445": one to eight ports. */
static int parse_tcp_ports(bootstrap_opts *o, const char *list) {
  o->ntcp_ports = 0;
  const char *p = list;
  for (;;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < 1 || v > 65535 || (*end != ',' && *end != '\0')) {
      fprintf(stderr,
              "toxwire bootstrap: --tcp-port must be ports from 1 to 65535 separated by commas, "
              "not '%s'\n", list);
      return -1;
    }
    if (o->ntcp_ports == TW_CONFIG_MAX_TCP_PORTS) {
      fprintf(stderr, "toxwire bootstrap: --tcp-port: at most %d ports\n", TW_CONFIG_MAX_TCP_PORTS);
      return -1;
    }
    o->tcp_ports[o->ntcp_ports++] = (uint16_t)v;
    if (*end == '\0') return 0;
    p = end + 1;
  }
}

static int apply_config(bootstrap_opts *o, tw_logger *lg) {
  static tw_bootstrapd_config cfg;
  char err[1024];
  if (tw_bootstrapd_config_read(o->config, &cfg, err, sizeof err) != TW_OK) {
    fprintf(stderr, "toxwire bootstrap: %s\n", err);
    return -1;
  }
  for (size_t i = 0; i < cfg.nwarnings; i++) info(lg, TW_LOG_WARN, "%s", cfg.warnings[i]);
  if (cfg.pid_file_path[0])
    info(lg, TW_LOG_WARN,
         "pid_file_path ignored: toxwire runs in the foreground, like tox-bootstrapd --foreground");
  static char keys[1024], motd[257];
  strcpy(keys, cfg.keys_file_path);
  strcpy(motd, cfg.motd);
  o->keys = keys;
  o->port = cfg.port;
  o->ipv6 = cfg.enable_ipv6;
  o->ipv4_fallback = cfg.enable_ipv4_fallback;
  o->lan = cfg.enable_lan_discovery;
  o->motd_on = cfg.enable_motd;
  o->motd = motd;
  o->ntcp_ports = cfg.enable_tcp_relay ? cfg.ntcp_ports : 0;
  memcpy(o->tcp_ports, cfg.tcp_ports, sizeof o->tcp_ports);
  for (size_t i = 0; i < cfg.nnodes; i++) {
    char spec[400];
    snprintf(spec, sizeof spec, "%s:%u:", cfg.nodes[i].address, cfg.nodes[i].port);
    char hex[TW_KEY_HEXLEN];
    strncat(spec, tw_key_to_hex(&cfg.nodes[i].pk, hex), sizeof spec - strlen(spec) - 1);
    char who[64];
    snprintf(who, sizeof who, "%s:%d: bootstrap node", o->config, cfg.nodes[i].line);
    if (add_node_spec(o, spec, who) != 0) return -1;
  }
  return 0;
}

/* The TCP relay hands onion requests to our onion relay, which sends the
 * answers back through it. */
static int tcp_to_onion(void *ctx, uint64_t link, const uint8_t *data, size_t len, tw_time_ms now) {
  runner *r = ctx;
  if (r->onion == NULL) return TW_E_DISABLED;
  return tw_onion_handle_tcp_request(r->onion, link, data, len, now);
}
static void onion_to_tcp(void *ctx, uint64_t link, const uint8_t *pkt, size_t len) {
  runner *r = ctx;
  if (r->tcp) tw_tcp_server_send_onion_response(tw_io_tcp_server_relay(r->tcp), link, pkt, len);
}

static int start_tcp_relay(runner *r, const bootstrap_opts *o, const tw_env *env,
                           const tw_keypair *kp) {
  tw_io_tcp_listen l = {o->bind, o->tcp_ports, o->ntcp_ports, tw_io_is_ipv6(r->io)};
  tw_tcp_server_config tc = {
      .keys = *kp,
      .max_clients = (size_t)o->tcp_max_clients,
      .max_per_addr = (size_t)o->tcp_max_per_ip,
      .onion_request = tcp_to_onion,
      .onion_ctx = r,
  };
  char why[256];
  int rc = tw_io_tcp_server_start(r->io, &l, &tc, env, &r->tcp, why, sizeof why);
  tw_crypto_wipe(&tc, sizeof tc);
  if (rc != TW_OK) {
    fprintf(stderr, "toxwire bootstrap: cannot serve the TCP relay: %s\n", why);
    return -1;
  }
  char ports[64] = "";
  for (size_t i = 0; i < o->ntcp_ports; i++)
    snprintf(ports + strlen(ports), sizeof ports - strlen(ports), "%s%u", i ? "," : "",
             o->tcp_ports[i]);
  info(&r->log, TW_LOG_INFO, "TCP relay on port%s %s", o->ntcp_ports > 1 ? "s" : "", ports);
  return 0;
}

static int cmd_bootstrap(int argc, char **argv) {
  static bootstrap_opts o;
  memset(&o, 0, sizeof o);
  o.ipv6 = true;
  o.ipv4_fallback = true;
  o.motd_on = true;
  o.motd = "toxwire bootstrap node";
  o.status_interval = 60;
  o.level = TW_LOG_INFO;
  enum { O_KEYS = 256, O_PORT, O_CONFIG, O_MOTD, O_BOOT, O_LAN, O_V4, O_BIND, O_STATUS, O_SFILE, O_LEVEL, O_CAPTURE, O_NO_ONION, O_TCP_PORT, O_TCP_MAX, O_TCP_PER_IP, O_NO_TCP };
  static const struct option opts[] = {
      {"keys", required_argument, 0, O_KEYS},       {"port", required_argument, 0, O_PORT},
      {"config", required_argument, 0, O_CONFIG},   {"motd", required_argument, 0, O_MOTD},
      {"bootstrap", required_argument, 0, O_BOOT},  {"lan-discovery", no_argument, 0, O_LAN},
      {"ipv4-only", no_argument, 0, O_V4},          {"bind", required_argument, 0, O_BIND},
      {"status-interval", required_argument, 0, O_STATUS},
      {"status-file", required_argument, 0, O_SFILE},
      {"capture", required_argument, 0, O_CAPTURE}, {"no-onion", no_argument, 0, O_NO_ONION},
      {"log-level", required_argument, 0, O_LEVEL}, {"help", no_argument, 0, 'h'},
      {"tcp-port", required_argument, 0, O_TCP_PORT},
      {"tcp-max-clients", required_argument, 0, O_TCP_MAX},
      {"tcp-max-per-ip", required_argument, 0, O_TCP_PER_IP}, {"no-tcp", no_argument, 0, O_NO_TCP},
      {0, 0, 0, 0}};
  /* First pass: the log level and the config file, which the other options
   * then override. */
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == O_LEVEL && tw_log_level_parse(optarg, &o.level) != 0) {
      fprintf(stderr, "toxwire bootstrap: --log-level must be trace, debug, info, warn or error\n");
      return 2;
    }
    if (c == O_CONFIG) o.config = optarg;
  }
  tw_logger lg = tw_stderr_logger(o.level);
  if (o.config && apply_config(&o, &lg) != 0) return 1;

  optind = 1;
  opterr = 1;
  char *end;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case O_KEYS: o.keys = optarg; break;
    case O_PORT:
      errno = 0;
      o.port = (int)strtol(optarg, &end, 10);
      if (*optarg == '\0' || *end != '\0' || o.port < 1 || o.port > 65535) {
        fprintf(stderr, "toxwire bootstrap: --port must be a number from 1 to 65535, not '%s'\n",
                optarg);
        return 2;
      }
      break;
    case O_MOTD: o.motd = optarg; o.motd_on = true; break;
    case O_BOOT: break; /* after the socket family is known */
    case O_LAN: o.lan = true; break;
    case O_V4: o.ipv6 = false; break;
    case O_BIND: o.bind = optarg; break;
    case O_STATUS:
      o.status_interval = strtol(optarg, &end, 10);
      if (*optarg == '\0' || *end != '\0' || o.status_interval < 0) {
        fprintf(stderr, "toxwire bootstrap: --status-interval must be a number of seconds\n");
        return 2;
      }
      break;
    case O_SFILE: o.status_file = optarg; break;
    case O_CAPTURE: o.capture = optarg; break;
    case O_NO_ONION: o.no_onion = true; break;
    case O_TCP_PORT:
      if (parse_tcp_ports(&o, optarg) != 0) return 2;
      break;
    case O_NO_TCP: o.ntcp_ports = 0; o.no_tcp = true; break;
    case O_TCP_MAX:
    case O_TCP_PER_IP: {
      long v = strtol(optarg, &end, 10);
      if (*optarg == '\0' || *end != '\0' || v < 1 || v > 1000000) {
        fprintf(stderr, "toxwire bootstrap: --%s must be a number from 1 to 1000000, not '%s'\n",
                c == O_TCP_MAX ? "tcp-max-clients" : "tcp-max-per-ip", optarg);
        return 2;
      }
      if (c == O_TCP_MAX) o.tcp_max_clients = v;
      else o.tcp_max_per_ip = v;
      break;
    }
    case O_CONFIG: case O_LEVEL: break;
    case 'h': fputs(USAGE_BOOTSTRAP, stdout); return 0;
    default: fputs(USAGE_BOOTSTRAP, stderr); return 2;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "toxwire bootstrap: unexpected argument '%s'\n%s", argv[optind], USAGE_BOOTSTRAP);
    return 2;
  }
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
    if (c == O_BOOT && add_node_spec(&o, optarg, "--bootstrap") != 0) return 2;
  if (o.keys == NULL) {
    fprintf(stderr, "toxwire bootstrap: --keys FILE or --config FILE is required\n%s",
            USAGE_BOOTSTRAP);
    return 2;
  }
  size_t motd_len = o.motd_on ? strlen(o.motd) : 0;
  if (motd_len > 256) {
    fprintf(stderr, "toxwire bootstrap: the MOTD is %zu bytes; at most 256 are allowed\n", motd_len);
    return 2;
  }

  tw_keypair kp;
  bool created;
  char err[512];
  if (tw_keys_file_load_or_create(o.keys, &kp, &created, err, sizeof err) != TW_OK) {
    fprintf(stderr, "toxwire bootstrap: %s\n", err);
    return 1;
  }
  if (created) info(&lg, TW_LOG_INFO, "created new keys file %s", o.keys);

  static runner r;
  r = (runner){.log = lg, .status_file = o.status_file, .capture = o.capture};
  r.io = tw_io_new(lg);
  if (r.io == NULL) {
    fprintf(stderr, "toxwire bootstrap: cannot start the event loop\n");
    return 1;
  }
  tw_io_udp_config ucfg = {o.bind, (uint16_t)o.port, o.ipv6, o.ipv4_fallback};
  int rc = tw_io_bind_udp(r.io, &ucfg, &r.port);
  if (rc != TW_OK) {
    if (rc == TW_E_ADDRINUSE && o.port)
      fprintf(stderr, "toxwire bootstrap: UDP port %d is already in use\n", o.port);
    else if (rc == TW_E_ADDRINUSE)
      fprintf(stderr, "toxwire bootstrap: every UDP port in %d-%d is in use\n",
              TW_IO_PORT_RANGE_START, TW_IO_PORT_RANGE_END);
    else
      fprintf(stderr, "toxwire bootstrap: cannot open a UDP socket%s%s: %s\n",
              o.bind ? " on " : "", o.bind ? o.bind : "", tw_strerror(rc));
    tw_io_free(r.io);
    return 1;
  }
  tw_env env = {.random_bytes = tw_io_random, .random_ctx = r.io, .log = lg};
  tw_node_config ncfg = {
      .dht = {.keys = kp, .send = tw_io_send_cb, .send_ctx = r.io, .lan_discovery = o.lan,
              .bootstrap_info = o.motd_on, .version = TOXWIRE_BOOTSTRAP_VERSION,
              .motd = (const uint8_t *)o.motd, .motd_len = motd_len},
      .onion_relay = !o.no_onion,
      .announce_store = !o.no_onion,
      .onion_tcp_send = onion_to_tcp,
      .onion_tcp_ctx = &r,
  };
  tw_time_ms now = tw_io_now(r.io);
  r.node = tw_node_new(&ncfg, &env, now);
  if (r.node != NULL && o.ntcp_ports > 0 && start_tcp_relay(&r, &o, &env, &kp) != 0) {
    tw_crypto_wipe(kp.sk, sizeof kp.sk);
    tw_node_free(r.node);
    tw_io_free(r.io);
    return 1;
  }
  tw_crypto_wipe(kp.sk, sizeof kp.sk); /* the node and the relay keep their own copies */
  tw_crypto_wipe(&ncfg, sizeof ncfg);
  if (r.node == NULL) {
    fprintf(stderr, "toxwire bootstrap: cannot create the node\n");
    tw_io_free(r.io);
    return 1;
  }
  r.dht = tw_node_dht(r.node);
  r.onion = tw_node_onion(r.node);
  char hex[TW_KEY_HEXLEN];
  info(&lg, TW_LOG_INFO, "toxwire %s bootstrap node: public key %s, UDP port %u (%s)%s",
       TOXWIRE_VERSION, tw_key_to_hex(tw_dht_public_key(r.dht), hex), r.port,
       tw_io_is_ipv6(r.io) ? "IPv6 and IPv4" : "IPv4 only",
       o.lan ? ", LAN discovery on" : "");
  for (size_t i = 0; i < o.nnodes; i++) {
    rc = tw_dht_bootstrap(r.dht, &o.nodes[i], now);
    if (rc != TW_OK)
      info(&lg, TW_LOG_WARN, "bootstrap node %s skipped: %s", o.node_names[i], tw_strerror(rc));
    else
      info(&lg, TW_LOG_INFO, "bootstrapping from %s", o.node_names[i]);
  }
  tw_io_handler h = {&r, io_handle, io_timer, io_deadline};
  tw_io_set_handler(r.io, &h);
  if (o.status_interval > 0)
    tw_io_set_periodic(r.io, (tw_time_ms)o.status_interval * 1000, status, &r);
  if (r.status_file) status(&r, now);
  int sig = tw_io_run(r.io);
  info(&lg, TW_LOG_INFO, "stopping on signal %d", sig);
  status(&r, tw_io_now(r.io));
  tw_io_tcp_server_free(r.tcp);
  tw_node_free(r.node);
  tw_io_free(r.io);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(USAGE, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    if (argc > 2 && strcmp(argv[2], "id") == 0) fputs(USAGE_ID, stdout);
    else if (argc > 2 && strcmp(argv[2], "bootstrap") == 0) fputs(USAGE_BOOTSTRAP, stdout);
    else if (argc > 2 && strcmp(argv[2], "lookup") == 0) return tw_cmd_lookup(2, (char *[]){"lookup", "--help", NULL});
    else if (argc > 2 && strcmp(argv[2], "node") == 0) return tw_cmd_node(2, (char *[]){"node", "--help", NULL});
    else fputs(USAGE, stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("toxwire %s\n", TOXWIRE_VERSION);
    return 0;
  }
  if (strcmp(cmd, "id") == 0) return cmd_id(argc - 1, argv + 1);
  if (strcmp(cmd, "bootstrap") == 0) return cmd_bootstrap(argc - 1, argv + 1);
  if (strcmp(cmd, "lookup") == 0) return tw_cmd_lookup(argc - 1, argv + 1);
  if (strcmp(cmd, "node") == 0) return tw_cmd_node(argc - 1, argv + 1);
  fprintf(stderr, "toxwire: unknown command '%s'\n\n%s", cmd, USAGE);
  return 2;
}
