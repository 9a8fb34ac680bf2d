/* What the load generators (dht_load, onion_load) share. */
#ifndef TW_BENCH_LOAD_COMMON_H
#define TW_BENCH_LOAD_COMMON_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#define PK 32

extern const char load_prog[]; /* the generator's name, for die() */

double now_s(void);     /* monotonic seconds */
double cpu_now_s(void); /* this process's CPU seconds */
/* Prints "PROG: " fmt (with arg) and exits 2. */
void die(const char *fmt, const char *arg);
void parse_pk(uint8_t pk[PK], const char *hex);
void parse_addr(struct sockaddr_in *sa, const char *s);
/* Prints x25519 operations per wall and per CPU second. */
int cmd_x25519(double seconds);
/* utime + stime of pid in seconds. */
bool read_proc_cpu(int pid, double *cpu_s);
/* Busy and total jiffies of one CPU from /proc/stat. */
bool read_cpu_jiffies(int cpu, unsigned long long *busy, unsigned long long *total);

#endif
