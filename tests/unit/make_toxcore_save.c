/* Writes the c-toxcore savedata fixtures in tests/unit/data/ and prints a C
 * header with the values test_profile.c expects from them. Not part of the
 * build: it links libtoxcore and was run once, by hand:
 *
 *   cc -std=c11 -o /tmp/make_toxcore_save tests/unit/make_toxcore_save.c \
 *      $(pkg-config --cflags --libs toxcore)
 *   /tmp/make_toxcore_save tests/unit/data > tests/unit/data/toxcore_expected.h
 *
 * Every key is fixed (TOX_SAVEDATA_TYPE_SECRET_KEY), so the keys and Tox IDs
 * are the same on every run; only the DHT nodes and the last-seen times in
 * toxcore_friends.save depend on the run.
 *
 *   toxcore_friends.save    name, status message, status away, nospam, one
 *                           friend added by Tox ID with the request "hello"
 *                           (pending), one added with tox_friend_add_norequest
 *                           (confirmed), one conference, and the DHT nodes,
 *                           path nodes and TCP relay learned from a second
 *                           instance on loopback (the "peer", which also
 *                           runs a TCP relay).
 *   toxcore_nofriends.save  keys and nospam only, made offline.
 *   toxcore_online.save     made on a small loopback network (three helper
 *                           nodes): one friend added by Tox ID whose
 *                           request was delivered but not accepted, and one
 *                           mutual friend ("Dave", busy) who was online
 *                           when the save was taken. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tox/tox.h>

#define NAME "Alice in toxwire"
#define STATUS_MESSAGE "testing the profile loader"
#define NOSPAM 0x1A2B3C4Du
#define FRIEND_NOSPAM 0xCAFEF00Du
#define REQUEST "hello"
#define TCP_PORT 33800

static void die(const char *what, int err) {
  fprintf(stderr, "make_toxcore_save: %s failed (%d)\n", what, err);
  exit(1);
}

static void fill(uint8_t *p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + i * 13);
}

static Tox *make(const uint8_t sk[32], bool udp, uint16_t port, uint16_t tcp_port) {
  struct Tox_Options *o = tox_options_new(NULL);
  tox_options_set_ipv6_enabled(o, false);
  tox_options_set_local_discovery_enabled(o, false);
  tox_options_set_udp_enabled(o, udp);
  tox_options_set_start_port(o, port);
  tox_options_set_end_port(o, port + 50);
  tox_options_set_tcp_port(o, tcp_port);
  tox_options_set_savedata_type(o, TOX_SAVEDATA_TYPE_SECRET_KEY);
  tox_options_set_savedata_data(o, sk, 32);
  Tox_Err_New e;
  Tox *t = tox_new(o, &e);
  tox_options_free(o);
  if (t == NULL) die("tox_new", e);
  return t;
}

static void save(Tox *t, const char *dir, const char *name) {
  size_t n = tox_get_savedata_size(t);
  uint8_t *buf = malloc(n);
  if (buf == NULL) die("malloc", 0);
  tox_get_savedata(t, buf);
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    exit(1);
  }
  fprintf(stderr, "wrote %s (%zu bytes)\n", path, n);
  free(buf);
}

static void print_bytes(const char *name, const uint8_t *p, size_t n) {
  printf("static const uint8_t %s[%zu] = {", name, n);
  for (size_t i = 0; i < n; i++) printf("%s0x%02x,", i % 12 ? " " : "\n    ", p[i]);
  printf("\n};\n");
}

static void address_of(const uint8_t pk[32], uint32_t nospam, uint8_t out[38]) {
  memcpy(out, pk, 32);
  out[32] = (uint8_t)(nospam >> 24);
  out[33] = (uint8_t)(nospam >> 16);
  out[34] = (uint8_t)(nospam >> 8);
  out[35] = (uint8_t)nospam;
  out[36] = out[37] = 0;
  for (int i = 0; i < 36; i++) out[36 + i % 2] ^= out[i];
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int requests_seen;
static void on_request(Tox *t, const uint8_t *pk, const uint8_t *msg, size_t len, void *ud) {
  (void)t; (void)pk; (void)msg; (void)len; (void)ud;
  requests_seen++;
}

#define DAVE_NAME "Dave"
#define DAVE_STATUS_MESSAGE "on the loopback"
#define CAROL_REQUEST "hi Carol"

/* Returns the unix time the save was taken. */
static time_t make_online(const char *dir, uint8_t self_pk[32], uint8_t carol_pk[32],
                          uint8_t dave_pk[32], uint32_t *self_nospam, uint32_t *carol_nospam) {
  uint8_t sk[32];
  Tox *helper[3];
  for (int i = 0; i < 3; i++) {
    fill(sk, 32, (uint8_t)(0xb0 + i));
    helper[i] = make(sk, true, (uint16_t)(34000 + 100 * i), 0);
  }
  fill(sk, 32, 0x88);
  Tox *self = make(sk, true, 34400, 0);
  fill(sk, 32, 0x99);
  Tox *carol = make(sk, true, 34500, 0);
  fill(sk, 32, 0xaa);
  Tox *dave = make(sk, true, 34600, 0);
  Tox *all[] = {helper[0], helper[1], helper[2], self, carol, dave};
  const int n = 6;
  uint8_t dht[3][32];
  uint16_t port[3];
  for (int i = 0; i < 3; i++) {
    Tox_Err_Get_Port ep;
    tox_self_get_dht_id(helper[i], dht[i]);
    port[i] = tox_self_get_udp_port(helper[i], &ep);
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < 3; j++) {
      Tox_Err_Bootstrap eb;
      if (all[i] != helper[j] && !tox_bootstrap(all[i], "127.0.0.1", port[j], dht[j], &eb))
        die("bootstrap", eb);
    }
  tox_self_get_public_key(self, self_pk);
  tox_self_get_public_key(carol, carol_pk);
  tox_self_get_public_key(dave, dave_pk);
  *self_nospam = tox_self_get_nospam(self);
  *carol_nospam = tox_self_get_nospam(carol);
  Tox_Err_Set_Info ei;
  if (!tox_self_set_name(dave, (const uint8_t *)DAVE_NAME, strlen(DAVE_NAME), &ei) ||
      !tox_self_set_status_message(dave, (const uint8_t *)DAVE_STATUS_MESSAGE,
                                   strlen(DAVE_STATUS_MESSAGE), &ei))
    die("dave set info", ei);
  tox_self_set_status(dave, TOX_USER_STATUS_BUSY);
  tox_callback_friend_request(carol, on_request);
  uint8_t carol_addr[38];
  tox_self_get_address(carol, carol_addr);
  Tox_Err_Friend_Add ef;
  if (tox_friend_add(self, carol_addr, (const uint8_t *)CAROL_REQUEST, strlen(CAROL_REQUEST),
                     &ef) == UINT32_MAX)
    die("friend_add carol", ef);
  uint32_t fd = tox_friend_add_norequest(self, dave_pk, &ef);
  if (fd == UINT32_MAX) die("friend_add dave", ef);
  if (tox_friend_add_norequest(dave, self_pk, &ef) == UINT32_MAX) die("dave adds self", ef);
  for (int round = 0;; round++) {
    for (int i = 0; i < n; i++) tox_iterate(all[i], NULL);
    sleep_ms(20);
    Tox_Err_Friend_Query eq;
    bool dave_up = tox_friend_get_connection_status(self, fd, &eq) != TOX_CONNECTION_NONE &&
                   tox_friend_get_name_size(self, fd, &eq) == strlen(DAVE_NAME) &&
                   tox_friend_get_status(self, fd, &eq) == TOX_USER_STATUS_BUSY;
    if (dave_up && requests_seen > 0) break;
    if (round > 6000) die("online network (timeout)", 0);
  }
  for (int i = 0; i < 50; i++) {
    for (int j = 0; j < n; j++) tox_iterate(all[j], NULL);
    sleep_ms(20);
  }
  time_t when = time(NULL);
  save(self, dir, "toxcore_online.save");
  for (int i = 0; i < n; i++) tox_kill(all[i]);
  return when;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUTDIR > toxcore_expected.h\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  uint8_t self_sk[32], peer_sk[32], a_pk[32], b_pk[32];
  fill(self_sk, 32, 0x11);
  fill(peer_sk, 32, 0x22);
  fill(a_pk, 32, 0x33);
  fill(b_pk, 32, 0x44);
  /* Friend keys must be real curve points only for crypto; as saved bytes
   * any 32 bytes do, but use real ones so a loaded save is usable. */
  {
    uint8_t sk[32];
    Tox *t;
    fill(sk, 32, 0x66);
    t = make(sk, false, 0, 0);
    tox_self_get_public_key(t, a_pk);
    tox_kill(t);
    fill(sk, 32, 0x77);
    t = make(sk, false, 0, 0);
    tox_self_get_public_key(t, b_pk);
    tox_kill(t);
  }

  /* The offline profile: keys and nospam only. */
  Tox *solo = make(self_sk, false, 0, 0);
  tox_self_set_nospam(solo, NOSPAM);
  save(solo, dir, "toxcore_nofriends.save");
  tox_kill(solo);

  Tox *self = make(self_sk, true, 33600, 0);
  Tox *peer = make(peer_sk, true, 33700, TCP_PORT);
  tox_self_set_nospam(self, NOSPAM);
  Tox_Err_Set_Info ei;
  if (!tox_self_set_name(self, (const uint8_t *)NAME, strlen(NAME), &ei)) die("set_name", ei);
  if (!tox_self_set_status_message(self, (const uint8_t *)STATUS_MESSAGE,
                                   strlen(STATUS_MESSAGE), &ei))
    die("set_status_message", ei);
  tox_self_set_status(self, TOX_USER_STATUS_AWAY);

  uint8_t a_addr[38];
  address_of(a_pk, FRIEND_NOSPAM, a_addr);
  Tox_Err_Friend_Add ef;
  uint32_t fa = tox_friend_add(self, a_addr, (const uint8_t *)REQUEST, strlen(REQUEST), &ef);
  if (fa == UINT32_MAX) die("friend_add", ef);
  uint32_t fb = tox_friend_add_norequest(self, b_pk, &ef);
  if (fb == UINT32_MAX) die("friend_add_norequest", ef);
  Tox_Err_Conference_New ec;
  if (tox_conference_new(self, &ec) == UINT32_MAX) die("conference_new", ec);
  /* Let self learn peer as a DHT node and use it as a TCP relay. */
  uint8_t peer_dht[32];
  tox_self_get_dht_id(peer, peer_dht);
  Tox_Err_Get_Port ep;
  uint16_t peer_port = tox_self_get_udp_port(peer, &ep);
  Tox_Err_Bootstrap eb;
  if (!tox_bootstrap(self, "127.0.0.1", peer_port, peer_dht, &eb)) die("bootstrap", eb);
  if (!tox_add_tcp_relay(self, "127.0.0.1", TCP_PORT, peer_dht, &eb)) die("add_tcp_relay", eb);
  for (int i = 0; i < 100; i++) {
    tox_iterate(self, NULL);
    tox_iterate(peer, NULL);
    sleep_ms(50);
  }
  save(self, dir, "toxcore_friends.save");

  uint8_t self_pk[32];
  tox_self_get_public_key(self, self_pk);
  printf("/* Generated by tests/unit/make_toxcore_save.c (c-toxcore %u.%u.%u); do not edit. */\n",
         tox_version_major(), tox_version_minor(), tox_version_patch());
  printf("#define TOXCORE_NAME \"%s\"\n", NAME);
  printf("#define TOXCORE_STATUS_MESSAGE \"%s\"\n", STATUS_MESSAGE);
  printf("#define TOXCORE_NOSPAM 0x%08XU\n", NOSPAM);
  printf("#define TOXCORE_FRIEND_NOSPAM 0x%08XU\n", FRIEND_NOSPAM);
  printf("#define TOXCORE_REQUEST \"%s\"\n", REQUEST);
  printf("#define TOXCORE_USER_STATUS %d /* TOX_USER_STATUS_AWAY */\n", TOX_USER_STATUS_AWAY);
  printf("#define TOXCORE_PEER_PORT %u\n", peer_port);
  printf("#define TOXCORE_TCP_PORT %u\n", TCP_PORT);
  print_bytes("toxcore_self_sk", self_sk, 32);
  print_bytes("toxcore_self_pk", self_pk, 32);
  print_bytes("toxcore_friend_pending_pk", a_pk, 32);
  print_bytes("toxcore_friend_confirmed_pk", b_pk, 32);
  print_bytes("toxcore_peer_dht_pk", peer_dht, 32);
  tox_kill(peer);
  tox_kill(self);

  uint8_t o_self[32], carol[32], dave[32];
  uint32_t o_nospam, carol_nospam;
  time_t when = make_online(dir, o_self, carol, dave, &o_nospam, &carol_nospam);
  printf("#define TOXCORE_ONLINE_SAVED_UNIX %lldLL\n", (long long)when);
  printf("#define TOXCORE_ONLINE_NOSPAM 0x%08XU\n", o_nospam);
  printf("#define TOXCORE_CAROL_NOSPAM 0x%08XU\n", carol_nospam);
  printf("#define TOXCORE_CAROL_REQUEST \"%s\"\n", CAROL_REQUEST);
  printf("#define TOXCORE_DAVE_NAME \"%s\"\n", DAVE_NAME);
  printf("#define TOXCORE_DAVE_STATUS_MESSAGE \"%s\"\n", DAVE_STATUS_MESSAGE);
  printf("#define TOXCORE_DAVE_USER_STATUS %d /* TOX_USER_STATUS_BUSY */\n", TOX_USER_STATUS_BUSY);
  print_bytes("toxcore_online_self_pk", o_self, 32);
  print_bytes("toxcore_carol_pk", carol, 32);
  print_bytes("toxcore_dave_pk", dave, 32);
  return 0;
}
