/* Fuzzes tools/bootstrapd_config.c: the input is written to a file under
 * /tmp and read as a tox-bootstrapd configuration. Whatever it holds, the
 * reader returns TW_OK or TW_E_CONFIG with a message, never overflows its
 * fixed-size fields, and (under LeakSanitizer) never leaks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstrapd_config.h"
#include "fuzz_common.h"
#include "toxwire/error.h"

static char g_path[64];

/* libconfig 1.5 itself leaks a scanner buffer on some syntax errors (the
 * 2-byte file `""` is enough, with nothing of ours on the stack); that is
 * not ours to fix, and would hide leaks that are. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libconfig.so\n"; }

static void cleanup(void) {
  if (g_path[0]) unlink(g_path);
}

static int bounded(const char *s, size_t cap) { return memchr(s, '\0', cap) != NULL; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* libconfig follows @include directives; a fuzzer that spells
   * "/dev/zero" would only be testing the file system. */
  if (size >= 8 && memmem(data, size, "@include", 8) != NULL) return 0;
  if (!g_path[0]) {
    strcpy(g_path, "/tmp/fuzz_bootstrapd_config.XXXXXX");
    int fd = mkstemp(g_path);
    if (fd < 0) abort();
    close(fd);
    atexit(cleanup);
  }
  FILE *f = fopen(g_path, "wb");
  if (f == NULL) abort();
  if (size > 0 && fwrite(data, 1, size, f) != size) abort();
  fclose(f);

  static tw_bootstrapd_config cfg;
  char err[512];
  err[0] = '\0';
  int e = tw_bootstrapd_config_read(g_path, &cfg, err, sizeof err);
  FUZZ_CHECK(e == TW_OK || e == TW_E_CONFIG);
  FUZZ_CHECK(bounded(err, sizeof err));
  if (e != TW_OK) {
    FUZZ_CHECK(err[0] != '\0');
    return 0;
  }
  FUZZ_CHECK(cfg.port >= 1);
  FUZZ_CHECK(bounded(cfg.keys_file_path, sizeof cfg.keys_file_path));
  FUZZ_CHECK(bounded(cfg.pid_file_path, sizeof cfg.pid_file_path));
  FUZZ_CHECK(bounded(cfg.motd, sizeof cfg.motd));
  FUZZ_CHECK(cfg.nnodes <= TW_CONFIG_MAX_NODES);
  FUZZ_CHECK(cfg.nwarnings <= TW_CONFIG_MAX_WARNINGS);
  for (size_t i = 0; i < cfg.nnodes; i++) {
    FUZZ_CHECK(bounded(cfg.nodes[i].address, sizeof cfg.nodes[i].address));
    FUZZ_CHECK(cfg.nodes[i].port >= 1);
  }
  for (size_t i = 0; i < cfg.nwarnings; i++)
    FUZZ_CHECK(bounded(cfg.warnings[i], sizeof cfg.warnings[i]));
  return 0;
}
