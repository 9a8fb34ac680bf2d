/* toxwire lookup: joins the network with a long-term key, announces itself
 * through the onion and learns friends' DHT keys (by the onion or by the
 * DHT), printing each event on stdout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_opts.h"
#include "core/crypto.h"
#include "keys_file.h"
#include "lookup.h"
#include "stderr_log.h"
#include "toxwire/io.h"
#include "toxwire/node.h"
#include "toxwire/toxid.h"

static const char USAGE_LOOKUP[] =
    "usage: toxwire lookup --keys FILE --friend KEY [--friend KEY ...]\n"
    "                      --bootstrap HOST:PORT:KEY [OPTIONS]\n"
    "\n"
    "Joins the DHT with a fresh DHT key, announces the long-term key in FILE\n"
    "through onion paths, and looks for each friend's announce nodes; prints\n"
    "one line per event on stdout:\n"
    "  self LONG_TERM_KEY dht DHT_KEY port N\n"
    "  announced N                 stored on N announce nodes (0: lost)\n"
    "  friend_dht_key FRIEND DHT_KEY route onion|dht after SECONDS\n"
    "  onion_data FRIEND KIND LENGTH   other onion data (e.g. a friend request)\n"
    "Exits 0 once every friend's DHT key was learned (unless --stay), 1 when\n"
    "--timeout passes first.\n"
    "\n"
    "  --keys FILE             long-term keys (64 bytes: public then secret key);\n"
    "                          created (mode 0600) if absent\n"
    "  --friend KEY            a friend's long-term public key (64 hex digits) or\n"
    "                          Tox ID (76); repeatable\n"
    "  --bootstrap HOST:PORT:KEY  join through this node (repeatable, at least one)\n"
    "  --port N                UDP port; default: the first free in 33445-33545\n"
    "  --ipv4-only             an IPv4 socket only (default: dual-stack IPv6)\n"
    "  --timeout SECS          give up after this long (default 120)\n"
    "  --stay                  keep running after every key was learned\n"
    "  --log-level LEVEL       trace, debug, info, warn (default), error\n";

#define MAX_FRIENDS 64

typedef struct lookup {
  tw_io *io;
  tw_node *node;
  tw_time_ms start;
  tw_key friends[MAX_FRIENDS];
  bool learned[MAX_FRIENDS];
  size_t nfriends, nlearned;
  bool stay;
} lookup;

static void on_event(void *ctx, const tw_onion_event *ev) {
  lookup *l = ctx;
  char a[TW_KEY_HEXLEN], b[TW_KEY_HEXLEN];
  if (ev->kind == TW_ONION_EV_ANNOUNCED) {
    printf("announced %u\n", ev->stored_on);
  } else if (ev->kind == TW_ONION_EV_FRIEND_DHT_KEY) {
    printf("friend_dht_key %s %s route %s after %.2f\n", tw_key_to_hex(&ev->peer, a),
           tw_key_to_hex(&ev->dht_pk, b), ev->route == TW_ONION_ROUTE_ONION ? "onion" : "dht",
           (double)(ev->time - l->start) / 1000);
    for (size_t i = 0; i < l->nfriends; i++)
      if (!l->learned[i] && tw_key_equal(&l->friends[i], &ev->peer)) {
        l->learned[i] = true;
        l->nlearned++;
      }
    if (l->nlearned == l->nfriends && !l->stay) tw_io_stop(l->io);
  } else if (ev->kind == TW_ONION_EV_DATA) {
    printf("onion_data %s %u %zu\n", tw_key_to_hex(&ev->peer, a), ev->data_len ? ev->data[0] : 0,
           ev->data_len);
  }
  fflush(stdout);
}

static void on_deadline(void *ctx, tw_time_ms now) {
  (void)now;
  tw_io_stop(((lookup *)ctx)->io);
}

static int parse_friend(const char *s, tw_key *out) {
  size_t n = strlen(s);
  if (n == 2 * TW_PUBLIC_KEY_SIZE) return tw_key_from_hex(out, s, n);
  tw_toxid id;
  int rc = tw_toxid_parse(&id, s);
  if (rc == TW_OK) *out = id.pk;
  return rc;
}

int tw_cmd_lookup(int argc, char **argv) {
  static lookup l;
  memset(&l, 0, sizeof l);
  const char *keys = NULL;
  long timeout = 120, port = 0;
  bool ipv6 = true;
  tw_log_level level = TW_LOG_WARN;
  static tw_node_info boot[TW_DHT_MAX_BOOTSTRAP_NODES];
  size_t nboot = 0;
  enum { O_KEYS = 256, O_FRIEND, O_BOOT, O_PORT, O_V4, O_TIMEOUT, O_STAY, O_LEVEL, O_HELP };
  static const struct option opts[] = {
      {"keys", required_argument, 0, O_KEYS},     {"friend", required_argument, 0, O_FRIEND},
      {"bootstrap", required_argument, 0, O_BOOT}, {"port", required_argument, 0, O_PORT},
      {"ipv4-only", no_argument, 0, O_V4},        {"timeout", required_argument, 0, O_TIMEOUT},
      {"stay", no_argument, 0, O_STAY},           {"log-level", required_argument, 0, O_LEVEL},
      {"help", no_argument, 0, O_HELP},           {0, 0, 0, 0}};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    char *end;
    switch (c) {
    case O_KEYS: keys = optarg; break;
    case O_FRIEND:
      if (l.nfriends == MAX_FRIENDS) {
        fprintf(stderr, "toxwire lookup: at most %d friends\n", MAX_FRIENDS);
        return 2;
      }
      if (parse_friend(optarg, &l.friends[l.nfriends]) != TW_OK) {
        fprintf(stderr, "toxwire lookup: --friend '%s': not a public key (64 hex digits) or a valid Tox ID (76)\n",
                optarg);
        return 2;
      }
      l.nfriends++;
      break;
    case O_BOOT:
      if (tw_cli_add_bootstrap("lookup", optarg, boot, &nboot, TW_DHT_MAX_BOOTSTRAP_NODES)) return 2;
      break;
    case O_PORT:
      if (tw_cli_parse_port("lookup", optarg, &port)) return 2;
      break;
    case O_V4: ipv6 = false; break;
    case O_TIMEOUT:
      timeout = strtol(optarg, &end, 10);
      if (*end || timeout < 1) {
        fprintf(stderr, "toxwire lookup: --timeout '%s': not a positive number of seconds\n", optarg);
        return 2;
      }
      break;
    case O_STAY: l.stay = true; break;
    case O_LEVEL:
      if (tw_log_level_parse(optarg, &level) != 0) {
        fprintf(stderr, "toxwire lookup: --log-level '%s': use trace, debug, info, warn or error\n", optarg);
        return 2;
      }
      break;
    case O_HELP: fputs(USAGE_LOOKUP, stdout); return 0;
    default: fputs(USAGE_LOOKUP, stderr); return 2;
    }
  }
  if (keys == NULL || l.nfriends == 0 || nboot == 0 || optind != argc) {
    fprintf(stderr, "toxwire lookup: --keys, --friend and --bootstrap are required\n%s", USAGE_LOOKUP);
    return 2;
  }
  tw_keypair self;
  bool created;
  char err[512];
  if (tw_keys_file_load_or_create(keys, &self, &created, err, sizeof err) != TW_OK) {
    fprintf(stderr, "toxwire lookup: %s\n", err);
    return 1;
  }
  tw_logger lg = tw_stderr_logger(level);
  l.io = tw_io_new(lg);
  if (l.io == NULL) return 1;
  tw_io_udp_config ucfg = {NULL, (uint16_t)port, ipv6, true};
  uint16_t bound;
  int rc = tw_io_bind_udp(l.io, &ucfg, &bound);
  if (rc != TW_OK) {
    fprintf(stderr, "toxwire lookup: cannot open the UDP socket: %s\n", tw_strerror(rc));
    tw_io_free(l.io);
    return 1;
  }
  tw_env env = {.random_bytes = tw_io_random, .random_ctx = l.io, .log = lg};
  tw_node_config cfg = {.onion_relay = true, .announce_store = true, .onion_client = true,
                        .self_keys = self, .on_onion_event = on_event, .event_ctx = &l};
  cfg.dht.send = tw_io_send_cb;
  cfg.dht.send_ctx = l.io;
  tw_keypair_generate(&cfg.dht.keys, &env);
  l.start = tw_io_now(l.io);
  l.node = tw_node_new(&cfg, &env, l.start);
  tw_crypto_wipe(&cfg, sizeof cfg);
  tw_crypto_wipe(&self.sk, sizeof self.sk);
  if (l.node == NULL) {
    fprintf(stderr, "toxwire lookup: cannot create the node\n");
    tw_io_free(l.io);
    return 1;
  }
  char a[TW_KEY_HEXLEN], b[TW_KEY_HEXLEN];
  printf("self %s dht %s port %u\n", tw_key_to_hex(&self.pk, a),
         tw_key_to_hex(tw_dht_public_key(tw_node_dht(l.node)), b), bound);
  fflush(stdout);
  for (size_t i = 0; i < l.nfriends; i++) tw_onion_friend_add(tw_node_onion(l.node), &l.friends[i], l.start);
  for (size_t i = 0; i < nboot; i++) tw_dht_bootstrap(tw_node_dht(l.node), &boot[i], l.start);
  tw_io_handler h = tw_node_io_handler(l.node);
  tw_io_set_handler(l.io, &h);
  tw_io_set_periodic(l.io, (tw_time_ms)timeout * 1000, on_deadline, &l);
  tw_io_run(l.io);
  bool all = l.nlearned == l.nfriends;
  if (!all) fprintf(stderr, "toxwire lookup: %zu of %zu friends' DHT keys learned\n", l.nlearned, l.nfriends);
  tw_node_free(l.node);
  tw_io_free(l.io);
  return all || l.stay ? 0 : 1;
}
