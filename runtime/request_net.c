/*
** request_net.c -- the network options of a request, each one libcurl's
** own (curl's command-line flag in brackets):
**
**   resolve           CURLOPT_CONNECT_TO (--resolve), see below
**   connect_to        CURLOPT_CONNECT_TO (--connect-to)
**   ip_resolve        CURLOPT_IPRESOLVE (-4, -6)
**   doh_url           CURLOPT_DOH_URL (--doh-url)
**   pinned_pubkey     CURLOPT_PINNEDPUBLICKEY (--pinnedpubkey)
**   limit_rate        CURLOPT_MAX_RECV_SPEED_LARGE, _SEND_ (--limit-rate)
**   keepalive_expiry  CURLOPT_MAXAGE_CONN
**   tls               CURLOPT_SSLVERSION (--tlsv1.2, --tlsv1.3),
**                     CURLOPT_SSL_CIPHER_LIST (--ciphers), CURLOPT_KEYPASSWD
**                     (--pass), CURLOPT_CRLFILE (--crlfile)
**   no_proxy          CURLOPT_NOPROXY (--noproxy), read in request.c
**
** A request holding none of them pays one test (NET_OPTS, request_int.h).
** Every option is set with SET_RARE: the handle is reset before its next
** use, so an option never leaks into a later request.
**
** `resolve` is made a connect_to entry ("host:port:addr" becomes
** "host:port:addr:port"), not CURLOPT_RESOLVE: libcurl puts CURLOPT_RESOLVE
** entries in the DNS cache for good, and that cache is the session's (or
** the hidden session's), so one request's override would redirect every
** later request to that host.  A connect_to entry is the request's alone,
** and libcurl reuses a connection made through one only for requests
** with the same entry.  The URL's host still names the server for TLS
** (SNI, certificate check) and the Host header, as with curl's --resolve.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>

#include "errors.h"
#include "luac.h"
#include "policy.h"
#include "request_int.h"

/* A string without NUL, CR or LF (libcurl reads C strings; a line break
** is never part of a host, a key or a file name). */
static const char *text_opt(req *r, int idx, const char *field) {
  size_t n;
  const char *s = lua_tolstring(r->L, idx, &n);
  if (strlen(s) != n || strpbrk(s, "\r\n"))
    lurl_field_error(r->L, r->argn, r->fname, field, "string with a NUL, CR or LF byte");
  return s;
}

/* An address the connection will reach, named by an option: in a limited
** state it obeys the address policy now, so the error names the field
** (a name resolved later is checked when connecting, policy.c). */
static void address_ok(req *r, const char *field, const char *host, size_t n) {
  char buf[256];
  if (n >= sizeof buf) return; /* no address literal is that long */
  memcpy(buf, host, n);
  buf[n] = '\0';
  const char *why = lurl_policy_address(r->L, buf);
  if (why) lurl_field_error(r->L, r->argn, r->fname, field, "%s", why);
}

/* "[v6]" or a name or v4 address, up to the next ':' from *p; advances *p
** past that ':' (or to the end).  0 when the brackets do not close. */
static int host_part(const char **p, const char **h, size_t *n) {
  const char *s = *p;
  if (*s == '[') {
    const char *e = strchr(s, ']');
    if (!e) return 0;
    *h = s, *n = (size_t)(e + 1 - s);
    s = e + 1;
  } else {
    *h = s, *n = strcspn(s, ":");
    s += *n;
  }
  if (*s == ':') s++;
  else if (*s) return 0;
  *p = s;
  return 1;
}

/* Appends entry e to the handle's connect_to list.  The list is the
** handle's (hd->connect_to), freed when the handle is reset, which every
** handle that carried it is before its next use (SET_RARE below, handle.c):
** an error raised half-way leaks nothing. */
static void append(req *r, const char *e) {
  r->t->tainted = 1; /* the list is freed by the reset */
  struct curl_slist *l = curl_slist_append(r->t->hd->connect_to, e);
  if (!l) luaL_error(r->L, "not enough memory");
  r->t->hd->connect_to = l;
}

/* "host:port:addr" (curl's --resolve; "*" for any host), appended as the
** connect_to entry "host:port:addr:port". */
static void add_resolve(req *r, const char *e) {
  lua_State *L = r->L;
  const char *p = e, *host = e, *port = e, *addr = e;
  size_t hn = 0, pn = 0, an = 0;
  int ok = host_part(&p, &host, &hn) && hn > 0;
  if (ok) {
    port = p, pn = strspn(p, "0123456789");
    ok = pn > 0 && pn <= 5 && p[pn] == ':';
    p += pn + 1;
  }
  if (ok) {
    addr = p, an = strlen(p);
    ok = an > 0;
  }
  if (!ok)
    lurl_field_error(L, r->argn, r->fname, "resolve", "entries like \"host:port:address\" "
                     "expected");
  if (strchr(addr, ','))
    lurl_field_error(L, r->argn, r->fname, "resolve", "one address per entry (\"host:port:"
                     "address\"), see docs/api.md");
  if (hn == 1 && host[0] == '*') hn = 0; /* any host: connect_to's empty HOST */
  int v6 = addr[0] != '[' && strchr(addr, ':') != NULL;
  if (addr[0] == '[') address_ok(r, "resolve", addr + 1, an >= 2 ? an - 2 : 0);
  else address_ok(r, "resolve", addr, an);
  char buf[600];
  if (hn + an + 2 * pn + 8 > sizeof buf)
    lurl_field_error(L, r->argn, r->fname, "resolve", "entry too long");
  snprintf(buf, sizeof buf, "%.*s:%.*s:%s%s%s:%.*s", (int)hn, host, (int)pn, port,
           v6 ? "[" : "", addr, v6 ? "]" : "", (int)pn, port);
  append(r, buf);
}

/* "HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT" (curl's --connect-to; empty
** parts match any): checked for shape, appended. */
static void add_connect_to(req *r, const char *e) {
  const char *p = e, *h = NULL;
  size_t hn = 0;
  int ok = host_part(&p, &h, &hn);
  if (ok) {
    size_t pn = strspn(p, "0123456789");
    ok = p[pn] == ':';
    p += pn + 1;
  }
  if (ok) ok = host_part(&p, &h, &hn) && p > e && p[-1] == ':';
  if (ok) ok = strspn(p, "0123456789") == strlen(p);
  if (!ok)
    lurl_field_error(r->L, r->argn, r->fname, "connect_to", "entries like \"host:port:"
                     "connect_host:connect_port\" expected");
  if (hn) address_ok(r, "connect_to", h[0] == '[' ? h + 1 : h, h[0] == '[' ? hn - 2 : hn);
  append(r, e);
}

/* Appends the entries of option id (a string or an array of strings). */
static void add_entries(req *r, int id) {
  lua_State *L = r->L;
  const char *field = lurl_req_opt_names[id];
  int ty = lurl_req_opt(r, id);
  int n = ty == LUA_TSTRING ? 1 : ty == LUA_TTABLE ? (int)lua_rawlen(L, -1) : 0;
  if (ty != LUA_TNIL && ty != LUA_TSTRING && ty != LUA_TTABLE)
    lurl_req_field_error(r, field, "string or array of strings", -1);
  for (int i = 1; i <= n; i++) {
    if (ty == LUA_TTABLE && lua_rawgeti(L, -1, i) != LUA_TSTRING)
      lurl_req_field_error(r, field, "array of strings", -1);
    const char *e = text_opt(r, -1, field);
    if (id == O_RESOLVE) add_resolve(r, e);
    else add_connect_to(r, e);
    if (ty == LUA_TTABLE) lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* resolve and connect_to: one CURLOPT_CONNECT_TO list, kept by the
** handle (libcurl reads it when it connects, after core.start);
** connect_to's entries first, as libcurl takes the first that matches. */
static void apply_connect_to(req *r) {
  if (HAS(r, O_CONNECT_TO)) add_entries(r, O_CONNECT_TO);
  if (HAS(r, O_RESOLVE)) add_entries(r, O_RESOLVE);
  if (r->t->hd->connect_to) SET_RARE(r, CURLOPT_CONNECT_TO, r->t->hd->connect_to);
}

static void apply_ip_resolve(req *r) {
  lua_State *L = r->L;
  int ty = lurl_req_opt(r, O_IP_RESOLVE);
  if (ty == LUA_TNUMBER || ty == LUA_TSTRING) {
    const char *v = lua_tostring(L, -1);
    if (strcmp(v, "4") == 0) SET_RARE(r, CURLOPT_IPRESOLVE, (long)CURL_IPRESOLVE_V4);
    else if (strcmp(v, "6") == 0) SET_RARE(r, CURLOPT_IPRESOLVE, (long)CURL_IPRESOLVE_V6);
    else lurl_field_error(L, r->argn, r->fname, "ip_resolve", "\"4\" or \"6\" expected");
  } else if (ty != LUA_TNIL) {
    lurl_req_field_error(r, "ip_resolve", "\"4\" or \"6\"", -1);
  }
  lua_pop(L, 1);
}

/* doh_url: libcurl's DNS-over-HTTPS requests are easy handles of its own,
** which the address policy's socket callback does not see; in a limited
** state the URL must name an address literal the policy allows. */
static void apply_doh(req *r) {
  lua_State *L = r->L;
  int ty = lurl_req_opt(r, O_DOH_URL);
  if (ty == LUA_TSTRING) {
    const char *u = text_opt(r, -1, "doh_url");
    if (strncasecmp(u, "https://", 8) != 0) /* libcurl speaks DoH over https only */
      lurl_field_error(L, r->argn, r->fname, "doh_url", "https URL expected");
    const lurl_policy *p = lurl_policy_of(L);
    if (p && p->addresses) {
      const char *h = strstr(u, "://") + 3;
      const char *end = h[0] == '[' ? strchr(h, ']') : h + strcspn(h, ":/?#");
      if (h[0] == '[' && end) h++;
      const char *at = strchr(h, '@');
      if (at && end && at < end) end = NULL; /* userinfo: not an address */
      if (!end || !lurl_policy_is_address(h, (size_t)(end - h)))
        lurl_field_error(L, r->argn, r->fname, "doh_url", "in a state with limits the "
                         "DNS-over-HTTPS server must be named by its address");
      address_ok(r, "doh_url", h, (size_t)(end - h));
    }
    SET_RARE(r, CURLOPT_DOH_URL, u); /* copied */
  } else if (ty != LUA_TNIL) {
    lurl_req_field_error(r, "doh_url", "URL string", -1);
  }
  lua_pop(L, 1);
}

/* pinned_pubkey: "sha256//BASE64[;sha256//...]", or the path of a public
** key file (PEM or DER), which obeys the file policy. */
static void apply_pin(req *r) {
  lua_State *L = r->L;
  int ty = lurl_req_opt(r, O_PINNED_PUBKEY);
  if (ty == LUA_TSTRING) {
    const char *v = text_opt(r, -1, "pinned_pubkey");
    if (strncmp(v, "sha256//", 8) != 0) lurl_req_file_ok(r, "pinned_pubkey", v);
    SET_RARE(r, CURLOPT_PINNEDPUBLICKEY, v); /* copied */
  } else if (ty != LUA_TNIL) {
    lurl_req_field_error(r, "pinned_pubkey", "\"sha256//...\" string or key file path", -1);
  }
  lua_pop(L, 1);
}

/* A positive number of the option on top, or -1 when it is nil. */
static double positive(req *r, const char *field, const char *what) {
  lua_State *L = r->L;
  int ty = lua_type(L, -1);
  if (ty == LUA_TNIL) return -1;
  if (ty != LUA_TNUMBER) lurl_req_field_error(r, field, what, -1);
  double v = lua_tonumber(L, -1);
  if (!(v > 0) || isinf(v)) lurl_field_error(L, r->argn, r->fname, field, "must be positive");
  return v;
}

static void apply_limits(req *r) {
  lua_State *L = r->L;
  lurl_req_opt(r, O_LIMIT_RATE);
  double rate = positive(r, "limit_rate", "number of bytes per second");
  if (rate > 0) {
    curl_off_t bps = rate < 1 ? 1 : rate > 1e15 ? (curl_off_t)1e15 : (curl_off_t)rate;
    SET_RARE(r, CURLOPT_MAX_RECV_SPEED_LARGE, bps);
    SET_RARE(r, CURLOPT_MAX_SEND_SPEED_LARGE, bps);
  }
  lua_pop(L, 1);
  lurl_req_opt(r, O_KEEPALIVE_EXPIRY);
  double age = positive(r, "keepalive_expiry", "number of seconds");
  if (age > 0) {
    /* libcurl counts whole seconds of idleness and reuses a connection
    ** idle for at most its max age: idle for `age` seconds (rounded up to
    ** a second) or more is too old */
    double whole = ceil(age);
    long m = whole > 1e9 ? 1000000000L : (long)whole - 1;
    SET_RARE(r, CURLOPT_MAXAGE_CONN, m);
  }
  lua_pop(L, 1);
}

/* tls = {min_version =, ciphers =, key_password =, crl_file =}.  The key
** password never appears in an error: only the field's name does. */
static void apply_tls_table(req *r) {
  lua_State *L = r->L;
  int ty = lurl_req_opt(r, O_TLS);
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (ty != LUA_TTABLE) lurl_req_field_error(r, "tls", "table", -1);
  int t = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    if (strcmp(k, "min_version") && strcmp(k, "ciphers") && strcmp(k, "key_password") &&
        strcmp(k, "crl_file"))
      lurl_raise(L, "bad argument #%d to '%s' (field 'tls': unknown key '%s'; min_version, "
                 "ciphers, key_password, crl_file expected)", r->argn, r->fname,
                 lua_type(L, -1) == LUA_TSTRING ? k : luaL_typename(L, -1));
  }
  ty = lua_getfield(L, t, "min_version");
  if (ty == LUA_TSTRING || ty == LUA_TNUMBER) {
    const char *v = lua_tostring(L, -1);
    long cv = strcmp(v, "1.2") == 0 ? CURL_SSLVERSION_TLSv1_2
            : strcmp(v, "1.3") == 0 ? CURL_SSLVERSION_TLSv1_3
            : strcmp(v, "1.1") == 0 ? CURL_SSLVERSION_TLSv1_1
            : strcmp(v, "1.0") == 0 ? CURL_SSLVERSION_TLSv1_0 : -1;
    if (cv < 0)
      lurl_field_error(L, r->argn, r->fname, "tls.min_version", "\"1.2\" or \"1.3\" expected");
    SET_RARE(r, CURLOPT_SSLVERSION, cv);
  } else if (ty != LUA_TNIL) {
    lurl_req_field_error(r, "tls.min_version", "\"1.2\" or \"1.3\"", -1);
  }
  lua_pop(L, 1);
  static const struct { const char *key, *field; CURLoption opt; int file; } strs[] = {
    {"ciphers", "tls.ciphers", CURLOPT_SSL_CIPHER_LIST, 0},
    {"key_password", "tls.key_password", CURLOPT_KEYPASSWD, 0},
    {"crl_file", "tls.crl_file", CURLOPT_CRLFILE, 1}};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    ty = lua_getfield(L, t, strs[i].key);
    if (ty == LUA_TSTRING) {
      const char *v = text_opt(r, -1, strs[i].field);
      if (strs[i].file) lurl_req_file_ok(r, strs[i].field, v);
      SET_RARE(r, strs[i].opt, v); /* copied */
    } else if (ty != LUA_TNIL) {
      lurl_req_field_error(r, strs[i].field, "string", -1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

void lurl_req_net_options(req *r) {
  if (HAS(r, O_RESOLVE) || HAS(r, O_CONNECT_TO)) apply_connect_to(r);
  if (HAS(r, O_IP_RESOLVE)) apply_ip_resolve(r);
  if (HAS(r, O_DOH_URL)) apply_doh(r);
  if (HAS(r, O_PINNED_PUBKEY)) apply_pin(r);
  if (HAS(r, O_LIMIT_RATE) || HAS(r, O_KEEPALIVE_EXPIRY)) apply_limits(r);
  if (HAS(r, O_TLS)) apply_tls_table(r);
  if (HAS(r, O_NO_PROXY)) { /* checked even when no proxy applies */
    lurl_req_no_proxy(r);
    lua_pop(r->L, 1);
  }
}

/* no_proxy: a string ("localhost,10.0.0.0/8,.internal") or an array of
** entries, pushed as one comma list for CURLOPT_NOPROXY. */
const char *lurl_req_no_proxy(req *r) {
  lua_State *L = r->L;
  int ty = HAS(r, O_NO_PROXY) ? lurl_req_opt(r, O_NO_PROXY) : (lua_pushnil(L), LUA_TNIL);
  if (ty == LUA_TSTRING) return text_opt(r, -1, "no_proxy");
  if (ty == LUA_TNIL) return NULL;
  if (ty != LUA_TTABLE) lurl_req_field_error(r, "no_proxy", "string or array of strings", -1);
  int t = lua_gettop(L);
  int n = (int)lua_rawlen(L, t);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, ',');
    if (lua_rawgeti(L, t, i) != LUA_TSTRING)
      lurl_req_field_error(r, "no_proxy", "array of strings", -1);
    text_opt(r, -1, "no_proxy");
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  lua_replace(L, t);
  return lua_tostring(L, -1);
}
