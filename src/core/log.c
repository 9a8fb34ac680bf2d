#include "core/log.h"

void tw_log(const tw_logger *lg, tw_log_level level, const char *module,
            const char *fmt, ...) {
  if (!tw_log_wants(lg, level)) return;
  va_list ap;
  va_start(ap, fmt);
  lg->fn(lg->ctx, level, module, fmt, ap);
  va_end(ap);
}

const char *tw_log_level_name(tw_log_level level) {
  static const char *const names[] = {"trace", "debug", "info", "warn", "error", "off"};
  return (unsigned)level <= TW_LOG_OFF ? names[level] : "?";
}
