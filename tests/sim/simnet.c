#include "simnet.h"

#include <stdlib.h>
#include <string.h>

/* ---- seeded randomness: xoshiro256** seeded through splitmix64 ---- */

typedef struct rng {
  uint64_t s[4];
} rng;

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r) {
  uint64_t *s = r->s;
  uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

static double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* ---- events ---- */

enum { EV_PACKET, EV_TIMER };

typedef struct event {
  tw_time_ms at;
  uint64_t seq; /* ties broken by order of scheduling: deterministic */
  int to;
  int from;
  int kind;
  uint32_t version;
  uint8_t *data;
  size_t len;
  tw_addr src;    /* the source the receiver sees (a NAT's public address) */
  uint16_t dport; /* the port it was sent to (what a NAT filters on) */
} event;

/* A NAT's record of one destination: the public port its datagrams left
 * from (the cone's one port, or the symmetric NAT's port for it). */
typedef struct nat_map {
  tw_addr dest;
  uint16_t port;
} nat_map;

typedef struct endpoint {
  tw_addr addr;
  tw_io_handler h;
  bool has_handler, down;
  bool udp_blocked;
  rng *rand; /* separate, so its address survives the array growing */
  uint32_t timer_version;
  tw_time_ms armed;
  bool sent_any;
  tw_simnet_nat_type nat;
  tw_addr pub;        /* behind a NAT: 12.x.y.z, the cone's port */
  uint16_t next_port; /* symmetric: the next port handed out */
  nat_map *map;
  size_t nmap, cap_map;
} endpoint;

struct tw_simnet {
  tw_simnet_config cfg;
  rng rand;
  endpoint *ep;
  size_t nep, cap_ep;
  event *heap;
  size_t nheap, cap_heap;
  uint64_t seq;
  tw_time_ms now;
  uint64_t trace;
  tw_simnet_stats stats;
};

static bool before(const event *a, const event *b) {
  return a->at != b->at ? a->at < b->at : a->seq < b->seq;
}

static void heap_push(tw_simnet *n, event e) {
  if (n->nheap == n->cap_heap) {
    n->cap_heap = n->cap_heap ? n->cap_heap * 2 : 1024;
    n->heap = realloc(n->heap, n->cap_heap * sizeof *n->heap);
    if (n->heap == NULL) abort();
  }
  e.seq = n->seq++;
  size_t i = n->nheap++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!before(&e, &n->heap[p])) break;
    n->heap[i] = n->heap[p];
    i = p;
  }
  n->heap[i] = e;
}

static event heap_pop(tw_simnet *n) {
  event top = n->heap[0];
  event last = n->heap[--n->nheap];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n->nheap) break;
    if (c + 1 < n->nheap && before(&n->heap[c + 1], &n->heap[c])) c++;
    if (!before(&n->heap[c], &last)) break;
    n->heap[i] = n->heap[c];
    i = c;
  }
  if (n->nheap > 0) n->heap[i] = last;
  return top;
}

static void trace_mix(tw_simnet *n, uint64_t v) {
  n->trace = (n->trace ^ v) * 0x100000001b3ull;
}

/* ---- addresses: endpoint i is 11.x.y.z:33445 with xyz = i + 1; behind a
 * NAT it is seen as 12.x.y.z:<the NAT's port> ---- */

static int endpoint_of(const tw_simnet *n, const tw_addr *a) {
  if (a->family != TW_AF_INET || (a->ip[0] != 11 && a->ip[0] != 12)) return -1;
  if (a->ip[0] == 11 && a->port != 33445) return -1;
  size_t i = ((size_t)a->ip[1] << 16 | (size_t)a->ip[2] << 8 | a->ip[3]) - 1;
  if (i >= n->nep) return -1;
  /* Behind a NAT only the public address leads to it; without one only
   * its own. */
  if ((n->ep[i].nat != TW_SIMNET_NAT_NONE) != (a->ip[0] == 12)) return -1;
  return (int)i;
}

/* ---- NATs ---- */

static nat_map *nat_find(endpoint *e, const tw_addr *dest) {
  for (size_t i = 0; i < e->nmap; i++)
    if (tw_addr_equal(&e->map[i].dest, dest)) return &e->map[i];
  return NULL;
}

/* The public source of a datagram from e to dest, recording the mapping
 * (and with it the permission to answer). */
static tw_addr nat_out(endpoint *e, const tw_addr *dest) {
  if (e->nat == TW_SIMNET_NAT_NONE) return e->addr;
  tw_addr src = e->pub;
  nat_map *m = nat_find(e, dest);
  if (m == NULL) {
    if (e->nmap == e->cap_map) {
      e->cap_map = e->cap_map ? e->cap_map * 2 : 64;
      e->map = realloc(e->map, e->cap_map * sizeof *e->map);
      if (e->map == NULL) abort();
    }
    m = &e->map[e->nmap++];
    m->dest = *dest;
    m->port = e->nat == TW_SIMNET_NAT_SYMMETRIC ? e->next_port++ : e->pub.port;
    if (e->next_port == 0) e->next_port = 1024; /* wrapped */
  }
  src.port = m->port;
  return src;
}

/* Whether e's NAT lets in a datagram from src sent to its port dport. */
static bool nat_allows(endpoint *e, const tw_addr *src, uint16_t dport) {
  if (e->nat == TW_SIMNET_NAT_NONE) return true;
  if (e->nat == TW_SIMNET_NAT_RESTRICTED_CONE && dport != e->pub.port) return false;
  nat_map *m = nat_find(e, src);
  return m != NULL && m->port == dport;
}

int tw_simnet_set_nat(tw_simnet *n, int i, tw_simnet_nat_type type, uint16_t first_port) {
  endpoint *e = &n->ep[i];
  if (e->sent_any || (type != TW_SIMNET_NAT_NONE && first_port == 0)) return -1;
  e->nat = type;
  e->pub = e->addr;
  e->pub.ip[0] = 12;
  e->pub.port = first_port;
  e->next_port = first_port;
  e->nmap = 0;
  return 0;
}

bool tw_simnet_public_addr(const tw_simnet *n, int i, const tw_addr *to, tw_addr *out) {
  endpoint *e = &n->ep[i];
  if (e->nat == TW_SIMNET_NAT_NONE) {
    *out = e->addr;
    return true;
  }
  *out = e->pub;
  if (e->nat == TW_SIMNET_NAT_RESTRICTED_CONE) return true;
  nat_map *m = nat_find(e, to);
  if (m == NULL) return false;
  out->port = m->port;
  return true;
}

uint32_t tw_simnet_nat_ports_used(const tw_simnet *n, int i) {
  const endpoint *e = &n->ep[i];
  if (e->nat == TW_SIMNET_NAT_SYMMETRIC) return (uint32_t)e->nmap;
  return e->nat == TW_SIMNET_NAT_RESTRICTED_CONE ? 1 : 0;
}

tw_simnet *tw_simnet_new(const tw_simnet_config *cfg) {
  tw_simnet *n = calloc(1, sizeof *n);
  if (n == NULL) return NULL;
  n->cfg = *cfg;
  if (n->cfg.delay_max_ms < n->cfg.delay_min_ms) n->cfg.delay_max_ms = n->cfg.delay_min_ms;
  rng_seed(&n->rand, cfg->seed);
  n->trace = 0xcbf29ce484222325ull;
  return n;
}

void tw_simnet_free(tw_simnet *n) {
  if (n == NULL) return;
  for (size_t i = 0; i < n->nheap; i++) free(n->heap[i].data);
  free(n->heap);
  for (size_t i = 0; i < n->nep; i++) {
    free(n->ep[i].rand);
    free(n->ep[i].map);
  }
  free(n->ep);
  free(n);
}

int tw_simnet_add_endpoint(tw_simnet *n, tw_addr *addr) {
  if (n->nep >= 0xfffffe) return -1;
  if (n->nep == n->cap_ep) {
    n->cap_ep = n->cap_ep ? n->cap_ep * 2 : 64;
    n->ep = realloc(n->ep, n->cap_ep * sizeof *n->ep);
    if (n->ep == NULL) abort();
  }
  size_t i = n->nep++;
  endpoint *e = &n->ep[i];
  memset(e, 0, sizeof *e);
  size_t v = i + 1;
  e->addr.family = TW_AF_INET;
  e->addr.ip[0] = 11;
  e->addr.ip[1] = (uint8_t)(v >> 16);
  e->addr.ip[2] = (uint8_t)(v >> 8);
  e->addr.ip[3] = (uint8_t)v;
  e->addr.port = 33445;
  e->armed = TW_NEVER;
  e->rand = malloc(sizeof *e->rand);
  if (e->rand == NULL) abort();
  rng_seed(e->rand, n->cfg.seed * 0x9e3779b97f4a7c15ull + v);
  *addr = e->addr;
  return (int)i;
}

void tw_simnet_rearm(tw_simnet *n, int i) {
  endpoint *e = &n->ep[i];
  if (!e->has_handler || e->down) return;
  tw_time_ms d = e->h.next_deadline(e->h.ctx);
  if (d == e->armed) return;
  e->armed = d;
  e->timer_version++;
  if (d == TW_NEVER) return;
  heap_push(n, (event){.at = d > n->now ? d : n->now, .to = i, .kind = EV_TIMER,
                       .version = e->timer_version});
}

void tw_simnet_set_handler(tw_simnet *n, int i, const tw_io_handler *h) {
  n->ep[i].h = *h;
  n->ep[i].has_handler = true;
  n->ep[i].armed = TW_NEVER;
  tw_simnet_rearm(n, i);
}

void tw_simnet_set_down(tw_simnet *n, int i, bool down) {
  n->ep[i].down = down;
  n->ep[i].armed = TW_NEVER;
  n->ep[i].timer_version++;
  if (!down) tw_simnet_rearm(n, i);
}

void tw_simnet_set_udp_blocked(tw_simnet *n, int i, bool blocked) {
  n->ep[i].udp_blocked = blocked;
}

bool tw_simnet_udp_blocked(const tw_simnet *n, int i) { return n->ep[i].udp_blocked; }

static void schedule_copy(tw_simnet *n, int from, int to, const tw_addr *src, uint16_t dport,
                          const uint8_t *pkt, size_t len) {
  uint32_t span = n->cfg.delay_max_ms - n->cfg.delay_min_ms;
  tw_time_ms delay = n->cfg.delay_min_ms + (span ? rng_next(&n->rand) % (span + 1) : 0);
  uint8_t *copy = malloc(len ? len : 1);
  if (copy == NULL) abort();
  memcpy(copy, pkt, len);
  heap_push(n, (event){.at = n->now + delay, .to = to, .from = from, .kind = EV_PACKET,
                       .data = copy, .len = len, .src = *src, .dport = dport});
}

void tw_simnet_send(tw_simnet *n, int from, const tw_addr *to, const uint8_t *pkt, size_t len) {
  n->stats.sent++;
  if (to == NULL || n->ep[from].down) {
    n->stats.undeliverable++;
    return;
  }
  if (n->ep[from].udp_blocked) {
    n->stats.blocked++;
    return;
  }
  n->ep[from].sent_any = true;
  tw_addr src = nat_out(&n->ep[from], to);
  int dst = endpoint_of(n, to);
  if (dst < 0) {
    n->stats.undeliverable++;
    return;
  }
  if (n->ep[dst].udp_blocked) {
    n->stats.blocked++;
    return;
  }
  if (rng_unit(&n->rand) < n->cfg.loss) {
    n->stats.lost++;
    return;
  }
  schedule_copy(n, from, dst, &src, to->port, pkt, len);
  if (n->cfg.duplicate > 0 && rng_unit(&n->rand) < n->cfg.duplicate) {
    n->stats.duplicated++;
    schedule_copy(n, from, dst, &src, to->port, pkt, len);
  }
}

void tw_simnet_send_cb(void *sender, const tw_addr *to, const uint8_t *pkt, size_t len) {
  tw_simnet_sender *s = sender;
  tw_simnet_send(s->net, s->endpoint, to, pkt, len);
}

void tw_simnet_run_until(tw_simnet *n, tw_time_ms t) {
  while (n->nheap > 0 && n->heap[0].at <= t) {
    event ev = heap_pop(n);
    n->now = ev.at;
    endpoint *e = &n->ep[ev.to];
    if (ev.kind == EV_TIMER) {
      if (ev.version != e->timer_version || e->down || !e->has_handler) continue;
      e->armed = TW_NEVER;
      n->stats.timer_runs++;
      trace_mix(n, ev.at);
      trace_mix(n, (uint64_t)ev.to << 1);
      e->h.on_timer(e->h.ctx, n->now);
    } else {
      if (e->down || !e->has_handler) {
        n->stats.undeliverable++;
        free(ev.data);
        continue;
      }
      if (e->udp_blocked) {
        n->stats.blocked++;
        free(ev.data);
        continue;
      }
      if (!nat_allows(e, &ev.src, ev.dport)) {
        n->stats.nat_filtered++;
        free(ev.data);
        continue;
      }
      n->stats.delivered++;
      trace_mix(n, ev.at);
      trace_mix(n, (uint64_t)ev.to << 1 | 1);
      trace_mix(n, ev.len);
      for (size_t i = 0; i < ev.len; i += 8) {
        uint64_t w = 0;
        memcpy(&w, ev.data + i, ev.len - i < 8 ? ev.len - i : 8);
        trace_mix(n, w);
      }
      e->h.handle_packet(e->h.ctx, &ev.src, ev.data, ev.len, n->now);
      free(ev.data);
    }
    tw_simnet_rearm(n, ev.to);
  }
  if (t > n->now) n->now = t;
}

tw_time_ms tw_simnet_now(const tw_simnet *n) { return n->now; }

void tw_simnet_random(void *ctx, uint8_t *out, size_t len) {
  rng *r = ctx;
  while (len > 0) {
    uint64_t v = rng_next(r);
    size_t k = len < 8 ? len : 8;
    memcpy(out, &v, k);
    out += k;
    len -= k;
  }
}

void *tw_simnet_random_ctx(tw_simnet *n, int i) { return n->ep[i].rand; }

uint64_t tw_simnet_trace_hash(const tw_simnet *n) { return n->trace; }
tw_simnet_stats tw_simnet_get_stats(const tw_simnet *n) { return n->stats; }
