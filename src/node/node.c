/* tw_node: routes each packet kind to the layer that owns it and merges
 * the layers' deadlines. */
#include <stdlib.h>

#include "toxwire/node.h"

struct tw_node {
  tw_dht *dht;
  tw_onion *onion;
};

static void on_dht_request(void *ctx, const tw_key *sender, const tw_addr *from,
                           const uint8_t *plain, size_t len, tw_time_ms now) {
  tw_node *n = ctx;
  if (n->onion != NULL) tw_onion_handle_dht_request(n->onion, sender, from, plain, len, now);
}

tw_node *tw_node_new(const tw_node_config *cfg, const tw_env *env, tw_time_ms now) {
  tw_node *n = calloc(1, sizeof *n);
  if (n == NULL) return NULL;
  tw_dht_config dc = cfg->dht;
  dc.on_dht_request = on_dht_request;
  dc.request_ctx = n;
  n->dht = tw_dht_new(&dc, env, now);
  if (n->dht == NULL) goto fail;
  if (cfg->onion_relay || cfg->announce_store || cfg->onion_client) {
    tw_onion_config oc = {
        .dht = n->dht,
        .dht_keys = cfg->dht.keys,
        .send = cfg->dht.send,
        .send_ctx = cfg->dht.send_ctx,
        .relay = cfg->onion_relay,
        .announce_store = cfg->announce_store,
        .announce_entries = cfg->announce_entries,
        .client = cfg->onion_client,
        .self_keys = cfg->self_keys,
        .on_event = cfg->on_onion_event,
        .event_ctx = cfg->event_ctx,
    };
    n->onion = tw_onion_new(&oc, env, now);
    if (n->onion == NULL) goto fail;
  }
  return n;
fail:
  tw_node_free(n);
  return NULL;
}

void tw_node_free(tw_node *n) {
  if (n == NULL) return;
  tw_onion_free(n->onion);
  tw_dht_free(n->dht);
  free(n);
}

tw_dht *tw_node_dht(tw_node *n) { return n->dht; }
tw_onion *tw_node_onion(tw_node *n) { return n->onion; }

int tw_node_handle_packet(tw_node *n, const tw_addr *from, const uint8_t *pkt, size_t len,
                          tw_time_ms now) {
  if (len > 0 && tw_onion_handles_kind(pkt[0])) {
    if (n->onion == NULL) return TW_E_DISABLED;
    return tw_onion_handle_packet(n->onion, from, pkt, len, now);
  }
  return tw_dht_handle_packet(n->dht, from, pkt, len, now);
}

void tw_node_on_timer(tw_node *n, tw_time_ms now) {
  if (now >= tw_dht_next_deadline(n->dht)) tw_dht_on_timer(n->dht, now);
  if (n->onion != NULL && now >= tw_onion_next_deadline(n->onion)) tw_onion_on_timer(n->onion, now);
}

tw_time_ms tw_node_next_deadline(tw_node *n) {
  tw_time_ms t = tw_dht_next_deadline(n->dht);
  if (n->onion != NULL) {
    tw_time_ms o = tw_onion_next_deadline(n->onion);
    if (o < t) t = o;
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
