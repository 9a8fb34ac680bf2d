/* Levelled logging. The library never writes anywhere by itself: it hands a
 * format and its arguments to a callback the embedder installs. */
#ifndef TOXWIRE_LOG_H
#define TOXWIRE_LOG_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tw_log_level {
  TW_LOG_TRACE = 0,
  TW_LOG_DEBUG = 1,
  TW_LOG_INFO = 2,
  TW_LOG_WARN = 3,
  TW_LOG_ERROR = 4,
  TW_LOG_OFF = 5,
} tw_log_level;

/* module is a static string such as "dht"; fmt/ap are printf-style. */
typedef void tw_log_fn(void *ctx, tw_log_level level, const char *module,
                       const char *fmt, va_list ap);

typedef struct tw_logger {
  tw_log_fn *fn;      /* NULL: logging off */
  void *ctx;
  tw_log_level level; /* messages below this level are not formatted */
} tw_logger;

const char *tw_log_level_name(tw_log_level level);

#ifdef __cplusplus
}
#endif
#endif
