/* net_crypto simulation: two peers over a virtual link with loss,
 * duplication and reordering. Passes when:
 *   1. the session is established (cookie, handshakes, first data) from a
 *      cold start with only one side knowing the other's address;
 *   2. --mb megabytes of lossless data cross from A to B, and a tenth of
 *      that from B to A at the same time, every byte intact and in order
 *      (each payload is a pure function of its offset, so a lost, repeated
 *      or reordered packet shows as a mismatch);
 *   3. the session survives the loss rate: no spurious kill, no timeout.
 * Deterministic from --seed; the summary line carries the trace hash. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "simnet.h"
#include "toxwire/netcrypto.h"

#define PAYLOAD 1372 /* + 1 id byte: a full data packet */
#define DATA_ID 160

typedef struct peer {
  struct world *w;
  int ep;
  tw_nc *nc;
  tw_simnet_sender sender;
  tw_keypair self, dht;
  tw_addr addr;
  uint32_t conn;
  uint64_t to_send, sent, received, expected_in;
  uint64_t mismatches, out_of_order;
  uint32_t next_number;
  bool established, lost;
  tw_time_ms established_at, done_at;
} peer;

typedef struct world {
  tw_simnet *net;
  peer p[2];
  bool quiet;
} world;

/* Byte i of the stream from peer `from`. */
static uint8_t stream_byte(int from, uint64_t i) {
  uint64_t z = i / 8 + 0x9e3779b97f4a7c15ULL * (uint64_t)(from + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (uint8_t)((z ^ (z >> 31)) >> (8 * (i % 8)));
}

static void pump(peer *p, tw_time_ms now) {
  uint8_t buf[1 + PAYLOAD];
  buf[0] = DATA_ID;
  int idx = p == &p->w->p[0] ? 0 : 1;
  while (p->sent < p->to_send && tw_nc_conn_send_space(p->nc, p->conn) > 0) {
    uint64_t n = p->to_send - p->sent < PAYLOAD ? p->to_send - p->sent : PAYLOAD;
    for (uint64_t i = 0; i < n; i++) buf[1 + i] = stream_byte(idx, p->sent + i);
    int e = tw_nc_send_lossless(p->nc, p->conn, buf, (size_t)n + 1, NULL, now);
    if (e != TW_OK) break;
    p->sent += n;
  }
}

static void on_event(void *ctx, const tw_nc_event *ev) {
  peer *p = ctx;
  peer *other = &p->w->p[p == &p->w->p[0] ? 1 : 0];
  int from = p == &p->w->p[0] ? 1 : 0;
  switch (ev->kind) {
  case TW_NC_EV_STATE:
    if (!p->w->quiet)
      printf("  t=%.3fs %s: %s -> %s\n", ev->time / 1000.0, p == &p->w->p[0] ? "A" : "B",
             tw_nc_state_name(ev->old_state), tw_nc_state_name(ev->state));
    if (ev->state == TW_NC_ESTABLISHED) {
      p->established = true;
      p->established_at = ev->time;
      pump(p, ev->time);
    } else if (ev->old_state == TW_NC_ESTABLISHED) {
      p->lost = true;
    }
    break;
  case TW_NC_EV_ACKED:
    pump(p, ev->time);
    break;
  case TW_NC_EV_LOSSLESS: {
    if (ev->packet_number != p->next_number) p->out_of_order++;
    p->next_number = ev->packet_number + 1;
    if (ev->len < 1 || ev->data[0] != DATA_ID) {
      p->mismatches++;
      break;
    }
    for (size_t i = 1; i < ev->len; i++)
      if (ev->data[i] != stream_byte(from, p->received + i - 1)) {
        p->mismatches++;
        break;
      }
    p->received += ev->len - 1;
    if (p->received == other->to_send) p->done_at = ev->time;
    break;
  }
  default: break;
  }
}

static int h_packet(void *ctx, const tw_addr *from, const uint8_t *pkt, size_t len,
                    tw_time_ms now) {
  return tw_nc_handle_packet(((peer *)ctx)->nc, from, pkt, len, now);
}
static void h_timer(void *ctx, tw_time_ms now) { tw_nc_on_timer(((peer *)ctx)->nc, now); }
static tw_time_ms h_deadline(void *ctx) { return tw_nc_next_deadline(((peer *)ctx)->nc); }

static void usage(void) {
  fprintf(stderr,
          "usage: sim_netcrypto [--seed N] [--loss P] [--dup P] [--delay-min MS]\n"
          "                     [--delay-max MS] [--mb N] [--max-seconds S] [--quiet]\n");
}

int main(int argc, char **argv) {
  uint64_t seed = 1;
  double loss = 0.0, dup = 0.0, max_seconds = 3600;
  uint32_t dmin = 5, dmax = 15;
  double mb = 100;
  bool quiet = false;
  static const struct option lo[] = {
      {"seed", 1, 0, 's'},  {"loss", 1, 0, 'l'},      {"dup", 1, 0, 'd'},
      {"delay-min", 1, 0, 'a'}, {"delay-max", 1, 0, 'b'}, {"mb", 1, 0, 'm'},
      {"max-seconds", 1, 0, 'x'}, {"quiet", 0, 0, 'q'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (ch) {
    case 's': seed = strtoull(optarg, NULL, 10); break;
    case 'l': loss = atof(optarg); break;
    case 'd': dup = atof(optarg); break;
    case 'a': dmin = (uint32_t)atoi(optarg); break;
    case 'b': dmax = (uint32_t)atoi(optarg); break;
    case 'm': mb = atof(optarg); break;
    case 'x': max_seconds = atof(optarg); break;
    case 'q': quiet = true; break;
    case 'h': usage(); return 0;
    default: usage(); return 2;
    }
  }
  tw_crypto_init();
  world w = {.quiet = quiet};
  tw_simnet_config nc = {.seed = seed, .loss = loss, .duplicate = dup, .delay_min_ms = dmin,
                         .delay_max_ms = dmax};
  w.net = tw_simnet_new(&nc);
  for (int i = 0; i < 2; i++) {
    peer *p = &w.p[i];
    p->w = &w;
    p->ep = tw_simnet_add_endpoint(w.net, &p->addr);
    p->sender = (tw_simnet_sender){w.net, p->ep};
    tw_env env = {.random_bytes = tw_simnet_random, .random_ctx = tw_simnet_random_ctx(w.net, p->ep)};
    tw_keypair_generate(&p->self, &env);
    tw_keypair_generate(&p->dht, &env);
    tw_nc_config cfg = {.self_keys = p->self, .dht_keys = p->dht, .send = tw_simnet_send_cb,
                        .send_ctx = &p->sender, .on_event = on_event, .event_ctx = p};
    p->nc = tw_nc_new(&cfg, &env, 0);
    tw_io_handler h = {p, h_packet, h_timer, h_deadline};
    tw_simnet_set_handler(w.net, p->ep, &h);
  }
  uint64_t bytes = (uint64_t)(mb * 1e6);
  w.p[0].to_send = bytes;
  w.p[1].to_send = bytes / 10;
  tw_nc_conn_add(w.p[0].nc, &w.p[1].self.pk, &w.p[0].conn);
  tw_nc_conn_add(w.p[1].nc, &w.p[0].self.pk, &w.p[1].conn);
  /* Only A knows where B is; B learns A from A's handshake. */
  tw_nc_conn_set_dht_key(w.p[0].nc, w.p[0].conn, &w.p[1].dht.pk, 0);
  tw_nc_conn_set_addr(w.p[0].nc, w.p[0].conn, &w.p[1].addr, 0);
  tw_simnet_rearm(w.net, w.p[0].ep);

  printf("sim_netcrypto: seed %llu, loss %.0f%%, dup %.0f%%, delay %u-%u ms, %.0f MB A->B, "
         "%.0f MB B->A\n",
         (unsigned long long)seed, loss * 100, dup * 100, dmin, dmax, mb, mb / 10);
  tw_time_ms end = (tw_time_ms)(max_seconds * 1000);
  for (tw_time_ms t = 1000; t <= end; t += 1000) {
    tw_simnet_run_until(w.net, t);
    if (w.p[1].received == w.p[0].to_send && w.p[0].received == w.p[1].to_send) break;
    if (getenv("SIM_DEBUG") != NULL && t % 5000 == 0) {
      for (int i = 0; i < 2; i++) {
        tw_nc_conn_stats st;
        tw_nc_conn_get_stats(w.p[i].nc, w.p[i].conn, &st);
        printf("  t=%llus %c: state %s, sent %llu/%llu, received %llu, in flight %u, held %u, "
               "window %u, rtt %u, resent %llu\n",
               (unsigned long long)t / 1000, 'A' + i, tw_nc_state_name(st.state),
               (unsigned long long)w.p[i].sent, (unsigned long long)w.p[i].to_send,
               (unsigned long long)w.p[i].received, st.in_flight, st.recv_held, st.window,
               st.rtt_ms, (unsigned long long)st.packets_resent);
      }
    }
  }
  int fails = 0;
  for (int i = 0; i < 2; i++) {
    peer *p = &w.p[i], *o = &w.p[1 - i];
    tw_nc_conn_stats st;
    tw_nc_conn_get_stats(p->nc, p->conn, &st);
    printf("%s: established at %.3fs, received %llu/%llu bytes, done at %.3fs, mismatches %llu, "
           "out of order %llu, sent %llu packets, resent %llu, requests %llu/%llu, window %u, "
           "rtt %u ms%s\n",
           i ? "B" : "A", p->established_at / 1000.0, (unsigned long long)p->received,
           (unsigned long long)o->to_send, p->done_at / 1000.0, (unsigned long long)p->mismatches,
           (unsigned long long)p->out_of_order, (unsigned long long)st.packets_sent,
           (unsigned long long)st.packets_resent, (unsigned long long)st.requests_sent,
           (unsigned long long)st.requests_received, st.window, st.rtt_ms, p->lost ? ", LOST" : "");
    if (!p->established || p->lost || p->mismatches || p->out_of_order ||
        p->received != o->to_send)
      fails++;
  }
  tw_simnet_stats ss = tw_simnet_get_stats(w.net);
  printf("net: sent %llu, lost %llu, duplicated %llu; trace %016llx\n",
         (unsigned long long)ss.sent, (unsigned long long)ss.lost,
         (unsigned long long)ss.duplicated, (unsigned long long)tw_simnet_trace_hash(w.net));
  printf("%s\n", fails ? "FAIL" : "PASS");
  for (int i = 0; i < 2; i++) tw_nc_free(w.p[i].nc);
  tw_simnet_free(w.net);
  return fails ? 1 : 0;
}
