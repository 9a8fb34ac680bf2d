/* Hole punching simulation: N public toxwire nodes (DHT, onion relay and
 * announce node) and P pairs of friend clients behind NATs (tests/sim/
 * simnet.h models them). The pairs take turns:
 *   cone       both clients behind restricted cone NATs;
 *   symmetric  one behind a symmetric NAT handing out ports in sequence
 *              (every other such pair from 1024, where many real ones
 *              restart), the other behind a restricted cone NAT.
 * Each client finds its friend's DHT key through the onion; with no relay
 * and no public address, the only way to a session is a direct path the
 * NATs let through. Checks:
 *   1. with hole punching, every pair reaches Established within
 *      --max-seconds; for each the time, the NAT pings, the punching rounds
 *      and the address (port) that worked are printed;
 *   2. the same network with hole punching off (tw_dht_config
 *      .no_hole_punching), run as long: no symmetric pair reaches
 *      Established; what the cone pairs do is printed (the spec expects
 *      the DHT's own checks to open cone NATs: see spec/dht.md);
 *   3. (--determinism) the punching run twice with one seed gives one
 *      trace hash, another seed another.
 * --no-punch runs only the run without punching (and checks nothing). */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto.h"
#include "simnet.h"
#include "toxwire/node.h"

typedef struct opts {
  int nodes, pairs;
  uint64_t seed;
  double loss, dup;
  uint32_t delay_min, delay_max;
  double max_seconds;
  bool quiet, determinism, only_no_punch;
} opts;

typedef enum pair_kind { PAIR_CONE = 0, PAIR_SYMMETRIC = 1 } pair_kind;

typedef struct client {
  int idx, ep, pair, friend_client;
  tw_simnet_nat_type nat;
  uint16_t first_port;
  tw_keypair self, dht;
  tw_node *node;
  tw_simnet_sender sender;
  uint32_t fid;
  tw_fconn_state state;
  tw_time_ms est_at;                /* first Established; 0: never */
  tw_time_ms nat_ping_at, punch_at; /* first seen sending NAT pings, punching */
  tw_time_ms timer_at;
  uint64_t timer_same;
} client;

typedef struct world {
  const opts *o;
  bool punch;
  tw_simnet *net;
  int nnodes, nclients;
  tw_node **nodes;
  tw_simnet_sender *senders;
  tw_key *node_dht;
  tw_addr *node_addr;
  client *clients;
  tw_time_ms t0;
} world;

static double sec(tw_time_ms t) { return (double)t / 1000.0; }

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static pair_kind kind_of(int pair) { return pair % 2 ? PAIR_SYMMETRIC : PAIR_CONE; }
static const char *kind_name(pair_kind k) { return k == PAIR_CONE ? "cone" : "symmetric"; }
static const char *nat_name(tw_simnet_nat_type t) {
  return t == TW_SIMNET_NAT_SYMMETRIC         ? "symmetric"
         : t == TW_SIMNET_NAT_RESTRICTED_CONE ? "cone"
                                              : "none";
}

/* ---- handlers ---- */

static void on_fconn_event(void *ctx, const tw_fconn_event *ev) {
  client *c = ctx;
  if (ev->kind != TW_FCONN_EV_STATE) return;
  c->state = ev->state;
  if (ev->state == TW_FCONN_ESTABLISHED && c->est_at == 0) c->est_at = ev->time;
}

#define SPIN_LIMIT 100000

static int c_packet(void *ctx, const tw_addr *from, const uint8_t *pkt, size_t len,
                    tw_time_ms now) {
  return tw_node_handle_packet(((client *)ctx)->node, from, pkt, len, now);
}

static void c_timer(void *ctx, tw_time_ms now) {
  client *c = ctx;
  if (now != c->timer_at) {
    c->timer_at = now;
    c->timer_same = 0;
  } else if (++c->timer_same == SPIN_LIMIT) {
    printf("not ok - livelock: client %d's timer ran %d times at t=%.3f s (dht deadline %.3f)\n",
           c->idx, SPIN_LIMIT, sec(now), sec(tw_dht_next_deadline(tw_node_dht(c->node))));
    printf("FAIL\n");
    exit(1);
  }
  tw_node_on_timer(c->node, now);
}

static tw_time_ms c_deadline(void *ctx) { return tw_node_next_deadline(((client *)ctx)->node); }

/* ---- building ---- */

static void build(world *w, const opts *o, bool punch) {
  memset(w, 0, sizeof *w);
  tw_simnet_config ncfg = {o->seed, o->loss, o->dup, o->delay_min, o->delay_max};
  w->o = o;
  w->punch = punch;
  w->net = tw_simnet_new(&ncfg);
  w->nnodes = o->nodes;
  w->nclients = 2 * o->pairs;
  w->nodes = calloc((size_t)w->nnodes, sizeof *w->nodes);
  w->senders = calloc((size_t)w->nnodes, sizeof *w->senders);
  w->node_dht = calloc((size_t)w->nnodes, sizeof *w->node_dht);
  w->node_addr = calloc((size_t)w->nnodes, sizeof *w->node_addr);
  w->clients = calloc((size_t)w->nclients, sizeof *w->clients);
  if (!w->net || !w->nodes || !w->senders || !w->node_dht || !w->node_addr || !w->clients) {
    fprintf(stderr, "sim_holepunch: out of memory\n");
    exit(1);
  }
  for (int i = 0; i < w->nnodes; i++) tw_simnet_add_endpoint(w->net, &w->node_addr[i]);
  for (int i = 0; i < w->nclients; i++) {
    client *c = &w->clients[i];
    c->idx = i;
    c->pair = i / 2;
    c->friend_client = i ^ 1;
    tw_addr own;
    c->ep = tw_simnet_add_endpoint(w->net, &own);
    c->sender = (tw_simnet_sender){w->net, c->ep};
    /* A symmetric pair puts its first client behind the symmetric NAT;
     * every other symmetric pair's NAT counts from 1024. */
    bool sym = kind_of(c->pair) == PAIR_SYMMETRIC && i % 2 == 0;
    c->nat = sym ? TW_SIMNET_NAT_SYMMETRIC : TW_SIMNET_NAT_RESTRICTED_CONE;
    c->first_port =
        sym ? (uint16_t)((c->pair / 2) % 2 ? 1024 : 20000 + 1000 * c->pair) : (uint16_t)(40000 + i);
    tw_simnet_set_nat(w->net, c->ep, c->nat, c->first_port);
    tw_env env = {.random_bytes = tw_simnet_random,
                  .random_ctx = tw_simnet_random_ctx(w->net, c->ep)};
    tw_keypair_generate(&c->self, &env);
  }
  for (int i = 0; i < w->nnodes; i++) {
    tw_env env = {.random_bytes = tw_simnet_random, .random_ctx = tw_simnet_random_ctx(w->net, i)};
    w->senders[i] = (tw_simnet_sender){w->net, i};
    tw_node_config cfg = {.onion_relay = true, .announce_store = true};
    cfg.dht.send = tw_simnet_send_cb;
    cfg.dht.send_ctx = &w->senders[i];
    cfg.dht.key_cache_entries = 64;
    cfg.dht.no_hole_punching = !punch;
    tw_keypair_generate(&cfg.dht.keys, &env);
    w->node_dht[i] = cfg.dht.keys.pk;
    w->nodes[i] = tw_node_new(&cfg, &env, 0);
    if (w->nodes[i] == NULL) {
      fprintf(stderr, "sim_holepunch: cannot create node %d\n", i);
      exit(1);
    }
    tw_io_handler h = tw_node_io_handler(w->nodes[i]);
    tw_simnet_set_handler(w->net, i, &h);
  }
  /* The network joins through node 0, 20 nodes per simulated second. */
  tw_node_info boot = {.pk = w->node_dht[0], .addr = w->node_addr[0]};
  for (int i = 1; i < w->nnodes; i++) {
    tw_time_ms at = (tw_time_ms)i * 50;
    tw_simnet_run_until(w->net, at);
    tw_dht_bootstrap(tw_node_dht(w->nodes[i]), &boot, at);
    tw_simnet_rearm(w->net, i);
  }
  w->t0 = (tw_time_ms)w->nnodes * 50 + 2000;
  tw_simnet_run_until(w->net, w->t0);
  /* The clients start and add each other at T0. */
  for (int i = 0; i < w->nclients; i++) {
    client *c = &w->clients[i];
    tw_env env = {.random_bytes = tw_simnet_random,
                  .random_ctx = tw_simnet_random_ctx(w->net, c->ep)};
    tw_node_config cfg = {
        .onion_relay = true, .announce_store = true, .onion_client = true, .friends = true};
    cfg.dht.send = tw_simnet_send_cb;
    cfg.dht.send_ctx = &c->sender;
    cfg.dht.key_cache_entries = 64;
    cfg.dht.no_hole_punching = !punch;
    tw_keypair_generate(&cfg.dht.keys, &env);
    c->dht = cfg.dht.keys;
    cfg.self_keys = c->self;
    cfg.on_fconn_event = on_fconn_event;
    cfg.fconn_ctx = c;
    c->node = tw_node_new(&cfg, &env, w->t0);
    if (c->node == NULL) {
      fprintf(stderr, "sim_holepunch: cannot create client %d\n", i);
      exit(1);
    }
    tw_io_handler h = {c, c_packet, c_timer, c_deadline};
    tw_simnet_set_handler(w->net, c->ep, &h);
    for (int b = 0; b < 2; b++) {
      tw_node_info bn = {.pk = w->node_dht[b], .addr = w->node_addr[b]};
      tw_dht_bootstrap(tw_node_dht(c->node), &bn, w->t0);
    }
  }
  for (int i = 0; i < w->nclients; i++) {
    client *c = &w->clients[i];
    if (tw_fconn_add(tw_node_fconn(c->node), &w->clients[c->friend_client].self.pk, &c->fid,
                     w->t0) != TW_OK) {
      fprintf(stderr, "sim_holepunch: tw_fconn_add for client %d failed\n", i);
      exit(1);
    }
    tw_simnet_rearm(w->net, c->ep);
  }
}

static void destroy(world *w) {
  for (int i = 0; i < w->nclients; i++) tw_node_free(w->clients[i].node);
  for (int i = 0; i < w->nnodes; i++) tw_node_free(w->nodes[i]);
  tw_simnet_free(w->net);
  free(w->nodes);
  free(w->senders);
  free(w->node_dht);
  free(w->node_addr);
  free(w->clients);
}

static bool pair_established(const world *w, int pair) {
  return w->clients[2 * pair].est_at != 0 && w->clients[2 * pair + 1].est_at != 0;
}

/* Runs until every pair is Established or the limit; returns how many are. */
static int run(world *w) {
  tw_time_ms limit = w->t0 + (tw_time_ms)(w->o->max_seconds * 1000);
  for (tw_time_ms t = w->t0 + 250; t <= limit; t += 250) {
    tw_simnet_run_until(w->net, t);
    for (int i = 0; i < w->nclients; i++) {
      client *c = &w->clients[i];
      tw_dht_stats st;
      tw_dht_get_stats(tw_node_dht(c->node), &st, t);
      if (c->nat_ping_at == 0 && st.nat_ping_requests_out > 0) c->nat_ping_at = t;
      if (c->punch_at == 0 && st.punch_rounds > 0) c->punch_at = t;
    }
    int n = 0;
    for (int p = 0; p < w->o->pairs; p++) n += pair_established(w, p);
    if (n == w->o->pairs && w->punch) break;
  }
  int n = 0;
  for (int p = 0; p < w->o->pairs; p++) n += pair_established(w, p);
  return n;
}

/* ---- reports ---- */

static void report_client(const world *w, const client *c) {
  const client *f = &w->clients[c->friend_client];
  tw_time_ms now = tw_simnet_now(w->net);
  tw_dht_stats st;
  tw_dht_get_stats(tw_node_dht(c->node), &st, now);
  tw_node_info found = {0}, near[1];
  tw_dht_search_result(tw_node_dht(c->node), &f->dht.pk, near, 0, &found, now);
  char a[TW_ADDR_STRLEN], pub[TW_ADDR_STRLEN];
  /* Where c's datagrams to its friend's (cone) public address come from:
   * for a symmetric NAT, the port the friend had to guess. */
  tw_addr fpub = {0}, mine = {0};
  bool mapped = f->nat == TW_SIMNET_NAT_RESTRICTED_CONE &&
                tw_simnet_public_addr(w->net, f->ep, NULL, &fpub) &&
                tw_simnet_public_addr(w->net, c->ep, &fpub, &mine);
  char est[64] = "NOT Established", np[48] = "", pu[48] = "";
  if (c->est_at) snprintf(est, sizeof est, "Established at +%.2f s", sec(c->est_at - w->t0));
  if (c->nat_ping_at) snprintf(np, sizeof np, " from +%.2f s", sec(c->nat_ping_at - w->t0));
  if (c->punch_at) snprintf(pu, sizeof pu, " from +%.2f s", sec(c->punch_at - w->t0));
  printf(
      "#   client %d (%s NAT, %u port%s used): %s; NAT pings%s: %llu out, %llu in, "
      "%llu answered, %llu answers in; punching%s: %llu rounds, %llu pings, %llu "
      "answered; found its friend at %s%s%s\n",
      c->idx, nat_name(c->nat), tw_simnet_nat_ports_used(w->net, c->ep),
      tw_simnet_nat_ports_used(w->net, c->ep) == 1 ? "" : "s", est, np,
      (unsigned long long)st.nat_ping_requests_out, (unsigned long long)st.nat_ping_requests_in,
      (unsigned long long)st.nat_ping_requests_answered,
      (unsigned long long)st.nat_ping_responses_in, pu, (unsigned long long)st.punch_rounds,
      (unsigned long long)st.punch_pings_out, (unsigned long long)st.punch_successes,
      tw_addr_is_set(&found.addr) ? tw_addr_format(&found.addr, a) : "-",
      mapped ? "; its NAT sends to its friend from " : "",
      mapped ? tw_addr_format(&mine, pub) : "");
}

static int run_scenario(const opts *o, bool punch, uint64_t *trace, int *sym_established,
                        int *cone_established) {
  double w0 = wall_now();
  world w;
  build(&w, o, punch);
  printf(
      "# %s: %d public nodes, %d client pairs, seed %llu, loss %.0f%%, dup %.0f%%, delay "
      "%u-%u ms\n",
      punch ? "hole punching on" : "hole punching OFF", o->nodes, o->pairs,
      (unsigned long long)o->seed, o->loss * 100, o->dup * 100, o->delay_min, o->delay_max);
  int n = run(&w);
  *sym_established = *cone_established = 0;
  for (int p = 0; p < o->pairs; p++) {
    client *a = &w.clients[2 * p], *b = a + 1;
    bool est = pair_established(&w, p);
    if (est) {
      if (kind_of(p) == PAIR_SYMMETRIC)
        ++*sym_established;
      else
        ++*cone_established;
    }
    tw_time_ms both = a->est_at > b->est_at ? a->est_at : b->est_at;
    printf("#  pair %d (%s): %s", p, kind_name(kind_of(p)),
           est ? "Established" : "not Established");
    if (est) printf(" at +%.2f s", sec(both - w.t0));
    if (kind_of(p) == PAIR_SYMMETRIC) {
      printf(" (client %d's symmetric NAT counts from port %u)", a->idx, a->first_port);
      /* The port the cone side had to find: the symmetric NAT's mapping
       * for the cone side's public address. */
      tw_addr bpub, amap;
      tw_node_info found = {0}, near[1];
      tw_dht_search_result(tw_node_dht(b->node), &a->dht.pk, near, 0, &found, tw_simnet_now(w.net));
      tw_dht_stats bs;
      tw_dht_get_stats(tw_node_dht(b->node), &bs, tw_simnet_now(w.net));
      if (est && tw_simnet_public_addr(w.net, b->ep, NULL, &bpub) &&
          tw_simnet_public_addr(w.net, a->ep, &bpub, &amap))
        printf(
            "; the port that worked: %u; client %d found its friend at port %u after %llu "
            "punch rounds (%llu guesses)",
            amap.port, b->idx, found.addr.port, (unsigned long long)bs.punch_rounds,
            (unsigned long long)bs.punch_pings_out);
    }
    printf("\n");
    report_client(&w, a);
    report_client(&w, b);
  }
  tw_simnet_stats ns = tw_simnet_get_stats(w.net);
  *trace = tw_simnet_trace_hash(w.net);
  printf(
      "# %d of %d pairs Established; network: %llu sent, %llu delivered, %llu lost, %llu "
      "stopped by NATs; trace %016llx; %.1f wall s for %.0f simulated\n",
      n, o->pairs, (unsigned long long)ns.sent, (unsigned long long)ns.delivered,
      (unsigned long long)ns.lost, (unsigned long long)ns.nat_filtered, (unsigned long long)*trace,
      wall_now() - w0, sec(tw_simnet_now(w.net)));
  destroy(&w);
  return n;
}

static int run_muted(const opts *o, uint64_t *trace) {
  fflush(stdout);
  int saved = dup(STDOUT_FILENO), null = open("/dev/null", O_WRONLY);
  if (saved >= 0 && null >= 0) dup2(null, STDOUT_FILENO);
  int s, c;
  int n = run_scenario(o, true, trace, &s, &c);
  fflush(stdout);
  if (saved >= 0) dup2(saved, STDOUT_FILENO);
  if (saved >= 0) close(saved);
  if (null >= 0) close(null);
  return n;
}

static void usage(FILE *f) {
  fputs(
      "usage: sim_holepunch [--nodes N] [--pairs P] [--seed S] [--loss P] [--dup P]\n"
      "                     [--max-seconds S] [--no-punch] [--determinism] [--quiet]\n"
      "  N public nodes (default 40) and P pairs of friends behind NATs (default 4),\n"
      "  alternately both behind restricted cone NATs and one behind a symmetric NAT.\n"
      "  Passes when every pair reaches Established within S simulated seconds\n"
      "  (default 150) with hole punching, and no symmetric pair does without it.\n"
      "  --no-punch: only the run without hole punching, no checks.\n"
      "  --determinism: the punching run twice with seed S and once with S+1.\n",
      f);
}

int main(int argc, char **argv) {
  opts o = {.nodes = 40,
            .pairs = 4,
            .seed = 1,
            .loss = 0.02,
            .dup = 0.01,
            .delay_min = 5,
            .delay_max = 80,
            .max_seconds = 150};
  static const struct option lo[] = {{"nodes", required_argument, 0, 'n'},
                                     {"pairs", required_argument, 0, 'p'},
                                     {"seed", required_argument, 0, 's'},
                                     {"loss", required_argument, 0, 'l'},
                                     {"dup", required_argument, 0, 'd'},
                                     {"max-seconds", required_argument, 0, 'm'},
                                     {"no-punch", no_argument, 0, 'N'},
                                     {"determinism", no_argument, 0, 'D'},
                                     {"quiet", no_argument, 0, 'q'},
                                     {"help", no_argument, 0, 'h'},
                                     {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (ch) {
    case 'n': o.nodes = atoi(optarg); break;
    case 'p': o.pairs = atoi(optarg); break;
    case 's': o.seed = strtoull(optarg, NULL, 10); break;
    case 'l': o.loss = atof(optarg); break;
    case 'd': o.dup = atof(optarg); break;
    case 'm': o.max_seconds = atof(optarg); break;
    case 'N': o.only_no_punch = true; break;
    case 'D': o.determinism = true; break;
    case 'q': o.quiet = true; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (o.nodes < 10 || o.pairs < 1 || o.pairs > 50) {
    usage(stderr);
    return 2;
  }
  if (tw_crypto_init() != TW_OK) return 1;
  uint64_t trace;
  int sym, cone;
  if (o.only_no_punch) {
    run_scenario(&o, false, &trace, &sym, &cone);
    return 0;
  }
  if (o.determinism) {
    double w0 = wall_now();
    opts o2 = o;
    o2.seed = o.seed + 1;
    uint64_t a, b, c;
    int na = run_muted(&o, &a), nb = run_muted(&o, &b), nc = run_muted(&o2, &c);
    int fails = 0;
    bool same = a == b && na == nb;
    printf("%s - seed %llu twice: trace %016llx and %016llx (%d and %d pairs Established)\n",
           same ? "ok" : "not ok", (unsigned long long)o.seed, (unsigned long long)a,
           (unsigned long long)b, na, nb);
    fails += !same;
    printf("%s - seed %llu: trace %016llx differs (%d pairs Established)\n",
           a != c ? "ok" : "not ok", (unsigned long long)o2.seed, (unsigned long long)c, nc);
    fails += a == c;
    printf("%s - every pair Established in all three runs\n",
           na == o.pairs && nb == o.pairs && nc == o.pairs ? "ok" : "not ok");
    fails += !(na == o.pairs && nb == o.pairs && nc == o.pairs);
    printf("# %.1f wall seconds\n1..3\n%s\n", wall_now() - w0, fails ? "FAIL" : "PASS");
    return fails ? 1 : 0;
  }
  int fails = 0, nsym = 0;
  for (int p = 0; p < o.pairs; p++) nsym += kind_of(p) == PAIR_SYMMETRIC;
  int n = run_scenario(&o, true, &trace, &sym, &cone);
  printf("%s - with hole punching %d of %d pairs reached Established (%d cone, %d symmetric)\n",
         n == o.pairs ? "ok" : "not ok", n, o.pairs, cone, sym);
  fails += n != o.pairs;
  run_scenario(&o, false, &trace, &sym, &cone);
  printf("%s - without hole punching %d of %d symmetric pairs reached Established\n",
         sym == 0 ? "ok" : "not ok", sym, nsym);
  fails += sym != 0;
  printf("# without hole punching %d of %d cone pairs reached Established\n", cone, o.pairs - nsym);
  printf("1..2\n%s\n", fails ? "FAIL" : "PASS");
  return fails ? 1 : 0;
}
