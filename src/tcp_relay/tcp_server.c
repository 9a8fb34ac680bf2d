/* The TCP relay server, sans-I/O. Each client: handshake, confirmation by
 * its first frame, then packets; pairs of clients that asked for each other
 * get linked and their data relayed. spec/tcp_relay.md, "Server". */
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "tcp_relay/tcp_stream.h"
#include "tcp_relay/tcp_wire.h"
#include "toxwire/tcp_relay.h"

#define DEFAULT_PER_ADDR 32
#define DEFAULT_QUEUE_BYTES (256 * 1024)
#define DEFAULT_TOTAL_QUEUE_BYTES (256u * 1024 * 1024)
#define DEFAULT_HANDSHAKE_TIMEOUT_MS 10000
#define DEFAULT_STALL_TIMEOUT_MS 10000
/* Control packets (answers, notifications, pings) may use this much more
 * than the data limit; a client that lets even those pile up is dropped. */
#define CONTROL_EXTRA_BYTES (64 * 1024)
/* Timers due this soon are run together, so thousands of clients do not
 * wake the server thousands of times. */
#define TIMER_SLACK_MS 250

enum { LINK_FREE = 0, LINK_WAITING = 1, LINK_ONLINE = 2 };

typedef struct link {
  tw_key pk;
  uint32_t peer_slot;
  uint8_t peer_index; /* the peer's link index (its conn id - 16) */
  uint8_t state;
} link;

typedef enum { C_HANDSHAKE, C_UNCONFIRMED, C_CONFIRMED } conn_state;

typedef struct conn {
  uint64_t id;
  void *user;
  tw_addr addr;
  conn_state state;
  tw_key pk;
  tw_tcp_stream st;
  link *links;
  uint16_t links_cap;
  uint64_t ping_id; /* outstanding ping, 0: none */
  tw_time_ms created, ping_sent_at, next_ping, last_progress;
  struct conn *addr_next, *pk_next, *dirty_next, *doomed_next;
  bool dirty, want_write_on, in_pk_table;
  int doomed; /* the reason it is to be dropped, 0: not */
} conn;

struct tw_tcp_server {
  tw_tcp_server_config cfg;
  tw_env env;
  conn **slots;
  uint32_t *gens;
  uint32_t nslots, cap;
  uint32_t *free_slots;
  uint32_t nfree;
  conn **addr_tab, **pk_tab;
  size_t tab_mask;
  uint8_t hash_key[TW_HASH_KEY_SIZE];
  conn *dirty_head, *doomed_head;
  tw_time_ms now, deadline;
  uint64_t queued_total;
  tw_tcp_server_stats stats;
};

/* ---- tables ---- */

static size_t hash_bytes(const tw_tcp_server *s, const uint8_t *in, size_t len) {
  uint8_t h[TW_HASH_SIZE];
  tw_keyed_hash(h, s->hash_key, in, len);
  uint64_t v;
  memcpy(&v, h, sizeof v);
  return (size_t)v & s->tab_mask;
}
static size_t addr_bucket(const tw_tcp_server *s, const tw_addr *a) {
  uint8_t k[17];
  k[0] = a->family;
  memcpy(k + 1, a->ip, 16);
  return hash_bytes(s, k, sizeof k);
}
static size_t pk_bucket(const tw_tcp_server *s, const tw_key *pk) {
  return hash_bytes(s, pk->bytes, TW_PUBLIC_KEY_SIZE);
}
static bool same_ip(const tw_addr *a, const tw_addr *b) {
  return a->family == b->family && memcmp(a->ip, b->ip, 16) == 0;
}

static conn *find_by_pk(const tw_tcp_server *s, const tw_key *pk) {
  for (conn *c = s->pk_tab[pk_bucket(s, pk)]; c != NULL; c = c->pk_next)
    if (tw_key_equal(&c->pk, pk)) return c;
  return NULL;
}

static conn *find_by_id(const tw_tcp_server *s, uint64_t id) {
  uint32_t slot = (uint32_t)id;
  if (slot >= s->nslots || s->slots[slot] == NULL || s->slots[slot]->id != id) return NULL;
  return s->slots[slot];
}

static void unlink_chain(conn **head, conn *c, size_t next_off) {
  for (conn **pp = head; *pp != NULL; pp = (conn **)((uint8_t *)*pp + next_off))
    if (*pp == c) {
      *pp = *(conn **)((uint8_t *)c + next_off);
      return;
    }
}

/* ---- deadlines ---- */

static tw_time_ms conn_deadline(const tw_tcp_server *s, const conn *c) {
  tw_time_ms d;
  if (c->state != C_CONFIRMED)
    d = c->created + s->cfg.handshake_timeout_ms;
  else if (c->ping_id != 0)
    d = c->ping_sent_at + s->cfg.ping_timeout_ms;
  else
    d = c->next_ping;
  if (c->st.q_len > 0 && c->last_progress + s->cfg.stall_timeout_ms < d)
    d = c->last_progress + s->cfg.stall_timeout_ms;
  return d;
}
static void note_deadline(tw_tcp_server *s, const conn *c) {
  tw_time_ms d = conn_deadline(s, c);
  if (d < s->deadline) s->deadline = d;
}

/* ---- dropping ---- */

static void doom(tw_tcp_server *s, conn *c, int reason) {
  if (c->doomed) return;
  c->doomed = reason;
  c->doomed_next = s->doomed_head;
  s->doomed_head = c;
}

static int queue_control(tw_tcp_server *s, conn *c, const uint8_t *plain, size_t len);

/* Forgets c; tells its linked peers it went offline. */
static void drop(tw_tcp_server *s, conn *c, int reason, bool notify) {
  if (c->doomed) unlink_chain(&s->doomed_head, c, offsetof(conn, doomed_next));
  c->doomed = reason ? reason : TW_E_IO; /* so sends to it are refused below */
  if (c->dirty) unlink_chain(&s->dirty_head, c, offsetof(conn, dirty_next));
  unlink_chain(&s->addr_tab[addr_bucket(s, &c->addr)], c, offsetof(conn, addr_next));
  if (c->in_pk_table) unlink_chain(&s->pk_tab[pk_bucket(s, &c->pk)], c, offsetof(conn, pk_next));
  for (uint16_t i = 0; i < c->links_cap; i++) {
    if (c->links[i].state != LINK_ONLINE) continue;
    conn *peer = s->slots[c->links[i].peer_slot];
    link *pl = &peer->links[c->links[i].peer_index];
    pl->state = LINK_WAITING;
    s->stats.links_connected--;
    uint8_t pkt[2];
    tw_tcp_write_notification(pkt, TW_TCP_DISCONNECT_NOTIFICATION,
                              (uint8_t)(c->links[i].peer_index + TW_TCP_FIRST_CONN_ID));
    queue_control(s, peer, pkt, sizeof pkt);
  }
  s->queued_total -= c->st.q_len;
  if (c->state == C_CONFIRMED) s->stats.confirmed--;
  else s->stats.pending--;
  s->stats.clients--;
  uint32_t slot = (uint32_t)c->id;
  s->slots[slot] = NULL;
  s->gens[slot]++;
  s->free_slots[s->nfree++] = slot;
  void *user = c->user;
  free(c->links);
  tw_tcp_stream_clear(&c->st);
  free(c);
  if (notify && s->cfg.closed) s->cfg.closed(s->cfg.ctx, user, reason);
}

static void reap(tw_tcp_server *s) {
  while (s->doomed_head != NULL) {
    conn *c = s->doomed_head;
    drop(s, c, c->doomed, true);
  }
}

/* ---- sending ---- */

static int queue_frame(tw_tcp_server *s, conn *c, const uint8_t *plain, size_t len, bool control) {
  if (c->doomed || c->state == C_HANDSHAKE) return TW_E_NOROUTE;
  size_t limit = s->cfg.queue_bytes + (control ? CONTROL_EXTRA_BYTES : 0);
  if (!control && s->queued_total + len + 2 + TW_MAC_SIZE > s->cfg.total_queue_bytes) {
    s->stats.dropped_queue_full++;
    return TW_E_FULL;
  }
  size_t before = c->st.q_len;
  int rc = tw_tcp_stream_seal(&c->st, plain, len, limit);
  if (rc != TW_OK) {
    if (control) { /* it does not read even its answers */
      if (!c->doomed) s->stats.closed_stalled++;
      doom(s, c, rc);
    } else {
      s->stats.dropped_queue_full++;
    }
    return rc;
  }
  s->queued_total += c->st.q_len - before;
  if (before == 0) {
    c->last_progress = s->now;
    note_deadline(s, c);
  }
  if (!c->dirty) {
    c->dirty = true;
    c->dirty_next = s->dirty_head;
    s->dirty_head = c;
  }
  return TW_OK;
}
static int queue_control(tw_tcp_server *s, conn *c, const uint8_t *plain, size_t len) {
  return queue_frame(s, c, plain, len, true);
}

static void write_out(tw_tcp_server *s, conn *c) {
  size_t before = c->st.q_len;
  long w = tw_tcp_stream_write(&c->st, s->cfg.write, s->cfg.ctx, c->user);
  if (w < 0) {
    doom(s, c, TW_E_IO);
    return;
  }
  s->queued_total -= before - c->st.q_len;
  if (w > 0) c->last_progress = s->now;
  bool want = c->st.q_len > 0;
  if (want != c->want_write_on && s->cfg.want_write) {
    c->want_write_on = want;
    s->cfg.want_write(s->cfg.ctx, c->user, want);
  }
}

void tw_tcp_server_flush(tw_tcp_server *s, tw_time_ms now) {
  s->now = now;
  while (s->dirty_head != NULL) {
    conn *c = s->dirty_head;
    s->dirty_head = c->dirty_next;
    c->dirty = false;
    if (!c->want_write_on) write_out(s, c); /* else wait for writability */
  }
  reap(s);
}

int tw_tcp_server_handle_writable(tw_tcp_server *s, uint64_t id, tw_time_ms now) {
  s->now = now;
  conn *c = find_by_id(s, id);
  if (c == NULL) return TW_E_NOTFOUND;
  write_out(s, c);
  int rc = c->doomed;
  reap(s);
  return rc;
}

/* ---- packets from a client ---- */

static link *link_get(conn *c, uint8_t conn_id) {
  if (conn_id < TW_TCP_FIRST_CONN_ID) return NULL;
  unsigned i = conn_id - TW_TCP_FIRST_CONN_ID;
  if (i >= c->links_cap || c->links[i].state == LINK_FREE) return NULL;
  return &c->links[i];
}

/* The lowest free link index, growing the table; -1 when all 240 are used. */
static int link_alloc(conn *c) {
  for (uint16_t i = 0; i < c->links_cap; i++)
    if (c->links[i].state == LINK_FREE) return i;
  if (c->links_cap >= TW_TCP_MAX_LINKS) return -1;
  uint16_t cap = c->links_cap ? (uint16_t)(c->links_cap * 2) : 4;
  if (cap > TW_TCP_MAX_LINKS) cap = TW_TCP_MAX_LINKS;
  link *l = realloc(c->links, cap * sizeof *l);
  if (l == NULL) return -1;
  memset(l + c->links_cap, 0, (cap - c->links_cap) * sizeof *l);
  int i = c->links_cap;
  c->links = l;
  c->links_cap = cap;
  return i;
}

static int handle_route_request(tw_tcp_server *s, conn *c, const tw_tcp_packet *p) {
  uint8_t out[2 + TW_PUBLIC_KEY_SIZE];
  int idx = -1;
  if (!tw_key_equal(&p->pk, &c->pk)) {
    for (uint16_t i = 0; i < c->links_cap && idx < 0; i++)
      if (c->links[i].state != LINK_FREE && tw_key_equal(&c->links[i].pk, &p->pk)) idx = i;
    if (idx < 0 && (idx = link_alloc(c)) >= 0) {
      c->links[idx] = (link){.pk = p->pk, .state = LINK_WAITING};
    }
  }
  uint8_t conn_id = idx < 0 ? 0 : (uint8_t)(idx + TW_TCP_FIRST_CONN_ID);
  queue_control(s, c, out, tw_tcp_write_route_response(out, conn_id, &p->pk));
  if (idx < 0) return tw_key_equal(&p->pk, &c->pk) ? TW_E_SELF : TW_E_FULL;
  if (c->links[idx].state == LINK_ONLINE) return TW_OK;

  /* Link the pair if the other side asked for us too. */
  conn *peer = find_by_pk(s, &p->pk);
  if (peer == NULL || peer->doomed) return TW_OK;
  for (uint16_t j = 0; j < peer->links_cap; j++) {
    link *pl = &peer->links[j];
    if (pl->state != LINK_WAITING || !tw_key_equal(&pl->pk, &c->pk)) continue;
    link *cl = &c->links[idx];
    cl->state = pl->state = LINK_ONLINE;
    cl->peer_slot = (uint32_t)peer->id;
    cl->peer_index = (uint8_t)j;
    pl->peer_slot = (uint32_t)c->id;
    pl->peer_index = (uint8_t)idx;
    s->stats.links_connected++;
    uint8_t n[2];
    queue_control(s, c, n, tw_tcp_write_notification(n, TW_TCP_CONNECT_NOTIFICATION, conn_id));
    queue_control(s, peer, n,
                  tw_tcp_write_notification(n, TW_TCP_CONNECT_NOTIFICATION,
                                            (uint8_t)(j + TW_TCP_FIRST_CONN_ID)));
    break;
  }
  return TW_OK;
}

static int handle_disconnect(tw_tcp_server *s, conn *c, const tw_tcp_packet *p) {
  link *l = link_get(c, p->conn_id);
  if (l == NULL) return TW_E_NOTFOUND;
  if (l->state == LINK_ONLINE) {
    conn *peer = s->slots[l->peer_slot];
    peer->links[l->peer_index].state = LINK_WAITING;
    s->stats.links_connected--;
    uint8_t n[2];
    queue_control(s, peer, n,
                  tw_tcp_write_notification(n, TW_TCP_DISCONNECT_NOTIFICATION,
                                            (uint8_t)(l->peer_index + TW_TCP_FIRST_CONN_ID)));
  }
  memset(l, 0, sizeof *l);
  return TW_OK;
}

static int handle_data(tw_tcp_server *s, conn *c, const tw_tcp_packet *p) {
  link *l = link_get(c, p->conn_id);
  if (l == NULL || l->state != LINK_ONLINE) return TW_E_NOROUTE;
  conn *peer = s->slots[l->peer_slot];
  uint8_t out[TW_TCP_MAX_PACKET];
  size_t n = tw_tcp_write_data(out, (uint8_t)(l->peer_index + TW_TCP_FIRST_CONN_ID), p->data,
                               p->len);
  int rc = queue_frame(s, peer, out, n, false);
  if (rc == TW_OK) {
    s->stats.data_relayed++;
    s->stats.data_bytes_relayed += p->len;
  }
  return rc;
}

static int handle_oob_send(tw_tcp_server *s, conn *c, const tw_tcp_packet *p) {
  conn *peer = find_by_pk(s, &p->pk);
  if (peer == NULL || peer == c) return TW_E_NOROUTE;
  uint8_t out[TW_TCP_MAX_PACKET];
  size_t n = tw_tcp_write_keyed(out, TW_TCP_OOB_RECV, &c->pk, p->data, p->len);
  int rc = queue_frame(s, peer, out, n, false);
  if (rc == TW_OK) s->stats.oob_relayed++;
  return rc;
}

static int handle_packet(tw_tcp_server *s, conn *c, const uint8_t *plain, size_t len) {
  tw_tcp_packet p;
  int rc = tw_tcp_packet_parse(&p, plain, len);
  if (rc != TW_OK) return rc;
  uint8_t out[9];
  switch (p.kind) {
  case TW_TCP_ROUTE_REQUEST:
    return handle_route_request(s, c, &p);
  case TW_TCP_DISCONNECT_NOTIFICATION:
    return handle_disconnect(s, c, &p);
  case TW_TCP_PING:
    s->stats.pings_answered++;
    return queue_control(s, c, out, tw_tcp_write_ping(out, TW_TCP_PONG, p.ping_id));
  case TW_TCP_PONG:
    if (c->ping_id == 0 || p.ping_id != c->ping_id) return TW_E_UNSOLICITED;
    c->ping_id = 0;
    c->next_ping = s->now + s->cfg.ping_interval_ms;
    note_deadline(s, c);
    return TW_OK;
  case TW_TCP_OOB_SEND:
    return handle_oob_send(s, c, &p);
  case TW_TCP_ONION_REQUEST:
    if (s->cfg.onion_request == NULL) return TW_E_DISABLED;
    s->stats.onion_requests++;
    return s->cfg.onion_request(s->cfg.onion_ctx, c->id, p.data, p.len, s->now);
  case TW_TCP_ROUTE_RESPONSE:
  case TW_TCP_CONNECT_NOTIFICATION:
  case TW_TCP_OOB_RECV:
  case TW_TCP_ONION_RESPONSE:
    return TW_E_KIND; /* only a server sends these */
  default:
    return handle_data(s, c, &p);
  }
}

/* ---- handshake ---- */

static int handle_handshake(tw_tcp_server *s, conn *c, const uint8_t *msg) {
  uint8_t shared[TW_SHARED_KEY_SIZE];
  tw_tcp_handshake_client_pk(msg, &c->pk);
  tw_shared_key_compute(shared, &c->pk, s->cfg.keys.sk);
  tw_tcp_hello theirs, ours;
  int rc = tw_tcp_handshake_open(msg, shared, &theirs);
  if (rc != TW_OK) {
    tw_crypto_wipe(shared, sizeof shared);
    s->stats.handshakes_bad++;
    return rc;
  }
  tw_keypair temp;
  tw_keypair_generate(&temp, &s->env);
  ours.temp_pk = temp.pk;
  tw_random_bytes(&s->env, ours.base_nonce, TW_NONCE_SIZE);
  uint8_t nonce[TW_NONCE_SIZE], resp[TW_TCP_HANDSHAKE_RESPONSE_SIZE];
  tw_random_bytes(&s->env, nonce, sizeof nonce);
  tw_tcp_handshake_response_build(resp, shared, nonce, &ours);
  tw_shared_key_compute(c->st.shared, &theirs.temp_pk, temp.sk);
  memcpy(c->st.send_nonce, ours.base_nonce, TW_NONCE_SIZE);
  memcpy(c->st.recv_nonce, theirs.base_nonce, TW_NONCE_SIZE);
  tw_crypto_wipe(&temp, sizeof temp);
  tw_crypto_wipe(shared, sizeof shared);
  rc = tw_tcp_stream_queue_raw(&c->st, resp, sizeof resp);
  if (rc != TW_OK) return rc;
  s->queued_total += sizeof resp;
  c->state = C_UNCONFIRMED;
  c->last_progress = s->now;
  if (!c->dirty) {
    c->dirty = true;
    c->dirty_next = s->dirty_head;
    s->dirty_head = c;
  }
  s->stats.handshakes_ok++;
  return TW_OK;
}

/* The first frame that opens proves the client got our answer. */
static void confirm(tw_tcp_server *s, conn *c) {
  conn *old = find_by_pk(s, &c->pk);
  if (old != NULL) { /* the same key again: the old one timed out on its side */
    s->stats.closed_replaced++;
    drop(s, old, TW_E_REPLAY, true);
  }
  c->state = C_CONFIRMED;
  c->in_pk_table = true;
  size_t b = pk_bucket(s, &c->pk);
  c->pk_next = s->pk_tab[b];
  s->pk_tab[b] = c;
  s->stats.pending--;
  s->stats.confirmed++;
  c->next_ping = s->now + s->cfg.ping_interval_ms;
  note_deadline(s, c); /* the first ping may be due before the handshake deadline */
}

int tw_tcp_server_handle_bytes(tw_tcp_server *s, uint64_t id, const uint8_t *bytes, size_t len,
                               tw_time_ms now) {
  s->now = now;
  conn *c = find_by_id(s, id);
  if (c == NULL) return TW_E_NOTFOUND;
  int rc = TW_OK;
  while (!c->doomed) {
    const uint8_t *msg;
    size_t mlen;
    bool hs = c->state == C_HANDSHAKE;
    int got = tw_tcp_stream_next(&c->st, &bytes, &len, hs ? TW_TCP_HANDSHAKE_SIZE : 0, &msg, &mlen);
    if (got == 0) break;
    if (got < 0) {
      rc = got;
    } else if (hs) {
      rc = handle_handshake(s, c, msg);
    } else {
      uint8_t plain[TW_TCP_MAX_FRAME_CIPHER];
      rc = tw_tcp_stream_open(&c->st, msg, mlen, plain);
      if (rc == TW_OK) {
        if (c->state == C_UNCONFIRMED) confirm(s, c);
        int prc = handle_packet(s, c, plain, mlen - TW_MAC_SIZE);
        if (prc < 0 && prc > TW_E__LAST) s->stats.dropped[-prc]++; /* the packet, not the client */
      }
    }
    if (rc != TW_OK) {
      s->stats.closed_bad++;
      doom(s, c, rc);
    }
  }
  rc = c->doomed;
  reap(s);
  return rc;
}

/* ---- life cycle ---- */

int tw_tcp_server_accept(tw_tcp_server *s, const tw_addr *addr, void *user, tw_time_ms now,
                         uint64_t *id) {
  s->now = now;
  if (s->stats.clients >= s->cfg.max_clients) {
    s->stats.refused_full++;
    return TW_E_FULL;
  }
  size_t b = addr_bucket(s, addr), same = 0;
  for (conn *o = s->addr_tab[b]; o != NULL; o = o->addr_next) same += same_ip(&o->addr, addr);
  if (same >= s->cfg.max_per_addr) {
    s->stats.refused_addr++;
    return TW_E_RATE;
  }
  if (s->nfree == 0) {
    uint32_t cap = s->cap ? s->cap * 2 : 64;
    if (cap > s->cfg.max_clients) cap = (uint32_t)s->cfg.max_clients;
    conn **slots = realloc(s->slots, cap * sizeof *slots);
    if (slots == NULL) return TW_E_NOMEM;
    s->slots = slots;
    uint32_t *gens = realloc(s->gens, cap * sizeof *gens);
    if (gens == NULL) return TW_E_NOMEM;
    s->gens = gens;
    uint32_t *fr = realloc(s->free_slots, cap * sizeof *fr);
    if (fr == NULL) return TW_E_NOMEM;
    s->free_slots = fr;
    for (uint32_t i = cap; i > s->cap; i--) {
      s->slots[i - 1] = NULL;
      s->gens[i - 1] = 1;
      s->free_slots[s->nfree++] = i - 1;
    }
    s->cap = s->nslots = cap;
  }
  conn *c = calloc(1, sizeof *c);
  if (c == NULL) return TW_E_NOMEM;
  uint32_t slot = s->free_slots[--s->nfree];
  c->id = (uint64_t)s->gens[slot] << 32 | slot;
  c->user = user;
  c->addr = *addr;
  c->state = C_HANDSHAKE;
  c->created = c->last_progress = now;
  c->addr_next = s->addr_tab[b];
  s->addr_tab[b] = c;
  s->slots[slot] = c;
  s->stats.clients++;
  s->stats.pending++;
  s->stats.accepted++;
  note_deadline(s, c);
  *id = c->id;
  return TW_OK;
}

void tw_tcp_server_close(tw_tcp_server *s, uint64_t id, tw_time_ms now) {
  s->now = now;
  conn *c = find_by_id(s, id);
  if (c != NULL) drop(s, c, TW_OK, false);
  reap(s);
}

void tw_tcp_server_send_onion_response(void *server, uint64_t link_id, const uint8_t *pkt,
                                       size_t len) {
  tw_tcp_server *s = server;
  conn *c = find_by_id(s, link_id);
  if (c == NULL || c->state != C_CONFIRMED || len == 0) return;
  uint8_t out[TW_TCP_MAX_PACKET];
  size_t n = tw_tcp_write_data(out, TW_TCP_ONION_RESPONSE, pkt, len);
  if (n == 0) return;
  if (queue_frame(s, c, out, n, false) == TW_OK) s->stats.onion_responses++;
}

void tw_tcp_server_on_timer(tw_tcp_server *s, tw_time_ms now) {
  s->now = now;
  tw_time_ms soon = now + TIMER_SLACK_MS;
  s->deadline = TW_NEVER;
  for (uint32_t i = 0; i < s->nslots; i++) {
    conn *c = s->slots[i];
    if (c == NULL || c->doomed) continue;
    if (c->st.q_len > 0 && c->last_progress + s->cfg.stall_timeout_ms <= soon) {
      s->stats.closed_stalled++;
      doom(s, c, TW_E_FULL);
      continue;
    }
    if (c->state != C_CONFIRMED) {
      if (c->created + s->cfg.handshake_timeout_ms <= soon) {
        s->stats.closed_timeout++;
        doom(s, c, TW_E_EXPIRED);
        continue;
      }
    } else if (c->ping_id != 0) {
      if (c->ping_sent_at + s->cfg.ping_timeout_ms <= soon) {
        s->stats.closed_ping++;
        doom(s, c, TW_E_EXPIRED);
        continue;
      }
    } else if (c->next_ping <= soon) {
      do c->ping_id = tw_random_u64(&s->env);
      while (c->ping_id == 0);
      c->ping_sent_at = now;
      uint8_t out[9];
      queue_control(s, c, out, tw_tcp_write_ping(out, TW_TCP_PING, c->ping_id));
    }
    note_deadline(s, c);
  }
  reap(s);
}

tw_time_ms tw_tcp_server_next_deadline(const tw_tcp_server *s) { return s->deadline; }

void tw_tcp_server_get_stats(const tw_tcp_server *s, tw_tcp_server_stats *out) {
  *out = s->stats;
  out->queued_bytes = s->queued_total;
}

const tw_key *tw_tcp_server_public_key(const tw_tcp_server *s) { return &s->cfg.keys.pk; }

tw_tcp_server *tw_tcp_server_new(const tw_tcp_server_config *cfg, const tw_env *env) {
  if (cfg->write == NULL || tw_crypto_init() != TW_OK) return NULL;
  tw_tcp_server *s = calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->cfg = *cfg;
  s->env = *env;
  if (!s->cfg.max_clients) s->cfg.max_clients = TW_TCP_SERVER_DEFAULT_MAX_CLIENTS;
  if (s->cfg.max_clients > UINT32_MAX / 2) s->cfg.max_clients = UINT32_MAX / 2;
  if (!s->cfg.max_per_addr) s->cfg.max_per_addr = DEFAULT_PER_ADDR;
  if (!s->cfg.queue_bytes) s->cfg.queue_bytes = DEFAULT_QUEUE_BYTES;
  if (!s->cfg.total_queue_bytes) s->cfg.total_queue_bytes = DEFAULT_TOTAL_QUEUE_BYTES;
  if (!s->cfg.handshake_timeout_ms) s->cfg.handshake_timeout_ms = DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (!s->cfg.stall_timeout_ms) s->cfg.stall_timeout_ms = DEFAULT_STALL_TIMEOUT_MS;
  if (!s->cfg.ping_interval_ms) s->cfg.ping_interval_ms = TW_TCP_PING_INTERVAL_MS;
  if (!s->cfg.ping_timeout_ms) s->cfg.ping_timeout_ms = TW_TCP_PING_TIMEOUT_MS;
  size_t tab = 64;
  while (tab < s->cfg.max_clients && tab < 65536) tab *= 2;
  s->tab_mask = tab - 1;
  s->addr_tab = calloc(tab, sizeof *s->addr_tab);
  s->pk_tab = calloc(tab, sizeof *s->pk_tab);
  s->deadline = TW_NEVER;
  tw_random_bytes(&s->env, s->hash_key, sizeof s->hash_key);
  if (s->addr_tab == NULL || s->pk_tab == NULL) {
    tw_tcp_server_free(s);
    return NULL;
  }
  return s;
}

void tw_tcp_server_free(tw_tcp_server *s) {
  if (s == NULL) return;
  for (uint32_t i = 0; i < s->nslots; i++) {
    conn *c = s->slots[i];
    if (c == NULL) continue;
    void *user = c->user;
    free(c->links);
    tw_tcp_stream_clear(&c->st);
    free(c);
    if (s->cfg.closed) s->cfg.closed(s->cfg.ctx, user, TW_OK); /* the driver's socket */
  }
  free(s->slots);
  free(s->gens);
  free(s->free_slots);
  free(s->addr_tab);
  free(s->pk_tab);
  tw_crypto_wipe(s, sizeof *s);
  free(s);
}
