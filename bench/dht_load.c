/* dht_load: load generator for the DHT bootstrap benchmark (bench/dht-bootstrap).
 *
 * Builds Tox DHT packets with libsodium directly, so the benchmark does not
 * trust toxwire's own encoder: a DHT packet is
 *   [kind][sender public key 32][nonce 24][MAC 16 | ciphertext]
 * sealed with crypto_box_easy_afternm under beforenm(receiver pk, sender sk).
 *   Ping Request  kind 0x00, plaintext [0x00][request id 8]      (82 bytes)
 *   Nodes Request kind 0x02, plaintext [target pk 32][request id 8] (113 bytes)
 * Answers (Ping Response 0x01, Nodes Response 0x04) are counted by their
 * kind byte without decrypting them.
 *
 * Subcommands:
 *   x25519  measure crypto_box_beforenm operations per second on this core
 *   prep    precompute request packets (few repeated keys, and one key per
 *           packet) into a file, so that no x25519 happens while timing
 *   probe   wait until a node answers a ping, or a nodes request with at
 *           least N nodes (decrypts the answer to count them)
 *   run     send requests from a prepared file and count answers over a
 *           timed window; closed loop (a window of requests in flight) or
 *           open loop (a target rate, 0 = as fast as possible)
 * Every subcommand prints one line of key=value pairs on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "load_common.h"

const char load_prog[] = "dht_load";

#define NONCE 24
#define MAC 16
#define HDR (1 + PK + NONCE)
#define PING_PLAIN 9
#define NODES_PLAIN (PK + 8)
#define PING_LEN (HDR + MAC + PING_PLAIN)   /* 82 */
#define NODES_LEN (HDR + MAC + NODES_PLAIN) /* 113 */

#define KIND_PING_REQ 0x00
#define KIND_PING_RESP 0x01
#define KIND_NODES_REQ 0x02
#define KIND_NODES_RESP 0x04

#define MAGIC "TWBENCH1"

typedef struct file_header {
  char magic[8];
  uint32_t few_keys, few_count, unique_count, reserved;
  uint8_t server_pk[PK];
} file_header;





/* Seals one request into out (PING_LEN or NODES_LEN bytes). */
static void build_packet(uint8_t *out, uint8_t kind, const uint8_t our_pk[PK],
                         const uint8_t shared[crypto_box_BEFORENMBYTES], const uint8_t *target) {
  uint8_t plain[NODES_PLAIN];
  size_t plen;
  if (kind == KIND_PING_REQ) {
    plain[0] = 0x00;
    randombytes_buf(plain + 1, 8);
    plen = PING_PLAIN;
  } else {
    memcpy(plain, target, PK);
    randombytes_buf(plain + PK, 8);
    plen = NODES_PLAIN;
  }
  out[0] = kind;
  memcpy(out + 1, our_pk, PK);
  randombytes_buf(out + 1 + PK, NONCE);
  crypto_box_easy_afternm(out + HDR, plain, plen, out + 1 + PK, shared);
}



/* ---- prep ---- */

typedef struct prep_job {
  const uint8_t *server_pk;
  uint8_t *ping, *nodes; /* unique arrays */
  size_t from, to;
} prep_job;

static void *prep_unique(void *arg) {
  prep_job *j = arg;
  for (size_t i = j->from; i < j->to; i++) {
    uint8_t pk[PK], sk[crypto_box_SECRETKEYBYTES], sh[crypto_box_BEFORENMBYTES];
    crypto_box_keypair(pk, sk);
    if (crypto_box_beforenm(sh, j->server_pk, sk) != 0) die("%s", "the server key is unusable");
    build_packet(j->ping + i * PING_LEN, KIND_PING_REQ, pk, sh, NULL);
    build_packet(j->nodes + i * NODES_LEN, KIND_NODES_REQ, pk, sh, pk); /* look for ourselves */
  }
  return NULL;
}

static int cmd_prep(const char *server_hex, const char *out, uint32_t few_keys, uint32_t few_count,
                    uint32_t unique, int threads) {
  file_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, MAGIC, 8);
  h.few_keys = few_keys;
  h.few_count = few_count;
  h.unique_count = unique;
  parse_pk(h.server_pk, server_hex);
  if (few_keys == 0 || few_count < few_keys) die("%s", "--few-keys must be >= 1 and <= --few-packets");
  if (threads < 1) threads = 1;
  if (threads > 64) threads = 64;

  size_t few_ping_sz = (size_t)few_count * PING_LEN, few_nodes_sz = (size_t)few_count * NODES_LEN;
  size_t u_ping_sz = (size_t)unique * PING_LEN, u_nodes_sz = (size_t)unique * NODES_LEN;
  uint8_t *few_ping = malloc(few_ping_sz), *few_nodes = malloc(few_nodes_sz);
  uint8_t *u_ping = malloc(u_ping_sz ? u_ping_sz : 1), *u_nodes = malloc(u_nodes_sz ? u_nodes_sz : 1);
  if (!few_ping || !few_nodes || !u_ping || !u_nodes) die("%s", "out of memory");

  double t0 = now_s();
  /* A few dozen keys, each used round robin: packet i is from key i % few_keys,
   * with its own nonce and request id. Nodes requests look for random keys. */
  uint8_t(*fpk)[PK] = malloc((size_t)few_keys * PK);
  uint8_t(*fsh)[crypto_box_BEFORENMBYTES] = malloc((size_t)few_keys * crypto_box_BEFORENMBYTES);
  if (!fpk || !fsh) die("%s", "out of memory");
  for (uint32_t k = 0; k < few_keys; k++) {
    uint8_t sk[crypto_box_SECRETKEYBYTES];
    crypto_box_keypair(fpk[k], sk);
    if (crypto_box_beforenm(fsh[k], h.server_pk, sk) != 0) die("%s", "the server key is unusable");
  }
  for (uint32_t i = 0; i < few_count; i++) {
    uint8_t target[PK];
    randombytes_buf(target, PK);
    build_packet(few_ping + (size_t)i * PING_LEN, KIND_PING_REQ, fpk[i % few_keys], fsh[i % few_keys], NULL);
    build_packet(few_nodes + (size_t)i * NODES_LEN, KIND_NODES_REQ, fpk[i % few_keys], fsh[i % few_keys],
                 target);
  }

  pthread_t tid[64];
  prep_job jobs[64];
  for (int t = 0; t < threads; t++) {
    jobs[t] = (prep_job){h.server_pk, u_ping, u_nodes, (size_t)unique * (size_t)t / (size_t)threads,
                         (size_t)unique * (size_t)(t + 1) / (size_t)threads};
    if (pthread_create(&tid[t], NULL, prep_unique, &jobs[t]) != 0) die("%s", "pthread_create failed");
  }
  for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
  double t1 = now_s();

  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", out);
  FILE *f = fopen(tmp, "wb");
  if (f == NULL) die("cannot write '%s'", tmp);
  if (fwrite(&h, sizeof h, 1, f) != 1 || fwrite(few_ping, 1, few_ping_sz, f) != few_ping_sz ||
      fwrite(few_nodes, 1, few_nodes_sz, f) != few_nodes_sz ||
      fwrite(u_ping, 1, u_ping_sz, f) != u_ping_sz || fwrite(u_nodes, 1, u_nodes_sz, f) != u_nodes_sz ||
      fclose(f) != 0)
    die("cannot write '%s'", tmp);
  if (rename(tmp, out) != 0) die("cannot rename to '%s'", out);
  printf("prep_seconds=%.2f few_keys=%u few_packets=%u unique_keys=%u threads=%d file_bytes=%zu\n",
         t1 - t0, few_keys, few_count, unique, threads,
         sizeof h + few_ping_sz + few_nodes_sz + u_ping_sz + u_nodes_sz);
  free(few_ping);
  free(few_nodes);
  free(u_ping);
  free(u_nodes);
  free(fpk);
  free(fsh);
  return 0;
}

/* ---- sockets ---- */

static int open_socket(const struct sockaddr_in *server, int rcvbuf) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: %s", strerror(errno));
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int sndbuf = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr = server->sin_addr};
  if (bind(fd, (struct sockaddr *)&any, sizeof any) != 0) die("bind: %s", strerror(errno));
  /* Connected: we only ever hear from the node under test. */
  if (connect(fd, (const struct sockaddr *)server, sizeof *server) != 0)
    die("connect: %s", strerror(errno));
  return fd;
}

/* ---- probe ---- */

static int cmd_probe(const char *server_s, const char *server_hex, const char *kind, int min_nodes,
                     double timeout) {
  struct sockaddr_in server;
  parse_addr(&server, server_s);
  uint8_t spk[PK], pk[PK], sk[crypto_box_SECRETKEYBYTES], sh[crypto_box_BEFORENMBYTES];
  parse_pk(spk, server_hex);
  crypto_box_keypair(pk, sk);
  if (crypto_box_beforenm(sh, spk, sk) != 0) die("%s", "the server key is unusable");
  bool nodes = strcmp(kind, "nodes") == 0;
  int fd = open_socket(&server, 1 << 20);
  double t0 = now_s(), next = t0;
  int best = -1, sent = 0;
  while (now_s() - t0 < timeout) {
    double t = now_s();
    if (t >= next) {
      uint8_t pkt[NODES_LEN], target[PK];
      randombytes_buf(target, PK);
      build_packet(pkt, nodes ? KIND_NODES_REQ : KIND_PING_REQ, pk, sh, target);
      send(fd, pkt, nodes ? NODES_LEN : PING_LEN, 0);
      sent++;
      next = t + 0.1;
    }
    uint8_t buf[2048];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      struct timespec ts = {0, 5 * 1000 * 1000};
      nanosleep(&ts, NULL);
      continue;
    }
    uint8_t want = nodes ? KIND_NODES_RESP : KIND_PING_RESP;
    if (n < HDR + MAC + 1 || buf[0] != want || memcmp(buf + 1, spk, PK) != 0) continue;
    uint8_t plain[2048];
    if (crypto_box_open_easy_afternm(plain, buf + HDR, (unsigned long long)(n - HDR), buf + 1 + PK, sh) != 0)
      continue; /* not for us, or a bad key */
    int count = nodes ? plain[0] : 0;
    if (count > best) best = count;
    if (!nodes || count >= min_nodes) {
      printf("probe_ok=1 kind=%s nodes=%d requests=%d seconds=%.2f\n", kind, count, sent, now_s() - t0);
      close(fd);
      return 0;
    }
  }
  printf("probe_ok=0 kind=%s nodes=%d requests=%d seconds=%.2f\n", kind, best, sent, now_s() - t0);
  close(fd);
  return 1;
}

/* ---- run ---- */



typedef struct counters {
  uint64_t sent, answers, rx_total, rx_kind[256], writeoffs, written_off, send_fail;
} counters;

static int cmd_run(const char *server_s, const char *file, const char *set, const char *kind,
                   double warmup, double seconds, int window, double rate, int batch, int pid,
                   int nsock, double loss_ms, int watch_cpu) {
  struct sockaddr_in server;
  parse_addr(&server, server_s);
  bool nodes = strcmp(kind, "nodes") == 0;
  bool few = strcmp(set, "few") == 0;
  if (!nodes && strcmp(kind, "ping") != 0) die("--kind must be ping or nodes, not '%s'", kind);
  if (!few && strcmp(set, "unique") != 0) die("--set must be few or unique, not '%s'", set);
  if (batch < 1) batch = 1;
  if (batch > 256) batch = 256;
  if (nsock < 1) nsock = 1;
  if (nsock > 64) nsock = 64;

  int ffd = open(file, O_RDONLY | O_CLOEXEC);
  if (ffd < 0) die("cannot open '%s'", file);
  struct stat st;
  fstat(ffd, &st);
  uint8_t *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, ffd, 0);
  close(ffd);
  if (map == MAP_FAILED || (size_t)st.st_size < sizeof(file_header)) die("cannot map '%s'", file);
  file_header h;
  memcpy(&h, map, sizeof h);
  if (memcmp(h.magic, MAGIC, 8) != 0) die("'%s' is not a dht_load packet file", file);
  size_t off_few_ping = sizeof h;
  size_t off_few_nodes = off_few_ping + (size_t)h.few_count * PING_LEN;
  size_t off_u_ping = off_few_nodes + (size_t)h.few_count * NODES_LEN;
  size_t off_u_nodes = off_u_ping + (size_t)h.unique_count * PING_LEN;
  size_t plen = nodes ? NODES_LEN : PING_LEN;
  size_t count = few ? h.few_count : h.unique_count;
  const uint8_t *pool =
      map + (few ? (nodes ? off_few_nodes : off_few_ping) : (nodes ? off_u_nodes : off_u_ping));
  if (count == 0) die("%s", "no packets of that set in the file");
  /* Start at a random place so that repeated runs do not replay one another. */
  size_t cursor = randombytes_uniform((uint32_t)count);

  int fds[64];
  for (int i = 0; i < nsock; i++) fds[i] = open_socket(&server, 32 << 20);
  uint8_t want = nodes ? KIND_NODES_RESP : KIND_PING_RESP;

  enum { RB = 256 };
  static uint8_t rbuf[RB][512];
  static struct iovec riov[RB];
  static struct mmsghdr rmsg[RB];
  for (int i = 0; i < RB; i++) {
    riov[i] = (struct iovec){rbuf[i], sizeof rbuf[i]};
    memset(&rmsg[i], 0, sizeof rmsg[i]);
    rmsg[i].msg_hdr.msg_iov = &riov[i];
    rmsg[i].msg_hdr.msg_iovlen = 1;
  }
  struct iovec siov[256];
  struct mmsghdr smsg[256];

  counters c;
  memset(&c, 0, sizeof c);
  counters c0 = c;
  double cpu0 = 0, cpu1 = 0;
  bool have_cpu = false, have_jiffies = false;
  unsigned long long jb0 = 0, jt0 = 0, jb1 = 0, jt1 = 0;

  double t_start = now_s(), t_measure = t_start + warmup, t_end = t_measure + seconds;
  double last_answer = t_start, t0 = 0, t1 = 0;
  double rate_credit = 0, last_rate_t = t_start;
  bool measuring = false;
  int sock_rr = 0;
  uint64_t iters = 0;

  for (;;) {
    double t = now_s();
    if (!measuring && t >= t_measure) {
      measuring = true;
      c0 = c;
      t0 = t;
      if (pid > 0) have_cpu = read_proc_cpu(pid, &cpu0);
      if (watch_cpu >= 0) have_jiffies = read_cpu_jiffies(watch_cpu, &jb0, &jt0);
    }
    if (t >= t_end) {
      if (pid > 0 && have_cpu) have_cpu = read_proc_cpu(pid, &cpu1);
      if (have_jiffies) have_jiffies = read_cpu_jiffies(watch_cpu, &jb1, &jt1);
      t1 = now_s();
      break;
    }
    iters++;

    /* How many may we send now? */
    long allow = batch;
    if (window > 0) {
      long outstanding = (long)(c.sent - c.answers - c.written_off);
      if (outstanding >= window && t - last_answer > loss_ms * 1e-3) {
        /* Nothing came back for a while: those requests (or their answers)
         * were lost. Forget them so the loop does not stall. */
        c.written_off += (uint64_t)outstanding;
        c.writeoffs++;
        outstanding = 0;
        last_answer = t;
      }
      long room = window - outstanding;
      if (room < allow) allow = room;
    }
    if (rate > 0) {
      rate_credit += (t - last_rate_t) * rate;
      last_rate_t = t;
      if (rate_credit > batch * 4.0) rate_credit = batch * 4.0;
      if ((double)allow > rate_credit) allow = (long)rate_credit;
    }
    /* Send in batches; with a window, wait until a useful batch fits (at
     * least a quarter) rather than trickling one packet per loop. */
    long min_send = window > 0 ? (window / 4 < batch ? window / 4 : batch) : 1;
    if (min_send < 1) min_send = 1;
    if (allow >= min_send) {
      for (long i = 0; i < allow; i++) {
        siov[i] = (struct iovec){(void *)(pool + cursor * plen), plen};
        memset(&smsg[i], 0, sizeof smsg[i]);
        smsg[i].msg_hdr.msg_iov = &siov[i];
        smsg[i].msg_hdr.msg_iovlen = 1;
        if (++cursor == count) cursor = 0;
      }
      int fd = fds[sock_rr];
      if (++sock_rr == nsock) sock_rr = 0;
      int r = sendmmsg(fd, smsg, (unsigned)allow, 0);
      if (r < 0) {
        c.send_fail += (uint64_t)allow;
        cursor = (cursor + count - (size_t)allow) % count;
      } else {
        c.sent += (uint64_t)r;
        if (r < allow) cursor = (cursor + count - (size_t)(allow - r)) % count;
        if (rate > 0) rate_credit -= r;
      }
    }

    /* Drain answers. */
    uint64_t answers_before = c.answers;
    for (int s = 0; s < nsock; s++) {
      for (;;) {
        int r = recvmmsg(fds[s], rmsg, RB, MSG_DONTWAIT, NULL);
        if (r <= 0) break;
        for (int i = 0; i < r; i++) {
          if (rmsg[i].msg_len == 0) continue;
          uint8_t k = rbuf[i][0];
          c.rx_kind[k]++;
          c.rx_total++;
          if (k == want) c.answers++;
        }
        if (r < RB) break;
      }
    }
    if (c.answers != answers_before) last_answer = now_s();
  }

  double secs = t1 - t0;
  uint64_t answers = c.answers - c0.answers, sent = c.sent - c0.sent;
  double aps = (double)answers / secs;
  printf("set=%s kind=%s window_s=%.3f sent=%" PRIu64 " answers=%" PRIu64 " answers_per_s=%.0f"
         " sent_per_s=%.0f answered_frac=%.4f",
         set, kind, secs, sent, answers, aps, (double)sent / secs,
         sent ? (double)answers / (double)sent : 0.0);
  if (pid > 0 && have_cpu) {
    double cpu = cpu1 - cpu0;
    printf(" server_cpu_s=%.3f server_busy=%.3f cpu_s_per_100k=%.4f", cpu, cpu / secs,
           answers ? cpu * 100000.0 / (double)answers : 0.0);
  }
  if (have_jiffies && jt1 > jt0)
    printf(" cpu%d_busy=%.3f", watch_cpu, (double)(jb1 - jb0) / (double)(jt1 - jt0));
  printf(" writeoffs=%" PRIu64 " send_fail=%" PRIu64 " rx_ping_req=%" PRIu64 " rx_nodes_req=%" PRIu64
         " rx_other=%" PRIu64 " pool=%zu window=%d rate=%.0f batch=%d sockets=%d\n",
         c.writeoffs - c0.writeoffs, c.send_fail - c0.send_fail,
         c.rx_kind[KIND_PING_REQ] - c0.rx_kind[KIND_PING_REQ],
         c.rx_kind[KIND_NODES_REQ] - c0.rx_kind[KIND_NODES_REQ],
         (c.rx_total - c0.rx_total) - (answers + c.rx_kind[KIND_PING_REQ] - c0.rx_kind[KIND_PING_REQ] +
                                       c.rx_kind[KIND_NODES_REQ] - c0.rx_kind[KIND_NODES_REQ]),
         count, window, rate, batch, nsock);
  for (int i = 0; i < nsock; i++) close(fds[i]);
  munmap(map, (size_t)st.st_size);
  return 0;
}

/* ---- main ---- */

static const char *USAGE =
    "usage: dht_load x25519 [--seconds S]\n"
    "       dht_load prep --server-pk HEX --out FILE [--few-keys 32] [--few-packets 16384]\n"
    "                     [--unique N] [--threads T]\n"
    "       dht_load probe --server IP:PORT --server-pk HEX [--kind ping|nodes] [--min-nodes N]\n"
    "                      [--timeout S]\n"
    "       dht_load run --server IP:PORT --packets FILE --set few|unique --kind ping|nodes\n"
    "                    [--warmup S] [--seconds S] [--window N] [--rate R] [--batch B]\n"
    "                    [--pid PID] [--sockets K] [--loss-ms MS] [--watch-cpu N]\n"
    "  run: --window N keeps N requests in flight (closed loop; 0 = no window);\n"
    "       --rate R sends at most R requests/s (open loop; 0 = no limit);\n"
    "       --pid PID reports that process's CPU time over the window, --watch-cpu N\n"
    "       how busy CPU N was (all processes).\n";

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(USAGE, stderr);
    return 2;
  }
  if (sodium_init() < 0) die("%s", "sodium_init failed");
  const char *cmd = argv[1];
  const char *server = NULL, *server_pk = NULL, *out = NULL, *packets = NULL, *set = "few",
             *kind = "ping";
  double seconds = 5, warmup = 1, rate = 0, timeout = 20, loss_ms = 20;
  long few_keys = 32, few_packets = 16384, unique = 0, threads = 1, window = 256, batch = 32,
       pid = 0, sockets = 1, min_nodes = 1, watch_cpu = -1;
  static const struct option opts[] = {
      {"server", required_argument, 0, 's'},   {"server-pk", required_argument, 0, 'k'},
      {"out", required_argument, 0, 'o'},      {"packets", required_argument, 0, 'p'},
      {"set", required_argument, 0, 'S'},      {"kind", required_argument, 0, 'K'},
      {"seconds", required_argument, 0, 't'},  {"warmup", required_argument, 0, 'w'},
      {"rate", required_argument, 0, 'r'},     {"timeout", required_argument, 0, 'T'},
      {"few-keys", required_argument, 0, 'f'}, {"few-packets", required_argument, 0, 'F'},
      {"unique", required_argument, 0, 'u'},   {"threads", required_argument, 0, 'j'},
      {"window", required_argument, 0, 'W'},   {"batch", required_argument, 0, 'b'},
      {"pid", required_argument, 0, 'P'},      {"sockets", required_argument, 0, 'n'},
      {"min-nodes", required_argument, 0, 'm'}, {"loss-ms", required_argument, 0, 'L'},
      {"watch-cpu", required_argument, 0, 'C'},
      {0, 0, 0, 0}};
  optind = 2;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 's': server = optarg; break;
      case 'k': server_pk = optarg; break;
      case 'o': out = optarg; break;
      case 'p': packets = optarg; break;
      case 'S': set = optarg; break;
      case 'K': kind = optarg; break;
      case 't': seconds = atof(optarg); break;
      case 'w': warmup = atof(optarg); break;
      case 'r': rate = atof(optarg); break;
      case 'T': timeout = atof(optarg); break;
      case 'L': loss_ms = atof(optarg); break;
      case 'f': few_keys = atol(optarg); break;
      case 'F': few_packets = atol(optarg); break;
      case 'u': unique = atol(optarg); break;
      case 'j': threads = atol(optarg); break;
      case 'W': window = atol(optarg); break;
      case 'b': batch = atol(optarg); break;
      case 'P': pid = atol(optarg); break;
      case 'n': sockets = atol(optarg); break;
      case 'm': min_nodes = atol(optarg); break;
      case 'C': watch_cpu = atol(optarg); break;
      default: fputs(USAGE, stderr); return 2;
    }
  }
  if (strcmp(cmd, "x25519") == 0) return cmd_x25519(seconds);
  if (strcmp(cmd, "prep") == 0) {
    if (!server_pk || !out) die("%s", "prep needs --server-pk and --out");
    if (few_keys < 1 || few_packets < 1 || unique < 0 || unique > 50000000)
      die("%s", "bad --few-keys, --few-packets or --unique");
    return cmd_prep(server_pk, out, (uint32_t)few_keys, (uint32_t)few_packets, (uint32_t)unique,
                    (int)threads);
  }
  if (strcmp(cmd, "probe") == 0) {
    if (!server || !server_pk) die("%s", "probe needs --server and --server-pk");
    return cmd_probe(server, server_pk, kind, (int)min_nodes, timeout);
  }
  if (strcmp(cmd, "run") == 0) {
    if (!server || !packets) die("%s", "run needs --server and --packets");
    return cmd_run(server, packets, set, kind, warmup, seconds, (int)window, rate, (int)batch,
                   (int)pid, (int)sockets, loss_ms, (int)watch_cpu);
  }
  fputs(USAGE, stderr);
  return 2;
}
