#include "keys_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/crypto.h"
#include "toxwire/error.h"

static int load(const char *path, int fd, tw_keypair *kp, char *err, size_t errlen) {
  uint8_t buf[TW_KEYS_FILE_SIZE + 1];
  ssize_t got = 0, r;
  while ((r = read(fd, buf + got, sizeof buf - (size_t)got)) > 0) got += r;
  close(fd);
  if (r < 0) {
    snprintf(err, errlen, "%s: cannot read keys file: %s", path, strerror(errno));
    return TW_E_IO;
  }
  if (got != TW_KEYS_FILE_SIZE) {
    snprintf(err, errlen,
             "%s: corrupt keys file: %zd bytes, expected %d (public key then secret key)",
             path, got, TW_KEYS_FILE_SIZE);
    return TW_E_FORMAT;
  }
  memcpy(kp->pk.bytes, buf, TW_PUBLIC_KEY_SIZE);
  memcpy(kp->sk, buf + TW_PUBLIC_KEY_SIZE, TW_SECRET_KEY_SIZE);
  sodium_memzero(buf, sizeof buf);
  tw_key check;
  tw_public_key_from_secret(&check, kp->sk);
  if (!tw_key_equal(&check, &kp->pk)) {
    snprintf(err, errlen, "%s: corrupt keys file: the public key does not match the secret key",
             path);
    return TW_E_FORMAT;
  }
  return TW_OK;
}

static int create(const char *path, tw_keypair *kp, char *err, size_t errlen) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
    snprintf(err, errlen, "%s: path too long", path);
    return TW_E_INVAL;
  }
  crypto_box_keypair(kp->pk.bytes, kp->sk);
  uint8_t buf[TW_KEYS_FILE_SIZE];
  memcpy(buf, kp->pk.bytes, TW_PUBLIC_KEY_SIZE);
  memcpy(buf + TW_PUBLIC_KEY_SIZE, kp->sk, TW_SECRET_KEY_SIZE);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    snprintf(err, errlen, "%s: cannot create keys file: %s", path, strerror(errno));
    return TW_E_IO;
  }
  ssize_t w = write(fd, buf, sizeof buf);
  sodium_memzero(buf, sizeof buf);
  if (w != (ssize_t)sizeof buf || fsync(fd) != 0 || close(fd) != 0) {
    snprintf(err, errlen, "%s: cannot write keys file: %s", path, strerror(errno));
    unlink(tmp);
    return TW_E_IO;
  }
  /* link() fails if another process created the file meanwhile: never
   * replace a keys file that appeared under us. */
  if (link(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    snprintf(err, errlen, "%s: cannot create keys file: %s", path, strerror(e));
    return TW_E_IO;
  }
  unlink(tmp);
  return TW_OK;
}

int tw_keys_file_load_or_create(const char *path, tw_keypair *kp, bool *created, char *err,
                                size_t errlen) {
  *created = false;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) return load(path, fd, kp, err, errlen);
  if (errno != ENOENT) {
    snprintf(err, errlen, "%s: cannot open keys file: %s", path, strerror(errno));
    return TW_E_IO;
  }
  int rc = create(path, kp, err, errlen);
  if (rc == TW_OK) *created = true;
  return rc;
}
