/* What the load generators (dht_load, onion_load) share: clocks, argument
 * parsing, the machine's x25519 rate, and CPU time from /proc. */
#include "load_common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double cpu_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void die(const char *fmt, const char *arg) {
  fprintf(stderr, "%s: ", load_prog);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  exit(2);
}

void parse_pk(uint8_t pk[PK], const char *hex) {
  size_t bin_len = 0;
  if (strlen(hex) != 2 * PK ||
      sodium_hex2bin(pk, PK, hex, strlen(hex), NULL, &bin_len, NULL) != 0 || bin_len != PK)
    die("bad public key '%s' (want 64 hex digits)", hex);
}

void parse_addr(struct sockaddr_in *sa, const char *s) {
  char host[64];
  const char *colon = strrchr(s, ':');
  if (colon == NULL || (size_t)(colon - s) >= sizeof host) die("bad address '%s' (want IP:PORT)", s);
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = 0;
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  long port = strtol(colon + 1, NULL, 10);
  if (inet_pton(AF_INET, host, &sa->sin_addr) != 1 || port <= 0 || port > 65535)
    die("bad address '%s' (want IPv4:PORT)", s);
  sa->sin_port = htons((uint16_t)port);
}

/* Reports operations per wall second and per CPU second: on a shared machine
 * the second is the one that does not depend on what else runs on the core. */
int cmd_x25519(double seconds) {
  uint8_t pk[PK], sk[crypto_box_SECRETKEYBYTES], pk2[PK], sk2[crypto_box_SECRETKEYBYTES];
  uint8_t k[crypto_box_BEFORENMBYTES];
  crypto_box_keypair(pk, sk);
  crypto_box_keypair(pk2, sk2);
  /* warm up */
  uint64_t n = 0, bad = 0;
  for (int i = 0; i < 200; i++) bad += crypto_box_beforenm(k, pk2, sk) != 0;
  double t0 = now_s(), c0 = cpu_now_s(), t;
  do {
    for (int i = 0; i < 256; i++) {
      bad += crypto_box_beforenm(k, pk2, sk) != 0;
      pk2[0] ^= k[0]; /* keep the compiler honest; the key stays a valid input */
    }
    n += 256;
    t = now_s();
  } while (t - t0 < seconds);
  double c1 = cpu_now_s();
  printf("x25519_per_sec=%.0f x25519_per_cpu_sec=%.0f ops=%" PRIu64 " seconds=%.3f cpu_seconds=%.3f"
         " rejected=%" PRIu64 "\n",
         (double)n / (t - t0), (double)n / (c1 - c0), n, t - t0, c1 - c0, bad);
  return 0;
}

bool read_proc_cpu(int pid, double *cpu_s) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  /* Fields after the command name, which is in parentheses and may hold spaces. */
  char *p = strrchr(buf, ')');
  if (p == NULL) return false;
  unsigned long long utime = 0, stime = 0;
  /* after ") ": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    return false;
  *cpu_s = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
  return true;
}

/* Busy and total jiffies of one CPU from /proc/stat ("cpuN user nice system
 * idle iowait irq softirq steal ..."). */
bool read_cpu_jiffies(int cpu, unsigned long long *busy, unsigned long long *total) {
  FILE *f = fopen("/proc/stat", "re");
  if (f == NULL) return false;
  char line[512], want[32];
  snprintf(want, sizeof want, "cpu%d ", cpu);
  bool ok = false;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, want, strlen(want)) != 0) continue;
    unsigned long long v[8] = {0};
    if (sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
               &v[3], &v[4], &v[5], &v[6], &v[7]) >= 5) {
      *total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
      *busy = *total - v[3] - v[4];
      ok = true;
    }
    break;
  }
  fclose(f);
  return ok;
}
