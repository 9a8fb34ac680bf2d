/* The DHT keys file: 64 bytes, the public key then the secret key — the
 * layout tox-bootstrapd writes (spec/keys-file.md), so either program can
 * use the other's file. */
#ifndef TW_TOOLS_KEYS_FILE_H
#define TW_TOOLS_KEYS_FILE_H

#include <stdbool.h>

#include "toxwire/types.h"

#define TW_KEYS_FILE_SIZE 64

/* Loads path, or creates it (mode 0600, written atomically) if absent.
 * On error returns a negative code and a message naming the file in err;
 * a file that exists but is corrupt is never overwritten. */
int tw_keys_file_load_or_create(const char *path, tw_keypair *kp, bool *created, char *err,
                                size_t errlen);

#endif
