/* Friend connection simulation: N toxwire nodes (DHT, onion relay and
 * announce node) over a lossy, reordering, duplicating virtual network,
 * plus P pairs of clients (onion client and friend connections, each with
 * its own long-term key) that add each other as friends. Passes when:
 *   1. every client reaches Established with its friend within
 *      --max-seconds of both being present, and every state event it sees
 *      is a possible transition (forward, possibly skipping states, or back
 *      to a loss state: AcquiringIPAddress, or AwaitingDHTKey from
 *      AcquiringIPAddress or Established), continuing from the last state;
 *   2. lossless data (id 160, a few KB) crosses intact and in order both
 *      ways on every pair;
 *   3. link cut: one client of pair 0 goes down for longer than
 *      TW_FCONN_ALIVE_TIMEOUT_MS; its friend leaves Established; after it
 *      comes back both reach Established again within --reconnect-seconds
 *      and data crosses again. Restart: one client of pair 1 is replaced by
 *      a new node (same long-term key, new DHT key, same endpoint); its
 *      friend drops the stale session and both reach Established again;
 *      pairs nobody disturbed never leave Established;
 *   4. reaching Established from each state: the pairs' second friend
 *      appears late (its fconn_add, or its whole node, at an offset of 0,
 *      5, 15 or 30 s), and each client's states before Established are
 *      reported; then one client of each other pair goes down for 20, 60,
 *      150 or 250 s, so its friend is still Established (a short cut must
 *      not break the session), in AcquiringIPAddress / AcquiringCookie, or
 *      in AwaitingDHTKey (the key went stale) when it comes back; the pairs
 *      that came back from AwaitingDHTKey are cut once more; and pair 0 is
 *      unfriended (tw_fconn_remove) for 200 s: the other side must end in
 *      AwaitingDHTKey, and both re-establish once it is re-added;
 *   5. (--determinism) the whole scenario gives the same trace hash twice
 *      with one seed, and a different one with another seed.
 * A client's timer that keeps firing at one simulated instant (a deadline
 * in the past that nothing clears) fails the run at once, with the layers'
 * deadlines, instead of spinning for ever.
 * SIM_DEBUG=1 in the environment prints every state event as it happens,
 * onion DHT key events, and a status line per client every 10 s. */
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

#define DATA_ID 160
#define DATA_PACKETS 5
#define DATA_LEN 1000 /* [id][round][seq][payload]: 5 KB per round each way */
/* data rounds: 0 first contact (and after the re-add), 1 after the link
 * cut, 2 after the restart, 3 after the returns */
#define ROUNDS 4
#define MAX_TRANS 512
#define NSTATES 6

static const tw_time_ms offsets_ms[] = {0, 5000, 15000, 30000};
#define NOFFSETS (sizeof offsets_ms / sizeof offsets_ms[0])

typedef struct opts {
  int nodes, pairs;
  uint64_t seed;
  double loss, dup;
  uint32_t delay_min, delay_max;
  double max_seconds, reconnect_seconds;
  bool quiet, determinism, debug;
} opts;

typedef struct trans {
  tw_time_ms t;
  uint8_t from, to;
} trans;

typedef enum late_mode { LATE_ADD = 0, LATE_NODE = 1 } late_mode;

typedef struct world world;

typedef struct client {
  world *w;
  int idx, ep, friend_client, pair;
  bool first; /* the pair's first friend (present from T0) */
  tw_addr addr;
  tw_keypair self; /* long-term, kept over a restart */
  tw_keypair dht;  /* the current node's DHT keys */
  tw_node *node;
  tw_simnet_sender sender;
  uint32_t fid;
  bool added;
  int restarts;
  tw_time_ms create_at, add_at;
  tw_fconn_state state;
  trans tr[MAX_TRANS];
  int ntr, ntr_lost; /* transitions recorded / beyond the table */
  int invalid;       /* impossible transitions seen */
  char invalid_desc[256];
  tw_time_ms first_est; /* 0: never (times are >= 1) */
  tw_time_ms est_at, left_at;
  int est_count, leave_count;
  tw_fconn_state left_to;
  /* onion: the friend's DHT key arrived (time of the first with its current key) */
  tw_time_ms onion_key_at;
  tw_key onion_key;
  /* data received from the friend */
  int rx_next[ROUNDS];
  int rx_bad;
  uint64_t rx_bytes[ROUNDS];
  tw_time_ms rx_done_at[ROUNDS];
  int foreign_events; /* events for a peer that is not our friend */
  /* timer calls at one simulated instant: a deadline in the past that
   * nothing clears makes the simulation spin without time moving */
  tw_time_ms timer_at;
  uint64_t timer_same;
} client;

struct world {
  const opts *o;
  tw_simnet *net;
  int nnodes, nclients;
  tw_node **nodes;
  tw_simnet_sender *senders;
  tw_key *node_dht;
  tw_addr *node_addr;
  client *clients;
  tw_time_ms t0;
};

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *sname(int s) {
  static const char *const shortn[NSTATES] = {"DHTKey",    "IP",         "Cookie",
                                              "Handshake", "SessionPkt", "ESTABLISHED"};
  return s >= 0 && s < NSTATES ? shortn[s] : "?";
}

static double sec(tw_time_ms t) { return (double)t / 1000.0; }

/* ---- the pair plan ---- */

static tw_time_ms pair_offset(int pair) { return offsets_ms[pair % NOFFSETS]; }
/* add-late and node-late alternate, and swap every NOFFSETS pairs, so eight
 * pairs cover every offset in both modes. */
static late_mode pair_mode(int pair) {
  return (late_mode)(((pair % 2) ^ ((pair / (int)NOFFSETS) % 2)) & 1);
}
static const char *mode_name(late_mode m) { return m == LATE_ADD ? "add-late" : "node-late"; }

/* ---- payloads ---- */

static uint8_t payload_byte(int from, int round, int seq, int i) {
  uint64_t z = (uint64_t)from * 0x9e3779b97f4a7c15ULL + (uint64_t)round * 0xbf58476d1ce4e5b9ULL +
               (uint64_t)seq * 0x94d049bb133111ebULL + (uint64_t)(i / 8);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (uint8_t)((z ^ (z >> 31)) >> (8 * (i % 8)));
}

static void on_lossless(client *c, const uint8_t *d, size_t len, tw_time_ms t) {
  if (len < 3 || d[0] != DATA_ID) {
    c->rx_bad++;
    return;
  }
  int round = d[1], seq = d[2];
  if (round >= ROUNDS || seq != c->rx_next[round] || len != DATA_LEN) {
    c->rx_bad++;
    return;
  }
  for (size_t i = 3; i < len; i++)
    if (d[i] != payload_byte(c->friend_client, round, seq, (int)i)) {
      c->rx_bad++;
      return;
    }
  c->rx_next[round]++;
  c->rx_bytes[round] += len;
  if (c->rx_next[round] == DATA_PACKETS) c->rx_done_at[round] = t;
}

/* ---- state events ---- */

/* Forward moves may skip states (the friend's handshake can come before we
 * asked for a cookie). Backward moves are losses: to AcquiringIPAddress
 * (the session ended or the cookie/handshake expired, key still known), or
 * to AwaitingDHTKey from AcquiringIPAddress (the key went stale) or from
 * Established. Anything else (Established -> AwaitingSessionPacket,
 * AwaitingHandshake -> AcquiringCookie, ...) is impossible. */
static bool transition_ok(int from, int to) {
  if (to > from) return true;
  if (to == TW_FCONN_ACQUIRING_IP_ADDRESS && from > to) return true;
  if (to == TW_FCONN_AWAITING_DHT_KEY &&
      (from == TW_FCONN_ACQUIRING_IP_ADDRESS || from == TW_FCONN_ESTABLISHED))
    return true;
  return false;
}

static void note_invalid(client *c, const char *fmt, int a, int b, tw_time_ms t) {
  c->invalid++;
  if (c->invalid_desc[0] == 0)
    snprintf(c->invalid_desc, sizeof c->invalid_desc, fmt, sname(a), sname(b), sec(t));
}

static void on_fconn_event(void *ctx, const tw_fconn_event *ev) {
  client *c = ctx;
  world *w = c->w;
  const client *f = &w->clients[c->friend_client];
  if (!tw_key_equal(ev->peer, &f->self.pk)) {
    c->foreign_events++;
    return;
  }
  switch (ev->kind) {
  case TW_FCONN_EV_STATE: {
    int from = (int)ev->old_state, to = (int)ev->state;
    if (from == to) {
      /* Only tw_fconn_add announces the first state this way. */
      if (to != TW_FCONN_AWAITING_DHT_KEY)
        note_invalid(c, "repeated state %s -> %s at %.3f s", from, to, ev->time);
      c->state = ev->state;
      break;
    }
    if (from != (int)c->state)
      note_invalid(c, "event from %s while we last saw %s at %.3f s", from, (int)c->state,
                   ev->time);
    if (!transition_ok(from, to))
      note_invalid(c, "impossible %s -> %s at %.3f s", from, to, ev->time);
    if (c->ntr < MAX_TRANS)
      c->tr[c->ntr++] = (trans){ev->time, (uint8_t)from, (uint8_t)to};
    else
      c->ntr_lost++;
    c->state = ev->state;
    if (to == TW_FCONN_ESTABLISHED) {
      c->est_at = ev->time;
      c->est_count++;
      if (c->first_est == 0) c->first_est = ev->time;
    } else if (from == TW_FCONN_ESTABLISHED) {
      c->left_at = ev->time;
      c->left_to = ev->state;
      c->leave_count++;
    }
    if (w->o->debug)
      printf("#   t=%8.3f client %2d (pair %d%c): %s -> %s\n", sec(ev->time), c->idx, c->pair,
             c->first ? 'a' : 'b', sname(from), sname(to));
    break;
  }
  case TW_FCONN_EV_LOSSLESS: on_lossless(c, ev->data, ev->len, ev->time); break;
  default: break;
  }
}

static void on_onion_event(void *ctx, const tw_onion_event *ev) {
  client *c = ctx;
  world *w = c->w;
  const client *f = &w->clients[c->friend_client];
  if (ev->kind != TW_ONION_EV_FRIEND_DHT_KEY || !tw_key_equal(&ev->peer, &f->self.pk)) return;
  if (c->onion_key_at == 0 || !tw_key_equal(&c->onion_key, &ev->dht_pk)) {
    c->onion_key = ev->dht_pk;
    c->onion_key_at = ev->time;
    if (w->o->debug)
      printf("#   t=%8.3f client %2d: friend's DHT key %02x%02x.. by %s%s\n", sec(ev->time), c->idx,
             ev->dht_pk.bytes[0], ev->dht_pk.bytes[1],
             ev->route == TW_ONION_ROUTE_ONION ? "onion" : "DHT",
             tw_key_equal(&ev->dht_pk, &f->dht.pk) ? "" : " (NOT its current key)");
  }
}

/* ---- building ---- */

static void bootstrap(world *w, tw_node *n, int ep, tw_time_ms now) {
  for (int b = 0; b < 2; b++) {
    tw_node_info boot = {.pk = w->node_dht[b], .addr = w->node_addr[b]};
    tw_dht_bootstrap(tw_node_dht(n), &boot, now);
  }
  tw_simnet_rearm(w->net, ep);
}

/* The clients' handler: the node's, with a watch for a timer that keeps
 * firing at the same instant (a livelock: simulated time would never move
 * again, and a real driver would spin at 100% CPU). */
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
    tw_nc_conn_stats st = {0};
    tw_fconn *fc = tw_node_fconn(c->node);
    if (c->added) tw_nc_conn_get_stats(tw_node_nc(c->node), c->fid, &st);
    printf("not ok - livelock: client %d's timer ran %d times at t=%.3f s without time moving\n"
           "#   node deadline %.3f s, fconn deadline %.3f s, nc deadline %.3f s, dht %.3f, onion "
           "%.3f\n"
           "#   fconn state %s (nc %s); last transitions:\n",
           c->idx, SPIN_LIMIT, sec(now), sec(tw_node_next_deadline(c->node)),
           sec(tw_fconn_next_deadline(fc)), sec(tw_nc_next_deadline(tw_node_nc(c->node))),
           sec(tw_dht_next_deadline(tw_node_dht(c->node))),
           sec(tw_onion_next_deadline(tw_node_onion(c->node))), sname(c->state),
           tw_nc_state_name(st.state));
    int from = c->ntr > 12 ? c->ntr - 12 : 0;
    for (int i = from; i < c->ntr; i++)
      printf("#     t=%.3f %s -> %s\n", sec(c->tr[i].t), sname(c->tr[i].from), sname(c->tr[i].to));
    printf("FAIL (seed %llu)\n", (unsigned long long)c->w->o->seed);
    fflush(stdout);
    exit(1);
  }
  tw_node_on_timer(c->node, now);
}

static tw_time_ms c_deadline(void *ctx) { return tw_node_next_deadline(((client *)ctx)->node); }

/* A (new) node for a client on its endpoint: a fresh DHT key each time. */
static void client_create(world *w, client *c, tw_time_ms now) {
  tw_env env = {.random_bytes = tw_simnet_random,
                .random_ctx = tw_simnet_random_ctx(w->net, c->ep)};
  tw_node_config cfg = {
      .onion_relay = true, .announce_store = true, .onion_client = true, .friends = true};
  cfg.dht.send = tw_simnet_send_cb;
  cfg.dht.send_ctx = &c->sender;
  cfg.dht.key_cache_entries = 64;
  tw_keypair_generate(&cfg.dht.keys, &env);
  c->dht = cfg.dht.keys;
  cfg.self_keys = c->self;
  cfg.on_fconn_event = on_fconn_event;
  cfg.fconn_ctx = c;
  cfg.on_onion_event = on_onion_event;
  cfg.event_ctx = c;
  c->node = tw_node_new(&cfg, &env, now);
  if (c->node == NULL) {
    fprintf(stderr, "sim_friend_conn: cannot create client %d\n", c->idx);
    exit(1);
  }
  c->create_at = now;
  c->added = false;
  tw_io_handler h = {c, c_packet, c_timer, c_deadline};
  tw_simnet_set_handler(w->net, c->ep, &h);
  bootstrap(w, c->node, c->ep, now);
}

static void client_add_friend(world *w, client *c, tw_time_ms now) {
  const client *f = &w->clients[c->friend_client];
  int e = tw_fconn_add(tw_node_fconn(c->node), &f->self.pk, &c->fid, now);
  if (e != TW_OK) {
    fprintf(stderr, "sim_friend_conn: tw_fconn_add for client %d: %d\n", c->idx, e);
    exit(1);
  }
  c->added = true;
  c->add_at = now;
  tw_simnet_rearm(w->net, c->ep);
}

static void build(world *w, const opts *o) {
  memset(w, 0, sizeof *w);
  tw_simnet_config ncfg = {o->seed, o->loss, o->dup, o->delay_min, o->delay_max};
  w->o = o;
  w->net = tw_simnet_new(&ncfg);
  w->nnodes = o->nodes;
  w->nclients = 2 * o->pairs;
  w->nodes = calloc((size_t)w->nnodes, sizeof *w->nodes);
  w->senders = calloc((size_t)w->nnodes, sizeof *w->senders);
  w->node_dht = calloc((size_t)w->nnodes, sizeof *w->node_dht);
  w->node_addr = calloc((size_t)w->nnodes, sizeof *w->node_addr);
  w->clients = calloc((size_t)w->nclients, sizeof *w->clients);
  for (int i = 0; i < w->nnodes; i++)
    tw_simnet_add_endpoint(w->net, &w->node_addr[i]);
  for (int i = 0; i < w->nclients; i++) {
    client *c = &w->clients[i];
    c->w = w;
    c->idx = i;
    c->pair = i / 2;
    c->first = i % 2 == 0;
    c->friend_client = i ^ 1;
    c->ep = tw_simnet_add_endpoint(w->net, &c->addr);
    c->sender = (tw_simnet_sender){w->net, c->ep};
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
    tw_keypair_generate(&cfg.dht.keys, &env);
    w->node_dht[i] = cfg.dht.keys.pk;
    w->nodes[i] = tw_node_new(&cfg, &env, 0);
    if (w->nodes[i] == NULL) {
      fprintf(stderr, "sim_friend_conn: cannot create node %d\n", i);
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
}

static void destroy(world *w) {
  for (int i = 0; i < w->nclients; i++)
    tw_node_free(w->clients[i].node);
  for (int i = 0; i < w->nnodes; i++)
    tw_node_free(w->nodes[i]);
  tw_simnet_free(w->net);
  free(w->nodes);
  free(w->senders);
  free(w->node_dht);
  free(w->node_addr);
  free(w->clients);
}

/* Runs to t, bringing in the clients whose time has come. The pair's first
 * client starts and adds its friend at T0; the second starts at T0
 * (add-late) or T0 + offset (node-late) and adds its friend at T0 + offset. */
static void run_to(world *w, tw_time_ms t) {
  for (;;) {
    tw_time_ms next = TW_NEVER;
    for (int i = 0; i < w->nclients; i++) {
      client *c = &w->clients[i];
      if (c->add_at != 0) continue; /* its start is behind it */
      tw_time_ms off = c->first ? 0 : pair_offset(c->pair);
      tw_time_ms create = w->t0 + (!c->first && pair_mode(c->pair) == LATE_NODE ? off : 0);
      tw_time_ms add = w->t0 + off;
      tw_time_ms due = c->node == NULL ? create : add;
      if (due < next) next = due;
    }
    if (next > t) break;
    tw_simnet_run_until(w->net, next);
    for (int i = 0; i < w->nclients; i++) {
      client *c = &w->clients[i];
      if (c->add_at != 0) continue; /* its start is behind it */
      tw_time_ms off = c->first ? 0 : pair_offset(c->pair);
      tw_time_ms create = w->t0 + (!c->first && pair_mode(c->pair) == LATE_NODE ? off : 0);
      tw_time_ms add = w->t0 + off;
      if (c->node == NULL && create <= next) client_create(w, c, next);
      if (c->node != NULL && !c->added && add <= next) client_add_friend(w, c, next);
    }
  }
  tw_simnet_run_until(w->net, t);
}

/* When both friends of a pair are present (both have added each other). */
static tw_time_ms pair_start(const world *w, int pair) { return w->t0 + pair_offset(pair); }

static void debug_status(world *w, tw_time_ms t) {
  if (!w->o->debug || t % 10000 != 0) return;
  for (int i = 0; i < w->nclients; i++) {
    client *c = &w->clients[i];
    if (c->node == NULL) continue;
    tw_nc_conn_stats st = {0};
    if (c->added) tw_nc_conn_get_stats(tw_node_nc(c->node), c->fid, &st);
    tw_onion_stats os;
    tw_onion_get_stats(tw_node_onion(c->node), &os, t);
    printf("#   t=%4.0f client %2d: %-11s nc %-17s announced on %u, paths %u\n", sec(t), i,
           sname(c->state), tw_nc_state_name(st.state), os.announced_on, os.paths_alive);
  }
}

static int count_established(const world *w) {
  int n = 0;
  for (int i = 0; i < w->nclients; i++)
    n += w->clients[i].state == TW_FCONN_ESTABLISHED;
  return n;
}

/* ---- data ---- */

static int send_round(world *w, client *c, int round) {
  uint8_t buf[DATA_LEN];
  tw_time_ms now = tw_simnet_now(w->net);
  int sent = 0;
  for (int s = 0; s < DATA_PACKETS; s++) {
    buf[0] = DATA_ID;
    buf[1] = (uint8_t)round;
    buf[2] = (uint8_t)s;
    for (int i = 3; i < DATA_LEN; i++)
      buf[i] = payload_byte(c->idx, round, s, i);
    if (tw_fconn_send_lossless(tw_node_fconn(c->node), c->fid, buf, sizeof buf, NULL, now) == TW_OK)
      sent++;
  }
  tw_simnet_rearm(w->net, c->ep);
  return sent;
}

/* Both clients of each listed pair send a round; runs until it all arrived
 * or 30 s passed. Returns the number of pairs that exchanged it intact. */
static int exchange(world *w, const int *pairs, int npairs, int round, const char *what) {
  tw_time_ms start = tw_simnet_now(w->net);
  int sent_total = 0;
  for (int k = 0; k < npairs; k++)
    for (int j = 0; j < 2; j++)
      sent_total += send_round(w, &w->clients[2 * pairs[k] + j], round);
  tw_time_ms t;
  for (t = start + 250; t <= start + 30000; t += 250) {
    run_to(w, t);
    bool all = true;
    for (int k = 0; k < npairs && all; k++)
      for (int j = 0; j < 2; j++)
        all &= w->clients[2 * pairs[k] + j].rx_next[round] == DATA_PACKETS;
    if (all) break;
  }
  int ok = 0, bad = 0;
  double slowest = 0;
  for (int k = 0; k < npairs; k++) {
    client *a = &w->clients[2 * pairs[k]], *b = a + 1;
    bad += a->rx_bad + b->rx_bad;
    bool good = a->rx_next[round] == DATA_PACKETS && b->rx_next[round] == DATA_PACKETS &&
                a->rx_bad == 0 && b->rx_bad == 0;
    ok += good;
    for (int j = 0; j < 2; j++) {
      client *c = j ? b : a;
      double d = c->rx_done_at[round] ? sec(c->rx_done_at[round] - start) : -1;
      if (d > slowest) slowest = d;
    }
    if (!good || !w->o->quiet)
      printf("#   pair %d: %d+%d of %d packets (%llu+%llu bytes) arrived, %d+%d bad\n", pairs[k],
             a->rx_next[round], b->rx_next[round], DATA_PACKETS,
             (unsigned long long)a->rx_bytes[round], (unsigned long long)b->rx_bytes[round],
             a->rx_bad, b->rx_bad);
  }
  printf("%s - data %s: %d of %d pairs exchanged %d B each way intact and in order "
         "(%d packets queued, slowest %.2f s, %d bad)\n",
         ok == npairs ? "ok" : "not ok", what, ok, npairs, DATA_PACKETS * DATA_LEN, sent_total,
         slowest, bad);
  return ok;
}

/* ---- reports ---- */

/* The transitions in [from, to], each as "-t->" with t in seconds from base. */
static void print_sequence(const client *c, tw_time_ms from, tw_time_ms to, tw_time_ms base) {
  printf("#   client %2d (pair %d%c):", c->idx, c->pair, c->first ? 'a' : 'b');
  int shown = 0;
  for (int i = 0; i < c->ntr; i++) {
    if (c->tr[i].t < from || c->tr[i].t > to) continue;
    if (shown == 0) printf(" %s", sname(c->tr[i].from));
    printf(" -%.2f-> %s", sec(c->tr[i].t) - sec(base), sname(c->tr[i].to));
    shown++;
  }
  if (shown == 0) printf(" %s (no change)", sname(c->state));
  printf("\n");
}

/* Time spent in each state before the first Established. */
static void states_before(const client *c, tw_time_ms add_at, double out[NSTATES]) {
  memset(out, 0, NSTATES * sizeof out[0]);
  int cur = TW_FCONN_AWAITING_DHT_KEY;
  tw_time_ms since = add_at;
  for (int i = 0; i < c->ntr; i++) {
    out[cur] += sec(c->tr[i].t - since);
    cur = c->tr[i].to;
    since = c->tr[i].t;
    if (cur == TW_FCONN_ESTABLISHED) break;
  }
}

/* ---- phases ---- */

static bool run_first_contact(world *w, int *failures, int *checks) {
  const opts *o = w->o;
  tw_time_ms max_off = 0;
  for (int p = 0; p < o->pairs; p++)
    if (pair_offset(p) > max_off) max_off = pair_offset(p);
  tw_time_ms limit = w->t0 + max_off + (tw_time_ms)(o->max_seconds * 1000);
  tw_time_ms t;
  for (t = 250; t <= limit; t += 250) {
    run_to(w, t);
    debug_status(w, t);
    bool all = true;
    for (int i = 0; i < w->nclients && all; i++)
      all &= w->clients[i].first_est != 0;
    if (!o->quiet && t % 10000 == 0 && t > w->t0)
      printf("# t=%3.0f s: %d/%d clients established\n", sec(t), count_established(w), w->nclients);
    if (all) break;
  }
  /* Let the slowest settle a little so late oscillations show. */
  run_to(w, tw_simnet_now(w->net) + 5000);

  printf(
      "# pairs: first client starts at T0=%.1f s; second at T0+offset (add-late: node up at T0,\n"
      "#   adds its friend at T0+offset; node-late: node created at T0+offset);\n"
      "#   sequences: -s-> is seconds after T0\n",
      sec(w->t0));
  int late = 0, never = 0, invalid = 0;
  double worst = 0, sum = 0;
  for (int p = 0; p < o->pairs; p++) {
    client *a = &w->clients[2 * p], *b = a + 1;
    tw_time_ms ps = pair_start(w, p);
    printf("# pair %d: %s, offset %2.0f s\n", p, mode_name(pair_mode(p)), sec(pair_offset(p)));
    for (int j = 0; j < 2; j++) {
      client *c = j ? b : a;
      double d = c->first_est ? sec(c->first_est - ps) : -1;
      double in[NSTATES];
      states_before(c, c->add_at, in);
      char buf[256];
      size_t n = 0;
      for (int s = 0; s < TW_FCONN_ESTABLISHED; s++) {
        bool visited = s == TW_FCONN_AWAITING_DHT_KEY;
        for (int i = 0; i < c->ntr && c->tr[i].t <= c->first_est; i++)
          visited |= c->tr[i].to == s;
        if (visited)
          n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s %.1fs", n ? ", " : "", sname(s),
                                in[s]);
      }
      printf("#   client %2d: added at T0+%4.1f s, established at pair start+%6.2f s "
             "(T0+%6.2f); before: %s\n",
             c->idx, sec(c->add_at - w->t0), d, c->first_est ? sec(c->first_est - w->t0) : -1.0,
             buf);
      print_sequence(c, 0, c->first_est ? c->first_est : tw_simnet_now(w->net), w->t0);
      if (c->first_est == 0)
        never++;
      else if (d > o->max_seconds)
        late++;
      if (d > worst) worst = d;
      if (d > 0) sum += d;
      invalid += c->invalid;
      if (c->invalid)
        printf("#   client %2d: %d impossible transitions, first: %s\n", c->idx, c->invalid,
               c->invalid_desc);
    }
  }
  (*checks)++;
  bool ok = never == 0 && late == 0;
  printf("%s - first contact: %d/%d clients reached Established, %d late (> %.0f s after the pair "
         "started); slowest %.2f s, mean %.2f s\n",
         ok ? "ok" : "not ok", w->nclients - never, w->nclients, late, o->max_seconds, worst,
         sum / (w->nclients - never > 0 ? w->nclients - never : 1));
  if (!ok) (*failures)++;
  (*checks)++;
  printf("%s - every state event is a possible transition continuing the last state (%d not)\n",
         invalid ? "not ok" : "ok", invalid);
  if (invalid) (*failures)++;
  return ok;
}

/* Both clients of a pair entered Established after `after`. */
static bool pair_reestablished(const world *w, int pair, tw_time_ms after) {
  const client *a = &w->clients[2 * pair], *b = a + 1;
  return a->state == TW_FCONN_ESTABLISHED && b->state == TW_FCONN_ESTABLISHED &&
         a->est_at > after && b->est_at > after;
}

static void run_link_cut(world *w, int pair, int *failures, int *checks) {
  const opts *o = w->o;
  client *victim = &w->clients[2 * pair + 1], *fr = &w->clients[2 * pair];
  tw_time_ms cut = tw_simnet_now(w->net);
  tw_time_ms down_ms = TW_FCONN_ALIVE_TIMEOUT_MS + 13000;
  int leaves_before = fr->leave_count;
  printf("# link cut: t=%.1f s client %d (pair %d) goes down for %.0f s; its friend is client %d "
         "(%s)\n",
         sec(cut), victim->idx, pair, sec(down_ms), fr->idx, sname(fr->state));
  tw_simnet_set_down(w->net, victim->ep, true);
  for (tw_time_ms t = cut + 250; t <= cut + down_ms; t += 250) {
    run_to(w, t);
    debug_status(w, t);
  }
  bool left = fr->leave_count > leaves_before;
  (*checks)++;
  if (left &&
      (fr->left_to == TW_FCONN_ACQUIRING_IP_ADDRESS || fr->left_to == TW_FCONN_AWAITING_DHT_KEY))
    printf(
        "ok - client %d left Established %.2f s after the cut (to %s); %s at the end of the cut\n",
        fr->idx, sec(fr->left_at - cut), sname(fr->left_to), sname(fr->state));
  else {
    printf("not ok - client %d did not leave Established for a loss state during the %.0f s cut "
           "(state %s, left %d)\n",
           fr->idx, sec(down_ms), sname(fr->state), left);
    (*failures)++;
  }
  tw_time_ms up = tw_simnet_now(w->net);
  tw_simnet_set_down(w->net, victim->ep, false);
  tw_time_ms limit = up + (tw_time_ms)(o->reconnect_seconds * 1000);
  tw_time_ms t;
  for (t = up + 250; t <= limit; t += 250) {
    run_to(w, t);
    debug_status(w, t);
    if (pair_reestablished(w, pair, up)) break;
  }
  bool ok = pair_reestablished(w, pair, up);
  printf("# link cut, pair %d state sequences (-s-> : seconds after the cut; up again at +%.0f):\n",
         pair, sec(down_ms));
  print_sequence(fr, cut, tw_simnet_now(w->net), cut);
  print_sequence(victim, cut, tw_simnet_now(w->net), cut);
  (*checks)++;
  if (ok)
    printf("ok - after the link came back both re-established: client %d at +%.2f s, client %d at "
           "+%.2f s\n",
           fr->idx, sec(fr->est_at - up), victim->idx, sec(victim->est_at - up));
  else {
    printf("not ok - pair %d not re-established %.0f s after the link came back (%s / %s)\n", pair,
           o->reconnect_seconds, sname(fr->state), sname(victim->state));
    (*failures)++;
  }
  (*checks)++;
  if (exchange(w, &pair, 1, 1, "after the link cut") != 1) (*failures)++;
}

static void run_restart(world *w, int pair, int round, int *failures, int *checks) {
  const opts *o = w->o;
  client *victim = &w->clients[2 * pair + 1], *fr = &w->clients[2 * pair];
  tw_time_ms at = tw_simnet_now(w->net);
  tw_key old_dht = victim->dht.pk;
  int leaves_before = fr->leave_count;
  tw_node_free(victim->node);
  victim->node = NULL;
  victim->restarts++;
  victim->state = TW_FCONN_AWAITING_DHT_KEY;
  memset(victim->rx_next, 0, sizeof victim->rx_next);
  memset(victim->rx_done_at, 0, sizeof victim->rx_done_at);
  memset(victim->rx_bytes, 0, sizeof victim->rx_bytes);
  client_create(w, victim, at);
  client_add_friend(w, victim, at);
  printf("# restart: t=%.1f s client %d (pair %d) restarts on its endpoint: DHT key %02x%02x.. -> "
         "%02x%02x..; its friend client %d is %s\n",
         sec(at), victim->idx, pair, old_dht.bytes[0], old_dht.bytes[1], victim->dht.pk.bytes[0],
         victim->dht.pk.bytes[1], fr->idx, sname(fr->state));
  tw_time_ms limit = at + (tw_time_ms)(o->reconnect_seconds * 1000);
  for (tw_time_ms t = at + 250; t <= limit; t += 250) {
    run_to(w, t);
    debug_status(w, t);
    if (pair_reestablished(w, pair, at)) break;
  }
  bool left = fr->leave_count > leaves_before;
  bool ok = left && pair_reestablished(w, pair, at);
  printf("# restart, pair %d state sequences (-s-> : seconds after the restart):\n", pair);
  print_sequence(fr, at, tw_simnet_now(w->net), at);
  print_sequence(victim, at, tw_simnet_now(w->net), at);
  const char *how = "?";
  if (left) {
    /* By onion: the new key came first. By handshake: net_crypto reset the
     * session and accepted the new one at the same instant (the leave is
     * followed at once by AwaitingSessionPacket). Otherwise nothing came
     * for 32 s. */
    bool onion_new = fr->onion_key_at != 0 && tw_key_equal(&fr->onion_key, &victim->dht.pk) &&
                     fr->onion_key_at <= fr->left_at;
    bool by_handshake = false;
    for (int i = 0; i + 1 < fr->ntr; i++)
      if (fr->tr[i].t == fr->left_at && fr->tr[i].from == TW_FCONN_ESTABLISHED)
        for (int j = i + 1; j < fr->ntr && fr->tr[j].t == fr->left_at; j++)
          by_handshake |= fr->tr[j].to == TW_FCONN_AWAITING_SESSION_PACKET;
    if (onion_new)
      how = "the new DHT key arrived by onion";
    else if (by_handshake)
      how = "the friend's handshake with its new DHT key";
    else
      how = "the alive timeout: nothing heard for 32 s";
  }
  (*checks)++;
  if (ok)
    printf("ok - restart: client %d dropped the stale session %.2f s after the restart (%s); "
           "re-established at +%.2f s, client %d at +%.2f s\n",
           fr->idx, sec(fr->left_at - at), how, sec(fr->est_at - at), victim->idx,
           sec(victim->est_at - at));
  else {
    printf("not ok - restart: pair %d not re-established within %.0f s (left %d, %s / %s)\n", pair,
           o->reconnect_seconds, left, sname(fr->state), sname(victim->state));
    (*failures)++;
  }
  (*checks)++;
  if (exchange(w, &pair, 1, round, "after the restart") != 1) (*failures)++;
}

/* 4, continued: the other pairs lose one client for different times, so
 * the friend that stays has reached a different state when it comes back:
 * still Established (a short cut), AcquiringIPAddress / AcquiringCookie,
 * or AwaitingDHTKey (its DHT key went stale after 122 s). */
static const tw_time_ms return_ms[] = {20000, 60000, 150000, 250000};
#define NRETURNS (sizeof return_ms / sizeof return_ms[0])

typedef struct ret {
  int pair;
  client *v, *f;
  tw_time_ms dur, up, done;
  bool is_up;
  int v_leaves, f_leaves;
  tw_fconn_state at_up;
} ret;

/* Pairs whose staying client was in AwaitingDHTKey when its friend came
 * back (for run_recut), as (staying client, returning client). */
static int from_dhtkey[16][2];
static int nfrom_dhtkey;

static void run_returns(world *w, int first_pair, int *failures, int *checks) {
  const opts *o = w->o;
  int n = o->pairs - first_pair;
  if (n <= 0) return;
  ret *r = calloc((size_t)n, sizeof *r);
  tw_time_ms start = tw_simnet_now(w->net), longest = 0;
  printf("# returns: t=%.1f s, one client of each of pairs %d..%d goes down for a different time\n",
         sec(start), first_pair, o->pairs - 1);
  for (int k = 0; k < n; k++) {
    ret *x = &r[k];
    x->pair = first_pair + k;
    x->dur = return_ms[k % NRETURNS];
    /* Alternately the pair's second and first client goes down. */
    x->v = &w->clients[2 * x->pair + (k % 2 == 0 ? 1 : 0)];
    x->f = &w->clients[x->v->friend_client];
    x->v_leaves = x->v->leave_count;
    x->f_leaves = x->f->leave_count;
    if (x->dur > longest) longest = x->dur;
    tw_simnet_set_down(w->net, x->v->ep, true);
  }
  tw_time_ms limit = start + longest + (tw_time_ms)(o->reconnect_seconds * 1000);
  for (tw_time_ms t = start + 250; t <= limit; t += 250) {
    run_to(w, t);
    debug_status(w, t);
    bool all = true;
    for (int k = 0; k < n; k++) {
      ret *x = &r[k];
      if (!x->is_up && t >= start + x->dur) {
        x->is_up = true;
        x->up = t;
        x->at_up = x->f->state;
        tw_simnet_set_down(w->net, x->v->ep, false);
      }
      if (x->is_up && x->done == 0 && t > x->up && x->v->state == TW_FCONN_ESTABLISHED &&
          x->f->state == TW_FCONN_ESTABLISHED)
        x->done = t;
      all &= x->done != 0;
    }
    if (all) break;
  }
  int bad = 0;
  int *pairs = calloc((size_t)n, sizeof *pairs);
  for (int k = 0; k < n; k++) {
    ret *x = &r[k];
    pairs[k] = x->pair;
    bool short_cut = x->dur + TW_FCONN_ALIVE_INTERVAL_MS < TW_FCONN_ALIVE_TIMEOUT_MS;
    bool v_left = x->v->leave_count > x->v_leaves, f_left = x->f->leave_count > x->f_leaves;
    /* A short cut must not break the session; a long one must be noticed
     * by both, and both must be back. */
    bool ok = x->done != 0 && (short_cut ? !v_left && !f_left : v_left && f_left);
    /* The states the friend that stayed went through during the cut. */
    char seen[128] = "";
    size_t m = 0;
    for (int i = 0; i < x->f->ntr; i++)
      if (x->f->tr[i].t >= start && x->f->tr[i].t <= x->up)
        m += (size_t)snprintf(seen + m, sizeof seen - m, "%s%s", m ? "," : "",
                              sname(x->f->tr[i].to));
    printf(
        "#   pair %d: client %2d down %3.0f s; client %2d went through [%s], was %s when it came "
        "back; both Established %s%.2f s after it came back%s\n",
        x->pair, x->v->idx, sec(x->dur), x->f->idx, m ? seen : "no change", sname(x->at_up),
        x->done ? "" : "NOT within ", x->done ? sec(x->done - x->up) : o->reconnect_seconds,
        ok ? "" : (short_cut ? " (a short cut broke the session)" : " (the loss went unnoticed)"));
    print_sequence(x->f, start, tw_simnet_now(w->net), start);
    print_sequence(x->v, start, tw_simnet_now(w->net), start);
    bad += !ok;
    if (ok && x->at_up == TW_FCONN_AWAITING_DHT_KEY && nfrom_dhtkey < 16) {
      from_dhtkey[nfrom_dhtkey][0] = x->f->idx;
      from_dhtkey[nfrom_dhtkey++][1] = x->v->idx;
    }
  }
  (*checks)++;
  printf("%s - returns: %d of %d pairs came back to Established (cuts of", bad ? "not ok" : "ok",
         n - bad, n);
  for (size_t k = 0; k < NRETURNS && (int)k < n; k++)
    printf(" %.0f", sec(return_ms[k]));
  printf(" s; -s-> above is seconds after the cut began)\n");
  if (bad) (*failures)++;
  (*checks)++;
  if (exchange(w, pairs, n, 3, "after the returns") != n) (*failures)++;
  free(pairs);
  free(r);
}

/* The pairs that came back from AwaitingDHTKey are cut once more (45 s):
 * the client that stayed must leave Established and both come back. Where
 * it goes is reported: AcquiringIPAddress if it still holds the DHT key
 * the session was made with, AwaitingDHTKey if it had forgotten it (the
 * key came back in the friend's handshake, which net_crypto knew already
 * and so did not report). */
static void run_recut(world *w, int *failures, int *checks) {
  const opts *o = w->o;
  if (nfrom_dhtkey == 0) return;
  tw_time_ms at = tw_simnet_now(w->net), down = TW_FCONN_ALIVE_TIMEOUT_MS + 13000;
  int leaves[16];
  for (int k = 0; k < nfrom_dhtkey; k++) {
    leaves[k] = w->clients[from_dhtkey[k][0]].leave_count;
    tw_simnet_set_down(w->net, w->clients[from_dhtkey[k][1]].ep, true);
  }
  printf("# recut: t=%.1f s the %d pair(s) that came back from AwaitingDHTKey lose the returner "
         "again for %.0f s\n",
         sec(at), nfrom_dhtkey, sec(down));
  for (tw_time_ms t = at + 250; t <= at + down; t += 250)
    run_to(w, t);
  for (int k = 0; k < nfrom_dhtkey; k++)
    tw_simnet_set_down(w->net, w->clients[from_dhtkey[k][1]].ep, false);
  tw_time_ms up = tw_simnet_now(w->net);
  tw_time_ms limit = up + (tw_time_ms)(o->reconnect_seconds * 1000);
  for (tw_time_ms t = up + 250; t <= limit; t += 250) {
    run_to(w, t);
    bool all = true;
    for (int k = 0; k < nfrom_dhtkey; k++)
      all &= pair_reestablished(w, w->clients[from_dhtkey[k][0]].pair, up);
    if (all) break;
  }
  int bad = 0;
  for (int k = 0; k < nfrom_dhtkey; k++) {
    client *f = &w->clients[from_dhtkey[k][0]], *v = &w->clients[from_dhtkey[k][1]];
    bool left = f->leave_count > leaves[k];
    bool ok = left && pair_reestablished(w, f->pair, up);
    bad += !ok;
    printf("#   pair %d: client %2d %s Established %.2f s into the cut, to %s%s; %s\n",
           f->pair, f->idx, left ? "left" : "did NOT leave", left ? sec(f->left_at - at) : -1.0,
           left ? sname(f->left_to) : "-",
           left && f->left_to == TW_FCONN_AWAITING_DHT_KEY
               ? " (note: it had forgotten the DHT key its session was made with)"
               : "",
           ok ? "both Established again" : "NOT both Established again");
    print_sequence(f, at, tw_simnet_now(w->net), at);
    print_sequence(v, at, tw_simnet_now(w->net), at);
  }
  (*checks)++;
  printf("%s - recut: %d of %d pair(s) left Established and came back\n", bad ? "not ok" : "ok",
         nfrom_dhtkey - bad, nfrom_dhtkey);
  if (bad) (*failures)++;
}

/* Unfriend: one client of a pair removes its friend (tw_fconn_remove) and
 * adds it back 200 s later. The other must leave Established, and, hearing
 * nothing more from it (no DHT key packets: it is no longer a friend
 * there), forget the friend's DHT key 122 s on and rest in AwaitingDHTKey
 * instead of asking a peer that refuses its handshakes for ever. Once
 * re-added, both must reach Established again. */
static void run_unfriend(world *w, int pair, int round, int *failures, int *checks) {
  const opts *o = w->o;
  client *rm = &w->clients[2 * pair + 1], *fr = &w->clients[2 * pair];
  tw_time_ms at = tw_simnet_now(w->net);
  int leaves = fr->leave_count;
  printf("# unfriend: t=%.1f s client %d removes client %d (%s) and adds it back at +200 s\n",
         sec(at), rm->idx, fr->idx, sname(fr->state));
  tw_fconn_remove(tw_node_fconn(rm->node), rm->fid, at);
  rm->added = false;
  rm->state = TW_FCONN_AWAITING_DHT_KEY;
  tw_simnet_rearm(w->net, rm->ep);
  tw_time_ms readd = at + 200000;
  for (tw_time_ms t = at + 250; t <= readd; t += 250) {
    run_to(w, t);
    debug_status(w, t);
  }
  bool left = fr->leave_count > leaves;
  tw_time_ms last_change = 0;
  for (int i = 0; i < fr->ntr; i++)
    if (fr->tr[i].t >= at) last_change = fr->tr[i].t;
  (*checks)++;
  bool rested = left && fr->state == TW_FCONN_AWAITING_DHT_KEY;
  printf("%s - unfriended: client %d left Established %.2f s after the removal (to %s) and is %s "
         "200 s on (last change at +%.1f s)\n",
         rested ? "ok" : "not ok", fr->idx, left ? sec(fr->left_at - at) : -1.0,
         left ? sname(fr->left_to) : "-", sname(fr->state),
         last_change ? sec(last_change - at) : -1.0);
  if (!rested) (*failures)++;
  memset(rm->rx_next, 0, sizeof rm->rx_next);
  memset(fr->rx_next, 0, sizeof fr->rx_next);
  memset(rm->rx_done_at, 0, sizeof rm->rx_done_at);
  memset(fr->rx_done_at, 0, sizeof fr->rx_done_at);
  memset(rm->rx_bytes, 0, sizeof rm->rx_bytes);
  memset(fr->rx_bytes, 0, sizeof fr->rx_bytes);
  client_add_friend(w, rm, readd);
  tw_time_ms limit = readd + (tw_time_ms)(o->reconnect_seconds * 1000);
  for (tw_time_ms t = readd + 250; t <= limit; t += 250) {
    run_to(w, t);
    debug_status(w, t);
    if (pair_reestablished(w, pair, readd)) break;
  }
  printf(
      "# unfriend, pair %d state sequences (-s-> : seconds after the removal; re-added at +200):\n",
      pair);
  print_sequence(fr, at, tw_simnet_now(w->net), at);
  print_sequence(rm, at, tw_simnet_now(w->net), at);
  bool ok = pair_reestablished(w, pair, readd);
  (*checks)++;
  if (ok)
    printf(
        "ok - re-added: client %d Established at +%.2f s, client %d at +%.2f s after the re-add\n",
        fr->idx, sec(fr->est_at - readd), rm->idx, sec(rm->est_at - readd));
  else {
    printf("not ok - re-added: pair %d not re-established within %.0f s (%s / %s)\n", pair,
           o->reconnect_seconds, sname(fr->state), sname(rm->state));
    (*failures)++;
  }
  (*checks)++;
  if (exchange(w, &pair, 1, round, "after the re-add") != 1) (*failures)++;
}

/* The whole scenario; returns the number of failed checks, and the trace
 * hash and the simulated end time through the pointers. */
static int run_scenario(const opts *o, uint64_t *trace, tw_time_ms *end) {
  double w0 = wall_now();
  world w;
  nfrom_dhtkey = 0;
  build(&w, o);
  printf("# %d nodes, %d client pairs, seed %llu, loss %.0f%%, dup %.0f%%, delay %u-%u ms\n",
         o->nodes, o->pairs, (unsigned long long)o->seed, o->loss * 100, o->dup * 100, o->delay_min,
         o->delay_max);
  int failures = 0, checks = 0;
  /* 1 and 4: first contact, the second friend late by the pair's offset. */
  if (run_first_contact(&w, &failures, &checks)) {
    /* 2: data on every pair. */
    int *all = calloc((size_t)o->pairs, sizeof *all);
    for (int p = 0; p < o->pairs; p++)
      all[p] = p;
    checks++;
    if (exchange(&w, all, o->pairs, 0, "on first contact") != o->pairs) failures++;
    free(all);
    /* 3: a link cut on pair 0, then a restart on pair 1 (pair 0 again with
     * one pair); the other pairs must not notice. */
    run_link_cut(&w, 0, &failures, &checks);
    run_restart(&w, o->pairs > 1 ? 1 : 0, 2, &failures, &checks);
    if (o->pairs > 2) {
      int leaves = 0;
      for (int i = 4; i < w.nclients; i++)
        leaves += w.clients[i].leave_count;
      checks++;
      printf("%s - the %d pairs nobody disturbed stayed Established throughout (%d losses)\n",
             leaves == 0 ? "ok" : "not ok", o->pairs - 2, leaves);
      if (leaves) {
        failures++;
        for (int i = 4; i < w.nclients; i++)
          if (w.clients[i].leave_count) print_sequence(&w.clients[i], 0, tw_simnet_now(w.net), 0);
      }
    }
    /* 4, continued: come back to a friend in each state; then unfriend. */
    run_returns(&w, 2, &failures, &checks);
    run_recut(&w, &failures, &checks);
    run_unfriend(&w, 0, 0, &failures, &checks);
    int invalid = 0;
    for (int i = 0; i < w.nclients; i++) {
      invalid += w.clients[i].invalid;
      if (w.clients[i].invalid)
        printf("#   client %2d: %d impossible transitions, first: %s\n", i, w.clients[i].invalid,
               w.clients[i].invalid_desc);
    }
    checks++;
    printf("%s - transitions stayed possible through the cuts, the restart and the unfriending "
           "(%d not)\n",
           invalid ? "not ok" : "ok", invalid);
    if (invalid) failures++;
  } else {
    printf("# skipping data, link cut and restart: first contact failed\n");
  }
  int foreign = 0;
  for (int i = 0; i < w.nclients; i++)
    foreign += w.clients[i].foreign_events;
  checks++;
  printf("%s - no event named a peer that is not the client's friend (%d did)\n",
         foreign ? "not ok" : "ok", foreign);
  if (foreign) failures++;
  tw_simnet_stats ns = tw_simnet_get_stats(w.net);
  *trace = tw_simnet_trace_hash(w.net);
  *end = tw_simnet_now(w.net);
  printf("# network: %llu sent, %llu delivered, %llu lost, %llu duplicated; trace %016llx\n",
         (unsigned long long)ns.sent, (unsigned long long)ns.delivered, (unsigned long long)ns.lost,
         (unsigned long long)ns.duplicated, (unsigned long long)*trace);
  printf("# %.1f wall seconds for %.0f simulated\n", wall_now() - w0, sec(*end));
  destroy(&w);
  printf("1..%d\n", checks);
  return failures;
}

/* A whole scenario with its output muted (the determinism runs). */
static int run_muted(const opts *o, uint64_t *trace, tw_time_ms *end) {
  fflush(stdout);
  int saved = dup(STDOUT_FILENO), null = open("/dev/null", O_WRONLY);
  if (saved >= 0 && null >= 0) dup2(null, STDOUT_FILENO);
  int f = run_scenario(o, trace, end);
  fflush(stdout);
  if (saved >= 0) dup2(saved, STDOUT_FILENO);
  if (saved >= 0) close(saved);
  if (null >= 0) close(null);
  return f;
}

static void usage(FILE *f) {
  fputs("usage: sim_friend_conn [--nodes N] [--pairs P] [--seed S] [--loss P] [--dup P]\n"
        "                       [--max-seconds S] [--reconnect-seconds S] [--quiet]\n"
        "                       [--determinism]\n"
        "  N toxwire nodes (default 60) relay and store announcements; P pairs of clients\n"
        "  (default 8) add each other as friends, the second of each pair late by 0, 5,\n"
        "  15 or 30 s (by its fconn_add or by its whole node). Passes when every client\n"
        "  reaches Established within S simulated seconds (default 120) through possible\n"
        "  transitions, data crosses both ways, and after a link cut (pair 0), a restart\n"
        "  (pair 1), cuts of 20..250 s (the other pairs) and an unfriending (pair 0)\n"
        "  the pairs re-establish within the reconnect bound (default 90 s).\n"
        "  --determinism runs the whole scenario twice with seed S and once with S+1 and\n"
        "  compares the trace hashes. SIM_DEBUG=1 prints every transition, the onion's\n"
        "  DHT key events and a status line per client every 10 s.\n",
        f);
}

int main(int argc, char **argv) {
  opts o = {.nodes = 60,
            .pairs = 8,
            .seed = 1,
            .loss = 0.05,
            .dup = 0.01,
            .delay_min = 5,
            .delay_max = 80,
            .max_seconds = 120,
            .reconnect_seconds = 90};
  static const struct option lo[] = {{"nodes", required_argument, 0, 'n'},
                                     {"pairs", required_argument, 0, 'p'},
                                     {"seed", required_argument, 0, 's'},
                                     {"loss", required_argument, 0, 'l'},
                                     {"dup", required_argument, 0, 'd'},
                                     {"max-seconds", required_argument, 0, 'm'},
                                     {"reconnect-seconds", required_argument, 0, 'r'},
                                     {"quiet", no_argument, 0, 'q'},
                                     {"determinism", no_argument, 0, 'D'},
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
    case 'r': o.reconnect_seconds = atof(optarg); break;
    case 'q': o.quiet = true; break;
    case 'D': o.determinism = true; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  const char *dbg = getenv("SIM_DEBUG");
  o.debug = dbg != NULL && dbg[0] != 0 && strcmp(dbg, "0") != 0;
  if (o.nodes < 10 || o.pairs < 1 || o.pairs > 100) {
    usage(stderr);
    return 2;
  }
  if (tw_crypto_init() != TW_OK) return 1;

  if (o.determinism) {
    double w0 = wall_now();
    opts q = o, q2;
    q.quiet = true;
    q.debug = false;
    q2 = q;
    q2.seed = o.seed + 1;
    uint64_t a, b, c;
    tw_time_ms ea, eb, ec;
    int fa = run_muted(&q, &a, &ea), fb = run_muted(&q, &b, &eb), fc = run_muted(&q2, &c, &ec);
    int fails = 0;
    printf("# %d nodes, %d pairs, the whole scenario each time: %.0f, %.0f and %.0f simulated "
           "seconds, %d, %d and %d checks failed\n",
           o.nodes, o.pairs, sec(ea), sec(eb), sec(ec), fa, fb, fc);
    bool same = a == b && ea == eb && fa == fb;
    printf("%s - seed %llu twice: trace %016llx and %016llx\n", same ? "ok" : "not ok",
           (unsigned long long)o.seed, (unsigned long long)a, (unsigned long long)b);
    fails += !same;
    printf("%s - seed %llu: trace %016llx differs\n", a != c ? "ok" : "not ok",
           (unsigned long long)q2.seed, (unsigned long long)c);
    fails += a == c;
    printf("%s - the runs themselves passed (%d, %d, %d checks failed)\n",
           fa + fb + fc == 0 ? "ok" : "not ok", fa, fb, fc);
    fails += fa + fb + fc != 0;
    printf("# %.1f wall seconds\n", wall_now() - w0);
    printf("1..3\n%s\n", fails ? "FAIL" : "PASS");
    return fails ? 1 : 0;
  }

  uint64_t trace;
  tw_time_ms end;
  int failures = run_scenario(&o, &trace, &end);
  printf("%s (%d checks failed)\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
