#include "stderr_log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void log_line(void *ctx, tw_log_level level, const char *module, const char *fmt,
                     va_list ap) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  fprintf(stderr, "%s.%03ldZ %-5s %s: %s\n", when, ts.tv_nsec / 1000000L,
          tw_log_level_name(level), module, msg);
}

int tw_log_level_parse(const char *s, tw_log_level *out) {
  static const char *const names[] = {"trace", "debug", "info", "warn", "error"};
  for (int i = 0; i < 5; i++)
    if (strcmp(s, names[i]) == 0) {
      *out = (tw_log_level)i;
      return 0;
    }
  return -1;
}

tw_logger tw_stderr_logger(tw_log_level level) {
  tw_logger lg = {log_line, NULL, level};
  return lg;
}
