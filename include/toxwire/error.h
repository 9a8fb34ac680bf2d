/* Error codes shared by every toxwire module. Functions return TW_OK (0) or a
 * negative code; tw_strerror() names each one. Packet handlers return the
 * reason a packet was dropped, and modules count drops per reason. */
#ifndef TOXWIRE_ERROR_H
#define TOXWIRE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tw_error {
  TW_OK = 0,
  TW_E_SHORT = -1,        /* input shorter than its format allows */
  TW_E_LONG = -2,         /* input longer than its format allows */
  TW_E_CRYPTO = -3,       /* authentication / decryption failed */
  TW_E_FAMILY = -4,       /* unknown address family or transport */
  TW_E_COUNT = -5,        /* a count field out of range or inconsistent */
  TW_E_KIND = -6,         /* unknown or unhandled packet kind */
  TW_E_UNSOLICITED = -7,  /* a response that answers no pending request */
  TW_E_SELF = -8,         /* a packet claiming to come from our own key */
  TW_E_NOMEM = -9,        /* allocation failed */
  TW_E_INVAL = -10,       /* invalid argument */
  TW_E_CHECKSUM = -11,    /* Tox ID checksum mismatch */
  TW_E_HEX = -12,         /* malformed hexadecimal text */
  TW_E_FULL = -13,        /* a bounded table is full */
  TW_E_NOTFOUND = -14,    /* no such entry */
  TW_E_IO = -15,          /* an operating system call failed */
  TW_E_ADDRINUSE = -16,   /* the port is already in use */
  TW_E_CONFIG = -17,      /* configuration file is invalid */
  TW_E_RATE = -18,        /* dropped by a rate limit */
  TW_E_DISABLED = -19,    /* the feature is switched off */
  TW_E_ADDR = -20,        /* unusable network address */
  TW_E_FORMAT = -21,      /* a field holds a value its format forbids */
  TW_E_EXPIRED = -22,     /* a token (ping id, return path) expired or forged */
  TW_E_REPLAY = -23,      /* an old or repeated packet */
  TW_E_NOROUTE = -24,     /* nowhere to send it (no path, unknown addressee) */
  TW_E__LAST = -25        /* one past the last code; not an error */
} tw_error;

#define TW_ERROR_COUNT (-(int)TW_E__LAST)

/* A short, static, human readable name for the code (never NULL). */
const char *tw_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
