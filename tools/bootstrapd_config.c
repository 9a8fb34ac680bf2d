#include "bootstrapd_config.h"

#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "toxwire/error.h"

static void warn(tw_bootstrapd_config *c, const char *fmt, ...) {
  if (c->nwarnings >= TW_CONFIG_MAX_WARNINGS) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->warnings[c->nwarnings++], sizeof c->warnings[0], fmt, ap);
  va_end(ap);
}

static int fail(char *err, size_t errlen, const char *path, int line, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  snprintf(err, errlen, "%s:%d: %s", path, line, what);
  return TW_E_CONFIG;
}

/* tcp_relay_ports = [443, 3389, 33445]: each a port, at most 8. */
static int read_tcp_ports(config_t *cf, const char *path, tw_bootstrapd_config *c, char *err,
                          size_t errlen) {
  config_setting_t *s = config_lookup(cf, "tcp_relay_ports");
  if (s == NULL) return TW_OK;
  int line = config_setting_source_line(s);
  if (!config_setting_is_aggregate(s))
    return fail(err, errlen, path, line, "'tcp_relay_ports' must be a list of ports, e.g. [443, 33445]");
  int n = config_setting_length(s);
  if (n > TW_CONFIG_MAX_TCP_PORTS)
    return fail(err, errlen, path, line, "'tcp_relay_ports' lists %d ports; at most %d", n,
                TW_CONFIG_MAX_TCP_PORTS);
  for (int i = 0; i < n; i++) {
    config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
    int port = config_setting_get_int(e);
    if (config_setting_type(e) != CONFIG_TYPE_INT || port < 1 || port > 65535)
      return fail(err, errlen, path, line,
                  "'tcp_relay_ports' entry %d must be an integer from 1 to 65535", i + 1);
    c->tcp_ports[c->ntcp_ports++] = (uint16_t)port;
  }
  return TW_OK;
}

/* Names tox-bootstrapd knows that we act on, and those we only warn about. */
static const char *const SUPPORTED[] = {
    "port", "keys_file_path", "pid_file_path", "enable_ipv6", "enable_ipv4_fallback",
    "enable_lan_discovery", "enable_motd", "motd", "bootstrap_nodes", "enable_tcp_relay",
    "tcp_relay_ports", NULL};

static bool is_supported(const char *name) {
  for (int i = 0; SUPPORTED[i]; i++)
    if (strcmp(SUPPORTED[i], name) == 0) return true;
  return false;
}

static int get_bool(config_t *cf, const char *path, const char *name, bool *out, char *err,
                    size_t errlen) {
  config_setting_t *s = config_lookup(cf, name);
  if (s == NULL) return TW_OK;
  if (config_setting_type(s) != CONFIG_TYPE_BOOL)
    return fail(err, errlen, path, config_setting_source_line(s), "'%s' must be true or false",
                name);
  *out = config_setting_get_bool(s) != 0;
  return TW_OK;
}

static int get_string(config_t *cf, const char *path, const char *name, char *out, size_t cap,
                      char *err, size_t errlen) {
  config_setting_t *s = config_lookup(cf, name);
  if (s == NULL) return TW_OK;
  const char *v = config_setting_get_string(s);
  if (v == NULL)
    return fail(err, errlen, path, config_setting_source_line(s), "'%s' must be a string", name);
  if (strlen(v) >= cap)
    return fail(err, errlen, path, config_setting_source_line(s),
                "'%s' is too long (at most %zu bytes)", name, cap - 1);
  strcpy(out, v);
  return TW_OK;
}

/* tox-bootstrapd accepts a longer MOTD and cuts it; so do we (at the
 * 256 bytes Bootstrap Info carries, on a UTF-8 character boundary), and
 * say so, rather than refuse a file it runs with. */
static int get_motd(config_t *cf, const char *path, tw_bootstrapd_config *c, char *err,
                    size_t errlen) {
  config_setting_t *s = config_lookup(cf, "motd");
  if (s == NULL) return TW_OK;
  const char *v = config_setting_get_string(s);
  if (v == NULL)
    return fail(err, errlen, path, config_setting_source_line(s), "'motd' must be a string");
  size_t n = strlen(v);
  if (n >= sizeof c->motd) {
    n = sizeof c->motd - 1;
    while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80) n--; /* not mid-character */
    warn(c, "%s:%d: 'motd' is %zu bytes; only the first %zu are sent", path,
         config_setting_source_line(s), strlen(v), n);
  }
  memcpy(c->motd, v, n);
  c->motd[n] = '\0';
  return TW_OK;
}

static int read_nodes(config_t *cf, const char *path, tw_bootstrapd_config *c, char *err,
                      size_t errlen) {
  config_setting_t *list = config_lookup(cf, "bootstrap_nodes");
  if (list == NULL) return TW_OK;
  if (!config_setting_is_aggregate(list))
    return fail(err, errlen, path, config_setting_source_line(list),
                "'bootstrap_nodes' must be a list of { address, port, public_key } groups");
  int n = config_setting_length(list);
  for (int i = 0; i < n; i++) {
    config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
    int line = config_setting_source_line(e);
    if (config_setting_type(e) != CONFIG_TYPE_GROUP)
      return fail(err, errlen, path, line, "bootstrap node %d must be a { ... } group", i + 1);
    const char *addr = NULL, *key = NULL;
    int port = 0;
    if (!config_setting_lookup_string(e, "address", &addr))
      return fail(err, errlen, path, line, "bootstrap node %d: 'address' (a string) is missing",
                  i + 1);
    if (!config_setting_lookup_int(e, "port", &port) || port < 1 || port > 65535)
      return fail(err, errlen, path, line,
                  "bootstrap node %d: 'port' must be an integer from 1 to 65535", i + 1);
    if (!config_setting_lookup_string(e, "public_key", &key))
      return fail(err, errlen, path, line,
                  "bootstrap node %d: 'public_key' (a string) is missing", i + 1);
    if (c->nnodes >= TW_CONFIG_MAX_NODES) {
      warn(c, "bootstrap_nodes: only the first %d nodes are used", TW_CONFIG_MAX_NODES);
      break;
    }
    tw_bootstrapd_node *bn = &c->nodes[c->nnodes];
    if (tw_key_from_hex(&bn->pk, key, strlen(key)) != TW_OK)
      return fail(err, errlen, path, line,
                  "bootstrap node %d: 'public_key' must be 64 hex digits", i + 1);
    if (strlen(addr) >= sizeof bn->address)
      return fail(err, errlen, path, line, "bootstrap node %d: 'address' is too long", i + 1);
    strcpy(bn->address, addr);
    bn->port = (uint16_t)port;
    bn->line = line;
    c->nnodes++;
  }
  return TW_OK;
}

int tw_bootstrapd_config_read(const char *path, tw_bootstrapd_config *c, char *err,
                              size_t errlen) {
  /* tox-bootstrapd's own defaults, so an empty file means the same thing. */
  memset(c, 0, sizeof *c);
  c->port = 33445;
  strcpy(c->keys_file_path, "keys");
  c->enable_ipv6 = true;
  c->enable_ipv4_fallback = true;
  c->enable_lan_discovery = true;
  c->enable_motd = true;
  strcpy(c->motd, "toxwire bootstrap node");

  FILE *f = fopen(path, "r");
  if (f == NULL) {
    snprintf(err, errlen, "%s: cannot open config file", path);
    return TW_E_CONFIG;
  }
  config_t cf;
  config_init(&cf);
  int rc = TW_OK;
  if (config_read(&cf, f) != CONFIG_TRUE) {
    rc = fail(err, errlen, path, config_error_line(&cf), "%s", config_error_text(&cf));
    goto out;
  }
  config_setting_t *s = config_lookup(&cf, "port");
  if (s != NULL) {
    int port = config_setting_get_int(s);
    if (config_setting_type(s) != CONFIG_TYPE_INT || port < 1 || port > 65535) {
      rc = fail(err, errlen, path, config_setting_source_line(s),
                "'port' must be an integer from 1 to 65535");
      goto out;
    }
    c->port = (uint16_t)port;
  }
  if ((rc = get_string(&cf, path, "keys_file_path", c->keys_file_path, sizeof c->keys_file_path,
                       err, errlen)) ||
      (rc = get_string(&cf, path, "pid_file_path", c->pid_file_path, sizeof c->pid_file_path,
                       err, errlen)) ||
      (rc = get_bool(&cf, path, "enable_ipv6", &c->enable_ipv6, err, errlen)) ||
      (rc = get_bool(&cf, path, "enable_ipv4_fallback", &c->enable_ipv4_fallback, err, errlen)) ||
      (rc = get_bool(&cf, path, "enable_lan_discovery", &c->enable_lan_discovery, err, errlen)) ||
      (rc = get_bool(&cf, path, "enable_motd", &c->enable_motd, err, errlen)) ||
      (rc = get_motd(&cf, path, c, err, errlen)) ||
      (rc = read_nodes(&cf, path, c, err, errlen)))
    goto out;

  c->enable_tcp_relay = true;
  if ((rc = get_bool(&cf, path, "enable_tcp_relay", &c->enable_tcp_relay, err, errlen)) ||
      (rc = read_tcp_ports(&cf, path, c, err, errlen)))
    goto out;

  /* Name what we read but do not act on, rather than ignore it. */
  config_setting_t *root = config_root_setting(&cf);
  for (int i = 0; i < config_setting_length(root); i++) {
    config_setting_t *e = config_setting_get_elem(root, (unsigned)i);
    const char *name = config_setting_name(e);
    if (name == NULL || is_supported(name)) continue;
    warn(c, "%s:%d: unknown option '%s' ignored", path, config_setting_source_line(e), name);
  }
  if (c->enable_tcp_relay && c->ntcp_ports == 0)
    warn(c, "enable_tcp_relay is on%s but no tcp_relay_ports are given: no TCP relay",
         config_lookup(&cf, "enable_tcp_relay") ? "" : " (tox-bootstrapd's default)");
out:
  config_destroy(&cf);
  fclose(f);
  return rc;
}
