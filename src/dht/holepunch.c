/* Hole punching to a searched node behind a NAT (spec "NAT ping packets",
 * "NATs", "Hole punching"; spec/dht.md "Hole punching").
 *
 * Per search: which nodes told us the searched node's address (reports),
 * and how many of our checks of those addresses went unanswered (tries).
 * Once 4 of the search's good nodes (or more than half) vouch for an
 * address and 4 checks failed, a NAT Ping Request goes every 3 s through
 * the nodes that vouch. Its answer proves the node is online and searching for us; each
 * answer keeps punching going for 6 s: a round of Ping Requests every 3 s,
 * to the one address the nodes agree on (a cone NAT), or to guessed ports
 * around those they report (a symmetric NAT). When one is answered the
 * answer goes the usual way (tw_dht_add_to_state) and the search's found
 * logic reports the address. */
#include <string.h>

#include "core/crypto.h"
#include "core/log.h"
#include "dht/dht_internal.h"

/* ---- what counts ---- */

static bool reachable(const tw_dht_search *s, tw_time_ms now) {
  return s->found && now - s->found_at <= TW_DHT_BAD_AFTER_MS;
}

static bool same_ip(const tw_addr *a, const tw_addr *b) {
  if (a->family != b->family) return false;
  return memcmp(a->ip, b->ip, a->family == TW_AF_INET ? 4 : 16) == 0;
}

static const tw_dht_entry *good_in_list(const tw_dht_search *s, const tw_key *pk, tw_time_ms now) {
  for (int i = 0; i < s->list.count; i++)
    if (tw_key_equal(&s->list.e[i].pk, pk))
      return tw_entry_is_good(&s->list.e[i], now, TW_DHT_BAD_AFTER_MS) ? &s->list.e[i] : NULL;
  return NULL;
}

/* The reports that count, newest first: recent, and from a node that is
 * good in the search's list (the closest to the searched key). Their
 * node_addr is refreshed from the list. */
static size_t valid_reports(tw_dht_search *s, tw_time_ms now, tw_hp_report **out) {
  size_t n = 0;
  for (int i = 0; i < s->hp.nrep; i++) {
    tw_hp_report *r = &s->hp.rep[i];
    const tw_dht_entry *e = good_in_list(s, &r->node, now);
    if (e == NULL || now - r->at > TW_DHT_NAT_REPORT_TTL_MS) continue;
    r->node_addr = e->addr;
    size_t pos = n++;
    while (pos > 0 && out[pos - 1]->at < r->at) {
      out[pos] = out[pos - 1];
      pos--;
    }
    out[pos] = r;
  }
  return n;
}

/* NAT pings are wanted while the searched node does not answer us, 4
 * checks of what the nodes say went unanswered, and enough of the search's
 * good nodes say where it is: the spec asks for "more than half of the 8"
 * in one place and "4+ peers" in another; we take either, since nodes
 * behind NATs themselves can fill half a list without knowing anyone. */
static bool wanted(const tw_dht *d, tw_dht_search *s, tw_time_ms now) {
  if (d->cfg.no_hole_punching || reachable(s, now) || s->hp.tries < TW_DHT_NAT_PING_AFTER_TRIES)
    return false;
  size_t good = 0;
  for (int i = 0; i < s->list.count; i++)
    good += tw_entry_is_good(&s->list.e[i], now, TW_DHT_BAD_AFTER_MS);
  tw_hp_report *v[TW_DHT_NAT_REPORTS];
  size_t n = valid_reports(s, now, v);
  return n > 0 && (n >= TW_DHT_NAT_MIN_REPORTS || 2 * n > good);
}

static void stop(tw_holepunch *h) {
  h->pinging = false;
  h->punching = false;
  h->nat_ping_id = 0;
  h->nat_ping_prev = 0;
}

/* ---- sending ---- */

/* A NAT ping (request or response) to the searched node through up to
 * TW_DHT_NAT_PING_VIA of the nodes that know it; returns how many went. */
static size_t send_nat_ping(tw_dht *d, tw_dht_search *s, uint8_t flag, uint64_t id,
                            tw_time_ms now) {
  tw_hp_report *v[TW_DHT_NAT_REPORTS];
  size_t n = valid_reports(s, now, v);
  if (n > TW_DHT_NAT_PING_VIA) n = TW_DHT_NAT_PING_VIA;
  tw_nat_ping_payload p = {.flag = flag, .id = id};
  uint8_t plain[TW_NAT_PING_PLAIN_SIZE];
  tw_nat_ping_payload_encode(plain, &p);
  size_t sent = 0;
  for (size_t i = 0; i < n; i++)
    sent += tw_dht_send_request(d, &s->key, &v[i]->node_addr, plain, sizeof plain, now) == TW_OK;
  if (flag == TW_NAT_PING_REQUEST) d->stats.nat_ping_requests_out += sent;
  return sent;
}

static void punch_ping(tw_dht *d, const tw_dht_search *s, const uint8_t shared[TW_SHARED_KEY_SIZE],
                       uint16_t port) {
  tw_addr to = s->hp.punch_ip;
  to.port = port;
  tw_ping_payload p = {.flag = TW_PING_FLAG_REQUEST, .id = s->hp.punch_id};
  uint8_t plain[TW_PING_PLAIN_SIZE];
  tw_ping_payload_encode(plain, &p);
  tw_dht_send_sealed_with(d, TW_PACKET_PING_REQUEST, shared, &to, plain, sizeof plain);
  d->stats.punch_pings_out++;
}

uint16_t tw_holepunch_guess_port(const uint16_t *ports, size_t count, uint32_t index) {
  if (count == 0) return 0;
  uint32_t step = index / (uint32_t)count;
  int32_t off = step % 2 ? (int32_t)((step + 1) / 2) : -(int32_t)(step / 2);
  int32_t p = (int32_t)ports[index % count] + off;
  return p >= 1 && p <= 65535 ? (uint16_t)p : 0;
}

/* One round: the most common reported IP; its one port if the nodes agree
 * on it, else 48 guesses around its ports, and after 5 rounds 48 more
 * counting up from 1024. */
static void punch_round(tw_dht *d, tw_dht_search *s, tw_time_ms now) {
  tw_holepunch *h = &s->hp;
  tw_hp_report *v[TW_DHT_NAT_REPORTS];
  size_t n = valid_reports(s, now, v);
  if (n == 0) return;
  size_t best = 0, best_count = 0;
  for (size_t i = 0; i < n; i++) {
    size_t c = 0;
    for (size_t j = 0; j < n; j++) c += same_ip(&v[i]->addr, &v[j]->addr);
    if (c > best_count) best = i, best_count = c;
  }
  h->punch_ip = v[best]->addr;
  h->punch_ip.port = 0;
  uint16_t ports[TW_DHT_NAT_REPORTS];
  size_t np = 0;
  for (size_t i = 0; i < n; i++) {
    if (!same_ip(&v[i]->addr, &h->punch_ip)) continue;
    uint16_t p = v[i]->addr.port;
    size_t pos = np;
    bool dup = false;
    for (size_t k = 0; k < np; k++) dup |= ports[k] == p;
    if (dup) continue;
    while (pos > 0 && ports[pos - 1] > p) {
      ports[pos] = ports[pos - 1];
      pos--;
    }
    ports[pos] = p;
    np++;
  }
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_keycache_get(d->keys, &s->key, now, shared);
  if (np == 1) {
    punch_ping(d, s, shared, ports[0]);
  } else {
    uint32_t cycle = (uint32_t)np * (2u * 65535u + 1u);
    for (uint32_t sent = 0, guard = 0; sent < TW_DHT_PUNCH_PINGS_PER_ROUND && guard < 4096;
         guard++) {
      if (h->guess_next >= cycle) h->guess_next = 0;
      uint16_t p = tw_holepunch_guess_port(ports, np, h->guess_next++);
      if (p == 0) continue;
      punch_ping(d, s, shared, p);
      sent++;
    }
    if (h->rounds >= TW_DHT_PUNCH_LOW_PORTS_AFTER_ROUNDS)
      for (int k = 0; k < TW_DHT_PUNCH_PINGS_PER_ROUND; k++) {
        punch_ping(d, s, shared, (uint16_t)(TW_DHT_PUNCH_LOW_PORT_FIRST + h->low_next));
        h->low_next = (h->low_next + 1) % (65536u - TW_DHT_PUNCH_LOW_PORT_FIRST);
      }
  }
  tw_crypto_wipe(shared, sizeof shared);
  h->rounds++;
  d->stats.punch_rounds++;
}

/* ---- what the other files tell us ---- */

static void poke(tw_dht *d, tw_dht_search *s, tw_time_ms now) {
  if (!s->hp.pinging && wanted(d, s, now)) tw_dht_note_deadline(d, now);
}

/* Every report giving addr is marked as checked. */
static void mark_tried(tw_dht_search *s, const tw_addr *addr) {
  for (int i = 0; i < s->hp.nrep; i++)
    if (tw_addr_equal(&s->hp.rep[i].addr, addr)) s->hp.rep[i].tried = true;
}

/* Once a check of what the nodes say went unanswered, every other address
 * they give is checked too (once), with a Ping Request: the spec's "a ping
 * request to each of the returned IP/ports". Each counts as a try. */
static void try_reported(tw_dht *d, tw_dht_search *s, tw_time_ms now) {
  if (d->cfg.no_hole_punching || s->hp.tries == 0 || reachable(s, now)) return;
  tw_hp_report *v[TW_DHT_NAT_REPORTS];
  size_t n = valid_reports(s, now, v);
  for (size_t i = 0; i < n; i++) {
    if (v[i]->tried) continue;
    tw_addr to = v[i]->addr;
    tw_dht_send_ping_request(d, &s->key, &to, now);
    mark_tried(s, &to);
    if (s->hp.tries < UINT8_MAX) s->hp.tries++;
  }
}

static void record(tw_dht_search *s, const tw_key *node, const tw_addr *node_addr,
                   const tw_addr *addr, tw_time_ms now) {
  tw_holepunch *h = &s->hp;
  tw_hp_report *r = NULL;
  for (int i = 0; i < h->nrep && r == NULL; i++)
    if (tw_key_equal(&h->rep[i].node, node)) r = &h->rep[i];
  if (r == NULL && h->nrep < TW_DHT_NAT_REPORTS) r = &h->rep[h->nrep++];
  if (r == NULL) {
    /* Full: give up a report from a node no longer in the list, else the
     * oldest. */
    for (int i = 0; i < h->nrep; i++) {
      bool listed = false;
      for (int j = 0; j < s->list.count; j++)
        listed |= tw_key_equal(&s->list.e[j].pk, &h->rep[i].node);
      if (!listed) {
        r = &h->rep[i];
        break;
      }
      if (r == NULL || h->rep[i].at < r->at) r = &h->rep[i];
    }
  }
  bool tried = false;
  for (int i = 0; i < h->nrep; i++)
    tried |= &h->rep[i] != r && h->rep[i].tried && tw_addr_equal(&h->rep[i].addr, addr);
  if (!tw_addr_equal(&r->addr, addr)) r->tried = tried;
  r->node = *node;
  r->node_addr = *node_addr;
  r->addr = *addr;
  r->at = now;
}

void tw_holepunch_note_nodes_response(tw_dht *d, const tw_key *node, const tw_addr *node_addr,
                                      const tw_nodes_response_payload *resp, tw_time_ms now) {
  for (int i = 0; i < resp->count; i++) {
    const tw_node_info *n = &resp->nodes[i];
    if (n->tcp) continue;
    tw_addr addr = tw_addr_unmap(&n->addr);
    if (!tw_addr_is_set(&addr)) continue;
    tw_dht_search *s = tw_dht_find_search(d, &n->pk);
    if (s == NULL) continue;
    record(s, node, node_addr, &addr, now);
    try_reported(d, s, now);
    poke(d, s, now);
  }
}

void tw_holepunch_note_check(tw_dht *d, tw_dht_search *s, const tw_addr *to, tw_time_ms now) {
  if (reachable(s, now)) return;
  mark_tried(s, to);
  if (s->hp.tries < UINT8_MAX) s->hp.tries++;
  try_reported(d, s, now);
  poke(d, s, now);
}

void tw_holepunch_note_found(tw_dht_search *s) {
  s->hp.tries = 0;
  for (int i = 0; i < s->hp.nrep; i++) s->hp.rep[i].tried = false;
  s->hp.punch_id = 0;
  stop(&s->hp);
}

/* ---- packets ---- */

int tw_holepunch_handle_nat_ping(tw_dht *d, const tw_key *sender, const uint8_t *plain, size_t len,
                                 tw_time_ms now) {
  tw_nat_ping_payload p;
  int e = tw_nat_ping_payload_decode(&p, plain, len);
  if (e != TW_OK) return e;
  if (d->cfg.no_hole_punching) return TW_E_DISABLED;
  tw_dht_search *s = tw_dht_find_search(d, sender);
  if (p.flag == TW_NAT_PING_REQUEST) {
    d->stats.nat_ping_requests_in++;
    /* Only from a node we search for (a friend), answered through the
     * nodes that know it; none known: dropped. */
    if (s == NULL) return TW_E_NOTFOUND;
    /* It comes through several nodes: one answer (through several) will do. */
    if (s->hp.answered && p.id == s->hp.answered_id) return TW_E_REPLAY;
    if (send_nat_ping(d, s, TW_NAT_PING_RESPONSE, p.id, now) == 0) return TW_E_NOROUTE;
    s->hp.answered = true;
    s->hp.answered_id = p.id;
    d->stats.nat_ping_requests_answered++;
    return TW_OK;
  }
  tw_holepunch *h = s != NULL ? &s->hp : NULL;
  if (h == NULL || !h->pinging || p.id == 0 || (p.id != h->nat_ping_id && p.id != h->nat_ping_prev))
    return TW_E_UNSOLICITED;
  d->stats.nat_ping_responses_in++;
  h->nat_pong_at = now;
  if (!h->punching) {
    h->punching = true;
    h->rounds = 0;
    h->guess_next = 0;
    h->low_next = 0;
    h->punch_id = tw_random_u64(&d->env) | 1; /* never 0 */
    h->punch_next = now;
    tw_dht_note_deadline(d, now);
    tw_log(&d->env.log, TW_LOG_DEBUG, tw_dht_log_module, "NAT ping answered: punching starts");
  }
  return TW_OK;
}

int tw_holepunch_take_ping_response(tw_dht *d, const tw_key *sender, const tw_addr *from,
                                    uint64_t id) {
  tw_dht_search *s = tw_dht_find_search(d, sender);
  if (s == NULL || s->hp.punch_id == 0 || id != s->hp.punch_id || !same_ip(from, &s->hp.punch_ip))
    return TW_E_UNSOLICITED;
  d->stats.punch_successes++;
  if (tw_log_wants(&d->env.log, TW_LOG_DEBUG)) {
    char a[TW_ADDR_STRLEN];
    tw_log(&d->env.log, TW_LOG_DEBUG, tw_dht_log_module,
           "punching reached the searched node at %s after %u rounds", tw_addr_format(from, a),
           (unsigned)s->hp.rounds);
  }
  return TW_OK;
}

/* ---- timer ---- */

tw_time_ms tw_holepunch_service(tw_dht *d, tw_dht_search *s, tw_time_ms now) {
  tw_holepunch *h = &s->hp;
  if (!wanted(d, s, now)) {
    stop(h);
    return TW_NEVER;
  }
  tw_time_ms horizon = now + TW_DHT_TIMER_SLACK_MS;
  if (!h->pinging) {
    h->pinging = true;
    h->nat_ping_next = now;
  }
  if (h->nat_ping_next <= horizon) {
    /* A new number each time: the node answers each number once. */
    h->nat_ping_prev = h->nat_ping_id;
    h->nat_ping_id = tw_random_u64(&d->env) | 1;
    send_nat_ping(d, s, TW_NAT_PING_REQUEST, h->nat_ping_id, now);
    h->nat_ping_next = now + TW_DHT_NAT_PING_INTERVAL_MS;
  }
  tw_time_ms next = h->nat_ping_next;
  if (h->punching && now - h->nat_pong_at > TW_DHT_PUNCH_TIMEOUT_MS) {
    h->punching = false;
    tw_log(&d->env.log, TW_LOG_DEBUG, tw_dht_log_module,
           "no NAT ping answer for 6 s: punching stops");
  }
  if (h->punching) {
    if (h->punch_next <= horizon) {
      punch_round(d, s, now);
      h->punch_next = now + TW_DHT_PUNCH_INTERVAL_MS;
    }
    if (h->punch_next < next) next = h->punch_next;
  }
  return next;
}
