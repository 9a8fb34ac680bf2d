#ifndef TW_TOOLS_STDERR_LOG_H
#define TW_TOOLS_STDERR_LOG_H
#include "toxwire/log.h"
/* Log lines to stderr: "2026-11-24T22:19:01.123Z info  dht: message". */
tw_logger tw_stderr_logger(tw_log_level level);
/* "trace", "debug", "info", "warn" or "error"; -1 for anything else. */
int tw_log_level_parse(const char *s, tw_log_level *out);
#endif
