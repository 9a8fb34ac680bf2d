/* Address comparisons and formatting. Parsing text addresses needs the
 * resolver and lives in src/io. */
#include <string.h>

#include "toxwire/types.h"

bool tw_addr_equal(const tw_addr *a, const tw_addr *b) {
  if (a->family != b->family || a->port != b->port) return false;
  size_t n = a->family == TW_AF_INET ? 4 : 16;
  return memcmp(a->ip, b->ip, n) == 0;
}

bool tw_addr_is_set(const tw_addr *a) {
  return (a->family == TW_AF_INET || a->family == TW_AF_INET6) && a->port != 0;
}

bool tw_addr_is_tcp_peer(const tw_addr *a) { return a->family == TW_AF_TCP_PEER; }

static const uint8_t V4MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

tw_addr tw_addr_unmap(const tw_addr *a) {
  tw_addr out = *a;
  if (a->family == TW_AF_INET6 && memcmp(a->ip, V4MAPPED, 12) == 0) {
    memset(&out, 0, sizeof out);
    out.family = TW_AF_INET;
    memcpy(out.ip, a->ip + 12, 4);
    out.port = a->port;
  }
  return out;
}

bool tw_addr_is_lan(const tw_addr *in) {
  tw_addr a = tw_addr_unmap(in);
  const uint8_t *ip = a.ip;
  if (a.family == TW_AF_INET) {
    return ip[0] == 127 || ip[0] == 10 ||
           (ip[0] == 172 && (ip[1] & 0xf0) == 16) ||
           (ip[0] == 192 && ip[1] == 168) ||
           (ip[0] == 169 && ip[1] == 254) ||
           (ip[0] == 100 && (ip[1] & 0xc0) == 64);
  }
  if (a.family == TW_AF_INET6) {
    static const uint8_t loop[16] = {[15] = 1};
    return memcmp(ip, loop, 16) == 0 || (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80) ||
           (ip[0] & 0xfe) == 0xfc;
  }
  return false;
}

/* Small hand-written formatters: no stdio in the core. */
static char *put_dec(char *o, unsigned v) {
  char tmp[12];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) *o++ = tmp[--n];
  return o;
}

static char *put_hex16(char *o, unsigned v) {
  static const char H[] = "0123456789abcdef";
  bool started = false;
  for (int s = 12; s >= 0; s -= 4) {
    unsigned d = (v >> s) & 15;
    if (d != 0 || started || s == 0) {
      *o++ = H[d];
      started = true;
    }
  }
  return o;
}

const char *tw_addr_format(const tw_addr *a, char out[TW_ADDR_STRLEN]) {
  char *o = out;
  if (a->family == TW_AF_INET) {
    for (int i = 0; i < 4; i++) {
      if (i) *o++ = '.';
      o = put_dec(o, a->ip[i]);
    }
  } else if (a->family == TW_AF_INET6) {
    unsigned g[8];
    for (int i = 0; i < 8; i++) g[i] = (unsigned)(a->ip[2 * i] << 8 | a->ip[2 * i + 1]);
    int best = -1, best_len = 1; /* compress only runs of two or more */
    for (int i = 0; i < 8;) {
      int j = i;
      while (j < 8 && g[j] == 0) j++;
      if (j - i > best_len) { best = i; best_len = j - i; }
      i = j == i ? i + 1 : j;
    }
    *o++ = '[';
    for (int i = 0; i < 8; i++) {
      if (i == best) {
        *o++ = ':';
        *o++ = ':';
        i += best_len - 1;
        continue;
      }
      if (i && !(best >= 0 && i == best + best_len)) *o++ = ':';
      o = put_hex16(o, g[i]);
    }
    *o++ = ']';
  } else if (a->family == TW_AF_TCP_PEER) {
    /* "tcp:0123abcd": the relay-reached peer whose DHT key starts so. */
    static const char H[] = "0123456789ABCDEF";
    const char *u = "tcp:";
    while (*u) *o++ = *u++;
    for (int i = 0; i < 4; i++) *o++ = H[a->ip[i] >> 4], *o++ = H[a->ip[i] & 15];
    *o = '\0';
    return out;
  } else {
    const char *u = "(none)";
    while (*u) *o++ = *u++;
    *o = '\0';
    return out;
  }
  *o++ = ':';
  o = put_dec(o, a->port);
  *o = '\0';
  return out;
}
