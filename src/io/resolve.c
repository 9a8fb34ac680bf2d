/* Turning text into addresses: "HOST:PORT:KEY" node specs and host names.
 * Lives in src/io because name resolution asks the operating system. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "toxwire/io.h"

int tw_resolve(const char *host, uint16_t port, bool allow_ipv6, tw_addr *out) {
  memset(out, 0, sizeof *out);
  out->port = port;
  if (inet_pton(AF_INET, host, out->ip) == 1) {
    out->family = TW_AF_INET;
    return TW_OK;
  }
  if (inet_pton(AF_INET6, host, out->ip) == 1) {
    if (!allow_ipv6) return TW_E_FAMILY;
    out->family = TW_AF_INET6;
    *out = tw_addr_unmap(out);
    return TW_OK;
  }
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = allow_ipv6 ? AF_UNSPEC : AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL) return TW_E_ADDR;
  int rc = TW_E_ADDR;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      out->family = TW_AF_INET;
      memcpy(out->ip, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
      rc = TW_OK;
      break;
    }
    if (ai->ai_family == AF_INET6 && allow_ipv6) {
      out->family = TW_AF_INET6;
      memcpy(out->ip, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
      rc = TW_OK;
      break;
    }
  }
  freeaddrinfo(res);
  return rc;
}

int tw_parse_node_spec(const char *spec, bool allow_ipv6, tw_node_info *out, const char **why) {
  static const char *const form = "expected HOST:PORT:KEY (KEY: 64 hex digits)";
  memset(out, 0, sizeof *out);
  *why = form;
  const char *key = strrchr(spec, ':');
  if (key == NULL || key == spec) return TW_E_INVAL;
  const char *port_colon = NULL;
  for (const char *p = key - 1; p >= spec; p--)
    if (*p == ':') {
      port_colon = p;
      break;
    }
  if (port_colon == NULL || port_colon == spec) return TW_E_INVAL;
  if (tw_key_from_hex(&out->pk, key + 1, strlen(key + 1)) != TW_OK) {
    *why = "the key must be 64 hex digits (expected HOST:PORT:KEY)";
    return TW_E_INVAL;
  }
  char portbuf[8];
  size_t plen = (size_t)(key - port_colon - 1);
  if (plen == 0 || plen >= sizeof portbuf) {
    *why = "the port must be a number from 1 to 65535 (expected HOST:PORT:KEY)";
    return TW_E_INVAL;
  }
  memcpy(portbuf, port_colon + 1, plen);
  portbuf[plen] = '\0';
  char *end;
  long port = strtol(portbuf, &end, 10);
  if (*end != '\0' || port < 1 || port > 65535) {
    *why = "the port must be a number from 1 to 65535 (expected HOST:PORT:KEY)";
    return TW_E_INVAL;
  }
  char host[256];
  size_t hlen = (size_t)(port_colon - spec);
  if (hlen >= sizeof host) {
    *why = "the host name is too long";
    return TW_E_INVAL;
  }
  memcpy(host, spec, hlen);
  host[hlen] = '\0';
  char *h = host;
  if (h[0] == '[' && hlen > 2 && h[hlen - 1] == ']') {
    h[hlen - 1] = '\0';
    h++;
  }
  int rc = tw_resolve(h, (uint16_t)port, allow_ipv6, &out->addr);
  if (rc != TW_OK) {
    *why = rc == TW_E_FAMILY ? "an IPv6 host was given but IPv6 is off"
                             : "the host could not be resolved";
    return TW_E_INVAL;
  }
  return TW_OK;
}
