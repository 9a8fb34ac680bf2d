/* The client of one TCP relay, sans-I/O: handshake, keep-alive pings,
 * routing requests and the packets that ride on them. spec/tcp_relay.md,
 * "Client". */
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "tcp_relay/tcp_stream.h"
#include "tcp_relay/tcp_wire.h"
#include "toxwire/tcp_relay.h"

#define DEFAULT_QUEUE_BYTES (256 * 1024)
#define DEFAULT_HANDSHAKE_TIMEOUT_MS 10000
#define CONTROL_EXTRA_BYTES (64 * 1024)
/* Route requests in flight: as many as the relay has ids, so a node with
 * hundreds of friends can ask for all of them at once. */
#define MAX_PENDING_ROUTES TW_TCP_MAX_LINKS

struct tw_tcp_client {
  tw_tcp_client_config cfg;
  tw_env env;
  tw_tcp_client_state state;
  tw_tcp_stream st;
  uint8_t hs_shared[TW_SHARED_KEY_SIZE]; /* with the relay's long-term key */
  tw_keypair temp;                       /* wiped once the answer is in */
  tw_time_ms created;
  uint64_t ping_id;
  tw_time_ms ping_sent_at, next_ping;
  bool want_write_on;
  tw_key *pending;       /* route requests in flight (allocated with the first) */
  unsigned npending, pending_next;
  tw_key *ids;           /* ids[conn_id - 16]: the key a route response gave it */
  uint8_t *id_used;      /* NULL until the first route request */
  tw_tcp_client_stats stats;
};

static void emit(tw_tcp_client *c, tw_tcp_client_event *ev, tw_time_ms now) {
  if (c->cfg.on_event) c->cfg.on_event(c->cfg.ctx, ev, now);
}

static int fail(tw_tcp_client *c, int reason, tw_time_ms now) {
  if (c->state == TW_TCP_CLIENT_CLOSED) return reason;
  c->state = TW_TCP_CLIENT_CLOSED;
  tw_tcp_client_event ev = {.kind = TW_TCP_EV_CLOSED, .reason = reason};
  emit(c, &ev, now);
  return reason;
}

static int queue(tw_tcp_client *c, const uint8_t *plain, size_t len, bool control) {
  if (c->state != TW_TCP_CLIENT_CONNECTED) return TW_E_INVAL;
  size_t limit = c->cfg.queue_bytes + (control ? CONTROL_EXTRA_BYTES : 0);
  int rc = tw_tcp_stream_seal(&c->st, plain, len, limit);
  if (rc == TW_E_FULL && !control) c->stats.dropped_queue_full++;
  if (rc == TW_OK) c->stats.frames_out++;
  return rc;
}

tw_tcp_client *tw_tcp_client_new(const tw_tcp_client_config *cfg, const tw_env *env,
                                 tw_time_ms now) {
  if (cfg->write == NULL || tw_crypto_init() != TW_OK) return NULL;
  tw_tcp_client *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->cfg = *cfg;
  c->env = *env;
  if (!c->cfg.queue_bytes) c->cfg.queue_bytes = DEFAULT_QUEUE_BYTES;
  if (!c->cfg.handshake_timeout_ms) c->cfg.handshake_timeout_ms = DEFAULT_HANDSHAKE_TIMEOUT_MS;
  if (!c->cfg.ping_interval_ms) c->cfg.ping_interval_ms = TW_TCP_PING_INTERVAL_MS;
  if (!c->cfg.ping_timeout_ms) c->cfg.ping_timeout_ms = TW_TCP_PING_TIMEOUT_MS;
  c->state = TW_TCP_CLIENT_HANDSHAKING;
  c->created = now;
  tw_keypair_generate(&c->temp, &c->env);
  tw_tcp_hello hello = {.temp_pk = c->temp.pk};
  tw_random_bytes(&c->env, hello.base_nonce, TW_NONCE_SIZE);
  memcpy(c->st.send_nonce, hello.base_nonce, TW_NONCE_SIZE);
  tw_shared_key_compute(c->hs_shared, &c->cfg.relay_pk, c->cfg.self.sk);
  uint8_t nonce[TW_NONCE_SIZE], hs[TW_TCP_HANDSHAKE_SIZE];
  tw_random_bytes(&c->env, nonce, sizeof nonce);
  tw_tcp_handshake_build(hs, &c->cfg.self, c->hs_shared, nonce, &hello);
  if (tw_tcp_stream_queue_raw(&c->st, hs, sizeof hs) != TW_OK) {
    tw_tcp_client_free(c);
    return NULL;
  }
  return c;
}

void tw_tcp_client_free(tw_tcp_client *c) {
  if (c == NULL) return;
  tw_tcp_stream_clear(&c->st);
  free(c->ids);
  free(c->id_used);
  free(c->pending);
  tw_crypto_wipe(c, sizeof *c);
  free(c);
}

tw_tcp_client_state tw_tcp_client_state_get(const tw_tcp_client *c) { return c->state; }

/* ---- incoming ---- */

static int handle_answer(tw_tcp_client *c, const uint8_t *msg, tw_time_ms now) {
  tw_tcp_hello theirs;
  int rc = tw_tcp_handshake_response_open(msg, c->hs_shared, &theirs);
  tw_crypto_wipe(c->hs_shared, sizeof c->hs_shared);
  if (rc != TW_OK) {
    tw_crypto_wipe(&c->temp, sizeof c->temp);
    return rc;
  }
  tw_shared_key_compute(c->st.shared, &theirs.temp_pk, c->temp.sk);
  tw_crypto_wipe(&c->temp, sizeof c->temp);
  memcpy(c->st.recv_nonce, theirs.base_nonce, TW_NONCE_SIZE);
  c->state = TW_TCP_CLIENT_CONNECTED;
  /* The first frame confirms us to the server; a ping is as good as any. */
  tw_tcp_client_send_ping(c, now);
  tw_tcp_client_event ev = {.kind = TW_TCP_EV_CONNECTED};
  emit(c, &ev, now);
  return TW_OK;
}

static bool take_pending(tw_tcp_client *c, const tw_key *pk) {
  for (unsigned i = 0; i < c->npending; i++)
    if (tw_key_equal(&c->pending[i], pk)) {
      c->pending[i] = c->pending[--c->npending];
      return true;
    }
  return false;
}

static int handle_packet(tw_tcp_client *c, const uint8_t *plain, size_t len, tw_time_ms now) {
  tw_tcp_packet p;
  int rc = tw_tcp_packet_parse(&p, plain, len);
  if (rc != TW_OK) return rc;
  tw_tcp_client_event ev = {.conn_id = p.conn_id, .pk = p.pk, .data = p.data, .len = p.len};
  uint8_t out[9];
  unsigned i = p.conn_id >= TW_TCP_FIRST_CONN_ID ? p.conn_id - TW_TCP_FIRST_CONN_ID : 0;
  switch (p.kind) {
  case TW_TCP_ROUTE_RESPONSE:
    if (!take_pending(c, &p.pk)) return TW_E_UNSOLICITED;
    if (p.conn_id != 0) {
      c->ids[i] = p.pk;
      c->id_used[i] = 1;
    }
    ev.kind = TW_TCP_EV_ROUTE_RESPONSE;
    break;
  case TW_TCP_CONNECT_NOTIFICATION:
  case TW_TCP_DISCONNECT_NOTIFICATION:
    if (c->id_used == NULL || !c->id_used[i]) return TW_E_NOTFOUND;
    ev.pk = c->ids[i];
    ev.kind = p.kind == TW_TCP_CONNECT_NOTIFICATION ? TW_TCP_EV_CONNECT : TW_TCP_EV_DISCONNECT;
    break;
  case TW_TCP_PING:
    return queue(c, out, tw_tcp_write_ping(out, TW_TCP_PONG, p.ping_id), true);
  case TW_TCP_PONG:
    if (c->ping_id == 0 || p.ping_id != c->ping_id) return TW_E_UNSOLICITED;
    c->ping_id = 0;
    c->next_ping = now + c->cfg.ping_interval_ms;
    c->stats.pongs_received++;
    ev.kind = TW_TCP_EV_PONG;
    break;
  case TW_TCP_OOB_RECV:
    ev.kind = TW_TCP_EV_OOB;
    break;
  case TW_TCP_ONION_RESPONSE:
    ev.kind = TW_TCP_EV_ONION_RESPONSE;
    break;
  case TW_TCP_ROUTE_REQUEST:
  case TW_TCP_OOB_SEND:
  case TW_TCP_ONION_REQUEST:
    return TW_E_KIND; /* only a client sends these */
  default:
    if (c->id_used == NULL || !c->id_used[i]) return TW_E_NOTFOUND;
    ev.pk = c->ids[i];
    ev.kind = TW_TCP_EV_DATA;
    break;
  }
  emit(c, &ev, now);
  return TW_OK;
}

int tw_tcp_client_handle_bytes(tw_tcp_client *c, const uint8_t *bytes, size_t len,
                               tw_time_ms now) {
  c->stats.bytes_in += len;
  while (c->state != TW_TCP_CLIENT_CLOSED) {
    const uint8_t *msg;
    size_t mlen;
    bool hs = c->state == TW_TCP_CLIENT_HANDSHAKING;
    int got = tw_tcp_stream_next(&c->st, &bytes, &len, hs ? TW_TCP_HANDSHAKE_RESPONSE_SIZE : 0,
                                 &msg, &mlen);
    if (got == 0) return TW_OK;
    if (got < 0) return fail(c, got, now);
    if (hs) {
      int rc = handle_answer(c, msg, now);
      if (rc != TW_OK) return fail(c, rc, now);
      continue;
    }
    uint8_t plain[TW_TCP_MAX_FRAME_CIPHER];
    int rc = tw_tcp_stream_open(&c->st, msg, mlen, plain);
    if (rc != TW_OK) return fail(c, rc, now); /* the stream is out of step: no recovery */
    c->stats.frames_in++;
    rc = handle_packet(c, plain, mlen - TW_MAC_SIZE, now);
    if (rc == TW_E_FULL || rc == TW_E_NOMEM) return fail(c, rc, now);
    if (rc != TW_OK) c->stats.dropped[-rc]++;
  }
  return TW_E_INVAL;
}

void tw_tcp_client_handle_eof(tw_tcp_client *c, tw_time_ms now) { fail(c, TW_E_IO, now); }

/* ---- outgoing ---- */

static void write_out(tw_tcp_client *c, tw_time_ms now) {
  long w = tw_tcp_stream_write(&c->st, c->cfg.write, c->cfg.ctx, NULL);
  if (w < 0) {
    fail(c, TW_E_IO, now);
    return;
  }
  c->stats.bytes_out += (uint64_t)w;
  bool want = c->st.q_len > 0;
  if (want != c->want_write_on && c->cfg.want_write) {
    c->want_write_on = want;
    c->cfg.want_write(c->cfg.ctx, NULL, want);
  }
}

void tw_tcp_client_flush(tw_tcp_client *c, tw_time_ms now) {
  if (c->state != TW_TCP_CLIENT_CLOSED && !c->want_write_on && c->st.q_len > 0) write_out(c, now);
}

int tw_tcp_client_handle_writable(tw_tcp_client *c, tw_time_ms now) {
  if (c->state == TW_TCP_CLIENT_CLOSED) return TW_E_INVAL;
  write_out(c, now);
  return c->state == TW_TCP_CLIENT_CLOSED ? TW_E_IO : TW_OK;
}

size_t tw_tcp_client_queued(const tw_tcp_client *c) { return c->st.q_len; }

int tw_tcp_client_send_route_request(tw_tcp_client *c, const tw_key *pk) {
  uint8_t out[1 + TW_PUBLIC_KEY_SIZE];
  int rc = queue(c, out, tw_tcp_write_route_request(out, pk), true);
  if (rc != TW_OK) return rc;
  if (c->ids == NULL || c->id_used == NULL || c->pending == NULL) {
    if (c->ids == NULL) c->ids = calloc(TW_TCP_MAX_LINKS, sizeof *c->ids);
    if (c->id_used == NULL) c->id_used = calloc(TW_TCP_MAX_LINKS, 1);
    if (c->pending == NULL) c->pending = calloc(MAX_PENDING_ROUTES, sizeof *c->pending);
    if (c->ids == NULL || c->id_used == NULL || c->pending == NULL) return TW_E_NOMEM;
  }
  if (c->npending < MAX_PENDING_ROUTES) {
    c->pending[c->npending++] = *pk;
  } else { /* forget one, round robin */
    c->pending[c->pending_next] = *pk;
    c->pending_next = (c->pending_next + 1) % MAX_PENDING_ROUTES;
  }
  return TW_OK;
}

int tw_tcp_client_send_disconnect(tw_tcp_client *c, uint8_t conn_id) {
  if (conn_id < TW_TCP_FIRST_CONN_ID) return TW_E_INVAL;
  uint8_t out[2];
  int rc = queue(c, out, tw_tcp_write_notification(out, TW_TCP_DISCONNECT_NOTIFICATION, conn_id),
                 true);
  if (rc == TW_OK && c->id_used) c->id_used[conn_id - TW_TCP_FIRST_CONN_ID] = 0;
  return rc;
}

int tw_tcp_client_send_data(tw_tcp_client *c, uint8_t conn_id, const uint8_t *data, size_t len) {
  if (conn_id < TW_TCP_FIRST_CONN_ID || len == 0) return TW_E_INVAL;
  uint8_t out[TW_TCP_MAX_PACKET];
  size_t n = tw_tcp_write_data(out, conn_id, data, len);
  return n == 0 ? TW_E_LONG : queue(c, out, n, false);
}

int tw_tcp_client_send_oob(tw_tcp_client *c, const tw_key *to, const uint8_t *data, size_t len) {
  if (len == 0) return TW_E_INVAL;
  if (len > TW_TCP_MAX_OOB_DATA) return TW_E_LONG;
  uint8_t out[TW_TCP_MAX_PACKET];
  return queue(c, out, tw_tcp_write_keyed(out, TW_TCP_OOB_SEND, to, data, len), false);
}

int tw_tcp_client_send_onion_request(tw_tcp_client *c, const uint8_t *data, size_t len) {
  if (len == 0) return TW_E_INVAL;
  uint8_t out[TW_TCP_MAX_PACKET];
  size_t n = tw_tcp_write_data(out, TW_TCP_ONION_REQUEST, data, len);
  return n == 0 ? TW_E_LONG : queue(c, out, n, false);
}

int tw_tcp_client_send_ping(tw_tcp_client *c, tw_time_ms now) {
  if (c->state != TW_TCP_CLIENT_CONNECTED) return TW_E_INVAL;
  if (c->ping_id == 0) {
    do c->ping_id = tw_random_u64(&c->env);
    while (c->ping_id == 0);
    c->ping_sent_at = now;
  }
  uint8_t out[9];
  int rc = queue(c, out, tw_tcp_write_ping(out, TW_TCP_PING, c->ping_id), true);
  if (rc == TW_OK) c->stats.pings_sent++;
  return rc;
}

int tw_tcp_client_send_raw(tw_tcp_client *c, const uint8_t *plain, size_t len) {
  if (len == 0) return TW_E_INVAL;
  return queue(c, plain, len, true);
}

/* ---- time ---- */

void tw_tcp_client_on_timer(tw_tcp_client *c, tw_time_ms now) {
  if (c->state == TW_TCP_CLIENT_HANDSHAKING) {
    if (now >= c->created + c->cfg.handshake_timeout_ms) fail(c, TW_E_EXPIRED, now);
    return;
  }
  if (c->state != TW_TCP_CLIENT_CONNECTED) return;
  if (c->ping_id != 0) {
    if (now >= c->ping_sent_at + c->cfg.ping_timeout_ms) fail(c, TW_E_EXPIRED, now);
  } else if (now >= c->next_ping) {
    tw_tcp_client_send_ping(c, now);
  }
}

tw_time_ms tw_tcp_client_next_deadline(const tw_tcp_client *c) {
  switch (c->state) {
  case TW_TCP_CLIENT_HANDSHAKING:
    return c->created + c->cfg.handshake_timeout_ms;
  case TW_TCP_CLIENT_CONNECTED:
    return c->ping_id != 0 ? c->ping_sent_at + c->cfg.ping_timeout_ms : c->next_ping;
  default:
    return TW_NEVER;
  }
}

void tw_tcp_client_get_stats(const tw_tcp_client *c, tw_tcp_client_stats *out) {
  *out = c->stats;
}
