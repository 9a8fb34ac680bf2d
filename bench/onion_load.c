/* onion_load: load generator for the onion relay benchmark (bench/onion-relay).
 *
 * Builds onion packets with libsodium directly, so the benchmark does not
 * trust toxwire's own encoder. The node under test is node A of a path; the
 * generator plays both the client (socket S) and node B (socket H, bound to
 * the hop address written into every packet):
 *
 *   S -> A  Onion Request 0  [0x80][nonce 24][sender pk 32]
 *                            [box(beforenm(server pk, sender sk), nonce,
 *                                 [IP_Port of H 19][PK1 32][payload])]
 *   A -> H  Onion Request 1  [0x81][nonce 24][PK1 32][payload][return 59]
 *   H -> A  Onion Response 1 [0x8e][return 59][data]        (data[0] = 0x84)
 *   A -> S  data
 *
 * IP_Port is [family 2][IPv4 4][12 zero bytes][port, big endian]; the box is
 * crypto_box_easy_afternm (xsalsa20-poly1305, MAC first). The payload is
 * opaque to node A (random bytes standing for the layers for B and C); the
 * return path layer is the last 59 bytes of what H receives ([nonce 24]
 * [secretbox of the client's IP_Port]) and only node A can open it.
 *
 * Subcommands:
 *   x25519  measure crypto_box_beforenm operations per second on this core
 *   prep    precompute Onion Request 0 packets (a few repeated sender keys,
 *           and a new sender key per packet) into a file
 *   probe   check that a node relays one request to H and one response back
 *   run     send requests (or responses) from a prepared file over a timed
 *           window, keeping a window of them in flight, and count what the
 *           node relays: Onion Request 1 packets arriving at H, or (--set
 *           response) data arriving at S. Responses need return path layers
 *           the node made: run first relays a batch of requests and keeps the
 *           last 59 bytes of each Onion Request 1.
 * Every subcommand prints one line of key=value pairs on stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "load_common.h"

const char load_prog[] = "onion_load";

#define NONCE 24
#define MAC 16
#define IPPORT 19
#define RETURN1 (NONCE + IPPORT + MAC) /* 59: node A's return path layer */
#define MAX_PKT 1400

#define KIND_REQ0 0x80
#define KIND_REQ1 0x81
#define KIND_RESP1 0x8e
#define KIND_ANNOUNCE_RESP 0x84

#define MAGIC "TWONION1"

typedef struct file_header {
  char magic[8];
  uint32_t few_keys, few_count, unique_count, pkt_len;
  uint32_t payload, hop_ip; /* hop_ip in network order */
  uint16_t hop_port, reserved;  /* host order */
  uint32_t reserved2;
  uint8_t server_pk[PK];
} file_header;






static size_t req0_len(uint32_t payload) { return 1 + NONCE + PK + MAC + IPPORT + PK + payload; }
/* What node A sends on: the layer for B, with its return path layer. */
static size_t req1_len(uint32_t payload) { return 1 + NONCE + PK + payload + RETURN1; }

/* Seals one Onion Request 0 into out (req0_len(payload) bytes). */
static void build_request(uint8_t *out, const file_header *h, const uint8_t our_pk[PK],
                          const uint8_t shared[crypto_box_BEFORENMBYTES]) {
  uint8_t plain[IPPORT + PK + MAX_PKT];
  memset(plain, 0, IPPORT);
  plain[0] = 2; /* TOX_AF_INET */
  memcpy(plain + 1, &h->hop_ip, 4);
  plain[17] = (uint8_t)(h->hop_port >> 8);
  plain[18] = (uint8_t)(h->hop_port & 0xff);
  randombytes_buf(plain + IPPORT, PK + h->payload); /* PK1 and the layers for B and C */
  out[0] = KIND_REQ0;
  randombytes_buf(out + 1, NONCE);
  memcpy(out + 1 + NONCE, our_pk, PK);
  crypto_box_easy_afternm(out + 1 + NONCE + PK, plain, IPPORT + PK + h->payload, out + 1, shared);
}


/* ---- prep ---- */

typedef struct prep_job {
  const file_header *h;
  uint8_t *pkts;
  size_t from, to;
} prep_job;

static void *prep_unique(void *arg) {
  prep_job *j = arg;
  size_t plen = j->h->pkt_len;
  for (size_t i = j->from; i < j->to; i++) {
    uint8_t pk[PK], sk[crypto_box_SECRETKEYBYTES], sh[crypto_box_BEFORENMBYTES];
    crypto_box_keypair(pk, sk);
    if (crypto_box_beforenm(sh, j->h->server_pk, sk) != 0) die("%s", "the server key is unusable");
    build_request(j->pkts + i * plen, j->h, pk, sh);
  }
  return NULL;
}

static int cmd_prep(const char *server_hex, const char *hop_s, const char *out, uint32_t few_keys,
                    uint32_t few_count, uint32_t unique, uint32_t payload, int threads) {
  file_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, MAGIC, 8);
  struct sockaddr_in hop;
  parse_addr(&hop, hop_s);
  h.hop_ip = hop.sin_addr.s_addr;
  h.hop_port = ntohs(hop.sin_port);
  h.few_keys = few_keys;
  h.few_count = few_count;
  h.unique_count = unique;
  h.payload = payload;
  h.pkt_len = (uint32_t)req0_len(payload);
  parse_pk(h.server_pk, server_hex);
  if (few_keys == 0 || few_count < few_keys) die("%s", "--few-keys must be >= 1 and <= --few-packets");
  if (h.pkt_len > MAX_PKT || req1_len(payload) > MAX_PKT) die("%s", "--payload too large");
  if (threads < 1) threads = 1;
  if (threads > 64) threads = 64;

  size_t few_sz = (size_t)few_count * h.pkt_len, u_sz = (size_t)unique * h.pkt_len;
  uint8_t *few = malloc(few_sz), *uniq = malloc(u_sz ? u_sz : 1);
  if (!few || !uniq) die("%s", "out of memory");

  double t0 = now_s();
  /* A pool of sender keys, used round robin: packet i is from key i % few_keys
   * (like the paths of a few clients), each with its own nonce and payload. */
  uint8_t(*fpk)[PK] = malloc((size_t)few_keys * PK);
  uint8_t(*fsh)[crypto_box_BEFORENMBYTES] = malloc((size_t)few_keys * crypto_box_BEFORENMBYTES);
  if (!fpk || !fsh) die("%s", "out of memory");
  for (uint32_t k = 0; k < few_keys; k++) {
    uint8_t sk[crypto_box_SECRETKEYBYTES];
    crypto_box_keypair(fpk[k], sk);
    if (crypto_box_beforenm(fsh[k], h.server_pk, sk) != 0) die("%s", "the server key is unusable");
  }
  for (uint32_t i = 0; i < few_count; i++)
    build_request(few + (size_t)i * h.pkt_len, &h, fpk[i % few_keys], fsh[i % few_keys]);

  pthread_t tid[64];
  prep_job jobs[64];
  for (int t = 0; t < threads; t++) {
    jobs[t] = (prep_job){&h, uniq, (size_t)unique * (size_t)t / (size_t)threads,
                         (size_t)unique * (size_t)(t + 1) / (size_t)threads};
    if (pthread_create(&tid[t], NULL, prep_unique, &jobs[t]) != 0) die("%s", "pthread_create failed");
  }
  for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
  double t1 = now_s();

  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", out);
  FILE *f = fopen(tmp, "wb");
  if (f == NULL) die("cannot write '%s'", tmp);
  if (fwrite(&h, sizeof h, 1, f) != 1 || fwrite(few, 1, few_sz, f) != few_sz ||
      fwrite(uniq, 1, u_sz, f) != u_sz || fclose(f) != 0)
    die("cannot write '%s'", tmp);
  if (rename(tmp, out) != 0) die("cannot rename to '%s'", out);
  printf("prep_seconds=%.2f few_keys=%u few_packets=%u unique_keys=%u payload=%u request_len=%u"
         " relayed_len=%zu threads=%d file_bytes=%zu\n",
         t1 - t0, few_keys, few_count, unique, payload, h.pkt_len, req1_len(payload), threads,
         sizeof h + few_sz + u_sz);
  free(few);
  free(uniq);
  free(fpk);
  free(fsh);
  return 0;
}

/* ---- packet file ---- */

typedef struct pfile {
  uint8_t *map;
  size_t map_len;
  file_header h;
  const uint8_t *few, *uniq;
} pfile;

static void pfile_open(pfile *p, const char *file) {
  int ffd = open(file, O_RDONLY | O_CLOEXEC);
  if (ffd < 0) die("cannot open '%s'", file);
  struct stat st;
  fstat(ffd, &st);
  p->map_len = (size_t)st.st_size;
  p->map = mmap(NULL, p->map_len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, ffd, 0);
  close(ffd);
  if (p->map == MAP_FAILED || p->map_len < sizeof(file_header)) die("cannot map '%s'", file);
  memcpy(&p->h, p->map, sizeof p->h);
  if (memcmp(p->h.magic, MAGIC, 8) != 0) die("'%s' is not an onion_load packet file", file);
  if (p->map_len != sizeof p->h + (size_t)(p->h.few_count + p->h.unique_count) * p->h.pkt_len)
    die("'%s' is truncated", file);
  p->few = p->map + sizeof p->h;
  p->uniq = p->few + (size_t)p->h.few_count * p->h.pkt_len;
}

/* ---- sockets ---- */

static void set_bufs(int fd, int rcvbuf) {
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int sndbuf = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
}

/* A socket bound to bind_ip:bind_port (0: any port) and connected to the
 * node under test: we only ever hear from it. */
static int open_socket(const struct sockaddr_in *server, uint32_t bind_ip, uint16_t bind_port,
                       int rcvbuf) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket: %s", strerror(errno));
  set_bufs(fd, rcvbuf);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = bind_ip,
                          .sin_port = htons(bind_port)};
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) die("bind: %s", strerror(errno));
  if (connect(fd, (const struct sockaddr *)server, sizeof *server) != 0)
    die("connect: %s", strerror(errno));
  return fd;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000 * 1000};
  nanosleep(&ts, NULL);
}

/* Response packets: [0x8e][return 59][data], data = [0x84][random]. */
static uint8_t *build_responses(const uint8_t *blobs, size_t nblobs, size_t data_len) {
  size_t rlen = 1 + RETURN1 + data_len;
  uint8_t *r = malloc(nblobs * rlen);
  if (r == NULL) die("%s", "out of memory");
  for (size_t i = 0; i < nblobs; i++) {
    uint8_t *p = r + i * rlen;
    p[0] = KIND_RESP1;
    memcpy(p + 1, blobs + i * RETURN1, RETURN1);
    p[1 + RETURN1] = KIND_ANNOUNCE_RESP;
    randombytes_buf(p + 2 + RETURN1, data_len - 1);
  }
  return r;
}

/* ---- probe ---- */

static int cmd_probe(const char *server_s, const char *file, int data_len, double timeout) {
  struct sockaddr_in server;
  parse_addr(&server, server_s);
  pfile pf;
  pfile_open(&pf, file);
  int s = open_socket(&server, pf.h.hop_ip, 0, 1 << 20);
  int hop = open_socket(&server, pf.h.hop_ip, pf.h.hop_port, 1 << 20);
  size_t want_len = req1_len(pf.h.payload);
  double t0 = now_s(), next = t0;
  int sent = 0, got_req = 0, got_resp = 0, bad_len = 0, resp_sent = 0;
  uint8_t blob[RETURN1], *resp = NULL;
  size_t rlen = 1 + RETURN1 + (size_t)data_len;
  while (now_s() - t0 < timeout && !got_resp) {
    double t = now_s();
    if (t >= next) {
      if (!got_req) {
        send(s, pf.few + (size_t)(sent % (int)pf.h.few_count) * pf.h.pkt_len, pf.h.pkt_len, 0);
        sent++;
      } else {
        send(hop, resp, rlen, 0);
        resp_sent++;
      }
      next = t + 0.1;
    }
    uint8_t buf[2048];
    ssize_t n = recv(hop, buf, sizeof buf, 0);
    if (n > 0 && buf[0] == KIND_REQ1 && !got_req) {
      if ((size_t)n != want_len) bad_len++;
      if ((size_t)n >= RETURN1 + 1) {
        memcpy(blob, buf + n - RETURN1, RETURN1);
        resp = build_responses(blob, 1, (size_t)data_len);
        got_req = 1;
        next = 0;
      }
    }
    n = recv(s, buf, sizeof buf, 0);
    if (n > 0 && got_req && (size_t)n == (size_t)data_len && buf[0] == KIND_ANNOUNCE_RESP &&
        memcmp(buf, resp + 1 + RETURN1, (size_t)data_len) == 0)
      got_resp = 1;
    if (n <= 0) sleep_ms(2);
  }
  printf("request_ok=%d response_ok=%d requests=%d responses=%d bad_len=%d seconds=%.2f\n", got_req,
         got_resp, sent, resp_sent, bad_len, now_s() - t0);
  free(resp);
  close(s);
  close(hop);
  munmap(pf.map, pf.map_len);
  return got_req && got_resp ? 0 : 1;
}

/* ---- run ---- */



enum { RB = 256 };
static uint8_t rbuf[RB][MAX_PKT + 100];
static struct iovec riov[RB];
static struct mmsghdr rmsg[RB];

static void init_rmsg(void) {
  for (int i = 0; i < RB; i++) {
    riov[i] = (struct iovec){rbuf[i], sizeof rbuf[i]};
    memset(&rmsg[i], 0, sizeof rmsg[i]);
    rmsg[i].msg_hdr.msg_iov = &riov[i];
    rmsg[i].msg_hdr.msg_iovlen = 1;
  }
}

/* Relays received on fd: packets of kind want and length want_len. With
 * blobs, keeps the return path layer of each (up to *nblobs < max_blobs). */
typedef struct rx_count {
  uint64_t good, other, bad_len;
} rx_count;

static void drain(int fd, uint8_t want, size_t want_len, rx_count *c, uint8_t *blobs,
                  size_t *nblobs, size_t max_blobs) {
  for (;;) {
    int r = recvmmsg(fd, rmsg, RB, MSG_DONTWAIT, NULL);
    if (r <= 0) return;
    for (int i = 0; i < r; i++) {
      size_t n = rmsg[i].msg_len;
      if (n == 0 || rbuf[i][0] != want) {
        c->other++;
        continue;
      }
      if (n != want_len) {
        c->bad_len++;
        continue;
      }
      c->good++;
      if (blobs != NULL && *nblobs < max_blobs && n >= RETURN1) {
        memcpy(blobs + *nblobs * RETURN1, rbuf[i] + n - RETURN1, RETURN1);
        (*nblobs)++;
      }
    }
    if (r < RB) return;
  }
}

/* Sends up to n packets of pool (count packets of plen bytes) from *cursor. */
static int send_batch(int fd, const uint8_t *pool, size_t count, size_t plen, size_t *cursor,
                      long n) {
  static struct iovec siov[256];
  static struct mmsghdr smsg[256];
  if (n > 256) n = 256;
  size_t start = *cursor;
  for (long i = 0; i < n; i++) {
    siov[i] = (struct iovec){(void *)(pool + *cursor * plen), plen};
    memset(&smsg[i], 0, sizeof smsg[i]);
    smsg[i].msg_hdr.msg_iov = &siov[i];
    smsg[i].msg_hdr.msg_iovlen = 1;
    if (++*cursor == count) *cursor = 0;
  }
  int r = sendmmsg(fd, smsg, (unsigned)n, 0);
  *cursor = (start + (size_t)(r > 0 ? r : 0)) % count;
  return r;
}

/* Relays a batch of requests to collect return path layers for responses. */
static size_t collect_blobs(int s, int hop, const pfile *pf, uint8_t *blobs, size_t want,
                            double timeout) {
  size_t got = 0, cursor = 0;
  rx_count c = {0};
  size_t req1 = req1_len(pf->h.payload);
  double t0 = now_s();
  uint64_t sent = 0;
  while (got < want && now_s() - t0 < timeout) {
    /* At most 256 unanswered at a time, so that none are dropped. */
    if (sent - c.good - c.bad_len < 256) {
      int r = send_batch(s, pf->few, pf->h.few_count, pf->h.pkt_len, &cursor, 64);
      if (r > 0) sent += (uint64_t)r;
    }
    size_t before = got;
    drain(hop, KIND_REQ1, req1, &c, blobs, &got, want);
    if (got == before) {
      sleep_ms(1);
      if (sent - c.good - c.bad_len >= 256 && got == before) sent = c.good + c.bad_len; /* lost */
    }
  }
  return got;
}

static int cmd_run(const char *server_s, const char *file, const char *set, double warmup,
                   double seconds, int window, int batch, int pid, double loss_ms, int watch_cpu,
                   int nblobs_want, int data_len) {
  struct sockaddr_in server;
  parse_addr(&server, server_s);
  bool resp = strcmp(set, "response") == 0, few = strcmp(set, "few") == 0;
  if (!resp && !few && strcmp(set, "unique") != 0)
    die("--set must be few, unique or response, not '%s'", set);
  if (batch < 1) batch = 1;
  if (batch > 256) batch = 256;
  pfile pf;
  pfile_open(&pf, file);
  init_rmsg();

  int s = open_socket(&server, pf.h.hop_ip, 0, 32 << 20);
  int hop = open_socket(&server, pf.h.hop_ip, pf.h.hop_port, 32 << 20);

  const uint8_t *pool;
  size_t count, plen, want_len;
  uint8_t want;
  int send_fd, recv_fd;
  uint8_t *resp_pool = NULL;
  size_t nblobs = 0;
  double collect_s = 0;
  if (resp) {
    uint8_t *blobs = malloc((size_t)nblobs_want * RETURN1);
    if (blobs == NULL) die("%s", "out of memory");
    double c0 = now_s();
    nblobs = collect_blobs(s, hop, &pf, blobs, (size_t)nblobs_want, 10.0);
    collect_s = now_s() - c0;
    if (nblobs == 0) {
      printf("set=response relayed=0 relays_per_s=0 blobs=0 error=no_requests_relayed\n");
      return 1;
    }
    resp_pool = build_responses(blobs, nblobs, (size_t)data_len);
    free(blobs);
    pool = resp_pool;
    count = nblobs;
    plen = 1 + RETURN1 + (size_t)data_len;
    want = KIND_ANNOUNCE_RESP;
    want_len = (size_t)data_len;
    send_fd = hop; /* node B sends the response back to A ... */
    recv_fd = s;   /* ... which passes the data on to the client */
    sleep_ms(50);
    rx_count junk = {0};
    drain(hop, KIND_REQ1, 0, &junk, NULL, NULL, 0);
  } else {
    pool = few ? pf.few : pf.uniq;
    count = few ? pf.h.few_count : pf.h.unique_count;
    plen = pf.h.pkt_len;
    want = KIND_REQ1;
    want_len = req1_len(pf.h.payload);
    send_fd = s;
    recv_fd = hop;
  }
  if (count == 0) die("%s", "no packets of that set in the file");
  /* Start at a random place so that repeated runs do not replay one another. */
  size_t cursor = randombytes_uniform((uint32_t)count);

  rx_count c = {0}, c0 = {0}, side = {0};
  uint64_t sent = 0, sent0 = 0, written_off = 0, writeoffs = 0, writeoffs0 = 0, send_fail = 0;
  double cpu0 = 0, cpu1 = 0;
  bool have_cpu = false, have_jiffies = false;
  unsigned long long jb0 = 0, jt0 = 0, jb1 = 0, jt1 = 0;
  double t_start = now_s(), t_measure = t_start + warmup, t_end = t_measure + seconds;
  double last_rx = t_start, t0 = 0, t1 = 0;
  bool measuring = false;

  for (;;) {
    double t = now_s();
    if (!measuring && t >= t_measure) {
      measuring = true;
      c0 = c;
      sent0 = sent;
      writeoffs0 = writeoffs;
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
    long allow = batch;
    if (window > 0) {
      long outstanding = (long)(sent - c.good - c.bad_len - written_off);
      if (outstanding >= window && t - last_rx > loss_ms * 1e-3) {
        /* Nothing came back for a while: those were lost; forget them. */
        written_off += (uint64_t)outstanding;
        writeoffs++;
        outstanding = 0;
        last_rx = t;
      }
      long room = window - outstanding;
      if (room < allow) allow = room;
    }
    long min_send = window > 0 ? (window / 4 < batch ? window / 4 : batch) : 1;
    if (min_send < 1) min_send = 1;
    if (allow >= min_send) {
      int r = send_batch(send_fd, pool, count, plen, &cursor, allow);
      if (r < 0)
        send_fail += (uint64_t)allow;
      else
        sent += (uint64_t)r;
    }
    uint64_t before = c.good;
    drain(recv_fd, want, want_len, &c, NULL, NULL, 0);
    if (c.good != before) last_rx = now_s();
    if (resp) drain(hop, KIND_REQ1, 0, &side, NULL, NULL, 0); /* nothing expected */
  }

  double secs = t1 - t0;
  uint64_t relayed = c.good - c0.good, nsent = sent - sent0;
  printf("set=%s window_s=%.3f sent=%" PRIu64 " relayed=%" PRIu64 " relays_per_s=%.0f"
         " sent_per_s=%.0f relayed_frac=%.4f",
         set, secs, nsent, relayed, (double)relayed / secs, (double)nsent / secs,
         nsent ? (double)relayed / (double)nsent : 0.0);
  if (pid > 0 && have_cpu) {
    double cpu = cpu1 - cpu0;
    printf(" server_cpu_s=%.3f server_busy=%.3f cpu_s_per_100k=%.4f", cpu, cpu / secs,
           relayed ? cpu * 100000.0 / (double)relayed : 0.0);
  }
  if (have_jiffies && jt1 > jt0)
    printf(" cpu%d_busy=%.3f", watch_cpu, (double)(jb1 - jb0) / (double)(jt1 - jt0));
  printf(" writeoffs=%" PRIu64 " send_fail=%" PRIu64 " bad_len=%" PRIu64 " rx_other=%" PRIu64
         " pool=%zu packet_len=%zu window=%d batch=%d",
         writeoffs - writeoffs0, send_fail, c.bad_len - c0.bad_len, c.other - c0.other, count, plen,
         window, batch);
  if (resp) printf(" blobs=%zu collect_s=%.2f data_len=%d", nblobs, collect_s, data_len);
  printf("\n");
  free(resp_pool);
  close(s);
  close(hop);
  munmap(pf.map, pf.map_len);
  return 0;
}

/* ---- main ---- */

static const char *USAGE =
    "usage: onion_load x25519 [--seconds S]\n"
    "       onion_load prep --server-pk HEX --hop IP:PORT --out FILE [--few-keys 64]\n"
    "                       [--few-packets 16384] [--unique N] [--payload 100] [--threads T]\n"
    "       onion_load probe --server IP:PORT --packets FILE [--data-len 100] [--timeout S]\n"
    "       onion_load run --server IP:PORT --packets FILE --set few|unique|response\n"
    "                      [--warmup S] [--seconds S] [--window N] [--batch B] [--pid PID]\n"
    "                      [--loss-ms MS] [--watch-cpu N] [--blobs N] [--data-len N]\n"
    "  prep: --hop is node B's address, a socket run and probe bind (127.0.0.1:PORT);\n"
    "        --payload is the opaque part after PK1 (the layers for B and C), >= 36.\n"
    "  run: --window N keeps N packets in flight (closed loop; 0 = no window);\n"
    "       --set response first relays --blobs requests to collect return paths,\n"
    "       then sends [0x8e][return][0x84, data-len - 1 random bytes] and counts the\n"
    "       data that arrives back at the client socket;\n"
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
             *hop = NULL;
  double seconds = 5, warmup = 1, timeout = 10, loss_ms = 20;
  long few_keys = 64, few_packets = 16384, unique = 0, threads = 1, window = 1024, batch = 32,
       pid = 0, watch_cpu = -1, payload = 100, blobs = 16384, data_len = 100;
  static const struct option opts[] = {
      {"server", required_argument, 0, 's'},   {"server-pk", required_argument, 0, 'k'},
      {"out", required_argument, 0, 'o'},      {"packets", required_argument, 0, 'p'},
      {"set", required_argument, 0, 'S'},      {"hop", required_argument, 0, 'H'},
      {"seconds", required_argument, 0, 't'},  {"warmup", required_argument, 0, 'w'},
      {"timeout", required_argument, 0, 'T'},  {"few-keys", required_argument, 0, 'f'},
      {"few-packets", required_argument, 0, 'F'}, {"unique", required_argument, 0, 'u'},
      {"threads", required_argument, 0, 'j'},  {"window", required_argument, 0, 'W'},
      {"batch", required_argument, 0, 'b'},    {"pid", required_argument, 0, 'P'},
      {"loss-ms", required_argument, 0, 'L'},  {"watch-cpu", required_argument, 0, 'C'},
      {"payload", required_argument, 0, 'y'},  {"blobs", required_argument, 0, 'B'},
      {"data-len", required_argument, 0, 'D'}, {0, 0, 0, 0}};
  optind = 2;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 's': server = optarg; break;
      case 'k': server_pk = optarg; break;
      case 'o': out = optarg; break;
      case 'p': packets = optarg; break;
      case 'S': set = optarg; break;
      case 'H': hop = optarg; break;
      case 't': seconds = atof(optarg); break;
      case 'w': warmup = atof(optarg); break;
      case 'T': timeout = atof(optarg); break;
      case 'L': loss_ms = atof(optarg); break;
      case 'f': few_keys = atol(optarg); break;
      case 'F': few_packets = atol(optarg); break;
      case 'u': unique = atol(optarg); break;
      case 'j': threads = atol(optarg); break;
      case 'W': window = atol(optarg); break;
      case 'b': batch = atol(optarg); break;
      case 'P': pid = atol(optarg); break;
      case 'C': watch_cpu = atol(optarg); break;
      case 'y': payload = atol(optarg); break;
      case 'B': blobs = atol(optarg); break;
      case 'D': data_len = atol(optarg); break;
      default: fputs(USAGE, stderr); return 2;
    }
  }
  if (strcmp(cmd, "x25519") == 0) return cmd_x25519(seconds);
  if (data_len < 1 || data_len > MAX_PKT - 1 - RETURN1) die("%s", "bad --data-len");
  if (strcmp(cmd, "prep") == 0) {
    if (!server_pk || !out || !hop) die("%s", "prep needs --server-pk, --hop and --out");
    if (few_keys < 1 || few_packets < 1 || unique < 0 || unique > 50000000 || payload < 0 ||
        payload > MAX_PKT)
      die("%s", "bad --few-keys, --few-packets, --unique or --payload");
    return cmd_prep(server_pk, hop, out, (uint32_t)few_keys, (uint32_t)few_packets,
                    (uint32_t)unique, (uint32_t)payload, (int)threads);
  }
  if (strcmp(cmd, "probe") == 0) {
    if (!server || !packets) die("%s", "probe needs --server and --packets");
    return cmd_probe(server, packets, (int)data_len, timeout);
  }
  if (strcmp(cmd, "run") == 0) {
    if (!server || !packets) die("%s", "run needs --server and --packets");
    if (blobs < 1 || blobs > 10000000) die("%s", "bad --blobs");
    return cmd_run(server, packets, set, warmup, seconds, (int)window, (int)batch, (int)pid, loss_ms,
                   (int)watch_cpu, (int)blobs, (int)data_len);
  }
  fputs(USAGE, stderr);
  return 2;
}
