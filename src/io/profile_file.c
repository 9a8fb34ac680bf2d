/* Profiles on disk: read whole, decoded by the sans-I/O profile code; saved
 * atomically (temporary file, fsync, rename, fsync of the directory) so a
 * crash or a full disk leaves either the old profile or the new one, never a
 * mix. Buffers that held the secret key are wiped before they are freed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/crypto.h"
#include "profile/profile_internal.h"
#include "toxwire/error.h"
#include "toxwire/profile.h"

int tw_profile_load_file(const char *path, tw_profile *p, char *why) {
  tw_profile_init(p);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return tw_profile_fail(why, TW_E_NOTFOUND, "no such file");
    return tw_profile_fail(why, TW_E_IO, "cannot open: %s", strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return tw_profile_fail(why, TW_E_IO, "cannot stat: %s", strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return tw_profile_fail(why, TW_E_IO, "not a regular file");
  }
  if (st.st_size > (off_t)TW_PROFILE_MAX_FILE_SIZE) {
    close(fd);
    return tw_profile_fail(why, TW_E_LONG, "bigger than %u bytes", TW_PROFILE_MAX_FILE_SIZE);
  }
  /* One byte more than the size, to notice a file that grows under us. */
  size_t cap = (size_t)st.st_size + 1, got = 0;
  uint8_t *buf = malloc(cap);
  if (buf == NULL) {
    close(fd);
    return tw_profile_fail(why, TW_E_NOMEM, "out of memory");
  }
  ssize_t r = 0;
  while (got < cap && ((r = read(fd, buf + got, cap - got)) > 0 || (r < 0 && errno == EINTR)))
    if (r > 0) got += (size_t)r;
  int read_errno = errno;
  close(fd);
  int e;
  if (r < 0)
    e = tw_profile_fail(why, TW_E_IO, "cannot read: %s", strerror(read_errno));
  else if (got == cap)
    e = tw_profile_fail(why, TW_E_IO, "file changed while being read");
  else
    e = tw_profile_decode_any(p, buf, got, why);
  tw_crypto_wipe(buf, cap);
  free(buf);
  return e;
}

static bool write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

/* The directory holding path, for the fsync that makes the rename last. */
static int open_parent_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL) return open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (slash == path) return open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  size_t n = (size_t)(slash - path);
  char *dir = malloc(n + 1);
  if (dir == NULL) return -1;
  memcpy(dir, path, n);
  dir[n] = '\0';
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  free(dir);
  return fd;
}

/* Creates PATH.tmp-RANDOM next to path (same directory, so rename is
 * atomic), mode 0600, failing rather than reusing an existing file. */
static int create_temp(const char *path, char **tmp_out) {
  size_t n = strlen(path) + sizeof ".tmp-" + 16;
  char *tmp = malloc(n);
  if (tmp == NULL) return -1;
  for (int attempt = 0; attempt < 8; attempt++) {
    uint8_t r[8];
    char hex[17];
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(hex, sizeof hex, r, sizeof r);
    snprintf(tmp, n, "%s.tmp-%s", path, hex);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      *tmp_out = tmp;
      return fd;
    }
    if (errno != EEXIST) break;
  }
  int e = errno;
  free(tmp);
  errno = e;
  return -1;
}

int tw_profile_save_file(const char *path, const tw_profile *p, char *why) {
  int e = tw_profile_check(p, why);
  if (e != TW_OK) return e;
  uint8_t *buf;
  size_t len;
  e = tw_profile_encode(p, &buf, &len);
  if (e != TW_OK) return tw_profile_fail(why, e, "cannot encode: %s", tw_strerror(e));
  if (tw_crypto_init() != TW_OK) { /* randombytes needs it */
    tw_profile_free_encoded(buf, len);
    return tw_profile_fail(why, TW_E_IO, "libsodium failed to initialise");
  }

  char *tmp = NULL;
  int fd = create_temp(path, &tmp);
  if (fd < 0) {
    e = tw_profile_fail(why, TW_E_IO, "cannot create temporary file: %s", strerror(errno));
    tw_profile_free_encoded(buf, len);
    return e;
  }
  /* The umask may only remove bits; make sure none were added back. */
  bool ok = fchmod(fd, 0600) == 0 && write_all(fd, buf, len) && fsync(fd) == 0;
  int saved_errno = errno;
  if (close(fd) != 0 && ok) {
    ok = false;
    saved_errno = errno;
  }
  tw_profile_free_encoded(buf, len);
  if (ok && rename(tmp, path) != 0) {
    ok = false;
    saved_errno = errno;
  }
  if (!ok) {
    unlink(tmp);
    free(tmp);
    return tw_profile_fail(why, TW_E_IO, "cannot write: %s", strerror(saved_errno));
  }
  free(tmp);
  int dfd = open_parent_dir(path);
  bool synced = dfd >= 0 && fsync(dfd) == 0;
  saved_errno = errno;
  if (dfd >= 0) close(dfd);
  if (!synced) /* the new profile is in place, but may not survive a crash */
    return tw_profile_fail(why, TW_E_IO, "saved, but cannot sync the directory: %s",
                           strerror(saved_errno));
  return TW_OK;
}

int tw_profile_save_file_guarded(const char *path, const tw_profile *p, char *why) {
  char old_why[TW_PROFILE_WHY_SIZE] = "";
  tw_profile *old = malloc(sizeof *old);
  if (old == NULL) return tw_profile_fail(why, TW_E_NOMEM, "out of memory");
  int e = tw_profile_load_file(path, old, old_why);
  tw_profile_clear(old);
  free(old);
  if (e != TW_OK && e != TW_E_NOTFOUND)
    return tw_profile_fail(why, e, "will not overwrite: %s", old_why);
  return tw_profile_save_file(path, p, why);
}
