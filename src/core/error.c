#include "toxwire/error.h"

static const char *const NAMES[TW_ERROR_COUNT] = {
    [0] = "ok",
    [1] = "input too short",
    [2] = "input too long",
    [3] = "decryption failed",
    [4] = "unknown address family",
    [5] = "count out of range",
    [6] = "unknown packet kind",
    [7] = "unsolicited response",
    [8] = "packet from our own key",
    [9] = "out of memory",
    [10] = "invalid argument",
    [11] = "bad Tox ID checksum",
    [12] = "malformed hex",
    [13] = "table full",
    [14] = "not found",
    [15] = "system call failed",
    [16] = "address in use",
    [17] = "invalid configuration",
    [18] = "rate limited",
    [19] = "feature disabled",
    [20] = "unusable address",
    [21] = "bad field value",
    [22] = "expired or forged token",
    [23] = "replayed packet",
    [24] = "no route",
};

const char *tw_strerror(int code) {
  if (code > 0 || code <= TW_E__LAST || NAMES[-code] == 0) return "unknown error";
  return NAMES[-code];
}
