/* Onion simulation: N toxwire nodes (DHT, onion relay and announce node)
 * over a lossy, reordering, duplicating virtual network; 2*P of them also
 * run the onion client, paired up as friends. Passes when:
 *   1. within --max-seconds of simulated time every client has received
 *      its friend's DHT key through the onion (a data to route packet
 *      through the friend's announce nodes), and the key is right;
 *   2. onion data other than the DHT key (kind 32, as friend requests are
 *      sent) reaches every friend intact;
 *   3. after a relay on one client's path is taken down, that path is
 *      detected as dead and replaced (no live path uses the dead node) and
 *      the client is still announced and still hears from its friend;
 *   4. (--determinism) the same seed gives the same trace hash twice, and
 *      another seed a different one. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crypto.h"
#include "simnet.h"
#include "toxwire/node.h"

typedef struct opts {
  int nodes, pairs;
  uint64_t seed;
  double loss, dup;
  uint32_t delay_min, delay_max;
  double max_seconds;
  bool quiet, determinism;
} opts;

typedef struct simnode {
  tw_node *node;
  tw_simnet_sender sender;
  tw_key dht_pk;
  int client; /* index into clients, or -1 */
} simnode;

typedef struct client {
  int node;
  int friend_client;
  tw_keypair self;
  tw_time_ms learned_onion, learned_dht; /* 0: not yet (times are >= 1) */
  uint64_t dhtpk_onion_events;
  bool wrong_key;
  tw_time_ms announced_at;
  int data_ok, data_bad; /* onion data (kind 32) from the friend */
} client;

typedef struct world {
  const opts *o;
  tw_simnet *net;
  simnode *nodes;
  client *clients;
  int nclients;
} world;

typedef struct event_ctx {
  world *w;
  int client;
} event_ctx;

static void on_event(void *ctx, const tw_onion_event *ev) {
  event_ctx *ec = ctx;
  world *w = ec->w;
  client *c = &w->clients[ec->client];
  tw_time_ms t = ev->time + 1;
  if (ev->kind == TW_ONION_EV_ANNOUNCED && ev->stored_on > 0 && c->announced_at == 0)
    c->announced_at = t;
  client *f = &w->clients[c->friend_client];
  if (ev->kind == TW_ONION_EV_DATA) {
    static const uint8_t want[] = {32, 'h', 'e', 'l', 'l', 'o'};
    bool ok = tw_key_equal(&ev->peer, &f->self.pk) && ev->data_len == sizeof want &&
              memcmp(ev->data, want, sizeof want) == 0;
    if (ok) c->data_ok++;
    else c->data_bad++;
    return;
  }
  if (ev->kind != TW_ONION_EV_FRIEND_DHT_KEY) return;
  if (!tw_key_equal(&ev->peer, &f->self.pk) ||
      !tw_key_equal(&ev->dht_pk, &w->nodes[f->node].dht_pk)) {
    c->wrong_key = true;
    return;
  }
  if (ev->route == TW_ONION_ROUTE_ONION) {
    c->dhtpk_onion_events++;
    if (c->learned_onion == 0) c->learned_onion = t;
  } else if (c->learned_dht == 0) {
    c->learned_dht = t;
  }
}

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int all_learned(const world *w) {
  int n = 0;
  for (int i = 0; i < w->nclients; i++) n += w->clients[i].learned_onion != 0;
  return n;
}

static void build(world *w, const opts *o, event_ctx *ectx) {
  tw_simnet_config ncfg = {o->seed, o->loss, o->dup, o->delay_min, o->delay_max};
  w->o = o;
  w->net = tw_simnet_new(&ncfg);
  w->nodes = calloc((size_t)o->nodes, sizeof *w->nodes);
  w->nclients = 2 * o->pairs;
  w->clients = calloc((size_t)w->nclients, sizeof *w->clients);
  tw_addr *addrs = calloc((size_t)o->nodes, sizeof *addrs);
  for (int i = 0; i < o->nodes; i++) tw_simnet_add_endpoint(w->net, &addrs[i]);
  /* Clients are spread over the node indices, away from node 0 (the
   * bootstrap node everybody joins through). */
  for (int c = 0; c < w->nclients; c++) {
    w->clients[c].node = 1 + (int)((long)c * (o->nodes - 1) / w->nclients);
    w->clients[c].friend_client = c ^ 1;
  }
  for (int i = 0; i < o->nodes; i++) w->nodes[i].client = -1;
  for (int c = 0; c < w->nclients; c++) w->nodes[w->clients[c].node].client = c;

  for (int i = 0; i < o->nodes; i++) {
    simnode *sn = &w->nodes[i];
    tw_env env = {.random_bytes = tw_simnet_random, .random_ctx = tw_simnet_random_ctx(w->net, i)};
    sn->sender = (tw_simnet_sender){w->net, i};
    tw_node_config cfg = {.onion_relay = true, .announce_store = true};
    cfg.dht.send = tw_simnet_send_cb;
    cfg.dht.send_ctx = &sn->sender;
    cfg.dht.key_cache_entries = 64;
    tw_keypair_generate(&cfg.dht.keys, &env);
    sn->dht_pk = cfg.dht.keys.pk;
    if (sn->client >= 0) {
      client *c = &w->clients[sn->client];
      tw_keypair_generate(&c->self, &env);
      cfg.onion_client = true;
      cfg.self_keys = c->self;
      ectx[sn->client] = (event_ctx){w, sn->client};
      cfg.on_onion_event = on_event;
      cfg.event_ctx = &ectx[sn->client];
    }
    sn->node = tw_node_new(&cfg, &env, 0);
    if (sn->node == NULL) {
      fprintf(stderr, "sim_onion: cannot create node %d\n", i);
      exit(1);
    }
    tw_io_handler h = tw_node_io_handler(sn->node);
    tw_simnet_set_handler(w->net, i, &h);
  }
  for (int c = 0; c < w->nclients; c++) {
    client *cl = &w->clients[c];
    tw_onion_friend_add(tw_node_onion(w->nodes[cl->node].node),
                        &w->clients[cl->friend_client].self.pk, 0);
  }
  /* Everybody joins through node 0, 20 nodes per simulated second. */
  tw_node_info boot = {.pk = w->nodes[0].dht_pk, .addr = addrs[0]};
  for (int i = 1; i < o->nodes; i++) {
    tw_time_ms at = (tw_time_ms)i * 50;
    tw_simnet_run_until(w->net, at);
    tw_dht_bootstrap(tw_node_dht(w->nodes[i].node), &boot, at);
    tw_simnet_rearm(w->net, i);
  }
  free(addrs);
}

static void destroy(world *w) {
  for (int i = 0; i < w->o->nodes; i++) tw_node_free(w->nodes[i].node);
  tw_simnet_free(w->net);
  free(w->nodes);
  free(w->clients);
}

/* Phase 1: every client learns its friend's DHT key through the onion.
 * Returns the simulated second it happened, or -1. */
static double run_discovery(world *w) {
  const opts *o = w->o;
  tw_time_ms limit = (tw_time_ms)(o->max_seconds * 1000);
  for (tw_time_ms t = 1000; t <= limit; t += 1000) {
    tw_simnet_run_until(w->net, t);
    int n = all_learned(w);
    if (!o->quiet && t % 10000 == 0)
      printf("# t=%3llus: %d/%d clients learned their friend's DHT key by onion\n",
             (unsigned long long)(t / 1000), n, w->nclients);
    if (n == w->nclients) return (double)t / 1000;
  }
  return -1;
}

static bool path_uses(const tw_onion_path_info *p, const tw_key *pk) {
  for (int h = 0; h < 3; h++)
    if (tw_key_equal(&p->hops[h].pk, pk)) return true;
  return false;
}

static int node_of_key(const world *w, const tw_key *pk) {
  for (int i = 0; i < w->o->nodes; i++)
    if (tw_key_equal(&w->nodes[i].dht_pk, pk)) return i;
  return -1;
}

/* Phase 2: take down a plain node on client 0's announce path. */
static bool run_path_failure(world *w, int *failures) {
  client *c = &w->clients[0];
  tw_onion *on = tw_node_onion(w->nodes[c->node].node);
  tw_time_ms now = tw_simnet_now(w->net);
  tw_onion_path_info paths[16];
  size_t np = tw_onion_get_paths(on, paths, 16, now);
  int victim = -1, victim_set = 0;
  uint32_t victim_path = 0;
  /* A path of the announcing set: it carries traffic every 15 s, so its
   * failure shows (a search path may sit idle for minutes). */
  for (size_t i = 0; i < np && victim < 0; i++)
    for (int h = 0; h < 3 && victim < 0 && paths[i].set == 0; h++) {
      int n = node_of_key(w, &paths[i].hops[h].pk);
      if (n > 0 && w->nodes[n].client < 0) {
        victim = n;
        victim_path = paths[i].id;
        victim_set = paths[i].set;
      }
    }
  if (victim < 0) {
    printf("not ok - found a plain relay on client 0's paths (%zu paths)\n", np);
    (*failures)++;
    return false;
  }
  tw_onion_stats before;
  tw_onion_get_stats(on, &before, now);
  uint64_t heard_before = c->dhtpk_onion_events;
  tw_simnet_set_down(w->net, victim, true);
  printf("# t=%llus: node %d (on client 0's path %u, set %d) goes down\n",
         (unsigned long long)(now / 1000), victim, victim_path, victim_set);

  tw_time_ms until = now + 120000;
  tw_time_ms replaced_at = 0;
  for (tw_time_ms t = now + 1000; t <= until; t += 1000) {
    tw_simnet_run_until(w->net, t);
    np = tw_onion_get_paths(on, paths, 16, t);
    bool uses = false, old = false;
    for (size_t i = 0; i < np; i++) {
      /* A new path may pick the dead node again while the DHT still lists
       * it as good (up to 122 s); such a path never gets confirmed. */
      uses |= paths[i].confirmed && path_uses(&paths[i], &w->nodes[victim].dht_pk);
      old |= paths[i].id == victim_path;
    }
    if (!uses && !old) {
      replaced_at = t;
      break;
    }
    if (getenv("SIM_DEBUG") && t % 10000 == 0)
      for (size_t i = 0; i < np; i++)
        printf("#   t=%llu path %u set %d confirmed %d age %llu uses %d\n", (unsigned long long)t / 1000,
               paths[i].id, paths[i].set, paths[i].confirmed, (unsigned long long)paths[i].age_ms / 1000,
               path_uses(&paths[i], &w->nodes[victim].dht_pk));
  }
  tw_onion_stats after;
  tw_onion_get_stats(on, &after, tw_simnet_now(w->net));
  bool ok = true;
  if (replaced_at) {
    printf("ok - the dead relay's path is gone %.0f s after the relay died; no confirmed path uses it\n",
           (double)(replaced_at - now) / 1000);
  } else {
    printf("not ok - a path through the dead relay is still in use after 120 s\n");
    ok = false;
  }
  if (after.paths_timed_out > before.paths_timed_out) {
    printf("ok - paths_timed_out grew (%llu -> %llu)\n", (unsigned long long)before.paths_timed_out,
           (unsigned long long)after.paths_timed_out);
  } else {
    printf("not ok - paths_timed_out did not grow\n");
    ok = false;
  }
  /* Keep going: announcements and the friend's DHT key packets (every 30 s)
   * must still reach the client over the new paths. */
  tw_simnet_run_until(w->net, tw_simnet_now(w->net) + 90000);
  tw_onion_get_stats(on, &after, tw_simnet_now(w->net));
  if (after.announced_on > 0 && after.paths_alive >= 2) {
    printf("ok - client 0 still announced on %u nodes with %u live paths\n", after.announced_on,
           after.paths_alive);
  } else {
    printf("not ok - client 0 announced on %u nodes, %u live paths\n", after.announced_on,
           after.paths_alive);
    ok = false;
  }
  if (c->dhtpk_onion_events > heard_before) {
    printf("ok - client 0 still receives its friend's DHT key by onion (%llu more)\n",
           (unsigned long long)(c->dhtpk_onion_events - heard_before));
  } else {
    printf("not ok - client 0 heard nothing from its friend after the relay died\n");
    ok = false;
  }
  if (!ok) (*failures)++;
  return ok;
}

static uint64_t run_for_trace(const opts *o, tw_time_ms until) {
  world w;
  event_ctx *ectx = calloc((size_t)(2 * o->pairs), sizeof *ectx);
  build(&w, o, ectx);
  tw_simnet_run_until(w.net, until);
  uint64_t h = tw_simnet_trace_hash(w.net);
  destroy(&w);
  free(ectx);
  return h;
}

static void usage(FILE *f) {
  fputs("usage: sim_onion [--nodes N] [--pairs P] [--seed S] [--loss P] [--dup P]\n"
        "                 [--max-seconds S] [--quiet] [--determinism]\n"
        "  N toxwire nodes (default 300) relay and store announcements; 2*P of them\n"
        "  (default 20 pairs) run the onion client with each other as friends.\n"
        "  Passes when every client learns its friend's DHT key through the onion\n"
        "  within S simulated seconds (default 240) and a path through a node that\n"
        "  dies is replaced. --determinism instead compares two runs' trace hashes.\n",
        f);
}

int main(int argc, char **argv) {
  opts o = {.nodes = 300, .pairs = 20, .seed = 1, .loss = 0.05, .dup = 0.01, .delay_min = 5,
            .delay_max = 80, .max_seconds = 240};
  static const struct option lo[] = {
      {"nodes", required_argument, 0, 'n'}, {"pairs", required_argument, 0, 'p'},
      {"seed", required_argument, 0, 's'},  {"loss", required_argument, 0, 'l'},
      {"dup", required_argument, 0, 'd'},   {"max-seconds", required_argument, 0, 'm'},
      {"quiet", no_argument, 0, 'q'},       {"determinism", no_argument, 0, 'D'},
      {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (ch) {
    case 'n': o.nodes = atoi(optarg); break;
    case 'p': o.pairs = atoi(optarg); break;
    case 's': o.seed = strtoull(optarg, NULL, 10); break;
    case 'l': o.loss = atof(optarg); break;
    case 'd': o.dup = atof(optarg); break;
    case 'm': o.max_seconds = atof(optarg); break;
    case 'q': o.quiet = true; break;
    case 'D': o.determinism = true; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (o.nodes < 10 || o.pairs < 1 || 2 * o.pairs >= o.nodes) {
    usage(stderr);
    return 2;
  }
  if (tw_crypto_init() != TW_OK) return 1;

  if (o.determinism) {
    tw_time_ms until = 90000;
    uint64_t a = run_for_trace(&o, until), b = run_for_trace(&o, until);
    opts o2 = o;
    o2.seed = o.seed + 1;
    uint64_t c = run_for_trace(&o2, until);
    int fails = 0;
    printf("%s - seed %llu twice: trace %016llx and %016llx\n", a == b ? "ok" : "not ok",
           (unsigned long long)o.seed, (unsigned long long)a, (unsigned long long)b);
    fails += a != b;
    printf("%s - seed %llu: trace %016llx differs\n", a != c ? "ok" : "not ok",
           (unsigned long long)o2.seed, (unsigned long long)c);
    fails += a == c;
    printf("1..2\n");
    return fails ? 1 : 0;
  }

  double w0 = wall_now();
  world w;
  event_ctx *ectx = calloc((size_t)(2 * o.pairs), sizeof *ectx);
  build(&w, &o, ectx);
  printf("# %d nodes, %d client pairs, seed %llu, loss %.0f%%, dup %.0f%%, delay %u-%u ms\n",
         o.nodes, o.pairs, (unsigned long long)o.seed, o.loss * 100, o.dup * 100, o.delay_min,
         o.delay_max);
  int failures = 0, checks = 0;
  double at = run_discovery(&w);
  checks++;
  if (at >= 0) {
    printf("ok - all %d clients learned their friend's DHT key through the onion by t=%.0f s\n",
           w.nclients, at);
  } else {
    printf("not ok - only %d of %d clients learned their friend's DHT key through the onion in %.0f s\n",
           all_learned(&w), w.nclients, o.max_seconds);
    failures++;
  }
  int wrong = 0, by_dht = 0, announced = 0;
  double worst = 0;
  for (int i = 0; i < w.nclients; i++) {
    wrong += w.clients[i].wrong_key;
    by_dht += w.clients[i].learned_dht != 0;
    announced += w.clients[i].announced_at != 0;
    double t = (double)w.clients[i].learned_onion / 1000;
    if (t > worst) worst = t;
  }
  checks++;
  printf("%s - no client was told a wrong key (%d wrong)\n", wrong ? "not ok" : "ok", wrong);
  failures += wrong != 0;
  checks++;
  printf("%s - every client announced itself (%d of %d)\n", announced == w.nclients ? "ok" : "not ok",
         announced, w.nclients);
  failures += announced != w.nclients;
  printf("# slowest client learned its friend's key at t=%.1f s; %d of %d also got it by the DHT route\n",
         worst, by_dht, w.nclients);
  /* Other onion data (a friend request travels this way): every client
   * sends [32]"hello" to its friend through the friend's announce nodes,
   * again each second until it arrives (5 tries), as friend requests are
   * repeated: one copy crosses about eight lossy hops. */
  static const uint8_t hello[] = {32, 'h', 'e', 'l', 'l', 'o'};
  int sent = 0;
  for (int round = 0; round < 5; round++) {
    for (int i = 0; i < w.nclients; i++) {
      client *cl = &w.clients[i];
      if (w.clients[cl->friend_client].data_ok > 0) continue;
      int rc = tw_onion_send_data(tw_node_onion(w.nodes[cl->node].node),
                                  &w.clients[cl->friend_client].self.pk, hello, sizeof hello,
                                  tw_simnet_now(w.net));
      if (round == 0) sent += rc > 0;
      tw_simnet_rearm(w.net, cl->node);
    }
    tw_simnet_run_until(w.net, tw_simnet_now(w.net) + 1000);
  }
  int got = 0, bad = 0;
  for (int i = 0; i < w.nclients; i++) {
    got += w.clients[i].data_ok > 0;
    bad += w.clients[i].data_bad;
  }
  checks++;
  printf("%s - onion data: %d of %d clients sent, %d received their friend's, %d wrong\n",
         got == w.nclients && bad == 0 ? "ok" : "not ok", sent, w.nclients, got, bad);
  failures += got != w.nclients || bad != 0;
  checks += 4;
  run_path_failure(&w, &failures);
  tw_simnet_stats ns = tw_simnet_get_stats(w.net);
  printf("# network: %llu sent, %llu delivered, %llu lost, %llu duplicated; trace %016llx\n",
         (unsigned long long)ns.sent, (unsigned long long)ns.delivered, (unsigned long long)ns.lost,
         (unsigned long long)ns.duplicated, (unsigned long long)tw_simnet_trace_hash(w.net));
  printf("# %.1f wall seconds for %.0f simulated\n", wall_now() - w0,
         (double)tw_simnet_now(w.net) / 1000);
  destroy(&w);
  free(ectx);
  printf("1..%d\n", checks);
  return failures ? 1 : 0;
}
