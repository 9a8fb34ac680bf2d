/* DHT simulation: N nodes join through one bootstrap node over a lossy,
 * reordering, duplicating virtual network. Passes when, within a bounded
 * simulated time, every node's close list holds its true 8 closest nodes
 * (brute force), and searches for random keys find the true 8 closest.
 * --determinism runs the same seed twice and compares the traces. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "simnet.h"
#include "toxwire/dht.h"
#include "core/crypto.h"

typedef struct opts {
  int nodes;
  uint64_t seed;
  double loss, dup;
  uint32_t delay_min, delay_max;
  int searches;
  double max_seconds;
  double join_seconds;
  double check_every;
  double hold_seconds;
  bool quiet;
} opts;

typedef struct simnode {
  tw_dht *dht;
  tw_simnet_sender sender;
  tw_key pk;
} simnode;

typedef struct result {
  bool converged, searches_ok;
  double converged_at, searches_at;
  double converged_wall; /* wall seconds from start to convergence */
  int missing; /* nodes lacking one of their 8 closest at the end */
  int missing_after_hold;
  int searches_missing;
  uint64_t trace;
  tw_simnet_stats net;
  double wall;
  double sim_seconds;
  uint64_t checkpoints[4096]; /* trace hash at each check, for divergence */
  int ncheck;
} result;

static int h_packet(void *ctx, const tw_addr *from, const uint8_t *pkt, size_t len, tw_time_ms now) {
  return tw_dht_handle_packet(((simnode *)ctx)->dht, from, pkt, len, now);
}
static void h_timer(void *ctx, tw_time_ms now) { tw_dht_on_timer(((simnode *)ctx)->dht, now); }
static tw_time_ms h_deadline(void *ctx) { return tw_dht_next_deadline(((simnode *)ctx)->dht); }

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The k keys closest to target among all nodes except `skip`. */
static int true_closest(const simnode *nodes, int n, const tw_key *target, int skip, int *out, int k) {
  int got = 0;
  for (int i = 0; i < n; i++) {
    if (i == skip) continue;
    int pos = got;
    while (pos > 0 && tw_key_distance_cmp(target, &nodes[i].pk, &nodes[out[pos - 1]].pk) < 0) pos--;
    if (pos >= k) continue;
    int last = got < k ? got : k - 1;
    memmove(&out[pos + 1], &out[pos], (size_t)(last - pos) * sizeof *out);
    out[pos] = i;
    if (got < k) got++;
  }
  return got;
}

static bool has_key(const tw_node_info *list, size_t n, const tw_key *k) {
  for (size_t i = 0; i < n; i++)
    if (tw_key_equal(&list[i].pk, k)) return true;
  return false;
}

/* Number of nodes whose close list lacks one of their true 8 closest. */
static int count_unconverged(simnode *nodes, int n, tw_time_ms now, int *example) {
  static tw_node_info close[2048];
  int bad = 0;
  for (int i = 0; i < n; i++) {
    int want[8];
    int k = true_closest(nodes, n, &nodes[i].pk, i, want, 8);
    size_t have = tw_dht_close_nodes(nodes[i].dht, close, 2048, now);
    for (int j = 0; j < k; j++)
      if (!has_key(close, have, &nodes[want[j]].pk)) {
        if (bad == 0 && example) *example = i;
        bad++;
        break;
      }
  }
  return bad;
}

typedef struct search_job {
  int node;
  tw_key key;
} search_job;

static int count_search_misses(simnode *nodes, int n, search_job *jobs, int njobs, tw_time_ms now) {
  int bad = 0;
  for (int s = 0; s < njobs; s++) {
    int want[8];
    int k = true_closest(nodes, n, &jobs[s].key, jobs[s].node, want, 8);
    tw_node_info got[8];
    size_t have = tw_dht_search_result(nodes[jobs[s].node].dht, &jobs[s].key, got, 8, NULL, now);
    for (int j = 0; j < k; j++)
      if (!has_key(got, have, &nodes[want[j]].pk)) {
        bad++;
        break;
      }
  }
  return bad;
}

static void run(const opts *o, result *r) {
  memset(r, 0, sizeof *r);
  double t0 = wall_now();
  tw_simnet_config ncfg = {o->seed, o->loss, o->dup, o->delay_min, o->delay_max};
  tw_simnet *net = tw_simnet_new(&ncfg);
  simnode *nodes = calloc((size_t)o->nodes, sizeof *nodes);
  tw_addr *addrs = calloc((size_t)o->nodes, sizeof *addrs);
  for (int i = 0; i < o->nodes; i++) tw_simnet_add_endpoint(net, &addrs[i]);
  for (int i = 0; i < o->nodes; i++) {
    tw_env env = {.random_bytes = tw_simnet_random, .random_ctx = tw_simnet_random_ctx(net, i)};
    tw_dht_config cfg = {.send = tw_simnet_send_cb, .key_cache_entries = 256};
    tw_keypair_generate(&cfg.keys, &env);
    nodes[i].sender = (tw_simnet_sender){net, i};
    cfg.send_ctx = &nodes[i].sender;
    nodes[i].dht = tw_dht_new(&cfg, &env, 0);
    nodes[i].pk = cfg.keys.pk;
    if (nodes[i].dht == NULL) {
      fprintf(stderr, "sim: cannot create node %d\n", i);
      exit(2);
    }
    tw_io_handler h = {&nodes[i], h_packet, h_timer, h_deadline};
    tw_simnet_set_handler(net, i, &h);
  }

  /* Nodes join one after another, all through node 0. */
  tw_node_info boot = {.pk = nodes[0].pk, .addr = addrs[0]};
  tw_time_ms join_ms = (tw_time_ms)(o->join_seconds * 1000);
  for (int i = 1; i < o->nodes; i++) {
    tw_time_ms at = join_ms * (tw_time_ms)i / (tw_time_ms)o->nodes;
    tw_simnet_run_until(net, at);
    tw_dht_bootstrap(nodes[i].dht, &boot, tw_simnet_now(net));
    tw_simnet_rearm(net, i);
  }

  tw_time_ms step = (tw_time_ms)(o->check_every * 1000);
  tw_time_ms end = (tw_time_ms)(o->max_seconds * 1000);
  search_job *jobs = calloc((size_t)(o->searches ? o->searches : 1), sizeof *jobs);
  bool searches_started = false;
  tw_time_ms now = tw_simnet_now(net);
  int example = -1;
  for (tw_time_ms t = join_ms + step; t <= end; t += step) {
    tw_simnet_run_until(net, t);
    now = t;
    if (r->ncheck < 4096) r->checkpoints[r->ncheck++] = tw_simnet_trace_hash(net);
    if (!r->converged) {
      r->missing = count_unconverged(nodes, o->nodes, now, &example);
      if (!o->quiet)
        fprintf(stderr, "  t=%6.0fs  nodes missing one of their 8 closest: %d\n", now / 1000.0,
                r->missing);
      if (r->missing == 0) {
        r->converged = true;
        r->converged_at = now / 1000.0;
        r->converged_wall = wall_now() - t0;
      }
    }
    if (r->converged && !searches_started && o->searches > 0) {
      /* Searches for random keys from random nodes. The keys come from a
       * generator of their own so the node streams stay as they were. */
      uint64_t st = o->seed ^ 0x5eedull;
      for (int s = 0; s < o->searches; s++) {
        jobs[s].node = (int)(st % (uint64_t)o->nodes);
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        for (int b = 0; b < TW_PUBLIC_KEY_SIZE; b++) {
          st = st * 6364136223846793005ull + 1442695040888963407ull;
          jobs[s].key.bytes[b] = (uint8_t)(st >> 56);
        }
        tw_dht_search_add(nodes[jobs[s].node].dht, &jobs[s].key, now);
        tw_simnet_rearm(net, jobs[s].node);
      }
      searches_started = true;
      r->searches_missing = o->searches;
      continue;
    }
    if (searches_started && !r->searches_ok) {
      r->searches_missing = count_search_misses(nodes, o->nodes, jobs, o->searches, now);
      if (!o->quiet)
        fprintf(stderr, "  t=%6.0fs  searches without their 8 closest: %d of %d\n", now / 1000.0,
                r->searches_missing, o->searches);
      if (r->searches_missing == 0) {
        r->searches_ok = true;
        r->searches_at = now / 1000.0;
      }
    }
    if (r->converged && (o->searches == 0 || r->searches_ok)) break;
  }
  /* Converged lists must stay right: run on through several check rounds
   * (and the losses they suffer) and look again. */
  if (r->converged) {
    now += (tw_time_ms)(o->hold_seconds * 1000);
    tw_simnet_run_until(net, now);
    r->missing_after_hold = count_unconverged(nodes, o->nodes, now, &example);
    if (r->missing_after_hold != 0) r->converged = false;
  }
  if (!r->converged && example >= 0) {
    char hex[TW_KEY_HEXLEN];
    fprintf(stderr, "sim: example node %d (%s) lacks one of its 8 closest\n", example,
            tw_key_to_hex(&nodes[example].pk, hex));
    static tw_node_info close[2048];
    int want[8];
    int k = true_closest(nodes, o->nodes, &nodes[example].pk, example, want, 8);
    size_t have = tw_dht_close_nodes(nodes[example].dht, close, 2048, now);
    for (int j = 0; j < k; j++) {
      size_t theirs = tw_dht_close_nodes(nodes[want[j]].dht, close + 1024, 1024, now);
      fprintf(stderr, "  closest #%d: node %d, bucket %d, %s; it %s us\n", j, want[j],
              tw_key_common_prefix(&nodes[example].pk, &nodes[want[j]].pk),
              has_key(close, have, &nodes[want[j]].pk) ? "known" : "MISSING",
              has_key(close + 1024, theirs, &nodes[example].pk) ? "knows" : "does not know");
    }
    fprintf(stderr, "  close list holds %zu nodes\n", have);
  }
  if (searches_started && !r->searches_ok) {
    for (int sj = 0; sj < o->searches; sj++) {
      int want[8];
      int k = true_closest(nodes, o->nodes, &jobs[sj].key, jobs[sj].node, want, 8);
      tw_node_info got[8];
      size_t have = tw_dht_search_result(nodes[jobs[sj].node].dht, &jobs[sj].key, got, 8, NULL, now);
      bool miss = false;
      for (int j = 0; j < k; j++) miss |= !has_key(got, have, &nodes[want[j]].pk);
      if (!miss) continue;
      fprintf(stderr, "sim: search %d from node %d holds %zu nodes:\n", sj, jobs[sj].node, have);
      for (int j = 0; j < k; j++)
        fprintf(stderr, "  closest #%d: node %d (depth %d) %s\n", j, want[j],
                tw_key_common_prefix(&jobs[sj].key, &nodes[want[j]].pk),
                has_key(got, have, &nodes[want[j]].pk) ? "found" : "MISSING");
      for (size_t j = 0; j < have; j++)
        fprintf(stderr, "  held: depth %d\n", tw_key_common_prefix(&jobs[sj].key, &got[j].pk));
      break;
    }
  }
  r->sim_seconds = now / 1000.0;
  r->trace = tw_simnet_trace_hash(net);
  r->net = tw_simnet_get_stats(net);
  r->wall = wall_now() - t0;
  for (int i = 0; i < o->nodes; i++) tw_dht_free(nodes[i].dht);
  free(nodes);
  free(addrs);
  free(jobs);
  tw_simnet_free(net);
}

static void print_result(const opts *o, const result *r) {
  printf("sim-dht: seed=%llu nodes=%d loss=%.0f%% dup=%.0f%% delay=%u-%ums\n",
         (unsigned long long)o->seed, o->nodes, o->loss * 100, o->dup * 100, o->delay_min,
         o->delay_max);
  if (r->converged)
    printf("  close lists: every node holds its true 8 closest at t=%.0f s (simulated,\n"
           "               %.1f s of wall time), and still does at t=%.0f s\n",
           r->converged_at, r->converged_wall, r->sim_seconds);
  else if (r->missing_after_hold > 0)
    printf("  close lists: right at t=%.0f s, but %d nodes had lost one of their 8 closest by "
           "t=%.0f s\n", r->converged_at, r->missing_after_hold, r->sim_seconds);
  else
    printf("  close lists: %d nodes still lack one of their 8 closest at t=%.0f s\n", r->missing,
           r->sim_seconds);
  if (o->searches > 0) {
    if (r->searches_ok)
      printf("  searches: %d random keys, each found its true 8 closest by t=%.0f s\n",
             o->searches, r->searches_at);
    else
      printf("  searches: %d of %d did not find their true 8 closest\n", r->searches_missing,
             o->searches);
  }
  printf("  packets: %llu sent, %llu delivered, %llu lost, %llu duplicated; %llu timer runs\n",
         (unsigned long long)r->net.sent, (unsigned long long)r->net.delivered,
         (unsigned long long)r->net.lost, (unsigned long long)r->net.duplicated,
         (unsigned long long)r->net.timer_runs);
  printf("  wall %.2f s, %.1f simulated s per wall s, trace %016llx\n", r->wall,
         r->sim_seconds / (r->wall > 0 ? r->wall : 1e-9), (unsigned long long)r->trace);
}

int main(int argc, char **argv) {
  opts o = {.nodes = 1000, .seed = 1, .loss = 0.05, .dup = 0.01, .delay_min = 5, .delay_max = 80,
            .searches = 20, .max_seconds = 900, .join_seconds = 20, .check_every = 10, .hold_seconds = 300};
  bool determinism = false;
  static const struct option lo[] = {
      {"nodes", required_argument, 0, 'n'}, {"seed", required_argument, 0, 's'},
      {"loss", required_argument, 0, 'l'},  {"dup", required_argument, 0, 'd'},
      {"searches", required_argument, 0, 'q'}, {"max-seconds", required_argument, 0, 'm'},
      {"check-every", required_argument, 0, 'c'}, {"quiet", no_argument, 0, 'Q'},
      {"determinism", no_argument, 0, 'D'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case 'n': o.nodes = atoi(optarg); break;
    case 's': o.seed = strtoull(optarg, NULL, 0); break;
    case 'l': o.loss = atof(optarg); break;
    case 'd': o.dup = atof(optarg); break;
    case 'q': o.searches = atoi(optarg); break;
    case 'm': o.max_seconds = atof(optarg); break;
    case 'c': o.check_every = atof(optarg); break;
    case 'Q': o.quiet = true; break;
    case 'D': determinism = true; break;
    default:
      printf("usage: sim_dht [--nodes N] [--seed S] [--loss P] [--dup P] [--searches K]\n"
             "               [--max-seconds T] [--check-every T] [--quiet] [--determinism]\n");
      return c == 'h' ? 0 : 2;
    }
  }
  if (o.nodes < 10) {
    fprintf(stderr, "sim_dht: --nodes must be at least 10\n");
    return 2;
  }
  tw_crypto_init();
  static result a, b, other;
  if (determinism) {
    run(&o, &a);
    run(&o, &b);
    opts o2 = o;
    o2.seed = o.seed + 1;
    run(&o2, &other);
    printf("sim-dht determinism: seed %llu twice: trace %016llx and %016llx; seed %llu: %016llx\n",
           (unsigned long long)o.seed, (unsigned long long)a.trace, (unsigned long long)b.trace,
           (unsigned long long)o2.seed, (unsigned long long)other.trace);
    if (a.trace != b.trace) {
      for (int i = 0; i < a.ncheck && i < b.ncheck; i++)
        if (a.checkpoints[i] != b.checkpoints[i]) {
          printf("  FAIL: runs diverge before check %d (t <= %.0f s)\n", i,
                 o.join_seconds + (i + 1) * o.check_every);
          break;
        }
      return 1;
    }
    if (a.trace == other.trace) {
      printf("  FAIL: a different seed gave the same trace: the seed is not used\n");
      return 1;
    }
    printf("  ok: same seed, same trace; another seed, another trace\n");
    return 0;
  }
  run(&o, &a);
  print_result(&o, &a);
  bool ok = a.converged && (o.searches == 0 || a.searches_ok);
  printf("%s\n", ok ? "  ok" : "  FAIL");
  return ok ? 0 : 1;
}
