/* tw_node: routes each packet kind to the layer that owns it and merges
 * the layers' deadlines. */
#include <stdlib.h>

#include "toxwire/node.h"

struct tw_node {
  tw_dht *dht;
  tw_onion *onion;
  tw_nc *nc;       /* with cfg.friends */
  tw_fconn *fconn; /* with cfg.friends */
  tw_msgr *msgr;   /* with cfg.friends */
  tw_tcp_conns *tcp; /* with cfg.tcp_client */
  tw_dht_send_fn *udp_send;
  void *udp_ctx;
  tw_time_ms now; /* of the call in progress: for callbacks that carry none */
  tw_onion_event_fn *on_onion_event;
  void *event_ctx;
  tw_fconn_event_fn *on_fconn_event;
  void *fconn_ctx;
};

/* ---- the messenger's transport: friend connections and the onion ---- */

static int t_friend_add(void *ctx, const tw_key *pk, uint32_t *conn, tw_time_ms now) {
  ((tw_node *)ctx)->now = now;
  return tw_fconn_add(((tw_node *)ctx)->fconn, pk, conn, now);
}
static int t_friend_remove(void *ctx, uint32_t conn, tw_time_ms now) {
  return tw_fconn_remove(((tw_node *)ctx)->fconn, conn, now);
}
static int t_send_lossless(void *ctx, uint32_t conn, const uint8_t *d, size_t len, uint32_t *num,
                           tw_time_ms now) {
  ((tw_node *)ctx)->now = now;
  return tw_fconn_send_lossless(((tw_node *)ctx)->fconn, conn, d, len, num, now);
}
static int t_send_lossy(void *ctx, uint32_t conn, const uint8_t *d, size_t len, tw_time_ms now) {
  ((tw_node *)ctx)->now = now;
  return tw_fconn_send_lossy(((tw_node *)ctx)->fconn, conn, d, len, now);
}
static bool t_delivered(void *ctx, uint32_t conn, uint32_t num) {
  return tw_fconn_delivered(((tw_node *)ctx)->fconn, conn, num);
}
static uint32_t t_send_space(void *ctx, uint32_t conn) {
  return tw_fconn_send_space(((tw_node *)ctx)->fconn, conn);
}
static int t_send_onion_data(void *ctx, const tw_key *to, const uint8_t *d, size_t len,
                             tw_time_ms now) {
  ((tw_node *)ctx)->now = now;
  return tw_onion_send_data(((tw_node *)ctx)->onion, to, d, len, now);
}

static void on_fconn_event(void *ctx, const tw_fconn_event *ev) {
  tw_node *n = ctx;
  if (n->on_fconn_event != NULL) n->on_fconn_event(n->fconn_ctx, ev);
  if (n->msgr == NULL) return;
  switch (ev->kind) {
  case TW_FCONN_EV_STATE:
    if (ev->state == TW_FCONN_ESTABLISHED)
      tw_msgr_handle_connection(n->msgr, ev->friend_id, true, ev->time);
    else if (ev->old_state == TW_FCONN_ESTABLISHED)
      tw_msgr_handle_connection(n->msgr, ev->friend_id, false, ev->time);
    break;
  case TW_FCONN_EV_LOSSLESS:
    tw_msgr_handle_lossless(n->msgr, ev->friend_id, ev->data, ev->len, ev->time);
    break;
  case TW_FCONN_EV_LOSSY:
    tw_msgr_handle_lossy(n->msgr, ev->friend_id, ev->data, ev->len, ev->time);
    break;
  case TW_FCONN_EV_ACKED: tw_msgr_handle_acked(n->msgr, ev->friend_id, ev->time); break;
  }
}

static void on_onion_event(void *ctx, const tw_onion_event *ev) {
  tw_node *n = ctx;
  if (n->fconn != NULL) tw_fconn_handle_onion_event(n->fconn, ev);
  if (n->msgr != NULL && ev->kind == TW_ONION_EV_DATA)
    tw_msgr_handle_onion_data(n->msgr, &ev->peer, ev->data, ev->data_len, ev->time);
  if (n->on_onion_event != NULL) n->on_onion_event(n->event_ctx, ev);
}

static void on_nc_event(void *ctx, const tw_nc_event *ev) {
  tw_node *n = ctx;
  if (n->fconn != NULL) tw_fconn_handle_nc_event(n->fconn, ev);
}

static void on_search_found(void *ctx, const tw_key *key, const tw_addr *addr, tw_time_ms now) {
  tw_node *n = ctx;
  if (n->fconn != NULL) tw_fconn_handle_search_found(n->fconn, key, addr, now);
}

static void on_dht_request(void *ctx, const tw_key *sender, const tw_addr *from,
                           const uint8_t *plain, size_t len, tw_time_ms now) {
  tw_node *n = ctx;
  if (n->onion != NULL) tw_onion_handle_dht_request(n->onion, sender, from, plain, len, now);
}

/* ---- TCP relays ---- */

/* net_crypto's packets: to a relay-reached peer through the relays, the
 * rest by UDP. */
static void nc_send(void *ctx, const tw_addr *to, const uint8_t *pkt, size_t len) {
  tw_node *n = ctx;
  if (tw_addr_is_tcp_peer(to)) {
    if (n->tcp != NULL) tw_tcp_conns_send(n->tcp, to, pkt, len, n->now);
    return;
  }
  n->udp_send(n->udp_ctx, to, pkt, len);
}

static void tcp_packet(void *ctx, const tw_addr *from, const uint8_t *pkt, size_t len,
                       tw_time_ms now) {
  tw_node *n = ctx;
  n->now = now;
  /* Relays carry net_crypto between peers; nothing else is taken. */
  if (n->nc != NULL && len > 0 && tw_nc_handles_kind(pkt[0]))
    tw_nc_handle_packet(n->nc, from, pkt, len, now);
}

static void tcp_onion(void *ctx, const tw_addr *relay, const uint8_t *pkt, size_t len,
                      tw_time_ms now) {
  tw_node *n = ctx;
  n->now = now;
  if (n->onion != NULL && len > 0 && tw_onion_handles_kind(pkt[0]))
    tw_onion_handle_packet(n->onion, relay, pkt, len, now);
}

static size_t onion_tcp_relays(void *ctx, tw_node_info *out, size_t max) {
  tw_node *n = ctx;
  return n->tcp != NULL ? tw_tcp_conns_connected(n->tcp, out, max) : 0;
}

static int onion_tcp_send(void *ctx, const tw_key *relay, const uint8_t *data, size_t len) {
  tw_node *n = ctx;
  if (n->tcp == NULL) return TW_E_NOROUTE;
  return tw_tcp_conns_send_onion(n->tcp, relay, data, len, n->now);
}

tw_node *tw_node_new(const tw_node_config *cfg, const tw_env *env, tw_time_ms now) {
  tw_node *n = calloc(1, sizeof *n);
  if (n == NULL) return NULL;
  tw_dht_config dc = cfg->dht;
  dc.on_dht_request = on_dht_request;
  dc.request_ctx = n;
  dc.on_search_found = on_search_found;
  dc.search_ctx = n;
  n->on_onion_event = cfg->on_onion_event;
  n->event_ctx = cfg->event_ctx;
  n->on_fconn_event = cfg->on_fconn_event;
  n->fconn_ctx = cfg->fconn_ctx;
  bool friends = cfg->friends && cfg->onion_client;
  n->udp_send = cfg->dht.send;
  n->udp_ctx = cfg->dht.send_ctx;
  n->now = now;
  n->dht = tw_dht_new(&dc, env, now);
  if (n->dht == NULL) goto fail;
  if (cfg->tcp_client && cfg->onion_client) {
    tw_tcp_conns_config tc = cfg->tcp;
    tc.dht_keys = cfg->dht.keys;
    tc.on_packet = tcp_packet;
    tc.on_onion = tcp_onion;
    tc.ctx = n;
    n->tcp = tw_tcp_conns_new(&tc, env, now);
    if (n->tcp == NULL) goto fail;
  }
  if (cfg->onion_relay || cfg->announce_store || cfg->onion_client) {
    tw_onion_config oc = {
        .dht = n->dht,
        .dht_keys = cfg->dht.keys,
        .send = cfg->dht.send,
        .send_ctx = cfg->dht.send_ctx,
        .tcp_send = cfg->onion_tcp_send,
        .tcp_ctx = cfg->onion_tcp_ctx,
        .relay = cfg->onion_relay,
        .announce_store = cfg->announce_store,
        .announce_entries = cfg->announce_entries,
        .client = cfg->onion_client,
        .self_keys = cfg->self_keys,
        .on_event = on_onion_event,
        .event_ctx = n,
    };
    if (n->tcp != NULL) {
      oc.tcp_relays = onion_tcp_relays;
      oc.tcp_onion_send = onion_tcp_send;
      oc.tcp_client_ctx = n;
    }
    n->onion = tw_onion_new(&oc, env, now);
    if (n->onion == NULL) goto fail;
  }
  if (friends) {
    tw_nc_config nc = {
        .self_keys = cfg->self_keys,
        .dht_keys = cfg->dht.keys,
        .send = nc_send,
        .send_ctx = n,
        .on_event = on_nc_event,
        .event_ctx = n,
    };
    n->nc = tw_nc_new(&nc, env, now);
    if (n->nc == NULL) goto fail;
    tw_fconn_config fcc = {.dht = n->dht, .onion = n->onion, .nc = n->nc, .tcp = n->tcp,
                           .on_event = on_fconn_event, .event_ctx = n};
    n->fconn = tw_fconn_new(&fcc, env, now);
    if (n->fconn == NULL) goto fail;
    tw_msgr_config mc = cfg->msgr;
    mc.self_pk = cfg->self_keys.pk;
    mc.transport = (tw_msgr_transport){n, t_friend_add, t_friend_remove, t_send_lossless,
                                       t_send_lossy, t_delivered, t_send_space,
                                       t_send_onion_data};
    n->msgr = tw_msgr_new(&mc, env);
    if (n->msgr == NULL) goto fail;
  }
  return n;
fail:
  tw_node_free(n);
  return NULL;
}

void tw_node_free(tw_node *n) {
  if (n == NULL) return;
  tw_msgr_free(n->msgr);
  tw_fconn_free(n->fconn);
  tw_nc_free(n->nc);
  tw_onion_free(n->onion);
  tw_tcp_conns_free(n->tcp);
  tw_dht_free(n->dht);
  free(n);
}

tw_dht *tw_node_dht(tw_node *n) { return n->dht; }
tw_onion *tw_node_onion(tw_node *n) { return n->onion; }
tw_nc *tw_node_nc(tw_node *n) { return n->nc; }
tw_fconn *tw_node_fconn(tw_node *n) { return n->fconn; }
tw_msgr *tw_node_msgr(tw_node *n) { return n->msgr; }
tw_tcp_conns *tw_node_tcp(tw_node *n) { return n->tcp; }

void tw_node_kill_sessions(tw_node *n, tw_time_ms now) {
  if (n->nc == NULL) return;
  for (uint32_t id = 0; id < TW_NC_MAX_CONNECTIONS; id++)
    if (tw_nc_conn_state(n->nc, id) != TW_NC_IDLE) tw_nc_conn_kill(n->nc, id, now);
}

int tw_node_handle_packet(tw_node *n, const tw_addr *from, const uint8_t *pkt, size_t len,
                          tw_time_ms now) {
  n->now = now;
  if (len > 0 && tw_onion_handles_kind(pkt[0])) {
    if (n->onion == NULL) return TW_E_DISABLED;
    return tw_onion_handle_packet(n->onion, from, pkt, len, now);
  }
  if (len > 0 && tw_nc_handles_kind(pkt[0])) {
    if (n->nc == NULL) return TW_E_DISABLED;
    return tw_nc_handle_packet(n->nc, from, pkt, len, now);
  }
  return tw_dht_handle_packet(n->dht, from, pkt, len, now);
}

void tw_node_on_timer(tw_node *n, tw_time_ms now) {
  n->now = now;
  if (n->tcp != NULL && now >= tw_tcp_conns_next_deadline(n->tcp)) tw_tcp_conns_on_timer(n->tcp, now);
  if (now >= tw_dht_next_deadline(n->dht)) tw_dht_on_timer(n->dht, now);
  if (n->onion != NULL && now >= tw_onion_next_deadline(n->onion)) tw_onion_on_timer(n->onion, now);
  if (n->nc != NULL && now >= tw_nc_next_deadline(n->nc)) tw_nc_on_timer(n->nc, now);
  if (n->fconn != NULL && now >= tw_fconn_next_deadline(n->fconn)) tw_fconn_on_timer(n->fconn, now);
  if (n->msgr != NULL && now >= tw_msgr_next_deadline(n->msgr)) tw_msgr_on_timer(n->msgr, now);
}

tw_time_ms tw_node_next_deadline(tw_node *n) {
  tw_time_ms t = tw_dht_next_deadline(n->dht);
  if (n->onion != NULL) {
    tw_time_ms o = tw_onion_next_deadline(n->onion);
    if (o < t) t = o;
  }
  if (n->tcp != NULL) {
    tw_time_ms c = tw_tcp_conns_next_deadline(n->tcp);
    if (c < t) t = c;
  }
  if (n->nc != NULL) {
    tw_time_ms c = tw_nc_next_deadline(n->nc);
    if (c < t) t = c;
    c = tw_fconn_next_deadline(n->fconn);
    if (c < t) t = c;
    c = tw_msgr_next_deadline(n->msgr);
    if (c < t) t = c;
  }
  return t;
}

static int h_packet(void *ctx, const tw_addr *from, const uint8_t *pkt, size_t len,
                    tw_time_ms now) {
  return tw_node_handle_packet(ctx, from, pkt, len, now);
}
static void h_timer(void *ctx, tw_time_ms now) { tw_node_on_timer(ctx, now); }
static tw_time_ms h_deadline(void *ctx) { return tw_node_next_deadline(ctx); }

tw_io_handler tw_node_io_handler(tw_node *n) {
  tw_io_handler h = {n, h_packet, h_timer, h_deadline};
  return h;
}
