/* How library code logs: formatted only when a callback wants the level. */
#ifndef TW_CORE_LOG_H
#define TW_CORE_LOG_H

#include "toxwire/log.h"

__attribute__((format(printf, 4, 5)))
void tw_log(const tw_logger *lg, tw_log_level level, const char *module,
            const char *fmt, ...);

static inline int tw_log_wants(const tw_logger *lg, tw_log_level level) {
  return lg->fn != 0 && level >= lg->level;
}

#endif
