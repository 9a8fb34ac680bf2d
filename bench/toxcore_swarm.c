/* toxcore_swarm: N c-toxcore instances in one process, all bootstrapping
 * from instance 0 over UDP on 127.0.0.1, driven the way a client drives
 * libtoxcore: tox_iterate() on every instance, then sleep for the smallest
 * tox_iteration_interval(). Reports when 50%, 90% and 100% of instances are
 * connected (wall and CPU seconds), peak RSS, and loop rounds per second
 * against the interval's target. The counterpart of tests/sim/sim_dht for
 * bench/sim-scale.
 *
 * An instance still offline 10 s (--rebootstrap) after its last bootstrap
 * bootstraps again, as tox.h suggests a client do: without that, 457 of
 * 1,000 instances stayed offline for all of a 300 s run here, most of them
 * started while a round of the loop took seconds.
 *
 * "Connected" is tox_self_get_connection_status() != TOX_CONNECTION_NONE:
 * the public 0.2.18 API has no DHT-connected query, and the onion
 * connection it reports needs a working DHT first.
 *
 * Uses libtoxcore only through its public API (tox.h). Runs in a private
 * network namespace of its own (needs root or CAP_SYS_ADMIN) so its ports
 * collide with nothing and no packet leaves the machine. */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <tox/tox.h>

typedef struct opts {
  int nodes;
  double timeout;      /* wall seconds for the whole connect phase */
  double join_seconds; /* joins spread over this long, as in sim_dht */
  double rebootstrap;  /* bootstrap again after this long offline; 0: never */
  int base_port;
  bool quiet;
} opts;

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_now(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

/* A network namespace of our own whose loopback is up: the same thing
 * tests/interop/netns-run does with unshare -n and ip link, done here so
 * the binary works from any directory without the script or iproute2.
 * TW_NETNS=1 means an outer netns-run already made one. */
static int enter_private_netns(void) {
  const char *inside = getenv("TW_NETNS");
  if (inside != NULL && strcmp(inside, "1") == 0) return 0;
  if (unshare(CLONE_NEWNET) != 0) {
    fprintf(stderr, "toxcore_swarm: unshare(CLONE_NEWNET): %s (needs root or CAP_SYS_ADMIN;\n"
                    "  or run it under tests/interop/netns-run)\n", strerror(errno));
    return -1;
  }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP;
    rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
  }
  if (rc != 0) fprintf(stderr, "toxcore_swarm: cannot bring lo up: %s\n", strerror(errno));
  close(fd);
  setenv("TW_NETNS", "1", 1);
  return rc == 0 ? 0 : -1;
}

/* One UDP socket per instance, plus stdio and a margin. */
static int raise_nofile(int nodes) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  rlim_t want = (rlim_t)nodes + 64;
  if (rl.rlim_cur >= want) return 0;
  if (rl.rlim_max < want) rl.rlim_max = want; /* only root may do this */
  rl.rlim_cur = want;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    fprintf(stderr, "toxcore_swarm: cannot raise RLIMIT_NOFILE to %llu: %s\n",
            (unsigned long long)want, strerror(errno));
    return -1;
  }
  return 0;
}

/* Each instance gets its own port, base + i: in a fresh namespace it is
 * free, and it spares tox_new a walk over ports already taken. A wide range
 * is the fallback. */
static Tox *new_instance(const opts *o, int i) {
  struct Tox_Options *opt = tox_options_new(NULL);
  if (opt == NULL) return NULL;
  tox_options_set_ipv6_enabled(opt, false);
  tox_options_set_udp_enabled(opt, true);
  tox_options_set_local_discovery_enabled(opt, false);
  tox_options_set_hole_punching_enabled(opt, false);
  tox_options_set_start_port(opt, (uint16_t)(o->base_port + i));
  tox_options_set_end_port(opt, (uint16_t)(o->base_port + i));
  Tox_Err_New err;
  Tox *t = tox_new(opt, &err);
  if (t == NULL && err == TOX_ERR_NEW_PORT_ALLOC) {
    tox_options_set_start_port(opt, (uint16_t)o->base_port);
    tox_options_set_end_port(opt, 65000);
    t = tox_new(opt, &err);
  }
  if (t == NULL) fprintf(stderr, "toxcore_swarm: tox_new for instance %d failed (error %d)\n", i, (int)err);
  tox_options_free(opt);
  return t;
}

/* UDP counters of our namespace (so of this run only) from /proc/net/snmp:
 * RcvbufErrors counts datagrams loopback dropped because a socket's receive
 * buffer was full, the one way packets get lost here. */
typedef struct udp_stats {
  unsigned long long in, out, rcvbuf_errors;
  bool ok;
} udp_stats;

static udp_stats read_udp_stats(void) {
  udp_stats u = {0, 0, 0, false};
  FILE *f = fopen("/proc/net/snmp", "r");
  if (f == NULL) return u;
  char names[512], values[512];
  while (fgets(names, sizeof names, f) != NULL) {
    if (strncmp(names, "Udp:", 4) != 0 || fgets(values, sizeof values, f) == NULL) continue;
    char *sn = NULL, *sv = NULL;
    char *n = strtok_r(names + 4, " \n", &sn), *v = strtok_r(values + 4, " \n", &sv);
    for (; n != NULL && v != NULL; n = strtok_r(NULL, " \n", &sn), v = strtok_r(NULL, " \n", &sv)) {
      unsigned long long x = strtoull(v, NULL, 10);
      if (strcmp(n, "InDatagrams") == 0) u.in = x;
      else if (strcmp(n, "OutDatagrams") == 0) u.out = x;
      else if (strcmp(n, "RcvbufErrors") == 0) u.rcvbuf_errors = x;
    }
    u.ok = true;
    break;
  }
  fclose(f);
  return u;
}

typedef struct milestone {
  const char *name;
  int need; /* instances connected at once */
  bool reached;
  double wall, cpu;
} milestone;

static void sleep_ms(uint32_t ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_requested) {
  }
}

static void usage(FILE *f) {
  fprintf(f, "usage: toxcore_swarm [--nodes N] [--timeout SECONDS] [--join SECONDS]\n"
             "                     [--rebootstrap S] [--base-port P] [--quiet]\n"
             "  --nodes N        c-toxcore instances in this process (default 1000)\n"
             "  --timeout S      give up when not all are connected after S wall s (default 300)\n"
             "  --join S         spread the instances' start over S s (default 20)\n"
             "  --rebootstrap S  bootstrap again after S s offline (default 10; 0: never)\n"
             "  --base-port P    instance i binds 127.0.0.1:P+i (default 20000)\n"
             "  --quiet          no progress lines on stderr\n");
}

int main(int argc, char **argv) {
  opts o = {.nodes = 1000, .timeout = 300, .join_seconds = 20, .rebootstrap = 10,
            .base_port = 20000};
  static const struct option lo[] = {
      {"nodes", required_argument, 0, 'n'}, {"timeout", required_argument, 0, 't'},
      {"join", required_argument, 0, 'j'},  {"base-port", required_argument, 0, 'p'},
      {"rebootstrap", required_argument, 0, 'r'}, {"quiet", no_argument, 0, 'q'},
      {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case 'n': o.nodes = atoi(optarg); break;
    case 't': o.timeout = atof(optarg); break;
    case 'j': o.join_seconds = atof(optarg); break;
    case 'r': o.rebootstrap = atof(optarg); break;
    case 'p': o.base_port = atoi(optarg); break;
    case 'q': o.quiet = true; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (o.nodes < 2 || o.timeout <= 0 || o.join_seconds < 0 || o.rebootstrap < 0 ||
      o.base_port < 1024 || o.base_port + o.nodes - 1 > 65535) {
    fprintf(stderr, "toxcore_swarm: need --nodes >= 2, --timeout > 0, --join and --rebootstrap\n"
                    "  >= 0, and ports --base-port .. --base-port + N - 1 within 1024..65535\n");
    return 2;
  }
  if (enter_private_netns() != 0 || raise_nofile(o.nodes) != 0) return 2;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  setvbuf(stdout, NULL, _IOLBF, 0); /* lines in order with stderr's progress */

  printf("toxcore_swarm: %d c-toxcore %u.%u.%u instances in one process, UDP over 127.0.0.1\n"
         "  in a private network namespace (no loss); all bootstrap from instance 0, joins\n"
         "  spread over %.0f s; loop: tox_iterate every instance, sleep the least\n"
         "  tox_iteration_interval; bootstrap again after %.0f s offline (0: never)\n"
         "  \"connected\" = tox_self_get_connection_status() != TOX_CONNECTION_NONE (onion-\n"
         "  connected; the public API has no DHT-connected query)\n",
         o.nodes, tox_version_major(), tox_version_minor(), tox_version_patch(), o.join_seconds,
         o.rebootstrap);

  Tox **tox = calloc((size_t)o.nodes, sizeof *tox);
  double *last_ok = calloc((size_t)o.nodes, sizeof *last_ok); /* last bootstrap or online */
  int status = 2, joined = 0, connected = 0, rebooted = 0;
  if (tox == NULL || last_ok == NULL) goto cleanup;

  milestone ms[3] = {{"50%", (o.nodes + 1) / 2, false, 0, 0},
                     {"90%", (o.nodes * 9 + 9) / 10, false, 0, 0},
                     {"100%", o.nodes, false, 0, 0}};
  uint8_t boot_key[TOX_PUBLIC_KEY_SIZE];
  uint16_t boot_port = 0;
  unsigned long long rounds = 0;
  double work_total = 0, work_max = 0, interval_total = 0, new_total = 0;
  double t0 = wall_now(), cpu0 = cpu_now(), next_report = 10, now = 0;
  while (!stop_requested) {
    now = wall_now() - t0;
    if (now >= o.timeout) break;
    /* Instance i starts at join_seconds * i / N, as sim_dht's nodes join:
     * created, then bootstrapped at once, the way a client starts. Creating
     * them all up front and bootstrapping them later lost nearly every
     * instance bootstrapped more than a few seconds after its creation
     * (seemingly its clock moves only in tox_iterate, so its first request
     * looked stale by the time the answer came). */
    while (joined < o.nodes && (joined == 0 || o.join_seconds <= 0 ||
                                now >= o.join_seconds * joined / o.nodes)) {
      double n0 = wall_now();
      if ((tox[joined] = new_instance(&o, joined)) == NULL) goto cleanup;
      new_total += wall_now() - n0;
      if (joined == 0) {
        tox_self_get_dht_id(tox[0], boot_key);
        boot_port = tox_self_get_udp_port(tox[0], NULL);
      } else if (!tox_bootstrap(tox[joined], "127.0.0.1", boot_port, boot_key, NULL)) {
        fprintf(stderr, "toxcore_swarm: tox_bootstrap failed for instance %d\n", joined);
        joined++;
        goto cleanup;
      }
      last_ok[joined++] = now;
    }
    double w0 = wall_now();
    uint32_t interval = UINT32_MAX;
    connected = 0;
    for (int i = 0; i < joined; i++) {
      tox_iterate(tox[i], NULL);
      uint32_t iv = tox_iteration_interval(tox[i]);
      if (iv < interval) interval = iv;
      double ti = wall_now() - t0; /* a round can take seconds */
      if (tox_self_get_connection_status(tox[i]) != TOX_CONNECTION_NONE) {
        connected++;
        last_ok[i] = ti;
      } else if (o.rebootstrap > 0 && i > 0 && ti - last_ok[i] >= o.rebootstrap) {
        /* What tox.h suggests a client do when offline for a while. */
        tox_bootstrap(tox[i], "127.0.0.1", boot_port, boot_key, NULL);
        last_ok[i] = ti;
        rebooted++;
      }
    }
    double work = wall_now() - w0;
    rounds++;
    work_total += work;
    if (work > work_max) work_max = work;
    interval_total += interval;
    now = wall_now() - t0;
    for (int m = 0; m < 3; m++)
      if (!ms[m].reached && connected >= ms[m].need) {
        ms[m].reached = true;
        ms[m].wall = now;
        ms[m].cpu = cpu_now() - cpu0;
      }
    if (!o.quiet && now >= next_report) {
      fprintf(stderr, "  t=%5.0fs  started %d, connected %d, %.1f rounds/s, %.0f%% CPU\n", now,
              joined, connected, rounds / now, 100 * (cpu_now() - cpu0) / now);
      next_report += 10;
    }
    if (ms[2].reached) break;
    sleep_ms(interval);
  }
  double loop_wall = wall_now() - t0, loop_cpu = cpu_now() - cpu0;

  for (int m = 0; m < 3; m++) {
    if (ms[m].reached)
      printf("  %-4s connected (%5d): %7.1f s wall, %7.1f s CPU\n", ms[m].name, ms[m].need,
             ms[m].wall, ms[m].cpu);
    else
      printf("  %-4s connected (%5d): not within %.0f s\n", ms[m].name, ms[m].need, o.timeout);
  }
  if (!ms[2].reached) {
    printf("  at the end (%.1f s): %d of %d connected, %d started; offline:", loop_wall,
           connected, o.nodes, joined);
    int shown = 0;
    for (int i = 0; i < joined && shown < 20; i++)
      if (tox_self_get_connection_status(tox[i]) == TOX_CONNECTION_NONE) printf(" %d", i), shown++;
    printf("%s\n", connected + shown < joined ? " ..." : "");
  }
  if (o.rebootstrap > 0)
    printf("  %d bootstraps again after %.0f s offline\n", rebooted, o.rebootstrap);
  double target = interval_total > 0 ? 1000.0 * rounds / interval_total : 0;
  double ips = loop_wall > 0 ? rounds / loop_wall : 0;
  printf("  loop: %llu rounds in %.1f s = %.1f rounds/s; the intervals asked for %.1f/s (mean\n"
         "        %.0f ms); a round's tox_iterate calls took %.1f ms on average, %.0f ms at most\n",
         rounds, loop_wall, ips, target, rounds ? interval_total / rounds : 0,
         rounds ? 1000 * work_total / rounds : 0, 1000 * work_max);
  printf("  CPU: %.1f s over %.1f s wall (%.0f%% of one core); tox_new took %.1f s of it\n",
         loop_cpu, loop_wall, loop_wall > 0 ? 100 * loop_cpu / loop_wall : 0, new_total);
  udp_stats u = read_udp_stats();
  if (u.ok)
    printf("  UDP: %llu datagrams sent, %llu received, %llu dropped at full receive buffers\n",
           u.out, u.in, u.rcvbuf_errors);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("  peak RSS %.0f MiB (%.0f KiB per instance)\n", ru.ru_maxrss / 1024.0,
         (double)ru.ru_maxrss / o.nodes);
  /* One line for scripts (bench/sim-scale); "-" where not reached. cpu is
   * at 100% connected, or at the end when that was not reached. */
  char all[32] = "-", half[32] = "-", ninety[32] = "-";
  if (ms[0].reached) snprintf(half, sizeof half, "%.1f", ms[0].wall);
  if (ms[1].reached) snprintf(ninety, sizeof ninety, "%.1f", ms[1].wall);
  if (ms[2].reached) snprintf(all, sizeof all, "%.1f", ms[2].wall);
  printf("result: nodes=%d half=%s ninety=%s all=%s cpu=%.1f ips=%.1f target=%.1f connected=%d "
         "rss_mib=%.0f udp_dropped=%llu\n", o.nodes, half, ninety, all,
         ms[2].reached ? ms[2].cpu : loop_cpu, ips, target, connected, ru.ru_maxrss / 1024.0,
         u.rcvbuf_errors);
  status = ms[2].reached ? 0 : 1;

cleanup:
  for (int i = 0; i < joined; i++) tox_kill(tox[i]);
  free(tox);
  free(last_ok);
  return status;
}
